//! The dendrite: queries axons by hotkey over hotkey-bound connections.
//!
//! One connection per target hotkey, carrying a small pool of long-lived streams with
//! neuronet's frames; many requests share each stream, told apart by request id. Every stream
//! starts with the binding exchange. When the axon's PeerId was known before the dial, the first
//! requests follow the Bind frame at once and no answer is read before the axon's binding is
//! verified; otherwise nothing is sent before it is. A connection whose axon cannot prove the
//! expected hotkey is dropped and its queries end with 401.

use crate::directory::Directory;
use crate::io::{read_bytes, read_prefix, skip, write_frame, write_frames, Counted, LazyBufReader, OutFrame, Stall};
use crate::metrics::Metrics;
use crate::swarm::{Network, NetworkConfig, SYNAPSE_PROTOCOL};
use crate::Error;
use bytes::Bytes;
use futures::io::{AsyncReadExt, ReadHalf, WriteHalf};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::binding::{sign_binding, verify_binding};
use neuronet_synapse::envelope::{sign_batch, RequestHead, ResponseHead};
use neuronet_synapse::frame::{FrameKind, FramePrefix, PREFIX_LEN};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::payload::MAX_BATCH;
use neuronet_synapse::proto::{AuthMode, HotkeyBinding};
use neuronet_synapse::{Hotkey, Keypair, Status, Synapse};
use prost::Message;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How the dendrite authenticates its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// Every request signed by the hotkey (default).
    #[default]
    PerRequest,
    /// Requests authenticated by the hotkey-bound connection alone.
    Connection,
}

/// Dendrite settings. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct DendriteConfig {
    /// Swarm and QUIC settings.
    pub network: NetworkConfig,
    /// Authentication mode. Default [`Auth::PerRequest`].
    pub auth: Auth,
    /// Long-lived streams per connection, at most. A connection starts with one and opens the
    /// next when a request finds the streams busy. Default 2: more streams cost tasks and memory
    /// for little gain on two cores (see the benchmark).
    pub streams_per_connection: usize,
    /// Largest response body accepted; larger ones are skipped and reported as 413. Default 64 MiB.
    pub max_response_bytes: u32,
    /// Time allowed to dial and bind a new connection. Default 5 s.
    pub connect_timeout: Duration,
    /// UDP sockets (one swarm each) the dendrite spreads its connections over. Default 1: with
    /// [`NetworkConfig::udp_buffer`]'s 4 MiB receive buffer one socket takes the answers of 256
    /// miners at once without drops; raise it where the kernel caps buffers lower.
    pub sockets: usize,
    /// Chunks of one streaming answer buffered for a caller that reads slower than they
    /// arrive; past it the request is cancelled (413) rather than buffered without bound.
    /// Default 256.
    pub stream_chunk_buffer: usize,
    /// Bytes of one streaming answer's chunks buffered for a caller that reads slower than they
    /// arrive; a chunk that would pass it cancels the request (413) and is never read into
    /// memory, so no chunk larger than this is delivered. Default 4 MiB: the count bound alone
    /// let an axon pin 256 chunks of up to `max_response_bytes` (16 GiB) per query, and token
    /// streams send chunks of tens of bytes.
    pub stream_buffer_bytes: usize,
    /// Time the rest of a frame (header and body) has to arrive once its prefix has. An axon
    /// that announces a body and then sends it too slowly, or not at all, loses the stream: the
    /// requests waiting on it end with 503 instead of waiting for their own timeouts behind it.
    /// Default 10 s, like the axon's `frame_timeout`; a frame must arrive at 6.4 MB/s to bring
    /// a 64 MiB body in time, so raise it for large answers over slow links.
    pub frame_timeout: Duration,
    /// Times a stream the axon drops before answering the binding is opened again. Default 4.
    pub open_retries: u32,
    /// Largest body signed in a batch; larger requests are signed alone (their hashing
    /// dominates, and the axon holds a batch whole before verifying it). Default 64 KiB.
    pub batch_body_limit: usize,
    /// Most body bytes under one batch signature. Default 256 KiB (the axon's default request
    /// limit is 8 MiB, so batches always fit it).
    pub batch_bytes: usize,
    /// Connections being set up at once; more wait their turn. Default 32: a validator that
    /// dials hundreds of miners at once otherwise floods its one UDP socket with handshake
    /// packets (the kernel drops them, and QUIC's handshake retransmits take seconds).
    pub max_concurrent_dials: usize,
    /// Lifetime of the dendrite's hotkey binding. A connection renews it on a new stream with a
    /// freshly signed Bind frame when a tenth of it is left (at least `connect_timeout`, at most
    /// half of it), and retires its older streams. Default 24 h.
    pub binding_ttl: Duration,
    /// How long a connection waits, after a further pool stream failed to open, before it tries
    /// again (busy requests must not make a refusing axon open streams in a loop). Default 1 s.
    pub stream_open_backoff: Duration,
}

impl Default for DendriteConfig {
    fn default() -> Self {
        DendriteConfig {
            network: NetworkConfig::default(),
            auth: Auth::PerRequest,
            streams_per_connection: 2,
            max_response_bytes: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            max_concurrent_dials: 32,
            stream_chunk_buffer: 256,
            stream_buffer_bytes: 4 * 1024 * 1024,
            frame_timeout: Duration::from_secs(10),
            open_retries: 4,
            batch_body_limit: 64 * 1024,
            batch_bytes: 256 * 1024,
            sockets: 1,
            binding_ttl: Duration::from_secs(24 * 3600),
            stream_open_backoff: Duration::from_secs(1),
        }
    }
}

impl DendriteConfig {
    /// Sets `auth`.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    /// Sets `streams_per_connection` (at least 1).
    pub fn with_streams_per_connection(mut self, n: usize) -> Self {
        self.streams_per_connection = n.max(1);
        self
    }
}

/// Whom to query.
#[derive(Debug, Clone)]
pub enum Target {
    /// A hotkey, resolved through the Directory.
    Hotkey(Hotkey),
    /// A hotkey at a known address (a `/p2p/<PeerId>` suffix is optional: the binding proves
    /// the hotkey either way).
    Explicit {
        /// The hotkey expected at `addr`.
        hotkey: Hotkey,
        /// Where to dial.
        addr: Multiaddr,
    },
}

impl Target {
    /// The hotkey the target must prove.
    pub fn hotkey(&self) -> &Hotkey {
        match self {
            Target::Hotkey(hotkey) | Target::Explicit { hotkey, .. } => hotkey,
        }
    }
}

/// The answer to one query: a status a caller can act on, and the typed body on success.
#[derive(Debug, Clone)]
pub struct Response<T> {
    /// Who was asked.
    pub target: Hotkey,
    /// 200 with a body, or the failure.
    pub status: Status,
    /// The axon's (or the dendrite's) message.
    pub message: String,
    /// The decoded response, on 200.
    pub body: Option<T>,
    /// Time the axon reported spending.
    pub process_time: Duration,
    /// Round-trip time seen by the dendrite.
    pub elapsed: Duration,
}

impl<T> Response<T> {
    fn failure(target: Hotkey, status: Status, message: impl Into<String>, started: Instant) -> Self {
        Response {
            target,
            status,
            message: message.into(),
            body: None,
            process_time: Duration::ZERO,
            elapsed: started.elapsed(),
        }
    }

    /// Whether the status is 200 and a body came.
    pub fn is_success(&self) -> bool {
        self.status.is_success() && self.body.is_some()
    }
}

enum Reply {
    Done(ResponseHead, Bytes),
    Chunk(Bytes),
    Failed(Status, String),
}

enum Pending {
    Unary(oneshot::Sender<Reply>),
    Stream(ChunkSink),
}

/// Where a streaming request's chunks go: the caller's channel, and the bytes of the chunks in
/// it that the caller has not taken yet (bounded by [`DendriteConfig::stream_buffer_bytes`]).
struct ChunkSink {
    tx: mpsc::Sender<Reply>,
    buffered: Arc<AtomicUsize>,
}

/// What the stream's writer task sends. A request is boxed: the queue keeps its slots while
/// the stream lives (a channel's blocks of 32 of them with the request inline, a `RequestHead`
/// being about 340 bytes, cost 21 KiB per stream to every miner), for one allocation per
/// request.
enum Outgoing {
    Request(Box<QueuedRequest>),
    Cancel(u64),
}

/// A request waiting for the stream's writer (signed there, in a batch with its neighbours).
struct QueuedRequest {
    id: u64,
    head: RequestHead,
    body: Bytes,
}

/// The frames waiting for a stream's writer task. A queue of its own rather than a channel: a
/// channel's first two blocks of slots (1.5 KiB with its state) stayed with every stream to
/// every miner, where this keeps the few slots a stream's bursts needed.
struct Queue {
    frames: std::collections::VecDeque<Outgoing>,
    /// Cleared when the stream fails or retires: nothing more is queued, and the writer ends
    /// once it has written what was.
    open: bool,
}

struct PoolStream {
    /// The writer task's queue.
    queue: Mutex<Queue>,
    /// Wakes the writer task when a frame is queued or the queue closes.
    queued: tokio::sync::Notify,
    pending: Mutex<HashMap<u64, Pending>>,
    alive: AtomicBool,
    /// The task reading the answers, stopped when the writer gives the stream up (it may be
    /// waiting for an answer that can no longer come, from an axon that keeps the stream open).
    reader: Mutex<Option<tokio::task::AbortHandle>>,
    /// Why the stream ended, once it has: what a request that finds it dead is told (a binding
    /// refused while the first request was on its way, say), rather than a bare 503.
    ended: Mutex<Option<(Status, String)>>,
    /// When the binding sent in this stream's Bind frame expires (Unix seconds).
    bound_until: u64,
    /// Set once a stream with a fresher binding took this one's place: no request is sent on it
    /// any more, and it closes when the last of its requests is done.
    retiring: AtomicBool,
}

impl PoolStream {
    fn fail_all(&self, status: Status, message: &str) {
        self.end(status, message);
        for waiter in self.close() {
            deliver(waiter, Reply::Failed(status, message.to_owned()));
        }
    }

    /// Records why the stream ends (the first reason given stands).
    fn end(&self, status: Status, message: &str) {
        if let Ok(mut ended) = self.ended.lock() {
            ended.get_or_insert_with(|| (status, message.to_owned()));
        }
    }

    /// Why the stream ended, or a generic 503 when it is not known.
    fn ended(&self) -> (Status, String) {
        self.ended
            .lock()
            .ok()
            .and_then(|ended| ended.clone())
            .unwrap_or_else(|| (Status::Unavailable, "connection to the axon lost".to_owned()))
    }

    /// Marks the stream dead, stops its writer and hands back the requests still waiting.
    fn close(&self) -> Vec<Pending> {
        self.alive.store(false, Ordering::Release);
        // Closing the queue ends the writer task, which closes our half of the stream.
        self.close_queue();
        self.pending.lock().map(|mut p| p.drain().map(|(_, v)| v).collect()).unwrap_or_default()
    }

    /// Alive and not retired.
    fn takes_requests(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.retiring.load(Ordering::Acquire)
    }

    fn set_reader(&self, task: &tokio::task::JoinHandle<()>) {
        if let Ok(mut reader) = self.reader.lock() {
            *reader = Some(task.abort_handle());
        }
    }

    fn take(&self, id: u64) -> Option<Pending> {
        let taken = self.pending.lock().ok()?.remove(&id);
        self.close_if_retired();
        taken
    }

    /// Closes a retired stream once no request waits on it: its writer ends and its reader
    /// stops, which drops the stream. Checked under the pending lock, so that a request added
    /// meanwhile either keeps it open or finds its queue gone (and is sent on another stream).
    fn close_if_retired(&self) {
        if !self.retiring.load(Ordering::Acquire) {
            return;
        }
        {
            let Ok(pending) = self.pending.lock() else { return };
            if !pending.is_empty() || !self.alive.swap(false, Ordering::AcqRel) {
                return;
            }
            self.close_queue();
        }
        if let Some(reader) = self.reader.lock().ok().and_then(|mut r| r.take()) {
            reader.abort();
        }
    }

    /// Queues a frame for the writer task; hands it back when the stream has failed (so that a
    /// request can go on another stream).
    fn enqueue(&self, item: Outgoing) -> Result<(), Outgoing> {
        let Ok(mut queue) = self.queue.lock() else { return Err(item) };
        if !queue.open {
            return Err(item);
        }
        queue.frames.push_back(item);
        drop(queue);
        self.queued.notify_one();
        Ok(())
    }

    /// Takes no more frames; the writer ends once it has written those queued.
    fn close_queue(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.open = false;
        }
        self.queued.notify_one();
    }

    /// Moves up to `room` queued frames into `into`; false when the queue is closed and empty.
    fn dequeue(&self, into: &mut Vec<Outgoing>, room: usize) -> bool {
        let Ok(mut queue) = self.queue.lock() else { return false };
        let n = queue.frames.len().min(room);
        into.extend(queue.frames.drain(..n));
        queue.open || !queue.frames.is_empty() || n > 0
    }

    fn nothing_queued(&self) -> bool {
        self.queue.lock().is_ok_and(|queue| queue.frames.is_empty())
    }
}

struct Connection {
    peer_id: PeerId,
    streams: Mutex<Vec<Arc<PoolStream>>>,
    next: AtomicUsize,
    /// Whether a further pool stream is being opened.
    growing: AtomicBool,
    /// When the freshest binding sent on the connection expires (Unix seconds): the axon holds
    /// the whole connection to the latest Bind of its hotkey, on whichever stream it came.
    bound_until: AtomicU64,
    /// Held while the binding is renewed, so that one renewal runs at a time.
    renewing: tokio::sync::Mutex<()>,
    /// Whether a background renewal is under way (or backing off after a failure).
    renewal_started: AtomicBool,
}

impl Connection {
    fn new(peer_id: PeerId, first: Arc<PoolStream>) -> Self {
        Connection {
            peer_id,
            bound_until: AtomicU64::new(first.bound_until),
            streams: Mutex::new(vec![first]),
            next: AtomicUsize::new(0),
            growing: AtomicBool::new(false),
            renewing: tokio::sync::Mutex::new(()),
            renewal_started: AtomicBool::new(false),
        }
    }

    /// Streams still alive and taking requests.
    fn live_streams(&self) -> usize {
        self.streams.lock().map(|s| s.iter().filter(|s| s.takes_requests()).count()).unwrap_or(usize::MAX)
    }

    /// Adds a newly opened stream, dropping dead ones; false (and the stream closed) when the
    /// connection has no live stream left, so nothing would ever pick it.
    fn add_stream(&self, stream: Arc<PoolStream>) -> bool {
        let Ok(mut streams) = self.streams.lock() else {
            stream.fail_all(Status::Unavailable, "connection lost");
            return false;
        };
        streams.retain(|s| s.alive.load(Ordering::Acquire));
        if streams.is_empty() {
            drop(streams);
            stream.fail_all(Status::Unavailable, "connection lost");
            return false;
        }
        self.bound_until.fetch_max(stream.bound_until, Ordering::AcqRel);
        streams.push(stream);
        true
    }

    /// Puts a stream bound with a fresher binding in place of the connection's others, which
    /// finish the requests they carry and then close.
    fn renew_with(&self, stream: Arc<PoolStream>) {
        let bound_until = stream.bound_until;
        let retired = match self.streams.lock() {
            Ok(mut streams) => std::mem::replace(&mut *streams, vec![stream]),
            Err(_) => {
                stream.fail_all(Status::Unavailable, "connection lost");
                return;
            }
        };
        self.bound_until.fetch_max(bound_until, Ordering::AcqRel);
        for old in retired {
            old.retiring.store(true, Ordering::Release);
            old.close_if_retired();
        }
    }

    /// Why the connection has no live stream: the first recorded end of one of its streams.
    fn failure(&self) -> (Status, String) {
        let ended = self
            .streams
            .lock()
            .ok()
            .and_then(|streams| streams.iter().find_map(|s| s.ended.lock().ok().and_then(|ended| ended.clone())));
        ended.unwrap_or_else(|| (Status::Unavailable, "no live stream to the axon".to_owned()))
    }

    /// A live stream, round robin.
    fn pick(&self) -> Option<Arc<PoolStream>> {
        let streams = self.streams.lock().ok()?;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..streams.len())
            .filter_map(|i| streams.get((start + i) % streams.len()))
            .find(|s| s.takes_requests())
            .cloned()
    }
}

/// The slot's connection, when it has a stream taking requests.
fn live(slot: &SlotState) -> Option<Arc<Connection>> {
    let current = slot.current.lock().ok()?;
    current.as_ref().filter(|conn| conn.pick().is_some()).cloned()
}

/// The connection to one target hotkey. Queries read `current` without waiting; only
/// (re)connecting takes the async `connecting` lock, so that one dial runs per target.
#[derive(Default)]
struct SlotState {
    current: Mutex<Option<Arc<Connection>>>,
    /// The PeerId whose binding to this hotkey was last verified: a reconnect that finds it
    /// again sends its first request without waiting for the binding answer.
    proven: Mutex<Option<PeerId>>,
    connecting: tokio::sync::Mutex<()>,
}

type Slot = Arc<SlotState>;

struct Inner {
    keypair: Arc<Keypair>,
    config: DendriteConfig,
    directory: Directory,
    networks: Vec<Network>,
    /// The dendrite's binding for its PeerId, re-signed before it expires.
    binding: Mutex<HotkeyBinding>,
    connections: Mutex<HashMap<[u8; 32], Slot>>,
    next_id: AtomicU64,
    dials: tokio::sync::Semaphore,
    metrics: Metrics,
}

/// A client of axons. Cheap to clone; clones share connections.
///
/// ```no_run
/// use neuronet_synapse::{builtin::Ping, proto, CryptoType, Keypair};
/// use neuronet_transport::{Dendrite, DendriteConfig, Target};
/// # async fn run(miner: neuronet_synapse::Hotkey, addr: libp2p::Multiaddr) -> Result<(), neuronet_transport::Error> {
/// let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
/// let dendrite = Dendrite::new(validator, DendriteConfig::default()).await?;
/// let answer = dendrite
///     .query::<Ping>(&Target::Explicit { hotkey: miner, addr }, proto::PingRequest {}, std::time::Duration::from_secs(5))
///     .await;
/// println!("{} {:?}", answer.status, answer.body);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Dendrite {
    inner: Arc<Inner>,
}

impl Dendrite {
    /// A dendrite signing as `keypair`'s hotkey. It accepts no connections; its dials share
    /// [`DendriteConfig::sockets`] UDP sockets per address family.
    pub async fn new(keypair: Keypair, config: DendriteConfig) -> Result<Self, Error> {
        Self::with_directory(keypair, config, Directory::new()).await
    }

    /// A dendrite resolving hotkeys through `directory`.
    pub async fn with_directory(keypair: Keypair, config: DendriteConfig, directory: Directory) -> Result<Self, Error> {
        // Every swarm speaks for the same PeerId, so one binding serves them all.
        let identity = crate::swarm::node_identity(&config.network)?;
        let mut networks = Vec::with_capacity(config.sockets.max(1));
        for _ in 0..config.sockets.max(1) {
            // No listener: the swarm's transport opens one client-only UDP socket per address
            // family on its first dial and shares it among all connections.
            let (network, _) = Network::start_with_identity(&config.network, identity.clone(), None, false)?;
            networks.push(network);
        }
        let local_peer_id = identity.public().to_peer_id();
        let expires_at = expiry_after(unix_nanos(), config.binding_ttl);
        let binding = sign_binding(&keypair, &local_peer_id.to_bytes(), expires_at);
        let max_dials = config.max_concurrent_dials.max(1);
        Ok(Dendrite {
            inner: Arc::new(Inner {
                keypair: Arc::new(keypair),
                config,
                directory,
                networks,
                binding: Mutex::new(binding),
                connections: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                dials: tokio::sync::Semaphore::new(max_dials),
                metrics: Metrics::default(),
            }),
        })
    }

    /// The dendrite's hotkey.
    pub fn hotkey(&self) -> Hotkey {
        self.inner.keypair.hotkey()
    }

    /// The dendrite's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.network(&self.hotkey()).local_peer_id()
    }

    /// The dendrite's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The Directory targets are resolved through.
    pub fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    /// Sends one unary request and waits for the answer or `timeout`. Never fails as a whole:
    /// every failure is a status (503 unreachable, 408 timeout, 401 binding refused, 422
    /// undecodable answer).
    pub async fn query<S: Synapse>(
        &self,
        target: &Target,
        request: S::Request,
        timeout: Duration,
    ) -> Response<S::Response> {
        let started = Instant::now();
        let hotkey = *target.hotkey();
        let body = Bytes::from(request.encode_to_vec());
        let (tx, rx) = oneshot::channel();
        let deadline = tokio::time::Instant::from(deadline_after(started, timeout));
        let sent =
            tokio::time::timeout_at(deadline, self.send(target, S::NAME, body, timeout, Pending::Unary(tx))).await;
        let response = match sent {
            Err(_) => Response::failure(hotkey, Status::Timeout, crate::error::timeout_message(timeout), started),
            Ok(Err((status, message))) => Response::failure(hotkey, status, message, started),
            Ok(Ok((stream, id))) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Reply::Done(head, bytes))) => decode_response::<S>(hotkey, head, bytes, started),
                Ok(Ok(Reply::Failed(status, message))) => Response::failure(hotkey, status, message, started),
                Ok(Ok(Reply::Chunk(_))) => {
                    Response::failure(hotkey, Status::Unprocessable, "a chunk answered a unary request", started)
                }
                Ok(Err(_)) => Response::failure(hotkey, Status::Unavailable, "connection closed", started),
                Err(_) => {
                    stream.take(id);
                    cancel(&stream, id).await;
                    Response::failure(hotkey, Status::Timeout, crate::error::timeout_message(timeout), started)
                }
            },
        };
        self.inner.metrics.record(S::NAME, response.status.code(), response.elapsed.as_secs_f64());
        response
    }

    /// Sends the same request to every target concurrently: one answer per target, in order.
    pub async fn forward<S: Synapse>(
        &self,
        targets: &[Target],
        request: S::Request,
        timeout: Duration,
    ) -> Vec<Response<S::Response>> {
        futures::future::join_all(targets.iter().map(|t| self.query::<S>(t, request.clone(), timeout))).await
    }

    /// Sends a streaming request; the returned stream yields each chunk, then ends with the
    /// final status available from [`ResponseStream::status`].
    pub async fn query_stream<S: Synapse>(
        &self,
        target: &Target,
        request: S::Request,
        timeout: Duration,
    ) -> ResponseStream<S::Response> {
        let started = Instant::now();
        let hotkey = *target.hotkey();
        let body = Bytes::from(request.encode_to_vec());
        let (tx, rx) = mpsc::channel(self.inner.config.stream_chunk_buffer.max(1));
        let buffered = Arc::new(AtomicUsize::new(0));
        let sink = ChunkSink { tx, buffered: buffered.clone() };
        let deadline = tokio::time::Instant::from(deadline_after(started, timeout));
        let mut stream = ResponseStream {
            target: hotkey,
            rx: None,
            buffered,
            request: None,
            deadline,
            status: None,
            message: String::new(),
            _marker: std::marker::PhantomData,
        };
        match tokio::time::timeout_at(deadline, self.send(target, S::NAME, body, timeout, Pending::Stream(sink))).await
        {
            Err(_) => stream.finish(Status::Timeout, crate::error::timeout_message(timeout)),
            Ok(Err((status, message))) => stream.finish(status, message),
            Ok(Ok(request)) => {
                stream.rx = Some(rx);
                stream.request = Some(request);
            }
        }
        stream
    }

    /// Drops the connection to `hotkey`, if any.
    pub async fn disconnect(&self, hotkey: &Hotkey) {
        let slot = self.inner.connections.lock().ok().and_then(|mut c| c.remove(hotkey.public()));
        let conn = slot.and_then(|slot| slot.current.lock().ok().and_then(|mut current| current.take()));
        if let Some(conn) = conn {
            self.network(hotkey).disconnect(conn.peer_id).await;
        }
    }

    /// The binding to present, re-signed once it is due for renewal (see [`renewal`]), so that
    /// a stream opened to renew a connection's binding carries a fresh one.
    fn binding(&self) -> HotkeyBinding {
        let mut binding = self.inner.binding.lock().unwrap_or_else(|p| p.into_inner());
        let now = unix_nanos();
        if renewal(binding.expires_at, now, self.renewal_margin()) != Renewal::Fresh {
            let expires_at = expiry_after(now, self.inner.config.binding_ttl);
            *binding = sign_binding(&self.inner.keypair, &binding.peer_id, expires_at);
        }
        binding.clone()
    }

    fn renewal_margin(&self) -> Duration {
        renewal_margin(self.inner.config.binding_ttl, self.inner.config.connect_timeout)
    }

    /// Keeps the connection's binding alive: a binding due for renewal is renewed in the
    /// background while requests go on over the current streams; one about to expire is
    /// renewed before this request is sent, which would otherwise be refused (401).
    async fn keep_bound(&self, conn: &Arc<Connection>, hotkey: Hotkey) -> Result<(), (Status, String)> {
        let bound_until = conn.bound_until.load(Ordering::Acquire);
        match renewal(bound_until, unix_nanos(), self.renewal_margin()) {
            Renewal::Fresh => Ok(()),
            Renewal::Due => {
                self.renew_in_background(conn, hotkey);
                Ok(())
            }
            // Boxed: the renewal's stream opening would otherwise take 1.4 KB in every query's
            // future, a thousand of which a forward holds at once.
            Renewal::Urgent => {
                Box::pin(async {
                    tokio::time::timeout(self.inner.config.connect_timeout, self.renew(conn, hotkey))
                        .await
                        .map_err(|_| (Status::Timeout, format!("renewing the binding to {hotkey} timed out")))?
                })
                .await
            }
        }
    }

    fn renew_in_background(&self, conn: &Arc<Connection>, hotkey: Hotkey) {
        if conn.renewal_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            let timeout = this.inner.config.connect_timeout;
            let backoff = this.inner.config.stream_open_backoff;
            let renewed = tokio::time::timeout(timeout, this.renew(&conn, hotkey)).await;
            drop(this);
            if !matches!(renewed, Ok(Ok(()))) {
                tracing::debug!(peer_id = %conn.peer_id, "renewing the connection's binding failed");
                tokio::time::sleep(backoff).await;
            }
            conn.renewal_started.store(false, Ordering::Release);
        });
    }

    /// Renews the connection's binding: opens a stream with a freshly signed Bind frame, which
    /// takes the others' place (they close once their requests are done).
    async fn renew(&self, conn: &Arc<Connection>, hotkey: Hotkey) -> Result<(), (Status, String)> {
        let _one = conn.renewing.lock().await;
        let bound_until = conn.bound_until.load(Ordering::Acquire);
        if renewal(bound_until, unix_nanos(), self.renewal_margin()) == Renewal::Fresh {
            // Renewed while this call waited.
            return Ok(());
        }
        let stream = self.open_stream(conn.peer_id, &hotkey).await?;
        tracing::debug!(peer_id = %conn.peer_id, bound_until = stream.bound_until, "binding renewed");
        conn.renew_with(stream);
        Ok(())
    }

    /// The swarm (and UDP socket) that carries the connection to `hotkey`: a fixed choice per
    /// hotkey, spreading peers evenly over the sockets.
    fn network(&self, hotkey: &Hotkey) -> &Network {
        let networks = &self.inner.networks;
        let spread = u64::from_le_bytes(hotkey.public()[..8].try_into().unwrap_or_default());
        let index = (spread % networks.len().max(1) as u64) as usize;
        // `networks` is never empty (at least one socket is started).
        networks.get(index).unwrap_or(&networks[0])
    }

    async fn send(
        &self,
        target: &Target,
        synapse: &str,
        body: Bytes,
        timeout: Duration,
        pending: Pending,
    ) -> Result<(Arc<PoolStream>, u64), (Status, String)> {
        let conn = self.connection(target).await?;
        let hotkey = target.hotkey();
        self.keep_bound(&conn, *hotkey).await?;
        // A connection can lose its only stream between the dial and this pick (its binding
        // refused): the request is then told why.
        let mut stream = conn.pick().ok_or_else(|| conn.failure())?;
        if stream.pending.lock().is_ok_and(|p| !p.is_empty()) {
            // This request queues behind another: time for the connection's further streams.
            self.grow(&conn, *hotkey);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let mut head = RequestHead::new(synapse, self.inner.keypair.hotkey(), *hotkey.public(), timeout_ms);
        if self.inner.config.auth == Auth::Connection {
            head.auth = AuthMode::Connection;
        }
        let (mut item, mut pending) = (Outgoing::Request(Box::new(QueuedRequest { id, head, body })), pending);
        loop {
            if let Ok(mut p) = stream.pending.lock() {
                p.insert(id, pending);
            }
            // The stream's writer task signs (batching what is queued together) and writes.
            let unsent = match stream.enqueue(item) {
                Ok(()) => return Ok((stream, id)),
                Err(unsent) => unsent,
            };
            let retired = stream.retiring.load(Ordering::Acquire);
            match stream.take(id) {
                // Retired (its binding renewed) since the pick: the stream that took its place
                // carries the request.
                Some(waiter) if retired => {
                    (item, pending) = (unsent, waiter);
                    stream = conn.pick().ok_or_else(|| conn.failure())?;
                }
                _ => return Err(stream.ended()),
            }
        }
    }

    async fn connection(&self, target: &Target) -> Result<Arc<Connection>, (Status, String)> {
        let hotkey = *target.hotkey();
        let slot = {
            let mut connections =
                self.inner.connections.lock().map_err(|_| (Status::InternalError, "lock poisoned".to_owned()))?;
            connections.entry(*hotkey.public()).or_default().clone()
        };
        if let Some(conn) = live(&slot) {
            return Ok(conn);
        }
        // Boxed: (re)connecting is the rare path, and its state would otherwise size every
        // query's future, a thousand of which a forward holds at once.
        Box::pin(self.reconnect(target, slot)).await
    }

    /// (Re)connects `slot`: one dial at a time per target; whoever waited behind it reuses its
    /// result.
    async fn reconnect(&self, target: &Target, slot: Slot) -> Result<Arc<Connection>, (Status, String)> {
        let hotkey = *target.hotkey();
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(&slot) {
            return Ok(conn);
        }
        let (addr, peer) = self.resolve(target)?;
        // Waiting for a dial slot is not part of the connect timeout; the query's own timeout
        // still bounds it.
        let _slot =
            self.inner.dials.acquire().await.map_err(|_| (Status::Unavailable, "dendrite closed".to_owned()))?;
        let connect = self.connect(hotkey, addr, peer, &slot);
        let conn = tokio::time::timeout(self.inner.config.connect_timeout, connect)
            .await
            .map_err(|_| (Status::Timeout, format!("connecting to {hotkey} timed out")))??;
        if let Ok(mut current) = slot.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }

    fn resolve(&self, target: &Target) -> Result<(Multiaddr, Option<PeerId>), (Status, String)> {
        let (addr, peer) = match target {
            Target::Explicit { addr, .. } => (addr.clone(), None),
            Target::Hotkey(hotkey) => {
                let entry = self
                    .inner
                    .directory
                    .get(hotkey)
                    .ok_or_else(|| (Status::Unavailable, format!("{hotkey} is not in the directory")))?;
                let addr = entry
                    .addrs
                    .first()
                    .cloned()
                    .ok_or_else(|| (Status::Unavailable, format!("{hotkey} has no address")))?;
                (addr, entry.peer_id)
            }
        };
        let from_addr = addr.iter().find_map(|p| match p {
            Protocol::P2p(peer) => Some(peer),
            _ => None,
        });
        Ok((addr, peer.or(from_addr)))
    }

    async fn connect(
        &self,
        hotkey: Hotkey,
        addr: Multiaddr,
        peer: Option<PeerId>,
        slot: &Slot,
    ) -> Result<Arc<Connection>, (Status, String)> {
        let peer_id = self
            .network(&hotkey)
            .dial(addr.clone(), peer)
            .await
            .map_err(|e| (Status::Unavailable, format!("Service unavailable at {addr}: {e}")))?;
        // A PeerId known before the dial (from the directory, the address or an earlier
        // binding) was proven by the TLS handshake: the first request can follow the Bind frame
        // at once, saving the binding's round trip. Its answer is still only read once the
        // axon's binding is verified. An unknown PeerId waits for the binding first, so that
        // nothing but the Bind frame reaches a peer not yet known to hold the hotkey.
        let remembered = slot.proven.lock().ok().and_then(|p| *p);
        let pinned = peer.or(remembered) == Some(peer_id);
        let opened = match pinned {
            true => self.open_pipelined(peer_id, hotkey, slot.clone()).await,
            false => self.open_stream(peer_id, &hotkey).await,
        };
        let first = match opened {
            Ok(stream) => {
                if let Ok(mut proven) = slot.proven.lock() {
                    *proven = Some(peer_id);
                }
                stream
            }
            Err(refusal) => {
                if refusal.0 == Status::Unauthorized {
                    self.network(&hotkey).disconnect(peer_id).await;
                }
                return Err(refusal);
            }
        };
        // Further pool streams open when requests start to queue (see `grow`), not now: a
        // connection that carries one request at a time needs one stream, and opening another
        // beside the first request (a Bind each way, two signature checks) delays its answer.
        let conn = Arc::new(Connection::new(peer_id, first));
        Ok(conn)
    }

    /// Opens the connection's next pool stream in the background, up to
    /// [`DendriteConfig::streams_per_connection`], one at a time (libp2p-stream keeps only one
    /// pending inbound stream per protocol).
    fn grow(&self, conn: &Arc<Connection>, hotkey: Hotkey) {
        let wanted = self.inner.config.streams_per_connection;
        if conn.live_streams() >= wanted || conn.growing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Counted again now that this call owns the flag: a grow that just finished may have
        // added the stream the first count missed.
        if conn.live_streams() >= wanted {
            conn.growing.store(false, Ordering::Release);
            return;
        }
        let this = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            let timeout = this.inner.config.connect_timeout;
            let backoff = this.inner.config.stream_open_backoff;
            let opened = tokio::time::timeout(timeout, this.open_stream(conn.peer_id, &hotkey)).await;
            drop(this);
            match opened {
                // A stream opened while the connection died (libp2p may even have opened it on a
                // newer connection) is closed rather than kept where nothing picks it.
                Ok(Ok(stream)) => {
                    conn.add_stream(stream);
                }
                _ => tokio::time::sleep(backoff).await,
            }
            conn.growing.store(false, Ordering::Release);
        });
    }

    /// Opens a stream and runs the binding exchange on it, retrying a stream the axon dropped
    /// before answering (libp2p-stream drops inbound streams that arrive in a burst).
    async fn open_stream(&self, peer_id: PeerId, expected: &Hotkey) -> Result<Arc<PoolStream>, (Status, String)> {
        let mut attempt = 0u32;
        loop {
            match self.try_open_stream(peer_id, expected).await {
                Err((Status::Unavailable, message)) if attempt < self.inner.config.open_retries => {
                    attempt += 1;
                    tracing::debug!(%peer_id, attempt, %message, "stream dropped before the binding answer, retrying");
                    // Jitter so that many dendrites dropped together do not collide again.
                    let jitter = unix_nanos() % 2_000_000;
                    tokio::time::sleep(Duration::from_nanos(u64::from(attempt) * 1_000_000 + jitter)).await;
                }
                other => return other,
            }
        }
    }

    async fn try_open_stream(&self, peer_id: PeerId, expected: &Hotkey) -> Result<Arc<PoolStream>, (Status, String)> {
        let mut bound = self.open_with_bind(peer_id, expected).await?;
        read_binding_answer(&mut bound.reader, peer_id, expected, self.inner.config.frame_timeout).await?;
        Ok(self.start_stream(bound))
    }

    /// Opens a stream whose requests follow its Bind frame without waiting: the reader task
    /// verifies the axon's binding before it reads any answer, and on a refusal fails every
    /// request of the stream (dropping the connection when the axon holds another hotkey).
    async fn open_pipelined(
        &self,
        peer_id: PeerId,
        expected: Hotkey,
        slot: Slot,
    ) -> Result<Arc<PoolStream>, (Status, String)> {
        let BoundStream { mut reader, writer, bound_until } = self.open_with_bind(peer_id, &expected).await?;
        let pool = self.start_writer(writer, reader.get_ref().received(), bound_until);
        // Weak: the reader task lives as long as the connection, which must not keep the
        // dendrite (and with it the swarm and the connection) alive after its last handle drops.
        let dendrite = Arc::downgrade(&self.inner);
        let limits = self.read_limits();
        let stream = pool.clone();
        let reader_task = tokio::spawn(async move {
            let pool = stream;
            // Boxed: the exchange is over once the binding is verified, and the task lives on.
            match Box::pin(read_binding_answer(&mut reader, peer_id, &expected, limits.frame_timeout)).await {
                Ok(()) => read_responses(pool, reader, limits).await,
                Err((status, message)) => {
                    // This task must deliver the refusal: the writer may not stop it now.
                    if let Ok(mut reader) = pool.reader.lock() {
                        reader.take();
                    }
                    if let Ok(mut proven) = slot.proven.lock() {
                        *proven = None;
                    }
                    pool.end(status, &message);
                    let waiting = pool.close();
                    // The connection is gone before the callers hear of it, so that their next
                    // query dials afresh instead of finding it closing.
                    if let Some(inner) = dendrite.upgrade().filter(|_| status == Status::Unauthorized) {
                        // Boxed: a refusal is rare, and the reader task lives as long as the stream.
                        Box::pin(Dendrite { inner }.network(&expected).disconnect(peer_id)).await;
                    }
                    for waiter in waiting {
                        deliver(waiter, Reply::Failed(status, message.clone()));
                    }
                }
            }
        });
        pool.set_reader(&reader_task);
        Ok(pool)
    }

    /// Opens a synapse stream to `peer_id` and writes the dendrite's Bind frame on it.
    async fn open_with_bind(&self, peer_id: PeerId, expected: &Hotkey) -> Result<BoundStream, (Status, String)> {
        let mut control = self.network(expected).control();
        let stream = control
            .open_stream(peer_id, SYNAPSE_PROTOCOL)
            .await
            .map_err(|e| (Status::Unavailable, format!("opening a stream to {expected}: {e}")))?;
        let (reader, mut writer) = stream.split();
        let binding = self.binding();
        write_frame(&mut writer, FrameKind::Bind, 0, &binding.encode_to_vec(), &[])
            .await
            .map_err(|e| (Status::Unavailable, format!("binding exchange with {expected}: {e}")))?;
        let capacity = self.inner.config.network.stream_read_buffer.max(PREFIX_LEN);
        let reader = LazyBufReader::with_capacity(capacity, Counted::new(reader));
        Ok(BoundStream { reader, writer, bound_until: binding.expires_at })
    }

    /// A pool stream over a bound stream: reader and writer tasks.
    fn start_stream(&self, BoundStream { reader, writer, bound_until }: BoundStream) -> Arc<PoolStream> {
        let pool = self.start_writer(writer, reader.get_ref().received(), bound_until);
        let reader_task = tokio::spawn(read_responses(pool.clone(), reader, self.read_limits()));
        pool.set_reader(&reader_task);
        pool
    }

    fn read_limits(&self) -> ReadLimits {
        let config = &self.inner.config;
        ReadLimits {
            max_body: config.max_response_bytes,
            stream_buffer_bytes: config.stream_buffer_bytes,
            frame_timeout: config.frame_timeout,
        }
    }

    /// A pool stream and its writer task; the caller reads the answers (counted in `received`).
    fn start_writer(
        &self,
        writer: WriteHalf<libp2p::Stream>,
        received: Arc<AtomicU64>,
        bound_until: u64,
    ) -> Arc<PoolStream> {
        let pool = Arc::new(PoolStream {
            queue: Mutex::new(Queue { frames: std::collections::VecDeque::new(), open: true }),
            queued: tokio::sync::Notify::new(),
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
            reader: Mutex::new(None),
            ended: Mutex::new(None),
            bound_until,
            retiring: AtomicBool::new(false),
        });
        let signer = (self.inner.config.auth == Auth::PerRequest).then(|| self.inner.keypair.clone());
        let limits = BatchLimits { body: self.inner.config.batch_body_limit, total: self.inner.config.batch_bytes };
        let network = &self.inner.config.network;
        let stall = (network.write_stall, network.min_drain_rate);
        tokio::spawn(write_requests(pool.clone(), writer, signer, limits, (stall, received)));
        pool
    }
}

/// A stream's read half, counting what it reads (answers arriving tell the stream's writer that
/// a peer slow to take requests is alive); its buffer exists only while a skip needs it.
type StreamReader = LazyBufReader<Counted<ReadHalf<libp2p::Stream>>>;

/// A stream whose Bind frame has been written.
struct BoundStream {
    reader: StreamReader,
    writer: WriteHalf<libp2p::Stream>,
    /// When the binding sent on it expires (Unix seconds).
    bound_until: u64,
}

/// What a stream's reader accepts from the axon.
#[derive(Clone, Copy)]
struct ReadLimits {
    /// [`DendriteConfig::max_response_bytes`].
    max_body: u32,
    /// [`DendriteConfig::stream_buffer_bytes`].
    stream_buffer_bytes: usize,
    /// [`DendriteConfig::frame_timeout`].
    frame_timeout: Duration,
}

/// Reads the rest of a frame whose prefix has arrived, within `timeout`: a frame announced and
/// then sent too slowly (or not at all) would hold every request waiting on the stream. Not an
/// `async fn`, which would hold `read` twice (as its argument and in the timeout) in the
/// future of a stream's reader task.
fn rest_of_frame<T>(
    prefix: &FramePrefix,
    timeout: Duration,
    read: impl std::future::Future<Output = std::io::Result<T>>,
) -> impl std::future::Future<Output = std::io::Result<T>> {
    let (header_len, body_len) = (prefix.header_len, prefix.body_len);
    futures::FutureExt::map(tokio::time::timeout(timeout, read), move |read| {
        read.unwrap_or_else(|_| {
            let message = format!(
                "the axon announced a frame of {header_len} header and {body_len} body bytes and did not send it \
             within {timeout:?} (frame_timeout)"
            );
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
        })
    })
}

/// Reads the axon's answer to a Bind frame: its own binding, which must prove `expected` for
/// `peer_id`, or a refusal.
async fn read_binding_answer(
    reader: &mut StreamReader,
    peer_id: PeerId,
    expected: &Hotkey,
    frame_timeout: Duration,
) -> Result<(), (Status, String)> {
    let io_err = |e: std::io::Error| (Status::Unavailable, format!("binding exchange with {expected}: {e}"));
    let prefix =
        read_prefix(reader).await.map_err(io_err)?.ok_or((Status::Unavailable, "axon closed the stream".to_owned()))?;
    let rest = async {
        let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
        skip(reader, u64::from(prefix.body_len)).await?;
        Ok(header)
    };
    let header = rest_of_frame(&prefix, frame_timeout, rest).await.map_err(io_err)?;
    match prefix.kind {
        FrameKind::Bind => {
            let record = HotkeyBinding::decode(header)
                .map_err(|e| (Status::Unauthorized, format!("binding refused: axon's binding does not decode: {e}")))?;
            let proven = verify_binding(&record, &peer_id.to_bytes(), unix_nanos() / 1_000_000_000)
                .map_err(|e| (Status::Unauthorized, format!("binding refused: {e}")))?;
            if proven != *expected {
                tracing::warn!(%peer_id, expected = %expected, found = %proven, "axon holds another hotkey");
                return Err((
                    Status::Unauthorized,
                    format!("binding refused: axon holds hotkey {proven}, expected {expected}"),
                ));
            }
            Ok(())
        }
        FrameKind::Response => {
            // Refused: keep the axon's status when it is a refusal, but never let an answer
            // without a binding pass for anything else.
            let head = ResponseHead::decode(&header)
                .map_err(|e| (Status::Unauthorized, format!("binding refused: undecodable answer: {e}")))?;
            let status = match head.status {
                Status::TooManyRequests | Status::Forbidden | Status::Unavailable => head.status,
                _ => Status::Unauthorized,
            };
            Err((status, head.message))
        }
        _ => Err((Status::Unauthorized, "binding refused: unexpected frame".to_owned())),
    }
}

async fn cancel(stream: &PoolStream, id: u64) {
    // A stream that has failed has no request to cancel.
    let _ = stream.enqueue(Outgoing::Cancel(id));
}

/// How the writer task groups requests under one signature.
#[derive(Clone, Copy)]
struct BatchLimits {
    body: usize,
    total: usize,
}

/// The stream's writer: takes every request queued at the moment, signs them (one batch
/// signature over small requests queued together), and writes their frames in one go.
async fn write_requests(
    pool: Arc<PoolStream>,
    mut writer: WriteHalf<libp2p::Stream>,
    signer: Option<Arc<Keypair>>,
    limits: BatchLimits,
    ((stall, min_rate), received): ((Duration, u64), Arc<AtomicU64>),
) {
    let mut queued = Vec::new();
    let mut buffer = Vec::new();
    loop {
        if !pool.dequeue(&mut queued, 1) {
            return;
        }
        if queued.is_empty() {
            // A frame queued or the queue closed since the check leaves a permit: no wakeup lost.
            pool.queued.notified().await;
            continue;
        }
        if signer.is_some() && pool.pending.lock().is_ok_and(|p| p.len() > 1) {
            // Other requests are in flight, so more are likely on their way: let query tasks
            // that are ready run first, so that their requests join this batch and one
            // signature covers more of them. A lone request does not wait: the yield costs its
            // worker a trip through the scheduler (a few microseconds of its latency).
            tokio::task::yield_now().await;
        }
        let room = MAX_BATCH.saturating_sub(queued.len());
        pool.dequeue(&mut queued, room);
        if let Some(signer) = &signer {
            sign_queued(signer, &mut queued, limits);
        }
        let frames = queued.drain(..).map(|item| match item {
            Outgoing::Request(request) => {
                let QueuedRequest { id, head, body } = *request;
                OutFrame { kind: FrameKind::Request, id, header: head.encode(), body, held: None }
            }
            Outgoing::Cancel(id) => {
                OutFrame { kind: FrameKind::Cancel, id, header: Vec::new(), body: Bytes::new(), held: None }
            }
        });
        // Answers arriving while the axon takes no requests: it is slow (it reads no requests
        // while its answers back up), not gone.
        let mut seen = received.load(Ordering::Relaxed);
        let mut alive = || {
            let now = received.load(Ordering::Relaxed);
            std::mem::replace(&mut seen, now) != now
        };
        let mut stall = Stall::new(stall, min_rate, &mut alive);
        // Boxed: the writer waits for requests nearly all the time, and holding a write inline
        // would keep its 680 bytes in the task while it waits.
        if let Err(error) = Box::pin(write_frames(&mut writer, frames, &mut buffer, &mut stall)).await {
            pool.fail_all(Status::Unavailable, &format!("sending failed: {error}"));
            if let Some(reader) = pool.reader.lock().ok().and_then(|mut r| r.take()) {
                reader.abort();
            }
            return;
        }
        if pool.nothing_queued() {
            // Idle, as a stream to each of a validator's miners is nearly always: the gather
            // buffer (as large as the last batch) is not kept for the next request.
            buffer = Vec::new();
        }
    }
}

/// Signs queued requests: runs of small requests share one batch signature, large ones are
/// signed alone. Batches are consecutive on the stream, as the axon requires.
fn sign_queued(signer: &Keypair, queued: &mut [Outgoing], limits: BatchLimits) {
    fn sign_run(signer: &Keypair, run: &mut Vec<(&mut RequestHead, Bytes)>) {
        let mut members: Vec<(&mut RequestHead, &[u8])> = run.iter_mut().map(|(h, b)| (&mut **h, &b[..])).collect();
        sign_batch(signer, &mut members);
        run.clear();
    }
    let mut run: Vec<(&mut RequestHead, Bytes)> = Vec::new();
    let mut run_bytes = 0;
    for item in queued.iter_mut() {
        let Outgoing::Request(request) = item else { continue };
        let QueuedRequest { head, body, .. } = &mut **request;
        if body.len() > limits.body {
            sign_run(signer, &mut run);
            run_bytes = 0;
            head.sign(signer, body);
            continue;
        }
        if run_bytes + body.len() > limits.total {
            sign_run(signer, &mut run);
            run_bytes = 0;
        }
        run_bytes += body.len();
        run.push((head, body.clone()));
    }
    sign_run(signer, &mut run);
}

async fn read_responses(pool: Arc<PoolStream>, mut reader: StreamReader, limits: ReadLimits) {
    let outcome = read_loop(&pool, &mut reader, limits).await;
    let message = match outcome {
        Ok(()) => "axon closed the stream".to_owned(),
        Err(error) => format!("stream failed: {error}"),
    };
    pool.fail_all(Status::Unavailable, &message);
}

async fn read_loop(pool: &PoolStream, reader: &mut StreamReader, limits: ReadLimits) -> std::io::Result<()> {
    while let Some(prefix) = read_prefix(reader).await? {
        // Boxed: the reader waits for a prefix nearly all the time, and holding a frame's
        // reading inline would keep its 440 bytes in the task while it waits.
        Box::pin(rest_of_frame(&prefix, limits.frame_timeout, read_frame(pool, reader, prefix, limits))).await?;
    }
    Ok(())
}

/// Reads one frame after its prefix and hands it to the request it answers.
async fn read_frame(
    pool: &PoolStream,
    reader: &mut StreamReader,
    FramePrefix { kind, request_id, header_len, body_len }: FramePrefix,
    limits: ReadLimits,
) -> std::io::Result<()> {
    let max_body = limits.max_body;
    if body_len > max_body {
        skip(reader, u64::from(header_len) + u64::from(body_len)).await?;
        if let Some(waiter) = pool.take(request_id) {
            let reply = Reply::Failed(
                Status::PayloadTooLarge,
                format!("response body of {body_len} bytes exceeds the limit of {max_body}"),
            );
            deliver(waiter, reply);
        }
        return Ok(());
    }
    match kind {
        FrameKind::Response => {
            let header = read_bytes(reader, usize::from(header_len)).await?;
            let body = read_bytes(reader, body_len as usize).await?;
            if let Some(waiter) = pool.take(request_id) {
                let reply = match ResponseHead::decode(&header) {
                    Ok(head) => Reply::Done(head, body),
                    Err(e) => Reply::Failed(Status::Unprocessable, format!("response header does not decode: {e}")),
                };
                deliver(waiter, reply);
            }
            Ok(())
        }
        FrameKind::Chunk => {
            // Chunks carry no header.
            skip(reader, u64::from(header_len)).await?;
            let sink = pool.pending.lock().ok().and_then(|p| match p.get(&request_id) {
                Some(Pending::Stream(sink)) => Some((sink.tx.clone(), sink.buffered.clone())),
                _ => None,
            });
            let Some((tx, buffered)) = sink else {
                // Nobody waits for it (cancelled, or given up): never held.
                return skip(reader, u64::from(body_len)).await;
            };
            let len = body_len as usize;
            if buffered.load(Ordering::Acquire).saturating_add(len) > limits.stream_buffer_bytes {
                // The caller reads too slowly for this answer: stop it before reading the chunk
                // into memory rather than buffer without bound.
                skip(reader, u64::from(body_len)).await?;
                let message = format!(
                    "streaming answer cancelled: its unread chunks would pass {} bytes (stream_buffer_bytes); \
                     the caller reads slower than the axon sends",
                    limits.stream_buffer_bytes
                );
                cancel_unread(pool, request_id, message);
                return Ok(());
            }
            let body = read_bytes(reader, len).await?;
            buffered.fetch_add(len, Ordering::AcqRel);
            if tx.try_send(Reply::Chunk(body)).is_err() {
                buffered.fetch_sub(len, Ordering::AcqRel);
                let message = format!(
                    "streaming answer cancelled: {} chunks unread (stream_chunk_buffer); the caller reads slower \
                     than the axon sends",
                    tx.max_capacity()
                );
                cancel_unread(pool, request_id, message);
            }
            Ok(())
        }
        _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected frame from the axon")),
    }
}

/// Gives up a streaming request whose caller reads slower than its chunks arrive: the axon is
/// told to stop, and the caller's stream ends after the chunks already buffered with 413 and
/// `message` (a caller that is gone hears nothing).
fn cancel_unread(pool: &PoolStream, request_id: u64, message: String) {
    if let Some(waiter) = pool.take(request_id) {
        let _ = pool.enqueue(Outgoing::Cancel(request_id));
        deliver(waiter, Reply::Failed(Status::PayloadTooLarge, message));
    }
}

fn deliver(waiter: Pending, reply: Reply) {
    match waiter {
        Pending::Unary(tx) => {
            let _ = tx.send(reply);
        }
        Pending::Stream(ChunkSink { tx, .. }) => {
            if let Err(mpsc::error::TrySendError::Full(reply)) = tx.try_send(reply) {
                // The final status waits for the caller without holding up the stream's reader.
                tokio::spawn(async move {
                    let _ = tx.send(reply).await;
                });
            }
        }
    }
}

/// How long before its binding expires a connection renews it: a tenth of the binding's
/// lifetime, but at least the time a stream may take to open (`connect_timeout`), and at most
/// half the lifetime (so that a fresh binding is not due at once). For the default 24 h
/// binding: 2.4 h.
fn renewal_margin(ttl: Duration, connect_timeout: Duration) -> Duration {
    (ttl / 10).max(connect_timeout).min(ttl / 2)
}

/// Where a binding stands, for the connections that carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    /// More than the renewal margin left.
    Fresh,
    /// Within the margin: renew while requests go on over the current streams.
    Due,
    /// Within half the margin, or expired: renew before sending more, which the axon would
    /// otherwise refuse once the binding expires.
    Urgent,
}

/// Where a binding expiring at `expires_at` (Unix seconds) stands at `now_nanos`.
fn renewal(expires_at: u64, now_nanos: u64, margin: Duration) -> Renewal {
    let left = (u128::from(expires_at) * 1_000_000_000).saturating_sub(u128::from(now_nanos));
    let left = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
    if left > margin {
        Renewal::Fresh
    } else if left > margin / 2 {
        Renewal::Due
    } else {
        Renewal::Urgent
    }
}

/// The expiry (Unix seconds) of a binding signed at `now_nanos` for `ttl`, rounded up so that
/// it lasts at least `ttl`.
fn expiry_after(now_nanos: u64, ttl: Duration) -> u64 {
    let expires = (u128::from(now_nanos) + ttl.as_nanos()).div_ceil(1_000_000_000);
    u64::try_from(expires).unwrap_or(u64::MAX)
}

/// `started + timeout`, saturating far in the future instead of overflowing.
fn deadline_after(started: Instant, timeout: Duration) -> Instant {
    started.checked_add(timeout).unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600))
}

fn decode_response<S: Synapse>(
    target: Hotkey,
    head: ResponseHead,
    body: Bytes,
    started: Instant,
) -> Response<S::Response> {
    let process_time = Duration::from_micros(head.process_time_us);
    if !head.status.is_success() {
        return Response {
            target,
            status: head.status,
            message: head.message,
            body: None,
            process_time,
            elapsed: started.elapsed(),
        };
    }
    match S::Response::decode(body) {
        Ok(decoded) => Response {
            target,
            status: head.status,
            message: head.message,
            body: Some(decoded),
            process_time,
            elapsed: started.elapsed(),
        },
        Err(e) => Response {
            target,
            status: Status::Unprocessable,
            message: format!("Failed to parse response as {}: {e}", S::NAME),
            body: None,
            process_time,
            elapsed: started.elapsed(),
        },
    }
}

/// The chunks of a streaming answer. `next().await` yields each decoded chunk; after the last,
/// [`ResponseStream::status`] tells how the stream ended.
pub struct ResponseStream<T> {
    target: Hotkey,
    rx: Option<mpsc::Receiver<Reply>>,
    /// Bytes of the chunks in `rx` (see [`ChunkSink`]).
    buffered: Arc<AtomicUsize>,
    /// The stream and id the request travels on, to cancel it when the caller gives up.
    request: Option<(Arc<PoolStream>, u64)>,
    deadline: tokio::time::Instant,
    status: Option<Status>,
    message: String,
    _marker: std::marker::PhantomData<T>,
}

impl<T: Message + Default> ResponseStream<T> {
    fn finish(&mut self, status: Status, message: String) {
        self.status = Some(status);
        self.message = message;
        self.rx = None;
    }

    /// The axon sent its final frame: nothing is left to cancel.
    fn ended(&mut self, status: Status, message: String) {
        self.request = None;
        self.finish(status, message);
    }

    /// A chunk the caller takes no longer counts against `stream_buffer_bytes`.
    fn taken(&self, chunk: Bytes) -> Bytes {
        self.buffered.fetch_sub(chunk.len(), Ordering::AcqRel);
        chunk
    }

    /// The next chunk, or `None` when the stream ended (see [`ResponseStream::status`]).
    pub async fn next(&mut self) -> Option<T> {
        let rx = self.rx.as_mut()?;
        match tokio::time::timeout_at(self.deadline, rx.recv()).await {
            Ok(Some(Reply::Chunk(bytes))) => match T::decode(self.taken(bytes)) {
                Ok(chunk) => Some(chunk),
                Err(e) => {
                    self.finish(Status::Unprocessable, format!("chunk does not decode: {e}"));
                    None
                }
            },
            Ok(Some(Reply::Done(head, _))) => {
                self.ended(head.status, head.message);
                None
            }
            Ok(Some(Reply::Failed(status, message))) => {
                self.ended(status, message);
                None
            }
            Ok(None) => {
                let message = "stream ended without a final status (connection closed)";
                self.ended(Status::Unavailable, message.into());
                None
            }
            Err(_) => {
                self.finish(Status::Timeout, "Request timeout".into());
                None
            }
        }
    }

    /// The final status, once the stream has ended (`None` before).
    pub fn status(&self) -> Option<Status> {
        self.status
    }

    /// The final message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Who was asked.
    pub fn target(&self) -> Hotkey {
        self.target
    }
}

impl<T> Drop for ResponseStream<T> {
    fn drop(&mut self) {
        // Given up before the axon's final frame: forget the request and tell the axon.
        if let Some((pool, id)) = self.request.take() {
            if pool.take(id).is_some() {
                let _ = pool.enqueue(Outgoing::Cancel(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn the_default_binding_is_renewed_with_a_tenth_of_its_lifetime_left() {
        let config = DendriteConfig::default();
        let margin = renewal_margin(config.binding_ttl, config.connect_timeout);
        assert_eq!(margin, Duration::from_secs(24 * 360));
        let now = 1_700_000_000 * SECOND;
        let expires_at = expiry_after(now, config.binding_ttl);
        assert_eq!(expires_at, 1_700_000_000 + 24 * 3600);
        assert_eq!(renewal(expires_at, now, margin), Renewal::Fresh);
        let due = now + (24 * 3600 - 24 * 360 + 1) * SECOND;
        assert_eq!(renewal(expires_at, due, margin), Renewal::Due);
        let urgent = now + (24 * 3600 - 24 * 180) * SECOND;
        assert_eq!(renewal(expires_at, urgent, margin), Renewal::Urgent);
        assert_eq!(renewal(expires_at, now + 48 * 3600 * SECOND, margin), Renewal::Urgent);
    }

    #[test]
    fn a_short_binding_is_renewed_in_time_but_not_at_once() {
        // 2 s: the margin is capped at half the lifetime, and the expiry is rounded up, so a
        // binding signed at any moment lasts 2 s and is fresh for at least 1 s of it.
        let ttl = Duration::from_secs(2);
        let margin = renewal_margin(ttl, Duration::from_secs(5));
        assert_eq!(margin, Duration::from_secs(1));
        for fraction in [0, 1, SECOND / 2, SECOND - 1] {
            let now = 1_700_000_000 * SECOND + fraction;
            let expires_at = expiry_after(now, ttl);
            assert!(u128::from(expires_at) * 1_000_000_000 >= u128::from(now) + ttl.as_nanos());
            assert_eq!(renewal(expires_at, now, margin), Renewal::Fresh);
            assert_eq!(renewal(expires_at, now + SECOND - 1, margin), Renewal::Fresh);
            assert_eq!(renewal(expires_at, expires_at * SECOND - SECOND * 3 / 4, margin), Renewal::Due);
            assert_eq!(renewal(expires_at, expires_at * SECOND - SECOND / 4, margin), Renewal::Urgent);
        }
    }

    #[test]
    fn expiry_saturates_instead_of_overflowing() {
        assert_eq!(expiry_after(u64::MAX, Duration::MAX), u64::MAX);
        assert_eq!(renewal(u64::MAX, 0, Duration::from_secs(1)), Renewal::Fresh);
        assert_eq!(renewal(0, u64::MAX, Duration::from_secs(1)), Renewal::Urgent);
    }
}
