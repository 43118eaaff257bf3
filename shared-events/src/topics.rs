//! Topic and header names. Both services import these so a rename cannot drift apart.

/// Every user event, keyed by user id so one user's events stay in order.
pub const USER_EVENTS: &str = "user-events";

/// Dead letters for [`USER_EVENTS`]: messages that could not be decoded or handled.
pub const USER_EVENTS_DLQ: &str = "user-events.dlq";

/// Every order event, keyed by order id so one order's events stay in order.
pub const ORDER_EVENTS: &str = "order-events";

/// Dead letters for [`ORDER_EVENTS`].
pub const ORDER_EVENTS_DLQ: &str = "order-events.dlq";

/// The dead-letter topic of any source topic (`<topic>.dlq`).
pub fn dead_letter_topic(source_topic: &str) -> String {
    format!("{source_topic}.dlq")
}

/// Header carrying the event's UUID, so consumers can deduplicate without parsing the body.
pub const HEADER_EVENT_ID: &str = "event_id";
/// Header carrying the event type name (`UserCreated`, ...).
pub const HEADER_EVENT_TYPE: &str = "event_type";

/// Dead-letter headers: where the message came from and why it was set aside.
pub const HEADER_DLQ_SOURCE_TOPIC: &str = "dlq.source.topic";
pub const HEADER_DLQ_SOURCE_PARTITION: &str = "dlq.source.partition";
pub const HEADER_DLQ_SOURCE_OFFSET: &str = "dlq.source.offset";
pub const HEADER_DLQ_ERROR: &str = "dlq.error";
pub const HEADER_DLQ_ATTEMPTS: &str = "dlq.attempts";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_topic_appends_suffix() {
        assert_eq!(dead_letter_topic(USER_EVENTS), USER_EVENTS_DLQ);
    }
}
