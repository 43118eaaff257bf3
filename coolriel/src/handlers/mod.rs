//! Handlers: the work done for each event, and the supervised actor that runs them all.
//!
//! A handler is a plain synchronous [`EventHandler`]; [`HandlerActor`] runs it as an actix
//! actor meant to be started under [`actix::Supervisor`] (see [`actor`]: panics become
//! restarts, work is made durable in batches before it is acknowledged). Every handler of
//! the service runs in one:
//!
//! | actor (name in logs and metrics) | handler                                        | event          |
//! |----------------------------------|------------------------------------------------|----------------|
//! | [`UserCreatedActor`]             | [`Emails`]`<UserCreated>`: welcome             | `UserCreated`  |
//! | [`UserDeletedActor`]             | [`Emails`]`<UserDeleted>`: goodbye             | `UserDeleted`  |
//! | [`OrderCreatedActor`]            | [`Emails`]`<OrderCreated>`: order confirmation | `OrderCreated` |
//! | [`OrderPaidActor`]               | [`Emails`]`<OrderPaid>`: payment receipt       | `OrderPaid`    |
//! | [`HistoryActor`]                 | [`History`]: a line of `history.jsonl`         | every event    |
//!
//! # Durable in batches
//! A message is acknowledged once its work is durable, since the acknowledgement lets the
//! partition actor commit its offset. A handler whose work is not durable when
//! [`EventHandler::handle`] returns says so with [`EventHandler::has_unsynced_work`]: the
//! email handlers link whole files into place but leave them in the page cache, the
//! history keeps its lines in memory. The actor then holds the acknowledgement and makes a
//! whole batch durable at once with [`EventHandler::make_durable`] (one file-system sync
//! for the emails, one append and `fdatasync` for the history): when
//! [`SyncBatch::max_messages`] wait, or [`SyncBatch::interval`] after the first of them
//! arrived, and before the actor stops. One sync per batch instead of one per message is
//! what lets the handlers keep up with the topic.

pub mod actor;
pub mod email;
pub mod history;

use std::time::Duration;

pub use actor::HandlerActor;
pub use email::{
    EmailEvent, Emails, OrderCreatedActor, OrderPaidActor, UserCreatedActor, UserDeletedActor,
};
pub use history::{History, HistoryActor, HistoryRecord};

use crate::delivery::{EventContext, HandlerError, Routable};

/// The work done for one kind of event. Runs on its actor's own arbiter thread, so
/// blocking file I/O is fine here.
pub trait EventHandler: Unpin + Send + 'static {
    /// The payload it handles (`UserCreated`, `OrderPaid`, ..., or `EventEnvelope` for all).
    type Event: Routable;
    /// The actor's name in logs, dead-letter reasons and the registry.
    const NAME: &'static str;
    /// Whether [`EventHandler::handle`] runs in the event's span (`event{event_id, ...}`,
    /// see [`EventContext::span`]), so that what it logs can be followed by event id. A
    /// span is made for every message, which is not free: a handler that logs nothing per
    /// event says false.
    const IN_EVENT_SPAN: bool = true;

    /// Handle one event. Must be idempotent: a message is delivered at least once.
    fn handle(&mut self, event: Self::Event, context: &EventContext) -> Result<(), HandlerError>;

    /// Whether work done by `handle` is not durable yet (see the module documentation);
    /// the default, false, acknowledges each message as soon as `handle` returns.
    fn has_unsynced_work(&self) -> bool {
        false
    }

    /// Make durable everything `handle` did since the last call. An error fails every
    /// message of the batch, which the partition actors retry.
    fn make_durable(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    /// Called when the actor restarts after a panic: drop whatever state the panic may
    /// have left half-updated.
    fn restarted(&mut self) {}
}

/// When a handler's waiting work is made durable (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncBatch {
    /// Sync as soon as this many messages wait.
    pub max_messages: usize,
    /// Sync this long after the first waiting message arrived.
    pub interval: Duration,
}

impl Default for SyncBatch {
    fn default() -> Self {
        SyncBatch {
            max_messages: 256,
            interval: Duration::from_millis(5),
        }
    }
}
