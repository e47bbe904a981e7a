use neuronet_synapse::payload::BodyHash;
use std::time::Instant;
fn main() {
    for size in [1024usize, 10240, 102400, 1048576] {
        let body = vec![0x42u8; size];
        let n = (20_000_000 / size).max(50);
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(BodyHash::of(std::hint::black_box(&body)));
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{size} B: {us:.2} us ({:.2} GB/s)", size as f64 / us / 1e3);
    }
}
