//! What a service needs of the outbox to write events: the topic each event type goes to,
//! and whom to tell once the transaction that wrote them has committed ([`EventSink`]).
//! The application's sink is the [`OutboxWaker`], which wakes the OutboxActor so the rows
//! are published at once instead of at the next fallback poll.

use std::sync::Arc;

use actix::Recipient;

use super::Wake;
use crate::topics::Topics;

/// Where a service's events go: [`EventSink::topics`] names each event's topic when it is
/// written to the outbox, and [`EventSink::committed`] is called by the service right after
/// the transaction that wrote them committed.
pub trait EventSink: Sync {
    fn topics(&self) -> &Topics;

    /// The transaction that wrote this sink's events committed.
    fn committed(&self);
}

/// Topics alone wake nobody: the rows wait in the outbox for the publisher's next poll
/// (what the benchmark's limit measures: the write transaction alone).
impl EventSink for Topics {
    fn topics(&self) -> &Topics {
        self
    }

    fn committed(&self) {}
}

impl<T: EventSink + Send + ?Sized> EventSink for Arc<T> {
    fn topics(&self) -> &Topics {
        T::topics(self)
    }

    fn committed(&self) {
        T::committed(self);
    }
}

/// The application's sink: the configured topics, and the OutboxActor, woken after every
/// commit (DESIGN §1: no polling delay).
#[derive(Debug, Clone)]
pub struct OutboxWaker {
    topics: Topics,
    actor: Recipient<Wake>,
}

impl OutboxWaker {
    pub fn new(topics: Topics, actor: Recipient<Wake>) -> Self {
        OutboxWaker { topics, actor }
    }
}

impl EventSink for OutboxWaker {
    fn topics(&self) -> &Topics {
        &self.topics
    }

    fn committed(&self) {
        self.actor.do_send(Wake);
    }
}
