//! Text generation with llama.cpp (GGUF models) and continuous batching: requests are validated
//! and tokenized here, then handed to the one engine thread that owns the context (`engine.rs`),
//! which runs every admitted request as a sequence of one shared batch.

mod engine;
mod sequence;
mod stop;
mod utf8;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use llama_cpp_2::llama_backend::LlamaBackend as LlamaRuntime;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use neuronet_synapse::proto::{CapabilitiesResponse, Limits, ModelInfo, TextGenerationRequest, TextGenerationResponse};

use crate::backend::{check_model, ChunkStream, InferenceBackend, TASK_TEXT_GENERATION};
use crate::device::{self, BackendDevice, Device, Placement};
use crate::error::{Error, Result};

pub use engine::EngineStats;
use engine::{Engine, Job, Sampling};

/// How a [`LlamaBackend`] loads its model and batches requests.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// The GGUF file.
    pub model_path: PathBuf,
    /// The name requests use for the model. Default: the file name without `.gguf`.
    pub model_name: String,
    /// Where the model runs. Default: [`Device::Auto`].
    pub device: Device,
    /// Context (prompt plus generated tokens) of each sequence. Default: 2048, or the model's
    /// training context if smaller. The KV cache holds `context_length * max_sequences` tokens
    /// (SmolLM2-135M: 23 KB a token, so 2048 x 8 = 377 MB).
    pub context_length: u32,
    /// Sequences decoded together in one batch. Default: 8; raise it while the bench example's
    /// total tokens/s still grows on the target machine (docs/inference.md, Measurements).
    pub max_sequences: u32,
    /// Requests waiting for a free sequence before new ones are refused as overloaded.
    /// Default: 64.
    pub queue_depth: usize,
    /// Tokens one decode step may carry (the running sequences' next tokens plus prompt
    /// prefill, which is split across steps when longer). Default: 512, llama.cpp's default.
    pub batch_tokens: u32,
    /// Largest `max_tokens` a request gets; larger values are clamped. Default: 1024.
    pub max_tokens: u32,
    /// `max_tokens` for a request that leaves it 0 (unset in protobuf). Default: 256.
    pub default_max_tokens: u32,
    /// Largest prompt, in bytes of text (the plain prompt or all messages). Default: 64 KiB.
    pub max_prompt_bytes: usize,
    /// Stop strings one request may carry. Default: 16 (OpenAI allows 4).
    pub max_stops: usize,
    /// Bytes of one stop string. Default: 256.
    pub max_stop_bytes: usize,
    /// CPU threads for decoding. Default: the machine's available parallelism.
    pub threads: u32,
}

impl LlamaConfig {
    /// The defaults for the GGUF file at `model_path`.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        let model_path = model_path.into();
        let model_name = model_path
            .file_name()
            .map(|name| name.to_string_lossy().trim_end_matches(".gguf").to_owned())
            .unwrap_or_else(|| "llama".to_owned());
        let threads = std::thread::available_parallelism().map_or(4, |n| u32::try_from(n.get()).unwrap_or(4));
        Self {
            model_path,
            model_name,
            device: Device::Auto,
            context_length: 2048,
            max_sequences: 8,
            queue_depth: 64,
            batch_tokens: 512,
            max_tokens: 1024,
            default_max_tokens: 256,
            max_prompt_bytes: 64 * 1024,
            max_stops: 16,
            max_stop_bytes: 256,
            threads,
        }
    }

    /// Sets the model name requests use.
    pub fn with_model_name(mut self, name: impl Into<String>) -> Self {
        self.model_name = name.into();
        self
    }

    /// Sets the device.
    pub fn with_device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Sets the context length of each sequence.
    pub fn with_context_length(mut self, tokens: u32) -> Self {
        self.context_length = tokens;
        self
    }

    /// Sets how many sequences are decoded together.
    pub fn with_max_sequences(mut self, sequences: u32) -> Self {
        self.max_sequences = sequences;
        self
    }

    /// Sets how many requests may wait for a free sequence.
    pub fn with_queue_depth(mut self, depth: usize) -> Self {
        self.queue_depth = depth;
        self
    }

    /// Sets the clamp on `max_tokens`.
    pub fn with_max_tokens(mut self, tokens: u32) -> Self {
        self.max_tokens = tokens;
        self
    }

    /// Sets the CPU threads used for decoding.
    pub fn with_threads(mut self, threads: u32) -> Self {
        self.threads = threads;
        self
    }

    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::invalid(format!("llama config: {what}")));
        if self.max_sequences == 0 || self.queue_depth == 0 || self.context_length < 16 || self.max_tokens == 0 {
            return bad("max_sequences, queue_depth, max_tokens must be positive and context_length at least 16");
        }
        if self.batch_tokens < self.max_sequences {
            return bad("batch_tokens must be at least max_sequences (every sequence decodes a token each step)");
        }
        if self.context_length.checked_mul(self.max_sequences).is_none() {
            return bad("context_length * max_sequences overflows");
        }
        Ok(())
    }
}

/// The process's llama.cpp runtime, initialised once (llama.cpp refuses a second init).
fn runtime() -> Result<&'static LlamaRuntime> {
    static RUNTIME: OnceLock<Result<LlamaRuntime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaRuntime::init().map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(|error| Error::Inference(format!("initialising llama.cpp: {error}")))
}

/// The devices this build of llama.cpp can use on this machine.
pub fn backend_devices() -> Result<Vec<BackendDevice>> {
    runtime()?;
    Ok(llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .map(|device| BackendDevice {
            index: device.index,
            backend: device.backend,
            description: device.description,
            is_gpu: matches!(
                device.device_type,
                llama_cpp_2::LlamaBackendDeviceType::Gpu | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
            ),
        })
        .collect())
}

/// A llama.cpp text generation backend: one GGUF model, one engine thread, continuous batching.
pub struct LlamaBackend {
    config: LlamaConfig,
    model: Arc<LlamaModel>,
    template: Option<LlamaChatTemplate>,
    placement: Placement,
    context_length: u32,
    engine: Engine,
}

impl LlamaBackend {
    /// Loads the model and starts the engine thread. This blocks for as long as loading takes
    /// (call it from `tokio::task::spawn_blocking` in async code).
    pub fn load(config: LlamaConfig) -> Result<Self> {
        config.check()?;
        let runtime = runtime()?;
        let placement = device::resolve(config.device, &backend_devices()?)?;
        tracing::info!(requested = %config.device, device = %placement.device, description = %placement.description, "llama.cpp device");
        let mut params = LlamaModelParams::default();
        if let Some(index) = placement.gpu_index {
            params = params
                .with_devices(&[index])
                .map_err(|error| Error::DeviceUnavailable {
                    requested: placement.device.to_string(),
                    reason: error.to_string(),
                })?
                .with_n_gpu_layers(u32::MAX);
        } else {
            params = params.with_n_gpu_layers(0);
        }
        let path = &config.model_path;
        if !path.is_file() {
            return Err(Error::ModelLoad { path: path.clone(), reason: "no such file".into() });
        }
        let model = LlamaModel::load_from_file(runtime, path, &params)
            .map_err(|error| Error::ModelLoad { path: path.clone(), reason: error.to_string() })?;
        let context_length = config.context_length.min(model.n_ctx_train().max(16));
        let template = model.chat_template(None).ok();
        if template.is_none() {
            tracing::warn!(model = %config.model_name, "the model has no chat template; only plain prompts are served");
        }
        let model = Arc::new(model);
        let engine = Engine::start(runtime, Arc::clone(&model), &config, context_length)?;
        tracing::info!(model = %config.model_name, context_length, max_sequences = config.max_sequences, "llama.cpp model loaded");
        Ok(Self { config, model, template, placement, context_length, engine })
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.placement.device
    }

    /// Counters of the engine (steps, tokens, the largest batch so far).
    pub fn stats(&self) -> EngineStats {
        self.engine.stats()
    }

    /// The prompt text for `request`: the messages rendered with the model's chat template, or
    /// the plain prompt when there are none.
    fn render_prompt(&self, request: &TextGenerationRequest) -> Result<String> {
        if request.messages.is_empty() {
            return Ok(request.prompt.clone());
        }
        let template = self.template.as_ref().ok_or_else(|| {
            Error::invalid("this model has no chat template; send a plain prompt instead of messages")
        })?;
        let messages = request
            .messages
            .iter()
            .map(|message| {
                LlamaChatMessage::new(message.role.clone(), message.content.clone())
                    .map_err(|_| Error::invalid("chat messages must not contain NUL characters"))
            })
            .collect::<Result<Vec<_>>>()?;
        self.model
            .apply_chat_template(template, &messages, true)
            .map_err(|error| Error::invalid(format!("applying the chat template: {error}")))
    }

    /// Checks `request` against the limits, renders and tokenizes it: the job for the engine.
    fn prepare(&self, request: &TextGenerationRequest) -> Result<(Vec<llama_cpp_2::token::LlamaToken>, u32, Sampling)> {
        check_model(&request.model, &self.config.model_name)?;
        let sampling = Sampling::from_request(request)?;
        let prompt_bytes =
            request.prompt.len() + request.messages.iter().map(|m| m.role.len() + m.content.len()).sum::<usize>();
        if prompt_bytes > self.config.max_prompt_bytes {
            return Err(Error::invalid(format!(
                "prompt of {prompt_bytes} bytes is over the limit of {}",
                self.config.max_prompt_bytes
            )));
        }
        if request.stop.len() > self.config.max_stops
            || request.stop.iter().any(|stop| stop.len() > self.config.max_stop_bytes)
        {
            return Err(Error::invalid(format!(
                "at most {} stop strings of at most {} bytes each",
                self.config.max_stops, self.config.max_stop_bytes
            )));
        }
        if request.messages.iter().any(|message| message.role.trim().is_empty()) {
            return Err(Error::invalid("every chat message needs a role"));
        }
        if request.messages.is_empty() && request.prompt.is_empty() {
            return Err(Error::invalid("empty prompt: set prompt or messages"));
        }
        let text = self.render_prompt(request)?;
        let tokens = self.model.vocab().tokenize(text.as_bytes(), true, !request.messages.is_empty());
        if tokens.is_empty() {
            return Err(Error::invalid("the prompt tokenizes to nothing"));
        }
        let room = usize::try_from(self.context_length).unwrap_or(usize::MAX).saturating_sub(tokens.len());
        if room == 0 {
            return Err(Error::invalid(format!(
                "prompt of {} tokens leaves no room in the context of {} tokens",
                tokens.len(),
                self.context_length
            )));
        }
        let requested = if request.max_tokens == 0 { self.config.default_max_tokens } else { request.max_tokens };
        let max_tokens = requested.min(self.config.max_tokens).min(u32::try_from(room).unwrap_or(u32::MAX));
        Ok((tokens, max_tokens, sampling))
    }
}

#[async_trait]
impl InferenceBackend for LlamaBackend {
    async fn generate(&self, request: TextGenerationRequest) -> Result<TextGenerationResponse> {
        let stream = self.generate_stream(request).await?;
        let mut response = crate::backend::collect_stream(stream).await?;
        response.model = self.config.model_name.clone();
        Ok(response)
    }

    async fn generate_stream(&self, request: TextGenerationRequest) -> Result<ChunkStream> {
        let (prompt, max_tokens, sampling) = self.prepare(&request)?;
        self.engine.submit(Job { prompt, max_tokens, sampling, stops: request.stop })
    }

    fn capabilities(&self) -> CapabilitiesResponse {
        CapabilitiesResponse {
            models: vec![ModelInfo {
                name: self.config.model_name.clone(),
                task: TASK_TEXT_GENERATION.to_owned(),
                context_length: self.context_length,
                dimension: 0,
            }],
            device: self.placement.device.family().to_owned(),
            limits: Some(Limits {
                max_request_bytes: u32::try_from(self.config.max_prompt_bytes).unwrap_or(u32::MAX),
                max_concurrent_requests: self.config.max_sequences,
                max_tokens: self.config.max_tokens,
                ..Default::default()
            }),
            synapses: Vec::new(),
            version: crate::VERSION.to_owned(),
        }
    }
}
