//! Fan-out: what one dendrite costs per peer when it talks to many axons at once, as a
//! validator does. The axons run in a child process (this binary with `--serve-echo-axons N`),
//! so the dendrite's memory and task counts are its own.

use crate::neuro::{Echo, EchoMessage};
use bytes::Bytes;
use neuronet_synapse::{CryptoType, Hotkey, Keypair, Status};
use neuronet_transport::{Axon, AxonConfig, Dendrite, DendriteConfig, Target};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn axon_key(index: usize) -> Keypair {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
    Keypair::from_seed(&seed, CryptoType::Sr25519)
}

/// Child mode: serves `count` echo axons on loopback and prints `AXON <index> <addr>` for each,
/// then runs until its stdin closes.
pub async fn serve(count: usize) -> anyhow::Result<()> {
    let mut axons = Vec::with_capacity(count);
    let stdout = std::io::stdout();
    for index in 0..count {
        let axon = Axon::new(axon_key(index), AxonConfig::default())
            .serve::<Echo, _, _>(|_ctx, request| async move { Ok(request) })
            .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse()?])
            .await?;
        writeln!(stdout.lock(), "AXON {index} {}", axon.listen_addrs()[0])?;
        axons.push(axon);
    }
    writeln!(stdout.lock(), "READY")?;
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).map(|n| n > 0).unwrap_or(false) {}
    })
    .await?;
    Ok(())
}

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Warm forwards measured.
const ROUNDS: usize = 50;
/// Idle time before each warm forward.
const PAUSE: Duration = Duration::from_millis(20);

/// CPU time (user + system) this process has used, all threads.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is a valid value.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Parent mode: one dendrite forwards to `count` axons; prints the cost per peer.
pub async fn measure(count: usize, payload: usize, tuning: crate::neuro::Tuning) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(["--serve-echo-axons", &count.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no child stdout"))?;
    let mut targets = Vec::with_capacity(count);
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line == "READY" {
            break;
        }
        let mut parts = line.split_whitespace().skip(1);
        let (Some(index), Some(addr)) = (parts.next(), parts.next()) else { continue };
        let hotkey: Hotkey = axon_key(index.parse()?).hotkey();
        targets.push(Target::Explicit { hotkey, addr: addr.parse()? });
    }
    anyhow::ensure!(targets.len() == count, "child started {} of {count} axons", targets.len());

    let validator = Keypair::from_seed(&[2; 32], CryptoType::Sr25519);
    let mut config = DendriteConfig::default();
    if let Some(sockets) = tuning.sockets {
        config = config.with_sockets(sockets);
    }
    let sockets = config.sockets;
    let dendrite = Dendrite::new(validator, config).await?;
    let metrics = tokio::runtime::Handle::current().metrics();
    let (rss0, tasks0) = (rss_bytes(), metrics.num_alive_tasks());
    let request = EchoMessage { payload: Bytes::from(vec![0x42u8; payload]) };
    let timeout = Duration::from_secs(30);

    let started = Instant::now();
    let answers = dendrite.forward_within::<Echo>(&targets, request.clone(), timeout).await;
    let cold = started.elapsed();
    let ok = answers.iter().filter(|a| a.status == Status::Success).count();
    if let Some(failed) = answers.iter().find(|a| a.status != Status::Success) {
        anyhow::bail!("cold forward: {ok} of {count} answered; e.g. {} {}", failed.status, failed.message);
    }
    // Let background stream opens finish before measuring what the connections hold.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss1, tasks1) = (rss_bytes(), metrics.num_alive_tasks());

    let mut rounds = Vec::new();
    let cpu_before = cpu_time();
    for _ in 0..ROUNDS {
        // A validator forwards every few seconds, not back to back: the machine is idle between.
        tokio::time::sleep(PAUSE).await;
        let started = Instant::now();
        let answers = dendrite.forward_within::<Echo>(&targets, request.clone(), timeout).await;
        rounds.push(started.elapsed());
        anyhow::ensure!(answers.iter().all(|a| a.status == Status::Success), "warm forward failed");
    }
    let cpu_per_request = (cpu_time() - cpu_before).as_secs_f64() * 1e6 / (ROUNDS * count) as f64;
    let (p50, p99) = crate::percentiles(rounds);
    let per_peer_kib = (rss1.saturating_sub(rss0)) as f64 / count as f64 / 1024.0;
    let per_peer_tasks = (tasks1.saturating_sub(tasks0)) as f64 / count as f64;
    println!("fan-out to {count} axons, {payload} B echo, one dendrite (axons in a child process)");
    println!("  sr25519 verification: curve25519-dalek's {} backend", neuronet_synapse::curve_backend());
    println!("  cold forward (dial + binding + answer, all peers): {:.1} ms", cold.as_secs_f64() * 1e3);
    println!("  warm forward p50 / p99: {p50:.2} / {p99:.2} ms");
    println!("  dendrite CPU per peer request (sign, send, receive, decode): {cpu_per_request:.0} us");
    println!(
        "  dendrite cost per peer: {per_peer_kib:.1} KiB resident, {per_peer_tasks:.1} tokio tasks (1 connection, up to {} streams, a reader and a writer task each; {sockets} sockets in all)",
        DendriteConfig::default().streams_per_connection
    );
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
