//! The nonce guard: freshness window, replay refusal, expiry and the hard memory bound.

use neuronet_synapse::nonce::{NonceError, NonceGuard, NonceGuardConfig};
use neuronet_synapse::payload::Nonce;
use std::sync::Arc;
use std::time::Duration;

const SECOND: u64 = 1_000_000_000;
const T0: u64 = 1_800_000_000 * SECOND;

#[test]
fn replay_inside_the_window_is_refused() {
    let guard = NonceGuard::new(NonceGuardConfig::default());
    let alice = [1u8; 32];
    let bob = [2u8; 32];
    assert_eq!(guard.check(&alice, Nonce(T0), T0), Ok(()));
    assert_eq!(guard.check(&alice, Nonce(T0), T0 + SECOND), Err(NonceError::Replayed));
    // The same nonce from another sender is its own.
    assert_eq!(guard.check(&bob, Nonce(T0), T0 + SECOND), Ok(()));
    // Still refused right up to the end of the window; stale after it.
    assert_eq!(guard.check(&alice, Nonce(T0), T0 + 10 * SECOND), Err(NonceError::Replayed));
    assert!(matches!(guard.check(&alice, Nonce(T0), T0 + 10 * SECOND + 1), Err(NonceError::Stale { .. })));
}

#[test]
fn stale_and_future_nonces_are_refused_with_reasons() {
    let guard = NonceGuard::new(NonceGuardConfig::default().with_max_age(Duration::from_secs(5)));
    let err = guard.check(&[1; 32], Nonce(T0 - 30 * SECOND), T0).unwrap_err();
    assert_eq!(err, NonceError::Stale { age_ms: 30_000, max_age_ms: 5_000 });
    assert!(err.to_string().contains("too old"));
    let err = guard.check(&[1; 32], Nonce(T0 + 3 * SECOND), T0).unwrap_err();
    assert!(matches!(err, NonceError::Future { ahead_ms: 3000, max_skew_ms: 2000 }), "{err}");
    assert_eq!(guard.check(&[1; 32], Nonce(T0 + SECOND), T0), Ok(()));
}

#[test]
fn one_million_distinct_nonces_stay_within_the_memory_bound() {
    let capacity = 50_000;
    let guard = NonceGuard::new(NonceGuardConfig::default().with_capacity(capacity));
    let sender = [9u8; 32];
    let mut refused_full = 0;
    // One million requests at 20,000/s: 50 s of traffic through a 10 s window. The clock moves,
    // so expired buckets make room; at this rate a window holds ~240k nonces > capacity, so the
    // guard must refuse some rather than grow.
    for i in 0..1_000_000u64 {
        let now = T0 + i * (SECOND / 20_000);
        match guard.check(&sender, Nonce(now), now) {
            Ok(()) => {}
            Err(NonceError::Full { .. }) => refused_full += 1,
            Err(other) => panic!("nonce {i}: {other}"),
        }
        if i % 10_000 == 0 {
            assert!(guard.len() <= guard.capacity(), "len {} > capacity {}", guard.len(), guard.capacity());
        }
    }
    assert!(guard.len() <= guard.capacity());
    assert!(guard.capacity() <= capacity + guard.config().shards);
    assert!(refused_full > 0, "over capacity the guard refuses instead of forgetting live nonces");

    // At a rate the window can hold, nothing is refused and old entries expire.
    let guard = NonceGuard::new(NonceGuardConfig::default().with_capacity(capacity));
    for i in 0..1_000_000u64 {
        let now = T0 + i * (SECOND / 2_000);
        assert_eq!(guard.check(&sender, Nonce(now), now), Ok(()), "nonce {i}");
    }
    // The ring holds 16 buckets of 12/14 s each (about 13.7 s of traffic) before reusing one.
    assert!(guard.len() <= 2_000 * 14, "expired buckets were dropped: {} live", guard.len());
}

#[test]
fn concurrent_checks_admit_each_nonce_once() {
    let guard = Arc::new(NonceGuard::new(NonceGuardConfig::default()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let guard = guard.clone();
            std::thread::spawn(move || {
                (0..10_000u64).filter(|i| guard.check(&[3; 32], Nonce(T0 + i), T0).is_ok()).count()
            })
        })
        .collect();
    let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(admitted, 10_000);
}

/// Nonces from many threads at once never repeat: a repeat would be refused as a replay.
#[test]
fn nonces_drawn_concurrently_are_unique() {
    // Threads reading the clock at the same moment see the same nanosecond now and then: in an
    // optimised build, eight threads on two cores repeated about one wall-clock read in six.
    let start = Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                (0..200_000).map(|_| Nonce::now().0).collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let drawn = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), drawn, "{} repeated nonces", drawn - all.len());
}
