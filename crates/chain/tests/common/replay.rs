//! A WebSocket JSON-RPC server that answers as a finney node did, from recorded bytes: the real
//! runtime metadata and the real `get_neurons_lite` answer. What a client asks beyond that (a
//! neuron certificate, say) comes from the test. It speaks the legacy JSON-RPC methods subxt and
//! the Python SDK use to read (`chain_*`, `state_*`, `rpc_methods`).
#![allow(dead_code)]

use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::Encode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const GENESIS: &str = "0x2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";
pub const HEAD: &str = "0xdb13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0";
pub const HEAD_NUMBER: u64 = 6_852_690;

/// What the server answers with.
pub struct Recorded {
    /// Runtime metadata (`meta`-prefixed V15).
    pub metadata: Vec<u8>,
    /// The runtime's spec version.
    pub spec_version: u32,
    /// `NeuronInfoRuntimeApi_get_neurons_lite`'s answer, for the netuid given as SCALE.
    pub neurons: (Vec<u8>, Vec<u8>),
    /// Storage items the chain holds below their prefix: (key suffix after the prefix asked
    /// for, value), listed for any prefix asked for with `state_getKeysPaged`.
    pub certificates: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A running recording: the answers can change while clients are connected.
pub struct Replay {
    recorded: Recorded,
    /// The neurons-lite answer now (starts as the recorded one).
    pub neurons: Mutex<Vec<u8>>,
    /// The number of the next finalized head the subscription announces.
    pub next_block: AtomicU64,
    /// `System.Events` of the block that includes a submitted transaction.
    pub events: Mutex<Vec<u8>>,
    /// The transactions submitted, as hex.
    pub submitted: Mutex<Vec<String>>,
    /// The runtime now: its spec version and metadata (a runtime upgrade replaces them).
    pub runtime: Mutex<(u32, Vec<u8>)>,
    /// The certificates now (starts as the recorded ones).
    pub certificates: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
}

/// The block that includes submitted transactions.
pub const TX_BLOCK: &str = "0x2222222222222222222222222222222222222222222222222222222222222222";
/// `twox128("System") ++ twox128("Events")`.
const EVENTS_KEY: &str = "0x26aa394eea5630e07c48ae0c9558cef780d41e5e16056765bc8461851072c9d7";

impl Replay {
    pub fn new(recorded: Recorded) -> Arc<Self> {
        let neurons = Mutex::new(recorded.neurons.1.clone());
        Arc::new(Replay {
            neurons,
            next_block: AtomicU64::new(HEAD_NUMBER + 1),
            events: Mutex::new(Vec::new()),
            submitted: Mutex::new(Vec::new()),
            runtime: Mutex::new((recorded.spec_version, recorded.metadata.clone())),
            certificates: Mutex::new(recorded.certificates.clone()),
            recorded,
        })
    }
}

fn bytes_param(value: &Value) -> Vec<u8> {
    value.as_str().and_then(|text| hex::decode(text.trim_start_matches("0x")).ok()).unwrap_or_default()
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn header() -> Value {
    header_at(HEAD_NUMBER)
}

fn header_at(number: u64) -> Value {
    json!({
        "parentHash": GENESIS,
        "number": format!("0x{number:x}"),
        "stateRoot": GENESIS,
        "extrinsicsRoot": GENESIS,
        "digest": {"logs": []},
    })
}

fn state_call(replay: &Replay, method: &str, data: &[u8]) -> Result<Vec<u8>, ErrorObjectOwned> {
    let recorded = &replay.recorded;
    Ok(match method {
        "Core_version" => (
            "node-subtensor".to_owned(),
            "node-subtensor".to_owned(),
            1u32,
            replay.runtime.lock().unwrap().0,
            1u32,
            Vec::<([u8; 8], u32)>::new(),
            1u32,
            1u8,
        )
            .encode(),
        "Metadata_metadata_versions" => vec![14u32, 15].encode(),
        "Metadata_metadata_at_version" if data == 15u32.encode() => {
            Some(replay.runtime.lock().unwrap().1.clone()).encode()
        }
        "Metadata_metadata_at_version" => None::<Vec<u8>>.encode(),
        "NeuronInfoRuntimeApi_get_neurons_lite" if data == recorded.neurons.0 => replay.neurons.lock().unwrap().clone(),
        "NeuronInfoRuntimeApi_get_neurons_lite" => Vec::<u8>::new().encode(),
        "AccountNonceApi_account_nonce" => (replay.submitted.lock().unwrap().len() as u32).encode(),
        other => return Err(ErrorObjectOwned::owned(-32000, format!("no runtime API {other} here"), None::<()>)),
    })
}

/// Starts the server on a free loopback port: its ws:// URL and its handle (dropping the handle
/// does not stop it; `stop()` does).
pub async fn start(recorded: Recorded) -> (String, ServerHandle) {
    serve(Replay::new(recorded), "127.0.0.1:0").await
}

/// Serves `replay` at `addr` (a port of 0 takes a free one): its ws:// URL and its handle.
/// Finalized heads are announced every 100 ms to subscribers.
pub async fn serve(replay: Arc<Replay>, addr: &str) -> (String, ServerHandle) {
    let server = Server::builder().build(addr).await.unwrap();
    let url = format!("ws://{}", server.local_addr().unwrap());
    let mut module = RpcModule::from_arc(replay);
    let methods = [
        "rpc_methods",
        "chain_getBlockHash",
        "chain_getFinalizedHead",
        "chain_getHead",
        "chain_getHeader",
        "state_call",
        "state_getKeysPaged",
        "state_queryStorageAt",
        "state_getRuntimeVersion",
        "chain_subscribeFinalizedHeads",
        "chain_unsubscribeFinalizedHeads",
        "chain_getBlock",
        "state_getStorage",
        "author_submitAndWatchExtrinsic",
        "author_unwatchExtrinsic",
        "system_accountNextIndex",
    ];
    module.register_method("rpc_methods", move |_, _, _| json!({ "methods": methods })).unwrap();
    module.register_method("chain_getBlockHash", |_, _, _| json!(GENESIS)).unwrap();
    module.register_method("chain_getFinalizedHead", |_, _, _| json!(HEAD)).unwrap();
    module.register_method("chain_getHead", |_, _, _| json!(HEAD)).unwrap();
    module.register_method("chain_getHeader", |_, _, _| header()).unwrap();
    module
        .register_method("state_getRuntimeVersion", |_, replay: &Replay, _| {
            json!({
                "specName": "node-subtensor", "implName": "node-subtensor", "authoringVersion": 1,
                "specVersion": replay.runtime.lock().unwrap().0, "implVersion": 1, "apis": [],
                "transactionVersion": 1, "stateVersion": 1,
            })
        })
        .unwrap();
    module
        .register_method("state_call", |params, replay: &Replay, _| {
            let params: Vec<Value> = params.parse()?;
            let method = params.first().and_then(Value::as_str).unwrap_or_default();
            let data = params.get(1).map(bytes_param).unwrap_or_default();
            state_call(replay, method, &data).map(|answer| json!(hex0x(&answer)))
        })
        .unwrap();
    module
        .register_method("state_getKeysPaged", |params, replay: &Replay, _| {
            let params: Vec<Value> = params.parse()?;
            let prefix = params.first().map(bytes_param).unwrap_or_default();
            let after = params.get(2).map(bytes_param).unwrap_or_default();
            let keys: Vec<String> = replay
                .certificates
                .lock()
                .unwrap()
                .iter()
                .map(|(suffix, _)| [&prefix[..], &suffix[..]].concat())
                .filter(|key| after.is_empty() || key[..] > after[..])
                .map(|key| hex0x(&key))
                .collect();
            Ok::<_, ErrorObjectOwned>(json!(keys))
        })
        .unwrap();
    module
        .register_method("state_queryStorageAt", |params, replay: &Replay, _| {
            let params: Vec<Value> = params.parse()?;
            let keys: Vec<Value> = params.first().and_then(Value::as_array).cloned().unwrap_or_default();
            let changes: Vec<Value> = keys
                .iter()
                .map(|key| {
                    let bytes = bytes_param(key);
                    let value = replay
                        .certificates
                        .lock()
                        .unwrap()
                        .iter()
                        .find(|(suffix, _)| bytes.ends_with(suffix))
                        .map(|(_, value)| json!(hex0x(value)))
                        .unwrap_or(Value::Null);
                    json!([key, value])
                })
                .collect();
            Ok::<_, ErrorObjectOwned>(json!([{ "block": HEAD, "changes": changes }]))
        })
        .unwrap();
    module
        .register_subscription(
            "chain_subscribeFinalizedHeads",
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
            |_, pending, replay: Arc<Replay>, _| async move {
                let Ok(sink) = pending.accept().await else { return };
                loop {
                    let number = replay.next_block.fetch_add(1, Ordering::Relaxed);
                    let message = jsonrpsee::SubscriptionMessage::new(
                        sink.method_name(),
                        sink.subscription_id(),
                        &header_at(number),
                    )
                    .unwrap();
                    if sink.send(message).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        )
        .unwrap();
    // The pool counts transactions not yet finalized: every one submitted here.
    module
        .register_method("system_accountNextIndex", |_, replay: &Replay, _| replay.submitted.lock().unwrap().len())
        .unwrap();
    module
        .register_method("chain_getBlock", |_, replay: &Replay, _| {
            let extrinsics = replay.submitted.lock().unwrap().clone();
            json!({ "block": { "header": header(), "extrinsics": extrinsics }, "justifications": null })
        })
        .unwrap();
    module
        .register_method("state_getStorage", |params, replay: &Replay, _| {
            let params: Vec<Value> = params.parse()?;
            let key = params.first().and_then(Value::as_str).unwrap_or_default();
            let events = replay.events.lock().unwrap();
            Ok::<_, ErrorObjectOwned>(if key == EVENTS_KEY && !events.is_empty() {
                json!(hex0x(&events))
            } else {
                Value::Null
            })
        })
        .unwrap();
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, replay: Arc<Replay>, _| async move {
                let Ok(params) = params.parse::<Vec<Value>>() else { return };
                let extrinsic = params.first().and_then(Value::as_str).unwrap_or_default().to_owned();
                replay.submitted.lock().unwrap().push(extrinsic);
                let Ok(sink) = pending.accept().await else { return };
                for status in [json!("ready"), json!({ "inBlock": TX_BLOCK }), json!({ "finalized": TX_BLOCK })] {
                    let message =
                        jsonrpsee::SubscriptionMessage::new(sink.method_name(), sink.subscription_id(), &status)
                            .unwrap();
                    if sink.send(message).await.is_err() {
                        return;
                    }
                }
                // Kept open until the client unwatches, as a node does.
                sink.closed().await;
            },
        )
        .unwrap();
    let handle = server.start(module);
    (url, handle)
}
