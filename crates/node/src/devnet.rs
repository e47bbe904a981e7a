//! `neuronet devnet`: a whole subnet on one machine. It starts the devchain, creates a subnet,
//! writes and funds dev wallets, registers a validator and three miners serving SmolLM2 and
//! MiniLM, and runs the validator, whose rounds print each miner's score, latency and a sample
//! completion, and whose weights land on chain.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use neuronet::chain::{calls, AccountId, Chain};
use neuronet::{CryptoType, Keypair};
use neuronet_devchain::dev_keypair;

use crate::inference::{load_backend, BackendArgs};
use crate::miner::{self, MinerOptions};
use crate::validator::{self, ValidatorOptions};

#[derive(Args)]
pub struct DevnetArgs {
    /// The devchain's port.
    #[arg(long, default_value_t = 9944)]
    port: u16,
    /// The devchain's block time, in milliseconds.
    #[arg(long = "block-time-ms", default_value_t = 250)]
    block_time_ms: u64,
    /// How many miners the devnet runs.
    #[arg(long, default_value_t = 3)]
    miners: usize,
    /// Also register this many miner hotkeys and write their wallets without starting them, for
    /// miners run separately (`neuronet miner --wallet.path <dir>/wallets --wallet.name minerN`,
    /// or one of your own).
    #[arg(long = "external-miners", default_value_t = 0)]
    external_miners: usize,
    /// Seconds between validator rounds.
    #[arg(long = "round-interval", default_value_t = 5.0)]
    round_interval: f64,
    /// Print each round as a JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// Where the dev wallets are written (default: ~/.neuronet/devnet).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Stop after this many validator rounds (default: run until Ctrl-C).
    #[arg(long)]
    rounds: Option<u64>,
    /// Serve the validator's Prometheus metrics on this address (`/metrics`).
    #[arg(long = "metrics.addr")]
    metrics: Option<SocketAddr>,
    #[command(flatten)]
    backend: BackendArgs,
}

const TAO: u64 = 1_000_000_000;

pub async fn devnet(args: DevnetArgs) -> Result<()> {
    println!("loading models (fetched on the first run, then cached) ...");
    let backend = load_backend(&args.backend).await?;

    let config = neuronet_devchain::Config {
        listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port),
        block_time: Duration::from_millis(args.block_time_ms.max(1)),
        ..neuronet_devchain::Config::default()
    };
    let devchain = neuronet_devchain::Devchain::start(config).await.context("starting the devchain")?;
    let url = devchain.url();
    let chain = Chain::connect(&url).await?;
    println!("devchain at {url}");

    // //Alice owns the subnet and validates; //Bob's coldkey pays for the miners.
    let owner = dev_keypair("//Alice");
    let owner_id = AccountId::from(owner.hotkey());
    chain.submit(&owner, &calls::register_network(&owner_id)).await.context("creating the subnet")?;
    // A fresh devchain has only the root network: the new subnet is 1.
    let netuid = 1;
    anyhow::ensure!(chain.subnet_owner_hotkey(netuid).await? == Some(owner_id), "subnet {netuid} was not created");
    // The owner's settings: weights straight to the chain, axons may move at once; root's
    // (through //Alice's sudo key): weights every 10 blocks.
    admin(
        &chain,
        &owner,
        "sudo_set_commit_reveal_weights_enabled",
        netuid,
        "enabled",
        subxt::dynamic::Value::bool(false),
        false,
    )
    .await?;
    admin(
        &chain,
        &owner,
        "sudo_set_serving_rate_limit",
        netuid,
        "serving_rate_limit",
        subxt::dynamic::Value::u128(0),
        false,
    )
    .await?;
    admin(
        &chain,
        &owner,
        "sudo_set_weights_set_rate_limit",
        netuid,
        "weights_set_rate_limit",
        subxt::dynamic::Value::u128(10),
        true,
    )
    .await?;
    chain.submit(&owner, &calls::add_stake(&owner_id, netuid, 1_000 * TAO)).await.context("staking")?;
    println!("subnet {netuid} created; validator {owner_id} staked 1000 TAO");

    let dir = args.dir.clone().unwrap_or_else(|| home().join(".neuronet/devnet"));
    let wallets = dir.join("wallets");
    write_wallet(&wallets, "validator", "//Alice", "//Alice")?;
    let payer = dev_keypair("//Bob");
    let mut running = Vec::new();
    for index in 1..=args.miners {
        let uri = format!("//devnet/miner/{index}");
        let hotkey = Keypair::from_suri(&uri, CryptoType::Sr25519)?;
        chain.submit(&payer, &calls::burned_register(netuid, &AccountId::from(hotkey.hotkey()))).await?;
        write_wallet(&wallets, &format!("miner{index}"), "//Bob", &uri)?;
        let options = MinerOptions {
            netuid,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            external_ip: None,
            http: true,
            require_permit: true,
            identity: None,
            metrics: None,
        };
        let miner = miner::start(&chain, hotkey, &backend, &options).await?;
        println!("miner {index} serving on 127.0.0.1:{} ({})", miner.port, uri);
        running.push(miner);
    }
    for index in args.miners + 1..=args.miners + args.external_miners {
        let uri = format!("//devnet/miner/{index}");
        let hotkey = Keypair::from_suri(&uri, CryptoType::Sr25519)?;
        chain.submit(&payer, &calls::burned_register(netuid, &AccountId::from(hotkey.hotkey()))).await?;
        write_wallet(&wallets, &format!("miner{index}"), "//Bob", &uri)?;
        println!("miner {index} registered, not started: wallet miner{index} ({uri})");
    }
    println!("wallets written under {} (validator, miner1..{})", wallets.display(), args.miners + args.external_miners);

    // The validator's permit comes at the subnet's next epoch.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let metagraph = chain.metagraph(netuid).await?;
        if metagraph.by_hotkey(&owner_id).is_some_and(|n| n.validator_permit) {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the validator never got a permit");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("devnet ready: {url} netuid {netuid}");

    let options = ValidatorOptions {
        weights_every_blocks: 10,
        metrics: args.metrics,
        round_interval: Duration::from_secs_f64(args.round_interval.max(0.1)),
        ..ValidatorOptions::new(netuid)
    };
    let (rounds, json) = (args.rounds, args.json);
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let validating = validator::run(chain.clone(), dev_keypair("//Alice"), backend, options, move |round| {
        if json {
            println!("{}", validator::json_line(round));
        } else {
            print!("{}", validator::table(round));
        }
        if rounds.is_some_and(|limit| round.number >= limit) {
            let _ = stop.send(true);
        }
    });
    tokio::select! {
        outcome = validating => outcome?,
        _ = stopped.wait_for(|stop| *stop) => {}
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    drop(running);
    devchain.stop().await;
    Ok(())
}

/// Dispatches `AdminUtils::call(netuid, field = value)`: as the subnet owner, or as root through
/// the sudo key when `root`.
async fn admin(
    chain: &Chain,
    owner: &Keypair,
    call: &str,
    netuid: u16,
    field: &str,
    value: subxt::dynamic::Value,
    root: bool,
) -> Result<()> {
    use subxt::dynamic::Value;
    let args = vec![("netuid", Value::u128(netuid.into())), (field, value)];
    let payload = if root {
        let inner = Value::unnamed_variant("AdminUtils", [Value::named_variant(call, args)]);
        subxt::dynamic::tx("Sudo", "sudo", vec![inner])
    } else {
        subxt::dynamic::tx("AdminUtils", call, args.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
    };
    chain.submit(owner, &payload).await.with_context(|| format!("AdminUtils::{call}"))?;
    Ok(())
}

/// Writes a btcli-layout wallet (unencrypted: dev keys are public) with `coldkey` and a
/// `default` hotkey from their secret URIs.
fn write_wallet(root: &std::path::Path, name: &str, coldkey: &str, hotkey: &str) -> Result<()> {
    let wallet = neuronet::synapse::wallet::Wallet::new(root, name);
    wallet.write_coldkey(&Keypair::from_suri(coldkey, CryptoType::Sr25519)?, None, true)?;
    wallet.write_hotkey("default", &Keypair::from_suri(hotkey, CryptoType::Sr25519)?, true)?;
    Ok(())
}

fn home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}
