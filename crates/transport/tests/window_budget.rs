//! What QUIC holds for an axon's peers counts against its memory: the connection windows of all
//! inbound connections share `NetworkConfig::window_budget`. Alone in its test binary, so that
//! the process's resident memory is this test's.

mod common;

use common::*;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::envelope::RequestHead;
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::Synapse;
use neuronet_transport::{AxonConfig, AxonHandle};
use prost::Message;
use std::time::Duration;

const MIB: u64 = 1024 * 1024;

/// The process's resident memory, from /proc/self/status.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kib: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB");
    kib * 1024
}

/// What pushing requests nobody reads keeps alive: the connections and their streams.
type Pushers = Vec<(RawClient, Vec<RawStream>)>;

/// Eight connections at once, two streams each, that send 64 KiB requests and read no
/// answers, until a write is not taken within a second (or 10 MiB a stream); how many bytes
/// the axon's QUIC took.
async fn push_unread(axon: &AxonHandle) -> (Pushers, u64) {
    let addr = axon.listen_addrs()[0].clone();
    let hotkey = *axon.hotkey().public();
    let mut pushers = Vec::new();
    for _ in 0..8 {
        let addr = addr.clone();
        pushers.push(tokio::spawn(async move {
            let alice = key("//Alice");
            let client = RawClient::connect_with_window(&addr, Some(16 * 1024)).await;
            let streams = [client.open_bound(&alice).await, client.open_bound(&alice).await];
            let body = prompt(&"x".repeat(64 * 1024)).encode_to_vec();
            let mut pushed = 0u64;
            let mut kept = Vec::new();
            for mut stream in streams {
                for id in 1..=160u64 {
                    let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), hotkey, 60_000);
                    head.sign(&alice, &body);
                    let header = head.encode();
                    let write = stream.write_frame(FrameKind::Request, id, &header, &body);
                    if !matches!(tokio::time::timeout(Duration::from_secs(1), write).await, Ok(Ok(()))) {
                        break;
                    }
                    pushed += body.len() as u64;
                }
                // Kept open: the requests stay unread.
                kept.push(stream);
            }
            (client, kept, pushed)
        }));
    }
    let mut kept = Vec::new();
    let mut pushed = 0;
    for pusher in pushers {
        let (client, streams, bytes) = pusher.await.expect("pusher");
        pushed += bytes;
        kept.push((client, streams));
    }
    (kept, pushed)
}

/// An axon whose answer queue holds one answer and whose writer waits a minute for a peer
/// that reads nothing, so that unread requests stay in QUIC, with this window budget.
async fn stuck_axon(window_budget: u64) -> AxonHandle {
    let mut config = AxonConfig::default().with_write_queue(1);
    config.network.write_stall = Duration::from_secs(60);
    config.network.window_budget = window_budget;
    let axon = echo_axon("//Bob", config).await;
    // Warm up both sides (first allocations, thread stacks) before measuring.
    assert_echo(&dendrite("//Charlie").await, &target(&axon), "warm").await;
    axon
}

/// Eight connections, two streams each, that send 64 KiB requests and read no answers: once
/// the axon's answer queue is full it reads no more of their requests, which wait in QUIC. Each
/// connection may hold its whole window of them: 8 MiB by default, 64 MiB here, 32 GiB at 4,096
/// connections. With a window budget of 8 MiB the eight share it, up to what was granted before
/// the later ones arrived (2.5 x the budget when all eight arrive at once), and the process,
/// which holds both sides of every connection, grows by a fraction of the unbounded case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_requests_in_quic_stay_within_the_window_budget() {
    let bounded = stuck_axon(8 * MIB).await;
    let before = resident_bytes();
    let (_kept, pushed) = push_unread(&bounded).await;
    let grown = resident_bytes().saturating_sub(before);

    let unbounded = stuck_axon(u64::MAX).await;
    let before = resident_bytes();
    let (_kept_too, pushed_unbounded) = push_unread(&unbounded).await;
    let grown_unbounded = resident_bytes().saturating_sub(before);

    let report = format!(
        "window budget 8 MiB: {} MiB unread in QUIC, the process grew by {} MiB; no budget: {} MiB, {} MiB",
        pushed / MIB,
        grown / MIB,
        pushed_unbounded / MIB,
        grown_unbounded / MIB
    );
    eprintln!("{report}");
    assert!(pushed <= 24 * MIB, "{report}");
    assert!(pushed_unbounded >= 48 * MIB, "the unbounded case holds a window per connection: {report}");
    assert!(grown * 2 < grown_unbounded, "{report}");
}
