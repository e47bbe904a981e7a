//! The runtime's types, in modules named after the crates that define them in subtensor's
//! runtime (`sp_core::crypto::AccountId32`, `pallet_subtensor::pallet::AxonInfo`, ...).
//!
//! The runtime metadata is built from these types with scale-info, and clients look types up by
//! their paths, so each sits in a module whose path, less this module's own prefix, is the real
//! one (the metadata builder strips `neuronet_devchain::rt::`). Fields, variant names and
//! indices follow the real runtime at spec 425; only the calls, events and storage items the
//! devchain implements are declared.

#![allow(missing_docs)]
// Call variants carry the runtime's own (snake_case) names, which the metadata publishes.
#![allow(non_camel_case_types)]

/// `sp_core`: keys and opaque byte wrappers.
pub mod sp_core {
    pub mod crypto {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        /// A 32-byte account: an sr25519 or ed25519 public key.
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, TypeInfo)]
        pub struct AccountId32(pub [u8; 32]);

        impl std::fmt::Debug for AccountId32 {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&neuronet_synapse::ss58::encode(&self.0))
            }
        }
    }

    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    /// The SCALE-encoded metadata blob a `Metadata_*` runtime call returns.
    #[derive(Clone, Debug, Encode, Decode, TypeInfo)]
    pub struct OpaqueMetadata(pub Vec<u8>);
}

/// `primitive_types`: fixed-size hashes.
pub mod primitive_types {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, TypeInfo)]
    pub struct H256(pub [u8; 32]);

    impl std::fmt::Debug for H256 {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "0x{}", hex::encode(self.0))
        }
    }
}

/// `sp_arithmetic` and `sp_weights`.
pub mod sp_arithmetic {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum ArithmeticError {
        Underflow,
        Overflow,
        DivisionByZero,
    }
}

pub mod sp_weights {
    pub mod weight_v2 {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        /// Execution weight: reference time (picoseconds) and proof size (bytes).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct Weight {
            #[codec(compact)]
            pub ref_time: u64,
            #[codec(compact)]
            pub proof_size: u64,
        }
    }
}

/// `sp_runtime`: addresses, signatures, eras, headers and dispatch errors.
pub mod sp_runtime {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    pub mod multiaddress {
        use parity_scale_codec::{Compact, Decode, Encode};
        use scale_info::TypeInfo;

        /// A transaction's sender or a transfer's destination; the devchain resolves `Id` and
        /// `Address32` (there are no account indices).
        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum MultiAddress<AccountId, AccountIndex> {
            Id(AccountId),
            Index(Compact<AccountIndex>),
            Raw(Vec<u8>),
            Address32([u8; 32]),
            Address20([u8; 20]),
        }
    }

    /// A signature over a transaction's signing payload.
    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum MultiSignature {
        Ed25519([u8; 64]),
        Sr25519([u8; 64]),
        Ecdsa([u8; 65]),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct ModuleError {
        pub index: u8,
        pub error: [u8; 4],
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum TokenError {
        FundsUnavailable,
        OnlyProvider,
        BelowMinimum,
        CannotCreate,
        UnknownAsset,
        Frozen,
        Unsupported,
        CannotCreateHold,
        NotExpendable,
        Blocked,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum TransactionalError {
        LimitReached,
        NoLayer,
    }

    /// Why a dispatched call failed; `Module` names a pallet's error by pallet and error index.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum DispatchError {
        Other,
        CannotLookup,
        BadOrigin,
        Module(ModuleError),
        ConsumerRemaining,
        NoProviders,
        TooManyConsumers,
        Token(TokenError),
        Arithmetic(super::sp_arithmetic::ArithmeticError),
        Transactional(TransactionalError),
        Exhausted,
        Corruption,
        Unavailable,
        RootNotAllowed,
    }

    pub mod generic {
        pub mod era {
            use parity_scale_codec::{Decode, Encode, Input, Output};
            use scale_info::{build::Variants, Path, Type, TypeInfo};

            /// A transaction's validity window: immortal, or `period` blocks from the block
            /// whose number is congruent to `phase`.
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum Era {
                Immortal,
                Mortal { period: u64, phase: u64 },
            }

            impl Era {
                /// The number of the block the era starts at, as seen from block `current`.
                pub fn birth(self, current: u64) -> u64 {
                    match self {
                        Era::Immortal => 0,
                        Era::Mortal { period, phase } => (current.max(phase) - phase) / period * period + phase,
                    }
                }

                /// The first block at which the era is over.
                pub fn death(self, current: u64) -> u64 {
                    match self {
                        Era::Immortal => u64::MAX,
                        Era::Mortal { period, .. } => self.birth(current) + period,
                    }
                }

                /// A mortal era of about `period` blocks (a power of two in 4..=65536) from `current`.
                pub fn mortal(period: u64, current: u64) -> Era {
                    let period = period.checked_next_power_of_two().unwrap_or(1 << 16).clamp(4, 1 << 16);
                    let phase = current % period;
                    let quantize = (period >> 12).max(1);
                    Era::Mortal { period, phase: phase / quantize * quantize }
                }
            }

            impl Encode for Era {
                fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
                    match *self {
                        Era::Immortal => dest.push_byte(0),
                        Era::Mortal { period, phase } => {
                            let quantize = (period >> 12).max(1);
                            let low = (period.trailing_zeros().saturating_sub(1)).clamp(1, 15) as u16;
                            let encoded = low | (((phase / quantize) as u16) << 4);
                            encoded.encode_to(dest);
                        }
                    }
                }
            }

            impl Decode for Era {
                fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
                    let first = input.read_byte()?;
                    if first == 0 {
                        return Ok(Era::Immortal);
                    }
                    let encoded = first as u64 + ((input.read_byte()? as u64) << 8);
                    let period = 2u64 << (encoded % (1 << 4));
                    let quantize = (period >> 12).max(1);
                    let phase = (encoded >> 4) * quantize;
                    if period >= 4 && phase < period {
                        Ok(Era::Mortal { period, phase })
                    } else {
                        Err("Invalid period and phase".into())
                    }
                }
            }

            impl TypeInfo for Era {
                type Identity = Self;

                fn type_info() -> Type {
                    let mut variants = Variants::new().variant("Immortal", |v| v.index(0));
                    for i in 1..=255u8 {
                        variants = variants.variant(format!("Mortal{i}").leak() as &'static str, move |v| {
                            v.index(i).fields(scale_info::build::Fields::unnamed().field(|f| f.ty::<u8>()))
                        });
                    }
                    Type::builder().path(Path::new("Era", "sp_runtime::generic::era")).variant(variants)
                }
            }
        }

        pub mod unchecked_extrinsic {
            use parity_scale_codec::{Decode, Encode};
            use scale_info::{build::Fields, meta_type, Path, Type, TypeInfo, TypeParameter};

            /// An extrinsic's bytes; its type parameters name the address, call, signature and
            /// extension types, which is where SCALE libraries look them up.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
            pub struct UncheckedExtrinsic(pub Vec<u8>);

            impl TypeInfo for UncheckedExtrinsic {
                type Identity = Self;

                fn type_info() -> Type {
                    Type::builder()
                        .path(Path::new("UncheckedExtrinsic", "sp_runtime::generic::unchecked_extrinsic"))
                        .type_params(vec![
                            TypeParameter::new("Address", Some(meta_type::<crate::rt::Address>())),
                            TypeParameter::new("Call", Some(meta_type::<crate::rt::RuntimeCall>())),
                            TypeParameter::new("Signature", Some(meta_type::<super::super::MultiSignature>())),
                            TypeParameter::new("Extra", Some(meta_type::<crate::metadata::Extra>())),
                        ])
                        .composite(Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
                }
            }
        }

        pub mod digest {
            use parity_scale_codec::{Decode, Encode};
            use scale_info::TypeInfo;

            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub enum DigestItem {
                #[codec(index = 6)]
                PreRuntime([u8; 4], Vec<u8>),
                #[codec(index = 4)]
                Consensus([u8; 4], Vec<u8>),
                #[codec(index = 5)]
                Seal([u8; 4], Vec<u8>),
                #[codec(index = 0)]
                Other(Vec<u8>),
                #[codec(index = 8)]
                RuntimeEnvironmentUpdated,
            }

            #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct Digest {
                pub logs: Vec<DigestItem>,
            }
        }

        pub mod header {
            use parity_scale_codec::{Decode, Encode};
            use scale_info::TypeInfo;

            use super::super::super::primitive_types::H256;
            use super::digest::Digest;

            /// A block header; its blake2-256 hash is the block hash.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct Header {
                pub parent_hash: H256,
                #[codec(compact)]
                pub number: u32,
                pub state_root: H256,
                pub extrinsics_root: H256,
                pub digest: Digest,
            }
        }
    }
}

/// `fp_self_contained`: the runtime's extrinsic type, opaque here (its SCALE form is the
/// extrinsic's bytes with their length prefix).
pub mod fp_self_contained {
    pub mod unchecked_extrinsic {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::sp_runtime::generic::unchecked_extrinsic;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct UncheckedExtrinsic(pub unchecked_extrinsic::UncheckedExtrinsic);
    }
}

/// `sp_version`: what `Core_version` answers.
pub mod sp_version {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct RuntimeVersion {
        pub spec_name: String,
        pub impl_name: String,
        pub authoring_version: u32,
        pub spec_version: u32,
        pub impl_version: u32,
        pub apis: Vec<([u8; 8], u32)>,
        pub transaction_version: u32,
        pub system_version: u8,
    }
}

/// `frame_support::dispatch`.
pub mod frame_support {
    pub mod dispatch {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum DispatchClass {
            Normal,
            Operational,
            Mandatory,
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Pays {
            Yes,
            No,
        }
    }
}

/// `bounded_collections`: a Vec with a bound the runtime enforces.
pub mod bounded_collections {
    pub mod bounded_vec {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct BoundedVec<T>(pub Vec<T>);
    }
}

/// `substrate_fixed`: the fixed-point numbers subtensor stores stake in.
pub mod substrate_fixed {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    /// An unsigned 64.64 fixed-point number (`U64F64`): `bits / 2^64`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct FixedU128 {
        pub bits: u128,
    }

    /// A signed 96.32 fixed-point number (`I96F32`): `bits / 2^32`.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct FixedI128 {
        pub bits: i128,
    }

    impl FixedU128 {
        /// The whole number `value`.
        pub fn from_int(value: u64) -> Self {
            Self { bits: (value as u128) << 64 }
        }

        /// The integer part.
        pub fn to_int(self) -> u64 {
            (self.bits >> 64) as u64
        }
    }
}

/// `pallet_subtensor_swap_runtime_api`: the swap's runtime API types.
pub mod pallet_subtensor_swap_runtime_api {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    /// A subnet's alpha price in rao per alpha, as `SwapRuntimeApi_current_alpha_price_all` answers.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct SubnetPrice {
        pub netuid: u16,
        pub price: u64,
    }
}

/// `frame_system`: accounts, events and the transaction extensions it defines.
pub mod frame_system {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    use super::frame_support::dispatch::{DispatchClass, Pays};
    use super::primitive_types::H256;
    use super::sp_weights::weight_v2::Weight;

    #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct AccountInfo<Nonce, AccountData> {
        pub nonce: Nonce,
        pub consumers: u32,
        pub providers: u32,
        pub sufficients: u32,
        pub data: AccountData,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum Phase {
        ApplyExtrinsic(u32),
        Finalization,
        Initialization,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct EventRecord<E> {
        pub phase: Phase,
        pub event: E,
        pub topics: Vec<H256>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub struct DispatchEventInfo {
        pub weight: Weight,
        pub class: DispatchClass,
        pub pays_fee: Pays,
    }

    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use super::super::sp_core::crypto::AccountId32;
        use super::super::sp_runtime::DispatchError;
        use super::DispatchEventInfo;
        use crate::rt::primitive_types::H256;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 0)]
            remark { remark: Vec<u8> },
            #[codec(index = 7)]
            remark_with_event { remark: Vec<u8> },
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 0)]
            ExtrinsicSuccess { dispatch_info: DispatchEventInfo },
            #[codec(index = 1)]
            ExtrinsicFailed { dispatch_error: DispatchError, dispatch_info: DispatchEventInfo },
            #[codec(index = 3)]
            NewAccount { account: AccountId32 },
            #[codec(index = 4)]
            KilledAccount { account: AccountId32 },
            #[codec(index = 5)]
            Remarked { sender: AccountId32, hash: H256 },
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Error {
            InvalidSpecName,
            SpecVersionNeedsToIncrease,
            FailedToExtractRuntimeVersion,
            NonDefaultComposite,
            NonZeroRefCount,
            CallFiltered,
            MultiBlockMigrationsOngoing,
            NothingAuthorized,
            Unauthorized,
        }
    }

    pub mod extensions {
        pub mod check_non_zero_sender {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct CheckNonZeroSender;
        }
        pub mod check_spec_version {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct CheckSpecVersion;
        }
        pub mod check_tx_version {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct CheckTxVersion;
        }
        pub mod check_genesis {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct CheckGenesis;
        }
        pub mod check_weight {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct CheckWeight;
        }
    }
}

/// `pallet_balances`.
pub mod pallet_balances {
    pub mod types {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct ExtraFlags(pub u128);

        /// An account's balances in rao; only `free` moves on the devchain.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct AccountData<Balance> {
            pub free: Balance,
            pub reserved: Balance,
            pub frozen: Balance,
            pub flags: ExtraFlags,
        }
    }

    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::sp_core::crypto::AccountId32;
        use crate::rt::Address;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 0)]
            transfer_allow_death {
                dest: Address,
                #[codec(compact)]
                value: u64,
            },
            #[codec(index = 3)]
            transfer_keep_alive {
                dest: Address,
                #[codec(compact)]
                value: u64,
            },
            #[codec(index = 4)]
            transfer_all { dest: Address, keep_alive: bool },
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 0)]
            Endowed { account: AccountId32, free_balance: u64 },
            #[codec(index = 1)]
            DustLost { account: AccountId32, amount: u64 },
            #[codec(index = 2)]
            Transfer { from: AccountId32, to: AccountId32, amount: u64 },
            #[codec(index = 7)]
            Deposit { who: AccountId32, amount: u64 },
            #[codec(index = 8)]
            Withdraw { who: AccountId32, amount: u64 },
            #[codec(index = 11)]
            Burned { who: AccountId32, amount: u64 },
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Error {
            VestingBalance,
            LiquidityRestrictions,
            InsufficientBalance,
            ExistentialDeposit,
            Expendability,
            ExistingVestingSchedule,
            DeadAccount,
            TooManyReserves,
            TooManyHolds,
            TooManyFreezes,
            IssuanceDeactivated,
            DeltaZero,
        }
    }
}

/// `pallet_timestamp`.
pub mod pallet_timestamp {
    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 0)]
            set {
                #[codec(compact)]
                now: u64,
            },
        }
    }
}

/// `pallet_transaction_payment`.
pub mod pallet_transaction_payment {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    /// The fee extension: the tip, in rao.
    #[derive(Encode, Decode, TypeInfo)]
    pub struct ChargeTransactionPayment(#[codec(compact)] pub u64);

    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::sp_core::crypto::AccountId32;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 0)]
            TransactionFeePaid { who: AccountId32, actual_fee: u64, tip: u64 },
        }
    }

    pub mod types {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::frame_support::dispatch::DispatchClass;
        use crate::rt::sp_weights::weight_v2::Weight;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct RuntimeDispatchInfo<Balance> {
            pub weight: Weight,
            pub class: DispatchClass,
            pub partial_fee: Balance,
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct InclusionFee<Balance> {
            pub base_fee: Balance,
            pub len_fee: Balance,
            pub adjusted_weight_fee: Balance,
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct FeeDetails<Balance> {
            pub inclusion_fee: Option<InclusionFee<Balance>>,
            pub tip: Balance,
        }
    }
}

/// `pallet_sudo`: //Alice holds the key, as on a local subtensor.
pub mod pallet_sudo {
    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::sp_runtime::DispatchError;
        use crate::rt::RuntimeCall;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 0)]
            sudo { call: Box<RuntimeCall> },
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 0)]
            Sudid { sudo_result: Result<(), DispatchError> },
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Error {
            RequireSudo,
        }
    }
}

/// `pallet_admin_utils`: the hyperparameter setters (subnet owner or root).
pub mod pallet_admin_utils {
    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 3)]
            sudo_set_serving_rate_limit { netuid: u16, serving_rate_limit: u64 },
            #[codec(index = 6)]
            sudo_set_weights_version_key { netuid: u16, weights_version_key: u64 },
            #[codec(index = 7)]
            sudo_set_weights_set_rate_limit { netuid: u16, weights_set_rate_limit: u64 },
            #[codec(index = 15)]
            sudo_set_max_allowed_uids { netuid: u16, max_allowed_uids: u16 },
            #[codec(index = 30)]
            sudo_set_tempo { netuid: u16, tempo: u16 },
            #[codec(index = 49)]
            sudo_set_commit_reveal_weights_enabled { netuid: u16, enabled: bool },
            #[codec(index = 57)]
            sudo_set_commit_reveal_weights_interval { netuid: u16, interval: u64 },
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Error {
            SubnetDoesNotExist,
            MaxValidatorsLargerThanMaxUIds,
            MaxAllowedUIdsLessThanCurrentUIds,
            BondsMovingAverageMaxReached,
            NegativeSigmoidSteepness,
            ValueNotInBounds,
            MinAllowedUidsGreaterThanCurrentUids,
            MinAllowedUidsGreaterThanMaxAllowedUids,
            MaxAllowedUidsLessThanMinAllowedUids,
            MaxAllowedUidsGreaterThanDefaultMaxAllowedUids,
            InvalidValue,
        }
    }
}

/// `pallet_subtensor`: subnets, neurons, axons, weights and stake.
pub mod pallet_subtensor {
    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::bounded_collections::bounded_vec::BoundedVec;
        use crate::rt::primitive_types::H256;
        use crate::rt::sp_core::crypto::AccountId32;

        /// Where a neuron's axon serves; `ip` 0 means not serving.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct AxonInfo {
            pub block: u64,
            pub version: u32,
            pub ip: u128,
            pub port: u16,
            pub ip_type: u8,
            pub protocol: u8,
            pub placeholder1: u8,
            pub placeholder2: u8,
        }

        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct PrometheusInfo {
            pub block: u64,
            pub version: u32,
            pub ip: u128,
            pub port: u16,
            pub ip_type: u8,
        }

        /// The public key a neuron's axon proves on its connections, with its algorithm.
        #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct NeuronCertificate {
            pub public_key: BoundedVec<u8>,
            pub algorithm: u8,
        }

        #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct ChainIdentityV2 {
            pub name: Vec<u8>,
            pub url: Vec<u8>,
            pub github_repo: Vec<u8>,
            pub image: Vec<u8>,
            pub discord: Vec<u8>,
            pub description: Vec<u8>,
            pub additional: Vec<u8>,
        }

        #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct SubnetIdentityV3 {
            pub subnet_name: Vec<u8>,
            pub github_repo: Vec<u8>,
            pub subnet_contact: Vec<u8>,
            pub subnet_url: Vec<u8>,
            pub discord: Vec<u8>,
            pub description: Vec<u8>,
            pub logo_url: Vec<u8>,
            pub additional: Vec<u8>,
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Call {
            #[codec(index = 0)]
            set_weights { netuid: u16, dests: Vec<u16>, weights: Vec<u16>, version_key: u64 },
            #[codec(index = 2)]
            add_stake { hotkey: AccountId32, netuid: u16, amount_staked: u64 },
            #[codec(index = 3)]
            remove_stake { hotkey: AccountId32, netuid: u16, amount_unstaked: u64 },
            #[codec(index = 4)]
            serve_axon {
                netuid: u16,
                version: u32,
                ip: u128,
                port: u16,
                ip_type: u8,
                protocol: u8,
                placeholder1: u8,
                placeholder2: u8,
            },
            #[codec(index = 7)]
            burned_register { netuid: u16, hotkey: AccountId32 },
            #[codec(index = 40)]
            serve_axon_tls {
                netuid: u16,
                version: u32,
                ip: u128,
                port: u16,
                ip_type: u8,
                protocol: u8,
                placeholder1: u8,
                placeholder2: u8,
                certificate: Vec<u8>,
            },
            #[codec(index = 59)]
            register_network { hotkey: AccountId32 },
            #[codec(index = 79)]
            register_network_with_identity { hotkey: AccountId32, identity: Option<SubnetIdentityV3> },
            #[codec(index = 96)]
            commit_weights { netuid: u16, commit_hash: H256 },
            #[codec(index = 97)]
            reveal_weights { netuid: u16, uids: Vec<u16>, values: Vec<u16>, salt: Vec<u16>, version_key: u64 },
            #[codec(index = 113)]
            commit_timelocked_weights {
                netuid: u16,
                commit: BoundedVec<u8>,
                reveal_round: u64,
                commit_reveal_version: u16,
            },
            #[codec(index = 115)]
            commit_mechanism_weights { netuid: u16, mecid: u8, commit_hash: H256 },
            #[codec(index = 116)]
            reveal_mechanism_weights {
                netuid: u16,
                mecid: u8,
                uids: Vec<u16>,
                values: Vec<u16>,
                salt: Vec<u16>,
                version_key: u64,
            },
            #[codec(index = 118)]
            commit_timelocked_mechanism_weights {
                netuid: u16,
                mecid: u8,
                commit: BoundedVec<u8>,
                reveal_round: u64,
                commit_reveal_version: u16,
            },
            #[codec(index = 119)]
            set_mechanism_weights { netuid: u16, mecid: u8, dests: Vec<u16>, weights: Vec<u16>, version_key: u64 },
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 0)]
            NetworkAdded(u16, u16),
            #[codec(index = 2)]
            StakeAdded(AccountId32, AccountId32, u64, u64, u16, u64),
            #[codec(index = 3)]
            StakeRemoved(AccountId32, AccountId32, u64, u64, u16, u64),
            #[codec(index = 5)]
            WeightsSet(u16, u16),
            #[codec(index = 6)]
            NeuronRegistered(u16, u16, AccountId32),
            #[codec(index = 28)]
            AxonServed(u16, AccountId32),
            #[codec(index = 83)]
            WeightsCommitted(AccountId32, u16, H256),
            #[codec(index = 84)]
            WeightsRevealed(AccountId32, u16, H256),
            #[codec(index = 99)]
            CommitRevealEnabled(u16, bool),
            #[codec(index = 105)]
            TimelockedWeightsCommitted(AccountId32, u16, H256, u64),
            #[codec(index = 106)]
            TimelockedWeightsRevealed(u16, AccountId32),
        }

        /// Which epoch a subnet runs (`SubnetEpochConsensus`, newer than spec 393).
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum EpochConsensus {
            #[default]
            #[codec(index = 0)]
            Yuma,
            #[codec(index = 1)]
            Null,
        }

        /// Every error of the real pallet, in order: a failed call names its error by index.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Error {
            RootNetworkDoesNotExist,
            InvalidIpType,
            InvalidIpAddress,
            InvalidPort,
            HotKeyNotRegisteredInSubNet,
            HotKeyAccountNotExists,
            HotKeyNotRegisteredInNetwork,
            NonAssociatedColdKey,
            NotEnoughStake,
            NotEnoughStakeToWithdraw,
            NotEnoughStakeToSetWeights,
            NotEnoughStakeToSetChildkeys,
            NotEnoughBalanceToStake,
            BalanceWithdrawalError,
            ZeroBalanceAfterWithdrawn,
            NeuronNoValidatorPermit,
            WeightVecNotEqualSize,
            DuplicateUids,
            UidVecContainInvalidOne,
            WeightVecLengthIsLow,
            TooManyRegistrationsThisBlock,
            HotKeyAlreadyRegisteredInSubNet,
            NewHotKeyIsSameWithOld,
            InvalidWorkBlock,
            InvalidDifficulty,
            InvalidSeal,
            MaxWeightExceeded,
            HotKeyAlreadyDelegate,
            SettingWeightsTooFast,
            IncorrectWeightVersionKey,
            ServingRateLimitExceeded,
            UidsLengthExceedUidsInSubNet,
            NetworkTxRateLimitExceeded,
            DelegateTxRateLimitExceeded,
            HotKeySetTxRateLimitExceeded,
            StakingRateLimitExceeded,
            SubNetRegistrationDisabled,
            TooManyRegistrationsThisInterval,
            TransactorAccountShouldBeHotKey,
            FaucetDisabled,
            NotSubnetOwner,
            RegistrationNotPermittedOnRootSubnet,
            StakeTooLowForRoot,
            AllNetworksInImmunity,
            NotEnoughBalanceToPaySwapHotKey,
            NotRootSubnet,
            CanNotSetRootNetworkWeights,
            NoNeuronIdAvailable,
            DelegateTakeTooLow,
            DelegateTakeTooHigh,
            NoWeightsCommitFound,
            InvalidRevealCommitHashNotMatch,
            CommitRevealEnabled,
            CommitRevealDisabled,
            LiquidAlphaDisabled,
            AlphaHighTooLow,
            AlphaLowOutOfRange,
            ColdKeyAlreadyAssociated,
            NotEnoughBalanceToPaySwapColdKey,
            InvalidChild,
            DuplicateChild,
            ProportionOverflow,
            TooManyChildren,
            TxRateLimitExceeded,
            ColdkeySwapAnnouncementNotFound,
            ColdkeySwapTooEarly,
            ColdkeySwapReannouncedTooEarly,
            AnnouncedColdkeyHashDoesNotMatch,
            ColdkeySwapAlreadyDisputed,
            NewColdKeyIsHotkey,
            InvalidChildkeyTake,
            TxChildkeyTakeRateLimitExceeded,
            InvalidIdentity,
            MechanismDoesNotExist,
            CannotUnstakeLock,
            SubnetNotExists,
            TooManyUnrevealedCommits,
            ExpiredWeightCommit,
            RevealTooEarly,
            InputLengthsUnequal,
            CommittingWeightsTooFast,
            AmountTooLow,
            InsufficientLiquidity,
            SlippageTooHigh,
            TransferDisallowed,
            ActivityCutoffTooLow,
            CallDisabled,
            FirstEmissionBlockNumberAlreadySet,
            NeedWaitingMoreBlocksToStarCall,
            NotEnoughAlphaOutToRecycle,
            CannotBurnOrRecycleOnRootSubnet,
            UnableToRecoverPublicKey,
            InvalidRecoveredPublicKey,
            SubtokenDisabled,
            HotKeySwapOnSubnetIntervalNotPassed,
            ZeroMaxStakeAmount,
            SameNetuid,
            InsufficientBalance,
            StakingOperationRateLimitExceeded,
            InvalidLeaseBeneficiary,
            LeaseCannotEndInThePast,
            LeaseNetuidNotFound,
            LeaseDoesNotExist,
            LeaseHasNoEndBlock,
            LeaseHasNotEnded,
            Overflow,
            BeneficiaryDoesNotOwnHotkey,
            ExpectedBeneficiaryOrigin,
            AdminActionProhibitedDuringWeightsWindow,
            SymbolDoesNotExist,
            SymbolAlreadyInUse,
            IncorrectCommitRevealVersion,
            RevealPeriodTooLarge,
            RevealPeriodTooSmall,
            InvalidValue,
            SubnetLimitReached,
            CannotAffordLockCost,
            EvmKeyAssociateRateLimitExceeded,
            SameAutoStakeHotkeyAlreadySet,
            UidMapCouldNotBeCleared,
            TrimmingWouldExceedMaxImmunePercentage,
            ChildParentInconsistency,
            InvalidNumRootClaim,
            InvalidRootClaimThreshold,
            InvalidSubnetNumber,
            TooManyUIDsPerMechanism,
            VotingPowerTrackingNotEnabled,
            InvalidVotingPowerEmaAlpha,
            PrecisionLoss,
            Deprecated,
            AddStakeBurnRateLimitExceeded,
            ColdkeySwapAnnounced,
            ColdkeySwapDisputed,
            ColdkeySwapClearTooEarly,
            DisabledTemporarily,
        }
    }

    pub mod rpc_info {
        pub mod neuron_info {
            use parity_scale_codec::{Decode, Encode};
            use scale_info::TypeInfo;

            use crate::rt::pallet_subtensor::pallet::{AxonInfo, PrometheusInfo};

            /// One neuron as `NeuronInfoRuntimeApi_get_neurons_lite` answers it.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct NeuronInfoLite<AccountId> {
                pub hotkey: AccountId,
                pub coldkey: AccountId,
                #[codec(compact)]
                pub uid: u16,
                #[codec(compact)]
                pub netuid: u16,
                pub active: bool,
                pub axon_info: AxonInfo,
                pub prometheus_info: PrometheusInfo,
                pub stake: Vec<(AccountId, parity_scale_codec::Compact<u64>)>,
                #[codec(compact)]
                pub rank: u16,
                #[codec(compact)]
                pub emission: u64,
                #[codec(compact)]
                pub incentive: u16,
                #[codec(compact)]
                pub consensus: u16,
                #[codec(compact)]
                pub trust: u16,
                #[codec(compact)]
                pub validator_trust: u16,
                #[codec(compact)]
                pub dividends: u16,
                #[codec(compact)]
                pub last_update: u64,
                pub validator_permit: bool,
                #[codec(compact)]
                pub pruning_score: u16,
            }
        }

        pub mod metagraph {
            use parity_scale_codec::{Compact, Decode, Encode};
            use scale_info::TypeInfo;

            use crate::rt::pallet_subtensor::pallet::{AxonInfo, ChainIdentityV2, SubnetIdentityV3};
            use crate::rt::substrate_fixed::FixedI128;

            /// Declares `Metagraph` and its selective form from one field list: a field's
            /// position is its index in `get_selective_metagraph` (netuid is 0).
            macro_rules! metagraph {
                ($($field:ident: $ty:ty,)*) => {
                    /// A subnet and all its neurons, as `SubnetInfoRuntimeApi_get_metagraph` answers.
                    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
                    pub struct Metagraph<AccountId> {
                        pub netuid: Compact<u16>,
                        $(pub $field: $ty,)*
                    }

                    /// The fields of a [`Metagraph`] a caller selected by index, with the
                    /// validators' uids and the commitments after them.
                    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
                    pub struct SelectiveMetagraph<AccountId> {
                        pub netuid: Compact<u16>,
                        $(pub $field: Option<$ty>,)*
                        pub validators: Option<Vec<Compact<u16>>>,
                        pub commitments: Option<Vec<(AccountId, Vec<Compact<u8>>)>>,
                    }

                    impl<AccountId> Metagraph<AccountId> {
                        /// The fields at `indexes`; the validators (index 72) are the uids
                        /// holding a validator permit, and there are no commitments (73).
                        pub fn select(self, indexes: &[u16]) -> SelectiveMetagraph<AccountId> {
                            let validators: Vec<Compact<u16>> = self
                                .validator_permit
                                .iter()
                                .enumerate()
                                .filter(|(_, permit)| **permit)
                                .map(|(uid, _)| Compact(uid as u16))
                                .collect();
                            let mut index = 0u16;
                            let mut take = || {
                                index += 1;
                                indexes.contains(&index)
                            };
                            SelectiveMetagraph {
                                netuid: self.netuid,
                                $($field: take().then_some(self.$field),)*
                                validators: indexes.contains(&72).then_some(validators),
                                commitments: indexes.contains(&73).then(Vec::new),
                            }
                        }
                    }
                };
            }

            metagraph! {
                name: Vec<Compact<u8>>,
                symbol: Vec<Compact<u8>>,
                identity: Option<SubnetIdentityV3>,
                network_registered_at: Compact<u64>,
                owner_hotkey: AccountId,
                owner_coldkey: AccountId,
                block: Compact<u64>,
                tempo: Compact<u16>,
                last_step: Compact<u64>,
                blocks_since_last_step: Compact<u64>,
                subnet_emission: Compact<u64>,
                alpha_in: Compact<u64>,
                alpha_out: Compact<u64>,
                tao_in: Compact<u64>,
                alpha_out_emission: Compact<u64>,
                alpha_in_emission: Compact<u64>,
                tao_in_emission: Compact<u64>,
                pending_alpha_emission: Compact<u64>,
                pending_root_emission: Compact<u64>,
                subnet_volume: Compact<u128>,
                moving_price: FixedI128,
                rho: Compact<u16>,
                kappa: Compact<u16>,
                min_allowed_weights: Compact<u16>,
                max_weights_limit: Compact<u16>,
                weights_version: Compact<u64>,
                weights_rate_limit: Compact<u64>,
                activity_cutoff: Compact<u16>,
                max_validators: Compact<u16>,
                num_uids: Compact<u16>,
                max_uids: Compact<u16>,
                burn: Compact<u64>,
                difficulty: Compact<u64>,
                registration_allowed: bool,
                pow_registration_allowed: bool,
                immunity_period: Compact<u16>,
                min_difficulty: Compact<u64>,
                max_difficulty: Compact<u64>,
                min_burn: Compact<u64>,
                max_burn: Compact<u64>,
                adjustment_alpha: Compact<u64>,
                adjustment_interval: Compact<u16>,
                target_regs_per_interval: Compact<u16>,
                max_regs_per_block: Compact<u16>,
                serving_rate_limit: Compact<u64>,
                commit_reveal_weights_enabled: bool,
                commit_reveal_period: Compact<u64>,
                liquid_alpha_enabled: bool,
                alpha_high: Compact<u16>,
                alpha_low: Compact<u16>,
                bonds_moving_avg: Compact<u64>,
                hotkeys: Vec<AccountId>,
                coldkeys: Vec<AccountId>,
                identities: Vec<Option<ChainIdentityV2>>,
                axons: Vec<AxonInfo>,
                active: Vec<bool>,
                validator_permit: Vec<bool>,
                pruning_score: Vec<Compact<u16>>,
                last_update: Vec<Compact<u64>>,
                emission: Vec<Compact<u64>>,
                dividends: Vec<Compact<u16>>,
                incentives: Vec<Compact<u16>>,
                consensus: Vec<Compact<u16>>,
                trust: Vec<Compact<u16>>,
                rank: Vec<Compact<u16>>,
                block_at_registration: Vec<Compact<u64>>,
                alpha_stake: Vec<Compact<u64>>,
                tao_stake: Vec<Compact<u64>>,
                total_stake: Vec<Compact<u64>>,
                tao_dividends_per_hotkey: Vec<(AccountId, Compact<u64>)>,
                alpha_dividends_per_hotkey: Vec<(AccountId, Compact<u64>)>,
            }
        }

        pub mod dynamic_info {
            use parity_scale_codec::{Compact, Decode, Encode};
            use scale_info::TypeInfo;

            use crate::rt::pallet_subtensor::pallet::SubnetIdentityV3;
            use crate::rt::substrate_fixed::FixedI128;

            /// A subnet's pool and schedule, as `SubnetInfoRuntimeApi_get_all_dynamic_info` answers.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct DynamicInfo<AccountId> {
                pub netuid: Compact<u16>,
                pub owner_hotkey: AccountId,
                pub owner_coldkey: AccountId,
                pub subnet_name: Vec<Compact<u8>>,
                pub token_symbol: Vec<Compact<u8>>,
                pub tempo: Compact<u16>,
                pub last_step: Compact<u64>,
                pub blocks_since_last_step: Compact<u64>,
                pub emission: Compact<u64>,
                pub alpha_in: Compact<u64>,
                pub alpha_out: Compact<u64>,
                pub tao_in: Compact<u64>,
                pub alpha_out_emission: Compact<u64>,
                pub alpha_in_emission: Compact<u64>,
                pub tao_in_emission: Compact<u64>,
                pub pending_alpha_emission: Compact<u64>,
                pub pending_root_emission: Compact<u64>,
                pub subnet_volume: Compact<u128>,
                pub network_registered_at: Compact<u64>,
                pub subnet_identity: Option<SubnetIdentityV3>,
                pub moving_price: FixedI128,
            }
        }

        pub mod stake_info {
            use parity_scale_codec::{Compact, Decode, Encode};
            use scale_info::TypeInfo;

            /// One hotkey's stake from one coldkey on one subnet, as
            /// `StakeInfoRuntimeApi_get_stake_info_for_coldkeys` answers.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct StakeInfo<AccountId> {
                pub hotkey: AccountId,
                pub coldkey: AccountId,
                pub netuid: Compact<u16>,
                pub stake: Compact<u64>,
                pub locked: Compact<u64>,
                pub emission: Compact<u64>,
                pub tao_emission: Compact<u64>,
                pub drain: Compact<u64>,
                pub is_registered: bool,
            }
        }

        pub mod show_subnet {
            use parity_scale_codec::{Compact, Decode, Encode};
            use scale_info::TypeInfo;

            /// A subnet's per-neuron state, as `SubnetInfoRuntimeApi_get_subnet_state` answers.
            #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
            pub struct SubnetState<AccountId> {
                pub netuid: Compact<u16>,
                pub hotkeys: Vec<AccountId>,
                pub coldkeys: Vec<AccountId>,
                pub active: Vec<bool>,
                pub validator_permit: Vec<bool>,
                pub pruning_score: Vec<Compact<u16>>,
                pub last_update: Vec<Compact<u64>>,
                pub emission: Vec<Compact<u64>>,
                pub dividends: Vec<Compact<u16>>,
                pub incentives: Vec<Compact<u16>>,
                pub consensus: Vec<Compact<u16>>,
                pub trust: Vec<Compact<u16>>,
                pub rank: Vec<Compact<u16>>,
                pub block_at_registration: Vec<Compact<u64>>,
                pub alpha_stake: Vec<Compact<u64>>,
                pub tao_stake: Vec<Compact<u64>>,
                pub total_stake: Vec<Compact<u64>>,
                pub emission_history: Vec<Vec<Compact<u64>>>,
            }
        }
    }

    pub mod extensions {
        pub mod subtensor {
            #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
            pub struct SubtensorTransactionExtension;
        }
    }
}

/// The runtime crate itself: the outer enums and its own transaction extensions.
pub mod node_subtensor_runtime {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    use super::{
        frame_system, pallet_admin_utils, pallet_balances, pallet_drand, pallet_subtensor, pallet_sudo,
        pallet_timestamp, pallet_transaction_payment,
    };

    #[derive(TypeInfo)]
    pub struct Runtime;

    /// Every call the devchain dispatches, by pallet index.
    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum RuntimeCall {
        #[codec(index = 0)]
        System(frame_system::pallet::Call),
        #[codec(index = 2)]
        Timestamp(pallet_timestamp::pallet::Call),
        #[codec(index = 5)]
        Balances(pallet_balances::pallet::Call),
        #[codec(index = 7)]
        SubtensorModule(pallet_subtensor::pallet::Call),
        #[codec(index = 12)]
        Sudo(pallet_sudo::pallet::Call),
        #[codec(index = 19)]
        AdminUtils(pallet_admin_utils::pallet::Call),
    }

    #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum RuntimeEvent {
        #[codec(index = 0)]
        System(frame_system::pallet::Event),
        #[codec(index = 5)]
        Balances(pallet_balances::pallet::Event),
        #[codec(index = 6)]
        TransactionPayment(pallet_transaction_payment::pallet::Event),
        #[codec(index = 7)]
        SubtensorModule(pallet_subtensor::pallet::Event),
        #[codec(index = 12)]
        Sudo(pallet_sudo::pallet::Event),
        #[codec(index = 26)]
        Drand(pallet_drand::pallet::Event),
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum RuntimeError {
        #[codec(index = 0)]
        System(frame_system::pallet::Error),
        #[codec(index = 5)]
        Balances(pallet_balances::pallet::Error),
        #[codec(index = 7)]
        SubtensorModule(pallet_subtensor::pallet::Error),
        #[codec(index = 12)]
        Sudo(pallet_sudo::pallet::Error),
        #[codec(index = 19)]
        AdminUtils(pallet_admin_utils::pallet::Error),
    }

    pub mod check_mortality {
        use crate::rt::sp_runtime::generic::era::Era;

        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct CheckMortality(pub Era);
    }
    pub mod check_nonce {
        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct CheckNonce(#[codec(compact)] pub u32);
    }
    pub mod transaction_payment_wrapper {
        use crate::rt::pallet_transaction_payment::ChargeTransactionPayment;

        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct ChargeTransactionPaymentWrapper {
            pub inner: ChargeTransactionPayment,
        }
    }
    pub mod sudo_wrapper {
        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct SudoTransactionExtension;
    }
}

pub mod pallet_shield {
    pub mod extension {
        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct CheckShieldedTxValidity;
    }
}

/// `pallet_commitments`: what neurons publish about themselves (the devchain stores none, but
/// clients scan these maps, so they are declared with the real shapes).
pub mod pallet_commitments {
    pub mod types {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::bounded_collections::bounded_vec::BoundedVec;

        /// One committed field (only some of the real variants are declared).
        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Data {
            #[codec(index = 0)]
            None,
            #[codec(index = 130)]
            BlakeTwo256([u8; 32]),
            #[codec(index = 131)]
            Sha256([u8; 32]),
            #[codec(index = 135)]
            ResetBondsFlag,
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct CommitmentInfo {
            pub fields: BoundedVec<Data>,
        }

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct Registration {
            pub deposit: u64,
            pub block: u32,
            pub info: CommitmentInfo,
        }
    }
}

/// `pallet_drand`: verified drand quicknet pulses, which open timelocked weight commits.
pub mod pallet_drand {
    pub mod drand_priority {
        #[derive(parity_scale_codec::Encode, scale_info::TypeInfo)]
        pub struct DrandPriority;
    }

    pub mod types {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        use crate::rt::bounded_collections::bounded_vec::BoundedVec;

        /// One round's pulse: randomness is sha256 of the signature (48 bytes, compressed G1).
        #[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub struct Pulse {
            pub round: u64,
            pub randomness: BoundedVec<u8>,
            pub signature: BoundedVec<u8>,
        }
    }

    pub mod pallet {
        use parity_scale_codec::{Decode, Encode};
        use scale_info::TypeInfo;

        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
        pub enum Event {
            #[codec(index = 1)]
            NewPulse { rounds: Vec<u64> },
        }
    }
}

pub mod frame_metadata_hash_extension {
    use parity_scale_codec::{Decode, Encode};
    use scale_info::TypeInfo;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
    pub enum Mode {
        Disabled,
        Enabled,
    }

    #[derive(Encode, TypeInfo)]
    pub struct CheckMetadataHash {
        pub mode: Mode,
    }
}

pub use node_subtensor_runtime::{RuntimeCall, RuntimeError, RuntimeEvent};
pub use sp_core::crypto::AccountId32;

/// The runtime's address type: accounts by id, no indices.
pub type Address = sp_runtime::multiaddress::MultiAddress<AccountId32, ()>;
/// `frame_system::AccountInfo` as the runtime stores it in `System.Account`.
pub type AccountInfo = frame_system::AccountInfo<u32, pallet_balances::types::AccountData<u64>>;
/// One entry of `System.Events`.
pub type EventRecord = frame_system::EventRecord<RuntimeEvent>;
