//! A real bittensor 10.5.0 dendrite (pip, in a venv the test makes) queries a neuronet axon's
//! HTTP listener over the v10 wire: its synapse with `required_hash_fields` is answered, and its
//! refusals come back with the statuses the Python dendrite reports.

mod common;
#[path = "../../chain/tests/common/python.rs"]
mod python;

use common::*;
use neuronet_synapse::Status;
use neuronet_transport::{Axon, AxonConfig, HttpListen};

fn query(port: u16, axon_hotkey: &str, synapse: &str, uri: &str) -> serde_json::Value {
    let spec = serde_json::json!({
        "port": port, "axon_hotkey": axon_hotkey, "synapse": synapse, "text": "hello", "uri": uri,
    });
    python::run_separate("bittensor10", "bittensor10.txt", "v10_peer.py", &["query", &spec.to_string()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bittensor_10_dendrite_is_served_and_refused_as_it_expects() {
    let dave = key("//Dave").hotkey();
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let axon = Axon::new(key("//Bob"), config)
        .serve::<echo::Echo, _, _>(|_ctx, request: echo::EchoRequest| async move {
            Ok(echo::EchoResponse { out: request.text.to_uppercase() })
        })
        .with_required_hash_fields("Echo", &["text"])
        .with_blacklist(move |caller, _| if *caller == dave { Err("dave is banned".into()) } else { Ok(()) })
        .start([loopback4()])
        .await
        .unwrap();
    let port = axon.http_addr().unwrap().port();
    let bob = key("//Bob").hotkey().to_ss58();
    let charlie = key("//Charlie").hotkey().to_ss58();

    let answers = tokio::task::spawn_blocking(move || {
        [
            query(port, &bob, "Echo", "//Alice"),
            query(port, &bob, "Echo", "//Dave"),
            query(port, &bob, "Nope", "//Alice"),
            query(port, &charlie, "Echo", "//Alice"),
        ]
    })
    .await
    .unwrap();
    let [served, banned, unknown, misdirected] = answers;
    assert_eq!(served["status_code"], 200, "{served}");
    assert_eq!(served["out"], "HELLO");
    assert_eq!(served["text"], "hello");
    assert_eq!(banned["status_code"], 403, "{banned}");
    assert!(banned["status_message"].as_str().unwrap().contains("dave is banned"), "{banned}");
    assert_eq!(unknown["status_code"], 404, "{unknown}");
    assert_eq!(misdirected["status_code"], 403, "{misdirected}");
}

/// The Python axon, running until dropped.
struct PythonAxon(std::process::Child);

impl Drop for PythonAxon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts tests/python/v10_axon.py on a free port and waits until it serves.
fn python_axon() -> (PythonAxon, u16) {
    use std::io::BufRead;
    let python = python::separate_python("bittensor10", "bittensor10.txt");
    let port = free_port();
    let mut child = std::process::Command::new(python)
        .arg(python::repo_root().join("tests/python/v10_axon.py"))
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting the Python axon");
    let stdout = child.stdout.take().unwrap();
    let axon = PythonAxon(child);
    let mut reader = std::io::BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("serving"), "the Python axon did not start: {line:?}");
    // Its logs go on to stdout: keep taking them, or its writes fail.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (axon, port)
}

mod nope {
    neuronet_synapse::synapse! {
        pub struct Nope: super::echo::EchoRequest => super::echo::EchoResponse;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_neuronet_v10_dendrite_queries_a_python_bittensor_10_axon() {
    use neuronet_transport::V10Dendrite;
    let (_axon, port) = tokio::task::spawn_blocking(python_axon).await.unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let bob = key("//Bob").hotkey();
    let hello = echo::EchoRequest { text: "hello".into() };
    let timeout = std::time::Duration::from_secs(10);

    let alice = V10Dendrite::new(key("//Alice"));
    let answer = alice.query::<echo::Echo>(addr, &bob, &hello, timeout).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert_eq!(answer.body.unwrap().out, "HELLO");

    // The Python axon's refusals, with the statuses its own dendrite would report.
    let dave = V10Dendrite::new(key("//Dave"));
    let banned = dave.query::<echo::Echo>(addr, &bob, &hello, timeout).await;
    assert_eq!(banned.status, Status::Forbidden, "{}", banned.message);
    assert!(banned.message.contains("dave is banned"), "{}", banned.message);
    let unknown = alice.query::<nope::Nope>(addr, &bob, &hello, timeout).await;
    assert_eq!(unknown.status, Status::NotFound, "{}", unknown.message);
    // A body hash over other fields than the class declares: the Python axon finds the mismatch
    // after its signature check and answers 500, as its own dendrite would report.
    let mismatched = alice.query_hashing::<echo::Echo>(addr, &bob, &hello, &[], timeout).await;
    assert_eq!(mismatched.status, Status::InternalError, "{}", mismatched.message);
    assert!(mismatched.message.starts_with("Internal Server Error"), "{}", mismatched.message);
    // Nobody there.
    let closed: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let unreachable = alice.query::<echo::Echo>(closed, &bob, &hello, timeout).await;
    assert_eq!(unreachable.status, Status::Unavailable);
    assert!(unreachable.message.starts_with("Service unavailable at"), "{}", unreachable.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v10_dendrite_and_the_http_listener_understand_each_other() {
    use neuronet_transport::V10Dendrite;
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let axon = Axon::new(key("//Bob"), config)
        .serve::<echo::Echo, _, _>(|_ctx, request: echo::EchoRequest| async move {
            Ok(echo::EchoResponse { out: request.text.to_uppercase() })
        })
        .start([loopback4()])
        .await
        .unwrap();
    let addr = axon.http_addr().unwrap();
    // The synapse declares its hash fields: the axon takes them from it, as the dendrite does.
    assert_eq!(<echo::Echo as neuronet_synapse::Synapse>::REQUIRED_HASH_FIELDS, ["text"]);
    let dendrite = V10Dendrite::new(key("//Alice"));
    let hello = echo::EchoRequest { text: "hello".into() };
    let timeout = std::time::Duration::from_secs(10);
    let answer = dendrite.query::<echo::Echo>(addr, &key("//Bob").hotkey(), &hello, timeout).await;
    assert_eq!(answer.status, Status::Success, "{}", answer.message);
    assert_eq!(answer.body.unwrap().out, "HELLO");
    let elsewhere = dendrite.query::<echo::Echo>(addr, &key("//Charlie").hotkey(), &hello, timeout).await;
    assert_eq!(elsewhere.status, Status::Forbidden, "{}", elsewhere.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_dendrite_queries_the_built_in_synapses_through_the_counterpart_module() {
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let axon = with_echo(Axon::new(key("//Bob"), config)).start([loopback4()]).await.unwrap();
    let spec = serde_json::json!({
        "port": axon.http_addr().unwrap().port(),
        "axon_hotkey": key("//Bob").hotkey().to_ss58(),
        "prompt": "one two three",
        "uri": "//Alice",
        "module_dir": python::repo_root().join("python"),
    });
    let answer = tokio::task::spawn_blocking(move || {
        python::run_separate("bittensor10", "bittensor10.txt", "v10_peer.py", &["builtin", &spec.to_string()])
    })
    .await
    .unwrap();
    // TextGeneration answered at once (deserialize gives the text).
    assert_eq!(answer["text"], echo_of("one two three"), "{answer}");
    // TextGenerationStream: one piece per word, then the whole synapse with the status.
    assert_eq!(answer["pieces"].as_array().unwrap().len(), 3, "{answer}");
    assert_eq!(
        answer["final_text"],
        answer["pieces"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<String>()
    );
    assert_eq!(answer["final_status"], 200, "{answer}");
}
