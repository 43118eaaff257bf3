//! The database goes away (a private MariaDB, killed): requests fail fast with 503 and a
//! JSON error, readiness says the database is down, nothing is published, and the service
//! recovers by itself when the database returns.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::PrivateMariaDb;

use crate::helpers::spawn_app_on_database;

/// Far above a healthy answer, far below a hang: "fails fast", not a speed target.
const FAIL_FAST: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn requests_fail_fast_with_503_while_the_database_is_down_then_recover() {
    let mut mariadb = PrivateMariaDb::start();
    let app = spawn_app_on_database(&mariadb.url()).await;
    let before = app
        .create_user("Before Outage", "before@example.com", None)
        .await;
    assert_eq!(app.events(1).await.len(), 1);

    mariadb.stop();
    for (what, request) in [
        (
            "create",
            app.client
                .post(format!("{}/users", app.address))
                .json(&json!({"name": "During Outage", "email": "during@example.com"})),
        ),
        (
            "read",
            app.client.get(format!("{}/users/{before}", app.address)),
        ),
        (
            "delete",
            app.client.delete(format!("{}/users/{before}", app.address)),
        ),
        (
            "order",
            app.client
                .post(format!("{}/orders", app.address))
                .json(&json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 1}]})),
        ),
    ] {
        let started = Instant::now();
        let response = request.send().await.expect("an answer, not a hang");
        assert!(
            started.elapsed() < FAIL_FAST,
            "{what}: took {:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("unavailable")),
            "{what}: {body}"
        );
    }
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let readiness: Value = ready.json().await.expect("JSON");
    assert_eq!(readiness["database"], "down");
    assert_eq!(readiness["broker"], "up");

    mariadb.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let response = app
            .post_json(
                "/users",
                &json!({"name": "After Outage", "email": "after@example.com"}),
            )
            .await;
        if response.status() == StatusCode::CREATED {
            break response.json::<Value>().await.expect("JSON")["user_id"]
                .as_i64()
                .expect("user_id");
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);
    // Only the two successful creates were published; the failed requests nothing.
    let events = app.events(2).await;
    let ids: Vec<Value> = events
        .iter()
        .map(|record| record.json()["id"].clone())
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        ids.contains(&json!(before)) && ids.contains(&json!(after)),
        "{ids:?}"
    );
}
