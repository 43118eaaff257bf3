//! The HTTP API against a real database (SQLite and MariaDB, a fresh one per test) and the
//! real broker: status codes, JSON shapes, and exactly the events each request causes.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use serde_json::{Value, json};
use store_manager::entities::outbox;
use test_support::Backend;

use crate::helpers::{TestApp, spawn_app};

on_both_databases!(
    health_check_answers,
    create_user_returns_its_id_and_publishes_one_user_created,
    user_type_absent_means_client,
    get_user_shows_its_type_name,
    unknown_user_is_404_with_a_json_error,
    delete_user_publishes_user_deleted_with_the_users_data,
    deleting_twice_answers_404_deleted_false,
    duplicate_email_is_409_and_publishes_nothing,
    invalid_input_is_422_and_publishes_nothing,
    malformed_requests_are_400_and_publish_nothing,
    user_types_are_listed,
    the_labs_seed_users_exist,
    published_rows_are_marked_published,
    metrics_count_requests_by_route_and_the_outbox,
    readiness_is_true_with_database_and_broker_up,
    requests_carry_a_request_id,
);

async fn health_check_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/health-check").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"status": "ok"})
    );
}

async fn create_user_returns_its_id_and_publishes_one_user_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_json(
            "/users",
            &json!({"name": "Grace Hopper", "email": "ghopper@example.com", "user_type_id": 2}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("JSON");
    let user_id = body["user_id"].as_i64().expect("user_id is a number");
    assert_eq!(user_id, 6, "the five seed users come first");

    let events = app.events(1).await;
    assert_eq!(events.len(), 1, "exactly one event: {events:#?}");
    let record = &events[0];
    assert_eq!(record.key.as_deref(), Some("6"), "key = user id");
    let event = record.json();
    assert_eq!(event["event"], "UserCreated");
    assert_eq!(event["id"], 6);
    assert_eq!(event["name"], "Grace Hopper");
    assert_eq!(event["email"], "ghopper@example.com");
    assert_eq!(event["user_type_id"], 2);
    assert_eq!(event["version"], 1);
    let datetime = event["datetime"].as_str().expect("datetime");
    assert!(
        chrono::NaiveDateTime::parse_from_str(datetime, "%Y-%m-%d %H:%M:%S%.6f").is_ok(),
        "the lab's datetime format: {datetime}"
    );
    assert!(event["occurred_at"].is_string());
    let event_id = event["event_id"].as_str().expect("event_id");
    assert_eq!(
        record.headers.get("event_id").map(String::as_str),
        Some(event_id)
    );
    assert_eq!(
        record.headers.get("event_type").map(String::as_str),
        Some("UserCreated")
    );
    // The consumer side's decoder understands it.
    let decoded = shared_events::decode(record.payload.as_bytes()).expect("decodes");
    assert!(matches!(decoded, shared_events::Decoded::Event(_)));
}

async fn user_type_absent_means_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .create_user("Lab Client", "client@example.com", None)
        .await;
    let user: Value = app
        .get(&format!("/users/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(user["user_type_id"], 1);
    assert_eq!(user["user_type"], "Client");
    let events = app.events(1).await;
    assert_eq!(events[0].json()["user_type_id"], 1);
}

async fn get_user_shows_its_type_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .create_user("Big Boss", "bboss@example.com", Some(3))
        .await;
    let response = app.get(&format!("/users/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let user: Value = response.json().await.expect("JSON");
    assert_eq!(user["id"], id);
    assert_eq!(user["name"], "Big Boss");
    assert_eq!(user["email"], "bboss@example.com");
    assert_eq!(user["user_type_id"], 3);
    assert_eq!(user["user_type"], "Manager");
}

async fn unknown_user_is_404_with_a_json_error(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/users/999", "/users/-1", "/users/99999999999"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("not found")),
            "{body}"
        );
    }
}

async fn delete_user_publishes_user_deleted_with_the_users_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app
        .create_user("Jean Dupont", "jdupont@example.com", Some(2))
        .await;
    let response = app.delete(&format!("/users/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"deleted": true})
    );
    assert_eq!(
        app.get(&format!("/users/{id}")).await.status(),
        StatusCode::NOT_FOUND
    );

    let events = app.events(2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    // One user: one key, one partition, created before deleted.
    assert_eq!(events[0].partition, events[1].partition);
    assert_eq!(events[0].json()["event"], "UserCreated");
    let deleted = events[1].json();
    assert_eq!(deleted["event"], "UserDeleted");
    assert_eq!(deleted["id"], id);
    assert_eq!(deleted["name"], "Jean Dupont");
    assert_eq!(deleted["email"], "jdupont@example.com");
    assert_eq!(deleted["user_type_id"], 2);
    assert_eq!(events[1].key.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(
        events[1].headers.get("event_type").map(String::as_str),
        Some("UserDeleted")
    );
}

async fn deleting_twice_answers_404_deleted_false(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_user("Once Only", "once@example.com", None).await;
    assert_eq!(
        app.delete(&format!("/users/{id}")).await.status(),
        StatusCode::OK
    );
    let again = app.delete(&format!("/users/{id}")).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    let body: Value = again.json().await.expect("JSON");
    assert_eq!(body["deleted"], false);
    assert!(body["error"].is_string());
    let never = app.delete("/users/4242").await;
    assert_eq!(never.status(), StatusCode::NOT_FOUND);
    // Created + deleted once; the failed deletes published nothing.
    let events = app.events(2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
}

/// Sends the failing requests, then one that succeeds; once its event is on the topic
/// (events are published in commit order), nothing else may be there.
async fn assert_only_the_marker_is_published(app: &TestApp) {
    let marker = app.create_user("Marker", "marker@example.com", None).await;
    let events = app.events(1).await;
    assert_eq!(events.len(), 1, "only the marker's event: {events:#?}");
    assert_eq!(events[0].json()["id"], marker);
    let rows = outbox::Entity::find()
        .count(&app.db)
        .await
        .expect("count outbox");
    assert_eq!(rows, 1, "failed requests must not write to the outbox");
}

async fn duplicate_email_is_409_and_publishes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // A seed user's email, in another case: emails are compared case-insensitively.
    for email in ["alovelace@example.com", "ALovelace@Example.com"] {
        let response = app
            .post_json("/users", &json!({"name": "Ada Again", "email": email}))
            .await;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{email}");
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("already exists")),
            "{body}"
        );
    }
    assert_only_the_marker_is_published(&app).await;
}

async fn invalid_input_is_422_and_publishes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        json!({"name": "No At", "email": "not-an-email"}),
        json!({"name": "No Domain", "email": "someone@"}),
        json!({"name": "", "email": "empty-name@example.com"}),
        json!({"name": "x".repeat(101), "email": "long-name@example.com"}),
        json!({"name": "Unknown Type", "email": "type@example.com", "user_type_id": 4}),
        json!({"name": "Zero Type", "email": "zero@example.com", "user_type_id": 0}),
    ];
    for body in cases {
        let response = app.post_json("/users", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let error: Value = response.json().await.expect("JSON");
        assert!(error["error"].is_string(), "{error}");
    }
    assert_only_the_marker_is_published(&app).await;
}

async fn malformed_requests_are_400_and_publish_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = [
        r#"{"name": "Broken", "email": "#,
        r#"{"email": "missing-name@example.com"}"#,
        r#"{"name": "Missing Email"}"#,
        r#"{"name": 42, "email": "number@example.com"}"#,
        r#"{"name": "Type As Text", "email": "t@example.com", "user_type_id": "two"}"#,
        r#"[]"#,
        "",
    ];
    for body in cases {
        let response = app.post_raw("/users", "application/json", body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.expect("JSON");
        assert!(error["error"].is_string(), "{error}");
    }
    let response = app.get("/users/abc").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .post_raw(
            "/users",
            "text/plain",
            r#"{"name":"a","email":"a@example.com"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = format!(
        r#"{{"name": "{}", "email": "big@example.com"}}"#,
        "x".repeat(100_000)
    );
    let response = app.post_raw("/users", "application/json", &huge).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());
    assert_only_the_marker_is_published(&app).await;
}

async fn user_types_are_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/user-types").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!([
            {"id": 1, "name": "Client"},
            {"id": 2, "name": "Employee"},
            {"id": 3, "name": "Manager"},
        ])
    );
}

async fn the_labs_seed_users_exist(backend: Backend) {
    let app = spawn_app(backend).await;
    let expected = [
        ("Ada Lovelace", "Client"),
        ("Adele Goldberg", "Client"),
        ("Alan Turing", "Client"),
        ("Jane Doe", "Employee"),
        ("Da Boss", "Manager"),
    ];
    for (id, (name, user_type)) in (1..).zip(expected) {
        let user: Value = app
            .get(&format!("/users/{id}"))
            .await
            .json()
            .await
            .expect("JSON");
        assert_eq!(user["name"], name);
        assert_eq!(user["user_type"], user_type);
    }
}

async fn published_rows_are_marked_published(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in 0..5 {
        app.create_user(&format!("User {n}"), &format!("user{n}@example.com"), None)
            .await;
    }
    app.events(5).await;
    // The row is marked right after the broker's ack; give the actor a moment to commit it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pending = outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .count(&app.db)
            .await
            .expect("count");
        if pending == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pending} rows still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let rows = outbox::Entity::find().all(&app.db).await.expect("rows");
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|row| row.attempts == 0 && row.last_error.is_none())
    );
}

async fn metrics_count_requests_by_route_and_the_outbox(backend: Backend) {
    let app = spawn_app(backend).await;
    for n in 0..3 {
        app.create_user(
            &format!("Metric {n}"),
            &format!("metric{n}@example.com"),
            None,
        )
        .await;
    }
    assert_eq!(
        app.get("/users/12345").await.status(),
        StatusCode::NOT_FOUND
    );
    app.events(3).await;
    // The rows are marked right after the ack: poll the gauge until it reads 0.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let response = app.get("/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        let text = response.text().await.expect("text");
        if text.contains("store_manager_outbox_pending_rows 0.0")
            || text.contains("store_manager_outbox_pending_rows 0\n")
        {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outbox never drained:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for expected in [
        r#"store_manager_http_requests_total{method="POST",route="/users",status="201"} 3"#,
        r#"store_manager_http_requests_total{method="GET",route="/users/{id}",status="404"} 1"#,
        r#"store_manager_http_request_duration_seconds_count{method="POST",route="/users"} 3"#,
        "store_manager_outbox_published_total 3",
        "store_manager_outbox_publish_failures_total 0",
        "store_manager_outbox_commit_to_ack_seconds_count 3",
        "store_manager_outbox_oldest_pending_age_seconds 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

async fn readiness_is_true_with_database_and_broker_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    for (field, expected) in [
        ("ready", json!(true)),
        ("database", json!("up")),
        ("broker", json!("up")),
        ("outbox", json!("running")),
        ("outbox_restarts", json!(0)),
        ("restart_budget", json!("ok")),
        ("reasons", json!([])),
    ] {
        assert_eq!(body[field], expected, "{field} in {body}");
    }
}

async fn requests_carry_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let generated = app.get("/health-check").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let given = app
        .client
        .get(format!("{}/health-check", app.address))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("request");
    assert_eq!(given.headers()["x-request-id"], "trace-42");
    // A hostile id is replaced, not echoed.
    let hostile = app
        .client
        .get(format!("{}/health-check", app.address))
        .header("x-request-id", "<script>")
        .send()
        .await
        .expect("request");
    assert_ne!(hostile.headers()["x-request-id"], "<script>");
}
