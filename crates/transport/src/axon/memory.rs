//! The axon's memory budget: request and answer bodies, over all peers and per address.

use super::*;

/// A request or answer body's share of the memory budget, returned when dropped.
pub(super) type Budget = Share;

/// What a request counts against the memory budget at least: a flood of empty requests must not
/// pass for free while their answers pile up.
pub(super) const MIN_REQUEST_SHARE: u32 = 1024;

/// The axon's memory budget, `max_inflight_bytes`, and per address `max_inflight_bytes_per_ip`:
/// request bodies from when they are read until their handler is done (a streaming handler's,
/// until it has its request), answer bodies from when they are ready until they are written.
#[derive(Clone)]
pub(super) struct Memory {
    pub(super) bytes: Arc<tokio::sync::Semaphore>,
    /// The whole budget.
    pub(super) total: u32,
    /// One address's budget.
    pub(super) per_ip: u32,
}

impl Memory {
    pub(super) fn new(total: usize, per_ip: usize) -> Self {
        let fit = |n: usize| n.min(tokio::sync::Semaphore::MAX_PERMITS).min(u32::MAX as usize) as u32;
        let total = fit(total);
        Memory { bytes: Arc::new(tokio::sync::Semaphore::new(total as usize)), total, per_ip: fit(per_ip) }
    }

    /// A request's share, now or never: its size (at least [`MIN_REQUEST_SHARE`], at most the
    /// budget; a body over the whole budget is never admitted).
    pub(super) fn try_take_request(&self, len: u32, ip: Option<&Arc<tokio::sync::Semaphore>>) -> Option<Budget> {
        let share = |budget: u32| (len <= budget).then(|| len.max(MIN_REQUEST_SHARE).min(budget));
        let ip = match ip {
            Some(ip) => Some(ip.clone().try_acquire_many_owned(share(self.per_ip)?).ok()?),
            None => None,
        };
        let axon = self.bytes.clone().try_acquire_many_owned(share(self.total)?).ok()?;
        Some(Share { _axon: axon, _ip: ip })
    }

    /// An answer's share, waiting for one by `deadline`: its size, up to a quarter of each
    /// budget, so that one large answer waiting for its share (a semaphore serves waiters in
    /// order) holds up others only until a quarter of the budget is free. The address's share
    /// comes first, so that an address over its own budget waits without holding the axon's.
    pub(super) async fn take_answer_by(
        &self,
        len: usize,
        ip: Option<&Arc<tokio::sync::Semaphore>>,
        deadline: tokio::time::Instant,
    ) -> std::io::Result<Budget> {
        let (for_ip, for_axon) = self.answer_shares(len);
        let ip = match ip {
            Some(ip) => Some(take_by(ip, for_ip, deadline).await?),
            None => None,
        };
        let axon = take_by(&self.bytes, for_axon, deadline).await?;
        Ok(Share { _axon: axon, _ip: ip })
    }

    /// An answer's share if both budgets have it now.
    pub(super) fn try_take_answer(&self, len: usize, ip: Option<&Arc<tokio::sync::Semaphore>>) -> Option<Budget> {
        let (for_ip, for_axon) = self.answer_shares(len);
        let ip = match ip {
            Some(ip) => Some(ip.clone().try_acquire_many_owned(for_ip).ok()?),
            None => None,
        };
        let axon = self.bytes.clone().try_acquire_many_owned(for_axon).ok()?;
        Some(Share { _axon: axon, _ip: ip })
    }

    /// What an answer of `len` bytes takes of its address's budget and of the axon's.
    pub(super) fn answer_shares(&self, len: usize) -> (u32, u32) {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        (len.min(self.per_ip / 4), len.min(self.total / 4))
    }
}

/// `n` permits of `budget`, waiting for them by `deadline`.
pub(super) async fn take_by(
    budget: &Arc<tokio::sync::Semaphore>,
    n: u32,
    deadline: tokio::time::Instant,
) -> std::io::Result<tokio::sync::OwnedSemaphorePermit> {
    if let Ok(permit) = budget.clone().try_acquire_many_owned(n) {
        return Ok(permit);
    }
    tokio::time::timeout_at(deadline, budget.clone().acquire_many_owned(n))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "axon is at capacity (answer memory)"))?
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "axon closed"))
}
