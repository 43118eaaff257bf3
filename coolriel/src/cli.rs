//! The command line: `coolriel` (or `coolriel run`) runs the service until SIGINT/SIGTERM;
//! `coolriel replay` rebuilds the history and the users and orders projections from the
//! topics (all configured ones, or those named with `--topic`).
//!
//! The settings are environment variables (or a `.env` file), read by
//! [`Config::from_env`](crate::Config::from_env); [`SETTINGS`] lists them with their
//! defaults for `coolriel --help`; the tests keep it equal to what the service reads and
//! to `.env.example`.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "coolriel",
    version,
    about = "Turns user and order events into emails and keeps their history"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume the events and write the emails and the history (the default).
    Run,
    /// Re-read the topics from the beginning (or a time) and rebuild the history and the
    /// users and orders projections; sends no email and commits nothing.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A topic to replay; repeat for several [default: every topic of COOLRIEL_TOPICS,
    /// i.e. user-events and order-events].
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Only events at or after this instant (RFC 3339, e.g. 2025-11-09T14:00:00Z).
    #[arg(long, value_parser = parse_instant)]
    pub since: Option<DateTime<Utc>>,
    /// Only events before this instant (RFC 3339).
    #[arg(long, value_parser = parse_instant)]
    pub until: Option<DateTime<Utc>>,
    /// Where to write history.json, users.json and orders.json [default: $OUTPUT_DIR/replay].
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

impl Cli {
    /// Parse the command line; `--help` ends with every setting and its default.
    pub fn parse_with_settings_help() -> Self {
        let matches = Self::command().after_help(settings_help()).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|error| error.exit())
    }
}

/// (variable, default as `.env.example` writes it, what it does); an empty default has
/// its meaning in the text. Every setting coolriel reads ([`crate::config`],
/// [`crate::telemetry`]).
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "the brokers"),
    ("KAFKA_GROUP_ID", "coolriel", "the consumer group"),
    (
        "COOLRIEL_TOPICS",
        "user-events,order-events",
        "the topics consumed (comma-separated), each with its <topic>.dlq",
    ),
    (
        "OUTPUT_DIR",
        "output",
        "emails and history.jsonl; a relative path is under the working directory, created if missing",
    ),
    (
        "TEMPLATES_DIR",
        "",
        "a directory of the 24 Handlebars templates replacing the built-in ones [default: built in]",
    ),
    (
        "COOLRIEL_MAX_ATTEMPTS",
        "5",
        "handler attempts before the dead-letter topic",
    ),
    (
        "COOLRIEL_RETRY_BACKOFF_MS",
        "200",
        "first retry wait, doubled up to 5 s",
    ),
    (
        "COOLRIEL_HANDLER_TIMEOUT_MS",
        "30000",
        "a handler answering later has failed",
    ),
    (
        "COOLRIEL_MAX_IN_FLIGHT",
        "256",
        "messages in progress per partition",
    ),
    (
        "COOLRIEL_TEXT_FILES",
        "false",
        "also write each email's plain-text part as <name>.txt beside its HTML file",
    ),
    (
        "COOLRIEL_EMAIL_WRITERS",
        "",
        "writer actors (threads) per kind of email, 1..64 [default: one per CPU, at most 4]",
    ),
    (
        "COOLRIEL_DRAIN_TIMEOUT_MS",
        "10000",
        "how long a revoke or a shutdown waits for the messages in progress",
    ),
    (
        "KAFKA_SESSION_TIMEOUT_MS",
        "10000",
        "how soon a dead member's partitions move to another",
    ),
    (
        "KAFKA_FETCH_WAIT_MAX_MS",
        "25",
        "longest a fetch waits at the broker for new events (1..10000)",
    ),
    (
        "COOLRIEL_ADMIN_ADDR",
        "127.0.0.1:5001",
        "health, readiness, metrics and the email gallery (IP:PORT)",
    ),
    (
        "COOLRIEL_LAG_REFRESH_MS",
        "5000",
        "how often the lag gauges are read from the broker (at least 100)",
    ),
    (
        "COOLRIEL_RESTART_LIMIT",
        "5",
        "actor restarts (after panics) within the window before the service reports not ready and exits non-zero",
    ),
    (
        "COOLRIEL_RESTART_WINDOW_MS",
        "60000",
        "the window of the restart limit",
    ),
    (
        "COOLRIEL_SHUTDOWN_TIMEOUT_MS",
        "15000",
        "the most a shutdown (SIGTERM, SIGINT) may take, a dead broker included (at least 1000)",
    ),
    ("RUST_LOG", "info", "log filter (tracing EnvFilter syntax)"),
    (
        "LOG_FORMAT",
        "text",
        "text, or json for one object per line",
    ),
];

/// The fault hook of the tests (`every=N[,times=K]`: a partition actor panics on every
/// N-th message). Read, but never listed: nothing in production sets it.
pub const TEST_ONLY_SETTING: &str = "COOLRIEL_FAULT_PARTITION_PANIC";

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

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|error| format!("expected an RFC 3339 time like 2025-11-09T14:00:00Z: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// Settings read by the logging set-up rather than by [`Config`], and the test-only
    /// fault hook, which `--help` leaves out on purpose.
    const NOT_LISTED: [&str; 3] = ["RUST_LOG", "LOG_FORMAT", TEST_ONLY_SETTING];

    #[test]
    fn the_help_lists_every_setting_the_service_reads() {
        let read = RefCell::new(BTreeSet::new());
        Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_owned());
            None
        })
        .expect("defaults");
        let read: BTreeSet<String> = read
            .into_inner()
            .into_iter()
            .filter(|name| !NOT_LISTED.contains(&name.as_str()))
            .collect();
        let listed: BTreeSet<String> = SETTINGS
            .iter()
            .map(|(name, ..)| (*name).to_owned())
            .filter(|name| !NOT_LISTED.contains(&name.as_str()))
            .collect();
        assert_eq!(listed, read);
    }

    #[test]
    fn the_listed_defaults_are_the_defaults() {
        let config = Config::from_lookup(|name| {
            SETTINGS
                .iter()
                .find(|(listed, default, _)| *listed == name && !default.is_empty())
                .map(|(_, default, _)| (*default).to_owned())
        })
        .expect("the listed defaults are valid");
        assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn the_env_example_documents_every_setting_with_its_default() {
        let example = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example"),
        )
        .expect(".env.example");
        for (name, default, _) in SETTINGS {
            let documented = example.lines().any(|line| {
                line.split_once('=').is_some_and(|(key, value)| {
                    key == *name && (default.is_empty() || value == *default)
                })
            });
            assert!(documented, "`{name}={default}` is not in .env.example");
        }
    }

    #[test]
    fn the_settings_help_shows_names_and_defaults() {
        let help = settings_help();
        let line = help
            .lines()
            .find(|line| line.trim_start().starts_with("KAFKA_BOOTSTRAP_SERVERS "))
            .unwrap_or_else(|| panic!("no KAFKA_BOOTSTRAP_SERVERS in {help}"));
        assert!(
            line.ends_with(" the brokers [default: 127.0.0.1:9092]"),
            "{help}"
        );
        assert!(help.contains("[default: built in]"), "{help}");
    }

    #[test]
    fn no_subcommand_means_run() {
        let cli = Cli::try_parse_from(["coolriel"]).expect("parses");
        assert!(cli.command.is_none());
    }

    #[test]
    fn replay_takes_rfc3339_bounds() {
        let cli =
            Cli::try_parse_from(["coolriel", "replay", "--since", "2025-11-09T14:00:00+01:00"])
                .expect("parses");
        let Some(Command::Replay(args)) = cli.command else {
            panic!("expected replay");
        };
        assert_eq!(
            args.since.map(|since| since.to_rfc3339()),
            Some("2025-11-09T13:00:00+00:00".to_owned())
        );
        assert!(Cli::try_parse_from(["coolriel", "replay", "--since", "yesterday"]).is_err());
    }

    #[test]
    fn replay_topics_are_repeatable_and_default_to_none() {
        let topics = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).expect("parses");
            let Some(Command::Replay(args)) = cli.command else {
                panic!("expected replay");
            };
            args.topics
        };
        assert!(topics(&["coolriel", "replay"]).is_empty());
        assert_eq!(
            topics(&["coolriel", "replay", "--topic", "order-events"]),
            ["order-events"]
        );
        assert_eq!(
            topics(&[
                "coolriel",
                "replay",
                "--topic",
                "user-events",
                "--topic",
                "order-events"
            ]),
            ["user-events", "order-events"]
        );
    }
}
