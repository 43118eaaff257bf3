//! Typed domain events: past tense, one struct per event, each with a type and a version.

use serde::{Deserialize, Serialize};

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

/// Every event the system publishes. The `event` field of the JSON names the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    UserCreated(UserCreated),
    UserDeleted(UserDeleted),
}

/// The name of an event type, as written in the `event` field and the `event_type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    UserCreated,
    UserDeleted,
}

impl EventType {
    pub const ALL: [EventType; 2] = [EventType::UserCreated, EventType::UserDeleted];

    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "UserCreated",
            EventType::UserDeleted => "UserDeleted",
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
        }
    }

    /// The schema version of this event's payload as this build writes it.
    pub const fn event_version(&self) -> u16 {
        CURRENT_VERSION
    }

    /// The id of the aggregate the event belongs to (the user for user events).
    pub const fn aggregate_id(&self) -> i64 {
        match self {
            Event::UserCreated(created) => created.id,
            Event::UserDeleted(deleted) => deleted.id,
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
