//! btcli from bittensor-cli 9.23.2 (async-substrate-interface and cyscale, in a venv the test
//! makes) on the devchain over a real WebSocket: `btcli wallet balance` shows the free balance
//! and stake neuronet's chain client reads.

#[path = "../../chain/tests/common/python.rs"]
mod python;

use std::process::Command;
use std::time::Duration;

use neuronet_chain::{calls, AccountId, Chain};
use neuronet_devchain::{dev_keypair, Config, Devchain};

/// `btcli wallet balance --ss58 <address> --json-output`: its JSON (the balances in TAO).
fn btcli_balance(url: &str, address: &str) -> serde_json::Value {
    let python = python::separate_python("btcli", "btcli.txt");
    let btcli = python.with_file_name("btcli");
    let home = tempfile::tempdir().unwrap();
    let output = Command::new(btcli)
        .args(["wallet", "balance", "--ss58", address, "--network", url, "--json-output"])
        .env("HOME", home.path())
        // Wide enough that the JSON is not wrapped.
        .env("COLUMNS", "10000")
        .output()
        .expect("running btcli");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "btcli failed: {stdout}\n{stderr}");
    let json = stdout.find('{').map_or("", |start| &stdout[start..]);
    serde_json::from_str(json.trim_end()).unwrap_or_else(|e| panic!("btcli printed {stdout:?} ({stderr}): {e}"))
}

async fn balance(url: &str, address: &str) -> serde_json::Value {
    let (url, address) = (url.to_owned(), address.to_owned());
    tokio::task::spawn_blocking(move || btcli_balance(&url, &address)).await.unwrap()
}

fn rao(tao: &serde_json::Value) -> u64 {
    (tao.as_f64().unwrap_or_else(|| panic!("a number of TAO: {tao}")) * 1e9).round() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn btcli_wallet_balance_shows_the_chains_balance() {
    let chain = Devchain::start(Config { block_time: Duration::from_millis(100), ..Config::default() }).await.unwrap();
    let url = chain.url();
    let client = Chain::connect(&url).await.unwrap();
    let alice = dev_keypair("//Alice");
    let bob = dev_keypair("//Bob");
    let (alice_id, bob_id) = (AccountId::from(alice.hotkey()), AccountId::from(bob.hotkey()));
    client.submit(&alice, &calls::register_network(&alice_id)).await.unwrap();
    client.submit(&bob, &calls::burned_register(1, &bob_id)).await.unwrap();

    let seen = balance(&url, &bob_id.to_string()).await;
    let free = client.free_balance(&bob_id).await.unwrap();
    let entry = seen["balances"].as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(entry["coldkey"], bob_id.to_string(), "{seen}");
    assert_eq!(rao(&entry["free"]), free, "{seen}");
    assert_eq!(rao(&entry["staked"]), 0, "{seen}");

    // Stake 1:1: 5 TAO staked shows as 5 TAO of stake, and the free balance drops.
    client.submit(&bob, &calls::add_stake(&bob_id, 1, 5_000_000_000)).await.unwrap();
    let seen = balance(&url, &bob_id.to_string()).await;
    let free = client.free_balance(&bob_id).await.unwrap();
    assert_eq!(rao(&seen["totals"]["free"]), free, "{seen}");
    assert_eq!(rao(&seen["totals"]["staked"]), 5_000_000_000, "{seen}");
    chain.stop().await;
}
