//! Which topic each event type goes to. The defaults are the contract's names
//! ([`shared_events::topics`]); tests give each run its own topic.

use shared_events::{EventType, topics};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub user_events: String,
    pub order_events: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            user_events: topics::USER_EVENTS.to_owned(),
            order_events: topics::ORDER_EVENTS.to_owned(),
        }
    }
}

impl Topics {
    pub fn for_event(&self, event_type: EventType) -> &str {
        match event_type {
            EventType::UserCreated | EventType::UserDeleted => &self.user_events,
            EventType::OrderCreated | EventType::OrderPaid | EventType::OrderDeleted => {
                &self.order_events
            }
        }
    }
}
