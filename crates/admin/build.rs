//! Compiles proto/contracts/admin/v1/admin.proto with protox (a pure-Rust protoc, so the build
//! needs no `protoc` on the machine) and generates the tonic services from its descriptors.
//! The encoded descriptor set, imports included, is also written to OUT_DIR for server
//! reflection.

use std::path::PathBuf;

use prost::Message as _;

const PROTO: &str = "contracts/admin/v1/admin.proto";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from("proto");
    println!("cargo:rerun-if-changed={}", root.join(PROTO).display());

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_file(PROTO)?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // Reflection serves the file and what it imports (google/protobuf/timestamp.proto), so a
    // client can resolve every type.
    std::fs::write(
        out_dir.join("admin_descriptor.bin"),
        compiler.file_descriptor_set().encode_to_vec(),
    )?;

    // prost maps the well-known types to prost-types; it still needs their descriptors.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
