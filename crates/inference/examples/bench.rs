//! Throughput of the inference backends on this machine: llama.cpp tokens/s with 1, 4 and 8
//! concurrent streams (SmolLM2-135M-Instruct, continuous batching) and BERT embeddings/s
//! (all-MiniLM-L6-v2). Models are fetched into the cache on first run.
//!
//! ```sh
//! cargo run --release -p neuronet-inference --example bench
//! ```

use std::sync::Arc;
use std::time::Instant;

use neuronet_inference::fetch::{ModelCache, ALL_MINILM_L6_V2, SMOLLM2_135M_INSTRUCT};
use neuronet_inference::{BertConfig, BertEmbedder, InferenceBackend, LlamaBackend, LlamaConfig};
use neuronet_synapse::proto::{EmbeddingRequest, TextGenerationRequest};

const TOKENS_PER_STREAM: u32 = 128;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
        .map_or("unknown", str::trim);
    let ifma = cpuinfo
        .lines()
        .any(|line| line.starts_with("flags") && line.split_whitespace().any(|flag| flag == "avx512ifma"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("CPU: {cpu}, {cores} cores available, avx512ifma: {}", if ifma { "yes" } else { "no" });
    // llama.cpp is built for what the Rust target has: the machine itself under the workspace's
    // `target-cpu=native` (.cargo/config.toml), else the RUSTFLAGS given.
    println!("built with AVX2: {}, AVX-512F: {}", cfg!(target_feature = "avx2"), cfg!(target_feature = "avx512f"),);

    let cache = ModelCache::from_env()?;
    let gguf = cache.fetch_gguf(&SMOLLM2_135M_INSTRUCT.parse()?)?;
    let bert_dir = cache.fetch_bert(&ALL_MINILM_L6_V2.parse()?)?;

    let config =
        LlamaConfig::new(&gguf).with_max_sequences(8).with_context_length(512).with_max_tokens(TOKENS_PER_STREAM);
    let llama = Arc::new(tokio::task::spawn_blocking(move || LlamaBackend::load(config)).await??);
    for streams in [1usize, 4, 8] {
        let started = Instant::now();
        let answers = futures::future::join_all((0..streams).map(|stream| {
            let llama = Arc::clone(&llama);
            async move {
                // Sampling keeps the stories going to max_tokens; the seed makes runs comparable.
                let request = TextGenerationRequest {
                    prompt: format!("Chapter {}. Once upon a time, in a kingdom far away,", stream + 1),
                    max_tokens: TOKENS_PER_STREAM,
                    temperature: 0.8,
                    seed: Some(stream as u64),
                    ..Default::default()
                };
                llama.generate(request).await
            }
        }))
        .await;
        let seconds = started.elapsed().as_secs_f64();
        let tokens: u32 = answers.into_iter().map(|answer| answer.map_or(0, |answer| answer.tokens)).sum();
        println!(
            "llama.cpp SmolLM2-135M Q4_1, {streams} concurrent stream(s): {tokens} tokens in {seconds:.2} s = {:.1} tokens/s",
            f64::from(tokens) / seconds
        );
    }
    println!("engine: {:?}", llama.stats());

    let bert = Arc::new(tokio::task::spawn_blocking(move || BertEmbedder::load(BertConfig::new(bert_dir))).await??);
    let texts: Vec<String> =
        (0..32).map(|i| format!("Sentence number {i} is about the weather, the markets and a cat on a mat.")).collect();
    let request = EmbeddingRequest { texts, model: String::new(), normalize: true };
    bert.embed(request.clone()).await?; // warm-up
    let rounds = 8;
    let started = Instant::now();
    for _ in 0..rounds {
        bert.embed(request.clone()).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = rounds * request.texts.len();
    println!(
        "candle all-MiniLM-L6-v2, batches of 32 texts (~20 tokens): {count} embeddings in {seconds:.2} s = {:.1} embeddings/s",
        count as f64 / seconds
    );
    Ok(())
}
