//! The process dies between commit and publish: the real binary commits a user while no
//! broker is reachable, is killed with SIGKILL, and the next start publishes the event.

use std::path::Path;
use std::process::Child;
use std::time::Duration;

use sea_orm::{Database, EntityTrait as _};
use serde_json::{Value, json};
use store_manager::entities::outbox;
use test_support::{Backend, TestDatabase, kafka};

on_both_databases!(a_row_committed_before_a_crash_is_published_by_the_next_start);

/// The binary on port 0, as the same outbox lease holder in both lives (no wait for the
/// dead process's lease to expire); returns it with its base URL.
fn start_store_manager(
    database_url: &str,
    bootstrap: &str,
    topic: &str,
    log: &Path,
) -> (Child, String) {
    let (child, addr) =
        crate::helpers::spawn_binary(database_url, bootstrap, topic, "crash-test", log, &[]);
    (child, format!("http://{addr}"))
}

async fn a_row_committed_before_a_crash_is_published_by_the_next_start(backend: Backend) {
    test_support::init_logs();
    let database = TestDatabase::new(backend).await;
    let topic = test_support::unique("user-events");
    let bootstrap = kafka::bootstrap();
    kafka::create_topic(&bootstrap, &topic, 3).await;
    let client = reqwest::Client::new();

    let logs = tempfile::tempdir().expect("temp dir");
    let log = logs.path().join("store-manager.log");

    // First life: no broker answers (nothing listens on port 1), so the event can only be
    // committed, not published.
    let (mut first, base) = start_store_manager(database.url(), "127.0.0.1:1", &topic, &log);
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

    // Second life, as the same outbox lease holder (no wait for the dead process's lease
    // to expire), with the broker: the start-up drain publishes the row.
    let (mut second, _) = start_store_manager(database.url(), &bootstrap, &topic, &log);
    let events = kafka::read_topic_async(
        &bootstrap,
        &topic,
        1,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    second.kill().ok();
    second.wait().ok();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = events[0].json();
    assert_eq!(event["event"], "UserCreated");
    assert_eq!(event["id"], user_id);
    assert_eq!(event["user_type_id"], 3);
    assert_eq!(event["event_id"].as_str(), Some(rows[0].event_id.as_str()));
}
