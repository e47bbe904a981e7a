//! Fan-out: what one client costs per peer when it talks to many servers at once, as a
//! validator does, for neuronet's dendrite and btlightning's client side by side. Each system is
//! measured in a process of its own (this binary with `--fanout-client`), whose servers run in a
//! further child process (`--serve-echo-axons N` or `--serve-btl-axons N`), so that the memory
//! and task counts are the client's alone and one system's freed memory never hides the other's
//! growth.

use crate::neuro::{Echo, EchoMessage};
use bytes::Bytes;
use neuronet_synapse::{CryptoType, Hotkey, Keypair, Status};
use neuronet_transport::{Axon, AxonConfig, Dendrite, DendriteConfig, Target};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The seed of server `index`'s hotkey (the same for both systems).
pub fn server_seed(index: usize) -> [u8; 32] {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
    seed
}

fn axon_key(index: usize) -> Keypair {
    Keypair::from_seed(&server_seed(index), CryptoType::Sr25519)
}

/// Child mode: serves `count` neuronet echo axons on loopback and prints `AXON <index> <addr>`
/// for each, then runs until its stdin closes.
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
    until_stdin_closes().await
}

/// Runs until the parent closes our stdin.
pub async fn until_stdin_closes() -> anyhow::Result<()> {
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

/// Heap bytes in use (glibc's count; 0 elsewhere): beside the resident memory, it tells live
/// data from what the allocator keeps after frees.
fn heap_bytes() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's counters.
        let info = unsafe { libc::mallinfo2() };
        (info.uordblks + info.hblkhd) as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

/// Warm forwards measured.
const ROUNDS: usize = 50;
/// Idle time before each warm forward.
const PAUSE: Duration = Duration::from_millis(20);
/// Each request's timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

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

/// One system's fan-out figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Figures {
    pub system: String,
    pub peers: usize,
    /// Dial, authentication and first answer from every peer, ms.
    pub cold_ms: f64,
    pub warm_p50_ms: f64,
    pub warm_p99_ms: f64,
    /// Client CPU per peer request in the warm forwards, us.
    pub cpu_us: f64,
    /// Resident memory per peer once every peer answered once, KiB.
    pub kib_cold: f64,
    /// Resident memory per peer after the warm forwards, KiB.
    pub kib_warm: f64,
    /// Heap in use per peer once every peer answered once, KiB.
    pub heap_kib_cold: f64,
    /// Heap in use per peer after the warm forwards, KiB.
    pub heap_kib_warm: f64,
    /// Tokio tasks per peer after the warm forwards.
    pub tasks: f64,
}

/// What a client's process holds before it connects, to subtract from what it holds after.
struct Baseline {
    rss: u64,
    heap: u64,
    tasks: usize,
}

impl Baseline {
    fn now() -> Self {
        let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        Baseline { rss: rss_bytes(), heap: heap_bytes(), tasks }
    }

    fn heap_kib_per_peer(&self, peers: usize) -> f64 {
        heap_bytes().saturating_sub(self.heap) as f64 / peers as f64 / 1024.0
    }

    fn kib_per_peer(&self, peers: usize) -> f64 {
        rss_bytes().saturating_sub(self.rss) as f64 / peers as f64 / 1024.0
    }

    fn tasks_per_peer(&self, peers: usize) -> f64 {
        let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        tasks.saturating_sub(self.tasks) as f64 / peers as f64
    }
}

/// The child process serving the peers, and its `AXON <index> <address>` lines.
struct Servers {
    child: Child,
    addrs: Vec<(usize, String)>,
}

impl Servers {
    fn start(flag: &str, count: usize) -> anyhow::Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .args([flag, &count.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout: ChildStdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no child stdout"))?;
        let mut addrs = Vec::with_capacity(count);
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if line == "READY" {
                break;
            }
            let mut parts = line.split_whitespace().skip(1);
            let (Some(index), Some(addr)) = (parts.next(), parts.next()) else { continue };
            addrs.push((index.parse()?, addr.to_owned()));
        }
        anyhow::ensure!(addrs.len() == count, "child started {} of {count} servers", addrs.len());
        Ok(Servers { child, addrs })
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The warm forwards: `ROUNDS` fan-outs after a pause each; their latencies and the CPU per
/// peer request.
/// How long a client is left alone after its cold forward before its memory is read, so that
/// background work (further stream opens) has finished.
const SETTLE: Duration = Duration::from_millis(500);

/// The figures of one system after its cold forward (which took `cold`): memory once settled,
/// then the warm forwards, then memory again.
async fn after_cold<F, Fut>(
    system: &str,
    count: usize,
    cold: Duration,
    baseline: &Baseline,
    forward: F,
) -> anyhow::Result<Figures>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    tokio::time::sleep(SETTLE).await;
    let (kib_cold, heap_kib_cold) = (baseline.kib_per_peer(count), baseline.heap_kib_per_peer(count));
    let (warm_p50_ms, warm_p99_ms, cpu_us) = warm(count, forward).await?;
    Ok(Figures {
        system: system.into(),
        peers: count,
        cold_ms: cold.as_secs_f64() * 1e3,
        warm_p50_ms,
        warm_p99_ms,
        cpu_us,
        kib_cold,
        kib_warm: baseline.kib_per_peer(count),
        heap_kib_cold,
        heap_kib_warm: baseline.heap_kib_per_peer(count),
        tasks: baseline.tasks_per_peer(count),
    })
}

async fn warm<F, Fut>(peers: usize, forward: F) -> anyhow::Result<(f64, f64, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut rounds = Vec::with_capacity(ROUNDS);
    let cpu_before = cpu_time();
    for _ in 0..ROUNDS {
        // A validator forwards every few seconds, not back to back: the machine is idle between.
        tokio::time::sleep(PAUSE).await;
        let started = Instant::now();
        forward().await?;
        rounds.push(started.elapsed());
    }
    let cpu_us = (cpu_time() - cpu_before).as_secs_f64() * 1e6 / (ROUNDS * peers) as f64;
    let (p50, p99) = crate::percentiles(rounds);
    Ok((p50, p99, cpu_us))
}

/// Client mode, neuronet: one dendrite forwards to `count` axons.
pub async fn measure_neuronet(
    count: usize,
    payload: usize,
    network: neuronet_transport::NetworkConfig,
    tuning: crate::neuro::Tuning,
) -> anyhow::Result<Figures> {
    let servers = Servers::start("--serve-echo-axons", count)?;
    let mut targets = Vec::with_capacity(count);
    for (index, addr) in &servers.addrs {
        let hotkey: Hotkey = axon_key(*index).hotkey();
        targets.push(Target::Explicit { hotkey, addr: addr.parse()? });
    }
    let validator = Keypair::from_seed(&[2; 32], CryptoType::Sr25519);
    let mut config = DendriteConfig::default().with_network(network);
    if let Some(sockets) = tuning.sockets {
        config = config.with_sockets(sockets);
    }
    let dendrite = Dendrite::new(validator, config).await?;
    let baseline = Baseline::now();
    let request = EchoMessage { payload: Bytes::from(vec![0x42u8; payload]) };

    let started = Instant::now();
    let answers = dendrite.forward_within::<Echo>(&targets, request.clone(), TIMEOUT).await;
    let cold = started.elapsed();
    let ok = answers.iter().filter(|a| a.status == Status::Success).count();
    if let Some(failed) = answers.iter().find(|a| a.status != Status::Success) {
        anyhow::bail!("cold forward: {ok} of {count} answered; e.g. {} {}", failed.status, failed.message);
    }
    let figures = after_cold("neuronet", count, cold, &baseline, || async {
        let answers = dendrite.forward_within::<Echo>(&targets, request.clone(), TIMEOUT).await;
        anyhow::ensure!(answers.iter().all(|a| a.status == Status::Success), "warm forward failed");
        Ok(())
    })
    .await?;
    drop(servers);
    Ok(figures)
}

/// Client mode, btlightning: one client connects to `count` servers and queries them all at once.
pub async fn measure_btlightning(count: usize, payload: usize) -> anyhow::Result<Figures> {
    let servers = Servers::start("--serve-btl-axons", count)?;
    let mut axons = Vec::with_capacity(count);
    for (index, port) in &servers.addrs {
        axons.push(crate::btl::axon_info(server_seed(*index), port.parse()?));
    }
    let mut client = crate::btl::client_for(count).await?;
    let baseline = Baseline::now();
    let request = crate::btl::echo_request(payload);
    // Connecting and authenticating is a separate call in btlightning: the cold forward is it
    // and the first fan-out, like a dendrite's first forward.
    let started = Instant::now();
    client.initialize_connections(axons.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let client = std::sync::Arc::new(client);
    let forward = || crate::btl::forward(&client, &axons, &request, TIMEOUT);
    let ok = forward().await;
    let cold = started.elapsed();
    anyhow::ensure!(ok == count, "cold forward: {ok} of {count} answered");
    let figures = after_cold("btlightning", count, cold, &baseline, || async {
        let ok = forward().await;
        anyhow::ensure!(ok == count, "warm forward: {ok} of {count} answered");
        Ok(())
    })
    .await?;
    drop(servers);
    Ok(figures)
}

/// Measures one system in a process of its own: this binary with `--fanout-client`.
fn measure_in_child(system: &str, count: usize, forwarded: &[String]) -> anyhow::Result<Figures> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["--fanout", &count.to_string(), "--fanout-client", system]).args(forwarded);
    let output = command.stderr(Stdio::inherit()).output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "{system} fan-out failed ({}): {stdout}", output.status);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("FANOUT "))
        .ok_or_else(|| anyhow::anyhow!("{system} fan-out printed no figures: {stdout}"))?;
    Ok(serde_json::from_str(line)?)
}

/// Parent mode: each system measured `rounds` times, taking turns (each round starting with the
/// next system); prints their medians side by side, with the spread over the rounds.
/// `forwarded`: the command line's neuronet settings, passed on to its client process.
pub fn compare(
    count: usize,
    tuning: crate::neuro::Tuning,
    forwarded: &[String],
    btlightning: bool,
    rounds: usize,
) -> anyhow::Result<()> {
    let systems: Vec<&str> = if btlightning { vec!["neuronet", "btlightning"] } else { vec!["neuronet"] };
    let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); systems.len()];
    for (index, round) in crate::turns(systems.len(), rounds.max(1)) {
        eprintln!("fan-out round {}: {}", round + 1, systems[index]);
        runs[index].push(measure_in_child(systems[index], count, forwarded)?);
    }
    println!("fan-out to {count} servers, {} B echo, one client (servers in a child process)", crate::FANOUT_PAYLOAD);
    println!("sr25519 verification: curve25519-dalek's {} backend", neuronet_synapse::curve_backend());
    println!(
        "client: one dendrite, 1 connection and up to {} streams per peer ({} sockets) | one btlightning client",
        DendriteConfig::default().streams_per_connection,
        tuning.sockets.unwrap_or(DendriteConfig::default().sockets)
    );
    type Pick = fn(&Figures) -> f64;
    let columns: [(&str, Pick); 9] = [
        ("cold_ms", |f| f.cold_ms),
        ("warm_p50", |f| f.warm_p50_ms),
        ("warm_p99", |f| f.warm_p99_ms),
        ("cpu_us", |f| f.cpu_us),
        ("KiB_cold", |f| f.kib_cold),
        ("KiB_warm", |f| f.kib_warm),
        ("heap_cold", |f| f.heap_kib_cold),
        ("heap_warm", |f| f.heap_kib_warm),
        ("tasks", |f| f.tasks),
    ];
    let median = |runs: &[Figures], pick: Pick| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    print!("{:<12}", "system");
    for (name, _) in &columns {
        print!(" {name:>9}");
    }
    println!();
    for (index, system) in systems.iter().enumerate() {
        print!("{system:<12}");
        for (_, pick) in &columns {
            print!(" {:>9.2}", median(&runs[index], *pick));
        }
        println!();
    }
    if let [ours, theirs] = &runs[..] {
        print!("{:<12}", "x (n/btl)");
        for (_, pick) in &columns {
            print!(" {:>9.2}", median(ours, *pick) / median(theirs, *pick));
        }
        println!();
        println!("ratios are neuronet / btlightning: below 1 favours neuronet");
    }
    if rounds > 1 {
        println!("spread over {rounds} runs (min..max):");
        for (index, system) in systems.iter().enumerate() {
            print!("{system:<12}");
            for (name, pick) in &columns {
                let values: Vec<f64> = runs[index].iter().map(pick).collect();
                let min = values.iter().copied().fold(f64::INFINITY, f64::min);
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                print!(" {name}={min:.1}..{max:.1}");
            }
            println!();
        }
    }
    Ok(())
}
