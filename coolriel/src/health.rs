//! What the service knows about its own health beyond the broker, shared by the actors and
//! threads that find it out and read by readiness (`GET /ready`, [`crate::admin`]):
//!
//! - the restart budget ([`RestartBudget`]): every actor restart counted in [`Metrics`]
//!   is recorded by [`watch_restarts`]; once `COOLRIEL_RESTART_LIMIT` restarts happened
//!   within `COOLRIEL_RESTART_WINDOW_MS`, the service is not ready and
//!   [`CoolrielHandle::failed`](crate::CoolrielHandle::failed) resolves, which makes
//!   `coolriel run` shut down and exit non-zero;
//! - the partitions recovering from a partition actor's restart (re-reading what the
//!   crashed actor had received but not finished, see [`crate::kafka::partition`]);
//! - whether the assignment watchdog found this member stranded: no partition, while
//!   partitions nobody consumes wait (see [`crate::kafka::watchdog`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use supervision::{RestartBudget, RestartPolicy};

use crate::metrics::Metrics;

/// See the module documentation.
#[derive(Debug)]
pub struct ServiceHealth {
    budget: Arc<RestartBudget>,
    /// `(topic, partition)` → the offset it recovers up to (the highest offset its crashed
    /// actor had received).
    recovering: Mutex<BTreeMap<(String, i32), i64>>,
    /// The partitions the watchdog saw nobody consume while this member owned none, from
    /// its rejoin until this member is assigned a partition again.
    stranded: Mutex<Option<Vec<String>>>,
}

impl ServiceHealth {
    pub fn new(policy: RestartPolicy) -> Self {
        ServiceHealth {
            budget: Arc::new(RestartBudget::new(policy)),
            recovering: Mutex::new(BTreeMap::new()),
            stranded: Mutex::new(None),
        }
    }

    pub fn budget(&self) -> &Arc<RestartBudget> {
        &self.budget
    }

    /// `topic/partition` of each partition recovering from a restart of its actor.
    pub fn recovering(&self) -> Vec<String> {
        lock(&self.recovering)
            .keys()
            .map(|(topic, partition)| format!("{topic}/{partition}"))
            .collect()
    }

    pub(crate) fn start_recovery(&self, topic: &str, partition: i32, until: i64) {
        lock(&self.recovering).insert((topic.to_owned(), partition), until);
    }

    /// The recovery of a partition is over (caught up, or the partition is gone).
    pub(crate) fn end_recovery(&self, topic: &str, partition: i32) -> bool {
        lock(&self.recovering)
            .remove(&(topic.to_owned(), partition))
            .is_some()
    }

    /// The partitions left unconsumed while this member owns none, if the watchdog said so.
    pub fn stranded(&self) -> Option<Vec<String>> {
        lock(&self.stranded).clone()
    }

    pub(crate) fn set_stranded(&self, unconsumed: Option<Vec<String>>) {
        *lock(&self.stranded) = unconsumed;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Plain data: a panic while it was held leaves it usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Record every restart counted in `metrics` in the budget; returns once it is
/// exhausted (or the metrics are gone). Runs on the actix system for the service's life.
pub(crate) async fn watch_restarts(metrics: Arc<Metrics>, health: Arc<ServiceHealth>) {
    let mut restarts = metrics.restart_events();
    drop(metrics);
    // Restarts counted before this task first ran count too.
    let mut recorded = 0;
    loop {
        let total = *restarts.borrow_and_update();
        for _ in recorded..total {
            if let Err(exhausted) = health.budget.record() {
                tracing::error!(
                    restarts = exhausted.restarts,
                    limit = exhausted.limit,
                    window_ms = u64::try_from(exhausted.window.as_millis()).unwrap_or(u64::MAX),
                    "restart budget exhausted: actors keep panicking; not ready, shutting down to exit non-zero"
                );
                return;
            }
        }
        recorded = total;
        if restarts.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn restarts_counted_in_the_metrics_use_up_the_budget() {
        let metrics = Arc::new(Metrics::default());
        let health = Arc::new(ServiceHealth::new(RestartPolicy {
            limit: 3,
            window: Duration::from_secs(60),
        }));
        let watcher = tokio::spawn(watch_restarts(Arc::clone(&metrics), Arc::clone(&health)));
        metrics.restarted("PartitionActor");
        metrics.restarted("UserCreatedActor");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!health.budget().is_exhausted());
        metrics.restarted("PartitionActor");
        tokio::time::timeout(Duration::from_secs(5), health.budget().exhausted())
            .await
            .expect("exhausted after the third restart");
        tokio::time::timeout(Duration::from_secs(5), watcher)
            .await
            .expect("the watcher ends")
            .expect("joined");
    }

    #[test]
    fn recovering_partitions_are_listed_until_they_catch_up() {
        let health = ServiceHealth::new(RestartPolicy::default());
        health.start_recovery("user-events", 2, 41);
        assert_eq!(health.recovering(), vec!["user-events/2".to_owned()]);
        assert!(health.end_recovery("user-events", 2));
        assert!(health.recovering().is_empty());
        assert!(!health.end_recovery("user-events", 2));
    }
}
