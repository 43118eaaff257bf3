//! Reading the topics for a replay: a plan per partition (from its beginning, or from
//! where `--since` starts, up to the high watermark taken at the start), a group-less
//! consumer assigned to it, and the events read within the window, in timestamp order.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use shared_events::Decoded;

use super::{ReplayError, ReplayOptions, ReplaySummary};
use crate::delivery::EventContext;
use crate::handlers::history::HistoryRecord;
use crate::kafka::TracingContext;

/// The group id the replay's consumer carries (never joined, never committed).
const REPLAY_GROUP: &str = "coolriel-replay";

/// The replay's consumer.
pub(super) type ReplayConsumer = BaseConsumer<TracingContext>;

/// What is left to read, by (topic, partition).
pub(super) type Plans = BTreeMap<(String, i32), PartitionPlan>;

/// One partition to read, from `start` up to (not including) `end`.
#[derive(Debug)]
pub(super) struct PartitionPlan {
    start: i64,
    end: i64,
}

/// A consumer with no group, assigned to every partition of the topics from where the
/// replay starts, and what to read of each.
pub(super) fn assign(options: &ReplayOptions) -> Result<(ReplayConsumer, Plans), ReplayError> {
    let consumer: ReplayConsumer = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap_servers)
        // librdkafka refuses `assign` without a group id. The group is never joined and
        // nothing is committed: the live group's offsets stay untouched.
        .set("group.id", REPLAY_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(TracingContext)
        .map_err(ReplayError::Client)?;
    let plans = plan(&consumer, options)?;
    let mut assignment = TopicPartitionList::new();
    for ((topic, partition), plan) in &plans {
        assignment
            .add_partition_offset(topic, *partition, Offset::Offset(plan.start))
            .map_err(ReplayError::Assign)?;
    }
    consumer.assign(&assignment).map_err(ReplayError::Assign)?;
    Ok((consumer, plans))
}

/// Read every planned partition to its end: the records of the events within the
/// `--since`/`--until` window, sorted by timestamp, then topic, partition and offset,
/// with what was read counted in `summary`.
pub(super) fn read(
    consumer: &ReplayConsumer,
    mut plans: Plans,
    options: &ReplayOptions,
    summary: &mut ReplaySummary,
) -> Result<Vec<HistoryRecord>, ReplayError> {
    let since = options.since.map(|since| since.timestamp_millis());
    let until = options.until.map(|until| until.timestamp_millis());
    let mut records = Vec::new();
    let mut last_progress = Instant::now();
    while !plans.is_empty() {
        let Some(received) = consumer.poll(Duration::from_millis(200)) else {
            if last_progress.elapsed() > options.timeout {
                return Err(ReplayError::Stalled {
                    remaining: plans.into_keys().collect(),
                    waited: options.timeout,
                });
            }
            continue;
        };
        let message = match received {
            Ok(message) => message,
            Err(error) => {
                tracing::warn!(error = %error, "error while replaying; going on");
                continue;
            }
        };
        let key = (message.topic().to_owned(), message.partition());
        let Some(plan) = plans.get(&key) else {
            continue;
        };
        let offset = message.offset();
        if offset >= plan.end {
            // Published after the replay started.
            continue;
        }
        if offset + 1 >= plan.end {
            plans.remove(&key);
        }
        last_progress = Instant::now();
        let timestamp = message.timestamp().to_millis();
        let in_window = timestamp.is_none_or(|timestamp| {
            since.is_none_or(|since| timestamp >= since)
                && until.is_none_or(|until| timestamp < until)
        });
        if in_window && let Some(record) = decode(&message, summary) {
            records.push((timestamp, record));
        }
    }
    records.sort_by(|(left_time, left), (right_time, right)| {
        (left_time, &left.topic, left.partition, left.offset).cmp(&(
            right_time,
            &right.topic,
            right.partition,
            right.offset,
        ))
    });
    Ok(records.into_iter().map(|(_, record)| record).collect())
}

/// The record of a message that holds a known event; the others are only counted.
fn decode(message: &BorrowedMessage<'_>, summary: &mut ReplaySummary) -> Option<HistoryRecord> {
    match shared_events::decode(message.payload().unwrap_or_default()) {
        Ok(Decoded::Event(envelope)) => {
            *summary
                .counts
                .entry(envelope.event_type().as_str().to_owned())
                .or_default() += 1;
            let context = EventContext::of(message, &envelope);
            Some(HistoryRecord::new(envelope, &context))
        }
        Ok(Decoded::UnknownType { event_type }) => {
            *summary.unknown.entry(event_type).or_default() += 1;
            None
        }
        Err(error) => {
            tracing::debug!(
                partition = message.partition(),
                offset = message.offset(),
                error = %error,
                "undecodable message skipped"
            );
            summary.invalid += 1;
            None
        }
    }
}

/// For each partition: where to start and the high watermark to stop at.
fn plan(consumer: &ReplayConsumer, options: &ReplayOptions) -> Result<Plans, ReplayError> {
    let mut plans = BTreeMap::new();
    for topic in &options.topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), options.timeout)
            .map_err(|source| ReplayError::Metadata {
                topic: topic.clone(),
                source,
            })?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|found| found.name() == topic && found.error().is_none())
            .flat_map(|found| found.partitions().iter().map(|partition| partition.id()))
            .collect();
        if partitions.is_empty() {
            return Err(ReplayError::UnknownTopic(topic.clone()));
        }
        let mut starts: HashMap<i32, i64> = HashMap::new();
        if let Some(since) = options.since {
            let mut wanted = TopicPartitionList::new();
            for &partition in &partitions {
                wanted
                    .add_partition_offset(
                        topic,
                        partition,
                        Offset::Offset(since.timestamp_millis()),
                    )
                    .map_err(ReplayError::OffsetsForTimes)?;
            }
            let found = consumer
                .offsets_for_times(wanted, options.timeout)
                .map_err(ReplayError::OffsetsForTimes)?;
            for element in found.elements() {
                match element.offset() {
                    Offset::Offset(offset) => {
                        starts.insert(element.partition(), offset);
                    }
                    // No message at or after `since`.
                    Offset::End => {
                        starts.insert(element.partition(), i64::MAX);
                    }
                    _ => {}
                }
            }
        }
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, options.timeout)
                .map_err(|source| ReplayError::Watermarks {
                    topic: topic.clone(),
                    partition,
                    source,
                })?;
            let start = starts.get(&partition).copied().unwrap_or(low).max(low);
            if start < high {
                plans.insert(
                    (topic.clone(), partition),
                    PartitionPlan { start, end: high },
                );
            }
        }
    }
    Ok(plans)
}
