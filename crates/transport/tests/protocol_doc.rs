//! docs/protocol.md checked against the code it describes: its test vector, the dev phrase, the
//! built-in synapses, the default limits and the messages an axon refuses with, so that a peer
//! written from the document alone meets the wire neuronet speaks.

mod common;

use common::*;
use neuronet_synapse::binding::sign_binding;
use neuronet_synapse::builtin::{Capabilities, Embedding, Ping, TextGeneration, TextGenerationStream};
use neuronet_synapse::envelope::{RequestHead, ResponseHead};
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::payload::{unix_nanos, BodyHash, Nonce, RequestPayload};
use neuronet_synapse::proto::AuthMode;
use neuronet_synapse::{CryptoType, Keypair, Status, Synapse, SynapseKind};
use neuronet_transport::{AcceptedAuth, AxonConfig, DendriteConfig, IDENTIFY_PROTOCOL, SYNAPSE_PROTOCOL};
use prost::Message;
use std::time::Duration;

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The document with every run of whitespace made one space, so that sentences can be found
/// whatever their line breaks.
fn prose(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The rows of the first table after `heading`, each a list of trimmed cells (header and
/// separator rows left out).
fn table_after(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc.find(heading).unwrap_or_else(|| panic!("no {heading:?} in docs/protocol.md"));
    doc[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| line.trim().trim_matches('|').split(" | ").map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

/// The row whose first cell is `key`.
fn row<'a>(rows: &'a [Vec<String>], key: &str) -> &'a [String] {
    rows.iter().find(|row| row[0] == key).unwrap_or_else(|| panic!("no row {key} in the table"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_request_test_vector_is_the_payload_neuronet_signs() {
    let doc = document();
    let alice = Keypair::from_suri("//Alice", CryptoType::Ed25519).unwrap();
    let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap();
    let (sender, receiver) = (alice.hotkey(), bob.hotkey());
    let body_hash = BodyHash::of(br#"{"prompt":"hello"}"#);
    let payload = RequestPayload {
        synapse: "TextGeneration",
        sender: &sender,
        receiver: receiver.public(),
        nonce: Nonce(1_700_000_000_000_000_000),
        timeout_ms: 12_000,
        body_hash: &body_hash,
    };
    let bytes = payload.to_bytes();
    let text = prose(&doc);
    assert!(text.contains(&format!("the payload is {} bytes", bytes.len())), "the length is {}", bytes.len());
    // The hex listing: each line's bytes are what comes before its two-space gap.
    let listing = &doc[doc.find("Test vector:").expect("a test vector")..];
    let block = listing.split("```").nth(1).expect("the payload's hex listing");
    let listed: String =
        block.lines().map(|line| line.split("  ").next().unwrap_or_default().replace(' ', "")).collect();
    assert_eq!(listed, hex(&bytes));
    assert!(doc.contains(&alice.sign(&bytes).to_hex()), "the signature");
    assert!(doc.contains(&hex(&payload.digest())), "the batch digest");
    assert!(doc.contains(&hex(&body_hash.0)), "the body hash");
}

#[test]
fn the_dev_phrase_in_the_document_derives_the_dev_accounts() {
    let doc = prose(&document());
    let phrases: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| {
            span.split(' ').count() == 12 && span.split(' ').all(|w| w.bytes().all(|b| b.is_ascii_lowercase()))
        })
        .collect();
    assert_eq!(phrases, [neuronet_synapse::suri::DEV_PHRASE], "one whole dev phrase");
    for (suri, crypto) in
        [("//Alice", CryptoType::Sr25519), ("//Alice", CryptoType::Ed25519), ("//Bob", CryptoType::Sr25519)]
    {
        let explicit = Keypair::from_suri(&format!("{}{suri}", phrases[0]), crypto).unwrap().hotkey();
        assert_eq!(explicit, Keypair::from_suri(suri, crypto).unwrap().hotkey());
        assert!(doc.contains(&format!("`{}`", explicit.to_ss58())), "{suri} {crypto:?} is listed");
    }
}

#[test]
fn the_builtin_synapses_and_protocol_names_are_neuronets() {
    let doc = document();
    let rows = table_after(&doc, "### Built-in synapses");
    assert_eq!(rows.len(), 5, "{rows:?}");
    fn check<S: Synapse>(rows: &[Vec<String>]) {
        let row = row(rows, &format!("`{}`", S::NAME));
        let kind = match S::KIND {
            SynapseKind::Unary => "unary",
            SynapseKind::Streaming => "streaming",
        };
        assert_eq!(row[1], kind, "{}", S::NAME);
        let name = |type_name: &'static str| format!("`{}`", type_name.rsplit("::").next().unwrap_or_default());
        assert_eq!(row[2], name(std::any::type_name::<S::Request>()), "{}", S::NAME);
        assert!(row[3].starts_with(&name(std::any::type_name::<S::Response>())), "{}: {}", S::NAME, row[3]);
    }
    check::<Ping>(&rows);
    check::<TextGeneration>(&rows);
    check::<TextGenerationStream>(&rows);
    check::<Embedding>(&rows);
    check::<Capabilities>(&rows);
    let text = prose(&doc);
    assert!(text.contains(&format!("`protocolVersion`, the string `{IDENTIFY_PROTOCOL}`")));
    assert!(text.contains(&format!("the synapse protocol id is `{SYNAPSE_PROTOCOL}`")));
}

/// `n` with a comma every three digits, as the document writes numbers.
fn thousands(n: impl Into<u64>) -> String {
    let digits = n.into().to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

fn mib(n: u64) -> String {
    assert_eq!(n % (1 << 20), 0, "{n} is whole MiB");
    format!("{} MiB", n >> 20)
}

#[test]
fn the_default_limits_table_gives_the_configs_defaults() {
    let doc = document();
    let axon = AxonConfig::default();
    let net = &axon.network;
    let rows = table_after(&doc, "**At an axon**");
    let expect = |key: &str, wanted: String| {
        let cells = row(&rows, key);
        assert!(cells[1].contains(&wanted), "{key}: {:?} should say {wanted:?}", cells[1]);
    };
    expect("`max_request_bytes`", format!("{} bytes", thousands(axon.max_request_bytes)));
    expect("`max_inflight_bytes`", mib(axon.max_inflight_bytes as u64));
    expect("`max_inflight_bytes_per_ip`", mib(axon.max_inflight_bytes_per_ip as u64));
    expect("`rate_per_peer`", thousands(axon.rate_per_peer));
    expect("`rate_per_ip`", thousands(axon.rate_per_ip));
    expect("`nonce.max_age`", secs(axon.nonce.max_age));
    expect("`nonce.max_skew`", secs(axon.nonce.max_skew));
    expect("`nonce.capacity`", thousands(axon.nonce.capacity as u64));
    expect("`max_concurrency`", thousands(axon.max_concurrency as u64));
    expect("`queue_capacity`", thousands(axon.queue_capacity as u64));
    expect("`default_timeout`", secs(axon.default_timeout));
    expect("`max_timeout`", secs(axon.max_timeout));
    expect("`write_grace`", secs(axon.write_grace));
    expect("`frame_timeout`", secs(axon.frame_timeout));
    expect("`write_queue`", thousands(axon.write_queue as u64));
    expect("`bind_timeout`", secs(axon.bind_timeout));
    expect(
        "`bind_budget`, `bind_refill`",
        format!("{} Binds per connection, then one more every {}", axon.bind_budget, secs(axon.bind_refill)),
    );
    let rules = axon.binding_rules;
    expect("`binding_rules`", format!("{} h + {} s", rules.max_lifetime_secs / 3600, rules.max_skew_secs));
    expect("`binding_ttl`", format!("{} h", axon.binding_ttl.as_secs() / 3600));
    assert_eq!(axon.accepted_auth, AcceptedAuth::Both);
    expect("`accepted_auth`", "both modes".into());
    assert!(!axon.require_registered && !axon.require_validator_permit && axon.min_stake == 0);
    expect("`require_registered`, `require_validator_permit`, `min_stake`", "off, off, 0".into());
    expect("`network.max_streams_per_connection`", thousands(net.max_streams_per_connection));
    expect("`network.max_connections_per_ip`", thousands(net.max_connections_per_ip));
    expect("`network.max_connections_per_network`", thousands(net.max_connections_per_network));
    expect("`network.max_connections`", thousands(net.max_connections));
    expect("`http_max_connections`", thousands(axon.http_max_connections as u64));
    expect("`http2_max_streams`", thousands(u64::from(axon.http2_max_streams)));
    expect("`network.inbound_stream_backlog`", thousands(net.inbound_stream_backlog as u64));
    expect("`network.max_pending_handshakes`", thousands(net.max_pending_handshakes as u64));
    expect("`network.max_pending_handshakes_per_ip`", thousands(net.max_pending_handshakes_per_ip as u64));
    expect("`network.handshake_timeout`", secs(net.handshake_timeout));
    expect("`network.idle_timeout`", format!("{} without packets", secs(net.idle_timeout)));
    expect("`network.idle_timeout`", format!("every `keep_alive`, {}", secs(net.keep_alive)));
    expect(
        "`network.stream_window`, `network.connection_window`",
        format!("{} per stream, {} per connection", mib(net.stream_window.into()), mib(net.connection_window.into())),
    );
    expect("`network.window_budget`", mib(net.window_budget));
    let drain = format!("{} KiB/s of pending bytes over {}", net.min_drain_rate / 1024, secs(net.write_stall));
    expect("`network.write_stall`, `network.min_drain_rate`", drain);

    let dendrite = DendriteConfig::default();
    let rows = table_after(&doc, "**At a dendrite**");
    let expect = |key: &str, wanted: String| {
        let cells = row(&rows, key);
        assert!(cells[1].contains(&wanted), "{key}: {:?} should say {wanted:?}", cells[1]);
    };
    expect("`max_response_bytes`", mib(dendrite.max_response_bytes.into()));
    expect("`connect_timeout`", secs(dendrite.connect_timeout));
    expect("`stream_chunk_buffer`", format!("{} chunks", dendrite.stream_chunk_buffer));
    expect("`streams_per_connection`", format!("{} streams", dendrite.streams_per_connection));
    expect("`open_retries`, `stream_open_backoff`", format!("up to {} times", dendrite.open_retries));
    expect("`open_retries`, `stream_open_backoff`", format!("after {}", secs(dendrite.stream_open_backoff)));
    let batches = format!(
        "up to {} KiB are batched, at most {} KiB",
        dendrite.batch_body_limit / 1024,
        dendrite.batch_bytes / 1024
    );
    expect("`batch_body_limit`, `batch_bytes`", batches);
    expect("`binding_ttl`", format!("{} h", dendrite.binding_ttl.as_secs() / 3600));
}

/// Whether `message` fits one of the document's backticked messages, where `…`, `<ss58>`,
/// `<reason>`, `<synapse>` and `[...]` stand for any text.
fn documented(doc: &str, message: &str) -> bool {
    let wildcards = ["…", "<ss58>", "<reason>", "<synapse>", "[...]"];
    doc.split('`').skip(1).step_by(2).any(|span| {
        let mut pattern = span.to_owned();
        for wildcard in wildcards {
            pattern = pattern.replace(wildcard, "\u{0}");
        }
        let pieces: Vec<&str> = pattern.split('\u{0}').collect();
        let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
        if pieces.len() == 1 {
            return message == first;
        }
        let Some(mut rest) = message.strip_prefix(first) else { return false };
        for piece in &pieces[1..pieces.len() - 1] {
            match rest.find(piece) {
                Some(at) => rest = &rest[at + piece.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    })
}

#[tokio::test]
async fn the_refusals_an_axon_sends_are_in_the_document() {
    let doc = prose(&document());
    let config = AxonConfig::default().with_accepted_auth(AcceptedAuth::PerRequest);
    let axon = echo_axon("//Bob", config).await;
    let (alice, bob, charlie) = (key("//Alice"), axon.hotkey(), key("//Charlie"));
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;

    // A Bind's request_id comes back in the answer.
    let mut stream = client.open().await;
    let binding = sign_binding(&alice, &client.local_peer_id.to_bytes(), unix_nanos() / 1_000_000_000 + 3600);
    stream.write_frame(FrameKind::Bind, 77, &binding.encode_to_vec(), &[]).await.unwrap();
    let answer = stream.expect_frame().await;
    assert_eq!((answer.prefix.kind, answer.prefix.request_id), (FrameKind::Bind, 77));

    let body = prompt("hello").encode_to_vec();
    let mut refusals = Vec::new();
    // Connection mode at an axon that accepts per-request signatures only; the stream goes on.
    let mut head = RequestHead::new("TextGeneration", alice.hotkey(), *bob.public(), 5_000);
    head.auth = AuthMode::Connection;
    refusals.push((Status::Unauthorized, stream.request(1, &head, &body).await.0));
    let (ok, _) = stream.request(2, &signed_head(&alice, &bob, "TextGeneration", &body), &body).await;
    assert_eq!(ok.status, Status::Success, "{}", ok.message);
    // Another receiver, another sender, an unknown synapse, a stale nonce, a lone batch member.
    refusals.push((
        Status::Forbidden,
        stream.request(3, &signed_head(&alice, &charlie.hotkey(), "TextGeneration", &body), &body).await.0,
    ));
    refusals.push((
        Status::Unauthorized,
        stream.request(4, &signed_head(&charlie, &bob, "TextGeneration", &body), &body).await.0,
    ));
    refusals.push((Status::NotFound, stream.request(5, &signed_head(&alice, &bob, "Nope", &body), &body).await.0));
    let mut stale = RequestHead::new("TextGeneration", alice.hotkey(), *bob.public(), 5_000);
    stale.nonce = Nonce(unix_nanos() - 60_000_000_000);
    stale.sign(&alice, &body);
    refusals.push((Status::Unauthorized, stream.request(6, &stale, &body).await.0));
    let mut member = signed_head(&alice, &bob, "TextGeneration", &body);
    member.batch = Some((1, 2));
    refusals.push((Status::Unauthorized, stream.request(7, &member, &body).await.0));
    // A request id still in flight.
    let slow = prompt("sleep:500").encode_to_vec();
    let first = signed_head(&alice, &bob, "TextGeneration", &slow);
    stream.write_frame(FrameKind::Request, 8, &first.encode(), &slow).await.unwrap();
    refusals.push((
        Status::BadRequest,
        stream.request(8, &signed_head(&alice, &bob, "TextGeneration", &slow), &slow).await.0,
    ));

    // A Bind for another hotkey on the bound connection: refused with its request_id, then closed.
    let mut second = client.open().await;
    let other = sign_binding(&charlie, &client.local_peer_id.to_bytes(), unix_nanos() / 1_000_000_000 + 3600);
    second.write_frame(FrameKind::Bind, 9, &other.encode_to_vec(), &[]).await.unwrap();
    let refused = second.expect_frame().await;
    assert_eq!((refused.prefix.kind, refused.prefix.request_id), (FrameKind::Response, 9));
    refusals.push((Status::Unauthorized, ResponseHead::decode(&refused.header).unwrap()));
    assert!(second.closed_within(Duration::from_secs(5)).await, "a refused Bind closes its stream");

    for (status, head) in refusals {
        assert_eq!(head.status, status, "{}", head.message);
        assert!(documented(&doc, &head.message), "not in docs/protocol.md: {:?}", head.message);
    }
}

#[tokio::test]
async fn in_connection_mode_the_nonce_may_hold_any_value() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let client = RawClient::connect(&axon.listen_addrs()[0]).await;
    let alice = key("//Alice");
    let mut stream = client.open_bound(&alice).await;
    let body = prompt("hello").encode_to_vec();
    for (id, nonce) in [(1, 0), (2, 0), (3, u64::MAX)] {
        let mut head = RequestHead::new("TextGeneration", alice.hotkey(), *axon.hotkey().public(), 5_000);
        head.auth = AuthMode::Connection;
        head.nonce = Nonce(nonce);
        let (answer, _) = stream.request(id, &head, &body).await;
        assert_eq!(answer.status, Status::Success, "nonce {nonce}: {}", answer.message);
    }
}
