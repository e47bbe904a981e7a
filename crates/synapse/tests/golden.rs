//! Golden vectors: known addresses and keys, the btauth/1 vectors, and the captured bittensor
//! 10.5.0 request, all from ../shared/docs/reference/.

use neuronet_synapse::payload::{v10_body_hash, v10_message, v10_verify, BtauthRequest};
use neuronet_synapse::{keyfile::KeyfileJson, CryptoType, Hotkey, Keypair, Signature};
use std::path::Path;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const ALICE_ED: &str = "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu";

#[test]
fn dev_accounts_derive_as_subkey_does() {
    let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap();
    assert_eq!(alice.hotkey().to_ss58(), ALICE);
    assert_eq!(Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap().hotkey().to_ss58(), BOB);
    assert_eq!(Keypair::from_suri("//Alice", CryptoType::Ed25519).unwrap().hotkey().to_ss58(), ALICE_ED);
    // //Alice is the dev phrase with a hard junction: the explicit form gives the same key.
    let explicit = format!("{}//Alice", neuronet_synapse::suri::DEV_PHRASE);
    assert_eq!(Keypair::from_suri(&explicit, CryptoType::Sr25519).unwrap().hotkey().to_ss58(), ALICE);
    // Hard derivation keeps a seed; soft does not.
    assert!(alice.seed().is_some());
    assert!(Keypair::from_suri("//Alice/soft", CryptoType::Sr25519).unwrap().seed().is_none());
}

#[test]
fn subkey_vectors_for_phrases_paths_and_seeds() {
    // Values printed by `subkey inspect` (Substrate's documentation and test suite).
    let dev = Keypair::from_suri(neuronet_synapse::suri::DEV_PHRASE, CryptoType::Sr25519).unwrap();
    assert_eq!(dev.hotkey().to_ss58(), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");
    let seed =
        Keypair::from_suri("0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", CryptoType::Sr25519)
            .unwrap();
    assert_eq!(seed.hotkey().to_ss58(), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    let stash = Keypair::from_suri("//Alice//stash", CryptoType::Sr25519).unwrap();
    assert_eq!(stash.hotkey().to_ss58(), "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY");
    assert!(matches!(
        Keypair::from_suri("//Alice/soft", CryptoType::Ed25519),
        Err(neuronet_synapse::Error::SoftDerivationUnsupported(_))
    ));
}

fn btauth_request<'a>(crypto: CryptoType, sender: &'a str) -> BtauthRequest<'a> {
    BtauthRequest {
        crypto,
        method: "POST",
        path: "/TextGeneration",
        body: br#"{"prompt":"hello"}"#,
        nonce: 1_700_000_000_000_000_000,
        sender,
        receiver: Some(BOB),
    }
}

#[test]
fn btauth_payload_and_signatures_match_the_golden_vector() {
    let request = btauth_request(CryptoType::Sr25519, ALICE);
    assert_eq!(
        request.payload(),
        "btauth/1\nsr25519\nPOST\n/TextGeneration\n8a44725210b9dcd4fefd9f0eca07b70ae45e69274a3105fb25eb426a2cf8bbf4\n1700000000000000000\n5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY\n5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
    );
    let sr_sig = Signature::from_hex("0xa0dd444b4e3dc66518ee963c27c676c0287437d76b5d8297d356f641a6973263efa3b9916a640ec4ced16adc28838bbc18a09cb8b33e6cba2d0d41b0987ab38c").unwrap();
    let alice = Hotkey::from_ss58(ALICE, CryptoType::Sr25519).unwrap();
    alice.verify(request.payload().as_bytes(), &sr_sig).unwrap();
    // The same signature under the other scheme, or over another payload, fails.
    let mut other = request;
    other.path = "/Embedding";
    assert!(alice.verify(other.payload().as_bytes(), &sr_sig).is_err());

    let ed_request = btauth_request(CryptoType::Ed25519, ALICE_ED);
    let ed_pair = Keypair::from_suri("//Alice", CryptoType::Ed25519).unwrap();
    let expected = "0x1e37d9da551610ec073da396df94256fc0430166fc4aa5530591eee52133c18966a29bfdd65a769419287f8e50bac6bc77b7cba512fdb7a04bcb0d13101d2f0d";
    assert_eq!(ed_pair.sign(ed_request.payload().as_bytes()).to_hex(), expected);
    let ed_alice = Hotkey::from_ss58(ALICE_ED, CryptoType::Ed25519).unwrap();
    ed_alice.verify(ed_request.payload().as_bytes(), &Signature::from_hex(expected).unwrap()).unwrap();
}

/// Reads `name: value` header lines of the first request in the v10 capture.
fn capture_headers() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/docs/reference/v10-capture.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .skip_while(|l| !l.starts_with("=== RAW REQUEST"))
        .skip(2)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[test]
fn v10_captured_request_verifies_against_its_signature() {
    let headers = capture_headers();
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap();
    let nonce: u64 = get("bt_header_dendrite_nonce").parse().unwrap();
    let dendrite = get("bt_header_dendrite_hotkey");
    let axon = get("bt_header_axon_hotkey");
    let uuid = get("bt_header_dendrite_uuid");
    let body_hash = get("computed_body_hash");
    // The capture's Echo synapse hashes its `text` field, "hello".
    assert_eq!(body_hash, v10_body_hash(["hello"]));
    assert_eq!(v10_body_hash([]), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
    let message = v10_message(nonce, dendrite, axon, uuid, body_hash);
    let signature = Signature::from_hex(get("bt_header_dendrite_signature")).unwrap();
    let hotkey = Hotkey::from_ss58(dendrite, CryptoType::Sr25519).unwrap();
    v10_verify(&hotkey, &message, &signature).unwrap();
    // A tampered body hash or another receiver does not verify.
    let tampered = v10_message(nonce, dendrite, ALICE, uuid, body_hash);
    assert!(v10_verify(&hotkey, &tampered, &signature).is_err());
}

#[test]
fn keyfile_round_trip_keeps_every_field() {
    for crypto in [CryptoType::Sr25519, CryptoType::Ed25519] {
        let pair = Keypair::generate(12, crypto).unwrap();
        let json = KeyfileJson::from_keypair(&pair);
        let parsed = KeyfileJson::parse(&json.to_bytes(), Path::new("mem")).unwrap();
        assert_eq!(parsed, json);
        let back = parsed.keypair(Path::new("mem")).unwrap();
        assert_eq!(back.hotkey(), pair.hotkey());
        // The private key alone restores the same key.
        let private_only = KeyfileJson {
            private_key: json.private_key.clone(),
            crypto_type: json.crypto_type.clone(),
            ..Default::default()
        };
        assert_eq!(private_only.keypair(Path::new("mem")).unwrap().hotkey(), pair.hotkey());
    }
}

#[test]
fn batch_signature_covers_every_member_and_nothing_else() {
    use neuronet_synapse::envelope::{sign_batch, verify_batch, verify_batch_with, RequestHead};
    let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap();
    let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap();
    let bodies: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100]).collect();
    let mut heads: Vec<RequestHead> =
        (0..5).map(|_| RequestHead::new("Echo", alice.hotkey(), *bob.hotkey().public(), 1000)).collect();
    {
        let mut members: Vec<(&mut RequestHead, &[u8])> =
            heads.iter_mut().zip(&bodies).map(|(h, b)| (h, b.as_slice())).collect();
        sign_batch(&alice, &mut members);
    }
    // Only the last carries the signature; the wire form round-trips.
    assert!(heads[..4].iter().all(|h| h.signature.is_none()));
    let decoded: Vec<RequestHead> = heads.iter().map(|h| RequestHead::decode(&h.encode()).unwrap()).collect();
    let members: Vec<(&RequestHead, &[u8])> = decoded.iter().zip(&bodies).map(|(h, b)| (h, b.as_slice())).collect();
    verify_batch(&members).unwrap();
    // With the sender's key decoded ahead, and with another's (which is then not used).
    let alice_key = alice.hotkey().verifying_key().unwrap();
    let bob_key = bob.hotkey().verifying_key().unwrap();
    verify_batch_with(Some(&alice_key), &members).unwrap();
    verify_batch_with(Some(&bob_key), &members).unwrap();
    // A changed body, a dropped member or reordered members all fail.
    let mut tampered = members.clone();
    tampered[2].1 = b"other";
    assert!(verify_batch(&tampered).is_err());
    assert!(verify_batch_with(Some(&alice_key), &tampered).is_err());
    assert!(verify_batch(&members[1..]).is_err());
    let mut swapped = members.clone();
    swapped.swap(0, 1);
    assert!(verify_batch(&swapped).is_err());
    // A batch header without its signature is refused on decode only for the signing member.
    let mut raw = decoded[4].to_proto();
    raw.signature = Default::default();
    assert!(RequestHead::from_proto(raw).is_err());
}

#[test]
fn neuronet_request_payload_is_byte_exact() {
    use neuronet_synapse::payload::{binding_payload, BodyHash, Nonce, RequestPayload};
    let alice = Keypair::from_suri("//Alice", CryptoType::Ed25519).unwrap();
    let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap();
    let (sender, receiver) = (alice.hotkey(), bob.hotkey());
    let body_hash = BodyHash::of(br#"{"prompt":"hello"}"#);
    assert_eq!(body_hash.to_hex(), "f85c619d7aa613cdca9358a9ee0b501bb29c47c4e351d8def7f302ea798eac2a");
    let payload = RequestPayload {
        synapse: "TextGeneration",
        sender: &sender,
        receiver: receiver.public(),
        nonce: Nonce(1_700_000_000_000_000_000),
        timeout_ms: 12_000,
        body_hash: &body_hash,
    };
    let bytes = payload.to_bytes();
    let mut expected = b"neuronet/request/v1\0".to_vec();
    expected.push(0); // ed25519
    expected.extend_from_slice(alice.hotkey().public());
    expected.extend_from_slice(bob.hotkey().public());
    expected.extend_from_slice(&1_700_000_000_000_000_000u64.to_be_bytes());
    expected.extend_from_slice(&12_000u32.to_be_bytes());
    expected.extend_from_slice(&14u16.to_be_bytes());
    expected.extend_from_slice(b"TextGeneration");
    expected.extend_from_slice(&body_hash.0);
    assert_eq!(bytes, expected);
    assert_eq!(bytes.len(), 20 + 1 + 32 + 32 + 8 + 4 + 2 + 14 + 32);
    // ed25519 is deterministic: this value (also computed with Python bittensor_wallet and blake3 from the
    // layout in docs/protocol.md) pins the whole format for other implementations.
    assert_eq!(
        alice.sign(&bytes).to_hex(),
        "0x79b9625bd7c5616d5d0a7a7d1bbbcc38f5c4642c96ba19873b3986c8cd4491bbf4f8ee9a0274b0734a37d8f783385e31257f63b378eea62365b37d6848d8ad06"
    );
    let binding = binding_payload(&bob.hotkey(), b"peer", 1_800_000_000);
    assert_eq!(&binding[..20], b"neuronet/binding/v1\0");
    assert_eq!(binding.len(), 20 + 1 + 32 + 2 + 4 + 8);
}

#[test]
fn requests_verify_with_a_cached_key_or_without_one() {
    use neuronet_synapse::envelope::RequestHead;
    let alice = Keypair::from_suri("//Alice", CryptoType::Sr25519).unwrap();
    let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap();
    let alice_key = alice.hotkey().verifying_key().unwrap();
    let bob_key = bob.hotkey().verifying_key().unwrap();
    for round in 0..32u8 {
        let body = vec![round; 64];
        let mut head = RequestHead::new("Echo", alice.hotkey(), *bob.hotkey().public(), 1000);
        head.sign(&alice, &body);
        let head = RequestHead::decode(&head.encode()).unwrap();
        head.verify_with(Some(&alice_key), &body).unwrap();
        // A cached key of someone else is ignored: the sender's own key decides.
        head.verify_with(Some(&bob_key), &body).unwrap();
        head.verify(&body).unwrap();
        assert!(head.verify_with(Some(&alice_key), b"another body").is_err());
    }
}
