//! Where a request's answers go: the [`Sink`] a wire gives the pipeline, and the one way the
//! pipeline sends an answer into it ([`Answers`]). The QUIC sink queues frames on a stream's
//! writer with their share of the memory budget and the deadline past which writing them helps no
//! one.

use super::*;

/// One part of a request's answer.
pub(crate) enum Part {
    /// A unary answer's body (status 200).
    Body(Bytes),
    /// One chunk of a streaming answer.
    Chunk(Bytes),
    /// The final status (a failure, or a streaming answer's end), with its message.
    End(Failure),
}

/// A wire's way to deliver answers. `try_send` is the fast path that needs no timer; `send`
/// waits for room and memory until the answer's `due` time.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Queues `part` for request `id` if there is room and memory now; otherwise hands it back
    /// (`None`: the wire is gone).
    fn try_send(&self, id: u64, part: Part, due: tokio::time::Instant, started: Instant) -> Result<(), Option<Part>>;
    /// Queues `part` for request `id`, waiting until `due` for room and memory.
    fn send(
        &self,
        id: u64,
        part: Part,
        due: tokio::time::Instant,
        started: Instant,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

/// One request's answers: its sink, id, when it arrived and when its caller stops waiting.
pub(crate) struct Answers<'a, S> {
    pub(super) sink: &'a S,
    pub(super) id: u64,
    pub(super) due: tokio::time::Instant,
    pub(super) started: Instant,
}

impl<S: Sink> Answers<'_, S> {
    /// Queues `part` at once if it fits now.
    pub(super) fn try_send(&self, part: Part) -> Result<(), Option<Part>> {
        self.sink.try_send(self.id, part, self.due, self.started)
    }

    /// Queues `part`, waiting for room by the request's deadline.
    pub(super) async fn send(&self, part: Part) -> std::io::Result<()> {
        match self.try_send(part) {
            Ok(()) => Ok(()),
            Err(Some(part)) => self.sink.send(self.id, part, self.due, self.started).await,
            Err(None) => Err(writer_closed()),
        }
    }

    /// Ends the answer with `failure`'s status and message, and returns the status.
    pub(super) async fn end(&self, failure: Failure) -> Status {
        let status = failure.status;
        let _ = self.send(Part::End(failure)).await;
        status
    }
}

/// The queue of a stream's writer task (see [`run_writer`]); bounded by `write_queue`, so that
/// a fast streaming handler waits for the network instead of piling up chunks.
pub(super) type Writer = tokio::sync::mpsc::Sender<OutFrame>;

/// The QUIC sink: a stream's writer, and the memory budgets its answers count against (the
/// axon's, and the caller's address's when known).
#[derive(Clone)]
pub(super) struct QuicSink {
    pub(super) writer: Writer,
    pub(super) memory: Memory,
    pub(super) ip: Option<Arc<tokio::sync::Semaphore>>,
}

impl QuicSink {
    /// `part` as the frame that carries it; a body's share of memory is taken later.
    fn frame(id: u64, part: Part, due: tokio::time::Instant, started: Instant) -> OutFrame {
        let process_time_us = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
        match part {
            Part::Body(body) => {
                let mut head = ResponseHead::new(Status::Success);
                head.process_time_us = process_time_us;
                OutFrame { kind: FrameKind::Response, id, header: head.encode(), body, held: None }
            }
            Part::Chunk(body) => OutFrame { kind: FrameKind::Chunk, id, header: Vec::new(), body, held: None },
            // A status answers a request, and its caller stops waiting for it at `due` like for
            // any answer: the writer drops it unwritten then.
            Part::End(failure) => {
                let mut head = ResponseHead::with_message(failure.status, failure.message);
                head.process_time_us = process_time_us;
                let held = Some(AnswerHold { share: None, until: due });
                OutFrame { kind: FrameKind::Response, id, header: head.encode(), body: Bytes::new(), held }
            }
        }
    }

    /// The bytes of `part` that count against the memory budget.
    fn body_len(part: &Part) -> usize {
        match part {
            Part::Body(body) | Part::Chunk(body) => body.len(),
            Part::End(_) => 0,
        }
    }

    /// `part`'s share of memory now, or `Err` to wait for it; `None` when it needs none.
    fn try_share(&self, part: &Part) -> Result<Option<Share>, ()> {
        match Self::body_len(part) {
            0 => Ok(None),
            len => self.memory.try_take_answer(len, self.ip.as_ref()).map(Some).ok_or(()),
        }
    }
}

impl Sink for QuicSink {
    fn try_send(&self, id: u64, part: Part, due: tokio::time::Instant, started: Instant) -> Result<(), Option<Part>> {
        // Answers waiting for a peer that reads slowly (or not at all) count against the memory
        // budget like the requests they answer.
        let Ok(share) = self.try_share(&part) else { return Err(Some(part)) };
        let room = match self.writer.try_reserve() {
            Ok(room) => room,
            Err(tokio::sync::mpsc::error::TrySendError::Full(())) => return Err(Some(part)),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(())) => return Err(None),
        };
        let mut frame = Self::frame(id, part, due, started);
        if let Some(share) = share {
            frame.held = Some(AnswerHold { share: Some(share), until: due });
        }
        room.send(frame);
        Ok(())
    }

    async fn send(&self, id: u64, part: Part, due: tokio::time::Instant, started: Instant) -> std::io::Result<()> {
        let share = match Self::body_len(&part) {
            0 => None,
            len => Some(self.memory.take_answer_by(len, self.ip.as_ref(), due).await?),
        };
        let room = tokio::time::timeout_at(due, self.writer.reserve())
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "peer is not reading"))?
            .map_err(|_| writer_closed())?;
        let mut frame = Self::frame(id, part, due, started);
        if let Some(share) = share {
            frame.held = Some(AnswerHold { share: Some(share), until: due });
        }
        room.send(frame);
        Ok(())
    }
}

/// Queues a frame that answers no request's deadline (the Bind answer, a refusal before the
/// request is known); the writer gives it its default one.
pub(super) async fn send_frame(writer: &Writer, kind: FrameKind, id: u64, header: Vec<u8>) -> std::io::Result<()> {
    writer.send(OutFrame { kind, id, header, body: Bytes::new(), held: None }).await.map_err(|_| writer_closed())
}

/// A status answer's frame with no deadline of its own (see [`send_frame`]).
pub(super) async fn send_status(writer: &Writer, id: u64, status: Status, message: &str, started: Instant) {
    let mut head = ResponseHead::with_message(status, message);
    head.process_time_us = started.elapsed().as_micros().try_into().unwrap_or(u64::MAX);
    let _ = send_frame(writer, FrameKind::Response, id, head.encode()).await;
}

pub(super) fn writer_closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stream writer closed")
}
