//! The service in-process against the real broker: emails, history, ordering, commits,
//! the lab's format, poison messages, failing and panicking handlers, two instances.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::*;
use actix::Supervisor;
use coolriel::{
    Config, Coolriel, EventContext, EventHandler, HandlerActor, HandlerError, SyncBatch,
};
use rdkafka::Message as _;
use shared_events::{Event, EventEnvelope, UserCreated, UserType, topics};

const PARTITIONS: i32 = 3;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_the_partition_moves_on() {
    init_logs();
    let topic = unique("poison");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    let service = Coolriel::start(config(&topic, &group, dir.path())).expect("start");

    publish(&producer, &topic, Some(0), &created(1), None).await;
    let mut huge = br#"{"event":"UserCreated","id":5,"name":""#.to_vec();
    huge.resize(900 * 1024, b'x');
    let poison: Vec<(&str, Option<Vec<u8>>)> = vec![
        ("not json", Some(b"hello, world".to_vec())),
        ("truncated json", Some(br#"{"event":"UserCreated","id":2,"na"#.to_vec())),
        (
            "wrong field types",
            Some(br#"{"event":"UserCreated","id":"two","name":3,"email":null,"datetime":"2025-11-09 14:03:12"}"#.to_vec()),
        ),
        ("invalid utf-8", Some(vec![b'{', 0xff, 0xfe, 0xfd, b'}'])),
        ("900 KB value", Some(huge)),
        ("no value at all", None),
    ];
    let mut sent: BTreeMap<i64, (&str, Option<Vec<u8>>)> = BTreeMap::new();
    for (index, (what, payload)) in poison.into_iter().enumerate() {
        let key = format!("poison-{index}");
        let (_, offset) = publish_raw(
            &producer,
            &topic,
            Some(0),
            Some(key.as_bytes()),
            payload.as_deref(),
        )
        .await;
        sent.insert(offset, (what, payload));
    }
    publish(&producer, &topic, Some(0), &created(2), None).await;
    publish(&producer, &topic, Some(0), &deleted(1), None).await;

    eventually("the events after the poison", TIMEOUT, || {
        dir.path().join("welcome_2.html").exists() && dir.path().join("goodbye_1.html").exists()
    })
    .await;
    let dlq = topics::dead_letter_topic(&topic);
    let letters = tokio::task::spawn_blocking(move || {
        read_messages(&bootstrap(), &dlq, 6, Duration::ZERO, TIMEOUT)
    })
    .await
    .expect("read the dead letters");
    service.shutdown().await.expect("clean shutdown");

    assert_eq!(letters.len(), sent.len());
    for letter in &letters {
        let offset: i64 = header(letter, topics::HEADER_DLQ_SOURCE_OFFSET)
            .expect("source offset")
            .parse()
            .expect("number");
        let (what, payload) = sent
            .get(&offset)
            .unwrap_or_else(|| panic!("unexpected letter {offset}"));
        assert_eq!(
            header(letter, topics::HEADER_DLQ_SOURCE_TOPIC).as_deref(),
            Some(topic.as_str())
        );
        assert_eq!(
            header(letter, topics::HEADER_DLQ_SOURCE_PARTITION).as_deref(),
            Some("0")
        );
        assert_eq!(
            header(letter, topics::HEADER_DLQ_ATTEMPTS).as_deref(),
            Some("0"),
            "{what}"
        );
        let error = header(letter, topics::HEADER_DLQ_ERROR).expect("error header");
        assert!(!error.is_empty(), "{what}");
        assert_eq!(
            letter.payload(),
            payload.as_deref(),
            "{what}: value preserved"
        );
        assert!(
            letter.key().is_some_and(|key| key.starts_with(b"poison-")),
            "{what}: key preserved"
        );
    }
    let history = history(dir.path());
    assert_eq!(history.len(), 3, "only the three valid events: {history:?}");
    let high = watermarks(&bootstrap(), &topic, PARTITIONS)[0].1;
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS)[0], high);
}

/// A test handler whose behaviour is chosen by the user's name.
struct Faulty {
    attempts: Arc<Mutex<HashMap<i64, u32>>>,
    restarts: Arc<AtomicU32>,
}

impl EventHandler for Faulty {
    type Event = UserCreated;
    const NAME: &'static str = "FaultyActor";

    fn handle(&mut self, event: UserCreated, _context: &EventContext) -> Result<(), HandlerError> {
        let attempt = {
            let mut attempts = self.attempts.lock().expect("lock");
            let attempt = attempts.entry(event.id).or_default();
            *attempt += 1;
            *attempt
        };
        match event.name.as_str() {
            "fails twice" if attempt <= 2 => {
                Err(HandlerError::Transient("injected failure".into()))
            }
            "always fails" => Err(HandlerError::Transient("injected failure".into())),
            "panics once" if attempt == 1 => panic!("injected panic"),
            "permanent" => Err(HandlerError::Permanent("cannot ever work".into())),
            _ => Ok(()),
        }
    }

    fn restarted(&mut self) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_handlers_are_retried_then_dead_lettered_and_panics_restart_the_actor() {
    init_logs();
    let topic = unique("faulty");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;
    let attempts = Arc::new(Mutex::new(HashMap::new()));
    let restarts = Arc::new(AtomicU32::new(0));
    let faulty = Faulty {
        attempts: Arc::clone(&attempts),
        restarts: Arc::clone(&restarts),
    };
    let service = Coolriel::start_with(config(&topic, &group, dir.path()), move |registry| {
        let metrics = std::sync::Arc::clone(registry.metrics());
        let actor = Supervisor::start(move |_| HandlerActor::new(faulty).with_metrics(metrics));
        registry.route::<UserCreated>(Faulty::NAME, actor.recipient());
    })
    .expect("start");

    let producer = producer(&bootstrap());
    let names = [
        "fails twice",
        "always fails",
        "panics once",
        "fine",
        "permanent",
    ];
    let mut offsets = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        let id = index as i64 + 1;
        let envelope = EventEnvelope::new(Event::UserCreated(UserCreated {
            id,
            name: (*name).to_owned(),
            email: format!("user{id}@example.com"),
            user_type: UserType::Client,
        }));
        let (_, offset) = publish(&producer, &topic, Some(0), &envelope, None).await;
        offsets.insert(offset, id);
    }

    let dlq = topics::dead_letter_topic(&topic);
    let letters = tokio::task::spawn_blocking(move || {
        read_messages(&bootstrap(), &dlq, 2, Duration::ZERO, TIMEOUT)
    })
    .await
    .expect("read the dead letters");
    eventually("every user handled", TIMEOUT, || {
        count_prefixed(dir.path(), "welcome_", ".html") == names.len()
            && history(dir.path()).len() == names.len()
    })
    .await;
    // The same story in the metrics: 2 + 2 + 1 retries, one restart, two dead letters,
    // ten deliveries to the faulty actor.
    let expected = [
        ("coolriel_handler_retries_total{actor=\"FaultyActor\"}", 5.0),
        ("coolriel_actor_restarts_total{actor=\"FaultyActor\"}", 1.0),
        ("coolriel_dead_letters_total", 2.0),
        (
            "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"ok\"}",
            3.0,
        ),
        (
            "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"dead_lettered\"}",
            2.0,
        ),
        (
            "coolriel_handler_duration_seconds_count{actor=\"FaultyActor\"}",
            10.0,
        ),
    ];
    let admin = service.admin_addr();
    let mut metrics = String::new();
    eventually("the failures in the metrics", TIMEOUT, || {
        metrics = get(admin, "/metrics").body;
        expected
            .iter()
            .all(|(series, value)| sample(&metrics, series) == Some(*value))
    })
    .await;
    assert!(
        !metrics.contains("coolriel_actor_restarts_total{actor=\"UserCreatedActor\"}"),
        "{metrics}"
    );
    service.shutdown().await.expect("clean shutdown");

    let attempts = attempts.lock().expect("lock").clone();
    assert_eq!(attempts.get(&1), Some(&3), "failed twice, then succeeded");
    assert_eq!(
        attempts.get(&2),
        Some(&3),
        "max attempts, then dead-lettered"
    );
    assert_eq!(attempts.get(&3), Some(&2), "panicked, restarted, retried");
    assert_eq!(attempts.get(&4), Some(&1));
    assert_eq!(
        attempts.get(&5),
        Some(&1),
        "a permanent error is not retried"
    );
    assert_eq!(
        restarts.load(Ordering::SeqCst),
        1,
        "the supervisor restarted the actor once"
    );

    let mut dead: BTreeMap<i64, (String, String)> = BTreeMap::new();
    for letter in &letters {
        let offset: i64 = header(letter, topics::HEADER_DLQ_SOURCE_OFFSET)
            .expect("offset")
            .parse()
            .expect("number");
        dead.insert(
            offsets[&offset],
            (
                header(letter, topics::HEADER_DLQ_ATTEMPTS).expect("attempts"),
                header(letter, topics::HEADER_DLQ_ERROR).expect("error"),
            ),
        );
    }
    assert_eq!(dead.keys().copied().collect::<Vec<_>>(), vec![2, 5]);
    assert_eq!(dead[&2].0, "3");
    assert!(
        dead[&2].1.contains("FaultyActor: injected failure"),
        "{}",
        dead[&2].1
    );
    assert_eq!(dead[&5].0, "1");
    let high = watermarks(&bootstrap(), &topic, PARTITIONS)[0].1;
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS)[0], high);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_partitions_and_the_survivor_loses_nothing() {
    init_logs();
    let topic = unique("pair");
    let group = unique("coolriel");
    let dir_a = tempfile::tempdir().expect("temp dir");
    let dir_b = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;

    let a = Coolriel::start(config(&topic, &group, dir_a.path())).expect("start a");
    eventually("a owns every partition", TIMEOUT, || {
        a.assigned_partitions().len() == 3
    })
    .await;
    let b = Coolriel::start(config(&topic, &group, dir_b.path())).expect("start b");
    eventually("the partitions are split", TIMEOUT, || {
        let (owned_a, owned_b) = (a.assigned_partitions(), b.assigned_partitions());
        !owned_a.is_empty() && !owned_b.is_empty() && owned_a.len() + owned_b.len() == 3
    })
    .await;
    let owned_a: BTreeSet<i32> = a
        .assigned_partitions()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let owned_b: BTreeSet<i32> = b
        .assigned_partitions()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(owned_a.is_disjoint(&owned_b), "{owned_a:?} / {owned_b:?}");

    let producer = producer(&bootstrap());
    let first: i64 = 30;
    for id in 1..=first {
        publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
    }
    let welcomes = |dirs: [&std::path::Path; 2]| {
        let mut ids = BTreeSet::new();
        for dir in dirs {
            for name in files(dir) {
                if let Some(id) = name
                    .strip_prefix("welcome_")
                    .and_then(|rest| rest.strip_suffix(".html"))
                {
                    ids.insert(id.parse::<i64>().expect("id"));
                }
            }
        }
        ids
    };
    eventually("the first batch handled", TIMEOUT, || {
        welcomes([dir_a.path(), dir_b.path()]).len() == first as usize
    })
    .await;
    // Each instance handled exactly its own partitions.
    let partitions_of = |dir: &std::path::Path| -> BTreeSet<i32> {
        history(dir).iter().map(|record| record.partition).collect()
    };
    assert_eq!(partitions_of(dir_a.path()), owned_a);
    assert_eq!(partitions_of(dir_b.path()), owned_b);

    // The second batch is published while `a` stops.
    let second = {
        let topic = topic.clone();
        tokio::spawn(async move {
            let producer = test_support::kafka::producer(&bootstrap());
            for id in first + 1..=2 * first {
                publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
            }
        })
    };
    a.shutdown().await.expect("a stops cleanly");
    eventually("b owns every partition", TIMEOUT, || {
        b.assigned_partitions().len() == 3
    })
    .await;
    second.await.expect("second batch published");
    eventually(
        "every event handled by one instance or the other",
        TIMEOUT,
        || welcomes([dir_a.path(), dir_b.path()]).len() == 2 * first as usize,
    )
    .await;
    b.shutdown().await.expect("b stops cleanly");

    let high: Vec<i64> = watermarks(&bootstrap(), &topic, PARTITIONS)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS), high);
}

/// The second instance joins while the first is working through a backlog: librdkafka has
/// fetched ahead of what the first instance finished, and the rebalance must resume every
/// partition at its finished offset, not at the fetch position. Every offset of every
/// partition is in one of the two histories when the backlog is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_joining_during_a_backlog_loses_nothing() {
    init_logs();
    let topic = unique("backlog");
    let group = unique("coolriel");
    let dir_a = tempfile::tempdir().expect("temp dir");
    let dir_b = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;

    const USERS: i64 = 1_500;
    let producer = producer(&bootstrap());
    let sends: Vec<_> = (1..=USERS)
        .map(|id| {
            let (producer, topic) = (&producer, topic.as_str());
            async move { publish(producer, topic, Some((id % 3) as i32), &created(id), None).await }
        })
        .collect();
    // The end of each partition from the broker's acknowledgements (sent at once, so the
    // producer batches them: the resume positions fall inside batches).
    let mut high = vec![0_i64; PARTITIONS as usize];
    for (partition, offset) in futures::future::join_all(sends).await {
        let end = &mut high[partition as usize];
        *end = (*end).max(offset + 1);
    }
    assert_eq!(high.iter().sum::<i64>(), USERS);

    // `a` is slowed down (one message in flight per partition, each sync waiting 30 ms
    // for company: about 100 events/s) so that librdkafka's prefetch runs far ahead of
    // what it has finished, and the backlog outlasts a join even on a busy machine.
    let slow = Config {
        max_in_flight: 1,
        sync_batch: SyncBatch {
            max_messages: 256,
            interval: Duration::from_millis(30),
        },
        ..config(&topic, &group, dir_a.path())
    };
    let a = Coolriel::start(slow).expect("start a");
    eventually("a is part-way through the backlog", TIMEOUT, || {
        count_prefixed(dir_a.path(), "welcome_", ".html") >= 60
    })
    .await;
    let b = Coolriel::start(config(&topic, &group, dir_b.path())).expect("start b");
    eventually("b owns a partition", TIMEOUT, || {
        !b.assigned_partitions().is_empty()
    })
    .await;
    let handled_by_a_at_join = count_prefixed(dir_a.path(), "welcome_", ".html");
    assert!(
        handled_by_a_at_join < USERS as usize / 2,
        "the backlog must still be there when b joins ({handled_by_a_at_join} handled)"
    );
    let welcomes = || {
        count_prefixed(dir_a.path(), "welcome_", ".html")
            + count_prefixed(dir_b.path(), "welcome_", ".html")
    };
    let missing = || {
        let mut seen = BTreeSet::new();
        for id in 1..=USERS {
            if dir_a.path().join(format!("welcome_{id}.html")).exists()
                || dir_b.path().join(format!("welcome_{id}.html")).exists()
            {
                seen.insert(id);
            }
        }
        (1..=USERS)
            .filter(|id| !seen.contains(id))
            .collect::<Vec<_>>()
    };
    let finished = tokio::time::timeout(Duration::from_secs(120), async {
        while committed(&bootstrap(), &topic, &group, PARTITIONS) != high {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    b.shutdown().await.expect("b stops cleanly");
    a.shutdown().await.expect("a stops cleanly");
    let missing = missing();
    assert!(
        finished.is_ok() && missing.is_empty(),
        "{} of {USERS} welcomes written ({handled_by_a_at_join} by a before b joined); \
         committed {:?} of {high:?}; missing ids (first 20): {:?}",
        welcomes(),
        committed(&bootstrap(), &topic, &group, PARTITIONS),
        &missing[..missing.len().min(20)]
    );

    // Every offset of every partition is in a history, and the two instances' histories
    // together hold each message at least once.
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for record in history(dir_a.path())
        .into_iter()
        .chain(history(dir_b.path()))
    {
        seen.entry(record.partition)
            .or_default()
            .insert(record.offset);
    }
    for (partition, &end) in high.iter().enumerate() {
        let offsets = seen.remove(&(partition as i32)).unwrap_or_default();
        let absent: Vec<i64> = (0..end)
            .filter(|offset| !offsets.contains(offset))
            .collect();
        assert!(
            absent.is_empty(),
            "partition {partition}: {} offsets never in a history (first: {:?})",
            absent.len(),
            &absent[..absent.len().min(10)]
        );
    }
}

/// With the default topics, `order-events` may not exist yet when the service starts (tansu
/// creates no topic on use): the other topic is consumed meanwhile, and the late one soon
/// after it is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_after_start_up_is_consumed_too() {
    init_logs();
    let users_topic = unique("users");
    let orders_topic = unique("orders");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&users_topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    let service = Coolriel::start(config_for(
        &[users_topic.as_str(), orders_topic.as_str()],
        &group,
        dir.path(),
    ))
    .expect("starts with a missing topic");
    publish(&producer, &users_topic, None, &created(1), None).await;
    eventually("the user topic consumed", TIMEOUT, || {
        dir.path().join("welcome_1.html").exists()
    })
    .await;

    create_source_topic(&orders_topic, PARTITIONS).await;
    publish(&producer, &orders_topic, None, &order_created(1, 1), None).await;
    let created_at = Instant::now();
    eventually("the order topic consumed", TIMEOUT, || {
        dir.path().join("order_1.html").exists()
    })
    .await;
    eprintln!("late topic consumed after {:?}", created_at.elapsed());
    service.shutdown().await.expect("clean shutdown");
    // Its dead-letter topic was created at start-up, with the other one.
    assert_eq!(
        watermarks(&bootstrap(), &topics::dead_letter_topic(&orders_topic), 1),
        vec![(0, 0)]
    );
    assert_eq!(history(dir.path()).len(), 2);
}
