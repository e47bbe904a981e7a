//! neuronet: the networking stack for Bittensor subnets, rebuilt in Rust as a libp2p overlay over
//! QUIC. This crate is the one to link; it re-exports the protocol core ([`synapse`]) and the
//! overlay ([`transport`]).
//!
//! Declare a synapse of your own in a few lines:
//! ```
//! use neuronet::synapse::{synapse, Synapse};
//!
//! #[derive(Clone, PartialEq, neuronet::prost::Message, serde::Serialize, serde::Deserialize)]
//! pub struct Question {
//!     #[prost(string, tag = "1")]
//!     pub text: String,
//! }
//!
//! #[derive(Clone, PartialEq, neuronet::prost::Message, serde::Serialize, serde::Deserialize)]
//! pub struct Answer {
//!     #[prost(string, tag = "1")]
//!     pub text: String,
//!     #[prost(float, tag = "2")]
//!     pub confidence: f32,
//! }
//!
//! synapse! {
//!     /// Answers a question.
//!     pub struct Ask: Question => Answer;
//! }
//!
//! assert_eq!(Ask::NAME, "Ask");
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use neuronet_synapse as synapse;
pub use neuronet_transport as transport;

pub use neuronet_synapse::{builtin, proto, Hotkey, Keypair, Status, Synapse, SynapseKind};
pub use prost;
