//! The marker: sets `published_at` on the rows the broker acknowledged, in the background,
//! so a round never waits for a database write before the next one starts (that write
//! waits for the write lock behind the request transactions, and every row committed
//! meanwhile would wait with it). The marker takes whatever rounds have queued and marks
//! them in one statement (one lock, one sync), each round's rows getting its own ack time.
//!
//! Until its rows are marked, a round's ids and keys stay in [`Unmarked`]: the next rounds
//! skip those rows, and every key they belong to. A key's next event is sent only once its
//! previous one is both acknowledged and marked, so if a marking fails (the rows stay
//! pending, leave [`Unmarked`] and are sent again) the copies still come before that key's
//! later events; the failure is the next round's error. At most [`MAX_UNMARKED`] rows wait
//! for the marker before rounds wait for it too.
//!
//! Also here: the other writes to the rows, a failed send's `attempts` and `last_error`,
//! and the clean-up of rows published past their retention.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _,
};
use tokio::sync::{Notify, mpsc};

use super::publisher::{OutboxError, OutboxPublisher};
use crate::entities::outbox;

/// Rows acknowledged before the marker caught up; past this, rounds wait for it.
pub(super) const MAX_UNMARKED: usize = 4096;

/// `(topic, key)`: the rows of one key are published in order.
pub(super) type TopicKey = (String, String);

/// Rows acknowledged and not marked yet (shared by the rounds and the marker).
#[derive(Debug, Default)]
pub(super) struct Unmarked {
    pub(super) ids: HashSet<i64>,
    /// `(topic, key)` of those rows, with how many rows each: their next events wait.
    pub(super) keys: HashMap<TopicKey, usize>,
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
pub(super) struct AckedRound {
    pub(super) acked_at: DateTime<Utc>,
    /// Row id and `(topic, key)`.
    pub(super) rows: Vec<(i64, TopicKey)>,
}

/// The handle on the marker task (see the module documentation).
#[derive(Debug)]
pub(super) struct Marker {
    queue: mpsc::UnboundedSender<AckedRound>,
    unmarked: Arc<Mutex<Unmarked>>,
    /// Notified by the marker after each statement.
    progress: Arc<Notify>,
}

impl Marker {
    /// Starts the marker task on the current runtime (the publisher's).
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let (queue, rounds) = mpsc::unbounded_channel();
        let unmarked = Arc::new(Mutex::new(Unmarked::default()));
        let progress = Arc::new(Notify::new());
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

    pub(super) fn unmarked(&self) -> MutexGuard<'_, Unmarked> {
        lock_unmarked(&self.unmarked)
    }

    /// Hands a round's acknowledged rows to the marker.
    pub(super) fn mark(&self, round: AckedRound) -> Result<(), OutboxError> {
        self.unmarked().add(&round);
        self.queue.send(round).map_err(|_| {
            OutboxError::Database(DbErr::Custom("the outbox marker stopped".to_owned()))
        })
    }

    /// Waits until at most `left` rows are unmarked; a failed marking is the error.
    pub(super) async fn settle(&self, left: usize) -> Result<(), OutboxError> {
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
    mut rounds: mpsc::UnboundedReceiver<AckedRound>,
    unmarked: Arc<Mutex<Unmarked>>,
    progress: Arc<Notify>,
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

/// Counts one more attempt, and `error`, on the rows the broker did not acknowledge.
pub(super) async fn record_failure(
    db: &DatabaseConnection,
    failed: &[i64],
    error: &str,
) -> Result<(), DbErr> {
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .col_expr(outbox::Column::LastError, Expr::value(error.to_owned()))
        .filter(outbox::Column::Id.is_in(failed.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

impl OutboxPublisher {
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
}
