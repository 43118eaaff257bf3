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
//!
//! [`read`] plans and reads the partitions, [`projection`] rebuilds the users and orders
//! from the events read.

mod projection;
mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::error::KafkaError;
use serde::Serialize;

pub use projection::{ProjectedOrder, ProjectedUser, project_orders, project_users};

use crate::config::Config;
use crate::handlers::history::HistoryRecord;
use crate::output::{WriteError, write_atomically};

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

/// Read the topics and write `history.json`, `users.json` and `orders.json` (see the
/// module docs).
pub fn replay(options: &ReplayOptions) -> Result<ReplaySummary, ReplayError> {
    let (consumer, plans) = read::assign(options)?;
    let mut summary = ReplaySummary {
        topics: options.topics.clone(),
        ..ReplaySummary::default()
    };
    let records = read::read(&consumer, plans, options, &mut summary)?;
    let users = project_users(&records);
    let orders = project_orders(&records);
    summary.users = users.len();
    summary.orders = orders.len();
    write_outputs(options, &records, users, orders, &mut summary)?;
    Ok(summary)
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
