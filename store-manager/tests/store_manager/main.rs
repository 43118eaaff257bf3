//! store-manager's integration tests, one binary for all of them: each file here is a
//! module, so the service, librdkafka, sqlx and actix are linked once rather than once per
//! file. `cargo test -p store-manager --test store_manager outbox_publisher::` runs the
//! tests of one module (`… store_manager sqlite::` those on SQLite only, or `mariadb::`).
//!
//! The tests run in threads of one process: none sets an environment variable or any other
//! process-wide state (the binary under test gets its settings through its own
//! environment, the in-process application through [`store_manager::Settings`]), and every
//! test has its own database, topics and, where it stops one, its own broker or MariaDB.
//!
//! - [`api`]: the HTTP API (status codes, JSON shapes, exactly the events each request
//!   causes, metrics) on SQLite and MariaDB;
//! - [`database_outage`]: a private MariaDB killed and restarted (503s, readiness,
//!   recovery);
//! - [`end_to_end`]: users created through the API, coolriel's emails, its gallery in a
//!   headless browser;
//! - [`hostile`]: hostile HTTP input, each answered with a 4xx JSON error;
//! - [`lab`]: the suppliers' GraphQL query, checking stock in and out, the seeded staff;
//! - [`outbox_crash`]: the built binary killed between commit and publish;
//! - [`outbox_outage`]: a private broker stopped and restarted (the outbox waits);
//! - [`outbox_publisher`]: the outbox publisher as one step, driven by hand;
//! - [`outbox_supervision`]: the outbox actor's panics, restarts and restart budget;
//! - [`process`]: the built binary (actor restarts in its log, crash loop, SIGTERM with the
//!   broker gone);
//! - [`replicas`]: two replicas on one database, the outbox lease and fail-over;
//! - [`store`]: products, stock, orders and reports;
//! - [`helpers`]: store-manager's own test helpers (`spawn_app`, `spawn_binary`, the
//!   `on_both_databases!` macro); the generic ones are in `test-support`.

// First: the modules below use its `on_both_databases!` macro.
#[macro_use]
mod helpers;

mod api;
mod database_outage;
mod end_to_end;
mod hostile;
mod lab;
mod outbox_crash;
mod outbox_outage;
mod outbox_publisher;
mod outbox_supervision;
mod process;
mod replicas;
mod store;
