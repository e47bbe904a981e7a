//! drand quicknet on the devchain: checking that a supplied pulse is quicknet's signature of its
//! round (the devchain cannot reach drand, so pulses are supplied over `devchain_addPulse`), and
//! opening timelocked weight commits with it, as the chain's `Drand` pallet and reveal hook do.

use ark_ec::PrimeGroup;
use ark_serialize::CanonicalDeserialize;
use parity_scale_codec::{Decode, DecodeAll};
use sha2::{Digest, Sha256};
use timelock::block_ciphers::AESGCMBlockCipherProvider;
use timelock::engines::drand::TinyBLS381;
use timelock::engines::EngineBLS;
use timelock::tlock::{tld, TLECiphertext};

use crate::rt::bounded_collections::bounded_vec::BoundedVec;
use crate::rt::pallet_drand::types::Pulse;

/// drand quicknet's public key (G2, compressed).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// A quicknet signature: a compressed G1 point.
pub const SIGNATURE_BYTES: usize = 48;

/// Why a pulse or a commit is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DrandError {
    /// The signature is not a point of the signature group.
    #[error("not a quicknet signature: {0}")]
    NotASignature(String),
    /// The signature is a point, but not quicknet's signature of the round.
    #[error("not quicknet's signature of round {0}")]
    WrongSignature(u64),
    /// A commit's bytes are not a timelock ciphertext.
    #[error("not a timelock commitment: {0}")]
    NotACommit(&'static str),
    /// The pulse does not open the commit (another round, or tampered bytes).
    #[error("the pulse does not open the commit")]
    DoesNotOpen,
}

fn quicknet_key() -> <TinyBLS381 as EngineBLS>::PublicKeyGroup {
    let bytes = hex::decode(QUICKNET_PUBLIC_KEY).unwrap_or_default();
    <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(&bytes[..])
        .unwrap_or_else(|_| unreachable!("quicknet's public key is a valid G2 point"))
}

fn signature_point(signature: &[u8]) -> Result<<TinyBLS381 as EngineBLS>::SignatureGroup, DrandError> {
    if signature.len() != SIGNATURE_BYTES {
        return Err(DrandError::NotASignature(format!("{} bytes, not {SIGNATURE_BYTES}", signature.len())));
    }
    <TinyBLS381 as EngineBLS>::SignatureGroup::deserialize_compressed(signature)
        .map_err(|e| DrandError::NotASignature(e.to_string()))
}

/// Checks that `signature` is quicknet's BLS signature (bls-unchained-g1-rfc9380) of `round`:
/// e(signature, g2) = e(H(sha256(round as u64 big-endian)), public key).
pub fn verify_pulse(round: u64, signature: &[u8]) -> Result<(), DrandError> {
    let point = signature_point(signature)?;
    let message = TinyBLS381::hash_to_signature_curve(&Sha256::digest(round.to_be_bytes())[..]);
    let generator = <TinyBLS381 as EngineBLS>::PublicKeyGroup::generator();
    if TinyBLS381::pairing(generator, point) == TinyBLS381::pairing(quicknet_key(), message) {
        Ok(())
    } else {
        Err(DrandError::WrongSignature(round))
    }
}

/// The pulse the `Drand` pallet stores for a verified signature: randomness = sha256(signature).
pub fn pulse(round: u64, signature: &[u8]) -> Result<Pulse, DrandError> {
    verify_pulse(round, signature)?;
    Ok(Pulse {
        round,
        randomness: BoundedVec(Sha256::digest(signature).to_vec()),
        signature: BoundedVec(signature.to_vec()),
    })
}

/// Opens a timelocked commit (the bytes `commit_timelocked_weights` took) with a round's
/// signature.
pub fn open(commit: &[u8], signature: &[u8]) -> Result<Vec<u8>, DrandError> {
    let ciphertext = parse(commit)?;
    tld::<TinyBLS381, AESGCMBlockCipherProvider>(ciphertext, signature_point(signature)?)
        .map_err(|_| DrandError::DoesNotOpen)
}

/// Reads a commit as the chain and the Python SDK lay it out (ark-serialize, compressed): U (a
/// G2 point, 96 bytes), then V, W (32 bytes each), the AES-GCM body (itself the ciphertext and
/// the nonce, checked here, decoded by the cipher) and the cipher suite, each a u64
/// little-endian length and its bytes. Every length is checked against what is left before
/// anything is allocated.
fn parse(mut bytes: &[u8]) -> Result<TLECiphertext<TinyBLS381>, DrandError> {
    fn take<'a>(bytes: &mut &'a [u8], len: usize, what: &'static str) -> Result<&'a [u8], DrandError> {
        if bytes.len() < len {
            return Err(DrandError::NotACommit(what));
        }
        let (head, rest) = bytes.split_at(len);
        *bytes = rest;
        Ok(head)
    }
    fn take_vec<'a>(bytes: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], DrandError> {
        let len = u64::from_le_bytes(take(bytes, 8, what)?.try_into().unwrap_or_default());
        take(bytes, usize::try_from(len).unwrap_or(usize::MAX), what)
    }
    let u = take(&mut bytes, 96, "U is short")?;
    let v: [u8; 32] =
        take_vec(&mut bytes, "V is short")?.try_into().map_err(|_| DrandError::NotACommit("V is not 32 bytes"))?;
    let w: [u8; 32] =
        take_vec(&mut bytes, "W is short")?.try_into().map_err(|_| DrandError::NotACommit("W is not 32 bytes"))?;
    let body = take_vec(&mut bytes, "the body is short")?;
    let mut inner = body;
    take_vec(&mut inner, "the AES ciphertext is short")?;
    take_vec(&mut inner, "the AES nonce is short")?;
    if !inner.is_empty() {
        return Err(DrandError::NotACommit("the body has bytes left over"));
    }
    let suite = take_vec(&mut bytes, "the cipher suite is short")?;
    if suite != b"AES_GCM_" || !bytes.is_empty() {
        return Err(DrandError::NotACommit("the cipher suite is not AES_GCM_ or bytes are left over"));
    }
    let u = <TinyBLS381 as EngineBLS>::PublicKeyGroup::deserialize_compressed(u)
        .map_err(|_| DrandError::NotACommit("U is not a G2 point"))?;
    Ok(TLECiphertext {
        header: timelock::ibe::fullident::Ciphertext { u, v, w },
        body: body.to_vec(),
        cipher_suite: suite.to_vec(),
    })
}

/// What a timelocked commit holds (SCALE).
#[derive(Decode)]
struct WeightsTlockPayload {
    hotkey: Vec<u8>,
    uids: Vec<u16>,
    values: Vec<u16>,
    version_key: u64,
}

/// The older payload, without the hotkey.
#[derive(Decode)]
struct LegacyWeightsTlockPayload {
    uids: Vec<u16>,
    values: Vec<u16>,
    version_key: u64,
}

/// The weights an opened commit holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedWeights {
    /// The hotkey bytes the payload names; `None` for the older payload, which names none.
    pub hotkey: Option<Vec<u8>>,
    /// Destination uids.
    pub uids: Vec<u16>,
    /// Their weights.
    pub values: Vec<u16>,
    /// The version key.
    pub version_key: u64,
}

impl OpenedWeights {
    /// Decodes an opened commit: the current `WeightsTlockPayload {hotkey, uids, values,
    /// version_key}`, else the older form without `hotkey`; every byte must be used.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if let Ok(p) = WeightsTlockPayload::decode_all(&mut &bytes[..]) {
            return Some(Self { hotkey: Some(p.hotkey), uids: p.uids, values: p.values, version_key: p.version_key });
        }
        let p = LegacyWeightsTlockPayload::decode_all(&mut &bytes[..]).ok()?;
        Some(Self { hotkey: None, uids: p.uids, values: p.values, version_key: p.version_key })
    }
}
