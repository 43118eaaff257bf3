//! `coolriel replay` against the real broker: counts, `--since`/`--until`, determinism.

mod common;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, SecondsFormat, Utc};
use common::*;
use coolriel::{ReplayOptions, replay};

/// Run the built binary's `replay` on `topic`; returns its stdout.
fn replay_cli(topic: &str, output_dir: &Path, extra: &[&str]) -> String {
    // A temporary working directory, so no developer's .env is picked up.
    let cwd = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_coolriel"))
        .arg("replay")
        .arg("--output-dir")
        .arg(output_dir)
        .args(extra)
        .current_dir(cwd.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("COOLRIEL_TOPICS", topic)
        .env("OUTPUT_DIR", cwd.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run coolriel replay");
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .expect("instant")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_counts_filters_by_time_and_is_deterministic() {
    init_logs();
    let topic = unique("replay");
    create_topic(&topic, 3).await;
    let producer = producer();
    let now = Utc::now().timestamp_millis();
    let hour_ago = now - 3_600_000;
    // An hour ago: users 1..=10 created, 1..=4 deleted. Now: users 11..=15 created.
    for id in 1..=10 {
        publish(&producer, &topic, None, &created(id), Some(hour_ago + id)).await;
    }
    for id in 1..=4 {
        publish(
            &producer,
            &topic,
            None,
            &deleted(id),
            Some(hour_ago + 100 + id),
        )
        .await;
    }
    for id in 11..=15 {
        publish(&producer, &topic, None, &created(id), Some(now + id)).await;
    }
    // Neither of these is an event of ours: counted apart, not in the history.
    publish_raw(
        &producer,
        &topic,
        Some(0),
        None,
        Some(br#"{"event": "UserUpdated", "id": 1}"#),
    )
    .await;
    publish_raw(&producer, &topic, Some(0), None, Some(b"not json")).await;

    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    let printed = replay_cli(&topic, first.path(), &[]);
    for line in [
        "events: 19",
        "UserCreated: 15",
        "UserDeleted: 4",
        "users: 11",
        "invalid: 1 (not decodable, skipped)",
    ] {
        assert!(
            printed.lines().any(|printed| printed == line),
            "{line:?} not in:\n{printed}"
        );
    }
    assert!(
        printed.contains("UserUpdated: 1 (unknown type, skipped)"),
        "{printed}"
    );
    replay_cli(&topic, second.path(), &[]);
    for file in ["history.json", "users.json"] {
        let a = std::fs::read(first.path().join(file)).expect("first replay");
        let b = std::fs::read(second.path().join(file)).expect("second replay");
        assert!(a == b, "{file} differs between two replays of the same log");
    }

    let users: serde_json::Value = serde_json::from_slice(
        &std::fs::read(first.path().join("users.json")).expect("users.json"),
    )
    .expect("json");
    let ids: Vec<i64> = users["users"]
        .as_array()
        .expect("users array")
        .iter()
        .map(|user| user["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, (5..=15).collect::<Vec<_>>());
    assert_eq!(users["users"][0]["user_type"], user_type_of(5).name());
    let history: serde_json::Value = serde_json::from_slice(
        &std::fs::read(first.path().join("history.json")).expect("history.json"),
    )
    .expect("json");
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 19);
    for event in events {
        for field in ["topic", "partition", "offset", "key", "timestamp", "event"] {
            assert!(event.get(field).is_some(), "{field} missing in {event}");
        }
    }

    // --since half an hour ago: only the five recent users.
    let since = tempfile::tempdir().expect("temp dir");
    let printed = replay_cli(
        &topic,
        since.path(),
        &["--since", &rfc3339(now - 1_800_000)],
    );
    assert!(
        printed.lines().any(|line| line == "UserCreated: 5"),
        "{printed}"
    );
    assert!(!printed.contains("UserDeleted"), "{printed}");

    // The same through the library, with --until too.
    let options = |since: Option<i64>, until: Option<i64>, dir: &Path| ReplayOptions {
        bootstrap_servers: bootstrap(),
        topics: vec![topic.clone()],
        since: since.and_then(DateTime::<Utc>::from_timestamp_millis),
        until: until.and_then(DateTime::<Utc>::from_timestamp_millis),
        output_dir: dir.to_owned(),
        timeout: TIMEOUT,
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let old_only = {
        let options = options(None, Some(now - 1_800_000), dir.path());
        tokio::task::spawn_blocking(move || replay(&options))
            .await
            .expect("join")
            .expect("replay")
    };
    assert_eq!(old_only.counts.get("UserCreated"), Some(&10));
    assert_eq!(old_only.counts.get("UserDeleted"), Some(&4));
    assert_eq!(old_only.users, 6);

    // A time after the last message: nothing (tansu answers offset 0 there, so this
    // checks the per-message timestamp filter).
    let dir = tempfile::tempdir().expect("temp dir");
    let future = {
        let options = options(Some(now + 3_600_000), None, dir.path());
        tokio::task::spawn_blocking(move || replay(&options))
            .await
            .expect("join")
            .expect("replay")
    };
    assert!(future.counts.is_empty(), "{future:?}");
    assert_eq!(future.users, 0);
}
