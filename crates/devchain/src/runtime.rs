//! The runtime: how a transaction is checked (extrinsic v4, signature over the real signing
//! payload, the real extensions in order), what each call does to the state, the per-block
//! hooks, and the runtime API answers.

use parity_scale_codec::{Compact, Decode, DecodeLimit, Encode};

use crate::items::{balances, subtensor as st, system, TAO};
use crate::rt::frame_support::dispatch::{DispatchClass, Pays};
use crate::rt::frame_system::{self, DispatchEventInfo, Phase};
use crate::rt::pallet_drand::types::Pulse;
use crate::rt::pallet_subtensor::pallet::{
    AxonInfo, Call as SubtensorCall, Error as SubtensorError, Event as SubtensorEvent, NeuronCertificate,
};
use crate::rt::pallet_subtensor::rpc_info::dynamic_info::DynamicInfo;
use crate::rt::pallet_subtensor::rpc_info::metagraph::Metagraph;
use crate::rt::pallet_subtensor::rpc_info::neuron_info::NeuronInfoLite;
use crate::rt::pallet_subtensor::rpc_info::show_subnet::SubnetState;
use crate::rt::pallet_subtensor::rpc_info::stake_info::StakeInfo;
use crate::rt::pallet_subtensor_swap_runtime_api::SubnetPrice;
use crate::rt::primitive_types::H256;
use crate::rt::sp_runtime::generic::era::Era;
use crate::rt::sp_runtime::multiaddress::MultiAddress;
use crate::rt::sp_runtime::{DispatchError, ModuleError, MultiSignature, TokenError};
use crate::rt::sp_version::RuntimeVersion;
use crate::rt::sp_weights::weight_v2::Weight;
use crate::rt::substrate_fixed::{FixedI128, FixedU128};
use crate::rt::{
    bounded_collections::bounded_vec::BoundedVec, pallet_admin_utils, pallet_balances, pallet_drand, pallet_sudo,
    pallet_timestamp, pallet_transaction_payment, AccountId32, AccountInfo, Address, EventRecord, RuntimeCall,
    RuntimeError, RuntimeEvent,
};
use crate::storage::State;

/// The spec version the devchain reports: a runtime with the storage current clients read.
pub const SPEC_VERSION: u32 = 425;
/// The transaction version of every subtensor runtime so far.
pub const TRANSACTION_VERSION: u32 = 1;
/// Blocks whose hashes stay in `System.BlockHash` (mortal transactions may be born in them).
pub const BLOCK_HASH_COUNT: u32 = 2_400;
/// The least balance an account keeps, in rao.
pub const EXISTENTIAL_DEPOSIT: u64 = 500;
/// The fee every paying transaction is charged, plus [`BYTE_FEE`] per byte.
pub const BASE_FEE: u64 = 125_000;
/// The fee per byte of a transaction, in rao.
pub const BYTE_FEE: u64 = 1_000;
/// Validator permits per subnet, given at each epoch to the neurons with the most stake.
pub const MAX_VALIDATORS: usize = 64;
/// How deeply calls may nest (a sudo in a sudo ...), as substrate's `MAX_EXTRINSIC_DEPTH`: a
/// deeper one is refused before its decoding can exhaust the stack.
pub const MAX_CALL_DEPTH: u32 = 256;
/// The largest timelocked commit the runtime decodes (`BoundedVec<u8, ConstU32<5000>>`).
pub const MAX_TIMELOCKED_COMMIT_BYTES: usize = 5_000;
/// At most this many unrevealed commits per hotkey (and epoch, for timelocked ones).
const MAX_UNREVEALED_COMMITS: usize = 10;

/// What `Core_version` and `state_getRuntimeVersion` report.
pub fn version() -> RuntimeVersion {
    RuntimeVersion {
        spec_name: "node-subtensor".into(),
        impl_name: "node-subtensor".into(),
        authoring_version: 1,
        spec_version: SPEC_VERSION,
        impl_version: 1,
        apis: crate::metadata::api_versions(),
        transaction_version: TRANSACTION_VERSION,
        system_version: 1,
    }
}

/// Why the pool refuses a transaction: substrate's `InvalidTransaction` reasons, with their
/// messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Bytes that are no extrinsic of this runtime (an unknown call included).
    #[error("Could not decode the extrinsic")]
    Format,
    /// A call that cannot come from outside (an inherent sent signed, an unsigned call).
    #[error("Transaction call is not expected")]
    Call,
    /// Too little balance for the fee.
    #[error("Inability to pay some fees (e.g. account balance too low)")]
    Payment,
    /// A nonce above the account's next one.
    #[error("Transaction will be valid in the future")]
    Future,
    /// A nonce already used.
    #[error("Transaction is outdated")]
    Stale,
    /// A signature that does not verify: also a wrong genesis, spec, version or era birth hash.
    #[error("Transaction has a bad signature")]
    BadProof,
    /// An era born at a block this chain no longer (or never) had.
    #[error("Transaction has an ancient birth block")]
    AncientBirthBlock,
    /// The all-zero sender.
    #[error("Invalid signing address")]
    BadSigner,
}

/// A transaction that passed the pool's checks.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The extrinsic's bytes, length prefix included.
    pub bytes: Vec<u8>,
    /// blake2-256 of `bytes`.
    pub hash: [u8; 32],
    /// The signer.
    pub signer: AccountId32,
    /// Its nonce.
    pub nonce: u32,
    /// The tip, in rao.
    pub tip: u64,
    /// The call.
    pub call: RuntimeCall,
}

/// What a transaction is checked against: the chain's identity and the block it would land in.
pub struct Context<'a> {
    /// The genesis block's hash.
    pub genesis: [u8; 32],
    /// The number of the block being built.
    pub number: u32,
    /// The state at its parent.
    pub state: &'a State,
    /// The hash of an earlier block still within `BLOCK_HASH_COUNT` of it.
    pub block_hash: &'a dyn Fn(u32) -> Option<[u8; 32]>,
}

/// Decodes and checks a signed extrinsic as the pool does; `pending` is how many of the
/// signer's transactions already wait in the pool.
pub fn check(bytes: &[u8], context: &Context<'_>, pending: impl Fn(&AccountId32) -> u32) -> Result<Checked, Invalid> {
    let input = &mut &bytes[..];
    let length = Compact::<u32>::decode(input).map_err(|_| Invalid::Format)?.0 as usize;
    if length != input.len() {
        return Err(Invalid::Format);
    }
    let version = u8::decode(input).map_err(|_| Invalid::Format)?;
    if version != 0x84 {
        // Unsigned (0x04) extrinsics are inherents only; other versions are not this runtime's.
        return Err(if version == 0x04 { Invalid::Call } else { Invalid::Format });
    }
    let address = Address::decode(input).map_err(|_| Invalid::Format)?;
    let signature = MultiSignature::decode(input).map_err(|_| Invalid::Format)?;
    let extra_start = bytes.len() - input.len();
    let era = Era::decode(input).map_err(|_| Invalid::Format)?;
    let nonce = Compact::<u32>::decode(input).map_err(|_| Invalid::Format)?.0;
    let tip = Compact::<u64>::decode(input).map_err(|_| Invalid::Format)?.0;
    let mode = u8::decode(input).map_err(|_| Invalid::Format)?;
    if mode > 1 {
        return Err(Invalid::Format);
    }
    let extra = &bytes[extra_start..bytes.len() - input.len()];
    let call_bytes = *input;
    let call = RuntimeCall::decode_with_depth_limit(MAX_CALL_DEPTH, input).map_err(|_| Invalid::Format)?;
    if !input.is_empty() || !within_bounds(&call) {
        return Err(Invalid::Format);
    }
    let signer = match address {
        MultiAddress::Id(account) => account,
        MultiAddress::Address32(bytes) => AccountId32(bytes),
        _ => return Err(Invalid::BadSigner),
    };
    if signer == AccountId32::default() {
        return Err(Invalid::BadSigner);
    }
    // CheckMortality: the era's birth block must be one this chain keeps a hash of.
    let birth = era.birth(context.number as u64);
    let birth_hash = u32::try_from(birth)
        .ok()
        .filter(|&birth| birth < context.number)
        .and_then(|birth| (context.block_hash)(birth))
        .ok_or(Invalid::AncientBirthBlock)?;
    if era.death(context.number as u64) <= context.number as u64 {
        return Err(Invalid::AncientBirthBlock);
    }
    // The signing payload: call, explicit extension data, implicit data, hashed when long.
    // The metadata hash (mode 1) is not computed by the devchain, so such a payload cannot match.
    if mode == 1 {
        return Err(Invalid::BadProof);
    }
    let mut payload = Vec::with_capacity(call_bytes.len() + extra.len() + 72);
    payload.extend_from_slice(call_bytes);
    payload.extend_from_slice(extra);
    SPEC_VERSION.encode_to(&mut payload);
    TRANSACTION_VERSION.encode_to(&mut payload);
    payload.extend_from_slice(&context.genesis);
    payload.extend_from_slice(&birth_hash);
    None::<[u8; 32]>.encode_to(&mut payload);
    if payload.len() > 256 {
        payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
    }
    verify(&signer, &signature, &payload)?;
    // CheckNonce.
    let account = context.state.value::<system::Account>(&(signer,));
    if nonce < account.nonce {
        return Err(Invalid::Stale);
    }
    if nonce > account.nonce + pending(&signer) {
        return Err(Invalid::Future);
    }
    // ChargeTransactionPayment.
    if let Some(fee) = fee(&call, bytes.len()) {
        if account.data.free < fee.saturating_add(tip) {
            return Err(Invalid::Payment);
        }
    }
    Ok(Checked { bytes: bytes.to_vec(), hash: sp_crypto_hashing::blake2_256(bytes), signer, nonce, tip, call })
}

/// Whether the call's bounded arguments are within their runtime bounds (the real runtime
/// cannot even decode a call that exceeds one).
fn within_bounds(call: &RuntimeCall) -> bool {
    match call {
        RuntimeCall::SubtensorModule(
            SubtensorCall::commit_timelocked_weights { commit, .. }
            | SubtensorCall::commit_timelocked_mechanism_weights { commit, .. },
        ) => commit.0.len() <= MAX_TIMELOCKED_COMMIT_BYTES,
        RuntimeCall::Sudo(pallet_sudo::pallet::Call::sudo { call }) => within_bounds(call),
        _ => true,
    }
}

fn verify(signer: &AccountId32, signature: &MultiSignature, payload: &[u8]) -> Result<(), Invalid> {
    use neuronet_synapse::{CryptoType, Hotkey, Signature};
    let (crypto, bytes) = match signature {
        MultiSignature::Sr25519(bytes) => (CryptoType::Sr25519, bytes),
        MultiSignature::Ed25519(bytes) => (CryptoType::Ed25519, bytes),
        MultiSignature::Ecdsa(_) => return Err(Invalid::BadProof),
    };
    let signature = Signature::from_slice(bytes).map_err(|_| Invalid::BadProof)?;
    Hotkey::new(crypto, signer.0).verify(payload, &signature).map_err(|_| Invalid::BadProof)
}

/// The fee `call` pays in an extrinsic of `length` bytes; `None` for calls that pay none
/// (serving, weights, sudo, as on the real chain).
pub fn fee(call: &RuntimeCall, length: usize) -> Option<u64> {
    let free = match call {
        RuntimeCall::SubtensorModule(call) => matches!(
            call,
            SubtensorCall::serve_axon { .. }
                | SubtensorCall::serve_axon_tls { .. }
                | SubtensorCall::set_weights { .. }
                | SubtensorCall::set_mechanism_weights { .. }
                | SubtensorCall::commit_weights { .. }
                | SubtensorCall::reveal_weights { .. }
                | SubtensorCall::commit_mechanism_weights { .. }
                | SubtensorCall::reveal_mechanism_weights { .. }
                | SubtensorCall::commit_timelocked_weights { .. }
                | SubtensorCall::commit_timelocked_mechanism_weights { .. }
        ),
        RuntimeCall::Sudo(_) | RuntimeCall::Timestamp(_) => true,
        _ => false,
    };
    (!free).then(|| BASE_FEE + BYTE_FEE * length as u64)
}

/// The weight reported for every call (the devchain does not meter execution).
fn weight() -> Weight {
    Weight { ref_time: 100_000_000, proof_size: 4_096 }
}

/// What `TransactionPaymentApi_query_info` answers for an extrinsic of `length` bytes.
pub fn query_info(bytes: &[u8], length: u32) -> Option<pallet_transaction_payment::types::RuntimeDispatchInfo<u64>> {
    let call = decode_call(bytes)?;
    Some(pallet_transaction_payment::types::RuntimeDispatchInfo {
        weight: weight(),
        class: DispatchClass::Normal,
        partial_fee: fee(&call, length as usize).unwrap_or(0),
    })
}

/// The fee breakdown `TransactionPaymentApi_query_fee_details` answers.
pub fn query_fee_details(bytes: &[u8], length: u32) -> Option<pallet_transaction_payment::types::FeeDetails<u64>> {
    let call = decode_call(bytes)?;
    let inclusion_fee = fee(&call, length as usize).map(|_| pallet_transaction_payment::types::InclusionFee {
        base_fee: BASE_FEE,
        len_fee: BYTE_FEE * length as u64,
        adjusted_weight_fee: 0,
    });
    Some(pallet_transaction_payment::types::FeeDetails { inclusion_fee, tip: 0 })
}

/// The call of an extrinsic, signed or not, without checking anything else.
fn decode_call(bytes: &[u8]) -> Option<RuntimeCall> {
    let input = &mut &bytes[..];
    Compact::<u32>::decode(input).ok()?;
    match u8::decode(input).ok()? {
        0x84 => {
            Address::decode(input).ok()?;
            MultiSignature::decode(input).ok()?;
            Era::decode(input).ok()?;
            Compact::<u32>::decode(input).ok()?;
            Compact::<u64>::decode(input).ok()?;
            u8::decode(input).ok()?;
        }
        0x04 => {}
        _ => return None,
    }
    RuntimeCall::decode_with_depth_limit(MAX_CALL_DEPTH, input).ok()
}

/// The unsigned timestamp inherent every block starts with.
pub fn timestamp_inherent(now_ms: u64) -> Vec<u8> {
    let mut body = vec![0x04];
    RuntimeCall::Timestamp(pallet_timestamp::pallet::Call::set { now: now_ms }).encode_to(&mut body);
    let mut bytes = Compact(body.len() as u32).encode();
    bytes.extend_from_slice(&body);
    bytes
}

/// Who dispatches a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Root,
    Signed(AccountId32),
}

/// Builds one block's state changes: the hooks, then each extrinsic, with its events.
pub struct BlockBuilder {
    /// The state being changed.
    pub state: State,
    number: u32,
    events: Vec<EventRecord>,
    extrinsic_index: u32,
    /// Whether the hooks run (their events are in the initialization phase).
    initializing: bool,
}

impl BlockBuilder {
    /// Starts block `number` on `parent_state`, whose head hash is `parent_hash`.
    pub fn new(state: State, number: u32, parent_hash: [u8; 32], now_ms: u64) -> Self {
        Self::with_pulses(state, number, parent_hash, now_ms, Vec::new())
    }

    /// The same, storing verified drand `pulses` first (the real chain takes them in an
    /// unsigned `Drand.write_pulse` extrinsic; the devchain stores them as the block starts).
    pub fn with_pulses(mut state: State, number: u32, parent_hash: [u8; 32], now_ms: u64, pulses: Vec<Pulse>) -> Self {
        state.put::<system::Number>(&(), &number);
        state.put::<system::ParentHash>(&(), &H256(parent_hash));
        state.put::<system::BlockHash>(&(number - 1,), &H256(parent_hash));
        if let Some(old) = number.checked_sub(BLOCK_HASH_COUNT + 1) {
            state.remove::<system::BlockHash>(&(old,));
        }
        state.put::<crate::items::timestamp::Now>(&(), &now_ms);
        let mut builder = Self { state, number, events: Vec::new(), extrinsic_index: 0, initializing: true };
        builder.store_pulses(pulses);
        builder.on_initialize();
        builder.initializing = false;
        builder
    }

    fn now(&self) -> u64 {
        self.number as u64
    }

    fn deposit(&mut self, event: RuntimeEvent) {
        let phase = if self.initializing { Phase::Initialization } else { Phase::ApplyExtrinsic(self.extrinsic_index) };
        self.events.push(EventRecord { phase, event, topics: Vec::new() });
    }

    /// The timestamp inherent, applied as extrinsic 0.
    pub fn apply_inherent(&mut self) {
        let dispatch_info =
            DispatchEventInfo { weight: weight(), class: DispatchClass::Mandatory, pays_fee: Pays::Yes };
        self.deposit(RuntimeEvent::System(frame_system::pallet::Event::ExtrinsicSuccess { dispatch_info }));
        self.extrinsic_index += 1;
    }

    /// Applies a checked transaction; `false` when it can no longer be included (its nonce
    /// was taken, its fee can no longer be paid), in which case nothing changed.
    pub fn apply(&mut self, tx: &Checked) -> bool {
        let mut account = self.state.value::<system::Account>(&(tx.signer,));
        if account.nonce != tx.nonce {
            return false;
        }
        let fee = fee(&tx.call, tx.bytes.len()).map(|fee| fee + tx.tip);
        if fee.is_some_and(|fee| account.data.free < fee) {
            return false;
        }
        account.nonce += 1;
        if let Some(fee) = fee {
            account.data.free -= fee;
            self.state.mutate::<balances::TotalIssuance, _>(&(), |total| *total = total.saturating_sub(fee));
        }
        self.state.put::<system::Account>(&(tx.signer,), &account);
        if let Some(fee) = fee {
            self.deposit(RuntimeEvent::Balances(pallet_balances::pallet::Event::Withdraw {
                who: tx.signer,
                amount: fee,
            }));
        }
        let before = self.state.clone();
        let events_before = self.events.len();
        let result = self.dispatch(Origin::Signed(tx.signer), tx.call.clone());
        if result.is_err() {
            // Transactional: a failed call changes nothing but the nonce and the fee.
            self.state = before;
            self.events.truncate(events_before);
        }
        if let Some(fee) = fee {
            self.deposit(RuntimeEvent::TransactionPayment(
                pallet_transaction_payment::pallet::Event::TransactionFeePaid {
                    who: tx.signer,
                    actual_fee: fee - tx.tip,
                    tip: tx.tip,
                },
            ));
        }
        let pays_fee = if fee.is_some() { Pays::Yes } else { Pays::No };
        let dispatch_info = DispatchEventInfo { weight: weight(), class: DispatchClass::Normal, pays_fee };
        let event = match result {
            Ok(()) => frame_system::pallet::Event::ExtrinsicSuccess { dispatch_info },
            Err(dispatch_error) => frame_system::pallet::Event::ExtrinsicFailed { dispatch_error, dispatch_info },
        };
        self.deposit(RuntimeEvent::System(event));
        self.extrinsic_index += 1;
        true
    }

    /// Ends the block: writes its events and returns the final state.
    pub fn finish(mut self) -> State {
        self.state.put::<system::EventCount>(&(), &(self.events.len() as u32));
        self.state.put::<system::ExtrinsicCount>(&(), &self.extrinsic_index);
        self.state.put::<system::Events>(&(), &self.events);
        self.state
    }

    fn store_pulses(&mut self, pulses: Vec<Pulse>) {
        let rounds: Vec<u64> = pulses.iter().map(|pulse| pulse.round).collect();
        if rounds.is_empty() {
            return;
        }
        for pulse in pulses {
            let round = pulse.round;
            self.state.put::<crate::items::drand::Pulses>(&(round,), &pulse);
            self.state.mutate::<crate::items::drand::LastStoredRound, _>(&(), |last| *last = (*last).max(round));
            self.state.mutate::<crate::items::drand::OldestStoredRound, _>(&(), |oldest| {
                *oldest = if *oldest == 0 { round } else { (*oldest).min(round) }
            });
        }
        self.deposit(RuntimeEvent::Drand(pallet_drand::pallet::Event::NewPulse { rounds }));
    }

    /// Reveals `netuid`'s timelocked commits due in its current epoch (those made
    /// `RevealPeriodEpochs` epochs ago) whose drand pulse is stored; the others wait for their
    /// pulse until the epoch ends, then are dropped.
    fn reveal_timelocked(&mut self, netuid: u16) {
        let epoch = self.epoch(netuid);
        let Some(commit_epoch) = epoch.checked_sub(self.state.value::<st::RevealPeriodEpochs>(&(netuid,))) else {
            return;
        };
        for mecid in 0..self.state.value::<st::MechanismCountCurrent>(&(netuid,)) {
            let netuid_index = mecid as u16 * 4_096 + netuid;
            if let Some(expired) = commit_epoch.checked_sub(1) {
                self.state.remove::<st::TimelockedWeightCommits>(&(netuid_index, expired));
            }
            let key = (netuid_index, commit_epoch);
            let commits = self.state.value::<st::TimelockedWeightCommits>(&key);
            if commits.is_empty() {
                continue;
            }
            let mut waiting = Vec::new();
            for (hotkey, block, commit, round) in commits {
                let Some(pulse) = self.state.get::<crate::items::drand::Pulses>(&(round,)) else {
                    waiting.push((hotkey, block, commit, round));
                    continue;
                };
                if let Err(reason) = self.reveal_commit(hotkey, netuid, mecid, &commit.0, &pulse.signature.0) {
                    tracing::debug!(netuid_index, round, %reason, "timelocked commit dropped");
                }
            }
            if waiting.is_empty() {
                self.state.remove::<st::TimelockedWeightCommits>(&key);
            } else {
                self.state.put::<st::TimelockedWeightCommits>(&key, &waiting);
            }
        }
    }

    /// Opens one timelocked commit with its round's signature and sets its weights as
    /// `set_mechanism_weights` would, without the rate limit.
    fn reveal_commit(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mecid: u8,
        commit: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let opened = crate::drand::open(commit, signature).map_err(|e| e.to_string())?;
        let weights = crate::drand::OpenedWeights::decode(&opened).ok_or("the payload does not decode")?;
        if weights.hotkey.as_ref().is_some_and(|named| named.as_slice() != hotkey.0.as_slice()) {
            return Err("the payload names another hotkey than the committer".into());
        }
        let (before, events) = (self.state.clone(), self.events.len());
        let applied =
            self.apply_weights(hotkey, netuid, mecid, weights.uids, weights.values, weights.version_key, false);
        if let Err(error) = applied {
            self.state = before;
            self.events.truncate(events);
            return Err(format!("the weights are refused: {error:?}"));
        }
        let netuid_index = mecid as u16 * 4_096 + netuid;
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::TimelockedWeightsRevealed(netuid_index, hotkey)));
        Ok(())
    }

    /// Per-block hooks: each subnet's epoch schedule, validator permits at its epochs, and the
    /// reveal of timelocked commits.
    fn on_initialize(&mut self) {
        let now = self.now();
        for netuid in subnets(&self.state) {
            self.state.put::<st::RegistrationsThisBlock>(&(netuid,), &0);
            let tempo = self.state.value::<st::Tempo>(&(netuid,)) as u64;
            let last = self.state.value::<st::LastEpochBlock>(&(netuid,));
            let pending = self.state.value::<st::PendingEpochAt>(&(netuid,));
            let fires = tempo > 0 && ((pending > 0 && now >= pending) || now.saturating_sub(last) >= tempo);
            if fires {
                self.state.put::<st::LastEpochBlock>(&(netuid,), &now);
                self.state.put::<st::PendingEpochAt>(&(netuid,), &0);
                self.state.mutate::<st::SubnetEpochIndex, _>(&(netuid,), |index| *index += 1);
                self.state.put::<st::BlocksSinceLastStep>(&(netuid,), &0);
                self.assign_permits(netuid);
            } else {
                self.state.mutate::<st::BlocksSinceLastStep, _>(&(netuid,), |blocks| *blocks += 1);
            }
            self.reveal_timelocked(netuid);
        }
    }

    /// Gives validator permits to the (up to) [`MAX_VALIDATORS`] neurons with the most stake.
    fn assign_permits(&mut self, netuid: u16) {
        let n = self.state.value::<st::SubnetworkN>(&(netuid,));
        let mut stakes: Vec<(u64, u16)> = (0..n)
            .map(|uid| {
                let hotkey = self.state.value::<st::Keys>(&(netuid, uid));
                (self.state.value::<st::TotalHotkeyAlpha>(&(hotkey, netuid)), uid)
            })
            .filter(|(stake, _)| *stake > 0)
            .collect();
        stakes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut permits = vec![false; n as usize];
        for (_, uid) in stakes.into_iter().take(MAX_VALIDATORS) {
            permits[uid as usize] = true;
        }
        self.state.put::<st::ValidatorPermit>(&(netuid,), &permits);
    }

    fn dispatch(&mut self, origin: Origin, call: RuntimeCall) -> Result<(), DispatchError> {
        match call {
            RuntimeCall::System(call) => self.system(origin, call),
            RuntimeCall::Timestamp(_) => Err(DispatchError::BadOrigin),
            RuntimeCall::Balances(call) => self.balances(origin, call),
            RuntimeCall::SubtensorModule(call) => self.subtensor(origin, call),
            RuntimeCall::Sudo(call) => self.sudo(origin, call),
            RuntimeCall::AdminUtils(call) => self.admin(origin, call),
        }
    }

    fn system(&mut self, origin: Origin, call: frame_system::pallet::Call) -> Result<(), DispatchError> {
        let Origin::Signed(sender) = origin else { return Ok(()) };
        if let frame_system::pallet::Call::remark_with_event { remark } = call {
            let hash = H256(sp_crypto_hashing::blake2_256(&remark));
            self.deposit(RuntimeEvent::System(frame_system::pallet::Event::Remarked { sender, hash }));
        }
        Ok(())
    }

    fn sudo(&mut self, origin: Origin, call: pallet_sudo::pallet::Call) -> Result<(), DispatchError> {
        let Origin::Signed(sender) = origin else { return Err(DispatchError::BadOrigin) };
        if self.state.get::<crate::items::sudo::Key>(&()) != Some(sender) {
            return Err(module(RuntimeError::Sudo(pallet_sudo::pallet::Error::RequireSudo)));
        }
        let pallet_sudo::pallet::Call::sudo { call } = call;
        let before = self.state.clone();
        let sudo_result = self.dispatch(Origin::Root, *call);
        if sudo_result.is_err() {
            self.state = before;
        }
        self.deposit(RuntimeEvent::Sudo(pallet_sudo::pallet::Event::Sudid { sudo_result }));
        Ok(())
    }

    fn balances(&mut self, origin: Origin, call: pallet_balances::pallet::Call) -> Result<(), DispatchError> {
        use pallet_balances::pallet::Call;
        let Origin::Signed(from) = origin else { return Err(DispatchError::BadOrigin) };
        let (dest, value, keep_alive) = match call {
            Call::transfer_allow_death { dest, value } => (dest, value, false),
            Call::transfer_keep_alive { dest, value } => (dest, value, true),
            Call::transfer_all { dest, keep_alive } => {
                let free = self.free(&from);
                (dest, if keep_alive { free.saturating_sub(EXISTENTIAL_DEPOSIT) } else { free }, keep_alive)
            }
        };
        let to = match dest {
            MultiAddress::Id(account) => account,
            MultiAddress::Address32(bytes) => AccountId32(bytes),
            _ => return Err(DispatchError::CannotLookup),
        };
        self.transfer(from, to, value, keep_alive)
    }

    fn free(&self, who: &AccountId32) -> u64 {
        self.state.value::<system::Account>(&(*who,)).data.free
    }

    fn transfer(
        &mut self,
        from: AccountId32,
        to: AccountId32,
        value: u64,
        keep_alive: bool,
    ) -> Result<(), DispatchError> {
        let free = self.free(&from);
        let remaining = free.checked_sub(value).ok_or(DispatchError::Token(TokenError::FundsUnavailable))?;
        if keep_alive && remaining < EXISTENTIAL_DEPOSIT {
            return Err(DispatchError::Token(TokenError::NotExpendable));
        }
        if from == to || value == 0 {
            return Ok(());
        }
        let receiver = self.free(&to);
        if receiver == 0 && value < EXISTENTIAL_DEPOSIT {
            return Err(DispatchError::Token(TokenError::BelowMinimum));
        }
        self.set_free(&from, remaining);
        self.credit(&to, value);
        self.deposit(RuntimeEvent::Balances(pallet_balances::pallet::Event::Transfer { from, to, amount: value }));
        Ok(())
    }

    /// Sets `who`'s free balance; an account left below the existential deposit is reaped.
    fn set_free(&mut self, who: &AccountId32, mut free: u64) {
        let mut account = self.state.value::<system::Account>(&(*who,));
        if free > 0 && free < EXISTENTIAL_DEPOSIT {
            self.state.mutate::<balances::TotalIssuance, _>(&(), |total| *total = total.saturating_sub(free));
            let event = pallet_balances::pallet::Event::DustLost { account: *who, amount: free };
            self.deposit(RuntimeEvent::Balances(event));
            free = 0;
        }
        account.data.free = free;
        self.state.put::<system::Account>(&(*who,), &account);
    }

    /// Adds `amount` to `who`'s free balance, creating the account when new.
    fn credit(&mut self, who: &AccountId32, amount: u64) {
        let mut account = self.state.value::<system::Account>(&(*who,));
        if account.providers == 0 {
            account.providers = 1;
            self.deposit(RuntimeEvent::System(frame_system::pallet::Event::NewAccount { account: *who }));
            self.deposit(RuntimeEvent::Balances(pallet_balances::pallet::Event::Endowed {
                account: *who,
                free_balance: amount,
            }));
        }
        account.data.free = account.data.free.saturating_add(amount);
        self.state.put::<system::Account>(&(*who,), &account);
    }

    /// Takes `amount` out of circulation from `who` (a burn or a lock).
    fn burn(&mut self, who: &AccountId32, amount: u64, error: SubtensorError) -> Result<(), DispatchError> {
        let free = self.free(who);
        let remaining = free.checked_sub(amount).ok_or(subtensor_error(error))?;
        self.set_free(who, remaining);
        self.state.mutate::<balances::TotalIssuance, _>(&(), |total| *total = total.saturating_sub(amount));
        Ok(())
    }

    fn admin(&mut self, origin: Origin, call: pallet_admin_utils::pallet::Call) -> Result<(), DispatchError> {
        use pallet_admin_utils::pallet::Call;
        let (netuid, owner_may) = match &call {
            Call::sudo_set_serving_rate_limit { netuid, .. }
            | Call::sudo_set_weights_version_key { netuid, .. }
            | Call::sudo_set_commit_reveal_weights_enabled { netuid, .. }
            | Call::sudo_set_commit_reveal_weights_interval { netuid, .. } => (*netuid, true),
            Call::sudo_set_weights_set_rate_limit { netuid, .. }
            | Call::sudo_set_max_allowed_uids { netuid, .. }
            | Call::sudo_set_tempo { netuid, .. } => (*netuid, false),
        };
        let allowed = match origin {
            Origin::Root => true,
            Origin::Signed(who) => owner_may && self.state.value::<st::SubnetOwner>(&(netuid,)) == who,
        };
        if !allowed {
            return Err(DispatchError::BadOrigin);
        }
        if !self.state.value::<st::NetworksAdded>(&(netuid,)) {
            return Err(module(RuntimeError::AdminUtils(pallet_admin_utils::pallet::Error::SubnetDoesNotExist)));
        }
        let key = (netuid,);
        match call {
            Call::sudo_set_serving_rate_limit { serving_rate_limit, .. } => {
                self.state.put::<st::ServingRateLimit>(&key, &serving_rate_limit)
            }
            Call::sudo_set_weights_version_key { weights_version_key, .. } => {
                self.state.put::<st::WeightsVersionKey>(&key, &weights_version_key)
            }
            Call::sudo_set_weights_set_rate_limit { weights_set_rate_limit, .. } => {
                self.state.put::<st::WeightsSetRateLimit>(&key, &weights_set_rate_limit)
            }
            Call::sudo_set_max_allowed_uids { max_allowed_uids, .. } => {
                if max_allowed_uids < self.state.value::<st::SubnetworkN>(&key) {
                    return Err(module(RuntimeError::AdminUtils(
                        pallet_admin_utils::pallet::Error::MaxAllowedUIdsLessThanCurrentUIds,
                    )));
                }
                self.state.put::<st::MaxAllowedUids>(&key, &max_allowed_uids)
            }
            Call::sudo_set_tempo { tempo, .. } => self.state.put::<st::Tempo>(&key, &tempo),
            Call::sudo_set_commit_reveal_weights_enabled { enabled, .. } => {
                self.state.put::<st::CommitRevealWeightsEnabled>(&key, &enabled);
                self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::CommitRevealEnabled(netuid, enabled)));
            }
            Call::sudo_set_commit_reveal_weights_interval { interval, .. } => {
                if interval == 0 {
                    return Err(subtensor_error(SubtensorError::RevealPeriodTooSmall));
                }
                self.state.put::<st::RevealPeriodEpochs>(&key, &interval)
            }
        }
        Ok(())
    }

    fn subtensor(&mut self, origin: Origin, call: SubtensorCall) -> Result<(), DispatchError> {
        let Origin::Signed(who) = origin else { return Err(DispatchError::BadOrigin) };
        match call {
            SubtensorCall::register_network { hotkey } => self.register_network(who, hotkey).map(drop),
            SubtensorCall::register_network_with_identity { hotkey, identity } => {
                let netuid = self.register_network(who, hotkey)?;
                if let Some(identity) = identity {
                    self.state.put::<st::SubnetIdentitiesV3>(&(netuid,), &identity);
                }
                Ok(())
            }
            SubtensorCall::burned_register { netuid, hotkey } => self.burned_register(who, netuid, hotkey),
            SubtensorCall::serve_axon { netuid, version, ip, port, ip_type, protocol, placeholder1, placeholder2 } => {
                let axon = AxonInfo { block: 0, version, ip, port, ip_type, protocol, placeholder1, placeholder2 };
                self.serve_axon(who, netuid, axon, None)
            }
            SubtensorCall::serve_axon_tls {
                netuid,
                version,
                ip,
                port,
                ip_type,
                protocol,
                placeholder1,
                placeholder2,
                certificate,
            } => {
                let axon = AxonInfo { block: 0, version, ip, port, ip_type, protocol, placeholder1, placeholder2 };
                self.serve_axon(who, netuid, axon, Some(certificate))
            }
            SubtensorCall::set_weights { netuid, dests, weights, version_key } => {
                self.set_weights(who, netuid, 0, dests, weights, version_key)
            }
            SubtensorCall::set_mechanism_weights { netuid, mecid, dests, weights, version_key } => {
                self.set_weights(who, netuid, mecid, dests, weights, version_key)
            }
            SubtensorCall::commit_weights { netuid, commit_hash } => self.commit_weights(who, netuid, 0, commit_hash),
            SubtensorCall::commit_mechanism_weights { netuid, mecid, commit_hash } => {
                self.commit_weights(who, netuid, mecid, commit_hash)
            }
            SubtensorCall::reveal_weights { netuid, uids, values, salt, version_key } => {
                self.reveal_weights(who, netuid, 0, uids, values, salt, version_key)
            }
            SubtensorCall::reveal_mechanism_weights { netuid, mecid, uids, values, salt, version_key } => {
                self.reveal_weights(who, netuid, mecid, uids, values, salt, version_key)
            }
            SubtensorCall::commit_timelocked_weights { netuid, commit, reveal_round, commit_reveal_version } => {
                self.commit_timelocked(who, netuid, 0, commit, reveal_round, commit_reveal_version)
            }
            SubtensorCall::commit_timelocked_mechanism_weights {
                netuid,
                mecid,
                commit,
                reveal_round,
                commit_reveal_version,
            } => self.commit_timelocked(who, netuid, mecid, commit, reveal_round, commit_reveal_version),
            SubtensorCall::add_stake { hotkey, netuid, amount_staked } => {
                self.add_stake(who, hotkey, netuid, amount_staked)
            }
            SubtensorCall::remove_stake { hotkey, netuid, amount_unstaked } => {
                self.remove_stake(who, hotkey, netuid, amount_unstaked)
            }
        }
    }

    fn ensure_subnet(&self, netuid: u16) -> Result<(), DispatchError> {
        if self.state.value::<st::NetworksAdded>(&(netuid,)) {
            Ok(())
        } else {
            Err(subtensor_error(SubtensorError::SubnetNotExists))
        }
    }

    /// Binds `hotkey` to `coldkey`, or checks that it already is.
    fn claim_hotkey(&mut self, coldkey: AccountId32, hotkey: AccountId32) -> Result<(), DispatchError> {
        if !self.state.contains::<st::Owner>(&(hotkey,)) {
            self.state.put::<st::Owner>(&(hotkey,), &coldkey);
            self.state.mutate::<st::OwnedHotkeys, _>(&(coldkey,), |owned| owned.push(hotkey));
            return Ok(());
        }
        if self.state.value::<st::Owner>(&(hotkey,)) != coldkey {
            return Err(subtensor_error(SubtensorError::NonAssociatedColdKey));
        }
        Ok(())
    }

    fn register_network(&mut self, coldkey: AccountId32, hotkey: AccountId32) -> Result<u16, DispatchError> {
        let lock = self.state.value::<st::NetworkLastLockCost>(&());
        if self.free(&coldkey) < lock {
            return Err(subtensor_error(SubtensorError::CannotAffordLockCost));
        }
        self.claim_hotkey(coldkey, hotkey)?;
        let netuid = (1..=u16::MAX)
            .find(|netuid| !self.state.value::<st::NetworksAdded>(&(*netuid,)))
            .ok_or(subtensor_error(SubtensorError::SubnetLimitReached))?;
        self.burn(&coldkey, lock, SubtensorError::CannotAffordLockCost)?;
        let key = (netuid,);
        self.state.put::<st::NetworksAdded>(&key, &true);
        self.state.mutate::<st::TotalNetworks, _>(&(), |total| *total += 1);
        self.state.put::<st::SubnetOwner>(&key, &coldkey);
        self.state.put::<st::SubnetOwnerHotkey>(&key, &hotkey);
        self.state.put::<st::NetworkRegisteredAt>(&key, &self.now());
        self.state.put::<st::LastEpochBlock>(&key, &self.now());
        self.state.put::<st::SubnetTAO>(&key, &lock);
        // A devchain subnet takes several registrations per block (a devnet registers its
        // neurons together); the other hyperparameters keep the runtime's defaults.
        self.state.put::<st::MaxRegistrationsPerBlock>(&key, &16);
        self.state.put::<st::Tempo>(&key, &self.state.value::<st::Tempo>(&key));
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::NetworkAdded(netuid, 0)));
        self.append_neuron(netuid, hotkey);
        Ok(netuid)
    }

    fn burned_register(&mut self, coldkey: AccountId32, netuid: u16, hotkey: AccountId32) -> Result<(), DispatchError> {
        if netuid == 0 {
            return Err(subtensor_error(SubtensorError::RegistrationNotPermittedOnRootSubnet));
        }
        self.ensure_subnet(netuid)?;
        let key = (netuid,);
        if !self.state.value::<st::NetworkRegistrationAllowed>(&key) {
            return Err(subtensor_error(SubtensorError::SubNetRegistrationDisabled));
        }
        if self.state.value::<st::RegistrationsThisBlock>(&key)
            >= self.state.value::<st::MaxRegistrationsPerBlock>(&key)
        {
            return Err(subtensor_error(SubtensorError::TooManyRegistrationsThisBlock));
        }
        if self.state.contains::<st::Uids>(&(netuid, hotkey)) {
            return Err(subtensor_error(SubtensorError::HotKeyAlreadyRegisteredInSubNet));
        }
        self.claim_hotkey(coldkey, hotkey)?;
        let burn = self.state.value::<st::Burn>(&key);
        self.burn(&coldkey, burn, SubtensorError::NotEnoughBalanceToStake)?;
        self.state.mutate::<st::RegistrationsThisBlock, _>(&key, |count| *count += 1);
        self.append_neuron(netuid, hotkey);
        Ok(())
    }

    /// Gives `hotkey` a uid on `netuid`: the next free one, or, when the subnet is full, the
    /// uid of the neuron with the lowest pruning score (outside its immunity period if any is).
    fn append_neuron(&mut self, netuid: u16, hotkey: AccountId32) {
        let key = (netuid,);
        let n = self.state.value::<st::SubnetworkN>(&key);
        let now = self.now();
        let uid = if n < self.state.value::<st::MaxAllowedUids>(&key) {
            self.state.put::<st::SubnetworkN>(&key, &(n + 1));
            self.state.mutate::<st::Active, _>(&key, |v| v.push(true));
            push_default::<st::Rank>(&mut self.state, netuid);
            push_default::<st::Trust>(&mut self.state, netuid);
            push_default::<st::Consensus>(&mut self.state, netuid);
            push_default::<st::Incentive>(&mut self.state, netuid);
            push_default::<st::Dividends>(&mut self.state, netuid);
            push_default::<st::ValidatorTrust>(&mut self.state, netuid);
            push_default::<st::PruningScores>(&mut self.state, netuid);
            push_default::<st::Emission>(&mut self.state, netuid);
            push_default::<st::LastUpdate>(&mut self.state, netuid);
            self.state.mutate::<st::ValidatorPermit, _>(&key, |v| v.push(false));
            n
        } else {
            let immunity = self.state.value::<st::ImmunityPeriod>(&key) as u64;
            let scores = self.state.value::<st::PruningScores>(&key);
            let uid = (0..n)
                .min_by_key(|&uid| {
                    let registered = self.state.value::<st::BlockAtRegistration>(&(netuid, uid));
                    let immune = now.saturating_sub(registered) < immunity;
                    (immune, scores.get(uid as usize).copied().unwrap_or(0), uid)
                })
                .unwrap_or(0);
            let old = self.state.value::<st::Keys>(&(netuid, uid));
            self.state.remove::<st::Uids>(&(netuid, old));
            self.state.remove::<st::Axons>(&(netuid, old));
            self.state.remove::<st::NeuronCertificates>(&(netuid, old));
            self.state.remove::<st::Prometheus>(&(netuid, old));
            self.state.remove::<st::Weights>(&(netuid, uid));
            self.state.mutate::<st::LastUpdate, _>(&key, |v| v[uid as usize] = 0);
            self.state.mutate::<st::PruningScores, _>(&key, |v| v[uid as usize] = 0);
            self.state.mutate::<st::ValidatorPermit, _>(&key, |v| v[uid as usize] = false);
            uid
        };
        self.state.put::<st::Keys>(&(netuid, uid), &hotkey);
        self.state.put::<st::Uids>(&(netuid, hotkey), &uid);
        self.state.put::<st::BlockAtRegistration>(&(netuid, uid), &now);
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::NeuronRegistered(netuid, uid, hotkey)));
    }

    fn serve_axon(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mut axon: AxonInfo,
        certificate: Option<Vec<u8>>,
    ) -> Result<(), DispatchError> {
        if !self.state.contains::<st::Uids>(&(netuid, hotkey)) {
            return Err(subtensor_error(SubtensorError::HotKeyNotRegisteredInNetwork));
        }
        if axon.ip_type != 4 && axon.ip_type != 6 {
            return Err(subtensor_error(SubtensorError::InvalidIpType));
        }
        // Loopback is allowed here, unlike on the real chain: a devchain's neurons all run on
        // one machine.
        if axon.ip_type == 4 && axon.ip >= 1 << 32 {
            return Err(subtensor_error(SubtensorError::InvalidIpAddress));
        }
        if axon.port == 0 {
            return Err(subtensor_error(SubtensorError::InvalidPort));
        }
        let previous = self.state.get::<st::Axons>(&(netuid, hotkey)).map_or(0, |axon| axon.block);
        let limit = self.state.value::<st::ServingRateLimit>(&(netuid,));
        let now = self.now();
        if limit > 0 && previous > 0 && now.saturating_sub(previous) < limit {
            return Err(subtensor_error(SubtensorError::ServingRateLimitExceeded));
        }
        axon.block = now;
        self.state.put::<st::Axons>(&(netuid, hotkey), &axon);
        if let Some(certificate) = certificate {
            if let Some((&algorithm, key)) = certificate.split_first().filter(|(_, key)| key.len() <= 64) {
                let certificate = NeuronCertificate { public_key: BoundedVec(key.to_vec()), algorithm };
                self.state.put::<st::NeuronCertificates>(&(netuid, hotkey), &certificate);
            }
        }
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::AxonServed(netuid, hotkey)));
        Ok(())
    }

    /// The uid of `hotkey` on `netuid`, and the subnet index for mechanism `mecid`.
    fn weights_target(&self, hotkey: AccountId32, netuid: u16, mecid: u8) -> Result<(u16, u16), DispatchError> {
        self.ensure_subnet(netuid)?;
        if mecid >= self.state.value::<st::MechanismCountCurrent>(&(netuid,)) {
            return Err(subtensor_error(SubtensorError::MechanismDoesNotExist));
        }
        let uid = self
            .state
            .get::<st::Uids>(&(netuid, hotkey))
            .ok_or(subtensor_error(SubtensorError::HotKeyNotRegisteredInSubNet))?;
        Ok((uid, mecid as u16 * 4_096 + netuid))
    }

    fn check_rate_limit(
        &self,
        netuid: u16,
        netuid_index: u16,
        uid: u16,
        error: SubtensorError,
    ) -> Result<(), DispatchError> {
        let last = self.state.value::<st::LastUpdate>(&(netuid_index,)).get(uid as usize).copied().unwrap_or(0);
        let limit = self.state.value::<st::WeightsSetRateLimit>(&(netuid,));
        if last == 0 || self.now().saturating_sub(last) >= limit {
            Ok(())
        } else {
            Err(subtensor_error(error))
        }
    }

    fn set_last_update(&mut self, netuid: u16, netuid_index: u16, uid: u16) {
        let n = self.state.value::<st::SubnetworkN>(&(netuid,)) as usize;
        let now = self.now();
        self.state.mutate::<st::LastUpdate, _>(&(netuid_index,), |v| {
            v.resize(v.len().max(n), 0);
            if let Some(slot) = v.get_mut(uid as usize) {
                *slot = now;
            }
        });
    }

    fn set_weights(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mecid: u8,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
    ) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        if self.state.value::<st::CommitRevealWeightsEnabled>(&(netuid,)) {
            return Err(subtensor_error(SubtensorError::CommitRevealEnabled));
        }
        self.apply_weights(hotkey, netuid, mecid, dests, weights, version_key, true)
    }

    /// The checks and effect of setting weights, shared by `set_weights` and reveals.
    #[allow(clippy::too_many_arguments)]
    fn apply_weights(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mecid: u8,
        dests: Vec<u16>,
        weights: Vec<u16>,
        version_key: u64,
        rate_limited: bool,
    ) -> Result<(), DispatchError> {
        if dests.len() != weights.len() {
            return Err(subtensor_error(SubtensorError::WeightVecNotEqualSize));
        }
        let (uid, netuid_index) = self.weights_target(hotkey, netuid, mecid)?;
        let network_key = self.state.value::<st::WeightsVersionKey>(&(netuid,));
        if network_key != 0 && version_key < network_key {
            return Err(subtensor_error(SubtensorError::IncorrectWeightVersionKey));
        }
        if rate_limited {
            self.check_rate_limit(netuid, netuid_index, uid, SubtensorError::SettingWeightsTooFast)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        if !dests.iter().all(|dest| seen.insert(*dest)) {
            return Err(subtensor_error(SubtensorError::DuplicateUids));
        }
        let n = self.state.value::<st::SubnetworkN>(&(netuid,));
        if dests.iter().any(|&dest| dest >= n) {
            return Err(subtensor_error(SubtensorError::UidVecContainInvalidOne));
        }
        let self_weight = dests.len() == 1 && dests[0] == uid;
        let min = self.state.value::<st::MinAllowedWeights>(&(netuid,)).min(n) as usize;
        if !self_weight && dests.len() < min {
            return Err(subtensor_error(SubtensorError::WeightVecLengthIsLow));
        }
        let normalised = max_upscale(&weights);
        let limit = self.state.value::<st::MaxWeightsLimit>(&(netuid,));
        if !self_weight && dests.len() > 1 && limit < u16::MAX {
            let total: u64 = normalised.iter().map(|&w| w as u64).sum();
            if normalised.iter().any(|&w| (w as u64) * (u16::MAX as u64) > (limit as u64) * total.max(1)) {
                return Err(subtensor_error(SubtensorError::MaxWeightExceeded));
            }
        }
        let stored: Vec<(u16, u16)> = dests.into_iter().zip(normalised).filter(|(_, w)| *w > 0).collect();
        self.state.put::<st::Weights>(&(netuid_index, uid), &stored);
        self.set_last_update(netuid, netuid_index, uid);
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::WeightsSet(netuid_index, uid)));
        Ok(())
    }

    fn epoch(&self, netuid: u16) -> u64 {
        self.state.value::<st::SubnetEpochIndex>(&(netuid,))
    }

    fn commit_weights(&mut self, hotkey: AccountId32, netuid: u16, mecid: u8, hash: H256) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        if !self.state.value::<st::CommitRevealWeightsEnabled>(&(netuid,)) {
            return Err(subtensor_error(SubtensorError::CommitRevealDisabled));
        }
        let (uid, netuid_index) = self.weights_target(hotkey, netuid, mecid)?;
        self.check_rate_limit(netuid, netuid_index, uid, SubtensorError::CommittingWeightsTooFast)?;
        let mut commits = self.state.get::<st::WeightCommits>(&(netuid_index, hotkey)).unwrap_or_default();
        if commits.len() >= MAX_UNREVEALED_COMMITS {
            return Err(subtensor_error(SubtensorError::TooManyUnrevealedCommits));
        }
        let epoch = self.epoch(netuid);
        let reveal_epoch = epoch + self.state.value::<st::RevealPeriodEpochs>(&(netuid,));
        commits.push((hash, self.now(), epoch, reveal_epoch));
        self.state.put::<st::WeightCommits>(&(netuid_index, hotkey), &commits);
        self.set_last_update(netuid, netuid_index, uid);
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::WeightsCommitted(hotkey, netuid_index, hash)));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn reveal_weights(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mecid: u8,
        uids: Vec<u16>,
        values: Vec<u16>,
        salt: Vec<u16>,
        version_key: u64,
    ) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        if !self.state.value::<st::CommitRevealWeightsEnabled>(&(netuid,)) {
            return Err(subtensor_error(SubtensorError::CommitRevealDisabled));
        }
        let (_, netuid_index) = self.weights_target(hotkey, netuid, mecid)?;
        let mut commits = self
            .state
            .get::<st::WeightCommits>(&(netuid_index, hotkey))
            .filter(|commits| !commits.is_empty())
            .ok_or(subtensor_error(SubtensorError::NoWeightsCommitFound))?;
        let hash =
            H256(sp_crypto_hashing::blake2_256(&(hotkey, netuid_index, &uids, &values, &salt, version_key).encode()));
        let epoch = self.epoch(netuid);
        // Expired commits go whatever is revealed.
        commits.retain(|&(_, _, _, reveal_epoch)| epoch <= reveal_epoch);
        let position = commits.iter().position(|(commit, ..)| *commit == hash);
        let outcome = match position {
            None => Err(subtensor_error(if commits.is_empty() {
                SubtensorError::ExpiredWeightCommit
            } else {
                SubtensorError::InvalidRevealCommitHashNotMatch
            })),
            Some(index) if epoch < commits[index].3 => Err(subtensor_error(SubtensorError::RevealTooEarly)),
            Some(index) => {
                commits.remove(index);
                Ok(())
            }
        };
        outcome?;
        self.state.put::<st::WeightCommits>(&(netuid_index, hotkey), &commits);
        self.apply_weights(hotkey, netuid, mecid, uids, values, version_key, false)?;
        self.deposit(RuntimeEvent::SubtensorModule(SubtensorEvent::WeightsRevealed(hotkey, netuid_index, hash)));
        Ok(())
    }

    fn commit_timelocked(
        &mut self,
        hotkey: AccountId32,
        netuid: u16,
        mecid: u8,
        commit: BoundedVec<u8>,
        reveal_round: u64,
        version: u16,
    ) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        if !self.state.value::<st::CommitRevealWeightsEnabled>(&(netuid,)) {
            return Err(subtensor_error(SubtensorError::CommitRevealDisabled));
        }
        if version != self.state.value::<st::CommitRevealWeightsVersion>(&()) {
            return Err(subtensor_error(SubtensorError::IncorrectCommitRevealVersion));
        }
        let (uid, netuid_index) = self.weights_target(hotkey, netuid, mecid)?;
        self.check_rate_limit(netuid, netuid_index, uid, SubtensorError::CommittingWeightsTooFast)?;
        let epoch = self.epoch(netuid);
        let key = (netuid_index, epoch);
        let mut commits = self.state.value::<st::TimelockedWeightCommits>(&key);
        if commits.iter().filter(|(who, ..)| *who == hotkey).count() >= MAX_UNREVEALED_COMMITS {
            return Err(subtensor_error(SubtensorError::TooManyUnrevealedCommits));
        }
        let hash = H256(sp_crypto_hashing::blake2_256(&commit.0));
        commits.push((hotkey, self.now(), commit, reveal_round));
        self.state.put::<st::TimelockedWeightCommits>(&key, &commits);
        self.set_last_update(netuid, netuid_index, uid);
        let event = SubtensorEvent::TimelockedWeightsCommitted(hotkey, netuid_index, hash, reveal_round);
        self.deposit(RuntimeEvent::SubtensorModule(event));
        Ok(())
    }

    fn add_stake(
        &mut self,
        coldkey: AccountId32,
        hotkey: AccountId32,
        netuid: u16,
        amount: u64,
    ) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        if !self.state.contains::<st::Owner>(&(hotkey,)) {
            return Err(subtensor_error(SubtensorError::HotKeyAccountNotExists));
        }
        if amount == 0 {
            return Err(subtensor_error(SubtensorError::AmountTooLow));
        }
        self.burn(&coldkey, amount, SubtensorError::NotEnoughBalanceToStake)?;
        self.move_stake(coldkey, hotkey, netuid, amount as i128);
        let event = SubtensorEvent::StakeAdded(coldkey, hotkey, amount, amount, netuid, 0);
        self.deposit(RuntimeEvent::SubtensorModule(event));
        Ok(())
    }

    fn remove_stake(
        &mut self,
        coldkey: AccountId32,
        hotkey: AccountId32,
        netuid: u16,
        amount: u64,
    ) -> Result<(), DispatchError> {
        self.ensure_subnet(netuid)?;
        let staked = self.state.value::<st::Alpha>(&(hotkey, coldkey, netuid)).to_int();
        if amount == 0 || staked < amount {
            return Err(subtensor_error(SubtensorError::NotEnoughStakeToWithdraw));
        }
        self.move_stake(coldkey, hotkey, netuid, -(amount as i128));
        self.credit(&coldkey, amount);
        self.state.mutate::<balances::TotalIssuance, _>(&(), |total| *total = total.saturating_add(amount));
        let event = SubtensorEvent::StakeRemoved(coldkey, hotkey, amount, amount, netuid, 0);
        self.deposit(RuntimeEvent::SubtensorModule(event));
        Ok(())
    }

    /// Stake moves 1:1 between TAO and the subnet's alpha: the devchain has no pools.
    fn move_stake(&mut self, coldkey: AccountId32, hotkey: AccountId32, netuid: u16, delta: i128) {
        let apply = |value: u64| (value as i128 + delta).clamp(0, u64::MAX as i128) as u64;
        self.state.mutate::<st::Alpha, _>(&(hotkey, coldkey, netuid), |alpha| {
            *alpha = FixedU128::from_int(apply(alpha.to_int()))
        });
        self.state.mutate::<st::TotalHotkeyAlpha, _>(&(hotkey, netuid), |total| *total = apply(*total));
        self.state.mutate::<st::SubnetTAO, _>(&(netuid,), |total| *total = apply(*total));
        self.state.mutate::<st::TotalStake, _>(&(), |total| *total = apply(*total));
        self.state.mutate::<st::StakingHotkeys, _>(&(coldkey,), |hotkeys| {
            if !hotkeys.contains(&hotkey) {
                hotkeys.push(hotkey);
            }
        });
    }
}

fn push_default<I>(state: &mut State, netuid: u16)
where
    I: crate::storage::Item<Key = (u16,)>,
    I::Value: Default + Extend<<I::Value as IntoIterator>::Item> + IntoIterator,
    <I::Value as IntoIterator>::Item: Default,
{
    state.mutate::<I, _>(&(netuid,), |v| v.extend(std::iter::once(Default::default())));
}

/// Scales weights so that the largest is 65535, as the chain stores them.
fn max_upscale(weights: &[u16]) -> Vec<u16> {
    let max = weights.iter().copied().max().unwrap_or(0) as u64;
    if max == 0 {
        return weights.to_vec();
    }
    weights.iter().map(|&w| ((w as u64 * u16::MAX as u64 + max / 2) / max) as u16).collect()
}

fn module(error: RuntimeError) -> DispatchError {
    let bytes = error.encode();
    let mut code = [0u8; 4];
    code[0] = bytes[1];
    DispatchError::Module(ModuleError { index: bytes[0], error: code })
}

fn subtensor_error(error: SubtensorError) -> DispatchError {
    module(RuntimeError::SubtensorModule(error))
}

/// The netuids of the subnets that exist.
pub fn subnets(state: &State) -> Vec<u16> {
    let total = state.value::<st::TotalNetworks>(&());
    let mut found = Vec::with_capacity(total as usize);
    let mut netuid = 0u16;
    while found.len() < total as usize && netuid < u16::MAX {
        if state.value::<st::NetworksAdded>(&(netuid,)) {
            found.push(netuid);
        }
        netuid += 1;
    }
    found
}

/// `NeuronInfoRuntimeApi_get_neurons_lite`: every neuron of `netuid` (none for an unknown one).
pub fn neurons_lite(state: &State, netuid: u16) -> Vec<NeuronInfoLite<AccountId32>> {
    let n = state.value::<st::SubnetworkN>(&(netuid,));
    let columns = Columns::read(state, netuid);
    (0..n).map(|uid| neuron_lite(state, netuid, uid, &columns)).collect()
}

/// `NeuronInfoRuntimeApi_get_neuron_lite`.
pub fn neuron_lite(state: &State, netuid: u16, uid: u16, columns: &Columns) -> NeuronInfoLite<AccountId32> {
    let hotkey = state.value::<st::Keys>(&(netuid, uid));
    let coldkey = state.value::<st::Owner>(&(hotkey,));
    let stake = state.value::<st::TotalHotkeyAlpha>(&(hotkey, netuid));
    let at = |v: &Vec<u16>| v.get(uid as usize).copied().unwrap_or(0);
    NeuronInfoLite {
        hotkey,
        coldkey,
        uid,
        netuid,
        active: columns.active.get(uid as usize).copied().unwrap_or(false),
        axon_info: state.get::<st::Axons>(&(netuid, hotkey)).unwrap_or_default(),
        prometheus_info: state.get::<st::Prometheus>(&(netuid, hotkey)).unwrap_or_default(),
        stake: vec![(coldkey, Compact(stake))],
        rank: at(&columns.rank),
        emission: columns.emission.get(uid as usize).copied().unwrap_or(0),
        incentive: at(&columns.incentive),
        consensus: at(&columns.consensus),
        trust: at(&columns.trust),
        validator_trust: at(&columns.validator_trust),
        dividends: at(&columns.dividends),
        last_update: columns.last_update.get(uid as usize).copied().unwrap_or(0),
        validator_permit: columns.validator_permit.get(uid as usize).copied().unwrap_or(false),
        pruning_score: at(&columns.pruning_score),
    }
}

/// A subnet's per-uid vectors, read once for a whole metagraph.
pub struct Columns {
    active: Vec<bool>,
    rank: Vec<u16>,
    trust: Vec<u16>,
    consensus: Vec<u16>,
    incentive: Vec<u16>,
    dividends: Vec<u16>,
    validator_trust: Vec<u16>,
    pruning_score: Vec<u16>,
    emission: Vec<u64>,
    last_update: Vec<u64>,
    validator_permit: Vec<bool>,
}

impl Columns {
    /// Reads `netuid`'s vectors from `state`.
    pub fn read(state: &State, netuid: u16) -> Self {
        let key = (netuid,);
        Self {
            active: state.value::<st::Active>(&key),
            rank: state.value::<st::Rank>(&key),
            trust: state.value::<st::Trust>(&key),
            consensus: state.value::<st::Consensus>(&key),
            incentive: state.value::<st::Incentive>(&key),
            dividends: state.value::<st::Dividends>(&key),
            validator_trust: state.value::<st::ValidatorTrust>(&key),
            pruning_score: state.value::<st::PruningScores>(&key),
            emission: state.value::<st::Emission>(&key),
            last_update: state.value::<st::LastUpdate>(&key),
            validator_permit: state.value::<st::ValidatorPermit>(&key),
        }
    }
}

/// The devchain's first state: the dev accounts funded, //Alice the sudo key, the root subnet.
pub fn genesis(accounts: &[(AccountId32, u64)], sudo: AccountId32, now_ms: u64) -> State {
    let mut state = State::new();
    let mut issuance = 0u64;
    for (account, free) in accounts {
        let info = AccountInfo {
            providers: 1,
            data: crate::rt::pallet_balances::types::AccountData { free: *free, ..Default::default() },
            ..Default::default()
        };
        state.put::<system::Account>(&(*account,), &info);
        issuance += free;
    }
    state.put::<balances::TotalIssuance>(&(), &issuance);
    state.put::<crate::items::sudo::Key>(&(), &sudo);
    state.put::<system::Number>(&(), &0);
    state.put::<crate::items::timestamp::Now>(&(), &now_ms);
    // The root network (netuid 0) exists from genesis, as on every subtensor.
    state.put::<st::NetworksAdded>(&(0,), &true);
    state.put::<st::TotalNetworks>(&(), &1);
    state.put::<st::NetworkRateLimit>(&(), &0);
    state.put::<st::NetworkLastLockCost>(&(), &(100 * TAO));
    state.put::<st::NetworkMinLockCost>(&(), &(100 * TAO));
    state
}

fn compact16(values: &[u16]) -> Vec<Compact<u16>> {
    values.iter().map(|&v| Compact(v)).collect()
}

fn compact64(values: &[u64]) -> Vec<Compact<u64>> {
    values.iter().map(|&v| Compact(v)).collect()
}

/// A subnet's hotkeys, coldkeys and stakes in uid order.
fn keys_and_stakes(state: &State, netuid: u16) -> (Vec<AccountId32>, Vec<AccountId32>, Vec<u64>) {
    let n = state.value::<st::SubnetworkN>(&(netuid,));
    let hotkeys: Vec<AccountId32> = (0..n).map(|uid| state.value::<st::Keys>(&(netuid, uid))).collect();
    let coldkeys = hotkeys.iter().map(|hotkey| state.value::<st::Owner>(&(*hotkey,))).collect();
    let stakes = hotkeys.iter().map(|hotkey| state.value::<st::TotalHotkeyAlpha>(&(*hotkey, netuid))).collect();
    (hotkeys, coldkeys, stakes)
}

/// `SubnetInfoRuntimeApi_get_subnet_state`.
pub fn subnet_state(state: &State, netuid: u16) -> Option<SubnetState<AccountId32>> {
    if !state.value::<st::NetworksAdded>(&(netuid,)) {
        return None;
    }
    let c = Columns::read(state, netuid);
    let (hotkeys, coldkeys, stakes) = keys_and_stakes(state, netuid);
    let n = hotkeys.len() as u16;
    let registered: Vec<u64> = (0..n).map(|uid| state.value::<st::BlockAtRegistration>(&(netuid, uid))).collect();
    Some(SubnetState {
        netuid: Compact(netuid),
        hotkeys,
        coldkeys,
        active: c.active,
        validator_permit: c.validator_permit,
        pruning_score: compact16(&c.pruning_score),
        last_update: compact64(&c.last_update),
        emission: compact64(&c.emission),
        dividends: compact16(&c.dividends),
        incentives: compact16(&c.incentive),
        consensus: compact16(&c.consensus),
        trust: compact16(&c.trust),
        rank: compact16(&c.rank),
        block_at_registration: compact64(&registered),
        alpha_stake: compact64(&stakes),
        tao_stake: vec![Compact(0); n as usize],
        total_stake: compact64(&stakes),
        emission_history: Vec::new(),
    })
}

/// `SubnetInfoRuntimeApi_get_metagraph`: the subnet's hyperparameters and neurons; the pool
/// and emission fields, which a chain without dTAO pools does not have, are 0.
pub fn metagraph(state: &State, netuid: u16) -> Option<Metagraph<AccountId32>> {
    if !state.value::<st::NetworksAdded>(&(netuid,)) {
        return None;
    }
    let key = (netuid,);
    let c = Columns::read(state, netuid);
    let (hotkeys, coldkeys, stakes) = keys_and_stakes(state, netuid);
    let n = hotkeys.len() as u16;
    let identity = state.get::<st::SubnetIdentitiesV3>(&key);
    let name = identity.as_ref().map(|i| i.subnet_name.clone()).unwrap_or_default();
    let axons = hotkeys.iter().map(|h| state.get::<st::Axons>(&(netuid, *h)).unwrap_or_default()).collect();
    let registered: Vec<u64> = (0..n).map(|uid| state.value::<st::BlockAtRegistration>(&(netuid, uid))).collect();
    let burn = state.value::<st::Burn>(&key);
    let tao_in = state.value::<st::SubnetTAO>(&key);
    Some(Metagraph {
        netuid: Compact(netuid),
        name: name.into_iter().map(Compact).collect(),
        symbol: state.value::<st::TokenSymbol>(&key).into_iter().map(Compact).collect(),
        identity,
        network_registered_at: Compact(state.value::<st::NetworkRegisteredAt>(&key)),
        owner_hotkey: state.value::<st::SubnetOwnerHotkey>(&key),
        owner_coldkey: state.value::<st::SubnetOwner>(&key),
        block: Compact(state.value::<system::Number>(&()) as u64),
        tempo: Compact(state.value::<st::Tempo>(&key)),
        last_step: Compact(state.value::<st::LastEpochBlock>(&key)),
        blocks_since_last_step: Compact(state.value::<st::BlocksSinceLastStep>(&key)),
        subnet_emission: Compact(0),
        alpha_in: Compact(tao_in),
        alpha_out: Compact(stakes.iter().sum()),
        tao_in: Compact(tao_in),
        alpha_out_emission: Compact(0),
        alpha_in_emission: Compact(0),
        tao_in_emission: Compact(0),
        pending_alpha_emission: Compact(0),
        pending_root_emission: Compact(0),
        subnet_volume: Compact(0),
        // Price 1: stake moves 1:1.
        moving_price: FixedI128 { bits: 1 << 32 },
        rho: Compact(10),
        kappa: Compact(32_767),
        min_allowed_weights: Compact(state.value::<st::MinAllowedWeights>(&key)),
        max_weights_limit: Compact(state.value::<st::MaxWeightsLimit>(&key)),
        weights_version: Compact(state.value::<st::WeightsVersionKey>(&key)),
        weights_rate_limit: Compact(state.value::<st::WeightsSetRateLimit>(&key)),
        activity_cutoff: Compact(5_000),
        max_validators: Compact(MAX_VALIDATORS as u16),
        num_uids: Compact(n),
        max_uids: Compact(state.value::<st::MaxAllowedUids>(&key)),
        burn: Compact(burn),
        difficulty: Compact(u64::MAX),
        registration_allowed: state.value::<st::NetworkRegistrationAllowed>(&key),
        pow_registration_allowed: false,
        immunity_period: Compact(state.value::<st::ImmunityPeriod>(&key)),
        min_difficulty: Compact(u64::MAX),
        max_difficulty: Compact(u64::MAX),
        min_burn: Compact(burn),
        max_burn: Compact(burn),
        adjustment_alpha: Compact(0),
        adjustment_interval: Compact(0),
        target_regs_per_interval: Compact(0),
        max_regs_per_block: Compact(state.value::<st::MaxRegistrationsPerBlock>(&key)),
        serving_rate_limit: Compact(state.value::<st::ServingRateLimit>(&key)),
        commit_reveal_weights_enabled: state.value::<st::CommitRevealWeightsEnabled>(&key),
        commit_reveal_period: Compact(state.value::<st::RevealPeriodEpochs>(&key)),
        liquid_alpha_enabled: false,
        alpha_high: Compact(0),
        alpha_low: Compact(0),
        bonds_moving_avg: Compact(0),
        hotkeys,
        coldkeys,
        identities: vec![None; n as usize],
        axons,
        active: c.active,
        validator_permit: c.validator_permit,
        pruning_score: compact16(&c.pruning_score),
        last_update: compact64(&c.last_update),
        emission: compact64(&c.emission),
        dividends: compact16(&c.dividends),
        incentives: compact16(&c.incentive),
        consensus: compact16(&c.consensus),
        trust: compact16(&c.trust),
        rank: compact16(&c.rank),
        block_at_registration: compact64(&registered),
        alpha_stake: compact64(&stakes),
        tao_stake: vec![Compact(0); n as usize],
        total_stake: compact64(&stakes),
        tao_dividends_per_hotkey: Vec::new(),
        alpha_dividends_per_hotkey: Vec::new(),
    })
}

/// `SubnetInfoRuntimeApi_get_all_dynamic_info`: every subnet's pool, as a chain without dTAO
/// pools has it (the pool holds the staked TAO on both sides, so the price is 1; no emission).
pub fn all_dynamic_info(state: &State) -> Vec<Option<DynamicInfo<AccountId32>>> {
    subnets(state)
        .into_iter()
        .map(|netuid| {
            let key = (netuid,);
            let identity = state.get::<st::SubnetIdentitiesV3>(&key);
            let name = identity.as_ref().map(|i| i.subnet_name.clone()).unwrap_or_default();
            let tao_in = state.value::<st::SubnetTAO>(&key);
            let (_, _, stakes) = keys_and_stakes(state, netuid);
            Some(DynamicInfo {
                netuid: Compact(netuid),
                owner_hotkey: state.value::<st::SubnetOwnerHotkey>(&key),
                owner_coldkey: state.value::<st::SubnetOwner>(&key),
                subnet_name: name.into_iter().map(Compact).collect(),
                token_symbol: state.value::<st::TokenSymbol>(&key).into_iter().map(Compact).collect(),
                tempo: Compact(state.value::<st::Tempo>(&key)),
                last_step: Compact(state.value::<st::LastEpochBlock>(&key)),
                blocks_since_last_step: Compact(state.value::<st::BlocksSinceLastStep>(&key)),
                emission: Compact(0),
                alpha_in: Compact(tao_in),
                alpha_out: Compact(stakes.iter().sum()),
                tao_in: Compact(tao_in),
                alpha_out_emission: Compact(0),
                alpha_in_emission: Compact(0),
                tao_in_emission: Compact(0),
                pending_alpha_emission: Compact(0),
                pending_root_emission: Compact(0),
                subnet_volume: Compact(0),
                network_registered_at: Compact(state.value::<st::NetworkRegisteredAt>(&key)),
                subnet_identity: identity,
                moving_price: FixedI128 { bits: 1 << 32 },
            })
        })
        .collect()
}

/// `StakeInfoRuntimeApi_get_stake_info_for_coldkeys`: for each coldkey, its non-zero stakes by
/// hotkey and subnet (alpha, which the devchain keeps 1:1 with the TAO staked).
pub fn stake_info_for_coldkeys(
    state: &State,
    coldkeys: Vec<AccountId32>,
) -> Vec<(AccountId32, Vec<StakeInfo<AccountId32>>)> {
    let netuids = subnets(state);
    coldkeys
        .into_iter()
        .map(|coldkey| {
            let mut stakes = Vec::new();
            for hotkey in state.value::<st::StakingHotkeys>(&(coldkey,)) {
                for &netuid in &netuids {
                    let stake = state.value::<st::Alpha>(&(hotkey, coldkey, netuid)).to_int();
                    if stake == 0 {
                        continue;
                    }
                    stakes.push(StakeInfo {
                        hotkey,
                        coldkey,
                        netuid: Compact(netuid),
                        stake: Compact(stake),
                        locked: Compact(0),
                        emission: Compact(0),
                        tao_emission: Compact(0),
                        drain: Compact(0),
                        is_registered: state.get::<st::Uids>(&(netuid, hotkey)).is_some(),
                    });
                }
            }
            (coldkey, stakes)
        })
        .collect()
}

/// `SwapRuntimeApi_current_alpha_price(_all)`: rao per alpha; 1 TAO on a chain without pools.
pub fn alpha_prices(state: &State) -> Vec<SubnetPrice> {
    subnets(state).into_iter().map(|netuid| SubnetPrice { netuid, price: TAO }).collect()
}

/// A signed v4 extrinsic of `call` from `signer`, built as clients build them (immortal era,
/// no tip, metadata-hash mode 0), for tools and tests that talk to a devchain without a
/// client library.
pub fn signed_extrinsic(
    signer: &neuronet_synapse::Keypair,
    call: &RuntimeCall,
    nonce: u32,
    genesis: [u8; 32],
) -> Vec<u8> {
    let call = call.encode();
    let mut extra = Era::Immortal.encode();
    Compact(nonce).encode_to(&mut extra);
    Compact(0u64).encode_to(&mut extra);
    extra.push(0);
    let mut payload = call.clone();
    payload.extend_from_slice(&extra);
    SPEC_VERSION.encode_to(&mut payload);
    TRANSACTION_VERSION.encode_to(&mut payload);
    payload.extend_from_slice(&genesis);
    payload.extend_from_slice(&genesis);
    payload.push(0);
    if payload.len() > 256 {
        payload = sp_crypto_hashing::blake2_256(&payload).to_vec();
    }
    let signature = signer.sign(&payload).0;
    let mut body = vec![0x84, 0x00];
    body.extend_from_slice(signer.hotkey().public());
    body.push(match signer.crypto() {
        neuronet_synapse::CryptoType::Ed25519 => 0x00,
        neuronet_synapse::CryptoType::Sr25519 => 0x01,
    });
    body.extend_from_slice(&signature);
    body.extend_from_slice(&extra);
    body.extend_from_slice(&call);
    let mut bytes = Compact(body.len() as u32).encode();
    bytes.extend_from_slice(&body);
    bytes
}
