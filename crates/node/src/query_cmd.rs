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
    /// The chain, to find the axon of `--uid` (`finney`, `test`, `local` or a ws:// URL).
    #[arg(long = "subtensor.network", env = "NEURONET_SUBTENSOR_NETWORK")]
    network: Option<String>,
    /// The subnet of `--uid`.
    #[arg(long)]
    netuid: Option<u16>,
    /// The neuron to query, found in the subnet's metagraph (instead of --target).
    #[arg(long, requires_all = ["network", "netuid"])]
    uid: Option<u16>,
    /// The axon's address, `ip:port` (UDP for QUIC, TCP for the HTTP wires).
    #[arg(long, required_unless_present = "uid")]
    target: Option<SocketAddr>,
    /// The axon's hotkey, SS58 (sr25519).
    #[arg(long = "target.hotkey", required_unless_present = "uid")]
    target_hotkey: Option<String>,
    /// The synapse: Ping, TextGeneration, Embedding or Capabilities (or use a subcommand).
    #[arg(long, default_value = "Ping")]
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
    /// Print the whole answer as JSON (the default for --synapse; subcommands print the text).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    what: Option<Ask>,
}

/// A built-in synapse request, from flags.
#[derive(clap::Subcommand, Clone)]
pub enum Ask {
    /// TextGeneration (or TextGenerationStream with --stream).
    TextGeneration {
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// Tokens to generate at most.
        #[arg(long = "max-tokens", default_value_t = 64)]
        max_tokens: u32,
        /// Sampling temperature (0: greedy).
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Seed for reproducible sampling.
        #[arg(long)]
        seed: Option<u64>,
        /// Stream the tokens as they come.
        #[arg(long)]
        stream: bool,
        /// Send the prompt as plain text to complete, not as a user message rendered with the
        /// model's chat template.
        #[arg(long)]
        raw: bool,
    },
    /// Embedding of one or more texts.
    Embedding {
        /// A text (repeat for several).
        #[arg(long, required = true)]
        text: Vec<String>,
    },
}

/// Prints a query's outcome: the status, its message and the answer's JSON; or, for the
/// subcommands without --json, the completion's text or the embedding's shape.
fn print_outcome(args: &QueryArgs, status: Status, message: &str, answer: Option<Value>) {
    if args.what.is_none() || args.json {
        let printed = serde_json::json!({ "status": status.code(), "message": message, "answer": answer });
        println!("{printed}");
        return;
    }
    match answer {
        Some(answer) if status.is_success() => {
            if let Some(text) = answer.get("text").and_then(Value::as_str) {
                println!("{text}");
            } else if let Some(vectors) = answer.get("vectors").and_then(Value::as_array) {
                for vector in vectors {
                    let values = vector.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
                    let head: Vec<String> =
                        values.iter().take(6).map(|v| format!("{:.4}", v.as_f64().unwrap_or(0.0))).collect();
                    println!("{} dimensions: [{}, ...]", values.len(), head.join(", "));
                }
            }
        }
        _ => eprintln!("{} {message}", status.code()),
    }
}

pub async fn query(mut args: QueryArgs) -> Result<std::process::ExitCode> {
    let wallet = open(&args.key.wallet);
    let keypair = load_hotkey(&wallet, &args.key.hotkey)?;
    let timeout = Duration::try_from_secs_f64(args.timeout).context("--timeout")?;
    let target = resolve(&mut args).await?;
    if let Some(ask) = args.what.clone() {
        return ask_builtin(&args, ask, keypair, target, timeout).await;
    }
    let status = match args.synapse.as_str() {
        "Ping" => send::<Ping>(&args, keypair, target, timeout).await?,
        "TextGeneration" => send::<TextGeneration>(&args, keypair, target, timeout).await?,
        "Embedding" => send::<Embedding>(&args, keypair, target, timeout).await?,
        "Capabilities" => send::<Capabilities>(&args, keypair, target, timeout).await?,
        other => bail!("no built-in unary synapse {other:?} (Ping, TextGeneration, Embedding, Capabilities)"),
    };
    Ok(if status.is_success() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

/// The target's hotkey, with `args.target` filled in from the metagraph when `--uid` names it
/// (the wire too: QUIC for a neuron that published a neuronet certificate, bittensor 10's
/// HTTP otherwise, unless --wire says which).
async fn resolve(args: &mut QueryArgs) -> Result<Hotkey> {
    let Some(uid) = args.uid else {
        let ss58 = args.target_hotkey.as_deref().context("--target.hotkey")?;
        return Ok(Hotkey::from_ss58(ss58, neuronet_synapse::CryptoType::Sr25519)?);
    };
    let network = neuronet_chain::network_url(args.network.as_deref().context("--subtensor.network")?)?;
    let netuid = args.netuid.context("--netuid")?;
    let chain = neuronet_chain::Chain::connect_within(&network, Duration::from_secs(30)).await?;
    let metagraph = chain.metagraph(netuid).await?;
    let neuron = metagraph.neuron(uid).with_context(|| format!("subnet {netuid} has no uid {uid}"))?;
    if neuron.axon.ip == 0 {
        bail!("uid {uid} serves no axon");
    }
    let ip = neuron.axon.ip_addr().context("the axon's address")?;
    args.target = Some(SocketAddr::new(ip, neuron.axon.port));
    if neuron.certificate.is_none() && args.wire == Wire::Quic {
        args.wire = Wire::V10;
    }
    Ok(neuron.hotkey.hotkey())
}

fn target_addr(args: &QueryArgs) -> Result<SocketAddr> {
    args.target.context("--target")
}

fn quic_target(args: &QueryArgs, hotkey: Hotkey) -> Result<Target> {
    let addr = match target_addr(args)? {
        SocketAddr::V4(a) => format!("/ip4/{}/udp/{}/quic-v1", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("/ip6/{}/udp/{}/quic-v1", a.ip(), a.port()),
    };
    Ok(Target::Explicit { hotkey, addr: addr.parse()? })
}

/// Sends a text generation or an embedding built from flags; prints the text (or the JSON).
async fn ask_builtin(
    args: &QueryArgs,
    ask: Ask,
    keypair: Keypair,
    target: Hotkey,
    timeout: Duration,
) -> Result<std::process::ExitCode> {
    use neuronet_synapse::builtin::TextGenerationStream;
    use neuronet_synapse::proto::{EmbeddingRequest, TextGenerationRequest};
    let code = |status: Status| {
        if status.is_success() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        }
    };
    match ask {
        Ask::TextGeneration { prompt, max_tokens, temperature, seed, stream, raw } => {
            let mut request = TextGenerationRequest { max_tokens, temperature, top_p: 1.0, seed, ..Default::default() };
            if raw {
                request.prompt = prompt;
            } else {
                request.messages = vec![neuronet_synapse::proto::ChatMessage { role: "user".into(), content: prompt }];
            }
            if stream {
                if args.wire != Wire::Quic {
                    bail!("--stream needs the QUIC wire");
                }
                let dendrite = Dendrite::new(keypair, DendriteConfig::default()).await?;
                let mut chunks = dendrite
                    .query_stream_within::<TextGenerationStream>(&quic_target(args, target)?, request, timeout)
                    .await;
                while let Some(chunk) = chunks.next().await {
                    if args.json {
                        println!("{}", serde_json::to_value(&chunk)?);
                    } else {
                        use std::io::Write;
                        print!("{}", chunk.text);
                        std::io::stdout().flush()?;
                    }
                }
                let status = chunks.status().unwrap_or(Status::InternalError);
                if !args.json {
                    println!();
                }
                if !status.is_success() {
                    eprintln!("{} {}", status.code(), chunks.message());
                }
                return Ok(code(status));
            }
            let body = serde_json::to_string(&request)?;
            let args = QueryArgs { body, json: args.json, ..args.clone_for("TextGeneration") };
            let status = send::<TextGeneration>(&args, keypair, target, timeout).await?;
            Ok(code(status))
        }
        Ask::Embedding { text } => {
            let request = EmbeddingRequest { texts: text, normalize: true, ..Default::default() };
            let body = serde_json::to_string(&request)?;
            let args = QueryArgs { body, json: args.json, ..args.clone_for("Embedding") };
            let status = send::<Embedding>(&args, keypair, target, timeout).await?;
            Ok(code(status))
        }
    }
}

impl QueryArgs {
    /// These arguments for `synapse`.
    fn clone_for(&self, synapse: &str) -> QueryArgs {
        QueryArgs {
            key: self.key.clone(),
            network: self.network.clone(),
            netuid: self.netuid,
            uid: self.uid,
            target: self.target,
            target_hotkey: self.target_hotkey.clone(),
            synapse: synapse.into(),
            body: self.body.clone(),
            wire: self.wire,
            timeout: self.timeout,
            hash_fields: self.hash_fields.clone(),
            json: self.json,
            what: self.what.clone(),
        }
    }
}

async fn send<S: Synapse>(args: &QueryArgs, keypair: Keypair, target: Hotkey, timeout: Duration) -> Result<Status> {
    let request: S::Request = serde_json::from_str(&args.body).with_context(|| format!("--body as {}", S::NAME))?;
    match args.wire {
        Wire::Quic => {
            let dendrite = Dendrite::new(keypair, DendriteConfig::default()).await?;
            let target = quic_target(args, target)?;
            let answer = dendrite.query_within::<S>(&target, request, timeout).await;
            print_outcome(args, answer.status, &answer.message, answer.body.map(serde_json::to_value).transpose()?);
            Ok(answer.status)
        }
        Wire::V10 => {
            let fields: Vec<&str> = args.hash_fields.iter().map(String::as_str).collect();
            let dendrite = V10Dendrite::new(keypair);
            let answer = if fields.is_empty() {
                dendrite.query::<S>(target_addr(args)?, &target, &request, timeout).await
            } else {
                dendrite.query_hashing::<S>(target_addr(args)?, &target, &request, &fields, timeout).await
            };
            print_outcome(args, answer.status, &answer.message, answer.body.map(serde_json::to_value).transpose()?);
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
                .post(format!("http://{}{path}", target_addr(args)?))
                .timeout(timeout)
                .header("content-type", "application/json")
                .body(body);
            for (name, value) in headers {
                call = call.header(name, value);
            }
            let to = target_addr(args)?;
            let answer = call.send().await.with_context(|| format!("sending to {to}"))?;
            let status = Status::from_code(u32::from(answer.status().as_u16()));
            let json: Value = answer.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                print_outcome(args, status, "Success", Some(json));
            } else {
                print_outcome(args, status, json.get("message").and_then(Value::as_str).unwrap_or_default(), None);
            }
            Ok(status)
        }
    }
}
