//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route and status,
//! request latency, and the outbox's health: pending rows, the oldest pending row's age,
//! published and failed publications, the commit → broker-ack latency, and the outbox
//! actor's restarts after a panic.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The route pattern (`/users/{id}`), never the raw path: one series per route.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

/// Every metric store-manager exports. Cheap to share (`Arc`); updates are atomic.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    outbox_pending: Gauge<f64, AtomicU64>,
    outbox_oldest_pending_seconds: Gauge<f64, AtomicU64>,
    outbox_published: Counter,
    outbox_publish_failures: Counter,
    commit_to_ack_seconds: Histogram,
    restarts: Family<ActorLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("store_manager");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            request_seconds.clone(),
        );
        let outbox_pending = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_pending_rows",
            "Outbox rows not yet acknowledged by the broker (-1: database unreachable)",
            outbox_pending.clone(),
        );
        let outbox_oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row (0 when none, -1: database unreachable)",
            outbox_oldest_pending_seconds.clone(),
        );
        let outbox_published = Counter::default();
        registry.register(
            "outbox_published",
            "Events acknowledged by the broker and marked published",
            outbox_published.clone(),
        );
        let outbox_publish_failures = Counter::default();
        registry.register(
            "outbox_publish_failures",
            "Events the broker did not acknowledge (they stay pending and are retried)",
            outbox_publish_failures.clone(),
        );
        let commit_to_ack_seconds = latency_histogram();
        registry.register(
            "outbox_commit_to_ack_seconds",
            "Time from the transaction that wrote an event to the broker's acknowledgement",
            commit_to_ack_seconds.clone(),
        );
        let restarts = Family::<ActorLabels, Counter>::default();
        registry.register(
            "actor_restarts",
            "Actors (the OutboxActor) restarted by their supervisor after a panic",
            restarts.clone(),
        );
        Metrics {
            registry,
            restarts,
            requests,
            request_seconds,
            outbox_pending,
            outbox_oldest_pending_seconds,
            outbox_published,
            outbox_publish_failures,
            commit_to_ack_seconds,
        }
    }
}

impl Metrics {
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn published(&self, count: u64) {
        self.outbox_published.inc_by(count);
    }

    pub fn publish_failed(&self, count: u64) {
        self.outbox_publish_failures.inc_by(count);
    }

    /// `actor` was restarted by its supervisor after a panic.
    pub fn restarted(&self, actor: &'static str) {
        self.restarts.get_or_create(&ActorLabels { actor }).inc();
    }

    pub fn commit_to_ack(&self, seconds: f64) {
        self.commit_to_ack_seconds.observe(seconds);
    }

    /// The text exposition, with the outbox gauges set from a fresh reading.
    pub fn render(&self, pending_rows: f64, oldest_pending_seconds: f64) -> String {
        self.outbox_pending.set(pending_rows);
        self.outbox_oldest_pending_seconds
            .set(oldest_pending_seconds);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_its_labels() {
        let metrics = Metrics::default();
        metrics.observe_request("POST", "/users", 201, 0.002);
        metrics.published(3);
        metrics.publish_failed(1);
        metrics.commit_to_ack(0.004);
        metrics.restarted("OutboxActor");
        let text = metrics.render(2.0, 1.5);
        for expected in [
            "store_manager_http_requests_total{method=\"POST\",route=\"/users\",status=\"201\"} 1",
            "store_manager_http_request_duration_seconds_count{method=\"POST\",route=\"/users\"} 1",
            "store_manager_outbox_pending_rows 2",
            "store_manager_outbox_oldest_pending_age_seconds 1.5",
            "store_manager_outbox_published_total 3",
            "store_manager_outbox_publish_failures_total 1",
            "store_manager_outbox_commit_to_ack_seconds_count 1",
            "store_manager_actor_restarts_total{actor=\"OutboxActor\"} 1",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }
}
