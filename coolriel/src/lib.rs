//! coolriel: the notification service. It consumes the user events that the store manager
//! publishes, writes one HTML email (and its plain-text alternative) per event to disk, and
//! keeps the whole event history, which `coolriel replay` can rebuild from the topic.
//!
//! # Layout
//! - [`config`]: [`Config`], read from the environment (DESIGN §5) with a `.env` file.
//! - [`service`]: [`Coolriel::start`] builds the actor system and the Kafka consumer and
//!   returns a [`CoolrielHandle`] whose [`shutdown`](CoolrielHandle::shutdown) drains,
//!   commits and stops. Threads: one actix system (partition actors), one arbiter per
//!   handler actor (blocking file I/O), one consumer thread (rebalance callbacks).
//! - [`kafka`]: the consumer context and its rebalance callbacks, the [`PartitionActor`]
//!   (one per assigned partition, fed by that partition's own queue), the dead-letter
//!   producer and the client settings.
//! - [`offsets`]: [`OffsetTracker`], which says what may be committed while several
//!   messages of a partition are in flight.
//! - [`registry`]: [`Registry`], which maps event types to the actors that handle them,
//!   and the typed [`Deliver`] message they receive.
//! - [`handlers`]: [`EventHandler`] and the supervised [`HandlerActor`] that runs one
//!   (panics become restarts); the email handlers ([`UserCreatedActor`],
//!   [`UserDeletedActor`]) and the [`HistoryActor`].
//! - [`templates`]: the Handlebars email templates (strict mode), loaded once at start-up.
//! - [`output`]: atomic file writes (temporary file, fsync, rename).
//! - [`replay`](mod@replay): `coolriel replay`: re-read a topic by manual assignment, write the history
//!   document and the users projection, count events per type.
//! - [`cli`] and [`telemetry`]: the command line and the tracing set-up `main.rs` uses.
//!
//! # Delivery guarantees
//! At least once, in order per key: an offset is stored only after every actor that
//! received the message acknowledged it (or after the message reached the dead-letter
//! topic), and a re-delivered event rewrites the same files. See [`kafka::partition`].

pub mod cli;
pub mod config;
pub mod handlers;
pub mod kafka;
pub mod offsets;
pub mod output;
pub mod registry;
pub mod replay;
pub mod service;
pub mod telemetry;
pub mod templates;
mod wait_group;

pub use config::{Config, ConfigError, RetryPolicy};
pub use handlers::email::{GoodbyeEmails, UserCreatedActor, UserDeletedActor, WelcomeEmails};
pub use handlers::history::{HistoryActor, HistoryRecord};
pub use handlers::{EventHandler, HandlerActor, HandlerError};
pub use kafka::partition::PartitionActor;
pub use offsets::OffsetTracker;
pub use registry::{Deliver, EventContext, Registry, Routable};
pub use replay::{ReplayError, ReplayOptions, ReplaySummary, replay};
pub use service::{Coolriel, CoolrielHandle, ServiceError, StartError};
pub use templates::{EmailKind, Templates};
