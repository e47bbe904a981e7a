//! Generates the protobuf types from `proto/` with protox (no system `protoc` needed).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = ["neuronet/v1/envelope.proto", "neuronet/v1/binding.proto", "neuronet/v1/synapses.proto"];
    for file in &files {
        println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    }
    let descriptors = protox::compile(files, [&proto_root])?;
    prost_build::Config::new()
        .bytes(["."])
        .message_attribute(".neuronet.v1", "#[derive(serde::Serialize, serde::Deserialize)]")
        .message_attribute(".neuronet.v1", "#[serde(default)]")
        .compile_fds(descriptors)?;
    Ok(())
}
