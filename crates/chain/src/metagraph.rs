//! A subnet's metagraph: every neuron, as `NeuronInfoRuntimeApi_get_neurons_lite` answers.

use crate::account::AccountId;
use crate::error::{Error, Result};
use crate::neuron::{normalised, Neuron, NeuronInfoLite};
use parity_scale_codec::DecodeAll;

/// The neurons of one subnet at one block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metagraph {
    /// The subnet.
    pub netuid: u16,
    /// The block the metagraph was read at.
    pub block: u64,
    /// The neurons, in uid order.
    pub neurons: Vec<Neuron>,
}

impl Metagraph {
    /// A metagraph of `netuid` at `block` from the runtime API's answer (current or legacy form,
    /// see [`decode_neurons_lite`]).
    pub fn from_neurons_lite(netuid: u16, block: u64, answer: &[u8]) -> Result<Self> {
        let mut neurons = decode_neurons_lite(answer)?;
        neurons.sort_by_key(|n| n.uid);
        Ok(Metagraph { netuid, block, neurons })
    }

    /// The neuron with `uid`.
    pub fn neuron(&self, uid: u16) -> Option<&Neuron> {
        self.neurons.binary_search_by_key(&uid, |n| n.uid).ok().and_then(|i| self.neurons.get(i))
    }

    /// The neuron registered with `hotkey`.
    pub fn by_hotkey(&self, hotkey: &AccountId) -> Option<&Neuron> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }

    /// The neurons whose axon serves.
    pub fn serving(&self) -> impl Iterator<Item = &Neuron> {
        self.neurons.iter().filter(|n| n.axon.is_serving())
    }

    /// The neurons holding a validator permit.
    pub fn validators(&self) -> impl Iterator<Item = &Neuron> {
        self.neurons.iter().filter(|n| n.validator_permit)
    }

    /// The metagraph as JSON: `{"netuid", "block", "neurons": [{"uid", "hotkey", "coldkey",
    /// "active", "axon": {"ip", "port", "ip_type", "protocol"}, "stake", "validator_permit",
    /// "incentive", "dividends", "trust", "consensus", "emission", "last_update", "neuronet"}]}`.
    /// Addresses are text (`0.0.0.0` while not serving), stake and emission in rao, scores as
    /// fractions of 1 (the chain's u16 over 65535, as the Python SDK shows them); `neuronet` tells
    /// whether the neuron published a certificate.
    pub fn to_json(&self) -> serde_json::Value {
        let neurons: Vec<serde_json::Value> = self
            .neurons
            .iter()
            .map(|n| {
                serde_json::json!({
                    "uid": n.uid,
                    "hotkey": n.hotkey,
                    "coldkey": n.coldkey,
                    "active": n.active,
                    "axon": {
                        "ip": n.axon.ip_text(),
                        "port": n.axon.port,
                        "ip_type": n.axon.ip_type,
                        "protocol": n.axon.protocol,
                    },
                    "stake": n.total_stake,
                    "validator_permit": n.validator_permit,
                    "incentive": normalised(n.incentive),
                    "dividends": normalised(n.dividends),
                    "trust": normalised(n.trust),
                    "consensus": normalised(n.consensus),
                    "emission": n.emission,
                    "last_update": n.last_update,
                    "neuronet": n.certificate.is_some(),
                })
            })
            .collect();
        serde_json::json!({ "netuid": self.netuid, "block": self.block, "neurons": neurons })
    }
}

/// Decodes `NeuronInfoRuntimeApi_get_neurons_lite`'s answer: a SCALE `Vec<NeuronInfoLite>`, or,
/// from old runtimes (spec ~208), the same wrapped once more in a SCALE `Vec<u8>`. Every byte must
/// be used; an answer that is neither form is an error naming the field that failed.
pub fn decode_neurons_lite(answer: &[u8]) -> Result<Vec<Neuron>> {
    let current = Vec::<NeuronInfoLite>::decode_all(&mut &answer[..]);
    let raw = match current {
        Ok(raw) => raw,
        Err(error) => {
            // The legacy form: a byte vector holding the current form.
            let legacy = Vec::<u8>::decode_all(&mut &answer[..])
                .ok()
                .and_then(|inner| Vec::<NeuronInfoLite>::decode_all(&mut &inner[..]).ok());
            legacy.ok_or_else(|| Error::decode("Vec<NeuronInfoLite>", error))?
        }
    };
    Ok(raw.into_iter().map(Neuron::from).collect())
}

/// Decodes one `NeuronInfoLite` (the answer of `get_neuron_lite` is an `Option` of it).
pub fn decode_neuron_lite(answer: &[u8]) -> Result<Option<Neuron>> {
    Option::<NeuronInfoLite>::decode_all(&mut &answer[..])
        .map(|raw| raw.map(Neuron::from))
        .map_err(|e| Error::decode("Option<NeuronInfoLite>", e))
}
