//! The one error type of the protocol crate: every failure names what failed and with which value.

use std::path::PathBuf;

/// Errors from keys, addresses, wallet files, envelopes and signatures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SS58 text is not valid base58.
    #[error("invalid SS58 address {0:?}: not base58")]
    Ss58NotBase58(String),
    /// The decoded SS58 bytes have the wrong length for a 32-byte account.
    #[error("invalid SS58 address {address:?}: decodes to {len} bytes, expected 35 (prefix 42)")]
    Ss58BadLength {
        /// The address as given.
        address: String,
        /// Decoded length.
        len: usize,
    },
    /// The two checksum bytes do not match.
    #[error("invalid SS58 address {0:?}: bad checksum")]
    Ss58BadChecksum(String),
    /// The address belongs to another network.
    #[error("SS58 address {address:?} has network prefix {prefix}, expected 42 (Bittensor)")]
    Ss58WrongPrefix {
        /// The address as given.
        address: String,
        /// The prefix it carries.
        prefix: u16,
    },
    /// A crypto type name or number that is neither sr25519 nor ed25519.
    #[error("unknown crypto type {0:?}: expected sr25519 (1) or ed25519 (0)")]
    UnknownCryptoType(String),
    /// The secret URI cannot be parsed.
    #[error("invalid secret URI: {0}")]
    InvalidSuri(String),
    /// The mnemonic phrase is not a valid BIP-39 English phrase.
    #[error("invalid mnemonic phrase: {0}")]
    InvalidPhrase(String),
    /// A hex seed of the wrong size or with bad digits.
    #[error("invalid seed: {0}")]
    InvalidSeed(String),
    /// ed25519 keys only support hard derivation (`//path`).
    #[error("soft derivation /{0} is not possible for ed25519 keys; use //{0}")]
    SoftDerivationUnsupported(String),
    /// A public key that is not a valid point for its scheme, or of the wrong length.
    #[error("invalid {crypto} public key: {reason}")]
    InvalidPublicKey {
        /// The scheme.
        crypto: crate::CryptoType,
        /// Why.
        reason: String,
    },
    /// A signature of the wrong length or encoding.
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// A well-formed signature that does not verify.
    #[error("signature does not verify for {0}")]
    BadSignature(String),
    /// A wallet file that cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A keyfile whose JSON does not have the expected shape.
    #[error("keyfile {}: {reason}", path.display())]
    Keyfile {
        /// The file (empty when parsed from memory).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted keyfile and no password to open it.
    #[error("keyfile {} is encrypted: a password is needed", path.display())]
    PasswordRequired {
        /// The file.
        path: PathBuf,
    },
    /// The password does not open the keyfile.
    #[error("wrong password for keyfile {}", path.display())]
    WrongPassword {
        /// The file.
        path: PathBuf,
    },
    /// An encrypted keyfile in a format neuronet does not read.
    #[error("keyfile {} uses an unsupported encryption ({format}); re-encrypt it with btcli (NaCl)", path.display())]
    UnsupportedEncryption {
        /// The file.
        path: PathBuf,
        /// The format detected.
        format: &'static str,
    },
    /// A file that would be overwritten without permission.
    #[error("{} already exists; pass overwrite to replace it", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// An envelope header that is not valid protobuf or breaks a field rule.
    #[error("malformed envelope: {0}")]
    Envelope(String),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
