//! Helpers shared by the integration tests of the workspace. Everything here talks to real
//! services and panics with a clear message when one is missing: a missing broker or
//! database fails the tests, it never skips them.
//!
//! # Layout
//! - [`database`]: [`TestDatabase`], a fresh SQLite file or MariaDB database per test.
//! - [`kafka`]: the shared broker's address, per-test topics, reading a whole topic.
//! - [`broker`]: [`PrivateBroker`], a tansu process of the test's own that it may stop
//!   and restart (outage tests), so the shared broker is never disturbed.
//! - [`mariadb`]: [`PrivateMariaDb`], the same for the database.
//! - [`browser`]: headless chromium (`dump_dom`, `browse` with any flags, e.g. a screenshot).
//! - [`process`]: the services' binaries as children: the port they bound themselves
//!   (read from their log), SIGTERM, waiting for an exit.
#![allow(clippy::unwrap_used)]

pub mod broker;
pub mod browser;
pub mod database;
pub mod kafka;
pub mod mariadb;
pub mod process;

pub use broker::PrivateBroker;
pub use database::{Backend, TestDatabase};
pub use mariadb::PrivateMariaDb;

/// `prefix-<random>`: topic, group and database names that never collide between tests.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A TCP port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot find a free port")
}

/// Whether something accepts connections on 127.0.0.1:`port`.
pub(crate) fn port_answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(200),
    )
    .is_ok()
}

/// SIGKILLs a child process (if any) and reaps it.
pub(crate) fn kill(process: Option<std::process::Child>) {
    if let Some(mut process) = process {
        process.kill().ok();
        process.wait().ok();
    }
}
