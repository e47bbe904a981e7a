//! Calling axons that speak bittensor 10's HTTP wire (the Python SDK's `Axon`), as its dendrite
//! does: the same headers, the same synapse JSON, the same signature; answers parsed and failures
//! mapped to the statuses the Python dendrite reports (503 unreachable, 408 timeout, 422 an
//! answer that does not parse, the axon's own status otherwise).
//!
//! ```no_run
//! # async fn run() -> Result<(), neuronet_transport::Error> {
//! use neuronet_synapse::{builtin::TextGeneration, proto, CryptoType, Keypair};
//! use neuronet_transport::V10Dendrite;
//! let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
//! let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?.hotkey();
//! let dendrite = V10Dendrite::new(validator);
//! let prompt = proto::TextGenerationRequest { prompt: "hi".into(), ..Default::default() };
//! let answer = dendrite
//!     .query::<TextGeneration>("203.0.113.7:8091".parse().unwrap(), &miner, &prompt, std::time::Duration::from_secs(12))
//!     .await;
//! println!("{} {}", answer.status, answer.message);
//! # Ok(()) }
//! ```

use crate::dendrite::Response;
use base64::Engine;
use neuronet_synapse::payload::{unix_nanos, v10_message};
use neuronet_synapse::v10::{body_hash, headers};
use neuronet_synapse::{Hotkey, Keypair, Status, Synapse};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The version a neuronet dendrite announces on the v10 wire (major * 10^6 + minor * 10^3 +
/// patch, as bittensor's `version_as_int`).
fn version_as_int() -> u64 {
    let part = |s: Option<&str>| s.and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let mut parts = env!("CARGO_PKG_VERSION").split('.');
    part(parts.next()) * 1_000_000 + part(parts.next()) * 1_000 + part(parts.next())
}

/// A dendrite for HTTP axons on the bittensor 10 wire.
#[derive(Clone)]
pub struct V10Dendrite {
    keypair: Arc<Keypair>,
    /// Fixed for the dendrite's lifetime, as the Python dendrite's uuid is.
    uuid: String,
    client: reqwest::Client,
    /// The largest answer read; a larger one is refused unread.
    max_response_bytes: usize,
}

/// The largest answer a [`V10Dendrite`] reads by default (a miner's answer is held in memory
/// whole, so a malicious one must not choose its size).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl std::fmt::Debug for V10Dendrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V10Dendrite").field("hotkey", &self.keypair.hotkey()).field("uuid", &self.uuid).finish()
    }
}

/// The placeholder the Python dendrite puts in `bt_header_input_obj_{field}`: base64 of the JSON
/// of the field's type's default value (the axon builds its synapse from the headers first).
fn placeholder(value: &Value) -> String {
    let empty = match value {
        Value::String(_) => json!(""),
        Value::Number(_) => json!(0),
        Value::Bool(_) => json!(false),
        Value::Array(_) => json!([]),
        Value::Object(_) => json!({}),
        Value::Null => Value::Null,
    };
    base64::engine::general_purpose::STANDARD.encode(empty.to_string())
}

impl V10Dendrite {
    /// A dendrite signing as `keypair`'s hotkey (sr25519, as the wire requires).
    pub fn new(keypair: Keypair) -> Self {
        V10Dendrite {
            keypair: Arc::new(keypair),
            uuid: uuid::Uuid::new_v4().to_string(),
            // No redirects: a signed request goes to the axon it names and nowhere else.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_else(|_| reqwest::Client::new()),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    /// With `max` as the largest answer read (default 64 MiB).
    pub fn with_max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Sends `request` as synapse `S` to the axon of `axon_hotkey` at `axon`, its body hash over
    /// `S`'s [`REQUIRED_HASH_FIELDS`](Synapse::REQUIRED_HASH_FIELDS), and waits up to `timeout`.
    pub async fn query<S: Synapse>(
        &self,
        axon: SocketAddr,
        axon_hotkey: &Hotkey,
        request: &S::Request,
        timeout: Duration,
    ) -> Response<S::Response> {
        self.query_hashing::<S>(axon, axon_hotkey, request, S::REQUIRED_HASH_FIELDS, timeout).await
    }

    /// [`query`](Self::query) with the body hash over `required_hash_fields` instead of the
    /// synapse's own (for a Python class declared differently).
    pub async fn query_hashing<S: Synapse>(
        &self,
        axon: SocketAddr,
        axon_hotkey: &Hotkey,
        request: &S::Request,
        required_hash_fields: &[&str],
        timeout: Duration,
    ) -> Response<S::Response> {
        let started = Instant::now();
        let failure = |status: Status, message: String| Response {
            target: *axon_hotkey,
            status,
            message,
            body: None,
            process_time: Duration::ZERO,
            elapsed: started.elapsed(),
        };
        let fields = match serde_json::to_value(request) {
            Ok(Value::Object(fields)) => fields,
            _ => return failure(Status::BadRequest, format!("{} does not encode as a JSON object", S::NAME)),
        };
        let nonce = unix_nanos();
        let dendrite_ss58 = self.keypair.hotkey().to_ss58();
        let axon_ss58 = axon_hotkey.to_ss58();
        let mut synapse = Map::new();
        synapse.insert("name".into(), S::NAME.into());
        synapse.insert("timeout".into(), timeout.as_secs_f64().into());
        synapse.insert("total_size".into(), 0.into());
        synapse.insert("header_size".into(), 0.into());
        synapse.extend(fields.clone());
        let hash = body_hash(&Value::Object(synapse.clone()), required_hash_fields);
        let message = v10_message(nonce, &dendrite_ss58, &axon_ss58, &self.uuid, &hash);
        let signature = self.keypair.sign(message.as_bytes()).to_hex();
        let ip = match axon.ip() {
            std::net::IpAddr::V4(ip) if ip.is_loopback() => "127.0.0.1".to_owned(),
            _ => "0.0.0.0".to_owned(),
        };
        let terminal = |ip: &str, port: Option<u16>, hotkey: &str, nonce: Option<u64>, signature: Option<&str>| {
            json!({ "status_code": null, "status_message": null, "process_time": null, "ip": ip, "port": port,
                    "version": nonce.map(|_| version_as_int()), "nonce": nonce,
                    "uuid": nonce.map(|_| self.uuid.clone()), "hotkey": hotkey, "signature": signature })
        };
        synapse.insert("dendrite".into(), terminal(&ip, None, &dendrite_ss58, Some(nonce), Some(&signature)));
        synapse.insert("axon".into(), terminal(&axon.ip().to_string(), Some(axon.port()), &axon_ss58, None, None));
        synapse.insert("computed_body_hash".into(), "".into());

        let url = format!("http://{axon}/{}", S::NAME);
        let mut call = self
            .client
            .post(&url)
            .timeout(timeout)
            .header("name", S::NAME)
            .header(headers::TIMEOUT, format!("{:?}", timeout.as_secs_f64()))
            .header("bt_header_axon_ip", axon.ip().to_string())
            .header("bt_header_axon_port", axon.port().to_string())
            .header(headers::AXON_HOTKEY, &axon_ss58)
            .header("bt_header_dendrite_ip", &ip)
            .header("bt_header_dendrite_version", version_as_int().to_string())
            .header(headers::DENDRITE_NONCE, nonce.to_string())
            .header(headers::DENDRITE_UUID, &self.uuid)
            .header(headers::DENDRITE_HOTKEY, &dendrite_ss58)
            .header(headers::DENDRITE_SIGNATURE, &signature)
            .header(headers::BODY_HASH, &hash)
            .header("header_size", "0")
            .header("total_size", "0")
            .json(&Value::Object(synapse));
        for (field, value) in &fields {
            call = call.header(format!("bt_header_input_obj_{field}"), placeholder(value));
        }
        let answer = match call.send().await {
            Ok(answer) => answer,
            Err(error) if error.is_timeout() => {
                return failure(Status::Timeout, format!("Request timeout after {} seconds", timeout.as_secs_f64()))
            }
            Err(error) if error.is_connect() => {
                let cause = std::error::Error::source(&error).map(|e| format!(" ({e})")).unwrap_or_default();
                return failure(Status::Unavailable, format!("Service unavailable at {axon}/{}{cause}", S::NAME));
            }
            Err(error) => return failure(Status::InternalError, format!("request failed: {error}")),
        };
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let status = header("bt_header_axon_status_code")
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or(answer.status().as_u16());
        let status = Status::from_code(u32::from(status));
        let process_time = header("bt_header_axon_process_time")
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .map_or(Duration::ZERO, |t| t.min(timeout));
        let header_message = header("bt_header_axon_status_message");
        let limit = self.max_response_bytes;
        if answer.content_length().is_some_and(|len| len > limit as u64) {
            return failure(Status::PayloadTooLarge, format!("the answer is larger than {limit} bytes"));
        }
        // Read as it arrives, up to the limit, whatever the axon announced.
        let mut answer = answer;
        let mut bytes = Vec::new();
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() > limit => {
                    return failure(Status::PayloadTooLarge, format!("the answer is larger than {limit} bytes"));
                }
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) if error.is_timeout() => {
                    return failure(Status::Timeout, format!("Request timeout after {} seconds", timeout.as_secs_f64()))
                }
                Err(error) => return failure(Status::Unavailable, format!("the axon disconnected: {error}")),
            }
        }
        if !status.is_success() {
            let message = header_message
                .or_else(|| serde_json::from_slice::<Value>(&bytes).ok()?.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_default();
            return Response { process_time, ..failure(status, message) };
        }
        match serde_json::from_slice::<S::Response>(&bytes) {
            Ok(body) => Response {
                target: *axon_hotkey,
                status,
                message: header_message.unwrap_or_else(|| "Success".into()),
                body: Some(body),
                process_time,
                elapsed: started.elapsed(),
            },
            Err(error) => failure(Status::Unprocessable, format!("Failed to parse response: {error}")),
        }
    }
}
