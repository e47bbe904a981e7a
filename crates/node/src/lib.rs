//! The neuronet node: the roles the `neuronet` binary runs, as a library.
//!
//! - [`miner`]: an axon serving the inference synapses (text generation on llama.cpp,
//!   embeddings on candle, or an OpenAI-compatible server behind it), announced on chain.
//! - [`validator`]: follows the metagraph, queries the serving miners each round, scores them
//!   and sets weights.
//! - [`inference`]: the backend flags both roles share, and loading them.
//! - [`metrics`]: Prometheus `/metrics`.
//!
//! The other modules are the binary's commands.

pub mod inference;
pub mod metrics;
pub mod miner;
pub mod validator;

#[doc(hidden)]
pub mod chain_cmd;
#[doc(hidden)]
pub mod devchain_cmd;
#[doc(hidden)]
pub mod devnet;
#[doc(hidden)]
pub mod query_cmd;
#[doc(hidden)]
pub mod roles_cmd;
#[doc(hidden)]
pub mod settings;
#[doc(hidden)]
pub mod wallet_cmd;
