//! Products, stock, orders and reports (the rest of the lab's store) on SQLite and
//! MariaDB: status codes, exact money, stock that never oversells, and the order events.

use reqwest::StatusCode;
use serde_json::{Value, json};
use test_support::Backend;

use crate::helpers::{TestApp, spawn_app};

on_both_databases!(
    the_labs_products_and_stock_are_seeded,
    products_are_created_validated_and_unique_by_sku,
    stock_is_set_and_read,
    an_order_takes_stock_and_publishes_order_created,
    a_failed_order_changes_nothing_and_publishes_nothing,
    paying_publishes_order_paid_once,
    deleting_an_order_puts_the_stock_back,
    products_and_users_on_orders_cannot_be_deleted,
    concurrent_orders_never_oversell,
    reports_rank_spenders_and_best_sellers,
);

// Seed ids: users 1-3 clients, 4 Jane Doe (employee), 5 Da Boss (manager);
// products 1 Laptop ABC 1999.99 ×1000, 2 Keyboard DEF 59.50 ×500, 3 Gadget XYZ 5.75 ×2,
// 4 27-inch Screen WYZ 299.75 ×90.
const JANE: i64 = 4;
const BOSS: i64 = 5;
const LAPTOP: i64 = 1;
const KEYBOARD: i64 = 2;
const GADGET: i64 = 3;

async fn order(app: &TestApp, user_id: i64, items: &[(i64, i64)]) -> reqwest::Response {
    let items: Vec<Value> = items
        .iter()
        .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
        .collect();
    app.post_json("/orders", &json!({"user_id": user_id, "items": items}))
        .await
}

async fn place_order(app: &TestApp, user_id: i64, items: &[(i64, i64)]) -> i64 {
    let response = order(app, user_id, items).await;
    assert_eq!(response.status(), StatusCode::CREATED, "order {items:?}");
    response.json::<Value>().await.expect("JSON")["order_id"]
        .as_i64()
        .expect("order_id")
}

async fn stock_of(app: &TestApp, product_id: i64) -> i64 {
    app.get_json(&format!("/stocks/{product_id}")).await["quantity"]
        .as_i64()
        .expect("quantity")
}

async fn the_labs_products_and_stock_are_seeded(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(
        app.get_json("/products/1").await,
        json!({"id": 1, "name": "Laptop ABC", "sku": "LP12567", "price": "1999.99"})
    );
    assert_eq!(
        app.get_json("/stocks/reports/overview-stocks").await,
        json!([
            {"product_id": 1, "name": "Laptop ABC", "sku": "LP12567", "quantity": 1000,
             "Article": "Laptop ABC", "Numéro SKU": "LP12567", "Prix unitaire": 1999.99, "Unités en stock": 1000},
            {"product_id": 2, "name": "Keyboard DEF", "sku": "KB67890", "quantity": 500,
             "Article": "Keyboard DEF", "Numéro SKU": "KB67890", "Prix unitaire": 59.5, "Unités en stock": 500},
            {"product_id": 3, "name": "Gadget XYZ", "sku": "GG12345", "quantity": 2,
             "Article": "Gadget XYZ", "Numéro SKU": "GG12345", "Prix unitaire": 5.75, "Unités en stock": 2},
            {"product_id": 4, "name": "27-inch Screen WYZ", "sku": "SC27289", "quantity": 90,
             "Article": "27-inch Screen WYZ", "Numéro SKU": "SC27289", "Prix unitaire": 299.75, "Unités en stock": 90},
        ])
    );
}

async fn products_are_created_validated_and_unique_by_sku(backend: Backend) {
    let app = spawn_app(backend).await;
    // Prices as the lab's clients send them (numbers) and as strings.
    for (sku, price, shown) in [
        ("MS00001", json!(49.99), "49.99"),
        ("MS00002", json!("0.10"), "0.10"),
        ("MS00003", json!(12), "12.00"),
    ] {
        let response = app
            .post_json(
                "/products",
                &json!({"name": "Mouse", "sku": sku, "price": price}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "{sku}");
        let id = response.json::<Value>().await.expect("JSON")["product_id"]
            .as_i64()
            .expect("product_id");
        assert_eq!(
            app.get_json(&format!("/products/{id}")).await["price"],
            shown
        );
        assert_eq!(
            stock_of(&app, id).await,
            0,
            "a new product has no stock yet"
        );
    }
    let duplicate = app
        .post_json(
            "/products",
            &json!({"name": "Other", "sku": "LP12567", "price": 1}),
        )
        .await;
    assert_eq!(duplicate.status(), StatusCode::CONFLICT);
    for price in [
        json!(0),
        json!(-5),
        json!(1.999),
        json!("abc"),
        json!(null),
        json!(1e300),
    ] {
        let response = app
            .post_json(
                "/products",
                &json!({"name": "Bad", "sku": "BAD0001", "price": price}),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "price {price}"
        );
        assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());
    }
    for body in [
        json!({"name": "", "sku": "EMPTY01", "price": 1}),
        json!({"name": "Bad Sku", "sku": "has space", "price": 1}),
        json!({"name": "Bad Sku", "sku": "../../etc", "price": 1}),
    ] {
        let response = app.post_json("/products", &body).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
    }
    let missing = app
        .post_json("/products", &json!({"name": "No Price", "sku": "NP00001"}))
        .await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.get("/products/999").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn stock_is_set_and_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .post_json("/stocks", &json!({"product_id": GADGET, "quantity": 40}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // Ours and, in `result`, the lab's answer.
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"product_id": GADGET, "quantity": 40, "result": "rows updated: 1"})
    );
    assert_eq!(stock_of(&app, GADGET).await, 40);
    // Setting the same value again is fine (MySQL reports 0 changed rows).
    let again = app
        .post_json("/stocks", &json!({"product_id": GADGET, "quantity": 40}))
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(stock_of(&app, GADGET).await, 40);
    let negative = app
        .post_json("/stocks", &json!({"product_id": GADGET, "quantity": -1}))
        .await;
    assert_eq!(negative.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = app
        .post_json("/stocks", &json!({"product_id": 999, "quantity": 1}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/stocks/999").await.status(), StatusCode::NOT_FOUND);
}

async fn an_order_takes_stock_and_publishes_order_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let order_id = place_order(&app, JANE, &[(LAPTOP, 1), (KEYBOARD, 2)]).await;
    let stored = app.get_json(&format!("/orders/{order_id}")).await;
    assert_eq!(stored["user_id"], JANE);
    assert_eq!(stored["is_paid"], false);
    // 1999.99 + 2 × 59.50, exactly.
    assert_eq!(stored["total"], "2118.99");
    // The lab's keys: the total as a number, no payment service to link to.
    assert_eq!(stored["total_amount"], 2118.99);
    assert!(stored["payment_link"].is_null());
    assert_eq!(stored["items"][1]["unit_price"], "59.50");
    assert_eq!(stored["items"][1]["line_total"], "119.00");
    assert_eq!(stock_of(&app, LAPTOP).await, 999);
    assert_eq!(stock_of(&app, KEYBOARD).await, 498);

    let events = app.order_events(1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        events[0].key.as_deref(),
        Some(order_id.to_string().as_str())
    );
    assert_eq!(events[0].headers["event_type"], "OrderCreated");
    let event = events[0].json();
    assert_eq!(event["event"], "OrderCreated");
    assert_eq!(event["id"], order_id);
    assert_eq!(event["user_id"], JANE);
    assert_eq!(event["user_name"], "Jane Doe");
    assert_eq!(event["user_email"], "jdoe@magasinducoin.ca");
    assert_eq!(event["user_type_id"], 2);
    assert_eq!(event["total"], "2118.99");
    assert_eq!(event["items"][0]["name"], "Laptop ABC");
    assert_eq!(event["items"][0]["unit_price"], "1999.99");
    assert_eq!(event["items"][1]["quantity"], 2);
}

async fn a_failed_order_changes_nothing_and_publishes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // The laptop line is fine, the gadget line is not: the laptop stock must not move.
    let short = order(&app, JANE, &[(LAPTOP, 1), (GADGET, 3)]).await;
    assert_eq!(short.status(), StatusCode::CONFLICT);
    let error = short.json::<Value>().await.expect("JSON")["error"].clone();
    assert!(
        error.as_str().is_some_and(|e| e.contains("2 available")),
        "{error}"
    );
    assert_eq!(stock_of(&app, LAPTOP).await, 1000);
    assert_eq!(stock_of(&app, GADGET).await, 2);
    for (user_id, items, status) in [
        (999, vec![(LAPTOP, 1)], StatusCode::UNPROCESSABLE_ENTITY),
        (JANE, vec![(999, 1)], StatusCode::UNPROCESSABLE_ENTITY),
        (JANE, vec![], StatusCode::UNPROCESSABLE_ENTITY),
        (JANE, vec![(LAPTOP, 0)], StatusCode::UNPROCESSABLE_ENTITY),
        (JANE, vec![(LAPTOP, -3)], StatusCode::UNPROCESSABLE_ENTITY),
        (
            JANE,
            vec![(LAPTOP, 10_000_000_000)],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let response = order(&app, user_id, &items).await;
        assert_eq!(response.status(), status, "user {user_id} items {items:?}");
    }
    let malformed = app
        .post_raw(
            "/orders",
            "application/json",
            r#"{"user_id": "four", "items": []}"#,
        )
        .await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/orders/1").await.status(), StatusCode::NOT_FOUND);
    // A marker order proves the topic is live; nothing else may be on it.
    let marker = place_order(&app, BOSS, &[(KEYBOARD, 1)]).await;
    let events = app.order_events(1).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].json()["id"], marker);
}

async fn paying_publishes_order_paid_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let order_id = place_order(&app, BOSS, &[(GADGET, 2)]).await;
    for _ in 0..2 {
        let response = app
            .put_json("/orders", &json!({"order_id": order_id, "is_paid": true}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.json::<Value>().await.expect("JSON"),
            json!({"updated": true})
        );
    }
    assert_eq!(
        app.get_json(&format!("/orders/{order_id}")).await["is_paid"],
        true
    );
    let unknown = app
        .put_json("/orders", &json!({"order_id": 999, "is_paid": true}))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        unknown.json::<Value>().await.expect("JSON")["updated"],
        false
    );

    let events = app.order_events(2).await;
    let kinds: Vec<Value> = events.iter().map(|e| e.json()["event"].clone()).collect();
    assert_eq!(
        kinds,
        ["OrderCreated", "OrderPaid"],
        "paid once, after created"
    );
    let paid = events[1].json();
    assert_eq!(paid["total"], "11.50");
    assert_eq!(paid["user_type_id"], 3);
    assert_eq!(paid["items"][0]["sku"], "GG12345");
}

async fn deleting_an_order_puts_the_stock_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let order_id = place_order(&app, JANE, &[(GADGET, 2), (KEYBOARD, 5)]).await;
    assert_eq!(stock_of(&app, GADGET).await, 0);
    let response = app.delete(&format!("/orders/{order_id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.expect("JSON"),
        json!({"deleted": true})
    );
    assert_eq!(stock_of(&app, GADGET).await, 2);
    assert_eq!(stock_of(&app, KEYBOARD).await, 500);
    let again = app.delete(&format!("/orders/{order_id}")).await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/orders/{order_id}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let events = app.order_events(2).await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let deleted = events[1].json();
    assert_eq!(deleted["event"], "OrderDeleted");
    assert_eq!(deleted["id"], order_id);
    assert_eq!(deleted["was_paid"], false);
    assert_eq!(deleted["total"], "309.00");
}

async fn products_and_users_on_orders_cannot_be_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let order_id = place_order(&app, JANE, &[(KEYBOARD, 1)]).await;
    let product = app.delete(&format!("/products/{KEYBOARD}")).await;
    assert_eq!(product.status(), StatusCode::CONFLICT);
    let user = app.delete(&format!("/users/{JANE}")).await;
    assert_eq!(user.status(), StatusCode::CONFLICT);
    assert!(user.json::<Value>().await.expect("JSON")["error"].is_string());
    // Once the order is gone, both can go.
    assert_eq!(
        app.delete(&format!("/orders/{order_id}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/products/{KEYBOARD}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/stocks/{KEYBOARD}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/users/{JANE}")).await.status(),
        StatusCode::OK
    );
    let never = app.delete("/products/999").await;
    assert_eq!(never.status(), StatusCode::NOT_FOUND);
    assert_eq!(never.json::<Value>().await.expect("JSON")["deleted"], false);
}

async fn concurrent_orders_never_oversell(backend: Backend) {
    let app = spawn_app(backend).await;
    // Two orders race for the last unit: exactly one wins.
    let set = app
        .post_json("/stocks", &json!({"product_id": GADGET, "quantity": 1}))
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let (a, b) = tokio::join!(
        order(&app, JANE, &[(GADGET, 1)]),
        order(&app, BOSS, &[(GADGET, 1)])
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(stock_of(&app, GADGET).await, 0);

    // Twenty orders race for five units: exactly five win, the stock ends at zero.
    let set = app
        .post_json("/stocks", &json!({"product_id": GADGET, "quantity": 5}))
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let racers = (0..20).map(|n| order(&app, 1 + n % 5, &[(GADGET, 1), (LAPTOP, 1)]));
    let responses = futures::future::join_all(racers).await;
    let won = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let lost = responses
        .iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, lost), (5, 15));
    assert_eq!(stock_of(&app, GADGET).await, 0);
    // The losers' laptop lines were rolled back with them.
    assert_eq!(stock_of(&app, LAPTOP).await, 1000 - 5);
}

async fn reports_rank_spenders_and_best_sellers(backend: Backend) {
    let app = spawn_app(backend).await;
    place_order(&app, JANE, &[(KEYBOARD, 3)]).await; // 178.50
    place_order(&app, BOSS, &[(LAPTOP, 1)]).await; // 1999.99
    place_order(&app, JANE, &[(KEYBOARD, 1), (GADGET, 2)]).await; // 59.50 + 11.50
    let spenders = app.get_json("/orders/reports/highest-spenders").await;
    assert_eq!(
        spenders,
        json!([
            {"user_id": 5, "name": "Da Boss", "email": "dboss@magasinducoin.ca", "orders": 1, "total_spent": "1999.99", "total_expense": 1999.99},
            {"user_id": 4, "name": "Jane Doe", "email": "jdoe@magasinducoin.ca", "orders": 2, "total_spent": "249.50", "total_expense": 249.5},
        ])
    );
    let sellers = app.get_json("/orders/reports/best-sellers").await;
    assert_eq!(
        sellers,
        json!([
            {"product_id": 2, "name": "Keyboard DEF", "sku": "KB67890", "quantity_sold": 4, "revenue": "238.00"},
            {"product_id": 3, "name": "Gadget XYZ", "sku": "GG12345", "quantity_sold": 2, "revenue": "11.50"},
            {"product_id": 1, "name": "Laptop ABC", "sku": "LP12567", "quantity_sold": 1, "revenue": "1999.99"},
        ])
    );
}
