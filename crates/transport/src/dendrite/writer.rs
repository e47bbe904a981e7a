//! A stream's writer: queues requests and cancels, signs what is queued together under one
//! batch signature, and writes the frames.

use super::pool::PoolStream;
use crate::io::{write_frames, OutFrame, Stall};
use bytes::Bytes;
use futures::io::WriteHalf;
use neuronet_synapse::envelope::{sign_batch, RequestHead};
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::payload::MAX_BATCH;
use neuronet_synapse::{Failure, Keypair, Status};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the stream's writer task sends. A request is boxed: the queue keeps its slots while
/// the stream lives (a channel's blocks of 32 of them with the request inline, a `RequestHead`
/// being about 340 bytes, cost 21 KiB per stream to every miner), for one allocation per
/// request.
pub(super) enum Outgoing {
    Request(Box<QueuedRequest>),
    Cancel(u64),
}

/// A request waiting for the stream's writer (signed there, in a batch with its neighbours).
pub(super) struct QueuedRequest {
    pub(super) id: u64,
    pub(super) head: RequestHead,
    pub(super) body: Bytes,
}

/// The frames waiting for a stream's writer task. A queue of its own rather than a channel: a
/// channel's first two blocks of slots (1.5 KiB with its state) stayed with every stream to
/// every miner, where this keeps the few slots a stream's bursts needed.
pub(super) struct Queue {
    pub(super) frames: std::collections::VecDeque<Outgoing>,
    /// Cleared when the stream fails or retires: nothing more is queued, and the writer ends
    /// once it has written what was.
    pub(super) open: bool,
}

pub(super) async fn cancel(stream: &PoolStream, id: u64) {
    // A stream that has failed has no request to cancel.
    let _ = stream.enqueue(Outgoing::Cancel(id));
}

/// How the writer task groups requests under one signature.
#[derive(Clone, Copy)]
pub(super) struct BatchLimits {
    pub(super) body: usize,
    pub(super) total: usize,
}

/// The stream's writer: takes every request queued at the moment, signs them (one batch
/// signature over small requests queued together), and writes their frames in one go.
pub(super) async fn write_requests(
    pool: Arc<PoolStream>,
    mut writer: WriteHalf<libp2p::Stream>,
    signer: Option<Arc<Keypair>>,
    limits: BatchLimits,
    ((stall, min_rate), received): ((Duration, u64), Arc<AtomicU64>),
    refusal_grace: Duration,
) {
    let mut queued = Vec::new();
    let mut buffer = Vec::new();
    loop {
        if !pool.dequeue(&mut queued, 1) {
            return;
        }
        if queued.is_empty() {
            // A frame queued or the queue closed since the check leaves a permit: no wakeup lost.
            pool.queued.notified().await;
            continue;
        }
        if signer.is_some() && pool.pending.lock().is_ok_and(|p| p.len() > 1) {
            // Other requests are in flight, so more are likely on their way: let query tasks
            // that are ready run first, so that their requests join this batch and one
            // signature covers more of them. A lone request does not wait: the yield costs its
            // worker a trip through the scheduler (a few microseconds of its latency).
            tokio::task::yield_now().await;
        }
        let room = MAX_BATCH.saturating_sub(queued.len());
        pool.dequeue(&mut queued, room);
        if let Some(signer) = &signer {
            sign_queued(signer, &mut queued, limits);
        }
        let frames = queued.drain(..).map(|item| match item {
            Outgoing::Request(request) => {
                let QueuedRequest { id, head, body } = *request;
                OutFrame { kind: FrameKind::Request, id, header: head.encode(), body, held: None }
            }
            Outgoing::Cancel(id) => {
                OutFrame { kind: FrameKind::Cancel, id, header: Vec::new(), body: Bytes::new(), held: None }
            }
        });
        // Answers arriving while the axon takes no requests: it is slow (it reads no requests
        // while its answers back up), not gone.
        let mut seen = received.load(Ordering::Relaxed);
        let mut alive = || {
            let now = received.load(Ordering::Relaxed);
            std::mem::replace(&mut seen, now) != now
        };
        let mut stall = Stall::new(stall, min_rate, &mut alive);
        // Boxed: the writer waits for requests nearly all the time, and holding a write inline
        // would keep its 680 bytes in the task while it waits.
        if let Err(error) = Box::pin(write_frames(&mut writer, frames, &mut buffer, &mut stall)).await {
            let failure = Failure::new(Status::Unavailable, format!("sending failed: {error}"));
            Box::pin(give_up(&pool, failure, refusal_grace)).await;
            return;
        }
        if pool.nothing_queued() {
            // Idle, as a stream to each of a validator's miners is nearly always: the gather
            // buffer (as large as the last batch) is not kept for the next request.
            buffer = Vec::new();
        }
    }
}

/// Ends a stream whose sending failed: it takes no more requests, its reader has
/// `grace` (`DendriteConfig::refusal_grace`) to deliver an answer already on its way (a refusal tells the callers more
/// than the failed write), then the requests still waiting are told `failure`.
async fn give_up(pool: &PoolStream, failure: Failure, grace: Duration) {
    pool.alive.store(false, Ordering::Release);
    pool.close_queue();
    if let Some(mut reader) = pool.reader.lock().ok().and_then(|mut r| r.take()) {
        if tokio::time::timeout(grace, &mut reader).await.is_err() {
            reader.abort();
        }
    }
    pool.fail_all(failure);
}

/// Signs queued requests: runs of small requests share one batch signature, large ones are
/// signed alone. Batches are consecutive on the stream, as the axon requires.
pub(super) fn sign_queued(signer: &Keypair, queued: &mut [Outgoing], limits: BatchLimits) {
    fn sign_run(signer: &Keypair, run: &mut Vec<(&mut RequestHead, Bytes)>) {
        let mut members: Vec<(&mut RequestHead, &[u8])> = run.iter_mut().map(|(h, b)| (&mut **h, &b[..])).collect();
        sign_batch(signer, &mut members);
        run.clear();
    }
    let mut run: Vec<(&mut RequestHead, Bytes)> = Vec::new();
    let mut run_bytes = 0;
    for item in queued.iter_mut() {
        let Outgoing::Request(request) = item else { continue };
        let QueuedRequest { head, body, .. } = &mut **request;
        if body.len() > limits.body {
            sign_run(signer, &mut run);
            run_bytes = 0;
            head.sign(signer, body);
            continue;
        }
        if run_bytes + body.len() > limits.total {
            sign_run(signer, &mut run);
            run_bytes = 0;
        }
        run_bytes += body.len();
        run.push((head, body.clone()));
    }
    sign_run(signer, &mut run);
}
