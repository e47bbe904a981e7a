//! The backend trait every inference engine implements (llama.cpp, candle BERT, an OpenAI
//! upstream), and [`BackendSet`], which puts several behind one `Arc<dyn InferenceBackend>` and
//! routes each request by its model name.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use neuronet_synapse::proto::{
    CapabilitiesResponse, EmbeddingRequest, EmbeddingResponse, Limits, ModelInfo, TextGenerationChunk,
    TextGenerationRequest, TextGenerationResponse,
};

use crate::error::{Error, Result};

/// The stream [`InferenceBackend::generate_stream`] answers with: text chunks in order, the last
/// one carrying the finish reason. A failure midway ends the stream with an `Err`.
pub type ChunkStream = BoxStream<'static, Result<TextGenerationChunk>>;

/// The `task` a [`ModelInfo`] names for a text generation model.
pub const TASK_TEXT_GENERATION: &str = "text-generation";
/// The `task` a [`ModelInfo`] names for an embedding model.
pub const TASK_EMBEDDING: &str = "embedding";

/// An inference engine behind the built-in synapses (`TextGeneration`, `TextGenerationStream`,
/// `Embedding`, `Capabilities`).
///
/// Requests are validated before any work is queued: an unknown model, an empty prompt or too
/// many texts come back as [`Error::UnknownModel`] / [`Error::InvalidRequest`], a full queue as
/// [`Error::Overloaded`]. A backend that does not serve a task keeps the default method, which
/// answers [`Error::Unsupported`].
#[async_trait]
pub trait InferenceBackend: Send + Sync + 'static {
    /// Generates text for `request` and answers it whole.
    async fn generate(&self, request: TextGenerationRequest) -> Result<TextGenerationResponse> {
        let model = request.model.clone();
        let mut response = collect_stream(self.generate_stream(request).await?).await?;
        response.model = model;
        Ok(response)
    }

    /// Generates text for `request` as a stream of chunks; dropping the stream cancels the
    /// generation.
    async fn generate_stream(&self, request: TextGenerationRequest) -> Result<ChunkStream> {
        let _ = request;
        Err(Error::Unsupported("text generation"))
    }

    /// Embeds every text of `request`, in order.
    async fn embed(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        let _ = request;
        Err(Error::Unsupported("embedding"))
    }

    /// The models this backend serves, its device and its limits. `synapses` is left for the
    /// axon to fill in.
    fn capabilities(&self) -> CapabilitiesResponse;
}

/// Concatenates a chunk stream into one response (the unary form of a streamed generation).
pub(crate) async fn collect_stream(mut stream: ChunkStream) -> Result<TextGenerationResponse> {
    use futures::StreamExt;

    let mut response = TextGenerationResponse::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        response.text.push_str(&chunk.text);
        response.tokens = response.tokens.saturating_add(chunk.tokens);
        if chunk.finish_reason != 0 {
            response.finish_reason = chunk.finish_reason;
        }
    }
    Ok(response)
}

/// Several backends behind one: each request goes to the backend serving its model (the first
/// one serving the task when the model is empty), and the capabilities are merged.
///
/// ```no_run
/// # async fn example(
/// #     llama: std::sync::Arc<dyn neuronet_inference::InferenceBackend>,
/// #     bert: std::sync::Arc<dyn neuronet_inference::InferenceBackend>,
/// # ) {
/// use neuronet_inference::{BackendSet, InferenceBackend};
/// let backends: std::sync::Arc<dyn InferenceBackend> =
///     std::sync::Arc::new(BackendSet::new(vec![llama, bert]));
/// # }
/// ```
pub struct BackendSet {
    backends: Vec<Arc<dyn InferenceBackend>>,
}

impl BackendSet {
    /// A set routing over `backends`, in order of preference.
    pub fn new(backends: Vec<Arc<dyn InferenceBackend>>) -> Self {
        Self { backends }
    }

    /// The backend serving `model` for `task`: the one that lists it, or for an empty model name
    /// the first one serving the task.
    fn route(&self, model: &str, task: &str) -> Result<&Arc<dyn InferenceBackend>> {
        let serves = |backend: &&Arc<dyn InferenceBackend>| {
            backend
                .capabilities()
                .models
                .iter()
                .any(|info| info.task == task && (model.is_empty() || info.name == model))
        };
        self.backends.iter().find(serves).ok_or_else(|| Error::UnknownModel {
            requested: model.to_owned(),
            served: model_names(&self.capabilities().models, task),
        })
    }
}

#[async_trait]
impl InferenceBackend for BackendSet {
    async fn generate(&self, request: TextGenerationRequest) -> Result<TextGenerationResponse> {
        self.route(&request.model, TASK_TEXT_GENERATION)?.generate(request).await
    }

    async fn generate_stream(&self, request: TextGenerationRequest) -> Result<ChunkStream> {
        self.route(&request.model, TASK_TEXT_GENERATION)?.generate_stream(request).await
    }

    async fn embed(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        self.route(&request.model, TASK_EMBEDDING)?.embed(request).await
    }

    /// Every backend's models; the first backend's device; each limit the largest any backend
    /// allows (a request is held to the limit of the backend it is routed to).
    fn capabilities(&self) -> CapabilitiesResponse {
        let mut merged = CapabilitiesResponse { version: crate::VERSION.to_owned(), ..Default::default() };
        let mut limits = Limits::default();
        for backend in &self.backends {
            let capabilities = backend.capabilities();
            if merged.device.is_empty() {
                merged.device = capabilities.device;
            }
            merged.models.extend(capabilities.models);
            let other = capabilities.limits.unwrap_or_default();
            limits.max_request_bytes = limits.max_request_bytes.max(other.max_request_bytes);
            limits.max_response_bytes = limits.max_response_bytes.max(other.max_response_bytes);
            limits.max_concurrent_requests = limits.max_concurrent_requests.max(other.max_concurrent_requests);
            limits.max_tokens = limits.max_tokens.max(other.max_tokens);
            limits.max_batch_texts = limits.max_batch_texts.max(other.max_batch_texts);
        }
        merged.limits = Some(limits);
        merged
    }
}

/// The names of the `task` models in `models`, comma-separated (for error messages).
pub(crate) fn model_names(models: &[ModelInfo], task: &str) -> String {
    models.iter().filter(|info| info.task == task).map(|info| info.name.as_str()).collect::<Vec<_>>().join(", ")
}

/// Checks that `requested` (empty for the default) names `served`.
pub(crate) fn check_model(requested: &str, served: &str) -> Result<()> {
    if requested.is_empty() || requested == served {
        Ok(())
    } else {
        Err(Error::UnknownModel { requested: requested.to_owned(), served: served.to_owned() })
    }
}
