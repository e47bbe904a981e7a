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
/// (`max_inflight_bytes`), and the moment its caller stops waiting for it, past which writing it
/// helps no one.
pub(crate) struct AnswerHold {
    pub(crate) share: Share,
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

/// When a stream's writer gives up on its peer: after `timeout` in which the peer took none of
/// its bytes (QUIC flow control stayed closed: it is not reading) and `alive` saw no other sign
/// of life (a dendrite counts answers arriving: an axon that is merely slow to take requests
/// while its answers drain is waited for). Waiting longer would only pin what is queued.
pub(crate) struct Stall<'a> {
    pub(crate) timeout: Duration,
    pub(crate) alive: &'a mut (dyn FnMut() -> bool + Send),
}

impl Stall<'_> {
    /// Runs `io` until it completes or the peer has stalled.
    async fn bound<T>(&mut self, io: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
        let mut io = std::pin::pin!(io);
        loop {
            match tokio::time::timeout(self.timeout, io.as_mut()).await {
                Ok(done) => return done,
                Err(_) if (self.alive)() => continue,
                Err(_) => {
                    let message = format!("the peer took no data for {:?}: it is not reading", self.timeout);
                    return Err(io::Error::new(io::ErrorKind::TimedOut, message));
                }
            }
        }
    }
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
        written.extend(frame.held.take().map(|held| held.share));
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

/// Writes all of `bytes`, failing when the peer stalls (a slow peer that takes some now and
/// then is fine: the clock restarts with every byte taken).
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
        bytes = &bytes[n..];
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

/// Most frames taken from the queue for one write.
const DRAIN: usize = 64;

/// A stream's writer task: drains whatever is queued, writes it in one go, repeats until the
/// queue closes or the stream fails or stalls for `stall` (then what is queued is dropped, and
/// the queue's senders see it closed). Answers whose callers stopped waiting are dropped unwritten,
/// and a batch holding answers that cannot be written before the last of their callers stops
/// waiting (a peer that reads, but too slowly for them) ends the stream too.
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::Receiver<OutFrame>,
    stall: Duration,
) {
    let mut frames = Vec::with_capacity(DRAIN);
    let mut buffer = Vec::new();
    while let Some(first) = queue.recv().await {
        frames.push(first);
        while frames.len() < DRAIN {
            match queue.try_recv() {
                Ok(next) => frames.push(next),
                Err(_) => break,
            }
        }
        let now = tokio::time::Instant::now();
        frames.retain(|frame| frame.held.as_ref().is_none_or(|held| held.until > now));
        if frames.is_empty() {
            continue;
        }
        // (Status frames hold nothing and carry no deadline; they ride with the answers.)
        let until = frames.iter().filter_map(|frame| frame.held.as_ref().map(|held| held.until)).max();
        // An axon's peer shows life only by taking its answers.
        let mut stall = Stall { timeout: stall, alive: &mut || false };
        let write = write_frames(&mut writer, frames.drain(..), &mut buffer, &mut stall);
        let written = match until {
            Some(until) => tokio::time::timeout_at(until, write).await.unwrap_or_else(|_| {
                Err(io::Error::new(io::ErrorKind::TimedOut, "answers not taken before their callers stopped waiting"))
            }),
            None => write.await,
        };
        if let Err(error) = written {
            tracing::debug!(%error, "stream writer stopped");
            return;
        }
    }
    let _ = writer.close().await;
}
