//! The assignment watchdog: rejoins the group when this member owns no partition while
//! some partition has events that nobody is consuming.
//!
//! A consumer group can be left in a state that nothing in the protocol corrects until its
//! membership changes: tansu 0.6.0 gets there when members die without leaving (SIGKILL)
//! and a new one joins within their session timeout. Its coordinator drops the dead leader
//! while the group forms, then lets the survivor's empty SyncGroup form the group, so every
//! member is told "no partitions" and the topics stay unread for good.
//!
//! The broker cannot be asked who owns what (tansu answers DescribeGroups without
//! assignments, and ListGroups not at all), so the watchdog looks at what the group does
//! instead. Every [`CHECK_INTERVAL`], when this member owns nothing, it reads the group's
//! committed offset and the end of every partition of the subscribed topics. A partition
//! with events after its committed offset, whose committed offset has not moved for the
//! whole patience (a few session timeouts, so an ordinary rebalance is never mistaken for
//! it), is not being consumed; the watchdog then logs a warning and rejoins: unsubscribe
//! (which leaves the group) and subscribe again, a fresh rebalance.
//!
//! An idle member of a healthy group (more members than partitions) sees the owners commit
//! their progress every second, so it never rejoins. If an owner is itself stuck for the
//! whole patience, the rejoin's rebalance moves its partitions, which is what an operator
//! would do; at least once still holds, since offsets are only committed for finished work.
//!
//! From that rejoin until this member owns a partition again, readiness fails, naming the
//! unconsumed partitions ([`ServiceHealth::stranded`]): a member the group left idle
//! while events wait is not doing its job, whatever the broker says.
//!
//! The probes block (each request bounded by [`PROBE_TIMEOUT`]) and run on the blocking
//! pool, so the consumer thread keeps serving the rebalance callbacks meanwhile.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer as _;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::oneshot;

use super::LiveConsumer;
use crate::health::ServiceHealth;
use crate::metrics::Metrics;

/// How often the assignment is looked at.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(2);
/// The most one request to the broker (metadata, offsets, watermarks) may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A partition of a subscribed topic, by topic and number.
pub type PartitionKey = (String, i32);

/// One look: what this member owns, and where the group stands on each partition.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupView {
    /// Partitions assigned to this member.
    pub owned: usize,
    /// For each partition with events after the group's committed offset: that committed
    /// offset (`None` when the group never committed one). Read only when `owned` is 0.
    pub lagging: BTreeMap<PartitionKey, Option<i64>>,
}

/// Decides when an empty-handed member has watched unconsumed events long enough.
#[derive(Debug)]
pub struct Patience {
    /// How long a partition's committed offset must stay still, with events after it.
    limit: Duration,
    /// Since when, and the committed offsets of the lagging partitions then.
    watching: Option<(Instant, BTreeMap<PartitionKey, Option<i64>>)>,
}

impl Patience {
    pub fn new(limit: Duration) -> Self {
        Patience {
            limit,
            watching: None,
        }
    }

    /// The patience for a consumer with this session timeout: long enough for the
    /// coordinator to expire the dead members and finish an ordinary rebalance.
    pub fn for_session_timeout(session_timeout: Duration) -> Self {
        Self::new((session_timeout * 2).max(Duration::from_secs(10)))
    }

    /// Note one look (`None`: the broker did not answer, which proves nothing either
    /// way); true when it is time to rejoin (the watch starts over then).
    pub fn observe(&mut self, view: Option<&GroupView>, now: Instant) -> bool {
        let Some(view) = view else { return false };
        if view.owned > 0 || view.lagging.is_empty() {
            self.watching = None;
            return false;
        }
        let Some((since, then)) = &self.watching else {
            self.watching = Some((now, view.lagging.clone()));
            return false;
        };
        let stalled = view
            .lagging
            .iter()
            .any(|(key, committed)| then.get(key) == Some(committed));
        if !stalled {
            // Every lagging partition moved on (or is new): someone is consuming.
            self.watching = Some((now, view.lagging.clone()));
            return false;
        }
        if now.duration_since(*since) >= self.limit {
            self.watching = None;
            return true;
        }
        false
    }
}

/// A running watchdog; [`WatchdogHandle::stop`] ends it before the consumer is closed.
#[derive(Debug)]
pub struct WatchdogHandle {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl WatchdogHandle {
    /// Stop, and wait for a probe in flight to let go of the consumer.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Start the watchdog on the current tokio runtime (the consumer thread's). It holds the
/// consumer weakly, and strongly only during a probe.
pub fn spawn(
    consumer: Weak<LiveConsumer>,
    group: String,
    topics: Vec<String>,
    session_timeout: Duration,
    metrics: Arc<Metrics>,
    health: Arc<ServiceHealth>,
) -> WatchdogHandle {
    let (stop_tx, mut stop) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut patience = Patience::for_session_timeout(session_timeout);
        let mut ticks = tokio::time::interval(CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = ticks.tick() => {}
            }
            let Some(strong) = consumer.upgrade() else {
                break;
            };
            let probe_topics = topics.clone();
            let view = tokio::task::spawn_blocking(move || {
                let view = look(&strong, &probe_topics);
                (strong, view)
            })
            .await;
            let Ok((strong, view)) = view else { break };
            if view.as_ref().is_some_and(|view| view.owned > 0) {
                health.set_stranded(None);
            }
            if !patience.observe(view.as_ref(), Instant::now()) {
                continue;
            }
            let unconsumed: Vec<String> = view
                .iter()
                .flat_map(|view| view.lagging.keys())
                .map(|(topic, partition)| format!("{topic}/{partition}"))
                .collect();
            tracing::warn!(
                actor = "Consumer",
                group = %group,
                partitions = ?unconsumed,
                "this member owns no partition and nobody has consumed these partitions for a while; rejoining the group"
            );
            metrics.group_rejoined();
            // Not ready until a rebalance gives this member a partition again.
            health.set_stranded(Some(unconsumed.clone()));
            strong.unsubscribe();
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            match strong.subscribe(&names) {
                Ok(()) => {
                    tracing::info!(actor = "Consumer", group = %group, topics = ?topics, "subscribed again")
                }
                Err(error) => {
                    tracing::error!(actor = "Consumer", group = %group, error = %error, "cannot subscribe again")
                }
            }
        }
    });
    WatchdogHandle {
        stop: stop_tx,
        task,
    }
}

/// One look (blocking); `None` when the broker does not answer in time.
fn look(consumer: &LiveConsumer, topics: &[String]) -> Option<GroupView> {
    let owned = consumer.assignment().ok()?.count();
    if owned > 0 {
        // Not stranded: spare the broker the requests.
        return Some(GroupView {
            owned,
            lagging: BTreeMap::new(),
        });
    }
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), PROBE_TIMEOUT)
            .inspect_err(|error| tracing::debug!(actor = "Consumer", topic = %topic, error = %error, "cannot read the topic's metadata"))
            .ok()?;
        for found in metadata
            .topics()
            .iter()
            .filter(|found| found.error().is_none())
        {
            for partition in found.partitions() {
                partitions.add_partition(found.name(), partition.id());
            }
        }
    }
    let committed = consumer
        .committed_offsets(partitions, PROBE_TIMEOUT)
        .inspect_err(|error| tracing::debug!(actor = "Consumer", error = %error, "cannot read the committed offsets"))
        .ok()?;
    let mut lagging = BTreeMap::new();
    for element in committed.elements() {
        let (low, high) = consumer
            .fetch_watermarks(element.topic(), element.partition(), PROBE_TIMEOUT)
            .inspect_err(|error| tracing::debug!(actor = "Consumer", topic = element.topic(), partition = element.partition(), error = %error, "cannot read the watermarks"))
            .ok()?;
        let committed = match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        // A group that never committed starts at the beginning of the log.
        if high > committed.unwrap_or(low) {
            lagging.insert((element.topic().to_owned(), element.partition()), committed);
        }
    }
    let view = GroupView { owned, lagging };
    tracing::debug!(actor = "Consumer", view = ?view, "assignment check");
    Some(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(owned: usize, lagging: &[(&str, i32, Option<i64>)]) -> GroupView {
        GroupView {
            owned,
            lagging: lagging
                .iter()
                .map(|(topic, partition, committed)| {
                    (((*topic).to_owned(), *partition), *committed)
                })
                .collect(),
        }
    }

    #[test]
    fn rejoins_when_a_lagging_partition_stays_still_for_the_whole_patience() {
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let stuck = view(0, &[("user-events", 0, None), ("user-events", 1, Some(7))]);
        let mut patience = Patience::new(Duration::from_secs(10));

        assert!(!patience.observe(Some(&stuck), at(0)));
        assert!(!patience.observe(Some(&stuck), at(9)));
        // A look that proves nothing neither resets nor triggers.
        assert!(!patience.observe(None, at(10)));
        assert!(patience.observe(Some(&stuck), at(10)));
        // The watch starts over after a rejoin.
        assert!(!patience.observe(Some(&stuck), at(11)));
        assert!(patience.observe(Some(&stuck), at(21)));
    }

    #[test]
    fn never_rejoins_while_owning_partitions_or_while_others_make_progress() {
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut patience = Patience::new(Duration::from_secs(10));

        // Owning something: never, whatever the lag.
        for second in 0..30 {
            assert!(!patience.observe(Some(&view(2, &[])), at(second)));
        }
        // Idle in a healthy group: the owner commits every second.
        for second in 30..60 {
            let committed = Some(i64::from(u8::try_from(second).unwrap_or(0)));
            assert!(
                !patience.observe(Some(&view(0, &[("user-events", 0, committed)])), at(second))
            );
        }
        // Idle with nothing left to consume.
        for second in 60..90 {
            assert!(!patience.observe(Some(&view(0, &[])), at(second)));
        }
    }

    #[test]
    fn one_stalled_partition_is_enough_even_when_another_moves() {
        let start = Instant::now();
        let at = |seconds| start + Duration::from_secs(seconds);
        let mut patience = Patience::new(Duration::from_secs(10));
        assert!(!patience.observe(
            Some(&view(0, &[("a", 0, Some(1)), ("a", 1, Some(5))])),
            at(0)
        ));
        assert!(!patience.observe(
            Some(&view(0, &[("a", 0, Some(2)), ("a", 1, Some(5))])),
            at(5)
        ));
        assert!(patience.observe(
            Some(&view(0, &[("a", 0, Some(3)), ("a", 1, Some(5))])),
            at(10)
        ));
    }

    #[test]
    fn patience_covers_two_session_timeouts_and_at_least_ten_seconds() {
        assert_eq!(
            Patience::for_session_timeout(Duration::from_secs(6)).limit,
            Duration::from_secs(12)
        );
        assert_eq!(
            Patience::for_session_timeout(Duration::from_secs(3)).limit,
            Duration::from_secs(10)
        );
    }
}
