//! The miner's inference, end to end: a real `neuronet` miner (the node's own `miner::start`,
//! on a devchain in this process) serving SmolLM2-135M through llama.cpp with continuous
//! batching, queried over QUIC by a dendrite. Tokens/s with 1, 4 and 16 concurrent streams, the
//! time to first token (p50), and embeddings/s (all-MiniLM-L6-v2) at batch 1 and 32. Beside it,
//! in the same run: pip llama-cpp-python called in-process on the same GGUF with the same thread
//! count, prompts, sampling and token budget (`python/llama_cpp_python_bench.py`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use neuronet_chain::{calls, AccountId, Chain};
use neuronet_node::inference::{load_backend, BackendArgs};
use neuronet_node::miner::{self, MinerOptions};
use neuronet_synapse::builtin::{Embedding, TextGenerationStream};
use neuronet_synapse::proto::{ChatMessage, EmbeddingRequest, TextGenerationRequest};
use neuronet_synapse::{CryptoType, Keypair, Status};
use neuronet_transport::{Dendrite, DendriteConfig, Target};

/// Tokens each stream asks for.
const MAX_TOKENS: u32 = 128;
/// Concurrent streams measured.
const STREAMS: [usize; 3] = [1, 4, 16];
const TIMEOUT: Duration = Duration::from_secs(600);

/// The messages of request `index`; the Python baseline sends the same.
fn request(index: usize, max_tokens: u32) -> TextGenerationRequest {
    TextGenerationRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: format!("Chapter {}. Tell a long story about a lighthouse keeper.", index + 1),
        }],
        max_tokens,
        temperature: 0.8,
        top_p: 1.0,
        seed: Some(index as u64),
        ..Default::default()
    }
}

/// One streamed request: tokens received, and the time to the first one.
async fn stream(dendrite: &Dendrite, target: &Target, index: usize, max_tokens: u32) -> Result<(u32, Duration)> {
    let started = Instant::now();
    let mut chunks =
        dendrite.query_stream_within::<TextGenerationStream>(target, request(index, max_tokens), TIMEOUT).await;
    let mut first = None;
    let mut tokens = 0;
    while let Some(chunk) = chunks.next().await {
        if first.is_none() && !chunk.text.is_empty() {
            first = Some(started.elapsed());
        }
        tokens += chunk.tokens;
    }
    let status = chunks.status().unwrap_or(Status::InternalError);
    anyhow::ensure!(status.is_success(), "stream {index}: {} {}", status.code(), chunks.message());
    Ok((tokens, first.unwrap_or_else(|| started.elapsed())))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The processor, its core count and the instruction sets that matter to llama.cpp.
fn processor() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
        .map_or("unknown", str::trim)
        .to_owned();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|line| line.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let sets: Vec<&str> =
        ["avx2", "avx512f", "avx512_vnni", "avx512ifma"].into_iter().filter(|set| flags.contains(set)).collect();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cores} cores, {}", if sets.is_empty() { "no AVX2".into() } else { sets.join(" ") })
}

/// The llama-cpp-python baseline's figures.
struct Baseline {
    version: String,
    tokens_per_s: f64,
    ttft_p50_ms: f64,
}

fn baseline(python: &Path, gguf: &Path, threads: usize, requests: usize) -> Result<Baseline> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/llama_cpp_python_bench.py");
    let spec = serde_json::json!({
        "model": gguf, "threads": threads, "context": 1024, "max_tokens": MAX_TOKENS,
        "requests": requests, "warmup": 1,
    });
    let output = std::process::Command::new(python)
        .arg(&script)
        .arg(spec.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    anyhow::ensure!(output.status.success(), "the baseline failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("the baseline printed {line:?}"))?;
    Ok(Baseline {
        version: value["version"].as_str().unwrap_or("?").to_owned(),
        tokens_per_s: value["tokens_per_s"].as_f64().unwrap_or(0.0),
        ttft_p50_ms: value["ttft_p50_ms"].as_f64().unwrap_or(0.0),
    })
}

pub async fn measure(python: Option<PathBuf>, model: Option<PathBuf>, quick: bool) -> Result<()> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("processor: {}", processor());
    println!("llama.cpp threads: {threads} (both sides); {MAX_TOKENS} tokens per stream, temperature 0.8, seeded");

    // A devchain with a subnet; the miner registered on it; //Alice (the subnet owner) calls.
    let devchain = neuronet_devchain::Devchain::start(neuronet_devchain::Config {
        block_time: Duration::from_millis(100),
        ..Default::default()
    })
    .await?;
    let chain = Chain::connect(&devchain.url()).await?;
    let alice = neuronet_devchain::dev_keypair("//Alice");
    chain.submit(&alice, &calls::register_network(&AccountId::from(alice.hotkey()))).await?;
    let miner_key = Keypair::from_suri("//bench/miner", CryptoType::Sr25519)?;
    let payer = neuronet_devchain::dev_keypair("//Bob");
    chain.submit(&payer, &calls::burned_register(1, &AccountId::from(miner_key.hotkey()))).await?;

    let mut args = BackendArgs::local();
    if let Some(model) = &model {
        args.model = model.display().to_string();
    }
    args.max_sequences = 16;
    args.context_length = 1024;
    args.threads = threads as u32;
    let loaded = load_backend(&args).await?;
    let options = MinerOptions {
        netuid: 1,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        external_ip: None,
        http: false,
        require_permit: false,
        identity: None,
        metrics: None,
    };
    let running = miner::start(&chain, miner_key, &loaded, &options).await?;
    let target = Target::Explicit { hotkey: running.axon.hotkey(), addr: running.axon.listen_addrs()[0].clone() };
    let dendrite = Arc::new(Dendrite::new(alice, DendriteConfig::default()).await?);

    // Warm-up: the connection, and llama.cpp's first decode.
    stream(&dendrite, &target, 1000, 16).await?;

    let single_requests = if quick { 2 } else { 4 };
    let mut rows = Vec::new();
    for streams in STREAMS {
        // One stream: several requests one after another; more: one request per stream at once.
        let (started, mut tokens, mut firsts) = (Instant::now(), 0u32, Vec::new());
        if streams == 1 {
            for index in 0..single_requests {
                let (count, first) = stream(&dendrite, &target, index, MAX_TOKENS).await?;
                tokens += count;
                firsts.push(first);
            }
        } else {
            let answers =
                futures::future::join_all((0..streams).map(|index| stream(&dendrite, &target, index, MAX_TOKENS)))
                    .await;
            for answer in answers {
                let (count, first) = answer?;
                tokens += count;
                firsts.push(first);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        rows.push((streams, f64::from(tokens) / seconds, median(firsts)));
    }
    let stats = loaded.llama.as_ref().map(|llama| llama.stats());

    // Embeddings through the miner: batches of 1 and 32 texts.
    let mut embeddings = Vec::new();
    for batch in [1usize, 32] {
        let texts: Vec<String> =
            (0..batch).map(|i| format!("Sentence {i} is about the weather, the markets and a cat on a mat.")).collect();
        let request = EmbeddingRequest { texts, normalize: true, ..Default::default() };
        let ask = || dendrite.query_within::<Embedding>(&target, request.clone(), TIMEOUT);
        let warm = ask().await;
        anyhow::ensure!(warm.status.is_success(), "embedding: {}", warm.message);
        let rounds = if batch == 1 { 64 } else { 8 };
        let started = Instant::now();
        for _ in 0..rounds {
            let answer = ask().await;
            anyhow::ensure!(answer.status.is_success(), "embedding: {}", answer.message);
        }
        embeddings.push((batch, (rounds * batch) as f64 / started.elapsed().as_secs_f64()));
    }
    drop(running);
    devchain.stop().await;

    let python =
        python.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv-llama-cpp-python/bin/python"));
    let gguf = match model {
        Some(model) => model,
        None => neuronet_inference::ModelCache::from_env()?
            .fetch_gguf(&neuronet_inference::fetch::SMOLLM2_135M_INSTRUCT.parse()?)?,
    };
    let theirs = if python.exists() {
        Some(baseline(&python, &gguf, threads, single_requests)?)
    } else {
        println!(
            "(no llama-cpp-python at {}: make it with `bash tests/python/setup-venv.sh .venv-llama-cpp-python \
             tests/python/llama-cpp-python.txt`, or pass --python)",
            python.display()
        );
        None
    };

    println!();
    println!("{}, through the miner over QUIC:", gguf.file_name().map_or("?".into(), |n| n.to_string_lossy()));
    println!("{:>8}  {:>10}  {:>14}", "streams", "tokens/s", "TTFT p50");
    for (streams, rate, first) in &rows {
        println!("{streams:>8}  {rate:>10.1}  {:>11.1} ms", first.as_secs_f64() * 1000.0);
    }
    if let Some(stats) = stats {
        println!("engine: {stats:?}");
    }
    let single = rows[0].1;
    let aggregate = rows.last().map_or(0.0, |row| row.1);
    if let Some(theirs) = &theirs {
        println!(
            "llama-cpp-python {} in process, one stream: {:.1} tokens/s, TTFT p50 {:.1} ms",
            theirs.version, theirs.tokens_per_s, theirs.ttft_p50_ms
        );
        println!(
            "single stream, neuronet miner over QUIC / llama-cpp-python in process: {:.2}x (target >= 0.9x)",
            single / theirs.tokens_per_s
        );
    }
    println!("aggregate at 16 streams / single stream: {:.2}x (target >= 3x)", aggregate / single);
    println!();
    println!("all-MiniLM-L6-v2 (candle), through the miner over QUIC:");
    for (batch, rate) in embeddings {
        println!("  batch {batch:>2}: {rate:.1} embeddings/s");
    }
    Ok(())
}
