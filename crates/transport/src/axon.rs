//! The axon: serves synapses to dendrites over neuronet streams.
//!
//! Pipeline for every request, cheapest first, so that no cryptography is spent on traffic a
//! limit already refuses: rate limits (per peer, per IP) and size -> header decode -> receiver
//! and route -> connection binding -> signature and nonce -> blacklist -> priority queue ->
//! handler under the timeout -> response header with status, message and process time.

use crate::directory::{Directory, PeerFacts};
use crate::gate::Gate;
use crate::inbound::InboundStream;
use crate::io::{read_bytes, read_prefix, run_writer, skip, AnswerHold, OutFrame, Share, WriterLimits};
use crate::metrics::Metrics;
use crate::swarm::{Network, NetworkConfig, PeerEvents};
use crate::Error;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::io::{AsyncReadExt, BufReader};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::binding::{check_binding, sign_binding, BindingRules};
use neuronet_synapse::envelope::{verify_batch_with, RequestHead, ResponseHead};
use neuronet_synapse::frame::{FrameKind, FramePrefix, PREFIX_LEN};
use neuronet_synapse::nonce::{NonceError, NonceGuard, NonceGuardConfig};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::proto::{AuthMode, HotkeyBinding};
use neuronet_synapse::{Hotkey, Keypair, Status, Synapse, SynapseKind, VerifyingKey};
use prost::Message;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Which authentication modes an axon accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptedAuth {
    /// Only requests signed one by one.
    PerRequest,
    /// Only requests authenticated by the hotkey-bound connection.
    Connection,
    /// Either.
    Both,
}

impl AcceptedAuth {
    fn allows(self, mode: AuthMode) -> bool {
        matches!(
            (self, mode),
            (AcceptedAuth::Both, _)
                | (AcceptedAuth::PerRequest, AuthMode::PerRequest)
                | (AcceptedAuth::Connection, AuthMode::Connection)
        )
    }
}

/// Axon limits and policies. Every field has a documented default.
#[derive(Debug, Clone)]
pub struct AxonConfig {
    /// Swarm and QUIC settings (connections per IP, streams per connection, windows).
    pub network: NetworkConfig,
    /// Accepted authentication modes. Default [`AcceptedAuth::Both`].
    pub accepted_auth: AcceptedAuth,
    /// Largest request body in bytes; larger ones get 413 without being buffered. Default 8 MiB.
    pub max_request_bytes: u32,
    /// Body bytes held at once over all connections: requests from when they are read until
    /// their handler is done, answers from when they are ready until they are written. A request
    /// that would exceed it gets 503 without being buffered; an answer waits for its share (its
    /// size, at most a quarter of the budget) until the request's deadline, so answers piling up
    /// for a peer that does not read are bounded too. Default 256 MiB. What QUIC holds below
    /// the axon comes on top (`NetworkConfig::window_budget`); the whole budget is in
    /// docs/design.md ("Memory budget").
    pub max_inflight_bytes: usize,
    /// The part of `max_inflight_bytes` the peers of one IP address (IPv6: one /64) may hold,
    /// so that one address that sends much and reads slowly cannot take the whole budget from
    /// the others. Each request counts at least 1 KiB; keep it above `max_request_bytes`, or
    /// larger bodies are refused (503). 0 = no limit per address. Default 64 MiB.
    pub max_inflight_bytes_per_ip: usize,
    /// Requests per second one peer may send (burst the same). Default 20,000.
    pub rate_per_peer: u32,
    /// Requests per second from one IP address (burst the same). Default 50,000.
    pub rate_per_ip: u32,
    /// Freshness window and replay cache.
    pub nonce: NonceGuardConfig,
    /// Handlers running at once. Default 256.
    pub max_concurrency: usize,
    /// Requests waiting for a handler slot before 503. Default 1,024.
    pub queue_capacity: usize,
    /// Time a new stream has to complete its binding exchange before it is closed, and a new
    /// connection to bind a hotkey on one of its streams before it is closed. Default 5 s.
    pub bind_timeout: Duration,
    /// Time the rest of a frame may take once its prefix arrived, and a signature batch may wait
    /// for its next member; a slower peer's stream is closed. Default 10 s.
    pub frame_timeout: Duration,
    /// Answers queued per stream before the handlers writing them wait for the network.
    /// Default 256.
    pub write_queue: usize,
    /// Time past a request's deadline its answer may take to be written before the axon gives
    /// up on a peer that does not read (freeing the handler slot and the body's memory).
    /// Default 1 s.
    pub write_grace: Duration,
    /// How long a unary handler's first poll may take on the stream's reader task. An admitted
    /// unary request is first polled there, so an answer that is ready at once costs no task; one
    /// that waits is moved to a task of its own. A synapse whose first polls overrun this three
    /// times in quick succession, or more often than one poll in seventeen, is spawned
    /// straight away for the rest of the axon's life, so a handler that computes before its first
    /// `.await` holds up its stream for a few requests at most. Zero spawns every request.
    /// Default 100 us.
    pub inline_poll: Duration,
    /// Timeout when a request names none. Default 12 s (Bittensor's dendrite default).
    pub default_timeout: Duration,
    /// Longest timeout a caller may ask for. Default 120 s.
    pub max_timeout: Duration,
    /// Lifetime of the axon's hotkey binding. Default 24 h; re-signed before it runs out. Keep it
    /// within the dendrites' [`BindingRules`] (24 h by default) or they refuse it.
    pub binding_ttl: Duration,
    /// How long a caller's binding may last (default 24 h, plus 5 min of clock skew): a Bind
    /// whose `expires_at` lies further ahead is refused (401), so that a leaked binding does not
    /// speak for its hotkey forever. A dendrite refreshes its binding on the open connection.
    pub binding_rules: BindingRules,
    /// Bind frames one connection may send: a burst of `bind_budget`, then one more per
    /// `bind_refill`. Each costs a signature check, so past it the connection is closed (429).
    /// neuronet's dendrite sends one per stream it opens (two by default) and one per stream
    /// again when it refreshes its binding (once a day); a peer that opens many streams at once
    /// gets one Bind for each stream a connection may hold. Default 64
    /// (`NetworkConfig::max_streams_per_connection`'s default).
    pub bind_budget: u32,
    /// How often a connection's Bind budget grows by one. Default 10 s: a connection costs at
    /// most 64 signature checks at once and 6 a minute after that.
    pub bind_refill: Duration,
    /// Refuse callers the Directory does not list as registered (403). Default false.
    pub require_registered: bool,
    /// Refuse callers without a validator permit in the Directory (403). Default false.
    pub require_validator_permit: bool,
    /// Refuse callers with less stake (rao) in the Directory (403). Default 0.
    pub min_stake: u64,
}

impl Default for AxonConfig {
    fn default() -> Self {
        AxonConfig {
            network: NetworkConfig::default(),
            accepted_auth: AcceptedAuth::Both,
            max_request_bytes: 8 * 1024 * 1024,
            max_inflight_bytes: 256 * 1024 * 1024,
            max_inflight_bytes_per_ip: 64 * 1024 * 1024,
            rate_per_peer: 20_000,
            rate_per_ip: 50_000,
            nonce: NonceGuardConfig::default(),
            max_concurrency: 256,
            queue_capacity: 1024,
            write_queue: 256,
            write_grace: Duration::from_secs(1),
            inline_poll: Duration::from_micros(100),
            bind_timeout: Duration::from_secs(5),
            frame_timeout: Duration::from_secs(10),
            default_timeout: Duration::from_secs(12),
            max_timeout: Duration::from_secs(120),
            binding_ttl: Duration::from_secs(24 * 3600),
            binding_rules: BindingRules::default(),
            bind_budget: 64,
            bind_refill: Duration::from_secs(10),
            require_registered: false,
            require_validator_permit: false,
            min_stake: 0,
        }
    }
}

/// What a handler knows about the request it serves; the caller is authenticated.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The caller's hotkey, proven by signature or by the connection binding.
    pub caller: Hotkey,
    /// The caller's libp2p PeerId.
    pub peer_id: PeerId,
    /// What the Directory says about the caller.
    pub facts: Option<PeerFacts>,
    /// The synapse name.
    pub synapse: String,
    /// When the caller stops waiting.
    pub deadline: Instant,
}

/// A handler's refusal or failure: a status and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    /// The status.
    pub status: Status,
    /// The message.
    pub message: String,
}

impl HandlerError {
    /// A failure with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        HandlerError { status, message: message.into() }
    }
}

impl From<Status> for HandlerError {
    fn from(status: Status) -> Self {
        HandlerError { status, message: status.message().to_owned() }
    }
}

type UnaryFn = Arc<dyn Fn(RequestContext, Bytes) -> BoxFuture<'static, Result<Bytes, HandlerError>> + Send + Sync>;
type StreamItems = BoxStream<'static, Result<Bytes, HandlerError>>;
type StreamFn = Arc<dyn Fn(RequestContext, Bytes) -> Result<StreamItems, HandlerError> + Send + Sync>;

#[derive(Clone)]
enum Handler {
    Unary(UnaryFn),
    Streaming(StreamFn),
}

/// A synapse's handler and its inline-poll flag.
#[derive(Clone)]
struct Route {
    handler: Handler,
    inline: Arc<InlineFlag>,
}

/// Whether a synapse's requests are first polled on the stream's reader task. A first poll over
/// [`AxonConfig::inline_poll`] adds [`OVERRUN_WEIGHT`] to a score that every poll within it
/// lowers by one; at [`OVERRUN_LIMIT`] the synapse is spawned for good. Occasional overruns (the
/// machine pausing the thread, not the handler) decay; a handler that computes before its first
/// await reaches the limit after three overruns close together, or when its first polls overrun
/// more often than one in seventeen.
struct InlineFlag {
    synapse: String,
    score: AtomicU32,
}

/// What one overrun adds to an [`InlineFlag`]'s score.
const OVERRUN_WEIGHT: u32 = 16;
/// The score at which a synapse's requests are always spawned.
const OVERRUN_LIMIT: u32 = 3 * OVERRUN_WEIGHT;

impl InlineFlag {
    fn allowed(&self) -> bool {
        self.score.load(Ordering::Relaxed) < OVERRUN_LIMIT
    }

    /// Records one inline first poll. Once at the limit the score never moves again, so a poll
    /// that started earlier and ends within the limit cannot turn inlining back on.
    fn record(&self, took: Duration, limit: Duration) {
        let score = &self.score;
        if took <= limit {
            // Most polls: a load only, no write to the shared line while the score is zero.
            if score.load(Ordering::Relaxed) != 0 {
                let _ = score.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    (s < OVERRUN_LIMIT).then(|| s.saturating_sub(1))
                });
            }
            return;
        }
        let raised = score.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
            (s < OVERRUN_LIMIT).then(|| (s + OVERRUN_WEIGHT).min(OVERRUN_LIMIT))
        });
        if raised.is_ok_and(|before| before + OVERRUN_WEIGHT >= OVERRUN_LIMIT) {
            tracing::info!(
                synapse = %self.synapse,
                ?took,
                ?limit,
                "handler computes before its first await: its requests get a task of their own from now on"
            );
        }
    }
}

/// Decides whether an authenticated caller is refused: `Err(reason)` gives 403.
pub type BlacklistFn = Arc<dyn Fn(&Hotkey, Option<&PeerFacts>) -> Result<(), String> + Send + Sync>;
/// Orders queued requests: higher runs first. Default: the caller's stake.
pub type PriorityFn = Arc<dyn Fn(&Hotkey, Option<&PeerFacts>) -> f64 + Send + Sync>;

/// An axon under construction: register handlers, then [`Axon::start`].
///
/// ```no_run
/// use neuronet_synapse::{builtin::Ping, proto, CryptoType, Keypair};
/// use neuronet_transport::{Axon, AxonConfig};
/// # async fn run() -> Result<(), neuronet_transport::Error> {
/// let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;
/// let axon = Axon::new(miner, AxonConfig::default())
///     .serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 0, version: "x".into() }) })
///     .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
///     .await?;
/// println!("serving at {:?}", axon.listen_addrs());
/// # Ok(()) }
/// ```
pub struct Axon {
    keypair: Arc<Keypair>,
    config: AxonConfig,
    directory: Directory,
    handlers: HashMap<String, Handler>,
    blacklist: Option<BlacklistFn>,
    priority: Option<PriorityFn>,
    metrics: Metrics,
}

impl Axon {
    /// An axon serving as `keypair`'s hotkey.
    pub fn new(keypair: Keypair, config: AxonConfig) -> Self {
        Axon {
            keypair: Arc::new(keypair),
            config,
            directory: Directory::new(),
            handlers: HashMap::new(),
            blacklist: None,
            priority: None,
            metrics: Metrics::default(),
        }
    }

    /// Uses `directory` for caller facts (blacklist, priority).
    pub fn with_directory(mut self, directory: Directory) -> Self {
        self.directory = directory;
        self
    }

    /// Adds a blacklist check after the built-in ones.
    pub fn with_blacklist(
        mut self,
        blacklist: impl Fn(&Hotkey, Option<&PeerFacts>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.blacklist = Some(Arc::new(blacklist));
        self
    }

    /// Replaces the priority function (default: stake).
    pub fn with_priority(
        mut self,
        priority: impl Fn(&Hotkey, Option<&PeerFacts>) -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.priority = Some(Arc::new(priority));
        self
    }

    /// Shares `metrics` (register them in the node's prometheus registry).
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Serves unary synapse `S` with `handler`.
    ///
    /// A request's future is first polled on its stream's reader task, so that an answer ready
    /// at once costs no task ([`AxonConfig::inline_poll`]). Heavy computation belongs in
    /// `tokio::task::spawn_blocking` (or a thread of its own) either way: a handler that
    /// computes before its first `.await` holds up a worker thread, and here, until the axon
    /// notices, its stream's other requests too.
    pub fn serve<S, F, Fut>(mut self, handler: F) -> Self
    where
        S: Synapse,
        F: Fn(RequestContext, S::Request) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<S::Response, HandlerError>> + Send + 'static,
    {
        debug_assert_eq!(S::KIND, SynapseKind::Unary, "use serve_stream for streaming synapses");
        let handler = Arc::new(handler);
        let erased: UnaryFn = Arc::new(move |ctx, body: Bytes| {
            let handler = handler.clone();
            async move {
                let request = S::Request::decode(body).map_err(|e| {
                    HandlerError::new(Status::BadRequest, format!("request does not decode as {}: {e}", S::NAME))
                })?;
                let response = handler(ctx, request).await?;
                Ok(Bytes::from(response.encode_to_vec()))
            }
            .boxed()
        });
        self.handlers.insert(S::NAME.to_owned(), Handler::Unary(erased));
        self
    }

    /// Serves streaming synapse `S`: `handler` returns the stream of chunks.
    pub fn serve_stream<S, F, St>(mut self, handler: F) -> Self
    where
        S: Synapse,
        F: Fn(RequestContext, S::Request) -> St + Send + Sync + 'static,
        St: futures::Stream<Item = Result<S::Response, HandlerError>> + Send + 'static,
    {
        let erased: StreamFn = Arc::new(move |ctx, body: Bytes| {
            let request = S::Request::decode(body).map_err(|e| {
                HandlerError::new(Status::BadRequest, format!("request does not decode as {}: {e}", S::NAME))
            })?;
            Ok(handler(ctx, request).map(|item| item.map(|chunk| Bytes::from(chunk.encode_to_vec()))).boxed())
        });
        self.handlers.insert(S::NAME.to_owned(), Handler::Streaming(erased));
        self
    }

    /// Starts the swarm, listens on `addrs` and serves until the handle is dropped.
    pub async fn start(self, addrs: impl IntoIterator<Item = Multiaddr>) -> Result<AxonHandle, Error> {
        let peers = Arc::new(PeerTable {
            peers: Mutex::default(),
            connected: self.metrics.connections.clone(),
            ip_budgets: Mutex::default(),
            ip_budget: self.config.max_inflight_bytes_per_ip,
        });
        let (network, incoming) =
            Network::start(&self.config.network, peers.clone() as Arc<dyn PeerEvents>, self.config.bind_timeout)?;
        let incoming = incoming.ok_or_else(|| Error::Swarm("no inbound stream queue".into()))?;
        let mut listen_addrs = Vec::new();
        for addr in addrs {
            listen_addrs.push(network.listen(addr).await?);
        }
        let rate = |n: u32| Quota::per_second(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        let shared = Arc::new(Shared {
            binding: Mutex::new(sign_own_binding(&self.keypair, &network.local_peer_id(), self.config.binding_ttl)),
            hotkey: self.keypair.hotkey(),
            keypair: self.keypair,
            local_peer_id: network.local_peer_id(),
            gate: Gate::new(self.config.max_concurrency, self.config.queue_capacity),
            memory: Memory::new(self.config.max_inflight_bytes, self.config.max_inflight_bytes_per_ip),
            nonces: NonceGuard::new(self.config.nonce.clone()),
            peer_rate: RateLimiter::keyed(rate(self.config.rate_per_peer)),
            ip_rate: RateLimiter::keyed(rate(self.config.rate_per_ip)),
            bind_rate: RateLimiter::keyed(bind_quota(self.config.bind_budget, self.config.bind_refill)),
            network: network.downgrade(),
            config: self.config,
            directory: self.directory,
            handlers: self
                .handlers
                .into_iter()
                .map(|(name, handler)| {
                    let inline = Arc::new(InlineFlag { synapse: name.clone(), score: AtomicU32::new(0) });
                    (name, Route { handler, inline })
                })
                .collect(),
            names,
            blacklist: self.blacklist,
            priority: self.priority,
            metrics: self.metrics.clone(),
            peers,
        });
        let accept = tokio::spawn(accept_loop(shared.clone(), incoming));
        Ok(AxonHandle {
            peer_id: network.local_peer_id(),
            hotkey: shared.hotkey,
            listen_addrs,
            metrics: self.metrics,
            accept,
            _network: network,
            shared,
        })
    }
}

/// A running axon. Dropping it stops accepting new streams.
pub struct AxonHandle {
    peer_id: PeerId,
    hotkey: Hotkey,
    listen_addrs: Vec<Multiaddr>,
    metrics: Metrics,
    accept: tokio::task::JoinHandle<()>,
    _network: Network,
    shared: Arc<Shared>,
}

impl AxonHandle {
    /// The axon's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }
    /// The axon's hotkey.
    pub fn hotkey(&self) -> Hotkey {
        self.hotkey
    }
    /// Bound listen addresses, each ending in `/p2p/<PeerId>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }
    /// The axon's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// Requests waiting for a handler slot now.
    pub fn queued(&self) -> usize {
        self.shared.gate.queued()
    }
}

impl Drop for AxonHandle {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Per-peer facts the swarm reports: remote IP, and the hotkey the peer's binding proved.
#[derive(Default)]
struct PeerTable {
    peers: Mutex<HashMap<PeerId, PeerState>>,
    /// Connected peers, for the metrics.
    connected: prometheus_client::metrics::gauge::Gauge,
    /// Each address's share of the memory budget, alive while one of its peers is connected.
    ip_budgets: Mutex<HashMap<IpAddr, std::sync::Weak<tokio::sync::Semaphore>>>,
    /// `max_inflight_bytes_per_ip`.
    ip_budget: usize,
}

#[derive(Default, Clone)]
struct PeerState {
    /// Set when the swarm reports the connection; an entry without it was made by a Bind that
    /// raced the connection's close, and the periodic cleanup drops it.
    connected: bool,
    ip: Option<IpAddr>,
    /// Its address's share of the memory budget (`max_inflight_bytes_per_ip`).
    ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    bound: Option<(Hotkey, u64)>,
}

impl PeerTable {
    fn get(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerState>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memory budget shared by the peers of `ip`'s address (IPv6: its /64).
    fn ip_budget(&self, ip: IpAddr) -> Arc<tokio::sync::Semaphore> {
        let key = crate::inbound::ip_key(ip);
        let mut budgets = self.ip_budgets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(budget) = budgets.get(&key).and_then(std::sync::Weak::upgrade) {
            return budget;
        }
        // A new address: forget those whose peers are all gone.
        budgets.retain(|_, budget| budget.strong_count() > 0);
        let size = self.ip_budget.min(tokio::sync::Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        let budget = Arc::new(tokio::sync::Semaphore::new(size));
        budgets.insert(key, Arc::downgrade(&budget));
        budget
    }
}

impl PeerEvents for PeerTable {
    fn connected(&self, peer: PeerId, ip: Option<IpAddr>) {
        let ip_budget = ip.filter(|_| self.ip_budget > 0).map(|ip| self.ip_budget(ip));
        let mut peers = self.get();
        let state = peers.entry(peer).or_default();
        if !state.connected {
            self.connected.inc();
        }
        state.ip = ip;
        state.ip_budget = ip_budget;
        state.connected = true;
    }
    fn disconnected(&self, peer: PeerId) {
        if self.get().remove(&peer).is_some_and(|state| state.connected) {
            self.connected.dec();
        }
    }
    fn is_bound(&self, peer: &PeerId) -> bool {
        self.get().get(peer).is_some_and(|state| state.bound.is_some())
    }
}

struct Shared {
    keypair: Arc<Keypair>,
    hotkey: Hotkey,
    local_peer_id: PeerId,
    binding: Mutex<HotkeyBinding>,
    config: AxonConfig,
    directory: Directory,
    handlers: HashMap<String, Route>,
    names: Vec<String>,
    blacklist: Option<BlacklistFn>,
    priority: Option<PriorityFn>,
    gate: Gate,
    memory: Memory,
    nonces: NonceGuard,
    peer_rate: DefaultKeyedRateLimiter<PeerId>,
    ip_rate: DefaultKeyedRateLimiter<IpAddr>,
    /// Each connection's Bind budget (`bind_budget`, `bind_refill`).
    bind_rate: DefaultKeyedRateLimiter<PeerId>,
    /// Closes connections that spent their Bind budget; does not keep the swarm alive.
    network: crate::swarm::WeakNetwork,
    metrics: Metrics,
    peers: Arc<PeerTable>,
}

fn sign_own_binding(keypair: &Keypair, peer_id: &PeerId, ttl: Duration) -> HotkeyBinding {
    let expires_at = unix_nanos() / 1_000_000_000 + ttl.as_secs();
    sign_binding(keypair, &peer_id.to_bytes(), expires_at)
}

impl Shared {
    fn own_binding(&self) -> HotkeyBinding {
        let mut binding = self.binding.lock().unwrap_or_else(|p| p.into_inner());
        let now = unix_nanos() / 1_000_000_000;
        // Re-sign when less than a tenth of the lifetime is left.
        if binding.expires_at.saturating_sub(now) < self.config.binding_ttl.as_secs() / 10 {
            *binding = sign_own_binding(&self.keypair, &self.local_peer_id, self.config.binding_ttl);
        }
        binding.clone()
    }
}

async fn accept_loop(shared: Arc<Shared>, mut incoming: tokio::sync::mpsc::Receiver<InboundStream>) {
    let mut last_cleanup = Instant::now();
    while let Some((peer, stream)) = incoming.recv().await {
        tokio::spawn(serve_stream(shared.clone(), peer, stream));
        if last_cleanup.elapsed() > Duration::from_secs(60) {
            shared.peer_rate.retain_recent();
            shared.ip_rate.retain_recent();
            shared.bind_rate.retain_recent();
            shared.peers.get().retain(|_, state| state.connected);
            last_cleanup = Instant::now();
        }
    }
}

/// The queue of a stream's writer task (see [`run_writer`]); bounded by `write_queue`, so that
/// a fast streaming handler waits for the network instead of piling up chunks.
type Writer = tokio::sync::mpsc::Sender<OutFrame>;

/// Where a request's answers go: its stream's writer, and the memory budgets they count against
/// (the axon's, and the caller's address's when known).
type Out<'a> = (&'a Writer, &'a Memory, Option<&'a Arc<tokio::sync::Semaphore>>);

async fn send(writer: &Writer, kind: FrameKind, id: u64, header: Vec<u8>, body: Bytes) -> std::io::Result<()> {
    writer
        .send(OutFrame { kind, id, header, body, held: None })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer closed"))
}

/// Queues an answer's frame by `deadline`; its body holds a share of `memory` until written, so
/// that answers waiting for a peer that reads slowly (or not at all) count against
/// `max_inflight_bytes` like the requests they answer.
async fn send_by(
    deadline: tokio::time::Instant,
    out: Out<'_>,
    kind: FrameKind,
    id: u64,
    header: Vec<u8>,
    body: Bytes,
) -> std::io::Result<()> {
    let frame = OutFrame { kind, id, header, body, held: None };
    match try_send_answer(out, frame, deadline) {
        Ok(()) => Ok(()),
        Err(Some(frame)) => send_waiting(out, frame, deadline).await,
        Err(None) => Err(writer_closed()),
    }
}

/// Queues an answer's frame if its share of memory and room in the queue are there now (no
/// timer needed, the usual case); otherwise hands it back (`None`: the writer has stopped).
fn try_send_answer(
    (writer, memory, ip): Out<'_>,
    mut frame: OutFrame,
    deadline: tokio::time::Instant,
) -> Result<(), Option<OutFrame>> {
    if writer.is_closed() {
        return Err(None);
    }
    if !frame.body.is_empty() {
        match memory.try_take_answer(frame.body.len(), ip) {
            Some(share) => frame.held = Some(AnswerHold { share: Some(share), until: deadline }),
            None => return Err(Some(frame)),
        }
    }
    writer.try_send(frame).map_err(|error| match error {
        tokio::sync::mpsc::error::TrySendError::Full(frame) => Some(frame),
        tokio::sync::mpsc::error::TrySendError::Closed(_) => None,
    })
}

/// Queues an answer's frame by `deadline`, waiting for its share of memory and for room.
async fn send_waiting(
    (writer, memory, ip): Out<'_>,
    mut frame: OutFrame,
    deadline: tokio::time::Instant,
) -> std::io::Result<()> {
    if frame.held.is_none() && !frame.body.is_empty() {
        let share = memory.take_answer_by(frame.body.len(), ip, deadline).await?;
        frame.held = Some(AnswerHold { share: Some(share), until: deadline });
    }
    tokio::time::timeout_at(deadline, writer.send(frame))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer is not reading"))?
        .map_err(|_| writer_closed())
}

fn writer_closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer closed")
}

/// Queues a status answer by `deadline`, which is also when the writer drops it unwritten: a
/// status answers a request, and its caller stops waiting then like for any answer.
async fn send_status_by(
    deadline: tokio::time::Instant,
    writer: &Writer,
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
) {
    let frame = status_frame(id, status, message, started, Some(deadline));
    let _ = tokio::time::timeout_at(deadline, writer.send(frame)).await;
}

/// Queues a status answer with no deadline of its own (the writer gives it its default one).
async fn send_status(writer: &Writer, id: u64, status: Status, message: impl Into<String>, started: Instant) {
    let _ = writer.send(status_frame(id, status, message, started, None)).await;
}

/// A status answer's frame, due by `until` when given.
fn status_frame(
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
    until: Option<tokio::time::Instant>,
) -> OutFrame {
    let mut head = ResponseHead::with_message(status, message);
    head.process_time_us = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
    let held = until.map(|until| AnswerHold { share: None, until });
    OutFrame { kind: FrameKind::Response, id, header: head.encode(), body: Bytes::new(), held }
}

/// A request or answer body's share of the memory budget, returned when dropped.
type Budget = Share;

/// What a request counts against the memory budget at least: a flood of empty requests must not
/// pass for free while their answers pile up.
const MIN_REQUEST_SHARE: u32 = 1024;

/// The axon's memory budget, `max_inflight_bytes`, and per address `max_inflight_bytes_per_ip`:
/// request bodies from when they are read until their handler is done (a streaming handler's,
/// until it has its request), answer bodies from when they are ready until they are written.
#[derive(Clone)]
struct Memory {
    bytes: Arc<tokio::sync::Semaphore>,
    /// The whole budget.
    total: u32,
    /// One address's budget.
    per_ip: u32,
}

impl Memory {
    fn new(total: usize, per_ip: usize) -> Self {
        let fit = |n: usize| n.min(tokio::sync::Semaphore::MAX_PERMITS).min(u32::MAX as usize) as u32;
        let total = fit(total);
        Memory { bytes: Arc::new(tokio::sync::Semaphore::new(total as usize)), total, per_ip: fit(per_ip) }
    }

    /// A request's share, now or never: its size (at least [`MIN_REQUEST_SHARE`], at most the
    /// budget; a body over the whole budget is never admitted).
    fn try_take_request(&self, len: u32, ip: Option<&Arc<tokio::sync::Semaphore>>) -> Option<Budget> {
        let share = |budget: u32| (len <= budget).then(|| len.max(MIN_REQUEST_SHARE).min(budget));
        let ip = match ip {
            Some(ip) => Some(ip.clone().try_acquire_many_owned(share(self.per_ip)?).ok()?),
            None => None,
        };
        let axon = self.bytes.clone().try_acquire_many_owned(share(self.total)?).ok()?;
        Some(Share { _axon: axon, _ip: ip })
    }

    /// An answer's share, waiting for one by `deadline`: its size, up to a quarter of each
    /// budget, so that one large answer waiting for its share (a semaphore serves waiters in
    /// order) holds up others only until a quarter of the budget is free. The address's share
    /// comes first, so that an address over its own budget waits without holding the axon's.
    async fn take_answer_by(
        &self,
        len: usize,
        ip: Option<&Arc<tokio::sync::Semaphore>>,
        deadline: tokio::time::Instant,
    ) -> std::io::Result<Budget> {
        let (for_ip, for_axon) = self.answer_shares(len);
        let ip = match ip {
            Some(ip) => Some(take_by(ip, for_ip, deadline).await?),
            None => None,
        };
        let axon = take_by(&self.bytes, for_axon, deadline).await?;
        Ok(Share { _axon: axon, _ip: ip })
    }

    /// An answer's share if both budgets have it now.
    fn try_take_answer(&self, len: usize, ip: Option<&Arc<tokio::sync::Semaphore>>) -> Option<Budget> {
        let (for_ip, for_axon) = self.answer_shares(len);
        let ip = match ip {
            Some(ip) => Some(ip.clone().try_acquire_many_owned(for_ip).ok()?),
            None => None,
        };
        let axon = self.bytes.clone().try_acquire_many_owned(for_axon).ok()?;
        Some(Share { _axon: axon, _ip: ip })
    }

    /// What an answer of `len` bytes takes of its address's budget and of the axon's.
    fn answer_shares(&self, len: usize) -> (u32, u32) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        (len.min(self.per_ip / 4), len.min(self.total / 4))
    }
}

/// `n` permits of `budget`, waiting for them by `deadline`.
async fn take_by(
    budget: &Arc<tokio::sync::Semaphore>,
    n: u32,
    deadline: tokio::time::Instant,
) -> std::io::Result<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(permit) = budget.clone().try_acquire_many_owned(n) {
        return Ok(permit);
    }
    tokio::time::timeout_at(deadline, budget.clone().acquire_many_owned(n))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "axon is at capacity (answer memory)"))?
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "axon closed"))
}

/// A request that passed every check before the queue.
struct Admitted {
    head: RequestHead,
    body: Bytes,
    budget: Budget,
    handler: Handler,
    /// The synapse's flag: may its first poll run on the stream's reader task?
    inline: Arc<InlineFlag>,
    /// The caller's address's memory budget (set when dispatched).
    ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    caller: Hotkey,
    facts: Option<PeerFacts>,
}

/// A request of an unfinished signature batch, held until the batch's last request arrives.
struct Held {
    id: u64,
    started: Instant,
    head: RequestHead,
    body: Bytes,
    budget: Budget,
    checked: Result<(), Refusal>,
}

/// Handlers running for one stream, by request id, so that a Cancel frame or the end of the
/// stream stops them (and frees their slot in the gate).
type Running = Arc<Mutex<HashMap<u64, tokio::task::AbortHandle>>>;

/// Per-stream state of the request pipeline.
struct StreamState {
    peer: PeerId,
    writer: Writer,
    /// Whether a Bind frame was accepted on this stream (one per stream).
    bound_here: bool,
    /// The hotkey bound here, decoded once for the stream's per-request signatures.
    bound_key: Option<VerifyingKey>,
    held: Vec<Held>,
    held_bytes: usize,
    /// Why the batch being received was refused, for its remaining members.
    broken: Option<(Status, String)>,
    running: Running,
    /// The caller's address's memory budget, once known.
    ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    /// Close the whole connection when the stream ends (it spent its Bind budget).
    close_connection: bool,
}

impl StreamState {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, tokio::task::AbortHandle>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits for room in a stream's answer queue; an error when the writer has stopped, or when its
/// peer took none of the writer's bytes (`drained`) for `stall`: the writer would give the
/// stream up soon, and meanwhile the peer's unread requests wait in QUIC's buffers.
async fn reserve(writer: &Writer, stall: Duration, drained: &AtomicU64) -> std::io::Result<()> {
    let mut seen = drained.load(Ordering::Relaxed);
    loop {
        match tokio::time::timeout(stall, writer.reserve()).await {
            Ok(Ok(_room)) => return Ok(()),
            Ok(Err(_)) => return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer stopped")),
            Err(_) => {
                let now = drained.load(Ordering::Relaxed);
                if now == seen {
                    let message = format!("the peer took none of its answers for {stall:?}");
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message));
                }
                seen = now;
            }
        }
    }
}

/// Reads with a deadline; a deadline that passes is an error that closes the stream.
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    read: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer too slow"))?,
        None => read.await,
    }
}

async fn serve_stream(shared: Arc<Shared>, peer: PeerId, stream: libp2p::Stream) {
    let (reader, writer) = stream.split();
    let mut reader = BufReader::with_capacity(shared.config.network.stream_read_buffer.max(PREFIX_LEN), reader);
    let (queue, frames) = tokio::sync::mpsc::channel(shared.config.write_queue.max(1));
    let network = &shared.config.network;
    let limits =
        WriterLimits { stall: network.write_stall, min_rate: network.min_drain_rate, due: shared.config.frame_timeout };
    let drained = Arc::new(AtomicU64::new(0));
    let written = tokio::spawn(run_writer(writer, frames, limits, drained.clone()));
    let writer: Writer = queue;
    let mut state = StreamState {
        peer,
        writer: writer.clone(),
        bound_here: false,
        bound_key: None,
        held: Vec::new(),
        held_bytes: 0,
        broken: None,
        running: Running::default(),
        ip_budget: None,
        close_connection: false,
    };
    let opened = tokio::time::Instant::now();
    // Whether the stream ends because its Bind was refused.
    let mut refused = false;
    loop {
        if state.writer.is_closed() {
            tracing::debug!(%peer, "closing stream: its writer stopped");
            break;
        }
        // A stream must bind in time, and a signature batch must not wait for its next member
        // forever: both would pin memory for a peer that sends nothing.
        let deadline = if !state.bound_here {
            Some(opened + shared.config.bind_timeout)
        } else if !state.held.is_empty() {
            Some(tokio::time::Instant::now() + shared.config.frame_timeout)
        } else {
            None
        };
        // Backpressure: while this stream's answers are not being taken (its writer's queue is
        // full), read none of its requests. The writer gives the stream up when the peer drains
        // slower than `min_drain_rate` for `write_stall`, which ends the wait here too; so does
        // the deadline, and `write_stall` in which the peer took none of the writer's bytes.
        let stall = shared.config.network.write_stall;
        if state.writer.capacity() == 0
            && !matches!(within(deadline, reserve(&state.writer, stall, &drained)).await, Ok(()))
        {
            tracing::debug!(%peer, "closing stream: the peer does not read its answers");
            break;
        }
        // Waiting for the next frame ends early when the writer stops (the peer took none of
        // our bytes for `write_stall`): nothing could answer the frame anyway.
        let next = tokio::select! {
            biased;
            next = within(deadline, read_prefix(&mut reader)) => next,
            () = state.writer.closed() => {
                tracing::debug!(%peer, "closing stream: its writer stopped");
                break;
            }
        };
        let prefix = match next {
            Ok(Some(prefix)) => prefix,
            Ok(None) => break,
            Err(error) => {
                // Garbage, a broken stream or a silent peer: the framing cannot be trusted.
                tracing::debug!(%peer, %error, "closing stream");
                break;
            }
        };
        let frame_deadline = Some(tokio::time::Instant::now() + shared.config.frame_timeout);
        let result = match prefix.kind {
            FrameKind::Bind if state.bound_here => {
                tracing::debug!(%peer, "closing stream: a second Bind frame");
                break;
            }
            FrameKind::Bind => within(frame_deadline, on_bind(&shared, &mut state, &mut reader, prefix)).await,
            FrameKind::Request => {
                // Pinned in place: the request's future is a few KB, and handing it to the
                // deadline by value would copy it twice per request.
                let request = std::pin::pin!(on_request(&shared, &mut state, &mut reader, prefix));
                within(frame_deadline, request).await
            }
            FrameKind::Cancel => {
                // The dendrite stopped waiting: stop the handler too.
                if let Some(task) = state.running().remove(&prefix.request_id) {
                    task.abort();
                }
                within(frame_deadline, skip(&mut reader, u64::from(prefix.header_len) + u64::from(prefix.body_len)))
                    .await
            }
            FrameKind::Response | FrameKind::Chunk => {
                tracing::debug!(%peer, "closing stream: a dendrite sent an axon frame");
                break;
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "stream closed");
            refused = error.kind() == std::io::ErrorKind::PermissionDenied;
            break;
        }
    }
    fail_held(&shared, &mut state, Status::Unauthorized, "incomplete signature batch").await;
    // Nobody can receive the answers any more.
    for (_, task) in state.running().drain() {
        task.abort();
    }
    if refused {
        // The refusal that says why goes out first (the writer ends once its queue is empty),
        // and the read half stays open until then: dropped, it would stop the peer's writes,
        // and a peer that wrote requests right after its Bind would see that before the reason.
        let close_connection = state.close_connection;
        drop((writer, state));
        let _ = tokio::time::timeout(shared.config.frame_timeout, written).await;
        drop(reader);
        if close_connection {
            shared.network.disconnect(peer);
        }
    }
}

/// Over the per-peer or per-IP rate.
fn over_rate(shared: &Shared, peer: &PeerId, ip: Option<IpAddr>) -> bool {
    // Keyed like the connection limits: one IPv6 host usually holds a whole /64.
    shared.peer_rate.check_key(peer).is_err()
        || ip.is_some_and(|ip| shared.ip_rate.check_key(&crate::inbound::ip_key(ip)).is_err())
}

/// The quota of [`AxonConfig::bind_budget`] and [`AxonConfig::bind_refill`].
fn bind_quota(budget: u32, refill: Duration) -> Quota {
    let burst = NonZeroU32::new(budget.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// A Bind frame: checked, cheapest first (rates, the connection's Bind budget, then the
/// signature, the hotkey the connection may already be bound to, the blacklist), and answered
/// with the axon's own binding. A refused Bind closes the stream (`Err`) after its refusal is
/// queued: what follows it on the stream was sent in its name.
async fn on_bind<R: futures::io::AsyncBufRead + Unpin>(
    shared: &Shared,
    state: &mut StreamState,
    reader: &mut R,
    prefix: FramePrefix,
) -> std::io::Result<()> {
    let started = Instant::now();
    let peer = state.peer;
    let ip = shared.peers.get().get(&peer).and_then(|p| p.ip);
    // Verifying a binding costs a signature check: the rate limits and the budget come first.
    let early = if over_rate(shared, &peer, ip) {
        Some((Status::TooManyRequests, "rate limit exceeded".to_owned()))
    } else if shared.bind_rate.check_key(&peer).is_err() {
        // A connection that keeps binding is probing or forging: close it.
        state.close_connection = true;
        let budget = shared.config.bind_budget;
        Some((Status::TooManyRequests, format!("binding refused: the connection spent its budget of {budget} Binds")))
    } else {
        None
    };
    if let Some((status, message)) = early {
        skip(reader, u64::from(prefix.header_len) + u64::from(prefix.body_len)).await?;
        send_status(&state.writer, prefix.request_id, status, message.as_str(), started).await;
        return Err(bind_refused(&message));
    }
    let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
    skip(reader, u64::from(prefix.body_len)).await?;
    let now_secs = unix_nanos() / 1_000_000_000;
    let verdict = HotkeyBinding::decode(header)
        .map_err(|e| (Status::Unauthorized, format!("binding refused: binding does not decode: {e}")))
        .and_then(|binding| {
            check_binding(&binding, &peer.to_bytes(), now_secs, shared.config.binding_rules)
                .map_err(|e| (Status::Unauthorized, format!("binding refused: {e}")))
                .map(|hotkey| (hotkey, binding.expires_at))
        })
        .and_then(|(hotkey, expires_at)| {
            // Refuse blacklisted hotkeys here already, before they can make the axon buffer anything.
            let facts = shared.directory.facts(&hotkey);
            blacklisted(shared, &hotkey, facts.as_ref())
                .map_err(|reason| (Status::Forbidden, format!("Forbidden. Key is blacklisted: {reason}.")))?;
            // One connection speaks for one hotkey: a Bind for another would take the streams
            // already bound from under their requests. The same hotkey's Bind refreshes it.
            let mut peers = shared.peers.get();
            let entry = peers.entry(peer).or_default();
            match entry.bound {
                Some((bound, _)) if bound != hotkey => Err((
                    Status::Unauthorized,
                    format!("binding refused: the connection is already bound to {bound}, not {hotkey}"),
                )),
                bound => {
                    // A refresh never shortens the binding (streams may bind with older copies).
                    let until = bound.map_or(expires_at, |(_, until)| until.max(expires_at));
                    entry.bound = Some((hotkey, until));
                    Ok(hotkey)
                }
            }
        });
    match verdict {
        Ok(hotkey) => {
            state.bound_here = true;
            state.bound_key = hotkey.verifying_key().ok();
            let own = shared.own_binding().encode_to_vec();
            send(&state.writer, FrameKind::Bind, prefix.request_id, own, Bytes::new()).await
        }
        Err((status, message)) => {
            tracing::debug!(%peer, %message, "binding refused");
            send_status(&state.writer, prefix.request_id, status, message.as_str(), started).await;
            Err(bind_refused(&message))
        }
    }
}

/// The error that closes a stream after a refused Bind.
fn bind_refused(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, message.to_owned())
}

async fn refuse(shared: &Shared, writer: &Writer, id: u64, refusal: Refusal, started: Instant) {
    let deadline = tokio::time::Instant::now() + shared.config.frame_timeout;
    let (status, message, synapse) = refusal;
    // Only served synapse names become metric labels: a peer must not mint label values.
    let label = if shared.handlers.contains_key(&synapse) { synapse.as_str() } else { "-" };
    shared.metrics.record(label, status.code(), started.elapsed().as_secs_f64());
    // From the stream's reader: a peer that stops reading its answers cannot block it forever.
    send_status_by(deadline, writer, id, status, message, started).await;
}

/// Refuses every request of an unfinished batch, and the members still to come, with `status`.
async fn fail_held(shared: &Shared, state: &mut StreamState, status: Status, message: &str) {
    state.held_bytes = 0;
    if !state.held.is_empty() {
        state.broken = Some((status, message.to_owned()));
    }
    for Held { id, started, head, body, budget, checked } in std::mem::take(&mut state.held) {
        // The body and its share of memory go before the refusal may wait for room.
        drop((body, budget, checked));
        let refusal = (status, message.to_owned(), head.synapse);
        refuse(shared, &state.writer, id, refusal, started).await;
    }
}

async fn on_request<R: futures::io::AsyncBufRead + Unpin>(
    shared: &Arc<Shared>,
    state: &mut StreamState,
    reader: &mut R,
    prefix: FramePrefix,
) -> std::io::Result<()> {
    let started = Instant::now();
    let id = prefix.request_id;
    let peer = state.peer;
    let body_len = u64::from(prefix.body_len);
    let rest = u64::from(prefix.header_len) + body_len;
    let peer_state = shared.peers.get().get(&peer).cloned().unwrap_or_default();
    // The address whose budget this stream's requests and answers count against.
    if state.ip_budget.is_none() {
        state.ip_budget.clone_from(&peer_state.ip_budget);
    }

    // 1. Limits that cost nothing: rate, binding, size. Refused bodies are skipped, never buffered.
    let early = if over_rate(shared, &peer, peer_state.ip) {
        Some((Status::TooManyRequests, "rate limit exceeded".to_owned()))
    } else if peer_state.bound.is_none() || !state.bound_here {
        Some((Status::Unauthorized, "connection is not bound to a hotkey".to_owned()))
    } else if prefix.body_len > shared.config.max_request_bytes {
        let max = shared.config.max_request_bytes;
        Some((Status::PayloadTooLarge, format!("request body of {} bytes exceeds the limit of {max}", prefix.body_len)))
    } else {
        None
    };
    if let Some((status, message)) = early {
        skip(reader, rest).await?;
        // An unfinished signature batch cannot complete without this member: refuse it alike.
        fail_held(shared, state, status, &message).await;
        refuse(shared, &state.writer, id, (status, message, "-".into()), started).await;
        return Ok(());
    }

    // 2. The header (at most 4 KiB): shape, then whether this continues a signature batch.
    let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
    let head = match RequestHead::decode(&header) {
        Ok(head) => head,
        Err(e) => {
            skip(reader, body_len).await?;
            fail_held(shared, state, Status::Unauthorized, "incomplete signature batch").await;
            refuse(shared, &state.writer, id, (Status::BadRequest, e.to_string(), "-".into()), started).await;
            return Ok(());
        }
    };
    let batch = head.batch.filter(|_| head.auth == AuthMode::PerRequest);
    let continues = matches!(batch, Some((index, _)) if index > 0 && index as usize == state.held.len());
    if !continues {
        // Anything but the next member ends the batch being received.
        fail_held(shared, state, Status::Unauthorized, "incomplete signature batch").await;
        if batch.is_none_or(|(index, _)| index == 0) {
            state.broken = None;
        }
    }
    if let Some((status, message)) = state.broken.clone().filter(|_| batch.is_some_and(|(index, _)| index > 0)) {
        // A later member of a batch that was already refused.
        skip(reader, body_len).await?;
        refuse(shared, &state.writer, id, refusal_of(&head, status, message), started).await;
        return Ok(());
    }
    let held_bytes = if continues { state.held_bytes } else { 0 };
    let max = shared.config.max_request_bytes as usize;
    if held_bytes + prefix.body_len as usize > max {
        skip(reader, body_len).await?;
        fail_held(shared, state, Status::PayloadTooLarge, "signature batch exceeds the request size limit").await;
        let message = format!("signature batch exceeds the request size limit of {max}");
        refuse(shared, &state.writer, id, refusal_of(&head, Status::PayloadTooLarge, message), started).await;
        return Ok(());
    }
    let Some(budget) = shared.memory.try_take_request(prefix.body_len, state.ip_budget.as_ref()) else {
        skip(reader, body_len).await?;
        let message = "axon is at capacity (request memory)";
        fail_held(shared, state, Status::Unavailable, message).await;
        refuse(shared, &state.writer, id, refusal_of(&head, Status::Unavailable, message.into()), started).await;
        return Ok(());
    };
    let body = read_bytes(reader, prefix.body_len as usize).await?;

    // 3. Receiver, route, binding: no cryptography yet.
    let checked = precheck(shared, &peer_state, &head);

    // 4. Signature (alone, or once for a whole batch), then nonce and blacklist.
    match batch {
        None => {
            let verdict = checked.and_then(|()| {
                if head.auth == AuthMode::PerRequest {
                    shared
                        .nonces
                        .check_fresh(head.nonce, unix_nanos())
                        .map_err(|e| refusal_of(&head, Status::Unauthorized, e.to_string()))?;
                    head.verify_with(state.bound_key.as_ref(), &body)
                        .map_err(|e| refusal_of(&head, Status::Unauthorized, e.to_string()))?;
                }
                authorize(shared, head, body, budget)
            });
            dispatch(shared, state, id, verdict, started).await;
        }
        Some((index, count)) => {
            if index as usize != state.held.len() {
                let refusal = refusal_of(&head, Status::Unauthorized, "incomplete signature batch".into());
                refuse(shared, &state.writer, id, refusal, started).await;
                return Ok(());
            }
            state.held_bytes += body.len();
            state.held.push(Held { id, started, head, body, budget, checked });
            if index + 1 == count {
                let held = std::mem::take(&mut state.held);
                state.held_bytes = 0;
                settle_batch(shared, state, held).await;
            }
        }
    }
    Ok(())
}

/// Verifies a complete batch once, then admits or refuses each member.
async fn settle_batch(shared: &Arc<Shared>, state: &StreamState, held: Vec<Held>) {
    let now = unix_nanos();
    // No cryptography for a batch with a member that already failed, or a stale nonce: its
    // signature could not admit the batch anyway.
    let fresh = held.iter().all(|h| shared.nonces.check_fresh(h.head.nonce, now).is_ok());
    let all_passed = held.iter().all(|h| h.checked.is_ok());
    let verified = if !fresh {
        Err("signature batch has a nonce outside the freshness window".to_owned())
    } else if !all_passed {
        Err("signature batch has refused requests".to_owned())
    } else {
        let members: Vec<(&RequestHead, &[u8])> = held.iter().map(|h| (&h.head, h.body.as_ref())).collect();
        verify_batch_with(state.bound_key.as_ref(), &members).map_err(|e| e.to_string())
    };
    for Held { id, started, head, body, budget, checked } in held {
        let verdict = match (&verified, checked) {
            (_, Err(refusal)) => Err(refusal),
            (Err(reason), Ok(_)) => Err(refusal_of(&head, Status::Unauthorized, reason.clone())),
            (Ok(()), Ok(())) => authorize(shared, head, body, budget),
        };
        dispatch(shared, state, id, verdict, started).await;
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    state: &StreamState,
    id: u64,
    verdict: Result<Admitted, Refusal>,
    started: Instant,
) {
    match verdict {
        Ok(_) if state.running().contains_key(&id) => {
            let refusal = (Status::BadRequest, format!("request id {id} is already in flight"), "-".to_owned());
            refuse(shared, &state.writer, id, refusal, started).await;
        }
        Ok(mut admitted) => {
            admitted.ip_budget = state.ip_budget.clone();
            let inline = admitted.inline.clone();
            // Streaming answers are spawned: one may have many chunks ready at once.
            let unary = matches!(admitted.handler, Handler::Unary(_));
            let work =
                run(shared.clone(), state.peer, state.writer.clone(), id, admitted, started, state.running.clone());
            let limit = shared.config.inline_poll;
            if !unary || limit.is_zero() || !inline.allowed() {
                track(state, id, work);
                return;
            }
            // First poll here: an answer ready at once (a cheap handler, a refusal) then costs
            // no task, and no wake-up of another worker thread to steal one.
            let mut work = Box::pin(work);
            let polled = Instant::now();
            // Handlers' panics are caught inside; this guards the stream's reader against any
            // other, so that it still cleans up (held batches, running handlers) when it ends.
            let poll = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    std::future::Future::poll(work.as_mut(), cx)
                })))
            })
            .await;
            inline.record(polled.elapsed(), limit);
            match poll {
                Ok(std::task::Poll::Ready(())) => {}
                Ok(std::task::Poll::Pending) => track(state, id, work),
                Err(_panic) => {
                    tracing::warn!(synapse = %inline.synapse, "request panicked outside its handler");
                    let refusal = (Status::InternalError, "Internal Server Error".to_owned(), inline.synapse.clone());
                    refuse(shared, &state.writer, id, refusal, started).await;
                }
            }
        }
        Err(refusal) => refuse(shared, &state.writer, id, refusal, started).await,
    }
}

/// Runs an admitted request's future as a task, recorded so that a Cancel frame can stop it.
fn track(state: &StreamState, id: u64, work: impl std::future::Future<Output = ()> + Send + 'static) {
    // Hold the map's lock across the spawn so that the task cannot finish (and remove itself)
    // before its handle is recorded.
    let mut map = state.running();
    let task = tokio::spawn(work);
    map.insert(id, task.abort_handle());
}

type Refusal = (Status, String, String);

fn refusal_of(head: &RequestHead, status: Status, message: String) -> Refusal {
    (status, message, head.synapse.clone())
}

/// The checks that need no cryptography: receiver, binding, accepted mode, sender. Which
/// synapses the axon serves is told only to an authenticated caller ([`route`]).
fn precheck(shared: &Shared, state: &PeerState, head: &RequestHead) -> Result<(), Refusal> {
    if head.receiver != *shared.hotkey.public() {
        let message = format!("request is for another receiver, this axon is {}", shared.hotkey);
        return Err(refusal_of(head, Status::Forbidden, message));
    }
    let (bound, expires_at) = state
        .bound
        .ok_or_else(|| refusal_of(head, Status::Unauthorized, "connection is not bound to a hotkey".into()))?;
    if expires_at <= unix_nanos() / 1_000_000_000 {
        return Err(refusal_of(head, Status::Unauthorized, "the connection's binding has expired".into()));
    }
    if !shared.config.accepted_auth.allows(head.auth) {
        let message = format!("this axon does not accept {:?} authentication", head.auth);
        return Err(refusal_of(head, Status::Unauthorized, message));
    }
    if head.sender != bound {
        let message = format!("sender {} is not the connection's hotkey {bound}", head.sender);
        return Err(refusal_of(head, Status::Unauthorized, message));
    }
    Ok(())
}

/// The synapse's handler, or 404 naming the synapses served.
fn route(shared: &Shared, head: &RequestHead) -> Result<Route, Refusal> {
    shared.handlers.get(&head.synapse).cloned().ok_or_else(|| {
        let message = format!("Synapse name '{}' not found. Available synapses {:?}", head.synapse, shared.names);
        refusal_of(head, Status::NotFound, message)
    })
}

/// After the signature: the replay check, the blacklist on the authenticated hotkey, then the
/// synapse (404).
fn authorize(shared: &Shared, head: RequestHead, body: Bytes, budget: Budget) -> Result<Admitted, Refusal> {
    if head.auth == AuthMode::PerRequest {
        shared.nonces.check(head.sender.public(), head.nonce, unix_nanos()).map_err(|e| {
            let status = match e {
                NonceError::Full { .. } => Status::Unavailable,
                NonceError::Stale { .. }
                | NonceError::Future { .. }
                | NonceError::Replayed
                | NonceError::Overtaken { .. } => Status::Unauthorized,
            };
            refusal_of(&head, status, e.to_string())
        })?;
    }
    let facts = shared.directory.facts(&head.sender);
    blacklisted(shared, &head.sender, facts.as_ref())
        .map_err(|reason| refusal_of(&head, Status::Forbidden, format!("Forbidden. Key is blacklisted: {reason}.")))?;
    let route = route(shared, &head)?;
    Ok(Admitted {
        caller: head.sender,
        head,
        body,
        budget,
        handler: route.handler,
        inline: route.inline,
        ip_budget: None,
        facts,
    })
}

fn blacklisted(shared: &Shared, hotkey: &Hotkey, facts: Option<&PeerFacts>) -> Result<(), String> {
    let config = &shared.config;
    if config.require_registered && !facts.is_some_and(|f| f.registered) {
        return Err(format!("{hotkey} is not registered"));
    }
    if config.require_validator_permit && !facts.is_some_and(|f| f.validator_permit) {
        return Err(format!("{hotkey} has no validator permit"));
    }
    if config.min_stake > 0 && facts.map(|f| f.stake).unwrap_or(0) < config.min_stake {
        return Err(format!("{hotkey} has less than {} rao of stake", config.min_stake));
    }
    match &shared.blacklist {
        Some(check) => check(hotkey, facts),
        None => Ok(()),
    }
}

/// One admitted request's task: the handler and its answer, then its entry in the stream's
/// running map goes. (The handler's future is built in place inside this one: built outside
/// and moved in, its few KB were copied three times per request.)
async fn run(
    shared: Arc<Shared>,
    peer: PeerId,
    writer: Writer,
    id: u64,
    admitted: Admitted,
    started: Instant,
    running: Running,
) {
    handle(shared, peer, writer, id, admitted, started).await;
    running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
}

async fn handle(shared: Arc<Shared>, peer: PeerId, writer: Writer, id: u64, admitted: Admitted, started: Instant) {
    // The body's share of the memory budget is returned when its handler is done (a streaming
    // handler's, when the stream ends).
    let Admitted { head, body, budget, handler, caller, facts, inline: _, ip_budget } = admitted;
    let span = tracing::debug_span!("request", synapse = %head.synapse, caller = %caller, %peer, id);
    async move {
        let synapse = head.synapse.clone();
        let priority = match &shared.priority {
            // A panicking priority function must not take the request (or, polled on the
            // stream's reader, the stream) with it: such a request gets the lowest priority.
            Some(priority) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| priority(&caller, facts.as_ref())))
                    .unwrap_or_else(|_| {
                        tracing::warn!("priority function panicked");
                        f64::MIN
                    })
            }
            None => facts.as_ref().map(|f| f.stake as f64).unwrap_or(0.0),
        };
        shared.metrics.queued.set(shared.gate.queued() as i64);
        // Writing the answer gets a second after the deadline at most: a peer that stops reading
        // must not keep the handler slot (or the body's memory) forever.
        let requested = Duration::from_millis(u64::from(head.timeout_ms));
        let timeout =
            if head.timeout_ms == 0 { shared.config.default_timeout } else { requested.min(shared.config.max_timeout) };
        let send_deadline = tokio::time::Instant::from(started + timeout + shared.config.write_grace);
        let Ok(permit) = shared.gate.admit(priority).await else {
            shared.metrics.record(&synapse, 503, started.elapsed().as_secs_f64());
            send_status_by(
                send_deadline,
                &writer,
                id,
                Status::Unavailable,
                "axon is at capacity: priority queue is full",
                started,
            )
            .await;
            return;
        };
        let ctx =
            RequestContext { caller, peer_id: peer, facts, synapse: synapse.clone(), deadline: started + timeout };
        let status = match handler {
            Handler::Unary(handler) => {
                let outcome = tokio::time::timeout_at(
                    (started + timeout).into(),
                    std::panic::AssertUnwindSafe(handler(ctx, body)).catch_unwind(),
                )
                .await;
                // The handler is done: its slot goes to the next request before the answer is
                // written, and the request's memory to the answer.
                drop(permit);
                drop(budget);
                match outcome {
                    Ok(Ok(Ok(response))) => {
                        let mut head = ResponseHead::new(Status::Success);
                        head.process_time_us = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
                        let out = (&writer, &shared.memory, ip_budget.as_ref());
                        let _ = send_by(send_deadline, out, FrameKind::Response, id, head.encode(), response).await;
                        Status::Success
                    }
                    Ok(Ok(Err(error))) => {
                        send_status_by(send_deadline, &writer, id, error.status, error.message, started).await;
                        error.status
                    }
                    Ok(Err(_panic)) => {
                        tracing::warn!("handler panicked");
                        send_status_by(send_deadline, &writer, id, Status::InternalError, PANICKED, started).await;
                        Status::InternalError
                    }
                    Err(_elapsed) => {
                        send_status_by(
                            send_deadline,
                            &writer,
                            id,
                            Status::Timeout,
                            crate::error::timeout_message(timeout),
                            started,
                        )
                        .await;
                        Status::Timeout
                    }
                }
            }
            Handler::Streaming(handler) => {
                // Boxed: the streaming path's state would otherwise size every unary request's task.
                let out = (&writer, &shared.memory, ip_budget.as_ref());
                let holds = (permit, &shared.gate, priority, budget);
                Box::pin(stream_response(holds, out, id, handler, ctx, body, (started, timeout, send_deadline))).await
            }
        };
        shared.metrics.record(&synapse, status.code(), started.elapsed().as_secs_f64());
    }
    .instrument(span)
    .await
}

/// The message of a 500 for a handler that panicked.
const PANICKED: &str = "Internal Server Error: handler panicked";

/// Ends a streaming answer with its final status, and returns it.
async fn end_stream(
    writer: &Writer,
    send_deadline: tokio::time::Instant,
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
) -> Status {
    send_status_by(send_deadline, writer, id, status, message, started).await;
    status
}

/// Runs a streaming handler, writing its chunks; holds the handler slot (`_permit`) throughout,
/// since the handler runs as long as the stream does.
async fn stream_response(
    (permit, gate, priority, request_share): (crate::gate::Permit, &Gate, f64, Budget),
    (writer, memory, ip): Out<'_>,
    id: u64,
    handler: StreamFn,
    ctx: RequestContext,
    body: Bytes,
    (started, timeout, send_deadline): (Instant, Duration, tokio::time::Instant),
) -> Status {
    let deadline = tokio::time::Instant::from(started + timeout);
    let items = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx, body)));
    // The handler has its request: the body's share goes to the chunks.
    drop(request_share);
    let items = match items {
        Ok(Ok(items)) => items,
        Ok(Err(error)) => {
            return end_stream(writer, send_deadline, id, error.status, error.message, started).await;
        }
        Err(_) => {
            return end_stream(writer, send_deadline, id, Status::InternalError, PANICKED, started).await;
        }
    };
    let mut items = std::panic::AssertUnwindSafe(items).catch_unwind().boxed();
    let mut slot = Some(permit);
    loop {
        match tokio::time::timeout_at(deadline, items.next()).await {
            Ok(Some(Ok(Ok(chunk)))) => {
                let frame = OutFrame { kind: FrameKind::Chunk, id, header: Vec::new(), body: chunk, held: None };
                match try_send_answer((writer, memory, ip), frame, send_deadline) {
                    Ok(()) => {}
                    Err(None) => return Status::Unavailable,
                    Err(Some(frame)) => {
                        // The caller is not taking its chunks (or memory is short): wait without
                        // the handler's slot, so that other requests can run in it meanwhile.
                        drop(slot.take());
                        if send_waiting((writer, memory, ip), frame, send_deadline).await.is_err() {
                            return Status::Unavailable;
                        }
                        match gate.admit(priority).await {
                            Ok(permit) => {
                                slot.replace(permit);
                            }
                            Err(_) => {
                                let message = "axon is at capacity: priority queue is full";
                                return end_stream(writer, send_deadline, id, Status::Unavailable, message, started)
                                    .await;
                            }
                        }
                    }
                }
            }
            Ok(Some(Ok(Err(error)))) => {
                return end_stream(writer, send_deadline, id, error.status, error.message, started).await;
            }
            Ok(Some(Err(_panic))) => {
                return end_stream(writer, send_deadline, id, Status::InternalError, PANICKED, started).await;
            }
            Ok(None) => {
                return end_stream(writer, send_deadline, id, Status::Success, "Success", started).await;
            }
            Err(_) => {
                return end_stream(
                    writer,
                    send_deadline,
                    id,
                    Status::Timeout,
                    crate::error::timeout_message(timeout),
                    started,
                )
                .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> InlineFlag {
        InlineFlag { synapse: "Echo".into(), score: AtomicU32::new(0) }
    }

    const LIMIT: Duration = Duration::from_micros(100);
    const FAST: Duration = Duration::from_micros(5);
    const SLOW: Duration = Duration::from_millis(2);

    #[test]
    fn three_overruns_close_together_stop_inlining_for_good() {
        let flag = flag();
        for _ in 0..2 {
            flag.record(SLOW, LIMIT);
            assert!(flag.allowed());
        }
        flag.record(SLOW, LIMIT);
        assert!(!flag.allowed());
        // A poll that started before and ends within the limit does not turn it back on.
        for _ in 0..1000 {
            flag.record(FAST, LIMIT);
        }
        assert!(!flag.allowed());
    }

    #[test]
    fn rare_overruns_decay() {
        let flag = flag();
        // One overrun in seventeen polls, for a long time: the machine, not the handler.
        for _ in 0..1000 {
            flag.record(SLOW, LIMIT);
            for _ in 0..16 {
                flag.record(FAST, LIMIT);
            }
        }
        assert!(flag.allowed());
    }

    #[test]
    fn frequent_overruns_stop_inlining() {
        let flag = flag();
        // One overrun in eight polls: a handler that sometimes computes before it awaits.
        let mut polls = 0;
        while flag.allowed() {
            flag.record(if polls % 8 == 0 { SLOW } else { FAST }, LIMIT);
            polls += 1;
            assert!(polls < 1000, "never stopped inlining");
        }
    }
}
