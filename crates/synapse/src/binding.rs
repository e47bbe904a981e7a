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
    /// The signature does not verify.
    #[error("binding signature does not verify for {0}")]
    BadSignature(String),
}

/// Checks `binding` against the connection's authenticated `peer_id` and the clock, and returns
/// the hotkey it proves.
pub fn verify_binding(binding: &HotkeyBinding, peer_id: &[u8], now_secs: u64) -> Result<Hotkey, BindingError> {
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
    hotkey
        .verify(&binding_payload(&hotkey, peer_id, binding.expires_at), &signature)
        .map_err(|_| BindingError::BadSignature(hotkey.to_ss58()))?;
    Ok(hotkey)
}
