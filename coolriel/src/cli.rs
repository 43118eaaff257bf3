//! The command line: `coolriel` (or `coolriel run`) runs the service until SIGINT/SIGTERM;
//! `coolriel replay` rebuilds the history and the users and orders projections from the
//! topics (all configured ones, or those named with `--topic`).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};

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

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|error| format!("expected an RFC 3339 time like 2025-11-09T14:00:00Z: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
