//! The HTTP wire side by side: one load generator (neuronet's bittensor 10 dendrite) against a
//! real bittensor 10.5.0 Python axon and against a neuronet axon's HTTP listener, with the same
//! handler (`Echo`: out = text.upper(), `required_hash_fields = ("text",)`) on the same machine.

use crate::percentiles;
use neuronet_synapse::{CryptoType, Keypair, Status};
use neuronet_transport::{Axon, AxonConfig, HttpListen, V10Dendrite};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod echo {
    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoRequest {
        #[prost(string, tag = "1")]
        pub text: String,
    }

    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoResponse {
        #[prost(string, tag = "1")]
        pub out: String,
    }

    neuronet_synapse::synapse! {
        #[hash_fields("text")]
        pub struct Echo: EchoRequest => EchoResponse;
    }
}

/// What one system did under the load.
struct Figures {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn key(suri: &str) -> anyhow::Result<Keypair> {
    Ok(Keypair::from_suri(suri, CryptoType::Sr25519)?)
}

/// Sends `total` requests, `in_flight` at once (from as many dendrites), to the axon at `addr`
/// and measures them.
async fn load(addr: SocketAddr, total: usize, in_flight: usize) -> anyhow::Result<Figures> {
    let dendrite = Arc::new(V10Dendrite::new(key("//Alice")?));
    let bob = key("//Bob")?.hotkey();
    let request = echo::EchoRequest { text: "x".repeat(1024) };
    // Warm-up: connections made, both sides past their first request.
    for _ in 0..20 {
        let answer = dendrite.query::<echo::Echo>(addr, &bob, &request, Duration::from_secs(12)).await;
        anyhow::ensure!(answer.status == Status::Success, "warm-up failed: {} {}", answer.status, answer.message);
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..in_flight {
        // A dendrite of its own per request in flight, each sending in order: the Python axon
        // refuses a nonce older than the last one it saw for a dendrite's uuid.
        let dendrite = V10Dendrite::new(key("//Alice")?);
        let (next, request) = (next.clone(), request.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            let mut first_failure = None;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let sent = Instant::now();
                let answer = dendrite.query::<echo::Echo>(addr, &bob, &request, Duration::from_secs(12)).await;
                latencies.push(sent.elapsed());
                if answer.status != Status::Success {
                    failures += 1;
                    first_failure.get_or_insert(format!("{} {}", answer.status, answer.message));
                }
            }
            (latencies, failures, first_failure)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut first = None;
    for worker in workers {
        let (mut l, f, failure) = worker.await?;
        latencies.append(&mut l);
        failures += f;
        first = first.or(failure);
    }
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        failures == 0,
        "{failures} of {total} requests to {addr} failed, first: {}",
        first.unwrap_or_default()
    );
    let (p50_ms, p99_ms) = percentiles(latencies);
    Ok(Figures { requests_per_s: total as f64 / elapsed, p50_ms, p99_ms })
}

/// The Python axon (tests/python/v10_axon.py in the bittensor 10.5.0 venv at `python`), serving
/// until dropped.
struct PythonAxon(std::process::Child);

impl Drop for PythonAxon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_axon(python: &Path) -> anyhow::Result<(PythonAxon, SocketAddr)> {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/v10_axon.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting the Python axon with {}: {e}", python.display()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let axon = PythonAxon(child);
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    anyhow::ensure!(line.contains("serving"), "the Python axon did not start: {line:?}");
    // Its logs go on to stdout: keep taking them, or its writes fail and slow it down.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Ok((axon, format!("127.0.0.1:{port}").parse()?))
}

/// Runs the comparison and prints it. `python` is the bittensor 10.5.0 venv's interpreter.
pub async fn compare(python: &Path, quick: bool) -> anyhow::Result<()> {
    let (total, in_flight) = if quick { (2_000, 32) } else { (10_000, 32) };
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse()?));
    let axon = Axon::new(key("//Bob")?, config)
        .serve::<echo::Echo, _, _>(|_ctx, request: echo::EchoRequest| async move {
            Ok(echo::EchoResponse { out: request.text.to_uppercase() })
        })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse()?])
        .await?;
    let neuronet_addr = axon.http_addr().ok_or_else(|| anyhow::anyhow!("no HTTP listener"))?;
    eprintln!("neuronet HTTP listener at {neuronet_addr}");
    let neuronet = load(neuronet_addr, total, in_flight).await?;
    let (python_axon, python_addr) = python_axon(python)?;
    eprintln!("bittensor 10.5.0 axon at {python_addr}");
    let python = load(python_addr, total, in_flight).await?;
    drop(python_axon);
    println!("bittensor 10 HTTP wire, 1 KiB Echo (required_hash_fields=text), {total} requests, {in_flight} in flight from as many neuronet V10Dendrites");
    println!("{:<28} {:>10} {:>10} {:>10}", "axon", "req/s", "p50_ms", "p99_ms");
    for (name, f) in [("neuronet HTTP listener", &neuronet), ("bittensor 10.5.0 Axon", &python)] {
        println!("{name:<28} {:>10.0} {:>10.3} {:>10.3}", f.requests_per_s, f.p50_ms, f.p99_ms);
    }
    let ratio = neuronet.requests_per_s / python.requests_per_s;
    println!(
        "neuronet / Python: {ratio:.1}x requests/s (goal >= 3x: {}), p99 {:.2}x (goal below 1: {})",
        if ratio >= 3.0 { "met" } else { "NOT met" },
        neuronet.p99_ms / python.p99_ms,
        if neuronet.p99_ms < python.p99_ms { "met" } else { "NOT met" },
    );
    Ok(())
}
