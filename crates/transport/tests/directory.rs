//! Targets resolved through the Directory, the persisted node identity, undecodable answers,
//! directory facts in the blacklist, and the metrics a node exposes.

mod common;

use common::*;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::{proto, synapse, Status};
use neuronet_transport::{
    load_or_create_identity, Axon, AxonConfig, Dendrite, DendriteConfig, Directory, NetworkConfig, PeerFacts, Target,
};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_by_hotkey_resolve_through_the_directory() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let directory = Directory::new();
    let dendrite =
        Dendrite::with_directory(key("//Alice"), DendriteConfig::default(), directory.clone()).await.unwrap();

    // Not in the directory yet: unreachable, with a reason.
    let unknown = dendrite.query_within::<TextGeneration>(&Target::Hotkey(axon.hotkey()), prompt("x"), T).await;
    assert_eq!(unknown.status, Status::Unavailable);
    assert!(unknown.message.contains("not in the directory"), "{}", unknown.message);

    directory.insert(axon.hotkey(), Some(axon.peer_id()), axon.listen_addrs().to_vec(), PeerFacts::default());
    let answer =
        dendrite.query_within::<TextGeneration>(&Target::Hotkey(axon.hotkey()), prompt("via directory"), T).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert_eq!(answer.body.unwrap().text, echo_of("via directory"));

    // forward: one answer per target, in order, never failing as a whole.
    let nobody = key("//Nobody").hotkey();
    let answers = dendrite
        .forward_within::<TextGeneration>(&[Target::Hotkey(axon.hotkey()), Target::Hotkey(nobody)], prompt("both"), T)
        .await;
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0].status, Status::Success);
    assert_eq!(answers[1].status, Status::Unavailable);
    assert_eq!(answers[1].target, nobody);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_identity_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("identity.key");
    let config = AxonConfig::default().with_network(NetworkConfig::default().with_identity_path(&path));
    let first = echo_axon("//Bob", config.clone()).await.peer_id();
    let second = echo_axon("//Bob", config).await.peer_id();
    assert_eq!(first, second, "same PeerId from the persisted identity");
    assert_eq!(load_or_create_identity(&path).unwrap().public().to_peer_id(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    std::fs::write(&path, b"not a key").unwrap();
    let err = load_or_create_identity(&path).unwrap_err();
    assert!(err.to_string().contains("identity.key"), "{err}");
}

/// A response type that cannot decode what the echo axon sends for `TextGeneration`: field 1
/// is a string there and a fixed64 here.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct Mismatched {
    #[prost(fixed64, tag = "1")]
    pub text: u64,
}

synapse! {
    #[name = "TextGeneration"]
    pub struct WrongShape: proto::TextGenerationRequest => Mismatched;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_answer_is_422() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let answer = dendrite.query_within::<WrongShape>(&target(&axon), prompt("hello"), T).await;
    assert_eq!(answer.status, Status::Unprocessable, "{}", answer.message);
    assert!(answer.message.contains("Failed to parse response"), "{}", answer.message);
    assert!(answer.body.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_facts_drive_the_built_in_blacklist() {
    let directory = Directory::new();
    let validator = key("//Alice").hotkey();
    let config = AxonConfig::default().with_require_validator_permit(true).with_min_stake(1_000);
    let axon = with_echo(Axon::new(key("//Bob"), config).with_directory(directory.clone()))
        .start([loopback4()])
        .await
        .unwrap();
    let dendrite = dendrite("//Alice").await;
    let refused = dendrite.query_within::<TextGeneration>(&target(&axon), prompt("x"), T).await;
    assert_eq!(refused.status, Status::Forbidden, "{}", refused.message);
    assert!(refused.message.contains("no validator permit"), "{}", refused.message);

    let facts = PeerFacts { uid: Some(0), stake: 500, validator_permit: true, registered: true };
    directory.insert(validator, None, vec![], facts.clone());
    let low = dendrite.query_within::<TextGeneration>(&target(&axon), prompt("x"), T).await;
    assert_eq!(low.status, Status::Forbidden);
    assert!(low.message.contains("stake"), "{}", low.message);

    directory.insert(validator, None, vec![], PeerFacts { stake: 5_000, ..facts });
    let ok = dendrite.query_within::<TextGeneration>(&target(&axon), prompt("x"), T).await;
    assert_eq!(ok.status, Status::Success, "{}", ok.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_status() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    assert_echo(&dendrite, &target(&axon), "one").await;
    let failed = dendrite.query_within::<TextGeneration>(&target(&axon), prompt("panic"), T).await;
    assert_eq!(failed.status, Status::InternalError, "{}", failed.message);

    let mut registry = prometheus_client::registry::Registry::default();
    axon.metrics().register(&mut registry, "neuronet_axon");
    dendrite.metrics().register(&mut registry, "neuronet_dendrite");
    // The axon counts a request right after answering it: give it a moment to catch up.
    let expected = [
        r#"neuronet_axon_requests_total{synapse="TextGeneration",status="200"} 1"#,
        r#"neuronet_axon_requests_total{synapse="TextGeneration",status="500"} 1"#,
        r#"neuronet_dendrite_requests_total{synapse="TextGeneration",status="200"} 1"#,
        "neuronet_axon_connected_peers 1",
    ];
    let mut text = String::new();
    for _ in 0..200 {
        text.clear();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        if expected.iter().all(|line| text.contains(line)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for line in expected {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(text.contains("neuronet_axon_latency_seconds_bucket"), "{text}");
}
