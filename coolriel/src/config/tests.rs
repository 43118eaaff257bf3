//! The settings read from the environment: defaults, overrides and the errors that name
//! the variable.

use super::*;
use std::collections::HashMap;

fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn defaults_follow_the_design() {
    let config = from(&[]).expect("defaults");
    assert_eq!(config.bootstrap_servers, "127.0.0.1:9092");
    assert_eq!(config.group_id, "coolriel");
    assert_eq!(
        config.topics,
        vec!["user-events".to_owned(), "order-events".to_owned()]
    );
    assert_eq!(config.output_dir, PathBuf::from("output"));
    assert_eq!(config.templates_dir, None);
    assert_eq!(config.admin_addr.to_string(), "127.0.0.1:5001");
    assert_eq!(config.lag_refresh_interval, Duration::from_secs(5));
    assert_eq!(config.fetch_wait_max, Duration::from_millis(25));
}

#[test]
fn supervision_settings_are_read_and_checked() {
    let defaults = from(&[]).expect("defaults");
    assert_eq!(defaults.restart_policy, RestartPolicy::default());
    assert_eq!(defaults.shutdown_timeout, Duration::from_secs(15));
    assert_eq!(defaults.partition_panics, None, "no fault unless asked");
    let config = from(&[
        ("COOLRIEL_RESTART_LIMIT", "2"),
        ("COOLRIEL_RESTART_WINDOW_MS", "5000"),
        ("COOLRIEL_SHUTDOWN_TIMEOUT_MS", "4000"),
        ("COOLRIEL_FAULT_PARTITION_PANIC", "every=10,times=1"),
    ])
    .expect("valid");
    assert_eq!(config.restart_policy.limit, 2);
    assert_eq!(config.restart_policy.window, Duration::from_secs(5));
    assert_eq!(config.shutdown_timeout, Duration::from_secs(4));
    assert_eq!(
        config.partition_panics,
        Some(FaultPlan {
            every: 10,
            times: Some(1)
        })
    );
    for (name, bad) in [
        ("COOLRIEL_RESTART_LIMIT", "0"),
        ("COOLRIEL_SHUTDOWN_TIMEOUT_MS", "10"),
        ("COOLRIEL_FAULT_PARTITION_PANIC", "sometimes"),
    ] {
        let error = from(&[(name, bad)]).expect_err(bad);
        assert!(error.to_string().contains(name), "{error}");
    }
}

#[test]
fn the_fetch_wait_is_bounded() {
    let config = from(&[("KAFKA_FETCH_WAIT_MAX_MS", "500")]).expect("valid");
    assert_eq!(config.fetch_wait_max, Duration::from_millis(500));
    for bad in ["0", "10001", "soon"] {
        let error = from(&[("KAFKA_FETCH_WAIT_MAX_MS", bad)]).expect_err(bad);
        assert!(
            error.to_string().contains("KAFKA_FETCH_WAIT_MAX_MS"),
            "{error}"
        );
    }
}

#[test]
fn the_admin_address_takes_any_ip_and_port() {
    let config = from(&[
        ("COOLRIEL_ADMIN_ADDR", "0.0.0.0:8081"),
        ("COOLRIEL_LAG_REFRESH_MS", "1000"),
    ])
    .expect("valid");
    assert_eq!(config.admin_addr.to_string(), "0.0.0.0:8081");
    assert_eq!(config.lag_refresh_interval, Duration::from_secs(1));
    assert_eq!(
        from(&[("COOLRIEL_ADMIN_ADDR", "127.0.0.1:0")])
            .expect("port 0")
            .admin_addr
            .port(),
        0
    );
    let error = from(&[("COOLRIEL_ADMIN_ADDR", "localhost")]).expect_err("no port");
    assert!(error.to_string().contains("COOLRIEL_ADMIN_ADDR"), "{error}");
}

#[test]
fn environment_overrides_defaults() {
    let config = from(&[
        ("KAFKA_GROUP_ID", "g"),
        ("COOLRIEL_TOPICS", " a, b ,"),
        ("COOLRIEL_MAX_ATTEMPTS", "3"),
        ("COOLRIEL_RETRY_BACKOFF_MS", "10"),
    ])
    .expect("valid");
    assert_eq!(config.group_id, "g");
    assert_eq!(config.topics, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(config.retry.max_attempts, 3);
    assert_eq!(config.retry.initial_backoff, Duration::from_millis(10));
}

#[test]
fn one_topic_can_be_chosen_and_none_is_an_error() {
    let config = from(&[("COOLRIEL_TOPICS", "user-events")]).expect("valid");
    assert_eq!(config.topics, vec!["user-events".to_owned()]);
    let error = from(&[("COOLRIEL_TOPICS", " , ")]).expect_err("no topic");
    assert!(error.to_string().contains("COOLRIEL_TOPICS"), "{error}");
}

#[test]
fn bad_numbers_are_named_in_the_error() {
    let error = from(&[("COOLRIEL_MAX_ATTEMPTS", "many")]).expect_err("invalid");
    assert!(
        error.to_string().contains("COOLRIEL_MAX_ATTEMPTS"),
        "{error}"
    );
    assert!(from(&[("COOLRIEL_MAX_ATTEMPTS", "0")]).is_err());
}

#[test]
fn the_email_path_settings_are_checked() {
    let defaults = from(&[]).expect("defaults");
    assert!(!defaults.text_files, "HTML only by default, as the lab");
    assert!((1..=4).contains(&defaults.email_writers));
    let config = from(&[
        ("COOLRIEL_TEXT_FILES", "true"),
        ("COOLRIEL_EMAIL_WRITERS", "3"),
    ])
    .expect("valid");
    assert!(config.text_files);
    assert_eq!(config.email_writers, 3);
    let error = from(&[("COOLRIEL_TEXT_FILES", "maybe")]).expect_err("not a bool");
    assert!(error.to_string().contains("COOLRIEL_TEXT_FILES"), "{error}");
    for count in ["0", "65"] {
        let error = from(&[("COOLRIEL_EMAIL_WRITERS", count)]).expect_err("out of range");
        assert!(error.to_string().contains("between 1 and 64"), "{error}");
    }
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let policy = RetryPolicy {
        max_attempts: 10,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(350),
    };
    assert_eq!(policy.backoff(1), Duration::from_millis(100));
    assert_eq!(policy.backoff(2), Duration::from_millis(200));
    assert_eq!(policy.backoff(3), Duration::from_millis(350));
    assert_eq!(policy.backoff(30), Duration::from_millis(350));
}
