//! `neuronet metagraph --json` against a WebSocket server answering with real finney bytes
//! (spec-343 metadata, the 1,024 neurons of netuid 1 at block 6852690).

#[path = "../../chain/tests/common/mod.rs"]
mod common;

use common::replay::{self, Recorded};
use common::{fixture_bytes, fixture_json};
use parity_scale_codec::{Compact, Encode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metagraph_json_prints_every_neuron_of_a_real_subnet() {
    let recorded = Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), fixture_bytes("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.bin")),
        certificates: vec![],
    };
    let (url, server) = replay::start(recorded).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_neuronet"))
        .args(["metagraph", "--netuid", "1", "--json", "--subtensor.network", &url])
        .output()
        .await
        .unwrap();
    server.stop().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["netuid"], 1);
    assert_eq!(printed["block"], replay::HEAD_NUMBER);
    let neurons = printed["neurons"].as_array().unwrap();
    let expected = fixture_json("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.decoded.json");
    let expected = expected["decoded"].as_array().unwrap();
    assert_eq!(neurons.len(), 1024);
    for (neuron, expected) in neurons.iter().zip(expected) {
        let uid = &expected["uid"];
        assert_eq!(neuron["uid"], *uid);
        assert_eq!(neuron["hotkey"], expected["hotkey"], "uid {uid}");
        assert_eq!(neuron["coldkey"], expected["coldkey"], "uid {uid}");
        assert_eq!(neuron["active"], expected["active"], "uid {uid}");
        let axon = &expected["axon_info"];
        let ip = axon["ip_str"].as_str().unwrap_or("0.0.0.0");
        assert_eq!(neuron["axon"]["ip"], ip, "uid {uid}");
        assert_eq!(neuron["axon"]["port"], axon["port"], "uid {uid}");
        assert_eq!(neuron["axon"]["ip_type"], axon["ip_type"], "uid {uid}");
        assert_eq!(neuron["axon"]["protocol"], axon["protocol"], "uid {uid}");
        assert_eq!(neuron["stake"], expected["total_stake_rao"], "uid {uid}");
        assert_eq!(neuron["validator_permit"], expected["validator_permit"], "uid {uid}");
        assert_eq!(neuron["emission"], expected["emission"], "uid {uid}");
        assert_eq!(neuron["last_update"], expected["last_update"], "uid {uid}");
        for score in ["incentive", "dividends", "trust", "consensus"] {
            // A fraction of 1 that gives back the chain's exact u16.
            let shown = neuron[score].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&shown), "uid {uid} {score}");
            assert_eq!((shown * 65535.0).round() as u64, expected[score].as_u64().unwrap(), "uid {uid} {score}");
        }
        assert_eq!(neuron["neuronet"], false);
    }
}

#[test]
fn a_node_that_is_not_there_is_a_clear_error() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_neuronet"))
        .args(["metagraph", "--netuid", "1", "--subtensor.network", "nowhere"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("neither a network"), "{stderr}");
}

fn neuronet(args: &[&str], wallets: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_neuronet"))
        .args(args)
        .args(["--wallet.path", wallets.to_str().unwrap()])
        .env("NEURONET_WALLET_PASSWORD", "pw")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_report_the_chains_own_error_and_reads_print_balances() {
    let replay = replay::Replay::new(Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), fixture_bytes("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.bin")),
        certificates: vec![],
    });
    let metadata = subxt::Metadata::decode_from(&fixture_bytes("metadata/finney_spec343_v15.scale")[..]).unwrap();
    *replay.events.lock().unwrap() =
        common::events::module_error(&metadata, "SubtensorModule", "HotKeyNotRegisteredInSubNet");
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let wallets = tempfile::tempdir().unwrap();
    let dir = wallets.path().to_owned();
    let url2 = url.clone();
    let (created, served, balance) = tokio::task::spawn_blocking(move || {
        let created =
            neuronet(&["wallet", "new-hotkey", "--wallet.name", "m", "--wallet.hotkey", "h", "--uri", "//Alice"], &dir);
        let served = neuronet(
            &[
                "serve-axon",
                "--netuid",
                "1",
                "--axon.ip",
                "203.0.113.7",
                "--axon.port",
                "8091",
                "--wallet.name",
                "m",
                "--wallet.hotkey",
                "h",
                "--subtensor.network",
                &url2,
            ],
            &dir,
        );
        let balance = neuronet(
            &[
                "wallet",
                "balance",
                "--ss58",
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                "--json",
                "--subtensor.network",
                &url2,
            ],
            &dir,
        );
        (created, served, balance)
    })
    .await
    .unwrap();
    server.stop().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(!served.status.success());
    let stderr = String::from_utf8_lossy(&served.stderr);
    assert!(stderr.contains("SubtensorModule::HotKeyNotRegisteredInSubNet"), "{stderr}");
    assert_eq!(replay.submitted.lock().unwrap().len(), 1, "one serve_axon went to the node");
    // It announced the axon with its certificate: the identity made for the wallet's hotkey.
    let sent = hex::decode(replay.submitted.lock().unwrap()[0].trim_start_matches("0x")).unwrap();
    let identity = wallets.path().join("m/neuronet/h.identity");
    assert!(identity.exists(), "the identity is kept for the miner to use");
    assert!(stderr.contains("publishing identity 12D3KooW"), "{stderr}");
    let call_at = sent.windows(2).position(|w| w == [0x07, 0x28]).expect("serve_axon_tls");
    assert_eq!(&sent[sent.len() - 36 - 2..sent.len() - 36], &[37 << 2, 0x4e], "the certificate: 'N' and a 36-byte key");
    assert!(call_at < sent.len() - 38);
    assert!(balance.status.success(), "{}", String::from_utf8_lossy(&balance.stderr));
    let printed: Value = serde_json::from_slice(&balance.stdout).unwrap();
    assert_eq!(printed["free_rao"], 0);
    assert_eq!(printed["free_tao"], "0.000000000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_is_signed_by_the_encrypted_coldkey_and_included() {
    let replay = replay::Replay::new(Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), Vec::new()),
        certificates: vec![],
    });
    let metadata = subxt::Metadata::decode_from(&fixture_bytes("metadata/finney_spec343_v15.scale")[..]).unwrap();
    *replay.events.lock().unwrap() = common::events::success(&metadata);
    let (url, server) = replay::serve(replay.clone(), "127.0.0.1:0").await;
    let wallets = tempfile::tempdir().unwrap();
    let dir = wallets.path().to_owned();
    let (created, unconfirmed, sent) = tokio::task::spawn_blocking(move || {
        let created = neuronet(&["wallet", "new-coldkey", "--wallet.name", "c"], &dir);
        let transfer = |extra: &[&str]| {
            let mut args = vec!["wallet", "transfer", "--wallet.name", "c", "--subtensor.network", &url];
            args.extend_from_slice(&["--dest", "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "--amount", "1.5"]);
            args.extend_from_slice(extra);
            neuronet(&args, &dir)
        };
        (created, transfer(&[]), transfer(&["--yes", "--json"]))
    })
    .await
    .unwrap();
    server.stop().unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let coldkey = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    // Without a terminal to confirm on, nothing is sent without --yes.
    assert!(!unconfirmed.status.success());
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
    let printed: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(printed["block_hash"], replay::TX_BLOCK);
    let submitted = replay.submitted.lock().unwrap().clone();
    assert_eq!(submitted.len(), 1);
    let tx = hex::decode(submitted[0].trim_start_matches("0x")).unwrap();
    let signer = neuronet_synapse::ss58::decode(&coldkey).unwrap();
    assert_eq!(&tx[2 + 1 + 1..2 + 1 + 33], &signer, "signed by the coldkey");
    // Balances.transfer_keep_alive of 1.5 TAO (compact 1_500_000_000 rao).
    let call = [
        &[0x05, 0x03, 0x00][..],
        &neuronet_synapse::ss58::decode("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty").unwrap()[..],
        &Compact(1_500_000_000u64).encode()[..],
    ]
    .concat();
    assert!(tx.ends_with(&call), "{}", hex::encode(&tx));
}
