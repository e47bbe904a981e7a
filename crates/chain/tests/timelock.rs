//! Timelocked weights against drand quicknet's real round-1000 pulse: a commitment made by
//! bittensor 11.3.0 opens in neuronet, and neuronet's own commitments open with the same
//! signature.

use neuronet_chain::timelock::{decrypt_with_signature, encrypt_for_round, WeightsTlockPayload};
use neuronet_chain::{normalise, AccountId};
use parity_scale_codec::{Decode, Encode};

const ROUND_1000_SIGNATURE: &str =
    "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";
/// Not a G1 point (the chain's own tests use it as a bad pulse).
const BAD_SIGNATURE: &str =
    "b0a8b04e009cf72534321aca0f50048da596a3feec1172a0244d9a4a623a3123d0402da79854d4c705e94bc73224c341";
const PAYLOAD_BY_BITTENSOR: &str =
    "80d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d080000010008ffff00800000000000000000";
const COMMIT_BY_BITTENSOR: &str = "97aa13a5e7540c1c0ffcbbfb14d9400c9b709a955773be123b56ca53eb5054072f87a376061641b99287d766d8cd5fa5076fc98254fa6eda78d1326a2491a9f3122a06fb93fe9987d17c2a94625f671f2016b1d2edbbb5d9804ea7b08814042f2000000000000000e0de98659b64100991294ce023eef65819a78e1d24c53e1775a83402da671f612000000000000000dbc0ee0835fa49fe084895b6d556ac481556908968e5b06670688a5c5a6e335d5f000000000000004300000000000000730887c29c8415278f2dbeb5b9fdbcdb9bbe2511224ae7314f8e7f53980d7e353586a7a2f85dc9df601ca2144fd8ce9ea79e9a24f1e032be75bf79d2063395ef1865df0c00000000000000901cb7852ea26eeb2c1d8bbc08000000000000004145535f47434d5f";

fn alice() -> AccountId {
    AccountId::from_ss58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").unwrap()
}

#[test]
fn a_commitment_made_by_bittensor_opens_with_the_rounds_signature() {
    let signature = hex::decode(ROUND_1000_SIGNATURE).unwrap();
    let plaintext = decrypt_with_signature(&hex::decode(COMMIT_BY_BITTENSOR).unwrap(), &signature).unwrap();
    assert_eq!(hex::encode(&plaintext), PAYLOAD_BY_BITTENSOR);
    let payload = WeightsTlockPayload::decode(&mut &plaintext[..]).unwrap();
    let weights = normalise(&[0, 1], &[1.0, 0.5]).unwrap();
    assert_eq!(payload, WeightsTlockPayload::new(&alice(), &weights, 0));
}

#[test]
fn neuronets_commitment_opens_with_the_same_signature() {
    let weights = normalise(&[0, 1], &[1.0, 0.5]).unwrap();
    let payload = WeightsTlockPayload::new(&alice(), &weights, 0).encode();
    assert_eq!(hex::encode(&payload), PAYLOAD_BY_BITTENSOR);
    let commit = encrypt_for_round(&payload, 1000).unwrap();
    assert_eq!(commit.len(), hex::decode(COMMIT_BY_BITTENSOR).unwrap().len(), "the same layout as bittensor's");
    let opened = decrypt_with_signature(&commit, &hex::decode(ROUND_1000_SIGNATURE).unwrap()).unwrap();
    assert_eq!(opened, payload);
    // Encryption is randomised: the same payload never gives the same commitment twice.
    assert_ne!(encrypt_for_round(&payload, 1000).unwrap(), commit);
    // Another round's commitment does not open with round 1000's signature.
    let later = encrypt_for_round(&payload, 1001).unwrap();
    assert!(decrypt_with_signature(&later, &hex::decode(ROUND_1000_SIGNATURE).unwrap()).is_err());
}

#[test]
fn bad_signatures_and_mangled_commitments_are_errors() {
    let commit = hex::decode(COMMIT_BY_BITTENSOR).unwrap();
    assert!(decrypt_with_signature(&commit, &hex::decode(BAD_SIGNATURE).unwrap()).is_err());
    assert!(decrypt_with_signature(&commit, &[0u8; 3]).is_err());
    let signature = hex::decode(ROUND_1000_SIGNATURE).unwrap();
    for cut in [0, 1, 95, 96, 150, commit.len() - 1] {
        assert!(decrypt_with_signature(&commit[..cut], &signature).is_err(), "cut at {cut}");
    }
    let mut flipped = commit.clone();
    flipped[200] ^= 1;
    assert!(decrypt_with_signature(&flipped, &signature).is_err());
}
