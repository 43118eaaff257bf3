//! A client of its own for the admin server: readiness (does the broker answer?) and the
//! partition gauges (committed offsets and watermarks, read from the broker).
//!
//! It is a consumer of the service's group that never subscribes nor commits, so it can
//! ask the group coordinator for the committed offsets without joining the group. Its
//! calls block (each bounded by a timeout): the admin server makes them on blocking
//! threads, never on the consumer thread (which must keep polling for the rebalance
//! callbacks) nor on an actor's.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::TracingContext;
use crate::config::Config;
use crate::metrics::Metrics;

/// See the module documentation.
pub struct Monitor {
    client: BaseConsumer<TracingContext>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Monitor {
    /// Creating it does not contact the broker.
    pub fn new(config: &Config) -> Result<Self, KafkaError> {
        let client = ClientConfig::new()
            .set("bootstrap.servers", &config.bootstrap_servers)
            .set("group.id", &config.group_id)
            .set("client.id", "coolriel-monitor")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create_with_context(TracingContext)?;
        Ok(Monitor { client })
    }

    /// Whether the broker answers a metadata request within `timeout`.
    pub fn broker_reachable(&self, timeout: Duration) -> bool {
        self.client.fetch_metadata(None, timeout).is_ok()
    }

    /// Read the committed offset and the watermarks of each of `partitions` into
    /// `metrics`, and forget the partitions not in the list (one revoked while this runs
    /// goes at the next refresh). Takes at most about `budget`: a partition not read in
    /// time keeps its last values.
    pub fn refresh(&self, partitions: &[(String, i32)], metrics: &Metrics, budget: Duration) {
        // Serve the client's own events (errors, logs); it receives no message.
        let _ = self.client.poll(Duration::ZERO);
        metrics.retain_partitions(partitions);
        if partitions.is_empty() {
            return;
        }
        let deadline = Instant::now() + budget;
        let left = || deadline.saturating_duration_since(Instant::now());
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let committed = match self.client.committed_offsets(list, left()) {
            Ok(committed) => Some(committed),
            Err(error) => {
                tracing::debug!(error = %error, "cannot read the committed offsets");
                None
            }
        };
        for (topic, partition) in partitions {
            let offset = committed
                .as_ref()
                .and_then(|list| list.find_partition(topic, *partition))
                .and_then(|element| match element.offset() {
                    Offset::Offset(offset) => Some(offset),
                    _ => None,
                });
            let timeout = left();
            let watermarks = if timeout.is_zero() {
                None
            } else {
                match self.client.fetch_watermarks(topic, *partition, timeout) {
                    Ok(watermarks) => Some(watermarks),
                    Err(error) => {
                        tracing::debug!(topic = %topic, partition, error = %error, "cannot read the watermarks");
                        None
                    }
                }
            };
            metrics.broker_reading(topic, *partition, offset, watermarks);
        }
    }
}
