//! Settings, from the environment (DESIGN §5). `main` loads a `.env` file first when present.
//!
//! | variable                      | default                          | meaning |
//! |-------------------------------|----------------------------------|---------|
//! | `KAFKA_BOOTSTRAP_SERVERS`     | `127.0.0.1:9092`                 | the brokers |
//! | `KAFKA_GROUP_ID`              | `coolriel`                       | the consumer group |
//! | `KAFKA_SESSION_TIMEOUT_MS`    | `10000`                          | how soon a dead member's partitions move |
//! | `KAFKA_FETCH_WAIT_MAX_MS`     | `25`                             | longest a fetch waits at the broker for new events |
//! | `COOLRIEL_TOPICS`             | `user-events,order-events`       | the topics consumed (comma-separated) |
//! | `OUTPUT_DIR`                  | `output`                         | emails and `history.jsonl` |
//! | `TEMPLATES_DIR`               | (built in)                       | a directory of Handlebars templates replacing the built-in ones |
//! | `COOLRIEL_MAX_ATTEMPTS`       | `5`                              | handler attempts before the dead-letter topic |
//! | `COOLRIEL_RETRY_BACKOFF_MS`   | `200`                            | first retry wait, doubled up to 5 s |
//! | `COOLRIEL_HANDLER_TIMEOUT_MS` | `30000`                          | a handler answering later has failed |
//! | `COOLRIEL_MAX_IN_FLIGHT`      | `256`                            | messages in progress per partition |
//! | `COOLRIEL_TEXT_FILES`         | `false`                          | also write each email's plain-text part as `.txt` |
//! | `COOLRIEL_EMAIL_WRITERS`      | the number of CPUs (at most 4)   | writer threads per email kind |
//! | `COOLRIEL_DRAIN_TIMEOUT_MS`   | `10000`                          | how long a revoke or shutdown waits |
//! | `COOLRIEL_ADMIN_ADDR`         | `127.0.0.1:5001`                 | admin HTTP server (IP:PORT; 0 = any free port) |
//! | `COOLRIEL_LAG_REFRESH_MS`     | `5000`                           | period of the broker reads for the lag gauges |
//! | `COOLRIEL_RESTART_LIMIT`      | `5`                              | actor restarts within the window that stop the process (not ready, exit non-zero) |
//! | `COOLRIEL_RESTART_WINDOW_MS`  | `60000`                          | the window of the restart limit |
//! | `COOLRIEL_SHUTDOWN_TIMEOUT_MS`| `15000`                          | the most a shutdown (SIGTERM, SIGINT) may take, whatever the broker does |
//! | `COOLRIEL_FAULT_PARTITION_PANIC` | unset                         | **test only, never in production**: `every=N[,times=K]` makes a partition actor panic on every N-th message received (chaos runs, tests) |
//!
//! Read by [`crate::telemetry`] rather than here: `RUST_LOG` (default `info`) and
//! `LOG_FORMAT` (`json` for JSON lines, anything else for human-readable text).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use supervision::{FaultPlan, RestartPolicy};

use crate::handlers::SyncBatch;

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// How a failed handler is retried before its message goes to the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included; at least 1.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled for each further one.
    pub initial_backoff: Duration,
    /// Upper bound of the doubling, so a long outage is probed at a steady pace.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        self.initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// Everything the service needs to run. [`Config::from_env`] reads it; tests build it.
#[derive(Debug, Clone)]
pub struct Config {
    /// `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap_servers: String,
    /// `KAFKA_GROUP_ID`: instances sharing it split the partitions between them.
    pub group_id: String,
    /// `COOLRIEL_TOPICS` (comma-separated; default `user-events,order-events`): the topics
    /// the service subscribes to (each with its `<topic>.dlq`) and `coolriel replay` reads
    /// unless told `--topic`. Tests use random topic names.
    pub topics: Vec<String>,
    /// `OUTPUT_DIR`: emails and `history.jsonl` go here.
    pub output_dir: PathBuf,
    /// `TEMPLATES_DIR`: a directory whose Handlebars templates replace the ones built into
    /// the binary (all of them); `None`, the default, uses the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// `COOLRIEL_MAX_ATTEMPTS`, `COOLRIEL_RETRY_BACKOFF_MS`.
    pub retry: RetryPolicy,
    /// `COOLRIEL_HANDLER_TIMEOUT_MS`: a handler that does not answer in time counts as failed.
    pub handler_timeout: Duration,
    /// `COOLRIEL_MAX_IN_FLIGHT`: messages of one partition received but not yet done;
    /// the partition actor stops fetching at this number (back-pressure). Each message
    /// waits for its batch's sync before its slot frees, so the window must cover a few
    /// batches for the writers never to wait for work (see ADR 0008 for the
    /// measurements).
    pub max_in_flight: usize,
    /// `COOLRIEL_DRAIN_TIMEOUT_MS`: how long a revoke or a shutdown waits for in-flight
    /// messages; what is unfinished then is not committed and will be redelivered.
    pub drain_timeout: Duration,
    /// `KAFKA_SESSION_TIMEOUT_MS`: how soon the group notices a member that died without
    /// leaving (SIGKILL) and gives its partitions to the others.
    pub session_timeout: Duration,
    /// `KAFKA_FETCH_WAIT_MAX_MS` (1..=10000): the consumer's `fetch.wait.max.ms`, how long
    /// the broker may hold a fetch that found nothing new. Apache Kafka answers as soon as
    /// an event arrives, so this costs it no latency; tansu 0.6.0 holds every fetch for
    /// about this long, data or not, so the default is low (25 ms, where librdkafka's
    /// 500 ms delayed every email by half a second), paid for by idle polling. The
    /// measurements are in docs/adr/0008-consumer-fetch-and-prefetch-bounds.md.
    pub fetch_wait_max: Duration,
    /// `COOLRIEL_TEXT_FILES` (`true`/`false`): write each email's plain-text alternative
    /// as `{prefix}_{id}.txt` beside its HTML file. Off by default: the lab wrote HTML
    /// only, and a second file per email is a second inode to create, which is what
    /// writing emails costs.
    pub text_files: bool,
    /// `COOLRIEL_EMAIL_WRITERS` (1..=64): how many actors (each on a thread of its own)
    /// write each kind of email. File creation is kernel work, which two threads do faster
    /// than one even on 2 cores.
    pub email_writers: usize,
    /// How the history and the emails are made durable in batches: at most this many
    /// messages per sync, and the first of a batch waits at most this long for company.
    pub sync_batch: SyncBatch,
    /// `COOLRIEL_ADMIN_ADDR`: where the admin HTTP server listens (health, readiness,
    /// metrics, the email gallery). Port 0 picks a free port (tests);
    /// [`CoolrielHandle::admin_addr`](crate::CoolrielHandle::admin_addr) tells which.
    pub admin_addr: SocketAddr,
    /// `COOLRIEL_LAG_REFRESH_MS` (at least 100): how often the committed offsets and
    /// watermarks of the owned partitions are read from the broker for the lag gauges.
    pub lag_refresh_interval: Duration,
    /// `COOLRIEL_RESTART_LIMIT` restarts of any actors within `COOLRIEL_RESTART_WINDOW_MS`
    /// make the service not ready and stop it with a failure (see [`crate::health`]).
    pub restart_policy: RestartPolicy,
    /// `COOLRIEL_SHUTDOWN_TIMEOUT_MS`: the whole shutdown is bounded by this, a dead
    /// broker included (librdkafka's commit and close can wait for it forever); what
    /// could not be committed in time is logged and the process exits non-zero.
    pub shutdown_timeout: Duration,
    /// `COOLRIEL_FAULT_PARTITION_PANIC` (test only): when partition actors panic on purpose.
    pub partition_panics: Option<FaultPlan>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_id: "coolriel".into(),
            topics: vec![
                shared_events::topics::USER_EVENTS.into(),
                shared_events::topics::ORDER_EVENTS.into(),
            ],
            output_dir: PathBuf::from("output"),
            templates_dir: None,
            retry: RetryPolicy::default(),
            handler_timeout: Duration::from_secs(30),
            max_in_flight: 256,
            drain_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(10),
            fetch_wait_max: Duration::from_millis(25),
            text_files: false,
            email_writers: default_email_writers(),
            sync_batch: SyncBatch::default(),
            admin_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 5001)),
            lag_refresh_interval: Duration::from_secs(5),
            restart_policy: RestartPolicy::default(),
            shutdown_timeout: Duration::from_secs(15),
            partition_panics: None,
        }
    }
}

impl Config {
    /// The defaults, overridden by whatever the environment sets.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] with another source of variables (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        read_kafka_settings(&get, &mut config)?;
        read_output_settings(&get, &mut config)?;
        read_delivery_settings(&get, &mut config)?;
        read_admin_settings(&get, &mut config)?;
        read_supervision_settings(&get, &mut config)?;
        Ok(config)
    }

    /// Where the history of handled events is appended.
    pub fn history_path(&self) -> PathBuf {
        self.output_dir.join("history.jsonl")
    }
}

/// One writer per CPU, at most 4: more threads than cores only wait for the same cores.
fn default_email_writers() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
        .clamp(1, 4)
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(name, value, "expected true or false")),
    }
}

/// The brokers, the group, the topics and the consumer's timings.
fn read_kafka_settings(
    get: &impl Fn(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(value) = get("KAFKA_BOOTSTRAP_SERVERS") {
        config.bootstrap_servers = value;
    }
    if let Some(value) = get("KAFKA_GROUP_ID") {
        config.group_id = value;
    }
    if let Some(value) = get("COOLRIEL_TOPICS") {
        let topics: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|topic| !topic.is_empty())
            .map(str::to_owned)
            .collect();
        if topics.is_empty() {
            return Err(invalid("COOLRIEL_TOPICS", &value, "no topic named"));
        }
        config.topics = topics;
    }
    if let Some(millis) = parse_number(get, "KAFKA_SESSION_TIMEOUT_MS")? {
        config.session_timeout = Duration::from_millis(millis);
    }
    if let Some(millis) = parse_number_in(get, "KAFKA_FETCH_WAIT_MAX_MS", 1..=10_000)? {
        config.fetch_wait_max = Duration::from_millis(millis);
    }
    Ok(())
}

/// Where the emails and the history go, from which templates, and how they are written.
fn read_output_settings(
    get: &impl Fn(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(value) = get("OUTPUT_DIR") {
        config.output_dir = PathBuf::from(value);
    }
    if let Some(value) = get("TEMPLATES_DIR") {
        config.templates_dir = Some(PathBuf::from(value));
    }
    if let Some(value) = get("COOLRIEL_TEXT_FILES") {
        config.text_files = parse_bool("COOLRIEL_TEXT_FILES", &value)?;
    }
    if let Some(count) = parse_number_in(get, "COOLRIEL_EMAIL_WRITERS", 1..=64)? {
        config.email_writers = usize::try_from(count).unwrap_or(1);
    }
    Ok(())
}

/// How messages go through the handlers: retries, timeouts, how many at once, the drain.
fn read_delivery_settings(
    get: &impl Fn(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(attempts) = parse_number(get, "COOLRIEL_MAX_ATTEMPTS")? {
        if attempts == 0 {
            return Err(invalid("COOLRIEL_MAX_ATTEMPTS", "0", "at least 1"));
        }
        config.retry.max_attempts = u32::try_from(attempts)
            .map_err(|_| invalid("COOLRIEL_MAX_ATTEMPTS", &attempts.to_string(), "too big"))?;
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_RETRY_BACKOFF_MS")? {
        config.retry.initial_backoff = Duration::from_millis(millis);
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_HANDLER_TIMEOUT_MS")? {
        config.handler_timeout = Duration::from_millis(millis.max(1));
    }
    if let Some(count) = parse_number(get, "COOLRIEL_MAX_IN_FLIGHT")? {
        config.max_in_flight = usize::try_from(count.max(1)).unwrap_or(usize::MAX);
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_DRAIN_TIMEOUT_MS")? {
        config.drain_timeout = Duration::from_millis(millis);
    }
    Ok(())
}

/// The admin server's address and how often it reads the lag from the broker.
fn read_admin_settings(
    get: &impl Fn(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(value) = get("COOLRIEL_ADMIN_ADDR") {
        config.admin_addr = value.trim().parse().map_err(|error| {
            invalid(
                "COOLRIEL_ADMIN_ADDR",
                &value,
                &format!("{error} (expected IP:PORT, e.g. 0.0.0.0:5001)"),
            )
        })?;
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_LAG_REFRESH_MS")? {
        config.lag_refresh_interval = Duration::from_millis(millis.max(100));
    }
    Ok(())
}

/// The restart budget, the shutdown bound and the test-only fault hook.
fn read_supervision_settings(
    get: &impl Fn(&str) -> Option<String>,
    config: &mut Config,
) -> Result<(), ConfigError> {
    if let Some(limit) = parse_number(get, "COOLRIEL_RESTART_LIMIT")? {
        if limit == 0 {
            return Err(invalid("COOLRIEL_RESTART_LIMIT", "0", "at least 1"));
        }
        config.restart_policy.limit = u32::try_from(limit).unwrap_or(u32::MAX);
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_RESTART_WINDOW_MS")? {
        config.restart_policy.window = Duration::from_millis(millis.max(1));
    }
    if let Some(millis) = parse_number(get, "COOLRIEL_SHUTDOWN_TIMEOUT_MS")? {
        if millis < 1000 {
            return Err(invalid(
                "COOLRIEL_SHUTDOWN_TIMEOUT_MS",
                &millis.to_string(),
                "at least 1000",
            ));
        }
        config.shutdown_timeout = Duration::from_millis(millis);
    }
    if let Some(value) = get("COOLRIEL_FAULT_PARTITION_PANIC") {
        let plan = value
            .parse()
            .map_err(|error: supervision::FaultPlanError| {
                invalid("COOLRIEL_FAULT_PARTITION_PANIC", &value, &error.to_string())
            })?;
        tracing::warn!(plan = %value, "COOLRIEL_FAULT_PARTITION_PANIC is set: partition actors will panic on purpose (test only)");
        config.partition_panics = Some(plan);
    }
    Ok(())
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    get(name)
        .map(|value| {
            value
                .trim()
                .parse::<u64>()
                .map_err(|error| invalid(name, &value, &error.to_string()))
        })
        .transpose()
}

/// [`parse_number`], refusing a number outside `range`.
fn parse_number_in(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    match parse_number(get, name)? {
        Some(number) if !range.contains(&number) => Err(invalid(
            name,
            &number.to_string(),
            &format!("between {} and {}", range.start(), range.end()),
        )),
        number => Ok(number),
    }
}

fn invalid(name: &'static str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
