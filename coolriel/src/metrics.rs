//! Prometheus metrics (`GET /metrics` on the admin server, OpenMetrics text, prefix
//! `coolriel`):
//!
//! | metric                                        | labels                  | what                                      |
//! |-----------------------------------------------|-------------------------|-------------------------------------------|
//! | `coolriel_events_handled_total`               | `event_type`, `outcome` | messages done: `ok`, `dead_lettered`, `skipped` |
//! | `coolriel_handler_duration_seconds`           | `actor`                 | one delivery to a handler actor, answer included |
//! | `coolriel_dead_letters_total`                 |                         | messages sent to a `<topic>.dlq`          |
//! | `coolriel_handler_retries_total`              | `actor`                 | failed deliveries tried again             |
//! | `coolriel_actor_restarts_total`               | `actor`                 | restarts by a supervisor after a panic    |
//! | `coolriel_assigned_partitions`                |                         | partitions this instance owns now         |
//! | `coolriel_group_rejoins_total`                |                         | rejoins by the assignment watchdog        |
//! | `coolriel_partition_committed_offset`         | `topic`, `partition`    | the group's committed offset              |
//! | `coolriel_partition_high_watermark`           | `topic`, `partition`    | the partition's end offset                |
//! | `coolriel_partition_lag`                      | `topic`, `partition`    | high watermark − committed offset         |
//!
//! `event_type` is the event's type name, `unknown` for a type this build does not know
//! (skipped) and `undecodable` for bytes that are not an event (dead-lettered): the label
//! never takes a value a producer made up.
//!
//! The partition gauges cover the partitions this instance owns. The committed offset is
//! set by every successful commit (the consumer's commit callback); the high watermark,
//! and the committed offset again, are read from the broker periodically by a separate
//! client (see [`crate::kafka::monitor`]), never by the consumer or an actor; the lag is
//! recomputed at each change.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// `outcome` of a message that every handler acknowledged.
pub const OUTCOME_OK: &str = "ok";
/// `outcome` of a message that went to the dead-letter topic.
pub const OUTCOME_DEAD_LETTERED: &str = "dead_lettered";
/// `outcome` of a message of an unknown event type.
pub const OUTCOME_SKIPPED: &str = "skipped";
/// `event_type` of a message of a type this build does not know.
pub const TYPE_UNKNOWN: &str = "unknown";
/// `event_type` of a message that is not an event at all.
pub const TYPE_UNDECODABLE: &str = "undecodable";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event_type: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabels {
    actor: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct PartitionLabels {
    topic: String,
    partition: i32,
}

/// What is known of one partition's offsets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct PartitionOffsets {
    /// The group's committed offset (the next offset to handle); `None` before any.
    committed: Option<i64>,
    low: Option<i64>,
    high: Option<i64>,
}

impl PartitionOffsets {
    /// What is left to handle: from the committed offset (or the start of the log, where
    /// a new group begins) to the end.
    fn lag(&self) -> Option<i64> {
        let high = self.high?;
        let from = self.committed.or(self.low)?;
        Some((high - from).max(0))
    }
}

/// Every metric coolriel exports. Shared as an `Arc`; updates are atomic or take a short
/// lock, never I/O.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    handler_seconds: Family<ActorLabels, Histogram, fn() -> Histogram>,
    dead_letters: Counter,
    retries: Family<ActorLabels, Counter>,
    restarts: Family<ActorLabels, Counter>,
    assigned_partitions: Gauge,
    group_rejoins: Counter,
    committed: Family<PartitionLabels, Gauge>,
    high_watermark: Family<PartitionLabels, Gauge>,
    lag: Family<PartitionLabels, Gauge>,
    /// The source of the three partition families, so that a commit and a broker reading
    /// can each update their part and the lag follows.
    partitions: Mutex<BTreeMap<PartitionLabels, PartitionOffsets>>,
    /// The same counts as `events`, readable by the gallery (a family cannot be listed).
    event_counts: Mutex<BTreeMap<String, u64>>,
    /// Every restart of any actor, in all: what the restart budget watches
    /// ([`Metrics::restart_events`]).
    restarts_total: tokio::sync::watch::Sender<u64>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// `metric`, registered in `registry` under `name` (prefixed) with its `help` text.
fn registered<M: Metric + Clone>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M {
    registry.register(name, help, metric.clone());
    metric
}

/// The gauges of each owned partition: its committed offset, high watermark and lag.
fn partition_gauges(registry: &mut Registry) -> [Family<PartitionLabels, Gauge>; 3] {
    [
        (
            "partition_committed_offset",
            "The group's committed offset of an owned partition (the next offset to handle)",
        ),
        (
            "partition_high_watermark",
            "The end offset of an owned partition, as last read from the broker",
        ),
        (
            "partition_lag",
            "Messages of an owned partition not committed yet (high watermark - committed offset)",
        ),
    ]
    .map(|(name, help)| registered(registry, name, help, Family::default()))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coolriel");
        let events = registered(
            &mut registry,
            "events_handled",
            "Messages done, by event type and outcome (ok, dead_lettered, skipped)",
            Family::<EventLabels, Counter>::default(),
        );
        let handler_seconds = registered(
            &mut registry,
            "handler_duration_seconds",
            "Time from sending an event to a handler actor to its answer, per attempt",
            Family::<ActorLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            ),
        );
        let dead_letters = registered(
            &mut registry,
            "dead_letters",
            "Messages sent to a dead-letter topic (undecodable, or failed after retries)",
            Counter::default(),
        );
        let retries = registered(
            &mut registry,
            "handler_retries",
            "Failed deliveries to a handler actor that were tried again",
            Family::<ActorLabels, Counter>::default(),
        );
        let restarts = registered(
            &mut registry,
            "actor_restarts",
            "Actors (handlers, partition actors) restarted by their supervisor after a panic",
            Family::<ActorLabels, Counter>::default(),
        );
        let assigned_partitions = registered(
            &mut registry,
            "assigned_partitions",
            "Partitions this instance owns",
            Gauge::default(),
        );
        let group_rejoins = registered(
            &mut registry,
            "group_rejoins",
            "Times the assignment watchdog rejoined the group after a rebalance left this member without partitions",
            Counter::default(),
        );
        let [committed, high_watermark, lag] = partition_gauges(&mut registry);
        Metrics {
            registry,
            events,
            handler_seconds,
            dead_letters,
            retries,
            restarts,
            assigned_partitions,
            group_rejoins,
            committed,
            high_watermark,
            lag,
            partitions: Mutex::new(BTreeMap::new()),
            event_counts: Mutex::new(BTreeMap::new()),
            restarts_total: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Metrics {
    /// A message is done with `outcome` (one of the `OUTCOME_*`).
    pub fn event_done(&self, event_type: &str, outcome: &'static str) {
        self.events
            .get_or_create(&EventLabels {
                event_type: event_type.to_owned(),
                outcome,
            })
            .inc();
        *self
            .event_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(event_type.to_owned())
            .or_default() += 1;
    }

    /// The messages done so far by event type, whatever their outcome (the sums of
    /// `coolriel_events_handled_total` over `outcome`), by type name.
    pub fn event_counts(&self) -> BTreeMap<String, u64> {
        self.event_counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// One delivery to `actor` took `seconds`, whatever its answer.
    pub fn handler_latency(&self, actor: &'static str, seconds: f64) {
        self.handler_seconds
            .get_or_create(&ActorLabels { actor })
            .observe(seconds);
    }

    pub fn dead_lettered(&self) {
        self.dead_letters.inc();
    }

    pub fn retried(&self, actor: &'static str) {
        self.retries.get_or_create(&ActorLabels { actor }).inc();
    }

    /// `actor` was restarted by its supervisor: counted, and told to the restart budget.
    pub fn restarted(&self, actor: &'static str) {
        self.restarts.get_or_create(&ActorLabels { actor }).inc();
        self.restarts_total.send_modify(|total| *total += 1);
    }

    /// The number of restarts so far, of every actor; changes at each restart.
    pub fn restart_events(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restarts_total.subscribe()
    }

    /// The assignment watchdog rejoined the group.
    pub fn group_rejoined(&self) {
        self.group_rejoins.inc();
    }

    /// Offsets the group committed (the consumer's commit callback).
    pub fn committed(&self, topic: &str, partition: i32, offset: i64) {
        self.update(topic, partition, |offsets| {
            // A late answer must not move it back (offsets only grow within an assignment).
            offsets.committed = Some(offsets.committed.map_or(offset, |known| known.max(offset)));
        });
    }

    /// A reading from the broker: the committed offset if the group has one, and the
    /// partition's low and high watermarks.
    pub fn broker_reading(
        &self,
        topic: &str,
        partition: i32,
        committed: Option<i64>,
        watermarks: Option<(i64, i64)>,
    ) {
        self.update(topic, partition, |offsets| {
            if let Some(offset) = committed {
                offsets.committed =
                    Some(offsets.committed.map_or(offset, |known| known.max(offset)));
            }
            if let Some((low, high)) = watermarks {
                offsets.low = Some(low);
                offsets.high = Some(high);
            }
        });
    }

    /// Forget the partitions this instance no longer owns (their series disappear).
    pub fn retain_partitions(&self, owned: &[(String, i32)]) {
        let mut partitions = self.lock_partitions();
        let gone: Vec<PartitionLabels> = partitions
            .keys()
            .filter(|labels| {
                !owned.iter().any(|(topic, partition)| {
                    *topic == labels.topic && *partition == labels.partition
                })
            })
            .cloned()
            .collect();
        for labels in gone {
            partitions.remove(&labels);
            self.committed.remove(&labels);
            self.high_watermark.remove(&labels);
            self.lag.remove(&labels);
        }
    }

    fn update(&self, topic: &str, partition: i32, change: impl FnOnce(&mut PartitionOffsets)) {
        let labels = PartitionLabels {
            topic: topic.to_owned(),
            partition,
        };
        let mut partitions = self.lock_partitions();
        let offsets = partitions.entry(labels.clone()).or_default();
        change(offsets);
        let offsets = *offsets;
        // Set under the lock, so two updates cannot leave the gauges of the older one.
        if let Some(committed) = offsets.committed {
            self.committed.get_or_create(&labels).set(committed);
        }
        if let Some(high) = offsets.high {
            self.high_watermark.get_or_create(&labels).set(high);
        }
        if let Some(lag) = offsets.lag() {
            self.lag.get_or_create(&labels).set(lag);
        }
    }

    fn lock_partitions(&self) -> MutexGuard<'_, BTreeMap<PartitionLabels, PartitionOffsets>> {
        // The map holds plain numbers: a panic while it was locked leaves it usable.
        self.partitions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The text exposition, with the partition count read now.
    pub fn render(&self, assigned_partitions: usize) -> String {
        self.assigned_partitions
            .set(i64::try_from(assigned_partitions).unwrap_or(i64::MAX));
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
        metrics.event_done("UserCreated", OUTCOME_OK);
        metrics.event_done("UserCreated", OUTCOME_OK);
        metrics.event_done(TYPE_UNDECODABLE, OUTCOME_DEAD_LETTERED);
        metrics.event_done(TYPE_UNKNOWN, OUTCOME_SKIPPED);
        metrics.handler_latency("UserCreatedActor", 0.002);
        metrics.dead_lettered();
        metrics.retried("HistoryActor");
        metrics.restarted("UserCreatedActor");
        metrics.committed("user-events", 1, 7);
        metrics.broker_reading("user-events", 1, None, Some((0, 10)));
        let text = metrics.render(3);
        for expected in [
            "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"ok\"} 2",
            "coolriel_events_handled_total{event_type=\"undecodable\",outcome=\"dead_lettered\"} 1",
            "coolriel_events_handled_total{event_type=\"unknown\",outcome=\"skipped\"} 1",
            "coolriel_handler_duration_seconds_count{actor=\"UserCreatedActor\"} 1",
            "coolriel_dead_letters_total 1",
            "coolriel_handler_retries_total{actor=\"HistoryActor\"} 1",
            "coolriel_actor_restarts_total{actor=\"UserCreatedActor\"} 1",
            "coolriel_assigned_partitions 3",
            "coolriel_partition_committed_offset{topic=\"user-events\",partition=\"1\"} 7",
            "coolriel_partition_high_watermark{topic=\"user-events\",partition=\"1\"} 10",
            "coolriel_partition_lag{topic=\"user-events\",partition=\"1\"} 3",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn lag_follows_commits_and_never_goes_back() {
        let metrics = Metrics::default();
        // A new group with nothing committed lags by the whole log.
        metrics.broker_reading("t", 0, None, Some((2, 10)));
        assert!(
            metrics
                .render(1)
                .contains("coolriel_partition_lag{topic=\"t\",partition=\"0\"} 8")
        );
        metrics.committed("t", 0, 10);
        // An older reading of the committed offset arrives late: ignored.
        metrics.broker_reading("t", 0, Some(6), Some((2, 10)));
        let text = metrics.render(1);
        assert!(
            text.contains("coolriel_partition_committed_offset{topic=\"t\",partition=\"0\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("coolriel_partition_lag{topic=\"t\",partition=\"0\"} 0"),
            "{text}"
        );
    }

    #[test]
    fn partitions_no_longer_owned_disappear() {
        let metrics = Metrics::default();
        metrics.committed("t", 0, 1);
        metrics.committed("t", 1, 1);
        metrics.retain_partitions(&[("t".to_owned(), 1)]);
        let text = metrics.render(1);
        assert!(!text.contains("partition=\"0\""), "{text}");
        assert!(text.contains("partition=\"1\""), "{text}");
    }
}
