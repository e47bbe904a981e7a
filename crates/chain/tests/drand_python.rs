//! Timelocked commits against the Python SDKs' own timelock libraries (pip bittensor-core 0.1.5,
//! what bittensor 11.3.0 commits weights with, and bittensor-drand 2.0.0 and 1.2.0), in venvs the
//! test makes: each side opens the other's commitment with drand quicknet's real round-1000
//! signature, and both compute the same reveal round for a chain state, by both epoch rules.

mod common;

use common::python;
use neuronet_chain::timelock::{
    decrypt_with_signature, encrypt_for_round, legacy_reveal_round, reveal_round, EpochSchedule, WeightsTlockPayload,
};
use neuronet_chain::{normalise, AccountId};
use parity_scale_codec::Encode;

const ROUND_1000_SIGNATURE: &str =
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

fn payload() -> Vec<u8> {
    let alice = AccountId::from_ss58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").unwrap();
    let weights = normalise(&[0, 1, 7], &[1.0, 0.5, 0.25]).unwrap();
    WeightsTlockPayload::new(&alice, &weights, 3).encode()
}

/// bittensor-drand (bittensor 10, btcli) and bittensor-core (bittensor 11.3.0).
const LIBRARIES: [&str; 2] = ["drand", "core"];

#[test]
fn neuronets_commitment_opens_in_python_and_pythons_in_neuronet() {
    let payload = payload();
    for library in LIBRARIES {
        let ours = encrypt_for_round(&payload, 1000).unwrap();
        let opened =
            python::run("drand_peer.py", &[library, "decrypt", &hex::encode(&ours), "1000", ROUND_1000_SIGNATURE]);
        assert_eq!(opened["plaintext"], hex::encode(&payload), "{library}");

        let theirs = python::run("drand_peer.py", &[library, "encrypt", &hex::encode(&payload), "1000"]);
        let theirs = hex::decode(theirs["commit"].as_str().unwrap()).unwrap();
        let opened = decrypt_with_signature(&theirs, &hex::decode(ROUND_1000_SIGNATURE).unwrap()).unwrap();
        assert_eq!(opened, payload, "{library}");
    }
}

#[test]
fn the_reveal_round_matches_the_python_sdks_for_a_chain_state() {
    for (schedule, head, block_time) in [
        (
            EpochSchedule {
                tempo: 10,
                reveal_period_epochs: 1,
                last_epoch_block: 95,
                epoch_index: 7,
                blocks_since_last_step: 5,
                pending_epoch_at: 0,
            },
            100u64,
            12.0f64,
        ),
        (
            EpochSchedule {
                tempo: 360,
                reveal_period_epochs: 2,
                last_epoch_block: 6_852_500,
                epoch_index: 19_000,
                blocks_since_last_step: 190,
                pending_epoch_at: 0,
            },
            6_852_690,
            12.0,
        ),
        (
            EpochSchedule {
                tempo: 10,
                reveal_period_epochs: 1,
                last_epoch_block: 95,
                epoch_index: 7,
                blocks_since_last_step: 5,
                pending_epoch_at: 102,
            },
            100,
            0.25,
        ),
    ] {
        let state = serde_json::json!({
            "uids": [0, 1], "values": [65535, 32768], "version_key": 0,
            "last_epoch_block": schedule.last_epoch_block, "pending_epoch_at": schedule.pending_epoch_at,
            "epoch_index": schedule.epoch_index, "tempo": schedule.tempo,
            "blocks_since_last_step": schedule.blocks_since_last_step, "current_block": head,
            "reveal_period_epochs": schedule.reveal_period_epochs, "block_time": block_time,
            "hotkey": hex::encode([0u8; 32]),
        });
        for library in LIBRARIES {
            let theirs = python::run("drand_peer.py", &[library, "commit-v2", &state.to_string()]);
            let round = theirs["round"].as_u64().unwrap();
            let (before, after) = (theirs["before"].as_u64().unwrap(), theirs["after"].as_u64().unwrap());
            let block_time_ms = (block_time * 1000.0) as u64;
            let earliest = reveal_round(schedule, head, before, block_time_ms).unwrap();
            let latest = reveal_round(schedule, head, after + 1, block_time_ms).unwrap();
            assert!(
                (earliest..=latest).contains(&round),
                "{library} {schedule:?}: python {round}, neuronet {earliest}..={latest}"
            );
        }
    }
}

#[test]
fn the_reveal_round_by_the_legacy_rule_matches_bittensor_drand_1_2() {
    for (tempo, head, netuid, period, block_time) in
        [(360u16, 6_852_690u64, 1u16, 1u64, 12.0f64), (10, 100, 1, 2, 12.0), (99, 12_345, 23, 3, 0.25)]
    {
        let state = serde_json::json!({
            "uids": [0, 1], "values": [65535, 32768], "version_key": 0, "tempo": tempo,
            "current_block": head, "netuid": netuid, "reveal_period_epochs": period,
            "block_time": block_time, "hotkey": hex::encode([0u8; 32]),
        });
        let theirs = python::run_legacy_drand("drand_peer.py", &["drand", "commit-v1", &state.to_string()]);
        let round = theirs["round"].as_u64().unwrap();
        let (before, after) = (theirs["before"].as_u64().unwrap(), theirs["after"].as_u64().unwrap());
        let block_time_ms = (block_time * 1000.0) as u64;
        let earliest = legacy_reveal_round(head, netuid, tempo, period, before, block_time_ms);
        let latest = legacy_reveal_round(head, netuid, tempo, period, after + 1, block_time_ms);
        assert!(
            (earliest..=latest).contains(&round),
            "tempo {tempo} head {head}: python {round}, neuronet {earliest}..={latest}"
        );
    }
}
