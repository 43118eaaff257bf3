//! Hostile HTTP input: every request below gets a 4xx JSON error (never a 5xx, never a
//! hang), writes nothing and publishes nothing. The body limit is 64 KiB.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{EntityTrait as _, PaginatorTrait as _};
use serde_json::{Value, json};
use store_manager::entities::{order, outbox, product, user};
use test_support::Backend;

use crate::helpers::{TestApp, spawn_app};

on_both_databases!(hostile_requests_get_4xx_json_and_change_nothing);

/// One request, however built: method, path, content type, body bytes.
struct Attack {
    what: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn json_attack(what: &'static str, method: reqwest::Method, path: &str, body: Value) -> Attack {
    Attack {
        what,
        method,
        path: path.to_owned(),
        content_type: "application/json",
        body: body.to_string().into_bytes(),
    }
}

fn attacks() -> Vec<Attack> {
    use reqwest::Method;
    let post = |what, path: &str, body| json_attack(what, Method::POST, path, body);
    let raw = |what, path: &str, body: &[u8]| Attack {
        what,
        method: Method::POST,
        path: path.to_owned(),
        content_type: "application/json",
        body: body.to_vec(),
    };
    let get = |what, path: &str| Attack {
        what,
        method: Method::GET,
        path: path.to_owned(),
        content_type: "application/json",
        body: Vec::new(),
    };
    let delete = |what, path: &str| Attack {
        what,
        method: Method::DELETE,
        path: path.to_owned(),
        content_type: "application/json",
        body: Vec::new(),
    };
    let mut huge_body = br#"{"name": ""#.to_vec();
    huge_body.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    huge_body.extend(br#"", "email": "huge@example.com"}"#);
    vec![
        raw("truncated JSON", "/users", br#"{"name": "x", "email": "#),
        raw("not JSON", "/users", b"name=x&email=y"),
        raw("JSON array", "/users", b"[1, 2, 3]"),
        raw("deeply nested JSON", "/users", &[b'['; 100_000]),
        raw(
            "non-UTF-8 name",
            "/users",
            b"{\"name\": \"\xff\xfe\", \"email\": \"bytes@example.com\"}",
        ),
        Attack {
            what: "10 MiB body",
            ..raw("", "/users", &huge_body)
        },
        post(
            "name as number",
            "/users",
            json!({"name": 7, "email": "n@example.com"}),
        ),
        post("email missing", "/users", json!({"name": "No Email"})),
        post(
            "user type as string",
            "/users",
            json!({"name": "T", "email": "t@example.com", "user_type_id": "1"}),
        ),
        post(
            "user type huge",
            "/users",
            json!({"name": "T", "email": "t@example.com", "user_type_id": 1e30}),
        ),
        post(
            "unknown user type",
            "/users",
            json!({"name": "T", "email": "t@example.com", "user_type_id": 99}),
        ),
        post(
            "negative user type",
            "/users",
            json!({"name": "T", "email": "t@example.com", "user_type_id": -1}),
        ),
        post(
            "name too long",
            "/users",
            json!({"name": "é".repeat(101), "email": "long@example.com"}),
        ),
        post(
            "name of 100 000 chars",
            "/users",
            json!({"name": "x".repeat(60_000), "email": "l@example.com"}),
        ),
        post(
            "script in name",
            "/users",
            json!({"name": "<script>alert(1)</script>", "email": "xss@example.com"}),
        ),
        post(
            "SQL in name",
            "/users",
            json!({"name": "Robert'); DROP TABLE users;--", "email": "bobby@example.com"}),
        ),
        post(
            "SQL in email",
            "/users",
            json!({"name": "Bobby", "email": "x' OR '1'='1"}),
        ),
        post(
            "email without domain",
            "/users",
            json!({"name": "Bobby", "email": "bobby@"}),
        ),
        post(
            "email with newline",
            "/users",
            json!({"name": "Bobby", "email": "bob\n@example.com"}),
        ),
        post(
            "duplicate seed email",
            "/users",
            json!({"name": "Ada", "email": "alovelace@example.com"}),
        ),
        post(
            "negative price",
            "/products",
            json!({"name": "Neg", "sku": "NEG001", "price": -1}),
        ),
        post(
            "huge price",
            "/products",
            json!({"name": "Huge", "sku": "HUGE01", "price": 1e300}),
        ),
        post(
            "price with 3 decimals",
            "/products",
            json!({"name": "P", "sku": "DEC001", "price": "1.001"}),
        ),
        post(
            "script in product name",
            "/products",
            json!({"name": "<img src=x onerror=alert(1)>", "sku": "XSS001", "price": 1}),
        ),
        post(
            "path in sku",
            "/products",
            json!({"name": "Path", "sku": "../../etc/passwd", "price": 1}),
        ),
        post(
            "negative stock",
            "/stocks",
            json!({"product_id": 1, "quantity": -5}),
        ),
        post(
            "huge stock",
            "/stocks",
            json!({"product_id": 1, "quantity": 1e20}),
        ),
        post(
            "negative quantity",
            "/orders",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": -1}]}),
        ),
        post(
            "huge quantity",
            "/orders",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 9_000_000_000_000_i64}]}),
        ),
        post(
            "more than in stock",
            "/orders",
            json!({"user_id": 1, "items": [{"product_id": 3, "quantity": 3}]}),
        ),
        post("no items", "/orders", json!({"user_id": 1, "items": []})),
        post(
            "unknown product",
            "/orders",
            json!({"user_id": 1, "items": [{"product_id": 999, "quantity": 1}]}),
        ),
        json_attack(
            "pay unknown order",
            reqwest::Method::PUT,
            "/orders",
            json!({"order_id": 424242, "is_paid": true}),
        ),
        json_attack(
            "is_paid as string",
            reqwest::Method::PUT,
            "/orders",
            json!({"order_id": 1, "is_paid": "yes"}),
        ),
        get("path traversal", "/users/..%2F..%2Fetc%2Fpasswd"),
        get("dot segments", "/users/../../etc/passwd"),
        get("SQL in id", "/users/1%3B%20DROP%20TABLE%20users"),
        get("id overflow", "/users/99999999999999999999999"),
        get("negative id", "/orders/-1"),
        delete("delete with junk id", "/users/abc"),
        delete("delete unknown product", "/products/0"),
        get("unknown route", "/admin"),
    ]
}

async fn send(app: &TestApp, attack: &Attack) -> (StatusCode, Value) {
    let request = app
        .client
        .request(
            attack.method.clone(),
            format!("{}{}", app.address, attack.path),
        )
        .header("content-type", attack.content_type)
        .body(attack.body.clone())
        .timeout(Duration::from_secs(10));
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("{}: no answer ({error})", attack.what));
    let status = response.status();
    let body = response
        .json::<Value>()
        .await
        .unwrap_or_else(|error| panic!("{}: answer is not JSON ({error})", attack.what));
    (status, body)
}

async fn hostile_requests_get_4xx_json_and_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for attack in attacks() {
        let (status, body) = send(&app, &attack).await;
        assert!(
            status.is_client_error(),
            "{}: expected 4xx, got {status} {body}",
            attack.what
        );
        assert!(
            body["error"].is_string(),
            "{}: no error message in {body}",
            attack.what
        );
    }
    let response = app
        .post_json(
            "/products",
            &json!({"name": "x", "sku": "HUGE01", "price": 1}),
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the server still works"
    );
    // Nothing was written by the attacks: the seed rows and one product only.
    assert_eq!(user::Entity::find().count(&app.db).await.expect("users"), 5);
    assert_eq!(
        product::Entity::find()
            .count(&app.db)
            .await
            .expect("products"),
        5
    );
    assert_eq!(
        order::Entity::find().count(&app.db).await.expect("orders"),
        0
    );
    assert_eq!(
        outbox::Entity::find().count(&app.db).await.expect("outbox"),
        0
    );
    // And nothing was published: a marker is the only event on the topic.
    let marker = app.create_user("Marker", "marker@example.com", None).await;
    let events = app.events(1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].json()["id"], marker);
}
