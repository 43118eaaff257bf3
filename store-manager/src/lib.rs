//! store-manager: the store's HTTP API. Every change it makes is written, with the event
//! that describes it, in one database transaction; an actor publishes the events to Kafka.
//!
//! # Layout
//! - [`config`]: [`Settings`], read from the environment (DESIGN §5).
//! - [`cli`]: the command line; `--help` lists every setting with its default.
//! - [`database`]: connecting (SQLite or MySQL/MariaDB) and running the `db` migrations.
//! - [`entities`]: sea-orm entities (`user`, `user_type`, `outbox`) and their relation.
//! - [`domain`]: validated newtypes ([`domain::UserEmail`], [`domain::UserName`]).
//! - [`services`]: the store's operations, each one transaction that writes its events to
//!   the outbox; they know nothing of HTTP.
//! - [`routes`]: the actix-web handlers, JSON errors ([`routes::error::ApiError`]) and
//!   the shared state.
//! - [`outbox`]: [`outbox::enqueue`], the [`outbox::OutboxPublisher`] (one step:
//!   `try_publish_next`) and the [`outbox::OutboxActor`] that runs it after every commit,
//!   on a fallback poll and at start-up, under a supervisor that restarts it after a panic.
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
