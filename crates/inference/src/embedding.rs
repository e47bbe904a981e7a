//! Sentence embeddings with candle: a BERT-family model (safetensors, `config.json`,
//! `tokenizer.json`, as sentence-transformers publishes them), mean pooling over the attention
//! mask, and optional L2 normalisation. Runs on the CPU.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device as CandleDevice, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertModelConfig, DTYPE};
use neuronet_synapse::proto::{CapabilitiesResponse, EmbeddingRequest, EmbeddingResponse, Limits, ModelInfo, Vector};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use crate::backend::{check_model, InferenceBackend, TASK_EMBEDDING};
use crate::error::{Error, Result};

/// How a [`BertEmbedder`] loads its model and bounds its requests.
#[derive(Debug, Clone)]
pub struct BertConfig {
    /// The directory holding `model.safetensors`, `config.json` and `tokenizer.json`.
    pub model_dir: PathBuf,
    /// The name requests use for the model. Default: the directory's name.
    pub model_name: String,
    /// Texts one request may carry. Default: 256.
    pub max_batch_texts: u32,
    /// Bytes of text one request may carry, all texts together. Default: 1 MiB.
    pub max_request_bytes: usize,
    /// Texts run through the model at once; a request with more is split. Default: 32, which
    /// keeps the attention scores of a batch of 256-token texts near 100 MB.
    pub forward_batch: usize,
    /// Tokens a text is truncated to. Default: `max_seq_length` from the model's
    /// `sentence_bert_config.json` (256 for all-MiniLM-L6-v2), else 512.
    pub max_sequence_length: Option<usize>,
    /// Requests embedded at the same time (each already uses every core). Default: 1.
    pub max_concurrent_requests: usize,
    /// Requests waiting for their turn before new ones are refused as overloaded. Default: 64.
    pub queue_depth: usize,
}

impl BertConfig {
    /// The defaults for the model in `model_dir`.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        let model_dir = model_dir.into();
        let model_name =
            model_dir.file_name().map_or_else(|| "bert".to_owned(), |name| name.to_string_lossy().into_owned());
        Self {
            model_dir,
            model_name,
            max_batch_texts: 256,
            max_request_bytes: 1024 * 1024,
            forward_batch: 32,
            max_sequence_length: None,
            max_concurrent_requests: 1,
            queue_depth: 64,
        }
    }

    /// Sets the model name requests use.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = name.into();
        self
    }

    /// Sets the number of texts one request may carry.
    pub fn with_max_batch_texts(mut self, texts: u32) -> Self {
        self.max_batch_texts = texts;
        self
    }
}

/// A BERT sentence embedding backend.
pub struct BertEmbedder {
    config: BertConfig,
    model: Arc<BertModel>,
    tokenizer: Arc<Tokenizer>,
    dimension: u32,
    turns: Semaphore,
    waiting: AtomicUsize,
}

impl BertEmbedder {
    /// Loads the model and tokenizer from `config.model_dir` (blocking; a 90 MB model loads in
    /// well under a second).
    pub fn load(config: BertConfig) -> Result<Self> {
        let dir = &config.model_dir;
        let load_error = |reason: String| Error::ModelLoad { path: dir.clone(), reason };
        let model_config: BertModelConfig = serde_json::from_slice(&read(&dir.join("config.json"))?)
            .map_err(|error| load_error(format!("config.json: {error}")))?;
        let max_length = match config.max_sequence_length {
            Some(length) => length,
            None => sentence_transformers_max_length(dir)?.unwrap_or(512),
        }
        .min(model_config.max_position_embeddings);

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|error| load_error(format!("tokenizer.json: {error}")))?;
        let pad_id = u32::try_from(model_config.pad_token_id).unwrap_or(0);
        let pad_token = tokenizer.id_to_token(pad_id).unwrap_or_else(|| "[PAD]".to_owned());
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length, ..Default::default() }))
            .map_err(|error| load_error(format!("truncation: {error}")))?;

        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only; like every mmap-based loader we rely on it
        // not being modified while the model is loaded.
        let vars = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DTYPE, &CandleDevice::Cpu) }
            .map_err(|error| load_error(format!("model.safetensors: {error}")))?;
        let model =
            BertModel::load(vars, &model_config).map_err(|error| load_error(format!("BERT weights: {error}")))?;
        let dimension = u32::try_from(model_config.hidden_size).unwrap_or(u32::MAX);
        tracing::info!(model = %config.model_name, dimension, max_length, "BERT embedding model loaded");
        Ok(Self {
            turns: Semaphore::new(config.max_concurrent_requests.max(1)),
            waiting: AtomicUsize::new(0),
            config,
            model: Arc::new(model),
            tokenizer: Arc::new(tokenizer),
            dimension,
        })
    }

    /// The length of the vectors this model makes.
    pub fn dimension(&self) -> u32 {
        self.dimension
    }

    fn check(&self, request: &EmbeddingRequest) -> Result<()> {
        check_model(&request.model, &self.config.model_name)?;
        if request.texts.is_empty() {
            return Err(Error::invalid("no texts to embed"));
        }
        if request.texts.len() > self.config.max_batch_texts as usize {
            return Err(Error::invalid(format!(
                "{} texts are over the limit of {} per request",
                request.texts.len(),
                self.config.max_batch_texts
            )));
        }
        let bytes: usize = request.texts.iter().map(String::len).sum();
        if bytes > self.config.max_request_bytes {
            return Err(Error::invalid(format!(
                "{bytes} bytes of text are over the limit of {}",
                self.config.max_request_bytes
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl InferenceBackend for BertEmbedder {
    async fn embed(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        self.check(&request)?;
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = if waiting >= self.config.queue_depth { None } else { self.turns.acquire().await.ok() };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Some(_permit) = permit else {
            return Err(Error::Overloaded { queued: waiting, queue_depth: self.config.queue_depth });
        };
        let (model, tokenizer) = (Arc::clone(&self.model), Arc::clone(&self.tokenizer));
        let batch = self.config.forward_batch.max(1);
        let normalize = request.normalize;
        let vectors = tokio::task::spawn_blocking(move || {
            let mut vectors = Vec::with_capacity(request.texts.len());
            for texts in request.texts.chunks(batch) {
                vectors.extend(embed_batch(&model, &tokenizer, texts, normalize)?);
            }
            Ok::<_, Error>(vectors)
        })
        .await
        .map_err(|error| Error::Inference(format!("embedding task: {error}")))??;
        Ok(EmbeddingResponse {
            vectors: vectors.into_iter().map(|values| Vector { values }).collect(),
            dimension: self.dimension,
            model: self.config.model_name.clone(),
        })
    }

    fn capabilities(&self) -> CapabilitiesResponse {
        CapabilitiesResponse {
            models: vec![ModelInfo {
                name: self.config.model_name.clone(),
                task: TASK_EMBEDDING.to_owned(),
                context_length: self.tokenizer.get_truncation().map_or(0, |t| u32::try_from(t.max_length).unwrap_or(0)),
                dimension: self.dimension,
            }],
            device: "cpu".to_owned(),
            limits: Some(Limits {
                max_request_bytes: u32::try_from(self.config.max_request_bytes).unwrap_or(u32::MAX),
                max_concurrent_requests: u32::try_from(self.config.max_concurrent_requests).unwrap_or(u32::MAX),
                max_batch_texts: self.config.max_batch_texts,
                ..Default::default()
            }),
            synapses: Vec::new(),
            version: crate::VERSION.to_owned(),
        }
    }
}

/// Embeds one batch: tokenize with padding, run BERT, mean-pool over the attention mask, and
/// L2-normalise when asked.
fn embed_batch(model: &BertModel, tokenizer: &Tokenizer, texts: &[String], normalize: bool) -> Result<Vec<Vec<f32>>> {
    let failed = |what: &str, error: &dyn std::fmt::Display| Error::Inference(format!("{what}: {error}"));
    let encodings = tokenizer.encode_batch(texts.to_vec(), true).map_err(|error| failed("tokenizing", &error))?;
    let rows = encodings.len();
    let columns = encodings.first().map_or(0, |encoding| encoding.get_ids().len());
    let ids: Vec<u32> = encodings.iter().flat_map(|encoding| encoding.get_ids().iter().copied()).collect();
    let mask: Vec<u32> = encodings.iter().flat_map(|encoding| encoding.get_attention_mask().iter().copied()).collect();
    let tensor = |values: Vec<u32>| Tensor::from_vec(values, (rows, columns), &CandleDevice::Cpu);
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let input_ids = tensor(ids)?;
        let attention_mask = tensor(mask)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = model.forward(&input_ids, &token_type_ids, Some(&attention_mask))?;
        let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mut pooled = summed.broadcast_div(&counts)?;
        if normalize {
            let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            pooled = pooled.broadcast_div(&norms)?;
        }
        pooled.to_vec2::<f32>()
    };
    run().map_err(|error| failed("running BERT", &error))
}

/// `max_seq_length` from sentence-transformers' `sentence_bert_config.json`, when present.
fn sentence_transformers_max_length(dir: &Path) -> Result<Option<usize>> {
    let path = dir.join("sentence_bert_config.json");
    if !path.is_file() {
        return Ok(None);
    }
    let config: serde_json::Value = serde_json::from_slice(&read(&path)?)
        .map_err(|error| Error::ModelLoad { path: path.clone(), reason: error.to_string() })?;
    Ok(config.get("max_seq_length").and_then(serde_json::Value::as_u64).and_then(|length| usize::try_from(length).ok()))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|error| Error::io(path, error))
}
