//! The metagraph decoder against real finney answers: every neuron, every field, exactly as the
//! reference decoder (bt-decode) read them.

mod common;

use common::{fixture_bytes, fixture_json};
use neuronet_chain::{decode_neurons_lite, AccountId, Metagraph, Neuron};
use parity_scale_codec::Encode;
use serde_json::Value;

const CURRENT: &str = "runtime_api/neurons_lite_finney_netuid1_b6852690_spec343";
const LEGACY: &str = "runtime_api/neurons_lite_legacy_vecu8_netuid23_b3264157_spec208";

fn account(value: &Value) -> AccountId {
    AccountId::from_ss58(value.as_str().unwrap()).unwrap()
}

fn assert_neuron(neuron: &Neuron, expected: &Value) {
    let uid = neuron.uid;
    let u = |key: &str| expected[key].as_u64().unwrap_or_else(|| panic!("uid {uid}: {key} missing"));
    assert_eq!(neuron.hotkey, account(&expected["hotkey"]), "uid {uid} hotkey");
    assert_eq!(hex::encode(neuron.hotkey.as_bytes()), expected["hotkey_hex"].as_str().unwrap());
    assert_eq!(neuron.coldkey, account(&expected["coldkey"]), "uid {uid} coldkey");
    assert_eq!(u64::from(neuron.uid), u("uid"));
    assert_eq!(u64::from(neuron.netuid), u("netuid"));
    assert_eq!(neuron.active, expected["active"].as_bool().unwrap(), "uid {uid} active");
    let axon = &expected["axon_info"];
    let a = |key: &str| axon[key].as_u64().unwrap_or_else(|| panic!("uid {uid}: axon {key}"));
    assert_eq!(neuron.axon.block, a("block"), "uid {uid} axon block");
    assert_eq!(u64::from(neuron.axon.version), a("version"));
    assert_eq!(neuron.axon.ip, u128::from(a("ip")), "uid {uid} axon ip");
    assert_eq!(u64::from(neuron.axon.port), a("port"));
    assert_eq!(u64::from(neuron.axon.ip_type), a("ip_type"));
    assert_eq!(u64::from(neuron.axon.protocol), a("protocol"));
    assert_eq!(u64::from(neuron.axon.placeholder1), a("placeholder1"));
    assert_eq!(u64::from(neuron.axon.placeholder2), a("placeholder2"));
    assert_eq!(hex::encode(neuron.axon.encode()), axon["scale_hex"].as_str().unwrap(), "uid {uid} axon bytes");
    match axon["ip_str"].as_str() {
        Some(ip) => assert_eq!(neuron.axon.ip_addr().unwrap().to_string(), ip, "uid {uid} axon address"),
        None => assert!(neuron.axon.ip_addr().is_none() && neuron.axon.ip_text() == "0.0.0.0"),
    }
    let prometheus = &expected["prometheus_info"];
    assert_eq!(neuron.prometheus.block, prometheus["block"].as_u64().unwrap());
    assert_eq!(u64::from(neuron.prometheus.version), prometheus["version"].as_u64().unwrap());
    assert_eq!(neuron.prometheus.ip, u128::from(prometheus["ip"].as_u64().unwrap()));
    assert_eq!(u64::from(neuron.prometheus.port), prometheus["port"].as_u64().unwrap());
    assert_eq!(u64::from(neuron.prometheus.ip_type), prometheus["ip_type"].as_u64().unwrap());
    let stake: Vec<(AccountId, u64)> = expected["stake"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (account(&pair[0]), pair[1].as_u64().unwrap()))
        .collect();
    assert_eq!(neuron.stake, stake, "uid {uid} stake");
    assert_eq!(neuron.total_stake, u("total_stake_rao"), "uid {uid} total stake");
    assert_eq!(u64::from(neuron.rank), u("rank"));
    assert_eq!(neuron.emission, u("emission"), "uid {uid} emission");
    assert_eq!(u64::from(neuron.incentive), u("incentive"));
    assert_eq!(u64::from(neuron.consensus), u("consensus"));
    assert_eq!(u64::from(neuron.trust), u("trust"));
    assert_eq!(u64::from(neuron.validator_trust), u("validator_trust"));
    assert_eq!(u64::from(neuron.dividends), u("dividends"));
    assert_eq!(neuron.last_update, u("last_update"));
    assert_eq!(neuron.validator_permit, expected["validator_permit"].as_bool().unwrap());
    assert_eq!(u64::from(neuron.pruning_score), u("pruning_score"));
    assert!(neuron.certificate.is_none());
}

fn assert_fixture(name: &str) -> Vec<Neuron> {
    let bytes = fixture_bytes(&format!("{name}.bin"));
    let expected = fixture_json(&format!("{name}.decoded.json"));
    let neurons = decode_neurons_lite(&bytes).unwrap();
    let decoded = expected["decoded"].as_array().unwrap();
    assert_eq!(neurons.len(), decoded.len());
    assert_eq!(neurons.len() as u64, expected["summary"]["count"].as_u64().unwrap());
    for (neuron, expected) in neurons.iter().zip(decoded) {
        assert_neuron(neuron, expected);
    }
    let summary = &expected["summary"];
    let total: u64 = neurons.iter().map(|n| n.total_stake).sum();
    assert_eq!(total, summary["total_stake_rao"].as_u64().unwrap());
    assert_eq!(
        neurons.iter().filter(|n| n.validator_permit).count() as u64,
        summary["validator_permits"].as_u64().unwrap()
    );
    assert_eq!(neurons.iter().filter(|n| n.active).count() as u64, summary["active"].as_u64().unwrap());
    assert_eq!(
        neurons.iter().filter(|n| n.axon.is_serving()).count() as u64,
        summary["serving_axons"].as_u64().unwrap()
    );
    neurons
}

#[test]
fn every_neuron_of_finney_netuid_1_decodes_exactly() {
    let neurons = assert_fixture(CURRENT);
    assert_eq!(neurons.len(), 1024);
}

#[test]
fn the_legacy_byte_wrapped_answer_decodes_exactly() {
    let neurons = assert_fixture(LEGACY);
    assert_eq!(neurons.len(), 19);
}

#[test]
fn a_metagraph_finds_neurons_by_uid_and_hotkey_and_prints_them_as_json() {
    let bytes = fixture_bytes(&format!("{CURRENT}.bin"));
    let metagraph = Metagraph::from_neurons_lite(1, 6_852_690, &bytes).unwrap();
    let last = metagraph.neuron(1023).unwrap();
    assert_eq!(metagraph.by_hotkey(&last.hotkey).unwrap().uid, 1023);
    assert_eq!(metagraph.validators().count(), 12);
    let json = metagraph.to_json();
    assert_eq!(json["netuid"], 1);
    assert_eq!(json["block"], 6_852_690);
    let neurons = json["neurons"].as_array().unwrap();
    assert_eq!(neurons.len(), 1024);
    let serving = neurons.iter().find(|n| n["axon"]["ip"] != "0.0.0.0").unwrap();
    let uid = serving["uid"].as_u64().unwrap() as u16;
    let neuron = metagraph.neuron(uid).unwrap();
    assert_eq!(serving["axon"]["ip"], neuron.axon.ip_addr().unwrap().to_string());
    assert_eq!(serving["hotkey"], neuron.hotkey.to_ss58());
    assert_eq!(serving["stake"], neuron.total_stake);
    assert_eq!(serving["neuronet"], false);
}

#[test]
fn truncated_answers_are_errors_naming_the_field() {
    let bytes = fixture_bytes(&format!("{CURRENT}.bin"));
    // Cut inside the first neuron's axon (hotkey 32 + coldkey 32 + uid 1 + netuid 1 + active 1).
    let cut = 3 + 32 + 32 + 1 + 1 + 1 + 20;
    let error = decode_neurons_lite(&bytes[..cut]).unwrap_err().to_string();
    assert!(error.contains("NeuronInfoLite"), "{error}");
    assert!(error.contains("axon_info"), "{error}");
    assert!(decode_neurons_lite(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_neurons_lite(&longer).is_err(), "trailing bytes are not ignored");
}
