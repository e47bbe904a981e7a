//! Wallet interop with the real Python `bittensor-wallet` library: key files written by either
//! side load on the other with the same SS58, and signatures verify across implementations.
//! The venv is created on first use by tests/python/setup-venv.sh.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
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

/// Runs tests/python/wallet_peer.py and parses its JSON answer.
fn py(args: &[&str]) -> Value {
    let output = Command::new(python())
        .arg(repo_root().join("tests/python/wallet_peer.py"))
        .args(args)
        .output()
        .expect("running wallet_peer.py");
    assert!(output.status.success(), "wallet_peer.py {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("wallet_peer.py printed {stdout:?}: {e}"))
}

fn neuronet(args: &[&str], password: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_neuronet"));
    command.args(args).env_remove("NEURONET_WALLET_PASSWORD");
    if let Some(password) = password {
        command.env("NEURONET_WALLET_PASSWORD", password);
    }
    command.output().expect("running neuronet")
}

fn stdout_ok(output: Output) -> String {
    assert!(output.status.success(), "neuronet failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn key_args<'a>(path: &'a str, name: &'a str, hotkey: &'a str) -> Vec<&'a str> {
    vec!["--wallet.path", path, "--wallet.name", name, "--wallet.hotkey", hotkey]
}

#[test]
fn python_hotkeys_load_sign_and_verify_in_neuronet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    for crypto in ["sr25519", "ed25519"] {
        let name = format!("py-{crypto}");
        let created = py(&["new-hotkey", path, &name, "hot", crypto]);
        let ss58 = created["ss58"].as_str().unwrap();

        let mut show = vec!["wallet", "show", "--json"];
        show.extend(key_args(path, &name, "hot"));
        let shown: Value = serde_json::from_str(&stdout_ok(neuronet(&show, None))).unwrap();
        assert_eq!(shown["hotkey"], ss58, "{crypto}: same ss58 in neuronet");
        assert_eq!(shown["crypto"], crypto);

        // The privateKey field alone, in Python's encoding, restores the same key.
        let file = Path::new(path).join(&name).join("hotkeys/hot");
        let mut json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let object = json.as_object_mut().unwrap();
        object.retain(|k, _| k == "privateKey" || k == "cryptoType" || k == "ss58Address");
        let only_private = neuronet_synapse::keyfile::KeyfileJson::parse(json.to_string().as_bytes(), &file).unwrap();
        assert_eq!(only_private.keypair(&file).unwrap().hotkey().to_ss58(), ss58, "{crypto}: from privateKey");

        let message = format!("neuronet signs for {crypto}");
        let mut sign = vec!["wallet", "sign", "--message", &message];
        sign.extend(key_args(path, &name, "hot"));
        let signature = stdout_ok(neuronet(&sign, None));
        assert_eq!(py(&["verify", ss58, crypto, &message, &signature])["valid"], true, "{crypto}: Python verifies");
        assert_eq!(py(&["verify", ss58, crypto, "another message", &signature])["valid"], false);

        let py_sig = py(&["sign-hotkey", path, &name, "hot", &message]);
        let verify = neuronet(
            &[
                "wallet",
                "verify",
                "--ss58",
                ss58,
                "--message",
                &message,
                "--signature",
                py_sig["signature"].as_str().unwrap(),
                "--crypto",
                crypto,
            ],
            None,
        );
        assert_eq!(verify.status.code(), Some(0), "{crypto}: neuronet verifies Python's signature");
    }
}

#[test]
fn neuronet_hotkeys_load_in_python_with_the_same_ss58() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    for crypto in ["sr25519", "ed25519"] {
        let name = format!("nn-{crypto}");
        let mut create = vec!["wallet", "new-hotkey", "--crypto", crypto];
        create.extend(key_args(path, &name, "hot"));
        let ss58 = stdout_ok(neuronet(&create, None));

        let loaded = py(&["load-hotkey", path, &name, "hot"]);
        assert_eq!(loaded["ss58"], ss58.as_str(), "{crypto}: same ss58 in Python");
        assert_eq!(loaded["crypto_type"], if crypto == "sr25519" { 1 } else { 0 });

        let py_sig = py(&["sign-hotkey", path, &name, "hot", "hello"]);
        let verify = neuronet(
            &[
                "wallet",
                "verify",
                "--ss58",
                &ss58,
                "--message",
                "hello",
                "--signature",
                py_sig["signature"].as_str().unwrap(),
                "--crypto",
                crypto,
            ],
            None,
        );
        assert_eq!(verify.status.code(), Some(0), "{crypto}: Python's signature with a neuronet-made key verifies");

        let file = Path::new(path).join(&name).join("hotkeys/hot");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}

#[test]
fn python_encrypted_coldkey_decrypts_in_neuronet_and_wrong_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let created = py(&["new-coldkey", path, "cold", "correct horse", "sr25519"]);
    let ss58 = created["ss58"].as_str().unwrap();
    let raw = std::fs::read(Path::new(path).join("cold/coldkey")).unwrap();
    assert!(raw.starts_with(b"$NACL"), "Python wrote a NaCl-encrypted coldkey");

    let sign = ["wallet", "sign", "--coldkey", "--wallet.path", path, "--wallet.name", "cold", "--message", "m"];
    let signature = stdout_ok(neuronet(&sign, Some("correct horse")));
    assert_eq!(py(&["verify", ss58, "sr25519", "m", &signature])["valid"], true, "signed by the decrypted coldkey");

    let refused = neuronet(&sign, Some("wrong horse"));
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("wrong password"), "clear message, got {stderr:?}");
    assert!(refused.stdout.is_empty(), "nothing signed with a wrong password");

    // The library refuses too, with a distinct error.
    let wallet = neuronet_synapse::wallet::Wallet::new(path, "cold");
    assert!(matches!(wallet.coldkey(Some("wrong horse")), Err(neuronet_synapse::Error::WrongPassword { .. })));
    assert!(matches!(wallet.coldkey(None), Err(neuronet_synapse::Error::PasswordRequired { .. })));
}

#[test]
fn neuronet_encrypted_coldkey_decrypts_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let create = ["wallet", "new-coldkey", "--wallet.path", path, "--wallet.name", "cold"];
    let ss58 = stdout_ok(neuronet(&create, Some("s3cret pass")));
    assert_eq!(py(&["load-coldkey", path, "cold", "s3cret pass"])["ss58"], ss58.as_str());
    let wrong = py(&["load-coldkey", path, "cold", "nope"]);
    assert!(wrong["error"].as_str().unwrap_or_default().to_lowercase().contains("password"), "{wrong}");
}
