//! `neuronet devchain`, `neuronet faucet` and `neuronet subnet create`: a local chain and what a
//! developer does first on it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use neuronet_chain::{calls, AccountId};

use crate::chain_cmd::{connect, report, tao, NetworkArgs, OutputArgs};
use crate::wallet_cmd::{load_coldkey, load_hotkey, open, HotkeyArgs, WalletArgs};

/// The name a devchain reports for `system_chain`; the faucet serves no other chain.
const DEVCHAIN_NAME: &str = "neuronet devchain";

#[derive(Args)]
pub struct DevchainArgs {
    /// The port for JSON-RPC over WebSocket (0 takes a free one).
    #[arg(long, default_value_t = 9944)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The time between blocks, in milliseconds.
    #[arg(long = "block-time-ms", default_value_t = 250)]
    block_time_ms: u64,
    /// Keep the chain's state in this file: written every 20 blocks and on exit, resumed from
    /// on the next start (same genesis, block numbers continue).
    #[arg(long)]
    state: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct FaucetArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// The account to fund (the wallet's coldkey when not given).
    #[arg(long)]
    ss58: Option<String>,
    /// How much, in TAO.
    #[arg(long, default_value_t = 1_000.0)]
    amount: f64,
}

#[derive(Subcommand)]
pub enum SubnetCommand {
    /// Creates a subnet owned by the wallet's coldkey, with its hotkey as the owner's neuron.
    Create(SubnetCreateArgs),
}

#[derive(Args)]
pub struct SubnetCreateArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key: HotkeyArgs,
}

/// Runs a devchain until interrupted.
pub async fn devchain(args: DevchainArgs) -> Result<()> {
    let config = neuronet_devchain::Config {
        listen: SocketAddr::new(args.host, args.port),
        block_time: Duration::from_millis(args.block_time_ms.max(1)),
        ..neuronet_devchain::Config::default()
    };
    let state = args.state.map(neuronet_devchain::StateFile::new);
    let chain = neuronet_devchain::Devchain::start_with_state(config, state).await.context("starting the devchain")?;
    println!("devchain ready: {} (block time {} ms)", chain.url(), args.block_time_ms);
    println!("funded dev accounts: //Alice //Bob //Charlie //Dave //Eve //Ferdie (//Alice is sudo)");
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    chain.stop().await;
    Ok(())
}

/// Sends TAO from //Alice to an account, on a devchain only.
pub async fn faucet(args: FaucetArgs) -> Result<()> {
    let chain = connect(&args.network).await?;
    let name = chain.chain_name().await?;
    if name != DEVCHAIN_NAME {
        bail!("the faucet serves a neuronet devchain only; this node is {name:?}");
    }
    let dest = match &args.ss58 {
        Some(address) => AccountId::from_ss58(address)?,
        None => {
            let wallet = open(&args.wallet);
            let coldkey = wallet.coldkeypub()?.context("the wallet has no coldkey; pass --ss58")?;
            AccountId::from(coldkey)
        }
    };
    if !(args.amount.is_finite() && args.amount > 0.0) {
        bail!("--amount must be a positive number of TAO");
    }
    let rao = (args.amount * 1e9).round() as u64;
    let alice = neuronet_devchain::dev_keypair("//Alice");
    let included = chain.submit(&alice, &calls::transfer_keep_alive(&dest, rao)).await?;
    eprintln!("sent {} TAO to {dest}", tao(rao));
    report(&args.output, "funded", included);
    Ok(())
}

/// Creates a subnet and prints its netuid.
pub async fn subnet(command: SubnetCommand) -> Result<()> {
    let SubnetCommand::Create(args) = command;
    let wallet = open(&args.key.wallet);
    let hotkey = AccountId::from(load_hotkey(&wallet, &args.key.hotkey)?.hotkey());
    let coldkey = load_coldkey(&wallet)?;
    let chain = connect(&args.network).await?;
    // The chain gives the first free netuid; read it back from the owner's hotkey.
    let mut candidate = 1u16;
    while chain.subnet_owner_hotkey(candidate).await?.is_some() {
        candidate += 1;
    }
    let included = chain.submit(&coldkey, &calls::register_network(&hotkey)).await?;
    let mut netuid = candidate;
    while chain.subnet_owner_hotkey(netuid).await? != Some(hotkey) {
        netuid = netuid.checked_add(1).context("the new subnet was not found")?;
        if netuid > candidate + 64 {
            bail!("the subnet was created but its netuid could not be read back");
        }
    }
    if args.output.json {
        println!(
            "{}",
            serde_json::json!({ "netuid": netuid, "block_hash": format!("0x{}", hex::encode(included.block_hash)) })
        );
    } else {
        println!("created subnet {netuid} (owner hotkey {hotkey})");
    }
    Ok(())
}
