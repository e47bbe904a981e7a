//! neuronet's own chain client against the devchain, over a real WebSocket: a subnet created,
//! neurons registered and serving, weights set directly and by commit-reveal, transfers, and
//! the real chain's refusals.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use neuronet_chain::{calls, AccountId, Chain, Error, NeuronCertificate};
use neuronet_devchain::{dev_keypair, Config, Devchain};
use neuronet_synapse::{CryptoType, Keypair};
use subxt::dynamic::Value;

async fn devchain() -> (Devchain, Chain) {
    let config = Config { block_time: Duration::from_millis(100), ..Config::default() };
    let chain = Devchain::start(config).await.expect("devchain starts");
    let client = Chain::connect(&chain.url()).await.expect("the chain client connects");
    (chain, client)
}

fn account(keypair: &Keypair) -> AccountId {
    AccountId::from(keypair.hotkey())
}

/// Creates subnet 1 owned by //Alice and returns its netuid.
async fn subnet(client: &Chain) -> u16 {
    let alice = dev_keypair("//Alice");
    client.submit(&alice, &calls::register_network(&account(&alice))).await.expect("register_network");
    1
}

/// Dispatches `pallet::call(args)` as root through //Alice's sudo key.
async fn sudo(client: &Chain, pallet: &str, call: &str, args: Vec<(&str, Value)>) {
    let inner = Value::unnamed_variant(pallet, [Value::named_variant(call, args)]);
    let wrapped = subxt::dynamic::tx("Sudo", "sudo", vec![inner]);
    client.submit(&dev_keypair("//Alice"), &wrapped).await.expect("sudo");
}

#[tokio::test]
async fn a_subnet_is_created_joined_served_and_weighted() {
    let (chain, client) = devchain().await;
    let netuid = subnet(&client).await;
    let alice = dev_keypair("//Alice");
    let miner_cold = Keypair::generate(12, CryptoType::Sr25519).unwrap();
    let miner_hot = Keypair::generate(12, CryptoType::Sr25519).unwrap();
    let validator_hot = Keypair::generate(12, CryptoType::Sr25519).unwrap();

    // Fund the miner's coldkey; it registers its hotkey and serves with a certificate.
    client.submit(&alice, &calls::transfer_keep_alive(&account(&miner_cold), 10_000_000_000)).await.unwrap();
    assert_eq!(client.free_balance(&account(&miner_cold)).await.unwrap(), 10_000_000_000);
    client.submit(&miner_cold, &calls::burned_register(netuid, &account(&miner_hot))).await.unwrap();
    client.submit(&alice, &calls::burned_register(netuid, &account(&validator_hot))).await.unwrap();
    let serving = calls::Serving::new(netuid, IpAddr::V4(Ipv4Addr::LOCALHOST), 8091);
    let certificate = NeuronCertificate { public_key: vec![7; 32], algorithm: 0x4e };
    client.submit(&miner_hot, &calls::serve_axon_tls(serving, &certificate)).await.unwrap();

    let metagraph = client.metagraph(netuid).await.unwrap();
    assert_eq!(metagraph.neurons.len(), 3, "the owner's hotkey, the miner and the validator");
    let miner = metagraph.by_hotkey(&account(&miner_hot)).expect("the miner is registered");
    assert_eq!(miner.coldkey, account(&miner_cold));
    assert_eq!(miner.axon.port, 8091);
    assert_eq!(miner.certificate.as_ref(), Some(&certificate));
    let miner_uid = miner.uid;
    // The burn and the fees left the coldkey.
    assert!(client.free_balance(&account(&miner_cold)).await.unwrap() < 10_000_000_000 - 100_000_000);

    // Weights with commit-reveal off go straight to the chain.
    let args = vec![("netuid", Value::u128(netuid.into())), ("enabled", Value::bool(false))];
    sudo(&client, "AdminUtils", "sudo_set_commit_reveal_weights_enabled", args).await;
    let weights = neuronet_chain::normalise(&[miner_uid], &[1.0]).unwrap();
    client.set_weights(&validator_hot, netuid, &weights).await.expect("weights set");
    let hyper = client.hyperparameters(netuid).await.unwrap();
    assert!(!hyper.commit_reveal_enabled);

    // A second set within the rate limit is refused with the chain's error.
    let error = client.set_weights(&validator_hot, netuid, &weights).await.unwrap_err();
    assert!(matches!(&error, Error::Module { name, .. } if name == "SettingWeightsTooFast"), "{error:?}");

    // Unregistered hotkeys cannot serve.
    let stranger = Keypair::generate(12, CryptoType::Sr25519).unwrap();
    client.submit(&alice, &calls::transfer_keep_alive(&account(&stranger), 1_000_000_000)).await.unwrap();
    let error = client.submit(&stranger, &calls::serve_axon(serving)).await.unwrap_err();
    assert!(matches!(&error, Error::Module { name, .. } if name == "HotKeyNotRegisteredInNetwork"), "{error:?}");
    chain.stop().await;
}
