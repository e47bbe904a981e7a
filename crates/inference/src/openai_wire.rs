//! The JSON shapes of the OpenAI API subset neuronet speaks (`/v1/chat/completions`, streamed
//! or not, `/v1/embeddings`, `/v1/models`), shared by the upstream client and the server, and
//! their mapping to and from the synapse messages.

use neuronet_synapse::proto::{ChatMessage, FinishReason, TextGenerationRequest};
use serde::{Deserialize, Serialize};

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChatCompletionRequest {
    pub(crate) model: String,
    pub(crate) messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<Stop>,
    pub(crate) stream: bool,
}

/// OpenAI accepts one stop string or a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// A chat message (text content only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct WireMessage {
    pub(crate) role: String,
    pub(crate) content: String,
}

/// The answer of a non-streamed chat completion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChatCompletionResponse {
    pub(crate) id: String,
    pub(crate) object: String,
    pub(crate) created: u64,
    pub(crate) model: String,
    pub(crate) choices: Vec<Choice>,
    pub(crate) usage: Option<Usage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Choice {
    pub(crate) index: u32,
    pub(crate) message: WireMessage,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u32,
    pub(crate) completion_tokens: u32,
    pub(crate) total_tokens: u32,
}

/// One server-sent event of a streamed chat completion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChatCompletionChunk {
    pub(crate) id: String,
    pub(crate) object: String,
    pub(crate) created: u64,
    pub(crate) model: String,
    pub(crate) choices: Vec<ChunkChoice>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ChunkChoice {
    pub(crate) index: u32,
    pub(crate) delta: Delta,
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EmbeddingsRequest {
    pub(crate) model: String,
    pub(crate) input: Input,
}

/// OpenAI accepts one text or a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Input {
    One(String),
    Many(Vec<String>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Many(Vec::new())
    }
}

impl Input {
    pub(crate) fn into_texts(self) -> Vec<String> {
        match self {
            Input::One(text) => vec![text],
            Input::Many(texts) => texts,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EmbeddingsResponse {
    pub(crate) object: String,
    pub(crate) data: Vec<EmbeddingData>,
    pub(crate) model: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EmbeddingData {
    pub(crate) object: String,
    pub(crate) index: usize,
    pub(crate) embedding: Vec<f32>,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ModelList {
    pub(crate) object: String,
    pub(crate) data: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ModelEntry {
    pub(crate) id: String,
    pub(crate) object: String,
    pub(crate) owned_by: String,
}

/// An error body: `{"error": {"message": ..., "type": ...}}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorDetail {
    pub(crate) message: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

/// OpenAI's name for a finish reason (`None` while generation goes on).
pub(crate) fn finish_reason_name(reason: i32) -> Option<String> {
    match FinishReason::try_from(reason) {
        Ok(FinishReason::Stop) => Some("stop".to_owned()),
        Ok(FinishReason::Length) => Some("length".to_owned()),
        Ok(FinishReason::Error) => Some("error".to_owned()),
        Ok(FinishReason::Unspecified) | Err(_) => None,
    }
}

/// The finish reason an OpenAI name stands for (`content_filter`, `tool_calls` and unknown
/// names count as `stop`: the upstream ended the answer on purpose).
pub(crate) fn finish_reason_from_name(name: &str) -> FinishReason {
    match name {
        "length" => FinishReason::Length,
        "error" => FinishReason::Error,
        _ => FinishReason::Stop,
    }
}

impl ChatCompletionRequest {
    /// The OpenAI form of a text generation request for `model`. A plain prompt becomes one user
    /// message (chat completions take no raw prompt).
    pub(crate) fn from_synapse(request: &TextGenerationRequest, model: &str, stream: bool) -> Self {
        let messages = if request.messages.is_empty() {
            vec![WireMessage { role: "user".to_owned(), content: request.prompt.clone() }]
        } else {
            request.messages.iter().map(|m| WireMessage { role: m.role.clone(), content: m.content.clone() }).collect()
        };
        Self {
            model: model.to_owned(),
            messages,
            max_tokens: (request.max_tokens > 0).then_some(request.max_tokens),
            temperature: Some(request.temperature),
            top_p: (request.top_p > 0.0).then_some(request.top_p),
            seed: request.seed,
            stop: (!request.stop.is_empty()).then(|| Stop::Many(request.stop.clone())),
            stream,
        }
    }

    /// The synapse form of an OpenAI request. An absent temperature is OpenAI's default, 1.
    pub(crate) fn into_synapse(self) -> TextGenerationRequest {
        TextGenerationRequest {
            prompt: String::new(),
            messages: self.messages.into_iter().map(|m| ChatMessage { role: m.role, content: m.content }).collect(),
            max_tokens: self.max_tokens.unwrap_or(0),
            temperature: self.temperature.unwrap_or(1.0),
            top_p: self.top_p.unwrap_or(0.0),
            seed: self.seed,
            stop: match self.stop {
                None => Vec::new(),
                Some(Stop::One(stop)) => vec![stop],
                Some(Stop::Many(stops)) => stops,
            },
            model: self.model,
        }
    }
}
