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
use crate::swarm::{Network, NetworkConfig, PeerEvents, Standing};
use crate::Error;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::io::{AsyncReadExt, BufReader};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::admission::{BatchAssembly, Broken, Placed, INCOMPLETE_BATCH};
use neuronet_synapse::binding::{check_binding, sign_binding, BindingError, BindingRules};
use neuronet_synapse::envelope::{verify_batch_with, RequestHead, ResponseHead};
use neuronet_synapse::frame::{FrameKind, FramePrefix, PREFIX_LEN};
use neuronet_synapse::nonce::{NonceGuard, NonceGuardConfig};
use neuronet_synapse::payload::{unix_nanos, Nonce};
use neuronet_synapse::proto::{AuthMode, HotkeyBinding};
use neuronet_synapse::{Failure, Hotkey, Keypair, Status, Synapse, SynapseKind, SynapseMessage, VerifyingKey};
use prost::Message;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

mod config;
mod http;
mod memory;
mod peers;
mod pipeline;
mod router;
mod sink;
mod stream;

pub use config::{AcceptedAuth, AxonConfig};
pub use http::HttpListen;
use memory::*;
use peers::*;
pub use pipeline::Remote;
use pipeline::*;
use router::*;
pub use router::{BlacklistFn, HandlerError, PriorityFn, RequestContext};
use sink::*;
use stream::*;

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
    hash_fields: HashMap<String, Vec<String>>,
}

/// Names the hotkey, the synapses and the limits; never the key.
impl std::fmt::Debug for Axon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut synapses: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        synapses.sort_unstable();
        f.debug_struct("Axon")
            .field("hotkey", &self.keypair.hotkey())
            .field("synapses", &synapses)
            .field("blacklist", &self.blacklist.is_some())
            .field("priority", &self.priority.is_some())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
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
            hash_fields: HashMap::new(),
        }
    }

    /// Takes `S`'s declared `required_hash_fields` for bittensor 10 callers.
    fn declare_hash_fields<S: Synapse>(&mut self) {
        if !S::REQUIRED_HASH_FIELDS.is_empty() {
            self.hash_fields
                .insert(S::NAME.to_owned(), S::REQUIRED_HASH_FIELDS.iter().map(|f| (*f).to_owned()).collect());
        }
    }

    /// Declares `synapse`'s `required_hash_fields` as its Python class names them, for callers
    /// on the bittensor 10 HTTP wire: the body hash their signature covers is computed over these
    /// fields' Python `str()` text, and checked before the handler runs.
    pub fn with_required_hash_fields(mut self, synapse: &str, fields: &[&str]) -> Self {
        self.hash_fields.insert(synapse.to_owned(), fields.iter().map(|f| (*f).to_owned()).collect());
        self
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
        self.declare_hash_fields::<S>();
        let handler = Arc::new(handler);
        let erased: UnaryFn = Arc::new(move |ctx, body: Body| {
            let handler = handler.clone();
            async move {
                let request: S::Request = body.encoding.decode(body.bytes, S::NAME)?;
                let response = handler(ctx, request).await?;
                body.encoding.encode(&response)
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
        self.declare_hash_fields::<S>();
        let erased: StreamFn = Arc::new(move |ctx, body: Body| {
            let encoding = body.encoding;
            let request: S::Request = encoding.decode(body.bytes, S::NAME)?;
            Ok(handler(ctx, request).map(move |item| item.and_then(|chunk| encoding.encode(&chunk))).boxed())
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
            directory: self.directory.clone(),
        });
        let (network, incoming) =
            Network::start(&self.config.network, peers.clone() as Arc<dyn PeerEvents>, self.config.bind_timeout)?;
        let incoming = incoming.ok_or_else(|| Error::Swarm("no inbound stream queue".into()))?;
        let mut listen_addrs = Vec::new();
        for addr in addrs {
            listen_addrs.push(network.listen(addr).await?);
        }
        let hotkey = self.keypair.hotkey();
        let pipeline = Arc::new(
            Pipeline::new(
                self.config,
                hotkey,
                self.directory,
                Router::new(self.handlers).with_hash_fields(self.hash_fields),
            )
            .with_hooks(self.blacklist, self.priority)
            .with_metrics(self.metrics.clone()),
        );
        let shared = Arc::new(Shared {
            binding: Mutex::new(sign_own_binding(&self.keypair, &network.local_peer_id(), pipeline.config.binding_ttl)),
            keypair: self.keypair,
            local_peer_id: network.local_peer_id(),
            bind_rate: RateLimiter::keyed(bind_quota(pipeline.config.bind_budget, pipeline.config.bind_refill)),
            network: network.downgrade(),
            pipeline,
            peers,
        });
        let (http, http_addr) = match shared.pipeline.config.http {
            HttpListen::Off => (None, None),
            listen => {
                let at = match listen {
                    HttpListen::At(at) => at,
                    _ => listen_addrs.first().and_then(socket_of).ok_or_else(|| {
                        Error::Swarm("HTTP on the QUIC port needs an IP listen address with a UDP port".into())
                    })?,
                };
                let listener = tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|e| Error::Swarm(format!("listening for HTTP on {at}: {e}")))?;
                let bound = listener.local_addr().map_err(|e| Error::Swarm(format!("HTTP listener: {e}")))?;
                (Some(tokio::spawn(http::serve(shared.clone(), listener))), Some(bound))
            }
        };
        let accept = tokio::spawn(accept_loop(shared.clone(), incoming));
        Ok(AxonHandle {
            peer_id: network.local_peer_id(),
            hotkey: shared.pipeline.hotkey,
            http,
            http_addr,
            listen_addrs,
            metrics: self.metrics,
            accept,
            _network: network,
            shared,
        })
    }
}

/// A running axon. Dropping it stops accepting new streams; [`AxonHandle::shutdown`] stops
/// gracefully.
pub struct AxonHandle {
    peer_id: PeerId,
    hotkey: Hotkey,
    http: Option<tokio::task::JoinHandle<()>>,
    http_addr: Option<std::net::SocketAddr>,
    listen_addrs: Vec<Multiaddr>,
    metrics: Metrics,
    accept: tokio::task::JoinHandle<()>,
    _network: Network,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AxonHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AxonHandle")
            .field("hotkey", &self.hotkey)
            .field("peer_id", &self.peer_id)
            .field("listen_addrs", &self.listen_addrs)
            .finish_non_exhaustive()
    }
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
    /// The certificate to publish on chain (`serve_axon_tls`) so that dendrites find this axon
    /// and pin its identity: [`NEURONET_CERTIFICATE_ALGORITHM`](crate::NEURONET_CERTIFICATE_ALGORITHM)
    /// and the identity's public key.
    pub fn certificate(&self) -> (u8, Vec<u8>) {
        let key = crate::certificate::certificate_key(&self.peer_id).unwrap_or_default();
        (crate::certificate::NEURONET_CERTIFICATE_ALGORITHM, key)
    }
    /// Bound listen addresses, each ending in `/p2p/<PeerId>`.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }
    /// The UDP port of the first listen address: the port to announce on chain.
    pub fn port(&self) -> Option<u16> {
        self.listen_addrs.first()?.iter().find_map(|protocol| match protocol {
            libp2p::multiaddr::Protocol::Udp(port) => Some(port),
            _ => None,
        })
    }
    /// Where the axon serves HTTP, when it does ([`AxonConfig::http`]).
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http_addr
    }
    /// The axon's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    /// Requests waiting for a handler slot now.
    pub fn queued(&self) -> usize {
        self.shared.pipeline.gate.queued()
    }
    /// Requests admitted and not yet answered: queued, running, or writing their answer.
    pub fn in_flight(&self) -> usize {
        self.shared.pipeline.in_flight.load(Ordering::SeqCst)
    }

    /// Stops gracefully: from now on every new request, on every wire, is answered 503 ("axon is
    /// shutting down"), so callers learn at once to go elsewhere; the requests already admitted
    /// run to their answer (a stream to its last chunk) for up to `grace`. Then the axon closes
    /// its listeners and connections, after [`AxonConfig::shutdown_linger`]. Returns how many
    /// requests were still in flight when it closed (0 when all finished within `grace`).
    ///
    /// ```no_run
    /// # async fn example(axon: neuronet_transport::AxonHandle) {
    /// // On SIGTERM: finish what was taken, for up to ten seconds.
    /// let unfinished = axon.shutdown(std::time::Duration::from_secs(10)).await;
    /// assert_eq!(unfinished, 0);
    /// # }
    /// ```
    pub async fn shutdown(self, grace: Duration) -> usize {
        self.shared.pipeline.draining.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let unfinished = self.in_flight();
        // The last answers were handed to their connections' writers: give the writers and QUIC
        // a moment to deliver them before the connections close.
        tokio::time::sleep(self.shared.pipeline.config.shutdown_linger).await;
        unfinished
    }
}

impl Drop for AxonHandle {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(http) = &self.http {
            http.abort();
        }
    }
}

/// The IP and UDP port of a QUIC listen address.
fn socket_of(addr: &Multiaddr) -> Option<std::net::SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let mut parts = addr.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        Protocol::Ip6(ip) => IpAddr::V6(ip),
        _ => return None,
    };
    match parts.next()? {
        Protocol::Udp(port) => Some(std::net::SocketAddr::new(ip, port)),
        _ => None,
    }
}

/// What the QUIC adapter shares between its streams: the wire-neutral pipeline, and what only
/// QUIC has (the axon's own binding, the peers' bindings, the Bind budgets, the swarm).
struct Shared {
    pipeline: Arc<Pipeline>,
    keypair: Arc<Keypair>,
    local_peer_id: PeerId,
    binding: Mutex<HotkeyBinding>,
    /// Each connection's Bind budget (`bind_budget`, `bind_refill`).
    bind_rate: DefaultKeyedRateLimiter<PeerId>,
    /// Closes connections that spent their Bind budget; does not keep the swarm alive.
    network: crate::swarm::WeakNetwork,
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
        if binding.expires_at.saturating_sub(now) < self.pipeline.config.binding_ttl.as_secs() / 10 {
            *binding = sign_own_binding(&self.keypair, &self.local_peer_id, self.pipeline.config.binding_ttl);
        }
        binding.clone()
    }
}

async fn accept_loop(shared: Arc<Shared>, mut incoming: tokio::sync::mpsc::Receiver<InboundStream>) {
    let mut last_cleanup = Instant::now();
    while let Some((peer, stream)) = incoming.recv().await {
        tokio::spawn(serve_stream(shared.clone(), peer, stream));
        if last_cleanup.elapsed() > Duration::from_secs(60) {
            shared.pipeline.peer_rate.retain_recent();
            shared.pipeline.ip_rate.retain_recent();
            shared.bind_rate.retain_recent();
            shared.peers.get().retain(|_, state| state.connected);
            last_cleanup = Instant::now();
        }
    }
}
