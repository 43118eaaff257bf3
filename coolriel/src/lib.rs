//! coolriel: the notification service. It consumes the events the store manager publishes
//! (`user-events` and `order-events` by default, `COOLRIEL_TOPICS`), writes HTML emails
//! (with their plain-text alternative too when `COOLRIEL_TEXT_FILES` asks for it) to disk,
//! and keeps the whole event history, which `coolriel replay` can rebuild from either topic
//! or both.
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
//! - [`config`]: [`Config`], read from the environment (DESIGN §5) with a `.env` file;
//!   the module lists every variable.
//! - [`service`]: [`Coolriel::start`] builds the actor system and the Kafka consumer (one
//!   group, subscribed to every configured topic, a `<topic>.dlq` created for each) and
//!   returns a [`CoolrielHandle`] whose [`shutdown`](CoolrielHandle::shutdown) drains,
//!   commits and stops. Threads: one actix system (partition actors, the admin server's
//!   accept loop and gauge refresher), one arbiter per handler actor (blocking file I/O;
//!   each email handler is a pool of `COOLRIEL_EMAIL_WRITERS` actors), one consumer thread
//!   (rebalance callbacks), one admin server worker.
//! - [`kafka`]: the consumer context and its rebalance callbacks, the [`PartitionActor`]
//!   (one per assigned partition of any topic, fed by that partition's own queue through
//!   a [`PartitionFeed`](kafka::partition::PartitionFeed); its jobs, retries, restarts and
//!   drain each in a module of their own), the dead-letter producer, the client settings,
//!   and the assignment watchdog (rejoins the group when a broken rebalance left this
//!   member idle while partitions go unread).
//! - [`offsets`]: [`OffsetTracker`], which says what may be committed while several
//!   messages of a partition are in flight.
//! - [`health`]: what readiness knows beyond the broker (the restart budget, partitions
//!   recovering from a restart of their actor, the watchdog's verdict). Every actor runs
//!   under `actix::Supervisor` and turns its panics into restarts (see
//!   [`kafka::partition`] and [`handlers`]); too many restarts within a window stop the
//!   service with a failure, and [`CoolrielHandle::shutdown`] is bounded in time
//!   (`COOLRIEL_SHUTDOWN_TIMEOUT_MS`) whatever the broker does.
//! - [`registry`]: [`Registry`], which maps event types to the actors that handle them.
//! - [`delivery`]: what partition and handler actors exchange: the typed [`Deliver`]
//!   message (an event and its [`EventContext`]), the [`Routable`] payloads, the
//!   [`HandlerError`] answer. Below both the registry and the handlers, so that neither
//!   imports the other.
//! - [`handlers`]: [`EventHandler`] and the supervised [`HandlerActor`] that runs every
//!   handler (panics become restarts, work is made durable in batches before it is
//!   acknowledged): [`Emails`], one email handler for the four kinds, each event type
//!   saying which email it gets ([`UserCreatedActor`], [`UserDeletedActor`],
//!   [`OrderCreatedActor`], [`OrderPaidActor`]), and [`History`], run as the
//!   [`HistoryActor`], which records every event of every topic.
//! - [`templates`]: the Handlebars email templates (strict mode), 4 kinds × 3 user types ×
//!   HTML and text, built into the binary (`TEMPLATES_DIR` replaces the whole set with a
//!   directory's), all compiled once at start-up (a missing or broken one stops the start).
//! - [`output`]: files whole or absent ([`output::OutputDir::publish`]: a new file linked
//!   into place from an unnamed inode, an unchanged one left alone, a changed one replaced
//!   by a rename), made durable for a whole batch with one file-system sync; mode 0644 so
//!   the gallery or another user can read them.
//! - [`admin`]: the admin HTTP server on `COOLRIEL_ADMIN_ADDR` (default
//!   `127.0.0.1:5001`), started and stopped with the service: `GET /health-check`
//!   (liveness), `GET /ready` (200 when the service can work, else 503 with every
//!   reason: the broker, the output directory, the handler actors, the assignment, the
//!   partitions recovering from a panic, the restart budget), `GET /metrics`,
//!   and the email gallery: `GET /` shows the emails, newest first, as cards (each email
//!   rendered in a sandboxed frame, its kind, user type and recipient, and the event it
//!   was written for: type, topic, partition, offset, time, from the tail of
//!   `history.jsonl`), with filters by kind and user type and the count of the events
//!   handled by type; server-rendered through Handlebars, reloading itself every 5 s.
//!   `GET /emails/{file}` serves one email, and nothing but the emails; `GET /history` the
//!   last history records; `GET /preview` lists the 12 template variants and
//!   `GET /preview/{name}` (`welcome_client`, `payment_receipt_manager.txt`, ...) renders
//!   one with sample data (404 JSON for an unknown name).
//!   `tests/coolriel/gallery_browser.rs` checks the page's DOM in headless chromium
//!   (cards, events, filters) and keeps a screenshot (`<target>/test-artifacts/gallery.png`).
//! - [`metrics`]: [`Metrics`], the Prometheus families (prefix `coolriel`): events by
//!   type and outcome, handler latency, dead letters, retries, actor restarts, and per
//!   owned partition the committed offset, high watermark and lag, read from the broker
//!   by a client of its own ([`kafka::monitor`]), never by the consumer or an actor.
//! - [`replay`](mod@replay): `coolriel replay [--topic T]...`: re-read the configured
//!   topics (or those named) by manual assignment, write the history document and the
//!   users and orders projections, count events per type.
//! - [`cli`] and [`telemetry`]: the command line and the tracing set-up `main.rs` uses
//!   (`LOG_FORMAT=json` for JSON lines; colours only on a terminal).
//!
//! # Following one event
//! The work for each message runs in an `event` span carrying its `event_id` (the id the
//! store logged with the request that wrote it), `event_type`, `topic`, `partition` and
//! `offset`, in the partition actor and in the email actors (the history logs nothing per
//! event, see [`EventHandler::IN_EVENT_SPAN`]); each email written is logged at info
//! (`email written`, with its file) inside it. With `LOG_FORMAT=json` the
//! span's fields are in every line (`span.event_id`), so `grep <event_id>` over the
//! store's and coolriel's logs gives the request, the publication and the emails.
//!
//! # Delivery guarantees
//! At least once, in order per key (user id or order id): an offset is stored only after
//! every actor that received the message acknowledged it (or after the message reached the
//! dead-letter topic), and a re-delivered event rewrites the same files. See
//! [`kafka::partition`].

pub mod admin;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod handlers;
pub mod health;
pub mod kafka;
pub mod metrics;
pub mod offsets;
pub mod output;
pub mod registry;
pub mod replay;
pub mod service;
pub mod telemetry;
pub mod templates;
mod wait_group;

pub use config::{Config, ConfigError, RetryPolicy};
pub use delivery::{Deliver, EventContext, HandlerError, Routable};
pub use handlers::{
    EmailEvent, Emails, EventHandler, HandlerActor, History, HistoryActor, HistoryRecord,
    OrderCreatedActor, OrderPaidActor, SyncBatch, UserCreatedActor, UserDeletedActor,
};
pub use kafka::partition::PartitionActor;
pub use metrics::Metrics;
pub use offsets::OffsetTracker;
pub use registry::Registry;
pub use replay::{ReplayError, ReplayOptions, ReplaySummary, replay};
pub use service::{Coolriel, CoolrielHandle, ServiceError, ShutdownProgress, StartError};
pub use templates::{EmailKind, Templates};
