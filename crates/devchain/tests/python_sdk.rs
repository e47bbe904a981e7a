//! bittensor 10.5.0's `Subtensor` (in a venv the test makes) reading the devchain over a real
//! WebSocket agrees with neuronet's chain client: neurons, the metagraph, balances and weights;
//! a transfer it signs is taken.

#[path = "../../chain/tests/common/python.rs"]
mod python;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use neuronet_chain::{calls, AccountId, Chain};
use neuronet_devchain::{dev_keypair, Config, Devchain};
use subxt::dynamic::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bittensor_10_reads_what_neuronet_reads() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let client = Chain::connect(&chain.url()).await.unwrap();
    let alice = dev_keypair("//Alice");
    let bob = dev_keypair("//Bob");
    let alice_id = AccountId::from(alice.hotkey());
    let bob_id = AccountId::from(bob.hotkey());
    client.submit(&alice, &calls::register_network(&alice_id)).await.unwrap();
    client.submit(&bob, &calls::burned_register(1, &bob_id)).await.unwrap();
    let serving = calls::Serving::new(1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 8091);
    client.submit(&bob, &calls::serve_axon(serving)).await.unwrap();
    let off = Value::named_variant(
        "sudo_set_commit_reveal_weights_enabled",
        [("netuid", Value::u128(1)), ("enabled", Value::bool(false))],
    );
    let sudo = subxt::dynamic::tx("Sudo", "sudo", vec![Value::unnamed_variant("AdminUtils", [off])]);
    client.submit(&alice, &sudo).await.unwrap();
    let weights = neuronet_chain::normalise(&[0, 1], &[1.0, 0.5]).unwrap();
    client.set_weights(&alice, 1, &weights).await.unwrap();

    let metagraph = client.metagraph(1).await.unwrap();
    let balance = client.free_balance(&bob_id).await.unwrap();
    let url = chain.url();
    let bob_ss58 = bob_id.to_string();
    let seen = tokio::task::spawn_blocking(move || {
        python::run_separate("bittensor10", "bittensor10.txt", "devchain_peer.py", &["read", &url, "1", &bob_ss58])
    })
    .await
    .unwrap();

    let neurons = seen["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), metagraph.neurons.len());
    for (theirs, ours) in neurons.iter().zip(&metagraph.neurons) {
        assert_eq!(theirs["uid"], ours.uid);
        assert_eq!(theirs["hotkey"], ours.hotkey.to_string());
        assert_eq!(theirs["coldkey"], ours.coldkey.to_string());
        assert_eq!(theirs["port"], ours.axon.port);
    }
    assert_eq!(neurons[1]["ip"], "10.0.0.7");
    let hotkeys: Vec<String> = metagraph.neurons.iter().map(|n| n.hotkey.to_string()).collect();
    assert_eq!(seen["metagraph"]["n"], metagraph.neurons.len());
    assert_eq!(seen["metagraph"]["hotkeys"], serde_json::json!(hotkeys));
    assert_eq!(seen["metagraph"]["ports"], serde_json::json!([0, 8091]));
    assert_eq!(seen["balance_rao"], balance);
    assert_eq!(seen["weights"], serde_json::json!([[0, [[0, 65535], [1, 32768]]]]));

    // A transfer signed by bittensor 10.5.0 is taken, and both sides read the same balance.
    let receiver = neuronet_synapse::Keypair::generate(12, neuronet_synapse::CryptoType::Sr25519).unwrap();
    let receiver = AccountId::from(receiver.hotkey());
    let wallets = tempfile::tempdir().unwrap();
    let (url, dest, dir) = (chain.url(), receiver.to_string(), wallets.path().display().to_string());
    let sent = tokio::task::spawn_blocking(move || {
        let args = ["transfer", url.as_str(), "//Charlie", dest.as_str(), "7000000000", dir.as_str()];
        python::run_separate("bittensor10", "bittensor10.txt", "devchain_peer.py", &args)
    })
    .await
    .unwrap();
    assert_eq!(sent["success"], true, "{sent}");
    assert_eq!(client.free_balance(&receiver).await.unwrap(), 7_000_000_000);
    assert_eq!(sent["balance_rao"], 7_000_000_000u64);
    chain.stop().await;
}
