//! The validator: follows the metagraph, queries the serving miners each round, scores them
//! against its own reference answers, keeps a moving average and sets weights every N blocks.
//!
//! # Scoring
//! Each round sends every serving miner one `TextGeneration` (a prompt from a fixed list,
//! temperature 0 and a fixed seed, so the answer is deterministic) and one `Embedding`. A
//! miner's round score is
//! `0.6 * text agreement + 0.3 * embedding agreement + 0.1 * speed`, where text agreement is 1
//! for the validator's own reference answer exactly and otherwise the share of the longer answer
//! that the two have in common from the start; embedding agreement is the cosine similarity
//! with the reference vector (0 when negative or of another dimension); speed is the round's
//! fastest text latency divided by the miner's. A miner that fails or does not answer by the
//! round's deadline (408) scores 0. The score kept is an exponential moving average (`alpha`
//! 0.3 by default); the weights set are those averages, normalised.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::StreamExt;
use neuronet::builtin::{Embedding, TextGeneration};
use neuronet::chain::{normalise, AccountId, Chain, Metagraph};
use neuronet::{discovery, proto, Dendrite, DendriteConfig, Directory, Keypair, Status, Target};
use neuronet_inference::InferenceBackend;

use crate::inference::Loaded;

/// The prompts a validator rotates through.
pub const PROMPTS: [&str; 4] = [
    "Name three primary colors.",
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "Count from one to five.",
];

/// How a validator runs.
#[derive(Clone, Debug)]
pub struct ValidatorOptions {
    /// The subnet.
    pub netuid: u16,
    /// Time between rounds.
    pub round_interval: Duration,
    /// The longest a round waits for answers.
    pub round_deadline: Duration,
    /// Set weights every this many blocks.
    pub weights_every_blocks: u64,
    /// Tokens asked of each text generation.
    pub max_tokens: u32,
    /// The seed of every generation.
    pub seed: u64,
    /// The moving average's weight for the latest round.
    pub alpha: f64,
    /// Where to serve Prometheus metrics (`/metrics`), if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
}

impl ValidatorOptions {
    /// Defaults for `netuid`.
    pub fn new(netuid: u16) -> Self {
        Self {
            netuid,
            round_interval: Duration::from_secs(5),
            round_deadline: Duration::from_secs(20),
            weights_every_blocks: 20,
            max_tokens: 24,
            seed: 42,
            alpha: 0.3,
            metrics: None,
        }
    }
}

/// What a validator knows of one miner.
#[derive(Clone, Debug, Default)]
pub struct MinerScore {
    /// The miner's uid.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: String,
    /// The moving average of its round scores.
    pub score: f64,
    /// Its last text generation latency.
    pub latency: Option<Duration>,
    /// Its last status.
    pub status: String,
    /// The start of its last completion.
    pub sample: String,
}

/// One finished round: the scores, and the weights set if this round set them.
#[derive(Clone, Debug)]
pub struct Round {
    /// The round's number, from 1.
    pub number: u64,
    /// Every miner queried so far, by uid.
    pub miners: Vec<MinerScore>,
    /// A note on weights: set at which block, or why not.
    pub weights: Option<String>,
}

/// Runs rounds until the task is dropped, calling `report` after each.
pub async fn run(
    chain: Chain,
    hotkey: Keypair,
    loaded: Loaded,
    options: ValidatorOptions,
    mut report: impl FnMut(&Round),
) -> Result<()> {
    let reference = loaded.backend.clone();
    let me = AccountId::from(hotkey.hotkey());
    let directory = Directory::new();
    discovery::sync(&directory, &chain.metagraph(options.netuid).await?);
    let following = tokio::spawn(discovery::follow(directory.clone(), chain.watch(options.netuid, 1)));
    let _following = AbortOnDrop(following);
    let signer = crate::miner::duplicate(&hotkey)?;
    let dendrite = Dendrite::with_directory(hotkey, DendriteConfig::default(), directory.clone()).await?;
    let mut _serving = None;
    if let Some(addr) = options.metrics {
        let mut registry = prometheus_client::registry::Registry::default();
        dendrite.metrics().register(&mut registry, "neuronet_dendrite");
        let engine = loaded.llama.clone().map(|llama| AbortOnDrop(crate::metrics::track_engine(&mut registry, llama)));
        _serving = Some((AbortOnDrop(crate::metrics::serve(addr, registry).await?), engine));
    }
    let mut scores: HashMap<u16, MinerScore> = HashMap::new();
    let mut last_weights = 0u64;
    let mut number = 0u64;
    loop {
        number += 1;
        let metagraph = chain.metagraph(options.netuid).await?;
        let miners: Vec<(u16, Target)> = metagraph
            .neurons
            .iter()
            .filter(|n| n.hotkey != me && discovery::wire(n) == Some(discovery::Wire::Quic))
            .filter_map(|n| Some((n.uid, discovery::target(&metagraph, n.uid)?)))
            .collect();
        forget_departed(&mut scores, &metagraph);
        score_round(&dendrite, &reference, &options, number, &miners, &metagraph, &mut scores).await;

        let block = chain.block_number().await.unwrap_or(0);
        let mut weights_note = None;
        if block >= last_weights + options.weights_every_blocks && scores.values().any(|s| s.score > 0.0) {
            let (uids, values): (Vec<u16>, Vec<f64>) = scores.values().map(|s| (s.uid, s.score)).unzip();
            let outcome = match normalise(&uids, &values) {
                Ok(weights) => chain.set_weights(&signer, options.netuid, &weights).await.map(|_| ()),
                Err(error) => Err(error),
            };
            weights_note = Some(match outcome {
                Ok(()) => {
                    last_weights = block;
                    format!("weights set at block {block}")
                }
                Err(error) => format!("weights not set: {error}"),
            });
        }
        let mut miners: Vec<MinerScore> = scores.values().cloned().collect();
        miners.sort_by_key(|m| m.uid);
        report(&Round { number, miners, weights: weights_note });
        tokio::time::sleep(options.round_interval).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn forget_departed(scores: &mut HashMap<u16, MinerScore>, metagraph: &Metagraph) {
    scores.retain(|uid, score| metagraph.neuron(*uid).is_some_and(|n| n.hotkey.to_string() == score.hotkey));
}

/// Queries every miner once with text and once with an embedding; answers are scored as they
/// arrive, and the round stops at its deadline without waiting for the slowest.
async fn score_round(
    dendrite: &Dendrite,
    reference: &Arc<dyn InferenceBackend>,
    options: &ValidatorOptions,
    number: u64,
    miners: &[(u16, Target)],
    metagraph: &Metagraph,
    scores: &mut HashMap<u16, MinerScore>,
) {
    if miners.is_empty() {
        return;
    }
    let prompt = PROMPTS[(number as usize - 1) % PROMPTS.len()];
    let text_request = proto::TextGenerationRequest {
        messages: vec![proto::ChatMessage { role: "user".into(), content: prompt.into() }],
        max_tokens: options.max_tokens,
        temperature: 0.0,
        top_p: 1.0,
        seed: Some(options.seed),
        ..Default::default()
    };
    let embed_request = proto::EmbeddingRequest { texts: vec![prompt.into()], normalize: true, ..Default::default() };
    let expected_text = reference.generate(text_request.clone()).await.ok().map(|r| r.text);
    let expected_vector = reference.embed(embed_request.clone()).await.ok().and_then(|r| r.vectors.into_iter().next());

    let targets: Vec<Target> = miners.iter().map(|(_, t)| t.clone()).collect();
    let deadline = tokio::time::sleep(options.round_deadline);
    tokio::pin!(deadline);
    let started = Instant::now();
    let mut texts: HashMap<usize, (Status, Option<String>, Duration, String)> = HashMap::new();
    let mut vectors: HashMap<usize, Option<Vec<f32>>> = HashMap::new();
    {
        let mut text_answers =
            dendrite.forward_as_they_come::<TextGeneration>(&targets, text_request, options.round_deadline);
        let mut embed_answers =
            dendrite.forward_as_they_come::<Embedding>(&targets, embed_request, options.round_deadline);
        let (mut texts_done, mut vectors_done) = (false, false);
        while !(texts_done && vectors_done) {
            tokio::select! {
                next = text_answers.next(), if !texts_done => match next {
                    Some((index, answer)) => {
                        let text = answer.body.as_ref().map(|b| b.text.clone());
                        texts.insert(index, (answer.status, text, started.elapsed(), answer.message.clone()));
                    }
                    None => texts_done = true,
                },
                next = embed_answers.next(), if !vectors_done => match next {
                    Some((index, answer)) => {
                        vectors.insert(index, answer.body.and_then(|b| b.vectors.into_iter().next()).map(|v| v.values));
                    }
                    None => vectors_done = true,
                },
                _ = &mut deadline => break,
            }
        }
    }
    let fastest = texts
        .values()
        .filter(|(status, ..)| *status == Status::Success)
        .map(|(_, _, latency, _)| *latency)
        .min()
        .unwrap_or(Duration::from_secs(1));
    for (index, (uid, _)) in miners.iter().enumerate() {
        let hotkey = metagraph.neuron(*uid).map(|n| n.hotkey.to_string()).unwrap_or_default();
        let entry = scores.entry(*uid).or_insert_with(|| MinerScore {
            uid: *uid,
            hotkey: hotkey.clone(),
            ..Default::default()
        });
        entry.hotkey = hotkey;
        let round_score = match texts.get(&index) {
            Some((Status::Success, Some(text), latency, _)) => {
                entry.latency = Some(*latency);
                entry.status = "200".into();
                entry.sample = text.chars().take(48).collect::<String>().replace('\n', " ");
                let text_agreement = expected_text.as_deref().map_or(0.0, |expected| agreement(expected, text));
                let embedding = match (vectors.get(&index), &expected_vector) {
                    (Some(Some(theirs)), Some(ours)) => cosine(theirs, &ours.values),
                    _ => 0.0,
                };
                let speed = fastest.as_secs_f64() / latency.as_secs_f64().max(1e-6);
                0.6 * text_agreement + 0.3 * embedding + 0.1 * speed.min(1.0)
            }
            Some((status, _, latency, message)) => {
                entry.latency = Some(*latency);
                entry.status = format!("{} {}", status.code(), message.chars().take(40).collect::<String>());
                0.0
            }
            None => {
                // No answer by the round's deadline: recorded as the dendrite would (408).
                entry.latency = None;
                entry.status = "408 no answer within the round's deadline".into();
                0.0
            }
        };
        entry.score = options.alpha * round_score + (1.0 - options.alpha) * entry.score;
    }
}

/// 1 for the same text; otherwise the share of the longer one the two share from the start.
pub fn agreement(expected: &str, got: &str) -> f64 {
    if expected == got {
        return 1.0;
    }
    let common = expected.chars().zip(got.chars()).take_while(|(a, b)| a == b).count();
    let longer = expected.chars().count().max(got.chars().count()).max(1);
    common as f64 / longer as f64
}

/// The cosine similarity of two vectors, 0 when negative or of different dimensions.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 {
        0.0
    } else {
        (dot / denominator).clamp(0.0, 1.0)
    }
}

/// The round as one JSON line: `{"round", "miners": [{"uid", "hotkey", "score", "latency_ms",
/// "status", "sample"}], "weights"}`.
pub fn json_line(round: &Round) -> String {
    let miners: Vec<_> = round
        .miners
        .iter()
        .map(|m| {
            serde_json::json!({
                "uid": m.uid, "hotkey": m.hotkey, "score": m.score,
                "latency_ms": m.latency.map(|l| l.as_millis() as u64), "status": m.status, "sample": m.sample,
            })
        })
        .collect();
    serde_json::json!({ "round": round.number, "miners": miners, "weights": round.weights }).to_string()
}

/// The round as a table: uid, hotkey, score, latency, last status, a sample completion.
pub fn table(round: &Round) -> String {
    let mut out = format!("round {}\n", round.number);
    out.push_str(&format!(
        "{:>4}  {:<12}  {:>6}  {:>9}  {:<10}  {}\n",
        "uid", "hotkey", "score", "latency", "status", "sample"
    ));
    for miner in &round.miners {
        let latency = miner.latency.map_or("-".into(), |l| format!("{} ms", l.as_millis()));
        let hotkey: String = miner.hotkey.chars().take(10).collect();
        out.push_str(&format!(
            "{:>4}  {:<12}  {:>6.3}  {:>9}  {:<10}  {}\n",
            miner.uid,
            format!("{hotkey}.."),
            miner.score,
            latency,
            miner.status,
            miner.sample
        ));
    }
    if let Some(note) = &round.weights {
        out.push_str(note);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scoring_rule_rewards_agreement() {
        assert_eq!(agreement("Paris is the capital.", "Paris is the capital."), 1.0);
        assert!((agreement("abcd", "abxy") - 0.5).abs() < 1e-9);
        assert_eq!(agreement("abc", ""), 0.0);
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&[1.0, 0.0], &[-1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
    }
}
