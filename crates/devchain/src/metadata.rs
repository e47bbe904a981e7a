//! The devchain's runtime metadata (V15), built with scale-info from the types in [`crate::rt`]
//! and the storage items in [`crate::items`]: the real runtime's pallet names and indices, call
//! and event shapes, storage hashers, errors, constants, transaction extensions and runtime APIs,
//! limited to what the devchain implements.

use frame_metadata::v15::{
    CustomMetadata, ExtrinsicMetadata, OuterEnums, PalletCallMetadata, PalletConstantMetadata, PalletErrorMetadata,
    PalletEventMetadata, PalletMetadata, PalletStorageMetadata, RuntimeApiMetadata, RuntimeApiMethodMetadata,
    RuntimeApiMethodParamMetadata, RuntimeMetadataV15, SignedExtensionMetadata,
};
use frame_metadata::RuntimeMetadataPrefixed;
use parity_scale_codec::Encode;
use scale_info::{form::MetaForm, meta_type, TypeInfo};

use crate::items;
use crate::rt::fp_self_contained::unchecked_extrinsic::UncheckedExtrinsic;
use crate::rt::frame_metadata_hash_extension::CheckMetadataHash;
use crate::rt::frame_system::extensions::{
    check_genesis::CheckGenesis, check_non_zero_sender::CheckNonZeroSender, check_spec_version::CheckSpecVersion,
    check_tx_version::CheckTxVersion, check_weight::CheckWeight,
};
use crate::rt::node_subtensor_runtime::{
    check_mortality::CheckMortality, check_nonce::CheckNonce, sudo_wrapper::SudoTransactionExtension,
    transaction_payment_wrapper::ChargeTransactionPaymentWrapper, Runtime,
};
use crate::rt::pallet_drand::drand_priority::DrandPriority;
use crate::rt::pallet_shield::extension::CheckShieldedTxValidity;
use crate::rt::pallet_subtensor::extensions::subtensor::SubtensorTransactionExtension;
use crate::rt::pallet_subtensor::rpc_info::dynamic_info::DynamicInfo;
use crate::rt::pallet_subtensor::rpc_info::metagraph::{Metagraph, SelectiveMetagraph};
use crate::rt::pallet_subtensor::rpc_info::neuron_info::NeuronInfoLite;
use crate::rt::pallet_subtensor::rpc_info::show_subnet::SubnetState;
use crate::rt::pallet_subtensor::rpc_info::stake_info::StakeInfo;
use crate::rt::pallet_subtensor_swap_runtime_api::SubnetPrice;
use crate::rt::pallet_transaction_payment::types::{FeeDetails, RuntimeDispatchInfo};
use crate::rt::pallet_transaction_payment::ChargeTransactionPayment;
use crate::rt::primitive_types::H256;
use crate::rt::sp_core::OpaqueMetadata;
use crate::rt::sp_runtime::MultiSignature;
use crate::rt::sp_version::RuntimeVersion;
use crate::rt::{
    frame_system, pallet_admin_utils, pallet_balances, pallet_drand, pallet_subtensor, pallet_sudo, pallet_timestamp,
    pallet_transaction_payment, AccountId32, Address, RuntimeCall, RuntimeError, RuntimeEvent,
};
use crate::runtime::{self, EXISTENTIAL_DEPOSIT};

/// The transaction extensions' explicit data, nested as the runtime nests them.
pub(crate) type Extra = (
    (CheckNonZeroSender, CheckSpecVersion, CheckTxVersion, CheckGenesis, CheckMortality, CheckNonce, CheckWeight),
    (
        ChargeTransactionPaymentWrapper,
        SudoTransactionExtension,
        CheckShieldedTxValidity,
        SubtensorTransactionExtension,
        DrandPriority,
    ),
    CheckMetadataHash,
);

/// The SCALE bytes of the metadata V15 (starting with the `meta` magic), for a chain whose
/// blocks come every `block_time_ms`.
pub fn encoded(block_time_ms: u64) -> Vec<u8> {
    let mut metadata = build(block_time_ms);
    strip_crate_prefix(&mut metadata.types);
    RuntimeMetadataPrefixed::from(metadata).encode()
}

/// The same metadata as V14, which `state_getMetadata` and `Metadata_metadata` answer (older
/// SCALE libraries, such as the Python SDK's, read their type registry from it).
pub fn encoded_v14(block_time_ms: u64) -> Vec<u8> {
    let pallets = pallets(block_time_ms)
        .into_iter()
        .map(|p| frame_metadata::v14::PalletMetadata {
            name: p.name,
            storage: p.storage,
            calls: p.calls,
            event: p.event,
            constants: p.constants,
            error: p.error,
            index: p.index,
        })
        .collect();
    let extrinsic = frame_metadata::v14::ExtrinsicMetadata {
        ty: meta_type::<crate::rt::sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic>(),
        version: 4,
        signed_extensions: signed_extensions()
            .into_iter()
            .map(|e| frame_metadata::v14::SignedExtensionMetadata {
                identifier: e.identifier,
                ty: e.ty,
                additional_signed: e.additional_signed,
            })
            .collect(),
    };
    let mut metadata = frame_metadata::v14::RuntimeMetadataV14::new(pallets, extrinsic, meta_type::<Runtime>());
    strip_crate_prefix(&mut metadata.types);
    RuntimeMetadataPrefixed::from(metadata).encode()
}

fn build(block_time_ms: u64) -> RuntimeMetadataV15 {
    let extrinsic = ExtrinsicMetadata {
        version: 4,
        address_ty: meta_type::<Address>(),
        call_ty: meta_type::<RuntimeCall>(),
        signature_ty: meta_type::<MultiSignature>(),
        extra_ty: meta_type::<Extra>(),
        signed_extensions: signed_extensions(),
    };
    let outer_enums = OuterEnums {
        call_enum_ty: meta_type::<RuntimeCall>(),
        event_enum_ty: meta_type::<RuntimeEvent>(),
        error_enum_ty: meta_type::<RuntimeError>(),
    };
    RuntimeMetadataV15::new(
        pallets(block_time_ms),
        extrinsic,
        meta_type::<Runtime>(),
        runtime_apis(),
        outer_enums,
        CustomMetadata { map: Default::default() },
    )
}

fn pallets(block_time_ms: u64) -> Vec<PalletMetadata<MetaForm>> {
    vec![
        pallet(0, "System", items::system::entries())
            .calls::<frame_system::pallet::Call>()
            .events::<frame_system::pallet::Event>()
            .errors::<frame_system::pallet::Error>()
            .constant("BlockHashCount", &runtime::BLOCK_HASH_COUNT)
            .constant("Version", &runtime::version())
            .constant("SS58Prefix", &42u16)
            .done(),
        pallet(2, "Timestamp", items::timestamp::entries())
            .calls::<pallet_timestamp::pallet::Call>()
            .constant("MinimumPeriod", &(block_time_ms / 2))
            .done(),
        // No storage or calls: its constant tells clients the block time (bittensor 11.3.0 reads it
        // for the drand reveal round of timelocked weights).
        pallet(3, "Aura", Vec::new()).constant("SlotDuration", &block_time_ms).done(),
        pallet(5, "Balances", items::balances::entries())
            .calls::<pallet_balances::pallet::Call>()
            .events::<pallet_balances::pallet::Event>()
            .errors::<pallet_balances::pallet::Error>()
            .constant("ExistentialDeposit", &EXISTENTIAL_DEPOSIT)
            .done(),
        pallet(6, "TransactionPayment", Vec::new())
            .events::<pallet_transaction_payment::pallet::Event>()
            .constant("OperationalFeeMultiplier", &5u8)
            .done(),
        pallet(7, "SubtensorModule", items::subtensor::entries())
            .calls::<pallet_subtensor::pallet::Call>()
            .events::<pallet_subtensor::pallet::Event>()
            .errors::<pallet_subtensor::pallet::Error>()
            .done(),
        pallet(12, "Sudo", items::sudo::entries())
            .calls::<pallet_sudo::pallet::Call>()
            .events::<pallet_sudo::pallet::Event>()
            .errors::<pallet_sudo::pallet::Error>()
            .done(),
        pallet(18, "Commitments", items::commitments::entries()).done(),
        pallet(19, "AdminUtils", Vec::new())
            .calls::<pallet_admin_utils::pallet::Call>()
            .errors::<pallet_admin_utils::pallet::Error>()
            .done(),
        pallet(26, "Drand", items::drand::entries()).events::<pallet_drand::pallet::Event>().done(),
    ]
}

/// The transaction extensions, in the runtime's order.
fn signed_extensions() -> Vec<SignedExtensionMetadata<MetaForm>> {
    let extension =
        |identifier: &'static str, ty, additional_signed| SignedExtensionMetadata { identifier, ty, additional_signed };
    vec![
        extension("CheckNonZeroSender", meta_type::<CheckNonZeroSender>(), meta_type::<()>()),
        extension("CheckSpecVersion", meta_type::<CheckSpecVersion>(), meta_type::<u32>()),
        extension("CheckTxVersion", meta_type::<CheckTxVersion>(), meta_type::<u32>()),
        extension("CheckGenesis", meta_type::<CheckGenesis>(), meta_type::<H256>()),
        extension("CheckMortality", meta_type::<CheckMortality>(), meta_type::<H256>()),
        extension("CheckNonce", meta_type::<CheckNonce>(), meta_type::<()>()),
        extension("CheckWeight", meta_type::<CheckWeight>(), meta_type::<()>()),
        extension("ChargeTransactionPayment", meta_type::<ChargeTransactionPayment>(), meta_type::<()>()),
        extension("SudoTransactionExtension", meta_type::<SudoTransactionExtension>(), meta_type::<()>()),
        extension("CheckShieldedTxValidity", meta_type::<CheckShieldedTxValidity>(), meta_type::<()>()),
        extension("SubtensorTransactionExtension", meta_type::<SubtensorTransactionExtension>(), meta_type::<()>()),
        extension("DrandPriority", meta_type::<DrandPriority>(), meta_type::<()>()),
        extension("CheckMetadataHash", meta_type::<CheckMetadataHash>(), meta_type::<Option<[u8; 32]>>()),
    ]
}

/// The runtime APIs the devchain answers, with the real signatures.
fn runtime_apis() -> Vec<RuntimeApiMetadata<MetaForm>> {
    type Neurons = Vec<NeuronInfoLite<AccountId32>>;
    vec![
        api("Core", vec![method::<RuntimeVersion>("version", vec![])]),
        api(
            "Metadata",
            vec![
                method::<OpaqueMetadata>("metadata", vec![]),
                method::<Option<OpaqueMetadata>>("metadata_at_version", vec![param::<u32>("version")]),
                method::<Vec<u32>>("metadata_versions", vec![]),
            ],
        ),
        api("AccountNonceApi", vec![method::<u32>("account_nonce", vec![param::<AccountId32>("account")])]),
        api(
            "TransactionPaymentApi",
            vec![
                method::<RuntimeDispatchInfo<u64>>(
                    "query_info",
                    vec![param::<UncheckedExtrinsic>("uxt"), param::<u32>("len")],
                ),
                method::<FeeDetails<u64>>(
                    "query_fee_details",
                    vec![param::<UncheckedExtrinsic>("uxt"), param::<u32>("len")],
                ),
            ],
        ),
        api(
            "NeuronInfoRuntimeApi",
            vec![
                method::<Neurons>("get_neurons_lite", vec![param::<u16>("netuid")]),
                method::<Option<NeuronInfoLite<AccountId32>>>(
                    "get_neuron_lite",
                    vec![param::<u16>("netuid"), param::<u16>("uid")],
                ),
            ],
        ),
        api(
            "SubnetInfoRuntimeApi",
            vec![
                method::<Option<Metagraph<AccountId32>>>("get_metagraph", vec![param::<u16>("netuid")]),
                method::<Option<SubnetState<AccountId32>>>("get_subnet_state", vec![param::<u16>("netuid")]),
                method::<Vec<Option<DynamicInfo<AccountId32>>>>("get_all_dynamic_info", vec![]),
                method::<Option<SelectiveMetagraph<AccountId32>>>(
                    "get_selective_metagraph",
                    vec![param::<u16>("netuid"), param::<Vec<u16>>("metagraph_indexes")],
                ),
                method::<Option<SelectiveMetagraph<AccountId32>>>(
                    "get_selective_mechagraph",
                    vec![param::<u16>("netuid"), param::<u8>("subid"), param::<Vec<u16>>("metagraph_indexes")],
                ),
            ],
        ),
        api(
            "StakeInfoRuntimeApi",
            vec![method::<Vec<(AccountId32, Vec<StakeInfo<AccountId32>>)>>(
                "get_stake_info_for_coldkeys",
                vec![param::<Vec<AccountId32>>("coldkey_accounts")],
            )],
        ),
        api(
            "SwapRuntimeApi",
            vec![
                method::<u64>("current_alpha_price", vec![param::<u16>("netuid")]),
                method::<Vec<SubnetPrice>>("current_alpha_price_all", vec![]),
            ],
        ),
    ]
}

/// The runtime APIs and their versions, as `Core_version` lists them (by blake2-64 of the name).
pub fn api_versions() -> Vec<([u8; 8], u32)> {
    [("Core", 5), ("Metadata", 2), ("AccountNonceApi", 1), ("TransactionPaymentApi", 4), ("NeuronInfoRuntimeApi", 1)]
        .into_iter()
        .map(|(name, version)| (sp_crypto_hashing::blake2_64(name.as_bytes()), version))
        .collect()
}

fn api(name: &'static str, methods: Vec<RuntimeApiMethodMetadata<MetaForm>>) -> RuntimeApiMetadata<MetaForm> {
    RuntimeApiMetadata { name, methods, docs: Vec::new() }
}

fn method<O: TypeInfo + 'static>(
    name: &'static str,
    inputs: Vec<RuntimeApiMethodParamMetadata<MetaForm>>,
) -> RuntimeApiMethodMetadata<MetaForm> {
    RuntimeApiMethodMetadata { name, inputs, output: meta_type::<O>(), docs: Vec::new() }
}

fn param<T: TypeInfo + 'static>(name: &'static str) -> RuntimeApiMethodParamMetadata<MetaForm> {
    RuntimeApiMethodParamMetadata { name, ty: meta_type::<T>() }
}

struct PalletBuilder(PalletMetadata<MetaForm>);

fn pallet(
    index: u8,
    name: &'static str,
    entries: Vec<frame_metadata::v15::StorageEntryMetadata<MetaForm>>,
) -> PalletBuilder {
    let storage = (!entries.is_empty()).then_some(PalletStorageMetadata { prefix: name, entries });
    PalletBuilder(PalletMetadata {
        name,
        storage,
        calls: None,
        event: None,
        constants: Vec::new(),
        error: None,
        index,
        docs: Vec::new(),
    })
}

impl PalletBuilder {
    fn calls<T: TypeInfo + 'static>(mut self) -> Self {
        self.0.calls = Some(PalletCallMetadata { ty: meta_type::<T>() });
        self
    }

    fn events<T: TypeInfo + 'static>(mut self) -> Self {
        self.0.event = Some(PalletEventMetadata { ty: meta_type::<T>() });
        self
    }

    fn errors<T: TypeInfo + 'static>(mut self) -> Self {
        self.0.error = Some(PalletErrorMetadata { ty: meta_type::<T>() });
        self
    }

    fn constant<T: Encode + TypeInfo + 'static>(mut self, name: &'static str, value: &T) -> Self {
        self.0.constants.push(PalletConstantMetadata {
            name,
            ty: meta_type::<T>(),
            value: value.encode(),
            docs: Vec::new(),
        });
        self
    }

    fn done(self) -> PalletMetadata<MetaForm> {
        self.0
    }
}

/// Turns `neuronet_devchain::rt::pallet_subtensor::pallet::AxonInfo` into the real
/// `pallet_subtensor::pallet::AxonInfo`.
fn strip_crate_prefix(types: &mut scale_info::PortableRegistry) {
    const PREFIX: [&str; 2] = ["neuronet_devchain", "rt"];
    for ty in &mut types.types {
        let segments = &mut ty.ty.path.segments;
        if segments.len() > PREFIX.len() && segments[..PREFIX.len()] == PREFIX {
            segments.drain(..PREFIX.len());
        }
    }
}
