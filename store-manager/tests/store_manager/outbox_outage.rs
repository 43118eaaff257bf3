//! The broker goes away: requests keep succeeding, events wait in the outbox, and when the
//! broker returns they are all published, each once, in per-user order. Uses a private
//! tansu broker so stopping it does not disturb the other tests.

use std::collections::HashMap;

use test_support::{Backend, PrivateBroker};

use crate::helpers::spawn_app_on;

on_both_databases!(events_written_while_the_broker_is_down_are_published_in_order_when_it_returns);

const USERS: usize = 20;
const DELETED: usize = 5;

async fn events_written_while_the_broker_is_down_are_published_in_order_when_it_returns(
    backend: Backend,
) {
    let mut broker = PrivateBroker::start();
    let app = spawn_app_on(backend, &broker.bootstrap()).await;
    // One event before the outage proves the path works and warms the producer up.
    let first = app
        .create_user("Before Outage", "before@example.com", None)
        .await;
    assert_eq!(app.events(1).await.len(), 1);

    broker.stop();
    // Not ready while the broker is down, but requests still succeed (next lines).
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let readiness: serde_json::Value = ready.json().await.expect("JSON");
    assert_eq!(readiness["broker"], "down");
    assert_eq!(readiness["database"], "up");
    let mut ids = Vec::new();
    for n in 0..USERS {
        let user_type = Some(1 + (n % 3) as i64);
        ids.push(
            app.create_user(
                &format!("User {n}"),
                &format!("outage{n}@example.com"),
                user_type,
            )
            .await,
        );
    }
    for id in &ids[..DELETED] {
        let response = app.delete(&format!("/users/{id}")).await;
        assert_eq!(
            response.status(),
            200,
            "delete {id} while the broker is down"
        );
    }
    broker.resume();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.get("/ready").await.status() != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "never ready after the broker returned"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let expected = 1 + USERS + DELETED;
    let events = app.events(expected).await;
    assert_eq!(
        events.len(),
        expected,
        "each event exactly once: {events:#?}"
    );
    let mut per_user: HashMap<i64, Vec<String>> = HashMap::new();
    for record in &events {
        let event = record.json();
        let id = event["id"].as_i64().expect("id");
        assert_eq!(record.key.as_deref(), Some(id.to_string().as_str()));
        per_user
            .entry(id)
            .or_default()
            .push(event["event"].as_str().expect("event").to_owned());
    }
    assert_eq!(per_user[&first], ["UserCreated"]);
    for (n, id) in ids.iter().enumerate() {
        let expected: &[&str] = if n < DELETED {
            &["UserCreated", "UserDeleted"]
        } else {
            &["UserCreated"]
        };
        assert_eq!(per_user[id], expected, "user {id}: created before deleted");
    }
}
