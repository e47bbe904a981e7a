//! The Python peers of the interop tests, in venvs tests/python/setup-venv.sh makes (once per
//! run, shared by every test).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().find(|dir| dir.join("tests/python").is_dir()).unwrap().to_owned()
}

/// Makes (once) the venv at `venv` with the packages of `requirements` (all of
/// tests/python/requirements-*.txt when `None`); its python.
fn make_venv(venv: PathBuf, requirements: Option<&str>) -> PathBuf {
    let root = repo_root();
    let mut command = Command::new("bash");
    command.arg(root.join("tests/python/setup-venv.sh")).arg(&venv);
    if let Some(requirements) = requirements {
        command.arg(root.join("tests/python").join(requirements));
    }
    let status = command.status().expect("running tests/python/setup-venv.sh");
    assert!(status.success(), "creating the Python venv {} failed", venv.display());
    venv.join("bin/python")
}

fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv =
            std::env::var_os("NEURONET_PYENV").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv-interop"));
        make_venv(venv, None)
    })
}

/// The venv of the legacy timelock library (bittensor-drand 1.2.0), which cannot share one with
/// its successor.
fn legacy_drand_python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| make_venv(repo_root().join(".venv-legacy-drand"), Some("legacy-drand.txt")))
}

/// Runs tests/python/`script` with `args` and parses the JSON line it prints last.
pub fn run(script: &str, args: &[&str]) -> Value {
    run_with(python(), script, args)
}

/// [`run`] in the legacy timelock library's venv.
pub fn run_legacy_drand(script: &str, args: &[&str]) -> Value {
    run_with(legacy_drand_python(), script, args)
}

fn run_with(python: &Path, script: &str, args: &[&str]) -> Value {
    let output = Command::new(python)
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
