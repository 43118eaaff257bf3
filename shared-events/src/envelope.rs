//! The message on the wire: an [`Event`] flattened together with its metadata.
//!
//! ```json
//! {"event": "UserCreated", "id": 7, "name": "Ada Lovelace", "email": "alovelace@example.com",
//!  "user_type_id": 1, "datetime": "2025-11-09 14:03:12.123456",
//!  "event_id": "0190f0c4-...", "version": 1, "occurred_at": "2025-11-09T14:03:12.123456Z"}
//! ```
//!
//! [`decode`] sorts every byte string into one of three outcomes: a known event
//! ([`Decoded::Event`]), an event type this build does not know ([`Decoded::UnknownType`],
//! to be skipped), or a [`DecodeError`] (to be dead-lettered).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, EventType};
use crate::lab_time::LabDateTime;

/// An event with the metadata every message carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventEnvelope {
    #[serde(flatten)]
    pub event: Event,
    /// The lab's timestamp field, kept for its consumers.
    pub datetime: LabDateTime,
    /// Absent in the lab's messages; such an event is identified by topic/partition/offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// Schema version; the lab's messages have none and are version 1.
    #[serde(default = "first_version")]
    pub version: u16,
    /// RFC 3339 instant, zone included; absent in the lab's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<DateTime<Utc>>,
}

const fn first_version() -> u16 {
    1
}

impl EventEnvelope {
    /// A new envelope for an event happening now, with a fresh time-ordered id.
    pub fn new(event: Event) -> Self {
        Self::at(event, Utc::now(), Uuid::now_v7())
    }

    /// An envelope with a given instant and id (both fixed in tests and replays).
    pub fn at(event: Event, occurred_at: DateTime<Utc>, event_id: Uuid) -> Self {
        let datetime = LabDateTime::from_utc(occurred_at);
        EventEnvelope {
            version: event.event_version(),
            event,
            datetime,
            event_id: Some(event_id),
            occurred_at: Some(occurred_at),
        }
    }

    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    /// The JSON bytes to publish.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs, strings and integers into a Vec cannot fail.
        serde_json::to_vec(self)
            .unwrap_or_else(|error| unreachable!("event envelope failed to serialise: {error}"))
    }
}

/// What a message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Event(EventEnvelope),
    /// Valid JSON with an `event` name this build does not know: skip it.
    UnknownType {
        event_type: String,
    },
}

/// Why a message could not be decoded. Every variant means "dead-letter it".
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("message has no value")]
    Empty,
    #[error("message is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    #[error("message is not a JSON object with a string field \"event\": {0}")]
    NoEventField(serde_json::Error),
    #[error("invalid {event_type} event: {source}")]
    InvalidEvent {
        event_type: EventType,
        #[source]
        source: serde_json::Error,
    },
}

/// Only the tag, to tell unknown event types from malformed messages before the full parse.
#[derive(Deserialize)]
struct EventTag<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
}

/// Decode one message value.
pub fn decode(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let text = std::str::from_utf8(bytes)?;
    let tag: EventTag<'_> = serde_json::from_str(text).map_err(DecodeError::NoEventField)?;
    let Some(event_type) = EventType::from_name(&tag.event) else {
        return Ok(Decoded::UnknownType {
            event_type: tag.event.into_owned(),
        });
    };
    serde_json::from_str::<EventEnvelope>(text)
        .map(Decoded::Event)
        .map_err(|source| DecodeError::InvalidEvent { event_type, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_event(bytes: &[u8]) -> EventEnvelope {
        match decode(bytes) {
            Ok(Decoded::Event(envelope)) => envelope,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn a_datetime_with_nanoseconds_survives_a_round_trip() {
        // The input the `decode` fuzz target found (fuzz/fuzz_targets/decode.rs).
        let input = br#"{"event": "UserDeleted", "id" :7, "name": "Ada Lovelace", "email": "alovelace@example.com", "datetime": "2025-11-09 14:0:40.5000913"}"#;
        let envelope = decode_event(input);
        let encoded = envelope.encode();
        assert_eq!(decode_event(&encoded), envelope);
        assert_eq!(decode_event(&encoded).encode(), encoded);
    }
}
