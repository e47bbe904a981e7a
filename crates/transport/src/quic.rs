//! neuronet's QUIC transport for libp2p: quic-v1 with libp2p's TLS certificates (RFC: libp2p
//! TLS handshake), so any libp2p QUIC peer can connect, but tuned for bulk synapse traffic:
//!
//! - cipher suites in the order AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 on hosts with AES
//!   instructions (libp2p-tls puts ChaCha20 first, which costs a third of the CPU at 1 MiB
//!   there), ChaCha20-Poly1305 first on hosts without; as the server, the axon's order wins
//!   over the dialer's;
//! - X25519 key exchange first (one key share, one packet), X25519MLKEM768 still offered;
//! - UDP socket buffers of [`QuicConfig::udp_buffer`] bytes, so bursts are not dropped by the
//!   kernel's 208 KiB default;
//! - one client endpoint per address family, shared by every dial of a swarm that does not
//!   listen, instead of a new socket per dial;
//! - inbound connections share [`QuicConfig::window_budget`] for their flow-control windows, and
//!   pending handshakes are counted per source address as well as in all.

use futures::future::BoxFuture;
use futures::{AsyncRead, AsyncWrite, FutureExt};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerEvent};
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::{identity, Multiaddr, PeerId, Transport};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// ALPN of libp2p's TLS handshake.
const ALPN: &[u8] = b"libp2p";

/// Settings of the QUIC transport (filled from [`crate::NetworkConfig`]).
#[derive(Debug, Clone)]
pub(crate) struct QuicConfig {
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub keep_alive: Duration,
    pub max_streams_per_connection: u32,
    pub stream_window: u32,
    pub connection_window: u32,
    pub udp_buffer: usize,
    /// Open the IPv4 client socket now rather than on the first dial (for swarms that only
    /// dial, so that their first connection does not pay for it).
    pub eager_dialer: bool,
    pub max_pending_handshakes: usize,
    pub max_pending_handshakes_per_ip: usize,
    /// What the windows of all inbound connections may hold together, each way.
    pub window_budget: u64,
}

/// Why a QUIC dial, listen or connection failed.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// quinn refused to start the connection.
    #[error("connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The handshake did not finish within the handshake timeout.
    #[error("handshake timed out")]
    HandshakeTimedOut,
    /// The peer's certificate carried no libp2p identity.
    #[error("peer certificate: {0}")]
    Certificate(String),
    /// TLS configuration could not be built.
    #[error("tls: {0}")]
    Tls(String),
    /// Dialing as the listener (hole punching) is not supported.
    #[error("dialing as listener is not supported")]
    DialAsListener,
}

/// The libp2p [`Transport`] over quinn.
pub(crate) struct QuicTransport {
    client: quinn::ClientConfig,
    server: quinn::ServerConfig,
    /// What every endpoint's keys derive from ([`endpoint_config`]).
    endpoint_secret: Arc<zeroize::Zeroizing<Vec<u8>>>,
    /// Inbound connections' server configurations, one per window size.
    servers: Arc<Servers>,
    /// The window budget inbound connections share.
    windows: Arc<Windows>,
    handshake_timeout: Duration,
    udp_buffer: usize,
    /// Inbound handshakes under way, over all listeners, against `max_pending_handshakes`.
    handshakes: Arc<Handshakes>,
    listeners: Vec<Listener>,
    /// Client-only endpoints, one per address family (index 0: IPv4, 1: IPv6).
    dialers: [Option<quinn::Endpoint>; 2],
    events: mpsc::UnboundedSender<TransportEvent<Upgrade, QuicError>>,
    receiver: mpsc::UnboundedReceiver<TransportEvent<Upgrade, QuicError>>,
}

type Upgrade = BoxFuture<'static, Result<(PeerId, Connection), QuicError>>;

struct Listener {
    id: ListenerId,
    endpoint: quinn::Endpoint,
    local: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.endpoint.close(0u32.into(), b"listener closed");
    }
}

impl QuicTransport {
    pub(crate) fn new(keypair: &identity::Keypair, config: &QuicConfig) -> Result<Self, QuicError> {
        let (client_tls, server_tls) = tls_configs(keypair)?;
        // aws-lc seeds its generator on first use with a CPU-jitter entropy collection of about
        // 20 ms; doing it here keeps that off the first handshake. A failure shows up there.
        let _ = rustls::crypto::aws_lc_rs::default_provider().secure_random.fill(&mut [0u8; 32]);
        let transport = Arc::new(transport_config(config, u64::from(config.connection_window)));
        let client_crypto =
            quinn::crypto::rustls::QuicClientConfig::try_from(client_tls).map_err(|e| QuicError::Tls(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_crypto));
        client.transport_config(Arc::clone(&transport));
        let server_crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(server_tls).map_err(|e| QuicError::Tls(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_crypto));
        server.transport = transport;
        // Connection migration would change a peer's address under the per-IP limits.
        server.migration(false);
        let (events, receiver) = mpsc::unbounded_channel();
        let servers = Servers { base: server.clone(), config: config.clone(), by_window: Mutex::default() };
        let mut quic = QuicTransport {
            client,
            server,
            endpoint_secret: endpoint_secret(keypair),
            servers: Arc::new(servers),
            windows: Windows::new(config.window_budget, u64::from(config.connection_window)),
            handshake_timeout: config.handshake_timeout,
            udp_buffer: config.udp_buffer,
            handshakes: Arc::new(Handshakes::new(config.max_pending_handshakes, config.max_pending_handshakes_per_ip)),
            listeners: Vec::new(),
            dialers: [None, None],
            events,
            receiver,
        };
        if config.eager_dialer {
            let any = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0);
            quic.dialers[0] = Some(quic.endpoint(any, false)?);
        }
        Ok(quic)
    }

    fn endpoint(&self, addr: SocketAddr, server: bool) -> Result<quinn::Endpoint, QuicError> {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        // Best effort: the kernel caps both at net.core.{r,w}mem_max.
        if let Err(error) = socket.set_recv_buffer_size(self.udp_buffer) {
            tracing::debug!(%error, "UDP receive buffer not raised");
        }
        if let Err(error) = socket.set_send_buffer_size(self.udp_buffer) {
            tracing::debug!(%error, "UDP send buffer not raised");
        }
        socket.bind(&addr.into())?;
        let socket: UdpSocket = socket.into();
        let config = endpoint_config(&self.endpoint_secret, socket.local_addr()?);
        let server = server.then(|| self.server.clone());
        let runtime = Arc::new(quinn::TokioRuntime);
        Ok(quinn::Endpoint::new(config, server, socket, runtime)?)
    }

    /// The endpoint a dial to `remote` goes out from: a listening socket of the same family
    /// that can reach it (so the peer sees the address we listen on), else the shared client one.
    fn dial_endpoint(&mut self, remote: SocketAddr) -> Result<quinn::Endpoint, QuicError> {
        let usable = |l: &&Listener| {
            l.local.is_ipv4() == remote.is_ipv4()
                && (l.local.ip().is_unspecified() || l.local.ip().is_loopback() == remote.ip().is_loopback())
        };
        if let Some(listener) = self.listeners.iter().find(usable) {
            return Ok(listener.endpoint.clone());
        }
        let family = usize::from(remote.is_ipv6());
        if let Some(endpoint) = &self.dialers[family] {
            return Ok(endpoint.clone());
        }
        let any = match remote {
            SocketAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
            SocketAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
        };
        let endpoint = self.endpoint(any, false)?;
        self.dialers[family] = Some(endpoint.clone());
        Ok(endpoint)
    }
}

impl Transport for QuicTransport {
    type Output = (PeerId, Connection);
    type Error = QuicError;
    type ListenerUpgrade = Upgrade;
    type Dial = Upgrade;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<QuicError>> {
        let (socket_addr, _) = socket_addr(&addr).ok_or(TransportError::MultiaddrNotSupported(addr))?;
        let endpoint = self.endpoint(socket_addr, true).map_err(TransportError::Other)?;
        let local = endpoint.local_addr().map_err(|e| TransportError::Other(e.into()))?;
        let accept = Accept {
            id,
            endpoint: endpoint.clone(),
            local,
            timeout: self.handshake_timeout,
            handshakes: self.handshakes.clone(),
            windows: self.windows.clone(),
            servers: self.servers.clone(),
            events: self.events.clone(),
        };
        let mut tasks = vec![tokio::spawn(accept_loop(accept))];
        if local.ip().is_unspecified() {
            tasks.push(tokio::spawn(watch_interfaces(id, local, self.events.clone())));
        } else {
            let _ = self.events.send(TransportEvent::NewAddress { listener_id: id, listen_addr: multiaddr(local) });
        }
        self.listeners.push(Listener { id, endpoint, local, tasks });
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        let Some(at) = self.listeners.iter().position(|l| l.id == id) else { return false };
        self.listeners.swap_remove(at);
        let _ = self.events.send(TransportEvent::ListenerClosed { listener_id: id, reason: Ok(()) });
        true
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Upgrade, TransportError<QuicError>> {
        let Some((remote, _)) = socket_addr(&addr) else { return Err(TransportError::MultiaddrNotSupported(addr)) };
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        if opts.role == Endpoint::Listener {
            return Err(TransportError::Other(QuicError::DialAsListener));
        }
        let endpoint = self.dial_endpoint(remote).map_err(TransportError::Other)?;

        let client = self.client.clone();
        let timeout = self.handshake_timeout;
        Ok(async move {
            // The server name is not checked: the peer is authenticated by its libp2p certificate.
            let connecting = endpoint.connect_with(client, remote, "l")?;
            established(connecting, timeout).await
        }
        .boxed())
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Upgrade, QuicError>> {
        match self.receiver.poll_recv(cx) {
            Poll::Ready(Some(event)) => Poll::Ready(event),
            // The sender lives in `self`: the channel never closes while the transport does.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

/// The secret every endpoint's keys derive from: HMAC-SHA256 of a label under the libp2p
/// identity's private key (a random secret for a key type without an encoding, as quinn's
/// defaults). The identity's encoding is wiped once the secret is taken.
fn endpoint_secret(keypair: &identity::Keypair) -> Arc<zeroize::Zeroizing<Vec<u8>>> {
    let identity = zeroize::Zeroizing::new(keypair.to_protobuf_encoding().unwrap_or_else(|_| {
        let mut random = vec![0u8; 32];
        let _ = aws_lc_rs::rand::fill(&mut random);
        random
    }));
    Arc::new(zeroize::Zeroizing::new(derive(&identity, b"neuronet/quic/endpoint/v1")))
}

/// HMAC-SHA256 of `label` under `key`.
fn derive(key: &[u8], label: &[u8]) -> Vec<u8> {
    use aws_lc_rs::hmac;
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), label).as_ref().to_vec()
}

/// The configuration of the endpoint bound at `local`, with its two keys derived from the node's
/// secret and that address instead of drawn at random: the key of stateless reset tokens, and
/// the key connection IDs are tagged with. A node restarted with the same identity on the same
/// address (a miner keeps its identity on disk) then recognises the connection IDs its previous
/// run issued and answers packets on them with a stateless reset its peers accept, so a
/// validator drops a dead connection at its next packet and dials again, instead of waiting for
/// the idle timeout. The address in the derivation keeps the node's endpoints from resetting
/// each other's connections (RFC 9000, section 21.11).
fn endpoint_config(secret: &[u8], local: SocketAddr) -> quinn::EndpointConfig {
    let endpoint = zeroize::Zeroizing::new(derive(secret, format!("endpoint {local}").as_bytes()));
    let reset = zeroize::Zeroizing::new(derive(&endpoint, b"stateless-reset"));
    let mut config = quinn::EndpointConfig::new(Arc::new(StatelessResetKey(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &reset,
    ))));
    let tags = zeroize::Zeroizing::new(derive(&endpoint, b"connection-id"));
    let tags = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &tags);
    config.cid_generator(move || Box::new(TaggedConnectionIds { key: tags.clone() }));
    config
}

/// The key of stateless reset tokens.
struct StatelessResetKey(aws_lc_rs::hmac::Key);

impl quinn::crypto::HmacKey for StatelessResetKey {
    fn sign(&self, data: &[u8], out: &mut [u8]) {
        out.copy_from_slice(aws_lc_rs::hmac::sign(&self.0, data).as_ref());
    }
    fn signature_len(&self) -> usize {
        32
    }
    fn verify(&self, data: &[u8], signature: &[u8]) -> Result<(), quinn::crypto::CryptoError> {
        aws_lc_rs::hmac::verify(&self.0, data, signature).map_err(|_| quinn::crypto::CryptoError)
    }
}

/// Connection IDs of 8 random bytes and an 8-byte HMAC tag of them: an endpoint tells the IDs
/// it (or its previous run) issued from junk without keeping them, and 2^64 of them never
/// repeat in practice, so a reset token a peer once saw stays its own (RFC 9000, 10.3.2).
struct TaggedConnectionIds {
    key: aws_lc_rs::hmac::Key,
}

impl TaggedConnectionIds {
    const RANDOM: usize = 8;
    const TAG: usize = 8;

    fn tag(&self, random: &[u8]) -> [u8; Self::TAG] {
        let mut tag = [0u8; Self::TAG];
        tag.copy_from_slice(&aws_lc_rs::hmac::sign(&self.key, random).as_ref()[..Self::TAG]);
        tag
    }
}

impl quinn::ConnectionIdGenerator for TaggedConnectionIds {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        let mut bytes = [0u8; Self::RANDOM + Self::TAG];
        let _ = aws_lc_rs::rand::fill(&mut bytes[..Self::RANDOM]);
        let tag = self.tag(&bytes[..Self::RANDOM]);
        bytes[Self::RANDOM..].copy_from_slice(&tag);
        quinn::ConnectionId::new(&bytes)
    }
    fn validate(&self, cid: &quinn::ConnectionId) -> Result<(), quinn_proto::InvalidCid> {
        let bytes: &[u8] = cid;
        if bytes.len() != Self::RANDOM + Self::TAG {
            return Err(quinn_proto::InvalidCid);
        }
        // Not secret-dependent timing that matters: the tag only filters junk.
        if self.tag(&bytes[..Self::RANDOM])[..] == bytes[Self::RANDOM..] {
            Ok(())
        } else {
            Err(quinn_proto::InvalidCid)
        }
    }
    fn cid_len(&self) -> usize {
        Self::RANDOM + Self::TAG
    }
    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// quinn's transport settings, with connection windows of `window` bytes each way.
fn transport_config(config: &QuicConfig, window: u64) -> quinn::TransportConfig {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_uni_streams(0u32.into())
        .max_concurrent_bidi_streams(config.max_streams_per_connection.into())
        .datagram_receive_buffer_size(None)
        .keep_alive_interval(Some(config.keep_alive))
        .max_idle_timeout(quinn::IdleTimeout::try_from(config.idle_timeout).ok())
        .allow_spin(false)
        .stream_receive_window(config.stream_window.into())
        .receive_window(quinn::VarInt::from_u64(window).unwrap_or(quinn::VarInt::MAX))
        .send_window(window);
    transport
}

/// Server configurations for inbound connections, one per connection window (a power of two,
/// or the configured window): a connection's first window is in its handshake's transport
/// parameters, so it must be right from the start.
struct Servers {
    base: quinn::ServerConfig,
    config: QuicConfig,
    by_window: Mutex<HashMap<u64, Arc<quinn::ServerConfig>>>,
}

impl Servers {
    fn with_window(&self, window: u64) -> Arc<quinn::ServerConfig> {
        let mut by_window = self.by_window.lock().unwrap_or_else(|p| p.into_inner());
        let server = by_window.entry(window).or_insert_with(|| {
            let mut server = self.base.clone();
            server.transport = Arc::new(transport_config(&self.config, window));
            Arc::new(server)
        });
        Arc::clone(server)
    }
}

/// The smallest connection window [`Windows`] gives: a few packets' worth, below which a
/// connection would crawl.
const MIN_WINDOW: u64 = 16 * 1024;

/// The connection window each of `connections` inbound connections gets out of `budget`: an
/// equal share rounded down to a power of two (so that windows change only when the count
/// doubles or halves), at most `ceiling` (`connection_window`), at least [`MIN_WINDOW`].
fn window_for(budget: u64, ceiling: u64, connections: u64) -> u64 {
    let share = budget / connections.max(1);
    let share = match share.checked_ilog2() {
        Some(log) => 1u64 << log,
        None => 0,
    };
    share.min(ceiling).max(MIN_WINDOW.min(ceiling))
}

/// Shares `window_budget` among inbound connections: every connection counted (from the start
/// of its handshake until it closes) has the same receive and send windows, shrunk as more
/// arrive and grown back as they leave, so that what QUIC holds for all of them together stays
/// within the budget.
struct Windows {
    budget: u64,
    ceiling: u64,
    state: Mutex<WindowState>,
}

struct WindowState {
    /// Connections counted.
    count: u64,
    /// The window every open connection has now.
    current: u64,
    /// Open connections, by quinn's id, to change their windows.
    open: HashMap<usize, quinn::Connection>,
}

impl Windows {
    fn new(budget: u64, ceiling: u64) -> Arc<Self> {
        let state = WindowState { count: 0, current: window_for(budget, ceiling, 1), open: HashMap::new() };
        Arc::new(Windows { budget, ceiling, state: Mutex::new(state) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one more connection; its window, and the ticket that counts it until dropped.
    fn join(self: &Arc<Self>) -> (WindowTicket, u64) {
        let mut state = self.state();
        state.count += 1;
        let wanted = window_for(self.budget, self.ceiling, state.count);
        if wanted < state.current {
            state.set(wanted);
        }
        (WindowTicket { windows: self.clone(), id: None }, state.current)
    }
}

impl WindowState {
    /// Gives every open connection `window`, each way. A window that shrinks takes effect as
    /// the peer's data is read (QUIC cannot take back credit it gave).
    fn set(&mut self, window: u64) {
        self.current = window;
        let receive = quinn::VarInt::from_u64(window).unwrap_or(quinn::VarInt::MAX);
        for connection in self.open.values() {
            connection.set_receive_window(receive);
            connection.set_send_window(window);
        }
    }
}

/// Counts one inbound connection against [`Windows`] while it lives.
struct WindowTicket {
    windows: Arc<Windows>,
    /// Set once the handshake is done and the connection's windows can be changed.
    id: Option<usize>,
}

impl WindowTicket {
    /// Registers the established `connection`, giving it the current window (the budget may
    /// have shrunk during its handshake).
    fn open(&mut self, connection: &quinn::Connection) {
        let mut state = self.windows.state();
        let window = state.current;
        connection.set_receive_window(quinn::VarInt::from_u64(window).unwrap_or(quinn::VarInt::MAX));
        connection.set_send_window(window);
        state.open.insert(connection.stable_id(), connection.clone());
        self.id = Some(connection.stable_id());
    }
}

impl Drop for WindowTicket {
    fn drop(&mut self) {
        let windows = &self.windows;
        let mut state = windows.state();
        state.count = state.count.saturating_sub(1);
        if let Some(id) = self.id {
            state.open.remove(&id);
        }
        // Grown back only with room for a quarter more connections, so that one peer coming and
        // going at the boundary does not resize every connection each time.
        let count = state.count;
        let wanted = window_for(windows.budget, windows.ceiling, count.saturating_add(count / 4));
        if wanted > state.current {
            state.set(wanted);
        }
    }
}

/// Counts inbound handshakes under way, in all and per source address (IPv6: per /64). Past
/// `limit` in all, or `per_ip` from its address, a new peer must first prove it receives at its
/// source address (a QUIC Retry, one extra round trip), so that a flood of spoofed Initial
/// packets cannot make the axon spend a TLS handshake on each. A Retry is stateless and costs
/// one packet, so nobody is refused: refusing unproven peers during a flood would lock out
/// exactly the honest newcomers the flood targets. A peer that proved its address goes ahead
/// without taking a slot, so that one address holds at most `per_ip` of the slots and cannot
/// force every other newcomer through a Retry. Peers that do connect are then held to the
/// per-IP connection limits.
struct Handshakes {
    limit: usize,
    per_ip: usize,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl Handshakes {
    fn new(limit: usize, per_ip: usize) -> Self {
        Handshakes { limit, per_ip, pending: Mutex::default() }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What becomes of a handshake from `ip` (whose address is `validated` or not): a slot, a
    /// Retry for an unproven source past the limits, or a refusal for an address that already
    /// has [`PROVEN_PER_IP`] times `per_ip` handshakes under way, or when [`PROVEN_PER_IP`] times
    /// `limit` are under way in all (proving an address is cheap for its owner, so proven sources
    /// are counted too: neither one address nor many can start handshakes without bound, each
    /// of which holds a share of the window budget).
    fn admit(self: &Arc<Self>, ip: IpAddr, validated: bool) -> Admission {
        let key = crate::inbound::ip_key(ip);
        let mut pending = self.pending();
        let from_ip = pending.by_ip.get(&key).copied().unwrap_or(0);
        if self.per_ip > 0 && from_ip >= self.per_ip.saturating_mul(PROVEN_PER_IP) {
            return Admission::Refuse;
        }
        if self.limit > 0 && pending.total >= self.limit.saturating_mul(PROVEN_PER_IP) {
            return Admission::Refuse;
        }
        let ip_full = self.per_ip > 0 && from_ip >= self.per_ip;
        if (ip_full || pending.total >= self.limit) && !validated {
            return Admission::Retry;
        }
        pending.total += 1;
        *pending.by_ip.entry(key).or_default() += 1;
        Admission::Slot(HandshakeSlot { handshakes: self.clone(), key: Some(key) })
    }
}

/// How many times `max_pending_handshakes_per_ip` handshakes one address may have under way
/// once it proves its address; past that its Initial packets are refused.
const PROVEN_PER_IP: usize = 4;

/// What [`Handshakes::admit`] decided.
enum Admission {
    /// Go ahead, holding this slot.
    Slot(HandshakeSlot),
    /// Prove the source address first.
    Retry,
    /// Too many handshakes from the address.
    Refuse,
}

/// Held while one inbound handshake runs: counted under its address's key, or not at all.
struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    key: Option<IpAddr>,
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        let Some(key) = self.key else { return };
        let mut pending = self.handshakes.pending();
        pending.total = pending.total.saturating_sub(1);
        if let Some(count) = pending.by_ip.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                pending.by_ip.remove(&key);
            }
        }
    }
}

/// What one listener's accept loop needs.
struct Accept {
    id: ListenerId,
    endpoint: quinn::Endpoint,
    local: SocketAddr,
    timeout: Duration,
    handshakes: Arc<Handshakes>,
    windows: Arc<Windows>,
    servers: Arc<Servers>,
    events: mpsc::UnboundedSender<TransportEvent<Upgrade, QuicError>>,
}

/// Accepts incoming connections of one listener until its endpoint closes.
async fn accept_loop(accept: Accept) {
    let Accept { id, endpoint, local, timeout, handshakes, windows, servers, events } = accept;
    while let Some(incoming) = endpoint.accept().await {
        let remote = incoming.remote_address();
        let slot = match handshakes.admit(remote.ip(), incoming.remote_address_validated()) {
            Admission::Slot(slot) => slot,
            Admission::Retry => {
                if let Err(error) = incoming.retry() {
                    tracing::debug!(%error, "retry not possible");
                }
                continue;
            }
            Admission::Refuse => {
                tracing::debug!(%remote, "refusing a handshake: too many under way from its address");
                incoming.refuse();
                continue;
            }
        };
        let (mut ticket, window) = windows.join();
        let server = servers.with_window(window);
        let upgrade = async move {
            let _slot = slot;
            let connecting = incoming.accept_with(server)?;
            let (peer, mut connection) = established(connecting, timeout).await?;
            ticket.open(&connection.connection);
            connection.window = Some(ticket);
            Ok((peer, connection))
        }
        .boxed();
        let event = TransportEvent::Incoming {
            listener_id: id,
            upgrade,
            local_addr: multiaddr(local),
            send_back_addr: multiaddr(remote),
        };
        if events.send(event).is_err() {
            return;
        }
    }
    let _ = events.send(TransportEvent::ListenerClosed { listener_id: id, reason: Ok(()) });
}

/// Reports the addresses of an unspecified-address listener as interfaces come and go.
async fn watch_interfaces(
    id: ListenerId,
    local: SocketAddr,
    events: mpsc::UnboundedSender<TransportEvent<Upgrade, QuicError>>,
) {
    use futures::StreamExt;
    let mut watcher = match if_watch::tokio::IfWatcher::new() {
        Ok(watcher) => watcher,
        Err(error) => {
            let _ = events.send(TransportEvent::ListenerError { listener_id: id, error: error.into() });
            return;
        }
    };
    while let Some(event) = watcher.next().await {
        let event = match event {
            Ok(if_watch::IfEvent::Up(net)) if net.addr().is_ipv4() == local.is_ipv4() => TransportEvent::NewAddress {
                listener_id: id,
                listen_addr: multiaddr((net.addr(), local.port()).into()),
            },
            Ok(if_watch::IfEvent::Down(net)) if net.addr().is_ipv4() == local.is_ipv4() => {
                TransportEvent::AddressExpired {
                    listener_id: id,
                    listen_addr: multiaddr((net.addr(), local.port()).into()),
                }
            }
            Ok(_) => continue,
            Err(error) => TransportEvent::ListenerError { listener_id: id, error: error.into() },
        };
        if events.send(event).is_err() {
            return;
        }
    }
}

/// Finishes a handshake within `timeout` and reads the peer's libp2p identity.
async fn established(connecting: quinn::Connecting, timeout: Duration) -> Result<(PeerId, Connection), QuicError> {
    let connection = tokio::time::timeout(timeout, connecting).await.map_err(|_| QuicError::HandshakeTimedOut)??;
    let peer = peer_of(&connection)?;
    Ok((peer, Connection::new(connection)))
}

fn peer_of(connection: &quinn::Connection) -> Result<PeerId, QuicError> {
    let identity = connection.peer_identity().ok_or_else(|| QuicError::Certificate("none presented".into()))?;
    let certificates = identity
        .downcast::<Vec<CertificateDer<'static>>>()
        .map_err(|_| QuicError::Certificate("not an X.509 chain".into()))?;
    let first = certificates.first().ok_or_else(|| QuicError::Certificate("empty chain".into()))?;
    let certificate = libp2p::tls::certificate::parse(first).map_err(|e| QuicError::Certificate(e.to_string()))?;
    Ok(certificate.peer_id())
}

/// `/ip4|ip6/<ip>/udp/<port>/quic-v1[/p2p/<id>]` as a socket address and the optional PeerId.
fn socket_addr(addr: &Multiaddr) -> Option<(SocketAddr, Option<PeerId>)> {
    let mut parts = addr.iter();
    let ip = match parts.next()? {
        Protocol::Ip4(ip) => IpAddr::V4(ip),
        Protocol::Ip6(ip) => IpAddr::V6(ip),
        _ => return None,
    };
    let Protocol::Udp(port) = parts.next()? else { return None };
    let Protocol::QuicV1 = parts.next()? else { return None };
    let peer = match parts.next() {
        None => None,
        Some(Protocol::P2p(peer)) => Some(peer),
        Some(_) => return None,
    };
    match parts.next() {
        None => Some((SocketAddr::new(ip, port), peer)),
        Some(_) => None,
    }
}

fn multiaddr(addr: SocketAddr) -> Multiaddr {
    Multiaddr::empty().with(addr.ip().into()).with(Protocol::Udp(addr.port())).with(Protocol::QuicV1)
}

/// Whether this processor runs AES-GCM in hardware: AES-NI with carry-less multiplication on
/// x86, the ARMv8 AES extension (which brings PMULL) on aarch64.
fn cpu_has_aes() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// The TLS 1.3 cipher suites in order of preference for a host with or without AES
/// instructions. With them AES-GCM is the cheaper (ChaCha20-Poly1305 costs a third of the CPU
/// at 1 MiB); without them ChaCha20-Poly1305 is, and software AES is slow.
fn cipher_suites(aes_in_hardware: bool) -> Vec<rustls::SupportedCipherSuite> {
    use rustls::crypto::aws_lc_rs::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    match aes_in_hardware {
        true => vec![TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256],
        false => vec![TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384],
    }
}

/// TLS 1.3 client and server configurations presenting `keypair`'s libp2p certificate, with
/// the cipher suites ordered for this processor.
fn tls_configs(keypair: &identity::Keypair) -> Result<(rustls::ClientConfig, rustls::ServerConfig), QuicError> {
    tls_configs_for(keypair, cpu_has_aes())
}

/// [`tls_configs`] for a host with or without AES instructions.
fn tls_configs_for(
    keypair: &identity::Keypair,
    aes_in_hardware: bool,
) -> Result<(rustls::ClientConfig, rustls::ServerConfig), QuicError> {
    let tls_err = |e: &dyn std::fmt::Display| QuicError::Tls(e.to_string());
    // libp2p-tls builds the certificate (signed by the node identity) and its resolvers; the
    // rest of its configuration is replaced.
    let libp2p_client = libp2p::tls::make_client_config(keypair, None).map_err(|e| tls_err(&e))?;
    let libp2p_server = libp2p::tls::make_server_config(keypair).map_err(|e| tls_err(&e))?;
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let verifier = Arc::new(PeerCertificate { algorithms: base.signature_verification_algorithms });
    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(aes_in_hardware),
        kx_groups: vec![
            rustls::crypto::aws_lc_rs::kx_group::X25519,
            rustls::crypto::aws_lc_rs::kx_group::X25519MLKEM768,
            rustls::crypto::aws_lc_rs::kx_group::SECP256R1,
        ],
        ..base
    });
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_cert_resolver(Arc::clone(&libp2p_client.client_auth_cert_resolver));
    client.alpn_protocols = vec![ALPN.to_vec()];
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_err(&e))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::clone(&libp2p_server.cert_resolver));
    server.alpn_protocols = vec![ALPN.to_vec()];
    // The axon picks the suite by its own order, not the dialer's: stock libp2p peers offer
    // ChaCha20-Poly1305 first, even to an axon whose processor runs AES-GCM in hardware.
    server.ignore_client_order = true;
    Ok((client, server))
}

/// Accepts exactly one self-signed libp2p certificate whose identity extension is valid; the
/// PeerId it proves is checked against the dialed one by the swarm.
#[derive(Debug)]
struct PeerCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl PeerCertificate {
    fn check(end_entity: &CertificateDer, intermediates: &[CertificateDer]) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General("libp2p TLS takes exactly one certificate".into()));
        }
        libp2p::tls::certificate::parse(end_entity)?;
        Ok(())
    }

    /// The handshake signature, checked with the certificate's key alone: its libp2p extension
    /// was verified once already, in `check`.
    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // webpki refuses the critical libp2p extension, so the key is taken out of the
        // certificate and checked as a raw key.
        let (_, parsed) = x509_parser::parse_x509_certificate(cert)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algorithms)
    }

    fn schemes() -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ECDSA_NISTP384_SHA384,
            SignatureScheme::ED25519,
            SignatureScheme::RSA_PSS_SHA512,
            SignatureScheme::RSA_PSS_SHA384,
            SignatureScheme::RSA_PSS_SHA256,
            SignatureScheme::RSA_PKCS1_SHA512,
            SignatureScheme::RSA_PKCS1_SHA384,
            SignatureScheme::RSA_PKCS1_SHA256,
        ]
    }
}

impl ServerCertVerifier for PeerCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer,
        intermediates: &[CertificateDer],
        _server_name: &ServerName,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

impl ClientCertVerifier for PeerCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer,
        intermediates: &[CertificateDer],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Self::check(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        Self::schemes()
    }
}

/// One QUIC connection as a libp2p stream muxer.
pub struct Connection {
    connection: quinn::Connection,
    inbound: Option<BoxFuture<'static, Result<(quinn::SendStream, quinn::RecvStream), quinn::ConnectionError>>>,
    outbound: Option<BoxFuture<'static, Result<(quinn::SendStream, quinn::RecvStream), quinn::ConnectionError>>>,
    closing: Option<BoxFuture<'static, quinn::ConnectionError>>,
    /// An inbound connection's place in the window budget.
    window: Option<WindowTicket>,
}

impl Connection {
    fn new(connection: quinn::Connection) -> Self {
        Connection { connection, inbound: None, outbound: None, closing: None, window: None }
    }
}

impl Drop for Connection {
    /// libp2p dropped the connection (closed by either side, or its swarm shut down): close the
    /// QUIC connection now. quinn would otherwise keep it open while any stream handle lives, and
    /// the tasks holding those handles wait on the connection: neither would ever end.
    fn drop(&mut self) {
        self.connection.close(0u32.into(), b"");
    }
}

impl StreamMuxer for Connection {
    type Substream = Stream;
    type Error = QuicError;

    fn poll_inbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, QuicError>> {
        let this = self.get_mut();
        let connection = &this.connection;
        let future = this.inbound.get_or_insert_with(|| {
            let connection = connection.clone();
            async move { connection.accept_bi().await }.boxed()
        });
        let result = futures::ready!(future.poll_unpin(cx));
        this.inbound = None;
        let (send, recv) = result?;
        Poll::Ready(Ok(Stream { send, recv }))
    }

    fn poll_outbound(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, QuicError>> {
        let this = self.get_mut();
        let connection = &this.connection;
        let future = this.outbound.get_or_insert_with(|| {
            let connection = connection.clone();
            async move { connection.open_bi().await }.boxed()
        });
        let result = futures::ready!(future.poll_unpin(cx));
        this.outbound = None;
        let (send, recv) = result?;
        Poll::Ready(Ok(Stream { send, recv }))
    }

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, QuicError>> {
        // Migration is off, so no address changes to report; closure surfaces through
        // poll_inbound.
        Poll::Pending
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), QuicError>> {
        let this = self.get_mut();
        let connection = &this.connection;
        let future = this.closing.get_or_insert_with(|| {
            connection.close(0u32.into(), b"");
            let connection = connection.clone();
            async move { connection.closed().await }.boxed()
        });
        match futures::ready!(future.poll_unpin(cx)) {
            quinn::ConnectionError::LocallyClosed => Poll::Ready(Ok(())),
            error => Poll::Ready(Err(error.into())),
        }
    }
}

/// One bidirectional QUIC stream.
pub struct Stream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.send), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.send), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_close(Pin::new(&mut self.send), cx)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn endpoint_keys_follow_the_identity_and_the_address() {
        use quinn::crypto::HmacKey;
        use quinn::ConnectionIdGenerator;
        let identity = identity::Keypair::generate_ed25519();
        let restarted = identity::Keypair::from_protobuf_encoding(&identity.to_protobuf_encoding().unwrap()).unwrap();
        let other = identity::Keypair::generate_ed25519();
        let at: SocketAddr = "127.0.0.1:8091".parse().unwrap();
        let elsewhere: SocketAddr = "127.0.0.1:8092".parse().unwrap();
        let keys = |keypair: &identity::Keypair, local: SocketAddr| {
            let secret = endpoint_secret(keypair);
            let endpoint = derive(&secret, format!("endpoint {local}").as_bytes());
            let reset = StatelessResetKey(aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                &derive(&endpoint, b"stateless-reset"),
            ));
            let mut token = vec![0u8; reset.signature_len()];
            reset.sign(b"connection id", &mut token);
            let tags = derive(&endpoint, b"connection-id");
            (token, TaggedConnectionIds { key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &tags) })
        };
        let (token, mut ids) = keys(&identity, at);
        let (token_again, ids_again) = keys(&restarted, at);
        assert_eq!(token, token_again, "the same identity and address, the same reset tokens");
        assert_ne!(token, keys(&other, at).0);
        assert_ne!(token, keys(&identity, elsewhere).0, "another endpoint of the node, other tokens");

        // Connection IDs one run issued are valid to the next (else it drops their packets
        // without a reset), and not to another identity or endpoint; junk is not valid.
        let cid = ids.generate_cid();
        assert_eq!(cid.len(), 16);
        assert!(ids.validate(&cid).is_ok());
        assert!(ids_again.validate(&cid).is_ok());
        assert!(keys(&other, at).1.validate(&cid).is_err());
        assert!(keys(&identity, elsewhere).1.validate(&cid).is_err());
        assert!(ids.validate(&quinn::ConnectionId::new(&[7u8; 16])).is_err());
        assert!(ids.validate(&quinn::ConnectionId::new(&[7u8; 8])).is_err());
        assert_ne!(ids.generate_cid(), cid);
    }

    use super::*;

    #[test]
    fn only_single_libp2p_certificates_pass() {
        let (cert_a, _) = libp2p::tls::certificate::generate(&identity::Keypair::generate_ed25519()).unwrap();
        let (cert_b, _) = libp2p::tls::certificate::generate(&identity::Keypair::generate_ed25519()).unwrap();
        PeerCertificate::check(&cert_a, &[]).unwrap();
        assert!(PeerCertificate::check(&cert_a, std::slice::from_ref(&cert_b)).is_err(), "chains are refused");
        assert!(PeerCertificate::check(&CertificateDer::from(vec![0x30, 0x03, 1, 2, 3]), &[]).is_err());
    }

    /// Presents a fixed certificate with a fixed signing key, matching or not.
    #[derive(Debug)]
    struct Presents(Arc<rustls::sign::CertifiedKey>);

    impl rustls::client::ResolvesClientCert for Presents {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }

    impl rustls::server::ResolvesServerCert for Presents {
        fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }

    /// `identity`'s libp2p certificate, signed for in the handshake by `signer`'s key: the
    /// certificate of a peer whose private key the presenter does not hold.
    fn borrowed_certificate(identity: &identity::Keypair, signer: &identity::Keypair) -> Arc<Presents> {
        let (cert, _) = libp2p::tls::certificate::generate(identity).unwrap();
        let (_, key) = libp2p::tls::certificate::generate(signer).unwrap();
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).unwrap();
        Arc::new(Presents(Arc::new(rustls::sign::CertifiedKey::new(vec![cert], key))))
    }

    /// Runs a TLS handshake in memory: the cipher suite negotiated, or the first error either
    /// side reports.
    fn handshake(
        client: rustls::ClientConfig,
        server: rustls::ServerConfig,
    ) -> Result<rustls::CipherSuite, rustls::Error> {
        let name = ServerName::try_from("l").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(client), name)?;
        let mut server = rustls::ServerConnection::new(Arc::new(server))?;
        for _ in 0..8 {
            let mut flight = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut flight).unwrap();
            }
            server.read_tls(&mut &flight[..]).unwrap();
            server.process_new_packets()?;
            let mut flight = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut flight).unwrap();
            }
            client.read_tls(&mut &flight[..]).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                let suite = server.negotiated_cipher_suite().map(|suite| suite.suite());
                assert_eq!(suite, client.negotiated_cipher_suite().map(|suite| suite.suite()), "both sides agree");
                return suite.ok_or_else(|| rustls::Error::General("no cipher suite negotiated".into()));
            }
        }
        Err(rustls::Error::General("handshake did not finish".into()))
    }

    #[test]
    fn a_peer_must_hold_the_key_of_the_certificate_it_presents() {
        let (alice, bob, mallory) = (
            identity::Keypair::generate_ed25519(),
            identity::Keypair::generate_ed25519(),
            identity::Keypair::generate_ed25519(),
        );
        handshake(tls_configs(&alice).unwrap().0, tls_configs(&bob).unwrap().1).expect("honest peers connect");

        // Mallory dials with Alice's certificate (it is public) but only her own key. Fresh
        // configurations each time: clones would share session caches and resume instead.
        let (mut impostor, _) = tls_configs(&mallory).unwrap();
        impostor.client_auth_cert_resolver = borrowed_certificate(&alice, &mallory);
        let refused = handshake(impostor, tls_configs(&bob).unwrap().1).expect_err("the axon must refuse");
        assert!(matches!(refused, rustls::Error::InvalidCertificate(_)), "{refused:?}");

        // And answers a dial meant for Bob with Bob's certificate.
        let (_, mut impostor) = tls_configs(&mallory).unwrap();
        impostor.cert_resolver = borrowed_certificate(&bob, &mallory);
        let refused = handshake(tls_configs(&alice).unwrap().0, impostor).expect_err("the dendrite must refuse");
        assert!(matches!(refused, rustls::Error::InvalidCertificate(_)), "{refused:?}");
    }

    #[test]
    fn a_stock_libp2p_dialer_gets_aes_gcm_from_an_axon_with_aes_instructions() {
        // libp2p-tls offers ChaCha20-Poly1305 first; the axon's order decides.
        let stock = libp2p::tls::make_client_config(&identity::Keypair::generate_ed25519(), None).unwrap();
        let offered: Vec<_> = stock.crypto_provider().cipher_suites.iter().map(|suite| suite.suite()).collect();
        assert_eq!(offered.first(), Some(&rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256), "{offered:?}");
        let axon = tls_configs(&identity::Keypair::generate_ed25519()).unwrap().1;
        let chosen = handshake(stock, axon).expect("a stock libp2p dialer connects");
        let expected = match cpu_has_aes() {
            true => rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            false => rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        };
        assert_eq!(chosen, expected, "AES instructions: {}", cpu_has_aes());
    }

    #[test]
    fn chacha20_comes_first_without_aes_instructions() {
        let names = |aes| cipher_suites(aes).iter().map(|suite| suite.suite()).collect::<Vec<_>>();
        use rustls::CipherSuite::{TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256};
        assert_eq!(names(true), [TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256]);
        assert_eq!(names(false), [TLS13_CHACHA20_POLY1305_SHA256, TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384]);
        // An axon without them answers ChaCha20 to a dendrite that has them and offers AES first.
        let without_aes = tls_configs_for(&identity::Keypair::generate_ed25519(), false).unwrap().1;
        let with_aes = tls_configs_for(&identity::Keypair::generate_ed25519(), true).unwrap().0;
        assert_eq!(handshake(with_aes, without_aes), Ok(TLS13_CHACHA20_POLY1305_SHA256));
    }

    impl Admission {
        fn slot(self) -> Option<HandshakeSlot> {
            match self {
                Admission::Slot(slot) => Some(slot),
                _ => None,
            }
        }
        fn is_retry(&self) -> bool {
            matches!(self, Admission::Retry)
        }
        fn is_refused(&self) -> bool {
            matches!(self, Admission::Refuse)
        }
    }

    #[test]
    fn one_address_cannot_take_every_handshake_slot() {
        let handshakes = Arc::new(Handshakes::new(256, 8));
        let flooder: IpAddr = "127.0.0.1".parse().unwrap();
        let mut slots: Vec<_> = (0..8).map(|_| handshakes.admit(flooder, false).slot().unwrap()).collect();
        // Its ninth must prove its address first; proven, it goes ahead, counted.
        assert!(handshakes.admit(flooder, false).is_retry());
        let proven = handshakes.admit(flooder, true).slot().expect("a proven source goes ahead");
        assert_eq!(handshakes.pending().total, 9);
        drop(proven);
        // Everyone else starts at once, with no Retry.
        let other = handshakes.admit("::1".parse().unwrap(), false).slot().expect("another address needs no Retry");
        drop(other);
        // One of the flooder's handshakes ends: it may start one more.
        slots.pop();
        slots.push(handshakes.admit(flooder, false).slot().expect("a slot came back"));
        drop(slots);
        assert_eq!(handshakes.pending().total, 0);
        assert!(handshakes.pending().by_ip.is_empty(), "counts of finished addresses are forgotten");
    }

    #[test]
    fn a_proven_address_still_has_a_bound() {
        let handshakes = Arc::new(Handshakes::new(256, 8));
        let flooder: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..8 * PROVEN_PER_IP).map(|_| handshakes.admit(flooder, true).slot().unwrap()).collect();
        assert!(handshakes.admit(flooder, true).is_refused(), "proving an address is cheap: it is counted too");
        assert!(handshakes.admit("127.0.0.2".parse().unwrap(), false).slot().is_some(), "another address");
        drop(held);
        assert!(handshakes.admit(flooder, false).slot().is_some());
    }

    #[test]
    fn proven_sources_together_still_have_a_bound() {
        let handshakes = Arc::new(Handshakes::new(4, 8));
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 1, n));
        let held: Vec<_> = (0..16).map(|n| handshakes.admit(ip(n), true).slot().unwrap()).collect();
        assert!(handshakes.admit(ip(100), true).is_refused(), "four times the total, proven or not");
        drop(held);
        assert!(handshakes.admit(ip(100), false).slot().is_some());
    }

    #[test]
    fn ipv6_handshakes_count_per_64() {
        let handshakes = Arc::new(Handshakes::new(256, 2));
        let _a = handshakes.admit("2001:db8:0:1::1".parse().unwrap(), false).slot().unwrap();
        let _b = handshakes.admit("2001:db8:0:1::2".parse().unwrap(), false).slot().unwrap();
        let same_64 = handshakes.admit("2001:db8:0:1:ffff::3".parse().unwrap(), false);
        assert!(same_64.is_retry(), "the same /64 must prove its address");
        assert!(handshakes.admit("2001:db8:0:2::1".parse().unwrap(), false).slot().is_some(), "another /64");
    }

    #[test]
    fn past_the_total_only_unproven_sources_are_retried() {
        let handshakes = Arc::new(Handshakes::new(2, 8));
        let ip = |n: u8| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n));
        let _slots = [handshakes.admit(ip(1), false).slot().unwrap(), handshakes.admit(ip(2), false).slot().unwrap()];
        assert!(handshakes.admit(ip(3), false).is_retry());
        assert!(handshakes.admit(ip(3), true).slot().is_some(), "a proven address goes ahead");
        let unlimited = Arc::new(Handshakes::new(256, 0));
        let _many: Vec<_> = (0..100).map(|_| unlimited.admit(ip(1), false).slot().unwrap()).collect();
    }

    #[test]
    fn windows_share_the_budget() {
        const MIB: u64 = 1024 * 1024;
        let (budget, ceiling) = (256 * MIB, 8 * MIB);
        assert_eq!(window_for(budget, ceiling, 1), 8 * MIB);
        assert_eq!(window_for(budget, ceiling, 32), 8 * MIB);
        assert_eq!(window_for(budget, ceiling, 33), 4 * MIB);
        assert_eq!(window_for(budget, ceiling, 256), MIB);
        assert_eq!(window_for(budget, ceiling, 4096), 64 * 1024);
        assert_eq!(window_for(budget, ceiling, 1_000_000), MIN_WINDOW);
        assert_eq!(window_for(budget, 4096, 1), 4096, "never above the configured window");
        for n in 1..20_000u64 {
            let window = window_for(budget, ceiling, n);
            assert!(n * window <= budget.max(n * MIN_WINDOW), "{n} connections of {window} bytes");
        }
    }

    #[test]
    fn windows_shrink_as_connections_arrive_and_grow_back_as_they_leave() {
        const MIB: u64 = 1024 * 1024;
        let windows = Windows::new(32 * MIB, 8 * MIB);
        let mut tickets: Vec<_> = (0..4).map(|_| windows.join()).collect();
        assert!(tickets.iter().all(|(_, window)| *window == 8 * MIB));
        let (fifth, window) = windows.join();
        assert_eq!(window, 4 * MIB, "five connections share 32 MiB");
        tickets.push((fifth, window));
        tickets.pop();
        // Back to four: grown only once a quarter more would fit too (here: at three).
        assert_eq!(windows.state().current, 4 * MIB);
        tickets.pop();
        assert_eq!(windows.state().current, 8 * MIB);
        drop(tickets);
        assert_eq!(windows.state().count, 0);
    }

    #[test]
    fn parses_quic_multiaddrs() {
        let peer = PeerId::random();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/udp/4000/quic-v1/p2p/{peer}").parse().unwrap();
        assert_eq!(socket_addr(&addr), Some(("127.0.0.1:4000".parse().unwrap(), Some(peer))));
        let addr: Multiaddr = "/ip6/::1/udp/9/quic-v1".parse().unwrap();
        assert_eq!(socket_addr(&addr), Some(("[::1]:9".parse().unwrap(), None)));
        for other in ["/ip4/127.0.0.1/tcp/4000", "/ip4/127.0.0.1/udp/4000/quic", "/dns4/a/udp/1/quic-v1"] {
            assert_eq!(socket_addr(&other.parse().unwrap()), None, "{other}");
        }
    }
}
