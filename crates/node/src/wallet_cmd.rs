//! `neuronet wallet ...`: create, show, sign with and verify against btcli wallet keys.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use neuronet_synapse::wallet::{self, Wallet};
use neuronet_synapse::{CryptoType, Hotkey, Keypair, Signature};
use std::path::PathBuf;
use std::process::ExitCode;

/// The environment variable a wallet password is read from before prompting.
pub const PASSWORD_ENV: &str = "NEURONET_WALLET_PASSWORD";

#[derive(Args, Clone)]
pub struct WalletArgs {
    /// Wallet name (directory under the wallet path).
    #[arg(long = "wallet.name", default_value = "default")]
    name: String,
    /// Wallet root directory.
    #[arg(long = "wallet.path", default_value = "~/.bittensor/wallets")]
    path: PathBuf,
}

#[derive(Args, Clone)]
pub struct HotkeyArgs {
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// Hotkey name (file under `hotkeys/`).
    #[arg(long = "wallet.hotkey", default_value = "default")]
    pub hotkey: String,
}

#[derive(Subcommand)]
pub enum WalletCommand {
    /// The coldkey's free balance on chain.
    Balance(crate::chain_cmd::BalanceArgs),
    /// Sends TAO from the coldkey (asks for confirmation unless --yes).
    Transfer(crate::chain_cmd::TransferArgs),
    /// Create a hotkey and print its SS58 address.
    NewHotkey {
        #[command(flatten)]
        key: HotkeyArgs,
        /// Signature scheme.
        #[arg(long, default_value = "sr25519")]
        crypto: CryptoType,
        /// Words in the new mnemonic.
        #[arg(long = "n-words", default_value_t = 12)]
        n_words: usize,
        /// Derive from this secret URI (`//Alice`, a phrase, `0x` seed) instead of a new mnemonic.
        #[arg(long)]
        uri: Option<String>,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Create a coldkey, encrypted with a password (prompted, or from NEURONET_WALLET_PASSWORD).
    NewColdkey {
        #[command(flatten)]
        wallet: WalletArgs,
        /// Signature scheme.
        #[arg(long, default_value = "sr25519")]
        crypto: CryptoType,
        /// Words in the new mnemonic.
        #[arg(long = "n-words", default_value_t = 12)]
        n_words: usize,
        /// Store the coldkey unencrypted.
        #[arg(long)]
        no_password: bool,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Print a hotkey's SS58 address.
    Show {
        #[command(flatten)]
        key: HotkeyArgs,
        /// Print `{"hotkey", "crypto", "coldkeypub"}` as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a UTF-8 message and print `0x` + hex of the signature.
    Sign {
        #[command(flatten)]
        key: HotkeyArgs,
        /// The message.
        #[arg(long)]
        message: String,
        /// Sign with the wallet's coldkey instead of the hotkey.
        #[arg(long)]
        coldkey: bool,
    },
    /// Verify a signature: exit 0 when valid, 1 when not, with a one-line reason.
    Verify {
        /// The signer's SS58 address.
        #[arg(long)]
        ss58: String,
        /// The message that was signed (UTF-8).
        #[arg(long)]
        message: String,
        /// `0x` + hex of the 64-byte signature.
        #[arg(long)]
        signature: String,
        /// The signer's scheme.
        #[arg(long, default_value = "sr25519")]
        crypto: CryptoType,
    },
}

pub fn run(command: WalletCommand) -> Result<ExitCode> {
    match command {
        WalletCommand::Balance(args) => crate::chain_cmd::block_on(crate::chain_cmd::balance(args))?,
        WalletCommand::Transfer(args) => crate::chain_cmd::block_on(crate::chain_cmd::transfer(args))?,
        WalletCommand::NewHotkey { key, crypto, n_words, uri, overwrite } => {
            let pair = match uri {
                Some(uri) => Keypair::from_suri(&uri, crypto).context("reading --uri")?,
                None => Keypair::generate(n_words, crypto)?,
            };
            let wallet = open(&key.wallet);
            let path = wallet.write_hotkey(&key.hotkey, &pair, overwrite)?;
            eprintln!("wrote {}", path.display());
            println!("{}", pair.hotkey().to_ss58());
        }
        WalletCommand::NewColdkey { wallet: args, crypto, n_words, no_password, overwrite } => {
            let pair = Keypair::generate(n_words, crypto)?;
            let wallet = open(&args);
            let password = if no_password { None } else { Some(new_password()?) };
            let path = wallet.write_coldkey(&pair, password.as_deref(), overwrite)?;
            eprintln!("wrote {}", path.display());
            println!("{}", pair.hotkey().to_ss58());
        }
        WalletCommand::Show { key, json } => {
            let wallet = open(&key.wallet);
            let hotkey = load_hotkey(&wallet, &key.hotkey)?.hotkey();
            if json {
                let coldkeypub = wallet.coldkeypub()?.map(|c| c.to_ss58());
                let value = serde_json::json!({
                    "hotkey": hotkey.to_ss58(),
                    "crypto": hotkey.crypto().name(),
                    "coldkeypub": coldkeypub,
                });
                println!("{value}");
            } else {
                println!("{}", hotkey.to_ss58());
            }
        }
        WalletCommand::Sign { key, message, coldkey } => {
            let wallet = open(&key.wallet);
            let pair = if coldkey { load_coldkey(&wallet)? } else { load_hotkey(&wallet, &key.hotkey)? };
            println!("{}", pair.sign(message.as_bytes()).to_hex());
        }
        WalletCommand::Verify { ss58, message, signature, crypto } => {
            let verdict = Hotkey::from_ss58(&ss58, crypto)
                .and_then(|hotkey| Ok((hotkey, Signature::from_hex(&signature)?)))
                .and_then(|(hotkey, signature)| hotkey.verify(message.as_bytes(), &signature));
            return Ok(match verdict {
                Ok(()) => {
                    println!("valid: signed by {ss58} ({crypto})");
                    ExitCode::SUCCESS
                }
                Err(reason) => {
                    println!("invalid: {reason}");
                    ExitCode::from(1)
                }
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn open(args: &WalletArgs) -> Wallet {
    Wallet::new(&args.path, &args.name)
}

pub(crate) fn load_hotkey(wallet: &Wallet, hotkey: &str) -> Result<Keypair> {
    let path = wallet.hotkey_path(hotkey);
    let encrypted = wallet::is_encrypted(&path).with_context(|| format!("reading hotkey {}", path.display()))?;
    let password = if encrypted { Some(password(&format!("Password for hotkey {hotkey}: "))?) } else { None };
    wallet.hotkey(hotkey, password.as_deref()).with_context(|| format!("loading hotkey {}", path.display()))
}

pub(crate) fn load_coldkey(wallet: &Wallet) -> Result<Keypair> {
    let path = wallet.coldkey_path();
    let encrypted = wallet::is_encrypted(&path).with_context(|| format!("reading coldkey {}", path.display()))?;
    let password = if encrypted { Some(password("Password for coldkey: ")?) } else { None };
    wallet.coldkey(password.as_deref()).with_context(|| format!("loading coldkey {}", path.display()))
}

/// The password from NEURONET_WALLET_PASSWORD, else from a prompt on the terminal.
fn password(prompt: &str) -> Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    rpassword::prompt_password(prompt).with_context(|| format!("no terminal to ask for a password; set {PASSWORD_ENV}"))
}

fn new_password() -> Result<String> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(password);
    }
    let first = password("New password: ")?;
    let second = password("Repeat password: ")?;
    if first != second {
        bail!("the passwords differ");
    }
    Ok(first)
}
