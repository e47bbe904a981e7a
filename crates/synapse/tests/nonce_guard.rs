//! The nonce guard: freshness window, replay refusal, expiry and the hard memory bound.

use neuronet_synapse::nonce::{NonceError, NonceGuard, NonceGuardConfig};
use neuronet_synapse::payload::Nonce;
use proptest::prelude::*;
use std::collections::HashSet;
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
    // One million requests at 20,000/s from one sender and as many from 1,000 others: 50 s of
    // traffic through a 12 s window, which would hold ~480k nonces, more than `capacity`.
    let busy = [9u8; 32];
    for i in 0..1_000_000u64 {
        let now = T0 + i * (SECOND / 20_000);
        assert_eq!(guard.check(&busy, Nonce(now), now), Ok(()), "in order, a busy sender is served: nonce {i}");
        let mut other = [0u8; 32];
        other[..8].copy_from_slice(&(i % 1_000).to_le_bytes());
        match guard.check(&other, Nonce(now + 1), now) {
            Ok(()) | Err(NonceError::Full { .. }) | Err(NonceError::Overtaken { .. }) => {}
            Err(refusal) => panic!("nonce {i}: {refusal}"),
        }
        if i % 10_000 == 0 {
            assert!(guard.len() <= guard.capacity(), "len {} > capacity {}", guard.len(), guard.capacity());
            assert!(guard.senders() <= guard.len(), "{} senders for {} nonces", guard.senders(), guard.len());
        }
    }
    assert!(guard.len() <= guard.capacity());
    assert!(guard.capacity() <= capacity + guard.config().shards);

    // Once everyone went quiet and the window moved on, nothing is held for them.
    let later = T0 + 200 * SECOND;
    for i in 0..10_000u64 {
        assert_eq!(guard.check(&[1; 32], Nonce(later + i), later + i), Ok(()));
    }
    assert!(guard.len() <= 10_000, "expired nonces were dropped: {} live", guard.len());
    assert!(guard.senders() <= guard.config().shards, "idle senders were forgotten: {} left", guard.senders());
}

/// A sender that floods fresh nonces (here at the future edge of the window) fills only its own
/// share; another sender is still served, and none of the flooder's nonces can be replayed.
#[test]
fn a_flooding_sender_does_not_stop_another_sender() {
    let config = NonceGuardConfig::default().with_capacity(1_000).with_per_sender_capacity(100).with_shards(1);
    let guard = NonceGuard::new(config);
    let flooder = [6u8; 32];
    let honest = [7u8; 32];
    let edge = T0 + 2 * SECOND - 10_000;
    for i in 0..10_000u64 {
        assert_eq!(guard.check(&flooder, Nonce(edge + i), T0), Ok(()), "the flooder's own nonce {i}");
    }
    assert!(guard.len() <= 100, "the flooder holds {} nonces", guard.len());
    assert_eq!(guard.check(&honest, Nonce(T0), T0), Ok(()));
    for i in 0..10_000u64 {
        assert!(guard.check(&flooder, Nonce(edge + i), T0 + SECOND).is_err(), "replayed flooder nonce {i}");
    }
    // Out of order by more than its share: refused as overtaken, never admitted.
    assert_eq!(
        guard.check(&flooder, Nonce(edge - 1), T0 + SECOND),
        Err(NonceError::Overtaken { per_sender_capacity: 100 })
    );
    assert!(guard.check(&flooder, Nonce(edge - 1), T0 + SECOND).unwrap_err().to_string().contains("older than"));
}

/// Twenty senders, each within its share, together fill the whole cache: room for a newcomer
/// comes from those holding the most, and what they lose is refused, not forgotten.
#[test]
fn many_flooders_make_room_for_a_newcomer_from_their_own_shares() {
    let config = NonceGuardConfig::default().with_capacity(1_000).with_shards(1);
    let guard = NonceGuard::new(config);
    let edge = T0 + 2 * SECOND - 100_000;
    let mut accepted = Vec::new();
    for i in 0..5_000u64 {
        let flooder = [100 + (i % 20) as u8; 32];
        if guard.check(&flooder, Nonce(edge + i), T0).is_ok() {
            accepted.push((flooder, edge + i));
        }
    }
    assert_eq!(accepted.len(), 5_000, "each flooder only ever gives up its own oldest nonces");
    assert!(guard.len() <= 1_000);
    for newcomer in 0..50u8 {
        assert_eq!(guard.check(&[newcomer; 32], Nonce(T0), T0), Ok(()), "newcomer {newcomer}");
    }
    for (flooder, nonce) in accepted {
        assert!(guard.check(&flooder, Nonce(nonce), T0).is_err(), "replay of {nonce} admitted");
    }
}

/// When every entry belongs to a different sender, holding one each, there is no share to take
/// from: the cache refuses instead of forgetting a live nonce.
#[test]
fn a_cache_full_of_one_nonce_senders_refuses_rather_than_forgets() {
    let guard = NonceGuard::new(NonceGuardConfig::default().with_capacity(100).with_shards(1));
    let mut admitted = 0u8;
    while guard.check(&[admitted; 32], Nonce(T0), T0).is_ok() {
        admitted += 1;
    }
    // Each window weighs as much as a few nonces: fewer senders than `capacity` fit.
    assert!((5..100).contains(&admitted), "{admitted} one-nonce senders admitted");
    assert_eq!(guard.check(&[200; 32], Nonce(T0), T0), Err(NonceError::Full { capacity: 100 }));
    for i in 0..admitted {
        assert_eq!(guard.check(&[i; 32], Nonce(T0), T0), Err(NonceError::Replayed));
    }
    // Once those have left the window (and the expiry period they were listed under has), their
    // senders are forgotten and there is room again.
    let later = T0 + 13 * SECOND;
    assert_eq!(
        guard.check(&[200; 32], Nonce(T0), later),
        Err(NonceError::Stale { age_ms: 13_000, max_age_ms: 10_000 })
    );
    for i in 0..5 {
        assert_eq!(guard.check(&[200; 32], Nonce(later + i), later + i), Ok(()));
    }
    assert_eq!(guard.senders(), 1);
    assert_eq!(guard.len(), 5);
}

/// The wall clock steps back by 5, 2 or 1 s and then runs on: nonces accepted before the step,
/// up to the future edge of the window, stay refused, and the guard still measures staleness
/// from the newest time it saw.
#[test]
fn a_backward_clock_step_does_not_let_a_replay_through() {
    let step = 7_000_000; // 7 ms: a grid fine enough to meet every bucket boundary
    for back in [5, 2, 1] {
        let guard = NonceGuard::new(NonceGuardConfig::default());
        let sender = [4u8; 32];
        let before: Vec<u64> = (0..)
            .map(|k| T0 - 10 * SECOND + k * step)
            .take_while(|&n| n <= T0 + 2 * SECOND)
            .filter(|&n| guard.check(&sender, Nonce(n), T0) == Ok(()))
            .collect();
        assert!(before.len() > 1_500, "{} accepted", before.len());
        // The clock steps back; a caller sends nonces all over the window it now sees.
        let stepped = T0 - back * SECOND;
        for k in 0..12 * SECOND / step {
            let _ = guard.check(&sender, Nonce(stepped - 10 * SECOND + k * step), stepped);
        }
        // The clock runs on past where it was; every nonce accepted before is still refused.
        for now in [stepped, T0 - SECOND / 2, T0, T0 + SECOND / 2] {
            for &nonce in &before {
                let replay = guard.check(&sender, Nonce(nonce), now);
                let ms = |t: u64| (t as i64 - T0 as i64) / 1_000_000;
                assert!(replay.is_err(), "{back} s back: replay of {} ms at {} ms admitted", ms(nonce), ms(now));
            }
        }
        // A nonce older than the newest time seen, less the window, is stale even though the
        // clock, stepped back again, would call it fresh.
        assert!(matches!(
            guard.check(&sender, Nonce(T0 - 10 * SECOND), T0 - 2 * SECOND),
            Err(NonceError::Stale { .. })
        ));
    }
}

/// One step of the property test: who checks which nonce at which clock reading.
#[derive(Debug, Clone)]
struct Step {
    sender: u8,
    /// The nonce, relative to the clock reading, in milliseconds.
    offset_ms: i64,
    /// How the clock moves before the check, in milliseconds (backwards too).
    clock_ms: i64,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..4, -12_000i64..3_000, prop_oneof![4 => -50i64..300, 1 => -6_000i64..6_000])
        .prop_map(|(sender, offset_ms, clock_ms)| Step { sender, offset_ms, clock_ms })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Against a model that remembers everything ever accepted: whatever the sequence of checks
    /// and clock moves (backwards included), no nonce is accepted twice for one sender, a
    /// replay is never called anything that would admit it, and memory stays within bounds.
    #[test]
    fn no_nonce_is_ever_accepted_twice(
        steps in proptest::collection::vec(step(), 1..400),
        shards in 1usize..3,
        per_sender in 1usize..6,
        capacity in 10usize..60,
    ) {
        let config = NonceGuardConfig::default()
            .with_capacity(capacity)
            .with_per_sender_capacity(per_sender)
            .with_shards(shards);
        let guard = NonceGuard::new(config);
        let mut accepted: HashSet<(u8, u64)> = HashSet::new();
        let mut now = T0 as i64;
        for Step { sender, offset_ms, clock_ms } in steps {
            now += clock_ms * 1_000_000;
            // Nonces land on a 10 ms grid so that the same one comes up again often.
            let nonce = ((now + offset_ms * 1_000_000) / 10_000_000 * 10_000_000) as u64;
            let result = guard.check(&[sender; 32], Nonce(nonce), now as u64);
            if result.is_ok() {
                prop_assert!(accepted.insert((sender, nonce)), "nonce {nonce} of sender {sender} accepted twice");
            }
            if result == Err(NonceError::Replayed) {
                prop_assert!(accepted.contains(&(sender, nonce)), "nonce {nonce} called a replay but never accepted");
            }
            prop_assert!(guard.len() <= guard.capacity());
            prop_assert!(guard.senders() <= guard.len().max(1));
        }
    }
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
