//! The example subnet's validator: each round asks every serving miner to score texts whose
//! sentiment it knows, keeps a moving average of how close they come, and sets weights.
//!
//! `cargo run --example validator -- ws://127.0.0.1:9944 1 //Alice`

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use neuronet::chain::{normalise, Chain};
use neuronet::{discovery, CryptoType, Dendrite, DendriteConfig, Directory, Keypair};

mod sentiment;
use sentiment::{Sentiment, SentimentRequest};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().map_or("ws://127.0.0.1:9944", String::as_str);
    let netuid: u16 = args.get(1).map_or(Ok(1), |n| n.parse())?;
    let suri = args.get(2).map_or("//Alice", String::as_str);
    let hotkey = || Keypair::from_suri(suri, CryptoType::Sr25519);

    let chain = Chain::connect(url).await?;
    let directory = Directory::new();
    discovery::sync(&directory, &chain.metagraph(netuid).await?);
    tokio::spawn(discovery::follow(directory.clone(), chain.watch(netuid, 1)));
    let dendrite = Dendrite::with_directory(hotkey()?, DendriteConfig::default(), directory).await?;

    let texts = vec!["great and fast".to_string(), "slow and wrong".to_string()];
    let truth = [1.0f32, -1.0];
    let mut scores: HashMap<u16, f64> = HashMap::new();
    for round in 1.. {
        let metagraph = chain.metagraph(netuid).await?;
        let miners: Vec<u16> = metagraph.neurons.iter().filter(|n| n.certificate.is_some()).map(|n| n.uid).collect();
        let targets: Vec<_> = miners.iter().filter_map(|uid| discovery::target(&metagraph, *uid)).collect();
        let request = SentimentRequest { texts: texts.clone() };
        // Answers as they arrive; the round ends at its deadline, not with the slowest miner.
        let mut answers = dendrite.forward_as_they_come::<Sentiment>(&targets, request, Duration::from_secs(5));
        while let Some((index, answer)) = answers.next().await {
            let error: f32 = match answer.body {
                Some(body) if body.scores.len() == truth.len() => {
                    body.scores.iter().zip(truth).map(|(s, t)| (s - t).abs()).sum::<f32>() / 4.0
                }
                _ => 1.0,
            };
            let score = scores.entry(miners[index]).or_default();
            *score = 0.8 * *score + 0.2 * f64::from(1.0 - error.min(1.0));
        }
        println!("round {round}: {scores:?}");
        if round % 10 == 0 && !scores.is_empty() {
            let (uids, values): (Vec<u16>, Vec<f64>) = scores.iter().map(|(u, s)| (*u, *s)).unzip();
            chain.set_weights(&hotkey()?, netuid, &normalise(&uids, &values)?).await?;
            println!("weights set");
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    Ok(())
}
