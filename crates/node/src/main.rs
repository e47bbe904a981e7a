//! The `neuronet` binary. Today: wallet commands in btcli's flag style. Miner, validator and
//! devnet roles join as the transport and chain crates grow.

mod wallet_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "neuronet", version, about = "neuronet: Bittensor networking over libp2p/QUIC")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hotkeys and coldkeys in btcli's wallet layout.
    Wallet {
        #[command(subcommand)]
        command: wallet_cmd::WalletCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Wallet { command } => wallet_cmd::run(command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
