//! The Python peers of the interop tests, in venvs tests/python/setup-venv.sh makes (once per
//! run, shared by every test).
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub fn repo_root() -> PathBuf {
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

/// The python of the venv `.venv-<name>` with only the packages of tests/python/`requirements`
/// (for packages that cannot share the main venv: an older bittensor, a library's predecessor).
pub fn separate_python(name: &str, requirements: &str) -> PathBuf {
    static MADE: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, python)) = made.iter().find(|(n, _)| n == name) {
        return python.clone();
    }
    let python = make_venv(repo_root().join(format!(".venv-{name}")), Some(requirements));
    made.push((name.to_owned(), python.clone()));
    python
}

/// Runs tests/python/`script` with `args` and parses the JSON line it prints last.
pub fn run(script: &str, args: &[&str]) -> Value {
    run_with(python(), script, args)
}

/// [`run`] in the legacy timelock library's venv (bittensor-drand 1.2.0, which cannot share one
/// with its successor).
pub fn run_legacy_drand(script: &str, args: &[&str]) -> Value {
    run_with(&separate_python("legacy-drand", "legacy-drand.txt"), script, args)
}

/// [`run`] in a venv of its own, `.venv-<name>`, with the packages of `requirements`.
pub fn run_separate(name: &str, requirements: &str, script: &str, args: &[&str]) -> Value {
    run_with(&separate_python(name, requirements), script, args)
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
