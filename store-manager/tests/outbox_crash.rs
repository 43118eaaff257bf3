//! The process dies between commit and publish: the real binary commits a user while no
//! broker is reachable, is killed with SIGKILL, and the next start publishes the event.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::payload;
use sea_orm::{Database, EntityTrait as _};
use serde_json::{Value, json};
use store_manager::entities::outbox;
use test_support::{Backend, TestDatabase, kafka};

on_both_databases!(a_row_committed_before_a_crash_is_published_by_the_next_start);

fn start_store_manager(database_url: &str, bootstrap: &str, topic: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_store-manager"))
        .env("DATABASE_URL", database_url)
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        .env("USER_EVENTS_TOPIC", topic)
        .env("STORE_MANAGER_ADDR", format!("127.0.0.1:{port}"))
        .env("OUTBOX_POLL_INTERVAL_MS", "200")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("store-manager binary starts")
}

async fn wait_until_listening(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/health-check"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "store-manager did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_row_committed_before_a_crash_is_published_by_the_next_start(backend: Backend) {
    common::init_logs();
    let database = TestDatabase::new(backend).await;
    let topic = test_support::unique("user-events");
    let bootstrap = kafka::bootstrap();
    kafka::create_topic(&bootstrap, &topic, 3).await;
    let client = reqwest::Client::new();

    // First life: no broker answers, so the event can only be committed, not published.
    let port = test_support::free_port();
    let unreachable_broker = format!("127.0.0.1:{}", test_support::free_port());
    let mut first = start_store_manager(database.url(), &unreachable_broker, &topic, port);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_listening(&client, &base).await;
    let response = client
        .post(format!("{base}/users"))
        .json(
            &json!({"name": "Crash Survivor", "email": "survivor@example.com", "user_type_id": 3}),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    let user_id = response.json::<Value>().await.expect("JSON")["user_id"]
        .as_i64()
        .expect("user_id");
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let db = Database::connect(database.url()).await.expect("connect");
    let rows = outbox::Entity::find().all(&db).await.expect("outbox rows");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].published_at.is_none(),
        "nothing could have been published"
    );

    // Second life, in the same place (host and port: the same outbox lease holder, so no
    // wait for the dead process's lease to expire), with the broker: the start-up drain
    // publishes the row.
    let mut second = start_store_manager(database.url(), &bootstrap, &topic, port);
    let (reader_bootstrap, reader_topic) = (bootstrap.clone(), topic.clone());
    let events = tokio::task::spawn_blocking(move || {
        kafka::read_topic(
            &reader_bootstrap,
            &reader_topic,
            1,
            Duration::from_secs(1),
            Duration::from_secs(60),
        )
    })
    .await
    .expect("reader");
    second.kill().ok();
    second.wait().ok();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = payload(&events[0]);
    assert_eq!(event["event"], "UserCreated");
    assert_eq!(event["id"], user_id);
    assert_eq!(event["user_type_id"], 3);
    assert_eq!(event["event_id"].as_str(), Some(rows[0].event_id.as_str()));
}
