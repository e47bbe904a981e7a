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

/// The raw request a bittensor 10.5.0 dendrite (//Alice) sent to an axon (//Bob), verbatim.
fn recorded_v10_request() -> Vec<u8> {
    let manifest = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = manifest
        .ancestors()
        .map(|dir| dir.join("../shared/docs/reference/v10-capture.txt"))
        .find(|path| path.exists())
        .expect("../shared/docs/reference/v10-capture.txt beside the checkout");
    // The request's own bytes (CRLF lines), between the marker line and the next one.
    let capture = std::fs::read_to_string(path).unwrap();
    let raw = capture.split("=== RAW REQUEST ===\n").nth(1).unwrap();
    raw.as_bytes()[..raw.find("\n=== ").unwrap()].to_vec()
}

async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut raw = Vec::new();
    // The recorded request keeps its connection open: read one response by its length.
    loop {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buf)).await.unwrap().unwrap();
        raw.extend_from_slice(&buf[..n]);
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if raw.len() >= split + 4 + length || n == 0 {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, head, raw[split + 4..].to_vec());
            }
        }
        if n == 0 {
            panic!("connection closed before a response");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_recorded_from_a_bittensor_10_dendrite_is_served_and_not_twice() {
    use neuronet_synapse::nonce::NonceGuardConfig;
    // The recording is weeks old: a window that reaches it (the signature and body hash are
    // what is checked here; freshness has tests of its own).
    let old_enough = NonceGuardConfig::default().with_max_age(std::time::Duration::from_secs(100 * 365 * 24 * 3600));
    let config = AxonConfig::default().with_nonce(old_enough).with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let start = |suri: &str, config: AxonConfig| {
        Axon::new(key(suri), config)
            .serve::<echo::Echo, _, _>(|_ctx, request: echo::EchoRequest| async move {
                Ok(echo::EchoResponse { out: request.text.to_uppercase() })
            })
            .with_required_hash_fields("Echo", &["text"])
            .start([loopback4()])
    };
    let axon = start("//Bob", config.clone()).await.unwrap();
    let addr = axon.http_addr().unwrap();
    let recorded = recorded_v10_request();

    let (status, head, body) = raw_request(addr, &recorded).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(head.contains("bt_header_axon_status_code: 200"), "{head}");
    let synapse = json(&body);
    assert_eq!(synapse["out"], "HELLO");
    assert_eq!(synapse["text"], "hello", "the whole synapse comes back, as the Python dendrite parses it");
    assert_eq!(synapse["axon"]["status_code"], 200);
    assert_eq!(synapse["dendrite"]["hotkey"], "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");

    // Replayed: refused, as the Python axon refuses it.
    let (status, head, body) = raw_request(addr, &recorded).await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(head.contains("bt_header_axon_status_code: 401"), "{head}");

    // The body changed under its signature (same length, so the request still parses).
    let tampered = String::from_utf8(recorded.clone()).unwrap().replace("\"text\": \"hello\"", "\"text\": \"HELLO\"");
    let other = start("//Bob", config.clone()).await.unwrap();
    let (status, _, body) = raw_request(other.http_addr().unwrap(), tampered.as_bytes()).await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&body));
    assert!(json(&body)["message"].as_str().unwrap().contains("does not match its signed hash"));

    // Sent to another axon: refused before any cryptography.
    let charlie = start("//Charlie", config).await.unwrap();
    let (status, _, _) = raw_request(charlie.http_addr().unwrap(), &recorded).await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_http_gets_4xx_and_the_listener_keeps_serving() {
    let config = AxonConfig::default().with_frame_timeout(std::time::Duration::from_millis(500));
    let axon = http_axon(config).await;
    let addr = axon.http_addr().unwrap();
    let body = br#"{"prompt": "x"}"#;
    let signed = |body: &[u8]| btauth("/TextGeneration", body, "//Bob");

    // Wrong JSON types for the synapse's fields.
    let wrong = br#"{"prompt": 5}"#;
    let (status, _, answer) = request(addr, "POST", "/TextGeneration", &signed(wrong), wrong).await;
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));

    // Huge headers.
    let padding = "p".repeat(512 * 1024);
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /TextGeneration HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\nContent-Length: 0\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 4"), "{reply}");

    // A body announced longer than what arrives before the sender gives up.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let headers: String = signed(body).iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect();
    let head = format!("POST /TextGeneration HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 100\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..5]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.is_empty() || reply.starts_with("HTTP/1.1 4"), "{reply}");

    // A sender that trickles its body is given up at the frame timeout.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /TextGeneration HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body[..3]).await.unwrap();
    let started = std::time::Instant::now();
    let mut reply = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut reply)).await.unwrap().unwrap();
    let reply = String::from_utf8_lossy(&reply[..n]);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // Headers that never finish (a slowloris): the connection is closed at the frame timeout.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"POST /TextGeneration HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let mut reply = Vec::new();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut reply)).await;
    assert!(closed.is_ok(), "a connection that never finishes its headers is closed");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // Through all of it, a good request is served.
    let (status, _, _) = request(addr, "POST", "/TextGeneration", &signed(body), body).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_spent_on_one_wire_is_refused_on_the_other() {
    use neuronet_synapse::envelope::RequestHead;
    use neuronet_synapse::payload::Nonce;
    use neuronet_synapse::Status;
    let axon = http_axon(AxonConfig::default()).await;
    let addr = axon.http_addr().unwrap();
    let (alice, bob) = (key("//Alice"), key("//Bob").hotkey());
    let body = br#"{"prompt": "twice"}"#;
    // The same request as QUIC carries it: protobuf.
    let quic_body = prost::Message::encode_to_vec(&prompt("twice"));
    let quic = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = quic.open_bound(&alice).await;
    let quic_request = |nonce: u64| {
        let mut head = RequestHead::new("TextGeneration", alice.hotkey(), *bob.public(), 5_000);
        head.nonce = Nonce(nonce);
        head.sign(&alice, &quic_body);
        head
    };

    // First over QUIC, then the same sender and nonce over HTTP.
    let nonce = unix_nanos();
    let (head, _) = stream.request(1, &quic_request(nonce), &quic_body).await;
    assert_eq!(head.status, Status::Success, "{}", head.message);
    let headers = sign_btauth(&alice, "POST", "/TextGeneration", body, Some(&bob), nonce);
    let (status, _, answer) = request(addr, "POST", "/TextGeneration", &headers, body).await;
    assert_eq!(status, 401, "{}", String::from_utf8_lossy(&answer));
    assert!(json(&answer)["message"].as_str().unwrap().contains("already used"));

    // First over HTTP, then over QUIC.
    let nonce = unix_nanos();
    let headers = sign_btauth(&alice, "POST", "/TextGeneration", body, Some(&bob), nonce);
    assert_eq!(request(addr, "POST", "/TextGeneration", &headers, body).await.0, 200);
    let (head, _) = stream.request(2, &quic_request(nonce), &quic_body).await;
    assert_eq!(head.status, Status::Unauthorized, "{}", head.message);
}
