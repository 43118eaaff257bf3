//! `coolriel replay` against the real broker: counts, `--since`/`--until`, determinism,
//! both topics or one (`--topic`), the users and orders projections.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, SecondsFormat, Utc};
use coolriel::{ReplayOptions, replay};

use crate::helpers::*;

/// Run the built binary's `replay` with `COOLRIEL_TOPICS=topics`; returns its stdout.
fn replay_cli(topics: &str, output_dir: &Path, extra: &[&str]) -> String {
    // A temporary working directory, so no developer's .env is picked up.
    let cwd = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_coolriel"))
        .arg("replay")
        .arg("--output-dir")
        .arg(output_dir)
        .args(extra)
        .current_dir(cwd.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("COOLRIEL_TOPICS", topics)
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
    let producer = producer(&bootstrap());
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

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_slice(&bytes).expect("json")
}

fn assert_lines(printed: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            printed.lines().any(|printed| printed == *line),
            "{line:?} not in:\n{printed}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_reads_both_topics_or_one_and_rebuilds_the_orders() {
    init_logs();
    let users_topic = unique("replay-users");
    let orders_topic = unique("replay-orders");
    create_topic(&users_topic, 3).await;
    create_topic(&orders_topic, 3).await;
    let producer = producer(&bootstrap());
    let base = Utc::now().timestamp_millis() - 3_600_000;
    // Users 1..=4 created, user 4 deleted; orders 1..=6 of users 1..=4, orders 1..=4 paid,
    // order 4 (paid) and order 6 (unpaid) deleted. Timestamps interleave the two topics.
    let owner = |order: i64| (order - 1) % 4 + 1;
    for id in 1..=4 {
        publish(
            &producer,
            &users_topic,
            None,
            &created(id),
            Some(base + id * 10),
        )
        .await;
    }
    for order in 1..=6 {
        let at = base + order * 10 + 5;
        publish(
            &producer,
            &orders_topic,
            None,
            &order_created(order, owner(order)),
            Some(at),
        )
        .await;
    }
    for order in 1..=4 {
        let at = base + 100 + order;
        publish(
            &producer,
            &orders_topic,
            None,
            &order_paid(order, owner(order)),
            Some(at),
        )
        .await;
    }
    publish(&producer, &users_topic, None, &deleted(4), Some(base + 150)).await;
    for (order, was_paid) in [(4, true), (6, false)] {
        let event = order_deleted(order, owner(order), was_paid);
        publish(
            &producer,
            &orders_topic,
            None,
            &event,
            Some(base + 200 + order),
        )
        .await;
    }
    // An order event type this build does not know: counted apart, skipped.
    publish_raw(
        &producer,
        &orders_topic,
        Some(0),
        Some(b"2"),
        Some(br#"{"event": "OrderShipped", "id": 2, "datetime": "2025-11-09 14:03:12"}"#),
    )
    .await;

    // Both topics: the default, COOLRIEL_TOPICS.
    let both_topics = format!("{users_topic},{orders_topic}");
    let both = tempfile::tempdir().expect("temp dir");
    let printed = replay_cli(&both_topics, both.path(), &[]);
    assert_lines(
        &printed,
        &[
            &format!("topics: {users_topic}, {orders_topic}"),
            "events: 17",
            "UserCreated: 4",
            "UserDeleted: 1",
            "OrderCreated: 6",
            "OrderPaid: 4",
            "OrderDeleted: 2",
            "OrderShipped: 1 (unknown type, skipped)",
            "users: 3",
            "orders: 4",
        ],
    );
    for file in ["history.json", "users.json", "orders.json"] {
        assert!(
            printed.contains(&both.path().join(file).display().to_string()),
            "{file} named in:\n{printed}"
        );
    }

    // The same log replayed again, topics named with --topic this time: the same bytes.
    let again = tempfile::tempdir().expect("temp dir");
    replay_cli(
        &both_topics,
        again.path(),
        &["--topic", &users_topic, "--topic", &orders_topic],
    );
    for file in ["history.json", "users.json", "orders.json"] {
        let a = std::fs::read(both.path().join(file)).expect("first replay");
        let b = std::fs::read(again.path().join(file)).expect("second replay");
        assert!(a == b, "{file} differs between two replays of the same log");
    }

    let orders = read_json(&both.path().join("orders.json"));
    let orders = orders["orders"].as_array().expect("orders array");
    let ids: Vec<i64> = orders
        .iter()
        .map(|order| order["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, [1, 2, 3, 5]);
    for order in orders {
        let id = order["id"].as_i64().expect("id");
        assert_eq!(order["paid"], id <= 4, "order {id}");
        assert_eq!(order["user_id"], owner(id));
        assert_eq!(order["user_name"], format!("User {}", owner(id)));
        assert_eq!(order["user_type"], user_type_of(owner(id)).name());
        assert_eq!(
            order["total"],
            order_total(id).to_string(),
            "exact, as text"
        );
        let items = order["items"].as_array().expect("items");
        let expected = order_items(id);
        assert_eq!(items.len(), expected.len());
        for (item, expected) in items.iter().zip(&expected) {
            assert_eq!(item["name"], expected.name.as_str());
            assert_eq!(item["sku"], expected.sku.as_str());
            assert_eq!(item["quantity"], expected.quantity);
            assert_eq!(item["unit_price"], expected.unit_price.to_string());
            assert_eq!(item["line_total"], expected.line_total.to_string());
        }
    }
    let users = read_json(&both.path().join("users.json"));
    let user_ids: Vec<i64> = users["users"]
        .as_array()
        .expect("users array")
        .iter()
        .map(|user| user["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(user_ids, [1, 2, 3]);
    // One timeline: ordered by timestamp across the topics.
    let history = read_json(&both.path().join("history.json"));
    assert_eq!(
        history["topics"],
        serde_json::json!([users_topic.as_str(), orders_topic.as_str()])
    );
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 17);
    let timestamps: Vec<&str> = events
        .iter()
        .map(|event| event["timestamp"].as_str().expect("timestamp"))
        .collect();
    assert!(timestamps.windows(2).all(|pair| pair[0] <= pair[1]));
    let first_topics: Vec<&str> = events[..3]
        .iter()
        .map(|event| event["topic"].as_str().expect("topic"))
        .collect();
    assert_eq!(
        first_topics,
        [
            users_topic.as_str(),
            orders_topic.as_str(),
            users_topic.as_str()
        ],
        "user 1, order 1, user 2"
    );

    // Only the order topic: order counts, no user, the same orders projection.
    let orders_only = tempfile::tempdir().expect("temp dir");
    let printed = replay_cli(
        &both_topics,
        orders_only.path(),
        &["--topic", &orders_topic],
    );
    assert_lines(
        &printed,
        &[
            &format!("topics: {orders_topic}"),
            "events: 12",
            "OrderCreated: 6",
            "OrderPaid: 4",
            "OrderDeleted: 2",
            "users: 0",
            "orders: 4",
        ],
    );
    assert!(!printed.contains("UserCreated"), "{printed}");
    assert_eq!(
        std::fs::read(orders_only.path().join("orders.json")).expect("orders.json"),
        std::fs::read(both.path().join("orders.json")).expect("orders.json"),
        "the orders depend on the order events only"
    );
    let history = read_json(&orders_only.path().join("history.json"));
    let events = history["events"].as_array().expect("events");
    assert_eq!(events.len(), 12);
    assert!(
        events
            .iter()
            .all(|event| event["topic"] == orders_topic.as_str())
    );
    assert_eq!(
        read_json(&orders_only.path().join("users.json")),
        serde_json::json!({"users": []})
    );

    // Only the user topic, through the library.
    let users_only = tempfile::tempdir().expect("temp dir");
    let summary = {
        let options = ReplayOptions {
            bootstrap_servers: bootstrap(),
            topics: vec![users_topic.clone()],
            since: None,
            until: None,
            output_dir: users_only.path().to_owned(),
            timeout: TIMEOUT,
        };
        tokio::task::spawn_blocking(move || replay(&options))
            .await
            .expect("join")
            .expect("replay")
    };
    assert_eq!(summary.counts.get("UserCreated"), Some(&4));
    assert_eq!(summary.counts.get("OrderCreated"), None);
    assert_eq!((summary.users, summary.orders), (3, 0));
    assert_eq!(
        read_json(&users_only.path().join("orders.json")),
        serde_json::json!({"orders": []})
    );
}

#[test]
fn replaying_a_topic_that_does_not_exist_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = unique("missing");
    let cwd = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_coolriel"))
        .args(["replay", "--topic", &missing, "--output-dir"])
        .arg(dir.path())
        .current_dir(cwd.path())
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("RUST_LOG", "error")
        .output()
        .expect("run coolriel replay");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("topic {missing} does not exist")),
        "{stderr}"
    );
}
