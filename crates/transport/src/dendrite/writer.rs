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
use tokio::sync::mpsc;

/// What the stream's writer task sends. Requests dominate; boxing them to shrink the rare
/// Cancel would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
pub(super) enum Outgoing {
    Request { id: u64, head: RequestHead, body: Bytes },
    Cancel(u64),
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
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    signer: Option<Arc<Keypair>>,
    limits: BatchLimits,
    ((stall, min_rate), received): ((Duration, u64), Arc<AtomicU64>),
) {
    let mut queued = Vec::new();
    let mut buffer = Vec::new();
    while let Some(first) = outgoing.recv().await {
        queued.push(first);
        if signer.is_some() && pool.pending.lock().is_ok_and(|p| p.len() > 1) {
            // Other requests are in flight, so more are likely on their way: let query tasks
            // that are ready run first, so that their requests join this batch and one
            // signature covers more of them. A lone request does not wait: the yield costs its
            // worker a trip through the scheduler (a few microseconds of its latency).
            tokio::task::yield_now().await;
        }
        while queued.len() < MAX_BATCH {
            match outgoing.try_recv() {
                Ok(next) => queued.push(next),
                Err(_) => break,
            }
        }
        if let Some(signer) = &signer {
            sign_queued(signer, &mut queued, limits);
        }
        let frames = queued.drain(..).map(|item| match item {
            Outgoing::Request { id, head, body } => {
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
        if let Err(error) = write_frames(&mut writer, frames, &mut buffer, &mut stall).await {
            pool.fail_all(Failure::new(Status::Unavailable, format!("sending failed: {error}")));
            if let Some(reader) = pool.reader.lock().ok().and_then(|mut r| r.take()) {
                reader.abort();
            }
            return;
        }
    }
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
        let Outgoing::Request { head, body, .. } = item else { continue };
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
