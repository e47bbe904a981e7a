//! The devchain's speed: a metagraph of 256 neurons (with four such subnets on chain) and a
//! block of 256 transactions, against their targets (5 ms and the 250 ms block time).

use std::time::{Duration, Instant};

use neuronet_devchain::rt::{pallet_balances, pallet_subtensor, sp_runtime::multiaddress::MultiAddress};
use neuronet_devchain::rt::{AccountId32, RuntimeCall};
use neuronet_devchain::runtime::{self, signed_extrinsic};
use neuronet_devchain::{dev_keypair, Node, DEV_ACCOUNTS, DEV_BALANCE};
use neuronet_synapse::{CryptoType, Keypair};
use parity_scale_codec::Encode;

const SUBNETS: u16 = 4;
const NEURONS: u16 = 256;
const BLOCK_TXS: usize = 256;

fn account(keypair: &Keypair) -> AccountId32 {
    AccountId32(*keypair.hotkey().public())
}

pub fn measure(quick: bool) -> anyhow::Result<()> {
    let alice = dev_keypair("//Alice");
    let accounts: Vec<(AccountId32, u64)> =
        DEV_ACCOUNTS.iter().map(|(_, uri)| (account(&dev_keypair(uri)), DEV_BALANCE)).collect();
    let node =
        Node::new(runtime::genesis(&accounts, account(&alice), 0), Duration::from_millis(250), Default::default());
    let genesis = node.genesis();
    let mut nonce = 0u32;
    let mut submit = |call: RuntimeCall| -> anyhow::Result<()> {
        node.submit(&signed_extrinsic(&alice, &call, nonce, genesis), None)?;
        nonce += 1;
        Ok(())
    };
    let hotkey = |subnet: u16, uid: u16| Keypair::from_suri(&format!("//bench/{subnet}/{uid}"), CryptoType::Sr25519);
    for subnet in 1..=SUBNETS {
        let owner = account(&hotkey(subnet, 0)?);
        submit(RuntimeCall::SubtensorModule(pallet_subtensor::pallet::Call::register_network { hotkey: owner }))?;
    }
    node.produce();
    // 16 registrations per subnet and block, as the devchain allows.
    let mut pending = Vec::new();
    for uid in 1..NEURONS {
        for subnet in 1..=SUBNETS {
            pending.push((subnet, account(&hotkey(subnet, uid)?)));
        }
    }
    for round in pending.chunks(16 * SUBNETS as usize) {
        for &(netuid, hotkey) in round {
            submit(RuntimeCall::SubtensorModule(pallet_subtensor::pallet::Call::burned_register { netuid, hotkey }))?;
        }
        node.produce();
    }
    let state = node.state_at(None).map_err(anyhow::Error::msg)?;
    let n = runtime::neurons_lite(&state, 1).len();
    anyhow::ensure!(n == NEURONS as usize, "subnet 1 has {n} neurons");

    let rounds = if quick { 50 } else { 500 };
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let answer = runtime::neurons_lite(std::hint::black_box(&state), 1).encode();
            std::hint::black_box(answer);
            started.elapsed()
        })
        .collect();
    times.sort_unstable();
    let median = times[times.len() / 2];
    println!("devchain: {SUBNETS} subnets of {NEURONS} neurons");
    println!(
        "  neurons_lite (answer encoded): median {:.2} ms; target under 5 ms: {:.1}x under",
        median.as_secs_f64() * 1e3,
        5e-3 / median.as_secs_f64().max(1e-12)
    );

    // A block of 256 transfers from 256 accounts (each checked on submission, then applied).
    let senders: Vec<Keypair> = (0..BLOCK_TXS)
        .map(|i| Keypair::from_suri(&format!("//bench/sender/{i}"), CryptoType::Sr25519))
        .collect::<Result<_, _>>()?;
    for sender in &senders {
        let dest = MultiAddress::Id(account(sender));
        submit(RuntimeCall::Balances(pallet_balances::pallet::Call::transfer_keep_alive {
            dest,
            value: 1_000_000_000,
        }))?;
    }
    node.produce();
    let bob = account(&dev_keypair("//Bob"));
    let checked = Instant::now();
    for sender in &senders {
        let call = RuntimeCall::Balances(pallet_balances::pallet::Call::transfer_keep_alive {
            dest: MultiAddress::Id(bob),
            value: 1_000_000,
        });
        node.submit(&signed_extrinsic(sender, &call, 0, genesis), None)?;
    }
    let checked = checked.elapsed();
    let built = Instant::now();
    let header = node.produce();
    let built = built.elapsed();
    let block = node.block(&node.hash_of(header.number).unwrap_or_default()).map_or(0, |b| b.extrinsics.len() - 1);
    anyhow::ensure!(block == BLOCK_TXS, "the block holds {block} transactions");
    println!(
        "  {BLOCK_TXS} transfers: checked on submission in {:.1} ms, block built in {:.1} ms; together {:.1} ms of the 250 ms block time ({:.1}x under)",
        checked.as_secs_f64() * 1e3,
        built.as_secs_f64() * 1e3,
        (checked + built).as_secs_f64() * 1e3,
        0.25 / (checked + built).as_secs_f64().max(1e-12)
    );
    Ok(())
}
