//! `coolriel replay`: rebuild the history and the users and orders projections from the
//! topics themselves.
//!
//! The topics (by default every configured topic, `user-events` and `order-events`; one or
//! more with `--topic`) are read by manual assignment with a consumer that has no group, so the live
//! group's committed offsets are neither used nor touched, and no email is written. Each
//! partition is read from its beginning (or from the offset `offsets_for_times` gives for
//! `--since`) up to the high watermark fetched at the start, so a replay ends even while
//! events keep coming. Every message's own timestamp is checked against `--since` and
//! `--until` as well: tansu answers `offsets_for_times` for a time after its last message
//! with offset 0 instead of the end, which would otherwise replay everything.
//!
//! Output, in the output directory (default `$OUTPUT_DIR/replay`):
//! - `history.json`: every event read, with topic, partition, offset, key and broker
//!   timestamp, ordered by timestamp, then topic, partition and offset;
//! - `users.json`: the users that exist after applying those events in that order (created
//!   minus deleted), by id;
//! - `orders.json`: likewise the orders (created minus deleted), by id, each with its
//!   customer, items, total and `paid` flag (set by `OrderPaid`).
//!
//! The three files always describe the same replay: replaying only `order-events` writes
//! an empty users list, since no user event was read.
//!
//! Nothing in these files depends on when the replay ran, so replaying the same log twice
//! gives byte-identical files. Timestamp order is the order the store published in: the
//! outbox publishes in commit order, across both topics, and it orders one user's events
//! even for the lab's unkeyed messages, which can put them on different partitions.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use serde::Serialize;
use shared_events::{Decoded, Event, Money, OrderItem};

use crate::config::Config;
use crate::delivery::EventContext;
use crate::handlers::history::HistoryRecord;
use crate::kafka::TracingContext;
use crate::output::{WriteError, write_atomically};
use crate::templates::OrderView;

/// The group id the replay's consumer carries (never joined, never committed).
const REPLAY_GROUP: &str = "coolriel-replay";

/// What to replay and where to write it.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub bootstrap_servers: String,
    /// The topics to read, together (events of all of them in one timeline).
    pub topics: Vec<String>,
    /// Only messages with a timestamp at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only messages with a timestamp before this instant.
    pub until: Option<DateTime<Utc>>,
    pub output_dir: PathBuf,
    /// Bound on each broker request, and on a wait without any message.
    pub timeout: Duration,
}

impl ReplayOptions {
    /// Every topic of `config` and its broker, writing into `$OUTPUT_DIR/replay`.
    pub fn from_config(config: &Config) -> Self {
        ReplayOptions {
            bootstrap_servers: config.bootstrap_servers.clone(),
            topics: config.topics.clone(),
            since: None,
            until: None,
            output_dir: config.output_dir.join("replay"),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot create the Kafka consumer: {0}")]
    Client(#[source] KafkaError),
    #[error("cannot read the metadata of topic {topic}: {source}")]
    Metadata {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("topic {0} does not exist (choose the topics to replay with --topic)")]
    UnknownTopic(String),
    #[error("cannot read the watermarks of {topic}/{partition}: {source}")]
    Watermarks {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("cannot find the offsets for --since: {0}")]
    OffsetsForTimes(#[source] KafkaError),
    #[error("cannot assign the partitions: {0}")]
    Assign(#[source] KafkaError),
    #[error("no message for {waited:?} while partitions {remaining:?} were not read to their end")]
    Stalled {
        remaining: Vec<(String, i32)>,
        waited: Duration,
    },
    #[error("cannot create {dir}: {source}")]
    OutputDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What a replay read and wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// The topics read.
    pub topics: Vec<String>,
    /// Events read, per known event type.
    pub counts: BTreeMap<String, u64>,
    /// Events of a type this build does not know, per type name (skipped).
    pub unknown: BTreeMap<String, u64>,
    /// Messages that could not be decoded (skipped).
    pub invalid: u64,
    /// Users in the rebuilt projection.
    pub users: usize,
    /// Orders in the rebuilt projection.
    pub orders: usize,
    pub history_path: PathBuf,
    pub users_path: PathBuf,
    pub orders_path: PathBuf,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: u64 = self.counts.values().sum();
        writeln!(f, "topics: {}", self.topics.join(", "))?;
        writeln!(f, "events: {total}")?;
        for (event_type, count) in &self.counts {
            writeln!(f, "{event_type}: {count}")?;
        }
        for (event_type, count) in &self.unknown {
            writeln!(f, "{event_type}: {count} (unknown type, skipped)")?;
        }
        if self.invalid > 0 {
            writeln!(f, "invalid: {} (not decodable, skipped)", self.invalid)?;
        }
        writeln!(f, "users: {}", self.users)?;
        writeln!(f, "orders: {}", self.orders)?;
        writeln!(f, "history: {}", self.history_path.display())?;
        writeln!(f, "projection: {}", self.users_path.display())?;
        write!(f, "projection: {}", self.orders_path.display())
    }
}

/// One partition to read, from `start` up to (not including) `end`.
#[derive(Debug)]
struct PartitionPlan {
    start: i64,
    end: i64,
}

/// Read the topics and write `history.json`, `users.json` and `orders.json` (see the
/// module docs).
pub fn replay(options: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let consumer: BaseConsumer<TracingContext> = ClientConfig::new()
        .set("bootstrap.servers", &options.bootstrap_servers)
        // librdkafka refuses `assign` without a group id. The group is never joined and
        // nothing is committed: the live group's offsets stay untouched.
        .set("group.id", REPLAY_GROUP)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(TracingContext)
        .map_err(ReplayError::Client)?;

    let mut plans = plan(&consumer, options)?;
    let mut assignment = TopicPartitionList::new();
    for ((topic, partition), plan) in &plans {
        assignment
            .add_partition_offset(topic, *partition, Offset::Offset(plan.start))
            .map_err(ReplayError::Assign)?;
    }
    consumer.assign(&assignment).map_err(ReplayError::Assign)?;

    let since = options.since.map(|since| since.timestamp_millis());
    let until = options.until.map(|until| until.timestamp_millis());
    let mut summary = ReplaySummary {
        topics: options.topics.clone(),
        ..ReplaySummary::default()
    };
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
        if !in_window {
            continue;
        }
        match shared_events::decode(message.payload().unwrap_or_default()) {
            Ok(Decoded::Event(envelope)) => {
                *summary
                    .counts
                    .entry(envelope.event_type().as_str().to_owned())
                    .or_default() += 1;
                let context = EventContext::of(&message, &envelope);
                records.push((timestamp, HistoryRecord::new(envelope, &context)));
            }
            Ok(Decoded::UnknownType { event_type }) => {
                *summary.unknown.entry(event_type).or_default() += 1;
            }
            Err(error) => {
                tracing::debug!(partition = key.1, offset, error = %error, "undecodable message skipped");
                summary.invalid += 1;
            }
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
    let records: Vec<HistoryRecord> = records.into_iter().map(|(_, record)| record).collect();
    let users = project_users(&records);
    let orders = project_orders(&records);
    summary.users = users.len();
    summary.orders = orders.len();
    write_outputs(options, &records, users, orders, &mut summary)?;
    Ok(summary)
}

/// For each partition: where to start and the high watermark to stop at.
fn plan(
    consumer: &BaseConsumer<TracingContext>,
    options: &ReplayOptions,
) -> Result<BTreeMap<(String, i32), PartitionPlan>, ReplayError> {
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

/// A user in the projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedUser {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub user_type_id: i32,
    pub user_type: &'static str,
}

/// The users that exist after the events, in the order given.
pub fn project_users(records: &[HistoryRecord]) -> BTreeMap<i64, ProjectedUser> {
    let mut users = BTreeMap::new();
    for record in records {
        match &record.event.event {
            Event::UserCreated(created) => {
                users.insert(
                    created.id,
                    ProjectedUser {
                        id: created.id,
                        name: created.name.clone(),
                        email: created.email.clone(),
                        user_type_id: created.user_type.id(),
                        user_type: created.user_type.name(),
                    },
                );
            }
            Event::UserDeleted(deleted) => {
                users.remove(&deleted.id);
            }
            Event::OrderCreated(_) | Event::OrderPaid(_) | Event::OrderDeleted(_) => {}
        }
    }
    users
}

/// An order in the projection: the last snapshot an event gave of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectedOrder {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    pub user_type_id: i32,
    pub user_type: &'static str,
    /// Whether an `OrderPaid` was read for it.
    pub paid: bool,
    pub items: Vec<OrderItem>,
    pub total: Money,
}

impl ProjectedOrder {
    fn new(order: OrderView<'_>, paid: bool) -> Self {
        ProjectedOrder {
            id: order.order_id,
            user_id: order.user_id,
            user_name: order.user_name.to_owned(),
            user_email: order.user_email.to_owned(),
            user_type_id: order.user_type.id(),
            user_type: order.user_type.name(),
            paid,
            items: order.items.to_vec(),
            total: order.total,
        }
    }
}

/// The orders that exist after the events, in the order given: `OrderCreated` adds one
/// (unpaid, unless a duplicate of an order already paid), `OrderPaid` marks it paid (and,
/// carrying the whole order, adds it when its creation is outside the window replayed),
/// `OrderDeleted` removes it.
pub fn project_orders(records: &[HistoryRecord]) -> BTreeMap<i64, ProjectedOrder> {
    let mut orders: BTreeMap<i64, ProjectedOrder> = BTreeMap::new();
    for record in records {
        match &record.event.event {
            Event::OrderCreated(order) => {
                // At least once: a re-published creation must not undo a payment.
                let paid = orders.get(&order.id).is_some_and(|known| known.paid);
                orders.insert(order.id, ProjectedOrder::new(order.into(), paid));
            }
            Event::OrderPaid(order) => {
                orders.insert(order.id, ProjectedOrder::new(order.into(), true));
            }
            Event::OrderDeleted(order) => {
                orders.remove(&order.id);
            }
            Event::UserCreated(_) | Event::UserDeleted(_) => {}
        }
    }
    orders
}

#[derive(Serialize)]
struct HistoryDocument<'a> {
    topics: &'a [String],
    since: Option<String>,
    until: Option<String>,
    events: &'a [HistoryRecord],
}

#[derive(Serialize)]
struct UsersDocument {
    users: Vec<ProjectedUser>,
}

#[derive(Serialize)]
struct OrdersDocument {
    orders: Vec<ProjectedOrder>,
}

fn write_outputs(
    options: &ReplayOptions,
    records: &[HistoryRecord],
    users: BTreeMap<i64, ProjectedUser>,
    orders: BTreeMap<i64, ProjectedOrder>,
    summary: &mut ReplaySummary,
) -> Result<(), ReplayError> {
    let dir = &options.output_dir;
    std::fs::create_dir_all(dir).map_err(|source| ReplayError::OutputDir {
        dir: dir.clone(),
        source,
    })?;
    let history = HistoryDocument {
        topics: &options.topics,
        since: options.since.map(|since| since.to_rfc3339()),
        until: options.until.map(|until| until.to_rfc3339()),
        events: records,
    };
    let users = UsersDocument {
        users: users.into_values().collect(),
    };
    let orders = OrdersDocument {
        orders: orders.into_values().collect(),
    };
    summary.history_path = dir.join("history.json");
    summary.users_path = dir.join("users.json");
    summary.orders_path = dir.join("orders.json");
    write_json(&summary.history_path, &history)?;
    write_json(&summary.users_path, &users)?;
    write_json(&summary.orders_path, &orders)?;
    Ok(())
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReplayError> {
    // Serialising plain structs of strings and numbers cannot fail.
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|error| WriteError {
        path: path.to_owned(),
        source: std::io::Error::other(error),
    })?;
    bytes.push(b'\n');
    Ok(write_atomically(path, &bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_events::{
        EventEnvelope, LabDateTime, OrderCreated, OrderDeleted, OrderPaid, UserCreated,
        UserDeleted, UserType,
    };

    fn record(offset: i64, event: Event) -> HistoryRecord {
        let envelope = EventEnvelope {
            event,
            datetime: LabDateTime::parse("2025-11-09 14:03:12").expect("date"),
            event_id: None,
            version: 1,
            occurred_at: None,
        };
        HistoryRecord {
            topic: "user-events".into(),
            partition: 0,
            offset,
            key: None,
            timestamp: None,
            event_type: envelope.event_type().as_str().into(),
            event: envelope,
        }
    }

    #[test]
    fn projection_is_created_minus_deleted() {
        let created = |id, user_type| {
            Event::UserCreated(UserCreated {
                id,
                name: format!("user {id}"),
                email: format!("u{id}@example.com"),
                user_type,
            })
        };
        let deleted = |id| {
            Event::UserDeleted(UserDeleted {
                id,
                name: format!("user {id}"),
                email: format!("u{id}@example.com"),
                user_type: UserType::Client,
            })
        };
        let records = vec![
            record(0, created(1, UserType::Client)),
            record(1, created(2, UserType::Manager)),
            record(2, deleted(1)),
            record(3, created(3, UserType::Employee)),
        ];
        let users = project_users(&records);
        assert_eq!(users.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(users[&2].user_type, "Manager");
        assert_eq!(users[&3].user_type_id, 2);
    }

    fn item(product_id: i64, cents: i64, quantity: i64) -> OrderItem {
        OrderItem {
            product_id,
            name: format!("product {product_id}"),
            sku: format!("SKU-{product_id}"),
            unit_price: Money::from_cents(cents),
            quantity,
            line_total: Money::from_cents(cents * quantity),
        }
    }

    fn order_created(id: i64) -> OrderCreated {
        OrderCreated {
            id,
            user_id: 10 + id,
            user_name: format!("user {}", 10 + id),
            user_email: format!("u{}@example.com", 10 + id),
            user_type: UserType::Employee,
            items: vec![item(1, 199_999, 1), item(2, 250, 4)],
            total: Money::from_cents(200_999),
        }
    }

    fn order_paid(id: i64) -> OrderPaid {
        let order = order_created(id);
        OrderPaid {
            id: order.id,
            user_id: order.user_id,
            user_name: order.user_name,
            user_email: order.user_email,
            user_type: order.user_type,
            items: order.items,
            total: order.total,
        }
    }

    fn order_deleted(id: i64, was_paid: bool) -> OrderDeleted {
        let order = order_created(id);
        OrderDeleted {
            id: order.id,
            user_id: order.user_id,
            user_name: order.user_name,
            user_email: order.user_email,
            user_type: order.user_type,
            items: order.items,
            total: order.total,
            was_paid,
        }
    }

    #[test]
    fn orders_projection_is_created_minus_deleted_with_the_paid_flag() {
        let records = vec![
            record(0, Event::OrderCreated(order_created(1))),
            record(1, Event::OrderCreated(order_created(2))),
            record(2, Event::OrderCreated(order_created(3))),
            record(3, Event::OrderPaid(order_paid(1))),
            // A duplicate creation after the payment does not undo it.
            record(4, Event::OrderCreated(order_created(1))),
            record(5, Event::OrderPaid(order_paid(3))),
            record(6, Event::OrderDeleted(order_deleted(3, true))),
            // Paid, its creation outside the replayed window: known from the payment.
            record(7, Event::OrderPaid(order_paid(4))),
            record(
                8,
                Event::UserDeleted(UserDeleted {
                    id: 11,
                    name: "user 11".into(),
                    email: "u11@example.com".into(),
                    user_type: UserType::Employee,
                }),
            ),
        ];
        let orders = project_orders(&records);
        assert_eq!(orders.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4]);
        assert!(orders[&1].paid);
        assert!(!orders[&2].paid);
        assert!(orders[&4].paid);
        assert_eq!(orders[&2].user_type, "Employee");
        assert_eq!(orders[&2].items.len(), 2);
        let json = serde_json::to_value(&orders[&2]).expect("json");
        assert_eq!(json["total"], "2009.99");
        assert_eq!(json["items"][0]["unit_price"], "1999.99");
        assert_eq!(json["items"][1]["line_total"], "10.00");
        assert!(
            project_users(&records).is_empty(),
            "order events make no user"
        );
    }
}
