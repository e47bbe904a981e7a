//! The axon's limits and policies: every field with its default and why.

use super::http::HttpListen;
use super::*;

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
    pub(super) fn allows(self, mode: AuthMode) -> bool {
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
#[non_exhaustive]
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
    /// How long [`AxonHandle::shutdown`](crate::AxonHandle::shutdown) keeps connections open
    /// after the last answer was handed to its writer, so that the answers queued go out.
    /// Default 200 ms.
    pub shutdown_linger: Duration,
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
    /// Whether the axon also serves HTTP (btauth/1 and Epistula v2 signed JSON requests, through
    /// the same pipeline as QUIC). Default [`HttpListen::Off`]; a miner takes
    /// [`HttpListen::SamePort`].
    pub http: HttpListen,
    /// HTTP connections held at once; more are closed as they arrive. Default 4,096.
    pub http_max_connections: usize,
    /// Requests in flight at once on one HTTP/2 connection. Default 256.
    pub http2_max_streams: u32,
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
            shutdown_linger: Duration::from_millis(200),
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
            http: HttpListen::Off,
            http_max_connections: 4096,
            http2_max_streams: 256,
        }
    }
}

impl AxonConfig {
    /// Sets `network`. Default [`NetworkConfig::default`].
    pub fn with_network(mut self, network: NetworkConfig) -> Self {
        self.network = network;
        self
    }
    /// Sets `accepted_auth`. Default [`AcceptedAuth::Both`].
    pub fn with_accepted_auth(mut self, accepted_auth: AcceptedAuth) -> Self {
        self.accepted_auth = accepted_auth;
        self
    }
    /// Sets `http`. Default [`HttpListen::Off`].
    pub fn with_http(mut self, http: HttpListen) -> Self {
        self.http = http;
        self
    }

    /// Sets `http_max_connections`. Default 4,096.
    pub fn with_http_max_connections(mut self, http_max_connections: usize) -> Self {
        self.http_max_connections = http_max_connections;
        self
    }

    /// Sets `http2_max_streams`. Default 256.
    pub fn with_http2_max_streams(mut self, http2_max_streams: u32) -> Self {
        self.http2_max_streams = http2_max_streams;
        self
    }

    /// Sets `max_request_bytes`. Default 8 MiB.
    pub fn with_max_request_bytes(mut self, max_request_bytes: u32) -> Self {
        self.max_request_bytes = max_request_bytes;
        self
    }
    /// Sets `max_inflight_bytes`. Default 256 MiB.
    pub fn with_max_inflight_bytes(mut self, max_inflight_bytes: usize) -> Self {
        self.max_inflight_bytes = max_inflight_bytes;
        self
    }
    /// Sets `max_inflight_bytes_per_ip`. Default 64 MiB.
    pub fn with_max_inflight_bytes_per_ip(mut self, max_inflight_bytes_per_ip: usize) -> Self {
        self.max_inflight_bytes_per_ip = max_inflight_bytes_per_ip;
        self
    }
    /// Sets `rate_per_peer`. Default 20,000.
    pub fn with_rate_per_peer(mut self, rate_per_peer: u32) -> Self {
        self.rate_per_peer = rate_per_peer;
        self
    }
    /// Sets `rate_per_ip`. Default 50,000.
    pub fn with_rate_per_ip(mut self, rate_per_ip: u32) -> Self {
        self.rate_per_ip = rate_per_ip;
        self
    }
    /// Sets `nonce`. Default [`NonceGuardConfig::default`].
    pub fn with_nonce(mut self, nonce: NonceGuardConfig) -> Self {
        self.nonce = nonce;
        self
    }
    /// Sets `max_concurrency`. Default 256.
    pub fn with_max_concurrency(mut self, max_concurrency: usize) -> Self {
        self.max_concurrency = max_concurrency;
        self
    }
    /// Sets `queue_capacity`. Default 1,024.
    pub fn with_queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = queue_capacity;
        self
    }
    /// Sets `bind_timeout`. Default 5 s.
    pub fn with_bind_timeout(mut self, bind_timeout: Duration) -> Self {
        self.bind_timeout = bind_timeout;
        self
    }
    /// Sets `frame_timeout`. Default 10 s.
    pub fn with_frame_timeout(mut self, frame_timeout: Duration) -> Self {
        self.frame_timeout = frame_timeout;
        self
    }
    /// Sets `write_queue`. Default 256.
    pub fn with_write_queue(mut self, write_queue: usize) -> Self {
        self.write_queue = write_queue;
        self
    }
    /// Sets `write_grace`. Default 1 s.
    pub fn with_write_grace(mut self, write_grace: Duration) -> Self {
        self.write_grace = write_grace;
        self
    }
    /// Sets `shutdown_linger`. Default 200 ms.
    pub fn with_shutdown_linger(mut self, shutdown_linger: Duration) -> Self {
        self.shutdown_linger = shutdown_linger;
        self
    }
    /// Sets `inline_poll`. Default 100 us.
    pub fn with_inline_poll(mut self, inline_poll: Duration) -> Self {
        self.inline_poll = inline_poll;
        self
    }
    /// Sets `default_timeout`. Default 12 s (Bittensor's dendrite default).
    pub fn with_default_timeout(mut self, default_timeout: Duration) -> Self {
        self.default_timeout = default_timeout;
        self
    }
    /// Sets `max_timeout`. Default 120 s.
    pub fn with_max_timeout(mut self, max_timeout: Duration) -> Self {
        self.max_timeout = max_timeout;
        self
    }
    /// Sets `binding_ttl`. Default 24 h; re-signed before it runs out.
    pub fn with_binding_ttl(mut self, binding_ttl: Duration) -> Self {
        self.binding_ttl = binding_ttl;
        self
    }
    /// Sets `binding_rules`. Default [`BindingRules::default`].
    pub fn with_binding_rules(mut self, binding_rules: BindingRules) -> Self {
        self.binding_rules = binding_rules;
        self
    }
    /// Sets `bind_budget`. Default 64 (`NetworkConfig::max_streams_per_connection`'s default).
    pub fn with_bind_budget(mut self, bind_budget: u32) -> Self {
        self.bind_budget = bind_budget;
        self
    }
    /// Sets `bind_refill`. Default 10 s: a connection costs at most 64 signature checks at
    /// once and 6 a minute after that.
    pub fn with_bind_refill(mut self, bind_refill: Duration) -> Self {
        self.bind_refill = bind_refill;
        self
    }
    /// Sets `require_registered`. Default false.
    pub fn with_require_registered(mut self, require_registered: bool) -> Self {
        self.require_registered = require_registered;
        self
    }
    /// Sets `require_validator_permit`. Default false.
    pub fn with_require_validator_permit(mut self, require_validator_permit: bool) -> Self {
        self.require_validator_permit = require_validator_permit;
        self
    }
    /// Sets `min_stake`. Default 0.
    pub fn with_min_stake(mut self, min_stake: u64) -> Self {
        self.min_stake = min_stake;
        self
    }
}
