//! Poison messages dead-lettered, failing handlers retried then dead-lettered, panicking
//! handlers restarted: the partition always moves on.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Supervisor;
use coolriel::{Coolriel, EventContext, EventHandler, HandlerActor, HandlerError};
use rdkafka::Message as _;
use shared_events::{Event, EventEnvelope, UserCreated, UserType, topics};

use super::PARTITIONS;
use crate::helpers::*;

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
