//! llama.cpp text generation with the real SmolLM2-135M-Instruct: determinism, limits, stop
//! strings, the chat template, streaming, continuous batching, and refusals.

mod common;

use std::sync::Arc;

use futures::StreamExt;
use neuronet_inference::{Error, InferenceBackend, LlamaBackend, LlamaConfig, TASK_TEXT_GENERATION};
use neuronet_synapse::proto::{ChatMessage, FinishReason, TextGenerationRequest, TextGenerationResponse};

fn prompt(text: &str, max_tokens: u32) -> TextGenerationRequest {
    TextGenerationRequest { prompt: text.to_owned(), max_tokens, ..Default::default() }
}

fn chat(question: &str, max_tokens: u32) -> TextGenerationRequest {
    TextGenerationRequest {
        messages: vec![ChatMessage { role: "user".into(), content: question.into() }],
        max_tokens,
        ..Default::default()
    }
}

async fn generate(request: TextGenerationRequest) -> TextGenerationResponse {
    common::smollm().generate(request).await.expect("generation")
}

#[tokio::test]
async fn greedy_generation_is_deterministic_and_stops_at_max_tokens() {
    let request = prompt("The three primary colors are", 12);
    let first = generate(request.clone()).await;
    let second = generate(request).await;
    assert_eq!(first, second);
    assert!(!first.text.trim().is_empty());
    assert_eq!(first.tokens, 12, "{first:?}");
    assert_eq!(first.finish_reason, FinishReason::Length as i32);
    assert_eq!(first.model, common::SMOLLM);
}

#[tokio::test]
async fn sampling_with_a_seed_is_reproducible() {
    let request =
        TextGenerationRequest { temperature: 0.9, top_p: 0.95, seed: Some(7), ..prompt("Once upon a time", 24) };
    let first = generate(request.clone()).await;
    assert_eq!(first, generate(request.clone()).await);
    // Another seed almost surely samples another continuation of 24 tokens.
    let other_seeds: Vec<String> = futures::future::join_all(
        (8..11).map(|seed| generate(TextGenerationRequest { seed: Some(seed), ..request.clone() })),
    )
    .await
    .into_iter()
    .map(|response| response.text)
    .collect();
    assert!(other_seeds.iter().any(|text| *text != first.text), "{first:?} {other_seeds:?}");
}

#[tokio::test]
async fn a_stop_string_ends_the_answer_and_is_left_out() {
    let free = generate(prompt("Count from one to ten: one, two,", 24)).await;
    let stop = " five";
    let at = free.text.find(stop).unwrap_or_else(|| panic!("no {stop:?} in {:?}", free.text));
    let stopped = generate(TextGenerationRequest {
        stop: vec!["never".into(), stop.into()],
        ..prompt("Count from one to ten: one, two,", 24)
    })
    .await;
    assert_eq!(stopped.text, free.text[..at]);
    assert_eq!(stopped.finish_reason, FinishReason::Stop as i32);
    assert!(stopped.tokens < free.tokens);
}

#[tokio::test]
async fn chat_messages_go_through_the_models_chat_template() {
    let answer = generate(chat("What is the capital of France?", 24)).await;
    assert!(answer.text.contains("Paris"), "{answer:?}");
    // The same question as a plain prompt is not an instruction to the model, so it continues
    // the text instead of answering as the assistant.
    let plain = generate(prompt("What is the capital of France?", 24)).await;
    assert_ne!(plain.text, answer.text);
    // A short answer ends with the end-of-turn token, not the length limit.
    let short = generate(chat("Say just the word yes.", 64)).await;
    assert_eq!(short.finish_reason, FinishReason::Stop as i32, "{short:?}");
}

#[tokio::test]
async fn streamed_chunks_concatenate_to_the_unary_answer() {
    let request = chat("Write a haiku about the sea.", 40);
    let unary = generate(request.clone()).await;
    let chunks: Vec<_> = common::smollm().generate_stream(request).await.unwrap().collect().await;
    let chunks: Vec<_> = chunks.into_iter().map(|chunk| chunk.expect("chunk")).collect();
    assert!(chunks.len() > 1, "{chunks:?}");
    let text: String = chunks.iter().map(|chunk| chunk.text.as_str()).collect();
    let tokens: u32 = chunks.iter().map(|chunk| chunk.tokens).sum();
    assert_eq!((text, tokens), (unary.text, unary.tokens));
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last.finish_reason, unary.finish_reason);
    assert!(rest.iter().all(|chunk| chunk.finish_reason == FinishReason::Unspecified as i32));
}

#[tokio::test]
async fn concurrent_requests_are_batched_and_each_answered() {
    // A backend of its own, so that the batch statistic is this test's.
    let backend = Arc::new(LlamaBackend::load(common::smollm_config()).unwrap());
    let questions = ["What is 2 + 2?", "Name a fruit.", "What color is the sky?", "Say hello in French."];
    let requests: Vec<_> = questions.iter().map(|question| chat(question, 32)).collect();
    let together = futures::future::join_all(requests.iter().cloned().map(|request| {
        let backend = Arc::clone(&backend);
        async move { backend.generate(request).await.unwrap() }
    }))
    .await;
    let stats = backend.stats();
    assert!(stats.max_batch_sequences > 1, "{stats:?}");
    assert_eq!(stats.completed, 4);
    for (question, answer) in questions.iter().zip(&together) {
        assert!(!answer.text.trim().is_empty(), "{question}: {answer:?}");
        assert!(answer.tokens > 0 && answer.tokens <= 32, "{question}: {answer:?}");
    }
    // Each answer is the one the request gets alone, word for word.
    for (request, answer) in requests.into_iter().zip(&together) {
        assert_eq!(backend.generate(request).await.unwrap().text, answer.text);
    }
}

#[tokio::test]
async fn bad_requests_are_refused_with_clear_errors() {
    let backend = common::smollm();
    let refused = |request: TextGenerationRequest| {
        let backend = Arc::clone(&backend);
        async move { backend.generate(request).await.expect_err("should be refused") }
    };
    assert!(matches!(refused(prompt("", 8)).await, Error::InvalidRequest(_)));
    let unknown = refused(TextGenerationRequest { model: "gpt-9".into(), ..prompt("hi", 8) }).await;
    assert!(matches!(&unknown, Error::UnknownModel { requested, .. } if requested == "gpt-9"), "{unknown}");
    assert!(matches!(
        refused(TextGenerationRequest { temperature: -1.0, ..prompt("hi", 8) }).await,
        Error::InvalidRequest(_)
    ));
    assert!(matches!(
        refused(TextGenerationRequest { temperature: f32::NAN, ..prompt("hi", 8) }).await,
        Error::InvalidRequest(_)
    ));
    assert!(matches!(refused(TextGenerationRequest { top_p: 1.5, ..prompt("hi", 8) }).await, Error::InvalidRequest(_)));
    let no_role = TextGenerationRequest {
        messages: vec![ChatMessage { role: " ".into(), content: "x".into() }],
        ..Default::default()
    };
    assert!(matches!(refused(no_role).await, Error::InvalidRequest(_)));
    let many_stops = TextGenerationRequest { stop: vec!["x".into(); 17], ..prompt("hi", 8) };
    assert!(matches!(refused(many_stops).await, Error::InvalidRequest(_)));
    let many_stops = TextGenerationRequest { stop: vec!["x".into(); 17], ..prompt("hi", 8) };
    assert!(matches!(refused(many_stops).await, Error::InvalidRequest(_)));
    let nul = chat("a\0b", 8);
    assert!(matches!(refused(nul).await, Error::InvalidRequest(_)));
    // A prompt longer than the context (1024 tokens) cannot be answered.
    let long = "word ".repeat(3000);
    assert!(matches!(refused(prompt(&long, 8)).await, Error::InvalidRequest(message) if message.contains("context")));

    // max_tokens 0 means the default; a huge max_tokens is clamped to the configured 48.
    let unset = backend.generate(chat("Tell me a long story about a dragon.", 0)).await.unwrap();
    assert!(unset.tokens > 0, "{unset:?}");
    let huge = backend.generate(prompt("Write a very long essay about the history of Rome.", u32::MAX)).await.unwrap();
    assert!(huge.tokens <= 48, "{huge:?}");
}

#[tokio::test]
async fn a_full_queue_answers_overloaded_and_dropped_streams_are_cancelled() {
    let config = LlamaConfig { queue_depth: 1, ..common::smollm_config().with_max_sequences(1) };
    let backend = LlamaBackend::load(config).unwrap();
    let long = || prompt("Write a very long essay about the history of Rome.", 48);
    let mut streams = Vec::new();
    let overloaded = loop {
        match backend.generate_stream(long()).await {
            Ok(stream) => streams.push(stream),
            Err(error) => break error,
        }
        assert!(streams.len() < 4, "never overloaded with one sequence and a queue of one");
    };
    assert!(matches!(overloaded, Error::Overloaded { queue_depth: 1, .. }), "{overloaded}");
    drop(streams);
    // With the callers gone, their sequences are cancelled (at the engine's next step) and the
    // engine serves again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while backend.stats().cancelled == 0 {
        assert!(std::time::Instant::now() < deadline, "never cancelled: {:?}", backend.stats());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let answer = loop {
        match backend.generate(prompt("Hello", 4)).await {
            Err(Error::Overloaded { .. }) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            other => break other.unwrap(),
        }
    };
    assert_eq!(answer.tokens, 4);
}

#[tokio::test]
async fn capabilities_describe_the_model_and_limits() {
    let capabilities = common::smollm().capabilities();
    let model = &capabilities.models[0];
    assert_eq!(
        (model.name.as_str(), model.task.as_str(), model.context_length),
        (common::SMOLLM, TASK_TEXT_GENERATION, 1024)
    );
    assert_eq!(capabilities.device, "cpu");
    let limits = capabilities.limits.unwrap();
    assert_eq!((limits.max_tokens, limits.max_concurrent_requests), (48, 4));
}
