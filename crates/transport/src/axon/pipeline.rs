//! The request pipeline after a wire has parsed its envelope: the checks that need no
//! cryptography, the replay check, the blacklist, the synapse, the priority gate and the
//! handler under its timeout.

use super::*;

/// A request that passed every check before the queue.
pub(super) struct Admitted {
    pub(super) head: RequestHead,
    pub(super) body: Bytes,
    pub(super) budget: Budget,
    pub(super) handler: Handler,
    /// The synapse's flag: may its first poll run on the stream's reader task?
    pub(super) inline: Arc<InlineFlag>,
    /// The caller's address's memory budget (set when dispatched).
    pub(super) ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    pub(super) caller: Hotkey,
    pub(super) facts: Option<PeerFacts>,
}

/// Over the per-peer or per-IP rate.
pub(super) fn over_rate(shared: &Shared, peer: &PeerId, ip: Option<IpAddr>) -> bool {
    // Keyed like the connection limits: one IPv6 host usually holds a whole /64.
    shared.peer_rate.check_key(peer).is_err()
        || ip.is_some_and(|ip| shared.ip_rate.check_key(&crate::inbound::ip_key(ip)).is_err())
}

pub(super) type Refusal = (Status, String, String);

pub(super) fn refusal_of(head: &RequestHead, status: Status, message: String) -> Refusal {
    (status, message, head.synapse.clone())
}

/// The checks that need no cryptography: receiver, binding, accepted mode, sender. Which
/// synapses the axon serves is told only to an authenticated caller ([`route`]).
pub(super) fn precheck(shared: &Shared, state: &PeerState, head: &RequestHead) -> Result<(), Refusal> {
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

/// After the signature: the replay check, the blacklist on the authenticated hotkey, then the
/// synapse (404).
pub(super) fn authorize(shared: &Shared, head: RequestHead, body: Bytes, budget: Budget) -> Result<Admitted, Refusal> {
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

pub(super) fn blacklisted(shared: &Shared, hotkey: &Hotkey, facts: Option<&PeerFacts>) -> Result<(), String> {
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
pub(super) async fn run(
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

pub(super) async fn handle(
    shared: Arc<Shared>,
    peer: PeerId,
    writer: Writer,
    id: u64,
    admitted: Admitted,
    started: Instant,
) {
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
pub(super) const PANICKED: &str = "Internal Server Error: handler panicked";

/// Ends a streaming answer with its final status, and returns it.
pub(super) async fn end_stream(
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
pub(super) async fn stream_response(
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
