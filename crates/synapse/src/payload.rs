//! The exact bytes each kind of signature covers: neuronet requests and hotkey bindings, the
//! bittensor v10 legacy message, and btauth/1 (bittensor 11.x). docs/protocol.md describes the
//! neuronet formats byte by byte.

use crate::{CryptoType, Hotkey};
use sha2::{Digest, Sha256};
use sha3::Sha3_256;
use std::fmt;

/// Domain tag that starts every neuronet request payload.
pub const REQUEST_DOMAIN: &[u8] = b"neuronet/request/v1\0";
/// Domain tag that starts every batch signature payload.
pub const BATCH_DOMAIN: &[u8] = b"neuronet/batch/v1\0";
/// Most requests one batch signature may cover.
pub const MAX_BATCH: usize = 64;
/// Domain tag that starts every hotkey binding payload.
pub const BINDING_DOMAIN: &[u8] = b"neuronet/binding/v1\0";
/// The longest synapse name, in bytes.
pub const MAX_SYNAPSE_NAME: usize = 128;

/// A request nonce: nanoseconds since the Unix epoch, unique per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce(pub u64);

use std::sync::atomic::{AtomicU64, Ordering};

impl Nonce {
    /// A nonce for now: the wall-clock time in nanoseconds, or one more than the last nonce this
    /// process handed out when the clock has not moved past it. Two threads reading the same
    /// nanosecond, or a clock stepped back, would otherwise repeat a nonce, and the receiver
    /// would refuse the second request as a replay.
    pub fn now() -> Self {
        static LAST: AtomicU64 = AtomicU64::new(0);
        Nonce(next_nonce(&LAST, unix_nanos()))
    }
}

/// `now`, or one more than `last` when `now` has not passed it; records the result in `last`.
fn next_nonce(last: &AtomicU64, now: u64) -> u64 {
    let step = |previous: u64| Some(now.max(previous.saturating_add(1)));
    // The closure always returns Some, so both arms carry the value it replaced.
    let previous = last.fetch_update(Ordering::Relaxed, Ordering::Relaxed, step).unwrap_or_else(|seen| seen);
    now.max(previous.saturating_add(1))
}

#[cfg(test)]
mod nonce_tests {
    use super::*;

    #[test]
    fn a_clock_that_stands_still_or_steps_back_still_gives_fresh_nonces() {
        let last = AtomicU64::new(0);
        assert_eq!(next_nonce(&last, 1_000), 1_000);
        // The same nanosecond again (another thread, a coarse clock): one more.
        assert_eq!(next_nonce(&last, 1_000), 1_001);
        assert_eq!(next_nonce(&last, 1_000), 1_002);
        // A clock stepped back does not bring old nonces back.
        assert_eq!(next_nonce(&last, 500), 1_003);
        // A clock that moved on is followed again.
        assert_eq!(next_nonce(&last, 9_000), 9_000);
    }
}

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// BLAKE3-256 of a request body: the body's stand-in in every neuronet signature. BLAKE3 hashes
/// a 1 MiB body in a fraction of SHA-256's time, which is most of the cost of signing large
/// requests.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyHash(pub [u8; 32]);

impl BodyHash {
    /// Hashes `body`.
    pub fn of(body: &[u8]) -> Self {
        BodyHash(*blake3::hash(body).as_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for BodyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BodyHash({})", self.to_hex())
    }
}

/// What a neuronet request signature covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestPayload<'a> {
    /// Synapse name (at most [`MAX_SYNAPSE_NAME`] bytes).
    pub synapse: &'a str,
    /// The signing hotkey.
    pub sender: &'a Hotkey,
    /// The hotkey the request is meant for.
    pub receiver: &'a [u8; 32],
    /// Freshness and replay nonce.
    pub nonce: Nonce,
    /// The sender's deadline, in milliseconds.
    pub timeout_ms: u32,
    /// Hash of the body bytes.
    pub body_hash: &'a BodyHash,
}

impl RequestPayload<'_> {
    /// The canonical bytes:
    /// `REQUEST_DOMAIN | crypto u8 | sender [32] | receiver [32] | nonce u64 BE | timeout_ms u32 BE |
    /// name_len u16 BE | name | body_hash [32]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let name = self.synapse.as_bytes();
        let name = &name[..name.len().min(MAX_SYNAPSE_NAME)];
        let mut out = Vec::with_capacity(REQUEST_DOMAIN.len() + 1 + 32 + 32 + 8 + 4 + 2 + name.len() + 32);
        out.extend_from_slice(REQUEST_DOMAIN);
        out.push(self.sender.crypto().code());
        out.extend_from_slice(self.sender.public());
        out.extend_from_slice(self.receiver);
        out.extend_from_slice(&self.nonce.0.to_be_bytes());
        out.extend_from_slice(&self.timeout_ms.to_be_bytes());
        // name.len() <= MAX_SYNAPSE_NAME, so it fits in a u16.
        out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&self.body_hash.0);
        out
    }
}

impl RequestPayload<'_> {
    /// SHA-256 of [`RequestPayload::to_bytes`]: what a batch signature lists for this request.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }
}

/// What a batch signature covers: `BATCH_DOMAIN | count u16 BE | digest_1 .. digest_count`,
/// each digest the SHA-256 of one request's payload bytes, in stream order.
pub fn batch_payload(digests: &[[u8; 32]]) -> Vec<u8> {
    let digests = &digests[..digests.len().min(MAX_BATCH)];
    let mut out = Vec::with_capacity(BATCH_DOMAIN.len() + 2 + 32 * digests.len());
    out.extend_from_slice(BATCH_DOMAIN);
    out.extend_from_slice(&(digests.len() as u16).to_be_bytes());
    for digest in digests {
        out.extend_from_slice(digest);
    }
    out
}

/// What a hotkey binding signature covers:
/// `BINDING_DOMAIN | crypto u8 | hotkey [32] | peer_id_len u16 BE | peer_id | expires_at u64 BE`.
pub fn binding_payload(hotkey: &Hotkey, peer_id: &[u8], expires_at: u64) -> Vec<u8> {
    let peer_id = &peer_id[..peer_id.len().min(u16::MAX as usize)];
    let mut out = Vec::with_capacity(BINDING_DOMAIN.len() + 1 + 32 + 2 + peer_id.len() + 8);
    out.extend_from_slice(BINDING_DOMAIN);
    out.push(hotkey.crypto().code());
    out.extend_from_slice(hotkey.public());
    out.extend_from_slice(&(peer_id.len() as u16).to_be_bytes());
    out.extend_from_slice(peer_id);
    out.extend_from_slice(&expires_at.to_be_bytes());
    out
}

/// The bittensor 10.x dendrite message:
/// `"{nonce}.{dendrite_hotkey}.{axon_hotkey}.{dendrite_uuid}.{body_hash}"`.
pub fn v10_message(
    nonce: u64,
    dendrite_hotkey: &str,
    axon_hotkey: &str,
    dendrite_uuid: &str,
    body_hash: &str,
) -> String {
    format!("{nonce}.{dendrite_hotkey}.{axon_hotkey}.{dendrite_uuid}.{body_hash}")
}

/// The bittensor 10.x body hash: sha3-256 hex of the concatenated sha3-256 hex digests of each
/// required hash field's Python `str()` text, in declaration order.
pub fn v10_body_hash<'a>(field_texts: impl IntoIterator<Item = &'a str>) -> String {
    let joined: String = field_texts.into_iter().map(|text| hex::encode(Sha3_256::digest(text.as_bytes()))).collect();
    hex::encode(Sha3_256::digest(joined.as_bytes()))
}

/// Verifies a v10 signature as bittensor_wallet does: over the message, or over the message
/// wrapped in `<Bytes>` and `</Bytes>`.
pub fn v10_verify(hotkey: &Hotkey, message: &str, signature: &crate::Signature) -> crate::Result<()> {
    if hotkey.verify(message.as_bytes(), signature).is_ok() {
        return Ok(());
    }
    let wrapped = format!("<Bytes>{message}</Bytes>");
    hotkey.verify(wrapped.as_bytes(), signature)
}

/// The fields of a btauth/1 request that its signature covers.
#[derive(Debug, Clone, Copy)]
pub struct BtauthRequest<'a> {
    /// The scheme of the sender's key.
    pub crypto: CryptoType,
    /// HTTP method (upper-cased in the payload).
    pub method: &'a str,
    /// Request target exactly as sent, including `?query`.
    pub path: &'a str,
    /// Raw body bytes.
    pub body: &'a [u8],
    /// Nanoseconds since the Unix epoch.
    pub nonce: u64,
    /// Sender SS58.
    pub sender: &'a str,
    /// Receiver SS58, or `None` for an unbound request.
    pub receiver: Option<&'a str>,
}

impl BtauthRequest<'_> {
    /// The payload: `btauth/1`, scheme, METHOD, path, sha256(body) hex, nonce, sender, receiver
    /// (or `-`), joined by `\n` without a trailing newline.
    pub fn payload(&self) -> String {
        [
            "btauth/1",
            self.crypto.name(),
            &self.method.to_ascii_uppercase(),
            self.path,
            &hex::encode(Sha256::digest(self.body)),
            &self.nonce.to_string(),
            self.sender,
            self.receiver.unwrap_or("-"),
        ]
        .join("\n")
    }
}
