//! Settings, from the environment (DESIGN §5); `main` loads a `.env` file first when present.

use std::net::SocketAddr;
use std::time::Duration;

use supervision::{FaultPlan, RestartPolicy};

use crate::topics::Topics;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Everything store-manager needs to run. [`Settings::from_env`] reads it; tests build it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `sqlite://…` (embedded default) or `mysql://…`.
    pub database_url: String,
    /// Where the HTTP API listens; port 0 picks a free port (tests).
    pub listen_addr: SocketAddr,
    /// Open HTTP connections each worker thread (one per core) serves at once
    /// (`STORE_MANAGER_MAX_CONNECTIONS`). Beyond it new connections wait in the kernel's
    /// accept queue: overload costs clients waiting time instead of costing this process
    /// memory for thousands of requests that could only wait for the database anyway.
    pub max_connections_per_worker: usize,
    pub kafka: KafkaSettings,
    pub outbox: OutboxSettings,
    /// Where events go (`USER_EVENTS_TOPIC`, default `user-events`; `ORDER_EVENTS_TOPIC`,
    /// default `order-events`).
    pub topics: Topics,
    /// `STORE_MANAGER_RESTART_LIMIT` restarts of the outbox actor within
    /// `STORE_MANAGER_RESTART_WINDOW_SECS` make the service not ready and stop it with a
    /// failure (default 5 within 60 s).
    pub restart_policy: RestartPolicy,
    /// `STORE_MANAGER_SHUTDOWN_TIMEOUT_MS` (default 15000): the whole shutdown (requests in
    /// flight, the outbox's last drain, the lease release) is bounded by this, whatever
    /// the database and the broker do.
    pub shutdown_timeout: Duration,
    /// `STORE_MANAGER_FAULT_OUTBOX_PANIC` (**test only, never in production**,
    /// `every=N[,times=K]`): the outbox actor panics at the start of every N-th round.
    pub outbox_panics: Option<FaultPlan>,
}

#[derive(Debug, Clone)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// How long librdkafka keeps retrying one message before reporting it failed; the row
    /// then stays pending and is retried on the next poll.
    pub message_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// The fallback poll: picks up rows whose wake-up was lost (crash after commit, a
    /// second process writing to the same database, a failed publication).
    pub poll_interval: Duration,
    /// Rows read and sent per round trip to the database.
    pub batch_size: u64,
    /// Published rows are kept this long (for operators), then deleted.
    pub retention: Duration,
    pub cleanup_interval: Duration,
    /// Rows deleted per statement, so a cleanup never holds long locks.
    pub cleanup_batch_size: u64,
    /// How long the publishing replica's lease lasts without renewal: how long the others
    /// wait before taking over from one that died. Longer than the producer's message
    /// timeout, so no publication round can outlive it.
    pub lease_duration: Duration,
    /// This process's name in the lease (`OUTBOX_REPLICA_ID`). Default: host name and
    /// listening port, so a process restarted in the same place gets its lease back at
    /// once instead of waiting for it to expire, while replicas elsewhere differ.
    pub replica_id: Option<String>,
    /// `OUTBOX_READY_MAX_AGE_SECS` (default 60): readiness fails while the oldest pending
    /// row is older than this (publication is stuck, whatever the reason).
    pub ready_max_pending_age: Duration,
}

/// How much longer than a message timeout the outbox lease must be (database time of a
/// round, clock differences between replicas).
pub(crate) const LEASE_MARGIN: Duration = Duration::from_secs(10);

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/store.db?mode=rwc";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 5000)),
            max_connections_per_worker: 256,
            kafka: KafkaSettings {
                bootstrap_servers: "127.0.0.1:9092".to_owned(),
                message_timeout: Duration::from_secs(30),
            },
            outbox: OutboxSettings {
                poll_interval: Duration::from_secs(1),
                batch_size: 256,
                retention: Duration::from_secs(24 * 3600),
                cleanup_interval: Duration::from_secs(300),
                cleanup_batch_size: 1000,
                lease_duration: Duration::from_secs(45),
                replica_id: None,
                ready_max_pending_age: Duration::from_secs(60),
            },
            topics: Topics::default(),
            restart_policy: RestartPolicy::default(),
            shutdown_timeout: Duration::from_secs(15),
            outbox_panics: None,
        }
    }
}

impl Settings {
    /// The defaults, overridden by whatever the environment sets.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Settings::from_env`] with another source of variables (tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        if let Some(url) = lookup("DATABASE_URL").filter(|url| !url.trim().is_empty()) {
            if !(url.starts_with("sqlite:") || url.starts_with("mysql:")) {
                return Err(invalid(
                    "DATABASE_URL",
                    &url,
                    "expected sqlite://… or mysql://…",
                ));
            }
            settings.database_url = url;
        }
        if let Some(addr) = lookup("STORE_MANAGER_ADDR") {
            settings.listen_addr = addr
                .parse()
                .map_err(|error| invalid("STORE_MANAGER_ADDR", &addr, &format!("{error}")))?;
        }
        if let Some(limit) = parse_positive(&lookup, "STORE_MANAGER_MAX_CONNECTIONS")? {
            // More than the address space could hold is no limit at all.
            settings.max_connections_per_worker = usize::try_from(limit).unwrap_or(usize::MAX);
        }
        if let Some(servers) = lookup("KAFKA_BOOTSTRAP_SERVERS").filter(|s| !s.trim().is_empty()) {
            settings.kafka.bootstrap_servers = servers;
        }
        if let Some(topic) = lookup("USER_EVENTS_TOPIC").filter(|t| !t.trim().is_empty()) {
            settings.topics.user_events = topic;
        }
        if let Some(topic) = lookup("ORDER_EVENTS_TOPIC").filter(|t| !t.trim().is_empty()) {
            settings.topics.order_events = topic;
        }
        let millis = |name, current: Duration| -> Result<Duration, ConfigError> {
            Ok(parse_positive(&lookup, name)?.map_or(current, Duration::from_millis))
        };
        let seconds = |name, current: Duration| -> Result<Duration, ConfigError> {
            Ok(parse_positive(&lookup, name)?.map_or(current, Duration::from_secs))
        };
        settings.kafka.message_timeout =
            millis("KAFKA_MESSAGE_TIMEOUT_MS", settings.kafka.message_timeout)?;
        let outbox = &mut settings.outbox;
        outbox.poll_interval = millis("OUTBOX_POLL_INTERVAL_MS", outbox.poll_interval)?;
        outbox.retention = seconds("OUTBOX_RETENTION_SECS", outbox.retention)?;
        outbox.cleanup_interval = seconds("OUTBOX_CLEANUP_INTERVAL_SECS", outbox.cleanup_interval)?;
        if let Some(size) = parse_positive(&lookup, "OUTBOX_BATCH_SIZE")? {
            outbox.batch_size = size;
        }
        outbox.lease_duration = seconds("OUTBOX_LEASE_SECS", outbox.lease_duration)?;
        if let Some(id) = lookup("OUTBOX_REPLICA_ID").filter(|id| !id.trim().is_empty()) {
            if id.len() > 64 {
                return Err(invalid("OUTBOX_REPLICA_ID", &id, "at most 64 characters"));
            }
            outbox.replica_id = Some(id);
        }
        outbox.ready_max_pending_age =
            seconds("OUTBOX_READY_MAX_AGE_SECS", outbox.ready_max_pending_age)?;
        read_supervision_settings(&lookup, &mut settings)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Settings that are fine alone but not together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let lease = self.outbox.lease_duration;
        let message_timeout = self.kafka.message_timeout;
        if lease < message_timeout + LEASE_MARGIN {
            return Err(invalid(
                "OUTBOX_LEASE_SECS",
                &lease.as_secs().to_string(),
                &format!(
                    "must exceed KAFKA_MESSAGE_TIMEOUT_MS ({} ms) by at least {} s, or a slow publication round could outlive the lease",
                    message_timeout.as_millis(),
                    LEASE_MARGIN.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// The restart budget, the shutdown bound and the test-only fault hook.
fn read_supervision_settings(
    lookup: &impl Fn(&str) -> Option<String>,
    settings: &mut Settings,
) -> Result<(), ConfigError> {
    if let Some(limit) = parse_positive(lookup, "STORE_MANAGER_RESTART_LIMIT")? {
        settings.restart_policy.limit = u32::try_from(limit).unwrap_or(u32::MAX);
    }
    if let Some(secs) = parse_positive(lookup, "STORE_MANAGER_RESTART_WINDOW_SECS")? {
        settings.restart_policy.window = Duration::from_secs(secs);
    }
    if let Some(millis) = parse_positive(lookup, "STORE_MANAGER_SHUTDOWN_TIMEOUT_MS")? {
        if millis < 1000 {
            return Err(invalid(
                "STORE_MANAGER_SHUTDOWN_TIMEOUT_MS",
                &millis.to_string(),
                "at least 1000",
            ));
        }
        settings.shutdown_timeout = Duration::from_millis(millis);
    }
    if let Some(value) = lookup("STORE_MANAGER_FAULT_OUTBOX_PANIC").filter(|v| !v.trim().is_empty())
    {
        let plan = value
            .parse()
            .map_err(|error: supervision::FaultPlanError| {
                invalid(
                    "STORE_MANAGER_FAULT_OUTBOX_PANIC",
                    &value,
                    &error.to_string(),
                )
            })?;
        settings.outbox_panics = Some(plan);
    }
    Ok(())
}

fn parse_positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Option<u64>, ConfigError> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(0) => Err(invalid(name, &value, "must be greater than 0")),
        Ok(number) => Ok(Some(number)),
        Err(error) => Err(invalid(name, &value, &error.to_string())),
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
mod tests {
    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    #[test]
    fn defaults_run_with_no_setup() {
        let settings = from(&[]).expect("defaults");
        assert_eq!(settings.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(settings.listen_addr.to_string(), "127.0.0.1:5000");
        assert_eq!(settings.kafka.bootstrap_servers, "127.0.0.1:9092");
    }

    #[test]
    fn environment_overrides_defaults() {
        let settings = from(&[
            ("DATABASE_URL", "mysql://root@127.0.0.1:3306/store"),
            ("STORE_MANAGER_ADDR", "0.0.0.0:8080"),
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("OUTBOX_POLL_INTERVAL_MS", "250"),
            ("OUTBOX_BATCH_SIZE", "10"),
            ("STORE_MANAGER_MAX_CONNECTIONS", "32"),
        ])
        .expect("valid");
        assert_eq!(settings.database_url, "mysql://root@127.0.0.1:3306/store");
        assert_eq!(settings.listen_addr.port(), 8080);
        assert_eq!(settings.kafka.bootstrap_servers, "kafka:9092");
        assert_eq!(settings.outbox.poll_interval, Duration::from_millis(250));
        assert_eq!(settings.outbox.batch_size, 10);
        assert_eq!(settings.max_connections_per_worker, 32);
    }

    #[test]
    fn supervision_settings_are_read_and_checked() {
        let defaults = from(&[]).expect("defaults");
        assert_eq!(defaults.restart_policy, RestartPolicy::default());
        assert_eq!(defaults.shutdown_timeout, Duration::from_secs(15));
        assert_eq!(defaults.outbox_panics, None, "no fault unless asked");
        assert_eq!(
            defaults.outbox.ready_max_pending_age,
            Duration::from_secs(60)
        );
        let settings = from(&[
            ("STORE_MANAGER_RESTART_LIMIT", "2"),
            ("STORE_MANAGER_RESTART_WINDOW_SECS", "5"),
            ("STORE_MANAGER_SHUTDOWN_TIMEOUT_MS", "4000"),
            ("STORE_MANAGER_FAULT_OUTBOX_PANIC", "every=3"),
            ("OUTBOX_READY_MAX_AGE_SECS", "7"),
        ])
        .expect("valid");
        assert_eq!(settings.restart_policy.limit, 2);
        assert_eq!(settings.restart_policy.window, Duration::from_secs(5));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(4));
        assert_eq!(
            settings.outbox_panics,
            Some(FaultPlan {
                every: 3,
                times: None
            })
        );
        assert_eq!(
            settings.outbox.ready_max_pending_age,
            Duration::from_secs(7)
        );
        for (name, bad) in [
            ("STORE_MANAGER_RESTART_LIMIT", "0"),
            ("STORE_MANAGER_SHUTDOWN_TIMEOUT_MS", "10"),
            ("STORE_MANAGER_FAULT_OUTBOX_PANIC", "sometimes"),
        ] {
            let error = from(&[(name, bad)]).expect_err(bad).to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("DATABASE_URL", "postgres://x"),
            ("STORE_MANAGER_ADDR", "localhost"),
            ("OUTBOX_POLL_INTERVAL_MS", "0"),
            ("OUTBOX_BATCH_SIZE", "many"),
            ("STORE_MANAGER_MAX_CONNECTIONS", "0"),
            ("OUTBOX_LEASE_SECS", "20"),
        ] {
            let error = from(&[(name, value)]).expect_err(name).to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
