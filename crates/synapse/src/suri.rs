//! Secret URIs as subkey reads them: `<phrase or 0x-seed>(//hard|/soft)*(///password)?`, with
//! Substrate's key derivation (sr25519 HDKD; ed25519 hard derivation only).

use crate::{CryptoType, Error, Keypair, Result};
use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use parity_scale_codec::Encode;
use schnorrkel::derive::Derivation;
use zeroize::Zeroizing;

/// The development phrase behind `//Alice`, `//Bob` and friends.
pub const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// One step of a derivation path: hard (`//x`) or soft (`/x`), with its 32-byte chain code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Junction {
    /// Hard junctions derive a new secret that cannot be linked to the parent's public key.
    pub hard: bool,
    /// The junction text as written.
    pub text: String,
    /// The chain code: the SCALE encoding of the junction (a u64 if the text is a number, else
    /// the string), zero-padded to 32 bytes or blake2-256 hashed when longer.
    pub chain_code: [u8; 32],
}

impl Junction {
    fn new(text: &str, hard: bool) -> Self {
        let encoded = match text.parse::<u64>() {
            Ok(number) => number.encode(),
            Err(_) => text.encode(),
        };
        let mut chain_code = [0u8; 32];
        if encoded.len() > 32 {
            chain_code.copy_from_slice(&blake2_256(&encoded));
        } else {
            chain_code[..encoded.len()].copy_from_slice(&encoded);
        }
        Junction { hard, text: text.to_owned(), chain_code }
    }
}

/// The secret a URI starts from.
#[derive(Clone)]
pub enum SecretSource {
    /// A BIP-39 phrase (the dev phrase when the URI starts with a path).
    Phrase(Zeroizing<String>),
    /// A raw 32-byte seed given as `0x` hex.
    Seed(Zeroizing<[u8; 32]>),
}

/// A parsed secret URI.
#[derive(Clone)]
pub struct SecretUri {
    /// Where the secret comes from.
    pub source: SecretSource,
    /// The derivation path.
    pub junctions: Vec<Junction>,
    /// The BIP-39 password (`///password`).
    pub password: Option<Zeroizing<String>>,
}

impl SecretUri {
    /// Parses a URI. Empty junctions (`///` aside) and bad hex are errors.
    pub fn parse(uri: &str) -> Result<Self> {
        let (body, password) = match uri.find("///") {
            Some(at) => (&uri[..at], Some(Zeroizing::new(uri[at + 3..].to_owned()))),
            None => (uri, None),
        };
        let (phrase, path) = match body.find('/') {
            Some(at) => (&body[..at], &body[at..]),
            None => (body, ""),
        };
        let phrase = phrase.trim();
        let source = if let Some(digits) = phrase.strip_prefix("0x") {
            let bytes = Zeroizing::new(hex::decode(digits).map_err(|e| Error::InvalidSeed(format!("not hex: {e}")))?);
            let seed: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| Error::InvalidSeed(format!("{} bytes, expected 32", bytes.len())))?;
            SecretSource::Seed(Zeroizing::new(seed))
        } else if phrase.is_empty() {
            SecretSource::Phrase(Zeroizing::new(DEV_PHRASE.to_owned()))
        } else {
            SecretSource::Phrase(Zeroizing::new(phrase.to_owned()))
        };
        let junctions = parse_path(path)?;
        Ok(SecretUri { source, junctions, password })
    }

    /// Derives the keypair for `crypto`.
    pub fn derive(&self, crypto: CryptoType) -> Result<Keypair> {
        let password = self.password.as_deref().map(String::as_str).unwrap_or("");
        let (seed, phrase) = match &self.source {
            SecretSource::Seed(seed) => (Zeroizing::new(**seed), None),
            SecretSource::Phrase(phrase) => (seed_from_phrase(phrase, password)?, Some(phrase.to_string())),
        };
        // A key made straight from a phrase remembers it, as btcli's wallet files do.
        let phrase = if self.junctions.is_empty() { phrase } else { None };
        match crypto {
            CryptoType::Ed25519 => {
                let mut current = seed;
                for junction in &self.junctions {
                    if !junction.hard {
                        return Err(Error::SoftDerivationUnsupported(junction.text.clone()));
                    }
                    let input = ("Ed25519HDKD", *current, junction.chain_code).encode();
                    current = Zeroizing::new(blake2_256(&input));
                }
                Ok(Keypair::from_seed(&current, crypto).with_phrase(phrase))
            }
            CryptoType::Sr25519 => {
                let mini =
                    schnorrkel::MiniSecretKey::from_bytes(&*seed).map_err(|e| Error::InvalidSeed(e.to_string()))?;
                let mut pair = mini.expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
                let mut current_seed = Some(*seed);
                for junction in &self.junctions {
                    let code = schnorrkel::derive::ChainCode(junction.chain_code);
                    if junction.hard {
                        let (child, _) = pair.secret.hard_derive_mini_secret_key(Some(code), b"");
                        current_seed = Some(child.to_bytes());
                        pair = child.expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
                    } else {
                        pair = pair.derived_key_simple(code, []).0;
                        current_seed = None;
                    }
                }
                Ok(Keypair::from_sr25519(pair, current_seed).with_phrase(phrase))
            }
        }
    }
}

fn parse_path(mut path: &str) -> Result<Vec<Junction>> {
    let mut junctions = Vec::new();
    while !path.is_empty() {
        let (hard, rest) = match path.strip_prefix("//") {
            Some(rest) => (true, rest),
            None => (false, path.strip_prefix('/').unwrap_or(path)),
        };
        let end = rest.find('/').unwrap_or(rest.len());
        let text = &rest[..end];
        if text.is_empty() {
            return Err(Error::InvalidSuri("empty derivation junction".into()));
        }
        junctions.push(Junction::new(text, hard));
        path = &rest[end..];
    }
    Ok(junctions)
}

/// The 32-byte seed Substrate makes from a BIP-39 phrase: PBKDF2-HMAC-SHA512 over the phrase's
/// entropy (not its words) with salt `mnemonic` + password, 2048 rounds, first 32 bytes.
pub fn seed_from_phrase(phrase: &str, password: &str) -> Result<Zeroizing<[u8; 32]>> {
    let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase)
        .map_err(|e| Error::InvalidPhrase(e.to_string()))?;
    let entropy = Zeroizing::new(mnemonic.to_entropy());
    let seed =
        substrate_bip39::seed_from_entropy(&entropy, password).map_err(|e| Error::InvalidPhrase(format!("{e:?}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&seed[..32]);
    Ok(out)
}

pub(crate) fn blake2_256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Blake2b::<U32>::new();
    hasher.update(data);
    hasher.finalize().into()
}
