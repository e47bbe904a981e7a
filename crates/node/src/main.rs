//! The `neuronet` binary: wallets and chain commands in btcli's flag style, the miner and
//! validator roles, `query`, the devchain and the one-command devnet.

use clap::{Parser, Subcommand};
use neuronet_node::{chain_cmd, devchain_cmd, devnet, query_cmd, roles_cmd, settings, wallet_cmd};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "neuronet", version, about = "neuronet: Bittensor networking over libp2p/QUIC")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// A TOML file of settings (flag names as keys); the command line and NEURONET_*
    /// environment variables win over it.
    #[arg(long, global = true, env = "NEURONET_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Log as JSON lines (RUST_LOG filters; default warn).
    #[arg(long = "logging.json", global = true, env = "NEURONET_LOGGING_JSON")]
    log_json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Hotkeys and coldkeys in btcli's wallet layout.
    Wallet {
        #[command(subcommand)]
        command: wallet_cmd::WalletCommand,
    },
    /// A subnet's neurons: uid, hotkey, stake, axon, permit, scores.
    Metagraph(chain_cmd::MetagraphArgs),
    /// Registers a hotkey on a subnet (burned registration, paid by the coldkey).
    Register(chain_cmd::RegisterArgs),
    /// Announces the hotkey's axon on a subnet.
    ServeAxon(chain_cmd::ServeAxonArgs),
    /// Sets the hotkey's weights on a subnet (a timelocked commit where commit-reveal is on).
    SetWeights(chain_cmd::SetWeightsArgs),
    /// One request to an axon, over QUIC or an HTTP wire, signed by a wallet hotkey.
    Query(query_cmd::QueryArgs),
    /// Stake from the coldkey to a hotkey, or back.
    Stake {
        #[command(subcommand)]
        command: chain_cmd::StakeCommand,
    },
    /// Serves model inference on a subnet: text generation (llama.cpp) and embeddings (candle),
    /// or an OpenAI-compatible server behind the axon.
    Miner(roles_cmd::MinerArgs),
    /// Queries the subnet's miners each round, scores them and sets weights.
    Validator(roles_cmd::ValidatorArgs),
    /// A whole subnet on this machine: devchain, subnet, wallets, three miners and a validator.
    Devnet(devnet::DevnetArgs),
    /// Runs a local subtensor (the devchain) with funded dev accounts, until Ctrl-C.
    Devchain(devchain_cmd::DevchainArgs),
    /// Funds an account from //Alice on a devchain (refused on any other chain).
    Faucet(devchain_cmd::FaucetArgs),
    /// Subnets: create one.
    Subnet {
        #[command(subcommand)]
        command: devchain_cmd::SubnetCommand,
    },
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Err(error) = settings::apply_config_file(&args) {
        eprintln!("error: {error:#}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    settings::init_logging(cli.log_json);
    let outcome = match cli.command {
        Command::Wallet { command } => wallet_cmd::run(command),
        Command::Metagraph(args) => chain_cmd::block_on(chain_cmd::metagraph(args)).map(|()| ExitCode::SUCCESS),
        Command::Register(args) => chain_cmd::block_on(chain_cmd::register(args)).map(|()| ExitCode::SUCCESS),
        Command::ServeAxon(args) => chain_cmd::block_on(chain_cmd::serve_axon(args)).map(|()| ExitCode::SUCCESS),
        Command::SetWeights(args) => chain_cmd::block_on(chain_cmd::set_weights(args)).map(|()| ExitCode::SUCCESS),
        Command::Query(args) => chain_cmd::block_on(query_cmd::query(args)),
        Command::Stake { command } => chain_cmd::block_on(chain_cmd::stake(command)).map(|()| ExitCode::SUCCESS),
        Command::Miner(args) => chain_cmd::block_on(roles_cmd::miner(args)).map(|()| ExitCode::SUCCESS),
        Command::Validator(args) => chain_cmd::block_on(roles_cmd::validator(args)).map(|()| ExitCode::SUCCESS),
        Command::Devnet(args) => chain_cmd::block_on(devnet::devnet(args)).map(|()| ExitCode::SUCCESS),
        Command::Devchain(args) => chain_cmd::block_on(devchain_cmd::devchain(args)).map(|()| ExitCode::SUCCESS),
        Command::Faucet(args) => chain_cmd::block_on(devchain_cmd::faucet(args)).map(|()| ExitCode::SUCCESS),
        Command::Subnet { command } => chain_cmd::block_on(devchain_cmd::subnet(command)).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command's flags are well formed (clap panics at run time otherwise, command by
    /// command).
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
