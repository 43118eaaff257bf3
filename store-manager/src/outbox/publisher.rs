//! One step of the outbox: read the oldest pending rows, send them, mark what was acked.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use shared_events::topics;

use crate::config::{KafkaSettings, OutboxSettings};
use crate::entities::outbox;
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
}

/// Publishes outbox rows with an idempotent producer (acks=all, no reordering on retry).
pub struct OutboxPublisher {
    db: DatabaseConnection,
    producer: FutureProducer,
    batch_size: u64,
    metrics: Arc<Metrics>,
    /// Held for a whole round: two rounds at once (the actor's and the shutdown drain)
    /// would publish the same rows twice.
    round: tokio::sync::Mutex<()>,
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
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &kafka.bootstrap_servers)
            .set("client.id", "store-manager")
            // acks=all, retries without duplicates or reordering.
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                kafka.message_timeout.as_millis().to_string(),
            )
            // Publication latency matters more than batching: a request is waiting to be seen.
            .set("linger.ms", "1")
            .create()
            .map_err(OutboxError::Producer)?;
        Ok(OutboxPublisher {
            db,
            producer,
            batch_size: outbox.batch_size,
            metrics: Arc::new(Metrics::default()),
            round: tokio::sync::Mutex::new(()),
        })
    }

    /// Counts publications in `metrics` (the application's, exported on `/metrics`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Publishes the oldest pending rows (one batch) and marks those the broker acked.
    pub async fn try_publish_next(&self) -> Result<PublishOutcome, OutboxError> {
        let _round = self.round.lock().await;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(self.batch_size)
            .all(&self.db)
            .await?;
        if rows.is_empty() {
            return Ok(PublishOutcome::Empty);
        }
        let deliveries = rows.iter().map(|row| {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: topics::HEADER_EVENT_ID,
                    value: Some(row.event_id.as_bytes()),
                })
                .insert(Header {
                    key: topics::HEADER_EVENT_TYPE,
                    value: Some(row.event_type.as_bytes()),
                });
            let record = FutureRecord::to(&row.topic)
                .key(row.event_key.as_bytes())
                .payload(row.payload.as_bytes())
                .headers(headers);
            // Enqueue now, in id order; awaiting comes after, so the batch is in flight at once.
            let queued = self
                .producer
                .send_result(record)
                .map_err(|(error, _)| error);
            async move {
                match queued {
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(delivered)) => Ok(delivered),
                        Ok(Err((error, _))) => Err(error.to_string()),
                        Err(_) => Err("the producer was dropped".to_owned()),
                    },
                    Err(error) => Err(error.to_string()),
                }
            }
        });
        let results = join_all(deliveries).await;
        let acked_at = Utc::now();
        let mut published = Vec::new();
        let mut failed = Vec::new();
        let mut first_error = None;
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(delivery) => {
                    let commit_to_ack = (acked_at - row.created_at).to_std().unwrap_or_default();
                    self.metrics.commit_to_ack(commit_to_ack.as_secs_f64());
                    tracing::debug!(
                        event_id = %row.event_id,
                        event_type = %row.event_type,
                        topic = %row.topic,
                        key = %row.event_key,
                        partition = delivery.partition,
                        offset = delivery.offset,
                        commit_to_ack_ms = commit_to_ack.as_secs_f64() * 1000.0,
                        "event published"
                    );
                    published.push(row.id);
                }
                Err(error) => {
                    first_error.get_or_insert_with(|| error.clone());
                    failed.push(row.id);
                }
            }
        }
        if !published.is_empty() {
            outbox::Entity::update_many()
                .col_expr(outbox::Column::PublishedAt, Expr::value(acked_at))
                .filter(outbox::Column::Id.is_in(published.iter().copied()))
                .exec(&self.db)
                .await?;
        }
        self.metrics.published(published.len() as u64);
        self.metrics.publish_failed(failed.len() as u64);
        match first_error {
            None => Ok(PublishOutcome::Published(published.len())),
            Some(first_error) => {
                outbox::Entity::update_many()
                    .col_expr(
                        outbox::Column::Attempts,
                        Expr::col(outbox::Column::Attempts).add(1),
                    )
                    .col_expr(outbox::Column::LastError, Expr::value(first_error.clone()))
                    .filter(outbox::Column::Id.is_in(failed.iter().copied()))
                    .exec(&self.db)
                    .await?;
                Err(OutboxError::Publish {
                    attempted: rows.len(),
                    failed: failed.len(),
                    first_error,
                })
            }
        }
    }

    /// Publishes until nothing is pending; returns how many rows were published.
    pub async fn drain(&self) -> Result<usize, OutboxError> {
        let mut total = 0;
        while let PublishOutcome::Published(count) = self.try_publish_next().await? {
            total += count;
        }
        Ok(total)
    }

    /// Rows not yet acknowledged by the broker.
    pub async fn pending(&self) -> Result<u64, OutboxError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .count(&self.db)
            .await?)
    }

    /// How long the oldest unpublished row has waited, in seconds (0 when none).
    pub async fn oldest_pending_age(&self) -> Result<f64, OutboxError> {
        let oldest = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .one(&self.db)
            .await?;
        Ok(oldest.map_or(0.0, |row| {
            (Utc::now() - row.created_at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64()
        }))
    }

    /// Whether the broker answers a metadata request within `timeout` (readiness).
    pub async fn broker_reachable(&self, timeout: Duration) -> bool {
        use rdkafka::producer::Producer as _;
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false)
    }

    /// Deletes rows published more than `retention` ago, `batch_size` at a time (so the
    /// table is never locked for long); returns how many were deleted.
    pub async fn clean_up(&self, retention: Duration, batch_size: u64) -> Result<u64, OutboxError> {
        let cutoff =
            Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        let mut deleted = 0;
        loop {
            let ids: Vec<i64> = outbox::Entity::find()
                .select_only()
                .column(outbox::Column::Id)
                .filter(outbox::Column::PublishedAt.lt(cutoff))
                .order_by_asc(outbox::Column::Id)
                .limit(batch_size)
                .into_tuple()
                .all(&self.db)
                .await?;
            if ids.is_empty() {
                return Ok(deleted);
            }
            let result = outbox::Entity::delete_many()
                .filter(outbox::Column::Id.is_in(ids))
                .exec(&self.db)
                .await?;
            deleted += result.rows_affected;
        }
    }

    /// Waits for the producer's queue to empty (shutdown).
    pub fn flush(&self, timeout: Duration) {
        use rdkafka::producer::Producer as _;
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "producer did not flush before shutdown");
        }
    }
}
