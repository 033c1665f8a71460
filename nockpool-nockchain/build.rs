//! Compiles the Nockchain node's gRPC API (`proto/nockchain/...`, written from
//! `../shared/spec/nockchain-node.md`) with protox (pure Rust), so no `protoc` is needed: the
//! private `NockAppService` (peek, poke, effects) and the public `NockchainService` (balances).
//! This is the only place the node's proto is compiled.

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
