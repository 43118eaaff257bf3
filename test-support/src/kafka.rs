//! The shared broker (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092), per-test topics,
//! publishing events as the store manager does (or raw bytes), and reading what a topic
//! holds: its messages, its watermarks, a group's committed offsets.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use shared_events::{EventEnvelope, topics};

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Creates `topic` with `partitions` partitions on the broker at `bootstrap`.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    create_topics(bootstrap, &[(topic, partitions)]).await;
}

/// Creates each `(topic, partitions)` on the broker at `bootstrap`, in one request.
pub async fn create_topics(bootstrap: &str, wanted: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let topics: Vec<NewTopic<'_>> = wanted
        .iter()
        .map(|(topic, partitions)| NewTopic::new(topic, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&topics, &options)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "the broker at {bootstrap} must be reachable (scripts/test.sh starts it): {error}"
            )
        });
    for result in results {
        if let Err((name, code)) = result {
            panic!("cannot create topic {name}: {code}");
        }
    }
}

/// An idempotent producer for the broker at `bootstrap`.
pub fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("message.timeout.ms", "15000")
        .create()
        .expect("producer")
}

/// Publishes an event the way the store manager does: key = aggregate id, the
/// `event_id` and `event_type` headers, the lab's JSON. Returns (partition, offset).
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
    send(producer, topic, record).await
}

/// Publishes raw bytes (poison messages, the lab's own payloads). Returns (partition,
/// offset).
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
    send(producer, topic, record).await
}

async fn send<K, P>(
    producer: &FutureProducer,
    topic: &str,
    record: FutureRecord<'_, K, P>,
) -> (i32, i64)
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    let delivery = producer
        .send(record, Duration::from_secs(15))
        .await
        .unwrap_or_else(|(error, _)| panic!("publish to {topic}: {error}"));
    (delivery.partition, delivery.offset)
}

/// A message as the tests look at it.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: HashMap<String, String>,
    pub payload: String,
}

impl Record {
    /// The payload as JSON (panics when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.payload)
            .unwrap_or_else(|error| panic!("payload is not JSON ({error}): {:?}", self.payload))
    }
}

/// Reads every message of `topic` from the beginning until at least `expected` arrived,
/// then keeps reading for `settle` to catch extra (duplicate or unwanted) messages.
/// Panics after `timeout` with what it did get. Messages come back partition by partition,
/// each partition in offset order.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Vec<Record> {
    read_messages(bootstrap, topic, expected, settle, timeout)
        .iter()
        .map(|message| Record {
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|key| String::from_utf8_lossy(key).into_owned()),
            headers: message
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .map(|header| {
                            (
                                header.key.to_owned(),
                                String::from_utf8_lossy(header.value.unwrap_or_default())
                                    .into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            payload: String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
        })
        .collect()
}

/// [`read_topic`] from async code: the blocking reader runs on tokio's blocking threads, so
/// the test's runtime (and a server running on it) keeps going meanwhile.
pub async fn read_topic_async(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Vec<Record> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || read_topic(&bootstrap, &topic, expected, settle, timeout))
        .await
        .unwrap_or_else(|error| match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the topic reader did not finish: {error}"),
        })
}

/// [`read_topic`], with each message as the broker gave it (key and value as bytes,
/// absent ones `None`).
pub fn read_messages(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", crate::unique("test-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(15))
        .expect("topic metadata");
    let mut assignment = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        assignment
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let started = Instant::now();
    let mut messages: Vec<OwnedMessage> = Vec::new();
    let mut complete_since: Option<Instant> = None;
    loop {
        if let Some(since) = complete_since {
            if since.elapsed() >= settle {
                break;
            }
        } else if started.elapsed() > timeout {
            let got: Vec<String> = messages.iter().map(describe).collect();
            panic!(
                "expected {expected} messages on {topic} within {timeout:?}, got {}: {got:#?}",
                messages.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => messages.push(message.detach()),
            Some(Err(error)) => eprintln!("test reader: {error}"),
            None => {}
        }
        if messages.len() >= expected && complete_since.is_none() {
            complete_since = Some(Instant::now());
        }
    }
    messages.sort_by_key(|message| (message.partition(), message.offset()));
    messages
}

/// A message in a failure report: where it is, its key, the start of its value.
fn describe(message: &OwnedMessage) -> String {
    let text = |bytes: Option<&[u8]>| {
        bytes.map(|bytes| String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned())
    };
    format!(
        "{}/{} key={:?} value={:?}",
        message.partition(),
        message.offset(),
        text(message.key()),
        text(message.payload())
    )
}

/// The value of a message's header `name`, as text.
pub fn header(message: &impl Message, name: &str) -> Option<String> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|header| header.key == name)
            .and_then(|header| header.value)
            .map(|value| String::from_utf8_lossy(value).into_owned())
    })
}

/// The low and high watermark of each of the first `partitions` partitions of `topic`.
pub fn watermarks(bootstrap: &str, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
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

/// The offsets `group` committed for each of the first `partitions` partitions of `topic`
/// (-1 when none).
pub fn committed(bootstrap: &str, topic: &str, group: &str, partitions: i32) -> Vec<i64> {
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
