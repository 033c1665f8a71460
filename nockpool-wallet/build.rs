//! Compiles the parts of the Nockchain node's gRPC API a wallet needs (balance queries over
//! the public `NockchainService` and the private `NockAppService` peek) with protox (pure
//! Rust), so no `protoc` is needed. The pool server compiles its own subset.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../proto";
    let files = [
        "../proto/nockchain/common/v1/primitives.proto",
        "../proto/nockchain/common/v1/pagination.proto",
        "../proto/nockchain/common/v1/blockchain.proto",
        "../proto/nockchain/common/v2/blockchain.proto",
        "../proto/nockchain/public/v2/nockchain.proto",
        "../proto/nockchain/private/v1/nockapp.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, [proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
