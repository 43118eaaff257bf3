//! coolriel: the notification service. It consumes the events the store manager publishes
//! (`user-events` and `order-events` by default, `COOLRIEL_TOPICS`), writes HTML emails
//! (each with its plain-text alternative) to disk, and keeps the whole event history, which
//! `coolriel replay` can rebuild from either topic or both.
//!
//! | event          | email (per user type: client, employee, manager)  | history |
//! |----------------|----------------------------------------------------|---------|
//! | `UserCreated`  | welcome, `welcome_{user_id}.html`                  | yes     |
//! | `UserDeleted`  | goodbye, `goodbye_{user_id}.html`                  | yes     |
//! | `OrderCreated` | order confirmation, `order_{order_id}.html`        | yes     |
//! | `OrderPaid`    | payment receipt, `receipt_{order_id}.html`         | yes     |
//! | `OrderDeleted` | none (see [`handlers::email`])                     | yes     |
//!
//! # Layout
//! - [`config`]: [`Config`], read from the environment (DESIGN §5) with a `.env` file.
//! - [`service`]: [`Coolriel::start`] builds the actor system and the Kafka consumer (one
//!   group, subscribed to every configured topic, a `<topic>.dlq` created for each) and
//!   returns a [`CoolrielHandle`] whose [`shutdown`](CoolrielHandle::shutdown) drains,
//!   commits and stops. Threads: one actix system (partition actors), one arbiter per
//!   handler actor (blocking file I/O), one consumer thread (rebalance callbacks).
//! - [`kafka`]: the consumer context and its rebalance callbacks, the [`PartitionActor`]
//!   (one per assigned partition of any topic, fed by that partition's own queue), the
//!   dead-letter producer and the client settings.
//! - [`offsets`]: [`OffsetTracker`], which says what may be committed while several
//!   messages of a partition are in flight.
//! - [`registry`]: [`Registry`], which maps event types to the actors that handle them,
//!   and the typed [`Deliver`] message they receive.
//! - [`handlers`]: [`EventHandler`] and the supervised [`HandlerActor`] that runs one
//!   (panics become restarts); the email handlers ([`UserCreatedActor`],
//!   [`UserDeletedActor`], [`OrderCreatedActor`], [`OrderPaidActor`]) and the
//!   [`HistoryActor`], which records every event of every topic.
//! - [`templates`]: the Handlebars email templates (strict mode), 4 kinds × 3 user types ×
//!   HTML and text, all loaded once at start-up (a missing one stops the start).
//! - [`output`]: atomic file writes (temporary file, fsync, rename).
//! - [`replay`](mod@replay): `coolriel replay [--topic T]...`: re-read the configured
//!   topics (or those named) by manual assignment, write the history document and the
//!   users and orders projections, count events per type.
//! - [`cli`] and [`telemetry`]: the command line and the tracing set-up `main.rs` uses.
//!
//! # Delivery guarantees
//! At least once, in order per key (user id or order id): an offset is stored only after
//! every actor that received the message acknowledged it (or after the message reached the
//! dead-letter topic), and a re-delivered event rewrites the same files. See
//! [`kafka::partition`].

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
pub use handlers::email::{
    GoodbyeEmails, OrderConfirmationEmails, OrderCreatedActor, OrderPaidActor,
    PaymentReceiptEmails, UserCreatedActor, UserDeletedActor, WelcomeEmails,
};
pub use handlers::history::{HistoryActor, HistoryRecord};
pub use handlers::{EventHandler, HandlerActor, HandlerError};
pub use kafka::partition::PartitionActor;
pub use offsets::OffsetTracker;
pub use registry::{Deliver, EventContext, Registry, Routable};
pub use replay::{ReplayError, ReplayOptions, ReplaySummary, replay};
pub use service::{Coolriel, CoolrielHandle, ServiceError, StartError};
pub use templates::{EmailKind, Templates};
