//! Peers that read, but only a trickle: a few KiB now and then keep QUIC's flow control from
//! ever closing for long, so "took no byte for a while" never fires. The axon must still give
//! such a stream up within about `write_stall`, status answers included, and go on serving
//! everyone else.

mod common;

use common::*;
use futures::io::AsyncReadExt;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::envelope::RequestHead;
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::{Keypair, Synapse};
use neuronet_transport::{AxonConfig, AxonHandle};
use prost::Message;
use std::time::{Duration, Instant};

/// Reads `chunk` bytes every `every` until the axon ends the stream; how long that took, or
/// `None` if the stream was still open after `patience`.
async fn trickle_until_closed(
    stream: &mut RawStream,
    chunk: usize,
    every: Duration,
    patience: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = vec![0u8; chunk];
    while started.elapsed() < patience {
        let mut filled = 0;
        // One chunk, or less if the stream ends.
        while filled < chunk {
            match tokio::time::timeout(patience, stream.stream.read(&mut buffer[filled..])).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
                Ok(Ok(n)) => filled += n,
                Err(_) => return None,
            }
        }
        tokio::time::sleep(every).await;
    }
    None
}

/// Signed echo requests with `prompt_len`-byte prompts and a minute's timeout (so that no
/// answer's deadline ends the stream first), ids from 1.
async fn send_requests(stream: &mut RawStream, sender: &Keypair, axon: &AxonHandle, count: u64, prompt_len: usize) {
    let body = prompt(&"x".repeat(prompt_len)).encode_to_vec();
    for id in 1..=count {
        let mut head = RequestHead::new(TextGeneration::NAME, sender.hotkey(), *axon.hotkey().public(), 60_000);
        head.sign(sender, &body);
        stream.write_frame(FrameKind::Request, id, &head.encode(), &body).await.expect("request written");
    }
}

/// A bound caller that sends many requests and takes 4 KiB of their answers every 250 ms
/// (16 KiB/s, a quarter of the default `min_drain_rate`): every read gives the axon a little flow
/// control credit, so some of its bytes always leave, yet the axon gives the stream up within
/// about `write_stall` instead of waiting on it (and holding its answers and unread requests)
/// for as long as the caller trickles. A well-behaved caller is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_reads_a_trickle_loses_its_stream() {
    let stall = Duration::from_millis(500);
    let mut config = AxonConfig::default();
    config.network.write_stall = stall;
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    // 40 answers of 8 KiB: 320 KiB, twenty seconds' worth at the trickle.
    send_requests(&mut stream, &alice, &axon, 40, 8 * 1024).await;
    let closed = trickle_until_closed(&mut stream, 4 * 1024, Duration::from_millis(250), Duration::from_secs(6)).await;
    let closed = closed.expect("the axon kept the stream of a caller that reads 16 KiB/s for 6 s");
    assert!(closed < stall * 6, "the stream ended after {closed:?}, the stall is {stall:?}");
    assert_echo(&dendrite("//Charlie").await, &target(&axon), "still serving").await;
}

/// A caller that trickles and only ever gets status answers (here 404s for a synapse the axon
/// does not serve): with any byte counting as progress and a minute of stall allowance, the
/// status answers still carry their requests' deadline (`frame_timeout` for refusals), so the
/// axon drops them and ends the stream once it has passed, instead of waiting for the trickle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_are_not_kept_past_their_deadline() {
    let timeout = Duration::from_millis(500);
    let mut config = AxonConfig::default().with_frame_timeout(timeout);
    config.network.write_stall = Duration::from_secs(60);
    config.network.min_drain_rate = 0;
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    // 2,000 requests for an unknown synapse: about 200 KiB of 404s, more than the window and
    // the answer queue (256) hold.
    let body = prompt("nobody serves this").encode_to_vec();
    for id in 1..=2000u64 {
        let head = signed_head(&alice, &axon.hotkey(), "NoSuchSynapse", &body);
        stream.write_frame(FrameKind::Request, id, &head.encode(), &body).await.expect("request written");
    }
    let closed = trickle_until_closed(&mut stream, 1024, Duration::from_millis(200), Duration::from_secs(6)).await;
    let closed = closed.expect("the axon kept a trickling caller's status answers for 6 s");
    assert!(closed < timeout * 8, "the stream ended after {closed:?}, refusals are due within {timeout:?}");
    assert_echo(&dendrite("//Charlie").await, &target(&axon), "still serving").await;
}

/// A reader that keeps up `min_drain_rate` is a slow link, not an attack: the axon waits for it.
/// Here it takes 64 KiB every 250 ms (256 KiB/s, four times the default minimum) with a 500 ms
/// stall window, and gets every one of its 40 answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_on_a_slow_link_is_still_served() {
    let mut config = AxonConfig::default();
    config.network.write_stall = Duration::from_millis(500);
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(64 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    let count = 40;
    send_requests(&mut stream, &alice, &axon, count, 16 * 1024).await;
    let mut answered = 0;
    while answered < count {
        let frame = stream.expect_frame().await;
        assert_eq!(frame.prefix.kind, FrameKind::Response);
        answered += 1;
        // About 16 KiB an answer: four answers, then a pause.
        if answered % 4 == 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
