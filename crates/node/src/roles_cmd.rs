//! `neuronet miner` and `neuronet validator`: the two roles, run until interrupted.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args;

use crate::chain_cmd::{connect, NetworkArgs};
use crate::inference::{load_backend, BackendArgs};
use crate::miner::{self, MinerOptions};
use crate::validator::{self, ValidatorOptions};
use crate::wallet_cmd::{load_hotkey, open, HotkeyArgs};

#[derive(Args)]
pub struct MinerArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The subnet.
    #[arg(long, env = "NEURONET_NETUID")]
    netuid: u16,
    /// The port (UDP for QUIC, TCP for the HTTP wires).
    #[arg(long = "axon.port", default_value_t = 8091, env = "NEURONET_AXON_PORT")]
    port: u16,
    /// The address to bind.
    #[arg(long = "axon.ip", default_value = "0.0.0.0", env = "NEURONET_AXON_IP")]
    bind: IpAddr,
    /// The public address announced on chain (the bound one by default).
    #[arg(long = "axon.external_ip", env = "NEURONET_AXON_EXTERNAL_IP")]
    external_ip: Option<IpAddr>,
    /// Serve the HTTP wires (bittensor 10, btauth/1, Epistula) beside QUIC.
    #[arg(long = "axon.http", default_value_t = true, action = clap::ArgAction::Set, env = "NEURONET_AXON_HTTP")]
    http: bool,
    /// Answer registered callers without a validator permit too.
    #[arg(long)]
    allow_non_validators: bool,
    /// Seconds a SIGINT or SIGTERM leaves the requests already taken to finish.
    #[arg(long = "shutdown.grace", default_value_t = 10.0, env = "NEURONET_SHUTDOWN_GRACE")]
    shutdown_grace: f64,
    /// Serve Prometheus metrics on this port (`/metrics`, on 127.0.0.1; see --metrics.ip).
    #[arg(long = "metrics.port", env = "NEURONET_METRICS_PORT")]
    metrics_port: Option<u16>,
    /// The address metrics listen on.
    #[arg(long = "metrics.ip", default_value = "127.0.0.1", env = "NEURONET_METRICS_IP")]
    metrics_ip: IpAddr,
    #[command(flatten)]
    backend: BackendArgs,
}

#[derive(Args)]
pub struct ValidatorArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The subnet.
    #[arg(long, env = "NEURONET_NETUID")]
    netuid: u16,
    /// Seconds between rounds.
    #[arg(long = "round-interval", default_value_t = 5.0)]
    round_interval: f64,
    /// Set weights every this many blocks.
    #[arg(long = "weights-every", default_value_t = 100)]
    weights_every_blocks: u64,
    /// Print JSON lines instead of the table.
    #[arg(long)]
    json: bool,
    /// Serve Prometheus metrics on this port (`/metrics`, on 127.0.0.1; see --metrics.ip).
    #[arg(long = "metrics.port", env = "NEURONET_METRICS_PORT")]
    metrics_port: Option<u16>,
    /// The address metrics listen on.
    #[arg(long = "metrics.ip", default_value = "127.0.0.1", env = "NEURONET_METRICS_IP")]
    metrics_ip: IpAddr,
    #[command(flatten)]
    backend: BackendArgs,
}

pub async fn miner(args: MinerArgs) -> Result<()> {
    let wallet = open(&args.key.wallet);
    let hotkey = load_hotkey(&wallet, &args.key.hotkey)?;
    let identity = wallet.dir().join("neuronet").join(format!("{}.identity", args.key.hotkey));
    let backend = load_backend(&args.backend).await?;
    let chain = connect(&args.network).await?;
    let options = MinerOptions {
        netuid: args.netuid,
        bind: args.bind,
        port: args.port,
        external_ip: args.external_ip,
        http: args.http,
        require_permit: !args.allow_non_validators,
        identity: Some(identity),
        metrics: args.metrics_port.map(|port| std::net::SocketAddr::new(args.metrics_ip, port)),
    };
    let grace = std::time::Duration::try_from_secs_f64(args.shutdown_grace)
        .map_err(|_| anyhow::anyhow!("--shutdown.grace must be a number of seconds >= 0"))?;
    let running = miner::start(&chain, hotkey, &backend, &options).await?;
    // Listening for the signals before saying so: a SIGTERM right after the line still drains.
    let stop = shutdown_signal();
    println!("miner serving on port {} (subnet {}); Ctrl-C stops", running.port, args.netuid);
    stop.await;
    // New requests get 503 from now on; those already taken finish, for up to
    // --shutdown.grace, then the axon closes.
    println!("stopping: {} request(s) in flight, refusing new ones", running.axon.in_flight());
    // A second signal stops at once.
    tokio::select! {
        unfinished = running.shutdown(grace) => match unfinished {
            0 => println!("stopped"),
            cut => println!("stopped: {cut} request(s) still running after {grace:?} were cut off"),
        },
        _ = shutdown_signal() => println!("stopped at once: a second signal"),
    }
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called, so a signal that
/// comes before the future is awaited still counts.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let handlers = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async move {
            match handlers {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

pub async fn validator(args: ValidatorArgs) -> Result<()> {
    let wallet = open(&args.key.wallet);
    let hotkey = load_hotkey(&wallet, &args.key.hotkey)?;
    let backend = load_backend(&args.backend).await?;
    let chain = connect(&args.network).await?;
    let options = ValidatorOptions {
        round_interval: std::time::Duration::from_secs_f64(args.round_interval.max(0.1)),
        weights_every_blocks: args.weights_every_blocks,
        metrics: args.metrics_port.map(|port| std::net::SocketAddr::new(args.metrics_ip, port)),
        ..ValidatorOptions::new(args.netuid)
    };
    let json = args.json;
    let running = validator::run(chain, hotkey, backend, options, move |round| {
        if json {
            println!("{}", validator::json_line(round));
        } else {
            print!("{}", validator::table(round));
        }
    });
    tokio::select! {
        outcome = running => outcome,
        _ = shutdown_signal() => Ok(()),
    }
}
