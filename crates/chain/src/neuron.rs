//! The chain's neuron records, as SCALE lays them out (`NeuronInfoLite`, `AxonInfo`,
//! `PrometheusInfo`, `NeuronCertificate`), and the typed [`Neuron`] a metagraph holds.

use crate::account::AccountId;
use parity_scale_codec::{Compact, Decode, Encode};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where a neuron's axon serves, as the chain stores it (34 bytes of SCALE). An axon that does
/// not serve has ip 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Encode, Decode, serde::Serialize)]
pub struct AxonInfo {
    /// The block of the last update.
    pub block: u64,
    /// The software version the neuron announced.
    pub version: u32,
    /// The address as an integer: an IPv4 address in its low 32 bits, or an IPv6 address.
    pub ip: u128,
    /// The port.
    pub port: u16,
    /// 4 or 6 (0 while not serving).
    pub ip_type: u8,
    /// The protocol byte (4 by default in the Python SDKs; it does not mark a neuronet axon).
    pub protocol: u8,
    /// Unused by the chain.
    pub placeholder1: u8,
    /// Unused by the chain.
    pub placeholder2: u8,
}

impl AxonInfo {
    /// The address, or `None` while the axon does not serve (ip 0). An `ip_type` of 6 reads the
    /// integer as IPv6; anything else below 2^32 as IPv4, as the Python SDK does.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        ip_of(self.ip, self.ip_type)
    }

    /// The axon's socket address, when it serves.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        self.ip_addr().filter(|_| self.port != 0).map(|ip| SocketAddr::new(ip, self.port))
    }

    /// Whether the axon serves (a non-zero address and port).
    pub fn is_serving(&self) -> bool {
        self.socket_addr().is_some()
    }

    /// The address as text, `0.0.0.0` while not serving (as btcli shows it).
    pub fn ip_text(&self) -> String {
        self.ip_addr().map_or_else(|| Ipv4Addr::UNSPECIFIED.to_string(), |ip| ip.to_string())
    }
}

/// An address as the chain stores it: the integer and the ip_type (4 or 6).
pub fn ip_to_chain(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 4),
        IpAddr::V6(v6) => (u128::from(v6), 6),
    }
}

fn ip_of(ip: u128, ip_type: u8) -> Option<IpAddr> {
    if ip == 0 {
        return None;
    }
    match (ip_type, u32::try_from(ip)) {
        (6, _) => Some(IpAddr::V6(Ipv6Addr::from(ip))),
        (_, Ok(v4)) => Some(IpAddr::V4(Ipv4Addr::from(v4))),
        (_, Err(_)) => Some(IpAddr::V6(Ipv6Addr::from(ip))),
    }
}

/// Where a neuron serves Prometheus metrics (rarely set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Encode, Decode, serde::Serialize)]
pub struct PrometheusInfo {
    /// The block of the last update.
    pub block: u64,
    /// The announced version.
    pub version: u32,
    /// The address as an integer (see [`AxonInfo::ip`]).
    pub ip: u128,
    /// The port.
    pub port: u16,
    /// 4 or 6.
    pub ip_type: u8,
}

/// A neuron's published public key (`serve_axon_tls`): what tells a dendrite that the axon
/// speaks neuronet's QUIC and which identity to pin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Encode, Decode, serde::Serialize)]
pub struct NeuronCertificate {
    /// The public key (at most 64 bytes).
    pub public_key: Vec<u8>,
    /// The key's algorithm byte.
    pub algorithm: u8,
}

impl NeuronCertificate {
    /// The certificate as `serve_axon_tls` takes it: the algorithm byte, then the key.
    pub fn to_call_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + self.public_key.len());
        bytes.push(self.algorithm);
        bytes.extend_from_slice(&self.public_key);
        bytes
    }
}

/// `NeuronInfoLite` exactly as the runtime API encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub(crate) struct NeuronInfoLite {
    pub(crate) hotkey: AccountId,
    pub(crate) coldkey: AccountId,
    pub(crate) uid: Compact<u16>,
    pub(crate) netuid: Compact<u16>,
    pub(crate) active: bool,
    pub(crate) axon_info: AxonInfo,
    pub(crate) prometheus_info: PrometheusInfo,
    pub(crate) stake: Vec<(AccountId, Compact<u64>)>,
    pub(crate) rank: Compact<u16>,
    pub(crate) emission: Compact<u64>,
    pub(crate) incentive: Compact<u16>,
    pub(crate) consensus: Compact<u16>,
    pub(crate) trust: Compact<u16>,
    pub(crate) validator_trust: Compact<u16>,
    pub(crate) dividends: Compact<u16>,
    pub(crate) last_update: Compact<u64>,
    pub(crate) validator_permit: bool,
    pub(crate) pruning_score: Compact<u16>,
}

/// One neuron of a subnet. Scores are the chain's raw u16 values (65535 = 1.0);
/// [`normalised`] turns one into the fraction the Python SDK shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neuron {
    /// The neuron's uid on its subnet.
    pub uid: u16,
    /// The subnet.
    pub netuid: u16,
    /// The hotkey the neuron is registered with.
    pub hotkey: AccountId,
    /// The coldkey that owns the hotkey.
    pub coldkey: AccountId,
    /// Whether the neuron set weights or served within the subnet's activity cutoff.
    pub active: bool,
    /// Its axon.
    pub axon: AxonInfo,
    /// Its Prometheus endpoint.
    pub prometheus: PrometheusInfo,
    /// Its published certificate, when it has one (read separately from `get_neurons_lite`).
    pub certificate: Option<NeuronCertificate>,
    /// Stake behind the hotkey per coldkey, in rao.
    pub stake: Vec<(AccountId, u64)>,
    /// Total stake behind the hotkey, in rao.
    pub total_stake: u64,
    /// Rank (raw u16).
    pub rank: u16,
    /// Emission per block, in rao.
    pub emission: u64,
    /// Incentive (raw u16).
    pub incentive: u16,
    /// Consensus (raw u16).
    pub consensus: u16,
    /// Trust (raw u16).
    pub trust: u16,
    /// Validator trust (raw u16).
    pub validator_trust: u16,
    /// Dividends (raw u16).
    pub dividends: u16,
    /// The block of its last weights update.
    pub last_update: u64,
    /// Whether it holds a validator permit.
    pub validator_permit: bool,
    /// Pruning score (raw u16).
    pub pruning_score: u16,
}

/// A raw u16 score as a fraction of 1 (the chain's 65535 is 1.0).
pub fn normalised(raw: u16) -> f64 {
    f64::from(raw) / f64::from(u16::MAX)
}

impl Neuron {
    /// Validator trust as a fraction of 1.
    pub fn validator_trust_normalised(&self) -> f64 {
        normalised(self.validator_trust)
    }
}

impl From<NeuronInfoLite> for Neuron {
    fn from(raw: NeuronInfoLite) -> Self {
        let stake: Vec<(AccountId, u64)> = raw.stake.into_iter().map(|(coldkey, amount)| (coldkey, amount.0)).collect();
        let total_stake = stake.iter().fold(0u64, |sum, (_, amount)| sum.saturating_add(*amount));
        Neuron {
            uid: raw.uid.0,
            netuid: raw.netuid.0,
            hotkey: raw.hotkey,
            coldkey: raw.coldkey,
            active: raw.active,
            axon: raw.axon_info,
            prometheus: raw.prometheus_info,
            certificate: None,
            stake,
            total_stake,
            rank: raw.rank.0,
            emission: raw.emission.0,
            incentive: raw.incentive.0,
            consensus: raw.consensus.0,
            trust: raw.trust.0,
            validator_trust: raw.validator_trust.0,
            dividends: raw.dividends.0,
            last_update: raw.last_update.0,
            validator_permit: raw.validator_permit,
            pruning_score: raw.pruning_score.0,
        }
    }
}
