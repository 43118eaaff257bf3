//! The transactional outbox: an event is written in the same transaction as the change it
//! describes ([`enqueue`]), and published to Kafka after commit by the [`OutboxActor`].
//!
//! # Why not publish after commit, as the lab did?
//! A process that commits and then crashes (or finds Kafka down) loses the event; one that
//! publishes before committing announces changes that may roll back. With the outbox the
//! event exists if and only if the change committed, and publication is retried until the
//! broker acknowledges it.
//!
//! # Order
//! Rows are published in `id` order, a round at a time, with an idempotent producer. A
//! round sends at most one row per key (aggregate), so a key's next event is sent only
//! after the previous one was acknowledged: a later event for a user or an order never
//! reaches the topic before an earlier one, whatever fails. When a message fails, the
//! round's successes are marked, the failed rows stay pending and a later round (woken by
//! the fallback poll) starts again from the oldest pending row.
//!
//! # Several replicas
//! Any number of store-manager processes may share one database. Only the holder of the
//! outbox lease (`outbox_lease` table) publishes; the others answer requests and stand by
//! ([`PublishOutcome::Standby`]). Every round checks the lease, but it is written only when
//! it runs short: renewed in the background once less than the longest round plus a
//! margin and half the slack is left, and written before the round only when the lease is
//! not held or is about to run out (see `lease.rs`). A holder that stops gracefully
//! releases the lease; one that dies loses it when it expires (`OUTBOX_LEASE_SECS`), or at
//! once if it restarts with the same replica id (host name and port by default).
//!
//! # Files
//! - `actor.rs`: the [`OutboxActor`], which runs the rounds (woken, polled, at start-up).
//! - `publisher.rs`: the [`OutboxPublisher`], its settings and public steps.
//! - `round.rs`: one round: read the pending rows, send them, sort the broker's answers.
//! - `lease.rs`: the replica lease: take, renew ahead of time, release.
//! - `marker.rs`: marking acknowledged rows published (in the background), recording
//!   failed sends, the clean-up past retention.
//! - `queries.rs`: the reads (the next batch, the gauges).
//! - `waker.rs`: what the services need: the topics and the [`OutboxWaker`] they tell after
//!   each commit.

mod actor;
mod lease;
mod marker;
mod publisher;
mod queries;
mod round;
mod waker;

pub use actor::{OutboxActor, OutboxHealth, OutboxState, OutboxSupervision, StopPublishing, Wake};
pub use publisher::{OutboxError, OutboxPublisher, PublishOutcome, producer_config};
pub use queries::{oldest_pending_age, pending_rows};
pub use waker::{EventSink, OutboxWaker};

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait as _, Set};
use shared_events::{Event, EventEnvelope};

use crate::entities::outbox;
use crate::topics::Topics;

/// Wraps `event` in a new envelope and writes it to the outbox on `connection` (the
/// transaction making the change), on the topic `topics` names for its type. Returns the
/// event's id.
pub async fn enqueue_event(
    connection: &impl ConnectionTrait,
    topics: &Topics,
    event: Event,
) -> Result<uuid::Uuid, DbErr> {
    let envelope = EventEnvelope::new(event);
    enqueue(
        connection,
        topics.for_event(envelope.event_type()),
        &envelope,
    )
    .await
}

/// Writes `envelope` to the outbox on `connection`, which should be the transaction that
/// makes the change the event describes. Returns the event's id.
pub async fn enqueue(
    connection: &impl ConnectionTrait,
    topic: &str,
    envelope: &EventEnvelope,
) -> Result<uuid::Uuid, DbErr> {
    let payload = String::from_utf8(envelope.encode())
        .map_err(|error| DbErr::Custom(format!("event payload is not UTF-8: {error}")))?;
    let event_id = envelope
        .event_id
        .ok_or_else(|| DbErr::Custom("an outgoing event must have an event_id".to_owned()))?;
    // `Entity::insert`, not `ActiveModel::insert`: the latter reads the row back, which on
    // MySQL is one more round trip (a SELECT after the INSERT) in every write request.
    let row = outbox::ActiveModel {
        event_id: Set(event_id.to_string()),
        topic: Set(topic.to_owned()),
        event_key: Set(envelope.event.key()),
        event_type: Set(envelope.event_type().as_str().to_owned()),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        published_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        ..Default::default()
    };
    outbox::Entity::insert(row).exec(connection).await?;
    Ok(event_id)
}
