//! What a dendrite holds for each axon it talks to: a validator keeps a connection to every
//! miner of its subnet. Alone in its test binary, whose allocator counts the heap in use, with
//! the axons in a child process (this binary again), so that the count is the dendrite's alone.

mod common;

use common::*;
use neuronet_synapse::builtin::Ping;
use neuronet_synapse::{proto, Status};
use neuronet_transport::{AxonConfig, Target};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The system allocator, counting the bytes in use.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            IN_USE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            IN_USE.fetch_add(new_size, Ordering::Relaxed);
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const AXONS: usize = 64;
/// Set in the child process, which serves the axons.
const CHILD: &str = "NEURONET_DENDRITE_MEMORY_AXONS";
const TEST: &str = "a_dendrite_holds_a_few_kib_per_axon_it_forwards_to";

fn axon_suri(index: usize) -> String {
    format!("//Axon{index}")
}

/// Child mode: `AXONS` echo axons, an `AXON <index> <address>` line each, then `READY`; runs
/// until its stdin closes.
async fn serve_axons() {
    let config = AxonConfig::default();
    let mut axons = Vec::with_capacity(AXONS);
    for index in 0..AXONS {
        let axon = echo_axon(&axon_suri(index), config.clone()).await;
        println!("AXON {index} {}", axon.listen_addrs()[0]);
        axons.push(axon);
    }
    println!("READY");
    std::io::stdout().flush().expect("stdout");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
    })
    .await
    .expect("stdin watcher");
}

fn ping() -> proto::PingRequest {
    proto::PingRequest::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dendrite_holds_a_few_kib_per_axon_it_forwards_to() {
    if std::env::var_os(CHILD).is_some() {
        serve_axons().await;
        return;
    }
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("axon process starts");
    let stdout = child.stdout.take().expect("child stdout");
    let mut targets = Vec::with_capacity(AXONS);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        // The test harness's own `test <name> ... ` may start the child's first line.
        if line.ends_with("READY") {
            break;
        }
        let Some((_, rest)) = line.split_once("AXON ") else { continue };
        let (index, addr) = rest.split_once(' ').expect("AXON <index> <address>");
        let hotkey = key(&axon_suri(index.parse().expect("index"))).hotkey();
        targets.push(Target::Explicit { hotkey, addr: addr.parse().expect("address") });
    }
    assert_eq!(targets.len(), AXONS, "the child started every axon");

    let dendrite = dendrite("//Alice").await;
    let before = IN_USE.load(Ordering::Relaxed);
    // The first forward dials and binds; the next ones are a validator's steady state.
    for _ in 0..40 {
        let answers = dendrite.forward_within::<Ping>(&targets, ping(), Duration::from_secs(20)).await;
        assert!(answers.iter().all(|a| a.status == Status::Success), "every axon answers");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_axon = IN_USE.load(Ordering::Relaxed).saturating_sub(before) / AXONS;
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    // QUIC's own connection state (quinn's and rustls's) is most of it; the dendrite's part on
    // top (libp2p's connection, the stream, its reader and writer tasks) is a few KiB. A 16 KiB
    // read buffer per stream, a writer channel's blocks of inline requests, identify, and QUIC
    // state for 64 streams the axon never opens took it to about 100 KiB (41 KiB without them,
    // in a debug build).
    assert!(per_axon < 56 * 1024, "the dendrite holds {} KiB per axon", per_axon / 1024);
    eprintln!("the dendrite holds {:.1} KiB per axon", per_axon as f64 / 1024.0);
}
