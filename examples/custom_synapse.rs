//! Declares a custom synapse, serves it from an axon on loopback QUIC, and queries it from a
//! dendrite: the request is signed by the validator's hotkey and the connection is bound to both
//! hotkeys. Then shows what a validator sees when the address holds another hotkey.
//!
//! Run with `cargo run --example custom_synapse`.

use neuronet::{message, synapse, Axon, AxonConfig, CryptoType, Dendrite, DendriteConfig, Keypair, Target};
use std::time::Duration;

message! {
    /// What the validator sends.
    pub struct SentimentRequest {
        #[prost(string, repeated, tag = "1")]
        pub texts: Vec<String>,
    }
}

message! {
    /// What the miner answers: one score in [-1, 1] per text.
    pub struct SentimentResponse {
        #[prost(float, repeated, tag = "1")]
        pub scores: Vec<f32>,
    }
}

synapse! {
    /// Scores the sentiment of short texts.
    pub struct Sentiment: SentimentRequest => SentimentResponse;
}

fn score(text: &str) -> f32 {
    let good = ["great", "fast", "good"].iter().filter(|w| text.contains(*w)).count() as f32;
    let bad = ["slow", "bad", "wrong"].iter().filter(|w| text.contains(*w)).count() as f32;
    ((good - bad) / 2.0).clamp(-1.0, 1.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;
    let axon = Axon::new(miner, AxonConfig::default())
        .serve::<Sentiment, _, _>(|ctx, request| async move {
            println!("miner: {} asked to score {} texts", ctx.caller, request.texts.len());
            Ok(SentimentResponse { scores: request.texts.iter().map(|t| score(t)).collect() })
        })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse()?])
        .await?;
    let addr = axon.listen_addrs()[0].clone();
    println!("miner {} serves at {addr}", axon.hotkey());

    let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
    let dendrite = Dendrite::new(validator, DendriteConfig::default()).await?;
    let request = SentimentRequest { texts: vec!["great model, fast answer".into(), "slow and wrong".into()] };
    let target = Target::Explicit { hotkey: axon.hotkey(), addr: addr.clone() };
    let answer = dendrite.query_within::<Sentiment>(&target, request.clone(), Duration::from_secs(5)).await;
    println!("validator: {} -> {:?} in {:?}", answer.status, answer.body.map(|b| b.scores), answer.elapsed);

    // The same address, but the validator expects another hotkey there: refused by the binding.
    let charlie = Keypair::from_suri("//Charlie", CryptoType::Sr25519)?.hotkey();
    let wrong = Target::Explicit { hotkey: charlie, addr };
    let refused = dendrite.query_within::<Sentiment>(&wrong, request, Duration::from_secs(5)).await;
    println!("validator, expecting {charlie}: {} ({})", refused.status, refused.message);
    Ok(())
}
