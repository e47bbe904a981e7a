//! neuronet's side: an echo axon and a dendrite over loopback QUIC.

use bytes::Bytes;
use neuronet_synapse::{synapse, CryptoType, Keypair, Status};
use neuronet_transport::{Auth, Axon, AxonConfig, AxonHandle, Dendrite, DendriteConfig, NetworkConfig, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The echo payload.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
pub struct EchoMessage {
    /// Opaque bytes, returned as they came.
    #[prost(bytes = "bytes", tag = "1")]
    pub payload: Bytes,
}

synapse! {
    /// Returns its payload.
    pub struct Echo: EchoMessage => EchoMessage;
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Dendrite settings the command line may override (`None`: `DendriteConfig`'s default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tuning {
    pub streams: Option<usize>,
    pub sockets: Option<usize>,
}

impl Tuning {
    fn apply(&self, network: &NetworkConfig, auth: Auth) -> DendriteConfig {
        let mut config = DendriteConfig::default().with_network(network.clone()).with_auth(auth);
        if let Some(sockets) = self.sockets {
            config = config.with_sockets(sockets);
        }
        match self.streams {
            Some(n) => config.with_streams_per_connection(n),
            None => config,
        }
    }
}

/// One neuronet echo axon and the dendrite settings used against it.
pub struct Rig {
    auth: Auth,
    config: DendriteConfig,
    target: Target,
    _axon: AxonHandle,
}

impl Rig {
    pub async fn start(auth: Auth, network: &NetworkConfig, tuning: &Tuning) -> anyhow::Result<Self> {
        let miner = Keypair::from_seed(&[1; 32], CryptoType::Sr25519);
        // The benchmark is one peer at full speed: lift the per-peer rate limit out of the way.
        let config = AxonConfig::default()
            .with_network(network.clone())
            .with_rate_per_peer(1_000_000)
            .with_rate_per_ip(1_000_000);
        let axon = Axon::new(miner, config)
            .serve::<Echo, _, _>(|_ctx, request| async move { Ok(request) })
            .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse()?])
            .await?;
        let target = Target::Explicit { hotkey: axon.hotkey(), addr: axon.listen_addrs()[0].clone() };
        Ok(Rig { auth, config: tuning.apply(network, auth), target, _axon: axon })
    }

    pub fn system(&self) -> &'static str {
        match self.auth {
            Auth::PerRequest => "neuronet-per-request",
            Auth::Connection => "neuronet-connection",
        }
    }

    /// One connection setup: a fresh dendrite (made before the clock starts), then dial, binding
    /// and first answer.
    pub async fn setup(&self) -> anyhow::Result<Duration> {
        let validator = Keypair::from_seed(&[2; 32], CryptoType::Sr25519);
        let dendrite = Dendrite::new(validator, self.config.clone()).await?;
        let started = Instant::now();
        let answer = dendrite
            .query_within::<Echo>(&self.target, EchoMessage { payload: Bytes::from_static(b"x") }, TIMEOUT)
            .await;
        let elapsed = started.elapsed();
        anyhow::ensure!(answer.status == Status::Success, "setup query failed: {} {}", answer.status, answer.message);
        Ok(elapsed)
    }

    /// A connected, warmed-up dendrite sending `payload`-byte echoes.
    pub async fn session(&self, payload: usize) -> anyhow::Result<Session> {
        let request = EchoMessage { payload: Bytes::from(vec![0x42u8; payload]) };
        let validator = Keypair::from_seed(&[2; 32], CryptoType::Sr25519);
        let dendrite = Dendrite::new(validator, self.config.clone()).await?;
        // Warm up: connection, stream pool, caches.
        for _ in 0..50 {
            dendrite.query_within::<Echo>(&self.target, request.clone(), TIMEOUT).await;
        }
        Ok(Session { dendrite: Arc::new(dendrite), target: self.target.clone(), request })
    }
}

/// One connection carrying the echo requests.
pub struct Session {
    dendrite: Arc<Dendrite>,
    target: Target,
    request: EchoMessage,
}

impl Session {
    /// `count` requests one after another: their latencies.
    pub async fn sequential(&self, count: usize) -> anyhow::Result<Vec<Duration>> {
        crate::latencies(count, || async {
            let answer = self.dendrite.query_within::<Echo>(&self.target, self.request.clone(), TIMEOUT).await;
            anyhow::ensure!(answer.is_success(), "query failed: {} {}", answer.status, answer.message);
            Ok(())
        })
        .await
    }

    /// `count` requests, [`IN_FLIGHT`](crate::IN_FLIGHT) at a time: the seconds they took.
    pub async fn concurrent(&self, count: usize) -> anyhow::Result<f64> {
        let (dendrite, target, request) = (self.dendrite.clone(), self.target.clone(), self.request.clone());
        crate::throughput(count, move || {
            let (dendrite, target, request) = (dendrite.clone(), target.clone(), request.clone());
            async move {
                let answer = dendrite.query_within::<Echo>(&target, request, TIMEOUT).await;
                if !answer.is_success() {
                    eprintln!("request failed: {} {}", answer.status, answer.message);
                }
                answer.is_success()
            }
        })
        .await
    }
}
