//! The dendrite's settings: how it authenticates, and every limit it holds an axon to.

use crate::swarm::NetworkConfig;
use std::time::Duration;

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
#[non_exhaustive]
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
    /// Time a query (or a streaming answer, whole) has when the caller gives none: `query`,
    /// `forward` and `query_stream` use it, the `_within` forms take their own. The axon is
    /// told it, and answers 408 past it. Default 12 s, bittensor's dendrite default.
    pub timeout: Duration,
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
    /// Time a stream whose sending failed gives its reader to deliver what the axon answered
    /// before it stopped the stream (a refused Bind's 403 says more than the failed write).
    /// Default 1 s.
    pub refusal_grace: Duration,
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
            timeout: Duration::from_secs(12),
            connect_timeout: Duration::from_secs(5),
            max_concurrent_dials: 32,
            stream_chunk_buffer: 256,
            stream_buffer_bytes: 4 * 1024 * 1024,
            frame_timeout: Duration::from_secs(10),
            refusal_grace: Duration::from_secs(1),
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
    /// Sets `network`. Default [`NetworkConfig::default`].
    pub fn with_network(mut self, network: NetworkConfig) -> Self {
        self.network = network;
        self
    }
    /// Sets `max_response_bytes`. Default 64 MiB.
    pub fn with_max_response_bytes(mut self, max_response_bytes: u32) -> Self {
        self.max_response_bytes = max_response_bytes;
        self
    }
    /// Sets `connect_timeout`. Default 5 s.
    pub fn with_connect_timeout(mut self, connect_timeout: Duration) -> Self {
        self.connect_timeout = connect_timeout;
        self
    }
    /// Sets `sockets`. Default 1: with [`NetworkConfig::udp_buffer`]'s 4 MiB receive buffer
    /// one socket takes the answers of 256 miners at once without drops; raise it where the
    /// kernel caps buffers lower.
    pub fn with_sockets(mut self, sockets: usize) -> Self {
        self.sockets = sockets;
        self
    }
    /// Sets `stream_chunk_buffer`. Default 256.
    pub fn with_stream_chunk_buffer(mut self, stream_chunk_buffer: usize) -> Self {
        self.stream_chunk_buffer = stream_chunk_buffer;
        self
    }
    /// Sets `stream_buffer_bytes`. Default 4 MiB: the count bound alone let an axon pin 256
    /// chunks of up to `max_response_bytes` (16 GiB) per query, and token streams send
    /// chunks of tens of bytes.
    pub fn with_stream_buffer_bytes(mut self, stream_buffer_bytes: usize) -> Self {
        self.stream_buffer_bytes = stream_buffer_bytes;
        self
    }
    /// Sets `frame_timeout`. Default 10 s, like the axon's `frame_timeout`; a frame must
    /// arrive at 6.4 MB/s to bring a 64 MiB body in time, so raise it for large answers
    /// over slow links.
    pub fn with_frame_timeout(mut self, frame_timeout: Duration) -> Self {
        self.frame_timeout = frame_timeout;
        self
    }
    /// Sets `refusal_grace`. Default 1 s.
    pub fn with_refusal_grace(mut self, refusal_grace: Duration) -> Self {
        self.refusal_grace = refusal_grace;
        self
    }
    /// Sets `open_retries`. Default 4.
    pub fn with_open_retries(mut self, open_retries: u32) -> Self {
        self.open_retries = open_retries;
        self
    }
    /// Sets `batch_body_limit`. Default 64 KiB.
    pub fn with_batch_body_limit(mut self, batch_body_limit: usize) -> Self {
        self.batch_body_limit = batch_body_limit;
        self
    }
    /// Sets `batch_bytes`. Default 256 KiB (the axon's default request limit is 8 MiB, so
    /// batches always fit it).
    pub fn with_batch_bytes(mut self, batch_bytes: usize) -> Self {
        self.batch_bytes = batch_bytes;
        self
    }
    /// Sets `max_concurrent_dials`. Default 32: a validator that dials hundreds of miners
    /// at once otherwise floods its one UDP socket with handshake packets (the kernel drops
    /// them, and QUIC's handshake retransmits take seconds).
    pub fn with_max_concurrent_dials(mut self, max_concurrent_dials: usize) -> Self {
        self.max_concurrent_dials = max_concurrent_dials;
        self
    }
    /// Sets `binding_ttl`. Default 24 h.
    pub fn with_binding_ttl(mut self, binding_ttl: Duration) -> Self {
        self.binding_ttl = binding_ttl;
        self
    }
    /// Sets `stream_open_backoff`. Default 1 s.
    pub fn with_stream_open_backoff(mut self, stream_open_backoff: Duration) -> Self {
        self.stream_open_backoff = stream_open_backoff;
        self
    }
    /// Sets `auth`. Default [`Auth::PerRequest`].
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    /// Sets `timeout`, the time `query`, `forward` and `query_stream` give an answer (default
    /// 12 s, bittensor's dendrite default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// Sets `streams_per_connection` (at least 1). Default 2.
    pub fn with_streams_per_connection(mut self, n: usize) -> Self {
        self.streams_per_connection = n.max(1);
        self
    }
}
