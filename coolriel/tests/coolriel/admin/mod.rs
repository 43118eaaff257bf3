//! The admin HTTP server of a service running against the real broker: health,
//! readiness (and each reason it gives: broker, output directory, a handler actor down, a
//! partition recovering from a panic), metrics after real events (counts, committed
//! offsets, lag); the email gallery and the files it refuses to serve in [`gallery`].

mod gallery;

use std::time::Duration;

use coolriel::{Config, Coolriel, EventContext, EventHandler, HandlerActor, HandlerError};
use shared_events::{EventEnvelope, UserCreated};

use crate::helpers::*;

const PARTITIONS: i32 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_follow_the_events_handled() {
    init_logs();
    let topic = unique("admin");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;
    let service = Coolriel::start(config(&topic, &group, dir.path())).expect("start");
    let admin = service.admin_addr();
    assert_ne!(admin.port(), 0, "the bound port is reported");

    let health = get(admin, "/health-check");
    assert_eq!(health.status, 200);
    assert_eq!(health.json(), serde_json::json!({ "status": "ok" }));

    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["ready"], true);
    assert_eq!(ready.json()["broker"], "up");

    // 9 users created, 3 of them deleted, 3 on each partition; one message that is not
    // an event and one of a type this build does not know, both on partition 0.
    let producer = producer(&bootstrap());
    let users: i64 = 9;
    for id in 1..=users {
        publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
    }
    for id in 1..=3 {
        publish(&producer, &topic, Some((id % 3) as i32), &deleted(id), None).await;
    }
    publish_raw(&producer, &topic, Some(0), Some(b"k"), Some(b"not json")).await;
    let unknown = br#"{"event": "UserUpdated", "id": 7, "name": "Ada", "email": "a@example.com", "datetime": "2025-11-09 14:04:00.000001"}"#;
    publish_raw(&producer, &topic, Some(0), None, Some(unknown)).await;
    let high: Vec<i64> = watermarks(&bootstrap(), &topic, PARTITIONS)
        .into_iter()
        .map(|(_, high)| high)
        .collect();

    // Everything handled and committed (auto-commit, every second), and the gauges
    // refreshed from the broker: every partition at its end, nothing left.
    let series = |name: &str, partition: i32| {
        format!("coolriel_{name}{{topic=\"{topic}\",partition=\"{partition}\"}}")
    };
    let mut metrics = String::new();
    eventually(
        "the metrics of every event, committed, lag 0",
        TIMEOUT,
        || {
            let answer = get(admin, "/metrics");
            assert_eq!(answer.status, 200);
            metrics = answer.body;
            (0..PARTITIONS).all(|partition| {
                sample(&metrics, &series("partition_committed_offset", partition))
                    == Some(high[partition as usize] as f64)
                    && sample(&metrics, &series("partition_lag", partition)) == Some(0.0)
            }) && sample(
                &metrics,
                "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"ok\"}",
            ) == Some(users as f64)
        },
    )
    .await;
    for (series, value) in [
        (
            "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"ok\"}".to_owned(),
            users as f64,
        ),
        (
            "coolriel_events_handled_total{event_type=\"UserDeleted\",outcome=\"ok\"}".to_owned(),
            3.0,
        ),
        (
            "coolriel_events_handled_total{event_type=\"undecodable\",outcome=\"dead_lettered\"}"
                .to_owned(),
            1.0,
        ),
        (
            "coolriel_events_handled_total{event_type=\"unknown\",outcome=\"skipped\"}".to_owned(),
            1.0,
        ),
        ("coolriel_dead_letters_total".to_owned(), 1.0),
        (
            "coolriel_handler_duration_seconds_count{actor=\"UserCreatedActor\"}".to_owned(),
            users as f64,
        ),
        (
            "coolriel_handler_duration_seconds_count{actor=\"HistoryActor\"}".to_owned(),
            users as f64 + 3.0,
        ),
        (
            "coolriel_assigned_partitions".to_owned(),
            f64::from(PARTITIONS),
        ),
        (series("partition_high_watermark", 0), high[0] as f64),
    ] {
        assert_eq!(
            sample(&metrics, &series),
            Some(value),
            "{series} in\n{metrics}"
        );
    }
    // Nothing failed: no retry, no restart.
    assert!(
        !metrics.contains("coolriel_handler_retries_total{"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("coolriel_actor_restarts_total{"),
        "{metrics}"
    );
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS), high);

    // Unknown routes and methods: JSON 404.
    for (method, target) in [
        ("GET", "/nope"),
        ("GET", "/metrics/x"),
        ("POST", "/metrics"),
    ] {
        let answer = http(admin, method, target);
        assert!(
            answer.status == 404 || answer.status == 405,
            "{method} {target}: {answer:?}"
        );
        assert!(
            answer.json()["error"].is_string(),
            "{method} {target}: {answer:?}"
        );
    }

    service.shutdown().await.expect("clean shutdown");
    assert!(
        std::net::TcpStream::connect(admin).is_err(),
        "the admin server stops with the service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_while_the_broker_cannot_be_reached() {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    // Nothing listens there: connections are refused at once.
    let config = Config {
        bootstrap_servers: "127.0.0.1:1".to_owned(),
        ..config(&unique("nowhere"), &unique("coolriel"), dir.path())
    };
    let service = Coolriel::start(config).expect("the service starts without its broker");
    let admin = service.admin_addr();
    assert_eq!(get(admin, "/health-check").status, 200);
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 503, "{ready:?}");
    let body = ready.json();
    assert_eq!(body["ready"], false);
    assert_eq!(body["broker"], "down");
    assert_eq!(body["partitions"], 0);
    assert_eq!(
        body["reasons"],
        serde_json::json!(["the broker does not answer"]),
        "the broker is the only reason: {body}"
    );
    let metrics = get(admin, "/metrics");
    assert_eq!(metrics.status, 200);
    assert_eq!(
        sample(&metrics.body, "coolriel_assigned_partitions"),
        Some(0.0)
    );
    tokio::time::timeout(Duration::from_secs(30), service.shutdown())
        .await
        .expect("shutdown in time")
        .expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_admin_port_fails_the_start() {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let config = Config {
        admin_addr: taken.local_addr().expect("addr"),
        ..config(&unique("taken"), &unique("coolriel"), dir.path())
    };
    let error = Coolriel::start(config).expect_err("the port is taken");
    assert!(error.to_string().contains("COOLRIEL_ADMIN_ADDR"), "{error}");
}

/// A handler that panics on a user named "boom" and sleeps `delay` on every event.
struct Probe {
    delay: Duration,
}

impl EventHandler for Probe {
    type Event = UserCreated;
    const NAME: &'static str = "ProbeActor";

    fn handle(&mut self, event: UserCreated, _: &EventContext) -> Result<(), HandlerError> {
        assert!(event.name != "boom", "injected handler panic");
        std::thread::sleep(self.delay);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_names_an_unwritable_output_directory_and_a_handler_that_is_down() {
    init_logs();
    let topic = unique("ready-reasons");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("output");
    create_topic(&topic, 1).await;
    // Started without a supervisor: its panic stops it for good.
    let service = Coolriel::start_with(config(&topic, &group, &output), |registry| {
        let actor = actix::Actor::start(HandlerActor::new(Probe {
            delay: Duration::ZERO,
        }));
        registry.route::<UserCreated>(Probe::NAME, actor.recipient());
    })
    .expect("start");
    let admin = service.admin_addr();
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.json()["output_dir"], "writable");

    // A file where the output directory was: nothing can be written there, root or not.
    let moved = dir.path().join("moved");
    std::fs::rename(&output, &moved).expect("move the directory away");
    std::fs::write(&output, b"not a directory").expect("file");
    let ready = get(admin, "/ready");
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert!(
        body["output_dir"]
            .as_str()
            .is_some_and(|state| state.starts_with("not writable")),
        "{body}"
    );
    assert_eq!(body["reasons"].as_array().map(Vec::len), Some(1), "{body}");
    std::fs::remove_file(&output).expect("remove the file");
    std::fs::rename(&moved, &output).expect("put the directory back");
    assert_eq!(get(admin, "/ready").status, 200);

    let producer = producer(&bootstrap());
    let boom = EventEnvelope::new(shared_events::Event::UserCreated(UserCreated {
        id: 1,
        name: "boom".into(),
        email: "boom@example.com".into(),
        user_type: shared_events::UserType::Client,
    }));
    publish(&producer, &topic, Some(0), &boom, None).await;
    let mut body = serde_json::Value::Null;
    eventually("readiness naming the stopped handler", TIMEOUT, || {
        let ready = get(admin, "/ready");
        body = ready.json();
        ready.status == 503 && body["handlers"]["down"] == serde_json::json!(["ProbeActor"])
    })
    .await;
    assert_eq!(
        body["reasons"],
        serde_json::json!(["handler actor ProbeActor is not running"]),
        "{body}"
    );
    tokio::time::timeout(Duration::from_secs(30), service.shutdown())
        .await
        .expect("shutdown in time")
        .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_recovering_from_a_panic_is_not_ready_until_it_caught_up() {
    init_logs();
    let topic = unique("recovering");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, 1).await;
    // A slow handler on an arbiter of its own keeps many messages of the partition in
    // flight, so the recovery after the panic takes long enough to be seen.
    let service = Coolriel::start_with(config(&topic, &group, dir.path()), |registry| {
        let arbiter = actix::Arbiter::new();
        let metrics = std::sync::Arc::clone(registry.metrics());
        let actor = actix::Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
            HandlerActor::new(Probe {
                delay: Duration::from_millis(15),
            })
            .with_metrics(metrics)
        });
        registry.route::<UserCreated>(Probe::NAME, actor.recipient());
    })
    .expect("start");
    let admin = service.admin_addr();
    let producer = producer(&bootstrap());
    let users: i64 = 200;
    for id in 1..=users {
        publish(&producer, &topic, Some(0), &created(id), None).await;
    }
    eventually("some emails", TIMEOUT, || {
        count_prefixed(dir.path(), "welcome_", ".html") >= 20
    })
    .await;
    service.partition_faults().arm(1);

    let partition = format!("{topic}/0");
    let mut recovering_seen = None;
    let deadline = std::time::Instant::now() + TIMEOUT;
    while history(dir.path()).len() < users as usize {
        assert!(std::time::Instant::now() < deadline, "never caught up");
        let ready = get(admin, "/ready");
        let body = ready.json();
        if ready.status == 503 {
            assert_eq!(
                body["recovering"],
                serde_json::json!([partition]),
                "only the recovery makes it not ready: {body}"
            );
            recovering_seen.get_or_insert(body);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = recovering_seen.expect("readiness said the partition was recovering");
    assert_eq!(
        body["reasons"],
        serde_json::json!([format!(
            "partition {partition} is recovering from a restart of its actor"
        )]),
        "{body}"
    );
    let high = watermarks(&bootstrap(), &topic, 1)[0].1;
    eventually(
        "caught up: ready again, everything committed",
        TIMEOUT,
        || {
            get(admin, "/ready").status == 200
                && committed(&bootstrap(), &topic, &group, 1) == vec![high]
        },
    )
    .await;
    let metrics = get(admin, "/metrics").body;
    assert_eq!(
        sample(
            &metrics,
            "coolriel_actor_restarts_total{actor=\"PartitionActor\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    let offsets: std::collections::BTreeSet<i64> = history(dir.path())
        .iter()
        .map(|record| record.offset)
        .collect();
    assert_eq!(offsets, (0..high).collect(), "no offset skipped");
    service.shutdown().await.expect("clean shutdown");
}
