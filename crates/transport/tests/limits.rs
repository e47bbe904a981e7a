//! The axon's cheap limits: requests per peer per second (429) and connections per IP.

mod common;

use common::*;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::Status;
use neuronet_transport::{AxonConfig, NetworkConfig};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_rate_limit_is_429_and_the_limit_refills() {
    let axon = echo_axon("//Bob", AxonConfig::default().with_rate_per_peer(5)).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    // One at a time: the burst of five covers the pool streams' Bind frames (binding costs a
    // signature check, so it counts against the rate too) and the first requests; the rest are
    // refused.
    let mut statuses = Vec::new();
    for i in 0..20 {
        let answer = dendrite.query_within::<TextGeneration>(&target, prompt(&i.to_string()), T).await;
        statuses.push((answer.status, answer.message));
    }
    let ok = statuses.iter().filter(|(s, _)| *s == Status::Success).count();
    assert!((3..=6).contains(&ok), "burst of 5 less the Bind frames: {statuses:?}");
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == Status::TooManyRequests).collect();
    assert_eq!(ok + limited.len(), 20, "{statuses:?}");
    assert!(limited.iter().all(|(_, m)| m.contains("rate limit")), "{statuses:?}");

    // Twenty at once travel as one signature batch; a member refused by the limit refuses the
    // batch whole, at once (nothing is left waiting for its timeout).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = std::time::Instant::now();
    let answers = futures::future::join_all(
        (0..20).map(|i| dendrite.query_within::<TextGeneration>(&target, prompt(&i.to_string()), T)),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(1), "answered in {:?}", started.elapsed());
    assert!(answers.iter().all(|a| matches!(a.status, Status::Success | Status::TooManyRequests)));
    assert!(answers.iter().any(|a| a.status == Status::TooManyRequests));

    // The quota refills: a second later the same peer is served again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_echo(&dendrite, &target, "refilled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_limit_are_closed() {
    let config = AxonConfig::default().with_network(NetworkConfig::default().with_max_connections_per_ip(2));
    let axon = echo_axon("//Bob", config).await;
    let target = target(&axon);
    let first = dendrite("//Alice").await;
    let second = dendrite("//Charlie").await;
    assert_echo(&first, &target, "one").await;
    assert_echo(&second, &target, "two").await;
    let third = dendrite("//Dave").await;
    let refused = third.query_within::<TextGeneration>(&target, prompt("three"), T).await;
    assert_eq!(refused.status, Status::Unavailable, "{}", refused.message);
    // The first two keep being served.
    assert_echo(&first, &target, "still one").await;
    assert_echo(&second, &target, "still two").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dendrite_that_gives_up_frees_the_handler_slot() {
    // One handler slot and no queue: while a handler runs, anything else gets 503.
    let axon = echo_axon("//Bob", AxonConfig::default().with_max_concurrency(1).with_queue_capacity(0)).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    assert_echo(&dendrite, &target, "warm up").await;

    let slow = dendrite.query_within::<TextGeneration>(&target, prompt("sleep:5000"), Duration::from_millis(200)).await;
    assert_eq!(slow.status, Status::Timeout, "{}", slow.message);
    // The dendrite told the axon it gave up, so the 5 s handler was stopped and its slot freed.
    let mut served = false;
    for _ in 0..20 {
        let next = dendrite.query_within::<TextGeneration>(&target, prompt("next"), T).await;
        if next.status == Status::Success {
            served = true;
            break;
        }
        assert_eq!(next.status, Status::Unavailable, "{}", next.message);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served, "the slot stayed taken by a handler nobody waits for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_memory_is_bounded_across_requests() {
    // Room for two 40 kB bodies at once; the rest are refused without being buffered.
    let axon = echo_axon("//Bob", AxonConfig::default().with_max_inflight_bytes(100_000)).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    assert_echo(&dendrite, &target, "warm up").await;
    let big = format!("sleep:300 {}", "x".repeat(40_000));
    let answers =
        futures::future::join_all((0..6).map(|_| dendrite.query_within::<TextGeneration>(&target, prompt(&big), T)))
            .await;
    let statuses: Vec<_> = answers.iter().map(|a| (a.status, a.message.clone())).collect();
    let refused = answers.iter().filter(|a| a.status == Status::Unavailable).count();
    assert!(refused >= 1, "{statuses:?}");
    assert!(
        answers.iter().filter(|a| a.status == Status::Unavailable).all(|a| a.message.contains("request memory")),
        "{statuses:?}"
    );
    // Memory is given back when requests finish.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_echo(&dendrite, &target, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_total_limit_are_denied() {
    let network = NetworkConfig::default().with_max_connections(1);
    let axon = echo_axon("//Bob", AxonConfig::default().with_network(network)).await;
    let target = target(&axon);
    let first = dendrite("//Alice").await;
    assert_echo(&first, &target, "one").await;
    let second = dendrite("//Charlie").await;
    let refused = second.query_within::<TextGeneration>(&target, prompt("two"), T).await;
    assert_eq!(refused.status, Status::Unavailable, "{}", refused.message);
    assert_echo(&first, &target, "still one").await;
}

/// Past `max_pending_handshakes` a new peer must answer a QUIC Retry before the axon spends a
/// TLS handshake on it; an honest dendrite does so transparently. At 0, every dial is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_past_the_handshake_limit_prove_their_address_first() {
    let network = NetworkConfig::default().with_max_pending_handshakes(0);
    let axon = echo_axon("//Bob", AxonConfig::default().with_network(network)).await;
    let target = target(&axon);
    let dendrites = futures::future::join_all(["//Alice", "//Charlie", "//Dave"].map(dendrite)).await;
    let rounds = dendrites.iter().map(|d| assert_echo(d, &target, "after a retry"));
    futures::future::join_all(rounds).await;
}

/// A dendrite that is dropped closes its connections at once: it must not leave connections
/// counting against the axon's per-IP limit until they time out (here, 40 of them would exceed
/// the default limit of 32).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_dendrite_closes_its_connections() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let target = target(&axon);
    for round in 0..40 {
        let dendrite = dendrite("//Alice").await;
        assert_echo(&dendrite, &target, &format!("round {round}")).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while axon.metrics().connections.get() > 0 {
        assert!(std::time::Instant::now() < deadline, "{} connections left open", axon.metrics().connections.get());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
