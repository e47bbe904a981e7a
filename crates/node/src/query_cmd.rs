//! `neuronet query`: one request to an axon, over neuronet's QUIC or one of the HTTP wires
//! subnets use today (bittensor 10's dendrite wire, btauth/1, Epistula v2), signed by a wallet
//! hotkey; prints the status and the answer's JSON.

use crate::wallet_cmd::{load_hotkey, open, HotkeyArgs};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use neuronet_synapse::builtin::{Capabilities, Embedding, Ping, TextGeneration};
use neuronet_synapse::http_auth::{sign_btauth, sign_epistula};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::{Hotkey, Keypair, Status, Synapse};
use neuronet_transport::{Dendrite, DendriteConfig, Target, V10Dendrite};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// How a query travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Wire {
    /// neuronet's QUIC overlay.
    Quic,
    /// bittensor 10's HTTP dendrite wire.
    V10,
    /// HTTP signed with btauth/1 (bittensor 11).
    Btauth,
    /// HTTP signed with Epistula v2.
    Epistula,
}

#[derive(Args)]
pub struct QueryArgs {
    #[command(flatten)]
    key: HotkeyArgs,
    /// The axon's address, `ip:port` (UDP for QUIC, TCP for the HTTP wires).
    #[arg(long)]
    target: SocketAddr,
    /// The axon's hotkey, SS58 (sr25519).
    #[arg(long = "target.hotkey")]
    target_hotkey: String,
    /// The synapse: Ping, TextGeneration, Embedding or Capabilities.
    #[arg(long)]
    synapse: String,
    /// The request as the synapse's JSON (for example `{"prompt": "hello"}`).
    #[arg(long, default_value = "{}")]
    body: String,
    /// The wire.
    #[arg(long, value_enum, default_value = "quic")]
    wire: Wire,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 12.0)]
    timeout: f64,
    /// The synapse's `required_hash_fields` on the bittensor 10 wire, comma separated.
    #[arg(long, value_delimiter = ',')]
    hash_fields: Vec<String>,
}

/// What a query printed: the status, its message and the answer's JSON.
fn print(status: Status, message: &str, answer: Option<Value>) {
    let printed = serde_json::json!({ "status": status.code(), "message": message, "answer": answer });
    println!("{printed}");
}

pub async fn query(args: QueryArgs) -> Result<std::process::ExitCode> {
    let wallet = open(&args.key.wallet);
    let keypair = load_hotkey(&wallet, &args.key.hotkey)?;
    let target = Hotkey::from_ss58(&args.target_hotkey, neuronet_synapse::CryptoType::Sr25519)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).context("--timeout")?;
    let status = match args.synapse.as_str() {
        "Ping" => send::<Ping>(&args, keypair, target, timeout).await?,
        "TextGeneration" => send::<TextGeneration>(&args, keypair, target, timeout).await?,
        "Embedding" => send::<Embedding>(&args, keypair, target, timeout).await?,
        "Capabilities" => send::<Capabilities>(&args, keypair, target, timeout).await?,
        other => bail!("no built-in unary synapse {other:?} (Ping, TextGeneration, Embedding, Capabilities)"),
    };
    Ok(if status.is_success() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

async fn send<S: Synapse>(args: &QueryArgs, keypair: Keypair, target: Hotkey, timeout: Duration) -> Result<Status> {
    let request: S::Request = serde_json::from_str(&args.body).with_context(|| format!("--body as {}", S::NAME))?;
    match args.wire {
        Wire::Quic => {
            let dendrite = Dendrite::new(keypair, DendriteConfig::default()).await?;
            let addr = match args.target {
                SocketAddr::V4(a) => format!("/ip4/{}/udp/{}/quic-v1", a.ip(), a.port()),
                SocketAddr::V6(a) => format!("/ip6/{}/udp/{}/quic-v1", a.ip(), a.port()),
            };
            let target = Target::Explicit { hotkey: target, addr: addr.parse()? };
            let answer = dendrite.query_within::<S>(&target, request, timeout).await;
            print(answer.status, &answer.message, answer.body.map(serde_json::to_value).transpose()?);
            Ok(answer.status)
        }
        Wire::V10 => {
            let fields: Vec<&str> = args.hash_fields.iter().map(String::as_str).collect();
            let dendrite = V10Dendrite::new(keypair);
            let answer = if fields.is_empty() {
                dendrite.query::<S>(args.target, &target, &request, timeout).await
            } else {
                dendrite.query_hashing::<S>(args.target, &target, &request, &fields, timeout).await
            };
            print(answer.status, &answer.message, answer.body.map(serde_json::to_value).transpose()?);
            Ok(answer.status)
        }
        Wire::Btauth | Wire::Epistula => {
            let body = serde_json::to_vec(&request)?;
            let path = format!("/{}", S::NAME);
            let headers = if args.wire == Wire::Btauth {
                sign_btauth(&keypair, "POST", &path, &body, Some(&target), unix_nanos())
            } else {
                let uuid = uuid::Uuid::new_v4().to_string();
                sign_epistula(&keypair, &body, Some(&target), &uuid, unix_nanos() / 1_000_000)
                    .map_err(|f| anyhow::anyhow!(f.message))?
            };
            let mut call = reqwest::Client::new()
                .post(format!("http://{}{path}", args.target))
                .timeout(timeout)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in headers {
                call = call.header(name, value);
            }
            let answer = call.send().await.with_context(|| format!("sending to {}", args.target))?;
            let status = Status::from_code(u32::from(answer.status().as_u16()));
            let json: Value = answer.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                print(status, "Success", Some(json));
            } else {
                print(status, json.get("message").and_then(Value::as_str).unwrap_or_default(), None);
            }
            Ok(status)
        }
    }
}
