//! From the chain to a query: a miner's axon and certificate in the metagraph a node serves, the
//! directory synced from it, a validator's dendrite reaching the miner by hotkey alone, and
//! following the miner when it moves to another address and identity.

#[path = "../crates/chain/tests/common/mod.rs"]
mod common;

use common::fixture_bytes;
use common::replay::{self, Recorded, Replay};
use neuronet::chain::{AccountId, AxonInfo, Chain, NeuronCertificate, PrometheusInfo};
use neuronet::{
    builtin::Ping, discovery, proto, Axon, AxonConfig, AxonHandle, CryptoType, Dendrite, DendriteConfig, Directory,
    Keypair, Status, Target,
};
use parity_scale_codec::{Compact, Encode};
use std::time::Duration;

fn key(suri: &str) -> Keypair {
    Keypair::from_suri(suri, CryptoType::Sr25519).unwrap()
}

async fn miner() -> AxonHandle {
    Axon::new(key("//Bob"), AxonConfig::default())
        .serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 7, version: "miner".into() }) })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
        .await
        .unwrap()
}

fn port_of(axon: &AxonHandle) -> u16 {
    let addr = axon.listen_addrs()[0].to_string();
    let parts: Vec<&str> = addr.split('/').collect();
    parts[parts.iter().position(|p| *p == "udp").unwrap() + 1].parse().unwrap()
}

/// One neuron as `get_neurons_lite` encodes it.
fn neuron(uid: u16, hotkey: &Keypair, port: u16, permit: bool) -> Vec<u8> {
    let axon = AxonInfo {
        ip: u128::from(u32::from_be_bytes([127, 0, 0, 1])),
        port,
        ip_type: 4,
        protocol: 4,
        ..AxonInfo::default()
    };
    let mut out = Vec::new();
    hotkey.hotkey().public().encode_to(&mut out);
    [9u8; 32].encode_to(&mut out);
    Compact(uid).encode_to(&mut out);
    Compact(1u16).encode_to(&mut out);
    true.encode_to(&mut out);
    axon.encode_to(&mut out);
    PrometheusInfo::default().encode_to(&mut out);
    vec![([9u8; 32], Compact(1_000_000_000u64))].encode_to(&mut out);
    Compact(0u16).encode_to(&mut out); // rank
    Compact(0u64).encode_to(&mut out); // emission
    for _ in 0..5 {
        Compact(0u16).encode_to(&mut out); // incentive, consensus, trust, validator_trust, dividends
    }
    Compact(0u64).encode_to(&mut out); // last_update
    permit.encode_to(&mut out);
    Compact(0u16).encode_to(&mut out); // pruning_score
    out
}

fn neurons(bob_port: u16) -> Vec<u8> {
    let mut answer = Compact(2u32).encode();
    answer.extend(neuron(0, &key("//Alice"), 0, true));
    answer.extend(neuron(1, &key("//Bob"), bob_port, false));
    answer
}

fn certificate(axon: &AxonHandle) -> (Vec<u8>, Vec<u8>) {
    let (algorithm, public_key) = axon.certificate();
    let suffix = [&[0u8; 16][..], axon.hotkey().public()].concat();
    (suffix, NeuronCertificate { public_key, algorithm }.encode())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_reaches_a_miner_by_hotkey_from_the_metagraph_and_follows_it_when_it_moves() {
    let axon = miner().await;
    let replay = Replay::new(Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), neurons(port_of(&axon))),
        certificates: vec![certificate(&axon)],
    });
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let chain = Chain::connect(&url).await.unwrap();

    let metagraph = chain.metagraph(1).await.unwrap();
    let directory = Directory::new();
    let report = discovery::sync(&directory, &metagraph);
    assert_eq!(report.joined.len(), 2);
    let bob = AccountId::from(key("//Bob").hotkey());
    assert_eq!(discovery::neuronet_peer_id(metagraph.by_hotkey(&bob).unwrap()), Some(axon.peer_id()));

    let dendrite =
        Dendrite::with_directory(key("//Alice"), DendriteConfig::default(), directory.clone()).await.unwrap();
    let target = discovery::target(&metagraph, 1).unwrap();
    let answer = dendrite.query::<Ping>(&target, proto::PingRequest {}).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    // The validator's own entry carries its facts for an axon's blacklist and priority.
    let alice = directory.get(&key("//Alice").hotkey()).unwrap();
    assert!(alice.facts.validator_permit && alice.facts.registered && alice.addrs.is_empty());

    // The miner restarts elsewhere with a new identity and announces it; the directory follows.
    let following = tokio::spawn(discovery::follow(directory.clone(), chain.watch(1, 1)));
    drop(axon);
    let moved = miner().await;
    *replay.neurons.lock().unwrap() = neurons(port_of(&moved));
    *replay.certificates.lock().unwrap() = vec![certificate(&moved)];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while directory.get(&moved.hotkey()).and_then(|e| e.peer_id) != Some(moved.peer_id()) {
        assert!(tokio::time::Instant::now() < deadline, "the directory never followed the miner");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answer = dendrite.query::<Ping>(&Target::Hotkey(moved.hotkey()), proto::PingRequest {}).await;
    if answer.status != Status::Success {
        // The first query may still meet the old connection's end; the next dials afresh.
        answer = dendrite.query::<Ping>(&Target::Hotkey(moved.hotkey()), proto::PingRequest {}).await;
    }
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    following.abort();
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_reaches_neuronet_miners_over_quic_and_the_others_over_http() {
    use neuronet::discovery::{Caller, Wire};
    use neuronet::HttpListen;
    // Bob: a neuronet axon with its certificate. Charlie: an axon announced without one,
    // answering bittensor 10's HTTP wire at the announced port.
    let quic_miner = miner().await;
    let http_miner =
        Axon::new(key("//Charlie"), AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap())))
            .serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 9, version: "http".into() }) })
            .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
            .await
            .unwrap();
    let mut answer = Compact(3u32).encode();
    answer.extend(neuron(0, &key("//Alice"), 0, true));
    answer.extend(neuron(1, &key("//Bob"), port_of(&quic_miner), false));
    answer.extend(neuron(2, &key("//Charlie"), http_miner.http_addr().unwrap().port(), false));
    let replay = Replay::new(Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), answer),
        certificates: vec![certificate(&quic_miner)],
    });
    let (url, server) = replay::serve(replay, "127.0.0.1:0").await;
    let metagraph = Chain::connect(&url).await.unwrap().metagraph(1).await.unwrap();
    let directory = Directory::new();
    discovery::sync(&directory, &metagraph);
    let dendrite = Dendrite::with_directory(key("//Alice"), DendriteConfig::default(), directory).await.unwrap();
    let caller = Caller::new(dendrite, key("//Alice"));

    let (bob, charlie) = (metagraph.neuron(1).unwrap(), metagraph.neuron(2).unwrap());
    assert_eq!(caller.wire_for(bob), Some(Wire::Quic));
    assert_eq!(caller.wire_for(charlie), Some(Wire::Http(charlie.axon.socket_addr().unwrap())));
    assert_eq!(caller.wire_for(metagraph.neuron(0).unwrap()), None, "the validator serves nothing");
    let timeout = Duration::from_secs(10);
    let over_quic = caller.query::<Ping>(bob, proto::PingRequest {}, timeout).await;
    assert_eq!(over_quic.status, Status::Success, "{}", over_quic.message);
    assert_eq!(over_quic.body.unwrap().version, "miner");
    let over_http = caller.query::<Ping>(charlie, proto::PingRequest {}, timeout).await;
    assert_eq!(over_http.status, Status::Success, "{}", over_http.message);
    assert_eq!(over_http.body.unwrap().now_ns, 9);
    server.stop().unwrap();
}
