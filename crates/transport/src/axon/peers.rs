//! What the axon knows about each connected peer: its address, its share of the memory
//! budget, and the hotkey its binding proved (the one place a connection's hotkey is kept).

use super::*;

/// Per-peer facts the swarm reports: remote IP, and the hotkey the peer's binding proved.
#[derive(Default)]
pub(super) struct PeerTable {
    pub(super) peers: Mutex<HashMap<PeerId, PeerState>>,
    /// Connected peers, for the metrics.
    pub(super) connected: prometheus_client::metrics::gauge::Gauge,
    /// Each address's share of the memory budget, alive while one of its peers is connected.
    pub(super) ip_budgets: Mutex<HashMap<IpAddr, std::sync::Weak<tokio::sync::Semaphore>>>,
    /// `max_inflight_bytes_per_ip`.
    pub(super) ip_budget: usize,
    /// The metagraph facts, for which peers keep their place when the axon is full.
    pub(super) directory: Directory,
}

#[derive(Default, Clone)]
pub(super) struct PeerState {
    /// Set when the swarm reports the connection; an entry without it was made by a Bind that
    /// raced the connection's close, and the periodic cleanup drops it.
    pub(super) connected: bool,
    pub(super) ip: Option<IpAddr>,
    /// Its address's share of the memory budget (`max_inflight_bytes_per_ip`).
    pub(super) ip_budget: Option<Arc<tokio::sync::Semaphore>>,
    pub(super) bound: Option<(Hotkey, u64)>,
    /// Being closed after a forgery: its frames get no more checks.
    pub(super) closing: bool,
}

impl PeerTable {
    pub(super) fn get(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, PeerState>> {
        self.peers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memory budget shared by the peers of `ip`'s address (IPv6: its /64).
    pub(super) fn ip_budget(&self, ip: IpAddr) -> Arc<tokio::sync::Semaphore> {
        let key = crate::inbound::ip_key(ip);
        let mut budgets = self.ip_budgets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(budget) = budgets.get(&key).and_then(std::sync::Weak::upgrade) {
            return budget;
        }
        // A new address: forget those whose peers are all gone.
        budgets.retain(|_, budget| budget.strong_count() > 0);
        let size = self.ip_budget.min(tokio::sync::Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        let budget = Arc::new(tokio::sync::Semaphore::new(size));
        budgets.insert(key, Arc::downgrade(&budget));
        budget
    }
}

impl PeerEvents for PeerTable {
    fn connected(&self, peer: PeerId, ip: Option<IpAddr>) {
        let ip_budget = ip.filter(|_| self.ip_budget > 0).map(|ip| self.ip_budget(ip));
        let mut peers = self.get();
        let state = peers.entry(peer).or_default();
        if !state.connected {
            // (An entry may exist already: a stream's Bind can be handled before the swarm
            // reports the connection that carries it, so its binding is kept.)
            self.connected.inc();
        }
        state.ip = ip;
        state.ip_budget = ip_budget;
        state.connected = true;
    }
    fn disconnected(&self, peer: PeerId) {
        if self.get().remove(&peer).is_some_and(|state| state.connected) {
            self.connected.dec();
        }
    }
    fn standing(&self, peer: &PeerId) -> Standing {
        let bound = self.get().get(peer).and_then(|state| state.bound);
        match bound {
            Some((hotkey, until)) if until > unix_nanos() / 1_000_000_000 => {
                match self.directory.facts(&hotkey).is_some_and(|facts| facts.registered) {
                    true => Standing::Registered,
                    false => Standing::Bound,
                }
            }
            _ => Standing::Unbound,
        }
    }
    fn registered_peer(&self, peer: &PeerId) -> bool {
        self.directory.by_peer_id(peer).is_some_and(|entry| entry.facts.registered)
    }
}
