//! One step of the outbox: read the oldest pending rows, send them, mark what was acked.
//!
//! # Marking is off the critical path
//! Setting `published_at` on a round's acknowledged rows is the job of a background task,
//! the marker, so a round never waits for a database write before the next one starts.
//! That write waits for the write lock behind the request transactions: on SQLite its busy
//! handler sleeps 30-125 ms at 1000 requests/s (measured), and every row committed
//! meanwhile waited with it. The marker takes whatever rounds have queued and marks them
//! in one statement (one lock, one sync), each round's rows getting its own ack time.
//!
//! Until its rows are marked, a round's ids and keys stay in [`Unmarked`]: the next rounds
//! skip those rows, and every key they belong to. A key's next event is sent only once its
//! previous one is both acknowledged and marked, so if a marking fails (the rows stay
//! pending, leave [`Unmarked`] and are sent again) the copies still come before that key's
//! later events; the failure is the next round's error. At most [`MAX_UNMARKED`] rows wait
//! for the marker before rounds wait for it too. Every way out that reports the outbox as
//! drained ([`PublishOutcome::Empty`] of [`OutboxPublisher::try_publish_next`],
//! [`OutboxPublisher::drain`], [`OutboxPublisher::pending`], the lease release) first
//! waits until nothing is left unmarked; the OutboxActor's
//! [`OutboxPublisher::publish_available`] does not, so that the rows committed meanwhile
//! are sent at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, Condition, DatabaseConnection, DbErr, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};
use shared_events::topics;

use crate::config::{KafkaSettings, OutboxSettings};
use crate::entities::{outbox, outbox_lease};
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

/// The lease row's name (one outbox, one lease).
const LEASE_NAME: &str = "outbox";

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
    db: DatabaseConnection,
    /// Writes `published_at`, the lease, attempts and the cleanup: the same pool as `db`,
    /// except on SQLite (see [`OutboxPublisher::with_writer`]).
    writer: DatabaseConnection,
    producer: FutureProducer,
    batch_size: u64,
    metrics: Arc<Metrics>,
    /// This process's name in the lease table.
    replica_id: String,
    lease_duration: Duration,
    /// A round may start on the lease this replica already holds only while the lease
    /// has at least this long left: the longest a round can take (the producer's message
    /// timeout) plus the margin for database time and clock differences.
    lease_needed: Duration,
    /// Whether this replica held the lease at its last round, to log changes only.
    leading: AtomicBool,
    /// Held for a whole round: two rounds at once (the actor's and the shutdown drain)
    /// would publish the same rows twice.
    round: tokio::sync::Mutex<RoundState>,
}

/// What one round leaves to the next.
#[derive(Debug, Default)]
struct RoundState {
    /// Until when this replica holds the lease, as it last wrote it, so that most rounds
    /// need no lease write at all.
    lease_until: Option<DateTime<Utc>>,
    /// The background marker, started by the first round that has rows to mark.
    marker: Option<Marker>,
    /// A lease renewal written ahead of time, in the background (see `hold_lease`).
    renewal: Option<tokio::task::JoinHandle<Result<Option<DateTime<Utc>>, DbErr>>>,
}

/// Rows acknowledged and not marked yet (shared by the rounds and the marker).
#[derive(Debug, Default)]
struct Unmarked {
    ids: HashSet<i64>,
    /// `(topic, key)` of those rows, with how many rows each: their next events wait.
    keys: HashMap<(String, String), usize>,
    /// A marking that failed since the last round looked: that round's error.
    failure: Option<DbErr>,
}

impl Unmarked {
    fn add(&mut self, round: &AckedRound) {
        for (id, key) in &round.rows {
            self.ids.insert(*id);
            *self.keys.entry(key.clone()).or_default() += 1;
        }
    }

    fn remove(&mut self, round: &AckedRound) {
        for (id, key) in &round.rows {
            self.ids.remove(id);
            if let Some(count) = self.keys.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    self.keys.remove(key);
                }
            }
        }
    }
}

/// One round's acknowledged rows, for the marker.
#[derive(Debug)]
struct AckedRound {
    acked_at: DateTime<Utc>,
    /// Row id and `(topic, key)`.
    rows: Vec<(i64, (String, String))>,
}

/// Rows acknowledged before the marker caught up; past this, rounds wait for it.
const MAX_UNMARKED: usize = 4096;

/// The handle on the marker task (see the module documentation).
#[derive(Debug)]
struct Marker {
    queue: tokio::sync::mpsc::UnboundedSender<AckedRound>,
    unmarked: Arc<Mutex<Unmarked>>,
    /// Notified by the marker after each statement.
    progress: Arc<tokio::sync::Notify>,
}

impl Marker {
    /// Starts the marker task on the current runtime (the publisher's).
    fn start(db: DatabaseConnection) -> Self {
        let (queue, rounds) = tokio::sync::mpsc::unbounded_channel();
        let unmarked = Arc::new(Mutex::new(Unmarked::default()));
        let progress = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(run_marker(
            db,
            rounds,
            Arc::clone(&unmarked),
            Arc::clone(&progress),
        ));
        Marker {
            queue,
            unmarked,
            progress,
        }
    }

    fn unmarked(&self) -> MutexGuard<'_, Unmarked> {
        lock_unmarked(&self.unmarked)
    }

    /// Hands a round's acknowledged rows to the marker.
    fn mark(&self, round: AckedRound) -> Result<(), OutboxError> {
        self.unmarked().add(&round);
        self.queue.send(round).map_err(|_| {
            OutboxError::Database(DbErr::Custom("the outbox marker stopped".to_owned()))
        })
    }

    /// Waits until at most `left` rows are unmarked; a failed marking is the error.
    async fn settle(&self, left: usize) -> Result<(), OutboxError> {
        loop {
            let progress = self.progress.notified();
            {
                let mut unmarked = self.unmarked();
                if let Some(error) = unmarked.failure.take() {
                    return Err(OutboxError::Database(error));
                }
                if unmarked.ids.len() <= left {
                    return Ok(());
                }
            }
            progress.await;
        }
    }
}

fn lock_unmarked(unmarked: &Mutex<Unmarked>) -> MutexGuard<'_, Unmarked> {
    // Nothing panics while holding it; a poisoned set is still the right set.
    unmarked
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The marker: marks queued rounds, as many as are waiting, one statement each time.
async fn run_marker(
    db: DatabaseConnection,
    mut rounds: tokio::sync::mpsc::UnboundedReceiver<AckedRound>,
    unmarked: Arc<Mutex<Unmarked>>,
    progress: Arc<tokio::sync::Notify>,
) {
    let mut batch = Vec::new();
    while rounds.recv_many(&mut batch, 256).await > 0 {
        let result = mark_published(&db, &batch).await;
        {
            let mut unmarked = lock_unmarked(&unmarked);
            for round in &batch {
                unmarked.remove(round);
            }
            if let Err(error) = result {
                tracing::warn!(
                    actor = "OutboxActor",
                    %error,
                    rows = batch.iter().map(|round| round.rows.len()).sum::<usize>(),
                    "cannot mark published rows; they stay pending and are sent again"
                );
                unmarked.failure.get_or_insert(error);
            }
        }
        batch.clear();
        progress.notify_waiters();
    }
}

/// Sets `published_at` of every round's rows to that round's ack time, in one statement
/// (`CASE` on the rounds' ids): one write lock and one commit for the lot. A statement, not
/// an explicit transaction: a marker dropped mid-way (the runtime shutting down) must not
/// leave a MySQL transaction open, holding locks on the table.
async fn mark_published(db: &DatabaseConnection, rounds: &[AckedRound]) -> Result<(), DbErr> {
    let ids_of = |round: &AckedRound| round.rows.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    let Some((first, rest)) = rounds.split_first() else {
        return Ok(());
    };
    let mut ack_times = Expr::case(
        outbox::Column::Id.is_in(ids_of(first)),
        Expr::value(first.acked_at),
    );
    for round in rest {
        ack_times = ack_times.case(
            outbox::Column::Id.is_in(ids_of(round)),
            Expr::value(round.acked_at),
        );
    }
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::PublishedAt,
            ack_times
                .finally(Expr::col(outbox::Column::PublishedAt))
                .into(),
        )
        .filter(outbox::Column::Id.is_in(rounds.iter().flat_map(ids_of)))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes the lease for `replica` for `duration` if it holds it or nobody does (it
/// expired); the new expiry, or `None` when another replica holds it.
async fn write_lease(
    writer: DatabaseConnection,
    replica: String,
    duration: Duration,
) -> Result<Option<DateTime<Utc>>, DbErr> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
    let taken = outbox_lease::Entity::update_many()
        .col_expr(outbox_lease::Column::Owner, Expr::value(replica.clone()))
        .col_expr(outbox_lease::Column::ExpiresAt, Expr::value(until))
        .filter(outbox_lease::Column::Name.eq(LEASE_NAME))
        .filter(
            Condition::any()
                .add(outbox_lease::Column::Owner.eq(replica))
                .add(outbox_lease::Column::ExpiresAt.lt(now)),
        )
        .exec(&writer)
        .await?
        .rows_affected
        == 1;
    Ok(taken.then_some(until))
}

impl RoundState {
    /// Waits until nothing is left unmarked; a failed marking is the error (its rows stay
    /// pending and the next round sends them again).
    async fn finish_marking(&mut self) -> Result<(), OutboxError> {
        match &self.marker {
            Some(marker) => marker.settle(0).await,
            None => Ok(()),
        }
    }
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
    /// in turn, where a second connection waits for SQLite's write lock in a busy handler
    /// that sleeps 1, 2, 5, 10 ms… between tries, and makes the requests behind the lock
    /// sleep too (POST /users at concurrency 64 ran at 0.45 of its limit that way).
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

    /// One round; with `settle_when_empty` false, [`PublishOutcome::Empty`] only means
    /// nothing is left to send (the marker may still be writing, see
    /// [`OutboxPublisher::publish_available`]).
    async fn round(&self, settle_when_empty: bool) -> Result<PublishOutcome, OutboxError> {
        let round_started = Instant::now();
        let mut state = self.round.lock().await;
        if !self.hold_lease(&mut state).await? {
            state.finish_marking().await?;
            return Ok(PublishOutcome::Standby);
        }
        if let Some(marker) = &state.marker {
            // A failed marking is this round's error; too many waiting rows, a pause.
            marker.settle(MAX_UNMARKED).await?;
        }
        let (marking_ids, marking_keys): (HashSet<i64>, HashSet<(String, String)>) = state
            .marker
            .as_ref()
            .map(|marker| {
                let unmarked = marker.unmarked();
                (
                    unmarked.ids.clone(),
                    unmarked.keys.keys().cloned().collect(),
                )
            })
            .unwrap_or_default();
        let rows = self.oldest_pending(&marking_ids).await?;
        let read_done = Instant::now();
        if rows.is_empty() {
            if settle_when_empty {
                state.finish_marking().await?;
            }
            return Ok(PublishOutcome::Empty);
        }
        // One row per key and topic per round: a key's next event is sent only after the
        // previous one was acknowledged (and marked), so no failure, whatever its kind, can
        // let a later event of an aggregate reach the topic before an earlier one.
        let mut rows = first_row_per_key(&rows, &marking_keys);
        if rows.is_empty() {
            // Every key waits for the marking: wait with them.
            state.finish_marking().await?;
            let all = self.oldest_pending(&HashSet::new()).await?;
            rows = first_row_per_key(&all, &HashSet::new());
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
        let acks_done = Instant::now();
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
        tracing::debug!(
            actor = "OutboxActor",
            rows = rows.len(),
            read_ms = (read_done - round_started).as_secs_f64() * 1000.0,
            send_to_ack_ms = (acks_done - read_done).as_secs_f64() * 1000.0,
            "outbox round"
        );
        if !published.is_empty() {
            let ids: HashSet<i64> = published.iter().copied().collect();
            let round = AckedRound {
                acked_at,
                rows: rows
                    .iter()
                    .filter(|row| ids.contains(&row.id))
                    .map(|row| (row.id, (row.topic.clone(), row.event_key.clone())))
                    .collect(),
            };
            state
                .marker
                .get_or_insert_with(|| Marker::start(self.writer.clone()))
                .mark(round)?;
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
                    .exec(&self.writer)
                    .await?;
                Err(OutboxError::Publish {
                    attempted: rows.len(),
                    failed: failed.len(),
                    first_error,
                })
            }
        }
    }

    /// The oldest pending rows (one batch), leaving out `skip` (acknowledged, waiting for
    /// the marker). The ids come first, from the `(published_at, id)` index alone, and only
    /// the batch's rows are read whole: while the marker lags behind the request
    /// transactions (on SQLite it waits for the request pool's one connection), up to
    /// [`MAX_UNMARKED`] rows are still pending in the table, and reading them whole each
    /// round, payload and all, only to drop them, cost the CPU the requests needed.
    async fn oldest_pending(&self, skip: &HashSet<i64>) -> Result<Vec<outbox::Model>, DbErr> {
        let pending: Vec<i64> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(self.batch_size + skip.len() as u64)
            .into_tuple()
            .all(&self.db)
            .await?;
        let batch: Vec<i64> = pending
            .into_iter()
            .filter(|id| !skip.contains(id))
            .take(usize::try_from(self.batch_size).unwrap_or(usize::MAX))
            .collect();
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        outbox::Entity::find()
            .filter(outbox::Column::Id.is_in(batch))
            .filter(outbox::Column::PublishedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .all(&self.db)
            .await
    }

    /// The lease write for this replica, to run now or in the background.
    fn lease_write(
        &self,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, DbErr>> + Send + 'static {
        write_lease(
            self.writer.clone(),
            self.replica_id.clone(),
            self.lease_duration,
        )
    }

    /// Takes or renews the outbox lease; `false` when another replica holds it. Checked at
    /// the start of every round, and a round never outlives the lease, so two replicas
    /// never publish at once: a round starts on the lease already held only while that has
    /// `lease_needed` left (the longest round plus a margin). With the defaults (45 s lease,
    /// 30 s message timeout, 10 s margin) that is one lease write every few seconds under
    /// load instead of one per round, and it is written in the background, ahead of time:
    /// once less than `lease_needed` plus half the slack is left, a renewal is spawned
    /// while the rounds go on. On SQLite that write waits for the request pool's one
    /// connection; a round that waited for it held back every row committed meanwhile
    /// (commit -> ack p99 414 ms instead of 14 in the benchmark). A round waits for a lease
    /// write only when the lease is not held or is about to run short.
    async fn hold_lease(&self, state: &mut RoundState) -> Result<bool, DbErr> {
        if let Some(renewal) = state.renewal.take_if(|task| task.is_finished()) {
            match renewal.await {
                Ok(Ok(until)) => state.lease_until = until,
                // The synchronous path below tries again if the lease runs short.
                Ok(Err(error)) => {
                    tracing::debug!(actor = "OutboxActor", %error, "lease renewal failed");
                }
                Err(error) => {
                    tracing::debug!(actor = "OutboxActor", %error, "lease renewal did not finish");
                }
            }
        }
        let now = Utc::now();
        let needed = chrono::Duration::from_std(self.lease_needed).unwrap_or(chrono::Duration::MAX);
        let slack =
            chrono::Duration::from_std(self.lease_duration.saturating_sub(self.lease_needed))
                .unwrap_or_default();
        if let Some(until) = state.lease_until
            && until - now >= needed
        {
            if until - now < needed + slack / 2 && state.renewal.is_none() {
                state.renewal = Some(tokio::spawn(self.lease_write()));
            }
            return Ok(true);
        }
        state.lease_until = None;
        // A renewal in flight may already have done it; else write now.
        let mut until = match state.renewal.take() {
            Some(renewal) => renewal.await.ok().and_then(Result::ok).flatten(),
            None => None,
        };
        if until.is_none_or(|until| until - Utc::now() < needed) {
            until = self.lease_write().await?;
        }
        state.lease_until = until;
        let taken = until.is_some();
        let was_leading = self.leading.swap(taken, Ordering::Relaxed);
        if taken && !was_leading {
            tracing::info!(actor = "OutboxActor", replica = %self.replica_id, "outbox lease taken: this replica publishes");
        } else if !taken && was_leading {
            tracing::warn!(actor = "OutboxActor", replica = %self.replica_id, "outbox lease lost: another replica publishes");
        } else if !taken {
            tracing::debug!(actor = "OutboxActor", replica = %self.replica_id, "another replica holds the outbox lease");
        }
        Ok(taken)
    }

    /// Gives the lease up (graceful shutdown), so another replica takes over at once
    /// instead of after the lease expires.
    pub async fn release_lease(&self) -> Result<(), OutboxError> {
        let mut state = self.round.lock().await;
        state.finish_marking().await?;
        // A renewal still in flight must not take the lease back after the release.
        if let Some(renewal) = state.renewal.take() {
            let _ = renewal.await;
        }
        state.lease_until = None;
        outbox_lease::Entity::update_many()
            .col_expr(outbox_lease::Column::Owner, Expr::value(String::new()))
            .col_expr(
                outbox_lease::Column::ExpiresAt,
                Expr::value(DateTime::<Utc>::UNIX_EPOCH),
            )
            .filter(outbox_lease::Column::Name.eq(LEASE_NAME))
            .filter(outbox_lease::Column::Owner.eq(self.replica_id.clone()))
            .exec(&self.writer)
            .await?;
        self.leading.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes until nothing is left to send, without waiting for the marker to mark the
    /// last rounds: what the OutboxActor runs on every wake. Waiting there (up to the
    /// 30-250 ms a SQLite write waits for the lock under load, measured) held back the
    /// rows committed meanwhile. Returns how many rows were published.
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
                .exec(&self.writer)
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

/// The first row of each `(topic, key)` of `rows` (which are in id order), leaving out
/// the keys in `waiting`.
fn first_row_per_key(
    rows: &[outbox::Model],
    waiting: &HashSet<(String, String)>,
) -> Vec<outbox::Model> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter(|row| {
            let key = (row.topic.clone(), row.event_key.clone());
            !waiting.contains(&key) && seen.insert(key)
        })
        .cloned()
        .collect()
}

/// Rows not yet acknowledged by the broker (metrics read it through the request pool).
pub async fn pending_rows(db: &DatabaseConnection) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(db)
        .await
}

/// How long the oldest unpublished row has waited, in seconds (0 when none).
pub async fn oldest_pending_age(db: &DatabaseConnection) -> Result<f64, DbErr> {
    let oldest = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .one(db)
        .await?;
    Ok(oldest.map_or(0.0, |row| {
        (Utc::now() - row.created_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64()
    }))
}
