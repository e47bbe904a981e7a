//! The axon's HTTP listener: hotkey-signed requests the way the Python ecosystem sends them
//! (bittensor 10's dendrite, btauth/1, Epistula v2), on TCP beside QUIC, through the axon's one
//! pipeline. The same rate
//! limits, memory budget, replay cache (a nonce used on QUIC is refused here, and the other way
//! round), blacklist, priority gate and handlers serve both wires; bodies are the synapses' JSON
//! form, answers too, and a streaming synapse answers as `text/event-stream`.
//!
//! A request runs as on QUIC, cheapest checks first: the address's rate, the body's size
//! against `max_request_bytes` and the memory budget (before the body is read), then the
//! signature, then the pipeline (replay, blacklist, synapse, priority, handler).

use super::*;
use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use neuronet_synapse::http_auth::{self, HttpCaller, Window};
use std::net::SocketAddr;

/// Where an axon serves HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum HttpListen {
    /// QUIC only.
    #[default]
    Off,
    /// TCP on the first QUIC listen address's IP and port number (a miner announces one
    /// ip:port; QUIC takes it over UDP, HTTP over TCP).
    SamePort,
    /// TCP at this address.
    At(SocketAddr),
}

/// The HTTP status of a failure.
fn status_code(status: Status) -> StatusCode {
    StatusCode::from_u16(status.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A refusal or failure as the listener answers it: the status, and JSON naming it.
fn failure(failure: Failure) -> Response {
    let body = serde_json::json!({ "status": failure.status.code(), "message": failure.message });
    (status_code(failure.status), axum::Json(body)).into_response()
}

/// Headers through the HTTP library's own (case-insensitive) map.
struct Headers<'a>(&'a HeaderMap);

impl http_auth::Headers for Headers<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|value| value.to_str().ok())
    }
}

/// The listener's routes over `shared`'s pipeline, behind tower's layers at the HTTP edge: a
/// trace span per request, a bound on the body's size (413 before it is read, whatever the
/// handler), and a deadline for the answer's head (408).
pub(super) fn router(shared: Arc<Shared>) -> axum::Router {
    let config = &shared.pipeline.config;
    let limit = usize::try_from(config.max_request_bytes).unwrap_or(usize::MAX);
    let deadline = config.frame_timeout + config.max_timeout + config.write_grace;
    axum::Router::new()
        .route("/{synapse}", axum::routing::any(call))
        // The handler reads the body itself, against the limit and the memory budget.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, deadline))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(shared)
}

/// Serves the listener on `listener` until the task is dropped, which closes every connection
/// with it. Each HTTP/1.1 connection has `frame_timeout` to send a request's headers (hyper's
/// timer is set, so a slowloris is closed, idle keep-alive connections too), an HTTP/2 connection
/// at most `http2_max_streams` requests at once, and there are at most `http_max_connections`
/// connections.
pub(super) async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    let app = router(shared.clone());
    let config = &shared.pipeline.config;
    let (header_timeout, streams) = (config.frame_timeout, config.http2_max_streams);
    let room =
        Arc::new(tokio::sync::Semaphore::new(config.http_max_connections.min(tokio::sync::Semaphore::MAX_PERMITS)));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, say: wait a moment rather than spin.
                tracing::debug!(%error, "accepting an HTTP connection failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = room.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "HTTP connection refused: the axon holds its maximum");
            continue;
        };
        let service =
            hyper_util::service::TowerToHyperService::new(app.clone().layer(axum::Extension(ConnectInfo(peer))));
        connections.spawn(async move {
            let _permit = permit;
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
            builder.http2().timer(TokioTimer::new()).max_concurrent_streams(streams);
            if let Err(error) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, %error, "HTTP connection ended");
            }
        });
    }
}

/// Whether reading a body failed on its size limit (rather than on a connection cut short).
fn over_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// The IP address of a peer, IPv4-mapped IPv6 addresses read as IPv4.
fn peer_ip(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        ip => ip,
    }
}

async fn call(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(synapse): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: HttpBody,
) -> Response {
    let started = Instant::now();
    let pipeline = &shared.pipeline;
    let ip = peer_ip(addr);
    let remote = Remote { ip: Some(ip), peer_id: None };
    let refuse = |status: Status, message: &str| {
        let label = if pipeline.router.serves(&synapse) { synapse.as_str() } else { "-" };
        pipeline.metrics.record(label, status.code(), started.elapsed().as_secs_f64());
        failure(Failure::new(status, message))
    };
    if pipeline.over_rate(&remote) {
        return refuse(Status::TooManyRequests, "rate limit exceeded");
    }
    // The body's size and its share of the memory budget before a byte of it is read.
    let limit = pipeline.config.max_request_bytes;
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > u64::from(limit)) {
        return refuse(
            Status::PayloadTooLarge,
            &format!("request of {} bytes exceeds the limit of {limit}", announced.unwrap_or(0)),
        );
    }
    let share = announced.map_or(limit, |len| len as u32);
    let ip_budget = (shared.peers.ip_budget > 0).then(|| shared.peers.ip_budget(ip));
    let Some(budget) = pipeline.memory.try_take_request(share, ip_budget.as_ref()) else {
        return refuse(Status::Unavailable, "the axon's memory budget for requests is spent");
    };
    // A sender that trickles its body is given up at the frame timeout, as on QUIC.
    let read = tokio::time::timeout(pipeline.config.frame_timeout, axum::body::to_bytes(body, limit as usize)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) if over_limit(&error) => {
            return refuse(Status::PayloadTooLarge, &format!("request exceeds the limit of {limit} bytes"));
        }
        Ok(Err(_)) => return refuse(Status::BadRequest, "the request body was cut short"),
        Err(_) => return refuse(Status::Timeout, "the request body did not arrive in time"),
    };
    let wire = Wire::of(&headers);
    let caller = match authenticate(pipeline, wire, &synapse, &method, &uri, &headers, &bytes) {
        Ok(caller) => caller,
        Err(refusal) => return wire.answer(Err(refusal), &bytes, started),
    };
    // A bittensor 10 caller sends the whole synapse and gets it back, its fields answered.
    let request_json = (wire == Wire::V10).then(|| bytes.clone());
    let request = Authenticated {
        caller: caller.hotkey,
        synapse: synapse.clone(),
        nonce: Some(caller.nonce),
        timeout_ms: timeout_ms(&headers),
    };
    let body = Body { bytes, encoding: Encoding::Json };
    let admitted = match pipeline.admit(request, body, budget, started) {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let Refusal { failure: refused, synapse } = refusal;
            let label = if pipeline.router.serves(&synapse) { synapse.as_str() } else { "-" };
            pipeline.metrics.record(label, refused.status.code(), started.elapsed().as_secs_f64());
            return wire.answer(Err(refused), request_json.as_deref().unwrap_or_default(), started);
        }
    };
    let streaming = matches!(admitted.handler, Handler::Streaming(_));
    let (sink, mut answers) = HttpSink::new(pipeline.memory.clone(), ip_budget);
    tokio::spawn(handle(pipeline.clone(), remote, sink, 0, admitted));
    if !streaming {
        // The answer's share of the memory budget is held until hyper takes its bytes.
        let (outcome, share) = match answers.recv().await {
            Some((Part::Body(body), share)) => (Ok(body), share),
            Some((Part::End(failed), share)) => (Err(failed), share),
            Some((Part::Chunk(_), _)) | None => {
                (Err(Failure::new(Status::InternalError, "the handler gave no answer")), None)
            }
        };
        let response = wire.answer(outcome, request_json.as_deref().unwrap_or_default(), started);
        return hold_until_sent(response, share);
    }
    // Chunks as server-sent events, each one JSON, then one final event with the status.
    let events = async_stream(answers);
    let mut response = Response::new(HttpBody::from_stream(events));
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if wire == Wire::V10 {
        // The Python dendrite reads the axon's status from these once the stream is done.
        response.headers_mut().insert("bt_header_axon_status_code", HeaderValue::from(200u16));
        response.headers_mut().insert("bt_header_axon_status_message", HeaderValue::from_static("Success"));
    }
    response
}

/// `response` with `share` of the memory budget held until hyper has taken (or dropped) its
/// body; its size, and so its `Content-Length`, unchanged.
fn hold_until_sent(response: Response, share: Option<Budget>) -> Response {
    let Some(share) = share else { return response };
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, HttpBody::new(Held { body, _share: share }))
}

/// A body that holds its share of the memory budget while it lives.
struct Held {
    body: HttpBody,
    _share: Budget,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The answer's events: `data: <chunk JSON>` per chunk, then `event: end` with the status; each
/// part's share of the memory budget is given back as hyper takes its event.
fn async_stream(
    mut answers: tokio::sync::mpsc::Receiver<(Part, Option<Budget>)>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::poll_fn(move |cx| answers.poll_recv(cx)).scan(false, |ended, (part, _share)| {
        if *ended {
            return futures::future::ready(None);
        }
        let event = match part {
            Part::Chunk(chunk) | Part::Body(chunk) => sse("message", &chunk),
            Part::End(end) => {
                *ended = true;
                let status = serde_json::json!({ "status": end.status.code(), "message": end.message });
                sse("end", status.to_string().as_bytes())
            }
        };
        futures::future::ready(Some(Ok(event)))
    })
}

/// One server-sent event; JSON holds no raw newlines, so one `data:` line carries it.
fn sse(event: &str, data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + event.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend(data.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(HttpBody::from(body));
    response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// How long the caller waits: `X-Neuronet-Timeout-Ms`, or a bittensor 10 caller's `timeout`
/// header (seconds, as float text); 0 for the axon's default.
fn timeout_ms(headers: &HeaderMap) -> u32 {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = text("x-neuronet-timeout-ms").and_then(|v| v.parse().ok()) {
        return ms;
    }
    text(neuronet_synapse::v10::headers::TIMEOUT)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|secs| secs.is_finite() && *secs > 0.0)
        .map_or(0, |secs| (secs * 1000.0).min(f64::from(u32::MAX)) as u32)
}

/// The HTTP wire a request speaks, told by its signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// bittensor 10's dendrite (`bt_header_dendrite_signature`).
    V10,
    /// btauth/1 (`X-Bittensor-Signature`).
    Btauth,
    /// Epistula v2 (`Epistula-Request-Signature`).
    Epistula,
    /// No signature this axon knows.
    Unsigned,
}

impl Wire {
    fn of(headers: &HeaderMap) -> Self {
        if headers.contains_key(neuronet_synapse::v10::headers::DENDRITE_SIGNATURE) {
            Wire::V10
        } else if headers.contains_key(http_auth::btauth_headers::SIGNATURE) {
            Wire::Btauth
        } else if headers.contains_key(http_auth::epistula_headers::SIGNATURE) {
            Wire::Epistula
        } else {
            Wire::Unsigned
        }
    }

    /// The answer to a request on this wire: the handler's JSON (or the failure's) for btauth/1
    /// and Epistula; for a bittensor 10 caller, its own synapse JSON with the answer's fields
    /// over it and the axon's status in its `axon` terminal and `bt_header_axon_*` headers.
    fn answer(self, outcome: Result<Bytes, Failure>, request: &[u8], started: Instant) -> Response {
        if self != Wire::V10 {
            return match outcome {
                Ok(body) => json_response(body),
                Err(failed) => failure(failed),
            };
        }
        let process_time = started.elapsed().as_secs_f64();
        let (status, message, body) = match outcome {
            Ok(answer) => {
                let mut synapse: serde_json::Value =
                    serde_json::from_slice(request).unwrap_or_else(|_| serde_json::json!({}));
                if let (Some(fields), Ok(serde_json::Value::Object(answer))) =
                    (synapse.as_object_mut(), serde_json::from_slice::<serde_json::Value>(&answer))
                {
                    fields.extend(answer);
                    let axon = fields.entry("axon").or_insert_with(|| serde_json::json!({}));
                    if let Some(axon) = axon.as_object_mut() {
                        axon.insert("status_code".into(), 200.into());
                        axon.insert("status_message".into(), "Success".into());
                        axon.insert("process_time".into(), process_time.into());
                    }
                }
                (Status::Success, "Success".to_owned(), synapse.to_string())
            }
            Err(failed) => {
                let body = serde_json::json!({ "message": failed.message }).to_string();
                (failed.status, failed.message, body)
            }
        };
        let mut response = Response::new(HttpBody::from(body));
        *response.status_mut() = status_code(status);
        let headers = response.headers_mut();
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("bt_header_axon_status_code", HeaderValue::from(status.code()));
        if let Ok(message) = HeaderValue::from_str(&message.replace(['\r', '\n'], " ")) {
            headers.insert("bt_header_axon_status_message", message);
        }
        if let Ok(time) = HeaderValue::from_str(&process_time.to_string()) {
            headers.insert("bt_header_axon_process_time", time);
        }
        response
    }
}

/// Who signed the request, by its wire's rules.
fn authenticate(
    pipeline: &Pipeline,
    wire: Wire,
    synapse: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HttpCaller, Failure> {
    let window = Window { max_age: pipeline.config.nonce.max_age, max_skew: pipeline.config.nonce.max_skew };
    let target = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let lookup = Headers(headers);
    let now = unix_nanos();
    match wire {
        Wire::V10 => {
            let fields = pipeline.router.hash_fields(synapse);
            neuronet_synapse::v10::verify_request(body, &fields, &lookup, &pipeline.hotkey, now, window)
        }
        Wire::Btauth => http_auth::verify_btauth(method.as_str(), target, body, &lookup, &pipeline.hotkey, now, window),
        Wire::Epistula => http_auth::verify_epistula(body, &lookup, &pipeline.hotkey, now, window),
        Wire::Unsigned => Err(Failure::new(
            Status::Unauthorized,
            "unsigned request: this axon takes bittensor 10, btauth/1 or Epistula v2 signatures",
        )),
    }
}

/// The pipeline's answers for one HTTP request, through a small queue the response reads, each
/// with its share of the memory budget (as QUIC's answers are charged).
#[derive(Clone)]
struct HttpSink {
    queue: tokio::sync::mpsc::Sender<(Part, Option<Budget>)>,
    memory: Memory,
    ip: Option<Arc<tokio::sync::Semaphore>>,
}

impl HttpSink {
    fn new(
        memory: Memory,
        ip: Option<Arc<tokio::sync::Semaphore>>,
    ) -> (Self, tokio::sync::mpsc::Receiver<(Part, Option<Budget>)>) {
        let (queue, answers) = tokio::sync::mpsc::channel(16);
        (HttpSink { queue, memory, ip }, answers)
    }

    fn len(part: &Part) -> usize {
        match part {
            Part::Body(body) | Part::Chunk(body) => body.len(),
            Part::End(_) => 0,
        }
    }
}

impl Sink for HttpSink {
    fn try_send(
        &self,
        _id: u64,
        part: Part,
        _due: tokio::time::Instant,
        _started: Instant,
    ) -> Result<(), Option<Part>> {
        let share = match Self::len(&part) {
            0 => None,
            len => match self.memory.try_take_answer(len, self.ip.as_ref()) {
                Some(share) => Some(share),
                None => return Err(Some(part)),
            },
        };
        match self.queue.try_send((part, share)) {
            Ok(()) => Ok(()),
            Err(tokio::sync::mpsc::error::TrySendError::Full((part, _))) => Err(Some(part)),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => Err(None),
        }
    }

    async fn send(&self, _id: u64, part: Part, due: tokio::time::Instant, _started: Instant) -> std::io::Result<()> {
        let share = match Self::len(&part) {
            0 => None,
            len => Some(self.memory.take_answer_by(len, self.ip.as_ref(), due).await?),
        };
        tokio::time::timeout_at(due, self.queue.send((part, share)))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the caller is not reading"))?
            .map_err(|_| writer_closed())
    }
}
