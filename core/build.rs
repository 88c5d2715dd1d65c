//! Generates the cluster RPC code from `proto/spate.proto` with a pure-Rust protobuf compiler
//! (protox), so building spate needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/spate.proto");
    let descriptors = protox::compile(["proto/spate.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
