use neuronet_synapse::envelope::RequestHead;
use neuronet_synapse::nonce::{NonceGuard, NonceGuardConfig};
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::{CryptoType, Keypair};
use std::time::Instant;
fn main() {
    let pair = Keypair::from_seed(&[2; 32], CryptoType::Sr25519).with_presigned_nonces(64);
    let receiver = Keypair::from_seed(&[1; 32], CryptoType::Sr25519).hotkey();
    let body = vec![0x42u8; 1024];
    let key = pair.hotkey().verifying_key().unwrap();
    let guard = NonceGuard::new(NonceGuardConfig::default());
    for round in 0..4 {
        let n = 2000;
        let (mut s, mut e, mut d, mut v, mut c) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let t = Instant::now();
            let mut head = RequestHead::new("Echo", pair.hotkey(), *receiver.public(), 30000);
            head.sign(&pair, &body);
            s += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let bytes = head.encode();
            e += t.elapsed().as_secs_f64();
            let t = Instant::now();
            let h = RequestHead::decode(&bytes).unwrap();
            d += t.elapsed().as_secs_f64();
            let t = Instant::now();
            guard.check_fresh(h.nonce, unix_nanos()).unwrap();
            h.verify_with(Some(&key), &body).unwrap();
            v += t.elapsed().as_secs_f64();
            let t = Instant::now();
            guard.check(h.sender.public(), h.nonce, unix_nanos()).unwrap();
            c += t.elapsed().as_secs_f64();
            // let the idle thread refill, like a sequential caller
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        let f = 1e6 / n as f64;
        println!(
            "round {round}: sign {:.1} encode {:.1} decode {:.1} verify {:.1} nonce {:.1} us",
            s * f,
            e * f,
            d * f,
            v * f,
            c * f
        );
    }
}
