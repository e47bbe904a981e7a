//! Requests a correct Dendrite never sends, written by hand on a raw libp2p stream: forged
//! signatures, wrong receivers, stale and replayed nonces, unbound connections, garbage frames,
//! and junk UDP at the axon's port. Each time the axon answers with the right status and keeps
//! serving well-behaved callers.

mod common;

use common::*;
use neuronet_synapse::builtin::{TextGeneration, TextGenerationStream};
use neuronet_synapse::envelope::RequestHead;
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::payload::{unix_nanos, Nonce};
use neuronet_synapse::{proto, Keypair, Signature, Status, Synapse};
use neuronet_transport::{AxonConfig, AxonHandle, Dendrite, DendriteConfig, Multiaddr, Target};
use prost::Message;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn body(text: &str) -> Vec<u8> {
    prompt(text).encode_to_vec()
}

fn decode_echo(bytes: &[u8]) -> String {
    proto::TextGenerationResponse::decode(bytes).expect("echo response").text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_well_formed_request_is_served() {
    // The raw client itself is sound: a correctly signed request is answered 200.
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("raw hello");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, answer) = stream.request(7, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
    assert_eq!(decode_echo(&answer), echo_of("raw hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signature_is_401() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let mallory = key("//Mallory");
    let b = body("forged");

    // Signed by Mallory, claiming to be Alice (the connection's hotkey).
    let mut impostor = signed_head(&mallory, &axon.hotkey(), TextGeneration::NAME, &b);
    impostor.sender = alice.hotkey();
    // Alice's genuine signature with one bit flipped.
    let mut flipped = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let mut sig = flipped.signature.unwrap().0;
    sig[10] ^= 0x01;
    flipped.signature = Some(Signature(sig));
    // A genuine signature over another body.
    let other_body = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &body("the signed one"));

    for (head, sent) in [(impostor, b.clone()), (flipped, b.clone()), (other_body, body("the sent one"))] {
        let client = RawClient::connect(&axon.listen_addrs()[0]).await;
        let mut stream = client.open_bound(&alice).await;
        let (response, answer) = stream.request(1, &head, &sent).await;
        assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
        assert!(response.message.contains("signature does not verify"), "{}", response.message);
        assert!(answer.is_empty());
        // A forgery costs the axon one signature check per connection: it closes it.
        assert!(client.disconnected_within(Duration::from_secs(3)).await, "the connection stays open");
    }

    // A new connection then serves a genuine request.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, answer) = stream.request(4, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
    assert_eq!(decode_echo(&answer), echo_of("forged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_for_another_receiver_is_403() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("for charlie");
    let head = signed_head(&alice, &key("//Charlie").hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Forbidden, "{}", response.message);
    assert!(response.message.contains("another receiver"), "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_future_nonces_are_401() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("old news");

    let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), *axon.hotkey().public(), 5_000);
    head.nonce = Nonce(unix_nanos() - 60_000_000_000); // a minute ago, window 10 s
    head.sign(&alice, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(response.message.contains("too old"), "{}", response.message);

    let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), *axon.hotkey().public(), 5_000);
    head.nonce = Nonce(unix_nanos() + 60_000_000_000); // a minute ahead, skew 2 s
    head.sign(&alice, &b);
    let (response, _) = stream.request(2, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(response.message.contains("in the future"), "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_nonce_is_401() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("once only");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);

    let (first, answer) = stream.request(1, &head, &b).await;
    assert_eq!(first.status, Status::Success, "{}", first.message);
    assert_eq!(decode_echo(&answer), echo_of("once only"));

    let (second, answer) = stream.request(2, &head, &b).await;
    assert_eq!(second.status, Status::Unauthorized, "{}", second.message);
    assert!(second.message.contains("already used"), "{}", second.message);
    assert!(answer.is_empty());

    // Replayed on another stream of another connection bound to the same hotkey: still refused.
    let other = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = other.open_bound(&alice).await;
    let (third, _) = stream.request(1, &head, &b).await;
    assert_eq!(third.status, Status::Unauthorized, "{}", third.message);
    assert!(third.message.contains("already used"), "{}", third.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_or_mismatched_connections_are_401() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let b = body("no binding");

    // A request before any Bind frame.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open().await;
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(response.message.contains("not bound"), "{}", response.message);

    // A binding signed for another PeerId is refused at Bind.
    let mut stream = client.open().await;
    let expires_at = unix_nanos() / 1_000_000_000 + 3600;
    let other_peer = neuronet_transport::PeerId::random();
    let binding = neuronet_synapse::binding::sign_binding(&alice, &other_peer.to_bytes(), expires_at);
    stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await.unwrap();
    let frame = stream.expect_frame().await;
    assert_eq!(frame.prefix.kind, FrameKind::Response);
    let head = neuronet_synapse::envelope::ResponseHead::decode(&frame.header).unwrap();
    assert_eq!(head.status, Status::Unauthorized, "{}", head.message);
    assert!(head.message.contains("binding refused"), "{}", head.message);

    // Bound as Alice, a request signed by Charlie (valid signature) is refused.
    let mut stream = client.open_bound(&alice).await;
    let charlie = key("//Charlie");
    let head = signed_head(&charlie, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(2, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(response.message.contains("is not the connection's hotkey"), "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_streams_leaves_the_axon_serving() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let target = target(&axon);
    let good = dendrite("//Alice").await;
    assert_echo(&good, &target, "before").await;

    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut rng = Rng::new(0x5eed);

    // Garbage instead of Bind (first byte forced to an unknown frame kind): the axon closes it.
    let mut stream = client.open().await;
    let mut junk = rng.bytes(4096);
    junk[0] = 0xEE;
    // The axon may stop the stream before all of it is written; that is fine.
    let _ = stream.write_raw(&junk).await;
    assert!(stream.closed_within(Duration::from_secs(3)).await, "axon kept a garbage stream open");

    // Garbage after a good Bind: closed too.
    let mut stream = client.open_bound(&alice).await;
    let mut junk = rng.bytes(4096);
    junk[0] = 0x00;
    // The axon may stop the stream before all of it is written; that is fine.
    let _ = stream.write_raw(&junk).await;
    assert!(stream.closed_within(Duration::from_secs(3)).await, "axon kept a garbage stream open");

    // A prefix announcing a header longer than any valid header: closed.
    let mut stream = client.open_bound(&alice).await;
    let mut prefix = neuronet_synapse::frame::encode_head(FrameKind::Request, 1, &[], 0);
    prefix[9] = 0xFF;
    prefix[10] = 0xFF;
    let _ = stream.write_raw(&prefix).await;
    assert!(stream.closed_within(Duration::from_secs(3)).await, "axon kept a stream with a 64 KiB header open");

    // Axon-only frame kinds from a dendrite: closed.
    let mut stream = client.open_bound(&alice).await;
    let _ = stream.write_frame(FrameKind::Chunk, 1, &[], b"chunk?").await;
    assert!(stream.closed_within(Duration::from_secs(3)).await, "axon kept a stream that sent a Chunk open");

    // A Request frame whose header is random bytes: 400, the stream stays usable.
    let mut stream = client.open_bound(&alice).await;
    let header = rng.bytes(200);
    stream.write_frame(FrameKind::Request, 9, &header, b"whatever").await.unwrap();
    let frame = stream.expect_frame().await;
    let head = neuronet_synapse::envelope::ResponseHead::decode(&frame.header).unwrap();
    assert_eq!((frame.prefix.request_id, head.status), (9, Status::BadRequest), "{}", head.message);
    let b = body("after junk header");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, answer) = stream.request(10, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
    assert_eq!(decode_echo(&answer), echo_of("after junk header"));

    // A valid body that is not a TextGenerationRequest: 400 from the handler's decode.
    let junk_body = rng.bytes(64);
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &junk_body);
    let (response, _) = stream.request(11, &head, &junk_body).await;
    assert!(
        matches!(response.status, Status::BadRequest | Status::Success),
        "{} {}",
        response.status,
        response.message
    );

    // Many streams of pure noise at once.
    let mut noisy = Vec::new();
    for _ in 0..16 {
        let mut stream = client.open().await;
        let mut junk = rng.bytes(1500);
        junk[0] = 0xAB;
        // The axon may stop the stream before all of it is written; that is fine.
        let _ = stream.write_raw(&junk).await;
        noisy.push(stream);
    }
    for mut stream in noisy {
        assert!(stream.closed_within(Duration::from_secs(3)).await);
    }

    // The well-behaved dendrite is still served, on its old connection and on a new one.
    assert_echo(&good, &target, "after the garbage").await;
    let fresh = dendrite("//Charlie").await;
    assert_echo(&fresh, &target, "fresh after the garbage").await;
}

fn udp_addr(addr: &Multiaddr) -> SocketAddr {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            libp2p::multiaddr::Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            libp2p::multiaddr::Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            libp2p::multiaddr::Protocol::Udp(p) => port = Some(p),
            _ => {}
        }
    }
    SocketAddr::new(ip.expect("ip"), port.expect("udp port"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_udp_burst_leaves_the_axon_serving() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let target = target(&axon);
    let good = dendrite("//Alice").await;
    assert_echo(&good, &target, "before").await;

    let to = udp_addr(&axon.listen_addrs()[0]);
    let mut rng = Rng::new(0xdead_beef);
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    for i in 0..5_000usize {
        let len = 1 + (rng.next_u64() % 1400) as usize;
        let mut datagram = rng.bytes(len);
        if i % 3 == 0 && len > 5 {
            // Looks like a QUIC long-header Initial of version 1, with garbage after.
            datagram[0] = 0xC0 | (datagram[0] & 0x0F);
            datagram[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        let _ = sockets[i % sockets.len()].send_to(&datagram, to).await;
        if i % 500 == 499 {
            tokio::task::yield_now().await;
        }
    }

    // The old connection and a new one are both served.
    assert_echo(&good, &target, "after the burst").await;
    let fresh = dendrite("//Charlie").await;
    assert_echo(&fresh, &target, "fresh after the burst").await;
}

/// Many streams opened at the same moment (32 on each of three connections) are each answered. libp2p-stream
/// drops an inbound stream that arrives while the previous one has not been taken; the axon's
/// accept loop must keep up (or the dendrite must retry), else a Bind goes unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stream_opens_are_all_bound() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = std::sync::Arc::new(key("//Alice"));
    // Three connections (streams stay open once bound, and a connection allows 64), 32 each.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(std::sync::Arc::new(RawClient::connect(&axon.listen_addrs()[0]).await));
    }
    let mut tasks = Vec::new();
    for n in 0..96 {
        let client = clients[n % 3].clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = client.open().await;
            let expires_at = unix_nanos() / 1_000_000_000 + 3600;
            let binding = neuronet_synapse::binding::sign_binding(&alice, &stream.local_peer_id.to_bytes(), expires_at);
            if let Err(e) = stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await {
                return Err(format!("writing Bind: {e}"));
            }
            match tokio::time::timeout(Duration::from_secs(3), stream.read_frame()).await {
                Ok(Ok(Some(frame))) if frame.prefix.kind == FrameKind::Bind => Ok(()),
                Ok(Ok(Some(frame))) => Err(format!("answered with {:?}", frame.prefix.kind)),
                Ok(Ok(None)) => Err("axon closed the stream without answering".to_owned()),
                Ok(Err(e)) => Err(format!("reading the answer: {e}")),
                Err(_) => Err("no answer within 3 s".to_owned()),
            }
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.expect("task") {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 96 concurrently opened streams got no Bind answer: {failures:?}",
        failures.len()
    );
}

/// An axon whose `TextGeneration` handler echoes, counting the requests it handles.
async fn counting_echo_axon(config: AxonConfig) -> (AxonHandle, Arc<AtomicUsize>) {
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = handled.clone();
    let axon = neuronet_transport::Axon::new(key("//Bob"), config)
        .serve::<TextGeneration, _, _>(move |_ctx, req: proto::TextGenerationRequest| {
            counter.fetch_add(1, Ordering::Relaxed);
            async move { Ok(proto::TextGenerationResponse { text: echo_of(&req.prompt), ..Default::default() }) }
        })
        .start([loopback4()])
        .await
        .unwrap();
    (axon, handled)
}

/// Writes `count` signed echo requests with 8 KiB prompts (ids 1 to `count`) on `stream`, and
/// reads none of their answers; stops at the first that cannot be written within 2 s (the axon
/// closed the stream or stopped reading). Returns how many were written.
async fn send_unread(stream: &mut RawStream, sender: &Keypair, axon: &AxonHandle, count: u64) -> u64 {
    let b = body(&"x".repeat(8 * 1024));
    for id in 1..=count {
        let head = signed_head(sender, &axon.hotkey(), TextGeneration::NAME, &b);
        let header = head.encode();
        let write = stream.write_frame(FrameKind::Request, id, &header, &b);
        if !matches!(tokio::time::timeout(Duration::from_secs(2), write).await, Ok(Ok(()))) {
            return id - 1;
        }
    }
    count
}

/// A caller that sends requests but reads none of the answers: once the axon's answers for its
/// stream back up, the axon reads no more of its requests, and after `write_stall` without
/// progress gives the stream up (instead of holding its answers, and reading and handling more
/// requests, for as long as the peer stays connected). Everyone else is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_reads_no_answers_loses_its_stream() {
    let stall = Duration::from_millis(300);
    let mut config = AxonConfig::default().with_write_queue(2);
    config.network.write_stall = stall;
    let (axon, handled) = counting_echo_axon(config).await;
    let alice = key("//Alice");
    // A 16 KiB receive window: two answers fill it.
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    let sent = 40;
    send_unread(&mut stream, &alice, &axon, sent).await;
    tokio::time::sleep(stall * 3).await;
    // What the axon wrote before it gave up may still arrive; then the stream ends.
    assert!(
        stream.closed_within(Duration::from_secs(5)).await,
        "the axon kept the stream of a caller that reads nothing"
    );
    // Two answers fill the window and two the queue: the axon stopped reading soon after.
    let handled = handled.load(Ordering::Relaxed);
    assert!(handled <= 20, "the axon handled {handled} of {sent} requests whose answers nobody read");
    let other = dendrite("//Charlie").await;
    let answer =
        other.query_within::<TextGeneration>(&target(&axon), prompt("still serving"), Duration::from_secs(5)).await;
    assert_eq!(answer.body.map(|b| b.text), Some(echo_of("still serving")), "{}", answer.message);
}

/// Answers waiting for a caller that reads none of them hold a share of `max_inflight_bytes`
/// until written, like requests do: with a small budget and a queue long enough never to stop
/// the stream's reader, the axon handles a few requests and refuses the rest with 503, instead
/// of turning all of them into answers that pile up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_nobody_reads_count_against_the_memory_budget() {
    let config = AxonConfig::default().with_write_queue(1024).with_max_inflight_bytes(64 * 1024);
    let (axon, handled) = counting_echo_axon(config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    let sent = 40;
    assert_eq!(send_unread(&mut stream, &alice, &axon, sent).await, sent, "every request is read (or refused)");
    tokio::time::sleep(Duration::from_millis(500)).await;
    // 64 KiB holds about seven 8 KiB answers, and the window two more.
    let handled = handled.load(Ordering::Relaxed);
    assert!(handled <= 20, "the axon handled {handled} of {sent} requests whose answers nobody read");
}

/// A streaming answer whose chunks nobody takes gives its handler slot up while it waits: with
/// one slot in all, another caller is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_nobody_reads_does_not_keep_its_handler_slot() {
    let config = AxonConfig::default().with_max_concurrency(1).with_write_queue(2);
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    // 20,000 one-word chunks, more than the window and the queue hold; none is read.
    let b = body(&"w ".repeat(20_000));
    let head = signed_head(&alice, &axon.hotkey(), TextGenerationStream::NAME, &b);
    stream.write_frame(FrameKind::Request, 1, &head.encode(), &b).await.expect("request written");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = dendrite("//Charlie").await;
    let answer = other.query_within::<TextGeneration>(&target(&axon), prompt("served"), Duration::from_secs(3)).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
}

/// One address that sends much and reads nothing holds at most its own part of the memory
/// budget (`max_inflight_bytes_per_ip`): a caller from another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_the_whole_memory_budget() {
    let config = AxonConfig::default()
        .with_write_queue(1024)
        .with_max_inflight_bytes(256 * 1024)
        .with_max_inflight_bytes_per_ip(64 * 1024);
    let axon =
        with_echo(neuronet_transport::Axon::new(key("//Bob"), config)).start([loopback4(), loopback6()]).await.unwrap();
    let (v4, v6) = (axon.listen_addrs()[0].clone(), axon.listen_addrs()[1].clone());
    assert!(v6.to_string().starts_with("/ip6/::1/"), "{v6}");
    // From 127.0.0.1: 60 requests with 8 KiB answers (480 KiB, more than the whole budget),
    // none of which is read.
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&v4, Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    assert_eq!(send_unread(&mut stream, &alice, &axon, 60).await, 60, "every request is read (or refused)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // From ::1, an 8 KiB request is served.
    let other = dendrite("//Charlie").await;
    let target = Target::Explicit { hotkey: axon.hotkey(), addr: v6 };
    let text = "y".repeat(8 * 1024);
    let answer = other.query_within::<TextGeneration>(&target, prompt(&text), Duration::from_secs(5)).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert_eq!(answer.body.unwrap().text, echo_of(&text));
}

/// A caller that reads, but too slowly for its answers to arrive before it stops waiting for
/// them (here: not at all, with a stall allowance far longer than the requests' deadlines):
/// the axon drops the answers nobody waits for and gives the stream up once its callers'
/// deadlines have passed, instead of keeping it while the caller takes a byte now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_past_their_callers_deadline_are_not_kept() {
    let mut config = AxonConfig::default().with_write_grace(Duration::from_millis(200));
    config.network.write_stall = Duration::from_secs(60);
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect_with_window(&axon.listen_addrs()[0], Some(16 * 1024)).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body(&"x".repeat(8 * 1024));
    for id in 1..=10u64 {
        let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), *axon.hotkey().public(), 300);
        head.sign(&alice, &b);
        stream.write_frame(FrameKind::Request, id, &head.encode(), &b).await.expect("request written");
    }
    // Deadlines are 300 ms + 200 ms of grace away; the stall allowance is a minute. Read
    // nothing until well past them, then what was written before arrives, and the stream ends.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(stream.closed_within(Duration::from_secs(5)).await, "the stream outlived its callers' deadlines");
    assert_echo(&dendrite("//Charlie").await, &target(&axon), "still serving").await;
}

/// An axon that binds and then reads nothing: the dendrite's request cannot leave, and instead
/// of waiting for its timeout (and queueing every later request behind it) the query fails with
/// 503 once the axon has taken nothing for `write_stall`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_axon_that_reads_no_requests_fails_them_with_503() {
    let silent = SilentAxon::start(key("//Bob"), 16 * 1024).await;
    let mut config = DendriteConfig::default();
    config.network.write_stall = Duration::from_millis(300);
    let dendrite = Dendrite::new(key("//Alice"), config).await.unwrap();
    let target = Target::Explicit { hotkey: silent.hotkey, addr: silent.addr.clone() };
    let request = prompt(&"x".repeat(200 * 1024));
    let started = Instant::now();
    let answer = dendrite.query_within::<TextGeneration>(&target, request.clone(), Duration::from_secs(10)).await;
    assert_eq!(answer.status, Status::Unavailable, "{}", answer.message);
    assert!(answer.message.contains("not reading"), "{}", answer.message);
    assert!(started.elapsed() < Duration::from_secs(5), "503 took {:?}", started.elapsed());
    // Each later query opens a new stream, stalls and fails alike, and leaves no task behind
    // (the given-up stream's reader is stopped too).
    let runtime = tokio::runtime::Handle::current().metrics();
    let before = runtime.num_alive_tasks();
    for _ in 0..4 {
        let answer = dendrite.query_within::<TextGeneration>(&target, request.clone(), Duration::from_secs(10)).await;
        assert_eq!(answer.status, Status::Unavailable, "{}", answer.message);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = runtime.num_alive_tasks();
    assert!(after < before + 4, "tasks went from {before} to {after} over four given-up streams");
}

/// One hotkey signs batches of 64 requests with nonces at the future edge of the freshness
/// window, more than the whole replay cache holds: it only narrows its own window, so another
/// hotkey's dendrite is still served, and none of the flood's nonces can be replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_hotkey_cannot_lock_others_out_of_the_replay_cache() {
    let capacity = 256;
    let config = AxonConfig::default()
        .with_nonce(neuronet_synapse::nonce::NonceGuardConfig::default().with_capacity(capacity).with_shards(1));
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("flood");
    let mut first = None;
    let mut flood = Vec::new();
    let batches = (capacity as u64).div_ceil(64) + 2;
    for batch in 0..batches {
        // 1.5 s ahead, inside the 2 s skew, and distinct: what lives longest in the cache.
        let edge = unix_nanos() + 1_500_000_000;
        let mut heads: Vec<RequestHead> = (0..64u64)
            .map(|i| {
                let mut head = RequestHead::new(TextGeneration::NAME, alice.hotkey(), *axon.hotkey().public(), 5_000);
                head.nonce = Nonce(edge + i);
                head
            })
            .collect();
        let mut members: Vec<(&mut RequestHead, &[u8])> = heads.iter_mut().map(|h| (h, &b[..])).collect();
        neuronet_synapse::envelope::sign_batch(&alice, &mut members);
        for (i, head) in heads.iter().enumerate() {
            let id = batch * 64 + i as u64 + 1;
            stream.write_frame(FrameKind::Request, id, &head.encode(), &b).await.expect("request written");
        }
        let mut answered = 0;
        while answered < 64 {
            let frame = stream.expect_frame().await;
            if frame.prefix.kind != FrameKind::Response {
                continue;
            }
            let response = neuronet_synapse::envelope::ResponseHead::decode(&frame.header).expect("response head");
            flood.push((frame.prefix.request_id, response.status, response.message));
            answered += 1;
        }
        first.get_or_insert(heads.remove(0));
    }

    let charlie = dendrite("//Charlie").await;
    let answer =
        charlie.query_within::<TextGeneration>(&target(&axon), prompt("still served"), Duration::from_secs(5)).await;
    assert_eq!(answer.body.map(|b| b.text), Some(echo_of("still served")), "{}", answer.message);
    // The flooder's nonces only ever rise, so losing its oldest ones cost it nothing either.
    for (id, status, message) in &flood {
        assert_eq!(*status, Status::Success, "flood request {id}: {message}");
    }

    // The flood's first request, replayed alone: the nonce it had is refused.
    let Some(mut replay) = first else { panic!("no flood was sent") };
    replay.batch = None;
    replay.sign(&alice, &b);
    let (response, _) = stream.request(batches * 64 + 1, &replay, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
}
