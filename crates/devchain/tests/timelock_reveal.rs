//! Timelocked weights on the devchain: a real drand quicknet pulse (round 1000) supplied over
//! `devchain_addPulse` is checked against quicknet's key and stored, and a commit made for
//! //Alice (encrypted by bittensor 11.3.0 to round 1000) is revealed in its reveal epoch and its
//! weights read back; a commit whose pulse never comes is dropped when its epoch ends.

use std::time::Duration;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use jsonrpsee::ws_client::WsClientBuilder;
use neuronet_chain::{calls, AccountId, Chain};
use neuronet_devchain::drand::{self, DrandError, OpenedWeights};
use neuronet_devchain::items::{drand as drand_items, subtensor as st};
use neuronet_devchain::{dev_keypair, Config, Devchain};

/// quicknet's signature of round 1000 (`DRAND_PULSE` in subtensor's own tests).
const ROUND_1000: &str =
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";
/// The round-1000 signature subtensor's tests use as a bad pulse: not a G1 point.
const BAD_PULSE: &str =
    "b0a8b04e009cf72534321aca0f50048da596a3feec1172a0244d9a4a623a3123d0402da79854d4c705e94bc73224c341";
/// The payload //Alice committed: uids [0, 1], values [65535, 32768], version key 0.
const PAYLOAD: &str =
    "80d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d080000010008ffff00800000000000000000";
/// That payload encrypted to round 1000 by bittensor 11.3.0 (`bittensor_core.encrypt_at_round`).
const COMMIT: &str = "97aa13a5e7540c1c0ffcbbfb14d9400c9b709a955773be123b56ca53eb5054072f87a376061641b99287d766d8cd5fa5076fc98254fa6eda78d1326a2491a9f3122a06fb93fe9987d17c2a94625f671f2016b1d2edbbb5d9804ea7b08814042f2000000000000000e0de98659b64100991294ce023eef65819a78e1d24c53e1775a83402da671f612000000000000000dbc0ee0835fa49fe084895b6d556ac481556908968e5b06670688a5c5a6e335d5f000000000000004300000000000000730887c29c8415278f2dbeb5b9fdbcdb9bbe2511224ae7314f8e7f53980d7e353586a7a2f85dc9df601ca2144fd8ce9ea79e9a24f1e032be75bf79d2063395ef1865df0c00000000000000901cb7852ea26eeb2c1d8bbc08000000000000004145535f47434d5f";

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

#[test]
fn the_round_1000_pulse_verifies_and_opens_the_commit() {
    let signature = bytes(ROUND_1000);
    drand::verify_pulse(1000, &signature).expect("quicknet's signature of round 1000");
    assert_eq!(drand::verify_pulse(1001, &signature), Err(DrandError::WrongSignature(1001)));
    assert!(matches!(drand::verify_pulse(1000, &bytes(BAD_PULSE)), Err(DrandError::NotASignature(_))));
    let pulse = drand::pulse(1000, &signature).unwrap();
    assert_eq!(hex::encode(&pulse.randomness.0), "fe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd");

    let opened = drand::open(&bytes(COMMIT), &signature).expect("the pulse opens the commit");
    assert_eq!(hex::encode(&opened), PAYLOAD);
    let weights = OpenedWeights::decode(&opened).unwrap();
    assert_eq!(weights.hotkey.as_deref(), Some(dev_keypair("//Alice").hotkey().public().as_slice()));
    assert_eq!((weights.uids, weights.values, weights.version_key), (vec![0, 1], vec![65535, 32768], 0));

    // Tampered or truncated commits are refused, never a panic.
    let mut tampered = bytes(COMMIT);
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert!(drand::open(&tampered, &signature).is_err());
    let commit = bytes(COMMIT);
    for cut in [0, 50, 96, 104, 200, commit.len() - 1] {
        assert!(drand::open(&commit[..cut], &signature).is_err(), "cut at {cut}");
    }
    let mut huge_length = commit.clone();
    huge_length[96..104].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(drand::open(&huge_length, &signature).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timelocked_commit_is_revealed_with_the_supplied_pulse() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let client = Chain::connect(&chain.url()).await.unwrap();
    let rpc = WsClientBuilder::default().build(chain.url()).await.unwrap();
    let alice = dev_keypair("//Alice");
    let bob = dev_keypair("//Bob");
    let (alice_id, bob_id) = (AccountId::from(alice.hotkey()), AccountId::from(bob.hotkey()));
    client.submit(&alice, &calls::register_network(&alice_id)).await.unwrap();
    client.submit(&bob, &calls::burned_register(1, &bob_id)).await.unwrap();
    assert!(client.hyperparameters(1).await.unwrap().commit_reveal_enabled);

    // Pulses that are not quicknet's signature of their round are refused.
    let refused = rpc.request::<serde_json::Value, _>("devchain_addPulse", rpc_params![1000, BAD_PULSE]).await;
    assert!(refused.unwrap_err().to_string().contains("not a quicknet signature"));
    let refused = rpc.request::<serde_json::Value, _>("devchain_addPulse", rpc_params![999, ROUND_1000]).await;
    assert!(refused.unwrap_err().to_string().contains("not quicknet's signature of round 999"));

    // //Alice commits to round 1000; //Bob commits to a round whose pulse never comes.
    let epoch_at = |included: neuronet_chain::Included| {
        chain.node().state_at(Some(included.block_hash)).unwrap().value::<st::SubnetEpochIndex>(&(1,))
    };
    let commit = calls::commit_timelocked_weights(1, &bytes(COMMIT), 1000, 4);
    let alice_epoch = epoch_at(client.submit(&alice, &commit).await.expect("the commit is taken"));
    let commit = calls::commit_timelocked_weights(1, &bytes(COMMIT), 5_000_000, 4);
    let bob_epoch = epoch_at(client.submit(&bob, &commit).await.unwrap());
    let waiting = chain.node().state_at(None).unwrap().value::<st::TimelockedWeightCommits>(&(1, alice_epoch));
    assert!(waiting.iter().any(|(hotkey, _, _, round)| hotkey.0 == *alice.hotkey().public() && *round == 1000));

    let added = rpc.request::<serde_json::Value, _>("devchain_addPulse", rpc_params![1000, ROUND_1000]).await.unwrap();
    assert_eq!(added["randomness"], "0xfe290beca10872ef2fb164d2aa4442de4566183ec51c56ff3cd603d930e54fdd");

    // Within the reveal epoch (commit epoch + RevealPeriodEpochs = 1) //Alice's weights appear.
    let epoch = || chain.node().state_at(None).unwrap().value::<st::SubnetEpochIndex>(&(1,));
    let mut heads = chain.node().subscribe();
    let revealed = loop {
        heads.recv().await.unwrap();
        let weights = client.weights(1, 0).await.unwrap();
        if !weights.is_empty() {
            break weights;
        }
        assert!(epoch() <= alice_epoch + 1, "no reveal by the end of the reveal epoch");
    };
    assert_eq!(revealed, vec![(0, 65535), (1, 32768)]);
    let state = chain.node().state_at(None).unwrap();
    assert_eq!(state.value::<st::SubnetEpochIndex>(&(1,)), alice_epoch + 1, "revealed in the reveal epoch");
    assert_eq!(state.get::<drand_items::Pulses>(&(1000,)).map(|p| p.round), Some(1000));
    assert_eq!(state.value::<drand_items::LastStoredRound>(&()), 1000);

    // When its reveal epoch ends without its pulse, //Bob's commit is dropped, never applied.
    while epoch() < bob_epoch + 2 {
        heads.recv().await.unwrap();
    }
    let state = chain.node().state_at(None).unwrap();
    assert!(!state.contains::<st::TimelockedWeightCommits>(&(1, bob_epoch)));
    assert!(!state.contains::<st::TimelockedWeightCommits>(&(1, alice_epoch)));
    assert!(client.weights(1, 1).await.unwrap().is_empty());
    chain.stop().await;
}
