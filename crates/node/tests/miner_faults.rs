//! A `neuronet miner` process under faults, on a real devnet whose validator prints its rounds
//! as JSON lines:
//! - junk UDP (and junk TCP) at the miner's port changes nothing it answers;
//! - killed mid-round (SIGKILL), the validator records 503/408 for it and carries on with the
//!   other miner; started again, it is queried again;
//! - SIGTERM during an in-flight streamed request: the request completes (or gets a clear 503)
//!   and the process exits 0.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{free_port, neuronet, Process};

use serde_json::Value;

/// A validator round, from the devnet's JSON line.
struct Round(Value);

impl Round {
    fn parse(line: &str) -> Option<Round> {
        let value: Value = serde_json::from_str(line).ok()?;
        value.get("round")?;
        Some(Round(value))
    }
    fn status_of(&self, hotkey: &str) -> Option<String> {
        let miners = self.0["miners"].as_array()?;
        let miner = miners.iter().find(|m| m["hotkey"] == hotkey)?;
        Some(miner["status"].as_str().unwrap_or_default().to_owned())
    }
}

/// Waits for a devnet round where `hotkey`'s status satisfies `wanted`; returns that round.
fn round_where(devnet: &Process, what: &str, hotkey: &str, wanted: impl Fn(&str) -> bool) -> Round {
    let line = devnet.wait_for(what, Duration::from_secs(180), |line| {
        Round::parse(line).and_then(|round| round.status_of(hotkey)).is_some_and(|status| wanted(&status))
    });
    Round::parse(&line).unwrap()
}

fn start_miner(url: &str, wallets: &Path, port: u16) -> Process {
    let miner = Process::spawn(
        "miner2",
        neuronet()
            .args(["miner", "--subtensor.network", url, "--netuid", "1", "--wallet.path"])
            .arg(wallets)
            .args(["--wallet.name", "miner2", "--axon.ip", "127.0.0.1", "--axon.port", &port.to_string()])
            .args(["--shutdown.grace", "20"]),
    );
    miner.wait_for("the miner serving", Duration::from_secs(300), |line| line.starts_with("miner serving on port"));
    miner
}

struct Query {
    url: String,
    wallets: PathBuf,
}

impl Query {
    fn command(&self, what: &[&str]) -> Command {
        let mut command = neuronet();
        command
            .args(["query", "--subtensor.network", &self.url, "--netuid", "1", "--uid", "2", "--wallet.path"])
            .arg(&self.wallets)
            .args(["--wallet.name", "validator", "--timeout", "60"])
            .args(what);
        command
    }

    /// Whether the greedy completion is `expected`, in one of three tries: the devnet's validator
    /// queries the same miner meanwhile, and a completion decoded in one llama.cpp batch with
    /// another can differ in its last digits, and so now and then in a token.
    fn greedy_is(&self, expected: &str) -> bool {
        (0..3).any(|_| self.greedy() == expected)
    }

    fn greedy(&self) -> String {
        let output = self
            .command(&["text-generation", "--prompt", "Name three rivers.", "--max-tokens", "16", "--seed", "7"])
            .output()
            .unwrap();
        assert!(output.status.success(), "query failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Random datagrams of every size, and ones shaped like QUIC long-header Initial packets (the
/// kind that makes a server allocate connection state), from many source sockets.
fn junk_udp(port: u16) {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for socket in 0..16 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for packet in 0..500 {
            let len = (next() % 1500) as usize + 1;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if packet % 2 == 0 && len > 20 {
                // Long header, Initial, QUIC v1, an 8-byte DCID: past the first parsing step.
                bytes[0] = 0xc0 | (bytes[0] & 0x0f);
                bytes[1..5].copy_from_slice(&1u32.to_be_bytes());
                bytes[5] = 8;
            }
            let _ = udp.send_to(&bytes, ("127.0.0.1", port));
        }
        if socket % 4 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // And junk at the HTTP wires' TCP port.
    for _ in 0..8 {
        if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let junk: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
            let _ = tcp.write_all(&junk);
        }
    }
}

#[test]
fn a_miner_survives_junk_is_missed_when_killed_and_drains_on_sigterm() {
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
    let hotkey_of = |uri: &str| {
        neuronet_synapse::Keypair::from_suri(uri, neuronet_synapse::CryptoType::Sr25519).unwrap().hotkey().to_ss58()
    };
    let (inside, outside) = (hotkey_of("//devnet/miner/1"), hotkey_of("//devnet/miner/2"));
    let query = Query { url: url.clone(), wallets: wallets.clone() };

    // The separate miner serves and the validator scores it.
    let port = free_port();
    let miner = start_miner(&url, &wallets, port);
    round_where(&devnet, "a round answered by the separate miner", &outside, |status| status == "200");
    let before = query.greedy();
    assert!(!before.trim().is_empty());

    // Junk at its port changes nothing it answers.
    junk_udp(port);
    assert!(query.greedy_is(&before), "the same greedy completion after the junk");
    devnet.skip_printed();
    round_where(&devnet, "a round after the junk", &outside, |status| status == "200");

    // Killed mid-round: the validator records a failure for it and carries on with the other.
    miner.signal("-KILL");
    drop(miner);
    devnet.skip_printed();
    let missed = round_where(&devnet, "a round missing the killed miner", &outside, |status| {
        status.starts_with("503") || status.starts_with("408")
    });
    assert_eq!(missed.status_of(&inside).as_deref(), Some("200"), "the other miner still answers: {}", missed.0);

    // Back on the same port (and identity): queried again.
    let miner = start_miner(&url, &wallets, port);
    devnet.skip_printed();
    round_where(&devnet, "a round answered by the restarted miner", &outside, |status| status == "200");
    assert!(query.greedy_is(&before), "the restarted miner answers the same");

    // SIGTERM while a long streamed request is in flight: it completes (or gets a clear 503),
    // and the miner exits 0.
    let mut streaming = query
        .command(&["text-generation", "--prompt", "Tell a long story.", "--max-tokens", "160", "--stream", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut chunks = BufReader::new(streaming.stdout.take().unwrap()).lines();
    let first = chunks.next().expect("a first chunk").unwrap();
    assert!(first.starts_with('{'), "{first}");
    miner.signal("-TERM");
    let rest: Vec<String> = chunks.map_while(Result::ok).collect();
    let ended = streaming.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&ended.stderr);
    if ended.status.success() {
        let last: Value = serde_json::from_str(rest.last().expect("more chunks")).unwrap();
        let reason = &last["finish_reason"];
        let finished = reason.as_u64().is_some_and(|r| r > 0)
            || reason.as_str().is_some_and(|r| !r.is_empty() && !r.to_ascii_uppercase().contains("UNSPECIFIED"));
        assert!(finished, "the stream finished: {last}");
    } else {
        assert!(stderr.contains("503"), "cut off without a 503: {stderr}");
    }
    let mut miner = miner;
    let deadline = Instant::now() + Duration::from_secs(90);
    let exit = loop {
        if let Some(status) = miner.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the miner did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "the miner exited with {exit}");
    miner.wait_for("the miner's stop", Duration::from_secs(5), |line| line == "stopped");
}
