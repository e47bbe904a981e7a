//! `neuronet query` over each wire against a neuronet axon serving QUIC and HTTP: the same
//! answer whichever wire carries it.

use neuronet_synapse::builtin::TextGeneration;
use neuronet_synapse::{proto, CryptoType, Keypair};
use neuronet_transport::{Axon, AxonConfig, HttpListen};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_gets_the_same_answer_over_every_wire() {
    let bob = Keypair::from_suri("//Bob", CryptoType::Sr25519).unwrap();
    let bob_ss58 = bob.hotkey().to_ss58();
    let config = AxonConfig::default().with_http(HttpListen::At("127.0.0.1:0".parse().unwrap()));
    let axon = Axon::new(bob, config)
        .serve::<TextGeneration, _, _>(|ctx, request: proto::TextGenerationRequest| async move {
            Ok(proto::TextGenerationResponse {
                text: format!("{} asked {}", ctx.caller, request.prompt),
                ..Default::default()
            })
        })
        .start(["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()])
        .await
        .unwrap();
    let quic_port = axon.listen_addrs()[0].to_string().split('/').nth(4).unwrap().to_owned();
    let http = axon.http_addr().unwrap().to_string();
    let wallets = tempfile::tempdir().unwrap();
    let dir = wallets.path().to_owned();
    let outputs = tokio::task::spawn_blocking(move || {
        let neuronet = |args: &[&str]| {
            std::process::Command::new(env!("CARGO_BIN_EXE_neuronet"))
                .args(args)
                .args(["--wallet.path", dir.to_str().unwrap(), "--wallet.name", "v", "--wallet.hotkey", "h"])
                .output()
                .unwrap()
        };
        assert!(neuronet(&["wallet", "new-hotkey", "--uri", "//Alice"]).status.success());
        let quic = format!("127.0.0.1:{quic_port}");
        [("quic", quic.as_str()), ("v10", &http), ("btauth", &http), ("epistula", &http)].map(|(wire, target)| {
            let output = neuronet(&[
                "query",
                "--target",
                target,
                "--target.hotkey",
                &bob_ss58,
                "--synapse",
                "TextGeneration",
                "--body",
                r#"{"prompt": "hello"}"#,
                "--wire",
                wire,
            ]);
            (wire, output)
        })
    })
    .await
    .unwrap();
    for (wire, output) in outputs {
        assert!(
            output.status.success(),
            "{wire}: {} {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(printed["status"], 200, "{wire}");
        assert_eq!(printed["answer"]["text"], "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY asked hello", "{wire}");
    }
}
