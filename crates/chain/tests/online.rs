//! The online client against a WebSocket server answering with real finney bytes (spec-343
//! metadata and the netuid-1 neurons of block 6852690).

mod common;

use common::replay::{self, Recorded};
use common::{fixture_bytes, fixture_json};
use neuronet_chain::{AccountId, Chain, NeuronCertificate};
use parity_scale_codec::Encode;

fn recorded(certificates: Vec<(Vec<u8>, Vec<u8>)>) -> Recorded {
    Recorded {
        metadata: fixture_bytes("metadata/finney_spec343_v15.scale"),
        spec_version: 343,
        neurons: (1u16.encode(), fixture_bytes("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.bin")),
        certificates,
    }
}

#[tokio::test]
async fn the_metagraph_of_a_real_finney_subnet_reads_with_its_certificates() {
    let expected = fixture_json("runtime_api/neurons_lite_finney_netuid1_b6852690_spec343.decoded.json");
    let first = &expected["decoded"][0];
    let hotkey = AccountId::from_ss58(first["hotkey"].as_str().unwrap()).unwrap();
    let certificate = NeuronCertificate { public_key: vec![0x08, 0x01, 0x12, 0x20, 7, 7], algorithm: 0x4e };
    // NeuronCertificates is keyed (netuid, Blake2_128Concat(hotkey)): the key ends with the hotkey.
    let suffix = [&[0u8; 16][..], hotkey.as_bytes()].concat();
    let (url, server) = replay::start(recorded(vec![(suffix, certificate.encode())])).await;

    let chain = Chain::connect(&url).await.unwrap();
    assert_eq!(chain.block_number().await.unwrap(), replay::HEAD_NUMBER);
    let metagraph = chain.metagraph(1).await.unwrap();
    assert_eq!(metagraph.block, replay::HEAD_NUMBER);
    assert_eq!(metagraph.netuid, 1);
    assert_eq!(metagraph.neurons.len(), 1024);
    let with_certificate: Vec<_> = metagraph.neurons.iter().filter(|n| n.certificate.is_some()).collect();
    assert_eq!(with_certificate.len(), 1);
    assert_eq!(with_certificate[0].hotkey, hotkey);
    assert_eq!(with_certificate[0].certificate.as_ref(), Some(&certificate));
    assert_eq!(metagraph.neuron(5).unwrap().uid, 5);
    server.stop().unwrap();
}

#[tokio::test]
async fn an_unreachable_node_is_an_error_in_time() {
    let error = Chain::connect_within("ws://127.0.0.1:1", std::time::Duration::from_millis(500)).await.unwrap_err();
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
    assert!(Chain::connect("http://example.com").await.is_err());
}
