//! Shared by the integration tests: the real models, fetched into the cache on first use.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use neuronet_inference::fetch::{ModelCache, ModelSource, ALL_MINILM_L6_V2, SMOLLM2_135M_INSTRUCT};
use neuronet_inference::{BertConfig, BertEmbedder, LlamaBackend, LlamaConfig};

/// The model name the tests serve SmolLM2 under.
pub const SMOLLM: &str = "smollm2-135m-instruct";
/// The model name the tests serve all-MiniLM-L6-v2 under.
pub const MINILM: &str = "all-minilm-l6-v2";

/// Fetches run one at a time within a test binary.
static FETCH: Mutex<()> = Mutex::new(());

fn fetch(source: &str, bert: bool) -> PathBuf {
    let _guard = FETCH.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let cache = ModelCache::from_env().expect("model cache");
    let source: ModelSource = source.parse().expect("model source");
    if bert { cache.fetch_bert(&source) } else { cache.fetch_gguf(&source) }.expect("fetching the model")
}

/// The SmolLM2-135M-Instruct GGUF file.
pub fn smollm_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| fetch(SMOLLM2_135M_INSTRUCT, false)).clone()
}

/// The all-MiniLM-L6-v2 model directory.
pub fn minilm_dir() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| fetch(ALL_MINILM_L6_V2, true)).clone()
}

/// SmolLM2 with the test defaults: 4 sequences of 1024 tokens, 2 threads.
pub fn smollm_config() -> LlamaConfig {
    LlamaConfig::new(smollm_path())
        .with_model_name(SMOLLM)
        .with_context_length(1024)
        .with_max_sequences(4)
        .with_max_tokens(48)
}

/// One SmolLM2 backend shared by the tests of a binary.
pub fn smollm() -> Arc<LlamaBackend> {
    static BACKEND: OnceLock<Arc<LlamaBackend>> = OnceLock::new();
    BACKEND.get_or_init(|| Arc::new(LlamaBackend::load(smollm_config()).expect("loading SmolLM2"))).clone()
}

/// One all-MiniLM-L6-v2 backend shared by the tests of a binary.
pub fn minilm() -> Arc<BertEmbedder> {
    static BACKEND: OnceLock<Arc<BertEmbedder>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let config = BertConfig::new(minilm_dir()).with_model_name(MINILM).with_max_batch_texts(16);
            Arc::new(BertEmbedder::load(config).expect("loading all-MiniLM-L6-v2"))
        })
        .clone()
}
