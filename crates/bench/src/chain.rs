//! The chain client's decoder: how long a subnet's metagraph takes to decode from the runtime
//! API's answer (a full subnet is 1,024 neurons).

use std::time::{Duration, Instant};

/// Decodes `path` (a `get_neurons_lite` answer) repeatedly and prints the median time per
/// metagraph and per neuron.
pub fn measure(path: &std::path::Path, rounds: usize) -> anyhow::Result<()> {
    let answer = std::fs::read(path)?;
    let neurons = neuronet_chain::decode_neurons_lite(&answer)?.len();
    let mut times: Vec<Duration> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            let decoded = neuronet_chain::Metagraph::from_neurons_lite(1, 0, std::hint::black_box(&answer));
            let elapsed = started.elapsed();
            std::hint::black_box(decoded).map(|_| elapsed)
        })
        .collect::<Result<_, _>>()?;
    times.sort_unstable();
    let median = times[times.len() / 2];
    let best = times[0];
    println!("metagraph decode: {} bytes, {neurons} neurons, {} rounds", answer.len(), times.len());
    println!(
        "  median {:.1} us per metagraph ({:.0} ns per neuron), best {:.1} us; target under 1,000 us: {:.0}x under",
        median.as_secs_f64() * 1e6,
        median.as_secs_f64() * 1e9 / neurons.max(1) as f64,
        best.as_secs_f64() * 1e6,
        1e-3 / median.as_secs_f64().max(1e-12),
    );
    Ok(())
}
