//! An OpenAI-compatible HTTP server in front of any [`InferenceBackend`]: `POST
//! /v1/chat/completions` (with `"stream": true` answered as server-sent events ending in
//! `data: [DONE]`), `POST /v1/embeddings` and `GET /v1/models`. A miner can serve its llama.cpp
//! model to OpenAI clients with it, and another neuronet node can use it as an upstream.
//!
//! ```no_run
//! # async fn example(backend: std::sync::Arc<dyn neuronet_inference::InferenceBackend>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! neuronet_inference::openai_server::serve(listener, backend).await
//! # }
//! ```

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use neuronet_synapse::proto::EmbeddingRequest;

use crate::backend::{InferenceBackend, TASK_EMBEDDING, TASK_TEXT_GENERATION};
use crate::error::Error;
use crate::openai_wire::{
    finish_reason_name, ChatCompletionChunk, ChatCompletionRequest, ChatCompletionResponse, Choice, ChunkChoice, Delta,
    EmbeddingData, EmbeddingsRequest, EmbeddingsResponse, ErrorBody, ErrorDetail, ModelEntry, ModelList, Usage,
    WireMessage,
};

type Backend = Arc<dyn InferenceBackend>;

/// The routes, for mounting in a larger axum app. Request bodies are held to axum's default
/// limit of 2 MB.
pub fn router(backend: Backend) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .with_state(backend)
}

/// Serves the routes on `listener` until the process ends or the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, backend: Backend) -> std::io::Result<()> {
    axum::serve(listener, router(backend)).await
}

/// An [`Error`] as an OpenAI error response.
struct ApiError(StatusCode, String, &'static str);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let (status, kind) = match &error {
            Error::UnknownModel { .. } => (StatusCode::NOT_FOUND, "model_not_found"),
            Error::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            Error::Unsupported(_) => (StatusCode::BAD_REQUEST, "invalid_request_error"),
            Error::Overloaded { .. } => (StatusCode::TOO_MANY_REQUESTS, "overloaded"),
            Error::UpstreamStatus { .. } | Error::Upstream { .. } => (StatusCode::BAD_GATEWAY, "upstream_error"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        };
        ApiError(status, error.to_string(), kind)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError(rejection.status(), rejection.body_text(), "invalid_request_error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { message: self.1, kind: self.2.to_owned() } };
        (self.0, Json(body)).into_response()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// The model name to report: the one asked for, else the backend's default for `task`.
fn model_name(backend: &Backend, requested: &str, task: &str) -> String {
    if !requested.is_empty() {
        return requested.to_owned();
    }
    backend.capabilities().models.into_iter().find(|info| info.task == task).map(|info| info.name).unwrap_or_default()
}

async fn chat_completions(
    State(backend): State<Backend>,
    body: Result<Json<ChatCompletionRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(wire) = body?;
    let stream = wire.stream;
    let request = wire.into_synapse();
    let model = model_name(&backend, &request.model, TASK_TEXT_GENERATION);
    let id = format!("chatcmpl-{}", now_secs());
    if !stream {
        let answer = backend.generate(request).await?;
        let response = ChatCompletionResponse {
            id,
            object: "chat.completion".to_owned(),
            created: now_secs(),
            model,
            choices: vec![Choice {
                index: 0,
                message: WireMessage { role: "assistant".to_owned(), content: answer.text },
                finish_reason: finish_reason_name(answer.finish_reason),
            }],
            usage: Some(Usage { prompt_tokens: 0, completion_tokens: answer.tokens, total_tokens: answer.tokens }),
        };
        return Ok(Json(response).into_response());
    }
    let chunks = backend.generate_stream(request).await?;
    let created = now_secs();
    let event = move |delta: Delta, finish_reason: Option<String>| {
        let chunk = ChatCompletionChunk {
            id: id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created,
            model: model.clone(),
            choices: vec![ChunkChoice { index: 0, delta, finish_reason }],
        };
        Event::default().data(serde_json::to_string(&chunk).unwrap_or_default())
    };
    let first = event(Delta { role: Some("assistant".to_owned()), content: None }, None);
    let events = chunks.map(move |chunk| match chunk {
        Ok(chunk) => event(
            Delta { role: None, content: (!chunk.text.is_empty()).then_some(chunk.text) },
            finish_reason_name(chunk.finish_reason),
        ),
        // Headers are gone by now: end the stream with an error event, as OpenAI does.
        Err(error) => {
            let body = ErrorBody { error: ErrorDetail { message: error.to_string(), kind: "server_error".to_owned() } };
            Event::default().data(serde_json::to_string(&body).unwrap_or_default())
        }
    });
    let done = Event::default().data("[DONE]");
    let all = futures::stream::once(async { first })
        .chain(events)
        .chain(futures::stream::once(async { done }))
        .map(Ok::<_, Infallible>);
    Ok(Sse::new(all).into_response())
}

async fn embeddings(
    State(backend): State<Backend>,
    body: Result<Json<EmbeddingsRequest>, JsonRejection>,
) -> Result<Json<EmbeddingsResponse>, ApiError> {
    let Json(wire) = body?;
    let model = model_name(&backend, &wire.model, TASK_EMBEDDING);
    // OpenAI's embeddings are unit vectors; answer the same.
    let request = EmbeddingRequest { texts: wire.input.into_texts(), model: wire.model, normalize: true };
    let answer = backend.embed(request).await?;
    let data = answer
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| EmbeddingData { object: "embedding".to_owned(), index, embedding: vector.values })
        .collect();
    Ok(Json(EmbeddingsResponse { object: "list".to_owned(), data, model }))
}

async fn models(State(backend): State<Backend>) -> Json<ModelList> {
    let data = backend
        .capabilities()
        .models
        .into_iter()
        .map(|info| ModelEntry { id: info.name, object: "model".to_owned(), owned_by: "neuronet".to_owned() })
        .collect();
    Json(ModelList { object: "list".to_owned(), data })
}
