//! Weights as the chain takes them: normalised to u16 the way Bittensor does, and the hash a
//! `commit_weights` commits to.

use crate::account::AccountId;
use crate::error::{Error, Result};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use parity_scale_codec::Encode;
use std::collections::BTreeMap;

/// Weights ready for `set_weights`: uids ascending and unique, each weight a u16, the largest
/// 65535.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NormalisedWeights {
    /// Destination uids, ascending.
    pub uids: Vec<u16>,
    /// Their weights.
    pub values: Vec<u16>,
}

/// Normalises weights as Bittensor's `convert_weights_and_uids_for_emit` does: every weight is
/// divided by the largest and scaled to 65535, rounded half to even (Python's `round`), and
/// weights that round to 0 are left out. A uid listed twice has its weights added first, and the
/// result is sorted by uid (the chain refuses duplicates). All-zero weights give empty vectors.
/// Negative, NaN or infinite weights, and a length mismatch, are errors.
pub fn normalise(uids: &[u16], weights: &[f64]) -> Result<NormalisedWeights> {
    if uids.len() != weights.len() {
        return Err(Error::Invalid(format!("{} uids but {} weights", uids.len(), weights.len())));
    }
    let mut merged: BTreeMap<u16, f64> = BTreeMap::new();
    for (&uid, &weight) in uids.iter().zip(weights) {
        if !weight.is_finite() || weight < 0.0 {
            return Err(Error::Invalid(format!("weight {weight} for uid {uid}: weights must be finite and >= 0")));
        }
        *merged.entry(uid).or_default() += weight;
    }
    let max = merged.values().copied().fold(0.0f64, f64::max);
    let mut out = NormalisedWeights::default();
    if max <= 0.0 || !max.is_finite() {
        return Ok(out);
    }
    for (uid, weight) in merged {
        let value = round_half_even(weight / max * f64::from(u16::MAX));
        // At most 65535 by construction; the clamp only guards float edge cases.
        let value = value.clamp(0.0, f64::from(u16::MAX)) as u16;
        if value != 0 {
            out.uids.push(uid);
            out.values.push(value);
        }
    }
    Ok(out)
}

/// Rounds to the nearest integer, ties to even, as Python's `round` does.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - x.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 {
        rounded - x.signum()
    } else {
        rounded
    }
}

/// The subnet index a mechanism's weights are kept under: `mecid * 4096 + netuid` (the netuid
/// itself for the main mechanism, 0).
pub fn netuid_index(netuid: u16, mecid: u8) -> u16 {
    u16::from(mecid).wrapping_mul(4096).wrapping_add(netuid)
}

/// The hash `commit_weights` commits to and `reveal_weights` must match:
/// blake2b-256 of the SCALE tuple (hotkey, netuid index, uids, values, salt, version_key).
pub fn commit_hash(
    hotkey: &AccountId,
    netuid_index: u16,
    uids: &[u16],
    values: &[u16],
    salt: &[u16],
    version_key: u64,
) -> [u8; 32] {
    let preimage = (hotkey, netuid_index, uids, values, salt, version_key).encode();
    Blake2b::<U32>::digest(&preimage).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_weight_is_65535_and_uids_are_sorted_and_unique() {
        let w = normalise(&[5, 1, 3, 1], &[0.5, 0.25, 0.0, 0.25]).unwrap();
        assert_eq!(w, NormalisedWeights { uids: vec![1, 5], values: vec![65535, 65535] });
        let w = normalise(&[0, 1, 2], &[1.0, 0.5, 0.000001]).unwrap();
        assert_eq!(w, NormalisedWeights { uids: vec![0, 1], values: vec![65535, 32768] });
        assert_eq!(normalise(&[0, 1], &[0.0, 0.0]).unwrap(), NormalisedWeights::default());
        assert!(normalise(&[0], &[f64::NAN]).is_err());
        assert!(normalise(&[0], &[-1.0]).is_err());
        assert!(normalise(&[0, 1], &[1.0]).is_err());
    }

    #[test]
    fn ties_round_to_even_as_python_does() {
        assert_eq!(round_half_even(0.5), 0.0);
        assert_eq!(round_half_even(1.5), 2.0);
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(32767.5), 32768.0);
        assert_eq!(round_half_even(2.4), 2.0);
        assert_eq!(round_half_even(2.6), 3.0);
    }

    #[test]
    fn the_commit_hash_matches_the_chain_and_btcli() {
        let alice = AccountId::from_ss58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").unwrap();
        let salt: Vec<u16> = (1..=8).collect();
        let preimage = (&alice, 1u16, &[0u16, 1][..], &[65535u16, 32768][..], &salt[..], 0u64).encode();
        assert_eq!(
            hex::encode(&preimage),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d0100080000010008ffff008020010002000300040005000600070008000000000000000000"
        );
        let hash = commit_hash(&alice, netuid_index(1, 0), &[0, 1], &[65535, 32768], &salt, 0);
        assert_eq!(hex::encode(hash), "15d1d763685dfce22d8650296059d5767f0932787b33a80c31d996c3d36b6eef");
        assert_eq!(netuid_index(1, 2), 8193);
    }
}
