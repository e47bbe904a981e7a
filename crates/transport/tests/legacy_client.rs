//! The bittensor 10 dendrite against axons that misbehave: an answer larger than it reads, a
//! redirect elsewhere, an absurd process time. It refuses, never follows, never panics.

mod common;

use common::*;
use neuronet_synapse::builtin::Ping;
use neuronet_synapse::{proto, Status};
use neuronet_transport::V10Dendrite;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server on loopback that answers every request with `response`, verbatim.
async fn canned(response: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_axon_cannot_make_the_v10_dendrite_read_much_follow_or_panic() {
    let dendrite = V10Dendrite::new(key("//Alice")).with_max_response_bytes(4096);
    let bob = key("//Bob").hotkey();
    let ping = proto::PingRequest {};
    let timeout = Duration::from_secs(5);

    let announced = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n{}".to_vec()).await;
    let answer = dendrite.query::<Ping>(announced, &bob, &ping, timeout).await;
    assert_eq!(answer.status, Status::PayloadTooLarge, "{}", answer.message);

    let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..16 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend(std::iter::repeat_n(b' ', 1024));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let streamed = canned(chunked).await;
    let answer = dendrite.query::<Ping>(streamed, &bob, &ping, timeout).await;
    assert_eq!(answer.status, Status::PayloadTooLarge, "{}", answer.message);

    // A redirect is an answer, not a place to send the signed request again.
    let elsewhere = canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec()).await;
    let redirect =
        format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{elsewhere}/Ping\r\nContent-Length: 0\r\n\r\n");
    let redirecting = canned(redirect.into_bytes()).await;
    let answer = dendrite.query::<Ping>(redirecting, &bob, &ping, timeout).await;
    assert_eq!(answer.status.code(), 307, "{}", answer.message);

    // An absurd process time is clamped, not a panic.
    let absurd = canned(
        b"HTTP/1.1 200 OK\r\nbt_header_axon_status_code: 200\r\nbt_header_axon_process_time: 1e20\r\nContent-Length: 2\r\n\r\n{}"
            .to_vec(),
    )
    .await;
    let answer = dendrite.query::<Ping>(absurd, &bob, &ping, timeout).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert!(answer.process_time <= timeout);
}
