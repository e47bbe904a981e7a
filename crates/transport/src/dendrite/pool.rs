//! A connection's pool of long-lived streams: opening them (each with its Bind frame), picking
//! one for a request, growing the pool when requests queue, and retiring streams whose binding
//! was renewed.

use super::binding::read_binding_answer;
use super::config::Auth;
use super::reader::{deliver, read_responses, Pending, ReadLimits, Reply};
use super::writer::{write_requests, BatchLimits, Outgoing, Queue};
use super::Dendrite;
use crate::io::{write_frame, Counted, LazyBufReader};
use crate::swarm::SYNAPSE_PROTOCOL;
use futures::io::{AsyncReadExt, ReadHalf, WriteHalf};
use libp2p::PeerId;
use neuronet_synapse::frame::{FrameKind, PREFIX_LEN};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::{Failure, Hotkey, Status};
use prost::Message;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(super) struct PoolStream {
    /// The writer task's queue.
    pub(super) queue: Mutex<Queue>,
    /// Wakes the writer task when a frame is queued or the queue closes.
    pub(super) queued: tokio::sync::Notify,
    pub(super) pending: Mutex<HashMap<u64, Pending>>,
    pub(super) alive: AtomicBool,
    /// The task reading the answers, stopped when the writer gives the stream up (it may be
    /// waiting for an answer that can no longer come, from an axon that keeps the stream open).
    /// The reader task takes it out itself while it delivers a refused binding, which the
    /// writer must then leave it to finish.
    pub(super) reader: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Why the stream ended, once it has: what a request that finds it dead is told (a binding
    /// refused while the first request was on its way, say), rather than a bare 503.
    pub(super) ended: Mutex<Option<Failure>>,
    /// When the binding sent in this stream's Bind frame expires (Unix seconds).
    pub(super) bound_until: u64,
    /// Set once a stream with a fresher binding took this one's place: no request is sent on it
    /// any more, and it closes when the last of its requests is done.
    pub(super) retiring: AtomicBool,
}

impl PoolStream {
    /// Ends the stream with `failure`, told to every request still waiting on it (or the reason
    /// the stream already ended with, when one was recorded first: a refused binding).
    pub(super) fn fail_all(&self, failure: Failure) {
        self.end(&failure);
        let failure = self.ended();
        for waiter in self.close() {
            deliver(waiter, Reply::Failed(failure.clone()));
        }
    }

    /// Records why the stream ends (the first reason given stands).
    pub(super) fn end(&self, failure: &Failure) {
        if let Ok(mut ended) = self.ended.lock() {
            ended.get_or_insert_with(|| failure.clone());
        }
    }

    /// Why the stream ended, or a generic 503 when it is not known.
    pub(super) fn ended(&self) -> Failure {
        self.ended
            .lock()
            .ok()
            .and_then(|ended| ended.clone())
            .unwrap_or_else(|| Failure::new(Status::Unavailable, "connection to the axon lost"))
    }

    /// Marks the stream dead, stops its writer and hands back the requests still waiting.
    pub(super) fn close(&self) -> Vec<Pending> {
        self.alive.store(false, Ordering::Release);
        // Closing the queue ends the writer task, which closes our half of the stream.
        self.close_queue();
        self.pending.lock().map(|mut p| p.drain().map(|(_, v)| v).collect()).unwrap_or_default()
    }

    /// Alive and not retired.
    pub(super) fn takes_requests(&self) -> bool {
        self.alive.load(Ordering::Acquire) && !self.retiring.load(Ordering::Acquire)
    }

    pub(super) fn set_reader(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut reader) = self.reader.lock() {
            *reader = Some(task);
        }
    }

    pub(super) fn take(&self, id: u64) -> Option<Pending> {
        let taken = self.pending.lock().ok()?.remove(&id);
        self.close_if_retired();
        taken
    }

    /// Closes a retired stream once no request waits on it: its writer ends and its reader
    /// stops, which drops the stream. Checked under the pending lock, so that a request added
    /// meanwhile either keeps it open or finds its queue gone (and is sent on another stream).
    pub(super) fn close_if_retired(&self) {
        if !self.retiring.load(Ordering::Acquire) {
            return;
        }
        {
            let Ok(pending) = self.pending.lock() else { return };
            if !pending.is_empty() || !self.alive.swap(false, Ordering::AcqRel) {
                return;
            }
            self.close_queue();
        }
        if let Some(reader) = self.reader.lock().ok().and_then(|mut r| r.take()) {
            reader.abort();
        }
    }

    /// Queues a frame for the writer task; hands it back when the stream has failed (so that a
    /// request can go on another stream).
    pub(super) fn enqueue(&self, item: Outgoing) -> Result<(), Outgoing> {
        let Ok(mut queue) = self.queue.lock() else { return Err(item) };
        if !queue.open {
            return Err(item);
        }
        queue.frames.push_back(item);
        drop(queue);
        self.queued.notify_one();
        Ok(())
    }

    /// Takes no more frames; the writer ends once it has written those queued.
    pub(super) fn close_queue(&self) {
        if let Ok(mut queue) = self.queue.lock() {
            queue.open = false;
        }
        self.queued.notify_one();
    }

    /// Moves up to `room` queued frames into `into`; false when the queue is closed and empty.
    pub(super) fn dequeue(&self, into: &mut Vec<Outgoing>, room: usize) -> bool {
        let Ok(mut queue) = self.queue.lock() else { return false };
        let n = queue.frames.len().min(room);
        into.extend(queue.frames.drain(..n));
        queue.open || !queue.frames.is_empty() || n > 0
    }

    pub(super) fn nothing_queued(&self) -> bool {
        self.queue.lock().is_ok_and(|queue| queue.frames.is_empty())
    }
}

pub(super) struct Connection {
    /// The hotkey the axon proved on this connection's first stream; every stream opened on it
    /// later must prove the same.
    pub(super) hotkey: Hotkey,
    pub(super) peer_id: PeerId,
    pub(super) streams: Mutex<Vec<Arc<PoolStream>>>,
    pub(super) next: AtomicUsize,
    /// Whether a further pool stream is being opened.
    pub(super) growing: AtomicBool,
    /// When the freshest binding sent on the connection expires (Unix seconds): the axon holds
    /// the whole connection to the latest Bind of its hotkey, on whichever stream it came.
    pub(super) bound_until: AtomicU64,
    /// Held while the binding is renewed, so that one renewal runs at a time.
    pub(super) renewing: tokio::sync::Mutex<()>,
    /// Whether a background renewal is under way (or backing off after a failure).
    pub(super) renewal_started: AtomicBool,
}

impl Connection {
    pub(super) fn new(hotkey: Hotkey, peer_id: PeerId, first: Arc<PoolStream>) -> Self {
        Connection {
            hotkey,
            peer_id,
            bound_until: AtomicU64::new(first.bound_until),
            streams: Mutex::new(vec![first]),
            next: AtomicUsize::new(0),
            growing: AtomicBool::new(false),
            renewing: tokio::sync::Mutex::new(()),
            renewal_started: AtomicBool::new(false),
        }
    }

    /// Streams still alive and taking requests.
    pub(super) fn live_streams(&self) -> usize {
        self.streams.lock().map(|s| s.iter().filter(|s| s.takes_requests()).count()).unwrap_or(usize::MAX)
    }

    /// Adds a newly opened stream, dropping dead ones; false (and the stream closed) when the
    /// connection has no live stream left, so nothing would ever pick it.
    pub(super) fn add_stream(&self, stream: Arc<PoolStream>) -> bool {
        let Ok(mut streams) = self.streams.lock() else {
            stream.fail_all(Failure::new(Status::Unavailable, "connection lost"));
            return false;
        };
        streams.retain(|s| s.alive.load(Ordering::Acquire));
        if streams.is_empty() {
            drop(streams);
            stream.fail_all(Failure::new(Status::Unavailable, "connection lost"));
            return false;
        }
        self.bound_until.fetch_max(stream.bound_until, Ordering::AcqRel);
        streams.push(stream);
        true
    }

    /// Puts a stream bound with a fresher binding in place of the connection's others, which
    /// finish the requests they carry and then close.
    pub(super) fn renew_with(&self, stream: Arc<PoolStream>) {
        let bound_until = stream.bound_until;
        let retired = match self.streams.lock() {
            Ok(mut streams) => std::mem::replace(&mut *streams, vec![stream]),
            Err(_) => {
                stream.fail_all(Failure::new(Status::Unavailable, "connection lost"));
                return;
            }
        };
        self.bound_until.fetch_max(bound_until, Ordering::AcqRel);
        for old in retired {
            old.retiring.store(true, Ordering::Release);
            old.close_if_retired();
        }
    }

    /// Why the connection has no live stream: the first recorded end of one of its streams.
    pub(super) fn failure(&self) -> Failure {
        let ended = self
            .streams
            .lock()
            .ok()
            .and_then(|streams| streams.iter().find_map(|s| s.ended.lock().ok().and_then(|ended| ended.clone())));
        ended.unwrap_or_else(|| Failure::new(Status::Unavailable, "no live stream to the axon"))
    }

    /// A live stream, round robin.
    pub(super) fn pick(&self) -> Option<Arc<PoolStream>> {
        let streams = self.streams.lock().ok()?;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..streams.len())
            .filter_map(|i| streams.get((start + i) % streams.len()))
            .find(|s| s.takes_requests())
            .cloned()
    }
}

/// The connection to one target hotkey. Queries read `current` without waiting; only
/// (re)connecting takes the async `connecting` lock, so that one dial runs per target.
#[derive(Default)]
pub(super) struct SlotState {
    pub(super) current: Mutex<Option<Arc<Connection>>>,
    /// The PeerId whose binding to this hotkey was last verified: a reconnect that finds it
    /// again sends its first request without waiting for the binding answer.
    pub(super) proven: Mutex<Option<PeerId>>,
    pub(super) connecting: tokio::sync::Mutex<()>,
}

pub(super) type Slot = Arc<SlotState>;

impl Dendrite {
    /// Opens the connection's next pool stream in the background, up to
    /// [`DendriteConfig::streams_per_connection`], one at a time (libp2p-stream keeps only one
    /// pending inbound stream per protocol).
    pub(super) fn grow(&self, conn: &Arc<Connection>) {
        let wanted = self.inner.config.streams_per_connection;
        if conn.live_streams() >= wanted || conn.growing.swap(true, Ordering::AcqRel) {
            return;
        }
        // Counted again now that this call owns the flag: a grow that just finished may have
        // added the stream the first count missed.
        if conn.live_streams() >= wanted {
            conn.growing.store(false, Ordering::Release);
            return;
        }
        let this = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            let timeout = this.inner.config.connect_timeout;
            let backoff = this.inner.config.stream_open_backoff;
            let opened = tokio::time::timeout(timeout, this.open_stream(conn.peer_id, &conn.hotkey)).await;
            drop(this);
            match opened {
                // A stream opened while the connection died (libp2p may even have opened it on a
                // newer connection) is closed rather than kept where nothing picks it.
                Ok(Ok(stream)) => {
                    conn.add_stream(stream);
                }
                _ => tokio::time::sleep(backoff).await,
            }
            conn.growing.store(false, Ordering::Release);
        });
    }

    /// Opens a stream and runs the binding exchange on it, retrying a stream the axon dropped
    /// before answering (libp2p-stream drops inbound streams that arrive in a burst).
    pub(super) async fn open_stream(&self, peer_id: PeerId, expected: &Hotkey) -> Result<Arc<PoolStream>, Failure> {
        let mut attempt = 0u32;
        loop {
            match self.try_open_stream(peer_id, expected).await {
                Err(Failure { status: Status::Unavailable, message }) if attempt < self.inner.config.open_retries => {
                    attempt += 1;
                    tracing::debug!(%peer_id, attempt, %message, "stream dropped before the binding answer, retrying");
                    // Jitter so that many dendrites dropped together do not collide again.
                    let jitter = unix_nanos() % 2_000_000;
                    tokio::time::sleep(Duration::from_nanos(u64::from(attempt) * 1_000_000 + jitter)).await;
                }
                other => return other,
            }
        }
    }

    pub(super) async fn try_open_stream(&self, peer_id: PeerId, expected: &Hotkey) -> Result<Arc<PoolStream>, Failure> {
        let mut bound = self.open_with_bind(peer_id, expected).await?;
        read_binding_answer(&mut bound.reader, peer_id, expected, self.inner.config.frame_timeout).await?;
        Ok(self.start_stream(bound))
    }

    /// Opens a stream whose requests follow its Bind frame without waiting: the reader task
    /// verifies the axon's binding before it reads any answer, and on a refusal fails every
    /// request of the stream (dropping the connection when the axon holds another hotkey).
    pub(super) async fn open_pipelined(
        &self,
        peer_id: PeerId,
        expected: Hotkey,
        slot: Slot,
    ) -> Result<Arc<PoolStream>, Failure> {
        let BoundStream { mut reader, writer, bound_until } = self.open_with_bind(peer_id, &expected).await?;
        let pool = self.start_writer(writer, reader.get_ref().received(), bound_until);
        // Weak: the reader task lives as long as the connection, which must not keep the
        // dendrite (and with it the swarm and the connection) alive after its last handle drops.
        let dendrite = Arc::downgrade(&self.inner);
        let limits = self.read_limits();
        let stream = pool.clone();
        let reader_task = tokio::spawn(async move {
            let pool = stream;
            // Boxed: the exchange is over once the binding is verified, and the task lives on.
            match Box::pin(read_binding_answer(&mut reader, peer_id, &expected, limits.frame_timeout)).await {
                Ok(()) => read_responses(pool, reader, limits).await,
                Err(refusal) => {
                    // Recorded first, so that a writer failing meanwhile tells the refusal too.
                    pool.end(&refusal);
                    // This task must deliver the refusal: the writer may not stop it now.
                    if let Ok(mut reader) = pool.reader.lock() {
                        reader.take();
                    }
                    if let Ok(mut proven) = slot.proven.lock() {
                        *proven = None;
                    }
                    let waiting = pool.close();
                    // The connection is gone before the callers hear of it, so that their next
                    // query dials afresh instead of finding it closing.
                    if let Some(inner) = dendrite.upgrade().filter(|_| refusal.status == Status::Unauthorized) {
                        // Boxed: a refusal is rare, and the reader task lives as long as the stream.
                        Box::pin(Dendrite { inner }.network(&expected).disconnect(peer_id)).await;
                    }
                    for waiter in waiting {
                        deliver(waiter, Reply::Failed(refusal.clone()));
                    }
                }
            }
        });
        pool.set_reader(reader_task);
        Ok(pool)
    }

    /// Opens a synapse stream to `peer_id` and writes the dendrite's Bind frame on it.
    pub(super) async fn open_with_bind(&self, peer_id: PeerId, expected: &Hotkey) -> Result<BoundStream, Failure> {
        let mut control = self.network(expected).control();
        let stream = control
            .open_stream(peer_id, SYNAPSE_PROTOCOL)
            .await
            .map_err(|e| Failure::new(Status::Unavailable, format!("opening a stream to {expected}: {e}")))?;
        let (reader, mut writer) = stream.split();
        let binding = self.binding();
        write_frame(&mut writer, FrameKind::Bind, 0, &binding.encode_to_vec(), &[])
            .await
            .map_err(|e| Failure::new(Status::Unavailable, format!("binding exchange with {expected}: {e}")))?;
        let capacity = self.inner.config.network.stream_read_buffer.max(PREFIX_LEN);
        let reader = LazyBufReader::with_capacity(capacity, Counted::new(reader));
        Ok(BoundStream { reader, writer, bound_until: binding.expires_at })
    }

    /// A pool stream over a bound stream: reader and writer tasks.
    pub(super) fn start_stream(&self, BoundStream { reader, writer, bound_until }: BoundStream) -> Arc<PoolStream> {
        let pool = self.start_writer(writer, reader.get_ref().received(), bound_until);
        let reader_task = tokio::spawn(read_responses(pool.clone(), reader, self.read_limits()));
        pool.set_reader(reader_task);
        pool
    }

    pub(super) fn read_limits(&self) -> ReadLimits {
        let config = &self.inner.config;
        ReadLimits {
            max_body: config.max_response_bytes,
            stream_buffer_bytes: config.stream_buffer_bytes,
            frame_timeout: config.frame_timeout,
        }
    }

    /// A pool stream and its writer task; the caller reads the answers (counted in `received`).
    pub(super) fn start_writer(
        &self,
        writer: WriteHalf<libp2p::Stream>,
        received: Arc<AtomicU64>,
        bound_until: u64,
    ) -> Arc<PoolStream> {
        let pool = Arc::new(PoolStream {
            queue: Mutex::new(Queue { frames: std::collections::VecDeque::new(), open: true }),
            queued: tokio::sync::Notify::new(),
            pending: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
            reader: Mutex::new(None),
            ended: Mutex::new(None),
            bound_until,
            retiring: AtomicBool::new(false),
        });
        let signer = (self.inner.config.auth == Auth::PerRequest).then(|| self.inner.keypair.clone());
        let limits = BatchLimits { body: self.inner.config.batch_body_limit, total: self.inner.config.batch_bytes };
        let network = &self.inner.config.network;
        let stall = (network.write_stall, network.min_drain_rate);
        let grace = self.inner.config.refusal_grace;
        tokio::spawn(write_requests(pool.clone(), writer, signer, limits, (stall, received), grace));
        pool
    }
}

/// A stream's read half, counting what it reads (answers arriving tell the stream's writer that
/// a peer slow to take requests is alive); its buffer exists only while a skip needs it.
pub(super) type StreamReader = LazyBufReader<Counted<ReadHalf<libp2p::Stream>>>;

/// A stream whose Bind frame has been written.
pub(super) struct BoundStream {
    pub(super) reader: StreamReader,
    pub(super) writer: WriteHalf<libp2p::Stream>,
    /// When the binding sent on it expires (Unix seconds).
    pub(super) bound_until: u64,
}
