//! Helpers shared by the integration tests of the workspace. Everything here talks to real
//! services and panics with a clear message when one is missing: a missing broker or
//! database fails the tests, it never skips them.
//!
//! # Layout
//! - [`database`]: [`TestDatabase`], a fresh SQLite file or MariaDB database per test.
//! - [`kafka`]: the shared broker's address, per-test topics, publishing events (as the
//!   store manager does) or raw bytes, reading a whole topic, its watermarks and a group's
//!   committed offsets.
//! - [`broker`]: [`PrivateBroker`], a tansu process of the test's own that it may stop
//!   and restart (outage tests), so the shared broker is never disturbed.
//! - [`mariadb`]: [`PrivateMariaDb`], the same for the database.
//! - [`browser`]: headless chromium (`dump_dom`, `browse` with any flags, e.g. a screenshot).
//! - [`settings`]: a binary's `--help` list of settings against its parser and `.env.example`.
//! - [`process`]: the services' binaries as children: the port they bound themselves
//!   (read from their log), SIGTERM, waiting for an exit.
//! - [`http`]: a raw HTTP/1.1 request (sent as written, so path tricks reach the server)
//!   and one sample of a Prometheus text exposition.
//! - Here: [`unique`] names, [`init_logs`], [`eventually`], and the files of a directory
//!   ([`files`], [`count_prefixed`]).
#![allow(clippy::unwrap_used)]

pub mod broker;
pub mod browser;
pub mod database;
pub mod http;
pub mod kafka;
pub mod mariadb;
pub mod process;
pub mod settings;

pub use broker::PrivateBroker;
pub use database::{Backend, TestDatabase};
pub use mariadb::PrivateMariaDb;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// `prefix-<random>`: topic, group and database names that never collide between tests.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Logs go through the test harness, shown for a failing test only; `RUST_LOG` chooses
/// what is logged (default: info, librdkafka's and sqlx's own lines from warn).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 50 ms until it holds; panics after `timeout` naming `what`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The names of the files in `dir` (none when it cannot be read).
pub fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// How many files of `dir` are named `prefix…suffix`.
pub fn count_prefixed(dir: &Path, prefix: &str, suffix: &str) -> usize {
    files(dir)
        .iter()
        .filter(|name| name.starts_with(prefix) && name.ends_with(suffix))
        .count()
}

/// A TCP port nobody listens on right now: a candidate only, for a server that cannot bind
/// port 0 itself (tansu advertises the port it is given). Another process may take it
/// before the server binds it, so whoever starts a server on it must check that the
/// server itself is the one listening ([`listens_on`]) and try another port if not.
pub(crate) fn candidate_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot find a free port")
}

/// Whether the process `pid` itself holds a socket listening on TCP `port` (read from
/// /proc: the listening sockets of the port, and the process's file descriptors), so that
/// a server started on a [`candidate_port`] is known to be ours, not another test's.
pub(crate) fn listens_on(pid: u32, port: u16) -> bool {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is field 9.
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let listening_port = local
                .rsplit_once(':')
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            if *state == "0A" && listening_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    let Ok(descriptors) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    descriptors.filter_map(Result::ok).any(|entry| {
        std::fs::read_link(entry.path()).is_ok_and(|target| {
            inodes
                .iter()
                .any(|inode| target.as_os_str() == inode.as_str())
        })
    })
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
