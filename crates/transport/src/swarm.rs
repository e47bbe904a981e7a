//! The libp2p swarm under an axon or dendrite: QUIC (quic-v1, see `quic.rs`) on IPv4 and IPv6, a persisted
//! ed25519 node identity, identify (axons only), and libp2p-stream for neuronet's long-lived framed streams.
//! One task owns the swarm; everything else talks to it through commands.

use crate::inbound::{Inbound, InboundStream};
use crate::Error;
use futures::StreamExt;
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity, Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The libp2p protocol of neuronet's synapse streams.
pub const SYNAPSE_PROTOCOL: StreamProtocol = StreamProtocol::new("/neuronet/synapse/1");
/// The identify protocol version neuronet announces.
pub const IDENTIFY_PROTOCOL: &str = "/neuronet/1.0.0";

/// Swarm and QUIC settings shared by axons and dendrites.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// Where the node's ed25519 identity (PeerId) is kept; created on first use. Default `None`:
    /// a fresh identity per process.
    pub identity_path: Option<PathBuf>,
    /// Most concurrent streams a peer may open on one of an axon's connections (a dendrite's
    /// connections take `dialer_inbound_streams`). Default 64: a dendrite needs a handful; the
    /// cap bounds what one connection can cost an axon.
    pub max_streams_per_connection: u32,
    /// Concurrent streams an axon may open on a dendrite's connection to it (a swarm that only
    /// dials; at least 1). Default 2: an axon opens none but identify's request, which a
    /// dendrite refuses, and QUIC sets aside state for every stream its peer may open at once
    /// (`max_streams_per_connection`'s 64 cost a dendrite 5 KiB on its connection to every miner).
    pub dialer_inbound_streams: u32,
    /// Close a connection after this long without traffic. Default 60 s.
    pub idle_timeout: Duration,
    /// QUIC keep-alive ping interval. Default 5 s.
    pub keep_alive: Duration,
    /// QUIC + TLS handshake deadline. Default 5 s.
    pub handshake_timeout: Duration,
    /// Per-stream receive window in bytes. Default 4 MiB (the connection window caps what all of
    /// a connection's streams hold together anyway).
    pub stream_window: u32,
    /// Per-connection receive window in bytes, and the send window: what QUIC may hold for one
    /// connection, unread requests one way, answers written but not yet acknowledged the other.
    /// Default 8 MiB: 80 MB/s per connection at 100 ms round trip; loopback measurements showed
    /// no gain from 16/32 MiB. An axon's inbound connections get less when many are open
    /// together: see `window_budget`.
    pub connection_window: u32,
    /// What the connection windows of all of an axon's inbound connections share, each way, in
    /// bytes. With `n` connections open (or in their handshake), each one's receive and send
    /// windows are `window_budget / n` rounded down to a power of two, at most
    /// `connection_window` and at least 16 KiB; they shrink as connections arrive and grow back
    /// as they leave. QUIC cannot take back credit it gave, so a shrunk window takes effect once
    /// the peer's data is read (or its stream given up, within `write_stall` for a peer that
    /// does not read): until then the connections that came first may still fill what they were
    /// granted, at most half the budget more per halving of the window (n connections arriving
    /// at once: `window_budget x (1 + log2(connection_window / window) / 2)`). Default 256 MiB:
    /// the first 32 connections get the full 8 MiB; 256 validators get 1 MiB each (10 MB/s each
    /// at 100 ms round trip); 4,096 connections get 64 KiB each, 256 MiB in all once settled and
    /// 1.1 GiB at worst, against 32 GiB with 8 MiB windows for all. An axon's whole memory
    /// budget, with the defaults, is in docs/design.md ("Memory budget").
    pub window_budget: u64,
    /// Most connections an axon accepts from one IP address, IPv6 counted per /64 (0 = no
    /// limit). Connections over it are denied before their handshake completes. Default 32.
    pub max_connections_per_ip: u32,
    /// Most connections an axon accepts from one network, IPv4 /24 or IPv6 /48 (0 = no limit),
    /// so that a site's 65,536 /64s do not count as 65,536 addresses. Default 256.
    pub max_connections_per_network: u32,
    /// Most connections an axon accepts in all. Default 4,096 (a subnet's 256 validators with
    /// room for churn, at a bounded cost per connection). When all are open, a new connection
    /// takes the place of the oldest that has not bound a hotkey; when all are bound, it is denied.
    pub max_connections: u32,
    /// Inbound streams negotiated but not yet taken by the axon; more are dropped. Default 1,024.
    pub inbound_stream_backlog: usize,
    /// Receive and send buffer of each UDP socket, in bytes; the kernel caps it at
    /// `net.core.rmem_max`/`wmem_max`. Default 4 MiB: the kernel's 208 KiB default drops
    /// datagrams when a few 1 MiB bodies arrive at once, and each drop stalls a stream.
    pub udp_buffer: usize,
    /// Inbound QUIC handshakes under way at once before new peers must first prove their source
    /// address with a Retry (one extra round trip). Bounds what a flood of spoofed Initial
    /// packets costs in TLS work: a spoofed source never answers the Retry. Sources that proved
    /// their address are counted too, and with four times this many handshakes under way in all
    /// further Initials are refused (each handshake holds a share of `window_budget`). 0 sends
    /// every new peer through a Retry and sets no such bound. Default 256.
    pub max_pending_handshakes: usize,
    /// Inbound QUIC handshakes under way at once from one IP address (IPv6: one /64; 0 = no
    /// limit). Past it, the source must first prove its address with a Retry (then its handshake
    /// goes ahead, still counted), so that one address cannot take all of
    /// `max_pending_handshakes` and force every other newcomer through a Retry; an address with
    /// four times this many under way, proven or not, has its further handshakes refused.
    /// Default 8: a host opens one connection per axon, and a few hosts behind one NAT rarely
    /// handshake together.
    pub max_pending_handshakes_per_ip: usize,
    /// Read buffer of each synapse stream, in bytes. An axon parses frames from it and skips
    /// refused bodies through it. A dendrite reads frames straight into their own buffers and
    /// allocates this one only while it skips a body nobody waits for, giving it back once it
    /// is drained: a validator holds a stream to every miner, idle nearly all the time, and 16
    /// KiB each was a sixth of its memory per peer. Default 16 KiB (64 KiB cost an axon 34 KiB
    /// more per peer for no throughput).
    pub stream_read_buffer: usize,
    /// The window over which a stream's writer measures how fast its peer takes its bytes: when,
    /// with bytes pending for a whole `write_stall`, the peer took fewer than
    /// `min_drain_rate x write_stall` of them (QUIC flow control stays all but closed: it is not
    /// reading, or reads a few KiB now and then), the writer gives the stream up and drops what
    /// was queued for it. A dendrite's writer also waits on while answers keep arriving from the
    /// axon. An axon also stops reading a stream's requests while that stream's answers are not
    /// being taken, so such a peer costs no more than its queue, and only for this long.
    /// Default 10 s.
    pub write_stall: Duration,
    /// The slowest a peer may take a stream's bytes, in bytes a second, while bytes are pending
    /// for it (see `write_stall`; 0: any byte counts). Default 64 KiB/s (512 kbit/s): slower
    /// than any link a validator or miner runs on, and a peer that slow needs 16 s for a 1 MiB
    /// answer, past the default 12 s timeout. A peer that reads 4 KiB a second, by contrast,
    /// would keep its stream's queue and the unread requests QUIC holds for it (up to its
    /// connection window) for as long as it liked.
    pub min_drain_rate: u64,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            identity_path: None,
            max_streams_per_connection: 64,
            dialer_inbound_streams: 2,
            idle_timeout: Duration::from_secs(60),
            keep_alive: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            stream_window: 4 * 1024 * 1024,
            connection_window: 8 * 1024 * 1024,
            window_budget: 256 * 1024 * 1024,
            max_connections_per_ip: 32,
            inbound_stream_backlog: 1024,
            max_connections: 4096,
            max_connections_per_network: 256,
            udp_buffer: 4 * 1024 * 1024,
            max_pending_handshakes: 256,
            max_pending_handshakes_per_ip: 8,
            stream_read_buffer: 16 * 1024,
            write_stall: Duration::from_secs(10),
            min_drain_rate: 64 * 1024,
        }
    }
}

impl NetworkConfig {
    /// Sets `idle_timeout`. Default 60 s.
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }
    /// Sets `keep_alive`. Default 5 s.
    pub fn with_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.keep_alive = keep_alive;
        self
    }
    /// Sets `handshake_timeout`. Default 5 s.
    pub fn with_handshake_timeout(mut self, handshake_timeout: Duration) -> Self {
        self.handshake_timeout = handshake_timeout;
        self
    }
    /// Sets `stream_window`. Default 4 MiB (the connection window caps what all of a
    /// connection's streams hold together anyway).
    pub fn with_stream_window(mut self, stream_window: u32) -> Self {
        self.stream_window = stream_window;
        self
    }
    /// Sets `connection_window`. Default 8 MiB: 80 MB/s per connection at 100 ms round
    /// trip; loopback measurements showed no gain from 16/32 MiB.
    pub fn with_connection_window(mut self, connection_window: u32) -> Self {
        self.connection_window = connection_window;
        self
    }
    /// Sets `window_budget`. Default 256 MiB: the first 32 connections get the full 8 MiB;
    /// 256 validators get 1 MiB each (10 MB/s each at 100 ms round trip); 4,096 connections
    /// get 64 KiB each, 256 MiB in all once settled and 1.1 GiB at worst, against 32 GiB
    /// with 8 MiB windows for all.
    pub fn with_window_budget(mut self, window_budget: u64) -> Self {
        self.window_budget = window_budget;
        self
    }
    /// Sets `max_connections_per_network`. Default 256.
    pub fn with_max_connections_per_network(mut self, max_connections_per_network: u32) -> Self {
        self.max_connections_per_network = max_connections_per_network;
        self
    }
    /// Sets `max_connections`. Default 4,096 (a subnet's 256 validators with room for
    /// churn, at a bounded cost per connection).
    pub fn with_max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }
    /// Sets `inbound_stream_backlog`. Default 1,024.
    pub fn with_inbound_stream_backlog(mut self, inbound_stream_backlog: usize) -> Self {
        self.inbound_stream_backlog = inbound_stream_backlog;
        self
    }
    /// Sets `udp_buffer`. Default 4 MiB: the kernel's 208 KiB default drops datagrams when
    /// a few 1 MiB bodies arrive at once, and each drop stalls a stream.
    pub fn with_udp_buffer(mut self, udp_buffer: usize) -> Self {
        self.udp_buffer = udp_buffer;
        self
    }
    /// Sets `max_pending_handshakes`. Default 256.
    pub fn with_max_pending_handshakes(mut self, max_pending_handshakes: usize) -> Self {
        self.max_pending_handshakes = max_pending_handshakes;
        self
    }
    /// Sets `max_pending_handshakes_per_ip`. Default 8: a host opens one connection per
    /// axon, and a few hosts behind one NAT rarely handshake together.
    pub fn with_max_pending_handshakes_per_ip(mut self, max_pending_handshakes_per_ip: usize) -> Self {
        self.max_pending_handshakes_per_ip = max_pending_handshakes_per_ip;
        self
    }
    /// Sets `stream_read_buffer`. Default 16 KiB (a validator holds one per stream to every
    /// miner; 64 KiB cost 34 KiB more per peer for no throughput).
    pub fn with_stream_read_buffer(mut self, stream_read_buffer: usize) -> Self {
        self.stream_read_buffer = stream_read_buffer;
        self
    }
    /// Sets `write_stall`. Default 10 s.
    pub fn with_write_stall(mut self, write_stall: Duration) -> Self {
        self.write_stall = write_stall;
        self
    }
    /// Sets `min_drain_rate`. Default 64 KiB/s (512 kbit/s): slower than any link a
    /// validator or miner runs on, and a peer that slow needs 16 s for a 1 MiB answer, past
    /// the default 12 s timeout.
    pub fn with_min_drain_rate(mut self, min_drain_rate: u64) -> Self {
        self.min_drain_rate = min_drain_rate;
        self
    }
    /// Sets `identity_path`. Default `None`: a fresh identity per process.
    pub fn with_identity_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.identity_path = Some(path.into());
        self
    }
    /// Sets `max_connections_per_ip`. Default 32.
    pub fn with_max_connections_per_ip(mut self, n: u32) -> Self {
        self.max_connections_per_ip = n;
        self
    }
    /// Sets `max_streams_per_connection`. Default 64: a dendrite needs a handful; the cap
    /// bounds what one connection can cost an axon.
    pub fn with_max_streams_per_connection(mut self, n: u32) -> Self {
        self.max_streams_per_connection = n;
        self
    }
}

/// The node identity `config` names: loaded from (or created at) `identity_path`, or fresh.
pub(crate) fn node_identity(config: &NetworkConfig) -> Result<identity::Keypair, Error> {
    match &config.identity_path {
        Some(path) => load_or_create_identity(path),
        None => Ok(identity::Keypair::generate_ed25519()),
    }
}

/// Loads the node identity from `path`, creating it (mode 0600) when absent.
pub fn load_or_create_identity(path: &Path) -> Result<identity::Keypair, Error> {
    let err = |reason: String| Error::Identity { path: path.display().to_string(), reason };
    match std::fs::read(path) {
        Ok(bytes) => identity::Keypair::from_protobuf_encoding(&bytes).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = identity::Keypair::generate_ed25519();
            let bytes = keypair.to_protobuf_encoding().map_err(|e| err(e.to_string()))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            use std::io::Write;
            let mut file = options.open(path).map_err(|e| err(e.to_string()))?;
            file.write_all(&bytes).map_err(|e| err(e.to_string()))?;
            Ok(keypair)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

/// An axon's behaviour. A dendrite's is libp2p-stream's alone: it runs no identify, which
/// nothing on its side reads and whose connection handler (3.4 KB inline in every connection's
/// task, with the peer's record and the exchange's streams beside it) a validator would pay for
/// on its connection to every miner. An axon's identify request to a dendrite is refused in
/// protocol negotiation.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Opens outbound synapse streams.
    stream: libp2p_stream::Behaviour,
    /// Accepts inbound synapse streams.
    inbound: Toggle<Inbound>,
    identify: identify::Behaviour,
}

enum Command {
    Listen(Multiaddr, oneshot::Sender<Result<Multiaddr, String>>),
    Dial(Multiaddr, Option<PeerId>, oneshot::Sender<Result<PeerId, String>>),
    Disconnect(PeerId, oneshot::Sender<()>),
}

/// Hooks for state keyed by PeerId: a peer's first connection (with its remote IP) and the
/// closing of its last one.
pub(crate) trait PeerEvents: Send + Sync {
    fn connected(&self, peer: PeerId, ip: Option<IpAddr>);
    fn disconnected(&self, peer: PeerId);
    /// How `peer` stands: unbound connections are closed after `bind_timeout`, and when the
    /// axon is full they go first, then those of peers the metagraph does not list.
    fn standing(&self, peer: &PeerId) -> Standing;
    /// Whether the Directory lists `peer` as a registered hotkey's PeerId (known before it binds).
    fn registered_peer(&self, peer: &PeerId) -> bool;
}

/// How a connected peer stands with an axon, worst first: the order in which connections make
/// room when the axon is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Standing {
    /// No hotkey bound (or its binding has expired).
    Unbound,
    /// Bound to a hotkey the Directory does not list as registered.
    Bound,
    /// Bound to a registered hotkey.
    Registered,
}

/// A swarm over neuronet's QUIC transport with `behaviour`.
fn swarm<B: NetworkBehaviour>(
    keypair: identity::Keypair,
    quic: &crate::quic::QuicConfig,
    idle_timeout: Duration,
    behaviour: impl FnOnce(&identity::Keypair) -> B,
) -> Result<Swarm<B>, Error> {
    Ok(SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_other_transport(|key| {
            crate::quic::QuicTransport::new(key, quic)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        })
        .map_err(|e| Error::Swarm(e.to_string()))?
        .with_behaviour(behaviour)
        .map_err(|e| Error::Swarm(e.to_string()))?
        .with_swarm_config(|c| {
            c.with_idle_connection_timeout(idle_timeout)
                // Saves the multistream-select round trip on every stream we open.
                .with_substream_upgrade_protocol_override(Version::V1Lazy)
        })
        .build())
}

/// A handle to the task that owns the swarm.
#[derive(Clone)]
pub(crate) struct Network {
    commands: mpsc::Sender<Command>,
    control: libp2p_stream::Control,
    local_peer_id: PeerId,
}

impl Network {
    /// Builds an axon's swarm and spawns its task on the current tokio runtime: it accepts
    /// synapse streams, which the returned receiver yields, and closes inbound connections that
    /// have bound no hotkey (as `events` tells) within `bind_timeout`.
    pub(crate) fn start(
        config: &NetworkConfig,
        events: Arc<dyn PeerEvents>,
        bind_timeout: Duration,
    ) -> Result<(Self, Option<tokio::sync::mpsc::Receiver<InboundStream>>), Error> {
        Self::build(config, node_identity(config)?, Some(events), Some(bind_timeout))
    }

    /// Builds a swarm with the node identity given (several swarms may share one) and spawns
    /// its task. With `accept`, it accepts synapse streams as [`Network::start`] does.
    pub(crate) fn start_with_identity(
        config: &NetworkConfig,
        keypair: identity::Keypair,
        events: Option<Arc<dyn PeerEvents>>,
        accept: bool,
    ) -> Result<(Self, Option<tokio::sync::mpsc::Receiver<InboundStream>>), Error> {
        let bind_timeout = accept.then_some(Duration::from_secs(5));
        Self::build(config, keypair, events, bind_timeout)
    }

    fn build(
        config: &NetworkConfig,
        keypair: identity::Keypair,
        events: Option<Arc<dyn PeerEvents>>,
        bind_timeout: Option<Duration>,
    ) -> Result<(Self, Option<tokio::sync::mpsc::Receiver<InboundStream>>), Error> {
        let accept = bind_timeout.is_some();
        let (inbound, incoming) = match bind_timeout {
            Some(bind_timeout) => {
                let limits = crate::inbound::ConnectionLimits {
                    per_ip: config.max_connections_per_ip,
                    per_network: config.max_connections_per_network,
                    total: config.max_connections,
                    bind_timeout,
                };
                let (behaviour, receiver) = Inbound::new(config.inbound_stream_backlog, limits, events.clone());
                (Some(behaviour), Some(receiver))
            }
            None => (None, None),
        };
        let quic = crate::quic::QuicConfig {
            handshake_timeout: config.handshake_timeout,
            idle_timeout: config.idle_timeout,
            keep_alive: config.keep_alive,
            max_streams_per_connection: match accept {
                true => config.max_streams_per_connection,
                false => config.dialer_inbound_streams.max(1),
            },
            stream_window: config.stream_window,
            connection_window: config.connection_window,
            udp_buffer: config.udp_buffer,
            eager_dialer: !accept,
            max_pending_handshakes: config.max_pending_handshakes,
            max_pending_handshakes_per_ip: config.max_pending_handshakes_per_ip,
            window_budget: config.window_budget,
        };
        let (commands, receiver) = mpsc::channel(256);
        let task = EventLoop { dials: HashMap::new(), closing: HashMap::new(), listens: Vec::new(), events };
        let (control, local_peer_id) = if accept {
            let swarm = swarm(keypair, &quic, config.idle_timeout, |key| Behaviour {
                stream: libp2p_stream::Behaviour::new(),
                inbound: Toggle::from(inbound),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.into(), key.public())
                        .with_agent_version(format!("neuronet/{}", env!("CARGO_PKG_VERSION"))),
                ),
            })?;
            let found = (swarm.behaviour().stream.new_control(), *swarm.local_peer_id());
            tokio::spawn(task.run(swarm, receiver));
            found
        } else {
            let swarm = swarm(keypair, &quic, config.idle_timeout, |_| libp2p_stream::Behaviour::new())?;
            let found = (swarm.behaviour().new_control(), *swarm.local_peer_id());
            tokio::spawn(task.run(swarm, receiver));
            found
        };
        Ok((Network { commands, control, local_peer_id }, incoming))
    }

    pub(crate) fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    pub(crate) fn control(&self) -> libp2p_stream::Control {
        self.control.clone()
    }

    /// Listens on `addr` and returns the bound address (with the real port).
    pub(crate) async fn listen(&self, addr: Multiaddr) -> Result<Multiaddr, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Listen(addr.clone(), tx)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?.map_err(|reason| Error::Listen { addr: addr.to_string(), reason })
    }

    /// Dials `addr` (expecting `peer` when known) and returns the PeerId the handshake proved.
    pub(crate) async fn dial(&self, addr: Multiaddr, peer: Option<PeerId>) -> Result<PeerId, String> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Dial(addr, peer, tx)).await.map_err(|_| "network task stopped".to_string())?;
        rx.await.map_err(|_| "network task stopped".to_string())?
    }

    /// A handle that can close connections but does not keep the swarm running.
    pub(crate) fn downgrade(&self) -> WeakNetwork {
        WeakNetwork { commands: self.commands.downgrade() }
    }

    /// Closes every connection to `peer` and waits (at most 2 s) until they are gone, so that
    /// a dial right after it makes a new connection instead of finding the closing one.
    pub(crate) async fn disconnect(&self, peer: PeerId) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Disconnect(peer, tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), rx).await;
        }
    }
}

/// A [`Network`] handle for those the swarm must not outlive (an axon's streams): it closes
/// connections while the swarm runs, and does nothing after.
#[derive(Clone)]
pub(crate) struct WeakNetwork {
    commands: mpsc::WeakSender<Command>,
}

impl WeakNetwork {
    /// Closes every connection to `peer`, without waiting.
    pub(crate) fn disconnect(&self, peer: PeerId) {
        if let Some(commands) = self.commands.upgrade() {
            let (done, _) = oneshot::channel();
            let _ = commands.try_send(Command::Disconnect(peer, done));
        }
    }
}

struct EventLoop {
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, String>>>,
    closing: HashMap<PeerId, Vec<oneshot::Sender<()>>>,
    listens: Vec<(libp2p::core::transport::ListenerId, oneshot::Sender<Result<Multiaddr, String>>)>,
    events: Option<Arc<dyn PeerEvents>>,
}

impl EventLoop {
    async fn run<B: NetworkBehaviour>(mut self, mut swarm: Swarm<B>, mut commands: mpsc::Receiver<Command>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(&mut swarm, command),
                    // Every handle is gone: shut the swarm down.
                    None => return,
                },
                event = swarm.select_next_some() => self.on_event(&mut swarm, event),
            }
        }
    }

    fn on_command<B: NetworkBehaviour>(&mut self, swarm: &mut Swarm<B>, command: Command) {
        match command {
            Command::Listen(addr, done) => match swarm.listen_on(addr) {
                Ok(id) => self.listens.push((id, done)),
                Err(e) => {
                    let _ = done.send(Err(e.to_string()));
                }
            },
            Command::Dial(addr, peer, done) => {
                if let Some(peer) = peer {
                    if swarm.is_connected(&peer) && !self.closing.contains_key(&peer) {
                        let _ = done.send(Ok(peer));
                        return;
                    }
                }
                let opts = match peer {
                    // Always: a dial libp2p-stream started on its own (it has no addresses and
                    // fails) must not make ours give up.
                    Some(peer) => {
                        DialOpts::peer_id(peer).addresses(vec![addr]).condition(PeerCondition::Always).build()
                    }
                    None => DialOpts::unknown_peer_id().address(addr).build(),
                };
                let id = opts.connection_id();
                match swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, done);
                    }
                    Err(e) => {
                        let _ = done.send(Err(e.to_string()));
                    }
                }
            }
            Command::Disconnect(peer, done) => {
                if swarm.disconnect_peer_id(peer).is_ok() {
                    self.closing.entry(peer).or_default().push(done);
                } else {
                    let _ = done.send(());
                }
            }
        }
    }

    fn on_event<B: NetworkBehaviour>(&mut self, swarm: &mut Swarm<B>, event: SwarmEvent<B::ToSwarm>) {
        match event {
            SwarmEvent::NewListenAddr { listener_id, address } => {
                let full = address.with(Protocol::P2p(*swarm.local_peer_id()));
                if let Some(at) = self.listens.iter().position(|(id, _)| *id == listener_id) {
                    let (_, done) = self.listens.swap_remove(at);
                    let _ = done.send(Ok(full));
                }
            }
            SwarmEvent::ListenerError { listener_id, error }
            | SwarmEvent::ListenerClosed { listener_id, reason: Err(error), .. } => {
                if let Some(at) = self.listens.iter().position(|(id, _)| *id == listener_id) {
                    let (_, done) = self.listens.swap_remove(at);
                    let _ = done.send(Err(error.to_string()));
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                if let Some(done) = self.dials.remove(&connection_id) {
                    let _ = done.send(Ok(peer_id));
                }
                if let Some(events) = &self.events {
                    events.connected(peer_id, ip_of(endpoint.get_remote_address()));
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                for done in self.closing.remove(&peer_id).unwrap_or_default() {
                    let _ = done.send(());
                }
                if let Some(events) = &self.events {
                    events.disconnected(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                if let Some(done) = self.dials.remove(&connection_id) {
                    let _ = done.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }
}

pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}
