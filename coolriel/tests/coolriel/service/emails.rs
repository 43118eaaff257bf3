//! One email per event and every event in the history, across partitions and topics, in
//! order per key, committed; the lab's own messages handled like ours.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use coolriel::{Config, Coolriel};
use shared_events::{UserType, topics};

use super::PARTITIONS;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_created_and_deleted_across_partitions_get_one_email_each() {
    init_logs();
    let topic = unique("users");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    let users: i64 = 30;

    // Half of the events exist before the service starts (a new group reads from the
    // beginning), half arrive while it runs.
    for id in 1..=users {
        publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
    }
    let service = Coolriel::start(config(&topic, &group, dir.path())).expect("start");
    for id in 1..=users {
        publish(&producer, &topic, Some((id % 3) as i32), &deleted(id), None).await;
    }

    eventually("every event in the history", TIMEOUT, || {
        history(dir.path()).len() >= 2 * users as usize
    })
    .await;
    eventually("every goodbye email", TIMEOUT, || {
        count_prefixed(dir.path(), "goodbye_", ".html") == users as usize
    })
    .await;

    let stopping = Instant::now();
    service.shutdown().await.expect("clean shutdown");
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        stopping.elapsed()
    );

    // Exactly the expected files: one welcome and one goodbye per user, each with its
    // plain-text alternative, and the history.
    let mut expected: BTreeSet<String> = BTreeSet::from(["history.jsonl".to_owned()]);
    for id in 1..=users {
        for kind in ["welcome", "goodbye"] {
            for extension in ["html", "txt"] {
                expected.insert(format!("{kind}_{id}.{extension}"));
            }
        }
    }
    assert_eq!(files(dir.path()), expected);

    for id in 1..=users {
        let user_type = user_type_of(id);
        let welcome = std::fs::read_to_string(dir.path().join(format!("welcome_{id}.html")))
            .expect("welcome");
        assert!(
            welcome.contains(welcome_marker(user_type)),
            "user {id}: {welcome}"
        );
        assert!(welcome.contains(&format!("user{id}@example.com")));
        let goodbye = std::fs::read_to_string(dir.path().join(format!("goodbye_{id}.html")))
            .expect("goodbye");
        assert!(
            goodbye.contains(goodbye_marker(user_type)),
            "user {id}: {goodbye}"
        );
        let text = std::fs::read_to_string(dir.path().join(format!("welcome_{id}.txt")))
            .expect("text alternative");
        assert!(text.contains(&format!("User {id}")));
    }

    let history = history(dir.path());
    assert_eq!(
        history.len(),
        2 * users as usize,
        "no duplicate in a clean run"
    );
    let positions: BTreeSet<(i32, i64)> = history
        .iter()
        .map(|record| (record.partition, record.offset))
        .collect();
    assert_eq!(positions.len(), history.len());
    let partitions: BTreeSet<i32> = history.iter().map(|record| record.partition).collect();
    assert_eq!(partitions, BTreeSet::from([0, 1, 2]));
    // Per key, the history follows the log: created before deleted.
    let mut seen: HashMap<String, Vec<&str>> = HashMap::new();
    for record in &history {
        assert_eq!(record.topic, topic);
        let key = record.key.clone().expect("our events have a key");
        seen.entry(key)
            .or_default()
            .push(record.event_type.as_str());
    }
    for (key, types) in &seen {
        assert_eq!(types, &["UserCreated", "UserDeleted"], "user {key}");
    }

    // Shutdown committed everything that was handled.
    let high: Vec<i64> = watermarks(&bootstrap(), &topic, PARTITIONS)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS), high);
    // Nothing was dead-lettered.
    assert_eq!(
        watermarks(&bootstrap(), &topics::dead_letter_topic(&topic), 1),
        vec![(0, 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_get_one_confirmation_each_and_paid_orders_one_receipt() {
    init_logs();
    let users_topic = unique("users");
    let orders_topic = unique("orders");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    // No dead-letter topics: the service creates one for each topic it subscribes to.
    create_source_topic(&users_topic, PARTITIONS).await;
    create_source_topic(&orders_topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    let users: i64 = 6;
    let orders: i64 = 18;
    // Orders of users 1..=6 in turn: every user type places some.
    let owner = |order: i64| (order - 1) % users + 1;
    let paid: BTreeSet<i64> = (1..=orders).filter(|order| order % 3 != 0).collect();
    // One paid and one unpaid order deleted: recorded, no email.
    let deleted_orders = [(4_i64, true), (6_i64, false)];

    for id in 1..=users {
        publish(&producer, &users_topic, None, &created(id), None).await;
    }
    // Half of the orders before the service starts, half while it runs.
    for order in 1..=orders / 2 {
        publish(
            &producer,
            &orders_topic,
            None,
            &order_created(order, owner(order)),
            None,
        )
        .await;
    }
    let service = Coolriel::start(config_for(
        &[users_topic.as_str(), orders_topic.as_str()],
        &group,
        dir.path(),
    ))
    .expect("start");
    for order in orders / 2 + 1..=orders {
        publish(
            &producer,
            &orders_topic,
            None,
            &order_created(order, owner(order)),
            None,
        )
        .await;
    }
    for &order in &paid {
        publish(
            &producer,
            &orders_topic,
            None,
            &order_paid(order, owner(order)),
            None,
        )
        .await;
    }
    for (order, was_paid) in deleted_orders {
        let event = order_deleted(order, owner(order), was_paid);
        publish(&producer, &orders_topic, None, &event, None).await;
    }

    let events = users as usize + orders as usize + paid.len() + deleted_orders.len();
    eventually("every event in the history", TIMEOUT, || {
        history(dir.path()).len() >= events
    })
    .await;
    eventually("every confirmation and receipt", TIMEOUT, || {
        count_prefixed(dir.path(), "order_", ".html") == orders as usize
            && count_prefixed(dir.path(), "receipt_", ".html") == paid.len()
    })
    .await;
    let assigned: BTreeSet<String> = service
        .assigned_partitions()
        .into_iter()
        .map(|(topic, _)| topic)
        .collect();
    assert_eq!(
        assigned,
        BTreeSet::from([users_topic.clone(), orders_topic.clone()]),
        "subscribed to both topics"
    );
    service.shutdown().await.expect("clean shutdown");

    // Exactly: a welcome per user, a confirmation per order, a receipt per paid order,
    // each with its text alternative; nothing for the deletions.
    let mut expected: BTreeSet<String> = BTreeSet::from(["history.jsonl".to_owned()]);
    for extension in ["html", "txt"] {
        for id in 1..=users {
            expected.insert(format!("welcome_{id}.{extension}"));
        }
        for order in 1..=orders {
            expected.insert(format!("order_{order}.{extension}"));
        }
        for order in &paid {
            expected.insert(format!("receipt_{order}.{extension}"));
        }
    }
    assert_eq!(files(dir.path()), expected);

    for order in 1..=orders {
        let user = owner(order);
        let user_type = user_type_of(user);
        let read = |name: String| {
            std::fs::read_to_string(dir.path().join(&name)).unwrap_or_else(|error| {
                panic!("{name}: {error}");
            })
        };
        let mut bodies = vec![(
            "confirmation",
            confirmation_marker(user_type),
            read(format!("order_{order}.html")),
            read(format!("order_{order}.txt")),
        )];
        if paid.contains(&order) {
            bodies.push((
                "receipt",
                receipt_marker(user_type),
                read(format!("receipt_{order}.html")),
                read(format!("receipt_{order}.txt")),
            ));
        }
        for (what, marker, html, text) in bodies {
            for body in [&html, &text] {
                assert!(body.contains(marker), "order {order} {what}: {body}");
                assert!(
                    body.contains(&format!("User {user}")),
                    "order {order} {what}"
                );
                assert!(
                    body.contains(&format!("commande n° {order}")),
                    "order {order}"
                );
                assert!(
                    body.contains(&format!("{} $", order_total(order))),
                    "order {order} {what}: total"
                );
                for item in order_items(order) {
                    for field in [&item.name, &item.sku, &item.line_total.to_string()] {
                        assert!(
                            body.contains(field.as_str()),
                            "order {order} {what}: {field}"
                        );
                    }
                }
            }
            assert!(html.ends_with("</html>\n"), "order {order} {what} is whole");
        }
    }

    // The history has every event once, from its own topic, in order per order.
    let history = history(dir.path());
    assert_eq!(history.len(), events, "no duplicate in a clean run");
    let mut per_type: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut per_order: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for record in &history {
        *per_type
            .entry((record.topic.clone(), record.event_type.clone()))
            .or_default() += 1;
        if record.topic == orders_topic {
            let id = record.event.event.aggregate_id();
            assert_eq!(record.key, Some(id.to_string()), "key = order id");
            per_order
                .entry(id)
                .or_default()
                .push(record.event_type.clone());
        }
    }
    assert_eq!(
        per_type,
        BTreeMap::from([
            (
                (users_topic.clone(), "UserCreated".to_owned()),
                users as usize
            ),
            (
                (orders_topic.clone(), "OrderCreated".to_owned()),
                orders as usize
            ),
            ((orders_topic.clone(), "OrderPaid".to_owned()), paid.len()),
            ((orders_topic.clone(), "OrderDeleted".to_owned()), 2),
        ])
    );
    for (order, types) in &per_order {
        let mut expected = vec!["OrderCreated"];
        if paid.contains(order) {
            expected.push("OrderPaid");
        }
        if deleted_orders.iter().any(|(deleted, _)| deleted == order) {
            expected.push("OrderDeleted");
        }
        assert_eq!(types, &expected, "order {order}");
    }

    // Both topics committed to their end (nothing to commit on a partition that got no
    // message), both dead-letter topics exist and are empty.
    for topic in [&users_topic, &orders_topic] {
        let high: Vec<i64> = watermarks(&bootstrap(), topic, PARTITIONS)
            .into_iter()
            .map(|(_, high)| if high == 0 { -1 } else { high })
            .collect();
        assert_eq!(
            committed(&bootstrap(), topic, &group, PARTITIONS),
            high,
            "{topic}"
        );
        assert_eq!(
            watermarks(&bootstrap(), &topics::dead_letter_topic(topic), 1),
            vec![(0, 0)],
            "{topic}.dlq"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_labs_own_messages_are_handled_like_ours() {
    init_logs();
    let topic = unique("lab");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    // Byte for byte what the Python lab publishes: no key, no event_id, no user type.
    let lab_created = br#"{"event": "UserCreated", "id": 7, "name": "Ada Lovelace", "email": "alovelace@example.com", "datetime": "2025-11-09 14:03:12.123456"}"#;
    let lab_unknown = br#"{"event": "UserUpdated", "id": 7, "name": "Ada King", "email": "alovelace@example.com", "datetime": "2025-11-09 14:04:00.000001"}"#;
    let lab_deleted = br#"{"event": "UserDeleted", "id": 8, "name": "Grace Hopper", "email": "ghopper@example.com", "datetime": "2025-11-09 14:05:40"}"#;
    for payload in [&lab_created[..], &lab_unknown[..], &lab_deleted[..]] {
        publish_raw(&producer, &topic, Some(1), None, Some(payload)).await;
    }

    // The default email files, as the lab wrote them: HTML only.
    let lab_defaults = Config {
        text_files: Config::default().text_files,
        ..config(&topic, &group, dir.path())
    };
    let service = Coolriel::start(lab_defaults).expect("start");
    eventually("both lab events handled", TIMEOUT, || {
        history(dir.path()).len() >= 2
    })
    .await;
    eventually("the goodbye email", TIMEOUT, || {
        dir.path().join("goodbye_8.html").exists()
    })
    .await;
    service.shutdown().await.expect("clean shutdown");

    let welcome = std::fs::read_to_string(dir.path().join("welcome_7.html")).expect("welcome");
    assert!(welcome.contains("Ada Lovelace"));
    assert!(welcome.contains("alovelace@example.com"));
    assert!(
        welcome.contains(welcome_marker(UserType::Client)),
        "no type means Client"
    );
    assert!(
        welcome.contains("9 novembre 2025 à 14 h 03"),
        "the event's own date: {welcome}"
    );
    let goodbye = std::fs::read_to_string(dir.path().join("goodbye_8.html")).expect("goodbye");
    assert!(goodbye.contains("Grace Hopper"));
    assert_eq!(
        files(dir.path()),
        BTreeSet::from(["goodbye_8.html", "history.jsonl", "welcome_7.html"].map(String::from)),
        "by default, one HTML file per email and no plain-text part"
    );

    let history = history(dir.path());
    assert_eq!(history.len(), 2, "the unknown type is skipped: {history:?}");
    for record in &history {
        assert_eq!(record.key, None);
        assert_eq!(record.event.event_id, None);
        assert_eq!(record.partition, 1);
        assert!(record.timestamp.is_some(), "broker timestamp recorded");
    }
    assert_eq!(history[0].offset, 0);
    assert_eq!(history[1].offset, 2);
    // The skipped message's offset was stored too, and nothing was dead-lettered.
    assert_eq!(
        committed(&bootstrap(), &topic, &group, PARTITIONS),
        vec![-1, 3, -1]
    );
    assert_eq!(
        watermarks(&bootstrap(), &topics::dead_letter_topic(&topic), 1),
        vec![(0, 0)]
    );
}
