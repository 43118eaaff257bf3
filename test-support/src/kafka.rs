//! The shared broker (`KAFKA_BOOTSTRAP_SERVERS`, default 127.0.0.1:9092), per-test topics
//! and reading what a topic holds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::{Headers as _, Message as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP_SERVERS").unwrap_or_else(|_| "127.0.0.1:9092".to_owned())
}

/// Creates `topic` with `partitions` partitions on the broker at `bootstrap`.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &options,
        )
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

/// A message as the tests look at it.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: HashMap<String, String>,
    pub payload: String,
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
    let mut records = Vec::new();
    let mut complete_since: Option<Instant> = None;
    loop {
        if let Some(since) = complete_since {
            if since.elapsed() >= settle {
                break;
            }
        } else if started.elapsed() > timeout {
            panic!(
                "expected {expected} messages on {topic} within {timeout:?}, got {}: {records:#?}",
                records.len()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let headers = message
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
                    .unwrap_or_default();
                records.push(Record {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message
                        .key()
                        .map(|key| String::from_utf8_lossy(key).into_owned()),
                    headers,
                    payload: String::from_utf8_lossy(message.payload().unwrap_or_default())
                        .into_owned(),
                });
            }
            Some(Err(error)) => eprintln!("test reader: {error}"),
            None => {}
        }
        if records.len() >= expected && complete_since.is_none() {
            complete_since = Some(Instant::now());
        }
    }
    records.sort_by_key(|record| (record.partition, record.offset));
    records
}
