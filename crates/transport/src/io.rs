//! Moving frames over a libp2p stream: read a prefix, read or skip a known number of bytes,
//! write a frame without copying its body.

use bytes::{Bytes, BytesMut};
use futures::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use neuronet_synapse::frame::{encode_head, FrameError, FrameKind, FramePrefix, PREFIX_LEN};
use std::io;
use std::time::Duration;
use tokio::sync::mpsc;

/// Reads the next frame prefix; `Ok(None)` on a clean end of stream.
pub(crate) async fn read_prefix<R: AsyncRead + Unpin>(reader: &mut R) -> io::Result<Option<FramePrefix>> {
    let mut buf = [0u8; PREFIX_LEN];
    let mut filled = 0;
    while filled < PREFIX_LEN {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            return if filled == 0 { Ok(None) } else { Err(io::ErrorKind::UnexpectedEof.into()) };
        }
        filled += n;
    }
    FramePrefix::parse(&buf).map(Some).map_err(|e: FrameError| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Bodies up to this size are read into a buffer of their whole size at once; a larger one's
/// buffer starts at this size and doubles as its bytes arrive.
const FIRST_READ: usize = 64 * 1024;

/// Reads exactly `len` bytes. `len` is announced by the peer, so memory follows the bytes that
/// actually arrive (at most twice them, past the first 64 KiB), not the announcement: a peer that
/// announces 64 MiB and sends nothing costs 64 KiB. A small body (a 1 KiB request, the hot path)
/// is one allocation and one read, never copied.
pub(crate) async fn read_bytes<R: AsyncRead + Unpin>(reader: &mut R, len: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(len.min(FIRST_READ));
    reader.read_exact(&mut buf).await?;
    while buf.len() < len {
        let filled = buf.len();
        buf.resize(len.min(filled.saturating_mul(2)), 0);
        if let Some(rest) = buf.get_mut(filled..) {
            reader.read_exact(rest).await?;
        }
    }
    Ok(buf.freeze())
}

/// Discards `len` bytes as they arrive, a buffer at a time, so a refused body is never held
/// whole. Consuming the reader's own buffer needs no scratch space: an array here would sit in
/// every future that may skip (the axon's per-request future was 17.6 KB with a 16 KiB one, and
/// it moves a few times per request).
pub(crate) async fn skip<R: AsyncBufRead + Unpin>(reader: &mut R, mut len: u64) -> io::Result<()> {
    while len > 0 {
        let available = reader.fill_buf().await?.len();
        if available == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = available.min(usize::try_from(len).unwrap_or(usize::MAX));
        reader.consume_unpin(n);
        len -= n as u64;
    }
    Ok(())
}

/// Writes one frame: prefix and header in one buffer, then the body as is.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    kind: FrameKind,
    request_id: u64,
    header: &[u8],
    body: &[u8],
) -> io::Result<()> {
    let head = encode_head(kind, request_id, header, body.len());
    if body.len() <= 16 * 1024 {
        // One write for small frames: fewer QUIC packets and wakeups.
        let mut all = head;
        all.extend_from_slice(body);
        writer.write_all(&all).await?;
    } else {
        writer.write_all(&head).await?;
        writer.write_all(body).await?;
    }
    writer.flush().await
}

/// A frame queued for a stream's writer task.
pub(crate) struct OutFrame {
    pub(crate) kind: FrameKind,
    pub(crate) id: u64,
    pub(crate) header: Vec<u8>,
    pub(crate) body: Bytes,
    /// What an answer holds until it is written: see [`AnswerHold`].
    pub(crate) held: Option<AnswerHold>,
}

/// What an axon's answer holds until it has been written: its body's share of the memory budget
/// (`max_inflight_bytes`; a status answer has none), and the moment its caller stops waiting
/// for it, past which writing it helps no one.
pub(crate) struct AnswerHold {
    pub(crate) share: Option<Share>,
    pub(crate) until: tokio::time::Instant,
}

/// A body's share of an axon's memory budget: of the axon-wide budget and, for a peer whose
/// address is known, of its IP address's. Both go back when it is dropped.
pub(crate) struct Share {
    pub(crate) _axon: tokio::sync::OwnedSemaphorePermit,
    pub(crate) _ip: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Bodies up to this size are gathered with their neighbours into one write; larger ones are
/// written as they are, never copied.
const GATHER_LIMIT: usize = 64 * 1024;

/// When a stream's writer gives up on its peer: when, over a whole `timeout` with bytes
/// pending, the peer took fewer than `min_rate` bytes a second of them (QUIC flow control stayed
/// all but closed: it is not reading, or reads a few KiB now and then, which would otherwise pin
/// what is queued and what QUIC holds for it for as long as it likes), and `alive` saw no other
/// sign of life (a dendrite counts answers arriving: an axon that is merely slow to take requests
/// while its answers drain is waited for). A peer that reads at `min_rate` or faster, however
/// slow its link, is waited for.
pub(crate) struct Stall<'a> {
    timeout: Duration,
    min_rate: u64,
    alive: &'a mut (dyn FnMut() -> bool + Send),
    /// The current window: when it started, and what the peer took since.
    since: tokio::time::Instant,
    taken: u64,
    /// A running count of the bytes the peer took, for others to watch.
    drained: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl<'a> Stall<'a> {
    /// A stall clock starting now.
    pub(crate) fn new(timeout: Duration, min_rate: u64, alive: &'a mut (dyn FnMut() -> bool + Send)) -> Self {
        Stall { timeout, min_rate, alive, since: tokio::time::Instant::now(), taken: 0, drained: None }
    }

    /// Starts a new window now (nothing was pending before: idle time is no stall).
    fn restart(&mut self) {
        self.since = tokio::time::Instant::now();
        self.taken = 0;
    }

    /// Counts `n` bytes the peer took.
    fn took(&mut self, n: usize) {
        self.taken = self.taken.saturating_add(n as u64);
        if let Some(drained) = &self.drained {
            drained.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Runs `io` until it completes or the peer has stalled.
    async fn bound<T>(&mut self, io: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
        let mut io = std::pin::pin!(io);
        loop {
            match tokio::time::timeout_at(self.since + self.timeout, io.as_mut()).await {
                Ok(done) => return done,
                Err(_) if drained_enough(self.taken, self.min_rate, self.timeout) || (self.alive)() => self.restart(),
                Err(_) => {
                    let message = format!(
                        "the peer took {} bytes in {:?}, less than {} bytes/s: it is not reading",
                        self.taken, self.timeout, self.min_rate
                    );
                    return Err(io::Error::new(io::ErrorKind::TimedOut, message));
                }
            }
        }
    }
}

/// Whether a peer that took `taken` bytes over a stall window of `window` drained at `min_rate`
/// bytes a second at least. At least one byte is always needed, so that a zero rate means "any
/// progress" and a zero window cannot pass for progress.
pub(crate) fn drained_enough(taken: u64, min_rate: u64, window: Duration) -> bool {
    let needed = u128::from(min_rate).saturating_mul(window.as_millis()) / 1000;
    u128::from(taken) >= needed.max(1)
}

/// Writes `frames` with as few writes as possible and one flush; fails when the peer stalls.
pub(crate) async fn write_frames<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frames: impl IntoIterator<Item = OutFrame>,
    buffer: &mut Vec<u8>,
    stall: &mut Stall<'_>,
) -> io::Result<()> {
    buffer.clear();
    // Budget shares go back once their bytes are written, not when they are buffered.
    let mut written = Vec::new();
    for mut frame in frames {
        written.extend(frame.held.take().and_then(|held| held.share));
        let head = encode_head(frame.kind, frame.id, &frame.header, frame.body.len());
        if frame.body.len() > GATHER_LIMIT {
            if !buffer.is_empty() {
                write_all_within(writer, buffer, stall).await?;
                buffer.clear();
            }
            write_all_within(writer, &head, stall).await?;
            write_all_within(writer, &frame.body, stall).await?;
        } else {
            buffer.extend_from_slice(&head);
            buffer.extend_from_slice(&frame.body);
        }
    }
    if !buffer.is_empty() {
        write_all_within(writer, buffer, stall).await?;
        buffer.clear();
    }
    stall.bound(writer.flush()).await
}

/// Writes all of `bytes`, failing when the peer stalls (takes less than the stall's minimum
/// rate over a whole window; a slow peer that keeps up that rate is fine).
async fn write_all_within<W: AsyncWrite + Unpin>(
    writer: &mut W,
    mut bytes: &[u8],
    stall: &mut Stall<'_>,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = stall.bound(writer.write(bytes)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        stall.took(n);
        bytes = bytes.get(n..).unwrap_or_default();
    }
    Ok(())
}

/// A stream's read half that counts the bytes it delivers, for [`Stall::alive`].
pub(crate) struct Counted<R> {
    inner: R,
    received: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R> Counted<R> {
    pub(crate) fn new(inner: R) -> Self {
        Counted { inner, received: Default::default() }
    }

    /// The running count of bytes read.
    pub(crate) fn received(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.received.clone()
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &polled {
            this.received.fetch_add(*n as u64, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

/// A buffered reader whose buffer exists only while it holds bytes. Reads go straight into the
/// caller's buffer (a frame's prefix, header and body each in one read, without a copy), so a
/// stream waiting for its next frame holds no buffer at all; only skipping (through
/// [`AsyncBufRead`]) fills a buffer of `capacity` bytes, given back once its bytes are consumed.
/// A dendrite holds one such reader per stream to every miner, idle nearly all the time.
pub(crate) struct LazyBufReader<R> {
    inner: R,
    buffer: Vec<u8>,
    /// What of `buffer` is consumed.
    pos: usize,
    capacity: usize,
}

impl<R> LazyBufReader<R> {
    /// A reader whose skips go through a buffer of `capacity` bytes (at least one).
    pub(crate) fn with_capacity(capacity: usize, inner: R) -> Self {
        LazyBufReader { inner, buffer: Vec::new(), pos: 0, capacity: capacity.max(1) }
    }

    pub(crate) fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The bytes buffered and not yet consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.buffer.get(self.pos..).unwrap_or_default()
    }

    fn consumed(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buffer.len());
        if self.pos == self.buffer.len() {
            // Drained: the buffer goes back until the next skip.
            self.buffer = Vec::new();
            self.pos = 0;
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LazyBufReader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        let this = &mut *self;
        let buffered = this.buffered();
        if buffered.is_empty() {
            return std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = buffered.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), buffered.get(..n)) {
            to.copy_from_slice(from);
        }
        this.consumed(n);
        std::task::Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for LazyBufReader<R> {
    fn poll_fill_buf(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.buffered().is_empty() {
            let mut buffer = std::mem::take(&mut this.buffer);
            buffer.resize(this.capacity, 0);
            let filled = match std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut buffer) {
                std::task::Poll::Ready(Ok(n)) => n,
                // Nothing held while waiting.
                other => return other.map_ok(|_| &[][..]),
            };
            if filled == 0 {
                // End of stream: nothing to keep.
                return std::task::Poll::Ready(Ok(&[]));
            }
            buffer.truncate(filled);
            (this.buffer, this.pos) = (buffer, 0);
        }
        std::task::Poll::Ready(Ok(this.buffered()))
    }

    fn consume(self: std::pin::Pin<&mut Self>, amt: usize) {
        self.get_mut().consumed(amt);
    }
}

/// Most frames taken from the queue for one write.
const DRAIN: usize = 64;

/// How an axon's stream writer treats a peer (from [`crate::NetworkConfig`] and the axon's
/// `frame_timeout`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriterLimits {
    /// `write_stall`: the window over which the peer's drain rate is measured.
    pub(crate) stall: Duration,
    /// `min_drain_rate`, bytes a second.
    pub(crate) min_rate: u64,
    /// When a frame queued without a deadline of its own (a Bind answer) is due, counted from
    /// when the writer takes it.
    pub(crate) due: Duration,
}

/// A stream's writer task: drains whatever is queued, writes it in one go, repeats until the
/// queue closes or the stream fails or stalls (see [`Stall`]; then what is queued is dropped,
/// and the queue's senders see it closed). Answers whose callers stopped waiting, status answers
/// included, are dropped unwritten, and a batch that cannot be written before the last of its
/// callers stops waiting (a peer that reads, but too slowly for them) ends the stream too.
/// `drained` counts the bytes the peer took, for the stream's reader waiting for room.
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::Receiver<OutFrame>,
    limits: WriterLimits,
    drained: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut frames = Vec::with_capacity(DRAIN);
    let mut buffer = Vec::new();
    // An axon's peer shows life only by taking its answers.
    let mut never = || false;
    let mut stall = Stall::new(limits.stall, limits.min_rate, &mut never);
    stall.drained = Some(drained);
    loop {
        // The drain rate is measured while bytes are pending: a wait for answers restarts it.
        let first = match queue.try_recv() {
            Ok(first) => first,
            Err(mpsc::error::TryRecvError::Empty) => match queue.recv().await {
                Some(first) => {
                    stall.restart();
                    first
                }
                None => break,
            },
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        };
        frames.push(first);
        while frames.len() < DRAIN {
            match queue.try_recv() {
                Ok(next) => frames.push(next),
                Err(_) => break,
            }
        }
        let now = tokio::time::Instant::now();
        let until = due(&mut frames, now, limits.due);
        let Some(until) = until else { continue };
        let write = write_frames(&mut writer, frames.drain(..), &mut buffer, &mut stall);
        let written = tokio::time::timeout_at(until, write).await.unwrap_or_else(|_| {
            Err(io::Error::new(io::ErrorKind::TimedOut, "answers not taken before their callers stopped waiting"))
        });
        if let Err(error) = written {
            tracing::debug!(%error, "stream writer stopped");
            return;
        }
    }
    let _ = writer.close().await;
}

/// Drops the frames of a batch whose callers stopped waiting (by `now`), giving the frames
/// queued without a deadline one of `due` from now; the deadline of the batch (its last), or
/// `None` when nothing is left to write.
fn due(frames: &mut Vec<OutFrame>, now: tokio::time::Instant, due: Duration) -> Option<tokio::time::Instant> {
    for frame in frames.iter_mut() {
        frame.held.get_or_insert(AnswerHold { share: None, until: now + due });
    }
    frames.retain(|frame| frame.held.as_ref().is_some_and(|held| held.until > now));
    frames.iter().filter_map(|frame| frame.held.as_ref().map(|held| held.until)).max()
}
