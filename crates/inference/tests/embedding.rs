//! BERT sentence embeddings with the real all-MiniLM-L6-v2: shape, normalisation, meaning,
//! batching, and refusals.

mod common;

use neuronet_inference::{Error, InferenceBackend, TASK_EMBEDDING};
use neuronet_synapse::proto::EmbeddingRequest;

fn request(texts: &[&str], normalize: bool) -> EmbeddingRequest {
    EmbeddingRequest { texts: texts.iter().map(|text| text.to_string()).collect(), model: String::new(), normalize }
}

async fn embed(texts: &[&str], normalize: bool) -> Vec<Vec<f32>> {
    let response = common::minilm().embed(request(texts, normalize)).await.expect("embedding");
    assert_eq!(response.dimension, 384);
    assert_eq!(response.model, common::MINILM);
    response.vectors.into_iter().map(|vector| vector.values).collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

#[tokio::test]
async fn vectors_have_384_dimensions_and_are_unit_length_when_normalized() {
    let texts = ["A man is eating food.", "Rust is a systems programming language."];
    let normalized = embed(&texts, true).await;
    assert_eq!(normalized.len(), 2);
    for vector in &normalized {
        assert_eq!(vector.len(), 384);
        assert!((norm(vector) - 1.0).abs() < 1e-4, "{}", norm(vector));
    }
    // Without `normalize` the mean-pooled vectors come back as they are, in the same direction.
    let raw = embed(&texts, false).await;
    assert!((norm(&raw[0]) - 1.0).abs() > 0.01, "{}", norm(&raw[0]));
    assert!((dot(&raw[0], &normalized[0]) / norm(&raw[0]) - 1.0).abs() < 1e-4);
}

#[tokio::test]
async fn similar_sentences_are_closer_than_unrelated_ones() {
    let vectors = embed(
        &["A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."],
        true,
    )
    .await;
    let similar = dot(&vectors[0], &vectors[1]);
    let unrelated = dot(&vectors[0], &vectors[2]);
    assert!(similar > 0.6 && unrelated < 0.2 && similar > unrelated + 0.4, "similar {similar}, unrelated {unrelated}");
}

#[tokio::test]
async fn a_text_embeds_the_same_alone_and_padded_in_a_batch() {
    let alone = embed(&["short text"], true).await;
    let batched =
        embed(&["a much longer text that forces padding of the short one in the same batch", "short text"], true).await;
    let difference = alone[0].iter().zip(&batched[1]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(difference < 1e-4, "{difference}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_clear_errors() {
    let backend = common::minilm();
    let refused = |request: EmbeddingRequest| {
        let backend = backend.clone();
        async move { backend.embed(request).await.expect_err("should be refused") }
    };
    assert!(matches!(refused(request(&[], true)).await, Error::InvalidRequest(_)));
    let seventeen = vec!["text"; 17];
    let error = refused(request(&seventeen, true)).await;
    assert!(matches!(&error, Error::InvalidRequest(message) if message.contains("17 texts")), "{error}");
    let unknown = EmbeddingRequest { model: "text-embedding-3-large".into(), ..request(&["x"], true) };
    assert!(matches!(refused(unknown).await, Error::UnknownModel { .. }));
    // An empty text and a very long one (truncated to 256 tokens) are still embedded.
    let long = "word ".repeat(2000);
    let vectors = embed(&["", &long], true).await;
    assert!(vectors.iter().all(|vector| vector.iter().all(|v| v.is_finite())));
    // Embedding is not text generation.
    let error = backend.generate(Default::default()).await.unwrap_err();
    assert!(matches!(error, Error::Unsupported(_)), "{error}");
}

#[tokio::test]
async fn capabilities_describe_the_model() {
    let capabilities = common::minilm().capabilities();
    let model = &capabilities.models[0];
    assert_eq!((model.name.as_str(), model.task.as_str(), model.dimension), (common::MINILM, TASK_EMBEDDING, 384));
    assert_eq!(model.context_length, 256);
    assert_eq!(capabilities.limits.unwrap().max_batch_texts, 16);
}

#[tokio::test]
async fn vectors_match_an_independent_reference() {
    // The reference: a float64 NumPy implementation of BERT with mean pooling
    // (reference/minilm.py) run on the same safetensors.
    let reference = [0.033242f32, 0.004406, -0.006277, 0.048379, -0.138702, -0.033617, 0.101128, -0.054385];
    let vectors = embed(&["A man is eating food.", "A man is eating a piece of bread."], true).await;
    for (index, (got, want)) in vectors[0].iter().zip(reference).enumerate() {
        assert!((got - want).abs() < 1e-4, "value {index}: {got} against {want}");
    }
    let cosine = dot(&vectors[0], &vectors[1]);
    assert!((cosine - 0.755337).abs() < 1e-4, "{cosine}");
}

#[tokio::test]
async fn similarities_match_the_sentence_transformers_documentation() {
    // sbert.net's usage page prints these cosine similarities for all-MiniLM-L6-v2 (the NumPy
    // reference computes the same).
    let vectors =
        embed(&["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."], true).await;
    for ((a, b), documented) in [((0, 1), 0.6660f32), ((0, 2), 0.1046), ((1, 2), 0.1411)] {
        let cosine = dot(&vectors[a], &vectors[b]);
        assert!((cosine - documented).abs() < 5e-4, "{a}-{b}: {cosine} against {documented}");
    }
}
