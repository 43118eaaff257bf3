//! What travels between a partition actor and the handler actors: the typed [`Deliver`]
//! message (an event and its [`EventContext`]), the [`Routable`] payloads a handler can ask
//! for, and the [`HandlerError`] it answers with.
//!
//! Both sides use these and neither owns them: the [`Registry`](crate::registry::Registry)
//! and the partition actor send them, the [`handlers`](crate::handlers) receive them. So
//! they live here, below both, and this module imports neither.

use std::sync::Arc;

use actix::Message;
use shared_events::{
    Event, EventEnvelope, EventType, LabDateTime, OrderCreated, OrderDeleted, OrderPaid,
    UserCreated, UserDeleted,
};
use uuid::Uuid;

/// Where a message came from, for handlers that log or record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka key, read as UTF-8 (our keys are aggregate ids: the user id for user
    /// events, the order id for order events); `None` for the lab's messages.
    pub key: Option<String>,
    /// The message timestamp the broker holds (create or log-append time), in ms.
    pub timestamp_ms: Option<i64>,
    /// `None` for the lab's messages, which are identified by topic/partition/offset.
    pub event_id: Option<Uuid>,
    /// The event's own timestamp, the lab's `datetime` field.
    pub datetime: LabDateTime,
}

impl EventContext {
    /// The span of the work for this message: `event{event_id, event_type, topic,
    /// partition, offset}`, `event_id` as the store logs it (absent for the lab's
    /// messages), `event_type` left for the caller to record when it knows it. Entered by
    /// the partition actor and by each handler actor, so one event can be followed from
    /// the store's request log to the files written for it.
    pub fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "event",
            event_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            topic = %self.topic,
            partition = self.partition,
            offset = self.offset,
        );
        if let Some(event_id) = self.event_id {
            span.record("event_id", tracing::field::display(event_id));
        }
        span
    }

    /// Where a decoded message came from: its topic, partition, offset, key and broker
    /// timestamp, with the event's own id and time.
    pub fn of<M: rdkafka::Message>(message: &M, envelope: &EventEnvelope) -> Self {
        EventContext {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|key| String::from_utf8_lossy(key).into_owned()),
            timestamp_ms: message.timestamp().to_millis(),
            event_id: envelope.event_id,
            datetime: envelope.datetime,
        }
    }
}

/// The typed message a handler actor receives: the event it asked for and its origin.
#[derive(Debug, Clone)]
pub struct Deliver<T> {
    pub event: T,
    pub context: Arc<EventContext>,
}

impl<T: Send + 'static> Message for Deliver<T> {
    /// Acknowledgement: `Ok` once the work is durable; an error to retry or dead-letter.
    type Result = Result<(), HandlerError>;
}

/// A payload a handler can subscribe to: the event types it covers and how to take it
/// out of a decoded envelope.
pub trait Routable: Clone + Send + 'static {
    const EVENT_TYPES: &'static [EventType];
    fn extract(envelope: &EventEnvelope) -> Option<Self>;
}

/// Each event struct is routable on its own: `Event::$name($name)` has type `$name`.
macro_rules! routable_event {
    ($($name:ident),+ $(,)?) => {$(
        impl Routable for $name {
            const EVENT_TYPES: &'static [EventType] = &[EventType::$name];
            fn extract(envelope: &EventEnvelope) -> Option<Self> {
                match &envelope.event {
                    Event::$name(event) => Some(event.clone()),
                    _ => None,
                }
            }
        }
    )+};
}

routable_event!(
    UserCreated,
    UserDeleted,
    OrderCreated,
    OrderPaid,
    OrderDeleted
);

/// Every event, whole (the history wants them all).
impl Routable for EventEnvelope {
    const EVENT_TYPES: &'static [EventType] = &EventType::ALL;
    fn extract(envelope: &EventEnvelope) -> Option<Self> {
        Some(envelope.clone())
    }
}

/// Why a handler did not finish its work. Carried as text: actor replies cross threads
/// and are logged or written into a dead-letter header, never matched on by cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// May work next time (I/O, a full disk, a busy actor): retried with backoff.
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way every time (a template that cannot render this event):
    /// dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
    /// The handler panicked; its actor was restarted and the message is retried.
    #[error("handler panicked: {0}")]
    Panicked(String),
    /// The output storage cannot take writes now (full, read-only, over quota): retried
    /// with backoff for as long as it lasts, never dead-lettered, since the same message
    /// works once space returns (see [`HandlerError::from_io`]).
    #[error("{0}")]
    Storage(String),
}

impl HandlerError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, HandlerError::Permanent(_))
    }

    /// An I/O failure of the output, described by `what`: [`HandlerError::Storage`] when
    /// the storage itself refuses writes (no space, quota, read-only), else transient.
    pub fn from_io(what: impl std::fmt::Display, error: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        let text = format!("{what}: {error}");
        match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::ReadOnlyFilesystem => {
                HandlerError::Storage(text)
            }
            _ => HandlerError::Transient(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_read_only_disk_is_a_storage_error_and_the_rest_transient() {
        use std::io::{Error, ErrorKind};
        for kind in [
            ErrorKind::StorageFull,
            ErrorKind::QuotaExceeded,
            ErrorKind::ReadOnlyFilesystem,
        ] {
            let error = HandlerError::from_io("cannot write welcome_1.html", &Error::from(kind));
            assert!(
                matches!(error, HandlerError::Storage(_)),
                "{kind:?}: {error:?}"
            );
            assert!(
                error
                    .to_string()
                    .starts_with("cannot write welcome_1.html: ")
            );
        }
        let other = HandlerError::from_io("x", &Error::from(ErrorKind::PermissionDenied));
        assert!(matches!(other, HandlerError::Transient(_)), "{other:?}");
        // ENOSPC as the kernel reports it.
        let enospc = HandlerError::from_io("x", &Error::from_raw_os_error(28));
        assert!(matches!(enospc, HandlerError::Storage(_)), "{enospc:?}");
    }

    #[test]
    fn each_event_struct_is_taken_out_of_its_own_event_only() {
        use shared_events::{Money, UserType};
        let paid = OrderPaid {
            id: 12,
            user_id: 7,
            user_name: "Ada".into(),
            user_email: "ada@example.com".into(),
            user_type: UserType::Manager,
            items: Vec::new(),
            total: Money::ZERO,
        };
        let envelope = EventEnvelope::new(Event::OrderPaid(paid.clone()));
        assert_eq!(OrderPaid::extract(&envelope), Some(paid));
        assert_eq!(OrderCreated::extract(&envelope), None);
        assert_eq!(OrderDeleted::extract(&envelope), None);
        assert_eq!(UserCreated::extract(&envelope), None);
        assert_eq!(OrderCreated::EVENT_TYPES, [EventType::OrderCreated]);
        assert_eq!(OrderPaid::EVENT_TYPES, [EventType::OrderPaid]);
        assert_eq!(OrderDeleted::EVENT_TYPES, [EventType::OrderDeleted]);
        assert_eq!(<EventEnvelope as Routable>::EVENT_TYPES, EventType::ALL);
    }
}
