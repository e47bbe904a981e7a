//! The example subnet's synapse, shared by `miner.rs` and `validator.rs`.

#![allow(dead_code)]

neuronet::message! {
    /// What the validator sends.
    pub struct SentimentRequest {
        #[prost(string, repeated, tag = "1")]
        pub texts: Vec<String>,
    }
}

neuronet::message! {
    /// What the miner answers: one score in [-1, 1] per text.
    pub struct SentimentResponse {
        #[prost(float, repeated, tag = "1")]
        pub scores: Vec<f32>,
    }
}

neuronet::synapse! {
    /// Scores the sentiment of short texts.
    pub struct Sentiment: SentimentRequest => SentimentResponse;
}

/// The miner's model: counts good and bad words.
pub fn score(text: &str) -> f32 {
    let good = ["great", "fast", "good"].iter().filter(|w| text.contains(*w)).count() as f32;
    let bad = ["slow", "bad", "wrong"].iter().filter(|w| text.contains(*w)).count() as f32;
    ((good - bad) / 2.0).clamp(-1.0, 1.0)
}
