//! The node: blocks on a timer, the transaction pool, and the notifications clients wait on.
//! Every block is final as soon as it is built (there is one author and no forks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parity_scale_codec::Encode;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::rt::primitive_types::H256;
use crate::rt::sp_runtime::generic::digest::Digest;
use crate::rt::sp_runtime::generic::header::Header;
use crate::rt::AccountId32;
use crate::runtime::{self, BlockBuilder, Checked, Context, Invalid, BLOCK_HASH_COUNT};
use crate::storage::State;

/// How many recent blocks keep their state for reads `at` them (a pruned node's window).
pub const STATE_HISTORY: u32 = 256;
/// At most this many transactions go into one block.
pub const MAX_BLOCK_TRANSACTIONS: usize = 4_096;
/// At most this many transactions wait in the pool.
pub const MAX_POOL: usize = 16_384;

/// One block.
#[derive(Clone)]
pub struct Block {
    /// Its hash: blake2-256 of the SCALE header.
    pub hash: [u8; 32],
    /// Its header.
    pub header: Header,
    /// Its extrinsics, each with its length prefix.
    pub extrinsics: Vec<Vec<u8>>,
    /// Its state after execution, while within [`STATE_HISTORY`].
    pub state: Option<State>,
}

/// A transaction's progress, as `author_submitAndWatchExtrinsic` reports it.
pub type Status = Value;

struct Pending {
    tx: Checked,
    watcher: Option<mpsc::UnboundedSender<Status>>,
}

struct Inner {
    blocks: Vec<Block>,
    by_hash: HashMap<[u8; 32], u32>,
    pool: Vec<Pending>,
}

/// Why a submitted transaction is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The runtime refuses it.
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// The same transaction already waits in the pool.
    #[error("Transaction Already Imported")]
    AlreadyImported,
    /// The pool is full.
    #[error("Transaction pool is full")]
    PoolFull,
}

/// The devchain node.
pub struct Node {
    inner: Mutex<Inner>,
    heads: broadcast::Sender<Header>,
    genesis: [u8; 32],
    metadata: Vec<u8>,
    metadata_v14: Vec<u8>,
    block_time: Duration,
}

impl Node {
    /// A node starting from `state` at block 0.
    pub fn new(state: State, block_time: Duration) -> Arc<Self> {
        let header = Header {
            parent_hash: H256::default(),
            number: 0,
            state_root: H256(sp_crypto_hashing::blake2_256(&state_digest(&state))),
            extrinsics_root: H256(sp_crypto_hashing::blake2_256(&Vec::<Vec<u8>>::new().encode())),
            digest: Digest::default(),
        };
        let genesis = sp_crypto_hashing::blake2_256(&header.encode());
        let mut state = state;
        state.put::<crate::items::system::BlockHash>(&(0,), &H256(genesis));
        let block = Block { hash: genesis, header, extrinsics: Vec::new(), state: Some(state) };
        let inner = Inner { by_hash: HashMap::from([(genesis, 0)]), blocks: vec![block], pool: Vec::new() };
        let block_ms = u64::try_from(block_time.as_millis()).unwrap_or(u64::MAX);
        Arc::new(Self {
            inner: Mutex::new(inner),
            heads: broadcast::channel(64).0,
            genesis,
            metadata: crate::metadata::encoded(block_ms),
            metadata_v14: crate::metadata::encoded_v14(block_ms),
            block_time,
        })
    }

    /// The genesis hash.
    pub fn genesis(&self) -> [u8; 32] {
        self.genesis
    }

    /// The SCALE runtime metadata.
    pub fn metadata(&self) -> &[u8] {
        &self.metadata
    }

    /// The SCALE runtime metadata as V14.
    pub fn metadata_v14(&self) -> &[u8] {
        &self.metadata_v14
    }

    /// The time between blocks.
    pub fn block_time(&self) -> Duration {
        self.block_time
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The latest block (best and finalized).
    pub fn head(&self) -> Block {
        let inner = self.inner();
        inner.blocks.last().cloned().expect("the genesis block is always there")
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &[u8; 32]) -> Option<Block> {
        let inner = self.inner();
        inner.by_hash.get(hash).map(|&number| inner.blocks[number as usize].clone())
    }

    /// The hash of block `number`.
    pub fn hash_of(&self, number: u32) -> Option<[u8; 32]> {
        self.inner().blocks.get(number as usize).map(|block| block.hash)
    }

    /// The state at `at` (the head when `None`); an error for a block unknown or pruned.
    pub fn state_at(&self, at: Option<[u8; 32]>) -> Result<State, String> {
        let inner = self.inner();
        let block = match at {
            None => inner.blocks.last(),
            Some(hash) => inner.by_hash.get(&hash).map(|&number| &inner.blocks[number as usize]),
        };
        let block = block.ok_or_else(|| "Unknown block".to_string())?;
        block.state.clone().ok_or_else(|| format!("State already discarded for block {}", block.header.number))
    }

    /// New blocks, as they are built.
    pub fn subscribe(&self) -> broadcast::Receiver<Header> {
        self.heads.subscribe()
    }

    /// The next nonce of `account`: its state's, plus its transactions waiting in the pool.
    pub fn next_nonce(&self, account: &AccountId32) -> u32 {
        let inner = self.inner();
        let state = inner.blocks.last().and_then(|block| block.state.as_ref());
        let nonce = state.map_or(0, |state| state.value::<crate::items::system::Account>(&(*account,)).nonce);
        nonce + inner.pool.iter().filter(|pending| pending.tx.signer == *account).count() as u32
    }

    /// Checks `bytes` against the head and puts it in the pool; its hash.
    pub fn submit(
        &self,
        bytes: &[u8],
        watcher: Option<mpsc::UnboundedSender<Status>>,
    ) -> Result<[u8; 32], SubmitError> {
        let mut inner = self.inner();
        let head = inner.blocks.last().expect("the genesis block is always there");
        let state = head.state.as_ref().expect("the head keeps its state");
        let number = head.header.number + 1;
        let blocks = &inner.blocks;
        let hash_of =
            |n: u32| (n + BLOCK_HASH_COUNT >= number).then(|| blocks.get(n as usize).map(|block| block.hash)).flatten();
        let context = Context { genesis: self.genesis, number, state, block_hash: &hash_of };
        let pool = &inner.pool;
        let pending = |who: &AccountId32| pool.iter().filter(|p| p.tx.signer == *who).count() as u32;
        let tx = runtime::check(bytes, &context, pending)?;
        if inner.pool.iter().any(|pending| pending.tx.hash == tx.hash) {
            return Err(SubmitError::AlreadyImported);
        }
        if inner.pool.len() >= MAX_POOL {
            return Err(SubmitError::PoolFull);
        }
        let hash = tx.hash;
        if let Some(watcher) = &watcher {
            let _ = watcher.send(json!("ready"));
        }
        inner.pool.push(Pending { tx, watcher });
        Ok(hash)
    }

    /// Builds the next block from the pool.
    pub fn produce(&self) -> Header {
        let mut inner = self.inner();
        let parent = inner.blocks.last().expect("the genesis block is always there");
        let parent_hash = parent.hash;
        let parent_root = parent.header.state_root;
        let parent_state = parent.state.clone().expect("the head keeps its state");
        let number = parent.header.number + 1;
        let parent_now = parent_state.value::<crate::items::timestamp::Now>(&());
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .max(parent_now + 1);
        let mut builder = BlockBuilder::new(parent_state, number, parent_hash, now_ms);
        let inherent = runtime::timestamp_inherent(now_ms);
        builder.apply_inherent();
        let mut extrinsics = vec![inherent];
        let take = inner.pool.len().min(MAX_BLOCK_TRANSACTIONS);
        let batch: Vec<Pending> = inner.pool.drain(..take).collect();
        let mut included = Vec::new();
        let mut dropped = Vec::new();
        for pending in batch {
            if builder.apply(&pending.tx) {
                extrinsics.push(pending.tx.bytes.clone());
                included.push(pending);
            } else {
                dropped.push(pending);
            }
        }
        let state = builder.finish();
        let extrinsics_root = H256(sp_crypto_hashing::blake2_256(&extrinsics.encode()));
        let state_root = H256(sp_crypto_hashing::blake2_256(&(parent_root, number, extrinsics_root).encode()));
        let header =
            Header { parent_hash: H256(parent_hash), number, state_root, extrinsics_root, digest: Digest::default() };
        let hash = sp_crypto_hashing::blake2_256(&header.encode());
        inner.by_hash.insert(hash, number);
        inner.blocks.push(Block { hash, header: header.clone(), extrinsics, state: Some(state) });
        if let Some(old) = number.checked_sub(STATE_HISTORY) {
            inner.blocks[old as usize].state = None;
        }
        drop(inner);
        let block = json!(format!("0x{}", hex::encode(hash)));
        for pending in included {
            if let Some(watcher) = pending.watcher {
                let _ = watcher.send(json!({ "inBlock": block }));
                let _ = watcher.send(json!({ "finalized": block }));
            }
        }
        for pending in dropped {
            if let Some(watcher) = pending.watcher {
                let _ = watcher.send(json!("invalid"));
            }
        }
        let _ = self.heads.send(header.clone());
        header
    }

    /// Builds blocks every block time until the returned handle is aborted.
    pub fn run(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(node.block_time);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let header = node.produce();
                tracing::debug!(number = header.number, "block");
            }
        })
    }
}

/// A digest of the whole state, for the genesis state root.
fn state_digest(state: &State) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (key, value) in state.pairs() {
        key.encode_to(&mut bytes);
        value.encode_to(&mut bytes);
    }
    bytes
}
