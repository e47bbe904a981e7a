//! Hotkeys: sr25519 and ed25519 keypairs as Bittensor wallets hold them, their public identities,
//! and signatures. sr25519 signs under Substrate's signing context `substrate`; ed25519 signs the
//! message bytes directly.

use crate::{sr25519, ss58, suri, Error, Result};
use std::fmt;
use zeroize::Zeroizing;

/// The signing context every Substrate and Bittensor sr25519 signature uses.
pub const SR25519_SIGNING_CONTEXT: &[u8] = b"substrate";

/// A hotkey's signature scheme, numbered as Bittensor keyfiles number it (`cryptoType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CryptoType {
    /// Edwards-curve signatures (RFC 8032); `cryptoType` 0.
    Ed25519,
    /// Schnorr signatures on Ristretto (schnorrkel); `cryptoType` 1, the Bittensor default.
    #[default]
    Sr25519,
}

impl CryptoType {
    /// The number wallet files and btauth headers use: 0 for ed25519, 1 for sr25519.
    pub fn code(self) -> u8 {
        match self {
            CryptoType::Ed25519 => 0,
            CryptoType::Sr25519 => 1,
        }
    }

    /// The scheme for a wallet-file number.
    pub fn from_code(code: u64) -> Result<Self> {
        match code {
            0 => Ok(CryptoType::Ed25519),
            1 => Ok(CryptoType::Sr25519),
            other => Err(Error::UnknownCryptoType(other.to_string())),
        }
    }

    /// The canonical lower-case name: `sr25519` or `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            CryptoType::Ed25519 => "ed25519",
            CryptoType::Sr25519 => "sr25519",
        }
    }
}

impl fmt::Display for CryptoType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CryptoType {
    type Err = Error;

    /// Accepts `sr25519`/`ed25519` in any case, and the numbers `1`/`0`.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sr25519" | "1" => Ok(CryptoType::Sr25519),
            "ed25519" | "0" => Ok(CryptoType::Ed25519),
            _ => Err(Error::UnknownCryptoType(s.to_owned())),
        }
    }
}

/// A 64-byte signature by a hotkey.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    /// Reads a signature from exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; 64] =
            bytes.try_into().map_err(|_| Error::MalformedSignature(format!("{} bytes, expected 64", bytes.len())))?;
        Ok(Signature(array))
    }

    /// Reads `0x`-prefixed (or bare) hex of 64 bytes.
    pub fn from_hex(text: &str) -> Result<Self> {
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let bytes = hex::decode(digits).map_err(|e| Error::MalformedSignature(format!("not hex: {e}")))?;
        Self::from_slice(&bytes)
    }

    /// `0x` + lower-case hex, as Bittensor prints signatures.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

/// A hotkey's public identity: its 32-byte public key and scheme. Displays as its SS58 address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hotkey {
    crypto: CryptoType,
    public: [u8; 32],
}

impl Hotkey {
    /// A hotkey from raw public key bytes. The bytes are checked when a signature is verified.
    pub fn new(crypto: CryptoType, public: [u8; 32]) -> Self {
        Hotkey { crypto, public }
    }

    /// A hotkey from a slice that must be 32 bytes long.
    pub fn from_slice(crypto: CryptoType, bytes: &[u8]) -> Result<Self> {
        let public: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::InvalidPublicKey { crypto, reason: format!("{} bytes, expected 32", bytes.len()) })?;
        Ok(Hotkey { crypto, public })
    }

    /// Parses an SS58 address (prefix 42). SS58 does not carry the scheme, so the caller names it.
    pub fn from_ss58(address: &str, crypto: CryptoType) -> Result<Self> {
        Ok(Hotkey { crypto, public: ss58::decode(address)? })
    }

    /// The scheme.
    pub fn crypto(&self) -> CryptoType {
        self.crypto
    }

    /// The 32 public key bytes (the AccountId32 on chain).
    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The SS58 address, prefix 42.
    pub fn to_ss58(&self) -> String {
        ss58::encode(&self.public)
    }

    /// Verifies `signature` over `message` under this hotkey's scheme (sr25519 with the
    /// `substrate` context). Never tries the other scheme.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<()> {
        self.verifying_key()?.verify(message, signature)
    }

    /// The public key decoded once, for verifying many signatures.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        let invalid = |reason: String| Error::InvalidPublicKey { crypto: self.crypto, reason };
        let key = match self.crypto {
            CryptoType::Sr25519 => Verifier::Sr25519(
                sr25519::PublicKey::from_bytes(&self.public).map_err(|reason| invalid(reason.into()))?,
            ),
            CryptoType::Ed25519 => Verifier::Ed25519(
                ed25519_dalek::VerifyingKey::from_bytes(&self.public).map_err(|e| invalid(e.to_string()))?,
            ),
        };
        Ok(VerifyingKey { hotkey: *self, key })
    }
}

/// A hotkey's public key, decoded once for repeated verification: decoding an sr25519 key is a
/// point decompression, about a tenth of a verification's cost.
#[derive(Clone)]
pub struct VerifyingKey {
    hotkey: Hotkey,
    key: Verifier,
}

#[derive(Clone)]
enum Verifier {
    Sr25519(sr25519::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl VerifyingKey {
    /// The hotkey this key belongs to.
    pub fn hotkey(&self) -> Hotkey {
        self.hotkey
    }

    /// Verifies `signature` over `message` (see [`Hotkey::verify`]).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<()> {
        let bad = || Error::BadSignature(self.hotkey.to_ss58());
        match &self.key {
            Verifier::Sr25519(public) => {
                public.verify(SR25519_SIGNING_CONTEXT, message, &signature.0).map_err(|rejection| match rejection {
                    sr25519::Rejection::Equation => bad(),
                    malformed => Error::MalformedSignature(malformed.reason().into()),
                })
            }
            Verifier::Ed25519(public) => {
                let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
                public.verify_strict(message, &sig).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({:?})", self.hotkey)
    }
}

impl fmt::Display for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for Hotkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hotkey({} {})", self.crypto, self.to_ss58())
    }
}

enum Secret {
    Sr25519(schnorrkel::Keypair),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A hotkey's secret half: signs requests, bindings and legacy messages.
///
/// ```
/// use neuronet_synapse::{CryptoType, Keypair};
/// let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
/// assert_eq!(alice.hotkey().to_ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
/// let signature = alice.sign(b"hello");
/// alice.hotkey().verify(b"hello", &signature)?;
/// # Ok::<(), neuronet_synapse::Error>(())
/// ```
pub struct Keypair {
    secret: Secret,
    hotkey: Hotkey,
    seed: Option<Zeroizing<[u8; 32]>>,
    phrase: Option<Zeroizing<String>>,
}

impl Keypair {
    /// A keypair from a 32-byte seed (Substrate's mini-secret for sr25519, the RFC 8032 secret for ed25519).
    pub fn from_seed(seed: &[u8; 32], crypto: CryptoType) -> Self {
        let secret = match crypto {
            CryptoType::Sr25519 => {
                // Substrate expands mini-secrets in Ed25519 mode; Bittensor wallets do the same.
                let mini = schnorrkel::MiniSecretKey::from_bytes(seed).unwrap_or_else(|_| unreachable_len());
                Secret::Sr25519(mini.expand_to_keypair(schnorrkel::ExpansionMode::Ed25519))
            }
            CryptoType::Ed25519 => Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)),
        };
        Self::assemble(secret, Some(*seed), None)
    }

    /// A keypair from a secret URI as subkey reads it: `//Alice`, `0x<seed>//path`,
    /// `<mnemonic>//hard/soft///password`.
    pub fn from_suri(uri: &str, crypto: CryptoType) -> Result<Self> {
        let parsed = suri::SecretUri::parse(uri)?;
        parsed.derive(crypto)
    }

    /// A keypair from a BIP-39 phrase and optional password (no derivation path).
    pub fn from_phrase(phrase: &str, password: Option<&str>, crypto: CryptoType) -> Result<Self> {
        let seed = suri::seed_from_phrase(phrase, password.unwrap_or(""))?;
        let mut pair = Self::from_seed(&seed, crypto);
        pair.phrase = Some(Zeroizing::new(phrase.to_owned()));
        Ok(pair)
    }

    /// A new random keypair with a fresh mnemonic of `words` words (12, 15, 18, 21 or 24).
    pub fn generate(words: usize, crypto: CryptoType) -> Result<Self> {
        let mnemonic = bip39::Mnemonic::generate(words).map_err(|e| Error::InvalidPhrase(e.to_string()))?;
        Self::from_phrase(&mnemonic.to_string(), None, crypto)
    }

    /// A keypair from the `privateKey` of a wallet file: 64 bytes (schnorrkel secret key and
    /// nonce) for sr25519, 32 bytes (the seed) or 64 bytes (seed and public key) for ed25519.
    pub fn from_private_key(bytes: &[u8], crypto: CryptoType) -> Result<Self> {
        match crypto {
            CryptoType::Sr25519 => {
                let secret = if bytes.len() == 64 {
                    schnorrkel::SecretKey::from_bytes(bytes).map_err(|e| Error::InvalidSeed(e.to_string()))?
                } else {
                    return Err(Error::InvalidSeed(format!(
                        "sr25519 private key of {} bytes, expected 64",
                        bytes.len()
                    )));
                };
                Ok(Self::assemble(Secret::Sr25519(secret.to_keypair()), None, None))
            }
            CryptoType::Ed25519 => {
                let seed: [u8; 32] = bytes
                    .get(..32)
                    .filter(|_| bytes.len() == 32 || bytes.len() == 64)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| {
                        Error::InvalidSeed(format!("ed25519 private key of {} bytes, expected 32 or 64", bytes.len()))
                    })?;
                Ok(Self::from_seed(&seed, crypto))
            }
        }
    }

    pub(crate) fn from_sr25519(pair: schnorrkel::Keypair, seed: Option<[u8; 32]>) -> Self {
        Self::assemble(Secret::Sr25519(pair), seed, None)
    }

    pub(crate) fn with_phrase(mut self, phrase: Option<String>) -> Self {
        self.phrase = phrase.map(Zeroizing::new);
        self
    }

    fn assemble(secret: Secret, seed: Option<[u8; 32]>, phrase: Option<String>) -> Self {
        let hotkey = match &secret {
            Secret::Sr25519(pair) => Hotkey::new(CryptoType::Sr25519, pair.public.to_bytes()),
            Secret::Ed25519(key) => Hotkey::new(CryptoType::Ed25519, key.verifying_key().to_bytes()),
        };
        Keypair { secret, hotkey, seed: seed.map(Zeroizing::new), phrase: phrase.map(Zeroizing::new) }
    }

    /// The public identity.
    pub fn hotkey(&self) -> Hotkey {
        self.hotkey
    }

    /// The scheme.
    pub fn crypto(&self) -> CryptoType {
        self.hotkey.crypto
    }

    /// The 32-byte seed, when the key was made from one (not for soft-derived sr25519 keys).
    pub fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_deref()
    }

    /// The mnemonic phrase, when the key was made from one without a derivation path.
    pub fn phrase(&self) -> Option<&str> {
        self.phrase.as_deref().map(String::as_str)
    }

    /// The `privateKey` bytes a wallet file stores (see [`Keypair::from_private_key`]).
    pub fn private_key(&self) -> Zeroizing<Vec<u8>> {
        match &self.secret {
            Secret::Sr25519(pair) => Zeroizing::new(pair.secret.to_bytes().to_vec()),
            Secret::Ed25519(key) => Zeroizing::new(key.to_bytes().to_vec()),
        }
    }

    /// Signs `message` (sr25519 under the `substrate` context; ed25519 directly).
    pub fn sign(&self, message: &[u8]) -> Signature {
        match &self.secret {
            Secret::Sr25519(pair) => {
                // schnorrkel's nonce hedges the OS generator with the key and the message, so a
                // copy of the process (fork, snapshot) never signs with a nonce the original used.
                let context = schnorrkel::signing_context(SR25519_SIGNING_CONTEXT);
                Signature(pair.sign(context.bytes(message)).to_bytes())
            }
            Secret::Ed25519(key) => {
                use ed25519_dalek::Signer;
                Signature(key.sign(message).to_bytes())
            }
        }
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.hotkey)
    }
}

#[cold]
fn unreachable_len() -> schnorrkel::MiniSecretKey {
    // MiniSecretKey::from_bytes only fails on a length other than 32, which the array type rules out.
    unreachable!("a [u8; 32] is always a valid mini secret key")
}
