//! The node: blocks on a timer, the transaction pool, and the notifications clients wait on.
//! Every block is final as soon as it is built (there is one author and no forks).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parity_scale_codec::Encode;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::persist::{Saved, StateFileError};
use crate::rt::pallet_drand::types::Pulse;
use crate::rt::primitive_types::H256;
use crate::rt::sp_runtime::generic::digest::Digest;
use crate::rt::sp_runtime::generic::header::Header;
use crate::rt::AccountId32;
use crate::runtime::{self, BlockBuilder, Checked, Context, Invalid, BLOCK_HASH_COUNT};
use crate::storage::State;

/// Where a running node writes its state file, and how often.
#[derive(Clone, Debug)]
pub struct SaveTo {
    /// The state file.
    pub path: PathBuf,
    /// Every this many blocks (0: only when asked, such as on stop).
    pub every: u32,
}

/// How many recent blocks keep their state for reads `at` them (a pruned node's window), by
/// default.
pub const STATE_HISTORY: u32 = 256;
/// At most this many transactions go into one block, by default.
pub const MAX_BLOCK_TRANSACTIONS: usize = 4_096;
/// At most this many transactions wait in the pool, by default.
pub const MAX_POOL: usize = 16_384;

/// What a node keeps and takes at most.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    /// Recent blocks that keep their state for reads at them. Default [`STATE_HISTORY`] (256).
    pub state_history: u32,
    /// Transactions one block takes. Default [`MAX_BLOCK_TRANSACTIONS`] (4,096).
    pub max_block_transactions: usize,
    /// Transactions waiting in the pool; more are refused. Default [`MAX_POOL`] (16,384).
    pub max_pool: usize,
}

impl Default for NodeLimits {
    fn default() -> Self {
        Self { state_history: STATE_HISTORY, max_block_transactions: MAX_BLOCK_TRANSACTIONS, max_pool: MAX_POOL }
    }
}

/// One block.
#[derive(Clone)]
pub struct Block {
    /// Its hash: blake2-256 of the SCALE header.
    pub hash: [u8; 32],
    /// Its header.
    pub header: Header,
    /// Its extrinsics, each with its length prefix.
    pub extrinsics: Vec<Vec<u8>>,
    /// Its state after execution, while within [`NodeLimits::state_history`].
    pub state: Option<State>,
}

/// A transaction's progress, as `author_submitAndWatchExtrinsic` reports it.
pub type Status = Value;

struct Pending {
    tx: Checked,
    watcher: Option<mpsc::UnboundedSender<Status>>,
}

struct Inner {
    /// Block 0, kept apart: a resumed node has it (without its state) but not the blocks after.
    genesis: Block,
    /// The number of `blocks[0]`: 0, or the head a node resumed from.
    first: u32,
    /// The blocks from `first` to the head.
    blocks: Vec<Block>,
    by_hash: HashMap<[u8; 32], u32>,
    pool: Vec<Pending>,
    /// Verified drand pulses the next block stores.
    pulses: Vec<Pulse>,
}

impl Inner {
    fn head(&self) -> &Block {
        self.blocks.last().expect("the head is always there")
    }

    fn head_state(&self) -> &State {
        self.head().state.as_ref().expect("the head keeps its state")
    }

    fn block(&self, number: u32) -> Option<&Block> {
        match number.checked_sub(self.first) {
            Some(index) => self.blocks.get(index as usize),
            None => (number == 0).then_some(&self.genesis),
        }
    }

    /// The hash of block `number`: from the blocks kept, else from `System.BlockHash` (which
    /// keeps the last `BLOCK_HASH_COUNT` blocks' hashes, also across a resume).
    fn hash_of(&self, number: u32) -> Option<[u8; 32]> {
        self.block(number).map(|block| block.hash).or_else(|| {
            let state = self.head_state();
            state.get::<crate::items::system::BlockHash>(&(number,)).filter(|hash| hash.0 != [0; 32]).map(|hash| hash.0)
        })
    }
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
    limits: NodeLimits,
    /// Held while the state file is written, so two writes never share its temporary file.
    saving: Mutex<()>,
}

impl Node {
    /// A node starting from `state` at block 0.
    pub fn new(state: State, block_time: Duration, limits: NodeLimits) -> Arc<Self> {
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
        let inner = Inner {
            genesis: Block { state: None, ..block.clone() },
            first: 0,
            by_hash: HashMap::from([(genesis, 0)]),
            blocks: vec![block],
            pool: Vec::new(),
            pulses: Vec::new(),
        };
        Self::with(inner, block_time, limits)
    }

    /// A node resuming from a state file's head: the same genesis hash, block numbers going on
    /// from the head; the blocks between genesis and the head are gone (their hashes stay in
    /// `System.BlockHash`).
    pub fn resume(saved: &Saved, block_time: Duration, limits: NodeLimits) -> Arc<Self> {
        let genesis_hash = saved.genesis_hash();
        let genesis = Block { hash: genesis_hash, header: saved.genesis.clone(), extrinsics: Vec::new(), state: None };
        let head_hash = saved.head_hash();
        let head = Block {
            hash: head_hash,
            header: saved.head.clone(),
            extrinsics: Vec::new(),
            state: Some(saved.to_state()),
        };
        let inner = Inner {
            genesis,
            first: saved.head.number,
            by_hash: HashMap::from([(genesis_hash, 0), (head_hash, saved.head.number)]),
            blocks: vec![head],
            pool: Vec::new(),
            pulses: Vec::new(),
        };
        Self::with(inner, block_time, limits)
    }

    fn with(inner: Inner, block_time: Duration, limits: NodeLimits) -> Arc<Self> {
        let genesis = inner.genesis.hash;
        let block_ms = u64::try_from(block_time.as_millis()).unwrap_or(u64::MAX);
        Arc::new(Self {
            inner: Mutex::new(inner),
            heads: broadcast::channel(64).0,
            genesis,
            metadata: crate::metadata::encoded(block_ms),
            metadata_v14: crate::metadata::encoded_v14(block_ms),
            block_time,
            limits,
            saving: Mutex::new(()),
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
        self.inner().head().clone()
    }

    /// The block with `hash`.
    pub fn block(&self, hash: &[u8; 32]) -> Option<Block> {
        let inner = self.inner();
        inner.by_hash.get(hash).and_then(|&number| inner.block(number)).cloned()
    }

    /// The hash of block `number`.
    pub fn hash_of(&self, number: u32) -> Option<[u8; 32]> {
        self.inner().hash_of(number)
    }

    /// What a state file keeps: the genesis and head headers and the head's whole state.
    pub fn snapshot(&self) -> Saved {
        let (genesis, head) = {
            let inner = self.inner();
            (inner.genesis.header.clone(), inner.head().clone())
        };
        let state = head
            .state
            .as_ref()
            .map_or_else(Vec::new, |state| state.pairs().map(|(key, value)| (key.clone(), value.clone())).collect());
        Saved { genesis, head: head.header, state }
    }

    /// Writes the state file at `path` (atomically, one writer at a time).
    pub fn save(&self, path: &Path) -> Result<(), StateFileError> {
        let saved = self.snapshot();
        let _writing = self.saving.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        saved.write(path)
    }

    /// The state at `at` (the head when `None`); an error for a block unknown or pruned.
    pub fn state_at(&self, at: Option<[u8; 32]>) -> Result<State, String> {
        let inner = self.inner();
        let block = match at {
            None => Some(inner.head()),
            Some(hash) => inner.by_hash.get(&hash).and_then(|&number| inner.block(number)),
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
        let nonce = inner.head_state().value::<crate::items::system::Account>(&(*account,)).nonce;
        nonce + inner.pool.iter().filter(|pending| pending.tx.signer == *account).count() as u32
    }

    /// Checks `bytes` against the head and puts it in the pool; its hash.
    pub fn submit(
        &self,
        bytes: &[u8],
        watcher: Option<mpsc::UnboundedSender<Status>>,
    ) -> Result<[u8; 32], SubmitError> {
        let mut inner = self.inner();
        let state = inner.head_state();
        let number = inner.head().header.number + 1;
        let kept = &*inner;
        let hash_of = |n: u32| (n + BLOCK_HASH_COUNT >= number).then(|| kept.hash_of(n)).flatten();
        let context = Context { genesis: self.genesis, number, state, block_hash: &hash_of };
        let pool = &inner.pool;
        let pending = |who: &AccountId32| pool.iter().filter(|p| p.tx.signer == *who).count() as u32;
        let tx = runtime::check(bytes, &context, pending)?;
        if inner.pool.iter().any(|pending| pending.tx.hash == tx.hash) {
            return Err(SubmitError::AlreadyImported);
        }
        if inner.pool.len() >= self.limits.max_pool {
            return Err(SubmitError::PoolFull);
        }
        let hash = tx.hash;
        if let Some(watcher) = &watcher {
            let _ = watcher.send(json!("ready"));
        }
        inner.pool.push(Pending { tx, watcher });
        Ok(hash)
    }

    /// Verifies a drand quicknet pulse (the signature of `round`) and has the next block store
    /// it in `Drand.Pulses`; the pulse it will store.
    pub fn add_pulse(&self, round: u64, signature: &[u8]) -> Result<Pulse, crate::drand::DrandError> {
        let pulse = crate::drand::pulse(round, signature)?;
        let mut inner = self.inner();
        if !inner.pulses.iter().any(|waiting| waiting.round == round) {
            inner.pulses.push(pulse.clone());
        }
        Ok(pulse)
    }

    /// Builds the next block from the pool.
    pub fn produce(&self) -> Header {
        let mut inner = self.inner();
        let parent = inner.head();
        let parent_hash = parent.hash;
        let parent_root = parent.header.state_root;
        let parent_state = parent.state.clone().expect("the head keeps its state");
        let number = parent.header.number + 1;
        let parent_now = parent_state.value::<crate::items::timestamp::Now>(&());
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .max(parent_now + 1);
        let pulses = std::mem::take(&mut inner.pulses);
        let mut builder = BlockBuilder::with_pulses(parent_state, number, parent_hash, now_ms, pulses);
        let inherent = runtime::timestamp_inherent(now_ms);
        builder.apply_inherent();
        let mut extrinsics = vec![inherent];
        let take = inner.pool.len().min(self.limits.max_block_transactions);
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
        if let Some(old) = number.checked_sub(self.limits.state_history).and_then(|old| old.checked_sub(inner.first)) {
            if let Some(block) = inner.blocks.get_mut(old as usize) {
                block.state = None;
            }
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

    /// Builds blocks every block time until the returned handle is aborted; with `save`, writes
    /// the state file every `save.every` blocks.
    pub fn run(self: &Arc<Self>, save: Option<SaveTo>) -> tokio::task::JoinHandle<()> {
        let node = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(node.block_time);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let header = node.produce();
                tracing::debug!(number = header.number, "block");
                let Some(save) =
                    save.as_ref().filter(|save| save.every > 0 && header.number.is_multiple_of(save.every))
                else {
                    continue;
                };
                let (writer, path) = (node.clone(), save.path.clone());
                match tokio::task::spawn_blocking(move || writer.save(&path)).await {
                    Ok(Ok(())) => tracing::debug!(number = header.number, "state file written"),
                    Ok(Err(error)) => tracing::warn!(%error, "writing the state file"),
                    Err(error) => tracing::warn!(%error, "writing the state file"),
                }
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
