//! A graceful shutdown (`AxonHandle::shutdown`): requests in flight finish and are answered,
//! new ones get a clear 503 at once, and the grace period bounds the wait.

mod common;

use common::*;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::Status;
use neuronet_transport::AxonConfig;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_finish_and_new_ones_get_503() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    assert_echo(&dendrite, &target, "before").await;

    let slow = tokio::spawn({
        let (dendrite, target) = (dendrite.clone(), target.clone());
        async move { dendrite.query_within::<TextGeneration>(&target, prompt("sleep:800"), T).await }
    });
    let waiting = Instant::now();
    while axon.in_flight() == 0 {
        assert!(waiting.elapsed() < T, "the slow request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    let shutdown = tokio::spawn(axon.shutdown(T));

    // While the slow request runs, a new one is refused at once, and says why.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let late = dendrite.query_within::<TextGeneration>(&target, prompt("late"), T).await;
    assert_eq!(late.status, Status::Unavailable, "{}", late.message);
    assert!(late.message.contains("shutting down"), "{}", late.message);

    // The one taken before finishes with its answer.
    let answer = slow.await.unwrap();
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert_eq!(answer.body.unwrap().text, echo_of("sleep:800"));
    assert_eq!(shutdown.await.unwrap(), 0, "nothing was cut off");
    assert!(stopping.elapsed() < Duration::from_secs(2), "took {:?}", stopping.elapsed());

    // Then the axon is gone.
    let after = dendrite.query_within::<TextGeneration>(&target, prompt("after"), Duration::from_secs(2)).await;
    assert_ne!(after.status, Status::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_period_bounds_the_wait() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    let stuck = tokio::spawn({
        let (dendrite, target) = (dendrite.clone(), target.clone());
        async move { dendrite.query_within::<TextGeneration>(&target, prompt("sleep:4000"), T).await }
    });
    let waiting = Instant::now();
    while axon.in_flight() == 0 {
        assert!(waiting.elapsed() < T, "the request never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stopping = Instant::now();
    assert_eq!(axon.shutdown(Duration::from_millis(300)).await, 1, "one request was cut off");
    let took = stopping.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(1), "took {took:?}");
    // The caller cut off learns it failed (the connection closed), without waiting for its timeout.
    let answer = stuck.await.unwrap();
    assert_ne!(answer.status, Status::Success);
    assert!(waiting.elapsed() < Duration::from_secs(4), "the caller waited {:?}", waiting.elapsed());
}
