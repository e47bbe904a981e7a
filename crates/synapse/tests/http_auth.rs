//! btauth/1 and Epistula v2 against their golden vectors (bittensor 11.3.0's `http_auth` and
//! Targon's `epistula.py`), and the refusals a verifier owes: wrong receiver, stale, future,
//! tampered, forged.

use neuronet_synapse::http_auth::{
    epistula_message, epistula_nonce, sign_btauth, sign_epistula, verify_btauth, verify_epistula, Window,
};
use neuronet_synapse::{CryptoType, Keypair, Status};

fn key(suri: &str, crypto: CryptoType) -> Keypair {
    Keypair::from_suri(suri, crypto).unwrap()
}

fn lookup<'a>(headers: &'a [(&'a str, &'a str)]) -> &'a [(&'a str, &'a str)] {
    headers
}

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const NONCE: u64 = 1_700_000_000_000_000_000;
const BODY: &[u8] = br#"{"prompt":"hello"}"#;

fn btauth(signature: &str, crypto: &'static str, sender: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("x-bittensor-version", "1".into()),
        ("x-bittensor-hotkey", sender.into()),
        ("x-bittensor-receiver", BOB.into()),
        ("x-bittensor-nonce", NONCE.to_string()),
        ("x-bittensor-crypto", crypto.into()),
        ("x-bittensor-signature", signature.into()),
    ]
}

fn borrowed<'a>(headers: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    headers.iter().map(|(n, v)| (*n, v.as_str())).collect()
}

#[test]
fn btauth_golden_vectors_verify_and_ed25519_signs_identically() {
    let bob = key("//Bob", CryptoType::Sr25519).hotkey();
    let now = NONCE + 500_000_000;
    let sr = btauth("0xa0dd444b4e3dc66518ee963c27c676c0287437d76b5d8297d356f641a6973263efa3b9916a640ec4ced16adc28838bbc18a09cb8b33e6cba2d0d41b0987ab38c", "sr25519", ALICE);
    let caller =
        verify_btauth("POST", "/TextGeneration", BODY, &borrowed(&sr)[..], &bob, now, Window::default()).unwrap();
    assert_eq!(caller.hotkey.to_ss58(), ALICE);
    assert_eq!(caller.nonce.0, NONCE);

    let ed_alice = key("//Alice", CryptoType::Ed25519);
    assert_eq!(ed_alice.hotkey().to_ss58(), "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu");
    let ours = sign_btauth(&ed_alice, "POST", "/TextGeneration", BODY, Some(&bob), NONCE);
    let signature = ours.iter().find(|(n, _)| *n == "X-Bittensor-Signature").unwrap();
    assert_eq!(signature.1, "0x1e37d9da551610ec073da396df94256fc0430166fc4aa5530591eee52133c18966a29bfdd65a769419287f8e50bac6bc77b7cba512fdb7a04bcb0d13101d2f0d");
    verify_btauth("POST", "/TextGeneration", BODY, &borrowed(&ours)[..], &bob, now, Window::default()).unwrap();
}

#[test]
fn btauth_refuses_what_a_verifier_must() {
    let alice = key("//Alice", CryptoType::Sr25519);
    let bob = key("//Bob", CryptoType::Sr25519).hotkey();
    let charlie = key("//Charlie", CryptoType::Sr25519).hotkey();
    let signed = sign_btauth(&alice, "POST", "/Ping?x=1", BODY, Some(&bob), NONCE);
    let headers = borrowed(&signed);
    let verify = |method: &str, target: &str, body: &[u8], ours, now| {
        verify_btauth(method, target, body, lookup(&headers), ours, now, Window::default())
    };
    assert!(verify("POST", "/Ping?x=1", BODY, &bob, NONCE).is_ok());
    // For another axon.
    assert_eq!(verify("POST", "/Ping?x=1", BODY, &charlie, NONCE).unwrap_err().status, Status::Forbidden);
    // Stale, from the future.
    let stale = verify("POST", "/Ping?x=1", BODY, &bob, NONCE + 11_000_000_000).unwrap_err();
    assert_eq!(stale.status, Status::Unauthorized);
    assert!(stale.message.contains("stale"), "{}", stale.message);
    assert!(verify("POST", "/Ping?x=1", BODY, &bob, NONCE - 3_000_000_000).unwrap_err().message.contains("future"));
    // Anything the signature covers changed.
    for (method, target, body) in
        [("GET", "/Ping?x=1", BODY), ("POST", "/Ping?x=2", BODY), ("POST", "/Ping?x=1", &b"{}"[..])]
    {
        let refused = verify(method, target, body, &bob, NONCE).unwrap_err();
        assert_eq!(refused.status, Status::Unauthorized);
        assert!(!refused.message.contains(&signed[4].1[2..]), "never echo the signature");
    }
    // The declared scheme only: an sr25519 signature claimed as ed25519 fails.
    let mut claimed = signed.clone();
    claimed[3].1 = "ed25519".into();
    assert!(verify_btauth("POST", "/Ping?x=1", BODY, &borrowed(&claimed)[..], &bob, NONCE, Window::default()).is_err());
    // No receiver at all.
    let unbound = sign_btauth(&alice, "POST", "/Ping", BODY, None, NONCE);
    let refused = verify_btauth("POST", "/Ping", BODY, &borrowed(&unbound)[..], &bob, NONCE, Window::default());
    assert_eq!(refused.unwrap_err().status, Status::Forbidden);
    // Missing or malformed headers.
    let missing: Vec<_> = headers.iter().filter(|(n, _)| *n != "X-Bittensor-Nonce").copied().collect();
    assert!(verify_btauth("POST", "/Ping?x=1", BODY, lookup(&missing), &bob, NONCE, Window::default()).is_err());
}

/// Targon's golden vectors: (body, uuid, signature, receiver).
const EPISTULA: [(&str, &str, &str, Option<&str>); 3] = [
    (
        r#"{"messages": [{"role": "user", "content": "hello"}], "model": "test-model", "stream": true}"#,
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "0xe212f7d833b74bd38cb865ae7710975c27495307f858defe1f070f2da26e4533f8a29b3e8d65da254b107834403cb4c9a7fce712fc213fbc35817636e2011c80",
        Some(BOB),
    ),
    (
        "",
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "0x9c7d548d13655938077f1f2adb18085f2bbcf7c2dd38758cf66daa71eca79518649cba201acb71521b80b6c2561036824aad836ae8c9ff057b82d865767ba08c",
        Some(BOB),
    ),
    (
        r#"{"hello": "world"}"#,
        "9b2e4c1a-3f5d-4e6b-8a7c-1d2e3f4a5b6c",
        "0xe0730d91718110f405588d2a6426193cb65894a15bc6c7b3d52482fdf7bd8a5884bc75b451bfa69c7ef54c3847c4da842b3ccc23d7a16d4bebe37a4224758580",
        None,
    ),
];

#[test]
fn epistula_golden_vectors_verify_where_they_name_this_receiver() {
    let bob = key("//Bob", CryptoType::Sr25519).hotkey();
    let now = 1_700_000_000_623_000_000;
    let messages = [
        "03553eb156ca9a8a7dac67732bd95390d86475ab9fd3470db56ce7cd7c507bae.0f8fad5b-d9cb-469f-a165-70867728950e.1700000000123.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.7c9e6679-7425-40de-944b-e07fc1f90ae7.1700000000123.5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
        "5f8f04f6a3a892aaabbddb6cf273894493773960d4a325b105fee46eef4304f1.9b2e4c1a-3f5d-4e6b-8a7c-1d2e3f4a5b6c.1700000000123.",
    ];
    for ((body, uuid, signature, receiver), message) in EPISTULA.iter().zip(messages) {
        assert_eq!(epistula_message(body.as_bytes(), uuid, "1700000000123", receiver.unwrap_or_default()), message);
        let mut headers = vec![
            ("Epistula-Version", "2"),
            ("Epistula-Timestamp", "1700000000123"),
            ("Epistula-Uuid", *uuid),
            ("Epistula-Signed-By", ALICE),
            ("Epistula-Request-Signature", *signature),
        ];
        if let Some(receiver) = receiver {
            headers.push(("Epistula-Signed-For", receiver));
        }
        let verdict = verify_epistula(body.as_bytes(), lookup(&headers), &bob, now, Window::default());
        match receiver {
            Some(_) => {
                let caller = verdict.unwrap();
                assert_eq!(caller.hotkey.to_ss58(), ALICE);
                assert_eq!(caller.nonce, epistula_nonce(1_700_000_000_123, uuid));
            }
            // A request for no one in particular is refused: it could be replayed to any axon.
            None => assert_eq!(verdict.unwrap_err().status, Status::Forbidden),
        }
    }
}

#[test]
fn epistula_refuses_what_the_public_verifiers_let_through() {
    let alice = key("//Alice", CryptoType::Sr25519);
    let bob = key("//Bob", CryptoType::Sr25519).hotkey();
    let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let ts = 1_700_000_000_123u64;
    let now = ts * 1_000_000;
    let signed = sign_epistula(&alice, BODY, Some(&bob), uuid, ts).unwrap();
    let headers = borrowed(&signed);
    let verify = |body: &[u8], now| verify_epistula(body, lookup(&headers), &bob, now, Window::default());
    assert_eq!(verify(BODY, now).unwrap().hotkey, alice.hotkey());
    assert!(verify(b"{}", now).is_err(), "a tampered body");
    assert!(verify(BODY, now + 11_000_000_000).unwrap_err().message.contains("stale"));
    // Bounded ahead too (the public verifiers accept any future timestamp).
    assert!(verify(BODY, now - 3_000_000_000).unwrap_err().message.contains("future"));
    let charlie = key("//Charlie", CryptoType::Sr25519).hotkey();
    let for_charlie = verify_epistula(BODY, lookup(&headers), &charlie, now, Window::default());
    assert_eq!(for_charlie.unwrap_err().status, Status::Forbidden);
    // A forged signer: Charlie's name on Alice's signature.
    let mut forged = headers.clone();
    forged[3].1 = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";
    assert_eq!(
        verify_epistula(BODY, lookup(&forged), &bob, now, Window::default()).unwrap_err().status,
        Status::Unauthorized
    );
    // A short signature is an error, not a panic (a public Go verifier panics on it).
    let mut short = headers.clone();
    short[4].1 = "0x1234";
    assert!(verify_epistula(BODY, lookup(&short), &bob, now, Window::default()).is_err());
    // ed25519 has no Epistula form.
    assert!(sign_epistula(&key("//Alice", CryptoType::Ed25519), BODY, Some(&bob), uuid, ts).is_err());
    // One (timestamp, uuid) is one nonce; another uuid another.
    assert_eq!(epistula_nonce(ts, uuid), epistula_nonce(ts, uuid));
    assert_ne!(epistula_nonce(ts, uuid), epistula_nonce(ts, "7c9e6679-7425-40de-944b-e07fc1f90ae7"));
}

mod arbitrary_headers {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever an unauthenticated sender puts in the headers, verification answers with a
        /// refusal, never a panic.
        #[test]
        fn never_panic(values in proptest::collection::vec(".{0,200}", 12), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bob = key("//Bob", CryptoType::Sr25519).hotkey();
            let names = [
                "X-Bittensor-Version", "X-Bittensor-Hotkey", "X-Bittensor-Receiver", "X-Bittensor-Nonce",
                "X-Bittensor-Crypto", "X-Bittensor-Signature", "Epistula-Version", "Epistula-Timestamp",
                "Epistula-Uuid", "Epistula-Signed-By", "Epistula-Signed-For", "Epistula-Request-Signature",
            ];
            let headers: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().map(String::as_str)).collect();
            prop_assert!(verify_btauth("POST", "/Ping", &body, &headers[..], &bob, NONCE, Window::default()).is_err());
            prop_assert!(verify_epistula(&body, &headers[..], &bob, NONCE, Window::default()).is_err());
            let v10_names = [
                "bt_header_dendrite_hotkey", "bt_header_dendrite_nonce", "bt_header_dendrite_uuid",
                "bt_header_dendrite_signature", "bt_header_axon_hotkey", "computed_body_hash",
            ];
            let v10: Vec<(&str, &str)> = v10_names.iter().copied().zip(values.iter().map(String::as_str)).collect();
            let verdict = neuronet_synapse::v10::verify_request(&body, &["text"], &v10[..], &bob, NONCE, Window::default());
            prop_assert!(verdict.is_err());
        }
    }
}
