//! The event contract shared by `store-manager` (producer) and `coolriel` (consumer).
//!
//! # Layout
//! - [`event`]: the typed, past-tense domain events ([`Event`]: [`UserCreated`],
//!   [`UserDeleted`], [`OrderCreated`], [`OrderPaid`], [`OrderDeleted`]) with their
//!   [`EventType`], topic and schema version.
//! - [`money`]: [`Money`], exact amounts in cents, written as decimal strings.
//! - [`envelope`]: [`EventEnvelope`], the metadata every message carries, and the JSON
//!   wire format: [`EventEnvelope::encode`] and [`decode`].
//! - [`lab_time`]: [`LabDateTime`], the `datetime` field as the Python lab writes it.
//! - [`user_type`]: [`UserType`] (1 Client, 2 Employee, 3 Manager, as in the lab's SQL).
//! - [`topics`]: topic names and the Kafka header names both sides agree on.
//!
//! # Wire compatibility
//! A message is one flat JSON object. The lab's fields (`event`, `id`, `name`, `email`,
//! `datetime`) keep their names so the original Python consumers still read our events;
//! the fields we added (`user_type_id`, `event_id`, `version`, `occurred_at`) are
//! optional when decoding, so we still read theirs.

pub mod envelope;
pub mod event;
pub mod lab_time;
pub mod money;
pub mod topics;
pub mod user_type;

pub use envelope::{DecodeError, Decoded, EventEnvelope, decode};
pub use event::{
    Event, EventType, OrderCreated, OrderDeleted, OrderItem, OrderPaid, UserCreated, UserDeleted,
};
pub use lab_time::LabDateTime;
pub use money::{InvalidMoney, Money};
pub use user_type::{UnknownUserType, UserType};
