//! The calls neuronet sends, built by name against the metadata the node serves (so a runtime
//! upgrade that moves a call's index changes nothing here), with their arguments in the chain's
//! order. Every one is checked against real finney metadata in the tests.

use crate::account::AccountId;
use crate::neuron::{ip_to_chain, NeuronCertificate};
use crate::weights::NormalisedWeights;
use std::net::IpAddr;
use subxt::dynamic::Value;
use subxt::tx::DynamicPayload;

/// A call, ready to be signed.
pub type Call = DynamicPayload<Vec<Value>>;

fn int(n: impl Into<u128>) -> Value {
    Value::u128(n.into())
}

fn account(account: &AccountId) -> Value {
    Value::from_bytes(account.as_bytes())
}

fn u16s(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|v| int(*v)))
}

/// The software version neuronet announces in `serve_axon` (major * 1000 + minor * 10 + patch,
/// Bittensor's encoding).
pub fn version_as_int() -> u32 {
    let part = |s: &str| s.parse::<u32>().unwrap_or(0);
    let mut parts = env!("CARGO_PKG_VERSION").split('.');
    let (major, minor, patch) =
        (part(parts.next().unwrap_or("0")), part(parts.next().unwrap_or("0")), part(parts.next().unwrap_or("0")));
    major * 1000 + minor * 10 + patch
}

/// Where an axon serves, as `serve_axon` announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving {
    /// The subnet.
    pub netuid: u16,
    /// The software version ([`version_as_int`] for neuronet's own).
    pub version: u32,
    /// The public address.
    pub ip: IpAddr,
    /// The port (UDP for neuronet's QUIC, TCP for HTTP, the same number).
    pub port: u16,
    /// The protocol byte (4 is what the Python SDKs publish).
    pub protocol: u8,
}

impl Serving {
    /// neuronet's axon at `ip:port` on `netuid`, with neuronet's version and protocol 4.
    pub fn new(netuid: u16, ip: IpAddr, port: u16) -> Self {
        Serving { netuid, version: version_as_int(), ip, port, protocol: 4 }
    }
}

fn axon_args(Serving { netuid, version, ip, port, protocol }: Serving) -> Vec<Value> {
    let (ip, ip_type) = ip_to_chain(ip);
    vec![int(netuid), int(version), Value::u128(ip), int(port), int(ip_type), int(protocol), int(0u8), int(0u8)]
}

/// `SubtensorModule::serve_axon`: announces the axon at `ip:port` (signed by the hotkey).
pub fn serve_axon(serving: Serving) -> Call {
    subxt::dynamic::tx("SubtensorModule", "serve_axon", axon_args(serving))
}

/// `SubtensorModule::serve_axon_tls`: announces the axon with its certificate (a neuronet axon's
/// QUIC identity).
pub fn serve_axon_tls(serving: Serving, certificate: &NeuronCertificate) -> Call {
    let mut args = axon_args(serving);
    args.push(Value::from_bytes(certificate.to_call_bytes()));
    subxt::dynamic::tx("SubtensorModule", "serve_axon_tls", args)
}

/// `SubtensorModule::set_weights` (refused with `CommitRevealEnabled` while the subnet has
/// commit-reveal on).
pub fn set_weights(netuid: u16, weights: &NormalisedWeights, version_key: u64) -> Call {
    let args = vec![int(netuid), u16s(&weights.uids), u16s(&weights.values), int(version_key)];
    subxt::dynamic::tx("SubtensorModule", "set_weights", args)
}

/// `SubtensorModule::set_mechanism_weights`: weights for one of a subnet's mechanisms (0 is the
/// main one).
pub fn set_mechanism_weights(netuid: u16, mecid: u8, weights: &NormalisedWeights, version_key: u64) -> Call {
    let args = vec![int(netuid), int(mecid), u16s(&weights.uids), u16s(&weights.values), int(version_key)];
    subxt::dynamic::tx("SubtensorModule", "set_mechanism_weights", args)
}

/// `SubtensorModule::commit_weights`: commits to [`commit_hash`](crate::commit_hash).
pub fn commit_weights(netuid: u16, hash: [u8; 32]) -> Call {
    subxt::dynamic::tx("SubtensorModule", "commit_weights", vec![int(netuid), Value::from_bytes(hash)])
}

/// `SubtensorModule::reveal_weights`: reveals what a commit hashed.
pub fn reveal_weights(netuid: u16, weights: &NormalisedWeights, salt: &[u16], version_key: u64) -> Call {
    let args = vec![int(netuid), u16s(&weights.uids), u16s(&weights.values), u16s(salt), int(version_key)];
    subxt::dynamic::tx("SubtensorModule", "reveal_weights", args)
}

/// `SubtensorModule::burned_register`: registers `hotkey` on `netuid`, the coldkey (the signer)
/// paying the burn.
pub fn burned_register(netuid: u16, hotkey: &AccountId) -> Call {
    subxt::dynamic::tx("SubtensorModule", "burned_register", vec![int(netuid), account(hotkey)])
}

/// `SubtensorModule::register_network`: creates a subnet owned by the signing coldkey.
pub fn register_network(hotkey: &AccountId) -> Call {
    subxt::dynamic::tx("SubtensorModule", "register_network", vec![account(hotkey)])
}

/// `SubtensorModule::add_stake`: stakes `rao` from the signing coldkey to `hotkey` on `netuid`.
pub fn add_stake(hotkey: &AccountId, netuid: u16, rao: u64) -> Call {
    subxt::dynamic::tx("SubtensorModule", "add_stake", vec![account(hotkey), int(netuid), int(rao)])
}

/// `SubtensorModule::remove_stake`: unstakes `rao` (alpha) from `hotkey` on `netuid`.
pub fn remove_stake(hotkey: &AccountId, netuid: u16, rao: u64) -> Call {
    subxt::dynamic::tx("SubtensorModule", "remove_stake", vec![account(hotkey), int(netuid), int(rao)])
}

fn transfer(call: &str, dest: &AccountId, rao: u64) -> Call {
    let dest = Value::unnamed_variant("Id", [account(dest)]);
    subxt::dynamic::tx("Balances", call, vec![dest, int(rao)])
}

/// `Balances::transfer_keep_alive`: refused when it would leave the sender below the existential
/// deposit.
pub fn transfer_keep_alive(dest: &AccountId, rao: u64) -> Call {
    transfer("transfer_keep_alive", dest, rao)
}

/// `Balances::transfer_allow_death`: may empty the sender's account.
pub fn transfer_allow_death(dest: &AccountId, rao: u64) -> Call {
    transfer("transfer_allow_death", dest, rao)
}

/// `SubtensorModule::commit_timelocked_weights`: weights encrypted to drand round `reveal_round`
/// ([`timelock::encrypt_for_round`](crate::timelock::encrypt_for_round) over a
/// [`WeightsTlockPayload`](crate::timelock::WeightsTlockPayload)), which the chain opens itself
/// in the reveal epoch.
pub fn commit_timelocked_weights(netuid: u16, commit: &[u8], reveal_round: u64, version: u16) -> Call {
    let args = vec![int(netuid), Value::from_bytes(commit), int(reveal_round), int(version)];
    subxt::dynamic::tx("SubtensorModule", "commit_timelocked_weights", args)
}

/// `SubtensorModule::commit_timelocked_mechanism_weights`: the same for one of the subnet's
/// mechanisms (what bittensor 11.3.0 sends).
pub fn commit_timelocked_mechanism_weights(
    netuid: u16,
    mecid: u8,
    commit: &[u8],
    reveal_round: u64,
    version: u16,
) -> Call {
    let args = vec![int(netuid), int(mecid), Value::from_bytes(commit), int(reveal_round), int(version)];
    subxt::dynamic::tx("SubtensorModule", "commit_timelocked_mechanism_weights", args)
}

/// `SubtensorModule::commit_mechanism_weights`: [`commit_weights`] for one of the subnet's
/// mechanisms (hash over [`netuid_index`](crate::netuid_index)).
pub fn commit_mechanism_weights(netuid: u16, mecid: u8, hash: [u8; 32]) -> Call {
    let args = vec![int(netuid), int(mecid), Value::from_bytes(hash)];
    subxt::dynamic::tx("SubtensorModule", "commit_mechanism_weights", args)
}

/// `SubtensorModule::reveal_mechanism_weights`: [`reveal_weights`] for one of the subnet's
/// mechanisms.
pub fn reveal_mechanism_weights(
    netuid: u16,
    mecid: u8,
    weights: &NormalisedWeights,
    salt: &[u16],
    version_key: u64,
) -> Call {
    let args = vec![int(netuid), int(mecid), u16s(&weights.uids), u16s(&weights.values), u16s(salt), int(version_key)];
    subxt::dynamic::tx("SubtensorModule", "reveal_mechanism_weights", args)
}
