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

pub mod items;
pub mod metadata;
pub mod node;
pub mod rpc;
pub mod rt;
pub mod runtime;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use neuronet_synapse::{CryptoType, Keypair};

pub use node::Node;
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
    /// The time between blocks.
    pub block_time: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { listen: SocketAddr::from(([127, 0, 0, 1], 0)), block_time: Duration::from_millis(250) }
    }
}

/// A running devchain.
pub struct Devchain {
    addr: SocketAddr,
    node: Arc<Node>,
    server: jsonrpsee::server::ServerHandle,
    producer: tokio::task::JoinHandle<()>,
}

impl Devchain {
    /// Starts a devchain: genesis with the dev accounts funded and //Alice as sudo, blocks on a
    /// timer, JSON-RPC on `config.listen`.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let accounts: Vec<(AccountId32, u64)> = DEV_ACCOUNTS
            .iter()
            .map(|(_, uri)| (AccountId32(*dev_keypair(uri).hotkey().public()), DEV_BALANCE))
            .collect();
        let state = runtime::genesis(&accounts, accounts[0].0, now_ms);
        let node = Node::new(state, config.block_time);
        let (addr, server) = rpc::serve(node.clone(), &config.listen.to_string()).await?;
        let producer = node.run();
        tracing::info!(%addr, genesis = %hex::encode(node.genesis()), "devchain up");
        Ok(Self { addr, node, server, producer })
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

    /// Stops producing blocks and serving.
    pub async fn stop(self) {
        self.producer.abort();
        let _ = self.server.stop();
        self.server.stopped().await;
    }
}
