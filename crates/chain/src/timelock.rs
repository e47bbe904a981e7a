//! Timelocked weight commits, as the chain reveals them: the weights are encrypted to a future
//! drand quicknet round (Boneh-Franklin IBE on BLS12-381 with AES-GCM, the `timelock` crate the
//! chain itself uses) and anyone can decrypt them once that round's signature is published.
//! Also the round a commit must name so that it opens in its reveal epoch, by both of the
//! chain's epoch rules.

use crate::account::AccountId;
use crate::error::{Error, Result};
use crate::weights::NormalisedWeights;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize};
use parity_scale_codec::{Decode, Encode};
use sha2::{Digest, Sha256};
use timelock::block_ciphers::AESGCMBlockCipherProvider;
use timelock::engines::drand::TinyBLS381;
use timelock::engines::EngineBLS;
use timelock::ibe::fullident::Identity;
use timelock::tlock::{tld, tle, TLECiphertext};

/// drand quicknet's public key (G2, compressed).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// When quicknet's round 1 was published (Unix seconds).
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
/// Seconds between quicknet rounds.
pub const QUICKNET_PERIOD: u64 = 3;
/// The version of timelocked commits the chain expects by default (`CommitRevealWeightsVersion`).
pub const COMMIT_REVEAL_VERSION: u16 = 4;
/// Blocks after the reveal epoch's first block that the round aims for, so the pulse is on
/// chain in time (the Python SDK's `SECURITY_BLOCK_OFFSET`).
pub const SECURITY_BLOCK_OFFSET: u64 = 3;

/// What a timelocked commit holds (SCALE): the committing hotkey's 32 bytes, the weights and
/// the version key.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct WeightsTlockPayload {
    /// The hotkey's public key.
    pub hotkey: Vec<u8>,
    /// Destination uids.
    pub uids: Vec<u16>,
    /// Their u16 weights.
    pub values: Vec<u16>,
    /// The version key.
    pub version_key: u64,
}

impl WeightsTlockPayload {
    /// The payload for `hotkey`'s `weights`.
    pub fn new(hotkey: &AccountId, weights: &NormalisedWeights, version_key: u64) -> Self {
        WeightsTlockPayload {
            hotkey: hotkey.as_bytes().to_vec(),
            uids: weights.uids.clone(),
            values: weights.values.clone(),
            version_key,
        }
    }
}

fn identity(round: u64) -> Identity {
    Identity::new(b"", &Sha256::digest(round.to_be_bytes()))
}

fn quicknet_key() -> <TinyBLS381 as EngineBLS>::PublicKeyGroup {
    let bytes = hex::decode(QUICKNET_PUBLIC_KEY).unwrap_or_default();
    // A constant that deserialises; a failure would be caught by every test.
    <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(&bytes[..])
        .unwrap_or_else(|_| unreachable!("quicknet's public key is a valid G2 point"))
}

/// Encrypts `plaintext` so that quicknet's signature of `round` opens it. The bytes are what
/// `commit_timelocked_weights` takes as its `commit`.
pub fn encrypt_for_round(plaintext: &[u8], round: u64) -> Result<Vec<u8>> {
    let mut key = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
    let ciphertext = tle::<TinyBLS381, AESGCMBlockCipherProvider, _>(
        quicknet_key(),
        key,
        plaintext,
        identity(round),
        rand_core::OsRng,
    )
    .map_err(|e| Error::Invalid(format!("timelock encryption failed: {e:?}")))?;
    Layout::of(&ciphertext)
}

/// Decrypts a commit with the round's quicknet signature (48 bytes, compressed G1).
pub fn decrypt_with_signature(commit: &[u8], signature: &[u8]) -> Result<Vec<u8>> {
    let signature = <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature)
        .map_err(|e| Error::Invalid(format!("not a quicknet signature: {e}")))?;
    let ciphertext = Layout::parse(commit)?.ciphertext()?;
    tld::<TinyBLS381, AESGCMBlockCipherProvider>(ciphertext, signature)
        .map_err(|e| Error::Invalid(format!("the signature does not open the commit: {e:?}")))
}

/// A commitment's bytes as the chain and the Python SDK lay them out (ark-serialize, compressed):
/// U (a G2 point, 96 bytes), then V, W, the AES-GCM body and the cipher suite, each a u64
/// little-endian length and its bytes; the body holds the ciphertext and the 12-byte nonce the
/// same way. Parsed here with every length checked against what is left, so bytes from the chain
/// cost no more memory than their own length.
struct Layout<'a> {
    u: &'a [u8],
    v: &'a [u8],
    w: &'a [u8],
    body: &'a [u8],
    suite: &'a [u8],
}

/// A G2 point, compressed.
const G2_COMPRESSED: usize = 96;
/// V and W are 32-byte hashes.
const IBE_HASH: usize = 32;

fn take<'a>(bytes: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8]> {
    if bytes.len() < len {
        return Err(Error::Decode {
            what: "timelock commitment",
            message: format!("{what}: {} bytes short", len - bytes.len()),
        });
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Ok(head)
}

fn take_vec<'a>(bytes: &mut &'a [u8], what: &'static str) -> Result<&'a [u8]> {
    let len = u64::from_le_bytes(take(bytes, 8, what)?.try_into().unwrap_or_default());
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    take(bytes, len, what)
}

impl<'a> Layout<'a> {
    fn parse(mut bytes: &'a [u8]) -> Result<Self> {
        let input = &mut bytes;
        let layout = Layout {
            u: take(input, G2_COMPRESSED, "U")?,
            v: take_vec(input, "V")?,
            w: take_vec(input, "W")?,
            body: take_vec(input, "body")?,
            suite: take_vec(input, "cipher suite")?,
        };
        if !input.is_empty() {
            return Err(Error::Decode {
                what: "timelock commitment",
                message: format!("{} bytes left over", input.len()),
            });
        }
        Ok(layout)
    }

    fn ciphertext(&self) -> Result<TLECiphertext<TinyBLS381>> {
        let bad = |what: &str| Error::Decode { what: "timelock commitment", message: what.to_owned() };
        let u = <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(self.u)
            .map_err(|_| bad("U is not a G2 point"))?;
        let v: [u8; IBE_HASH] = self.v.try_into().map_err(|_| bad("V is not 32 bytes"))?;
        let w: [u8; IBE_HASH] = self.w.try_into().map_err(|_| bad("W is not 32 bytes"))?;
        // The body is decoded by the cipher itself: check its lengths first.
        let mut body = self.body;
        take_vec(&mut body, "AES ciphertext")?;
        take_vec(&mut body, "AES nonce")?;
        if !body.is_empty() {
            return Err(bad("the body has bytes left over"));
        }
        if self.suite != b"AES_GCM_" {
            return Err(bad("the cipher suite is not AES_GCM_"));
        }
        Ok(TLECiphertext {
            header: timelock::ibe::fullident::Ciphertext { u, v, w },
            body: self.body.to_vec(),
            cipher_suite: self.suite.to_vec(),
        })
    }

    fn of(ciphertext: &'a TLECiphertext<TinyBLS381>) -> Result<Vec<u8>> {
        let mut u = Vec::with_capacity(G2_COMPRESSED);
        ciphertext.header.u.serialize_compressed(&mut u).map_err(|e| Error::Invalid(format!("timelock U: {e}")))?;
        let layout = Layout {
            u: &u,
            v: &ciphertext.header.v,
            w: &ciphertext.header.w,
            body: &ciphertext.body,
            suite: &ciphertext.cipher_suite,
        };
        Ok(layout.to_bytes())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(self.u.len() + 4 * 8 + self.v.len() + self.w.len() + self.body.len() + self.suite.len());
        out.extend_from_slice(self.u);
        for part in [self.v, self.w, self.body, self.suite] {
            out.extend_from_slice(&(part.len() as u64).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }
}

/// The quicknet round published at Unix time `unix_secs` (or the first round before it).
pub fn round_at(unix_secs: u64) -> u64 {
    (unix_secs.saturating_sub(QUICKNET_GENESIS) / QUICKNET_PERIOD).max(1)
}

/// The round to encrypt to so that the commit opens at `target_block`: that block's expected
/// wall-clock time, from `now_secs` at `current_block` and the chain's block time.
pub fn reveal_round_for_block(target_block: u64, current_block: u64, now_secs: u64, block_time_ms: u64) -> u64 {
    let ahead_ms = target_block.saturating_sub(current_block).saturating_mul(block_time_ms);
    round_at(now_secs.saturating_add(ahead_ms / 1000))
}

/// The round a commit made after `head` names, as bittensor 11.3.0 computes it: the reveal
/// epoch's first block by the stateful rule, plus [`SECURITY_BLOCK_OFFSET`], in quicknet time
/// from `now_secs` and the block time. `None` when the subnet has no epochs (tempo 0).
pub fn reveal_round(schedule: EpochSchedule, head: u64, now_secs: u64, block_time_ms: u64) -> Option<u64> {
    let first = schedule.first_reveal_block(head)?;
    Some(reveal_round_for_block(first + SECURITY_BLOCK_OFFSET, head, now_secs, block_time_ms))
}

/// The same by the legacy modulo rule (runtimes before spec 425, bittensor-drand 1.2.0).
pub fn legacy_reveal_round(
    head: u64,
    netuid: u16,
    tempo: u16,
    reveal_period_epochs: u64,
    now_secs: u64,
    block_time_ms: u64,
) -> u64 {
    let first = legacy_first_reveal_block(head, netuid, tempo, reveal_period_epochs);
    reveal_round_for_block(first + SECURITY_BLOCK_OFFSET, head, now_secs, block_time_ms)
}

/// The first block of the reveal epoch for a commit made at `block`, by the modulo rule of
/// runtimes before the stateful epoch index (epoch = (block + netuid + 1) / (tempo + 1)).
pub fn legacy_first_reveal_block(block: u64, netuid: u16, tempo: u16, reveal_period_epochs: u64) -> u64 {
    let netuid_plus_one = u64::from(netuid) + 1;
    let tempo_plus_one = u64::from(tempo) + 1;
    let epoch = block.saturating_add(netuid_plus_one) / tempo_plus_one;
    let reveal_epoch = epoch.saturating_add(reveal_period_epochs);
    reveal_epoch.saturating_mul(tempo_plus_one).saturating_sub(netuid_plus_one)
}

/// A subnet's epoch schedule as the stateful rule reads it from storage at the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EpochSchedule {
    /// `Tempo`.
    pub tempo: u16,
    /// `RevealPeriodEpochs`.
    pub reveal_period_epochs: u64,
    /// `LastEpochBlock`.
    pub last_epoch_block: u64,
    /// `PendingEpochAt` (0: none).
    pub pending_epoch_at: u64,
    /// `SubnetEpochIndex`.
    pub epoch_index: u64,
    /// `BlocksSinceLastStep`.
    pub blocks_since_last_step: u64,
}

/// Epochs fire at the latest after this many blocks without one.
const MAX_BLOCKS_WITHOUT_EPOCH: u64 = 50_400;

/// The longest reveal period the simulation follows (the chain caps it far lower); a node
/// reporting more cannot make a client walk billions of blocks.
const MAX_REVEAL_PERIOD_EPOCHS: u64 = 1_000;

impl EpochSchedule {
    fn fires_at(&self, block: u64) -> bool {
        self.tempo > 0
            && ((self.pending_epoch_at > 0 && block >= self.pending_epoch_at)
                || self.blocks_since_last_step > MAX_BLOCKS_WITHOUT_EPOCH
                || block.saturating_sub(self.last_epoch_block) >= u64::from(self.tempo))
    }

    /// Moves the schedule on by `block`, returning the epoch that block belongs to.
    fn step(&mut self, block: u64) -> u64 {
        if self.fires_at(block) {
            self.last_epoch_block = block;
            self.pending_epoch_at = 0;
            self.epoch_index = self.epoch_index.saturating_add(1);
            self.blocks_since_last_step = 0;
        } else {
            self.blocks_since_last_step = self.blocks_since_last_step.saturating_add(1);
        }
        self.epoch_index
    }

    /// The first block of the reveal epoch for a commit landing in the block after `head`, by
    /// the stateful rule of runtimes since spec 425; `None` when no epoch ever fires (tempo 0) or
    /// the state is out of any real chain's range (a reveal period over 1,000 epochs).
    pub fn first_reveal_block(mut self, head: u64) -> Option<u64> {
        if self.tempo == 0 {
            return None;
        }
        if self.reveal_period_epochs > MAX_REVEAL_PERIOD_EPOCHS {
            return None;
        }
        let commit_epoch = self.step(head.checked_add(1)?);
        let reveal_epoch = commit_epoch.checked_add(self.reveal_period_epochs)?;
        // Each epoch fires within tempo blocks (or at once, when pending or overdue).
        let horizon = (self.reveal_period_epochs + 1) * (u64::from(self.tempo) + 1) + 1;
        let first = head.checked_add(2)?;
        (first..first.saturating_add(horizon)).find(|&block| self.step(block) == reveal_epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_rule_opens_at_the_reveal_epochs_first_block() {
        // tempo 360, netuid 1: epochs start where (block + 2) % 361 == 0.
        assert_eq!(legacy_first_reveal_block(1000, 1, 360, 1), 1081);
        assert_eq!(legacy_first_reveal_block(1081, 1, 360, 1), 1442);
        assert_eq!(legacy_first_reveal_block(1080, 1, 360, 2), 1442);
    }

    #[test]
    fn the_stateful_rule_counts_epochs_as_the_chain_fires_them() {
        let schedule = EpochSchedule {
            tempo: 10,
            reveal_period_epochs: 1,
            last_epoch_block: 95,
            epoch_index: 7,
            ..Default::default()
        };
        // Epochs fire at 105, 115, ...: a commit at 101 is in epoch 7, revealed in epoch 8.
        assert_eq!(schedule.first_reveal_block(100), Some(105));
        // A commit landing at 105 is in epoch 8 itself: revealed from 115.
        assert_eq!(schedule.first_reveal_block(104), Some(115));
        let pending = EpochSchedule { pending_epoch_at: 102, ..schedule };
        assert_eq!(pending.first_reveal_block(100), Some(102));
        assert_eq!(EpochSchedule { tempo: 0, ..schedule }.first_reveal_block(100), None);
        // A node's absurd state ends the search instead of walking it.
        assert_eq!(EpochSchedule { reveal_period_epochs: u64::MAX, ..schedule }.first_reveal_block(100), None);
        assert_eq!(EpochSchedule { epoch_index: u64::MAX, ..schedule }.first_reveal_block(u64::MAX), None);
        assert_eq!(legacy_first_reveal_block(u64::MAX, u16::MAX, u16::MAX, u64::MAX), u64::MAX - 65_536);
        let two = EpochSchedule { reveal_period_epochs: 2, ..schedule };
        assert_eq!(two.first_reveal_block(100), Some(115));
    }

    #[test]
    fn rounds_follow_quicknets_clock() {
        assert_eq!(round_at(QUICKNET_GENESIS), 1);
        assert_eq!(round_at(QUICKNET_GENESIS + 3 * 999), 999);
        // 10 blocks of 12 s ahead of now.
        assert_eq!(reveal_round_for_block(110, 100, QUICKNET_GENESIS + 3000, 12_000), 1040);
        assert_eq!(reveal_round_for_block(110, 100, QUICKNET_GENESIS + 3000, 250), 1000);
    }
}
