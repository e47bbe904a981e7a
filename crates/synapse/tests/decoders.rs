//! Property tests: every decoder of outside bytes (SS58, SURI, keyfile JSON, envelope headers)
//! returns an error instead of panicking, and each kind of bad input has its own clear error.

use neuronet_synapse::envelope::{RequestHead, ResponseHead};
use neuronet_synapse::keyfile::{self, KeyfileJson};
use neuronet_synapse::{binding, ss58, CryptoType, Error, Hotkey, Keypair, Signature};
use proptest::prelude::*;
use std::path::Path;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ss58_decode_never_panics(text in "\\PC{0,60}") {
        let _ = ss58::decode(&text);
    }

    #[test]
    fn ss58_decode_never_panics_on_base58(bytes in proptest::collection::vec(any::<u8>(), 0..48)) {
        let _ = ss58::decode(&bs58::encode(bytes).into_string());
    }

    #[test]
    fn ss58_round_trips(public in any::<[u8; 32]>()) {
        prop_assert_eq!(ss58::decode(&ss58::encode(&public)).unwrap(), public);
    }

    #[test]
    fn suri_parse_never_panics(text in "[/a-z0-9x ]{0,40}") {
        let _ = Keypair::from_suri(&text, CryptoType::Ed25519);
        let _ = neuronet_synapse::suri::SecretUri::parse(&text);
    }

    #[test]
    fn suri_with_paths_never_panics(path in "(//?[a-zA-Z0-9]{0,6}){0,4}(///[a-z]{0,4})?") {
        let _ = Keypair::from_suri(&path, CryptoType::Sr25519);
    }

    #[test]
    fn keyfile_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(json) = KeyfileJson::parse(&bytes, Path::new("fuzz")) {
            let _ = json.keypair(Path::new("fuzz"));
            let _ = json.hotkey(Path::new("fuzz"));
        }
        let _ = keyfile::detect_encryption(&bytes);
    }

    #[test]
    fn keyfile_fields_never_panic(
        seed in proptest::option::of("(0x)?[0-9a-f]{0,70}"),
        private in proptest::option::of("(0x)?[0-9a-f]{0,140}"),
        public in proptest::option::of("(0x)?[0-9a-f]{0,70}"),
        crypto in proptest::option::of(0u64..4),
    ) {
        let json = KeyfileJson {
            secret_seed: seed,
            private_key: private,
            public_key: public,
            crypto_type: crypto.map(serde_json::Value::from),
            ..Default::default()
        };
        let _ = json.keypair(Path::new("fuzz"));
        let _ = json.hotkey(Path::new("fuzz"));
    }

    #[test]
    fn request_header_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RequestHead::decode(&bytes);
        let _ = ResponseHead::decode(&bytes);
    }

    #[test]
    fn mutated_signed_header_never_panics_and_never_verifies_changed(
        flip in 0usize..2000, bit in 0u8..8,
    ) {
        let alice = Keypair::from_seed(&[1; 32], CryptoType::Sr25519);
        let mut head = RequestHead::new("Echo", alice.hotkey(), [2; 32], 1000);
        head.sign(&alice, b"body");
        let mut bytes = head.encode();
        let at = flip % bytes.len();
        bytes[at] ^= 1 << bit;
        if let Ok(decoded) = RequestHead::decode(&bytes) {
            let _ = decoded.verify(b"body");
        }
    }

    #[test]
    fn binding_verify_never_panics(
        hotkey in proptest::collection::vec(any::<u8>(), 0..40),
        crypto in any::<u32>(),
        signature in proptest::collection::vec(any::<u8>(), 0..70),
        expires_at in any::<u64>(),
    ) {
        let record = neuronet_synapse::proto::HotkeyBinding {
            hotkey: hotkey.into(), crypto, peer_id: vec![1, 2, 3].into(), expires_at, signature: signature.into(),
        };
        let _ = binding::verify_binding(&record, &[1, 2, 3], 0);
    }
}

#[test]
fn the_sr25519_identity_key_signs_nothing() {
    // R = 1·G with s = 1 is a valid schnorrkel signature by the identity key over any message.
    let identity = Hotkey::new(CryptoType::Sr25519, [0; 32]);
    let mut forged = [0u8; 64];
    forged[..32].copy_from_slice(curve25519_dalek::constants::RISTRETTO_BASEPOINT_COMPRESSED.as_bytes());
    forged[32] = 1;
    forged[63] |= 0x80;
    let error = identity.verify(b"anything", &Signature(forged)).unwrap_err();
    assert!(matches!(error, Error::InvalidPublicKey { .. }), "{error}");
    assert!(error.to_string().contains("identity"), "{error}");
}

#[test]
fn ss58_errors_are_distinct_and_clear() {
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    // Bad checksum: change the last character.
    let bad_sum = format!("{}Z", &alice[..alice.len() - 1]);
    let err = ss58::decode(&bad_sum).unwrap_err();
    assert!(matches!(err, Error::Ss58BadChecksum(_)), "{err}");
    assert!(err.to_string().contains("checksum"));
    // Wrong length.
    let err = ss58::decode(&alice[..40]).unwrap_err();
    assert!(matches!(err, Error::Ss58BadLength { .. }), "{err}");
    assert!(err.to_string().contains("bytes"));
    // Not base58 (0 and l are not in the alphabet).
    assert!(matches!(ss58::decode("0lll").unwrap_err(), Error::Ss58NotBase58(_)));
    // Polkadot's prefix 0 for Alice's key.
    let polkadot = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";
    let err = ss58::decode(polkadot).unwrap_err();
    assert!(matches!(err, Error::Ss58WrongPrefix { prefix: 0, .. }), "{err}");
    assert!(err.to_string().contains("expected 42"));
}

#[test]
fn keyfile_errors_are_distinct_and_clear() {
    let path = Path::new("hot");
    let unknown = KeyfileJson::parse(br#"{"secretSeed":"0x00","cryptoType":7}"#, path).unwrap();
    let err = unknown.keypair(path).unwrap_err();
    assert!(matches!(err, Error::UnknownCryptoType(_)), "{err}");
    let named = KeyfileJson::parse(br#"{"publicKey":"0x00","cryptoType":"ecdsa"}"#, path).unwrap();
    assert!(matches!(named.hotkey(path).unwrap_err(), Error::UnknownCryptoType(_)));
    let short = KeyfileJson::parse(br#"{"secretSeed":"0x0102"}"#, path).unwrap();
    let err = short.keypair(path).unwrap_err();
    assert!(err.to_string().contains("secretSeed has 2 bytes, expected 32"), "{err}");
    let err = KeyfileJson::parse(b"not json", path).unwrap_err();
    assert!(err.to_string().contains("not keyfile JSON"), "{err}");
    let mismatch = KeyfileJson::parse(
        format!(r#"{{"secretSeed":"0x{}","publicKey":"0x{}"}}"#, "11".repeat(32), "22".repeat(32)).as_bytes(),
        path,
    )
    .unwrap();
    assert!(mismatch.keypair(path).unwrap_err().to_string().contains("does not match"));
}

#[test]
fn envelope_errors_name_the_field() {
    let alice = Keypair::from_seed(&[1; 32], CryptoType::Sr25519);
    let mut head = RequestHead::new("Echo", alice.hotkey(), [2; 32], 1000);
    head.sign(&alice, b"body");
    let mut raw = head.to_proto();
    raw.receiver = vec![1, 2, 3].into();
    let err = RequestHead::from_proto(raw).unwrap_err();
    assert!(err.to_string().contains("receiver of 3 bytes"), "{err}");
    let mut raw = head.to_proto();
    raw.synapse = "bad name!".into();
    assert!(RequestHead::from_proto(raw).unwrap_err().to_string().contains("synapse name"));
    let mut raw = head.to_proto();
    raw.sender_crypto = 9;
    assert!(matches!(RequestHead::from_proto(raw).unwrap_err(), Error::UnknownCryptoType(_)));
    let mut raw = head.to_proto();
    raw.signature = vec![0; 10].into();
    assert!(matches!(RequestHead::from_proto(raw).unwrap_err(), Error::MalformedSignature(_)));
    // A signed header verifies; the same header over another body does not.
    let decoded = RequestHead::decode(&head.encode()).unwrap();
    decoded.verify(b"body").unwrap();
    assert!(decoded.verify(b"other body").is_err());
}

proptest! {
    #[test]
    fn frame_prefix_parse_never_panics_and_round_trips(bytes in any::<[u8; 15]>()) {
        use neuronet_synapse::frame::FramePrefix;
        if let Ok(prefix) = FramePrefix::parse(&bytes) {
            prop_assert_eq!(prefix.to_bytes(), bytes);
        }
    }
}
