//! Bindings and connections as an attacker uses them, over real loopback QUIC: what the attacker
//! tries, and what a well-behaved peer still gets.

mod common;

use common::*;
use neuronet_synapse::binding::sign_binding;
use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::envelope::ResponseHead;
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::{Signature, Status, Synapse};
use neuronet_transport::{AxonConfig, NetworkConfig};
use prost::Message;
use std::time::Duration;

fn body(text: &str) -> Vec<u8> {
    prompt(text).encode_to_vec()
}

/// Sends a Bind frame with `binding` and reads the refusal the axon must answer it with.
async fn refused_bind(stream: &mut RawStream, binding: &neuronet_synapse::proto::HotkeyBinding) -> ResponseHead {
    stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await.expect("bind written");
    let frame = stream.expect_frame().await;
    assert_eq!(frame.prefix.kind, FrameKind::Response, "the Bind must be refused");
    ResponseHead::decode(&frame.header).expect("response head")
}

fn in_an_hour() -> u64 {
    unix_nanos() / 1_000_000_000 + 3600
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bind_closes_its_stream() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;

    // A binding for another PeerId: refused, and the stream is closed (what follows a refused
    // Bind was sent in its name and is never read).
    let mut stream = client.open().await;
    let elsewhere = sign_binding(&alice, &neuronet_transport::PeerId::random().to_bytes(), in_an_hour());
    let refusal = refused_bind(&mut stream, &elsewhere).await;
    assert_eq!(refusal.status, Status::Unauthorized, "{}", refusal.message);
    assert!(refusal.message.contains("another peer id"), "{}", refusal.message);
    assert!(stream.closed_within(Duration::from_secs(2)).await, "the stream stays open after a refused Bind");

    // The connection itself still binds and is served.
    let mut stream = client.open_bound(&alice).await;
    let b = body("after a refusal");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_bind_closes_its_connection() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;

    // Alice's binding with a bit of its signature flipped: a forgery costs the axon one
    // signature check, and the connection is closed, so it cannot ask for thousands.
    let mut stream = client.open().await;
    let mut forged = sign_binding(&alice, &client.local_peer_id.to_bytes(), in_an_hour());
    let mut signature = forged.signature.to_vec();
    signature[3] ^= 1;
    forged.signature = signature.into();
    let refusal = refused_bind(&mut stream, &forged).await;
    assert_eq!(refusal.status, Status::Unauthorized, "{}", refusal.message);
    assert!(refusal.message.contains("binding refused"), "{}", refusal.message);
    assert!(client.disconnected_within(Duration::from_secs(3)).await, "the connection stays open after a forgery");

    // A new connection binds and is served.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let b = body("after a forgery");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_keeps_binding_is_closed() {
    let config = AxonConfig::default().with_bind_budget(4).with_bind_refill(Duration::from_secs(600));
    let axon = echo_axon("//Bob", config).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    for _ in 0..4 {
        let _ = client.open_bound(&alice).await;
    }
    // Past its budget a connection gets no more signature checks: it is closed.
    let mut stream = client.open().await;
    let binding = sign_binding(&alice, &client.local_peer_id.to_bytes(), in_an_hour());
    let refusal = refused_bind(&mut stream, &binding).await;
    assert_eq!(refusal.status, Status::TooManyRequests, "{}", refusal.message);
    assert!(refusal.message.contains("budget"), "{}", refusal.message);
    assert!(client.disconnected_within(Duration::from_secs(3)).await, "the connection stays open");

    // Another peer from the same address is still served.
    let dendrite = dendrite("//Charlie").await;
    assert_echo(&dendrite, &target(&axon), "still served").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_binds_one_hotkey() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let (alice, charlie) = (key("//Alice"), key("//Charlie"));
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut first = client.open_bound(&alice).await;

    // A second stream of the same connection tries to speak for Charlie.
    let mut second = client.open().await;
    let binding = sign_binding(&charlie, &client.local_peer_id.to_bytes(), in_an_hour());
    let refusal = refused_bind(&mut second, &binding).await;
    assert_eq!(refusal.status, Status::Unauthorized, "{}", refusal.message);
    assert!(refusal.message.contains("already bound"), "{}", refusal.message);

    // The first stream's requests, signed by Alice, are still served.
    let b = body("still alice");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = first.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);

    // Alice may bind further streams (and refresh her binding) on the same connection.
    let mut third = client.open_bound(&alice).await;
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = third.request(2, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binding_that_never_expires_is_refused() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let alice = key("//Alice");
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    for expires_at in [u64::MAX, unix_nanos() / 1_000_000_000 + 25 * 3600] {
        let mut stream = client.open().await;
        let binding = sign_binding(&alice, &client.local_peer_id.to_bytes(), expires_at);
        let refusal = refused_bind(&mut stream, &binding).await;
        assert_eq!(refusal.status, Status::Unauthorized, "{}", refusal.message);
        assert!(refusal.message.contains("lasts too long"), "{}", refusal.message);
    }
    // A day is accepted.
    let mut stream = client.open().await;
    let binding = sign_binding(&alice, &client.local_peer_id.to_bytes(), unix_nanos() / 1_000_000_000 + 24 * 3600);
    stream.write_frame(FrameKind::Bind, 0, &binding.encode_to_vec(), &[]).await.unwrap();
    assert_eq!(stream.expect_frame().await.prefix.kind, FrameKind::Bind);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_synapses_are_named_only_to_authenticated_callers() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let (alice, mallory) = (key("//Alice"), key("//Mallory"));
    let b = body("what do you serve?");

    // Signed by Mallory in Alice's name: refused before the axon says what it serves.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let mut head = signed_head(&mallory, &axon.hotkey(), "Nope", &b);
    head.sender = alice.hotkey();
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(!response.message.contains(TextGeneration::NAME), "{}", response.message);

    // A bad signature of Alice's own.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let mut head = signed_head(&alice, &axon.hotkey(), "Nope", &b);
    let mut signature = head.signature.unwrap().0;
    signature[0] ^= 1;
    head.signature = Some(Signature(signature));
    let (response, _) = stream.request(2, &head, &b).await;
    assert_eq!(response.status, Status::Unauthorized, "{}", response.message);
    assert!(!response.message.contains(TextGeneration::NAME), "{}", response.message);

    // Authenticated: 404, naming the synapses served.
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let mut stream = client.open_bound(&alice).await;
    let head = signed_head(&alice, &axon.hotkey(), "Nope", &b);
    let (response, _) = stream.request(3, &head, &b).await;
    assert_eq!(response.status, Status::NotFound, "{}", response.message);
    assert!(response.message.contains(TextGeneration::NAME), "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_binds_is_closed() {
    let config = AxonConfig::default().with_bind_timeout(Duration::from_millis(500));
    let axon = echo_axon("//Bob", config).await;
    // One connection opens no stream at all, another a stream that never binds.
    let idle = RawClient::connect(&axon.listen_addrs()[0]).await;
    let silent = RawClient::connect(&axon.listen_addrs()[0]).await;
    let _stream = silent.open().await;
    let bound = RawClient::connect(&axon.listen_addrs()[0]).await;
    let alice = key("//Alice");
    let mut stream = bound.open_bound(&alice).await;
    assert!(idle.disconnected_within(Duration::from_secs(3)).await, "an idle unbound connection stays open");
    assert!(silent.disconnected_within(Duration::from_secs(3)).await, "a silent unbound connection stays open");

    // The bound one is kept and served.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(bound.is_connected());
    let b = body("kept");
    let head = signed_head(&alice, &axon.hotkey(), TextGeneration::NAME, &b);
    let (response, _) = stream.request(1, &head, &b).await;
    assert_eq!(response.status, Status::Success, "{}", response.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_peers_keep_room_when_the_axon_is_full() {
    let network = NetworkConfig::default().with_max_connections(4);
    let config = AxonConfig::default().with_network(network).with_bind_timeout(Duration::from_secs(30));
    let axon = echo_axon("//Bob", config).await;
    let addr = axon.listen_addrs()[0].clone();

    // A validator is connected and bound; three unbound connections take the rest.
    let validator = dendrite("//Alice").await;
    assert_echo(&validator, &target(&axon), "first").await;
    let mut squatters = Vec::new();
    for _ in 0..3 {
        squatters.push(RawClient::connect(&addr).await);
    }

    // Another validator still gets in, in the place of an unbound connection.
    let late = dendrite("//Charlie").await;
    assert_echo(&late, &target(&axon), "let me in").await;
    let mut closed = 0;
    for squatter in &squatters {
        if squatter.disconnected_within(Duration::from_secs(2)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 1, "exactly one unbound connection makes room");
    assert_echo(&validator, &target(&axon), "still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_validator_takes_the_place_of_an_unregistered_hotkey() {
    let network = NetworkConfig::default().with_max_connections(2);
    let config = AxonConfig::default().with_network(network);
    let directory = neuronet_transport::Directory::new();
    let axon = with_echo(neuronet_transport::Axon::new(key("//Bob"), config).with_directory(directory.clone()))
        .start([loopback4()])
        .await
        .expect("axon starts");
    let addr = axon.listen_addrs()[0].clone();

    // Two hotkeys anyone could make bind and hold every connection.
    let mut squatters = Vec::new();
    for suri in ["//Mallory", "//Eve"] {
        let client = RawClient::connect(&addr).await;
        let stream = client.open_bound(&key(suri)).await;
        squatters.push((client, stream));
    }

    // A validator the metagraph lists (its PeerId known from its certificate) still gets in.
    let validator = dendrite("//Alice").await;
    let facts = neuronet_transport::PeerFacts { uid: Some(1), stake: 1_000, validator_permit: true, registered: true };
    directory.insert(key("//Alice").hotkey(), Some(validator.peer_id()), Vec::new(), facts);
    assert_echo(&validator, &target(&axon), "registered").await;
    let mut closed = 0;
    for (client, _) in &squatters {
        if client.disconnected_within(Duration::from_secs(2)).await {
            closed += 1;
        }
    }
    assert_eq!(closed, 1, "exactly one unregistered connection makes room");

    // A hotkey the Directory does not list finds no room: every connection is bound.
    let stranger = dendrite("//Charlie").await;
    let refused = stranger.query::<TextGeneration>(&target(&axon), prompt("me too")).await;
    assert_eq!(refused.status, Status::Unavailable, "{}", refused.message);
    assert_echo(&validator, &target(&axon), "still served").await;
}
