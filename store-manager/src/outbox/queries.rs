//! The reads of the outbox table: the next batch of pending rows for a round, and the
//! gauges (`/metrics`, readiness).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::entities::outbox;

/// The oldest pending rows (`batch_size` of them), leaving out `skip` (acknowledged,
/// waiting for the marker). The ids come first, from the `(published_at, id)` index alone,
/// and only the batch's rows are read whole: while the marker lags behind the request
/// transactions (on SQLite it waits for the request pool's one connection), up to
/// `MAX_UNMARKED` rows are still pending in the table, and
/// reading them whole each round, payload and all, only to drop them, would take the CPU
/// the requests need.
pub(super) async fn oldest_pending(
    db: &DatabaseConnection,
    batch_size: u64,
    skip: &HashSet<i64>,
) -> Result<Vec<outbox::Model>, DbErr> {
    let pending: Vec<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .limit(batch_size + skip.len() as u64)
        .into_tuple()
        .all(db)
        .await?;
    let batch: Vec<i64> = pending
        .into_iter()
        .filter(|id| !skip.contains(id))
        .take(usize::try_from(batch_size).unwrap_or(usize::MAX))
        .collect();
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    outbox::Entity::find()
        .filter(outbox::Column::Id.is_in(batch))
        .filter(outbox::Column::PublishedAt.is_null())
        .order_by_asc(outbox::Column::Id)
        .all(db)
        .await
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
