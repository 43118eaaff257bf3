//! Typed domain events: past tense, one struct per event, each with a type and a version.

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::topics;
use crate::user_type::UserType;

/// The schema version written by this build. Readers accept any version: fields are only
/// ever added, so an old reader ignores what it does not know and a new reader fills the
/// defaults of an old message (see [`crate::envelope`]).
pub const CURRENT_VERSION: u16 = 1;

/// A user was created. Fields as in the lab's message, plus the user's type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// The user's id in the store's database; also the Kafka key.
    pub id: i64,
    pub name: String,
    pub email: String,
    /// Absent in the lab's messages, which then meant a client.
    #[serde(rename = "user_type_id", default)]
    pub user_type: UserType,
}

/// A user was deleted. Carries the user as it was, so the goodbye email can be written
/// without a database the consumer does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDeleted {
    pub id: i64,
    pub name: String,
    pub email: String,
    #[serde(rename = "user_type_id", default)]
    pub user_type: UserType,
}

/// One line of an order, with the product's name and price at the time of the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    pub product_id: i64,
    pub name: String,
    pub sku: String,
    pub unit_price: Money,
    pub quantity: i64,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// An order was placed. Carries the customer and the lines as they were, so the
/// confirmation email needs no database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreated {
    /// The order's id; also the Kafka key.
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    #[serde(rename = "user_type_id", default)]
    pub user_type: UserType,
    pub items: Vec<OrderItem>,
    pub total: Money,
}

/// An order became paid (`is_paid` went from false to true).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaid {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    #[serde(rename = "user_type_id", default)]
    pub user_type: UserType,
    pub items: Vec<OrderItem>,
    pub total: Money,
}

/// An order was deleted and its stock put back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDeleted {
    pub id: i64,
    pub user_id: i64,
    pub user_name: String,
    pub user_email: String,
    #[serde(rename = "user_type_id", default)]
    pub user_type: UserType,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub was_paid: bool,
}

/// Every event the system publishes. The `event` field of the JSON names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    UserCreated(UserCreated),
    UserDeleted(UserDeleted),
    OrderCreated(OrderCreated),
    OrderPaid(OrderPaid),
    OrderDeleted(OrderDeleted),
}

/// The name of an event type, as written in the `event` field and the `event_type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    UserCreated,
    UserDeleted,
    OrderCreated,
    OrderPaid,
    OrderDeleted,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::UserCreated,
        EventType::UserDeleted,
        EventType::OrderCreated,
        EventType::OrderPaid,
        EventType::OrderDeleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "UserCreated",
            EventType::UserDeleted => "UserDeleted",
            EventType::OrderCreated => "OrderCreated",
            EventType::OrderPaid => "OrderPaid",
            EventType::OrderDeleted => "OrderDeleted",
        }
    }

    /// `None` for a type this build does not know; consumers skip those (the lab does too).
    pub fn from_name(name: &str) -> Option<Self> {
        EventType::ALL
            .into_iter()
            .find(|known| known.as_str() == name)
    }

    /// The topic events of this type are published to.
    pub const fn topic(self) -> &'static str {
        match self {
            EventType::UserCreated | EventType::UserDeleted => topics::USER_EVENTS,
            EventType::OrderCreated | EventType::OrderPaid | EventType::OrderDeleted => {
                topics::ORDER_EVENTS
            }
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    pub const fn event_type(&self) -> EventType {
        match self {
            Event::UserCreated(_) => EventType::UserCreated,
            Event::UserDeleted(_) => EventType::UserDeleted,
            Event::OrderCreated(_) => EventType::OrderCreated,
            Event::OrderPaid(_) => EventType::OrderPaid,
            Event::OrderDeleted(_) => EventType::OrderDeleted,
        }
    }

    /// The schema version of this event's payload as this build writes it.
    pub const fn event_version(&self) -> u16 {
        CURRENT_VERSION
    }

    /// The id of the aggregate the event belongs to: the user for user events, the order
    /// for order events.
    pub const fn aggregate_id(&self) -> i64 {
        match self {
            Event::UserCreated(created) => created.id,
            Event::UserDeleted(deleted) => deleted.id,
            Event::OrderCreated(order) => order.id,
            Event::OrderPaid(order) => order.id,
            Event::OrderDeleted(order) => order.id,
        }
    }

    /// The Kafka key: the aggregate id, so one aggregate's events share a partition.
    pub fn key(&self) -> String {
        self.aggregate_id().to_string()
    }

    pub const fn topic(&self) -> &'static str {
        self.event_type().topic()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_names_round_trip() {
        for event_type in EventType::ALL {
            assert_eq!(EventType::from_name(event_type.as_str()), Some(event_type));
        }
        assert_eq!(EventType::from_name("UserRenamed"), None);
    }

    #[test]
    fn key_is_the_user_id() {
        let event = Event::UserDeleted(UserDeleted {
            id: 42,
            name: "Jane Doe".into(),
            email: "jdoe@example.com".into(),
            user_type: UserType::Employee,
        });
        assert_eq!(event.key(), "42");
        assert_eq!(event.topic(), topics::USER_EVENTS);
        assert_eq!(event.event_type(), EventType::UserDeleted);
    }
}
