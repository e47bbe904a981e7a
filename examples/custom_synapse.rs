//! Declares a custom synapse, builds a signed request for it, and checks it the way an axon does:
//! decode the header, verify the signature over the body, check the nonce, decode the body.
//!
//! Run with `cargo run --example custom_synapse`.

use neuronet::prost::Message;
use neuronet::synapse::envelope::RequestHead;
use neuronet::synapse::nonce::{NonceGuard, NonceGuardConfig};
use neuronet::synapse::payload::unix_nanos;
use neuronet::synapse::{synapse, CryptoType};
use neuronet::{Keypair, Synapse};

/// What the validator sends.
#[derive(Clone, PartialEq, Message, serde::Serialize, serde::Deserialize)]
pub struct SentimentRequest {
    #[prost(string, repeated, tag = "1")]
    pub texts: Vec<String>,
}

/// What the miner answers: one score in [-1, 1] per text.
#[derive(Clone, PartialEq, Message, serde::Serialize, serde::Deserialize)]
pub struct SentimentResponse {
    #[prost(float, repeated, tag = "1")]
    pub scores: Vec<f32>,
}

synapse! {
    /// Scores the sentiment of short texts.
    pub struct Sentiment: SentimentRequest => SentimentResponse;
}

fn main() -> anyhow::Result<()> {
    let validator = Keypair::from_suri("//Alice", CryptoType::Sr25519)?;
    let miner = Keypair::from_suri("//Bob", CryptoType::Sr25519)?;

    // Dendrite side: encode the typed request and sign header + body hash.
    let request = SentimentRequest { texts: vec!["great model".into(), "slow answer".into()] };
    let body = request.encode_to_vec();
    let mut head = RequestHead::new(Sentiment::NAME, validator.hotkey(), *miner.hotkey().public(), 12_000);
    head.sign(&validator, &body);
    let wire_header = head.encode();

    // Axon side: the checks every request passes before a handler sees it.
    let received = RequestHead::decode(&wire_header)?;
    anyhow::ensure!(received.receiver == *miner.hotkey().public(), "request for another receiver");
    received.verify(&body)?;
    let guard = NonceGuard::new(NonceGuardConfig::default());
    guard.check(received.sender.public(), received.nonce, unix_nanos())?;
    let decoded = SentimentRequest::decode(body.as_slice())?;

    println!("{} asked {} to score {:?}", received.sender, Sentiment::NAME, decoded.texts);
    println!("header {} bytes, body {} bytes", wire_header.len(), body.len());
    // A replay of the same request is refused.
    let replay = guard.check(received.sender.public(), received.nonce, unix_nanos());
    println!("replayed: {}", replay.map(|_| "accepted".to_string()).unwrap_or_else(|e| e.to_string()));
    Ok(())
}
