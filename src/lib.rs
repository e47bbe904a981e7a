//! neuronet: the networking stack for Bittensor subnets, rebuilt in Rust as a libp2p overlay over
//! QUIC. This crate is the one to link; it re-exports the protocol core ([`synapse`]), the
//! overlay ([`transport`]) and the chain client ([`chain`]); [`discovery`] feeds the metagraph to
//! the overlay, and the types a first program needs sit at its root.
//!
//! Declare a synapse of your own in a few lines, with `neuronet` as the only dependency:
//! ```
//! use neuronet::{message, synapse, Synapse};
//!
//! message! {
//!     /// What the validator asks.
//!     pub struct Question {
//!         #[prost(string, tag = "1")]
//!         pub text: String,
//!     }
//! }
//!
//! message! {
//!     /// What the miner answers.
//!     pub struct Answer {
//!         #[prost(string, tag = "1")]
//!         pub text: String,
//!         #[prost(float, tag = "2")]
//!         pub confidence: f32,
//!     }
//! }
//!
//! synapse! {
//!     /// Answers a question.
//!     pub struct Ask: Question => Answer;
//! }
//!
//! assert_eq!(Ask::NAME, "Ask");
//! ```
//!
//! Serve it and query it:
//! ```
//! # use neuronet::{message, synapse};
//! # message! { pub struct Question { #[prost(string, tag = "1")] pub text: String } }
//! # message! { pub struct Answer { #[prost(string, tag = "1")] pub text: String } }
//! # synapse! { pub struct Ask: Question => Answer; }
//! use neuronet::{Axon, AxonConfig, CryptoType, Dendrite, DendriteConfig, Keypair, Status, Target};
//!
//! # #[tokio::main] async fn main() -> Result<(), neuronet::transport::Error> {
//! let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;
//! let axon = Axon::new(miner, AxonConfig::default())
//!     .serve::<Ask, _, _>(|_ctx, q: Question| async move { Ok(Answer { text: format!("you asked {}", q.text) }) })
//!     .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
//!     .await?;
//!
//! let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
//! let dendrite = Dendrite::new(validator, DendriteConfig::default()).await?;
//! let target = Target::Explicit { hotkey: axon.hotkey(), addr: axon.listen_addrs()[0].clone() };
//! let answer = dendrite.query::<Ask>(&target, Question { text: "hi".into() }).await;
//! assert_eq!(answer.status, Status::Success);
//! assert_eq!(answer.body.unwrap().text, "you asked hi");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod discovery;

pub use neuronet_chain as chain;
pub use neuronet_synapse as synapse;
pub use neuronet_transport as transport;

pub use neuronet_synapse::synapse;
pub use neuronet_synapse::{builtin, proto, CryptoType, Hotkey, Keypair, Status, Synapse, SynapseKind};
pub use neuronet_transport::{
    AcceptedAuth, Auth, Axon, AxonConfig, AxonHandle, Dendrite, DendriteConfig, Directory, HandlerError, HttpListen,
    Multiaddr, NetworkConfig, PeerEntry, PeerFacts, PeerId, RequestContext, Response, ResponseStream, Target,
    V10Dendrite,
};
/// The protobuf runtime the synapse messages are built on (what [`message!`] derives with).
pub use prost;
/// The serialisation framework the synapse messages' JSON form uses (what [`message!`] derives with).
pub use serde;

/// Declares a synapse message: a struct with prost field attributes, given the derives a synapse
/// message needs (protobuf with [`prost`], JSON with [`serde`], `Clone`, `PartialEq`) through
/// `neuronet`'s own re-exports, so that `neuronet` is the only dependency. Fields take prost's
/// attributes (`#[prost(string, tag = "1")]`, `#[prost(float, repeated, tag = "2")]`, ...) and
/// serde's (`#[serde(rename = "...")]`).
///
/// ```
/// neuronet::message! {
///     /// Texts to score.
///     #[derive(Eq)]
///     pub struct Texts {
///         #[prost(string, repeated, tag = "1")]
///         pub texts: Vec<String>,
///     }
/// }
/// let texts = Texts { texts: vec!["a".into()] };
/// assert_eq!(neuronet::prost::Message::encode_to_vec(&texts), vec![10, 1, b'a']);
/// ```
#[macro_export]
macro_rules! message {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, $crate::prost::Message, $crate::serde::Serialize, $crate::serde::Deserialize)]
        #[prost(prost_path = "::neuronet::prost")]
        #[serde(crate = "::neuronet::serde", default)]
        $vis struct $name { $($body)* }
    };
}
