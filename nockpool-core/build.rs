//! With the `proto` feature: compiles `proto/nockpool/v1/pool.proto` with protox (pure Rust), so
//! no `protoc` is needed. Without it there is nothing to generate.

#[cfg(feature = "proto")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../proto";
    let file = "../proto/nockpool/v1/pool.proto";
    println!("cargo:rerun-if-changed={file}");
    let descriptors = protox::compile([file], [proto_root])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Small per-stream buffers (see src/grpc_codec.rs).
        .codec_path("crate::proto::PoolCodec")
        .compile_fds(descriptors)?;
    Ok(())
}

#[cfg(not(feature = "proto"))]
fn main() {}
