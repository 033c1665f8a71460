//! Compiles the Nockchain node's private gRPC API (`proto/nockchain/...`, written from
//! `../shared/spec/nockchain-node.md`) with protox (pure Rust), so no `protoc` is needed.
//! The pool protocol itself is compiled in `nockpool-core`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../proto";
    let files = [
        "../proto/nockchain/common/v1/primitives.proto",
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
