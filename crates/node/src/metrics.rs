//! Prometheus metrics on `--metrics.port`: the axon's or dendrite's requests by synapse and
//! status, latency histograms, connected peers and queue depth, and the inference engine's
//! tokens per second and batch sizes.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use neuronet_inference::LlamaBackend;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Serves `registry` as text at `http://addr/metrics` until the task is aborted.
pub async fn serve(addr: SocketAddr, registry: Registry) -> Result<tokio::task::JoinHandle<()>> {
    let registry = Arc::new(registry);
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let registry = registry.clone();
            async move {
                let mut body = String::new();
                match encode(&mut body, &registry) {
                    Ok(()) => (
                        axum::http::StatusCode::OK,
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    ),
                    Err(error) => (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        error.to_string(),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "metrics at /metrics");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the metrics server stopped");
        }
    }))
}

/// Registers the llama.cpp engine's series and keeps them current (every second) until the
/// returned task is aborted.
pub fn track_engine(registry: &mut Registry, llama: Arc<LlamaBackend>) -> tokio::task::JoinHandle<()> {
    let sub = registry.sub_registry_with_prefix("neuronet_inference");
    let tokens = Counter::<u64>::default();
    let steps = Counter::<u64>::default();
    let tokens_per_second = Gauge::<f64, AtomicU64>::default();
    let batch = Gauge::<f64, AtomicU64>::default();
    let max_batch = Gauge::<i64>::default();
    sub.register("generated_tokens", "Tokens generated", tokens.clone());
    sub.register("decode_steps", "llama.cpp decode steps run", steps.clone());
    sub.register("tokens_per_second", "Tokens generated per second, over the last second", tokens_per_second.clone());
    sub.register("batch_sequences", "Sequences per decode step, over the last second", batch.clone());
    sub.register("max_batch_sequences", "The most sequences one decode step has carried", max_batch.clone());
    tokio::spawn(async move {
        let mut last = llama.stats();
        let mut at = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = llama.stats();
            let elapsed = at.elapsed().as_secs_f64().max(1e-3);
            let new_tokens = now.generated_tokens.saturating_sub(last.generated_tokens);
            let new_steps = now.steps.saturating_sub(last.steps);
            tokens.inc_by(new_tokens);
            steps.inc_by(new_steps);
            tokens_per_second.set(new_tokens as f64 / elapsed);
            batch.set(if new_steps == 0 { 0.0 } else { new_tokens as f64 / new_steps as f64 });
            max_batch.set(i64::try_from(now.max_batch_sequences).unwrap_or(i64::MAX));
            last = now;
            at = Instant::now();
        }
    })
}
