//! What the devchain does with bad transactions and bad JSON-RPC, over a real WebSocket: the
//! real chain's refusals, and it keeps serving.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use neuronet_devchain::rt::bounded_collections::bounded_vec::BoundedVec;
use neuronet_devchain::rt::sp_runtime::generic::era::Era;
use neuronet_devchain::rt::{
    pallet_balances, pallet_subtensor, sp_runtime::multiaddress::MultiAddress, AccountId32, RuntimeCall,
};
use neuronet_devchain::runtime::{SPEC_VERSION, TRANSACTION_VERSION};
use neuronet_devchain::{dev_keypair, Config, Devchain};
use parity_scale_codec::{Compact, Encode};

struct Tx {
    call: Vec<u8>,
    nonce: u32,
    era: Era,
    birth: [u8; 32],
    genesis: [u8; 32],
    spec: u32,
}

/// A signed v4 extrinsic from //Alice, built by hand as a client does.
fn signed(tx: &Tx, corrupt_signature: bool) -> String {
    let alice = dev_keypair("//Alice");
    let mut extra = tx.era.encode();
    Compact(tx.nonce).encode_to(&mut extra);
    Compact(0u64).encode_to(&mut extra);
    extra.push(0);
    let mut payload = tx.call.clone();
    payload.extend_from_slice(&extra);
    tx.spec.encode_to(&mut payload);
    TRANSACTION_VERSION.encode_to(&mut payload);
    payload.extend_from_slice(&tx.genesis);
    payload.extend_from_slice(&tx.birth);
    payload.push(0);
    let mut signature = alice.sign(&payload).0.to_vec();
    if corrupt_signature {
        signature[0] ^= 1;
    }
    let mut body = vec![0x84, 0x00];
    body.extend_from_slice(alice.hotkey().public());
    body.push(0x01);
    body.extend_from_slice(&signature);
    body.extend_from_slice(&extra);
    body.extend_from_slice(&tx.call);
    let mut bytes = Compact(body.len() as u32).encode();
    bytes.extend_from_slice(&body);
    format!("0x{}", hex::encode(bytes))
}

fn transfer_call() -> Vec<u8> {
    let bob = AccountId32(*dev_keypair("//Bob").hotkey().public());
    RuntimeCall::Balances(pallet_balances::pallet::Call::transfer_keep_alive {
        dest: MultiAddress::Id(bob),
        value: 1_000_000,
    })
    .encode()
}

#[tokio::test]
async fn bad_transactions_are_refused_with_the_real_errors_and_the_chain_keeps_serving() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let client = WsClientBuilder::default().build(chain.url()).await.unwrap();
    let genesis = chain.node().genesis();
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    let submit = |extrinsic: String| {
        let client = &client;
        async move { client.request::<String, _>("author_submitExtrinsic", rpc_params![extrinsic]).await }
    };
    let refusal = |result: Result<String, jsonrpsee::core::ClientError>| match result {
        Err(jsonrpsee::core::ClientError::Call(error)) => {
            (error.code(), error.data().map(|d| d.get().trim_matches('"').to_owned()).unwrap_or_default())
        }
        other => panic!("expected a refusal, got {other:?}"),
    };

    let bad_proof = (1010, "Transaction has a bad signature".to_owned());
    assert_eq!(refusal(submit(signed(&good, true)).await), bad_proof);
    assert_eq!(refusal(submit(signed(&Tx { genesis: [9; 32], ..good }, false)).await), bad_proof, "wrong genesis");
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    assert_eq!(refusal(submit(signed(&Tx { spec: 1, ..good }, false)).await), bad_proof, "wrong spec version");
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    let future = refusal(submit(signed(&Tx { nonce: 5, ..good }, false)).await);
    assert_eq!(future, (1010, "Transaction will be valid in the future".to_owned()));
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    // An era born at a block the chain never had.
    let ancient = Tx { era: Era::Mortal { period: 64, phase: 40 }, ..good };
    assert_eq!(
        refusal(submit(signed(&ancient, false)).await),
        (1010, "Transaction has an ancient birth block".to_owned())
    );
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    // An unknown call: pallet 7, call 250.
    let unknown = Tx { call: vec![7, 250], ..good };
    assert_eq!(refusal(submit(signed(&unknown, false)).await).0, 1001);
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    // Calls nested deeper than the runtime decodes (sudo in sudo, 100,000 times): refused
    // before decoding them could exhaust the stack.
    let mut nested = [12u8, 0].repeat(100_000);
    nested.extend(transfer_call());
    let deep = Tx { call: nested, ..good };
    assert_eq!(refusal(submit(signed(&deep, false)).await).0, 1001);
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    // A timelocked commit over the runtime's 5,000-byte bound.
    let oversized = RuntimeCall::SubtensorModule(pallet_subtensor::pallet::Call::commit_timelocked_weights {
        netuid: 1,
        commit: BoundedVec(vec![0; 5_001]),
        reveal_round: 1_000,
        commit_reveal_version: 4,
    });
    let oversized = Tx { call: oversized.encode(), ..good };
    assert_eq!(refusal(submit(signed(&oversized, false)).await).0, 1001);

    // The good one goes in; sent again once included, its nonce is stale.
    let good = Tx { call: transfer_call(), nonce: 0, era: Era::Immortal, birth: genesis, genesis, spec: SPEC_VERSION };
    submit(signed(&good, false)).await.expect("a good transaction is accepted");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let stale = refusal(submit(signed(&good, false)).await);
    assert_eq!(stale, (1010, "Transaction is outdated".to_owned()));

    // Junk: unknown methods, bad parameters, broken JSON.
    let unknown = client.request::<serde_json::Value, _>("nope_nothing", rpc_params![]).await.unwrap_err();
    assert!(matches!(unknown, jsonrpsee::core::ClientError::Call(ref e) if e.code() == -32601), "{unknown:?}");
    let bad = client.request::<serde_json::Value, _>("state_getStorage", rpc_params![42]).await.unwrap_err();
    assert!(matches!(bad, jsonrpsee::core::ClientError::Call(ref e) if e.code() == -32602), "{bad:?}");
    let head: serde_json::Value = client.request("chain_getHeader", rpc_params![]).await.unwrap();
    assert!(head["number"].as_str().is_some(), "still serving after the junk");
    chain.stop().await;
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_the_chain_keeps_serving() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let bystander = WsClientBuilder::default().build(chain.url()).await.unwrap();
    // The client lets through what the devchain must refuse: one byte over its limit, in hex.
    let limit = neuronet_devchain::rpc::MAX_REQUEST_BYTES as usize;
    let sender = WsClientBuilder::default().max_request_size(2 * limit as u32).build(chain.url()).await.unwrap();
    let huge = format!("0x{}", "ab".repeat(limit / 2 + 1));
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        sender.request::<String, _>("author_submitExtrinsic", rpc_params![huge]),
    )
    .await
    .expect("an answer or a closed connection, not silence");
    match answer {
        Err(jsonrpsee::core::ClientError::Call(error)) => assert_eq!(error.code(), -32007, "{error:?}"),
        Err(jsonrpsee::core::ClientError::RestartNeeded(_) | jsonrpsee::core::ClientError::Transport(_)) => {}
        other => panic!("expected a refusal or a closed connection, got {other:?}"),
    }

    // The devchain still serves: the client that was connected, and a new one.
    let head: serde_json::Value = bystander.request("chain_getHeader", rpc_params![]).await.unwrap();
    assert!(head["number"].as_str().is_some(), "still serving its other clients");
    let fresh = WsClientBuilder::default().build(chain.url()).await.unwrap();
    let version: serde_json::Value = fresh.request("state_getRuntimeVersion", rpc_params![]).await.unwrap();
    assert_eq!(version["specVersion"], SPEC_VERSION);
    chain.stop().await;
}
