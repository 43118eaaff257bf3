//! Helpers for the tests that run against the real broker (`KAFKA_BOOTSTRAP_SERVERS`,
//! default 127.0.0.1:9092). Every test gets its own random topic and group, and the
//! helpers panic when the broker cannot be reached: a missing broker fails the tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use coolriel::{Config, HistoryRecord, RetryPolicy};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use shared_events::{
    Event, EventEnvelope, Money, OrderCreated, OrderDeleted, OrderItem, OrderPaid, UserCreated,
    UserDeleted, UserType, topics,
};

pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates")
}

/// Logs go through the test harness: shown for a failing test only.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// A topic with `partitions` partitions, and its dead-letter topic.
pub async fn create_topic(topic: &str, partitions: i32) {
    create_topic_at(&bootstrap(), topic, partitions).await;
}

/// [`create_topic`] on the broker at `bootstrap`.
pub async fn create_topic_at(bootstrap: &str, topic: &str, partitions: i32) {
    let dlq = topics::dead_letter_topic(topic);
    coolriel::kafka::admin::create_topics(
        bootstrap,
        &[(topic, partitions), (dlq.as_str(), 1)],
        Duration::from_secs(15),
    )
    .await
    .unwrap_or_else(|error| panic!("the broker at {bootstrap} must be reachable: {error}"));
}

/// A topic with `partitions` partitions and no dead-letter topic (the service creates it).
pub async fn create_source_topic(topic: &str, partitions: i32) {
    coolriel::kafka::admin::create_topics(
        &bootstrap(),
        &[(topic, partitions)],
        Duration::from_secs(15),
    )
    .await
    .unwrap_or_else(|error| panic!("the broker at {} must be reachable: {error}", bootstrap()));
}

/// A service configuration for one test: its topic, its group, its output directory,
/// short retry and session timings, an admin server on a free port, and the plain-text
/// part of each email written too (so the tests check both files of every email; the
/// default, HTML only, is checked by `service.rs`'s lab-messages test).
pub fn config(topic: &str, group: &str, output_dir: &Path) -> Config {
    config_for(&[topic], group, output_dir)
}

/// [`config`] with several topics (a user topic and an order topic).
pub fn config_for(topics: &[&str], group: &str, output_dir: &Path) -> Config {
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

pub fn producer() -> FutureProducer {
    producer_at(&bootstrap())
}

/// A producer for the broker at `bootstrap` (a test's private broker).
pub fn producer_at(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "15000")
        .create()
        .expect("producer")
}

pub fn user_type_of(id: i64) -> UserType {
    UserType::ALL[(id % 3) as usize]
}

pub fn created(id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::UserCreated(UserCreated {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        user_type: user_type_of(id),
    }))
}

pub fn deleted(id: i64) -> EventEnvelope {
    EventEnvelope::new(Event::UserDeleted(UserDeleted {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
        user_type: user_type_of(id),
    }))
}

/// The lines of order `id`: one to three products, with exact amounts.
pub fn order_items(id: i64) -> Vec<OrderItem> {
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

pub fn order_total(id: i64) -> Money {
    order_items(id)
        .iter()
        .try_fold(Money::ZERO, |total, item| {
            total.checked_add(item.line_total)
        })
        .expect("small amounts")
}

/// Order `id` of user `user_id` (whose type is [`user_type_of`] the user).
pub fn order_created(id: i64, user_id: i64) -> EventEnvelope {
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

pub fn order_paid(id: i64, user_id: i64) -> EventEnvelope {
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

pub fn order_deleted(id: i64, user_id: i64, was_paid: bool) -> EventEnvelope {
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

/// Publish an event the way the store manager does: key = aggregate id, event headers.
/// Returns (partition, offset).
pub async fn publish(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    envelope: &EventEnvelope,
    timestamp_ms: Option<i64>,
) -> (i32, i64) {
    let key = envelope.event.key();
    let payload = envelope.encode();
    let event_id = envelope
        .event_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: topics::HEADER_EVENT_ID,
            value: Some(event_id.as_str()),
        })
        .insert(Header {
            key: topics::HEADER_EVENT_TYPE,
            value: Some(envelope.event_type().as_str()),
        });
    let mut record = FutureRecord::to(topic)
        .key(key.as_bytes())
        .payload(payload.as_slice())
        .headers(headers);
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    if let Some(timestamp) = timestamp_ms {
        record = record.timestamp(timestamp);
    }
    let delivery = producer
        .send(record, Duration::from_secs(15))
        .await
        .unwrap_or_else(|(error, _)| panic!("publish to {topic}: {error}"));
    (delivery.partition, delivery.offset)
}

/// Publish raw bytes (poison messages, the lab's own payloads).
pub async fn publish_raw(
    producer: &FutureProducer,
    topic: &str,
    partition: Option<i32>,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> (i32, i64) {
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(partition) = partition {
        record = record.partition(partition);
    }
    let delivery = producer
        .send(record, Duration::from_secs(15))
        .await
        .unwrap_or_else(|(error, _)| panic!("publish to {topic}: {error}"));
    (delivery.partition, delivery.offset)
}

/// Poll `check` every 50 ms until it holds; panic after `timeout` naming `what`.
pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The history lines written so far (whole lines only).
pub fn history(dir: &Path) -> Vec<HistoryRecord> {
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

/// The names of the files in `dir`.
pub fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn count_prefixed(dir: &Path, prefix: &str, suffix: &str) -> usize {
    files(dir)
        .iter()
        .filter(|name| name.starts_with(prefix) && name.ends_with(suffix))
        .count()
}

/// Read `expected` messages of every partition of `topic` from the beginning (blocking).
pub fn read_topic(topic: &str, expected: usize, timeout: Duration) -> Vec<OwnedMessage> {
    // librdkafka refuses `assign` without a group id; this one never commits.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut assignment = TopicPartitionList::new();
    for found in metadata.topics() {
        for partition in found.partitions() {
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&assignment).expect("assign");
    let start = Instant::now();
    let mut messages = Vec::new();
    while messages.len() < expected {
        assert!(
            start.elapsed() < timeout,
            "read {} of {expected} messages from {topic} in {timeout:?}",
            messages.len()
        );
        if let Some(received) = consumer.poll(Duration::from_millis(200)) {
            messages.push(received.expect("consume").detach());
        }
    }
    messages
}

/// Low and high watermark of each partition.
pub fn watermarks(topic: &str, partitions: i32) -> Vec<(i64, i64)> {
    watermarks_at(&bootstrap(), topic, partitions)
}

/// [`watermarks`] on the broker at `bootstrap`.
pub fn watermarks_at(bootstrap: &str, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .expect("watermarks")
        })
        .collect()
}

/// The offsets `group` committed for each partition of `topic` (-1 when none).
pub fn committed(topic: &str, group: &str, partitions: i32) -> Vec<i64> {
    committed_at(&bootstrap(), topic, group, partitions)
}

/// [`committed`] on the broker at `bootstrap`.
pub fn committed_at(bootstrap: &str, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .expect("committed offsets");
    (0..partitions)
        .map(|partition| {
            match committed
                .find_partition(topic, partition)
                .map(|element| element.offset())
            {
                Some(Offset::Offset(offset)) => offset,
                _ => -1,
            }
        })
        .collect()
}

/// The value of a header, as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers as _;
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    })
}

/// The marker phrase of each template variant, to check the right one was used.
pub fn welcome_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir visité notre magasin",
        UserType::Employee => "Salut et bienvenue dans l'équipe !",
        UserType::Manager => "Bienvenue dans l'équipe de direction",
    }
}

pub fn goodbye_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir magasiné chez nous",
        UserType::Employee => "Merci pour tout",
        UserType::Manager => "Merci pour votre leadership",
    }
}

pub fn confirmation_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Merci d'avoir fait vos achats chez nous",
        UserType::Employee => "Merci pour ta commande",
        UserType::Manager => "figurera dans les rapports du magasin",
    }
}

pub fn receipt_marker(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "nous avons bien reçu votre paiement",
        UserType::Employee => "Ton paiement est bien reçu",
        UserType::Manager => "joint à vos pièces comptables",
    }
}

/// Whether `message` came from partition/offset of the source.
pub fn offset_of(message: &OwnedMessage) -> (i32, i64) {
    (message.partition(), message.offset())
}

/// An HTTP answer, as [`http`] read it.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {:?}", self.body))
    }
}

/// `method target` sent as is (no client normalises `..` or `%2e` away), answered over a
/// fresh connection; blocking, for a few milliseconds.
pub fn http(addr: SocketAddr, method: &str, target: &str) -> HttpAnswer {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|error| panic!("connect {addr}: {error}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("answer");
    let text = String::from_utf8(raw).expect("UTF-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn get(addr: SocketAddr, target: &str) -> HttpAnswer {
    http(addr, "GET", target)
}

/// The value of one sample of the text exposition (`name{labels}` exactly as written).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}
