//! The command line: `store-manager` takes no arguments and serves until SIGINT/SIGTERM;
//! `--help` lists every setting (environment variables, or a `.env` file) with its default.
//! [`SETTINGS`] is that list; the tests keep it equal to what [`Settings::from_lookup`]
//! reads and to `.env.example`.

use clap::{CommandFactory as _, FromArgMatches as _, Parser};

#[cfg(doc)]
use crate::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "store-manager",
    version,
    about = "The store's HTTP API: every change and its event in one transaction, the events published to Kafka"
)]
pub struct Cli {}

impl Cli {
    /// Parse the command line; `--help` ends with every setting and its default.
    pub fn parse_with_settings_help() -> Self {
        let matches = Self::command().after_help(settings_help()).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// (variable, default as `.env.example` writes it, what it does); an empty default has
/// its meaning in the text.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "sqlite://data/store.db?mode=rwc",
        "sqlite://FILE?mode=rwc or mysql://user:password@host:3306/store; a relative FILE is under the working directory, its directory created if missing",
    ),
    (
        "STORE_MANAGER_ADDR",
        "127.0.0.1:5000",
        "where the HTTP API listens (IP:PORT)",
    ),
    (
        "STORE_MANAGER_MAX_CONNECTIONS",
        "256",
        "open HTTP connections per worker thread; more wait in the accept queue",
    ),
    ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "the brokers"),
    ("USER_EVENTS_TOPIC", "user-events", "where user events go"),
    (
        "ORDER_EVENTS_TOPIC",
        "order-events",
        "where order events go",
    ),
    (
        "KAFKA_MESSAGE_TIMEOUT_MS",
        "30000",
        "how long one message is retried before its row waits for the next round",
    ),
    (
        "OUTBOX_POLL_INTERVAL_MS",
        "1000",
        "fallback poll of the outbox (each commit wakes it anyway)",
    ),
    (
        "OUTBOX_BATCH_SIZE",
        "256",
        "outbox rows read and sent per round",
    ),
    (
        "OUTBOX_RETENTION_SECS",
        "86400",
        "published outbox rows are deleted after this long",
    ),
    (
        "OUTBOX_READY_MAX_AGE_SECS",
        "60",
        "readiness fails while the oldest pending outbox row is older than this",
    ),
    (
        "STORE_MANAGER_RESTART_LIMIT",
        "5",
        "outbox actor restarts (after panics) within the window before the service reports not ready and exits non-zero",
    ),
    (
        "STORE_MANAGER_RESTART_WINDOW_SECS",
        "60",
        "the window of the restart limit",
    ),
    (
        "STORE_MANAGER_SHUTDOWN_TIMEOUT_MS",
        "15000",
        "the most a shutdown (SIGTERM, SIGINT) may take, whatever the database and the broker do",
    ),
    (
        "OUTBOX_CLEANUP_INTERVAL_SECS",
        "300",
        "how often that deletion runs",
    ),
    (
        "OUTBOX_LEASE_SECS",
        "45",
        "with several replicas, how soon another takes over from a dead publisher (must exceed the message timeout by 10 s)",
    ),
    (
        "OUTBOX_REPLICA_ID",
        "",
        "this process's name in the publishing lease [default: host name and port]",
    ),
    (
        "RUST_LOG",
        "",
        "log filter (tracing EnvFilter syntax) [default: info,sqlx=warn,sea_orm=warn]",
    ),
    (
        "LOG_FORMAT",
        "text",
        "text, or json for one object per line",
    ),
];

/// The settings section of `--help`.
pub fn settings_help() -> String {
    let width = SETTINGS
        .iter()
        .map(|(name, ..)| name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "Settings (environment variables, or a .env file in the working directory; the environment wins):\n",
    );
    for (name, default, help) in SETTINGS {
        let default = if default.is_empty() {
            String::new()
        } else {
            format!(" [default: {default}]")
        };
        text.push_str(&format!("  {name:width$}  {help}{default}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use test_support::settings::{
        assert_env_example_documents, assert_lists_exactly, listed_default, names_read,
    };

    #[test]
    fn the_help_lists_every_setting_read() {
        let read = names_read(|lookup| {
            Settings::from_lookup(lookup).expect("defaults");
        });
        // RUST_LOG and LOG_FORMAT are read by the logging set-up.
        // The logging set-up's settings, and the test-only fault hook (every N-th outbox
        // round panics), which --help leaves out on purpose.
        let read = read
            .into_iter()
            .filter(|name| name != "STORE_MANAGER_FAULT_OUTBOX_PANIC")
            .collect();
        assert_lists_exactly(SETTINGS, &read, &["RUST_LOG", "LOG_FORMAT"]);
    }

    #[test]
    fn the_listed_defaults_are_the_defaults() {
        let parsed = Settings::from_lookup(|name| listed_default(SETTINGS, name))
            .expect("the listed defaults are valid");
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn the_env_example_documents_every_setting_with_its_default() {
        assert_env_example_documents(SETTINGS);
    }

    #[test]
    fn the_settings_help_shows_names_and_defaults() {
        let help = settings_help();
        let line = help
            .lines()
            .find(|line| line.trim_start().starts_with("DATABASE_URL "))
            .unwrap_or_else(|| panic!("no DATABASE_URL in {help}"));
        assert!(
            line.ends_with("[default: sqlite://data/store.db?mode=rwc]"),
            "{help}"
        );
    }
}
