//! A devchain with a state file stops and starts again where it was: the same genesis hash,
//! block numbers going on, balances, subnets and nonces kept, and neuronet's chain client
//! (connecting afresh) still submitting transactions.

use std::time::Duration;

use neuronet_chain::{calls, AccountId, Chain};
use neuronet_devchain::rt::AccountId32;
use neuronet_devchain::{dev_keypair, Config, Devchain, StateFile};
use neuronet_synapse::{CryptoType, Keypair};

fn config() -> Config {
    Config { block_time: Duration::from_millis(100), ..Config::default() }
}

fn account(keypair: &Keypair) -> AccountId {
    AccountId::from(keypair.hotkey())
}

#[tokio::test]
async fn a_restarted_devchain_keeps_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devchain.state");
    let alice = dev_keypair("//Alice");
    let alice_raw = AccountId32(*alice.hotkey().public());
    let receiver = Keypair::generate(12, CryptoType::Sr25519).unwrap();

    let chain = Devchain::start_with_state(config(), Some(StateFile::new(&path))).await.unwrap();
    let genesis = chain.node().genesis();
    let client = Chain::connect(&chain.url()).await.unwrap();
    client.submit(&alice, &calls::register_network(&account(&alice))).await.unwrap();
    client.submit(&alice, &calls::transfer_keep_alive(&account(&receiver), 3_000_000_000)).await.unwrap();
    let alice_balance = client.free_balance(&account(&alice)).await.unwrap();
    let before = client.metagraph(1).await.unwrap();
    drop(client);
    chain.stop().await;
    assert!(path.exists(), "the state file is written on stop");

    let chain = Devchain::start_with_state(config(), Some(StateFile::new(&path))).await.unwrap();
    let head = chain.node().head().header.number;
    assert_eq!(chain.node().genesis(), genesis, "the same genesis hash");
    assert_eq!(chain.node().hash_of(0), Some(genesis));
    assert!(head > 0, "the head is the saved block, not genesis");
    assert_eq!(chain.node().next_nonce(&alice_raw), 2, "//Alice's nonce survives");

    let client = Chain::connect(&chain.url()).await.unwrap();
    assert_eq!(client.free_balance(&account(&receiver)).await.unwrap(), 3_000_000_000);
    assert_eq!(client.free_balance(&account(&alice)).await.unwrap(), alice_balance);
    let after = client.metagraph(1).await.unwrap();
    assert_eq!(after.neurons.len(), before.neurons.len());
    assert_eq!(after.neurons[0].hotkey, account(&alice));
    // The chain goes on: another transaction, signed for the same genesis, is taken.
    client.submit(&receiver, &calls::transfer_keep_alive(&account(&alice), 1_000_000_000)).await.unwrap();
    assert!(client.free_balance(&account(&receiver)).await.unwrap() < 2_000_000_000);
    assert!(chain.node().head().header.number > head, "block numbers continue");
    assert_eq!(chain.node().next_nonce(&AccountId32(*receiver.hotkey().public())), 1);
    chain.stop().await;
}

#[tokio::test]
async fn the_state_file_is_written_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devchain.state");
    let chain = Devchain::start_with_state(config(), Some(StateFile::new(&path).with_save_every(2))).await.unwrap();
    let mut heads = chain.node().subscribe();
    while heads.recv().await.unwrap().number < 4 {}
    tokio::time::sleep(Duration::from_millis(50)).await;
    let saved = neuronet_devchain::persist::Saved::read(&path).unwrap().expect("written every 2 blocks");
    assert!(saved.head.number >= 2);
    assert_eq!(saved.genesis_hash(), chain.node().genesis());
    chain.stop().await;
}

#[tokio::test]
async fn a_file_that_is_no_state_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"not a devchain").unwrap();
    let error = Devchain::start_with_state(config(), Some(StateFile::new(&path))).await.err().expect("refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"not a devchain");
}
