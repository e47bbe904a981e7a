//! The online client against a WebSocket server answering with real finney bytes (spec-343
//! metadata and the netuid-1 neurons of block 6852690).

mod common;

use common::replay::{self, Recorded};
use common::{fixture_bytes, fixture_json};
use neuronet_chain::{AccountId, Chain, NeuronCertificate};
use parity_scale_codec::Encode;

fn recorded(certificates: Vec<(Vec<u8>, Vec<u8>)>) -> Recorded {
    Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), fixture_bytes("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.bin")),
        certificates,
    }
}

#[tokio::test]
async fn the_metagraph_of_a_real_finney_subnet_reads_with_its_certificates() {
    let expected = fixture_json("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.decoded.json");
    let first = &expected["decoded"][0];
    let hotkey = AccountId::from_ss58(first["hotkey"].as_str().unwrap()).unwrap();
    let certificate = NeuronCertificate { public_key: vec![0x08, 0x01, 0x12, 0x20, 7, 7], algorithm: 0x4e };
    // NeuronCertificates is keyed (netuid, Blake2_128Concat(hotkey)): the key ends with the hotkey.
    let suffix = [&[0u8; 16][..], hotkey.as_bytes()].concat();
    let (url, server) = replay::start(recorded(vec![(suffix, certificate.encode())])).await;

    let chain = Chain::connect(&url).await.unwrap();
    assert_eq!(chain.block_number().await.unwrap(), replay::HEAD_NUMBER);
    let metagraph = chain.metagraph(1).await.unwrap();
    assert_eq!(metagraph.block, replay::HEAD_NUMBER);
    assert_eq!(metagraph.netuid, 1);
    assert_eq!(metagraph.neurons.len(), 1024);
    let with_certificate: Vec<_> = metagraph.neurons.iter().filter(|n| n.certificate.is_some()).collect();
    assert_eq!(with_certificate.len(), 1);
    assert_eq!(with_certificate[0].hotkey, hotkey);
    assert_eq!(with_certificate[0].certificate.as_ref(), Some(&certificate));
    assert_eq!(metagraph.neuron(5).unwrap().uid, 5);
    server.stop().unwrap();
}

#[tokio::test]
async fn an_unreachable_node_is_an_error_in_time() {
    let error = Chain::connect_within("ws://127.0.0.1:1", std::time::Duration::from_millis(500)).await.unwrap_err();
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    assert!(Chain::connect("http://example.com").await.is_err());
}

/// Moves the axon of the first serving neuron with a one-byte uid to `port`, in the answer the
/// server gives from now on; its hotkey.
fn move_axon(replay: &replay::Replay, port: u16) -> (AccountId, std::net::SocketAddr) {
    let expected = fixture_json("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.decoded.json");
    let neuron = expected["decoded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["axon_info"]["ip"].as_u64().unwrap() != 0 && n["uid"].as_u64().unwrap() < 64)
        .unwrap();
    let start = neuron["_byte_range"][0].as_u64().unwrap() as usize;
    // hotkey, coldkey, uid and netuid (one byte each as compacts), active, then the axon's block,
    // version and ip before its port.
    let at = start + 32 + 32 + 1 + 1 + 1 + 8 + 4 + 16;
    replay.neurons.lock().unwrap()[at..at + 2].copy_from_slice(&port.to_le_bytes());
    let ip: std::net::IpAddr = neuron["axon_info"]["ip_str"].as_str().unwrap().parse().unwrap();
    (AccountId::from_ss58(neuron["hotkey"].as_str().unwrap()).unwrap(), std::net::SocketAddr::new(ip, port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reports_a_moved_axon_and_resumes_after_the_node_drops() {
    use neuronet_chain::Change;
    use std::time::Duration;
    let within = Duration::from_secs(30);
    let replay = replay::Replay::new(recorded(vec![]));
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let chain = Chain::connect(&url).await.unwrap();
    let mut watcher = chain.watch(1, 2);

    let first = tokio::time::timeout(within, watcher.next()).await.unwrap().unwrap();
    assert_eq!(first.metagraph.neurons.len(), 1024);
    assert_eq!(first.changes.len(), 1024);
    assert!(first.changes.iter().all(|c| matches!(c, Change::Joined { .. })));

    // A miner moves: the next reads (every 2 blocks) report it, and nothing else.
    let (hotkey, moved_to) = move_axon(&replay, 9_001);
    let update = tokio::time::timeout(within, watcher.next()).await.unwrap().unwrap();
    let [Change::AxonMoved { hotkey: who, to, .. }] = &update.changes[..] else { panic!("{:?}", update.changes) };
    assert_eq!((*who, *to), (hotkey, Some(moved_to)));

    // The node goes away and comes back at the same address, where the miner moved again.
    let addr = url.trim_start_matches("ws://").to_owned();
    server.stop().unwrap();
    server.stopped().await;
    let (_, moved_again) = move_axon(&replay, 9_002);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, server) = replay::serve(replay.clone(), &addr).await;
    let update = tokio::time::timeout(within, watcher.next()).await.unwrap().unwrap();
    let [Change::AxonMoved { to, .. }] = &update.changes[..] else { panic!("{:?}", update.changes) };
    assert_eq!(*to, Some(moved_again));

    // On demand: a read now, changed or not.
    watcher.refresh();
    let update = tokio::time::timeout(within, watcher.next()).await.unwrap().unwrap();
    assert!(update.changes.is_empty());
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_chain_refuses_reports_the_chains_error_name_and_one_it_takes_its_block() {
    use neuronet_chain::calls::{self, Serving};
    use neuronet_chain::{normalise, Error, WeightsSubmitted};
    let replay = replay::Replay::new(recorded(vec![]));
    let metadata = subxt::Metadata::decode_from(&fixture_bytes("metadata/finney_spec343_v15.scale")[..]).unwrap();
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let chain = Chain::connect(&url).await.unwrap();
    let hotkey = neuronet_synapse::Keypair::from_suri("//Alice", neuronet_synapse::CryptoType::Sr25519).unwrap();
    let serving = Serving::new(1, "203.0.113.7".parse().unwrap(), 8091);

    *replay.events.lock().unwrap() =
        common::events::module_error(&metadata, "SubtensorModule", "HotKeyNotRegisteredInSubNet");
    let error = chain.submit(&hotkey, &calls::serve_axon(serving)).await.unwrap_err();
    let Error::Module { pallet, name, .. } = &error else { panic!("{error}") };
    assert_eq!((pallet.as_str(), name.as_str()), ("SubtensorModule", "HotKeyNotRegisteredInSubNet"));
    assert!(error.to_string().contains("SubtensorModule::HotKeyNotRegisteredInSubNet"), "{error}");

    // What went to the node is a serve_axon signed by the hotkey, for this chain.
    let sent = replay.submitted.lock().unwrap().last().cloned().unwrap();
    let sent = hex::decode(sent.trim_start_matches("0x")).unwrap();
    assert!(sent.windows(32).any(|w| w == hotkey.hotkey().public()));
    assert!(sent.windows(2).any(|w| w == [0x07, 0x04]));

    *replay.events.lock().unwrap() = common::events::success(&metadata);
    let included = chain.submit(&hotkey, &calls::serve_axon(serving)).await.unwrap();
    assert_eq!(hex::encode(included.block_hash), replay::TX_BLOCK.trim_start_matches("0x"));

    // Commit-reveal is on by default: the weights go out as a timelocked commit.
    let weights = normalise(&[0, 1], &[1.0, 0.5]).unwrap();
    let submitted = chain.set_weights(&hotkey, 1, &weights).await.unwrap();
    let WeightsSubmitted::Committed { reveal_round, .. } = submitted else { panic!("{submitted:?}") };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(reveal_round > neuronet_chain::timelock::round_at(now), "a round in the future");
    let sent = replay.submitted.lock().unwrap().last().cloned().unwrap();
    assert!(sent.contains("0776"), "commit_timelocked_mechanism_weights");
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_upgrade_is_followed_without_a_restart() {
    let replay = replay::Replay::new(recorded(vec![]));
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let chain = Chain::connect(&url).await.unwrap();
    let extensions = |at: &subxt::client::OnlineClientAtBlock<subxt::SubstrateConfig>| -> Vec<String> {
        let metadata = at.metadata_ref();
        let list = metadata.extrinsic().transaction_extensions_by_version(0).unwrap();
        list.map(|e| e.identifier().to_owned()).collect()
    };
    let at = chain.api().at_current_block().await.unwrap();
    assert_eq!(at.spec_version(), 343);
    assert!(!extensions(&at).contains(&"CheckShieldedTxValidity".to_owned()));
    assert_eq!(chain.metagraph(1).await.unwrap().neurons.len(), 1024);

    // The node upgrades its runtime to spec 393, which adds a transaction extension.
    *replay.runtime.lock().unwrap() = (393, fixture_bytes("metadata/finney_spec393_v15.scale"));
    let at = chain.api().at_current_block().await.unwrap();
    assert_eq!(at.spec_version(), 393);
    assert!(extensions(&at).contains(&"CheckShieldedTxValidity".to_owned()));
    assert_eq!(chain.metagraph(1).await.unwrap().neurons.len(), 1024);
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_to_the_runtimes_defaults_and_nonces_follow_the_pool() {
    use neuronet_chain::calls::{self, Serving};
    let replay = replay::Replay::new(recorded(vec![]));
    let metadata = subxt::Metadata::decode_from(&fixture_bytes("metadata/finney_spec343_v15.scale")[..]).unwrap();
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let chain = Chain::connect(&url).await.unwrap();
    let nobody = AccountId([3; 32]);
    assert_eq!(chain.free_balance(&nobody).await.unwrap(), 0);
    assert_eq!(chain.uid(1, &nobody).await.unwrap(), None);
    let parameters = chain.hyperparameters(1).await.unwrap();
    assert!(parameters.commit_reveal_enabled);
    assert_eq!(parameters.weights_rate_limit, 100);
    assert_eq!(parameters.serving_rate_limit, 50);
    assert_eq!(parameters.reveal_period_epochs, 1);

    // Two transactions back to back take consecutive nonces from the pool.
    *replay.events.lock().unwrap() = common::events::success(&metadata);
    let hotkey = neuronet_synapse::Keypair::from_suri("//Bob", neuronet_synapse::CryptoType::Ed25519).unwrap();
    let serving = Serving::new(1, "203.0.113.7".parse().unwrap(), 8091);
    chain.submit(&hotkey, &calls::serve_axon(serving)).await.unwrap();
    chain.submit(&hotkey, &calls::serve_axon(serving)).await.unwrap();
    let nonces: Vec<u8> = replay
        .submitted
        .lock()
        .unwrap()
        .iter()
        .map(|tx| {
            let bytes = hex::decode(tx.trim_start_matches("0x")).unwrap();
            // Length (2 bytes), version, address (1 + 32), signature (1 + 64), mortal era (2).
            assert_eq!(bytes[2 + 1 + 33], 0x00, "MultiSignature::Ed25519");
            bytes[2 + 1 + 33 + 65 + 2] >> 2
        })
        .collect();
    assert_eq!(nonces, [0, 1]);
    server.stop().unwrap();
}
