//! coolriel's integration tests, one binary for all of them: each file here is a module, so
//! the service, librdkafka and actix are linked once rather than once per file.
//! `cargo test -p coolriel --test coolriel service::` runs the tests of one module.
//!
//! - [`admin`]: the admin HTTP server of a running service (health, readiness and its
//!   reasons, metrics, the gallery and the files it refuses to serve);
//! - [`gallery_browser`]: the gallery in a real headless browser;
//! - [`process`]: the built binary (SIGKILL and restart, SIGTERM, JSON logs, panicking
//!   partition actors, a broker gone at shutdown);
//! - [`replay`]: `coolriel replay` against the real broker;
//! - [`service`]: the service in-process (emails, history, order, commits, poison
//!   messages, failing handlers, two instances);
//! - [`templates`]: the email templates (golden files, escaping, start-up errors);
//! - [`helpers`]: coolriel's own test helpers, with test-support's re-exported.

mod admin;
mod gallery_browser;
mod helpers;
mod process;
mod replay;
mod service;
mod templates;
