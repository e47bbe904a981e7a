//! bittensor 11.3.0's client (its own JSON-RPC transport and bittensor-core codec, in a venv the
//! test makes) on the devchain over a real WebSocket: neurons, the metagraph and balances agree
//! with neuronet's chain client; its `ServeAxon` and `SetWeights` intents are taken, with weights
//! set directly and by a timelocked commit.

#[path = "../../chain/tests/common/python.rs"]
mod python;

use std::time::Duration;

use neuronet_chain::{calls, AccountId, Chain};
use neuronet_devchain::{dev_keypair, Config, Devchain};
use subxt::dynamic::Value;

fn bittensor11(args: Vec<String>) -> serde_json::Value {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    python::run_separate("bittensor11", "bittensor11.txt", "devchain_peer11.py", &args)
}

async fn peer(args: &[&str]) -> serde_json::Value {
    let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
    tokio::task::spawn_blocking(move || bittensor11(args)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bittensor_11_reads_serves_and_sets_weights() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let url = chain.url();
    let client = Chain::connect(&url).await.unwrap();
    let alice = dev_keypair("//Alice");
    let bob = dev_keypair("//Bob");
    let (alice_id, bob_id) = (AccountId::from(alice.hotkey()), AccountId::from(bob.hotkey()));
    client.submit(&alice, &calls::register_network(&alice_id)).await.unwrap();
    client.submit(&bob, &calls::burned_register(1, &bob_id)).await.unwrap();

    // Reads agree with neuronet's.
    let seen = peer(&["read", &url, "1", &bob_id.to_string()]).await;
    let metagraph = client.metagraph(1).await.unwrap();
    let neurons = seen["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), metagraph.neurons.len());
    for (theirs, ours) in neurons.iter().zip(&metagraph.neurons) {
        assert_eq!(theirs["uid"], ours.uid);
        assert_eq!(theirs["hotkey"], ours.hotkey.to_string());
        assert_eq!(theirs["coldkey"], ours.coldkey.to_string());
    }
    let hotkeys: Vec<String> = metagraph.neurons.iter().map(|n| n.hotkey.to_string()).collect();
    assert_eq!(seen["metagraph"]["hotkeys"], serde_json::json!(hotkeys));
    assert_eq!(seen["balance_rao"], client.free_balance(&bob_id).await.unwrap());

    // ServeAxon, signed by //Bob's hotkey.
    let served = peer(&["serve", &url, "//Bob", "1", "10.0.0.9", "8092"]).await;
    assert_eq!(served["success"], true, "{served}");
    let bob_neuron = client.metagraph(1).await.unwrap();
    let bob_neuron = bob_neuron.by_hotkey(&bob_id).unwrap();
    assert_eq!(bob_neuron.axon.port, 8092);

    // SetWeights with commit-reveal on: a timelocked commit (revealed once its pulse is given).
    let committed = peer(&["weights", &url, "//Alice", "1", "0,1", "1.0,0.5"]).await;
    assert_eq!(committed["success"], true, "{committed}");
    let state = chain.node().state_at(None).unwrap();
    let epoch = state.value::<neuronet_devchain::items::subtensor::SubnetEpochIndex>(&(1,));
    let waiting = (epoch.saturating_sub(1)..=epoch)
        .map(|e| state.value::<neuronet_devchain::items::subtensor::TimelockedWeightCommits>(&(1, e)).len())
        .sum::<usize>();
    assert_eq!(waiting, 1, "the commit waits on chain: {committed}");

    // SetWeights with commit-reveal off: set directly and read back by neuronet.
    let off = Value::named_variant(
        "sudo_set_commit_reveal_weights_enabled",
        [("netuid", Value::u128(1)), ("enabled", Value::bool(false))],
    );
    let sudo = subxt::dynamic::tx("Sudo", "sudo", vec![Value::unnamed_variant("AdminUtils", [off])]);
    client.submit(&alice, &sudo).await.unwrap();
    let set = peer(&["weights", &url, "//Bob", "1", "0,1", "0.25,1.0"]).await;
    assert_eq!(set["success"], true, "{set}");
    assert_eq!(client.weights(1, 1).await.unwrap(), vec![(0, 16384), (1, 65535)]);
    chain.stop().await;
}
