//! btlightning 0.2.15's side, measured exactly like neuronet: its server with an echo handler,
//! its client over loopback QUIC.

use crate::{percentiles, Measurement, Plan};
use btlightning::{
    LightningClient, LightningServer, LightningServerConfig, QuicAxonInfo, QuicRequest, Sr25519Signer, SynapseHandler,
};
use neuronet_synapse::{CryptoType, Keypair};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Echo;

impl SynapseHandler for Echo {
    fn handle(
        &self,
        _synapse: &str,
        data: HashMap<String, rmpv::Value>,
    ) -> btlightning::Result<HashMap<String, rmpv::Value>> {
        Ok(data)
    }
}

/// A client with its endpoint bound (the counterpart of `Dendrite::new`), not yet connected.
async fn client(validator_seed: [u8; 32]) -> anyhow::Result<LightningClient> {
    let ss58 = Keypair::from_seed(&validator_seed, CryptoType::Sr25519).hotkey().to_ss58();
    let mut client = LightningClient::new(ss58);
    client.set_signer(Box::new(Sr25519Signer::from_seed(validator_seed)));
    client.create_endpoint().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(client)
}

async fn connect(client: &mut LightningClient, axon: &QuicAxonInfo) -> anyhow::Result<()> {
    client.initialize_connections(vec![axon.clone()]).await.map_err(|e| anyhow::anyhow!("{e}"))
}

/// One btlightning echo server.
pub struct Rig {
    server: Arc<LightningServer>,
    axon: QuicAxonInfo,
}

const VALIDATOR_SEED: [u8; 32] = [2u8; 32];

impl Rig {
    pub async fn start() -> anyhow::Result<Self> {
        let miner_seed = [1u8; 32];
        let miner = Keypair::from_seed(&miner_seed, CryptoType::Sr25519).hotkey().to_ss58();
        let mut server =
            LightningServer::with_config(miner.clone(), "127.0.0.1".into(), 0, LightningServerConfig::default())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        server.set_miner_keypair(miner_seed);
        server.register_synapse_handler("echo".into(), Arc::new(Echo)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        server.start().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let port = server.local_addr().map_err(|e| anyhow::anyhow!("{e}"))?.port();
        let server = Arc::new(server);
        let serving = server.clone();
        tokio::spawn(async move { serving.serve_forever().await });
        let axon = QuicAxonInfo { hotkey: miner, ip: "127.0.0.1".into(), port, protocol: 4 };
        Ok(Rig { server, axon })
    }

    /// One connection setup: a fresh client with its endpoint bound (before the clock starts),
    /// then connect, authenticate and first answer.
    pub async fn setup(&self) -> anyhow::Result<Duration> {
        let mut data = HashMap::new();
        data.insert("payload".to_string(), rmpv::Value::Binary(b"x".to_vec()));
        let small = QuicRequest { synapse_type: "echo".into(), data };
        let mut client = client(VALIDATOR_SEED).await?;
        let started = Instant::now();
        connect(&mut client, &self.axon).await?;
        let answer = client.query_axon(self.axon.clone(), small).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let elapsed = started.elapsed();
        anyhow::ensure!(answer.success, "btlightning setup query failed");
        Ok(elapsed)
    }

    /// Sequential latency and throughput over one connection (`setup_ms` left for the caller).
    pub async fn measure(&self, payload: usize, plan: Plan) -> anyhow::Result<Measurement> {
        let axon = self.axon.clone();
        let mut connected = client(VALIDATOR_SEED).await?;
        connect(&mut connected, &axon).await?;
        let client = Arc::new(connected);
        let mut data = HashMap::new();
        data.insert("payload".to_string(), rmpv::Value::Binary(vec![0x42; payload]));
        let request = QuicRequest { synapse_type: "echo".into(), data };
        for _ in 0..50 {
            let _ = client.query_axon(axon.clone(), request.clone()).await;
        }
        let mut latencies = Vec::with_capacity(plan.sequential);
        for _ in 0..plan.sequential {
            let started = Instant::now();
            let answer = client.query_axon(axon.clone(), request.clone()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(answer.success, "btlightning query failed");
            latencies.push(started.elapsed());
        }
        let (p50_ms, p99_ms) = percentiles(latencies);

        let elapsed = crate::throughput(plan.concurrent, move || {
            let (client, axon, request) = (client.clone(), axon.clone(), request.clone());
            async move { client.query_axon(axon, request).await.map(|r| r.success).unwrap_or(false) }
        })
        .await?;
        Ok(Measurement {
            system: "btlightning",
            payload,
            p50_ms,
            p99_ms,
            throughput_rps: plan.concurrent as f64 / elapsed,
            setup_ms: f64::NAN,
        })
    }

    pub async fn stop(&self) {
        let _ = self.server.stop().await;
    }
}
