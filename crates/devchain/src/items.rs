//! The storage items the devchain keeps, with the real runtime's names, hashers, types and
//! defaults (those of a fast-blocks local build where the two differ, such as `Tempo`).

use crate::rt::bounded_collections::bounded_vec::BoundedVec;
use crate::rt::pallet_commitments::types::Registration;
use crate::rt::pallet_drand::types::Pulse;
use crate::rt::pallet_subtensor::pallet::{
    AxonInfo, EpochConsensus, NeuronCertificate, PrometheusInfo, SubnetIdentityV3,
};
use crate::rt::primitive_types::H256;
use crate::rt::substrate_fixed::FixedU128;
use crate::rt::{AccountId32, AccountInfo, EventRecord};
use crate::storage::storage;

/// 1 TAO in rao.
pub const TAO: u64 = 1_000_000_000;

storage! {
    mod system = "System" {
        Account: [Blake2_128Concat AccountId32] => AccountInfo, (AccountInfo::default());
        ExtrinsicCount: [] => u32, optional;
        BlockHash: [Twox64Concat u32] => H256, (H256::default());
        Number: [] => u32, (0);
        ParentHash: [] => H256, (H256::default());
        Events: [] => Vec<EventRecord>, (Vec::new());
        EventCount: [] => u32, (0);
    }
    mod timestamp = "Timestamp" {
        Now: [] => u64, (0);
    }
    mod balances = "Balances" {
        TotalIssuance: [] => u64, (0);
    }
    mod commitments = "Commitments" {
        CommitmentOf: [Identity u16, Twox64Concat AccountId32] => Registration, optional;
        RevealedCommitments: [Identity u16, Twox64Concat AccountId32] => Vec<(Vec<u8>, u64)>, optional;
    }
    mod drand = "Drand" {
        Pulses: [Blake2_128Concat u64] => Pulse, optional;
        LastStoredRound: [] => u64, (0);
        OldestStoredRound: [] => u64, (0);
    }
    mod sudo = "Sudo" {
        Key: [] => AccountId32, optional;
    }
    mod subtensor = "SubtensorModule" {
        Owner: [Blake2_128Concat AccountId32] => AccountId32, (AccountId32::default());
        TotalIssuance: [] => u64, (0);
        TotalStake: [] => u64, (0);
        SubnetTAO: [Identity u16] => u64, (0);
        StakingHotkeys: [Blake2_128Concat AccountId32] => Vec<AccountId32>, (Vec::new());
        OwnedHotkeys: [Blake2_128Concat AccountId32] => Vec<AccountId32>, (Vec::new());
        TotalHotkeyAlpha: [Blake2_128Concat AccountId32, Identity u16] => u64, (0);
        Alpha: [Blake2_128Concat AccountId32, Blake2_128Concat AccountId32, Identity u16] => FixedU128, (FixedU128::default());
        TokenSymbol: [Identity u16] => Vec<u8>, ("\u{1d70f}".as_bytes().to_vec());
        MaxRegistrationsPerBlock: [Identity u16] => u16, (1);
        TotalNetworks: [] => u16, (0);
        NetworkMinLockCost: [] => u64, (1_000 * TAO);
        NetworkLastLockCost: [] => u64, (1_000 * TAO);
        NetworkRateLimit: [] => u64, (7_200);
        Tempo: [Identity u16] => u16, (10);
        SubnetworkN: [Identity u16] => u16, (0);
        NetworksAdded: [Identity u16] => bool, (false);
        NetworkRegistrationAllowed: [Identity u16] => bool, (true);
        NetworkRegisteredAt: [Identity u16] => u64, (0);
        BlocksSinceLastStep: [Identity u16] => u64, (0);
        SubnetOwner: [Identity u16] => AccountId32, (AccountId32::default());
        SubnetOwnerHotkey: [Identity u16] => AccountId32, (AccountId32::default());
        ServingRateLimit: [Identity u16] => u64, (50);
        MaxAllowedUids: [Identity u16] => u16, (256);
        ImmunityPeriod: [Identity u16] => u16, (4_096);
        MaxWeightsLimit: [Identity u16] => u16, (u16::MAX);
        WeightsVersionKey: [Identity u16] => u64, (0);
        MinAllowedWeights: [Identity u16] => u16, (1);
        WeightsSetRateLimit: [Identity u16] => u64, (100);
        CommitRevealWeightsEnabled: [Identity u16] => bool, (true);
        Burn: [Identity u16] => u64, (TAO / 10);
        RegistrationsThisBlock: [Identity u16] => u16, (0);
        Uids: [Identity u16, Blake2_128Concat AccountId32] => u16, optional;
        Keys: [Identity u16, Identity u16] => AccountId32, (AccountId32::default());
        Active: [Identity u16] => Vec<bool>, (Vec::new());
        Rank: [Identity u16] => Vec<u16>, (Vec::new());
        Trust: [Identity u16] => Vec<u16>, (Vec::new());
        Consensus: [Identity u16] => Vec<u16>, (Vec::new());
        Incentive: [Identity u16] => Vec<u16>, (Vec::new());
        Dividends: [Identity u16] => Vec<u16>, (Vec::new());
        Emission: [Identity u16] => Vec<u64>, (Vec::new());
        LastUpdate: [Identity u16] => Vec<u64>, (Vec::new());
        ValidatorTrust: [Identity u16] => Vec<u16>, (Vec::new());
        PruningScores: [Identity u16] => Vec<u16>, (Vec::new());
        ValidatorPermit: [Identity u16] => Vec<bool>, (Vec::new());
        Weights: [Identity u16, Identity u16] => Vec<(u16, u16)>, (Vec::new());
        BlockAtRegistration: [Identity u16, Identity u16] => u64, (0);
        Axons: [Identity u16, Blake2_128Concat AccountId32] => AxonInfo, optional;
        NeuronCertificates: [Identity u16, Blake2_128Concat AccountId32] => NeuronCertificate, optional;
        Prometheus: [Identity u16, Blake2_128Concat AccountId32] => PrometheusInfo, optional;
        SubnetIdentitiesV3: [Blake2_128Concat u16] => SubnetIdentityV3, optional;
        WeightCommits: [Twox64Concat u16, Twox64Concat AccountId32] => Vec<(H256, u64, u64, u64)>, optional;
        TimelockedWeightCommits: [Twox64Concat u16, Twox64Concat u64] => Vec<(AccountId32, u64, BoundedVec<u8>, u64)>, (Vec::new());
        RevealPeriodEpochs: [Twox64Concat u16] => u64, (1);
        CommitRevealWeightsVersion: [] => u16, (4);
        MechanismCountCurrent: [Twox64Concat u16] => u8, (1);
        SubnetEpochIndex: [Identity u16] => u64, (0);
        LastEpochBlock: [Identity u16] => u64, (0);
        PendingEpochAt: [Identity u16] => u64, (0);
        SubnetEpochConsensus: [Identity u16] => EpochConsensus, (EpochConsensus::Yuma);
    }
}
