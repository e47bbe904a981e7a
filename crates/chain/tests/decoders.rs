//! Property tests: whatever a node sends, the decoders answer with a value or an error, never a
//! panic, and never an allocation the input does not pay for.

mod common;

use neuronet_chain::timelock::decrypt_with_signature;
use neuronet_chain::{decode_neuron_lite, decode_neurons_lite};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = decode_neurons_lite(&bytes);
        let _ = decode_neuron_lite(&bytes);
    }

    #[test]
    fn a_real_answer_cut_or_flipped_anywhere_never_panics(cut in 0usize..200_000, flip in 0usize..200_000, bit in 0u8..8) {
        let real = common::fixture_bytes("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.bin");
        let cut = cut % real.len();
        prop_assert!(decode_neurons_lite(&real[..cut]).is_err());
        let mut flipped = real.clone();
        let at = flip % flipped.len();
        flipped[at] ^= 1 << bit;
        let _ = decode_neurons_lite(&flipped);
    }

    #[test]
    fn a_huge_announced_length_is_an_error_not_an_allocation(len in 1u32..u32::MAX / 4) {
        let mut bytes = parity_scale_codec::Encode::encode(&parity_scale_codec::Compact(len));
        bytes.extend_from_slice(&[0u8; 64]);
        prop_assert!(decode_neurons_lite(&bytes).is_err());
    }

    #[test]
    fn a_commitment_from_the_chain_never_panics_or_allocates_its_announced_length(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        at in 0usize..600,
        value in any::<u8>(),
    ) {
        let signature = hex::decode(SIGNATURE).unwrap();
        let _ = decrypt_with_signature(&bytes, &signature);
        // The real layout with one byte changed (lengths included).
        let mut commit = hex::decode(COMMIT).unwrap();
        let at = at % commit.len();
        commit[at] = value;
        let _ = decrypt_with_signature(&commit, &signature);
    }
}

const SIGNATURE: &str =
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";
const COMMIT: &str = "97aa13a5e7540c1c0ffcbbfb14d9400c9b709a955773be123b56ca53eb5054072f87a376061641b99287d766d8cd5fa5076fc98254fa6eda78d1326a2491a9f3122a06fb93fe9987d17c2a94625f671f2016b1d2edbbb5d9804ea7b08814042f2000000000000000e0de98659b64100991294ce023eef65819a78e1d24c53e1775a83402da671f612000000000000000dbc0ee0835fa49fe084895b6d556ac481556908968e5b06670688a5c5a6e335d5f000000000000004300000000000000730887c29c8415278f2dbeb5b9fdbcdb9bbe2511224ae7314f8e7f53980d7e353586a7a2f85dc9df601ca2144fd8ce9ea79e9a24f1e032be75bf79d2063395ef1865df0c00000000000000901cb7852ea26eeb2c1d8bbc08000000000000004145535f47434d5f";
