//! neuronet's inference backends.

#![warn(missing_docs)]

mod backend;
pub mod device;
mod embedding;
mod error;
pub mod fetch;
pub mod llama;
mod openai;
pub mod openai_server;
mod openai_wire;

pub use backend::{BackendSet, ChunkStream, InferenceBackend, TASK_EMBEDDING, TASK_TEXT_GENERATION};
pub use device::Device;
pub use embedding::{BertConfig, BertEmbedder};
pub use error::{Error, Result};
pub use fetch::{ModelCache, ModelSource};
pub use llama::{EngineStats, LlamaBackend, LlamaConfig};
pub use openai::{OpenAiBackend, OpenAiConfig};

/// The crate's version, reported in [`CapabilitiesResponse::version`](neuronet_synapse::proto::CapabilitiesResponse).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
