//! The outbox actor under supervision: rounds that panic (the test-only fault hook, in the
//! real actor) restart it and its events still go out, each once; readiness says
//! `restarting` while it recovers, and fails while the oldest pending row is too old; an
//! actor that keeps panicking uses up the restart budget and the service stops with a
//! failure.

use std::time::{Duration, Instant};

use serde_json::Value;
use store_manager::ShutdownError;
use test_support::{Backend, PrivateBroker, kafka};

use crate::helpers::{spawn_app, spawn_app_configured};

on_both_databases!(a_panicking_outbox_round_is_restarted_and_every_event_still_goes_out_once);

async fn a_panicking_outbox_round_is_restarted_and_every_event_still_goes_out_once(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    // The round woken by the first commit panics before it reads the table, and so do the
    // first rounds of the next two restarts (each after its backoff: 0.1 s, then 0.2 s).
    app.outbox_faults.arm(3);
    let mut ids = vec![
        app.create_user("Survivor 0", "survivor0@example.com", None)
            .await,
    ];
    // Meanwhile readiness says the outbox actor is restarting, and nothing else.
    let mut restarting_seen = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = app.get("/ready").await;
        let status = ready.status();
        let body: Value = ready.json().await.expect("JSON");
        if status == 503 {
            assert_eq!(body["outbox"], "restarting", "{body}");
            assert_eq!(
                body["reasons"],
                serde_json::json!(["the outbox actor is restarting after a panic"]),
                "{body}"
            );
            restarting_seen.get_or_insert(body.clone());
        } else if body["outbox_restarts"] == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "never running again: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        restarting_seen.is_some(),
        "readiness never said the outbox actor was restarting"
    );
    for n in 1..5 {
        ids.push(
            app.create_user(
                &format!("Survivor {n}"),
                &format!("survivor{n}@example.com"),
                None,
            )
            .await,
        );
    }
    let events = app.events(5).await;
    assert_eq!(events.len(), 5, "each event once: {events:#?}");
    let published: Vec<i64> = events
        .iter()
        .map(|record| record.json()["id"].as_i64().expect("id"))
        .collect();
    for id in &ids {
        assert!(published.contains(id), "user {id} was not published");
    }
    let metrics = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics text");
    assert!(
        metrics.contains("store_manager_actor_restarts_total{actor=\"OutboxActor\"} 3"),
        "{metrics}"
    );
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.expect("JSON");
    assert_eq!(body["outbox"], "running", "{body}");
    assert_eq!(body["outbox_restarts"], 3, "{body}");
}

#[actix_web::test]
async fn readiness_fails_while_the_oldest_pending_row_is_older_than_allowed() {
    let mut broker = PrivateBroker::start();
    let app = spawn_app_configured(Backend::Sqlite, &broker.bootstrap(), |settings| {
        settings.outbox.ready_max_pending_age = Duration::from_secs(1);
    })
    .await;
    assert_eq!(app.get("/ready").await.status(), 200);
    broker.stop();
    app.create_user("Waiting", "waiting@example.com", None)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.expect("JSON");
    let reasons: Vec<&str> = body["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reasons
            .iter()
            .any(|reason| reason.starts_with("the oldest pending outbox row waits for")),
        "{body}"
    );
    assert!(
        body["oldest_pending_age_seconds"]
            .as_f64()
            .is_some_and(|age| age > 1.0)
    );
    broker.resume();
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.get("/ready").await.status() != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.events(1).await.len(), 1);
}

#[actix_web::test]
async fn an_outbox_actor_that_keeps_panicking_stops_the_service_with_a_failure() {
    let app = spawn_app_configured(Backend::Sqlite, &kafka::bootstrap(), |settings| {
        settings.restart_policy.limit = 2;
        settings.shutdown_timeout = Duration::from_secs(5);
    })
    .await;
    app.outbox_faults.arm(10);
    // Any commit wakes the actor; every round panics from now on.
    let response = app
        .post_json(
            "/users",
            &serde_json::json!({"name": "Loop", "email": "loop@example.com"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let stopped = tokio::time::timeout(Duration::from_secs(30), app.run)
        .await
        .expect("the service stops by itself")
        .expect("joined");
    assert!(
        matches!(stopped, Err(ShutdownError::RestartBudgetExhausted)),
        "{stopped:?}"
    );
}
