//! neuronet's devchain: a local subtensor in one process, for development and tests.
//!
//! To its clients (neuronet's chain client, subxt, the Python SDKs, btcli) it looks like a
//! subtensor node: the same JSON-RPC methods over WebSocket, runtime metadata V15 with the real
//! runtime's pallet names, indices, call and storage shapes, transactions decoded and verified as
//! the real runtime does (extrinsic v4, sr25519 or ed25519 over the real signing payload, nonce,
//! era, genesis, spec and transaction version), and the subnet calls with the chain's checks.
//! It is not a consensus engine: one author, every block final at once, no emission and no Yuma.
//! `docs/devchain.md` lists what it implements and what it does not.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use neuronet_devchain::{Config, Devchain};
//!
//! let chain = Devchain::start(Config::default()).await?;
//! println!("a subtensor at {}", chain.url());
//! chain.stop().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod drand;
pub mod items;
pub mod metadata;
pub mod node;
pub mod persist;
pub mod rpc;
pub mod rt;
pub mod runtime;
pub mod storage;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neuronet_synapse::{CryptoType, Keypair};

pub use node::Node;
pub use persist::{StateFileError, DEFAULT_SAVE_EVERY};
pub use rt::AccountId32;

/// The dev accounts, funded at genesis: (name, secret URI).
pub const DEV_ACCOUNTS: [(&str, &str); 6] = [
    ("alice", "//Alice"),
    ("bob", "//Bob"),
    ("charlie", "//Charlie"),
    ("dave", "//Dave"),
    ("eve", "//Eve"),
    ("ferdie", "//Ferdie"),
];

/// What each dev account holds at genesis, in rao (one million TAO).
pub const DEV_BALANCE: u64 = 1_000_000 * items::TAO;

/// The keypair of a dev account (`//Alice`, ...).
pub fn dev_keypair(uri: &str) -> Keypair {
    Keypair::from_suri(uri, CryptoType::Sr25519).expect("dev URIs are valid")
}

/// How to run a devchain.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen for JSON-RPC (WebSocket and HTTP); port 0 takes a free one.
    pub listen: SocketAddr,
    /// The time between blocks. Default 250 ms.
    pub block_time: Duration,
    /// What the node keeps and takes at most (pool, block, state history).
    pub node: node::NodeLimits,
    /// What the JSON-RPC server takes at most (request and answer sizes, connections).
    pub rpc: rpc::RpcLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            block_time: Duration::from_millis(250),
            node: node::NodeLimits::default(),
            rpc: rpc::RpcLimits::default(),
        }
    }
}

/// Where a devchain keeps its state between runs (`neuronet devchain --state FILE`).
///
/// It is apart from [`Config`] so that code building a `Config` field by field keeps compiling.
#[derive(Clone, Debug)]
pub struct StateFile {
    /// The file: read at start when it exists, written on stop and every `save_every` blocks.
    pub path: PathBuf,
    /// How often it is written while running, in blocks; 0 writes it only on stop. Default
    /// [`DEFAULT_SAVE_EVERY`] (20 blocks, 5 s at 250 ms blocks).
    pub save_every: u32,
}

impl StateFile {
    /// The state file at `path`, written every [`DEFAULT_SAVE_EVERY`] blocks and on stop.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), save_every: DEFAULT_SAVE_EVERY }
    }

    /// Writes it every `blocks` blocks (0: only on stop).
    pub fn with_save_every(mut self, blocks: u32) -> Self {
        self.save_every = blocks;
        self
    }
}

/// A running devchain.
pub struct Devchain {
    addr: SocketAddr,
    node: Arc<Node>,
    server: jsonrpsee::server::ServerHandle,
    producer: tokio::task::JoinHandle<()>,
    state_file: Option<StateFile>,
}

impl Devchain {
    /// Starts a devchain: genesis with the dev accounts funded and //Alice as sudo, blocks on a
    /// timer, JSON-RPC on `config.listen`.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        Self::start_with_state(config, None).await
    }

    /// Starts a devchain that keeps its state in `state_file`: it resumes from the file's head
    /// when the file exists (the same genesis hash, block numbers going on), starts from
    /// genesis otherwise, and writes the file every `save_every` blocks and on [`stop`](Self::stop).
    /// A file that is not a devchain state file is an error, never overwritten.
    pub async fn start_with_state(config: Config, state_file: Option<StateFile>) -> std::io::Result<Self> {
        let saved = match &state_file {
            Some(file) => persist::Saved::read(&file.path)?,
            None => None,
        };
        let node = match &saved {
            Some(saved) => {
                tracing::info!(head = saved.head.number, "devchain resumes from its state file");
                Node::resume(saved, config.block_time, config.node)
            }
            None => {
                let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
                let accounts: Vec<(AccountId32, u64)> = DEV_ACCOUNTS
                    .iter()
                    .map(|(_, uri)| (AccountId32(*dev_keypair(uri).hotkey().public()), DEV_BALANCE))
                    .collect();
                Node::new(runtime::genesis(&accounts, accounts[0].0, now_ms), config.block_time, config.node)
            }
        };
        let (addr, server) = rpc::serve(node.clone(), &config.listen.to_string(), config.rpc).await?;
        let save = state_file.as_ref().map(|file| node::SaveTo { path: file.path.clone(), every: file.save_every });
        let producer = node.run(save);
        tracing::info!(%addr, genesis = %hex::encode(node.genesis()), "devchain up");
        Ok(Self { addr, node, server, producer, state_file })
    }

    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The address JSON-RPC listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node, for in-process inspection.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Writes the state file now (a no-op without one).
    pub async fn save_state(&self) -> std::io::Result<()> {
        let Some(file) = &self.state_file else { return Ok(()) };
        let (node, path) = (self.node.clone(), file.path.clone());
        tokio::task::spawn_blocking(move || node.save(&path)).await.map_err(std::io::Error::other)?.map_err(Into::into)
    }

    /// Stops producing blocks and serving, then writes the state file if there is one (a
    /// failure is logged).
    pub async fn stop(mut self) {
        self.producer.abort();
        let _ = (&mut self.producer).await;
        if let Err(error) = self.save_state().await {
            tracing::warn!(%error, "writing the state file on stop");
        }
        let _ = self.server.stop();
        self.server.stopped().await;
    }
}
