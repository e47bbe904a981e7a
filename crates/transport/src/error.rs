//! The transport's error type: failures to start, listen or dial, named with their values.

/// Errors from building, listening and dialing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node identity file cannot be read or written.
    #[error("node identity {path}: {reason}")]
    Identity {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The libp2p swarm could not be built.
    #[error("building the libp2p swarm: {0}")]
    Swarm(String),
    /// Listening on an address failed.
    #[error("listening on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The swarm task has stopped.
    #[error("the network task has stopped")]
    Stopped,
    /// A protocol-level error from the synapse crate.
    #[error(transparent)]
    Protocol(#[from] neuronet_synapse::Error),
}

/// The message of a 408, worded as bittensor 10.5's axon and dendrite word it.
pub(crate) fn timeout_message(timeout: std::time::Duration) -> String {
    format!("Request timeout after {} seconds", timeout.as_secs_f64())
}
