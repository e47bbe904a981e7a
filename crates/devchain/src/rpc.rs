//! The JSON-RPC surface over WebSocket (and HTTP): the legacy substrate methods subxt, the
//! Python SDKs and btcli call. Unknown methods answer -32601; bad parameters -32602.

use std::sync::Arc;

use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::{ErrorObject, ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};

use crate::node::{Node, SubmitError};
use crate::rt::sp_runtime::generic::header::Header;
use crate::rt::AccountId32;
use crate::runtime;

/// The largest request (or batch) taken, in bytes, by default.
pub const MAX_REQUEST_BYTES: u32 = 16 * 1024 * 1024;
/// The largest answer sent, in bytes, by default (a metagraph of thousands of neurons fits).
pub const MAX_RESPONSE_BYTES: u32 = 64 * 1024 * 1024;
/// The most WebSocket connections served at once, by default.
pub const MAX_CONNECTIONS: u32 = 256;

/// What the JSON-RPC server takes at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcLimits {
    /// The largest request (or batch), in bytes; larger ones are refused. Default
    /// [`MAX_REQUEST_BYTES`] (16 MiB).
    pub max_request_bytes: u32,
    /// The largest answer, in bytes. Default [`MAX_RESPONSE_BYTES`] (64 MiB).
    pub max_response_bytes: u32,
    /// Connections served at once. Default [`MAX_CONNECTIONS`] (256).
    pub max_connections: u32,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_request_bytes: MAX_REQUEST_BYTES,
            max_response_bytes: MAX_RESPONSE_BYTES,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObject::owned(jsonrpsee::types::error::INVALID_PARAMS_CODE, message.into(), None::<()>)
}

fn state_error(message: impl Into<String>) -> ErrorObjectOwned {
    // Substrate's state RPC errors use code 4003 ("Client error").
    ErrorObject::owned(4003, format!("Client error: {}", message.into()), None::<()>)
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(text: &str) -> RpcResult<Vec<u8>> {
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|e| invalid_params(format!("bad hex: {e}")))
}

fn hash_param(value: Option<&Value>) -> RpcResult<Option<[u8; 32]>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let bytes = unhex(text)?;
            <[u8; 32]>::try_from(bytes.as_slice()).map(Some).map_err(|_| invalid_params("a block hash is 32 bytes"))
        }
        Some(_) => Err(invalid_params("a block hash is a hex string")),
    }
}

fn list(params: &Params<'_>) -> RpcResult<Vec<Value>> {
    if params.as_str().is_none() {
        return Ok(Vec::new());
    }
    params.parse::<Vec<Value>>().map_err(|e| invalid_params(e.message().to_owned()))
}

fn string_at(params: &[Value], index: usize, what: &str) -> RpcResult<String> {
    params
        .get(index)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| invalid_params(format!("missing {what}")))
}

/// A header as substrate's RPC writes it.
pub fn header_json(header: &Header) -> Value {
    json!({
        "parentHash": hex0x(&header.parent_hash.0),
        "number": format!("0x{:x}", header.number),
        "stateRoot": hex0x(&header.state_root.0),
        "extrinsicsRoot": hex0x(&header.extrinsics_root.0),
        "digest": { "logs": header.digest.logs.iter().map(|log| hex0x(&log.encode())).collect::<Vec<_>>() },
    })
}

fn runtime_version_json() -> Value {
    let version = runtime::version();
    let apis: Vec<Value> = version.apis.iter().map(|(id, v)| json!([hex0x(id), v])).collect();
    json!({
        "specName": version.spec_name,
        "implName": version.impl_name,
        "authoringVersion": version.authoring_version,
        "specVersion": version.spec_version,
        "implVersion": version.impl_version,
        "apis": apis,
        "transactionVersion": version.transaction_version,
        "stateVersion": version.system_version,
    })
}

fn account_param(params: &[Value]) -> RpcResult<AccountId32> {
    let text = string_at(params, 0, "account")?;
    if let Ok(public) = neuronet_synapse::ss58::decode(&text) {
        return Ok(AccountId32(public));
    }
    let bytes = unhex(&text)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map(AccountId32).map_err(|_| invalid_params("not an SS58 address"))
}

fn submit_error(error: SubmitError) -> ErrorObjectOwned {
    match error {
        SubmitError::Invalid(runtime::Invalid::Format) => {
            ErrorObject::owned(1001, "Extrinsic has invalid format: Could not decode", None::<()>)
        }
        SubmitError::Invalid(invalid) => ErrorObject::owned(1010, "Invalid Transaction", Some(invalid.to_string())),
        SubmitError::AlreadyImported => ErrorObject::owned(1013, "Transaction Already Imported", None::<()>),
        SubmitError::PoolFull => ErrorObject::owned(1016, "Immediately Dropped", Some(error.to_string())),
    }
}

/// Answers `state_call(method, data)` at the state `at`.
fn state_call(node: &Node, method: &str, data: &[u8], at: Option<[u8; 32]>) -> RpcResult<Vec<u8>> {
    let state = node.state_at(at).map_err(state_error)?;
    let input = &mut &data[..];
    let bad = |what: &str| state_error(format!("Execution failed: cannot decode the {what} of {method}"));
    Ok(match method {
        "Core_version" => runtime::version().encode(),
        "Metadata_metadata" => node.metadata_v14().to_vec().encode(),
        "Metadata_metadata_versions" => vec![14u32, 15].encode(),
        "Metadata_metadata_at_version" => match u32::decode(input).map_err(|_| bad("version"))? {
            14 => Some(node.metadata_v14().to_vec()).encode(),
            15 => Some(node.metadata().to_vec()).encode(),
            _ => None::<Vec<u8>>.encode(),
        },
        "AccountNonceApi_account_nonce" => {
            let account = AccountId32::decode(input).map_err(|_| bad("account"))?;
            state.value::<crate::items::system::Account>(&(account,)).nonce.encode()
        }
        "TransactionPaymentApi_query_info" | "TransactionPaymentApi_query_fee_details" => {
            let extrinsic = Vec::<u8>::decode(input).map_err(|_| bad("extrinsic"))?;
            let length = u32::decode(input).map_err(|_| bad("length"))?;
            let mut framed = parity_scale_codec::Compact(extrinsic.len() as u32).encode();
            framed.extend_from_slice(&extrinsic);
            if method.ends_with("query_info") {
                runtime::query_info(&framed, length).ok_or_else(|| bad("extrinsic"))?.encode()
            } else {
                runtime::query_fee_details(&framed, length).ok_or_else(|| bad("extrinsic"))?.encode()
            }
        }
        "NeuronInfoRuntimeApi_get_neurons_lite" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            runtime::neurons_lite(&state, netuid).encode()
        }
        "SubnetInfoRuntimeApi_get_metagraph" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            runtime::metagraph(&state, netuid).encode()
        }
        "SubnetInfoRuntimeApi_get_selective_metagraph" | "SubnetInfoRuntimeApi_get_selective_mechagraph" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            let mecid = if method.ends_with("mechagraph") { u8::decode(input).map_err(|_| bad("mecid"))? } else { 0 };
            let indexes = Vec::<u16>::decode(input).map_err(|_| bad("indexes"))?;
            let mechanisms = state.value::<crate::items::subtensor::MechanismCountCurrent>(&(netuid,));
            runtime::metagraph(&state, netuid)
                .filter(|_| mecid < mechanisms)
                .map(|metagraph| metagraph.select(&indexes))
                .encode()
        }
        "SubnetInfoRuntimeApi_get_subnet_state" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            runtime::subnet_state(&state, netuid).encode()
        }
        "SubnetInfoRuntimeApi_get_all_dynamic_info" => runtime::all_dynamic_info(&state).encode(),
        "StakeInfoRuntimeApi_get_stake_info_for_coldkeys" => {
            let coldkeys = Vec::<AccountId32>::decode(input).map_err(|_| bad("coldkey_accounts"))?;
            runtime::stake_info_for_coldkeys(&state, coldkeys).encode()
        }
        "SwapRuntimeApi_current_alpha_price_all" => runtime::alpha_prices(&state).encode(),
        "SwapRuntimeApi_current_alpha_price" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            runtime::alpha_prices(&state).into_iter().find(|p| p.netuid == netuid).map_or(0, |p| p.price).encode()
        }
        "NeuronInfoRuntimeApi_get_neuron_lite" => {
            let netuid = u16::decode(input).map_err(|_| bad("netuid"))?;
            let uid = u16::decode(input).map_err(|_| bad("uid"))?;
            let n = state.value::<crate::items::subtensor::SubnetworkN>(&(netuid,));
            let columns = runtime::Columns::read(&state, netuid);
            (uid < n).then(|| runtime::neuron_lite(&state, netuid, uid, &columns)).encode()
        }
        _ => {
            return Err(state_error(format!(
                "Execution failed: Other error happened while constructing the runtime: Exported method {method} is not found"
            )))
        }
    })
}

/// Starts serving `node` on `addr`; the bound address and the server's handle.
pub async fn serve(
    node: Arc<Node>,
    addr: &str,
    limits: RpcLimits,
) -> std::io::Result<(std::net::SocketAddr, ServerHandle)> {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(limits.max_request_bytes)
        .max_response_body_size(limits.max_response_bytes)
        .max_connections(limits.max_connections)
        .build();
    let server = Server::builder().set_config(config).build(addr).await?;
    let local = server.local_addr()?;
    let module = module(node).map_err(std::io::Error::other)?;
    Ok((local, server.start(module)))
}

fn module(node: Arc<Node>) -> Result<RpcModule<Node>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::from_arc(node);

    // system_*
    m.register_method("system_chain", |_, _, _| "neuronet devchain")?;
    m.register_method("system_name", |_, _, _| "neuronet-devchain")?;
    m.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;
    m.register_method("system_chainType", |_, _, _| "Development")?;
    m.register_method(
        "system_properties",
        |_, _, _| json!({ "ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO" }),
    )?;
    m.register_method("system_health", |_, _, _| json!({ "peers": 0, "isSyncing": false, "shouldHavePeers": false }))?;
    m.register_method("system_accountNextIndex", |params, node: &Node, _| {
        account_param(&list(&params)?).map(|account| node.next_nonce(&account))
    })?;
    m.register_alias("account_nextIndex", "system_accountNextIndex")?;

    // chain_*
    m.register_method("chain_getBlockHash", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let hash_of = |value: &Value| -> RpcResult<Value> {
            let number = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
                _ => None,
            }
            .ok_or_else(|| invalid_params("a block number"))?;
            Ok(u32::try_from(number).ok().and_then(|n| node.hash_of(n)).map_or(Value::Null, |h| json!(hex0x(&h))))
        };
        match params.first() {
            None | Some(Value::Null) => Ok(json!(hex0x(&node.head().hash))),
            Some(Value::Array(numbers)) => numbers.iter().map(hash_of).collect::<RpcResult<Vec<_>>>().map(Value::from),
            Some(value) => hash_of(value),
        }
    })?;
    m.register_alias("chain_getHead", "chain_getBlockHash")?;
    m.register_method("chain_getFinalizedHead", |_, node: &Node, _| hex0x(&node.head().hash))?;
    m.register_method("chain_getHeader", |params, node: &Node, _| -> RpcResult<Value> {
        let at = hash_param(list(&params)?.first())?;
        let block = match at {
            None => Some(node.head()),
            Some(hash) => node.block(&hash),
        };
        Ok(block.map_or(Value::Null, |block| header_json(&block.header)))
    })?;
    m.register_method("chain_getBlock", |params, node: &Node, _| -> RpcResult<Value> {
        let at = hash_param(list(&params)?.first())?;
        let block = match at {
            None => Some(node.head()),
            Some(hash) => node.block(&hash),
        };
        Ok(block.map_or(Value::Null, |block| {
            let extrinsics: Vec<String> = block.extrinsics.iter().map(|x| hex0x(x)).collect();
            json!({ "block": { "header": header_json(&block.header), "extrinsics": extrinsics }, "justifications": null })
        }))
    })?;
    for (subscribe, notification, unsubscribe) in [
        ("chain_subscribeNewHeads", "chain_newHead", "chain_unsubscribeNewHeads"),
        ("chain_subscribeFinalizedHeads", "chain_finalizedHead", "chain_unsubscribeFinalizedHeads"),
        ("chain_subscribeAllHeads", "chain_allHead", "chain_unsubscribeAllHeads"),
    ] {
        m.register_subscription(subscribe, notification, unsubscribe, |_, pending, node: Arc<Node>, _| async move {
            follow_heads(pending, node).await
        })?;
    }
    m.register_alias("subscribe_newHead", "chain_subscribeNewHeads")?;
    m.register_alias("unsubscribe_newHead", "chain_unsubscribeNewHeads")?;

    // state_*
    m.register_method("state_getRuntimeVersion", |_, _, _| runtime_version_json())?;
    m.register_alias("chain_getRuntimeVersion", "state_getRuntimeVersion")?;
    m.register_subscription(
        "state_subscribeRuntimeVersion",
        "state_runtimeVersion",
        "state_unsubscribeRuntimeVersion",
        |_, pending, _node: Arc<Node>, _| async move {
            let Ok(sink) = pending.accept().await else { return };
            if let Ok(message) =
                SubscriptionMessage::new(sink.method_name(), sink.subscription_id(), &runtime_version_json())
            {
                let _ = sink.send(message).await;
            }
            sink.closed().await;
        },
    )?;
    m.register_method("state_getMetadata", |_, node: &Node, _| hex0x(node.metadata_v14()))?;
    m.register_method("state_call", |params, node: &Node, _| -> RpcResult<String> {
        let params = list(&params)?;
        let method = string_at(&params, 0, "method")?;
        let data = unhex(params.get(1).and_then(Value::as_str).unwrap_or(""))?;
        let at = hash_param(params.get(2))?;
        state_call(node, &method, &data, at).map(|bytes| hex0x(&bytes))
    })?;
    m.register_alias("state_callAt", "state_call")?;
    m.register_method("state_getStorage", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let key = unhex(&string_at(&params, 0, "key")?)?;
        let state = node.state_at(hash_param(params.get(1))?).map_err(state_error)?;
        Ok(state.raw(&key).map_or(Value::Null, |value| json!(hex0x(value))))
    })?;
    m.register_alias("state_getStorageAt", "state_getStorage")?;
    m.register_method("state_getStorageSize", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let key = unhex(&string_at(&params, 0, "key")?)?;
        let state = node.state_at(hash_param(params.get(1))?).map_err(state_error)?;
        Ok(state.raw(&key).map_or(Value::Null, |value| json!(value.len())))
    })?;
    m.register_method("state_getStorageHash", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let key = unhex(&string_at(&params, 0, "key")?)?;
        let state = node.state_at(hash_param(params.get(1))?).map_err(state_error)?;
        Ok(state.raw(&key).map_or(Value::Null, |value| json!(hex0x(&sp_crypto_hashing::blake2_256(value)))))
    })?;
    m.register_method("state_getKeys", |params, node: &Node, _| -> RpcResult<Vec<String>> {
        let params = list(&params)?;
        let prefix = unhex(&string_at(&params, 0, "prefix")?)?;
        let state = node.state_at(hash_param(params.get(1))?).map_err(state_error)?;
        Ok(state.keys_paged(&prefix, 1_000, None).iter().map(|k| hex0x(k)).collect())
    })?;
    m.register_method("state_getKeysPaged", |params, node: &Node, _| -> RpcResult<Vec<String>> {
        let params = list(&params)?;
        let prefix = unhex(params.first().and_then(Value::as_str).unwrap_or(""))?;
        let count = params.get(1).and_then(Value::as_u64).ok_or_else(|| invalid_params("missing count"))?;
        if count > 1_000 {
            return Err(invalid_params("count exceeds maximum value (1000)"));
        }
        let start = params.get(2).and_then(Value::as_str).map(unhex).transpose()?;
        let state = node.state_at(hash_param(params.get(3))?).map_err(state_error)?;
        Ok(state.keys_paged(&prefix, count as usize, start.as_deref()).iter().map(|k| hex0x(k)).collect())
    })?;
    m.register_alias("state_getKeysPagedAt", "state_getKeysPaged")?;
    m.register_method("state_queryStorageAt", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let keys: Vec<String> = params
            .first()
            .and_then(Value::as_array)
            .ok_or_else(|| invalid_params("missing keys"))?
            .iter()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        let at = hash_param(params.get(1))?;
        let block = at.unwrap_or_else(|| node.head().hash);
        let state = node.state_at(Some(block)).map_err(state_error)?;
        let changes = keys
            .iter()
            .map(|key| {
                let bytes = unhex(key)?;
                Ok(json!([key, state.raw(&bytes).map(|v| hex0x(v))]))
            })
            .collect::<RpcResult<Vec<_>>>()?;
        Ok(json!([{ "block": hex0x(&block), "changes": changes }]))
    })?;

    // author_*
    m.register_method("author_submitExtrinsic", |params, node: &Node, _| -> RpcResult<String> {
        let bytes = unhex(&string_at(&list(&params)?, 0, "extrinsic")?)?;
        node.submit(&bytes, None).map(|hash| hex0x(&hash)).map_err(submit_error)
    })?;
    m.register_method("author_pendingExtrinsics", |_, _, _| Vec::<String>::new())?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending, node: Arc<Node>, _| async move {
            let bytes = match list(&params).and_then(|p| string_at(&p, 0, "extrinsic")).and_then(|x| unhex(&x)) {
                Ok(bytes) => bytes,
                Err(error) => return pending.reject(error).await,
            };
            let (sender, mut updates) = tokio::sync::mpsc::unbounded_channel();
            if let Err(error) = node.submit(&bytes, Some(sender)) {
                return pending.reject(submit_error(error)).await;
            }
            let Ok(sink) = pending.accept().await else { return };
            while let Some(status) = updates.recv().await {
                let Ok(message) = SubscriptionMessage::new(sink.method_name(), sink.subscription_id(), &status) else {
                    return;
                };
                if sink.send(message).await.is_err() {
                    return;
                }
            }
            // Kept open until the client unwatches, as a node does.
            sink.closed().await;
        },
    )?;

    // payment_*
    m.register_method("payment_queryInfo", |params, _, _| -> RpcResult<Value> {
        let bytes = unhex(&string_at(&list(&params)?, 0, "extrinsic")?)?;
        let info = runtime::query_info(&bytes, bytes.len() as u32).ok_or_else(|| invalid_params("not an extrinsic"))?;
        Ok(json!({
            "weight": { "ref_time": info.weight.ref_time, "proof_size": info.weight.proof_size },
            "class": "normal",
            "partialFee": info.partial_fee.to_string(),
        }))
    })?;
    m.register_method("payment_queryFeeDetails", |params, _, _| -> RpcResult<Value> {
        let bytes = unhex(&string_at(&list(&params)?, 0, "extrinsic")?)?;
        let details =
            runtime::query_fee_details(&bytes, bytes.len() as u32).ok_or_else(|| invalid_params("not an extrinsic"))?;
        let inclusion = details.inclusion_fee.map(|fee| {
            json!({
                "baseFee": format!("0x{:x}", fee.base_fee),
                "lenFee": format!("0x{:x}", fee.len_fee),
                "adjustedWeightFee": format!("0x{:x}", fee.adjusted_weight_fee),
            })
        });
        Ok(json!({ "inclusionFee": inclusion, "tip": "0x0" }))
    })?;

    // devchain_*: what a devchain is given that a real node takes from the network.
    m.register_method("devchain_addPulse", |params, node: &Node, _| -> RpcResult<Value> {
        let params = list(&params)?;
        let round = match params.first() {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(text)) => text.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid_params("missing round (a u64)"))?;
        let signature = unhex(&string_at(&params, 1, "signature")?)?;
        let pulse = node.add_pulse(round, &signature).map_err(|e| invalid_params(e.to_string()))?;
        Ok(json!({ "round": pulse.round, "randomness": hex0x(&pulse.randomness.0) }))
    })?;

    // chainSpec_v1_*
    m.register_method("chainSpec_v1_chainName", |_, _, _| "neuronet devchain")?;
    m.register_method("chainSpec_v1_genesisHash", |_, node: &Node, _| hex0x(&node.genesis()))?;
    m.register_method(
        "chainSpec_v1_properties",
        |_, _, _| json!({ "ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO" }),
    )?;

    let mut names: Vec<String> = m.method_names().map(str::to_owned).collect();
    names.push("rpc_methods".into());
    names.sort();
    m.register_method("rpc_methods", move |_, _, _| json!({ "version": 1, "methods": names }))?;
    Ok(m)
}

async fn follow_heads(pending: PendingSubscriptionSink, node: Arc<Node>) {
    let mut heads = node.subscribe();
    let Ok(sink) = pending.accept().await else { return };
    // A new subscriber hears of the current head at once, as on a substrate node.
    let mut next = Some(node.head().header);
    loop {
        let header = match next.take() {
            Some(header) => header,
            None => match heads.recv().await {
                Ok(header) => header,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
        };
        let Ok(message) = SubscriptionMessage::new(sink.method_name(), sink.subscription_id(), &header_json(&header))
        else {
            return;
        };
        tokio::select! {
            sent = sink.send(message) => if sent.is_err() { return },
            _ = sink.closed() => return,
        }
    }
}
