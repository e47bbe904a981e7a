//! neuronet's overlay: axons and dendrites over libp2p/QUIC.
//!
//! Every connection is bound to a hotkey on both sides: an axon knows the caller's hotkey before
//! any handler runs, and a dendrite reads no answer before the axon has proven the hotkey it meant
//! to reach. Every request is signed by the sender's hotkey (or, in connection mode,
//! authenticated by the binding); requests and responses travel as neuronet frames on a few
//! long-lived streams per connection, over neuronet's own QUIC transport for libp2p.
//!
//! ```
//! use neuronet_synapse::{builtin::Ping, proto, CryptoType, Keypair, Status};
//! use neuronet_transport::{Axon, AxonConfig, Dendrite, DendriteConfig, Target};
//!
//! # #[tokio::main] async fn main() -> Result<(), neuronet_transport::Error> {
//! let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;
//! let axon = Axon::new(miner, AxonConfig::default())
//!     .serve::<Ping, _, _>(|_ctx, _req| async { Ok(proto::PingResponse { now_ns: 1, version: "doc".into() }) })
//!     .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
//!     .await?;
//!
//! let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
//! let dendrite = Dendrite::new(validator, DendriteConfig::default()).await?;
//! let target = Target::Explicit { hotkey: axon.hotkey(), addr: axon.listen_addrs()[0].clone() };
//! let answer = dendrite.query::<Ping>(&target, proto::PingRequest {}).await;
//! assert_eq!(answer.status, Status::Success);
//! assert_eq!(answer.body.unwrap().now_ns, 1);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod axon;
mod certificate;
mod dendrite;
mod directory;
mod error;
mod gate;
mod inbound;
mod io;
mod legacy;
mod metrics;
mod quic;
mod swarm;

pub use axon::{
    AcceptedAuth, Axon, AxonConfig, AxonHandle, BlacklistFn, HandlerError, HttpListen, PriorityFn, Remote,
    RequestContext,
};
pub use certificate::{certificate_key, peer_id_of_certificate, MAX_CERTIFICATE_KEY, NEURONET_CERTIFICATE_ALGORITHM};
pub use dendrite::{Auth, Dendrite, DendriteConfig, Response, ResponseStream, Target};
pub use directory::{Directory, PeerEntry, PeerFacts, SyncReport};
pub use error::Error;
pub use legacy::{V10Dendrite, DEFAULT_MAX_RESPONSE_BYTES};
pub use libp2p::{Multiaddr, PeerId};
pub use metrics::{Metrics, RequestLabels, SynapseLabels};
pub use neuronet_synapse::Failure;
pub use quic::QuicError;
pub use swarm::{load_or_create_identity, NetworkConfig, IDENTIFY_PROTOCOL, SYNAPSE_PROTOCOL};
