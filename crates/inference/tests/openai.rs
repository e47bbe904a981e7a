//! The OpenAI-compatible upstream backend against a real inference server: this crate's
//! `openai_server` on loopback, answering with real llama.cpp and candle inference.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use neuronet_inference::{openai_server, BackendSet, Error, InferenceBackend, OpenAiBackend, OpenAiConfig};
use neuronet_synapse::proto::{ChatMessage, EmbeddingRequest, TextGenerationRequest};

/// Serves SmolLM2 and all-MiniLM-L6-v2 on a loopback port.
async fn server() -> SocketAddr {
    let backends: Vec<Arc<dyn InferenceBackend>> = vec![common::smollm(), common::minilm()];
    let backend: Arc<dyn InferenceBackend> = Arc::new(BackendSet::new(backends));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(openai_server::serve(listener, backend));
    address
}

fn upstream(address: SocketAddr) -> OpenAiBackend {
    let config = OpenAiConfig::new(format!("http://{address}"))
        .with_api_key("test-key")
        .with_text_model(common::SMOLLM)
        .with_embedding_model(common::MINILM);
    OpenAiBackend::new(config).unwrap()
}

fn chat(question: &str, max_tokens: u32) -> TextGenerationRequest {
    TextGenerationRequest {
        messages: vec![ChatMessage { role: "user".into(), content: question.into() }],
        max_tokens,
        ..Default::default()
    }
}

#[tokio::test]
async fn generation_through_the_upstream_matches_the_local_model() {
    let client = upstream(server().await);
    let request = chat("What is the capital of France?", 24);
    let local = common::smollm().generate(request.clone()).await.unwrap();
    let remote = client.generate(request.clone()).await.unwrap();
    assert_eq!(remote, local);

    let chunks: Vec<_> = client.generate_stream(request).await.unwrap().collect().await;
    let chunks: Vec<_> = chunks.into_iter().map(|chunk| chunk.expect("chunk")).collect();
    assert!(chunks.len() > 1, "{chunks:?}");
    let text: String = chunks.iter().map(|chunk| chunk.text.as_str()).collect();
    assert_eq!(text, local.text);
    assert_eq!(chunks.last().unwrap().finish_reason, local.finish_reason);

    // A plain prompt is sent as one user message.
    let plain =
        TextGenerationRequest { prompt: "What is the capital of France?".into(), max_tokens: 24, ..Default::default() };
    assert_eq!(client.generate(plain).await.unwrap().text, local.text);
}

#[tokio::test]
async fn embeddings_through_the_upstream_match_the_local_model() {
    let client = upstream(server().await);
    let request = EmbeddingRequest {
        texts: vec!["first text".into(), "second text".into()],
        model: String::new(),
        normalize: true,
    };
    let local = common::minilm().embed(request.clone()).await.unwrap();
    let remote = client.embed(request).await.unwrap();
    assert_eq!((remote.dimension, remote.vectors.len(), remote.model.as_str()), (384, 2, common::MINILM));
    for (remote, local) in remote.vectors.iter().zip(&local.vectors) {
        let difference = remote.values.iter().zip(&local.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(difference < 1e-6, "{difference}");
    }
}

#[tokio::test]
async fn upstream_errors_come_back_as_clear_errors() {
    let address = server().await;
    // A model the upstream does not serve: its 404, with its message.
    let config = OpenAiConfig::new(format!("http://{address}")).with_text_model("gpt-9").with_embedding_model("other");
    let wrong = OpenAiBackend::new(config).unwrap();
    let error = wrong.generate(chat("hi", 4)).await.unwrap_err();
    assert!(
        matches!(&error, Error::UpstreamStatus { status: 404, message, .. } if message.contains("gpt-9")),
        "{error}"
    );
    let error = wrong.embed(EmbeddingRequest { texts: vec!["x".into()], ..Default::default() }).await.unwrap_err();
    assert!(matches!(error, Error::UpstreamStatus { status: 404, .. }), "{error}");
    let error = wrong.generate_stream(chat("hi", 4)).await.err().expect("refused");
    assert!(matches!(error, Error::UpstreamStatus { status: 404, .. }), "{error}");

    // A request the upstream refuses as invalid: its 400.
    let client = upstream(address);
    let bad = TextGenerationRequest {
        messages: vec![ChatMessage { role: String::new(), content: "x".into() }],
        ..Default::default()
    };
    let error = client.generate(bad).await.unwrap_err();
    assert!(matches!(error, Error::UpstreamStatus { status: 400, .. }), "{error}");

    // Checked here before any call: a model this client does not know, an empty prompt.
    assert!(matches!(
        client.generate(TextGenerationRequest { model: "x".into(), ..chat("hi", 4) }).await,
        Err(Error::UnknownModel { .. })
    ));
    assert!(matches!(client.generate(TextGenerationRequest::default()).await, Err(Error::InvalidRequest(_))));

    // Nobody listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let error = upstream(closed).generate(chat("hi", 4)).await.unwrap_err();
    assert!(matches!(&error, Error::Upstream { reason, .. } if reason.contains("connect")), "{error}");
}

#[tokio::test]
async fn the_server_speaks_the_openai_wire_to_a_raw_client() {
    let address = server().await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");

    let models: serde_json::Value = http.get(url("/v1/models")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|model| model["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [common::SMOLLM, common::MINILM]);

    let body = serde_json::json!({
        "model": common::SMOLLM,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 8, "temperature": 0, "stream": true,
    });
    let response = http.post(url("/v1/chat/completions")).json(&body).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text.lines().filter_map(|line| line.strip_prefix("data: ")).collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let first: serde_json::Value = serde_json::from_str(events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let last: serde_json::Value = serde_json::from_str(events[events.len() - 2]).unwrap();
    assert!(matches!(last["choices"][0]["finish_reason"].as_str(), Some("stop" | "length")), "{last}");

    // Malformed JSON and a wrong shape get an OpenAI error body, not a crash.
    for bad in ["{not json", r#"{"messages": "not a list"}"#] {
        let response = http
            .post(url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{bad}: {}", response.status());
        let error: serde_json::Value = response.json().await.unwrap();
        assert!(error["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{error}");
    }
}
