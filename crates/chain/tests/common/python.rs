//! The Python peers of the interop tests, in the venv tests/python/setup-venv.sh makes (once per
//! run, shared by every test).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let root = repo_root();
        let venv = std::env::var_os("NEURONET_PYENV").map(PathBuf::from).unwrap_or_else(|| root.join(".venv-interop"));
        let status = Command::new("bash")
            .arg(root.join("tests/python/setup-venv.sh"))
            .arg(&venv)
            .status()
            .expect("running tests/python/setup-venv.sh");
        assert!(status.success(), "creating the Python venv failed");
        venv.join("bin/python")
    })
}

/// Runs tests/python/`script` with `args` and parses the JSON line it prints last.
pub fn run(script: &str, args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(repo_root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("running a Python peer");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} {args:?} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{script} printed {stdout:?}: {e}"))
}
