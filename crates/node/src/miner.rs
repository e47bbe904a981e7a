//! The miner: an axon serving the inference synapses from one backend, announced on chain,
//! answering registered validators only, the ones with the most stake first.

use std::net::IpAddr;

use anyhow::{Context, Result};
use futures::StreamExt;
use neuronet::builtin::{Capabilities, Embedding, Ping, TextGeneration, TextGenerationStream};
use neuronet::chain::{calls, AccountId, Chain, NeuronCertificate};
use neuronet::{discovery, proto, Axon, AxonConfig, AxonHandle, Directory, Keypair, Status};
use neuronet_inference::Error as InferenceError;

use crate::inference::Loaded;
use neuronet_transport::{Failure, HttpListen};

/// How a miner serves.
#[derive(Clone, Debug)]
pub struct MinerOptions {
    /// The subnet.
    pub netuid: u16,
    /// The address the axon binds.
    pub bind: IpAddr,
    /// The port (UDP for QUIC, TCP for HTTP); 0 takes a free one.
    pub port: u16,
    /// The address announced on chain (the bound one when `None`).
    pub external_ip: Option<IpAddr>,
    /// Serve the HTTP wires (bittensor 10, btauth/1, Epistula) on the same port number.
    pub http: bool,
    /// Refuse callers without a validator permit (registered callers only either way).
    pub require_permit: bool,
    /// Where the axon's QUIC identity is kept, so that a restart keeps its certificate (a
    /// fresh identity per start when `None`).
    pub identity: Option<std::path::PathBuf>,
    /// Where to serve Prometheus metrics (`/metrics`), if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
}

/// A second handle on `keypair` (the axon takes one, announcing needs another).
pub fn duplicate(keypair: &Keypair) -> Result<Keypair> {
    Ok(Keypair::from_private_key(&keypair.private_key(), keypair.crypto())?)
}

/// A running miner; dropping it stops it at once, [`Miner::shutdown`] gracefully.
pub struct Miner {
    /// The axon.
    pub axon: AxonHandle,
    /// The port it serves on.
    pub port: u16,
    tasks: Tasks,
}

impl Miner {
    /// Refuses new requests with 503 and lets those in flight finish for up to `grace`, then
    /// stops; returns how many were cut off ([`AxonHandle::shutdown`]).
    pub async fn shutdown(self, grace: std::time::Duration) -> usize {
        let Miner { axon, tasks, .. } = self;
        let unfinished = axon.shutdown(grace).await;
        drop(tasks);
        unfinished
    }
}

/// The miner's background tasks (metagraph sync, metrics), stopped with it.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Maps an inference error to the status a caller sees.
pub fn failure(error: InferenceError) -> Failure {
    let status = match &error {
        InferenceError::InvalidRequest(_) | InferenceError::UnknownModel { .. } => Status::BadRequest,
        InferenceError::Unsupported(_) => Status::NotFound,
        InferenceError::Overloaded { .. } => Status::TooManyRequests,
        _ => Status::InternalError,
    };
    Failure::new(status, error.to_string())
}

/// Starts a miner for `hotkey` on `chain`, answering with `backend`, and announces its axon
/// (skipped when the chain already holds the same address and certificate).
pub async fn start(chain: &Chain, hotkey: Keypair, loaded: &Loaded, options: &MinerOptions) -> Result<Miner> {
    let backend = loaded.backend.clone();
    let hotkey_id = AccountId::from(hotkey.hotkey());
    let metagraph = chain.metagraph(options.netuid).await?;
    let registered = metagraph.by_hotkey(&hotkey_id).cloned();
    let Some(me) = registered else {
        anyhow::bail!(
            "hotkey {hotkey_id} is not registered on subnet {}: run `neuronet register` first",
            options.netuid
        );
    };
    let directory = Directory::new();
    discovery::sync(&directory, &metagraph);
    let mut tasks = vec![tokio::spawn(discovery::follow(directory.clone(), chain.watch(options.netuid, 1)))];
    let axon_metrics = neuronet_transport::Metrics::default();
    if let Some(addr) = options.metrics {
        let mut registry = prometheus_client::registry::Registry::default();
        axon_metrics.register(&mut registry, "neuronet_axon");
        if let Some(llama) = &loaded.llama {
            tasks.push(crate::metrics::track_engine(&mut registry, llama.clone()));
        }
        tasks.push(crate::metrics::serve(addr, registry).await?);
    }

    let mut network = neuronet::NetworkConfig::default();
    if let Some(path) = &options.identity {
        network = network.with_identity_path(path);
    }
    let config = AxonConfig::default()
        .with_http(if options.http { HttpListen::SamePort } else { HttpListen::Off })
        .with_network(network);
    let signer = duplicate(&hotkey)?;
    let require_permit = options.require_permit;
    let (generate, stream, embed, capabilities) = (backend.clone(), backend.clone(), backend.clone(), backend);
    let axon = Axon::new(hotkey, config)
        .with_directory(directory)
        .with_metrics(axon_metrics)
        .with_blacklist(move |_caller, facts| match facts {
            Some(facts) if facts.registered && (facts.validator_permit || !require_permit) => Ok(()),
            Some(facts) if facts.registered => Err("the caller has no validator permit".into()),
            _ => Err("the caller is not registered on the subnet".into()),
        })
        .serve::<Ping, _, _>(|_ctx, _req| async {
            let now_ns =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            Ok(proto::PingResponse { now_ns, version: env!("CARGO_PKG_VERSION").into() })
        })
        .serve::<TextGeneration, _, _>(move |_ctx, request| {
            let backend = generate.clone();
            async move { backend.generate(request).await.map_err(failure) }
        })
        .serve_stream::<TextGenerationStream, _, _>(move |_ctx, request| {
            let backend = stream.clone();
            futures::stream::once(async move { backend.generate_stream(request).await }).flat_map(|started| {
                match started {
                    Ok(chunks) => chunks.map(|chunk| chunk.map_err(failure)).boxed(),
                    Err(error) => futures::stream::once(async move { Err(failure(error)) }).boxed(),
                }
            })
        })
        .serve::<Embedding, _, _>(move |_ctx, request| {
            let backend = embed.clone();
            async move { backend.embed(request).await.map_err(failure) }
        })
        .serve::<Capabilities, _, _>(move |_ctx, _request| {
            let mut answer = capabilities.capabilities();
            answer.synapses = ["Ping", "TextGeneration", "TextGenerationStream", "Embedding", "Capabilities"]
                .into_iter()
                .map(String::from)
                .collect();
            answer.version = env!("CARGO_PKG_VERSION").into();
            async move { Ok(answer) }
        });
    let listen = format!(
        "/{}/{}/udp/{}/quic-v1",
        if options.bind.is_ipv4() { "ip4" } else { "ip6" },
        options.bind,
        options.port
    );
    let axon = axon.start([listen.parse().context("the listen address")?]).await?;
    let port = axon.port().context("the axon's port")?;

    let ip = options.external_ip.unwrap_or(options.bind);
    let (algorithm, public_key) = axon.certificate();
    let certificate = NeuronCertificate { public_key, algorithm };
    let announced = me.axon.port == port
        && neuronet::chain::ip_to_chain(ip).0 == me.axon.ip
        && me.certificate.as_ref() == Some(&certificate);
    if !announced {
        let serving = calls::Serving::new(options.netuid, ip, port);
        chain.submit(&signer, &calls::serve_axon_tls(serving, &certificate)).await.context("announcing the axon")?;
    }
    tracing::info!(uid = me.uid, %ip, port, "miner serving");
    Ok(Miner { axon, port, tasks: Tasks(tasks) })
}
