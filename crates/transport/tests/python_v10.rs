//! A real bittensor 10.5.0 dendrite (pip, in a venv the test makes) queries a neuronet axon's
//! HTTP listener over the v10 wire: its synapse with `required_hash_fields` is answered, and its
//! refusals come back with the statuses the Python dendrite reports.

mod common;
#[path = "../../chain/tests/common/python.rs"]
mod python;

use common::*;
use neuronet_transport::{Axon, AxonConfig, HttpListen};

/// `class Echo(bt.Synapse): text: str; out: str = ""; required_hash_fields = ("text",)`.
mod echo {
    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoRequest {
        #[prost(string, tag = "1")]
        pub text: String,
    }

    #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
    #[serde(default)]
    pub struct EchoResponse {
        #[prost(string, tag = "1")]
        pub out: String,
    }

    neuronet_synapse::synapse! {
        pub struct Echo: EchoRequest => EchoResponse;
    }
}

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
