//! The chain client's errors.

/// What went wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes from the chain that do not decode as the type they should be; the message names
    /// the field that failed.
    #[error("decoding {what}: {message}")]
    Decode {
        /// The type being decoded.
        what: &'static str,
        /// The codec's account, field by field.
        message: String,
    },
    /// The chain refused a transaction (or a dispatch failed) with one of its own errors.
    #[error("the chain refused the transaction: {pallet}::{name}{}", if .docs.is_empty() { String::new() } else { format!(" ({})", .docs) })]
    Module {
        /// The pallet, such as `SubtensorModule`.
        pallet: String,
        /// The error's name, such as `HotKeyNotRegisteredInSubNet`.
        name: String,
        /// The error's documentation from the metadata.
        docs: String,
    },
    /// The node would not take the transaction (a stale nonce, a fee the account cannot pay, a
    /// bad signature), or it was dropped from the pool.
    #[error("the node rejected the transaction: {0}")]
    Rejected(String),
    /// The runtime lacks a call, a storage item or an API neuronet needs, or has one whose shape
    /// it does not know.
    #[error("the runtime does not offer {0}")]
    Unsupported(String),
    /// Input the caller gave that cannot be sent (a bad address, mismatched weights, ...).
    #[error("{0}")]
    Invalid(String),
    /// The connection or the node failed.
    #[error("chain connection: {0}")]
    Rpc(String),
}

impl Error {
    pub(crate) fn decode(what: &'static str, error: parity_scale_codec::Error) -> Self {
        Error::Decode { what, message: error.to_string().replace(":\n\t", ": ").replace('\n', " ") }
    }
}

/// The chain client's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
