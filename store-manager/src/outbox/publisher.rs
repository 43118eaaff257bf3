//! The [`OutboxPublisher`]: its settings and state, and its public steps. A step runs
//! rounds (`round.rs`) (read the oldest pending rows, send them, hand what was acked to
//! the marker (`marker.rs`)) while this replica holds the lease (`lease.rs`).
//!
//! # Marking is off the critical path
//! Setting `published_at` is the marker's job, in the background, so a round never waits
//! for a database write before the next one starts. Every way out that reports the outbox
//! as drained ([`PublishOutcome::Empty`] of [`OutboxPublisher::try_publish_next`],
//! [`OutboxPublisher::drain`], [`OutboxPublisher::pending`], the lease release) first
//! waits until nothing is left unmarked; the OutboxActor's
//! [`OutboxPublisher::publish_available`] does not, so that the rows committed meanwhile
//! are sent at once. ADR 0009 has the measurements that led here.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::FutureProducer;
use sea_orm::{DatabaseConnection, DbErr};

use super::queries::pending_rows;
use super::round::RoundState;
use crate::config::{KafkaSettings, OutboxSettings};
use crate::metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot create the Kafka producer: {0}")]
    Producer(KafkaError),
    #[error("outbox database access failed: {0}")]
    Database(#[from] DbErr),
    /// Some rows of the batch were not acknowledged; they stay pending.
    #[error(
        "{failed} of {attempted} events not acknowledged by the broker, first error: {first_error}"
    )]
    Publish {
        attempted: usize,
        failed: usize,
        first_error: String,
    },
}

/// What one [`OutboxPublisher::try_publish_next`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// This many rows were acknowledged by the broker and marked published.
    Published(usize),
    /// Nothing was pending.
    Empty,
    /// Another replica holds the outbox lease and publishes; this one waits.
    Standby,
}

/// Publishes outbox rows with an idempotent producer (acks=all, no reordering on retry).
pub struct OutboxPublisher {
    /// Reads the pending rows.
    pub(super) db: DatabaseConnection,
    /// Writes `published_at`, the lease, attempts and the cleanup: the same pool as `db`,
    /// except on SQLite (see [`OutboxPublisher::with_writer`]).
    pub(super) writer: DatabaseConnection,
    pub(super) producer: FutureProducer,
    pub(super) batch_size: u64,
    pub(super) metrics: Arc<Metrics>,
    /// This process's name in the lease table.
    pub(super) replica_id: String,
    pub(super) lease_duration: Duration,
    /// A round may start on the lease this replica already holds only while the lease
    /// has at least this long left: the longest a round can take (the producer's message
    /// timeout) plus the margin for database time and clock differences.
    pub(super) lease_needed: Duration,
    /// Whether this replica held the lease at its last round, to log changes only.
    pub(super) leading: AtomicBool,
    /// Held for a whole round: two rounds at once (the actor's and the shutdown drain)
    /// would publish the same rows twice.
    pub(super) round: tokio::sync::Mutex<RoundState>,
}

impl std::fmt::Debug for OutboxPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxPublisher")
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl OutboxPublisher {
    pub fn new(
        db: DatabaseConnection,
        kafka: &KafkaSettings,
        outbox: &OutboxSettings,
    ) -> Result<Self, OutboxError> {
        let producer = producer_config(kafka)
            .create()
            .map_err(OutboxError::Producer)?;
        Ok(OutboxPublisher {
            writer: db.clone(),
            db,
            producer,
            batch_size: outbox.batch_size,
            metrics: Arc::new(Metrics::default()),
            replica_id: outbox.replica_id.clone().unwrap_or_else(|| {
                format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
            }),
            lease_duration: outbox.lease_duration,
            lease_needed: kafka.message_timeout + crate::config::LEASE_MARGIN,
            leading: AtomicBool::new(false),
            round: tokio::sync::Mutex::new(RoundState::default()),
        })
    }

    /// Writes through `writer` instead of the reading pool. On SQLite, store-manager hands
    /// it the request pool's one connection: every writer then waits in that pool's queue,
    /// in turn, instead of a second connection waiting for SQLite's write lock in a busy
    /// handler that sleeps between tries and makes the requests behind the lock sleep too.
    pub fn with_writer(mut self, writer: DatabaseConnection) -> Self {
        self.writer = writer;
        self
    }

    /// Counts publications in `metrics` (the application's, exported on `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Publishes the oldest pending rows (one batch) and marks those the broker acked.
    /// [`PublishOutcome::Empty`] means drained: every acknowledged row is marked too.
    pub async fn try_publish_next(&self) -> Result<PublishOutcome, OutboxError> {
        self.round(true).await
    }

    /// Publishes until nothing is left to send, without waiting for the marker to mark the
    /// last rounds: what the OutboxActor runs on every wake. Waiting there (for a database
    /// write that waits for the lock under load) would hold back the rows committed
    /// meanwhile. Returns how many rows were published.
    pub async fn publish_available(&self) -> Result<usize, OutboxError> {
        let mut total = 0;
        while let PublishOutcome::Published(count) = self.round(false).await? {
            total += count;
        }
        Ok(total)
    }

    /// Publishes until nothing is pending and every published row is marked; returns how
    /// many rows were published.
    pub async fn drain(&self) -> Result<usize, OutboxError> {
        let mut total = 0;
        while let PublishOutcome::Published(count) = self.try_publish_next().await? {
            total += count;
        }
        Ok(total)
    }

    /// Rows not yet acknowledged by the broker (once the marking in flight is done).
    pub async fn pending(&self) -> Result<u64, OutboxError> {
        self.round.lock().await.finish_marking().await?;
        Ok(pending_rows(&self.db).await?)
    }

    /// Whether the broker answers a metadata request within `timeout` (readiness).
    pub async fn broker_reachable(&self, timeout: Duration) -> bool {
        use rdkafka::producer::Producer as _;
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false)
    }

    /// Waits for the producer's queue to empty (shutdown).
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer as _;
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "producer did not flush before shutdown");
        }
    }
}

/// The outbox producer's settings (public so the benchmark's limit uses the same ones).
pub fn producer_config(kafka: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", "store-manager")
        // acks=all, retries without duplicates or reordering.
        .set("enable.idempotence", "true")
        .set(
            "message.timeout.ms",
            kafka.message_timeout.as_millis().to_string(),
        )
        // Publication latency matters more than batching: a request is waiting to be seen.
        .set("linger.ms", "1");
    config
}
