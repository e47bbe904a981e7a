//! The nonce guard: a freshness window plus a replay cache with expiry and a hard memory bound.
//!
//! Nonces are timestamps (nanoseconds since the Unix epoch). A nonce is fresh when it is at most
//! `max_age` old and at most `max_skew` in the future. Fresh nonces are remembered per sender in
//! time buckets keyed by the nonce itself, so a bucket can be dropped whole once every nonce in
//! it has left the window: no entry outlives its usefulness and no sweep walks the table. When
//! the cache holds `capacity` live entries it refuses new ones (fail closed) instead of forgetting
//! a live nonce, which would re-open it to replay.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::Duration;

use crate::payload::Nonce;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// Older than the window allows.
    #[error("nonce is too old: {age_ms} ms old, the window is {max_age_ms} ms")]
    Stale {
        /// How old, in milliseconds.
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
    /// The replay cache is full of live entries; try again shortly.
    #[error("replay cache is full ({capacity} live nonces)")]
    Full {
        /// The configured capacity.
        capacity: usize,
    },
}

/// Nonce guard limits.
#[derive(Debug, Clone)]
pub struct NonceGuardConfig {
    /// Oldest acceptable nonce. Default 10 s, as btauth/1 verifiers use.
    pub max_age: Duration,
    /// Furthest acceptable nonce in the future, for clock skew. Default 2 s.
    pub max_skew: Duration,
    /// Most live nonces remembered at once, over all senders. Default 1,048,576 (about 40 MiB
    /// at worst): room for 100k requests/s over a 10 s window.
    pub capacity: usize,
    /// Number of independently locked shards. Default 16.
    pub shards: usize,
}

impl Default for NonceGuardConfig {
    fn default() -> Self {
        NonceGuardConfig {
            max_age: Duration::from_secs(10),
            max_skew: Duration::from_secs(2),
            capacity: 1 << 20,
            shards: 16,
        }
    }
}

impl NonceGuardConfig {
    /// Sets `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
    /// Sets `max_skew`.
    pub fn with_max_skew(mut self, max_skew: Duration) -> Self {
        self.max_skew = max_skew;
        self
    }
    /// Sets `capacity`.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }
    /// Sets the number of shards (at least 1).
    pub fn with_shards(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }
}

/// Number of time buckets per shard; the window is split into `BUCKETS - 2` of them.
const BUCKETS: usize = 16;

struct Bucket {
    /// Which bucket period (nonce / width) the entries belong to; `u64::MAX` when unused.
    epoch: u64,
    entries: HashSet<u128>,
}

struct Shard {
    buckets: Vec<Bucket>,
    len: usize,
}

/// A thread-safe freshness and replay guard. Every check is O(1) amortised.
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
    bucket_width: u64,
    hasher: RandomState,
}

impl NonceGuard {
    /// A guard with `config`.
    pub fn new(config: NonceGuardConfig) -> Self {
        let shards = config.shards.max(1);
        let window = duration_nanos(config.max_age).saturating_add(duration_nanos(config.max_skew));
        let bucket_width = (window / (BUCKETS as u64 - 2)).max(1);
        let per_shard_capacity = config.capacity.div_ceil(shards).max(1);
        let shards = (0..shards)
            .map(|_| {
                Mutex::new(Shard {
                    buckets: (0..BUCKETS).map(|_| Bucket { epoch: u64::MAX, entries: HashSet::new() }).collect(),
                    len: 0,
                })
            })
            .collect();
        NonceGuard { config, shards, per_shard_capacity, bucket_width, hasher: RandomState::new() }
    }

    /// The configuration.
    pub fn config(&self) -> &NonceGuardConfig {
        &self.config
    }

    /// Checks the freshness window only; cheap, so run it before verifying a signature.
    pub fn check_fresh(&self, nonce: Nonce, now_nanos: u64) -> Result<(), NonceError> {
        let max_age = duration_nanos(self.config.max_age);
        let max_skew = duration_nanos(self.config.max_skew);
        if nonce.0 < now_nanos && now_nanos - nonce.0 > max_age {
            return Err(NonceError::Stale {
                age_ms: (now_nanos - nonce.0) / 1_000_000,
                max_age_ms: max_age / 1_000_000,
            });
        }
        if nonce.0 > now_nanos && nonce.0 - now_nanos > max_skew {
            return Err(NonceError::Future {
                ahead_ms: (nonce.0 - now_nanos) / 1_000_000,
                max_skew_ms: max_skew / 1_000_000,
            });
        }
        Ok(())
    }

    /// Checks freshness, then records `(sender, nonce)`; a second use is [`NonceError::Replayed`].
    /// Call it only after the request's signature verified, so forged requests cannot fill the cache.
    pub fn check(&self, sender: &[u8; 32], nonce: Nonce, now_nanos: u64) -> Result<(), NonceError> {
        self.check_fresh(nonce, now_nanos)?;
        let key = self.key(sender, nonce);
        // Spread by sender and nonce together, so one busy sender uses every shard.
        let mixed = ((key >> 64) as u64 ^ nonce.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        let shard_index = (mixed as usize) % self.shards.len();
        let epoch = nonce.0 / self.bucket_width;
        let oldest_live = now_nanos.saturating_sub(duration_nanos(self.config.max_age)) / self.bucket_width;
        let mut shard = match self.shards.get(shard_index).map(|s| s.lock()) {
            Some(Ok(guard)) => guard,
            Some(Err(poisoned)) => poisoned.into_inner(),
            None => return Err(NonceError::Full { capacity: self.config.capacity }),
        };
        let Shard { buckets, len } = &mut *shard;
        let slot = (epoch % BUCKETS as u64) as usize;
        let Some(bucket) = buckets.get_mut(slot) else {
            return Err(NonceError::Full { capacity: self.config.capacity });
        };
        if bucket.epoch != epoch {
            // The slot last held a period that has left the window entirely: drop it whole.
            *len -= bucket.entries.len();
            bucket.entries.clear();
            bucket.epoch = epoch;
        }
        if bucket.entries.contains(&key) {
            return Err(NonceError::Replayed);
        }
        if *len >= self.per_shard_capacity {
            // Reclaim every bucket whose period has left the window before refusing.
            for other in buckets.iter_mut() {
                if other.epoch != u64::MAX && other.epoch < oldest_live {
                    *len -= other.entries.len();
                    other.entries = HashSet::new();
                    other.epoch = u64::MAX;
                }
            }
            if *len >= self.per_shard_capacity {
                return Err(NonceError::Full { capacity: self.config.capacity });
            }
        }
        if let Some(bucket) = buckets.get_mut(slot) {
            bucket.entries.insert(key);
            *len += 1;
        }
        Ok(())
    }

    /// Live entries held now, over all shards.
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

    /// The most entries the guard will ever hold.
    pub fn capacity(&self) -> usize {
        self.per_shard_capacity * self.shards.len()
    }

    fn key(&self, sender: &[u8; 32], nonce: Nonce) -> u128 {
        // 64 keyed-hash bits of the sender with the full nonce: a collision needs the same
        // nonce and a 2^-64 chance, and only ever refuses a request, never admits one.
        let sender_hash = self.hasher.hash_one(sender);
        (u128::from(sender_hash) << 64) | u128::from(nonce.0)
    }
}

fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
