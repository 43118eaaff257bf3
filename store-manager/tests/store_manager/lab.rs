//! The lab's routes that the rest of the API does not cover, on SQLite and MariaDB: the
//! suppliers' GraphQL query (`POST /stocks/graphql-query`), checking stock in and out
//! (`PUT /stocks`, lab 6), and the lab's seeded staff addresses.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use store_manager::graphql::{MAX_COMPLEXITY, MAX_QUERY_BYTES};
use test_support::Backend;

use crate::helpers::{TestApp, spawn_app};

on_both_databases!(
    graphql_reads_a_product_and_its_stock_level,
    graphql_takes_variables_in_every_shape_the_lab_sends,
    graphql_refuses_bad_queries_without_a_server_error,
    stock_is_checked_in_and_out,
    a_check_out_below_zero_changes_nothing,
    invalid_stock_movements_change_nothing,
    concurrent_check_outs_never_go_below_zero,
    the_labs_staff_have_the_labs_addresses,
);

// Seed products: 1 Laptop ABC 1999.99 ×1000, 2 Keyboard DEF 59.50 ×500, 3 Gadget XYZ 5.75 ×2.
const LAPTOP: i64 = 1;
const KEYBOARD: i64 = 2;
const GADGET: i64 = 3;

const GRAPHQL: &str = "/stocks/graphql-query";

async fn graphql(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    let response = app.post_json(GRAPHQL, body).await;
    let status = response.status();
    (status, response.json().await.expect("JSON answer"))
}

async fn stock_of(app: &TestApp, product_id: i64) -> i64 {
    app.get_json(&format!("/stocks/{product_id}")).await["quantity"]
        .as_i64()
        .expect("quantity")
}

async fn outbox_rows(app: &TestApp) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(COUNT(*) AS SIGNED) AS n FROM outbox",
        ))
        .await
        .expect("count outbox rows")
        .expect("one row");
    row.try_get::<i64>("", "n").expect("n")
}

async fn move_stock(app: &TestApp, operation: &str, items: &[(i64, i64)]) -> reqwest::Response {
    let items: Vec<Value> = items
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    app.put_json("/stocks", &json!({"items": items, "operation": operation}))
        .await
}

async fn graphql_reads_a_product_and_its_stock_level(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, answer) = graphql(
        &app,
        &json!({"query": r#"{ product(id: "1") { id name sku price quantity } stockLevel(productId: "3") }"#}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({
            "data": {
                "product": {"id": "1", "name": "Laptop ABC", "sku": "LP12567", "price": 1999.99, "quantity": 1000},
                "stockLevel": 2,
            },
            "errors": null,
        })
    );
    // Read from the database, not a cache: an order shows at once.
    let order = app
        .post_json(
            "/orders",
            &json!({"user_id": 1, "items": [{"product_id": LAPTOP, "quantity": 3}]}),
        )
        .await;
    assert_eq!(order.status(), StatusCode::CREATED);
    let (_, answer) = graphql(&app, &json!({"query": r#"{ stockLevel(productId: "1") }"#})).await;
    assert_eq!(answer["data"]["stockLevel"], 997);
    // No such product: null, and no error.
    for id in ["999", "abc", "99999999999999999999"] {
        let (status, answer) = graphql(
            &app,
            &json!({"query": format!(r#"{{ product(id: "{id}") {{ id }} stockLevel(productId: "{id}") }}"#)}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{id}");
        assert_eq!(
            answer,
            json!({"data": {"product": null, "stockLevel": null}, "errors": null}),
            "{id}"
        );
    }
}

async fn graphql_takes_variables_in_every_shape_the_lab_sends(backend: Backend) {
    let app = spawn_app(backend).await;
    let plain = r#"{ product(id: "2") { name quantity } }"#;
    let expected =
        json!({"data": {"product": {"name": "Keyboard DEF", "quantity": 500}}, "errors": null});
    for body in [
        json!({"query": plain}),
        json!({"query": plain, "variables": null}),
        // What the lab's Postman collection sends.
        json!({"query": plain, "variables": ""}),
        json!({"query": plain, "variables": {}}),
    ] {
        let (status, answer) = graphql(&app, &body).await;
        assert_eq!((status, &answer), (StatusCode::OK, &expected), "{body}");
    }
    let with_variable = "query Supplier($id: String!) { product(id: $id) { name quantity } }";
    for variables in [json!({"id": "2"}), json!(r#"{"id": "2"}"#)] {
        let (status, answer) = graphql(
            &app,
            &json!({"query": with_variable, "variables": variables, "operationName": "Supplier"}),
        )
        .await;
        assert_eq!(
            (status, &answer),
            (StatusCode::OK, &expected),
            "{variables}"
        );
    }
}

async fn graphql_refuses_bad_queries_without_a_server_error(backend: Backend) {
    let app = spawn_app(backend).await;
    // Not a valid query: 200, data null, the reasons as plain strings (the lab's shape).
    let too_many_fields = format!(
        "{{ {} }}",
        (0..=MAX_COMPLEXITY)
            .map(|n| format!(r#"p{n}: stockLevel(productId: "1")"#))
            .collect::<Vec<_>>()
            .join(" ")
    );
    for (query, reason) in [
        ("{ product(id: \"1\") { name ", "syntax"),
        ("{ product(id: 1) { name } }", "argument"),
        ("{ product(id: \"1\") { password } }", "unknown field"),
        ("{ stockLevel }", "missing argument"),
        ("mutation { product(id: \"1\") { name } }", "no mutations"),
        (
            "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
            "too deep",
        ),
        (too_many_fields.as_str(), "too complex"),
        (
            "query Q($id: String!) { product(id: $id) { name } }",
            "variable missing",
        ),
    ] {
        let (status, answer) = graphql(&app, &json!({"query": query, "variables": ""})).await;
        assert_eq!(status, StatusCode::OK, "{reason}: {answer}");
        assert!(answer["data"].is_null(), "{reason}: {answer}");
        let errors = answer["errors"].as_array().expect("errors");
        assert!(
            !errors.is_empty() && errors.iter().all(Value::is_string),
            "{reason}: {answer}"
        );
    }
    let (_, answer) = graphql(
        &app,
        &json!({"query": "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }"}),
    )
    .await;
    assert!(
        answer["errors"][0]
            .as_str()
            .is_some_and(|error| error.contains("nested too deep")),
        "{answer}"
    );
    // Not a GraphQL request at all: 400 with our usual error.
    let too_long = format!(
        "{{ product(id: \"1\") {{ name }} }}{}",
        " ".repeat(MAX_QUERY_BYTES)
    );
    for body in [
        json!({"variables": {}}),
        json!({"query": 42}),
        json!({"query": "{ stockLevel(productId: \"1\") }", "variables": [1]}),
        json!({"query": "{ stockLevel(productId: \"1\") }", "variables": "{not json"}),
        json!({"query": too_long}),
    ] {
        let response = app.post_json(GRAPHQL, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.expect("JSON");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let not_json = app.post_raw(GRAPHQL, "application/json", "{query").await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(outbox_rows(&app).await, 0, "a query writes nothing");
}

async fn stock_is_checked_in_and_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = outbox_rows(&app).await;
    let checked_in = move_stock(&app, "+", &[(GADGET, 10), (KEYBOARD, 5), (GADGET, 3)]).await;
    assert_eq!(checked_in.status(), StatusCode::OK);
    assert_eq!(
        checked_in.json::<Value>().await.expect("JSON"),
        json!({"result": "OK", "items": [
            {"product_id": KEYBOARD, "quantity": 505},
            {"product_id": GADGET, "quantity": 15},
        ]})
    );
    let checked_out = move_stock(&app, "-", &[(GADGET, 15), (LAPTOP, 1)]).await;
    assert_eq!(checked_out.status(), StatusCode::OK);
    assert_eq!(
        checked_out.json::<Value>().await.expect("JSON"),
        json!({"result": "OK", "items": [
            {"product_id": LAPTOP, "quantity": 999},
            {"product_id": GADGET, "quantity": 0},
        ]})
    );
    assert_eq!(stock_of(&app, GADGET).await, 0);
    assert_eq!(stock_of(&app, KEYBOARD).await, 505);
    assert_eq!(stock_of(&app, LAPTOP).await, 999);
    // The store publishes no stock changes (services::stocks says why).
    assert_eq!(outbox_rows(&app).await, before);
}

async fn a_check_out_below_zero_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // The laptop line comes first and succeeds; the gadget line (2 in stock) cannot.
    let response = move_stock(&app, "-", &[(LAPTOP, 10), (GADGET, 3)]).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let error = response.json::<Value>().await.expect("JSON")["error"]
        .as_str()
        .expect("error")
        .to_owned();
    assert!(
        error.contains("product 3") && error.contains("2 available"),
        "{error}"
    );
    assert_eq!(stock_of(&app, LAPTOP).await, 1000, "rolled back");
    assert_eq!(stock_of(&app, GADGET).await, 2);
}

async fn invalid_stock_movements_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    for (operation, items, status) in [
        (
            "+",
            vec![(KEYBOARD, 5), (999, 1)],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "-",
            vec![(KEYBOARD, 5), (999, 1)],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("*", vec![(KEYBOARD, 5)], StatusCode::UNPROCESSABLE_ENTITY),
        ("+", vec![], StatusCode::UNPROCESSABLE_ENTITY),
        ("+", vec![(KEYBOARD, 0)], StatusCode::UNPROCESSABLE_ENTITY),
        ("-", vec![(KEYBOARD, -5)], StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let response = move_stock(&app, operation, &items).await;
        assert_eq!(response.status(), status, "{operation} {items:?}");
        assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());
    }
    for body in [
        json!({"items": [{"product_id": KEYBOARD, "quantity": 1}]}),
        json!({"operation": "+"}),
        json!({"items": [{"product_id": KEYBOARD}], "operation": "+"}),
    ] {
        let response = app.put_json("/stocks", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(stock_of(&app, KEYBOARD).await, 500);
}

async fn concurrent_check_outs_never_go_below_zero(backend: Backend) {
    let app = spawn_app(backend).await;
    let responses =
        futures::future::join_all((0..10).map(|_| move_stock(&app, "-", &[(GADGET, 1)]))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(reqwest::Response::status).collect();
    let done = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((done, refused), (2, 8), "{statuses:?}");
    assert_eq!(stock_of(&app, GADGET).await, 0);
}

async fn the_labs_staff_have_the_labs_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.get_json("/users/4").await["email"],
        "jdoe@magasinducoin.ca"
    );
    assert_eq!(
        app.get_json("/users/5").await["email"],
        "dboss@magasinducoin.ca"
    );
    assert_eq!(
        app.get_json("/users/1").await["email"],
        "alovelace@example.com"
    );
}
