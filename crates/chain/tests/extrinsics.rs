//! Transactions built offline against the real finney spec-393 metadata: call bytes, the
//! transaction extensions in the metadata's order, and byte-for-byte agreement with transactions
//! made by bittensor 11.3.0 and async-substrate-interface (apart from the signatures, which are
//! randomised or faked there).

mod common;

use common::{fixture_bytes, fixture_json};
use neuronet_chain::calls::{self, Serving};
use neuronet_chain::{normalise, AccountId, ChainSigner};
use neuronet_synapse::{CryptoType, Keypair};
use subxt::config::substrate::{SpecVersionForRange, H256};
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::{Metadata, OfflineClient, SubstrateConfig};

const GENESIS: &str = "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";
const HEAD: &str = "db13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0";
const HEAD_NUMBER: u64 = 6_852_690;

fn h256(text: &str) -> H256 {
    H256::from_slice(&hex::decode(text).unwrap())
}

fn metadata() -> Metadata {
    Metadata::decode_from(&fixture_bytes("metadata/finney_spec393_v15.scale")[..]).unwrap()
}

fn client() -> OfflineClient<SubstrateConfig> {
    let config = SubstrateConfig::builder()
        .set_genesis_hash(h256(GENESIS))
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: 393,
            transaction_version: 1,
        }])
        .set_metadata_for_spec_versions([(393, metadata().arc())])
        .build();
    OfflineClient::new_with_config(config)
}

fn alice() -> Keypair {
    Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap()
}

#[test]
fn calls_have_the_chains_indices_and_argument_order() {
    let at = client().at_block(HEAD_NUMBER).unwrap();
    let serving = Serving { netuid: 1, version: 1, ip: "1.2.3.4".parse().unwrap(), port: 8091, protocol: 4 };
    let serve = at.tx().call_data(&calls::serve_axon(serving)).unwrap();
    assert_eq!(hex::encode(&serve), "0704010001000000040302010000000000000000000000009b1f04040000");
    let weights = normalise(&[0, 1], &[1.0, 0.5]).unwrap();
    let set = at.tx().call_data(&calls::set_weights(1, &weights, 7)).unwrap();
    assert_eq!(hex::encode(&set), "07000100080000010008ffff00800700000000000000");
    let ipv6 = Serving { ip: "2001:db8::1".parse().unwrap(), ..serving };
    let serve6 = at.tx().call_data(&calls::serve_axon(ipv6)).unwrap();
    assert_eq!(&serve6[..2], &[0x07, 0x04]);
    assert_eq!(serve6[serve6.len() - 4..], [6, 4, 0, 0], "ip_type 6");
    let certificate = neuronet_chain::NeuronCertificate { public_key: vec![0xaa; 36], algorithm: 0x4e };
    let tls = at.tx().call_data(&calls::serve_axon_tls(serving, &certificate)).unwrap();
    assert_eq!(&tls[..2], &[0x07, 0x28]);
    assert_eq!(&tls[tls.len() - 38..tls.len() - 36], &[37 << 2, 0x4e], "Vec<u8> of the algorithm and the key");
    let bob = AccountId::from_ss58("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty").unwrap();
    let register = at.tx().call_data(&calls::burned_register(1, &bob)).unwrap();
    assert_eq!(hex::encode(&register[..4]), "07070100");
    assert_eq!(&at.tx().call_data(&calls::commit_weights(1, [7; 32])).unwrap()[..2], &[0x07, 0x60]);
    assert_eq!(&at.tx().call_data(&calls::reveal_weights(1, &weights, &[1, 2], 0)).unwrap()[..2], &[0x07, 0x61]);
    assert_eq!(&at.tx().call_data(&calls::register_network(&bob)).unwrap()[..2], &[0x07, 0x3b]);
    assert_eq!(&at.tx().call_data(&calls::add_stake(&bob, 1, 5)).unwrap()[..2], &[0x07, 0x02]);
    assert!(at.tx().call_data(&calls::remove_stake(&bob, 1, 5)).is_ok());
    assert!(at.tx().call_data(&calls::transfer_allow_death(&bob, 5)).is_ok());
    let commit = [9u8; 295];
    let timelocked = at.tx().call_data(&calls::commit_timelocked_weights(1, &commit, 1000, 4)).unwrap();
    assert_eq!(hex::encode(&timelocked[..4]), "07710100");
    assert_eq!(hex::encode(&timelocked[timelocked.len() - 10..]), "e8030000000000000400", "round, then version");
    let mechanism = at.tx().call_data(&calls::commit_timelocked_mechanism_weights(1, 0, &commit, 1000, 4)).unwrap();
    assert_eq!(hex::encode(&mechanism[..5]), "0776010000");
    let commit_mechanism = at.tx().call_data(&calls::commit_mechanism_weights(1, 1, [7; 32])).unwrap();
    assert_eq!(hex::encode(&commit_mechanism[..5]), "0773010001");
    let reveal_mechanism = at.tx().call_data(&calls::reveal_mechanism_weights(1, 1, &weights, &[3], 0)).unwrap();
    assert_eq!(hex::encode(&reveal_mechanism[..5]), "0774010001");
    let set_mechanism = at.tx().call_data(&calls::set_mechanism_weights(1, 0, &weights, 0)).unwrap();
    assert_eq!(hex::encode(&set_mechanism[..5]), "0777010000");
}

#[test]
fn the_metadata_lists_subtensors_extensions_in_the_chains_order() {
    let metadata = metadata();
    let names: Vec<&str> = metadata
        .extrinsic()
        .transaction_extensions_by_version(0)
        .unwrap()
        .map(|extension| extension.identifier())
        .collect();
    assert_eq!(
        names,
        [
            "CheckNonZeroSender",
            "CheckSpecVersion",
            "CheckTxVersion",
            "CheckGenesis",
            "CheckMortality",
            "CheckNonce",
            "CheckWeight",
            "ChargeTransactionPayment",
            "SudoTransactionExtension",
            "CheckShieldedTxValidity",
            "SubtensorTransactionExtension",
            "DrandPriority",
            "CheckMetadataHash",
        ]
    );
}

/// bittensor 11.3.0's `serve_axon` for //Alice (netuid 1, 1.2.3.4:8091, version 1, nonce 0, mortal
/// for 128 blocks from #6852690), from the reference.
const SERVE_AXON_BY_BITTENSOR: &str = "19028400d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d018e1059724d6642300215ec353c44c9f7497c9ab895bd2e1b65709ec0dc84b17f213a2295d11d754b7a8684a75430336a6f820ff4e6ff16b4cf863b4fddcd3e8f26050000000704010001000000040302010000000000000000000000009b1f04040000";

#[test]
fn a_signed_serve_axon_matches_bittensors_byte_for_byte_but_the_signature() {
    let at = client().at_block(HEAD_NUMBER).unwrap();
    let serving = Serving { netuid: 1, version: 1, ip: "1.2.3.4".parse().unwrap(), port: 8091, protocol: 4 };
    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new()
        .nonce(0)
        .tip(0)
        .mortal_from_unchecked(128, HEAD_NUMBER, h256(HEAD))
        .build();
    let call = calls::serve_axon(serving);
    let mut signable = at.tx().create_signable_offline(&call, params).unwrap();
    let payload = signable.signer_payload().unwrap();
    // call ++ era, nonce, tip, mode ++ spec, tx version, genesis, era's block, metadata hash (none).
    let expected_payload = format!(
        "0704010001000000040302010000000000000000000000009b1f04040000{}{}{}{GENESIS}{HEAD}00",
        "2605000000", "89010000", "01000000"
    );
    assert_eq!(hex::encode(&payload), expected_payload);
    assert_eq!(payload.len(), 108);

    let alice = alice();
    let signed = signable.sign(&ChainSigner(&alice)).unwrap();
    let ours = signed.encoded().to_vec();
    let theirs = hex::decode(SERVE_AXON_BY_BITTENSOR).unwrap();
    assert_eq!(ours.len(), theirs.len());
    // Length, version, address and the signature's variant byte; then everything after the signature.
    let signature = 2 + 1 + 33 + 1..2 + 1 + 33 + 1 + 64;
    assert_eq!(ours[..signature.start], theirs[..signature.start]);
    assert_eq!(ours[signature.end..], theirs[signature.end..]);
    // Both signatures verify over the same payload.
    for bytes in [&ours, &theirs] {
        let signature = neuronet_synapse::Signature::from_slice(&bytes[signature.clone()]).unwrap();
        alice.hotkey().verify(&payload, &signature).unwrap();
    }
}

#[test]
fn a_transfer_matches_async_substrate_interfaces_bytes_but_the_signature() {
    let recorded = fixture_json("extrinsics/fee_estimation_extrinsics_finney_spec402.json");
    let at = client().at_block(HEAD_NUMBER).unwrap();
    let samples = recorded["samples"].as_array().unwrap();
    assert!(!samples.is_empty());
    for sample in samples {
        let layout = &sample["layout"];
        let bytes = hex::decode(sample["params_hex"].as_str().unwrap()).unwrap();
        // TransactionPaymentApi_query_info's argument: the extrinsic, then its length as a u32.
        let recorded_tx = &bytes[..bytes.len() - 4];
        let dest = AccountId::from_ss58("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty").unwrap();
        let value = layout["call"]["value"]["value_rao"].as_u64().unwrap();
        let nonce = layout["nonce"]["value"].as_u64().unwrap();
        let tip = layout["tip"]["value_rao"].as_u64().unwrap();
        let call = calls::transfer_keep_alive(&dest, value);
        assert_eq!(hex::encode(at.tx().call_data(&call).unwrap()), layout["call"]["hex"].as_str().unwrap());
        let builder = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().nonce(nonce).tip(u128::from(tip));
        let era = layout["era"]["hex"].as_str().unwrap();
        let params = if era == "00" {
            builder.immortal().build()
        } else {
            // A mortal era names its birth block only through the signed payload; any block
            // whose number gives the recorded phase encodes the same two bytes.
            let encoded = u16::from_le_bytes(hex::decode(era).unwrap()[..2].try_into().unwrap());
            let period = 2u64 << (encoded % 16);
            let quantize = (period >> 12).max(1);
            let phase = u64::from(encoded >> 4) * quantize;
            builder.mortal_from_unchecked(period, period * 1000 + phase, H256::zero()).build()
        };
        let mut signable = at.tx().create_signable_offline(&call, params).unwrap();
        let zero = ZeroSigner;
        let ours = signable.sign(&zero).unwrap().encoded().to_vec();
        assert_eq!(hex::encode(&ours), hex::encode(recorded_tx), "era {era}, nonce {nonce}, tip {tip}");
    }
}

/// Signs with zeros, as the fee-estimation transactions were made.
struct ZeroSigner;

impl subxt::tx::Signer<SubstrateConfig> for ZeroSigner {
    fn account_id(&self) -> subxt::utils::AccountId32 {
        subxt::utils::AccountId32(*alice().hotkey().public())
    }
    fn sign(&self, _: &[u8]) -> subxt::utils::MultiSignature {
        subxt::utils::MultiSignature::Sr25519([0; 64])
    }
}

#[test]
fn an_unknown_extension_that_carries_data_is_an_error_naming_it() {
    use subxt::ext::codec::{Decode, Encode};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    // The real metadata, with the tip-carrying extension renamed to one no client knows.
    let bytes = fixture_bytes("metadata/finney_spec393_v15.scale");
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &bytes[..]).unwrap();
    let RuntimeMetadata::V15(v15) = &mut prefixed.1 else { panic!("V15 expected") };
    let tip = v15.extrinsic.signed_extensions.iter_mut().find(|e| e.identifier == "ChargeTransactionPayment").unwrap();
    tip.identifier = "ChargeSomethingNew".into();
    let metadata = Metadata::decode_from(&prefixed.encode()[..]).unwrap();
    let config = SubstrateConfig::builder()
        .set_genesis_hash(h256(GENESIS))
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version: 393,
            transaction_version: 1,
        }])
        .set_metadata_for_spec_versions([(393, metadata.arc())])
        .build();
    let at = OfflineClient::new_with_config(config).at_block(HEAD_NUMBER).unwrap();
    let params = DefaultExtrinsicParamsBuilder::<SubstrateConfig>::new().nonce(0).immortal().build();
    let call = calls::transfer_keep_alive(&AccountId([1; 32]), 1);
    let error = at
        .tx()
        .create_signable_offline(&call, params)
        .and_then(|signable| signable.signer_payload())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(error.contains("ChargeSomethingNew"), "{error}");
}
