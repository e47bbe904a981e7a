//! The Directory: what the node knows about other hotkeys (PeerId, addresses, and metagraph facts
//! such as uid, stake and validator permit). It is fed from outside (static entries, or the
//! metagraph through the chain crate, with [`Directory::sync`]); the transport only reads it.
//!
//! Readers take a snapshot (an `Arc` of the whole table) without a lock, so a writer replacing
//! thousands of entries never waits for them, and they never wait for it.

use arc_swap::ArcSwap;
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::Hotkey;
use std::collections::HashMap;
use std::sync::Arc;

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
#[derive(Debug, Clone, PartialEq)]
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

impl PeerEntry {
    /// An entry for `hotkey` at `addrs`.
    pub fn new(hotkey: Hotkey, peer_id: Option<PeerId>, addrs: Vec<Multiaddr>, facts: PeerFacts) -> Self {
        PeerEntry { hotkey, peer_id, addrs, facts }
    }
}

/// What a [`Directory::sync`] changed, hotkey by hotkey (each list in the snapshot's order, or
/// for `left`, in no particular order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Hotkeys that were not in the directory.
    pub joined: Vec<Hotkey>,
    /// Hotkeys that are no longer in it.
    pub left: Vec<Hotkey>,
    /// Hotkeys whose addresses or PeerId changed (their connections may need dialing again).
    pub moved: Vec<Hotkey>,
    /// Hotkeys whose facts (uid, stake, permit, registration) changed.
    pub changed: Vec<Hotkey>,
}

impl SyncReport {
    /// Whether the sync changed nothing.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty() && self.moved.is_empty() && self.changed.is_empty()
    }
}

type Table = HashMap<Hotkey, PeerEntry>;

/// A shared, cheaply cloned hotkey directory.
///
/// ```
/// use neuronet_transport::{Directory, PeerEntry, PeerFacts};
/// use neuronet_synapse::{CryptoType, Keypair};
/// let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519)?.hotkey();
/// let directory = Directory::new();
/// let at = vec!["/ip4/127.0.0.1/udp/8091/quic-v1".parse().unwrap()];
/// let facts = PeerFacts { uid: Some(1), stake: 1_000, validator_permit: false, registered: true };
/// let report = directory.sync(vec![PeerEntry::new(bob, None, at, facts)]);
/// assert_eq!(report.joined, vec![bob]);
/// assert_eq!(directory.get(&bob).unwrap().facts.uid, Some(1));
/// # Ok::<(), neuronet_synapse::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Directory {
    entries: Arc<ArcSwap<Table>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").field("entries", &self.len()).finish()
    }
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces every entry with `snapshot` at once (a metagraph read), and reports who joined,
    /// left, moved address or changed facts. Readers see the old table or the new one, never a
    /// mix. A hotkey listed twice keeps its last entry.
    pub fn sync(&self, snapshot: impl IntoIterator<Item = PeerEntry>) -> SyncReport {
        let mut next = Table::new();
        let mut order = Vec::new();
        for entry in snapshot {
            if next.insert(entry.hotkey, entry.clone()).is_none() {
                order.push(entry.hotkey);
            }
        }
        let next = Arc::new(next);
        let before = self.entries.swap(next.clone());
        let mut report = SyncReport::default();
        for hotkey in order {
            let (Some(now), old) = (next.get(&hotkey), before.get(&hotkey)) else { continue };
            match old {
                None => report.joined.push(hotkey),
                Some(old) => {
                    if old.addrs != now.addrs || old.peer_id != now.peer_id {
                        report.moved.push(hotkey);
                    }
                    if old.facts != now.facts {
                        report.changed.push(hotkey);
                    }
                }
            }
        }
        report.left = before.keys().filter(|hotkey| !next.contains_key(hotkey)).copied().collect();
        report
    }

    /// Adds or replaces a hotkey's entry.
    pub fn insert(&self, hotkey: Hotkey, peer_id: Option<PeerId>, addrs: Vec<Multiaddr>, facts: PeerFacts) {
        let entry = PeerEntry { hotkey, peer_id, addrs, facts };
        self.entries.rcu(|table| {
            let mut table = Table::clone(table);
            table.insert(hotkey, entry.clone());
            table
        });
    }

    /// Removes a hotkey.
    pub fn remove(&self, hotkey: &Hotkey) -> Option<PeerEntry> {
        let removed = self.get(hotkey)?;
        self.entries.rcu(|table| {
            let mut table = Table::clone(table);
            table.remove(hotkey);
            table
        });
        Some(removed)
    }

    /// A hotkey's entry.
    pub fn get(&self, hotkey: &Hotkey) -> Option<PeerEntry> {
        self.entries.load().get(hotkey).cloned()
    }

    /// The entry whose PeerId is `peer_id`, if any (a scan: for the rare lookups by PeerId, such
    /// as which peer keeps its connection when an axon is full).
    pub fn by_peer_id(&self, peer_id: &PeerId) -> Option<PeerEntry> {
        self.entries.load().values().find(|entry| entry.peer_id.as_ref() == Some(peer_id)).cloned()
    }

    /// A hotkey's facts, if known.
    pub fn facts(&self, hotkey: &Hotkey) -> Option<PeerFacts> {
        self.entries.load().get(hotkey).map(|e| e.facts.clone())
    }

    /// Every entry, as of now.
    pub fn entries(&self) -> Vec<PeerEntry> {
        self.entries.load().values().cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.load().len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuronet_synapse::{CryptoType, Keypair};

    fn hotkey(suri: &str) -> Hotkey {
        Keypair::from_suri(suri, CryptoType::Sr25519).unwrap().hotkey()
    }

    fn entry(hotkey: Hotkey, port: u16, stake: u64) -> PeerEntry {
        let addr = format!("/ip4/10.0.0.1/udp/{port}/quic-v1").parse().unwrap();
        PeerEntry::new(hotkey, None, vec![addr], PeerFacts { stake, registered: true, ..PeerFacts::default() })
    }

    #[test]
    fn sync_reports_who_joined_left_moved_and_changed() {
        let (alice, bob, charlie, dave) = (hotkey("//Alice"), hotkey("//Bob"), hotkey("//Charlie"), hotkey("//Dave"));
        let directory = Directory::new();
        let first = directory.sync([entry(alice, 1, 10), entry(bob, 2, 20), entry(charlie, 3, 30)]);
        assert_eq!(first.joined, vec![alice, bob, charlie]);
        assert!(first.left.is_empty() && first.moved.is_empty() && first.changed.is_empty());

        let second = directory.sync([entry(alice, 1, 10), entry(bob, 9, 20), entry(charlie, 3, 31), entry(dave, 4, 0)]);
        assert_eq!(second.joined, vec![dave]);
        assert_eq!(second.moved, vec![bob]);
        assert_eq!(second.changed, vec![charlie]);
        assert!(second.left.is_empty());

        let third = directory.sync([entry(dave, 4, 0)]);
        let mut left = third.left.clone();
        left.sort_by_key(|h| *h.public());
        let mut expected = vec![alice, bob, charlie];
        expected.sort_by_key(|h| *h.public());
        assert_eq!(left, expected);
        assert_eq!(directory.len(), 1);
        assert!(directory.sync([entry(dave, 4, 0)]).is_empty());
    }

    #[test]
    fn an_sr25519_and_an_ed25519_hotkey_with_the_same_bytes_are_two_entries() {
        let sr = hotkey("//Alice");
        let ed = Hotkey::new(CryptoType::Ed25519, *sr.public());
        let directory = Directory::new();
        directory.insert(sr, None, Vec::new(), PeerFacts { stake: 1, ..PeerFacts::default() });
        assert_eq!(directory.facts(&ed), None);
        directory.insert(ed, None, Vec::new(), PeerFacts { stake: 2, ..PeerFacts::default() });
        assert_eq!(directory.facts(&sr).unwrap().stake, 1);
        assert_eq!(directory.facts(&ed).unwrap().stake, 2);
    }

    #[test]
    fn readers_keep_their_snapshot_while_a_sync_replaces_it() {
        let alice = hotkey("//Alice");
        let directory = Directory::new();
        directory.sync([entry(alice, 1, 10)]);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let directory = directory.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        let stake = directory.facts(&alice).map(|f| f.stake);
                        assert!(matches!(stake, Some(10) | Some(11)), "{stake:?}");
                    }
                })
            })
            .collect();
        for i in 0..2_000u64 {
            directory.sync([entry(alice, 1, 10 + i % 2)]);
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
