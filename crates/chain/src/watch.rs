//! Following a subnet's metagraph: refetched every N finalized blocks (driven by the node's
//! new-head subscription, never by polling) and on demand, each update carrying what changed.
//! A dropped connection is made again (with backoff) and the subscription resumed.

use crate::account::AccountId;
use crate::client::Chain;
use crate::metagraph::Metagraph;
use crate::neuron::Neuron;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

/// What changed for one hotkey between two reads of a metagraph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A hotkey registered (or it is the first read).
    Joined {
        /// Its uid.
        uid: u16,
        /// The hotkey.
        hotkey: AccountId,
    },
    /// A hotkey was deregistered (its uid may now hold another).
    Left {
        /// The uid it held.
        uid: u16,
        /// The hotkey.
        hotkey: AccountId,
    },
    /// Its axon serves somewhere else (or started or stopped serving).
    AxonMoved {
        /// The hotkey.
        hotkey: AccountId,
        /// Where it served.
        from: Option<SocketAddr>,
        /// Where it serves now.
        to: Option<SocketAddr>,
    },
    /// Its published certificate changed (a new QUIC identity, or none).
    CertificateChanged {
        /// The hotkey.
        hotkey: AccountId,
    },
    /// It gained or lost its validator permit.
    PermitChanged {
        /// The hotkey.
        hotkey: AccountId,
        /// Whether it holds one now.
        permit: bool,
    },
    /// The stake behind it changed.
    StakeChanged {
        /// The hotkey.
        hotkey: AccountId,
        /// Total stake before, in rao.
        from: u64,
        /// Total stake now, in rao.
        to: u64,
    },
}

/// What changed from `old` to `new`, hotkey by hotkey (joined and changed in uid order, then
/// left). A hotkey found under another uid was deregistered and registered again between the
/// reads: it left its old uid and joined at the new one.
pub fn changes(old: &Metagraph, new: &Metagraph) -> Vec<Change> {
    let before: HashMap<AccountId, &Neuron> = old.neurons.iter().map(|n| (n.hotkey, n)).collect();
    let now: HashMap<AccountId, &Neuron> = new.neurons.iter().map(|n| (n.hotkey, n)).collect();
    let mut out = Vec::new();
    for neuron in &new.neurons {
        let hotkey = neuron.hotkey;
        let Some(old) = before.get(&hotkey) else {
            out.push(Change::Joined { uid: neuron.uid, hotkey });
            continue;
        };
        if old.uid != neuron.uid {
            out.push(Change::Left { uid: old.uid, hotkey });
            out.push(Change::Joined { uid: neuron.uid, hotkey });
            continue;
        }
        let (from, to) = (old.axon.socket_addr(), neuron.axon.socket_addr());
        if from != to || old.axon.ip_type != neuron.axon.ip_type {
            out.push(Change::AxonMoved { hotkey, from, to });
        }
        if old.certificate != neuron.certificate {
            out.push(Change::CertificateChanged { hotkey });
        }
        if old.validator_permit != neuron.validator_permit {
            out.push(Change::PermitChanged { hotkey, permit: neuron.validator_permit });
        }
        if old.total_stake != neuron.total_stake {
            out.push(Change::StakeChanged { hotkey, from: old.total_stake, to: neuron.total_stake });
        }
    }
    for neuron in &old.neurons {
        if !now.contains_key(&neuron.hotkey) {
            out.push(Change::Left { uid: neuron.uid, hotkey: neuron.hotkey });
        }
    }
    out
}

/// One read of the metagraph and what changed since the previous one.
#[derive(Debug, Clone)]
pub struct Update {
    /// The metagraph as read.
    pub metagraph: Arc<Metagraph>,
    /// What changed since the previous update (every neuron `Joined` in the first).
    pub changes: Vec<Change>,
}

/// A running watch over one subnet's metagraph; stops when dropped.
#[derive(Debug)]
pub struct Watcher {
    updates: mpsc::Receiver<Update>,
    refresh: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// The next update: the first read at once, then one whenever a read finds changes (or was
    /// asked for with [`refresh`](Self::refresh)).
    pub async fn next(&mut self) -> Option<Update> {
        self.updates.recv().await
    }

    /// Reads the metagraph again now, whatever the block.
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits between attempts after a failure: doubling from 100 ms up to 10 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(10);

    async fn wait(&mut self) {
        tokio::time::sleep(self.next()).await;
    }

    /// The wait now, doubling the next one.
    fn next(&mut self) -> Duration {
        let wait = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        wait
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

impl Chain {
    /// Watches `netuid`'s metagraph, reading it again every `every_blocks` finalized blocks
    /// (at least 1) and whenever [`Watcher::refresh`] asks.
    pub fn watch(&self, netuid: u16, every_blocks: u64) -> Watcher {
        let (updates, receiver) = mpsc::channel(16);
        let refresh = Arc::new(Notify::new());
        let task = tokio::spawn(run(self.clone(), netuid, every_blocks.max(1), updates, refresh.clone()));
        Watcher { updates: receiver, refresh, task }
    }
}

struct State {
    last: Option<Arc<Metagraph>>,
    read_at: Option<u64>,
    /// After a failed read, no new attempt before this instant (backing off).
    retry_after: Option<tokio::time::Instant>,
    backoff: Backoff,
}

impl State {
    /// Reads the metagraph and sends an update when it changed (or when `always`). False when
    /// the watcher was dropped.
    async fn read(
        &mut self,
        chain: &Chain,
        netuid: u16,
        block: Option<u64>,
        always: bool,
        updates: &mpsc::Sender<Update>,
    ) -> bool {
        if self.retry_after.is_some_and(|at| tokio::time::Instant::now() < at) && !always {
            return true;
        }
        let metagraph = match chain.metagraph(netuid).await {
            Ok(metagraph) => {
                self.retry_after = None;
                self.backoff.reset();
                Arc::new(metagraph)
            }
            Err(error) => {
                let wait = self.backoff.next();
                tracing::warn!(%error, netuid, ?wait, "reading the metagraph failed; trying again later");
                self.retry_after = Some(tokio::time::Instant::now() + wait);
                return true;
            }
        };
        self.read_at = block.or(self.read_at);
        let changes = match &self.last {
            Some(last) => changes(last, &metagraph),
            None => changes(&Metagraph::default(), &metagraph),
        };
        let first = self.last.is_none();
        self.last = Some(metagraph.clone());
        if first || always || !changes.is_empty() {
            return updates.send(Update { metagraph, changes }).await.is_ok();
        }
        true
    }
}

async fn run(chain: Chain, netuid: u16, every: u64, updates: mpsc::Sender<Update>, refresh: Arc<Notify>) {
    let stall = chain.watch_stall;
    let mut state = State { last: None, read_at: None, retry_after: None, backoff: Backoff(Backoff::FIRST) };
    // The first read does not wait for a subscription.
    if !state.read(&chain, netuid, None, false, &updates).await {
        return;
    }
    let mut backoff = Backoff(Backoff::FIRST);
    loop {
        let mut blocks = match chain.api().stream_blocks().await {
            Ok(blocks) => blocks,
            Err(error) => {
                tracing::warn!(%error, "subscribing to finalized blocks failed; trying again");
                backoff.wait().await;
                continue;
            }
        };
        if state.last.is_none() && !state.read(&chain, netuid, None, false, &updates).await {
            return;
        }
        loop {
            tokio::select! {
                // A subscription that stays silent this long has stalled (a node can drop it
                // without closing the socket): subscribe again.
                block = tokio::time::timeout(stall, blocks.next()) => match block.unwrap_or_else(|_| {
                    tracing::warn!(?stall, "no finalized block for too long; subscribing again");
                    None
                }) {
                    Some(Ok(block)) => {
                        backoff.reset();
                        let number = block.number();
                        let due = state.read_at.is_none_or(|at| number >= at.saturating_add(every));
                        if due && !state.read(&chain, netuid, Some(number), false, &updates).await {
                            return;
                        }
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "the block subscription failed; subscribing again");
                        break;
                    }
                    None => break,
                },
                () = refresh.notified() => {
                    if !state.read(&chain, netuid, None, true, &updates).await {
                        return;
                    }
                }
                () = updates.closed() => return,
            }
        }
        backoff.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neuron::{AxonInfo, NeuronCertificate};

    fn neuron(uid: u16, key: u8) -> Neuron {
        Neuron {
            uid,
            netuid: 1,
            hotkey: AccountId([key; 32]),
            coldkey: AccountId([0; 32]),
            active: true,
            axon: AxonInfo { ip: 0x0a00_0001, port: 8091, ip_type: 4, ..AxonInfo::default() },
            prometheus: Default::default(),
            certificate: None,
            stake: vec![],
            total_stake: 5,
            rank: 0,
            emission: 0,
            incentive: 0,
            consensus: 0,
            trust: 0,
            validator_trust: 0,
            dividends: 0,
            last_update: 0,
            validator_permit: false,
            pruning_score: 0,
        }
    }

    fn graph(neurons: Vec<Neuron>) -> Metagraph {
        Metagraph { netuid: 1, block: 1, neurons }
    }

    #[test]
    fn every_kind_of_change_is_reported_once() {
        let before = graph(vec![neuron(0, 1), neuron(1, 2), neuron(2, 3), neuron(3, 4)]);
        let mut after = before.clone();
        after.neurons[0].axon.port = 9000;
        after.neurons[0].certificate = Some(NeuronCertificate { public_key: vec![1], algorithm: 0x4e });
        after.neurons[1].validator_permit = true;
        after.neurons[1].total_stake = 6;
        after.neurons[2] = neuron(2, 9); // uid 2 went to another hotkey
        after.neurons[3].uid = 7; // hotkey 4 registered again under another uid
        let found = changes(&before, &after);
        let key = |k: u8| AccountId([k; 32]);
        let moved_from = before.neurons[0].axon.socket_addr();
        assert_eq!(
            found,
            vec![
                Change::AxonMoved { hotkey: key(1), from: moved_from, to: after.neurons[0].axon.socket_addr() },
                Change::CertificateChanged { hotkey: key(1) },
                Change::PermitChanged { hotkey: key(2), permit: true },
                Change::StakeChanged { hotkey: key(2), from: 5, to: 6 },
                Change::Joined { uid: 2, hotkey: key(9) },
                Change::Left { uid: 3, hotkey: key(4) },
                Change::Joined { uid: 7, hotkey: key(4) },
                Change::Left { uid: 2, hotkey: key(3) },
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
