//! coolriel's own helpers for its integration tests, beside the generic ones of
//! `test-support` (re-exported here, so a test module needs one import): a service
//! configuration per test, topics with their dead-letter topic, the events the tests
//! publish, the history written, and the marker phrase of each template variant. The
//! tests run against the real broker (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092);
//! every test gets its own random topic and group, and a missing broker fails them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use coolriel::{Config, HistoryRecord, RetryPolicy};
use shared_events::{
    Event, EventEnvelope, Money, OrderCreated, OrderDeleted, OrderItem, OrderPaid, UserCreated,
    UserDeleted, UserType, topics,
};
pub(crate) use test_support::http::{get, http, sample};
pub(crate) use test_support::kafka::{
    bootstrap, committed, header, producer, publish, publish_raw, read_messages, watermarks,
};
pub(crate) use test_support::{count_prefixed, eventually, files, init_logs, unique};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates")
}

/// A topic with `partitions` partitions, and its dead-letter topic.
pub(crate) async fn create_topic(topic: &str, partitions: i32) {
    create_topic_at(&bootstrap(), topic, partitions).await;
}

/// [`create_topic`] on the broker at `bootstrap`.
pub(crate) async fn create_topic_at(bootstrap: &str, topic: &str, partitions: i32) {
    let dlq = topics::dead_letter_topic(topic);
    test_support::kafka::create_topics(bootstrap, &[(topic, partitions), (dlq.as_str(), 1)]).await;
}

/// A topic with `partitions` partitions and no dead-letter topic (the service creates it).
pub(crate) async fn create_source_topic(topic: &str, partitions: i32) {
    test_support::kafka::create_topic(&bootstrap(), topic, partitions).await;
}

/// A service configuration for one test: its topic, its group, its output directory,
/// short retry and session timings, an admin server on a free port, and the plain-text
/// part of each email written too (so the tests check both files of every email; the
/// default, HTML only, is checked by `service.rs`'s lab-messages test).
pub(crate) fn config(topic: &str, group: &str, output_dir: &Path) -> Config {
    config_for(&[topic], group, output_dir)
}

/// [`config`] with several topics (a user topic and an order topic).
pub(crate) fn config_for(topics: &[&str], group: &str, output_dir: &Path) -> Config {
    Config {
        bootstrap_servers: bootstrap(),
        group_id: group.to_owned(),
        topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
        output_dir: output_dir.to_owned(),
        templates_dir: None,
        retry: RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        },
        handler_timeout: Duration::from_secs(10),
        drain_timeout: Duration::from_secs(5),
        session_timeout: Duration::from_secs(6),
        admin_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        lag_refresh_interval: Duration::from_millis(200),
        text_files: true,
        ..Config::default()
    }
}

pub(crate) fn user_type_of(id: i64) -> UserType {
    UserType::ALL[(id % 3) as usize]
}

pub(crate) fn created(id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::UserCreated(UserCreated {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        user_type: user_type_of(id),
    }))
}

pub(crate) fn deleted(id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::UserDeleted(UserDeleted {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        user_type: user_type_of(id),
    }))
}

/// The lines of order `id`: one to three products, with exact amounts.
pub(crate) fn order_items(id: i64) -> Vec<OrderItem> {
    (1..=(id % 3) + 1)
        .map(|line| {
            let product_id = id * 10 + line;
            let unit_price = Money::from_cents(999 + product_id * 101);
            OrderItem {
                product_id,
                name: format!("Produit {product_id}"),
                sku: format!("SKU-{product_id}"),
                unit_price,
                quantity: line,
                line_total: unit_price.checked_mul(line).expect("small amounts"),
            }
        })
        .collect()
}

pub(crate) fn order_total(id: i64) -> Money {
    order_items(id)
        .iter()
        .try_fold(Money::ZERO, |total, item| {
            total.checked_add(item.line_total)
        })
        .expect("small amounts")
}

/// Order `id` of user `user_id` (whose type is [`user_type_of`] the user).
pub(crate) fn order_created(id: i64, user_id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::OrderCreated(OrderCreated {
        id,
        user_id,
        user_name: format!("User {user_id}"),
        user_email: format!("user{user_id}@example.com"),
        user_type: user_type_of(user_id),
        items: order_items(id),
        total: order_total(id),
    }))
}

pub(crate) fn order_paid(id: i64, user_id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::OrderPaid(OrderPaid {
        id,
        user_id,
        user_name: format!("User {user_id}"),
        user_email: format!("user{user_id}@example.com"),
        user_type: user_type_of(user_id),
        items: order_items(id),
        total: order_total(id),
    }))
}

pub(crate) fn order_deleted(id: i64, user_id: i64, was_paid: bool) -> EventEnvelope {
    EventEnvelope::new(Event::OrderDeleted(OrderDeleted {
        id,
        user_id,
        user_name: format!("User {user_id}"),
        user_email: format!("user{user_id}@example.com"),
        user_type: user_type_of(user_id),
        items: order_items(id),
        total: order_total(id),
        was_paid,
    }))
}

/// The history lines written so far (whole lines only).
pub(crate) fn history(dir: &Path) -> Vec<HistoryRecord> {
    let Ok(text) = std::fs::read_to_string(dir.join("history.jsonl")) else {
        return Vec::new();
    };
    text.lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("bad history line {line:?}: {error}"))
        })
        .collect()
}

/// The marker phrase of each template variant, to check the right one was used.
pub(crate) fn welcome_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir visité notre magasin",
        UserType::Employee => "Salut et bienvenue dans l'équipe !",
        UserType::Manager => "Bienvenue dans l'équipe de direction",
    }
}

pub(crate) fn goodbye_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir magasiné chez nous",
        UserType::Employee => "Merci pour tout",
        UserType::Manager => "Merci pour votre leadership",
    }
}

pub(crate) fn confirmation_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir fait vos achats chez nous",
        UserType::Employee => "Merci pour ta commande",
        UserType::Manager => "figurera dans les rapports du magasin",
    }
}

pub(crate) fn receipt_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "nous avons bien reçu votre paiement",
        UserType::Employee => "Ton paiement est bien reçu",
        UserType::Manager => "joint à vos pièces comptables",
    }
}
