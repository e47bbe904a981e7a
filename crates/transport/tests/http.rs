//! The axon's HTTP listener over real loopback TCP: requests signed the way bittensor 11
//! (btauth/1) and Targon-style subnets (Epistula v2) sign them reach the same handlers as QUIC,
//! through the same pipeline; what a verifier owes a bad request, it gets.

mod common;

use common::*;
use neuronet_synapse::http_auth::{sign_btauth, sign_epistula};
use neuronet_synapse::payload::unix_nanos;
use neuronet_transport::{Axon, AxonConfig, HttpListen};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request on a fresh connection: status, headers (lower-cased names) and body.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

async fn http_axon(config: AxonConfig) -> neuronet_transport::AxonHandle {
    let config = config.with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    with_echo(Axon::new(key("//Bob"), config)).start([loopback4()]).await.unwrap()
}

fn btauth(path: &str, body: &[u8], receiver: &str) -> Vec<(&'static str, String)> {
    sign_btauth(&key("//Alice"), "POST", path, body, Some(&key(receiver).hotkey()), unix_nanos())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_json_requests_reach_the_handlers_and_replays_do_not() {
    let axon = http_axon(AxonConfig::default()).await;
    let addr = axon.http_addr().unwrap();
    let body = br#"{"prompt": "over http"}"#;

    let headers = btauth("/TextGeneration", body, "//Bob");
    let (status, head, answer) = request(addr, "POST", "/TextGeneration", &headers, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert!(head.contains("content-type: application/json"));
    assert_eq!(json(&answer)["text"], echo_of("over http"));

    // The same signed request again: its nonce is spent.
    let (status, _, answer) = request(addr, "POST", "/TextGeneration", &headers, body).await;
    assert_eq!(status, 401);
    assert!(
        json(&answer)["message"].as_str().unwrap().contains("already used"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    // Epistula v2, from the same hotkey.
    let uuid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let epistula =
        sign_epistula(&key("//Alice"), body, Some(&key("//Bob").hotkey()), uuid, unix_nanos() / 1_000_000).unwrap();
    let (status, _, answer) = request(addr, "POST", "/TextGeneration", &epistula, body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let (status, _, _) = request(addr, "POST", "/TextGeneration", &epistula, body).await;
    assert_eq!(status, 401, "a captured Epistula request cannot be replayed");

    // QUIC still serves beside it.
    assert_echo(&dendrite("//Charlie").await, &target(&axon), "over quic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_status_a_verifier_owes_them() {
    let alice = key("//Alice").hotkey();
    let config = AxonConfig::default().with_max_request_bytes(1024);
    let axon = with_echo(Axon::new(key("//Bob"), config.with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()))))
        .with_blacklist(move |caller, _| if *caller == alice { Err("no alice".into()) } else { Ok(()) })
        .start([loopback4()])
        .await
        .unwrap();
    let addr = axon.http_addr().unwrap();
    let body = br#"{"prompt": "x"}"#;
    let charlie = |path: &str, body: &[u8]| {
        sign_btauth(&key("//Charlie"), "POST", path, body, Some(&key("//Bob").hotkey()), unix_nanos())
    };

    let (status, _, _) = request(addr, "POST", "/TextGeneration", &[], body).await;
    assert_eq!(status, 401, "unsigned");
    let (status, _, _) = request(
        addr,
        "POST",
        "/TextGeneration",
        &sign_btauth(&key("//Charlie"), "POST", "/TextGeneration", body, Some(&key("//Dave").hotkey()), unix_nanos()),
        body,
    )
    .await;
    assert_eq!(status, 403, "signed for another axon");
    let (status, _, _) =
        request(addr, "POST", "/TextGeneration", &charlie("/TextGeneration", body), br#"{"prompt": "y"}"#).await;
    assert_eq!(status, 401, "a tampered body");
    let (status, _, answer) =
        request(addr, "POST", "/TextGeneration", &btauth("/TextGeneration", body, "//Bob"), body).await;
    assert_eq!(status, 403, "blacklisted: {}", String::from_utf8_lossy(&answer));
    let (status, _, answer) = request(addr, "POST", "/Nope", &charlie("/Nope", body), body).await;
    assert_eq!(status, 404);
    assert!(json(&answer)["message"].as_str().unwrap().contains("TextGeneration"), "named only after authentication");
    let (status, _, answer) =
        request(addr, "POST", "/TextGeneration", &charlie("/TextGeneration", b"{not json"), b"{not json").await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    let big = vec![b' '; 4096];
    let (status, _, _) = request(addr, "POST", "/TextGeneration", &charlie("/TextGeneration", &big), &big).await;
    assert_eq!(status, 413, "larger than max_request_bytes");
    // After all that, a good request is still served.
    let (status, _, _) = request(addr, "POST", "/TextGeneration", &charlie("/TextGeneration", body), body).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_synapse_answers_as_server_sent_events() {
    let axon = http_axon(AxonConfig::default()).await;
    let addr = axon.http_addr().unwrap();
    let body = br#"{"prompt": "one two three"}"#;
    let (status, head, events) =
        request(addr, "POST", "/TextGenerationStream", &btauth("/TextGenerationStream", body, "//Bob"), body).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let events = String::from_utf8(events).unwrap();
    let chunks: Vec<serde_json::Value> = events
        .split("\n\n")
        .filter(|e| e.starts_with("event: message"))
        .map(|e| json(e.split("data: ").nth(1).unwrap().as_bytes()))
        .collect();
    assert_eq!(chunks.len(), 3, "{events}");
    assert_eq!(chunks[2]["tokens"], 3);
    assert!(events.contains("event: end\ndata: {\"message\":\"Success\",\"status\":200}"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_listener_takes_the_quic_port_number_by_default_for_miners() {
    let config = AxonConfig::default().with_http(HttpListen::SamePort);
    let axon = with_echo(Axon::new(key("//Bob"), config)).start([loopback4()]).await.unwrap();
    let quic_port: u16 = axon.listen_addrs()[0].to_string().split('/').nth(4).unwrap().parse().unwrap();
    assert_eq!(axon.http_addr().unwrap().port(), quic_port);
}
