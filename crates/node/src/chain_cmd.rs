//! The chain commands: `metagraph`, `register`, `serve-axon`, `set-weights`, and the wallet's
//! `balance` and `transfer`, with btcli's flags (`--subtensor.network` takes a preset or a URL).

use crate::wallet_cmd::{load_coldkey, load_hotkey, open, HotkeyArgs, WalletArgs};
use anyhow::{bail, Context, Result};
use clap::Args;
use neuronet_chain::calls::{self, Serving};
use neuronet_chain::{normalise, normalised, AccountId, Chain, Metagraph, NeuronCertificate, WeightsSubmitted};
use std::io::IsTerminal;
use std::net::IpAddr;
use std::time::Duration;

/// Rao in one TAO.
const RAO_PER_TAO: u64 = 1_000_000_000;

#[derive(Args)]
pub struct NetworkArgs {
    /// The chain: `finney`, `test`, `local` or a ws:// / wss:// URL.
    #[arg(long = "subtensor.network", env = "NEURONET_SUBTENSOR_NETWORK", default_value = "finney")]
    network: String,
}

#[derive(Args)]
pub struct OutputArgs {
    /// Print the outcome as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub struct MetagraphArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The subnet to register the hotkey on (the coldkey pays the burn).
    #[arg(long)]
    netuid: u16,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct ServeAxonArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// The public address the axon serves on.
    #[arg(long = "axon.ip")]
    ip: IpAddr,
    /// The port (UDP for QUIC, TCP for HTTP).
    #[arg(long = "axon.port")]
    port: u16,
    /// The axon's libp2p identity, whose key is published as the neuron certificate that tells
    /// dendrites to dial QUIC with its PeerId pinned (created when missing; default
    /// `<wallet>/neuronet/<hotkey>.identity`, which `neuronet miner` uses too).
    #[arg(long = "neuronet.identity")]
    identity: Option<std::path::PathBuf>,
    /// Announce the address only (`serve_axon`, no certificate): an HTTP-only axon.
    #[arg(long)]
    no_certificate: bool,
}

#[derive(Args)]
pub struct SetWeightsArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// Destination uids.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    uids: Vec<u16>,
    /// Their weights (any non-negative scale; normalised so the largest is 65535).
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    weights: Vec<f64>,
}

#[derive(Args)]
pub struct BalanceArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// Another account's SS58 address instead of the wallet's coldkey.
    #[arg(long)]
    ss58: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct TransferArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    wallet: WalletArgs,
    /// The receiving account's SS58 address.
    #[arg(long)]
    dest: String,
    /// The amount in TAO (up to 9 decimals).
    #[arg(long)]
    amount: String,
    /// Allow the transfer to empty the account (transfer_allow_death).
    #[arg(long)]
    allow_death: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct StakeArgs {
    #[command(flatten)]
    network: NetworkArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    key: HotkeyArgs,
    /// The hotkey to stake to, as SS58 (default: the wallet's hotkey).
    #[arg(long = "hotkey", id = "stake_hotkey")]
    stake_hotkey: Option<String>,
    /// The subnet.
    #[arg(long)]
    netuid: u16,
    /// The amount in TAO (up to 9 decimals; for remove, in the subnet's alpha).
    #[arg(long)]
    amount: String,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

/// `neuronet stake ...`: stake from the coldkey to a hotkey, or take it back.
#[derive(clap::Subcommand)]
pub enum StakeCommand {
    /// Stakes TAO from the coldkey to a hotkey on a subnet.
    Add(StakeArgs),
    /// Unstakes from a hotkey on a subnet back to the coldkey.
    Remove(StakeArgs),
}

pub async fn stake(command: StakeCommand) -> Result<()> {
    let (adding, args) = match command {
        StakeCommand::Add(args) => (true, args),
        StakeCommand::Remove(args) => (false, args),
    };
    let rao = parse_tao(&args.amount)?;
    let wallet = open(&args.key.wallet);
    let hotkey = match &args.stake_hotkey {
        Some(ss58) => AccountId::from_ss58(ss58)?,
        None => AccountId::from(load_hotkey(&wallet, &args.key.hotkey)?.hotkey()),
    };
    let network = neuronet_chain::redacted(&neuronet_chain::network_url(&args.network.network)?);
    let what = if adding { "stake" } else { "unstake" };
    confirm(args.yes, &format!("{what} {} on subnet {} of {network}, hotkey {hotkey}", tao(rao), args.netuid))?;
    let coldkey = load_coldkey(&wallet)?;
    let chain = connect(&args.network).await?;
    if adding {
        report(&args.output, "staked", chain.submit(&coldkey, &calls::add_stake(&hotkey, args.netuid, rao)).await?);
    } else {
        report(
            &args.output,
            "unstaked",
            chain.submit(&coldkey, &calls::remove_stake(&hotkey, args.netuid, rao)).await?,
        );
    }
    Ok(())
}

/// Asks `question` on the terminal unless `yes`; an error when not confirmed (or when there is no
/// terminal to ask on).
fn confirm(yes: bool, question: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{question}: this needs confirmation; pass --yes");
    }
    eprint!("{question}? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        bail!("not confirmed");
    }
    Ok(())
}

/// Where a wallet hotkey's neuronet identity is kept by default.
pub fn identity_path(wallet: &neuronet_synapse::wallet::Wallet, hotkey: &str) -> std::path::PathBuf {
    wallet.dir().join("neuronet").join(format!("{hotkey}.identity"))
}

/// Runs `work` on a runtime of its own (the wallet commands need none).
pub fn block_on<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(work)
}

/// Connects, telling a terminal what it waits for.
pub(crate) async fn connect(args: &NetworkArgs) -> Result<Chain> {
    let url = neuronet_chain::network_url(&args.network)?;
    let shown = neuronet_chain::redacted(&url);
    if std::io::stderr().is_terminal() {
        eprintln!("connecting to {shown} ...");
    }
    Chain::connect_within(&url, Duration::from_secs(30)).await.with_context(|| format!("connecting to {shown}"))
}

/// Rao as TAO with every digit kept.
pub fn tao(rao: u64) -> String {
    format!("{}.{:09}", rao / RAO_PER_TAO, rao % RAO_PER_TAO)
}

/// TAO given as text (up to 9 decimals) in rao, exactly.
pub fn parse_tao(text: &str) -> Result<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 9 || (whole.is_empty() && fraction.is_empty()) {
        bail!("{text:?} is not an amount of TAO with at most 9 decimals");
    }
    let digits = |s: &str| -> Result<u64> {
        if s.is_empty() {
            return Ok(0);
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{text:?} is not an amount of TAO");
        }
        s.parse::<u64>().with_context(|| format!("{text:?} is too large"))
    };
    let fraction_rao = digits(fraction)? * 10u64.pow(9 - fraction.len() as u32);
    digits(whole)?
        .checked_mul(RAO_PER_TAO)
        .and_then(|rao| rao.checked_add(fraction_rao))
        .with_context(|| format!("{text:?} is too large"))
}

pub async fn metagraph(args: MetagraphArgs) -> Result<()> {
    let chain = connect(&args.network).await?;
    let metagraph = chain.metagraph(args.netuid).await?;
    if args.json {
        println!("{}", metagraph.to_json());
    } else {
        print_table(&metagraph);
    }
    Ok(())
}

fn print_table(metagraph: &Metagraph) {
    println!("subnet {} at block {}: {} neurons", metagraph.netuid, metagraph.block, metagraph.neurons.len());
    println!(
        "{:>5}  {:<48}  {:>20}  {:<22}  {:>6}  {:>8}  {:>8}  {:<8}",
        "uid", "hotkey", "stake (TAO)", "axon", "permit", "incent.", "divid.", "neuronet"
    );
    for n in &metagraph.neurons {
        let axon = n.axon.socket_addr().map_or_else(|| "-".to_owned(), |addr| addr.to_string());
        println!(
            "{:>5}  {:<48}  {:>20}  {:<22}  {:>6}  {:>8.5}  {:>8.5}  {:<8}",
            n.uid,
            n.hotkey.to_ss58(),
            tao(n.total_stake),
            axon,
            if n.validator_permit { "yes" } else { "no" },
            normalised(n.incentive),
            normalised(n.dividends),
            if n.certificate.is_some() { "yes" } else { "no" },
        );
    }
}

pub(crate) fn report(output: &OutputArgs, what: &str, included: neuronet_chain::Included) {
    if output.json {
        let value = serde_json::json!({
            "outcome": what,
            "block_hash": format!("0x{}", hex::encode(included.block_hash)),
            "extrinsic_hash": format!("0x{}", hex::encode(included.extrinsic_hash)),
        });
        println!("{value}");
    } else {
        println!("{what}: included in block 0x{}", hex::encode(included.block_hash));
    }
}

pub async fn register(args: RegisterArgs) -> Result<()> {
    let wallet = open(&args.key.wallet);
    let hotkey = load_hotkey(&wallet, &args.key.hotkey)?;
    let chain = connect(&args.network).await?;
    let burn = chain.burn(args.netuid).await?;
    let hotkey_id = AccountId::from(hotkey.hotkey());
    let network = neuronet_chain::redacted(chain.url());
    confirm(
        args.yes,
        &format!("register {hotkey_id} on subnet {} of {network}, burning {} TAO", args.netuid, tao(burn)),
    )?;
    let coldkey = load_coldkey(&wallet)?;
    let call = calls::burned_register(args.netuid, &hotkey_id);
    report(&args.output, "registered", chain.submit(&coldkey, &call).await?);
    Ok(())
}

pub async fn serve_axon(args: ServeAxonArgs) -> Result<()> {
    let wallet = open(&args.key.wallet);
    let hotkey = load_hotkey(&wallet, &args.key.hotkey)?;
    let serving = Serving::new(args.netuid, args.ip, args.port);
    let call = if args.no_certificate {
        calls::serve_axon(serving)
    } else {
        let path = args.identity.clone().unwrap_or_else(|| identity_path(&wallet, &args.key.hotkey));
        let identity = neuronet_transport::load_or_create_identity(&path)?;
        let peer_id = identity.public().to_peer_id();
        let public_key = neuronet_transport::certificate_key(&peer_id)
            .context("the identity's key does not fit in a neuron certificate")?;
        eprintln!("publishing identity {peer_id} ({})", path.display());
        let certificate =
            NeuronCertificate { public_key, algorithm: neuronet_transport::NEURONET_CERTIFICATE_ALGORITHM };
        calls::serve_axon_tls(serving, &certificate)
    };
    let chain = connect(&args.network).await?;
    report(&args.output, "axon announced", chain.submit(&hotkey, &call).await?);
    Ok(())
}

pub async fn set_weights(args: SetWeightsArgs) -> Result<()> {
    let wallet = open(&args.key.wallet);
    let hotkey = load_hotkey(&wallet, &args.key.hotkey)?;
    let weights = normalise(&args.uids, &args.weights)?;
    let chain = connect(&args.network).await?;
    match chain.set_weights(&hotkey, args.netuid, &weights).await? {
        WeightsSubmitted::Set(included) => report(&args.output, "weights set", included),
        WeightsSubmitted::Committed { included, reveal_round } => {
            report(&args.output, "weights committed (timelocked; the chain reveals them itself)", included);
            if !args.output.json {
                println!("they open at drand quicknet round {reveal_round}");
            }
        }
    }
    Ok(())
}

pub async fn balance(args: BalanceArgs) -> Result<()> {
    let account = match &args.ss58 {
        Some(ss58) => AccountId::from_ss58(ss58)?,
        None => {
            let wallet = open(&args.wallet);
            AccountId::from(wallet.coldkeypub()?.context("the wallet has no coldkeypub.txt")?)
        }
    };
    let chain = connect(&args.network).await?;
    let free = chain.free_balance(&account).await?;
    if args.json {
        println!("{}", serde_json::json!({ "account": account, "free_rao": free, "free_tao": tao(free) }));
    } else {
        println!("{account}: {} TAO free ({free} rao)", tao(free));
    }
    Ok(())
}

pub async fn transfer(args: TransferArgs) -> Result<()> {
    let dest = AccountId::from_ss58(&args.dest)?;
    let rao = parse_tao(&args.amount)?;
    let network = neuronet_chain::redacted(&neuronet_chain::network_url(&args.network.network)?);
    let death = if args.allow_death { ", allowing the account to be emptied" } else { "" };
    confirm(args.yes, &format!("transfer {} TAO ({rao} rao) to {dest} on {network}{death}", tao(rao)))?;
    let coldkey = load_coldkey(&open(&args.wallet))?;
    let chain = connect(&args.network).await?;
    let call =
        if args.allow_death { calls::transfer_allow_death(&dest, rao) } else { calls::transfer_keep_alive(&dest, rao) };
    report(&args.output, "transferred", chain.submit(&coldkey, &call).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_tao_are_exact_in_rao() {
        assert_eq!(parse_tao("1").unwrap(), RAO_PER_TAO);
        assert_eq!(parse_tao("0.000000001").unwrap(), 1);
        assert_eq!(parse_tao("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_tao(".5").unwrap(), 500_000_000);
        assert!(parse_tao("0.0000000001").is_err());
        assert!(parse_tao("-1").is_err());
        assert!(parse_tao("1e3").is_err());
        assert!(parse_tao("").is_err());
        assert!(parse_tao("99999999999999999999").is_err());
        assert_eq!(tao(12_500_000_001), "12.500000001");
    }
}
