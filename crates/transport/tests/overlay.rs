//! The overlay as a user sees it: axons and dendrites on real loopback QUIC sockets, every
//! outcome a status code and a message.

mod common;

use common::*;
use neuronet_synapse::builtin::{Embedding, Ping, TextGeneration, TextGenerationStream};
use neuronet_synapse::{proto, Status};
use neuronet_transport::{AcceptedAuth, Auth, Axon, AxonConfig, Dendrite, DendriteConfig, Multiaddr, Target};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_and_streaming_round_trips() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);

    let ping = dendrite.query_within::<Ping>(&target, proto::PingRequest {}, T).await;
    assert_eq!(ping.status, Status::Success, "{}", ping.message);
    assert_eq!(ping.body.unwrap().now_ns, 1);

    let answer = dendrite.query_within::<TextGeneration>(&target, prompt("hello axon"), T).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert!(answer.is_success());
    assert_eq!(answer.target, axon.hotkey());
    let body = answer.body.unwrap();
    assert_eq!(body.text, "echo:hello axon");
    assert_eq!(body.tokens, "hello axon".len() as u32);

    let mut stream =
        dendrite.query_stream_within::<TextGenerationStream>(&target, prompt("one two three four five"), T).await;
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push((chunk.text, chunk.tokens));
    }
    assert_eq!(stream.status(), Some(Status::Success), "stream ended with {:?}: {}", stream.status(), stream.message());
    assert_eq!(
        chunks,
        vec![("one".into(), 1), ("two".into(), 2), ("three".into(), 3), ("four".into(), 4), ("five".into(), 5)]
    );
    // The stream is over: further next() calls stay None.
    assert!(stream.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_queries_from_ten_dendrites() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let target = target(&axon);
    let mut dendrites = Vec::new();
    for d in 0..10 {
        dendrites.push(dendrite(&format!("//Dendrite{d}")).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (d, dendrite) in dendrites.iter().enumerate() {
        for i in 0..100 {
            let dendrite = dendrite.clone();
            let target = target.clone();
            tasks.push(tokio::spawn(async move {
                let text = format!("d{d}-q{i}");
                let answer =
                    dendrite.query_within::<TextGeneration>(&target, prompt(&text), Duration::from_secs(8)).await;
                (text, answer)
            }));
        }
    }
    let mut failures = Vec::new();
    for task in tasks {
        let (text, answer) = task.await.expect("query task");
        match &answer.body {
            Some(body) if answer.status == Status::Success && body.text == echo_of(&text) => {}
            _ => failures.push(format!("{text}: {} {} {:?}", answer.status, answer.message, answer.body)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 1000 queries failed in {:?}; first: {:?}",
        failures.len(),
        started.elapsed(),
        &failures[..failures.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_synapse_is_404() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let answer = dendrite.query_within::<Embedding>(&target(&axon), proto::EmbeddingRequest::default(), T).await;
    assert_eq!(answer.status, Status::NotFound, "{}", answer.message);
    assert!(answer.message.contains("Embedding"), "{}", answer.message);
    assert!(answer.body.is_none());
    // The connection is still good.
    assert_echo(&dendrite, &target(&axon), "after 404").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blacklisted_caller_is_403() {
    let alice = key("//Alice").hotkey();
    let axon = with_echo(Axon::new(key("//Bob"), AxonConfig::default()))
        .with_blacklist(move |caller, _facts| if *caller == alice { Err("alice is banned".into()) } else { Ok(()) })
        .start([loopback4()])
        .await
        .unwrap();
    let banned = dendrite("//Alice").await;
    let answer = banned.query_within::<TextGeneration>(&target(&axon), prompt("let me in"), T).await;
    assert_eq!(answer.status, Status::Forbidden, "{}", answer.message);
    assert!(answer.message.contains("blacklisted"), "{}", answer.message);
    assert!(answer.message.contains("alice is banned"), "{}", answer.message);

    // Anyone else is served.
    let welcome = dendrite("//Charlie").await;
    assert_echo(&welcome, &target(&axon), "hello").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_request_is_413_and_the_stream_keeps_serving() {
    let config = AxonConfig::default().with_max_request_bytes(1024);
    let axon = echo_axon("//Bob", config).await;
    // One stream per connection, so the request after the 413 travels on the very same stream.
    let dendrite =
        Dendrite::new(key("//Alice"), DendriteConfig::default().with_streams_per_connection(1)).await.unwrap();
    let target = target(&axon);
    assert_echo(&dendrite, &target, "before").await;

    let big = "x".repeat(64 * 1024);
    let answer = dendrite.query_within::<TextGeneration>(&target, prompt(&big), T).await;
    assert_eq!(answer.status, Status::PayloadTooLarge, "{}", answer.message);
    assert!(answer.message.contains("exceeds the limit of 1024"), "{}", answer.message);

    assert_echo(&dendrite, &target, "after").await;
    // And again, with several oversize requests in flight beside normal ones.
    let (a, b, c) = tokio::join!(
        dendrite.query_within::<TextGeneration>(&target, prompt(&big), T),
        dendrite.query_within::<TextGeneration>(&target, prompt("small"), T),
        dendrite.query_within::<TextGeneration>(&target, prompt(&big), T),
    );
    assert_eq!(a.status, Status::PayloadTooLarge);
    assert_eq!(b.status, Status::Success, "{}", b.message);
    assert_eq!(b.body.unwrap().text, echo_of("small"));
    assert_eq!(c.status, Status::PayloadTooLarge);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_handler_is_500_and_the_axon_keeps_serving() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    let answer = dendrite.query_within::<TextGeneration>(&target, prompt("panic"), T).await;
    assert_eq!(answer.status, Status::InternalError, "{}", answer.message);
    assert!(answer.message.contains("panicked"), "{}", answer.message);
    assert_echo(&dendrite, &target, "still alive").await;
    // A second panic does not wedge anything either.
    let again = dendrite.query_within::<TextGeneration>(&target, prompt("panic"), T).await;
    assert_eq!(again.status, Status::InternalError);
    assert_echo(&dendrite, &target, "still alive 2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handler_is_408_within_the_timeout() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    // Connect first, so that the timeout measures the request alone.
    assert_echo(&dendrite, &target, "warm up").await;

    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let answer = dendrite.query_within::<TextGeneration>(&target, prompt("sleep:2000"), timeout).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status, Status::Timeout, "{}", answer.message);
    assert!(answer.message.contains("timeout"), "{}", answer.message);
    assert!(elapsed >= timeout - Duration::from_millis(20), "answered too early: {elapsed:?}");
    assert!(elapsed <= timeout + Duration::from_millis(100), "408 took {elapsed:?}");
    // The connection still serves.
    assert_echo(&dendrite, &target, "after timeout").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_a_timeout_is_408_after_the_configured_one() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let timeout = Duration::from_millis(300);
    let dendrite = dendrite_with("//Alice", DendriteConfig::default().with_timeout(timeout)).await;
    let target = target(&axon);
    assert_eq!(dendrite.connect(std::slice::from_ref(&target)).await, vec![Ok(())]);

    let started = Instant::now();
    let answer = dendrite.query::<TextGeneration>(&target, prompt("sleep:2000")).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status, Status::Timeout, "{}", answer.message);
    assert!(elapsed >= timeout - Duration::from_millis(20), "answered too early: {elapsed:?}");
    assert!(elapsed <= timeout + Duration::from_millis(100), "408 took {elapsed:?}");

    // A streaming answer that never ends.
    let silent = Axon::new(key("//Charlie"), AxonConfig::default())
        .serve_stream::<TextGenerationStream, _, _>(|_ctx, _req| {
            futures::stream::pending::<Result<proto::TextGenerationChunk, neuronet_transport::HandlerError>>()
        })
        .start([loopback4()])
        .await
        .unwrap();
    let endless = Target::Explicit { hotkey: silent.hotkey(), addr: silent.listen_addrs()[0].clone() };
    assert_eq!(dendrite.connect(std::slice::from_ref(&endless)).await, vec![Ok(())]);
    let started = Instant::now();
    let mut stream = dendrite.query_stream::<TextGenerationStream>(&endless, prompt("never")).await;
    while stream.next().await.is_some() {}
    assert_eq!(stream.status(), Some(Status::Timeout), "{}", stream.message());
    assert!(started.elapsed() <= timeout + Duration::from_millis(100), "408 took {:?}", started.elapsed());

    let answers = dendrite.forward::<TextGeneration>(&[target], prompt("sleep:2000")).await;
    assert_eq!(answers[0].status, Status::Timeout, "{}", answers[0].message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_connect_a_forward_dials_nothing() {
    let axons = [
        echo_axon("//Bob", AxonConfig::default()).await,
        echo_axon("//Charlie", AxonConfig::default()).await,
        echo_axon("//Dave", AxonConfig::default()).await,
    ];
    let dendrite = dendrite("//Alice").await;
    let targets: Vec<Target> = axons.iter().map(target).collect();
    // Eve's hotkey at Ferdie's address: the one target whose connection cannot be bound.
    let ferdie = echo_axon("//Ferdie", AxonConfig::default()).await;
    let impostor = Target::Explicit { hotkey: key("//Eve").hotkey(), addr: ferdie.listen_addrs()[0].clone() };
    let mut with_impostor = targets.clone();
    with_impostor.push(impostor);

    let connected = dendrite.connect(&with_impostor).await;
    assert_eq!(connected.len(), 4);
    assert!(connected[..3].iter().all(Result::is_ok), "{connected:?}");
    let refused = connected[3].as_ref().expect_err("the impostor's binding is refused");
    assert_eq!(refused.status, Status::Unauthorized, "{refused}");
    // Each axon holds the dendrite's connection before any query was sent.
    for axon in &axons {
        assert_eq!(axon.metrics().connections.get(), 1);
    }

    // The same hotkeys at an address nothing listens on: answers can only come over the
    // connections `connect` opened.
    let nowhere: Multiaddr = "/ip4/127.0.0.1/udp/9/quic-v1".parse().unwrap();
    let elsewhere: Vec<Target> =
        axons.iter().map(|a| Target::Explicit { hotkey: a.hotkey(), addr: nowhere.clone() }).collect();
    let answers = dendrite.forward_within::<TextGeneration>(&elsewhere, prompt("no setup"), T).await;
    for (answer, axon) in answers.iter().zip(&axons) {
        assert_eq!(answer.status, Status::Success, "{}", answer.message);
        assert_eq!(answer.target, axon.hotkey());
        assert_eq!(answer.body.as_ref().map(|b| b.text.as_str()), Some(echo_of("no setup").as_str()));
        assert_eq!(axon.metrics().connections.get(), 1);
    }
    // Connecting again reuses the open connections.
    assert!(dendrite.connect(&targets).await.iter().all(Result::is_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_names_the_hotkey_and_never_the_key() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let seed = [7u8; 32];
    let keypair = neuronet_synapse::Keypair::from_seed(&seed, neuronet_synapse::CryptoType::Sr25519);
    let dendrite = Dendrite::new(keypair, DendriteConfig::default()).await.unwrap();
    let target = target(&axon);
    let stream = dendrite.query_stream_within::<TextGenerationStream>(&target, prompt("one two"), T).await;
    let answer = dendrite.query_within::<Ping>(&target, proto::PingRequest {}, T).await;

    let unstarted = Axon::new(
        neuronet_synapse::Keypair::from_seed(&seed, neuronet_synapse::CryptoType::Sr25519),
        AxonConfig::default(),
    );
    let shown = format!("{dendrite:?} {stream:?} {answer:?} {axon:?} {unstarted:?}");
    assert!(shown.contains(&axon.peer_id().to_string()), "{shown}");
    assert!(shown.contains(&format!("{:?}", dendrite.hotkey())), "{shown}");
    assert!(shown.contains(&dendrite.peer_id().to_string()), "{shown}");
    assert!(shown.contains(&format!("{:?}", axon.hotkey())), "{shown}");
    assert!(shown.contains("connections: 1"), "{shown}");
    let seed_hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!shown.contains(&seed_hex) && !shown.contains(&format!("{seed:?}")), "{shown}");
}

/// A handler that computes before its first await is first run on the stream's reader task
/// (the axon polls every request there once) only until it has overrun `inline_poll` a few
/// times in a row; from then on its requests run side by side again.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_handler_that_blocks_before_awaiting_gets_tasks_of_its_own() {
    use std::sync::{Arc, Condvar, Mutex};
    // "compute": 2 ms of work before answering. "pair": waits (blocking, as a computation
    // would) for a second "pair" request to be in the handler at the same time.
    let arrivals = Arc::new((Mutex::new(0u32), Condvar::new()));
    let axon = Axon::new(key("//Bob"), AxonConfig::default())
        .serve::<TextGeneration, _, _>(move |_ctx, req: proto::TextGenerationRequest| {
            let arrivals = arrivals.clone();
            async move {
                let text = match req.prompt.as_str() {
                    "pair" => {
                        let (count, arrived) = &*arrivals;
                        let mut count = count.lock().unwrap();
                        *count += 1;
                        arrived.notify_all();
                        let (count, _) =
                            arrived.wait_timeout_while(count, Duration::from_secs(5), |count| *count < 2).unwrap();
                        if *count >= 2 {
                            "paired"
                        } else {
                            "alone"
                        }
                    }
                    _ => {
                        std::thread::sleep(Duration::from_millis(2));
                        "computed"
                    }
                };
                Ok(proto::TextGenerationResponse { text: text.into(), ..Default::default() })
            }
        })
        .start([loopback4()])
        .await
        .unwrap();
    // One stream, so that both "pair" requests reach the same reader task.
    let dendrite = dendrite_with("//Alice", DendriteConfig::default().with_streams_per_connection(1)).await;
    let target = target(&axon);
    for _ in 0..3 {
        let answer = dendrite.query_within::<TextGeneration>(&target, prompt("compute"), T).await;
        assert_eq!(answer.body.map(|b| b.text), Some("computed".into()), "{}", answer.message);
    }
    let (a, b) = futures::join!(
        dendrite.query_within::<TextGeneration>(&target, prompt("pair"), T),
        dendrite.query_within::<TextGeneration>(&target, prompt("pair"), T)
    );
    for answer in [a, b] {
        assert_eq!(answer.status, Status::Success, "{}", answer.message);
        assert_eq!(answer.body.unwrap().text, "paired", "the two requests did not run side by side");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_priority_function_costs_the_request_its_priority_only() {
    let axon = with_echo(Axon::new(key("//Bob"), AxonConfig::default()))
        .with_priority(|_hotkey, _facts| panic!("priority function asked to panic"))
        .start([loopback4()])
        .await
        .unwrap();
    let dendrite = dendrite_with("//Alice", DendriteConfig::default().with_streams_per_connection(1)).await;
    let target = target(&axon);
    for text in ["first", "second", "third"] {
        assert_echo(&dendrite, &target, text).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_is_503() {
    let config = AxonConfig::default().with_max_concurrency(1).with_queue_capacity(1);
    let axon = echo_axon("//Bob", config).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    assert_echo(&dendrite, &target, "warm up").await;

    let queries = (0..5).map(|_| dendrite.query_within::<TextGeneration>(&target, prompt("sleep:700"), T));
    let answers = futures::future::join_all(queries).await;
    let statuses: Vec<(Status, String)> = answers.iter().map(|a| (a.status, a.message.clone())).collect();
    let ok = answers.iter().filter(|a| a.status == Status::Success).count();
    let full: Vec<_> = answers.iter().filter(|a| a.status == Status::Unavailable).collect();
    assert!(ok >= 1, "{statuses:?}");
    assert!(!full.is_empty(), "no 503: {statuses:?}");
    assert!(full.iter().all(|a| a.message.contains("queue")), "{statuses:?}");
    assert_eq!(ok + full.len(), 5, "{statuses:?}");
    // Capacity frees up again.
    assert_echo(&dendrite, &target, "after the rush").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axon_with_the_wrong_hotkey_is_refused() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Charlie").await;
    let impostor = Target::Explicit { hotkey: key("//Alice").hotkey(), addr: axon.listen_addrs()[0].clone() };
    let answer = dendrite.query_within::<TextGeneration>(&impostor, prompt("who are you"), T).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.message);
    assert!(answer.message.contains("binding refused"), "{}", answer.message);
    assert!(answer.body.is_none());
    // Without the PeerId in the address the dendrite waits for the binding before it sends
    // anything; the refusal is the same.
    let bare: Multiaddr =
        axon.listen_addrs()[0].iter().filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_))).collect();
    let unpinned = Target::Explicit { hotkey: key("//Alice").hotkey(), addr: bare.clone() };
    let answer =
        common::dendrite("//Eve").await.query_within::<TextGeneration>(&unpinned, prompt("who are you"), T).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.message);
    assert!(answer.message.contains("binding refused"), "{}", answer.message);
    // The right hotkey at the bare address: served, and a reconnect after it knows the PeerId.
    let honest = common::dendrite("//Ferdie").await;
    let right = Target::Explicit { hotkey: axon.hotkey(), addr: bare };
    assert_echo(&honest, &right, "unpinned").await;
    honest.disconnect(&axon.hotkey()).await;
    assert_echo(&honest, &right, "reconnected").await;
    // A separate dendrite asking for the right hotkey at the same address is served.
    let honest = common::dendrite("//Dave").await;
    assert_echo(&honest, &target(&axon), "properly").await;
}

/// After a binding refusal the dendrite closes the connection; the very next query to that
/// peer must dial afresh, not reuse the connection being closed (which gives a 503 "receiver is
/// gone" / "oneshot canceled" instead of the 401 or 200 the user expects).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_right_after_a_binding_refusal_is_not_503() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Charlie").await;
    let impostor = Target::Explicit { hotkey: key("//Alice").hotkey(), addr: axon.listen_addrs()[0].clone() };
    for round in 0..3 {
        let answer = dendrite.query_within::<TextGeneration>(&impostor, prompt("who are you"), T).await;
        assert_eq!(answer.status, Status::Unauthorized, "round {round}: {}", answer.message);
        assert!(answer.message.contains("binding refused"), "round {round}: {}", answer.message);
        // Right after, the right hotkey at the same address (same PeerId).
        let answer = dendrite.query_within::<TextGeneration>(&target(&axon), prompt("now properly"), T).await;
        assert_eq!(answer.status, Status::Success, "round {round}: {}", answer.message);
        dendrite.disconnect(&axon.hotkey()).await;
    }
}

/// `Dendrite::disconnect` then an immediate query: the query must reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_right_after_disconnect_reconnects() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = dendrite("//Alice").await;
    let target = target(&axon);
    for round in 0..5 {
        assert_echo(&dendrite, &target, &format!("round {round}")).await;
        dendrite.disconnect(&axon.hotkey()).await;
    }
    assert_echo(&dendrite, &target, "last").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback() {
    let axon = with_echo(Axon::new(key("//Bob"), AxonConfig::default())).start([loopback6()]).await.unwrap();
    let addr = axon.listen_addrs()[0].clone();
    assert!(addr.to_string().starts_with("/ip6/::1/udp/"), "{addr}");
    let dendrite = dendrite("//Alice").await;
    let target = Target::Explicit { hotkey: axon.hotkey(), addr };
    assert_echo(&dendrite, &target, "over ipv6").await;
    let mut stream = dendrite.query_stream_within::<TextGenerationStream>(&target, prompt("a b"), T).await;
    let mut n = 0;
    while stream.next().await.is_some() {
        n += 1;
    }
    assert_eq!((n, stream.status()), (2, Some(Status::Success)), "{}", stream.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_auth_mode() {
    // Accepted by a default axon (both modes).
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let dendrite = Dendrite::new(key("//Alice"), DendriteConfig::default().with_auth(Auth::Connection)).await.unwrap();
    assert_echo(&dendrite, &target(&axon), "bound by the connection").await;
    // Many requests in connection mode (no nonces involved).
    for i in 0..20 {
        assert_echo(&dendrite, &target(&axon), &format!("again {i}")).await;
    }

    // Refused by an axon that wants per-request signatures.
    let strict = echo_axon("//Charlie", AxonConfig::default().with_accepted_auth(AcceptedAuth::PerRequest)).await;
    let answer = dendrite.query_within::<TextGeneration>(&target(&strict), prompt("unsigned"), T).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.message);
    assert!(answer.message.contains("does not accept Connection"), "{}", answer.message);

    // ... which still serves signed requests.
    let signer = dendrite_with("//Alice", DendriteConfig::default()).await;
    assert_echo(&signer, &target(&strict), "signed").await;

    // And an axon accepting only connection mode refuses signed requests.
    let conn_only = echo_axon("//Dave", AxonConfig::default().with_accepted_auth(AcceptedAuth::Connection)).await;
    let answer = signer.query_within::<TextGeneration>(&target(&conn_only), prompt("signed"), T).await;
    assert_eq!(answer.status, Status::Unauthorized, "{}", answer.message);
    assert!(answer.message.contains("does not accept PerRequest"), "{}", answer.message);
    assert_echo(&dendrite, &target(&conn_only), "unsigned ok").await;
}

async fn dendrite_with(suri: &str, config: DendriteConfig) -> Dendrite {
    Dendrite::new(key(suri), config).await.unwrap()
}

/// Twenty dendrites making their first query at the same moment: every one is served. (Each
/// first query opens the connection's first stream; an axon that drops an inbound stream under
/// that burst answers "503 axon closed the stream".)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_first_connections_all_succeed() {
    let axon = echo_axon("//Bob", AxonConfig::default()).await;
    let target = target(&axon);
    let mut dendrites = Vec::new();
    for d in 0..20 {
        dendrites.push(dendrite(&format!("//First{d}")).await);
    }
    let queries = dendrites.iter().enumerate().map(|(d, dendrite)| {
        let target = target.clone();
        async move {
            let text = format!("first {d}");
            let answer = dendrite.query_within::<TextGeneration>(&target, prompt(&text), T).await;
            (text, answer)
        }
    });
    let answers = futures::future::join_all(queries).await;
    let failures: Vec<String> = answers
        .iter()
        .filter(|(text, a)| {
            !(a.status == Status::Success && a.body.as_ref().map(|b| b.text.clone()) == Some(echo_of(text)))
        })
        .map(|(text, a)| format!("{text}: {} {}", a.status, a.message))
        .collect();
    assert!(failures.is_empty(), "{} of 20 first queries failed: {failures:?}", failures.len());
}

/// An axon bound to the unspecified address reports concrete addresses and is reachable at
/// each of them, loopback included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axon_on_the_unspecified_address_serves_loopback() {
    let axon = with_echo(Axon::new(key("//Bob"), AxonConfig::default()))
        .start(["/ip4/0.0.0.0/udp/0/quic-v1".parse().unwrap()])
        .await
        .expect("axon starts");
    let reported = axon.listen_addrs()[0].clone();
    let port = reported
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Ip4(ip) => {
                assert!(!ip.is_unspecified(), "reported {reported}");
                None
            }
            libp2p::multiaddr::Protocol::Udp(port) => Some(port),
            _ => None,
        })
        .expect("a UDP port");
    let loopback: Multiaddr = format!("/ip4/127.0.0.1/udp/{port}/quic-v1").parse().unwrap();
    let dendrite = dendrite("//Alice").await;
    assert_echo(&dendrite, &Target::Explicit { hotkey: axon.hotkey(), addr: loopback }, "any interface").await;
}
