//! Priority admission: at most `concurrency` handlers run at once; requests beyond that wait in
//! a bounded queue ordered by priority (highest first, then arrival), and are refused when the
//! queue is full. tokio's semaphore is FIFO only, hence this small scheduler.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

struct Waiter {
    priority: f64,
    seq: u64,
    wake: oneshot::Sender<Permit>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        // Higher priority first; among equals, earlier arrival (smaller seq) first.
        self.priority.total_cmp(&other.priority).then_with(|| other.seq.cmp(&self.seq))
    }
}

struct State {
    running: usize,
    queue: BinaryHeap<Waiter>,
    seq: u64,
}

/// The admission gate.
#[derive(Clone)]
pub(crate) struct Gate {
    state: Arc<Mutex<State>>,
    concurrency: usize,
    queue_capacity: usize,
}

/// Held while a handler runs; dropping it admits the next waiter.
pub(crate) struct Permit {
    gate: Option<Gate>,
}

/// The queue is full.
pub(crate) struct QueueFull;

impl Gate {
    pub(crate) fn new(concurrency: usize, queue_capacity: usize) -> Self {
        Gate {
            state: Arc::new(Mutex::new(State { running: 0, queue: BinaryHeap::new(), seq: 0 })),
            concurrency: concurrency.max(1),
            queue_capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a slot; refuses at once when the queue is full.
    pub(crate) async fn admit(&self, priority: f64) -> Result<Permit, QueueFull> {
        let rx = {
            let mut state = self.lock();
            if state.running < self.concurrency {
                state.running += 1;
                return Ok(Permit { gate: Some(self.clone()) });
            }
            if state.queue.len() >= self.queue_capacity {
                // Waiters whose requests were cancelled still sit in the heap: drop them first.
                state.queue.retain(|waiter| !waiter.wake.is_closed());
            }
            if state.queue.len() >= self.queue_capacity {
                return Err(QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            state.seq += 1;
            let seq = state.seq;
            state.queue.push(Waiter { priority, seq, wake: tx });
            rx
        };
        // The permit is handed over by a finishing handler; if the gate is dropped meanwhile the
        // request is refused like a full queue.
        rx.await.map_err(|_| QueueFull)
    }

    fn release(&self) {
        let mut state = self.lock();
        while let Some(waiter) = state.queue.pop() {
            // Hand the running slot straight to the waiter; if it gave up, try the next one.
            match waiter.wake.send(Permit { gate: Some(self.clone()) }) {
                Ok(()) => return,
                Err(mut permit) => permit.gate = None,
            }
        }
        state.running = state.running.saturating_sub(1);
    }

    /// Requests waiting now.
    pub(crate) fn queued(&self) -> usize {
        self.lock().queue.len()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}
