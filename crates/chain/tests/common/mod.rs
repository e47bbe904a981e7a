//! The real chain data under `../shared/fixtures/subtensor/` (beside the checkout). A missing
//! folder fails the tests that need it, loudly: they are the proof that neuronet reads what the
//! real chain writes.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture(relative: &str) -> PathBuf {
    // The checkout's root is the manifest's folder or one above it; shared/ sits beside it.
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .map(|dir| dir.join("../shared/fixtures/subtensor"))
        .find(|dir| dir.exists())
        .unwrap_or_else(|| manifest.join("../../../shared/fixtures/subtensor"));
    let path = root.join(relative);
    assert!(path.exists(), "missing chain fixture {} (../shared must sit beside the checkout)", path.display());
    path
}

pub fn fixture_bytes(relative: &str) -> Vec<u8> {
    std::fs::read(fixture(relative)).unwrap()
}

pub fn fixture_json(relative: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture_bytes(relative)).unwrap()
}

pub mod events;
pub mod python;
pub mod replay;
