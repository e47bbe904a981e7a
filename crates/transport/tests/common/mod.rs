//! Shared helpers for the transport's integration tests: keypairs, an echo axon, and a raw
//! libp2p client that speaks neuronet frames by hand (so that tests can send what a correct
//! Dendrite never would: forged signatures, stale or replayed nonces, garbage).

#![allow(dead_code)]

use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::StreamExt;
use neuronet_synapse::binding::sign_binding;
use neuronet_synapse::builtin::{Ping, TextGeneration, TextGenerationStream};
use neuronet_synapse::envelope::{RequestHead, ResponseHead};
use neuronet_synapse::frame::{encode_head, FrameKind, FramePrefix, PREFIX_LEN};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::proto::{self, HotkeyBinding};
use neuronet_synapse::{CryptoType, Keypair, Status};
use neuronet_transport::{
    Axon, AxonConfig, AxonHandle, Dendrite, DendriteConfig, HandlerError, Multiaddr, PeerId, Target, SYNAPSE_PROTOCOL,
};
use prost::Message;
use std::time::Duration;

/// An sr25519 dev keypair (`//Alice`, `//Bob`, ...).
pub fn key(suri: &str) -> Keypair {
    Keypair::from_suri(suri, CryptoType::Sr25519).expect("dev suri")
}

pub fn loopback4() -> Multiaddr {
    "/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()
}

pub fn loopback6() -> Multiaddr {
    "/ip6/::1/udp/0/quic-v1".parse().unwrap()
}

/// The text the echo handler answers for `prompt`.
pub fn echo_of(prompt: &str) -> String {
    format!("echo:{prompt}")
}

/// Adds the standard test handlers to `axon`:
/// - `Ping` answers `now_ns = 1`;
/// - `TextGeneration` echoes the prompt (`echo:<prompt>`), with special prompts
///   `panic` (the handler panics) and `sleep:<ms> [padding]` (sleeps, then echoes);
/// - `TextGenerationStream` answers the prompt's words one chunk each.
pub fn with_echo(axon: Axon) -> Axon {
    axon.serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 1, version: "test".into() }) })
        .serve::<TextGeneration, _, _>(|_ctx, req: proto::TextGenerationRequest| async move {
            if req.prompt == "panic" {
                panic!("handler asked to panic");
            }
            if let Some(ms) = req.prompt.strip_prefix("sleep:") {
                let ms: u64 = ms
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|_| HandlerError::new(Status::BadRequest, "bad sleep"))?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Ok(proto::TextGenerationResponse {
                text: echo_of(&req.prompt),
                tokens: req.prompt.len() as u32,
                ..Default::default()
            })
        })
        .serve_stream::<TextGenerationStream, _, _>(|_ctx, req: proto::TextGenerationRequest| {
            let words: Vec<String> = req.prompt.split_whitespace().map(str::to_owned).collect();
            futures::stream::iter(
                words.into_iter().enumerate().map(|(i, w)| {
                    Ok(proto::TextGenerationChunk { text: w, tokens: i as u32 + 1, ..Default::default() })
                }),
            )
        })
}

/// Starts an echo axon as `suri` on IPv4 loopback with `config`.
pub async fn echo_axon(suri: &str, config: AxonConfig) -> AxonHandle {
    with_echo(Axon::new(key(suri), config)).start([loopback4()]).await.expect("axon starts")
}

pub async fn dendrite(suri: &str) -> Dendrite {
    Dendrite::new(key(suri), DendriteConfig::default()).await.expect("dendrite starts")
}

pub fn target(axon: &AxonHandle) -> Target {
    Target::Explicit { hotkey: axon.hotkey(), addr: axon.listen_addrs()[0].clone() }
}

pub fn prompt(text: &str) -> proto::TextGenerationRequest {
    proto::TextGenerationRequest { prompt: text.to_owned(), ..Default::default() }
}

/// One echo query; panics unless it succeeds with the right answer.
pub async fn assert_echo(dendrite: &Dendrite, target: &Target, text: &str) {
    let answer = dendrite.query_within::<TextGeneration>(target, prompt(text), Duration::from_secs(5)).await;
    assert_eq!(answer.status, Status::Success, "echo of {text:?} failed: {}", answer.message);
    assert_eq!(answer.body.expect("body on 200").text, echo_of(text));
}

/// A tiny deterministic PRNG (xorshift64*), so that "random" bytes are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The raw client.
// ---------------------------------------------------------------------------------------------

/// A bare libp2p node (QUIC + libp2p-stream, nothing else) connected to one axon. It opens
/// synapse streams on which a test writes whatever frames it likes.
pub struct RawClient {
    control: libp2p_stream::Control,
    pub local_peer_id: PeerId,
    pub axon_peer_id: PeerId,
    /// Whether the connection to the axon is still open.
    connected: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawClient {
    /// Dials `addr` (which must end in `/p2p/<PeerId>`) and waits for the connection.
    pub async fn connect(addr: &Multiaddr) -> RawClient {
        Self::connect_with_window(addr, None).await
    }

    /// Connects with this per-stream receive window (bytes), so that a test can fill it.
    pub async fn connect_with_window(addr: &Multiaddr, stream_window: Option<u32>) -> RawClient {
        let axon_peer_id = addr
            .iter()
            .find_map(|p| match p {
                libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                _ => None,
            })
            .expect("address with /p2p/");
        let mut swarm = raw_swarm(stream_window);
        let control = swarm.behaviour().new_control();
        let local_peer_id = *swarm.local_peer_id();
        swarm.dial(addr.clone()).expect("dial starts");
        let (connected_tx, connected_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = connected.clone();
        let task = tokio::spawn(async move {
            let mut connected_tx = Some(connected_tx);
            loop {
                match swarm.select_next_some().await {
                    libp2p::swarm::SwarmEvent::ConnectionEstablished { .. } => {
                        open.store(true, std::sync::atomic::Ordering::SeqCst);
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Ok(()));
                        }
                    }
                    libp2p::swarm::SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                        open.store(false, std::sync::atomic::Ordering::SeqCst);
                    }
                    libp2p::swarm::SwarmEvent::OutgoingConnectionError { error, .. } => {
                        if let Some(tx) = connected_tx.take() {
                            let _ = tx.send(Err(error.to_string()));
                        }
                    }
                    _ => {}
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(5), connected_rx)
            .await
            .expect("raw client connects within 5 s")
            .expect("swarm task alive")
            .expect("raw client connects");
        RawClient { control, local_peer_id, axon_peer_id, connected, task }
    }

    /// Whether the connection to the axon is open.
    pub fn is_connected(&self) -> bool {
        self.connected.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until the axon closes the connection; returns whether it did within `within`.
    pub async fn disconnected_within(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.is_connected() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Opens a new synapse stream (no frame sent yet).
    pub async fn open(&self) -> RawStream {
        let mut control = self.control.clone();
        let stream =
            tokio::time::timeout(Duration::from_secs(5), control.open_stream(self.axon_peer_id, SYNAPSE_PROTOCOL))
                .await
                .expect("stream opens within 5 s")
                .expect("stream opens");
        RawStream { stream, local_peer_id: self.local_peer_id }
    }

    /// Opens a stream and binds it to `keypair`'s hotkey; panics unless the axon answers with
    /// its own binding.
    pub async fn open_bound(&self, keypair: &Keypair) -> RawStream {
        let mut stream = self.open().await;
        match stream.bind(keypair).await {
            BindAnswer::Bound(_) => stream,
            BindAnswer::Refused(head) => panic!("binding refused: {} {}", head.status, head.message),
        }
    }
}

/// A bare libp2p node: stock QUIC (with this per-stream receive window, bytes, if given) and
/// libp2p-stream, nothing else.
pub fn raw_swarm(stream_window: Option<u32>) -> libp2p::Swarm<libp2p_stream::Behaviour> {
    libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_quic_config(|mut config| {
            if let Some(window) = stream_window {
                config.max_stream_data = window;
            }
            config
        })
        .with_behaviour(|_| libp2p_stream::Behaviour::new())
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// What the axon answered to a Bind frame.
pub enum BindAnswer {
    Bound(HotkeyBinding),
    Refused(ResponseHead),
}

/// One frame as read off the wire.
#[derive(Debug)]
pub struct RawFrame {
    pub prefix: FramePrefix,
    pub header: Vec<u8>,
    pub body: Vec<u8>,
}

pub struct RawStream {
    pub stream: libp2p::Stream,
    pub local_peer_id: PeerId,
}

impl RawStream {
    pub async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    pub async fn write_frame(&mut self, kind: FrameKind, id: u64, header: &[u8], body: &[u8]) -> std::io::Result<()> {
        let mut all = encode_head(kind, id, header, body.len());
        all.extend_from_slice(body);
        self.write_raw(&all).await
    }

    /// Reads the next frame; `Ok(None)` on a clean end of stream.
    pub async fn read_frame(&mut self) -> std::io::Result<Option<RawFrame>> {
        let mut prefix = [0u8; PREFIX_LEN];
        let mut filled = 0;
        while filled < PREFIX_LEN {
            let n = self.stream.read(&mut prefix[filled..]).await?;
            if n == 0 {
                return if filled == 0 { Ok(None) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) };
            }
            filled += n;
        }
        let prefix =
            FramePrefix::parse(&prefix).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut header = vec![0u8; usize::from(prefix.header_len)];
        self.stream.read_exact(&mut header).await?;
        let mut body = vec![0u8; prefix.body_len as usize];
        self.stream.read_exact(&mut body).await?;
        Ok(Some(RawFrame { prefix, header, body }))
    }

    /// Reads the next frame within 5 s; panics on timeout, error or end of stream.
    pub async fn expect_frame(&mut self) -> RawFrame {
        tokio::time::timeout(Duration::from_secs(5), self.read_frame())
            .await
            .expect("a frame within 5 s")
            .expect("frame reads")
            .expect("stream still open")
    }

    /// Sends a Bind frame for `keypair` (bound to this client's PeerId) and reads the answer.
    pub async fn bind(&mut self, keypair: &Keypair) -> BindAnswer {
        let expires_at = unix_nanos() / 1_000_000_000 + 3600;
        let binding = sign_binding(keypair, &self.local_peer_id.to_bytes(), expires_at);
        self.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await.expect("bind written");
        let frame = self.expect_frame().await;
        match frame.prefix.kind {
            FrameKind::Bind => BindAnswer::Bound(HotkeyBinding::decode(frame.header.as_slice()).expect("axon binding")),
            FrameKind::Response => BindAnswer::Refused(ResponseHead::decode(&frame.header).expect("response head")),
            other => panic!("unexpected answer to Bind: {other:?}"),
        }
    }

    /// Sends a Request frame with `head` and `body`, and reads the Response for `id`.
    pub async fn request(&mut self, id: u64, head: &RequestHead, body: &[u8]) -> (ResponseHead, Vec<u8>) {
        self.write_frame(FrameKind::Request, id, &head.encode(), body).await.expect("request written");
        loop {
            let frame = self.expect_frame().await;
            if frame.prefix.request_id != id || frame.prefix.kind != FrameKind::Response {
                continue;
            }
            return (ResponseHead::decode(&frame.header).expect("response head"), frame.body);
        }
    }

    /// Waits until the axon closes (or resets) the stream; returns whether it did within `within`.
    /// Frames the axon still sends are ignored.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let mut scratch = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut scratch)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }
}

/// A correctly signed per-request header for `TextGeneration` with `body`.
pub fn signed_head(sender: &Keypair, receiver: &neuronet_synapse::Hotkey, synapse: &str, body: &[u8]) -> RequestHead {
    let mut head = RequestHead::new(synapse, sender.hotkey(), *receiver.public(), 5_000);
    head.sign(sender, body);
    head
}

/// A stock libp2p node posing as an axon that answers every stream's Bind frame with its
/// hotkey's binding and then reads nothing more, holding the streams open: what a dendrite
/// meets at a miner that stopped reading.
pub struct SilentAxon {
    pub addr: Multiaddr,
    pub hotkey: neuronet_synapse::Hotkey,
    task: tokio::task::JoinHandle<()>,
}

/// A bare libp2p node listening on IPv4 loopback for synapse streams, the base of the
/// hand-made axons.
pub struct RawListener {
    pub swarm: libp2p::Swarm<libp2p_stream::Behaviour>,
    pub peer_id: PeerId,
    pub incoming: libp2p_stream::IncomingStreams,
    /// Its address, ending in `/p2p/<PeerId>`.
    pub addr: Multiaddr,
}

impl RawListener {
    /// Listens (with this per-stream receive window, bytes, if given) and waits for the address.
    pub async fn start(stream_window: Option<u32>) -> RawListener {
        let mut swarm = raw_swarm(stream_window);
        let peer_id = *swarm.local_peer_id();
        let incoming = swarm.behaviour().new_control().accept(SYNAPSE_PROTOCOL).expect("accepts streams");
        swarm.listen_on(loopback4()).expect("listens");
        let addr = loop {
            if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                break address.with(libp2p::multiaddr::Protocol::P2p(peer_id));
            }
        };
        RawListener { swarm, peer_id, incoming, addr }
    }
}

impl SilentAxon {
    /// Starts one on IPv4 loopback holding `keypair`'s hotkey, with this per-stream receive
    /// window (bytes).
    pub async fn start(keypair: Keypair, stream_window: u32) -> SilentAxon {
        let RawListener { mut swarm, peer_id, mut incoming, addr } = RawListener::start(Some(stream_window)).await;
        let hotkey = keypair.hotkey();
        // One task in all (streams are held in it, not in a task each), so that tests can count
        // the dendrite's tasks.
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                tokio::select! {
                    _ = swarm.select_next_some() => {}
                    Some((_, stream)) = incoming.next() => {
                        let mut stream = RawStream { stream, local_peer_id: peer_id };
                        let bind = tokio::time::timeout(Duration::from_secs(5), stream.read_frame()).await;
                        if let Ok(Ok(Some(_))) = bind {
                            let expires_at = unix_nanos() / 1_000_000_000 + 3600;
                            let binding = sign_binding(&keypair, &peer_id.to_bytes(), expires_at);
                            let _ = stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await;
                        }
                        // Read nothing more, and keep the stream open.
                        held.push(stream);
                    }
                }
            }
        });
        SilentAxon { addr, hotkey, task }
    }
}

impl Drop for SilentAxon {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `class Echo(bt.Synapse): text: str; out: str = ""; required_hash_fields = ("text",)`.
pub mod echo {
    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoRequest {
        #[prost(string, tag = "1")]
        pub text: String,
    }

    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoResponse {
        #[prost(string, tag = "1")]
        pub out: String,
    }

    neuronet_synapse::synapse! {
        #[hash_fields("text")]
        pub struct Echo: EchoRequest => EchoResponse;
    }
}
