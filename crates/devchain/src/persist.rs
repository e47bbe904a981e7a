//! The state file: a devchain's head block and its whole raw state on disk, so that a stopped
//! devchain resumes where it was (same genesis hash, block numbers going on, balances, subnets
//! and nonces kept). Earlier blocks' bodies are not kept.
//!
//! The file is `MAGIC` followed by the SCALE encoding of [`Saved`]; it is written to a temporary
//! file beside it and renamed over it, so a crash mid-write leaves the previous file whole.

use std::path::{Path, PathBuf};

use parity_scale_codec::{Decode, Encode};

use crate::items::system;
use crate::rt::sp_runtime::generic::header::Header;
use crate::storage::State;

/// The first bytes of a state file: its format and version.
pub const MAGIC: &[u8; 24] = b"neuronet-devchain-state1";

/// How often a running devchain writes its state file, in blocks, besides when it stops: every
/// 20 blocks is every 5 s at the default 250 ms block time, and a write of a devnet's state (a
/// few thousand keys) takes about a millisecond.
pub const DEFAULT_SAVE_EVERY: u32 = 20;

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// Reading or writing it failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Its bytes are not a devchain state file, or not a consistent one.
    #[error("state file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl From<StateFileError> for std::io::Error {
    fn from(error: StateFileError) -> Self {
        match error {
            StateFileError::Io { source, .. } => source,
            corrupt => std::io::Error::new(std::io::ErrorKind::InvalidData, corrupt.to_string()),
        }
    }
}

/// What a state file holds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Saved {
    /// The genesis block's header (its hash is the chain's genesis hash).
    pub genesis: Header,
    /// The head block's header.
    pub head: Header,
    /// The head's state: every raw key and value, in key order.
    pub state: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Saved {
    /// The chain's genesis hash.
    pub fn genesis_hash(&self) -> [u8; 32] {
        sp_crypto_hashing::blake2_256(&self.genesis.encode())
    }

    /// The head block's hash.
    pub fn head_hash(&self) -> [u8; 32] {
        sp_crypto_hashing::blake2_256(&self.head.encode())
    }

    /// The head's state, as the node keeps it.
    pub fn to_state(&self) -> State {
        let mut state = State::new();
        for (key, value) in &self.state {
            state.put_raw(key.clone(), value.clone());
        }
        state
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        self.encode_to(&mut bytes);
        bytes
    }

    /// Reads a file's bytes, checking that the head state belongs to the head and the genesis.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let body = bytes.strip_prefix(MAGIC.as_slice()).ok_or("not a neuronet devchain state file")?;
        let saved = Saved::decode(&mut &body[..]).map_err(|e| format!("cannot decode it: {e}"))?;
        let state = saved.to_state();
        if state.get::<system::Number>(&()) != Some(saved.head.number) {
            return Err(format!("its state is not that of its head, block {}", saved.head.number));
        }
        if state.get::<system::BlockHash>(&(0,)).map(|hash| hash.0) != Some(saved.genesis_hash()) {
            return Err("its state is not of its genesis".into());
        }
        Ok(saved)
    }

    /// Reads `path`; `None` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Self>, StateFileError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateFileError::Io { path: path.to_owned(), source }),
        };
        Self::from_bytes(&bytes).map(Some).map_err(|reason| StateFileError::Corrupt { path: path.to_owned(), reason })
    }

    /// Writes `path` atomically: a temporary file beside it, synced, then renamed over it.
    pub fn write(&self, path: &Path) -> Result<(), StateFileError> {
        let io = |source| StateFileError::Io { path: path.to_owned(), source };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&temporary).map_err(io)?;
            file.write_all(&self.to_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, path).map_err(io)
    }
}
