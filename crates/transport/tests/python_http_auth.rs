//! btauth/1 and Epistula v2 against Python, over a neuronet axon's HTTP listener: requests signed
//! by bittensor 11.3.0's own `http_auth.sign` (sr25519 and ed25519) and by an Epistula signer
//! written from the header spec are served; wrong receivers, stale and replayed requests are
//! refused; and what neuronet signs passes bittensor's `http_auth.verify` and that Epistula
//! verifier. Python runs in a venv the test makes.

mod common;
#[path = "../../chain/tests/common/python.rs"]
mod python;

use common::*;
use neuronet_synapse::http_auth::{sign_btauth, sign_epistula};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::CryptoType;
use neuronet_transport::{Axon, AxonConfig, HttpListen};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn peer(command: &str, spec: Value) -> Value {
    python::run_separate("bittensor11", "bittensor11.txt", "http_auth_peer.py", &[command, &spec.to_string()])
}

async fn post(addr: SocketAddr, path: &str, headers: &Value, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers.as_object().unwrap() {
        head.push_str(&format!("{name}: {}\r\n", value.as_str().unwrap()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_signed_requests_are_served_and_neuronet_signatures_verify_in_python() {
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let axon = with_echo(Axon::new(key("//Bob"), config)).start([loopback4()]).await.unwrap();
    let addr = axon.http_addr().unwrap();
    let bob = key("//Bob").hotkey();
    let body = br#"{"prompt": "from python"}"#;
    let hex_body = hex::encode(body);
    let spec = {
        let hex_body = hex_body.clone();
        move |crypto: &str, receiver: String, nonce_ns: Option<u64>| {
            json!({ "uri": "//Alice", "crypto": crypto, "method": "POST", "path": "/TextGeneration",
                    "body": hex_body, "receiver": receiver, "nonce_ns": nonce_ns })
        }
    };
    let signed = tokio::task::spawn_blocking({
        let (bob, charlie) = (bob.to_ss58(), key("//Charlie").hotkey().to_ss58());
        move || {
            let stale = unix_nanos() - 20_000_000_000;
            [
                peer("btauth-sign", spec("sr25519", bob.clone(), None)),
                peer("btauth-sign", spec("ed25519", bob.clone(), None)),
                peer("btauth-sign", spec("sr25519", charlie, None)),
                peer("btauth-sign", spec("sr25519", bob, Some(stale))),
            ]
        }
    })
    .await
    .unwrap();
    let [sr, ed, misdirected, stale] = signed;
    for signed in [&sr, &ed] {
        let (status, text) = post(addr, "/TextGeneration", &signed["headers"], body).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains(&echo_of("from python")), "{text}");
    }
    assert_eq!(post(addr, "/TextGeneration", &sr["headers"], body).await.0, 401, "replayed");
    assert_eq!(post(addr, "/TextGeneration", &misdirected["headers"], body).await.0, 403, "for another axon");
    assert_eq!(post(addr, "/TextGeneration", &stale["headers"], body).await.0, 401, "stale");

    // Epistula from the spec's Python signer.
    let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let epistula_spec = json!({ "uri": "//Alice", "body": hex_body, "receiver": bob.to_ss58(), "uuid": uuid,
                                "timestamp_ms": unix_nanos() / 1_000_000 });
    let epistula = tokio::task::spawn_blocking(move || peer("epistula-sign", epistula_spec)).await.unwrap();
    let (status, text) = post(addr, "/TextGeneration", &epistula["headers"], body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(post(addr, "/TextGeneration", &epistula["headers"], body).await.0, 401, "replayed");

    // What neuronet signs, Python verifies.
    let to_json = |headers: Vec<(&'static str, String)>| {
        Value::Object(headers.into_iter().map(|(n, v)| (n.to_owned(), Value::String(v))).collect())
    };
    let now = unix_nanos();
    let ours_sr = to_json(sign_btauth(&key("//Alice"), "POST", "/TextGeneration", body, Some(&bob), now));
    let ed_alice = neuronet_synapse::Keypair::from_suri("//Alice", CryptoType::Ed25519).unwrap();
    let ours_ed = to_json(sign_btauth(&ed_alice, "POST", "/TextGeneration", body, Some(&bob), now));
    let ours_epistula = to_json(sign_epistula(&key("//Alice"), body, Some(&bob), uuid, now / 1_000_000).unwrap());
    let verdicts = tokio::task::spawn_blocking({
        let (bob, charlie, hex_body) = (bob.to_ss58(), key("//Charlie").hotkey().to_ss58(), hex::encode(body));
        move || {
            let btauth = |headers: &Value, me: &str| {
                peer(
                    "btauth-verify",
                    json!({ "headers": headers, "body": hex_body, "method": "POST",
                                              "path": "/TextGeneration", "self": me }),
                )
            };
            [
                btauth(&ours_sr, &bob),
                btauth(&ours_ed, &bob),
                btauth(&ours_sr, &charlie),
                peer("epistula-verify", json!({ "headers": ours_epistula, "body": hex_body, "self": bob })),
            ]
        }
    })
    .await
    .unwrap();
    let [sr_ok, ed_ok, wrong, epistula_ok] = verdicts;
    assert_eq!(sr_ok["ok"], true, "{sr_ok}");
    assert_eq!(sr_ok["hotkey"], "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
    assert_eq!(ed_ok["ok"], true, "{ed_ok}");
    assert_eq!(ed_ok["hotkey"], "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu");
    assert_eq!(wrong["ok"], false);
    assert_eq!(wrong["error"], "WrongReceiver");
    assert_eq!(epistula_ok["ok"], true, "{epistula_ok}");
}
