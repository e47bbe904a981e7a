//! sr25519 signing with the nonce commitment made ahead of time.
//!
//! An sr25519 signature is `(R, s)` with `R = r·G` for a secret one-time scalar `r`, and
//! `s = k·x + r`, where `x` is the secret key and `k` hashes the context, the message, the public
//! key and `R`. Computing `R` (a base-point multiplication and a point compression) is about four
//! fifths of a signature's cost, and it does not depend on the message. A nonce pool keeps
//! commitments `(r, R)` that a background thread computes while the signer is idle, so signing on
//! the hot path is a transcript hash and one scalar multiply-add.
//!
//! Each `r` comes from the operating system's generator hedged with the key's secret nonce seed
//! (as schnorrkel derives its own), is taken out of the pool by the one signature that uses it,
//! and is zeroed when dropped. The signature is the one schnorrkel would make with that `r`, and
//! any sr25519 verifier accepts it. When the pool is empty, signing falls back to schnorrkel's own
//! (deterministic-and-random hedged) nonce, so a burst never waits for the thread.
//!
//! Because `r` does not depend on the message, a commitment must never be used twice: a forked
//! child process does not use the pool it inherited (it signs as schnorrkel does), and a process
//! must not be resumed twice from one memory snapshot (a VM image restored twice) with a pool
//! in it. Leave presigning off where that can happen.

use curve25519_dalek::constants::RISTRETTO_BASEPOINT_TABLE;
use curve25519_dalek::ristretto::CompressedRistretto;
use curve25519_dalek::Scalar;
use rand_core::RngCore;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use zeroize::{Zeroize, Zeroizing};

/// One precomputed nonce: the secret scalar and its public commitment.
struct Commitment {
    r: Zeroizing<Scalar>,
    big_r: CompressedRistretto,
}

impl Commitment {
    fn new(nonce_seed: &[u8; 32]) -> Self {
        let mut rng = merlin::Transcript::new(b"neuronet presigned nonce")
            .build_rng()
            .rekey_with_witness_bytes(b"signing", nonce_seed)
            .finalize(&mut rand_core::OsRng);
        let mut wide = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(&mut wide[..]);
        let r = Zeroizing::new(Scalar::from_bytes_mod_order_wide(&wide));
        let big_r = (&*r * RISTRETTO_BASEPOINT_TABLE).compress();
        Commitment { r, big_r }
    }
}

struct Ready {
    commitments: Vec<Commitment>,
    /// Signatures asked of the pool so far (counted up to [`WARM_SIGNATURES`]).
    asked: usize,
    closed: bool,
}

struct Shared {
    ready: Mutex<Ready>,
    wake: Condvar,
    capacity: usize,
    nonce_seed: Zeroizing<[u8; 32]>,
    /// The process the commitments were made in. A forked child inherits the pool; the same `r`
    /// used there and in the parent for two messages would give the secret key away.
    pid: u32,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ready> {
        self.ready.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A pool of precomputed sr25519 nonce commitments for one key, refilled by its own thread,
/// which starts once the key has made [`WARM_SIGNATURES`] signatures.
pub(crate) struct NoncePool {
    shared: Arc<Shared>,
    secret: Zeroizing<Scalar>,
    thread: std::sync::Once,
}

/// Signatures a key makes before its pool starts filling. A key that signs a few times (a
/// one-off query, a connection's setup) costs no background work: even at idle priority the
/// thread measurably delayed a 1.5 ms connection setup on two cores.
const WARM_SIGNATURES: usize = 16;

impl NoncePool {
    /// A pool of `capacity` commitments for `pair`; its thread, once started, ends with the pool.
    pub(crate) fn new(pair: &schnorrkel::Keypair, capacity: usize) -> Self {
        let bytes = Zeroizing::new(pair.secret.to_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&bytes[..32]);
        let mut nonce_seed = Zeroizing::new([0u8; 32]);
        nonce_seed.copy_from_slice(&bytes[32..]);
        // schnorrkel keeps its secret scalar canonical, so this reduction changes nothing.
        let secret = Zeroizing::new(Scalar::from_bytes_mod_order(*key));
        let capacity = capacity.max(1);
        let shared = Arc::new(Shared {
            ready: Mutex::new(Ready { commitments: Vec::with_capacity(capacity), asked: 0, closed: false }),
            wake: Condvar::new(),
            capacity,
            nonce_seed,
            pid: std::process::id(),
        });
        NoncePool { shared, secret, thread: std::sync::Once::new() }
    }

    /// Signs `message` under `context` with a precomputed nonce, or returns `None` when the pool is
    /// empty.
    pub(crate) fn sign(&self, pair: &schnorrkel::Keypair, context: &[u8], message: &[u8]) -> Option<[u8; 64]> {
        let commitment = self.take()?;
        let k = crate::sr25519::challenge(context, message, &pair.public.to_bytes(), commitment.big_r.as_bytes());
        let s = Zeroizing::new(k * *self.secret + *commitment.r);
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(commitment.big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        // schnorrkel marks its signatures apart from ed25519's in the top bit of `s`.
        signature[63] |= 0x80;
        Some(signature)
    }

    fn take(&self) -> Option<Commitment> {
        if std::process::id() != self.shared.pid {
            // A forked child: the pool (and the thread) belong to the parent.
            return None;
        }
        let mut ready = self.shared.lock();
        // Copied out and the slot wiped, so that no copy of `r` stays behind in the pool's buffer.
        let commitment = ready.commitments.last_mut().map(|slot| {
            let taken = Commitment { r: Zeroizing::new(*slot.r), big_r: slot.big_r };
            slot.r.zeroize();
            taken
        });
        ready.commitments.pop();
        ready.asked = (ready.asked + 1).min(WARM_SIGNATURES);
        let warm = ready.asked >= WARM_SIGNATURES;
        if warm && ready.commitments.len() <= self.shared.capacity / 2 {
            self.shared.wake.notify_one();
        }
        drop(ready);
        if warm {
            self.thread.call_once(|| {
                let worker = self.shared.clone();
                // Without the thread the pool stays empty and signing falls back to schnorrkel's.
                let _ = std::thread::Builder::new().name("neuronet-presign".into()).spawn(move || refill(&worker));
            });
        }
        commitment
    }

    /// Commitments ready now.
    #[cfg(test)]
    fn ready(&self) -> usize {
        self.shared.lock().commitments.len()
    }
}

impl Drop for NoncePool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// The pool's thread: tops the pool up whenever it falls to half, until the pool is dropped. It
/// runs at idle priority, so that it uses cores nothing else wants and never delays the requests
/// whose signatures it prepares.
fn refill(shared: &Shared) {
    lower_priority();
    let mut ready = shared.lock();
    loop {
        while !ready.closed && (ready.asked < WARM_SIGNATURES || ready.commitments.len() > shared.capacity / 2) {
            ready = shared.wake.wait(ready).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        while !ready.closed && ready.commitments.len() < shared.capacity {
            drop(ready);
            let fresh = Commitment::new(&shared.nonce_seed);
            ready = shared.lock();
            if ready.commitments.len() < shared.capacity {
                ready.commitments.push(fresh);
            }
        }
        if ready.closed {
            return;
        }
    }
}

/// Moves the calling thread to the idle scheduling class where there is one (Linux), else to the
/// lowest priority. Failure leaves the thread at normal priority, which is still correct.
fn lower_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use thread_priority::{NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        let _ = thread_priority::set_thread_priority_and_policy(
            thread_priority::thread_native_id(),
            ThreadPriority::Min,
            idle,
        );
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    fn wait_full(pool: &NoncePool, capacity: usize) {
        for _ in 0..WARM_SIGNATURES {
            let _ = pool.take();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.ready() < capacity {
            assert!(Instant::now() < deadline, "the pool never filled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn presigned_signatures_verify_under_schnorrkel_and_never_share_a_nonce() {
        let pair = schnorrkel::Keypair::generate();
        let pool = NoncePool::new(&pair, 16);
        wait_full(&pool, 16);
        let mut commitments = HashSet::new();
        for i in 0..64u32 {
            let message = i.to_le_bytes();
            let Some(bytes) = pool.sign(&pair, b"substrate", &message) else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let signature = schnorrkel::Signature::from_bytes(&bytes).expect("a well-formed signature");
            pair.public.verify_simple(b"substrate", &message, &signature).expect("schnorrkel accepts it");
            assert!(pair.public.verify_simple(b"substrate", b"another message", &signature).is_err());
            assert!(commitments.insert(bytes[..32].to_vec()), "a nonce commitment was used twice");
        }
        assert!(commitments.len() >= 16, "only {} presigned signatures", commitments.len());
    }

    #[test]
    fn a_drained_pool_refills() {
        let pair = schnorrkel::Keypair::generate();
        let pool = NoncePool::new(&pair, 4);
        wait_full(&pool, 4);
        let drained = (0..4).filter(|_| pool.take().is_some()).count();
        assert_eq!(drained, 4);
        wait_full(&pool, 4);
    }
}
