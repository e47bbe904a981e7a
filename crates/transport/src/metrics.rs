//! Counters and latency histograms for axons and dendrites, in prometheus-client types the node
//! registers and exposes.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of a request metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Synapse name.
    pub synapse: String,
    /// Status code.
    pub status: u16,
}

/// Labels of a latency metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SynapseLabels {
    /// Synapse name.
    pub synapse: String,
}

/// Metrics of one axon or dendrite. Cloning shares the same series.
#[derive(Clone)]
pub struct Metrics {
    /// Requests finished, by synapse and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Seconds from receipt (axon) or send (dendrite) to the final answer.
    pub latency: Family<SynapseLabels, Histogram>,
    /// Connected peers (axon).
    pub connections: Gauge,
    /// Requests waiting in the axon's priority queue.
    pub queued: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 20))),
            connections: Gauge::default(),
            queued: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers the series under `prefix` (for example `neuronet_axon`).
    pub fn register(&self, registry: &mut Registry, prefix: &str) {
        let sub = registry.sub_registry_with_prefix(prefix);
        sub.register("requests", "Requests finished, by synapse and status", self.requests.clone());
        sub.register("latency_seconds", "Request latency in seconds", self.latency.clone());
        sub.register("connected_peers", "Connected peers", self.connections.clone());
        sub.register("queued", "Requests waiting for a handler slot", self.queued.clone());
    }

    pub(crate) fn record(&self, synapse: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RequestLabels { synapse: synapse.to_owned(), status }).inc();
        self.latency.get_or_create(&SynapseLabels { synapse: synapse.to_owned() }).observe(seconds);
    }
}
