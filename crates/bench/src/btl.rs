//! btlightning 0.2.15's side, measured exactly like neuronet: its server with an echo handler,
//! its client over loopback QUIC.

use btlightning::{
    LightningClient, LightningClientConfig, LightningServer, LightningServerConfig, QuicAxonInfo, QuicRequest,
    Sr25519Signer, SynapseHandler,
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

/// The fan-out's client: room for `peers` connections (btlightning's default is 1,024).
pub async fn client_for(peers: usize) -> anyhow::Result<LightningClient> {
    let ss58 = Keypair::from_seed(&VALIDATOR_SEED, CryptoType::Sr25519).hotkey().to_ss58();
    let config = LightningClientConfig::builder()
        .max_connections(peers.max(1024))
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut client = LightningClient::with_config(ss58, config).map_err(|e| anyhow::anyhow!("{e}"))?;
    client.set_signer(Box::new(Sr25519Signer::from_seed(VALIDATOR_SEED)));
    client.create_endpoint().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(client)
}

/// The echo request with a `payload`-byte body.
pub fn echo_request(payload: usize) -> QuicRequest {
    let mut data = HashMap::new();
    data.insert("payload".to_string(), rmpv::Value::Binary(vec![0x42; payload]));
    QuicRequest { synapse_type: "echo".into(), data }
}

/// The server whose miner hotkey has `seed`, on loopback at `port`.
pub fn axon_info(seed: [u8; 32], port: u16) -> QuicAxonInfo {
    let hotkey = Keypair::from_seed(&seed, CryptoType::Sr25519).hotkey().to_ss58();
    QuicAxonInfo { hotkey, ip: "127.0.0.1".into(), port, protocol: 4 }
}

/// Sends `request` to every axon at once; how many answered successfully.
pub async fn forward(
    client: &LightningClient,
    axons: &[QuicAxonInfo],
    request: &QuicRequest,
    timeout: Duration,
) -> usize {
    let queries = axons.iter().map(|axon| client.query_axon_with_timeout(axon.clone(), request.clone(), timeout));
    futures::future::join_all(queries).await.iter().filter(|a| a.as_ref().is_ok_and(|a| a.success)).count()
}

/// Child mode: serves `count` btlightning echo servers on loopback and prints
/// `AXON <index> <port>` for each, then runs until its stdin closes.
pub async fn serve_many(count: usize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut servers = Vec::with_capacity(count);
    let stdout = std::io::stdout();
    for index in 0..count {
        let rig = Rig::start_with_seed(crate::fanout::server_seed(index)).await?;
        writeln!(stdout.lock(), "AXON {index} {}", rig.axon.port)?;
        servers.push(rig);
    }
    writeln!(stdout.lock(), "READY")?;
    crate::fanout::until_stdin_closes().await
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
        Self::start_with_seed([1u8; 32]).await
    }

    /// A server whose miner hotkey has `miner_seed`.
    pub async fn start_with_seed(miner_seed: [u8; 32]) -> anyhow::Result<Self> {
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

    /// A connected, warmed-up client sending `payload`-byte echoes.
    pub async fn session(&self, payload: usize) -> anyhow::Result<Session> {
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
        Ok(Session { client, axon, request })
    }

    pub async fn stop(&self) {
        let _ = self.server.stop().await;
    }
}

/// One connection carrying the echo requests.
pub struct Session {
    client: Arc<LightningClient>,
    axon: QuicAxonInfo,
    request: QuicRequest,
}

impl Session {
    /// `count` requests one after another: their latencies.
    pub async fn sequential(&self, count: usize) -> anyhow::Result<Vec<Duration>> {
        crate::latencies(count, || async {
            let answer = self
                .client
                .query_axon(self.axon.clone(), self.request.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(answer.success, "btlightning query failed");
            Ok(())
        })
        .await
    }

    /// `count` requests, [`IN_FLIGHT`](crate::IN_FLIGHT) at a time: the seconds they took.
    pub async fn concurrent(&self, count: usize) -> anyhow::Result<f64> {
        let (client, axon, request) = (self.client.clone(), self.axon.clone(), self.request.clone());
        crate::throughput(count, move || {
            let (client, axon, request) = (client.clone(), axon.clone(), request.clone());
            async move { client.query_axon(axon, request).await.map(|r| r.success).unwrap_or(false) }
        })
        .await
    }
}
