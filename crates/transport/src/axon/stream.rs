//! The QUIC adapter: one synapse stream's frames read in order (Bind, Request, Cancel),
//! signature batches assembled, and admitted requests handed to the pipeline.

use super::*;

/// A request of an unfinished signature batch, held until the batch's last request arrives.
pub(super) struct Held {
    pub(super) id: u64,
    pub(super) started: Instant,
    pub(super) head: RequestHead,
    pub(super) body: Bytes,
    pub(super) budget: Budget,
    pub(super) checked: Result<(), Refusal>,
}

/// Handlers running for one stream, by request id, so that a Cancel frame or the end of the
/// stream stops them (and frees their slot in the gate).
pub(super) type Running = Arc<Mutex<HashMap<u64, tokio::task::AbortHandle>>>;

/// Per-stream state of the request pipeline.
pub(super) struct StreamState {
    pub(super) peer: PeerId,
    pub(super) writer: Writer,
    /// Whether a Bind frame was accepted on this stream (one per stream).
    pub(super) bound_here: bool,
    /// The hotkey bound here, decoded once for the stream's per-request signatures.
    pub(super) bound_key: Option<VerifyingKey>,
    /// The signature batch being received.
    pub(super) batch: BatchAssembly<Held>,
    pub(super) running: Running,
    /// The caller's address's memory budget, once known.
    pub(super) ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    /// The caller's address, once known.
    pub(super) ip: Option<IpAddr>,
    /// Close the whole connection when the stream ends (it spent its Bind budget).
    pub(super) close_connection: bool,
}

impl StreamState {
    pub(super) fn running(&self) -> std::sync::MutexGuard<'_, HashMap<u64, tokio::task::AbortHandle>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Waits for room in a stream's answer queue; an error when the writer has stopped, or when its
/// peer took none of the writer's bytes (`drained`) for `stall`: the writer would give the
/// stream up soon, and meanwhile the peer's unread requests wait in QUIC's buffers.
pub(super) async fn reserve(writer: &Writer, stall: Duration, drained: &AtomicU64) -> std::io::Result<()> {
    let mut seen = drained.load(Ordering::Relaxed);
    loop {
        match tokio::time::timeout(stall, writer.reserve()).await {
            Ok(Ok(_room)) => return Ok(()),
            Ok(Err(_)) => return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer stopped")),
            Err(_) => {
                let now = drained.load(Ordering::Relaxed);
                if now == seen {
                    let message = format!("the peer took none of its answers for {stall:?}");
                    return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message));
                }
                seen = now;
            }
        }
    }
}

/// Reads with a deadline; a deadline that passes is an error that closes the stream.
pub(super) async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    read: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer too slow"))?,
        None => read.await,
    }
}

pub(super) async fn serve_stream(shared: Arc<Shared>, peer: PeerId, stream: libp2p::Stream) {
    let (reader, writer) = stream.split();
    let mut reader =
        BufReader::with_capacity(shared.pipeline.config.network.stream_read_buffer.max(PREFIX_LEN), reader);
    let (queue, frames) = tokio::sync::mpsc::channel(shared.pipeline.config.write_queue.max(1));
    let network = &shared.pipeline.config.network;
    let limits = WriterLimits {
        stall: network.write_stall,
        min_rate: network.min_drain_rate,
        due: shared.pipeline.config.frame_timeout,
    };
    let drained = Arc::new(AtomicU64::new(0));
    let written = tokio::spawn(run_writer(writer, frames, limits, drained.clone()));
    let writer: Writer = queue;
    let mut state = StreamState {
        peer,
        writer: writer.clone(),
        bound_here: false,
        bound_key: None,
        batch: BatchAssembly::new(),
        running: Running::default(),
        ip_budget: None,
        ip: None,
        close_connection: false,
    };
    let opened = tokio::time::Instant::now();
    // Whether the stream ends because its Bind was refused.
    let mut refused = false;
    loop {
        if state.writer.is_closed() {
            tracing::debug!(%peer, "closing stream: its writer stopped");
            break;
        }
        // A stream must bind in time, and a signature batch must not wait for its next member
        // forever: both would pin memory for a peer that sends nothing.
        let deadline = if !state.bound_here {
            Some(opened + shared.pipeline.config.bind_timeout)
        } else if state.batch.is_holding() {
            Some(tokio::time::Instant::now() + shared.pipeline.config.frame_timeout)
        } else {
            None
        };
        // Backpressure: while this stream's answers are not being taken (its writer's queue is
        // full), read none of its requests. The writer gives the stream up when the peer drains
        // slower than `min_drain_rate` for `write_stall`, which ends the wait here too; so does
        // the deadline, and `write_stall` in which the peer took none of the writer's bytes.
        let stall = shared.pipeline.config.network.write_stall;
        if state.writer.capacity() == 0
            && !matches!(within(deadline, reserve(&state.writer, stall, &drained)).await, Ok(()))
        {
            tracing::debug!(%peer, "closing stream: the peer does not read its answers");
            break;
        }
        // Waiting for the next frame ends early when the writer stops (the peer took none of
        // our bytes for `write_stall`): nothing could answer the frame anyway.
        let next = tokio::select! {
            biased;
            next = within(deadline, read_prefix(&mut reader)) => next,
            () = state.writer.closed() => {
                tracing::debug!(%peer, "closing stream: its writer stopped");
                break;
            }
        };
        let prefix = match next {
            Ok(Some(prefix)) => prefix,
            Ok(None) => break,
            Err(error) => {
                // Garbage, a broken stream or a silent peer: the framing cannot be trusted.
                tracing::debug!(%peer, %error, "closing stream");
                break;
            }
        };
        let frame_deadline = Some(tokio::time::Instant::now() + shared.pipeline.config.frame_timeout);
        let result = match prefix.kind {
            FrameKind::Bind if state.bound_here => {
                tracing::debug!(%peer, "closing stream: a second Bind frame");
                break;
            }
            FrameKind::Bind => within(frame_deadline, on_bind(&shared, &mut state, &mut reader, prefix)).await,
            FrameKind::Request => {
                // Pinned in place: the request's future is a few KB, and handing it to the
                // deadline by value would copy it twice per request.
                let request = std::pin::pin!(on_request(&shared, &mut state, &mut reader, prefix));
                within(frame_deadline, request).await
            }
            FrameKind::Cancel if !state.bound_here || prefix.header_len != 0 || prefix.body_len != 0 => {
                // A Cancel is empty and cancels a request of this stream's binding.
                tracing::debug!(%peer, "closing stream: a Cancel frame before Bind or with contents");
                break;
            }
            FrameKind::Cancel => {
                if shared.pipeline.over_rate(&Remote { ip: state.ip, peer_id: Some(peer) }) {
                    tracing::debug!(%peer, "closing stream: Cancel frames over the rate limit");
                    break;
                }
                // The dendrite stopped waiting: stop the handler too.
                if let Some(task) = state.running().remove(&prefix.request_id) {
                    task.abort();
                }
                Ok(())
            }
            FrameKind::Response | FrameKind::Chunk => {
                tracing::debug!(%peer, "closing stream: a dendrite sent an axon frame");
                break;
            }
        };
        if let Err(error) = result {
            tracing::debug!(%peer, %error, "stream closed");
            refused = error.kind() == std::io::ErrorKind::PermissionDenied;
            break;
        }
    }
    fail_held(&shared, &mut state, Failure::new(Status::Unauthorized, INCOMPLETE_BATCH)).await;
    // Nobody can receive the answers any more.
    for (_, task) in state.running().drain() {
        task.abort();
    }
    if refused {
        // The refusal that says why goes out first (the writer ends once its queue is empty),
        // and the read half stays open until then: dropped, it would stop the peer's writes,
        // and a peer that wrote requests right after its Bind would see that before the reason.
        let close_connection = state.close_connection;
        if close_connection {
            // From now on the peer's frames get no more checks, on any of its streams.
            if let Some(entry) = shared.peers.get().get_mut(&peer) {
                entry.closing = true;
            }
        }
        drop((writer, state));
        let _ = tokio::time::timeout(shared.pipeline.config.frame_timeout, written).await;
        drop(reader);
        if close_connection {
            // Written is not yet delivered: closing the connection at once would lose the
            // refusal that says why. The peer gets `write_grace` to read it.
            let network = shared.network.clone();
            let grace = shared.pipeline.config.write_grace;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                network.disconnect(peer);
            });
        }
    }
}

/// The quota of [`AxonConfig::bind_budget`] and [`AxonConfig::bind_refill`].
pub(super) fn bind_quota(budget: u32, refill: Duration) -> Quota {
    let burst = NonZeroU32::new(budget.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill.max(Duration::from_millis(1)))
        .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// A Bind frame: checked, cheapest first (rates, the connection's Bind budget, then the
/// signature, the hotkey the connection may already be bound to, the blacklist), and answered
/// with the axon's own binding. A refused Bind closes the stream (`Err`) after its refusal is
/// queued: what follows it on the stream was sent in its name.
pub(super) async fn on_bind<R: futures::io::AsyncBufRead + Unpin>(
    shared: &Shared,
    state: &mut StreamState,
    reader: &mut R,
    prefix: FramePrefix,
) -> std::io::Result<()> {
    let started = Instant::now();
    let peer = state.peer;
    let ip = shared.peers.get().get(&peer).and_then(|p| p.ip);
    // Verifying a binding costs a signature check: the rate limits and the budget come first.
    let closing = shared.peers.get().get(&peer).is_some_and(|p| p.closing);
    let early = if closing {
        Some((Status::Unauthorized, CLOSING.to_owned()))
    } else if shared.pipeline.over_rate(&Remote { ip, peer_id: Some(peer) }) {
        Some((Status::TooManyRequests, "rate limit exceeded".to_owned()))
    } else if shared.bind_rate.check_key(&peer).is_err() {
        // A connection that keeps binding is probing or forging: close it.
        state.close_connection = true;
        let budget = shared.pipeline.config.bind_budget;
        Some((Status::TooManyRequests, format!("binding refused: the connection spent its budget of {budget} Binds")))
    } else {
        None
    };
    if let Some((status, message)) = early {
        skip(reader, u64::from(prefix.header_len) + u64::from(prefix.body_len)).await?;
        send_status(&state.writer, prefix.request_id, status, message.as_str(), started).await;
        return Err(bind_refused(&message));
    }
    let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
    skip(reader, u64::from(prefix.body_len)).await?;
    let now_secs = unix_nanos() / 1_000_000_000;
    let mut forged = false;
    let verdict = HotkeyBinding::decode(header)
        .map_err(|e| (Status::Unauthorized, format!("binding refused: binding does not decode: {e}")))
        .and_then(|binding| {
            check_binding(&binding, &peer.to_bytes(), now_secs, shared.pipeline.config.binding_rules)
                .map_err(|e| {
                    // A peer's own software signs its binding for its own PeerId: a signature
                    // that does not verify is a forgery, and the connection gets no more checks.
                    if matches!(e, BindingError::BadSignature(_)) {
                        forged = true;
                    }
                    (Status::Unauthorized, format!("binding refused: {e}"))
                })
                .map(|hotkey| (hotkey, binding.expires_at))
        })
        .and_then(|(hotkey, expires_at)| {
            // Refuse blacklisted hotkeys here already, before they can make the axon buffer anything.
            let facts = shared.pipeline.directory.facts(&hotkey);
            blacklisted(&shared.pipeline, &hotkey, facts.as_ref())
                .map_err(|reason| (Status::Forbidden, format!("Forbidden. Key is blacklisted: {reason}.")))?;
            // One connection speaks for one hotkey: a Bind for another would take the streams
            // already bound from under their requests. The same hotkey's Bind refreshes it.
            let mut peers = shared.peers.get();
            let entry = peers.entry(peer).or_default();
            match entry.bound {
                Some((bound, _)) if bound != hotkey => Err((
                    Status::Unauthorized,
                    format!("binding refused: the connection is already bound to {bound}, not {hotkey}"),
                )),
                bound => {
                    // A refresh never shortens the binding (streams may bind with older copies).
                    let until = bound.map_or(expires_at, |(_, until)| until.max(expires_at));
                    entry.bound = Some((hotkey, until));
                    Ok(hotkey)
                }
            }
        });
    match verdict {
        Ok(hotkey) => {
            state.bound_here = true;
            state.bound_key = hotkey.verifying_key().ok();
            let own = shared.own_binding().encode_to_vec();
            send_frame(&state.writer, FrameKind::Bind, prefix.request_id, own).await
        }
        Err((status, message)) => {
            tracing::debug!(%peer, %message, "binding refused");
            state.close_connection |= forged;
            send_status(&state.writer, prefix.request_id, status, message.as_str(), started).await;
            Err(bind_refused(&message))
        }
    }
}

/// The error that closes a stream after a refused Bind.
pub(super) fn bind_refused(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, message.to_owned())
}

/// Answers a refused request, by the frame timeout: the stream's reader sends it, and a peer that
/// stops reading its answers must not block it forever.
pub(super) async fn refuse(shared: &Shared, writer: &Writer, id: u64, refusal: Refusal, started: Instant) {
    let Refusal { failure, synapse } = refusal;
    // Only served synapse names become metric labels: a peer must not mint label values.
    let label = if shared.pipeline.router.serves(&synapse) { synapse.as_str() } else { "-" };
    shared.pipeline.metrics.record(label, failure.status.code(), started.elapsed().as_secs_f64());
    let due = tokio::time::Instant::now() + shared.pipeline.config.frame_timeout;
    let sink = QuicSink { writer: writer.clone(), memory: shared.pipeline.memory.clone(), ip: None };
    Answers { sink: &sink, id, due, started }.end(failure).await;
}

/// Refuses every request of an unfinished batch, and the members still to come, with `failure`.
pub(super) async fn fail_held(shared: &Shared, state: &mut StreamState, failure: Failure) {
    let broken = state.batch.break_with(failure);
    refuse_broken(shared, state, broken).await;
}

/// Refuses the members of a broken batch.
pub(super) async fn refuse_broken(shared: &Shared, state: &StreamState, broken: Option<Broken<Held>>) {
    let Some(Broken { members, failure }) = broken else { return };
    for Held { id, started, head, body, budget, checked } in members {
        // The body and its share of memory go before the refusal may wait for room.
        drop((body, budget, checked));
        let refusal = refusal_for(&head.synapse, failure.status, failure.message.clone());
        refuse(shared, &state.writer, id, refusal, started).await;
    }
}

pub(super) async fn on_request<R: futures::io::AsyncBufRead + Unpin>(
    shared: &Arc<Shared>,
    state: &mut StreamState,
    reader: &mut R,
    prefix: FramePrefix,
) -> std::io::Result<()> {
    let started = Instant::now();
    let id = prefix.request_id;
    let peer = state.peer;
    let body_len = u64::from(prefix.body_len);
    let rest = u64::from(prefix.header_len) + body_len;
    let peer_state = shared.peers.get().get(&peer).cloned().unwrap_or_default();
    // The address whose budget this stream's requests and answers count against.
    if state.ip_budget.is_none() {
        state.ip_budget.clone_from(&peer_state.ip_budget);
    }
    state.ip = peer_state.ip;

    // 1. Limits that cost nothing: rate, binding, size. Refused bodies are skipped, never buffered.
    let early = if shared.pipeline.over_rate(&Remote { ip: peer_state.ip, peer_id: Some(peer) }) {
        Some((Status::TooManyRequests, "rate limit exceeded".to_owned()))
    } else if peer_state.closing {
        Some((Status::Unauthorized, CLOSING.to_owned()))
    } else if peer_state.bound.is_none() || !state.bound_here {
        Some((Status::Unauthorized, "connection is not bound to a hotkey".to_owned()))
    } else if prefix.body_len > shared.pipeline.config.max_request_bytes {
        let max = shared.pipeline.config.max_request_bytes;
        Some((Status::PayloadTooLarge, format!("request body of {} bytes exceeds the limit of {max}", prefix.body_len)))
    } else {
        None
    };
    if let Some((status, message)) = early {
        skip(reader, rest).await?;
        // An unfinished signature batch cannot complete without this member: refuse it alike.
        fail_held(shared, state, Failure::new(status, message.clone())).await;
        refuse(
            shared,
            &state.writer,
            id,
            Refusal { failure: Failure::new(status, message), synapse: "-".into() },
            started,
        )
        .await;
        return Ok(());
    }

    // 2. The header (at most 4 KiB): shape, then whether this continues a signature batch.
    let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
    let head = match RequestHead::decode(&header) {
        Ok(head) => head,
        Err(e) => {
            skip(reader, body_len).await?;
            fail_held(shared, state, Failure::new(Status::Unauthorized, INCOMPLETE_BATCH)).await;
            let refusal = Refusal { failure: Failure::new(Status::BadRequest, e.to_string()), synapse: "-".into() };
            refuse(shared, &state.writer, id, refusal, started).await;
            return Ok(());
        }
    };
    let batch = BatchAssembly::<Held>::position(&head);
    let max = shared.pipeline.config.max_request_bytes as usize;
    let (broken, verdict) = state.batch.on_header(batch, prefix.body_len as usize, max);
    refuse_broken(shared, state, broken).await;
    if let Err(failure) = verdict {
        // A later member of a refused batch, or a batch over the size limit.
        skip(reader, body_len).await?;
        refuse(shared, &state.writer, id, refusal_of(&head, failure.status, failure.message), started).await;
        return Ok(());
    }
    let Some(budget) = shared.pipeline.memory.try_take_request(prefix.body_len, state.ip_budget.as_ref()) else {
        skip(reader, body_len).await?;
        let message = "axon is at capacity (request memory)";
        fail_held(shared, state, Failure::new(Status::Unavailable, message)).await;
        refuse(shared, &state.writer, id, refusal_of(&head, Status::Unavailable, message.into()), started).await;
        return Ok(());
    };
    let body = read_bytes(reader, prefix.body_len as usize).await?;

    // 3. Receiver, route, binding: no cryptography yet.
    let checked = precheck(&shared.pipeline, peer_state.bound, &head);

    // 4. Signature (alone, or once for a whole batch), then nonce and blacklist.
    match batch {
        None => {
            let mut forged = false;
            let verdict = checked.and_then(|()| {
                if head.auth == AuthMode::PerRequest {
                    shared
                        .pipeline
                        .nonces
                        .check_fresh(head.nonce, unix_nanos())
                        .map_err(|e| refusal_of(&head, Status::Unauthorized, e.to_string()))?;
                    head.verify_with(state.bound_key.as_ref(), &body).map_err(|e| {
                        forged = true;
                        refusal_of(&head, Status::Unauthorized, e.to_string())
                    })?;
                }
                authorize(&shared.pipeline, head, body, budget, started)
            });
            dispatch(shared, state, id, verdict, started).await;
            if forged {
                return Err(forgery(state));
            }
        }
        Some(_) => {
            let len = body.len();
            match state.batch.place(batch, Held { id, started, head, body, budget, checked }, len) {
                Placed::Lone(_) | Placed::Held => {}
                Placed::Complete(members) => {
                    if settle_batch(shared, state, members).await {
                        return Err(forgery(state));
                    }
                }
                Placed::Refused(held, failure) => {
                    let refusal = refusal_of(&held.head, failure.status, failure.message);
                    refuse(shared, &state.writer, held.id, refusal, held.started).await;
                }
            }
        }
    }
    Ok(())
}

/// The refusal of a frame from a peer whose connection is being closed after a forgery.
const CLOSING: &str = "the connection is closing: it sent a forged signature";

/// A request signature that does not verify on a bound stream is a forgery (the peer's own
/// software signs for the hotkey it bound): after its 401 the connection is closed, so that
/// forged signatures cost the axon one check per connection, not one per request.
fn forgery(state: &mut StreamState) -> std::io::Error {
    state.close_connection = true;
    bind_refused("a request signature does not verify: closing the connection")
}

/// Verifies a complete batch once, then admits or refuses each member; true when the batch's
/// signature does not verify (a forgery).
pub(super) async fn settle_batch(shared: &Arc<Shared>, state: &StreamState, held: Vec<Held>) -> bool {
    let now = unix_nanos();
    // No cryptography for a batch with a member that already failed, or a stale nonce: its
    // signature could not admit the batch anyway.
    let fresh = held.iter().all(|h| shared.pipeline.nonces.check_fresh(h.head.nonce, now).is_ok());
    let mut forged = false;
    let all_passed = held.iter().all(|h| h.checked.is_ok());
    let verified = if !fresh {
        Err("signature batch has a nonce outside the freshness window".to_owned())
    } else if !all_passed {
        Err("signature batch has refused requests".to_owned())
    } else {
        let members: Vec<(&RequestHead, &[u8])> = held.iter().map(|h| (&h.head, h.body.as_ref())).collect();
        verify_batch_with(state.bound_key.as_ref(), &members).map_err(|e| {
            forged = true;
            e.to_string()
        })
    };
    for Held { id, started, head, body, budget, checked } in held {
        let verdict = match (&verified, checked) {
            (_, Err(refusal)) => Err(refusal),
            (Err(reason), Ok(_)) => Err(refusal_of(&head, Status::Unauthorized, reason.clone())),
            (Ok(()), Ok(())) => authorize(&shared.pipeline, head, body, budget, started),
        };
        dispatch(shared, state, id, verdict, started).await;
    }
    forged
}

pub(super) async fn dispatch(
    shared: &Arc<Shared>,
    state: &StreamState,
    id: u64,
    verdict: Result<Admitted, Refusal>,
    started: Instant,
) {
    match verdict {
        Ok(_) if state.running().contains_key(&id) => {
            let failure = Failure::new(Status::BadRequest, format!("request id {id} is already in flight"));
            let refusal = Refusal { failure, synapse: "-".to_owned() };
            refuse(shared, &state.writer, id, refusal, started).await;
        }
        Ok(admitted) => {
            let inline = admitted.inline.clone();
            // Streaming answers are spawned: one may have many chunks ready at once.
            let unary = matches!(admitted.handler, Handler::Unary(_));
            let sink = QuicSink {
                writer: state.writer.clone(),
                memory: shared.pipeline.memory.clone(),
                ip: state.ip_budget.clone(),
            };
            let remote = Remote { ip: state.ip, peer_id: Some(state.peer) };
            let work = run(shared.pipeline.clone(), remote, sink, id, admitted, state.running.clone());
            let limit = shared.pipeline.config.inline_poll;
            if !unary || limit.is_zero() || !inline.allowed() {
                track(state, id, work);
                return;
            }
            // First poll here: an answer ready at once (a cheap handler, a refusal) then costs
            // no task, and no wake-up of another worker thread to steal one.
            let mut work = Box::pin(work);
            let polled = Instant::now();
            // Handlers' panics are caught inside; this guards the stream's reader against any
            // other, so that it still cleans up (held batches, running handlers) when it ends.
            let poll = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    std::future::Future::poll(work.as_mut(), cx)
                })))
            })
            .await;
            inline.record(polled.elapsed(), limit);
            match poll {
                Ok(std::task::Poll::Ready(())) => {}
                Ok(std::task::Poll::Pending) => track(state, id, work),
                Err(_panic) => {
                    tracing::warn!(synapse = %inline.synapse, "request panicked outside its handler");
                    let failure = Failure::new(Status::InternalError, "Internal Server Error");
                    let refusal = Refusal { failure, synapse: inline.synapse.clone() };
                    refuse(shared, &state.writer, id, refusal, started).await;
                }
            }
        }
        Err(refusal) => refuse(shared, &state.writer, id, refusal, started).await,
    }
}

/// One admitted request's work on QUIC: the pipeline's handling, then its entry in the stream's
/// running map goes. (The handler's future is built in place inside this one: built outside
/// and moved in, its few KB were copied three times per request.)
async fn run(pipeline: Arc<Pipeline>, remote: Remote, sink: QuicSink, id: u64, admitted: Admitted, running: Running) {
    handle(pipeline, remote, sink, id, admitted).await;
    running.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
}

/// Runs an admitted request's future as a task, recorded so that a Cancel frame can stop it.
pub(super) fn track(state: &StreamState, id: u64, work: impl std::future::Future<Output = ()> + Send + 'static) {
    // Hold the map's lock across the spawn so that the task cannot finish (and remove itself)
    // before its handle is recorded.
    let mut map = state.running();
    let task = tokio::spawn(work);
    map.insert(id, task.abort_handle());
}
