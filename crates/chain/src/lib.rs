//! neuronet's subtensor client: reads a subnet's metagraph, announces axons, sets weights and
//! moves TAO on Bittensor's chain.
//!
//! The pure parts work offline: decoding what the chain answers into a typed [`Metagraph`],
//! normalising weights, the commit-reveal hash.
//!
//! ```
//! use neuronet_chain::{normalise, Metagraph};
//! // An empty subnet, as `NeuronInfoRuntimeApi_get_neurons_lite` answers it.
//! let metagraph = Metagraph::from_neurons_lite(1, 100, &[0x00])?;
//! assert!(metagraph.neurons.is_empty());
//! let weights = normalise(&[3, 1], &[0.5, 1.0])?;
//! assert_eq!((weights.uids, weights.values), (vec![1, 3], vec![65535, 32768]));
//! # Ok::<(), neuronet_chain::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
pub mod calls;
mod client;
mod error;
mod metagraph;
mod neuron;
pub mod timelock;
mod watch;
mod weights;

pub use account::AccountId;
pub use client::{
    network_url, redacted, Chain, ChainSigner, Hyperparameters, Included, WeightsSubmitted, FINNEY_URL, LOCAL_URL,
    TEST_URL,
};
pub use error::{Error, Result};
pub use metagraph::{decode_neuron_lite, decode_neurons_lite, Metagraph};
pub use neuron::{ip_to_chain, normalised, AxonInfo, Neuron, NeuronCertificate, PrometheusInfo};
pub use watch::{changes, Change, Update, Watcher};
pub use weights::{commit_hash, netuid_index, normalise, NormalisedWeights};
