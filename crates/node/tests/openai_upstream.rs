//! The miner's OpenAI-compatible upstream backend against a real server: pip
//! `llama-cpp-python[server]` on the same SmolLM2 GGUF, started here. A `neuronet miner
//! --backend openai` joins a devnet in front of it; `neuronet query` by uid gets its completions,
//! unary and streamed, and the devnet's validator scores it.

mod common;
#[path = "../../chain/tests/common/python.rs"]
mod python;

use std::process::Command;
use std::str::FromStr;
use std::time::{Duration, Instant};

use common::process::{free_port, neuronet, Process};

/// Whether `GET path` on 127.0.0.1:`port` answers 200.
fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")
}

#[test]
fn a_miner_serves_devnet_queries_through_llama_cpp_python_server() {
    // The GGUF the devnet's own miners load, from the same cache.
    let cache = neuronet_inference::ModelCache::from_env().unwrap();
    let source = neuronet_inference::ModelSource::from_str(neuronet_inference::fetch::SMOLLM2_135M_INSTRUCT).unwrap();
    let gguf = cache.fetch_gguf(&source).unwrap();

    // The upstream: llama-cpp-python's OpenAI-compatible server (built from source on first use).
    let python = python::separate_python("llama-cpp-python", "llama-cpp-python.txt");
    let server_port = free_port();
    let _server = Process::spawn(
        "llama_cpp.server",
        Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&gguf)
            .args(["--model_alias", "smollm2", "--host", "127.0.0.1", "--port", &server_port.to_string()])
            .args(["--n_ctx", "2048", "--n_threads", "2"]),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !http_ok(server_port, "/v1/models") {
        assert!(Instant::now() < deadline, "llama_cpp.server never answered /v1/models");
        std::thread::sleep(Duration::from_millis(250));
    }

    let dir = tempfile::tempdir().unwrap();
    let devnet = Process::spawn(
        "devnet",
        neuronet()
            .args(["devnet", "--port", "0", "--miners", "1", "--external-miners", "1", "--json"])
            .args(["--round-interval", "1", "--dir"])
            .arg(dir.path()),
    );
    let ready = devnet.wait_for("devnet ready", Duration::from_secs(900), |line| line.starts_with("devnet ready: "));
    let url = ready.split_whitespace().nth(2).unwrap().to_owned();
    let wallets = dir.path().join("wallets");

    // miner2 answers through the upstream (its /v1 suffix is accepted).
    let miner_port = free_port();
    let miner = Process::spawn(
        "miner2",
        neuronet()
            .args(["miner", "--subtensor.network", &url, "--netuid", "1", "--wallet.path"])
            .arg(&wallets)
            .args(["--wallet.name", "miner2", "--axon.ip", "127.0.0.1", "--axon.port", &miner_port.to_string()])
            .args(["--backend", "openai", "--backend.url", &format!("http://127.0.0.1:{server_port}/v1")])
            .args(["--model", "smollm2"]),
    );
    miner.wait_for("the miner serving", Duration::from_secs(120), |line| line.starts_with("miner serving on port"));

    let query = |uid: &str, what: &[&str]| {
        let output = neuronet()
            .args(["query", "--subtensor.network", &url, "--netuid", "1", "--uid", uid, "--wallet.path"])
            .arg(&wallets)
            .args(["--wallet.name", "validator", "--timeout", "60"])
            .args(what)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "neuronet query {what:?} failed: {stderr}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let greedy = ["text-generation", "--prompt", "What is the capital of France?", "--max-tokens", "16", "--seed", "7"];
    let upstream = query("2", &greedy);
    assert!(!upstream.trim().is_empty(), "an empty completion through the upstream");
    assert_eq!(query("2", &greedy), upstream, "greedy through the upstream is deterministic");
    // The same model in process, for comparison (llama.cpp versions may round differently).
    let local = query("1", &greedy);
    println!("through llama-cpp-python: {upstream:?}\nin process:               {local:?}");

    let streamed =
        query("2", &["text-generation", "--prompt", "Count to five.", "--max-tokens", "16", "--stream", "--json"]);
    let chunks: Vec<serde_json::Value> = streamed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(chunks.len() > 2, "the streamed completion came in {} chunks: {streamed}", chunks.len());

    // The validator scores it like any miner.
    let hotkey = neuronet_synapse::Keypair::from_suri("//devnet/miner/2", neuronet_synapse::CryptoType::Sr25519)
        .unwrap()
        .hotkey()
        .to_ss58();
    devnet.wait_for("a round answered through the upstream", Duration::from_secs(180), |line| {
        let Ok(round) = serde_json::from_str::<serde_json::Value>(line) else { return false };
        round["miners"]
            .as_array()
            .is_some_and(|miners| miners.iter().any(|m| m["hotkey"] == hotkey.as_str() && m["status"] == "200"))
    });
}
