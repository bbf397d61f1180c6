//! Compiles `vswitch/v1/*.proto` with a vendored `protoc`, so building needs no system protoc,
//! and writes the file descriptor set that the daemon serves through gRPC reflection.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "vswitch/v1/bridge.proto",
    "vswitch/v1/flow.proto",
    "vswitch/v1/diag.proto",
    "vswitch/v1/group.proto",
    "vswitch/v1/meter.proto",
    "vswitch/v1/mirror.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: a build script runs on one thread; nothing reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_build::configure()
        .file_descriptor_set_path(out.join("vswitch_v1_descriptor.bin"))
        .compile_protos(PROTOS, &["."])?;
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    Ok(())
}
