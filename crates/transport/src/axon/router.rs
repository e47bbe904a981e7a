//! Synapse handlers by name: what a handler is given, how its first poll is placed, and
//! the caller-facing hooks (blacklist, priority).

use super::*;

/// What a handler knows about the request it serves; the caller is authenticated.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The caller's hotkey, proven by signature or by the connection binding.
    pub caller: Hotkey,
    /// Where the request came from (the address, and the PeerId on QUIC).
    pub remote: Remote,
    /// What the Directory says about the caller.
    pub facts: Option<PeerFacts>,
    /// The synapse name.
    pub synapse: String,
    /// When the caller stops waiting.
    pub deadline: Instant,
}

/// A handler's refusal or failure: a status and a message for the caller (the one failure
/// type, [`Failure`], by the name handlers know it).
pub type HandlerError = Failure;

/// How a request's body, and so its answers, are encoded: protobuf on the QUIC wire, JSON on the
/// HTTP wires. A handler sees the typed message either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Protocol Buffers (the synapse's prost message).
    Protobuf,
    /// JSON (the synapse's serde form). The HTTP wires' adapters construct it; until they
    /// land, only the pipeline's tests do.
    #[cfg_attr(not(test), allow(dead_code))]
    Json,
}

impl Encoding {
    /// Decodes `bytes` as `M`, or 400 naming the synapse.
    pub(crate) fn decode<M: SynapseMessage>(self, bytes: Bytes, synapse: &str) -> Result<M, Failure> {
        let decoded = match self {
            Encoding::Protobuf => M::decode(bytes).map_err(|e| e.to_string()),
            Encoding::Json => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        };
        decoded.map_err(|e| Failure::new(Status::BadRequest, format!("request does not decode as {synapse}: {e}")))
    }

    /// Encodes `message`; a message that cannot be written as JSON (a float that is not a
    /// number) is a 500.
    pub(crate) fn encode<M: SynapseMessage>(self, message: &M) -> Result<Bytes, Failure> {
        match self {
            Encoding::Protobuf => Ok(Bytes::from(message.encode_to_vec())),
            Encoding::Json => serde_json::to_vec(message)
                .map(Bytes::from)
                .map_err(|e| Failure::new(Status::InternalError, format!("answer does not encode as JSON: {e}"))),
        }
    }
}

/// A request body and how it is encoded.
pub(crate) struct Body {
    pub(crate) bytes: Bytes,
    pub(crate) encoding: Encoding,
}

pub(super) type UnaryFn =
    Arc<dyn Fn(RequestContext, Body) -> BoxFuture<'static, Result<Bytes, HandlerError>> + Send + Sync>;

pub(super) type StreamItems = BoxStream<'static, Result<Bytes, HandlerError>>;

pub(super) type StreamFn = Arc<dyn Fn(RequestContext, Body) -> Result<StreamItems, HandlerError> + Send + Sync>;

#[derive(Clone)]
pub(super) enum Handler {
    Unary(UnaryFn),
    Streaming(StreamFn),
}

/// A synapse's handler and its inline-poll flag.
#[derive(Clone)]
pub(super) struct Route {
    pub(super) handler: Handler,
    pub(super) inline: Arc<InlineFlag>,
}

/// Whether a synapse's requests are first polled on the stream's reader task. A first poll over
/// [`AxonConfig::inline_poll`] adds [`OVERRUN_WEIGHT`] to a score that every poll within it
/// lowers by one; at [`OVERRUN_LIMIT`] the synapse is spawned for good. Occasional overruns (the
/// machine pausing the thread, not the handler) decay; a handler that computes before its first
/// await reaches the limit after three overruns close together, or when its first polls overrun
/// more often than one in seventeen.
pub(super) struct InlineFlag {
    pub(super) synapse: String,
    pub(super) score: AtomicU32,
}

/// What one overrun adds to an [`InlineFlag`]'s score.
pub(super) const OVERRUN_WEIGHT: u32 = 16;

/// The score at which a synapse's requests are always spawned.
pub(super) const OVERRUN_LIMIT: u32 = 3 * OVERRUN_WEIGHT;

impl InlineFlag {
    pub(super) fn allowed(&self) -> bool {
        self.score.load(Ordering::Relaxed) < OVERRUN_LIMIT
    }

    /// Records one inline first poll. Once at the limit the score never moves again, so a poll
    /// that started earlier and ends within the limit cannot turn inlining back on.
    pub(super) fn record(&self, took: Duration, limit: Duration) {
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

/// The handlers by synapse name.
pub(super) struct Router {
    pub(super) handlers: HashMap<String, Route>,
    /// The names served, sorted, for a 404's message.
    pub(super) names: Vec<String>,
    /// Each synapse's `required_hash_fields` for bittensor 10 callers (none by default).
    pub(super) hash_fields: HashMap<String, Vec<String>>,
}

impl Router {
    /// Routes for `handlers`, each synapse with a fresh inline-poll flag.
    pub(super) fn new(handlers: HashMap<String, Handler>) -> Self {
        let mut names: Vec<String> = handlers.keys().cloned().collect();
        names.sort();
        let handlers = handlers
            .into_iter()
            .map(|(name, handler)| {
                let inline = Arc::new(InlineFlag { synapse: name.clone(), score: AtomicU32::new(0) });
                (name, Route { handler, inline })
            })
            .collect();
        Router { handlers, names, hash_fields: HashMap::new() }
    }

    /// With each synapse's `required_hash_fields` for bittensor 10 callers.
    pub(super) fn with_hash_fields(mut self, hash_fields: HashMap<String, Vec<String>>) -> Self {
        self.hash_fields = hash_fields;
        self
    }

    /// The `required_hash_fields` of `synapse`.
    pub(super) fn hash_fields(&self, synapse: &str) -> Vec<&str> {
        self.hash_fields.get(synapse).map(|fields| fields.iter().map(String::as_str).collect()).unwrap_or_default()
    }

    /// Whether `synapse` is served (only served names become metric labels).
    pub(super) fn serves(&self, synapse: &str) -> bool {
        self.handlers.contains_key(synapse)
    }

    /// The synapse's handler, or 404 naming the synapses served.
    pub(super) fn route(&self, synapse: &str) -> Result<Route, Refusal> {
        self.handlers.get(synapse).cloned().ok_or_else(|| {
            let message = format!("Synapse name '{synapse}' not found. Available synapses {:?}", self.names);
            refusal_for(synapse, Status::NotFound, message)
        })
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
