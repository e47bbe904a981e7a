//! neuronet-bench: echo over loopback, neuronet (per-request and connection auth) against
//! btlightning 0.2.15, measured the same way in one run: sequential p50/p99 latency, throughput
//! with 32 requests in flight over one connection, and connection setup (dial + binding + first
//! answer). Every figure is taken in rounds in which the systems take turns, each round started
//! by the next system, so that all of them meet the same machine state. Prints a table with
//! neuronet/btlightning ratios; `--json FILE` writes the results.

mod btl;
mod chain;
mod devchain;
mod fanout;
mod inference;
mod legacy;
mod neuro;

use clap::Parser;
use serde::Serialize;
use std::time::Duration;

/// Payload sizes measured, in bytes.
const PAYLOADS: [usize; 5] = [256, 1024, 10 * 1024, 100 * 1024, 1024 * 1024];
/// The fan-out's echo payload, in bytes.
pub const FANOUT_PAYLOAD: usize = 1024;
/// Requests in flight for the throughput figure.
const IN_FLIGHT: usize = 32;

#[derive(Parser)]
#[command(about = "neuronet vs btlightning, echo over loopback")]
struct Args {
    /// Fewer requests per measurement (finishes in well under two minutes on two cores).
    #[arg(long)]
    quick: bool,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// Only these payload sizes (bytes, comma separated).
    #[arg(long, value_delimiter = ',')]
    payloads: Option<Vec<usize>>,
    /// neuronet's QUIC per-stream receive window, KiB (default: NetworkConfig's).
    #[arg(long)]
    stream_window_kib: Option<u32>,
    /// neuronet's QUIC per-connection receive window, KiB (default: NetworkConfig's).
    #[arg(long)]
    connection_window_kib: Option<u32>,
    /// neuronet's long-lived streams per connection (default: DendriteConfig's).
    #[arg(long)]
    streams: Option<usize>,
    /// neuronet dendrite's UDP sockets (default: DendriteConfig's).
    #[arg(long)]
    sockets: Option<usize>,
    /// Instead of the echo table: one client forwarding to this many servers (cost per peer),
    /// neuronet's dendrite and btlightning's client side by side.
    #[arg(long)]
    fanout: Option<usize>,
    /// Fan-out runs per system, the systems taking turns; medians and the spread are printed.
    #[arg(long, default_value_t = 1)]
    fanout_runs: usize,
    /// Internal: measure only this system's fan-out in this process and print its figures.
    #[arg(long, hide = true)]
    fanout_client: Option<String>,
    /// Internal: serve this many neuronet echo axons and print their addresses (a fan-out child).
    #[arg(long, hide = true)]
    serve_echo_axons: Option<usize>,
    /// Internal: serve this many btlightning echo servers and print their ports (a fan-out child).
    #[arg(long, hide = true)]
    serve_btl_axons: Option<usize>,
    /// Only this neuronet auth mode (default: both).
    #[arg(long, value_enum)]
    auth: Option<AuthMode>,
    /// Skip btlightning (neuronet only).
    #[arg(long)]
    no_btlightning: bool,
    /// Instead of the echo table: time the chain client's metagraph decoder on this
    /// `get_neurons_lite` answer (such as the finney netuid-1 one under
    /// ../shared/fixtures/subtensor/runtime_api/).
    #[arg(long)]
    metagraph: Option<std::path::PathBuf>,
    /// Instead of the echo table: the bittensor 10 HTTP wire, a neuronet axon's HTTP listener
    /// beside a real bittensor 10.5.0 Python axon, under one load generator. Takes the Python
    /// interpreter of a venv with bittensor==10.5.0 (the tests make one: .venv-bittensor10).
    #[arg(long)]
    http_vs_python: Option<std::path::PathBuf>,
    /// Instead of the echo table: the miner's inference end to end (SmolLM2 through a real
    /// miner over QUIC at 1, 4 and 16 streams, time to first token, MiniLM embeddings/s at
    /// batch 1 and 32) beside pip llama-cpp-python in process on the same GGUF.
    #[arg(long)]
    inference: bool,
    /// The Python with llama-cpp-python for --inference (default: the repository's
    /// .venv-llama-cpp-python).
    #[arg(long)]
    python: Option<std::path::PathBuf>,
    /// The GGUF for --inference (default: SmolLM2-135M-Instruct Q4_1 from PyPI).
    #[arg(long)]
    model: Option<std::path::PathBuf>,
    /// Instead of the echo table: the devchain's neurons_lite with 4 subnets of 256 neurons,
    /// and a block of 256 transactions.
    #[arg(long)]
    devchain: bool,
}

/// A neuronet auth mode on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AuthMode {
    PerRequest,
    Connection,
}

/// One system at one payload size.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    system: &'static str,
    payload: usize,
    p50_ms: f64,
    p99_ms: f64,
    throughput_rps: f64,
    setup_ms: f64,
}

/// One system under measurement.
enum Rig {
    Neuronet(Box<neuro::Rig>),
    Btlightning(btl::Rig),
}

impl Rig {
    async fn setup(&self) -> anyhow::Result<Duration> {
        match self {
            Rig::Neuronet(rig) => rig.setup().await,
            Rig::Btlightning(rig) => rig.setup().await,
        }
    }

    fn system(&self) -> &'static str {
        match self {
            Rig::Neuronet(rig) => rig.system(),
            Rig::Btlightning(_) => "btlightning",
        }
    }

    async fn session(&self, payload: usize) -> anyhow::Result<Session> {
        Ok(match self {
            Rig::Neuronet(rig) => Session::Neuronet(rig.session(payload).await?),
            Rig::Btlightning(rig) => Session::Btlightning(rig.session(payload).await?),
        })
    }

    async fn stop(&self) {
        if let Rig::Btlightning(rig) = self {
            rig.stop().await;
        }
    }
}

/// One connected system's requests.
enum Session {
    Neuronet(neuro::Session),
    Btlightning(btl::Session),
}

impl Session {
    async fn sequential(&self, count: usize) -> anyhow::Result<Vec<Duration>> {
        match self {
            Session::Neuronet(session) => session.sequential(count).await,
            Session::Btlightning(session) => session.sequential(count).await,
        }
    }

    async fn concurrent(&self, count: usize) -> anyhow::Result<f64> {
        match self {
            Session::Neuronet(session) => session.concurrent(count).await,
            Session::Btlightning(session) => session.concurrent(count).await,
        }
    }
}

/// How many requests each figure uses, and in how many rounds the systems take turns.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    sequential: usize,
    concurrent: usize,
    setups: usize,
    rounds: usize,
}

impl Plan {
    fn for_payload(payload: usize, quick: bool) -> Self {
        let large = payload >= 100 * 1024;
        match (quick, large) {
            (false, false) => Plan { sequential: 4000, concurrent: 40_000, setups: 20, rounds: 20 },
            (false, true) => Plan { sequential: 300, concurrent: 1000, setups: 20, rounds: 5 },
            (true, false) => Plan { sequential: 1000, concurrent: 10_000, setups: 10, rounds: 10 },
            (true, true) => Plan { sequential: 100, concurrent: 300, setups: 10, rounds: 2 },
        }
    }

    /// Round `round`'s share of `total`.
    fn share(&self, total: usize, round: usize) -> usize {
        total / self.rounds + usize::from(round < total % self.rounds)
    }
}

/// The order in which the systems take turns: `(system, round)`, every system once per round,
/// each round starting with the next system.
fn turns(systems: usize, rounds: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rounds).flat_map(move |round| (0..systems).map(move |offset| ((round + offset) % systems, round)))
}

/// Sorted latencies in ms -> (p50, p99).
pub fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
        samples.get(i).map(|d| d.as_secs_f64() * 1e3).unwrap_or(f64::NAN)
    };
    (at(0.50), at(0.99))
}

/// Runs `total` requests with [`IN_FLIGHT`] of them in flight, each made by `request` and
/// reporting success; fails unless all succeed. Returns the elapsed seconds.
pub async fn throughput<F, Fut>(total: usize, request: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let request = std::sync::Arc::new(request);
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|w| {
            let request = request.clone();
            let count = total / IN_FLIGHT + usize::from(w < total % IN_FLIGHT);
            tokio::spawn(async move {
                let mut ok = 0usize;
                for _ in 0..count {
                    ok += usize::from(request().await);
                }
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for worker in workers {
        ok += worker.await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    anyhow::ensure!(ok == total, "{} of {total} concurrent requests failed", total - ok);
    Ok(elapsed)
}

/// Runs `count` requests one after another, each made by `request` and failing with its reason;
/// returns their latencies, or the first failure.
pub async fn latencies<F, Fut>(count: usize, request: F) -> anyhow::Result<Vec<Duration>>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = std::time::Instant::now();
        request().await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// Median of durations in ms.
pub fn median_ms(samples: Vec<Duration>) -> f64 {
    percentiles(samples).0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(path) = &args.metagraph {
        return chain::measure(path, if args.quick { 200 } else { 2_000 });
    }
    if args.devchain {
        return devchain::measure(args.quick);
    }
    if args.inference {
        return inference::measure(args.python.clone(), args.model.clone(), args.quick).await;
    }
    if let Some(python) = &args.http_vs_python {
        return legacy::compare(python, args.quick).await;
    }
    if let Some(count) = args.serve_echo_axons {
        fanout::serve(count).await?;
        std::process::exit(0);
    }
    if let Some(count) = args.serve_btl_axons {
        btl::serve_many(count).await?;
        std::process::exit(0);
    }
    let mut network = neuronet_transport::NetworkConfig::default();
    if let Some(kib) = args.stream_window_kib {
        network.stream_window = kib * 1024;
    }
    if let Some(kib) = args.connection_window_kib {
        network.connection_window = kib * 1024;
    }
    if let Some(count) = args.fanout {
        let tuning = neuro::Tuning { streams: None, sockets: args.sockets };
        let figures = match args.fanout_client.as_deref() {
            Some("neuronet") => fanout::measure_neuronet(count, FANOUT_PAYLOAD, network, tuning).await?,
            Some("btlightning") => fanout::measure_btlightning(count, FANOUT_PAYLOAD).await?,
            Some(other) => anyhow::bail!("no fan-out client {other}"),
            None => {
                // The clients run in processes of their own, one after another.
                let mut forwarded = Vec::new();
                let settings = [
                    ("--sockets", args.sockets.map(|n| n.to_string())),
                    ("--stream-window-kib", args.stream_window_kib.map(|n| n.to_string())),
                    ("--connection-window-kib", args.connection_window_kib.map(|n| n.to_string())),
                ];
                for (flag, value) in settings {
                    if let Some(value) = value {
                        forwarded.extend([flag.to_owned(), value]);
                    }
                }
                let (runs, btlightning) = (args.fanout_runs, !args.no_btlightning);
                tokio::task::spawn_blocking(move || fanout::compare(count, tuning, &forwarded, btlightning, runs))
                    .await??;
                std::process::exit(0);
            }
        };
        println!("FANOUT {}", serde_json::to_string(&figures)?);
        // btlightning's tasks do not stop on their own.
        std::process::exit(0);
    }
    let payloads = args.payloads.clone().unwrap_or(PAYLOADS.to_vec());
    let tuning = neuro::Tuning { streams: args.streams, sockets: args.sockets };
    let modes: Vec<neuronet_transport::Auth> =
        [neuronet_transport::Auth::PerRequest, neuronet_transport::Auth::Connection]
            .into_iter()
            .filter(|auth| {
                let mode = match auth {
                    neuronet_transport::Auth::PerRequest => AuthMode::PerRequest,
                    neuronet_transport::Auth::Connection => AuthMode::Connection,
                };
                args.auth.is_none_or(|only| only == mode)
            })
            .collect();
    let mut results = Vec::new();
    for &payload in &payloads {
        let plan = Plan::for_payload(payload, args.quick);
        eprintln!("payload {payload} B: {plan:?}");
        let mut rigs = Vec::new();
        for &auth in &modes {
            rigs.push(Rig::Neuronet(Box::new(neuro::Rig::start(auth, &network, &tuning).await?)));
        }
        if !args.no_btlightning {
            rigs.push(Rig::Btlightning(btl::Rig::start().await?));
        }
        // Every figure is taken in rounds in which the systems take turns, each round starting
        // with the next system: this VM's speed drifts by tens of percent over seconds, and a
        // system measured in one stretch would meet a different machine than the others.
        // Setups come first, on fresh servers (a setup also pays for the teardown of the
        // connections the previous ones just dropped).
        let systems = rigs.len();
        let mut setups = vec![Vec::with_capacity(plan.setups); systems];
        for (index, _) in turns(systems, plan.setups) {
            setups[index].push(rigs[index].setup().await?);
        }
        let mut sessions = Vec::with_capacity(systems);
        for rig in &rigs {
            sessions.push(rig.session(payload).await?);
        }
        let mut latencies = vec![Vec::with_capacity(plan.sequential); systems];
        for (index, round) in turns(systems, plan.rounds) {
            latencies[index].extend(sessions[index].sequential(plan.share(plan.sequential, round)).await?);
        }
        let mut seconds = vec![0.0; systems];
        for (index, round) in turns(systems, plan.rounds) {
            seconds[index] += sessions[index].concurrent(plan.share(plan.concurrent, round)).await?;
        }
        drop(sessions);
        for (index, rig) in rigs.iter().enumerate() {
            let (p50_ms, p99_ms) = percentiles(std::mem::take(&mut latencies[index]));
            results.push(Measurement {
                system: rig.system(),
                payload,
                p50_ms,
                p99_ms,
                throughput_rps: plan.concurrent as f64 / seconds[index],
                setup_ms: median_ms(std::mem::take(&mut setups[index])),
            });
        }
        for rig in &rigs {
            rig.stop().await;
        }
    }
    print_table(&results);
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "results": results });
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    // btlightning's tasks do not stop on their own.
    std::process::exit(0);
}

fn print_table(results: &[Measurement]) {
    println!("sr25519 verification: curve25519-dalek's {} backend", neuronet_synapse::curve_backend());
    println!(
        "{:<22} {:>8} {:>9} {:>9} {:>11} {:>9} {:>9}   {:>7} {:>7} {:>7} {:>7}",
        "system", "payload", "p50_ms", "p99_ms", "req/s", "MB/s", "setup_ms", "x_p50", "x_rps", "x_MB/s", "x_setup"
    );
    for m in results {
        let base = results.iter().find(|b| b.system == "btlightning" && b.payload == m.payload);
        let ratio = |a: f64, b: Option<f64>| b.map(|b| format!("{:.2}", a / b)).unwrap_or_else(|| "-".into());
        let mbps = m.throughput_rps * m.payload as f64 / 1e6;
        println!(
            "{:<22} {:>8} {:>9.3} {:>9.3} {:>11.0} {:>9.1} {:>9.2}   {:>7} {:>7} {:>7} {:>7}",
            m.system,
            m.payload,
            m.p50_ms,
            m.p99_ms,
            m.throughput_rps,
            mbps,
            m.setup_ms,
            ratio(m.p50_ms, base.map(|b| b.p50_ms)),
            ratio(m.throughput_rps, base.map(|b| b.throughput_rps)),
            ratio(mbps, base.map(|b| b.throughput_rps * b.payload as f64 / 1e6)),
            ratio(m.setup_ms, base.map(|b| b.setup_ms)),
        );
    }
    println!("ratios are neuronet / btlightning: x_rps and x_MB/s above 1 and x_p50, x_setup below 1 favour neuronet");
    print_targets(results);
}

/// The overlay's targets, checked against this run's ratios (those whose rows were measured).
fn print_targets(results: &[Measurement]) {
    let find = |system: &str, payload: usize| results.iter().find(|m| m.system == system && m.payload == payload);
    // (what, system, payload, ratio of, goal, at least)
    type Pick = fn(&Measurement) -> f64;
    let targets: [(&str, &str, usize, Pick, f64, bool); 7] = [
        ("PerRequest 1 KiB throughput", "neuronet-per-request", 1024, |m| m.throughput_rps, 1.0, true),
        ("PerRequest 1 KiB p50", "neuronet-per-request", 1024, |m| m.p50_ms, 1.0, false),
        ("Connection 1 KiB throughput", "neuronet-connection", 1024, |m| m.throughput_rps, 3.0, true),
        ("PerRequest 1 MiB bytes/s", "neuronet-per-request", 1_048_576, |m| m.throughput_rps, 1.3, true),
        ("Connection 1 MiB bytes/s", "neuronet-connection", 1_048_576, |m| m.throughput_rps, 1.3, true),
        ("PerRequest setup", "neuronet-per-request", 1024, |m| m.setup_ms, 1.2, false),
        ("Connection setup", "neuronet-connection", 1024, |m| m.setup_ms, 1.2, false),
    ];
    let mut header = false;
    for (what, system, payload, pick, goal, at_least) in targets {
        let (Some(ours), Some(theirs)) = (find(system, payload), find("btlightning", payload)) else { continue };
        if !header {
            println!("targets (this run):");
            header = true;
        }
        let ratio = pick(ours) / pick(theirs);
        let met = if at_least { ratio >= goal } else { ratio <= goal };
        let sign = if at_least { ">=" } else { "<=" };
        println!("  {what:<28} {ratio:>5.2}x  (goal {sign} {goal:.1}x)  {}", if met { "met" } else { "NOT met" });
    }
}
