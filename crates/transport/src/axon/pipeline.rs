//! The request pipeline after a wire has parsed its envelope: the checks that need no
//! cryptography, the replay check, the blacklist, the synapse, the priority gate and the
//! handler under its timeout.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// The axon's request pipeline, one per axon and shared by every wire it serves: its limits,
/// memory budget, replay cache, blacklist, priority gate and handlers. A wire's adapter parses
/// its own envelope into a [`RequestHead`] and a body, asks the pipeline at each step, and turns
/// the answers the pipeline sends into its [`Sink`] into its own frames.
pub(crate) struct Pipeline {
    pub(super) config: AxonConfig,
    /// The axon's hotkey: the receiver every request must name.
    pub(super) hotkey: Hotkey,
    pub(super) directory: Directory,
    pub(super) router: Router,
    pub(super) blacklist: Option<BlacklistFn>,
    pub(super) priority: Option<PriorityFn>,
    pub(super) gate: Gate,
    pub(super) memory: Memory,
    pub(super) nonces: NonceGuard,
    pub(super) peer_rate: DefaultKeyedRateLimiter<PeerId>,
    pub(super) ip_rate: DefaultKeyedRateLimiter<IpAddr>,
    pub(super) metrics: Metrics,
    /// Set by [`AxonHandle::shutdown`]: new requests are refused with 503.
    pub(super) draining: AtomicBool,
    /// Requests admitted and not yet answered (their handler and its answer).
    pub(super) in_flight: Arc<AtomicUsize>,
}

/// Counts one admitted request in [`Pipeline::in_flight`] until it is answered.
pub(super) struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        InFlight(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The message of the 503 a draining axon answers new requests with.
pub(super) const SHUTTING_DOWN: &str = "axon is shutting down";

/// Where a request came from, as its wire knows it before authentication: the address, and the
/// libp2p PeerId when the wire has one (QUIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// The caller's IP address, when the wire knows it.
    pub ip: Option<IpAddr>,
    /// The caller's libp2p PeerId (QUIC only).
    pub peer_id: Option<PeerId>,
}

/// What a wire proved about a request before the pipeline's own checks: who sent it (its
/// signature, or a bound connection, said so), for which synapse, under which nonce (`None` when
/// the wire's connection authenticates it and no replay check applies), and how long the caller
/// waits (`timeout_ms`, 0 for the axon's default).
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub(crate) caller: Hotkey,
    pub(crate) synapse: String,
    pub(crate) nonce: Option<Nonce>,
    pub(crate) timeout_ms: u32,
}

impl Authenticated {
    /// What a verified neuronet request header proves.
    pub(super) fn of(head: RequestHead) -> Self {
        let nonce = (head.auth == AuthMode::PerRequest).then_some(head.nonce);
        Authenticated { caller: head.sender, synapse: head.synapse, nonce, timeout_ms: head.timeout_ms }
    }
}

/// A request that passed every check before the queue.
pub(super) struct Admitted {
    pub(super) request: Authenticated,
    pub(super) body: Body,
    pub(super) budget: Budget,
    pub(super) handler: Handler,
    /// The synapse's flag: may its first poll run on the stream's reader task?
    pub(super) inline: Arc<InlineFlag>,
    pub(super) facts: Option<PeerFacts>,
    /// When the request arrived.
    pub(super) started: Instant,
    /// Held until the request is answered, so that a shutdown waits for it.
    pub(super) in_flight: InFlight,
}

/// A refused request: why, and the synapse it named (a metric label only if served).
pub(super) struct Refusal {
    pub(super) failure: Failure,
    pub(super) synapse: String,
}

pub(super) fn refusal_of(head: &RequestHead, status: Status, message: String) -> Refusal {
    refusal_for(&head.synapse, status, message)
}

pub(super) fn refusal_for(synapse: &str, status: Status, message: String) -> Refusal {
    Refusal { failure: Failure::new(status, message), synapse: synapse.to_owned() }
}

impl Pipeline {
    /// A pipeline serving `router`'s synapses as `hotkey` under `config`.
    pub(super) fn new(config: AxonConfig, hotkey: Hotkey, directory: Directory, router: Router) -> Self {
        let rate = |n: u32| Quota::per_second(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN));
        Pipeline {
            hotkey,
            gate: Gate::new(config.max_concurrency, config.queue_capacity),
            memory: Memory::new(config.max_inflight_bytes, config.max_inflight_bytes_per_ip),
            nonces: NonceGuard::new(config.nonce.clone()),
            peer_rate: RateLimiter::keyed(rate(config.rate_per_peer)),
            ip_rate: RateLimiter::keyed(rate(config.rate_per_ip)),
            directory,
            router,
            blacklist: None,
            priority: None,
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            in_flight: Arc::new(AtomicUsize::new(0)),
            config,
        }
    }

    /// With the axon's own blacklist and priority functions.
    pub(super) fn with_hooks(mut self, blacklist: Option<BlacklistFn>, priority: Option<PriorityFn>) -> Self {
        self.blacklist = blacklist;
        self.priority = priority;
        self
    }

    /// With `metrics` shared.
    pub(super) fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether `remote` is over the per-peer or per-IP rate.
    pub(super) fn over_rate(&self, remote: &Remote) -> bool {
        // Keyed like the connection limits: one IPv6 host usually holds a whole /64.
        remote.peer_id.is_some_and(|peer| self.peer_rate.check_key(&peer).is_err())
            || remote.ip.is_some_and(|ip| self.ip_rate.check_key(&crate::inbound::ip_key(ip)).is_err())
    }
}

/// The checks that need no cryptography (`neuronet_synapse::admission::precheck`): receiver,
/// the caller's binding (`bound`: the hotkey the wire proved and until when), accepted mode,
/// sender. Which synapses the axon serves is told only to an authenticated caller
/// ([`Router::route`]).
pub(super) fn precheck(pipeline: &Pipeline, bound: Option<(Hotkey, u64)>, head: &RequestHead) -> Result<(), Refusal> {
    let accepted = pipeline.config.accepted_auth.allows(head.auth);
    neuronet_synapse::admission::precheck(head, &pipeline.hotkey, bound, unix_nanos() / 1_000_000_000, accepted)
        .map_err(|failure| Refusal { failure, synapse: head.synapse.clone() })
}

impl Pipeline {
    /// After the wire's authentication, whatever the wire: the blacklist on the authenticated
    /// hotkey, the replay check (one cache for every wire, so a nonce used on one is refused on
    /// the others), the synapse (404), then whether the axon is shutting down (503).
    pub(crate) fn admit(
        &self,
        request: Authenticated,
        body: Body,
        budget: Budget,
        started: Instant,
    ) -> Result<Admitted, Refusal> {
        // The blacklist first: a hotkey refused anyway (unregistered, say) must not take room in
        // the replay cache from the hotkeys it serves.
        let facts = self.directory.facts(&request.caller);
        blacklisted(self, &request.caller, facts.as_ref()).map_err(|reason| {
            refusal_for(&request.synapse, Status::Forbidden, format!("Forbidden. Key is blacklisted: {reason}."))
        })?;
        if let Some(nonce) = request.nonce {
            self.nonces
                .check(request.caller.public(), nonce, unix_nanos())
                .map_err(|e| refusal_for(&request.synapse, e.status(), e.to_string()))?;
        }
        let route = self.router.route(&request.synapse)?;
        // Counted before the draining flag is read: a shutdown that sets the flag and then sees
        // no request in flight cannot miss one admitted in between.
        let in_flight = InFlight::enter(&self.in_flight);
        if self.draining.load(Ordering::SeqCst) {
            return Err(refusal_for(&request.synapse, Status::Unavailable, SHUTTING_DOWN.into()));
        }
        Ok(Admitted { request, body, budget, handler: route.handler, inline: route.inline, facts, started, in_flight })
    }
}

/// A verified neuronet request (QUIC) admitted: its body is protobuf.
pub(super) fn authorize(
    pipeline: &Pipeline,
    head: RequestHead,
    body: Bytes,
    budget: Budget,
    started: Instant,
) -> Result<Admitted, Refusal> {
    pipeline.admit(Authenticated::of(head), Body { bytes: body, encoding: Encoding::Protobuf }, budget, started)
}

/// The built-in blacklist (registration, validator permit, stake) and the axon's own, on an
/// authenticated hotkey.
pub(super) fn blacklisted(pipeline: &Pipeline, hotkey: &Hotkey, facts: Option<&PeerFacts>) -> Result<(), String> {
    let config = &pipeline.config;
    if config.require_registered && !facts.is_some_and(|f| f.registered) {
        return Err(format!("{hotkey} is not registered"));
    }
    if config.require_validator_permit && !facts.is_some_and(|f| f.validator_permit) {
        return Err(format!("{hotkey} has no validator permit"));
    }
    if config.min_stake > 0 && facts.map(|f| f.stake).unwrap_or(0) < config.min_stake {
        return Err(format!("{hotkey} has less than {} rao of stake", config.min_stake));
    }
    match &pipeline.blacklist {
        Some(check) => check(hotkey, facts),
        None => Ok(()),
    }
}

/// Runs an admitted request: priority, the gate, the handler under its timeout, and its answers
/// into `sink`, whatever the wire.
pub(super) async fn handle<S: Sink>(pipeline: Arc<Pipeline>, remote: Remote, sink: S, id: u64, admitted: Admitted) {
    // The body's share of the memory budget is returned when its handler is done (a streaming
    // handler's, when the stream ends).
    let Admitted { request, body, budget, handler, facts, inline: _, started, in_flight: _in_flight } = admitted;
    let Authenticated { caller, synapse, timeout_ms, .. } = request;
    let span = tracing::debug_span!("request", %synapse, %caller, id);
    async move {
        let priority = match &pipeline.priority {
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
        pipeline.metrics.queued.set(pipeline.gate.queued() as i64);
        let timeout = neuronet_synapse::admission::timeout(
            timeout_ms,
            pipeline.config.default_timeout,
            pipeline.config.max_timeout,
        );
        // Writing the answer gets `write_grace` after the deadline at most: a peer that stops
        // reading must not keep the handler slot (or the body's memory) forever.
        let due = tokio::time::Instant::from(started + timeout + pipeline.config.write_grace);
        let answers = Answers { sink: &sink, id, due, started };
        let Ok(permit) = pipeline.gate.admit(priority).await else {
            pipeline.metrics.record(&synapse, 503, started.elapsed().as_secs_f64());
            answers.end(Failure::new(Status::Unavailable, QUEUE_FULL)).await;
            return;
        };
        let ctx = RequestContext { caller, remote, facts, synapse: synapse.clone(), deadline: started + timeout };
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
                        let _ = answers.send(Part::Body(response)).await;
                        Status::Success
                    }
                    Ok(Ok(Err(failure))) => answers.end(failure).await,
                    Ok(Err(_panic)) => {
                        tracing::warn!("handler panicked");
                        answers.end(Failure::new(Status::InternalError, PANICKED)).await
                    }
                    Err(_elapsed) => {
                        answers.end(Failure::new(Status::Timeout, crate::error::timeout_message(timeout))).await
                    }
                }
            }
            Handler::Streaming(handler) => {
                // Boxed: the streaming path's state would otherwise size every unary request's task.
                let holds = (permit, &pipeline.gate, priority, budget);
                Box::pin(stream_response(holds, &answers, handler, ctx, body, timeout)).await
            }
        };
        pipeline.metrics.record(&synapse, status.code(), started.elapsed().as_secs_f64());
    }
    .instrument(span)
    .await
}

/// The message of a 500 for a handler that panicked.
pub(super) const PANICKED: &str = "Internal Server Error: handler panicked";
/// The message of a 503 for a request the priority queue had no room for.
pub(super) const QUEUE_FULL: &str = "axon is at capacity: priority queue is full";

/// Runs a streaming handler, sending its chunks; holds the handler slot (`permit`) while the
/// handler runs, and gives it up while a chunk waits for its caller.
pub(super) async fn stream_response<S: Sink>(
    (permit, gate, priority, request_share): (crate::gate::Permit, &Gate, f64, Budget),
    answers: &Answers<'_, S>,
    handler: StreamFn,
    ctx: RequestContext,
    body: Body,
    timeout: Duration,
) -> Status {
    let deadline = tokio::time::Instant::from(answers.started + timeout);
    let items = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ctx, body)));
    // The handler has its request: the body's share goes to the chunks.
    drop(request_share);
    let items = match items {
        Ok(Ok(items)) => items,
        Ok(Err(failure)) => return answers.end(failure).await,
        Err(_) => return answers.end(Failure::new(Status::InternalError, PANICKED)).await,
    };
    let mut items = std::panic::AssertUnwindSafe(items).catch_unwind().boxed();
    let mut slot = Some(permit);
    loop {
        match tokio::time::timeout_at(deadline, items.next()).await {
            Ok(Some(Ok(Ok(chunk)))) => match answers.try_send(Part::Chunk(chunk)) {
                Ok(()) => {}
                Err(None) => return Status::Unavailable,
                Err(Some(part)) => {
                    // The caller is not taking its chunks (or memory is short): wait without
                    // the handler's slot, so that other requests can run in it meanwhile.
                    drop(slot.take());
                    if answers.send(part).await.is_err() {
                        return Status::Unavailable;
                    }
                    match gate.admit(priority).await {
                        Ok(permit) => {
                            slot.replace(permit);
                        }
                        Err(_) => return answers.end(Failure::new(Status::Unavailable, QUEUE_FULL)).await,
                    }
                }
            },
            Ok(Some(Ok(Err(failure)))) => return answers.end(failure).await,
            Ok(Some(Err(_panic))) => return answers.end(Failure::new(Status::InternalError, PANICKED)).await,
            Ok(None) => return answers.end(Failure::new(Status::Success, "Success")).await,
            Err(_) => return answers.end(Failure::new(Status::Timeout, crate::error::timeout_message(timeout))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuronet_synapse::builtin::TextGeneration;
    use neuronet_synapse::proto::{TextGenerationRequest, TextGenerationResponse};
    use neuronet_synapse::CryptoType;

    /// A sink that keeps what it is sent, as a wire would write it.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<(u64, Part)>>>);

    impl Sink for Kept {
        fn try_send(&self, id: u64, part: Part, _: tokio::time::Instant, _: Instant) -> Result<(), Option<Part>> {
            self.0.lock().unwrap().push((id, part));
            Ok(())
        }
        async fn send(&self, id: u64, part: Part, _: tokio::time::Instant, _: Instant) -> std::io::Result<()> {
            self.0.lock().unwrap().push((id, part));
            Ok(())
        }
    }

    fn key(suri: &str) -> Keypair {
        Keypair::from_suri(suri, CryptoType::Sr25519).unwrap()
    }

    fn pipeline() -> Arc<Pipeline> {
        let axon = Axon::new(key("//Bob"), AxonConfig::default()).serve::<TextGeneration, _, _>(
            |ctx, request: TextGenerationRequest| async move {
                Ok(TextGenerationResponse {
                    text: format!("{} asked {}", ctx.caller, request.prompt),
                    ..Default::default()
                })
            },
        );
        let router = Router::new(axon.handlers);
        Arc::new(Pipeline::new(AxonConfig::default(), key("//Bob").hotkey(), Directory::new(), router))
    }

    fn request(nonce: Nonce) -> Authenticated {
        Authenticated {
            caller: key("//Alice").hotkey(),
            synapse: TextGeneration::NAME.into(),
            nonce: Some(nonce),
            timeout_ms: 0,
        }
    }

    fn budget(pipeline: &Pipeline) -> Budget {
        pipeline.memory.try_take_request(64, None).unwrap()
    }

    #[tokio::test]
    async fn a_json_request_gets_a_json_answer() {
        let pipeline = pipeline();
        let body = Body { bytes: Bytes::from_static(br#"{"prompt": "hi"}"#), encoding: Encoding::Json };
        let admitted = pipeline.admit(request(Nonce::now()), body, budget(&pipeline), Instant::now()).ok().unwrap();
        let kept = Kept::default();
        let remote = Remote { ip: None, peer_id: None };
        handle(pipeline, remote, kept.clone(), 7, admitted).await;
        let kept = kept.0.lock().unwrap();
        let [(7, Part::Body(json))] = &kept[..] else { panic!("one answer body for request 7") };
        let answer: TextGenerationResponse = serde_json::from_slice(json).unwrap();
        assert_eq!(answer.text, format!("{} asked hi", key("//Alice").hotkey()));
    }

    #[tokio::test]
    async fn a_nonce_used_on_one_wire_is_refused_on_another() {
        let pipeline = pipeline();
        let (alice, bob) = (key("//Alice"), key("//Bob"));
        // A signed neuronet request, as the QUIC adapter admits it.
        let body = TextGenerationRequest { prompt: "once".into(), ..Default::default() }.encode_to_vec();
        let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), *bob.hotkey().public(), 1_000);
        head.sign(&alice, &body);
        let nonce = head.nonce;
        let quic = authorize(&pipeline, head, Bytes::from(body), budget(&pipeline), Instant::now());
        assert!(quic.is_ok());
        // The same sender and nonce through another wire's entry point.
        let json = Body { bytes: Bytes::from_static(br#"{"prompt": "twice"}"#), encoding: Encoding::Json };
        let Err(refusal) = pipeline.admit(request(nonce), json, budget(&pipeline), Instant::now()) else {
            panic!("a replayed nonce must be refused")
        };
        assert_eq!(refusal.failure.status, Status::Unauthorized, "{}", refusal.failure.message);
        assert!(refusal.failure.message.contains("already used"), "{}", refusal.failure.message);
    }

    #[tokio::test]
    async fn an_unknown_synapse_is_named_only_after_the_replay_check() {
        let pipeline = pipeline();
        let nonce = Nonce::now();
        let unknown = Authenticated { synapse: "Nope".into(), ..request(nonce) };
        let body = || Body { bytes: Bytes::new(), encoding: Encoding::Protobuf };
        let Err(first) = pipeline.admit(unknown.clone(), body(), budget(&pipeline), Instant::now()) else { panic!() };
        assert_eq!(first.failure.status, Status::NotFound);
        assert!(first.failure.message.contains(TextGeneration::NAME), "{}", first.failure.message);
        let Err(again) = pipeline.admit(unknown, body(), budget(&pipeline), Instant::now()) else { panic!() };
        assert_eq!(again.failure.status, Status::Unauthorized, "{}", again.failure.message);
    }

    #[tokio::test]
    async fn a_request_in_undecodable_json_is_400() {
        let pipeline = pipeline();
        let body = Body { bytes: Bytes::from_static(b"{not json"), encoding: Encoding::Json };
        let admitted = pipeline.admit(request(Nonce::now()), body, budget(&pipeline), Instant::now()).ok().unwrap();
        let kept = Kept::default();
        handle(pipeline, Remote { ip: None, peer_id: None }, kept.clone(), 1, admitted).await;
        let kept = kept.0.lock().unwrap();
        let [(1, Part::End(failure))] = &kept[..] else { panic!("one final status") };
        assert_eq!(failure.status, Status::BadRequest);
        assert!(failure.message.contains("does not decode as TextGeneration"), "{}", failure.message);
    }

    #[test]
    fn the_rate_per_address_is_kept_per_ipv6_64() {
        let axon = Axon::new(key("//Bob"), AxonConfig::default());
        let config = AxonConfig::default().with_rate_per_ip(1).with_rate_per_peer(1_000);
        let pipeline = Pipeline::new(config, key("//Bob").hotkey(), Directory::new(), Router::new(axon.handlers));
        let from = |ip: &str| Remote { ip: Some(ip.parse().unwrap()), peer_id: None };
        assert!(!pipeline.over_rate(&from("2001:db8:1:2::1")));
        // Another address of the same /64 (one host's, usually) shares its rate...
        assert!(pipeline.over_rate(&from("2001:db8:1:2:ffff::9")));
        // ...another /64 has its own, as does an IPv4 address.
        assert!(!pipeline.over_rate(&from("2001:db8:1:3::1")));
        assert!(!pipeline.over_rate(&from("192.0.2.1")));
        assert!(pipeline.over_rate(&from("192.0.2.1")));
        assert!(!pipeline.over_rate(&from("192.0.2.2")));
    }
}
