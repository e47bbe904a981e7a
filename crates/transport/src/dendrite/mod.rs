//! The dendrite: queries axons by hotkey over hotkey-bound connections.
//!
//! One connection per target hotkey, carrying a small pool of long-lived streams with
//! neuronet's frames; many requests share each stream, told apart by request id. Every stream
//! starts with the binding exchange. When the axon's PeerId was known before the dial, the first
//! requests follow the Bind frame at once and no answer is read before the axon's binding is
//! verified; otherwise nothing is sent before it is. A connection whose axon cannot prove the
//! expected hotkey is dropped and its queries end with 401.
//!
//! Here: the public API (Dendrite, Target, Response, ResponseStream). `config`: its settings.
//! `dial`: reaching a target. `pool`: a connection's streams. `binding`: our binding and the
//! axon's. `writer` and `reader`: the two halves of one stream.

mod binding;
mod config;
mod dial;
mod pool;
mod reader;
mod writer;

pub use config::{Auth, DendriteConfig};

use binding::expiry_after;
use dial::FirstStream;
use pool::{PoolStream, Slot};
use reader::{ChunkSink, Pending, Reply};
use writer::{cancel, Outgoing, QueuedRequest};

use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::swarm::Network;
use crate::Error;
use bytes::Bytes;
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::binding::sign_binding;
use neuronet_synapse::envelope::{RequestHead, ResponseHead};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::proto::{AuthMode, HotkeyBinding};
use neuronet_synapse::{Failure, Hotkey, Keypair, Status, Synapse};
use prost::Message;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

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
    fn failure(target: Hotkey, Failure { status, message }: Failure, started: Instant) -> Self {
        Response { target, status, message, body: None, process_time: Duration::ZERO, elapsed: started.elapsed() }
    }

    /// Whether the status is 200 and a body came.
    pub fn is_success(&self) -> bool {
        self.status.is_success() && self.body.is_some()
    }
}

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
///     .query::<Ping>(&Target::Explicit { hotkey: miner, addr }, proto::PingRequest {})
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

    /// Sends one unary request and waits for the answer or [`DendriteConfig::timeout`]. Never
    /// fails as a whole: every failure is a status (503 unreachable, 408 timeout, 401 binding
    /// refused, 422 undecodable answer).
    pub async fn query<S: Synapse>(&self, target: &Target, request: S::Request) -> Response<S::Response> {
        self.query_within::<S>(target, request, self.inner.config.timeout).await
    }

    /// [`Dendrite::query`] with its own `timeout` (the axon is told it too).
    pub async fn query_within<S: Synapse>(
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
            Err(_) => Response::failure(
                hotkey,
                Failure::new(Status::Timeout, crate::error::timeout_message(timeout)),
                started,
            ),
            Ok(Err(failure)) => Response::failure(hotkey, failure, started),
            Ok(Ok((stream, id))) => match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Reply::Done(head, bytes))) => decode_response::<S>(hotkey, head, bytes, started),
                Ok(Ok(Reply::Failed(failure))) => Response::failure(hotkey, failure, started),
                Ok(Ok(Reply::Chunk(_))) => Response::failure(
                    hotkey,
                    Failure::new(Status::Unprocessable, "a chunk answered a unary request"),
                    started,
                ),
                Ok(Err(_)) => {
                    Response::failure(hotkey, Failure::new(Status::Unavailable, "connection closed"), started)
                }
                Err(_) => {
                    stream.take(id);
                    cancel(&stream, id).await;
                    Response::failure(
                        hotkey,
                        Failure::new(Status::Timeout, crate::error::timeout_message(timeout)),
                        started,
                    )
                }
            },
        };
        self.inner.metrics.record(S::NAME, response.status.code(), response.elapsed.as_secs_f64());
        response
    }

    /// Sends the same request to every target concurrently: one answer per target, in order,
    /// each within [`DendriteConfig::timeout`].
    pub async fn forward<S: Synapse>(&self, targets: &[Target], request: S::Request) -> Vec<Response<S::Response>> {
        self.forward_within::<S>(targets, request, self.inner.config.timeout).await
    }

    /// [`Dendrite::forward`] with its own `timeout`.
    pub async fn forward_within<S: Synapse>(
        &self,
        targets: &[Target],
        request: S::Request,
        timeout: Duration,
    ) -> Vec<Response<S::Response>> {
        futures::future::join_all(targets.iter().map(|t| self.query_within::<S>(t, request.clone(), timeout))).await
    }

    /// Sends the same request to every target concurrently and yields each answer as it
    /// arrives, with its target's index, each within `timeout`. A round that needs only a
    /// quorum, or has its own deadline, stops reading (and drops the stream, cancelling the
    /// rest) when it has enough:
    ///
    /// ```no_run
    /// # async fn round(dendrite: &neuronet_transport::Dendrite, targets: &[neuronet_transport::Target]) {
    /// use futures::StreamExt;
    /// use neuronet_synapse::{builtin::Ping, proto::PingRequest};
    ///
    /// let deadline = tokio::time::sleep(std::time::Duration::from_secs(2));
    /// tokio::pin!(deadline);
    /// let mut answers = dendrite.forward_as_they_come::<Ping>(targets, PingRequest {}, std::time::Duration::from_secs(5));
    /// let mut ok = 0;
    /// loop {
    ///     tokio::select! {
    ///         next = answers.next() => match next {
    ///             Some((_index, answer)) if answer.is_success() => { ok += 1; if ok == 3 { break } }
    ///             Some(_) => {}
    ///             None => break,
    ///         },
    ///         _ = &mut deadline => break,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn forward_as_they_come<'a, S: Synapse>(
        &'a self,
        targets: &'a [Target],
        request: S::Request,
        timeout: Duration,
    ) -> impl futures::Stream<Item = (usize, Response<S::Response>)> + Send + 'a {
        targets
            .iter()
            .enumerate()
            .map(|(index, target)| {
                let request = request.clone();
                async move { (index, self.query_within::<S>(target, request, timeout).await) }
            })
            .collect::<futures::stream::FuturesUnordered<_>>()
    }

    /// Dials and binds the connections to `targets` that are not open yet, concurrently (at most
    /// [`DendriteConfig::max_concurrent_dials`] at once, each within
    /// [`DendriteConfig::connect_timeout`]), so that the first query to them pays no setup.
    /// One result per target, in order: `Ok` once its connection is bound, or why it is not.
    pub async fn connect(&self, targets: &[Target]) -> Vec<Result<(), Failure>> {
        futures::future::join_all(
            targets.iter().map(|t| async move { self.connection(t, FirstStream::Verified).await.map(|_| ()) }),
        )
        .await
    }

    /// Sends a streaming request; the returned stream yields each chunk, then ends with the
    /// final status available from [`ResponseStream::status`]. The whole answer must come
    /// within [`DendriteConfig::timeout`].
    pub async fn query_stream<S: Synapse>(&self, target: &Target, request: S::Request) -> ResponseStream<S::Response> {
        self.query_stream_within::<S>(target, request, self.inner.config.timeout).await
    }

    /// [`Dendrite::query_stream`] with its own `timeout`.
    pub async fn query_stream_within<S: Synapse>(
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
            Ok(Err(failure)) => stream.finish(failure.status, failure.message),
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
    ) -> Result<(Arc<PoolStream>, u64), Failure> {
        let conn = self.connection(target, FirstStream::Pipelined).await?;
        self.keep_bound(&conn).await?;
        // A connection can lose its only stream between the dial and this pick (its binding
        // refused): the request is then told why.
        let mut stream = conn.pick().ok_or_else(|| conn.failure())?;
        if stream.pending.lock().is_ok_and(|p| !p.is_empty()) {
            // This request queues behind another: time for the connection's further streams.
            self.grow(&conn);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let mut head = RequestHead::new(synapse, self.inner.keypair.hotkey(), *conn.hotkey.public(), timeout_ms);
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
            Ok(Some(Reply::Failed(failure))) => {
                self.ended(failure.status, failure.message);
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

/// The hotkey, the PeerId and how many targets have a connection; never the keypair.
impl fmt::Debug for Dendrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let connections = self.inner.connections.lock().map(|c| c.len()).unwrap_or_default();
        f.debug_struct("Dendrite")
            .field("hotkey", &self.hotkey())
            .field("peer_id", &self.peer_id())
            .field("auth", &self.inner.config.auth)
            .field("connections", &connections)
            .finish_non_exhaustive()
    }
}

/// Who was asked, whether the stream has ended and how, and the bytes of chunks not yet read.
impl<T> fmt::Debug for ResponseStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseStream")
            .field("target", &self.target)
            .field("status", &self.status)
            .field("message", &self.message)
            .field("unread_bytes", &self.buffered.load(Ordering::Acquire))
            .finish_non_exhaustive()
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
