//! The Directory: what the node knows about other hotkeys (PeerId, addresses, and metagraph facts
//! such as uid, stake and validator permit). It is fed from outside (static entries, or the
//! metagraph through the chain crate); the transport only reads it.

use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::Hotkey;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Facts about a hotkey on the subnet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerFacts {
    /// The neuron's uid, when registered.
    pub uid: Option<u16>,
    /// Stake behind the hotkey, in rao.
    pub stake: u64,
    /// Whether the hotkey holds a validator permit.
    pub validator_permit: bool,
    /// Whether the hotkey is registered on the subnet.
    pub registered: bool,
}

/// Everything the directory holds for one hotkey.
#[derive(Debug, Clone)]
pub struct PeerEntry {
    /// The hotkey.
    pub hotkey: Hotkey,
    /// Its libp2p PeerId, when known (learned at dial time otherwise).
    pub peer_id: Option<PeerId>,
    /// Where its axon listens.
    pub addrs: Vec<Multiaddr>,
    /// Metagraph facts.
    pub facts: PeerFacts,
}

/// A shared, cheaply cloned hotkey directory.
///
/// ```
/// use neuronet_transport::{Directory, PeerFacts};
/// use neuronet_synapse::{CryptoType, Keypair};
/// let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519)?.hotkey();
/// let directory = Directory::new();
/// directory.insert(bob, None, vec!["/ip4/127.0.0.1/udp/8091/quic-v1".parse().unwrap()],
///     PeerFacts { uid: Some(1), stake: 1_000, validator_permit: false, registered: true });
/// assert_eq!(directory.get(&bob).unwrap().facts.uid, Some(1));
/// # Ok::<(), neuronet_synapse::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Directory {
    entries: Arc<RwLock<HashMap<[u8; 32], PeerEntry>>>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a hotkey's entry.
    pub fn insert(&self, hotkey: Hotkey, peer_id: Option<PeerId>, addrs: Vec<Multiaddr>, facts: PeerFacts) {
        let entry = PeerEntry { hotkey, peer_id, addrs, facts };
        self.write().insert(*hotkey.public(), entry);
    }

    /// Removes a hotkey.
    pub fn remove(&self, hotkey: &Hotkey) -> Option<PeerEntry> {
        self.write().remove(hotkey.public())
    }

    /// A hotkey's entry.
    pub fn get(&self, hotkey: &Hotkey) -> Option<PeerEntry> {
        self.read().get(hotkey.public()).cloned()
    }

    /// The facts for a public key, if known.
    pub fn facts(&self, public: &[u8; 32]) -> Option<PeerFacts> {
        self.read().get(public).map(|e| e.facts.clone())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<[u8; 32], PeerEntry>> {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<[u8; 32], PeerEntry>> {
        self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
