//! neuronet's protocol core, with no I/O: synapses and their envelopes, hotkeys and btcli
//! wallets, the exact bytes every signature covers, the nonce guard, and status codes.
//!
//! ```
//! use neuronet_synapse::{envelope::RequestHead, CryptoType, Keypair};
//!
//! let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
//! let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;
//! let body = b"request body";
//! let mut head = RequestHead::new("Ping", alice.hotkey(), *bob.hotkey().public(), 12_000);
//! head.sign(&alice, body);
//! let received = RequestHead::decode(&head.encode())?;
//! received.verify(body)?;
//! assert_eq!(received.sender.to_ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
//! # Ok::<(), neuronet_synapse::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
pub mod binding;
pub mod envelope;
mod error;
pub mod frame;
pub mod http_auth;
pub mod keyfile;
mod keys;
pub mod nonce;
pub mod payload;
mod sr25519;
pub mod ss58;
mod status;
pub mod suri;
mod synapse;
pub mod v10;
pub mod wallet;

pub use error::{Error, Result};
pub use keys::{CryptoType, Hotkey, Keypair, Signature, VerifyingKey, SR25519_SIGNING_CONTEXT};
pub use sr25519::curve_backend;
pub use status::{Failure, Status};
pub use synapse::{builtin, Synapse, SynapseKind, SynapseMessage};

/// Re-exported so that `synapse!` users and generated code share one version.
pub use prost;

/// The generated protobuf types of `proto/neuronet/v1`.
#[allow(missing_docs, clippy::doc_lazy_continuation)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/neuronet.v1.rs"));
}
