//! A validator's dendrite against axons that attack it: a streaming answer flooded faster than
//! the caller reads, a body announced and never sent, and (from an honest axon) a binding that
//! outlives its lifetime on a long-lived connection. The attackers are stock libp2p nodes that
//! answer the Bind frame correctly and then send what a real axon never would; each time the
//! dendrite's memory stays bounded, the query ends with the documented status, and the dendrite
//! keeps serving honest axons.

mod common;

use common::*;
use futures::StreamExt;
use neuronet_synapse::binding::sign_binding;
use neuronet_synapse::builtin::{TextGeneration, TextGenerationStream};
use neuronet_synapse::envelope::{RequestHead, ResponseHead};
use neuronet_synapse::frame::{encode_head, FrameKind};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::{proto, Keypair, Status};
use neuronet_transport::{AxonConfig, Dendrite, DendriteConfig, Target};
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Heap accounting: the test binary counts the bytes it has allocated, so that a test can see
// what an attacker made the dendrite allocate (untouched pages included, which RSS would miss).
// ---------------------------------------------------------------------------------------------

struct CountingAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Measures the most the heap grew by while `work` ran.
async fn peak_growth<T>(work: impl Future<Output = T>) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = work.await;
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// Runs `test` on a runtime of its own, one test at a time: its runtime (and with it every
/// task and buffer of the test) is gone before the next test starts, so that one test's
/// allocations and frees do not count in another's measurement.
fn alone(test: impl Future<Output = ()>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime starts");
    runtime.block_on(test);
}

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// The malicious axon.
// ---------------------------------------------------------------------------------------------

/// A stock libp2p node posing as an axon: it answers every stream's Bind frame with a valid
/// binding of its hotkey (so that the dendrite uses the stream) and then hands the stream to
/// `attack`, each stream in a task of its own.
struct MaliciousAxon {
    target: Target,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MaliciousAxon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MaliciousAxon {
    async fn start<F, Fut>(keypair: Keypair, attack: F) -> MaliciousAxon
    where
        F: Fn(RawStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let RawListener { mut swarm, peer_id, mut incoming, addr } = RawListener::start(None).await;
        let target = Target::Explicit { hotkey: keypair.hotkey(), addr };
        let keypair = Arc::new(keypair);
        let attack = Arc::new(attack);
        let task = tokio::spawn(async move {
            let mut attacks = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = swarm.select_next_some() => {}
                    Some((_, stream)) = incoming.next() => {
                        let (keypair, attack) = (keypair.clone(), attack.clone());
                        attacks.spawn(async move {
                            let mut stream = RawStream { stream, local_peer_id: peer_id };
                            let bind = tokio::time::timeout(Duration::from_secs(5), stream.read_frame()).await;
                            if !matches!(bind, Ok(Ok(Some(_)))) {
                                return;
                            }
                            let expires_at = unix_nanos() / 1_000_000_000 + 3600;
                            let binding = sign_binding(&keypair, &peer_id.to_bytes(), expires_at);
                            if stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await.is_ok() {
                                attack(stream).await;
                            }
                        });
                    }
                }
            }
        });
        MaliciousAxon { target, task }
    }
}

/// Reads frames until the next Request; its id and header.
async fn next_request(stream: &mut RawStream) -> Option<(u64, RequestHead)> {
    loop {
        let frame = stream.read_frame().await.ok()??;
        if frame.prefix.kind == FrameKind::Request {
            return Some((frame.prefix.request_id, RequestHead::decode(&frame.header).ok()?));
        }
    }
}

/// Reads (and ignores) whatever else the dendrite sends, until it closes the stream.
async fn hold(mut stream: RawStream) {
    while let Ok(Some(_)) = stream.read_frame().await {}
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

/// The bounds under test, set as a validator would (the defaults, a short frame timeout).
fn validator_config() -> DendriteConfig {
    DendriteConfig::default().with_frame_timeout(Duration::from_secs(1))
}

/// What the dendrite buffers for a streaming answer at most, in bytes (its default).
fn stream_buffer_bytes() -> usize {
    DendriteConfig::default().stream_buffer_bytes
}

#[test]
fn a_flooded_streaming_answer_is_cancelled_at_the_buffer_bound() {
    alone(async {
        // The attacker answers a streaming request with 96 MiB of 256 KiB chunks as fast as QUIC
        // takes them, and ignores the Cancel frame. The caller reads nothing until the flood is over.
        const CHUNK: usize = 256 * 1024;
        const CHUNKS: usize = 384;
        let (flooded_tx, flooded_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let attacker = MaliciousAxon::start(key("//Mallory"), move |mut stream| {
            let flooded = flooded_tx.clone();
            async move {
                let Some((id, _)) = next_request(&mut stream).await else { return };
                let chunk =
                    proto::TextGenerationChunk { text: "x".repeat(CHUNK), ..Default::default() }.encode_to_vec();
                let mut frame = encode_head(FrameKind::Chunk, id, &[], chunk.len());
                frame.extend_from_slice(&chunk);
                for _ in 0..CHUNKS {
                    if stream.write_raw(&frame).await.is_err() {
                        break;
                    }
                }
                let _ = flooded.send(());
                hold(stream).await;
            }
        })
        .await;
        let honest = echo_axon("//Bob", AxonConfig::default()).await;
        let dendrite = Dendrite::new(key("//Alice"), validator_config()).await.expect("dendrite starts");
        assert_echo(&dendrite, &target(&honest), "before").await;

        let mut flooded_rx = flooded_rx;
        let (mut answer, growth) = peak_growth(async {
            let answer = dendrite
                .query_stream_within::<TextGenerationStream>(
                    &attacker.target,
                    prompt("flood me"),
                    Duration::from_secs(30),
                )
                .await;
            tokio::time::timeout(Duration::from_secs(25), flooded_rx.recv()).await.expect("the flood is sent in 25 s");
            // Let what is still on the wire arrive.
            tokio::time::sleep(Duration::from_millis(500)).await;
            answer
        })
        .await;

        // What the caller reads now is what the dendrite buffered for it.
        let mut buffered = 0;
        while let Some(chunk) = answer.next().await {
            buffered += chunk.encoded_len();
        }
        let bound = stream_buffer_bytes();
        assert!(buffered <= bound, "{} MiB of chunks buffered, over the {} MiB bound", buffered / MIB, bound / MIB);
        assert_eq!(answer.status(), Some(Status::PayloadTooLarge), "{}", answer.message());
        assert!(answer.message().contains("stream_buffer_bytes"), "{}", answer.message());
        // The whole process (attacker, dendrite and their QUIC buffers) grew by far less than the
        // 64 MiB that 256 chunks would have pinned.
        assert!(growth < 48 * MIB, "heap grew by {} MiB during the flood", growth / MIB);
        // The same dendrite still serves honest axons.
        assert_echo(&dendrite, &target(&honest), "after the flood").await;
    });
}

#[test]
fn a_body_announced_and_never_sent_fails_within_the_frame_timeout() {
    alone(async {
        // Four attackers answer every request with a Response prefix announcing a 64 MiB body (the
        // dendrite's limit, so it is not refused as too large) and never send a byte of it.
        let config = validator_config();
        let announced = config.max_response_bytes as usize;
        let mut attackers = Vec::new();
        for suri in ["//Mallory", "//Eve", "//Ferdie", "//Dave"] {
            let attacker = MaliciousAxon::start(key(suri), move |mut stream| async move {
                let header = ResponseHead::new(Status::Success).encode();
                while let Some((id, _)) = next_request(&mut stream).await {
                    let prefix = encode_head(FrameKind::Response, id, &header, announced);
                    if stream.write_raw(&prefix).await.is_err() {
                        return;
                    }
                }
            })
            .await;
            attackers.push(attacker);
        }
        let honest = echo_axon("//Bob", AxonConfig::default()).await;
        let dendrite = Dendrite::new(key("//Alice"), config).await.expect("dendrite starts");
        assert_echo(&dendrite, &target(&honest), "before").await;

        let (answers, growth) = peak_growth(async {
            let queries = attackers.iter().flat_map(|attacker| {
                (0..2).map(|_| async {
                    let started = Instant::now();
                    let answer = dendrite
                        .query_within::<TextGeneration>(&attacker.target, prompt("answer me"), Duration::from_secs(20))
                        .await;
                    (answer, started.elapsed())
                })
            });
            futures::future::join_all(queries).await
        })
        .await;

        for (answer, elapsed) in &answers {
            assert_eq!(answer.status, Status::Unavailable, "{}", answer.message);
            assert!(answer.message.contains("frame"), "{}", answer.message);
            assert!(elapsed < &Duration::from_secs(5), "answered after {elapsed:?}, not within the frame timeout");
        }
        // Eight 64 MiB bodies announced: memory follows the bytes that came (none), not the sizes.
        assert!(growth < 32 * MIB, "heap grew by {} MiB for {} MiB announced", growth / MIB, 8 * announced / MIB);
        assert_echo(&dendrite, &target(&honest), "after the stalls").await;
    });
}

#[test]
fn a_long_lived_connection_outlives_its_binding() {
    alone(async {
        // A 2 s binding, and four queries at once every 200 ms for 5 s on one connection: the
        // dendrite renews its binding on the open connection, and no query is refused for an
        // expired one, nor lost on a stream retired while it was in flight.
        let axon = echo_axon("//Bob", AxonConfig::default()).await;
        let config = DendriteConfig::default().with_binding_ttl(Duration::from_secs(2));
        let dendrite = Dendrite::new(key("//Alice"), config).await.expect("dendrite starts");
        let target = target(&axon);
        let started = Instant::now();
        let mut sent = 0;
        while started.elapsed() < Duration::from_secs(5) {
            let queries = (0..4).map(|_| {
                dendrite.query_within::<TextGeneration>(&target, prompt("still bound"), Duration::from_secs(5))
            });
            for answer in futures::future::join_all(queries).await {
                assert_eq!(answer.status, Status::Success, "after {:?}: {}", started.elapsed(), answer.message);
            }
            assert_eq!(axon.metrics().connections.get(), 1, "one connection throughout");
            sent += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(sent >= 20, "{sent} queries");
    });
}
