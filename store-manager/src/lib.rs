//! store-manager: the store's HTTP API. Every change it makes is written, with the event
//! that describes it, in one database transaction; an actor publishes the events to Kafka.
//!
//! # Modules
//! - [`config`]: [`Settings`], read from the environment (DESIGN §5).
//! - [`cli`]: the command line; `--help` lists every setting with its default.
//! - [`database`]: connecting (SQLite or MySQL/MariaDB) and running the `db` migrations.
//! - [`entities`]: the sea-orm entities, one per table: [`entities::user`],
//!   [`entities::user_type`], [`entities::product`], [`entities::stock`],
//!   [`entities::order`], [`entities::order_item`], [`entities::outbox`] and
//!   [`entities::outbox_lease`], with their relations.
//! - [`domain`]: validated newtypes ([`domain::UserEmail`], [`domain::UserName`]).
//! - [`services`]: the store's operations ([`services::users`], [`services::products`],
//!   [`services::stocks`], [`services::orders`]), each one transaction that writes its
//!   events to the outbox and, once committed, wakes the outbox
//!   ([`outbox::EventSink`]). They return domain errors and know nothing of HTTP.
//! - [`routes`]: the actix-web handlers, the shared [`routes::AppState`], and
//!   [`routes::error::ApiError`], where each service error gets its status.
//! - [`outbox`]: the transactional outbox: [`outbox::enqueue`], the
//!   [`outbox::OutboxPublisher`] (its rounds, lease and marker, one file each) and the
//!   [`outbox::OutboxActor`] that runs it after every commit, on a fallback poll and at
//!   start-up, under a supervisor that restarts it after a panic.
//! - [`graphql`]: the suppliers' GraphQL schema (async-graphql), served on
//!   `POST /stocks/graphql-query`.
//! - [`metrics`]: the Prometheus metrics served on `GET /metrics`.
//! - [`topics`]: which topic each event type goes to.
//! - [`startup`]: [`Application::build`] and [`Application::run_until_stopped`] (signals,
//!   the restart budget, and a shutdown bounded by `STORE_MANAGER_SHUTDOWN_TIMEOUT_MS`).
//! - [`telemetry`]: the tracing set-up.

pub mod cli;
pub mod config;
pub mod database;
pub mod domain;
pub mod entities;
pub mod graphql;
pub mod metrics;
pub mod outbox;
pub mod routes;
pub mod services;
pub mod startup;
pub mod telemetry;
pub mod topics;

pub use config::Settings;
pub use startup::{Application, ShutdownError, StartupError};
