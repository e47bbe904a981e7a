//! Hotkey bindings: a hotkey's signed, expiring statement that a libp2p PeerId speaks for it.
//! Each side of a connection presents one; checking it needs no I/O, so it lives here.

use crate::payload::binding_payload;
use crate::proto::HotkeyBinding;
use crate::{CryptoType, Error, Hotkey, Keypair, Result, Signature};

/// Signs a binding of `pair`'s hotkey to `peer_id` (binary PeerId), valid until `expires_at`
/// (seconds since the Unix epoch).
pub fn sign_binding(pair: &Keypair, peer_id: &[u8], expires_at: u64) -> HotkeyBinding {
    let hotkey = pair.hotkey();
    let signature = pair.sign(&binding_payload(&hotkey, peer_id, expires_at));
    HotkeyBinding {
        hotkey: hotkey.public().to_vec().into(),
        crypto: u32::from(hotkey.crypto().code()),
        peer_id: peer_id.to_vec().into(),
        expires_at,
        signature: signature.0.to_vec().into(),
    }
}

/// Why a binding was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    /// A field has the wrong shape.
    #[error("malformed binding: {0}")]
    Malformed(String),
    /// The binding names another PeerId than the connection's.
    #[error("binding is for another peer id")]
    WrongPeer,
    /// Past its expiry.
    #[error("binding expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: u64,
        /// The checker's clock.
        now: u64,
    },
    /// Valid for longer than the checker allows: a leaked binding must not speak for its hotkey
    /// forever.
    #[error("binding lasts too long: it expires at {expires_at}, later than the latest accepted, {latest}")]
    TooLong {
        /// Its expiry.
        expires_at: u64,
        /// The latest expiry accepted now: `now + max_lifetime + max_skew`.
        latest: u64,
    },
    /// The signature does not verify.
    #[error("binding signature does not verify for {0}")]
    BadSignature(String),
}

/// How long a binding may last, as its checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindingRules {
    /// Longest lifetime accepted, counted from the checker's clock. Default 24 h, the lifetime
    /// neuronet signs its own bindings for.
    pub max_lifetime_secs: u64,
    /// Allowance for the signer's clock running ahead of the checker's. Default 300 s.
    pub max_skew_secs: u64,
}

impl Default for BindingRules {
    fn default() -> Self {
        BindingRules { max_lifetime_secs: MAX_BINDING_LIFETIME_SECS, max_skew_secs: BINDING_SKEW_SECS }
    }
}

impl BindingRules {
    /// Sets `max_lifetime_secs`. Default 24 h, the lifetime neuronet signs its own bindings for.
    pub fn with_max_lifetime_secs(mut self, max_lifetime_secs: u64) -> Self {
        self.max_lifetime_secs = max_lifetime_secs;
        self
    }
    /// Sets `max_skew_secs`. Default 300 s.
    pub fn with_max_skew_secs(mut self, max_skew_secs: u64) -> Self {
        self.max_skew_secs = max_skew_secs;
        self
    }
}

/// The longest binding lifetime accepted by default: 24 h.
pub const MAX_BINDING_LIFETIME_SECS: u64 = 24 * 3600;
/// The clock skew allowed on a binding's expiry by default: 5 min.
pub const BINDING_SKEW_SECS: u64 = 300;

/// Checks `binding` against the connection's authenticated `peer_id` and the clock under the
/// default [`BindingRules`], and returns the hotkey it proves.
pub fn verify_binding(binding: &HotkeyBinding, peer_id: &[u8], now_secs: u64) -> Result<Hotkey, BindingError> {
    check_binding(binding, peer_id, now_secs, BindingRules::default())
}

/// Checks `binding` against the connection's authenticated `peer_id`, the clock and `rules`, in
/// this order, cheapest first: shape, PeerId, expiry, lifetime, signature. Returns the hotkey it
/// proves.
pub fn check_binding(
    binding: &HotkeyBinding,
    peer_id: &[u8],
    now_secs: u64,
    rules: BindingRules,
) -> Result<Hotkey, BindingError> {
    let crypto = u8::try_from(binding.crypto)
        .ok()
        .and_then(|c| CryptoType::from_code(u64::from(c)).ok())
        .ok_or_else(|| BindingError::Malformed(format!("unknown crypto type {}", binding.crypto)))?;
    let hotkey =
        Hotkey::from_slice(crypto, &binding.hotkey).map_err(|e: Error| BindingError::Malformed(e.to_string()))?;
    let signature = Signature::from_slice(&binding.signature).map_err(|e| BindingError::Malformed(e.to_string()))?;
    if binding.peer_id.as_ref() != peer_id {
        return Err(BindingError::WrongPeer);
    }
    if binding.expires_at <= now_secs {
        return Err(BindingError::Expired { expires_at: binding.expires_at, now: now_secs });
    }
    let latest = now_secs.saturating_add(rules.max_lifetime_secs).saturating_add(rules.max_skew_secs);
    if binding.expires_at > latest {
        return Err(BindingError::TooLong { expires_at: binding.expires_at, latest });
    }
    hotkey
        .verify(&binding_payload(&hotkey, peer_id, binding.expires_at), &signature)
        .map_err(|_| BindingError::BadSignature(hotkey.to_ss58()))?;
    Ok(hotkey)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_binding_lasts_at_most_its_lifetime_plus_the_skew() {
        let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap();
        let rules = BindingRules::default();
        let latest = NOW + rules.max_lifetime_secs + rules.max_skew_secs;
        for expires_at in [NOW + 1, NOW + 24 * 3600, latest] {
            let binding = sign_binding(&alice, b"peer", expires_at);
            assert_eq!(check_binding(&binding, b"peer", NOW, rules), Ok(alice.hotkey()), "expiring at {expires_at}");
        }
        for expires_at in [latest + 1, u64::MAX] {
            let binding = sign_binding(&alice, b"peer", expires_at);
            assert_eq!(check_binding(&binding, b"peer", NOW, rules), Err(BindingError::TooLong { expires_at, latest }),);
        }
        let expired = sign_binding(&alice, b"peer", NOW);
        assert_eq!(verify_binding(&expired, b"peer", NOW), Err(BindingError::Expired { expires_at: NOW, now: NOW }));
        let short = BindingRules { max_lifetime_secs: 60, max_skew_secs: 0 };
        assert!(check_binding(&sign_binding(&alice, b"peer", NOW + 61), b"peer", NOW, short).is_err());
    }
}
