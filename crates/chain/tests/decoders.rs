//! Property tests: whatever a node sends, the decoders answer with a value or an error, never a
//! panic, and never an allocation the input does not pay for.

mod common;

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
}
