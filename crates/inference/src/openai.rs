//! A backend that forwards to an OpenAI-compatible server (vLLM, llama-server, SGLang, Ollama,
//! OpenAI itself, or [`openai_server`](crate::openai_server)): text generation through
//! `/v1/chat/completions` (server-sent events for the streamed form), embeddings through
//! `/v1/embeddings`.

use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use neuronet_synapse::proto::{
    CapabilitiesResponse, EmbeddingRequest, EmbeddingResponse, FinishReason, Limits, ModelInfo, TextGenerationChunk,
    TextGenerationRequest, TextGenerationResponse, Vector,
};
use serde::de::DeserializeOwned;

use crate::backend::{check_model, ChunkStream, InferenceBackend, TASK_EMBEDDING, TASK_TEXT_GENERATION};
use crate::error::{Error, Result};
use crate::openai_wire::{
    finish_reason_from_name, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, EmbeddingsRequest,
    EmbeddingsResponse, ErrorBody, Input,
};

/// Where the upstream is and what it serves.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// The server's base URL, without `/v1` (`http://127.0.0.1:8000`; [`OpenAiConfig::new`]
    /// takes either form).
    pub base_url: String,
    /// Sent as `Authorization: Bearer <key>` when set. Default: none.
    pub api_key: Option<String>,
    /// The upstream's text generation model, as requests name it. Default: none.
    pub text_model: Option<String>,
    /// The upstream's embedding model. Default: none.
    pub embedding_model: Option<String>,
    /// Context length reported in the capabilities (the upstream does not say). Default: 0.
    pub context_length: u32,
    /// Largest `max_tokens` forwarded; larger values are clamped. Default: 4096.
    pub max_tokens: u32,
    /// Texts one embedding request may carry. Default: 256.
    pub max_batch_texts: u32,
    /// Time to connect. Default: 10 s.
    pub connect_timeout: Duration,
    /// Time for a whole unary answer, or between two events of a stream. Default: 300 s, long
    /// enough for a long generation on a busy server.
    pub timeout: Duration,
    /// Largest answer body read, and largest single event of a stream. Default: 16 MiB
    /// (256 texts x 4096 dimensions as JSON floats stays under it).
    pub max_response_bytes: usize,
}

impl OpenAiConfig {
    /// The defaults for the server at `base_url`, with or without its `/v1` suffix
    /// (`http://127.0.0.1:8000` and `http://127.0.0.1:8000/v1/` are the same server).
    pub fn new(base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        let base_url = base_url.trim_end_matches('/');
        Self {
            base_url: base_url.strip_suffix("/v1").unwrap_or(base_url).to_owned(),
            api_key: None,
            text_model: None,
            embedding_model: None,
            context_length: 0,
            max_tokens: 4096,
            max_batch_texts: 256,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(300),
            max_response_bytes: 16 * 1024 * 1024,
        }
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the text generation model.
    pub fn with_text_model(mut self, model: impl Into<String>) -> Self {
        self.text_model = Some(model.into());
        self
    }

    /// Sets the embedding model.
    pub fn with_embedding_model(mut self, model: impl Into<String>) -> Self {
        self.embedding_model = Some(model.into());
        self
    }
}

/// An OpenAI-compatible upstream as an [`InferenceBackend`].
pub struct OpenAiBackend {
    config: OpenAiConfig,
    client: reqwest::Client,
}

impl OpenAiBackend {
    /// A backend for `config` (no request is made until the first call).
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.timeout)
            .build()
            .map_err(|error| Error::Upstream { url: config.base_url.clone(), reason: error.to_string() })?;
        Ok(Self { config, client })
    }

    fn model<'a>(&self, served: &'a Option<String>, requested: &str, task: &'static str) -> Result<&'a str> {
        let served = served.as_deref().ok_or(Error::Unsupported(task))?;
        check_model(requested, served)?;
        Ok(served)
    }

    /// POSTs `body` to `path` and returns the response once its status is a success.
    async fn post(&self, path: &str, body: &impl serde::Serialize) -> Result<(String, reqwest::Response)> {
        let url = format!("{}{path}", self.config.base_url);
        let mut request = self.client.post(&url).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|error| upstream(&url, &error))?;
        let status = response.status();
        if status.is_success() {
            return Ok((url, response));
        }
        let body = read_limited(&url, response, 64 * 1024).await.unwrap_or_default();
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|error| error.error.message)
            .filter(|message| !message.is_empty())
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        Err(Error::UpstreamStatus { url, status: status.as_u16(), message: truncate(message, 512) })
    }

    /// POSTs `body` and parses the whole answer as `T`.
    async fn post_json<T: DeserializeOwned>(&self, path: &str, body: &impl serde::Serialize) -> Result<T> {
        let (url, response) = self.post(path, body).await?;
        let bytes =
            tokio::time::timeout(self.config.timeout, read_limited(&url, response, self.config.max_response_bytes))
                .await
                .map_err(|_| Error::Upstream { url: url.clone(), reason: "timed out reading the answer".into() })??;
        serde_json::from_slice(&bytes)
            .map_err(|error| Error::Upstream { url, reason: format!("unreadable answer: {error}") })
    }

    fn generation_request(&self, request: &TextGenerationRequest, stream: bool) -> Result<ChatCompletionRequest> {
        let model = self.model(&self.config.text_model, &request.model, "text generation")?;
        if request.messages.is_empty() && request.prompt.is_empty() {
            return Err(Error::invalid("empty prompt: set prompt or messages"));
        }
        let mut wire = ChatCompletionRequest::from_synapse(request, model, stream);
        wire.max_tokens = Some(wire.max_tokens.unwrap_or(self.config.max_tokens).min(self.config.max_tokens));
        Ok(wire)
    }
}

#[async_trait]
impl InferenceBackend for OpenAiBackend {
    async fn generate(&self, request: TextGenerationRequest) -> Result<TextGenerationResponse> {
        let wire = self.generation_request(&request, false)?;
        let answer: ChatCompletionResponse = self.post_json("/v1/chat/completions", &wire).await?;
        let choice = answer.choices.into_iter().next().ok_or_else(|| Error::Upstream {
            url: format!("{}/v1/chat/completions", self.config.base_url),
            reason: "the answer has no choices".into(),
        })?;
        Ok(TextGenerationResponse {
            text: choice.message.content,
            tokens: answer.usage.map_or(0, |usage| usage.completion_tokens),
            finish_reason: choice.finish_reason.as_deref().map_or(FinishReason::Stop, finish_reason_from_name) as i32,
            model: wire.model,
        })
    }

    async fn generate_stream(&self, request: TextGenerationRequest) -> Result<ChunkStream> {
        let wire = self.generation_request(&request, true)?;
        let (url, response) = self.post("/v1/chat/completions", &wire).await?;
        let events = server_sent_events(url.clone(), response.bytes_stream(), self.config.max_response_bytes);
        Ok(events
            .filter_map(move |event| {
                let url = url.clone();
                async move {
                    let data = match event {
                        Ok(data) if data == "[DONE]" => return None,
                        Ok(data) => data,
                        Err(error) => return Some(Err(error)),
                    };
                    let chunk: ChatCompletionChunk = match serde_json::from_str(&data) {
                        Ok(chunk) => chunk,
                        Err(error) => {
                            return Some(Err(Error::Upstream { url, reason: format!("unreadable event: {error}") }))
                        }
                    };
                    let choice = chunk.choices.into_iter().next()?;
                    let text = choice.delta.content.unwrap_or_default();
                    let finish = choice.finish_reason.as_deref().map(finish_reason_from_name);
                    if text.is_empty() && finish.is_none() {
                        return None;
                    }
                    Some(Ok(TextGenerationChunk {
                        tokens: u32::from(!text.is_empty()),
                        text,
                        finish_reason: finish.unwrap_or(FinishReason::Unspecified) as i32,
                    }))
                }
            })
            .boxed())
    }

    async fn embed(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse> {
        let model = self.model(&self.config.embedding_model, &request.model, "embedding")?.to_owned();
        if request.texts.is_empty() || request.texts.len() > self.config.max_batch_texts as usize {
            return Err(Error::invalid(format!(
                "{} texts: a request takes 1 to {}",
                request.texts.len(),
                self.config.max_batch_texts
            )));
        }
        let count = request.texts.len();
        let wire = EmbeddingsRequest { model: model.clone(), input: Input::Many(request.texts) };
        let mut answer: EmbeddingsResponse = self.post_json("/v1/embeddings", &wire).await?;
        answer.data.sort_by_key(|data| data.index);
        if answer.data.len() != count {
            return Err(Error::Upstream {
                url: format!("{}/v1/embeddings", self.config.base_url),
                reason: format!("{} vectors for {count} texts", answer.data.len()),
            });
        }
        let vectors: Vec<Vector> = answer
            .data
            .into_iter()
            .map(|data| {
                let mut values = data.embedding;
                if request.normalize {
                    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                    values.iter_mut().for_each(|v| *v /= norm);
                }
                Vector { values }
            })
            .collect();
        let dimension = vectors.first().map_or(0, |vector| u32::try_from(vector.values.len()).unwrap_or(u32::MAX));
        Ok(EmbeddingResponse { vectors, dimension, model })
    }

    fn capabilities(&self) -> CapabilitiesResponse {
        let mut models = Vec::new();
        if let Some(name) = &self.config.text_model {
            models.push(ModelInfo {
                name: name.clone(),
                task: TASK_TEXT_GENERATION.to_owned(),
                context_length: self.config.context_length,
                dimension: 0,
            });
        }
        if let Some(name) = &self.config.embedding_model {
            models.push(ModelInfo {
                name: name.clone(),
                task: TASK_EMBEDDING.to_owned(),
                context_length: 0,
                dimension: 0,
            });
        }
        CapabilitiesResponse {
            models,
            device: "upstream".to_owned(),
            limits: Some(Limits {
                max_response_bytes: u32::try_from(self.config.max_response_bytes).unwrap_or(u32::MAX),
                max_tokens: self.config.max_tokens,
                max_batch_texts: self.config.max_batch_texts,
                ..Default::default()
            }),
            synapses: Vec::new(),
            version: crate::VERSION.to_owned(),
        }
    }
}

/// Reads a response body, failing once it passes `limit` bytes.
async fn read_limited(url: &str, response: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.map_err(|error| upstream(url, &error))?;
        if body.len() + bytes.len() > limit {
            return Err(Error::Upstream { url: url.to_owned(), reason: format!("answer larger than {limit} bytes") });
        }
        body.extend_from_slice(&bytes);
    }
    Ok(body)
}

/// The `data:` payloads of a server-sent event stream, each at most `limit` bytes.
fn server_sent_events<B: AsRef<[u8]>>(
    url: String,
    bytes: impl Stream<Item = reqwest::Result<B>> + Send + 'static,
    limit: usize,
) -> impl Stream<Item = Result<String>> + Send + 'static {
    struct State<S> {
        bytes: std::pin::Pin<Box<S>>,
        buffer: Vec<u8>,
        url: String,
        done: bool,
    }
    let state = State { bytes: Box::pin(bytes), buffer: Vec::new(), url, done: false };
    futures::stream::unfold(state, move |mut state| async move {
        loop {
            if state.done {
                return None;
            }
            // Hand out every complete line's data before reading more.
            if let Some(end) = state.buffer.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = state.buffer.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\r', '\n']);
                if let Some(data) = line.strip_prefix("data:") {
                    return Some((Ok(data.trim_start().to_owned()), state));
                }
                continue;
            }
            if state.buffer.len() > limit {
                state.done = true;
                let reason = format!("event larger than {limit} bytes");
                return Some((Err(Error::Upstream { url: state.url.clone(), reason }), state));
            }
            match state.bytes.next().await {
                Some(Ok(bytes)) => state.buffer.extend_from_slice(bytes.as_ref()),
                Some(Err(error)) => {
                    state.done = true;
                    let error = upstream(&state.url, &error);
                    return Some((Err(error), state));
                }
                None => {
                    state.done = true;
                    // A last line without its newline.
                    let line = std::mem::take(&mut state.buffer);
                    let line = String::from_utf8_lossy(&line).trim_end().to_owned();
                    return line.strip_prefix("data:").map(|data| (Ok(data.trim_start().to_owned()), state));
                }
            }
        }
    })
}

fn upstream(url: &str, error: &reqwest::Error) -> Error {
    let reason = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        format!("cannot connect: {error}")
    } else {
        error.to_string()
    };
    Error::Upstream { url: url.to_owned(), reason }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::OpenAiConfig;

    #[test]
    fn the_base_url_is_taken_with_or_without_v1() {
        for url in
            ["http://127.0.0.1:8000", "http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1/"]
        {
            assert_eq!(OpenAiConfig::new(url).base_url, "http://127.0.0.1:8000", "{url}");
        }
        assert_eq!(OpenAiConfig::new("https://host/api/v1").base_url, "https://host/api");
    }
}
