//! The whole path on the devchain, over real sockets: a subnet created, a miner funded,
//! registered and serving with its certificate, a validator's watcher seeing it within two
//! blocks, the validator querying it over QUIC by uid, weights set directly and by
//! commit-reveal and read back, and the miner moving to another port without the validator
//! restarting.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use neuronet::chain::{calls, commit_hash, normalise, AccountId, Chain, NeuronCertificate};
use neuronet::{builtin::Ping, discovery, proto, Axon, AxonConfig, AxonHandle, CryptoType, Dendrite, DendriteConfig};
use neuronet::{Directory, Keypair, Status};
use neuronet_devchain::{dev_keypair, Config, Devchain};
use subxt::dynamic::Value;

const MINER: &str = "//NeuronetMiner";

async fn miner() -> AxonHandle {
    Axon::new(dev_keypair(MINER), AxonConfig::default())
        .serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 7, version: "miner".into() }) })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
        .await
        .unwrap()
}

async fn announce(chain: &Chain, hotkey: &Keypair, axon: &AxonHandle) -> u64 {
    let serving = calls::Serving::new(1, IpAddr::V4(Ipv4Addr::LOCALHOST), axon.port().unwrap());
    let (algorithm, public_key) = axon.certificate();
    chain.submit(hotkey, &calls::serve_axon_tls(serving, &NeuronCertificate { public_key, algorithm })).await.unwrap();
    chain.block_number().await.unwrap()
}

/// `AdminUtils::call(netuid 1, value)` as root, through //Alice's sudo key.
async fn set(chain: &Chain, call: &str, field: &str, value: Value) {
    let inner = Value::named_variant(call, [("netuid", Value::u128(1)), (field, value)]);
    let sudo = subxt::dynamic::tx("Sudo", "sudo", vec![Value::unnamed_variant("AdminUtils", [inner])]);
    chain.submit(&dev_keypair("//Alice"), &sudo).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_and_a_validator_meet_on_the_devchain() {
    let devchain =
        Devchain::start(Config { block_time: Duration::from_millis(500), ..Config::default() }).await.unwrap();
    let chain = Chain::connect(&devchain.url()).await.unwrap();
    let validator = dev_keypair("//Alice");
    let validator_id = AccountId::from(validator.hotkey());
    chain.submit(&validator, &calls::register_network(&validator_id)).await.unwrap();
    set(&chain, "sudo_set_serving_rate_limit", "serving_rate_limit", Value::u128(0)).await;
    set(&chain, "sudo_set_weights_set_rate_limit", "weights_set_rate_limit", Value::u128(0)).await;
    set(&chain, "sudo_set_commit_reveal_weights_enabled", "enabled", Value::bool(false)).await;

    // The validator follows the subnet from the start.
    let directory = Directory::new();
    let following = tokio::spawn(discovery::follow(directory.clone(), chain.watch(1, 1)));
    let dendrite =
        Dendrite::with_directory(dev_keypair("//Alice"), DendriteConfig::default(), directory.clone()).await.unwrap();
    let caller = discovery::Caller::new(dendrite, dev_keypair("//Alice"));

    // A miner's coldkey is funded; it registers its hotkey and serves.
    let coldkey = Keypair::generate(12, CryptoType::Sr25519).unwrap();
    let hotkey = dev_keypair(MINER);
    chain
        .submit(&validator, &calls::transfer_keep_alive(&AccountId::from(coldkey.hotkey()), 10_000_000_000))
        .await
        .unwrap();
    chain.submit(&coldkey, &calls::burned_register(1, &AccountId::from(hotkey.hotkey()))).await.unwrap();
    let axon = miner().await;
    let served_at = announce(&chain, &hotkey, &axon).await;
    while directory.get(&hotkey.hotkey()).and_then(|e| e.peer_id) != Some(axon.peer_id()) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen_at = chain.block_number().await.unwrap();
    assert!(seen_at <= served_at + 2, "served at block {served_at}, seen at {seen_at}");

    // The validator queries it over QUIC by uid.
    let metagraph = chain.metagraph(1).await.unwrap();
    let miner_uid = metagraph.by_hotkey(&AccountId::from(hotkey.hotkey())).unwrap().uid;
    let neuron = metagraph.neuron(miner_uid).unwrap();
    assert_eq!(caller.wire_for(neuron), Some(discovery::Wire::Quic));
    let answer = caller.query::<Ping>(neuron, proto::PingRequest {}, Duration::from_secs(10)).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);

    // Weights with commit-reveal off, read back from chain state.
    let weights = normalise(&[miner_uid], &[1.0]).unwrap();
    chain.set_weights(&validator, 1, &weights).await.unwrap();
    assert_eq!(chain.weights(1, 0).await.unwrap(), vec![(miner_uid, 65535)]);

    // With it on: a commit, then its reveal in the next epoch.
    set(&chain, "sudo_set_commit_reveal_weights_enabled", "enabled", Value::bool(true)).await;
    let weights = normalise(&[0, miner_uid], &[0.5, 1.0]).unwrap();
    let salt = [1, 2, 3, 4];
    let hash = commit_hash(&validator_id, 1, &weights.uids, &weights.values, &salt, 0);
    chain.submit(&validator, &calls::commit_weights(1, hash)).await.unwrap();
    let hyper = chain.hyperparameters(1).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match chain.submit(&validator, &calls::reveal_weights(1, &weights, &salt, 0)).await {
            Ok(_) => break,
            Err(neuronet::chain::Error::Module { name, .. }) if name == "RevealTooEarly" => {
                assert!(tokio::time::Instant::now() < deadline, "the reveal epoch never came (tempo {})", hyper.tempo);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(other) => panic!("reveal: {other}"),
        }
    }
    assert_eq!(chain.weights(1, 0).await.unwrap(), vec![(0, 32768), (miner_uid, 65535)]);

    // The miner restarts on another port with a new identity; the validator follows.
    drop(axon);
    let moved = miner().await;
    announce(&chain, &hotkey, &moved).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while directory.get(&hotkey.hotkey()).and_then(|e| e.peer_id) != Some(moved.peer_id()) {
        assert!(tokio::time::Instant::now() < deadline, "the directory never followed the miner");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metagraph = chain.metagraph(1).await.unwrap();
    let neuron = metagraph.neuron(miner_uid).unwrap();
    let mut answer = caller.query::<Ping>(neuron, proto::PingRequest {}, Duration::from_secs(10)).await;
    if answer.status != Status::Success {
        // The first query may still meet the old connection's end; the next dials afresh.
        answer = caller.query::<Ping>(neuron, proto::PingRequest {}, Duration::from_secs(10)).await;
    }
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    following.abort();
    devchain.stop().await;
}
