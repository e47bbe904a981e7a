//! The continuous batching engine: one thread owns the llama.cpp context; every admitted request
//! is a sequence (its own `seq_id` and KV cache cells) of one shared batch. Each step decodes one
//! token for every running sequence plus as much prompt prefill as the batch has room for; new
//! requests join and finished or cancelled ones leave between steps.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend as LlamaRuntime;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use neuronet_synapse::proto::{TextGenerationChunk, TextGenerationRequest};
use tokio::sync::mpsc;

use super::sequence::{Sequence, Step};
use super::LlamaConfig;
use crate::backend::ChunkStream;
use crate::error::{Error, Result};

/// How a sequence picks its tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sampling {
    /// 0 means greedy (always the most likely token).
    temperature: f32,
    /// Nucleus sampling mass; 1 keeps every token.
    top_p: f32,
    /// The sampler's seed; `None` draws one.
    seed: Option<u32>,
}

impl Sampling {
    /// The sampling a request asks for: temperature 0 (the protobuf default) is greedy, top_p 0
    /// means 1. Negative, non-finite or out-of-range values are refused.
    pub(crate) fn from_request(request: &TextGenerationRequest) -> Result<Self> {
        let (temperature, top_p) = (request.temperature, request.top_p);
        if !temperature.is_finite() || !(0.0..=100.0).contains(&temperature) {
            return Err(Error::invalid(format!("temperature {temperature} is not in [0, 100]")));
        }
        if !top_p.is_finite() || !(0.0..=1.0).contains(&top_p) {
            return Err(Error::invalid(format!("top_p {top_p} is not in [0, 1]")));
        }
        // llama.cpp draws a random seed for u32::MAX, so fold the 64-bit seed below it.
        let seed = request.seed.map(|seed| ((seed ^ (seed >> 32)) as u32).min(u32::MAX - 1));
        Ok(Self { temperature, top_p: if top_p == 0.0 { 1.0 } else { top_p }, seed })
    }

    fn sampler(&self) -> LlamaSampler {
        if self.temperature == 0.0 {
            return LlamaSampler::greedy();
        }
        let mut chain = Vec::with_capacity(3);
        if self.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(self.top_p, 1));
        }
        chain.push(LlamaSampler::temp(self.temperature));
        chain.push(LlamaSampler::dist(self.seed.unwrap_or(u32::MAX)));
        LlamaSampler::chain_simple(chain)
    }
}

/// A validated, tokenized request for the engine.
pub(crate) struct Job {
    /// The prompt's tokens (at least one, fewer than the context length).
    pub(crate) prompt: Vec<LlamaToken>,
    /// Tokens to generate at most (already clamped to the limits and the context).
    pub(crate) max_tokens: u32,
    /// How to pick tokens.
    pub(crate) sampling: Sampling,
    /// Stop strings.
    pub(crate) stops: Vec<String>,
}

/// A job with the channel its chunks go back through.
struct Admission {
    job: Job,
    reply: mpsc::UnboundedSender<Result<TextGenerationChunk>>,
}

/// Counters of the engine, read with [`LlamaBackend::stats`](super::LlamaBackend::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Decode steps run.
    pub steps: u64,
    /// Tokens sampled, over all sequences (end-of-sequence tokens included).
    pub generated_tokens: u64,
    /// Prompt tokens prefilled, over all sequences.
    pub prompt_tokens: u64,
    /// The most sequences one decode step has carried: above 1 means requests were batched.
    pub max_batch_sequences: u64,
    /// Sequences that ran to their end.
    pub completed: u64,
    /// Requests dropped, queued or running, because their caller went away.
    pub cancelled: u64,
}

#[derive(Default)]
struct SharedStats {
    steps: AtomicU64,
    generated_tokens: AtomicU64,
    prompt_tokens: AtomicU64,
    max_batch_sequences: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
}

impl SharedStats {
    fn snapshot(&self) -> EngineStats {
        EngineStats {
            steps: self.steps.load(Ordering::Relaxed),
            generated_tokens: self.generated_tokens.load(Ordering::Relaxed),
            prompt_tokens: self.prompt_tokens.load(Ordering::Relaxed),
            max_batch_sequences: self.max_batch_sequences.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
        }
    }
}

/// The handle requests are submitted through; dropping it stops the engine thread once the
/// running sequences have finished.
pub(crate) struct Engine {
    queue: mpsc::Sender<Admission>,
    queue_depth: usize,
    stats: Arc<SharedStats>,
}

impl Engine {
    /// Creates the context on a new thread and starts the batching loop there.
    pub(crate) fn start(
        runtime: &'static LlamaRuntime,
        model: Arc<LlamaModel>,
        config: &LlamaConfig,
        context_length: u32,
    ) -> Result<Self> {
        let (queue, jobs) = mpsc::channel(config.queue_depth);
        let stats = Arc::new(SharedStats::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let settings = LoopSettings {
            max_sequences: config.max_sequences,
            batch_tokens: config.batch_tokens,
            context_length,
            threads: i32::try_from(config.threads.max(1)).unwrap_or(i32::MAX),
        };
        let loop_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name(format!("llama-{}", config.model_name))
            .spawn(move || {
                let params = LlamaContextParams::default()
                    .with_n_ctx(NonZeroU32::new(settings.context_length * settings.max_sequences))
                    .with_n_batch(settings.batch_tokens)
                    .with_n_ubatch(settings.batch_tokens)
                    .with_n_seq_max(settings.max_sequences)
                    .with_kv_unified(false)
                    .with_n_threads(settings.threads)
                    .with_n_threads_batch(settings.threads);
                match model.new_context(runtime, params) {
                    Ok(context) => {
                        let _ = ready_tx.send(Ok(()));
                        run(context, &model, settings, jobs, &loop_stats);
                    }
                    Err(error) => {
                        let _ =
                            ready_tx.send(Err(Error::Inference(format!("creating the llama.cpp context: {error}"))));
                    }
                }
            })
            .map_err(|error| Error::Inference(format!("starting the engine thread: {error}")))?;
        ready_rx.recv().map_err(|_| Error::EngineStopped)??;
        Ok(Self { queue, queue_depth: config.queue_depth, stats })
    }

    /// Queues `job`, or refuses it as overloaded when the queue is full.
    pub(crate) fn submit(&self, job: Job) -> Result<ChunkStream> {
        let (reply, chunks) = mpsc::unbounded_channel();
        self.queue.try_send(Admission { job, reply }).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => {
                Error::Overloaded { queued: self.queue_depth, queue_depth: self.queue_depth }
            }
            mpsc::error::TrySendError::Closed(_) => Error::EngineStopped,
        })?;
        Ok(futures::stream::unfold(
            chunks,
            |mut chunks| async move { chunks.recv().await.map(|chunk| (chunk, chunks)) },
        )
        .boxed())
    }

    pub(crate) fn stats(&self) -> EngineStats {
        self.stats.snapshot()
    }
}

#[derive(Debug, Clone, Copy)]
struct LoopSettings {
    max_sequences: u32,
    batch_tokens: u32,
    context_length: u32,
    threads: i32,
}

/// A sequence in the batch: its llama.cpp `seq_id`, how far its prompt is prefilled, and the
/// token it feeds next.
struct Running {
    seq_id: i32,
    sequence: Sequence,
    sampler: LlamaSampler,
    prompt: Vec<LlamaToken>,
    /// Prompt tokens already sent to the context.
    prefilled: usize,
    /// The next position in the sequence.
    position: i32,
    /// The token sampled last step, to decode this step.
    next: Option<LlamaToken>,
    /// Where this sequence's logits are in the current batch.
    logits_at: Option<i32>,
    reply: mpsc::UnboundedSender<Result<TextGenerationChunk>>,
}

/// The batching loop; returns when the submitting side is gone and nothing is running.
fn run(
    mut context: LlamaContext<'_>,
    model: &LlamaModel,
    settings: LoopSettings,
    mut jobs: mpsc::Receiver<Admission>,
    stats: &SharedStats,
) {
    let capacity = usize::try_from(settings.batch_tokens).unwrap_or(512);
    let mut batch = LlamaBatch::new(capacity, 1);
    let mut free_ids: Vec<i32> = (0..i32::try_from(settings.max_sequences).unwrap_or(1)).rev().collect();
    let mut running: Vec<Running> = Vec::new();
    loop {
        // Admit waiting requests while there are free sequence slots; sleep when idle.
        while let Some(&seq_id) = free_ids.last() {
            let admission = if running.is_empty() {
                match jobs.blocking_recv() {
                    Some(admission) => admission,
                    None => return,
                }
            } else {
                match jobs.try_recv() {
                    Ok(admission) => admission,
                    Err(_) => break,
                }
            };
            if admission.reply.is_closed() {
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            free_ids.pop();
            let Job { prompt, max_tokens, sampling, stops } = admission.job;
            running.push(Running {
                seq_id,
                sequence: Sequence::new(max_tokens, &stops),
                sampler: sampling.sampler(),
                prompt,
                prefilled: 0,
                position: 0,
                next: None,
                logits_at: None,
                reply: admission.reply,
            });
        }

        // Callers that went away cancel their sequences.
        running.retain(|entry| {
            let keep = !entry.reply.is_closed();
            if !keep {
                release(&mut context, entry.seq_id, &mut free_ids);
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            keep
        });
        if running.is_empty() {
            continue;
        }

        // One token for every decoding sequence, then prompt prefill in the room left.
        batch.clear();
        let mut room = capacity;
        let mut sequences_in_batch = 0u64;
        for entry in running.iter_mut() {
            entry.logits_at = None;
            if let Some(token) = entry.next.take() {
                // The batch holds at least `max_sequences` tokens (checked in the config).
                if batch.add(token, entry.position, &[entry.seq_id], true).is_err() {
                    entry.next = Some(token);
                    break;
                }
                entry.logits_at = Some(batch.n_tokens() - 1);
                entry.position += 1;
                room -= 1;
                sequences_in_batch += 1;
            }
        }
        for entry in running.iter_mut().filter(|entry| entry.prefilled < entry.prompt.len()) {
            if room == 0 {
                break;
            }
            let end = entry.prompt.len().min(entry.prefilled + room);
            let mut added = 0;
            for (offset, token) in entry.prompt[entry.prefilled..end].iter().enumerate() {
                let last = entry.prefilled + offset + 1 == entry.prompt.len();
                if batch.add(*token, entry.position, &[entry.seq_id], last).is_err() {
                    break;
                }
                entry.position += 1;
                added += 1;
                if last {
                    entry.logits_at = Some(batch.n_tokens() - 1);
                }
            }
            entry.prefilled += added;
            room -= added;
            sequences_in_batch += 1;
            stats.prompt_tokens.fetch_add(added as u64, Ordering::Relaxed);
        }

        if let Err(error) = context.decode(&mut batch) {
            tracing::error!(%error, sequences = running.len(), "llama.cpp decode failed; failing the batch");
            for entry in running.drain(..) {
                let _ = entry.reply.send(Err(Error::Inference(format!("decode failed: {error}"))));
                release(&mut context, entry.seq_id, &mut free_ids);
            }
            continue;
        }
        stats.steps.fetch_add(1, Ordering::Relaxed);
        stats.max_batch_sequences.fetch_max(sequences_in_batch, Ordering::Relaxed);

        // Sample the next token of every sequence that produced logits; finished ones leave.
        let vocab = model.vocab();
        running.retain_mut(|entry| {
            let Some(at) = entry.logits_at else { return true };
            let token = entry.sampler.sample(&context, at);
            stats.generated_tokens.fetch_add(1, Ordering::Relaxed);
            let step = if vocab.is_eog(token) {
                entry.sequence.end_of_sequence()
            } else {
                entry.sequence.push(&vocab.token_to_piece(token, false, None))
            };
            match step {
                Step::Continue(chunk) => {
                    if let Some(chunk) = chunk {
                        let _ = entry.reply.send(Ok(chunk));
                    }
                    entry.next = Some(token);
                    true
                }
                Step::Finished(chunk) => {
                    let _ = entry.reply.send(Ok(chunk));
                    release(&mut context, entry.seq_id, &mut free_ids);
                    stats.completed.fetch_add(1, Ordering::Relaxed);
                    false
                }
            }
        });
    }
}

/// Clears a sequence's KV cache cells and returns its `seq_id` to the pool.
fn release(context: &mut LlamaContext<'_>, seq_id: i32, free_ids: &mut Vec<i32>) {
    if let Err(error) = context.kv_cache_seq_rm(seq_id, None, None) {
        tracing::warn!(seq_id, %error, "clearing a finished sequence's KV cache failed");
    }
    free_ids.push(seq_id);
}
