//! A stream's reader: reads the axon's frames, hands each answer or chunk to the request it
//! answers, and bounds what a streaming answer may buffer.

use super::pool::{PoolStream, StreamReader};
use super::writer::Outgoing;
use crate::io::{read_bytes, read_prefix, skip};
use bytes::Bytes;
use neuronet_synapse::envelope::ResponseHead;
use neuronet_synapse::frame::{FrameKind, FramePrefix};
use neuronet_synapse::{Failure, Status};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub(super) enum Reply {
    Done(ResponseHead, Bytes),
    Chunk(Bytes),
    Failed(Failure),
}

pub(super) enum Pending {
    Unary(oneshot::Sender<Reply>),
    Stream(ChunkSink),
}

/// Where a streaming request's chunks go: the caller's channel, and the bytes of the chunks in
/// it that the caller has not taken yet (bounded by [`DendriteConfig::stream_buffer_bytes`]).
pub(super) struct ChunkSink {
    pub(super) tx: mpsc::Sender<Reply>,
    pub(super) buffered: Arc<AtomicUsize>,
}

/// What a stream's reader accepts from the axon.
#[derive(Clone, Copy)]
pub(super) struct ReadLimits {
    /// [`DendriteConfig::max_response_bytes`].
    pub(super) max_body: u32,
    /// [`DendriteConfig::stream_buffer_bytes`].
    pub(super) stream_buffer_bytes: usize,
    /// [`DendriteConfig::frame_timeout`].
    pub(super) frame_timeout: Duration,
}

/// Reads the rest of a frame whose prefix has arrived, within `timeout`: a frame announced and
/// then sent too slowly (or not at all) would hold every request waiting on the stream. Not an
/// `async fn`, which would hold `read` twice (as its argument and in the timeout) in the
/// future of a stream's reader task.
pub(super) fn rest_of_frame<T>(
    prefix: &FramePrefix,
    timeout: Duration,
    read: impl std::future::Future<Output = std::io::Result<T>>,
) -> impl std::future::Future<Output = std::io::Result<T>> {
    let (header_len, body_len) = (prefix.header_len, prefix.body_len);
    futures::FutureExt::map(tokio::time::timeout(timeout, read), move |read| {
        read.unwrap_or_else(|_| {
            let message = format!(
                "the axon announced a frame of {header_len} header and {body_len} body bytes and did not send it \
                 within {timeout:?} (frame_timeout)"
            );
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
        })
    })
}

pub(super) async fn read_responses(pool: Arc<PoolStream>, mut reader: StreamReader, limits: ReadLimits) {
    let outcome = read_loop(&pool, &mut reader, limits).await;
    let message = match outcome {
        Ok(()) => "axon closed the stream".to_owned(),
        Err(error) => format!("stream failed: {error}"),
    };
    pool.fail_all(Failure::new(Status::Unavailable, message));
}

pub(super) async fn read_loop(pool: &PoolStream, reader: &mut StreamReader, limits: ReadLimits) -> std::io::Result<()> {
    while let Some(prefix) = read_prefix(reader).await? {
        // Boxed: the reader waits for a prefix nearly all the time, and holding a frame's
        // reading inline would keep its 440 bytes in the task while it waits.
        Box::pin(rest_of_frame(&prefix, limits.frame_timeout, read_frame(pool, reader, prefix, limits))).await?;
    }
    Ok(())
}

/// Reads one frame after its prefix and hands it to the request it answers.
pub(super) async fn read_frame(
    pool: &PoolStream,
    reader: &mut StreamReader,
    FramePrefix { kind, request_id, header_len, body_len }: FramePrefix,
    limits: ReadLimits,
) -> std::io::Result<()> {
    let max_body = limits.max_body;
    if body_len > max_body {
        skip(reader, u64::from(header_len) + u64::from(body_len)).await?;
        if let Some(waiter) = pool.take(request_id) {
            let reply = Reply::Failed(Failure::new(
                Status::PayloadTooLarge,
                format!("response body of {body_len} bytes exceeds the limit of {max_body}"),
            ));
            deliver(waiter, reply);
        }
        return Ok(());
    }
    match kind {
        FrameKind::Response => {
            let header = read_bytes(reader, usize::from(header_len)).await?;
            let body = read_bytes(reader, body_len as usize).await?;
            if let Some(waiter) = pool.take(request_id) {
                let reply = match ResponseHead::decode(&header) {
                    Ok(head) => Reply::Done(head, body),
                    Err(e) => Reply::Failed(Failure::new(
                        Status::Unprocessable,
                        format!("response header does not decode: {e}"),
                    )),
                };
                deliver(waiter, reply);
            }
            Ok(())
        }
        FrameKind::Chunk => {
            // Chunks carry no header.
            skip(reader, u64::from(header_len)).await?;
            let sink = pool.pending.lock().ok().and_then(|p| match p.get(&request_id) {
                Some(Pending::Stream(sink)) => Some((sink.tx.clone(), sink.buffered.clone())),
                _ => None,
            });
            let Some((tx, buffered)) = sink else {
                // Nobody waits for it (cancelled, or given up): never held.
                return skip(reader, u64::from(body_len)).await;
            };
            let len = body_len as usize;
            if buffered.load(Ordering::Acquire).saturating_add(len) > limits.stream_buffer_bytes {
                // The caller reads too slowly for this answer: stop it before reading the chunk
                // into memory rather than buffer without bound.
                skip(reader, u64::from(body_len)).await?;
                let message = format!(
                    "streaming answer cancelled: its unread chunks would pass {} bytes (stream_buffer_bytes); \
                     the caller reads slower than the axon sends",
                    limits.stream_buffer_bytes
                );
                cancel_unread(pool, request_id, message);
                return Ok(());
            }
            let body = read_bytes(reader, len).await?;
            buffered.fetch_add(len, Ordering::AcqRel);
            if tx.try_send(Reply::Chunk(body)).is_err() {
                buffered.fetch_sub(len, Ordering::AcqRel);
                let message = format!(
                    "streaming answer cancelled: {} chunks unread (stream_chunk_buffer); the caller reads slower \
                     than the axon sends",
                    tx.max_capacity()
                );
                cancel_unread(pool, request_id, message);
            }
            Ok(())
        }
        _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected frame from the axon")),
    }
}

/// Gives up a streaming request whose caller reads slower than its chunks arrive: the axon is
/// told to stop, and the caller's stream ends after the chunks already buffered with 413 and
/// `message` (a caller that is gone hears nothing).
pub(super) fn cancel_unread(pool: &PoolStream, request_id: u64, message: String) {
    if let Some(waiter) = pool.take(request_id) {
        let _ = pool.enqueue(Outgoing::Cancel(request_id));
        deliver(waiter, Reply::Failed(Failure::new(Status::PayloadTooLarge, message)));
    }
}

pub(super) fn deliver(waiter: Pending, reply: Reply) {
    match waiter {
        Pending::Unary(tx) => {
            let _ = tx.send(reply);
        }
        Pending::Stream(ChunkSink { tx, .. }) => {
            if let Err(mpsc::error::TrySendError::Full(reply)) = tx.try_send(reply) {
                // The final status waits for the caller without holding up the stream's reader.
                tokio::spawn(async move {
                    let _ = tx.send(reply).await;
                });
            }
        }
    }
}
