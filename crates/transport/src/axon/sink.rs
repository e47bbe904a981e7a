//! Queuing answers on a QUIC stream's writer, with their share of the memory budget and
//! the deadline past which writing them helps no one.

use super::*;

/// The queue of a stream's writer task (see [`run_writer`]); bounded by `write_queue`, so that
/// a fast streaming handler waits for the network instead of piling up chunks.
pub(super) type Writer = tokio::sync::mpsc::Sender<OutFrame>;

/// Where a request's answers go: its stream's writer, and the memory budgets they count against
/// (the axon's, and the caller's address's when known).
pub(super) type Out<'a> = (&'a Writer, &'a Memory, Option<&'a Arc<tokio::sync::Semaphore>>);

pub(super) async fn send(
    writer: &Writer,
    kind: FrameKind,
    id: u64,
    header: Vec<u8>,
    body: Bytes,
) -> std::io::Result<()> {
    writer
        .send(OutFrame { kind, id, header, body, held: None })
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer closed"))
}

/// Queues an answer's frame by `deadline`; its body holds a share of `memory` until written, so
/// that answers waiting for a peer that reads slowly (or not at all) count against
/// `max_inflight_bytes` like the requests they answer.
pub(super) async fn send_by(
    deadline: tokio::time::Instant,
    out: Out<'_>,
    kind: FrameKind,
    id: u64,
    header: Vec<u8>,
    body: Bytes,
) -> std::io::Result<()> {
    let frame = OutFrame { kind, id, header, body, held: None };
    match try_send_answer(out, frame, deadline) {
        Ok(()) => Ok(()),
        Err(Some(frame)) => send_waiting(out, frame, deadline).await,
        Err(None) => Err(writer_closed()),
    }
}

/// Queues an answer's frame if its share of memory and room in the queue are there now (no
/// timer needed, the usual case); otherwise hands it back (`None`: the writer has stopped).
pub(super) fn try_send_answer(
    (writer, memory, ip): Out<'_>,
    mut frame: OutFrame,
    deadline: tokio::time::Instant,
) -> Result<(), Option<OutFrame>> {
    if writer.is_closed() {
        return Err(None);
    }
    if !frame.body.is_empty() {
        match memory.try_take_answer(frame.body.len(), ip) {
            Some(share) => frame.held = Some(AnswerHold { share: Some(share), until: deadline }),
            None => return Err(Some(frame)),
        }
    }
    writer.try_send(frame).map_err(|error| match error {
        tokio::sync::mpsc::error::TrySendError::Full(frame) => Some(frame),
        tokio::sync::mpsc::error::TrySendError::Closed(_) => None,
    })
}

/// Queues an answer's frame by `deadline`, waiting for its share of memory and for room.
pub(super) async fn send_waiting(
    (writer, memory, ip): Out<'_>,
    mut frame: OutFrame,
    deadline: tokio::time::Instant,
) -> std::io::Result<()> {
    if frame.held.is_none() && !frame.body.is_empty() {
        let share = memory.take_answer_by(frame.body.len(), ip, deadline).await?;
        frame.held = Some(AnswerHold { share: Some(share), until: deadline });
    }
    tokio::time::timeout_at(deadline, writer.send(frame))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer is not reading"))?
        .map_err(|_| writer_closed())
}

pub(super) fn writer_closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer closed")
}

/// Queues a status answer by `deadline`, which is also when the writer drops it unwritten: a
/// status answers a request, and its caller stops waiting then like for any answer.
pub(super) async fn send_status_by(
    deadline: tokio::time::Instant,
    writer: &Writer,
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
) {
    let frame = status_frame(id, status, message, started, Some(deadline));
    let _ = tokio::time::timeout_at(deadline, writer.send(frame)).await;
}

/// Queues a status answer with no deadline of its own (the writer gives it its default one).
pub(super) async fn send_status(
    writer: &Writer,
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
) {
    let _ = writer.send(status_frame(id, status, message, started, None)).await;
}

/// A status answer's frame, due by `until` when given.
pub(super) fn status_frame(
    id: u64,
    status: Status,
    message: impl Into<String>,
    started: Instant,
    until: Option<tokio::time::Instant>,
) -> OutFrame {
    let mut head = ResponseHead::with_message(status, message);
    head.process_time_us = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
    let held = until.map(|until| AnswerHold { share: None, until });
    OutFrame { kind: FrameKind::Response, id, header: head.encode(), body: Bytes::new(), held }
}
