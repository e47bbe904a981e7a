//! The nonce guard: a freshness window plus a replay cache that gives each sender a bounded share.
//!
//! Nonces are timestamps (nanoseconds since the Unix epoch). A nonce is fresh when it is at most
//! `max_age` older than the newest clock reading the guard has seen and at most `max_skew` ahead of
//! the current one. Each sender has a window: a floor plus the exact set of its nonces above it.
//! A nonce at or below the floor, or in the set, is refused; a full window raises its floor instead
//! of forgetting a nonce, so no replay is ever admitted and a flooding sender only narrows its own
//! window.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::payload::Nonce;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Older than the window allows.
    #[error("nonce is too old: {age_ms} ms old, the window is {max_age_ms} ms")]
    Stale {
        /// How old, in milliseconds, against the newest clock reading the guard has seen.
        age_ms: u64,
        /// The window, in milliseconds.
        max_age_ms: u64,
    },
    /// Further in the future than the allowed clock skew.
    #[error("nonce is {ahead_ms} ms in the future, more than the allowed skew of {max_skew_ms} ms")]
    Future {
        /// How far ahead, in milliseconds.
        ahead_ms: u64,
        /// The allowed skew, in milliseconds.
        max_skew_ms: u64,
    },
    /// Seen before from the same sender.
    #[error("nonce was already used by this sender (replay)")]
    Replayed,
    /// At or below the sender's floor: older than every nonce its share still remembers, so it
    /// cannot be told apart from a replay.
    #[error("nonce is older than every nonce still remembered for this sender (at most {per_sender_capacity} are)")]
    Overtaken {
        /// The configured share of one sender.
        per_sender_capacity: usize,
    },
    /// The replay cache is full of live entries from senders that each hold one, so there is no
    /// share to take room from; try again shortly.
    #[error("replay cache is full ({capacity} live nonces)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
}

/// Nonce guard limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NonceGuardConfig {
    /// Oldest acceptable nonce. Default 10 s, as btauth/1 verifiers use.
    pub max_age: Duration,
    /// Furthest acceptable nonce in the future, for clock skew. Default 2 s.
    pub max_skew: Duration,
    /// Most live nonces remembered at once, over all senders, each sender's window counting as 8
    /// nonces more (what its bookkeeping weighs). Default 1,048,576: about 20 MiB when a few busy
    /// senders fill it, about 30 MiB at worst (every window holding one nonce), both measured;
    /// room for 85k requests/s over the 12 s window. When it is reached, the room comes from the
    /// senders holding the most, whose floors rise; a nonce is refused with [`NonceError::Full`]
    /// only when every sender holds one.
    pub capacity: usize,
    /// Most nonces remembered for one sender. Default 65,536: a sender at the benchmark's 40k
    /// signed requests/s keeps 1.6 s of tolerance for nonces arriving out of order, and a flooding
    /// sender holds a sixteenth of `capacity`, so sixteen flooders fill it before anyone's floor
    /// is raised for someone else. Past it, the sender's floor rises to its oldest nonce.
    pub per_sender_capacity: usize,
    /// Number of independently locked shards. Default 16.
    pub shards: usize,
}

impl Default for NonceGuardConfig {
    fn default() -> Self {
        NonceGuardConfig {
            max_age: Duration::from_secs(10),
            max_skew: Duration::from_secs(2),
            capacity: 1 << 20,
            per_sender_capacity: 1 << 16,
            shards: 16,
        }
    }
}

impl NonceGuardConfig {
    /// Sets `max_age`. Default 10 s, as btauth/1 verifiers use.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
    /// Sets `max_skew`. Default 2 s.
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }
    /// Sets `capacity`. Default 1,048,576: about 20 MiB when a few busy senders fill it,
    /// about 30 MiB at worst (every window holding one nonce), both measured; room for 85k
    /// requests/s over the 12 s window.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
    /// Sets `per_sender_capacity` (at least 1). Default 65,536: a sender at the benchmark's
    /// 40k signed requests/s keeps 1.6 s of tolerance for nonces arriving out of order, and
    /// a flooding sender holds a sixteenth of `capacity`, so sixteen flooders fill it
    /// before anyone's floor is raised for someone else.
    pub fn with_per_sender_capacity(mut self, per_sender_capacity: usize) -> Self {
        self.per_sender_capacity = per_sender_capacity.max(1);
        self
    }
    /// Sets the number of shards (at least 1). Default 16.
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }
}

/// How many expiry periods `max_age` is split into: an idle sender is forgotten at most one
/// period after its newest nonce left the window.
const EXPIRY_PERIODS: u64 = 4;

/// How many nonces a sender's window weighs against `capacity`. Measured: a window's own
/// bookkeeping (its table slot, its size-index entry, its first B-tree node) takes about 250
/// bytes, a nonce 20 to 30, so a cache of one-nonce senders stays within the memory of a full one.
const WINDOW_WEIGHT: usize = 8;

/// Expiry records a check works off before its own, so none holds its lock for long.
const SWEEP_PER_CHECK: usize = 32;

/// One sender's share of a shard.
struct SenderWindow {
    /// Nonces at or below it are refused; raised when the window is full.
    floor: Option<u64>,
    /// Every accepted nonce above the floor that is still inside the window.
    nonces: BTreeSet<u64>,
    /// The latest expiry period this sender is listed under.
    listed_until: Option<u64>,
}

struct Shard {
    senders: HashMap<u64, SenderWindow>,
    /// `(nonces held, sender)`, to find the senders holding the most.
    by_size: BTreeSet<(usize, u64)>,
    /// Expiry period -> senders that added a nonce in it, so idle senders are forgotten without a
    /// sweep over the table. Keyed by the period itself, never a slot that a later one reuses.
    expiry: BTreeMap<u64, Vec<u64>>,
    len: usize,
    /// Nonces below it have left the window. Only ever rises, even when a check that read the
    /// clock earlier takes the lock later, so nothing this shard forgot can come back as fresh.
    cutoff: u64,
    /// Most nonces one sender holds in this shard.
    per_sender: usize,
    /// Most nonces this shard holds.
    capacity: usize,
    /// Length of an expiry period, in nanoseconds.
    period: u64,
}

/// A thread-safe freshness and replay guard. Every check is O(log n).
///
/// ```
/// use neuronet_synapse::nonce::{NonceGuard, NonceGuardConfig, NonceError};
/// use neuronet_synapse::payload::Nonce;
/// let guard = NonceGuard::new(NonceGuardConfig::default());
/// let now = Nonce::now();
/// let sender = [7u8; 32];
/// assert_eq!(guard.check(&sender, now, now.0), Ok(()));
/// assert_eq!(guard.check(&sender, now, now.0), Err(NonceError::Replayed));
/// ```
pub struct NonceGuard {
    config: NonceGuardConfig,
    shards: Vec<Mutex<Shard>>,
    per_shard_capacity: usize,
    /// The largest `now_nanos` seen: the window's old end never moves back with the wall clock.
    high_water: AtomicU64,
    hasher: RandomState,
}

impl NonceGuard {
    /// A guard with `config`.
    pub fn new(config: NonceGuardConfig) -> Self {
        let shards = config.shards.max(1);
        let period = (duration_nanos(config.max_age) / EXPIRY_PERIODS).max(1);
        let per_shard_capacity = config.capacity.div_ceil(shards).max(1);
        let per_sender_per_shard = config.per_sender_capacity.div_ceil(shards).max(1);
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    senders: HashMap::new(),
                    by_size: BTreeSet::new(),
                    expiry: BTreeMap::new(),
                    len: 0,
                    cutoff: 0,
                    per_sender: per_sender_per_shard,
                    capacity: per_shard_capacity,
                    period,
                })
            })
            .collect();
        NonceGuard { config, shards, per_shard_capacity, high_water: AtomicU64::new(0), hasher: RandomState::new() }
    }

    /// The configuration.
    pub fn config(&self) -> &NonceGuardConfig {
        &self.config
    }

    /// Checks the freshness window only; cheap, so run it before verifying a signature.
    pub fn check_fresh(&self, nonce: Nonce, now_nanos: u64) -> Result<(), NonceError> {
        self.fresh(nonce, now_nanos).map(|_| ())
    }

    /// Checks freshness, then records `(sender, nonce)`; a second use is [`NonceError::Replayed`].
    /// Call it only after the request's signature verified, so forged requests cannot fill the cache.
    pub fn check(&self, sender: &[u8; 32], nonce: Nonce, now_nanos: u64) -> Result<(), NonceError> {
        let cutoff = self.fresh(nonce, now_nanos)?;
        // 64 keyed-hash bits of the sender: two senders sharing them share a window, which only
        // ever refuses a request, never admits one, and happens with a 2^-64 chance.
        let sender = self.hasher.hash_one(sender);
        // Spread by sender and nonce together, so one busy sender uses every shard.
        let mixed = (sender ^ nonce.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let shard_index = (mixed as usize) % self.shards.len();
        let mut shard = match self.shards.get(shard_index).map(|s| s.lock()) {
            Some(Ok(guard)) => guard,
            Some(Err(poisoned)) => poisoned.into_inner(),
            None => return Err(NonceError::Full { capacity: self.config.capacity }),
        };
        shard.admit(sender, nonce.0, cutoff).map_err(|refusal| match refusal {
            Refusal::Stale { cutoff } => self.stale(nonce, cutoff.saturating_add(duration_nanos(self.config.max_age))),
            Refusal::Replayed => NonceError::Replayed,
            Refusal::Overtaken => NonceError::Overtaken { per_sender_capacity: self.config.per_sender_capacity },
            Refusal::Full => NonceError::Full { capacity: self.config.capacity },
        })
    }

    /// Live nonces held now, over all shards.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(guard) => guard.len,
                Err(poisoned) => poisoned.into_inner().len,
            })
            .sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most nonces the guard will ever hold (fewer the more senders hold them).
    pub fn capacity(&self) -> usize {
        self.per_shard_capacity * self.shards.len()
    }

    /// Senders with a window now, over all shards (a sender counts once per shard it uses).
    pub fn senders(&self) -> usize {
        self.shards
            .iter()
            .map(|s| match s.lock() {
                Ok(guard) => guard.senders.len(),
                Err(poisoned) => poisoned.into_inner().senders.len(),
            })
            .sum()
    }

    /// The freshness check; on success, the window's old end (nonces below it have left it).
    fn fresh(&self, nonce: Nonce, now_nanos: u64) -> Result<u64, NonceError> {
        let max_age = duration_nanos(self.config.max_age);
        let max_skew = duration_nanos(self.config.max_skew);
        let high_water = self.high_water.fetch_max(now_nanos, Ordering::AcqRel).max(now_nanos);
        let cutoff = high_water.saturating_sub(max_age);
        if nonce.0 < cutoff {
            return Err(self.stale(nonce, high_water));
        }
        if nonce.0 > now_nanos && nonce.0 - now_nanos > max_skew {
            return Err(NonceError::Future {
                ahead_ms: (nonce.0 - now_nanos) / 1_000_000,
                max_skew_ms: max_skew / 1_000_000,
            });
        }
        Ok(cutoff)
    }

    fn stale(&self, nonce: Nonce, high_water: u64) -> NonceError {
        NonceError::Stale {
            age_ms: high_water.saturating_sub(nonce.0) / 1_000_000,
            max_age_ms: duration_nanos(self.config.max_age) / 1_000_000,
        }
    }
}

/// Why a shard refused a fresh nonce.
enum Refusal {
    Stale { cutoff: u64 },
    Replayed,
    Overtaken,
    Full,
}

impl SenderWindow {
    fn new() -> Self {
        SenderWindow { floor: None, nonces: BTreeSet::new(), listed_until: None }
    }
}

impl Shard {
    fn admit(&mut self, sender: u64, nonce: u64, cutoff: u64) -> Result<(), Refusal> {
        self.cutoff = self.cutoff.max(cutoff);
        if nonce < self.cutoff {
            return Err(Refusal::Stale { cutoff: self.cutoff });
        }
        self.sweep(SWEEP_PER_CHECK);
        let verdict = self.record(sender, nonce);
        // A window left empty holds nothing inside the window, its floor included: forget it.
        if self.senders.get(&sender).is_some_and(|w| w.nonces.is_empty()) {
            self.senders.remove(&sender);
        }
        verdict
    }

    fn record(&mut self, sender: u64, nonce: u64) -> Result<(), Refusal> {
        let window = self.senders.entry(sender).or_insert_with(SenderWindow::new);
        let before = window.nonces.len();
        expire(window, self.cutoff);
        let held = window.nonces.len();
        let overtaken = window.floor.is_some_and(|floor| nonce <= floor);
        let replayed = window.nonces.contains(&nonce);
        self.resize(sender, before, held);
        if overtaken {
            return Err(Refusal::Overtaken);
        }
        if replayed {
            return Err(Refusal::Replayed);
        }
        if held >= self.per_sender {
            // Its own share is full: it gives up its oldest nonce, nobody else's.
            self.raise_floor(sender, Some(nonce))?;
        } else if self.weight() >= self.capacity {
            self.sweep(usize::MAX);
            while self.weight() >= self.capacity {
                self.make_room(sender, nonce)?;
            }
        }
        self.insert(sender, nonce);
        Ok(())
    }

    /// What the shard holds, against `capacity`: its nonces, and its senders' windows.
    fn weight(&self) -> usize {
        self.len.saturating_add(self.senders.len().saturating_mul(WINDOW_WEIGHT))
    }

    fn insert(&mut self, sender: u64, nonce: u64) {
        let period = nonce / self.period;
        let window = self.senders.entry(sender).or_insert_with(SenderWindow::new);
        let before = window.nonces.len();
        if !window.nonces.insert(nonce) {
            return;
        }
        let list = window.listed_until.is_none_or(|listed| listed < period);
        if list {
            window.listed_until = Some(period);
        }
        self.resize(sender, before, before + 1);
        if list {
            self.expiry.entry(period).or_default().push(sender);
        }
    }

    /// Frees one entry in a full shard, from the sender holding the most.
    fn make_room(&mut self, sender: u64, nonce: u64) -> Result<(), Refusal> {
        let Some(&(most, biggest)) = self.by_size.last() else {
            return Err(Refusal::Full);
        };
        // Never empty a window: a sender with no nonces is forgotten, and so would its floor be,
        // while it may still be live. So the number of senders stays within the number of nonces.
        if most < 2 {
            return Err(Refusal::Full);
        }
        self.raise_floor(biggest, (biggest == sender).then_some(nonce))
    }

    /// Drops `sender`'s oldest nonce and raises its floor to it, unless `incoming` (the nonce
    /// about to be added for it) is older than that oldest one: then `incoming` is refused.
    fn raise_floor(&mut self, sender: u64, incoming: Option<u64>) -> Result<(), Refusal> {
        let Some(window) = self.senders.get_mut(&sender) else {
            return Err(Refusal::Full);
        };
        let Some(&oldest) = window.nonces.first() else {
            return Err(Refusal::Full);
        };
        if incoming.is_some_and(|nonce| nonce < oldest) {
            return Err(Refusal::Overtaken);
        }
        let before = window.nonces.len();
        window.nonces.pop_first();
        window.floor = Some(oldest);
        self.resize(sender, before, before - 1);
        Ok(())
    }

    /// Works off up to `budget` expiry records of periods that have wholly left the window,
    /// forgetting the senders with nothing left in it.
    fn sweep(&mut self, budget: usize) {
        let cutoff = self.cutoff;
        let mut done = 0;
        while done < budget {
            let Some(mut entry) = self.expiry.first_entry() else { return };
            let period_end = entry.key().saturating_add(1).saturating_mul(self.period);
            if period_end > cutoff {
                return;
            }
            let listed = entry.get_mut().pop();
            if entry.get().is_empty() {
                entry.remove();
            }
            let Some(sender) = listed else { continue };
            done += 1;
            let Some(window) = self.senders.get_mut(&sender) else { continue };
            let before = window.nonces.len();
            expire(window, cutoff);
            let after = window.nonces.len();
            self.resize(sender, before, after);
            if after == 0 {
                self.senders.remove(&sender);
            }
        }
    }

    /// Keeps `len` and the size index in step with a window that went from `before` to `after`.
    fn resize(&mut self, sender: u64, before: usize, after: usize) {
        if before == after {
            return;
        }
        self.len = self.len + after - before;
        if before > 0 {
            self.by_size.remove(&(before, sender));
        }
        if after > 0 {
            self.by_size.insert((after, sender));
        }
    }
}

/// Drops `window`'s nonces below `cutoff`, and its floor once that is below it too.
fn expire(window: &mut SenderWindow, cutoff: u64) {
    while window.nonces.first().is_some_and(|&oldest| oldest < cutoff) {
        window.nonces.pop_first();
    }
    if window.floor.is_some_and(|floor| floor < cutoff) {
        window.floor = None;
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
