//! The outbox lease: only the replica holding it publishes. It is checked at the start of
//! every round, but written only when it runs short: a round starts on the lease already
//! held while that has `lease_needed` left (the longest round plus a margin), and once less
//! than `lease_needed` plus half the slack is left a renewal is written in the background
//! while the rounds go on. A round waits for a lease write only when the lease is not held
//! or is about to run short. The figures behind this are in ADR 0009.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait as _, Condition, DatabaseConnection, DbErr, EntityTrait as _, QueryFilter as _,
};

use super::publisher::{OutboxError, OutboxPublisher};
use super::round::RoundState;
use crate::entities::outbox_lease;

/// The lease row's name (one outbox, one lease).
const LEASE_NAME: &str = "outbox";

/// A lease renewal written ahead of time, in the background: the new expiry, or `None`
/// when another replica holds the lease.
pub(super) type Renewal = tokio::task::JoinHandle<Result<Option<DateTime<Utc>>, DbErr>>;

impl OutboxPublisher {
    /// Takes or renews the outbox lease; `false` when another replica holds it. Checked at
    /// the start of every round, and a round never outlives the lease, so two replicas
    /// never publish at once (see the module documentation for when it is written).
    pub(super) async fn hold_lease(&self, state: &mut RoundState) -> Result<bool, DbErr> {
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
        self.log_leadership(until.is_some());
        Ok(until.is_some())
    }

    /// Logs a change of holder (and, at debug, every round this replica stands by).
    fn log_leadership(&self, taken: bool) {
        let was_leading = self.leading.swap(taken, Ordering::Relaxed);
        if taken && !was_leading {
            tracing::info!(actor = "OutboxActor", replica = %self.replica_id, "outbox lease taken: this replica publishes");
        } else if !taken && was_leading {
            tracing::warn!(actor = "OutboxActor", replica = %self.replica_id, "outbox lease lost: another replica publishes");
        } else if !taken {
            tracing::debug!(actor = "OutboxActor", replica = %self.replica_id, "another replica holds the outbox lease");
        }
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
