//! The example subnet's miner: answers `Sentiment` (declared in `sentiment.rs`) for the subnet's
//! validators, and announces its axon and certificate on chain.
//!
//! On a devchain (`neuronet devchain`, then `neuronet subnet create`, `neuronet faucet` and
//! `neuronet register` for this hotkey):
//! `cargo run --example miner -- ws://127.0.0.1:9944 1 //devnet/miner/1`

use std::net::{IpAddr, Ipv4Addr};

use neuronet::chain::{calls, AccountId, Chain, NeuronCertificate};
use neuronet::{discovery, Axon, AxonConfig, CryptoType, Directory, Keypair};

mod sentiment;
use sentiment::{score, Sentiment, SentimentResponse};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().map_or("ws://127.0.0.1:9944", String::as_str);
    let netuid: u16 = args.get(1).map_or(Ok(1), |n| n.parse())?;
    let suri = args.get(2).map_or("//devnet/miner/1", String::as_str);
    let hotkey = || Keypair::from_suri(suri, CryptoType::Sr25519);

    // Who may call: the subnet's registered neurons with a validator permit, from the chain.
    let chain = Chain::connect(url).await?;
    let directory = Directory::new();
    discovery::sync(&directory, &chain.metagraph(netuid).await?);
    tokio::spawn(discovery::follow(directory.clone(), chain.watch(netuid, 1)));

    let axon = Axon::new(hotkey()?, AxonConfig::default())
        .with_directory(directory)
        .with_blacklist(|_caller, facts| match facts {
            Some(facts) if facts.registered && facts.validator_permit => Ok(()),
            _ => Err("only the subnet's validators".into()),
        })
        .serve::<Sentiment, _, _>(|_ctx, request| async move {
            Ok(SentimentResponse { scores: request.texts.iter().map(|t| score(t)).collect() })
        })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse()?])
        .await?;

    // Announce where the axon is, with the key its connections prove.
    let port = axon.port().ok_or_else(|| anyhow::anyhow!("the axon listens on no UDP port"))?;
    let serving = calls::Serving::new(netuid, IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let (algorithm, public_key) = axon.certificate();
    chain.submit(&hotkey()?, &calls::serve_axon_tls(serving, &NeuronCertificate { public_key, algorithm })).await?;
    println!("miner {} serving on port {port}", AccountId::from(axon.hotkey()));
    tokio::signal::ctrl_c().await?;
    Ok(())
}
