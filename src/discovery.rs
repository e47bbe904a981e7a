//! From the metagraph to the overlay: every registered neuron becomes a [`Directory`] entry
//! carrying the facts an axon's blacklist and priority read (registered, uid, stake, validator
//! permit), and a neuron that published a neuronet certificate gets its QUIC address with its
//! PeerId pinned, so that [`Target::Hotkey`](crate::Target::Hotkey) (or [`target`]) reaches it.
//!
//! ```
//! use neuronet::chain::Metagraph;
//! use neuronet::{discovery, Directory};
//! let metagraph = Metagraph { netuid: 1, block: 10, neurons: vec![] };
//! let directory = Directory::new();
//! let report = discovery::sync(&directory, &metagraph);
//! assert!(report.is_empty());
//! ```

use neuronet_chain::{Metagraph, Neuron, Watcher};
use neuronet_transport::{
    peer_id_of_certificate, Directory, Multiaddr, PeerEntry, PeerFacts, PeerId, SyncReport, Target,
};
use std::net::IpAddr;

/// The PeerId a neuron's certificate names, when it published a neuronet certificate.
pub fn neuronet_peer_id(neuron: &Neuron) -> Option<PeerId> {
    let certificate = neuron.certificate.as_ref()?;
    peer_id_of_certificate(certificate.algorithm, &certificate.public_key)
}

/// The QUIC address of a neuron's axon (`/ip4|ip6/.../udp/PORT/quic-v1/p2p/PEER`), when it serves
/// and published a neuronet certificate.
pub fn quic_addr(neuron: &Neuron) -> Option<Multiaddr> {
    let peer_id = neuronet_peer_id(neuron)?;
    let socket = neuron.axon.socket_addr()?;
    let ip = match socket.ip() {
        IpAddr::V4(ip) => format!("/ip4/{ip}"),
        IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    format!("{ip}/udp/{}/quic-v1/p2p/{peer_id}", socket.port()).parse().ok()
}

/// A neuron's directory entry: its hotkey (as sr25519, Bittensor's kind of hotkey), the facts
/// the axon decides on, and its QUIC address and PeerId when it is a neuronet axon.
pub fn peer_entry(neuron: &Neuron) -> PeerEntry {
    let facts = PeerFacts {
        uid: Some(neuron.uid),
        stake: neuron.total_stake,
        validator_permit: neuron.validator_permit,
        registered: true,
    };
    PeerEntry::new(neuron.hotkey.hotkey(), neuronet_peer_id(neuron), quic_addr(neuron).into_iter().collect(), facts)
}

/// Replaces the directory's entries with the metagraph's neurons at once, and reports who
/// joined, left, moved (a new address or identity: their next dial goes there) or changed facts.
pub fn sync(directory: &Directory, metagraph: &Metagraph) -> SyncReport {
    directory.sync(metagraph.neurons.iter().map(peer_entry))
}

/// Keeps `directory` in step with `watcher` (see [`Chain::watch`](neuronet_chain::Chain::watch))
/// until the watcher ends: every update replaces the directory's entries, so a miner that moves
/// or publishes a new identity is dialed at its new address from the next connection on.
pub async fn follow(directory: Directory, mut watcher: Watcher) {
    while let Some(update) = watcher.next().await {
        let report = sync(&directory, &update.metagraph);
        tracing::debug!(
            joined = report.joined.len(),
            left = report.left.len(),
            moved = report.moved.len(),
            changed = report.changed.len(),
            block = update.metagraph.block,
            "directory synced with the metagraph"
        );
    }
}

/// The target for `uid`: its hotkey, resolved through a directory kept by [`sync`].
pub fn target(metagraph: &Metagraph, uid: u16) -> Option<Target> {
    metagraph.neuron(uid).map(|neuron| Target::Hotkey(neuron.hotkey.hotkey()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use neuronet_chain::{AccountId, AxonInfo, NeuronCertificate};
    use neuronet_transport::{certificate_key, NEURONET_CERTIFICATE_ALGORITHM};

    fn neuron(uid: u16, ip: [u8; 4], port: u16, certificate: Option<NeuronCertificate>) -> Neuron {
        let axon =
            AxonInfo { ip: u128::from(u32::from_be_bytes(ip)), port, ip_type: 4, protocol: 4, ..AxonInfo::default() };
        Neuron {
            uid,
            netuid: 1,
            hotkey: AccountId([uid as u8 + 1; 32]),
            coldkey: AccountId([9; 32]),
            active: true,
            axon,
            prometheus: Default::default(),
            certificate,
            stake: vec![],
            total_stake: 1_000 * u64::from(uid),
            rank: 0,
            emission: 0,
            incentive: 0,
            consensus: 0,
            trust: 0,
            validator_trust: 0,
            dividends: 0,
            last_update: 0,
            validator_permit: uid == 0,
            pruning_score: 0,
        }
    }

    fn certificate(peer_id: &PeerId) -> NeuronCertificate {
        NeuronCertificate { public_key: certificate_key(peer_id).unwrap(), algorithm: NEURONET_CERTIFICATE_ALGORITHM }
    }

    #[test]
    fn neuronet_axons_are_dialed_with_their_peer_id_and_others_are_only_facts() {
        let peer_id = libp2p_identity();
        let metagraph = Metagraph {
            netuid: 1,
            block: 1,
            neurons: vec![
                neuron(0, [10, 0, 0, 1], 8091, Some(certificate(&peer_id))),
                neuron(1, [10, 0, 0, 2], 8091, None),
                neuron(2, [0, 0, 0, 0], 0, Some(certificate(&peer_id))),
            ],
        };
        let directory = Directory::new();
        let report = sync(&directory, &metagraph);
        assert_eq!(report.joined.len(), 3);
        let quic = directory.get(&metagraph.neurons[0].hotkey.hotkey()).unwrap();
        assert_eq!(quic.peer_id, Some(peer_id));
        assert_eq!(quic.addrs[0].to_string(), format!("/ip4/10.0.0.1/udp/8091/quic-v1/p2p/{peer_id}"));
        assert_eq!(quic.facts, PeerFacts { uid: Some(0), stake: 0, validator_permit: true, registered: true });
        let legacy = directory.get(&metagraph.neurons[1].hotkey.hotkey()).unwrap();
        assert!(legacy.addrs.is_empty() && legacy.peer_id.is_none());
        assert_eq!(legacy.facts.stake, 1_000);
        assert!(directory.get(&metagraph.neurons[2].hotkey.hotkey()).unwrap().addrs.is_empty());

        // The miner moves: the next sync says so.
        let mut moved = metagraph.clone();
        moved.neurons[0].axon.port = 9000;
        moved.neurons.pop();
        let report = sync(&directory, &moved);
        assert_eq!(report.moved, vec![moved.neurons[0].hotkey.hotkey()]);
        assert_eq!(report.left, vec![metagraph.neurons[2].hotkey.hotkey()]);
        assert!(matches!(target(&moved, 0), Some(Target::Hotkey(h)) if h == moved.neurons[0].hotkey.hotkey()));
    }

    fn libp2p_identity() -> PeerId {
        // An ed25519 identity's PeerId, as every neuronet axon has.
        let seed = [3u8; 32];
        let key = neuronet_synapse::Keypair::from_seed(&seed, neuronet_synapse::CryptoType::Ed25519);
        let mut protobuf = vec![0x08, 0x01, 0x12, 0x20];
        protobuf.extend_from_slice(key.hotkey().public());
        let peer_id = peer_id_of_certificate(NEURONET_CERTIFICATE_ALGORITHM, &protobuf).unwrap();
        assert_eq!(certificate_key(&peer_id).unwrap(), protobuf);
        peer_id
    }
}

/// How a neuron is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// neuronet's QUIC, with the PeerId its certificate names pinned.
    Quic,
    /// bittensor 10's HTTP wire at its axon's address (it published no neuronet certificate).
    Http(std::net::SocketAddr),
}

/// The wire for a serving neuron: QUIC when it published a neuronet certificate, HTTP at its
/// axon's address otherwise; `None` when it does not serve.
pub fn wire(neuron: &Neuron) -> Option<Wire> {
    let addr = neuron.axon.socket_addr()?;
    Some(if quic_addr(neuron).is_some() { Wire::Quic } else { Wire::Http(addr) })
}

/// A validator's caller for every kind of miner a metagraph lists: neuronet axons (those that
/// published a neuronet certificate) over QUIC, with the PeerId their certificate names pinned
/// (through a [`Dendrite`](crate::Dendrite) whose directory [`sync`] keeps), everything else over
/// bittensor 10's HTTP wire at its announced address. A certified axon is never called over HTTP:
/// that wire authenticates no axon, so an impostor at its address could answer there.
#[derive(Debug)]
pub struct Caller {
    quic: crate::Dendrite,
    http: crate::transport::V10Dendrite,
}

impl Caller {
    /// A caller signing as `keypair`, resolving QUIC targets through `dendrite`'s directory.
    pub fn new(dendrite: crate::Dendrite, keypair: crate::Keypair) -> Self {
        Caller { quic: dendrite, http: crate::transport::V10Dendrite::new(keypair) }
    }

    /// The wire `neuron` is called on.
    pub fn wire_for(&self, neuron: &Neuron) -> Option<Wire> {
        wire(neuron)
    }

    /// Sends `request` as synapse `S` to `neuron` and waits up to `timeout`.
    pub async fn query<S: crate::Synapse>(
        &self,
        neuron: &Neuron,
        request: S::Request,
        timeout: std::time::Duration,
    ) -> crate::Response<S::Response> {
        let hotkey = neuron.hotkey.hotkey();
        match wire(neuron) {
            Some(Wire::Http(addr)) => self.http.query::<S>(addr, &hotkey, &request, timeout).await,
            Some(Wire::Quic) => self.quic.query_within::<S>(&Target::Hotkey(hotkey), request, timeout).await,
            None => crate::Response {
                target: hotkey,
                status: crate::Status::Unavailable,
                message: format!("uid {} serves no axon", neuron.uid),
                body: None,
                process_time: std::time::Duration::ZERO,
                elapsed: std::time::Duration::ZERO,
            },
        }
    }
}
