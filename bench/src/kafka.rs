//! The broker side: creating topics, filling a topic with user events, and the bare
//! consumer (the limit of cases 1 and 2: it reads and counts, nothing else).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer as _, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use shared_events::{Event, EventEnvelope, UserCreated, UserDeleted, UserType};
use std::sync::atomic::{AtomicU64, Ordering};

/// Every topic the benchmark makes has this many partitions (as `user-events`).
pub(crate) const PARTITIONS: i32 = 3;

/// Create `topics` with [`PARTITIONS`] partitions each (tansu does not create on use).
pub(crate) async fn create_topics(brokers: &str, topics: &[&str]) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("cannot create the admin client")?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|name| NewTopic::new(name, PARTITIONS, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}

/// The event of user `id` (`created` or deleted), the user type cycling over all three.
pub(crate) fn user_event(id: i64, created: bool) -> EventEnvelope {
    let user_type = UserType::ALL[usize::try_from(id).unwrap_or(0) % UserType::ALL.len()];
    let name = format!("Bench User {id}");
    let email = format!("user{id}@bench.example");
    EventEnvelope::new(if created {
        Event::UserCreated(UserCreated {
            id,
            name,
            email,
            user_type,
        })
    } else {
        Event::UserDeleted(UserDeleted {
            id,
            name,
            email,
            user_type,
        })
    })
}

/// Counts the broker's acknowledgements, the ground truth of what was filled (tansu 0.6.0's
/// memory:// storage reported high watermarks short of it; the count does not depend on
/// the broker getting them right).
#[derive(Debug, Default)]
struct Counting {
    acked: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        let counter = if result.is_ok() {
            &self.acked
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Produce `2 × users` events to `topic`: for users `1..=users`, in blocks of 1 000 ids,
/// the block's `UserCreated` then its `UserDeleted` (so each user's two events are in
/// order, key = user id). Every message must be acknowledged (acks=all); returns the count.
pub(crate) fn fill_users(brokers: &str, topic: &str, users: i64) -> Result<u64> {
    fill(brokers, topic, users, &[true, false])
}

/// Produce one `UserCreated` for each of users `1..=users` to `topic` (key = user id);
/// returns the count acknowledged.
pub(crate) fn fill_created_users(brokers: &str, topic: &str, users: i64) -> Result<u64> {
    fill(brokers, topic, users, &[true])
}

/// For each block of 1 000 ids, one event per id for each of `kinds` (true: created).
fn fill(brokers: &str, topic: &str, users: i64, kinds: &[bool]) -> Result<u64> {
    let producer: ThreadedProducer<Counting> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "120000")
        .set("acks", "all")
        .create_with_context(Counting::default())
        .context("cannot create the producer")?;
    let mut block_start = 1;
    while block_start <= users {
        let block_end = (block_start + 999).min(users);
        for &created in kinds {
            for id in block_start..=block_end {
                let payload = user_event(id, created).encode();
                let key = id.to_string();
                let mut record = BaseRecord::to(topic).key(&key).payload(&payload);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err((error, _)) => return Err(error).context("cannot produce"),
                    }
                }
            }
        }
        block_start = block_end + 1;
    }
    producer
        .flush(Duration::from_secs(300))
        .context("the producer did not flush")?;
    let context = producer.context();
    let acked = context.acked.load(Ordering::Relaxed);
    let failed = context.failed.load(Ordering::Relaxed);
    let expected = u64::try_from(users)? * u64::try_from(kinds.len())?;
    if acked != expected || failed != 0 {
        bail!("{topic}: {acked} messages acknowledged, {failed} failed, expected {expected}");
    }
    Ok(acked)
}

/// Messages in `topic` (sum of the high watermarks of its [`PARTITIONS`] partitions).
pub(crate) fn topic_size(brokers: &str, topic: &str) -> Result<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("cannot create the consumer")?;
    let mut total = 0;
    for partition in 0..PARTITIONS {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .with_context(|| format!("cannot read the watermarks of {topic}/{partition}"))?;
        total += u64::try_from(high - low)?;
    }
    Ok(total)
}

/// How the bare consumer gets its partitions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Joins a fresh consumer group, like `coolriel` (case 1).
    Group,
    /// Assigns every partition from the beginning, like `coolriel replay` (case 2).
    Assign,
}

/// Read `expected` messages of `topic` and do nothing with them; the elapsed time from
/// the client's creation to the last message.
pub(crate) fn bare_consume(
    brokers: &str,
    topic: &str,
    expected: u64,
    mode: Mode,
) -> Result<Duration> {
    let started = Instant::now();
    let group = format!("bench-bare-{}", uuid::Uuid::new_v4());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create()
        .context("cannot create the bare consumer")?;
    match mode {
        Mode::Group => consumer.subscribe(&[topic])?,
        Mode::Assign => {
            let mut list = TopicPartitionList::new();
            for partition in 0..PARTITIONS {
                list.add_partition_offset(topic, partition, Offset::Beginning)?;
            }
            consumer.assign(&list)?;
        }
    }
    let mut seen = 0_u64;
    let mut bytes = 0_usize;
    let mut last_message = Instant::now();
    while seen < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                seen += 1;
                bytes += rdkafka::Message::payload(&message).map_or(0, <[u8]>::len);
                last_message = Instant::now();
            }
            Some(Err(error)) => eprintln!("[bench] bare consumer: {error}"),
            None if last_message.elapsed() > Duration::from_secs(60) => {
                bail!("bare consumer: {seen} of {expected} messages, then nothing for 60 s")
            }
            None => {}
        }
    }
    std::hint::black_box(bytes);
    Ok(started.elapsed())
}

/// Case 4's limit for commit → ack: the broker's own acknowledgement latency. Sends one
/// user event every `1 / rate` s for `duration` (open loop, like the HTTP load) with the
/// outbox's producer settings and headers, and returns each send → ack in milliseconds.
/// Nothing else runs meanwhile, so no outbox round can be faster than this.
pub(crate) async fn ack_latency(
    brokers: &str,
    topic: &str,
    rate: u32,
    duration: Duration,
) -> Result<Vec<f64>> {
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let kafka = store_manager::config::KafkaSettings {
        bootstrap_servers: brokers.to_owned(),
        ..store_manager::Settings::default().kafka
    };
    let producer: FutureProducer = store_manager::outbox::producer_config(&kafka)
        .create()
        .context("cannot create the producer")?;
    // The first send waits for the producer id and metadata; not part of the limit.
    let warm = user_event(0, true);
    producer
        .send(
            FutureRecord::to(topic).key("0").payload(&warm.encode()),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(error, _)| error)
        .context("warm-up send")?;
    let total = u64::from(rate) * duration.as_secs();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(usize::try_from(total)?);
    for id in 1..=i64::try_from(total)? {
        ticker.tick().await;
        let envelope = user_event(id, true);
        let event_id = envelope
            .event_id
            .map(|id| id.to_string())
            .unwrap_or_default();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: shared_events::topics::HEADER_EVENT_ID,
                value: Some(event_id.as_str()),
            })
            .insert(Header {
                key: shared_events::topics::HEADER_EVENT_TYPE,
                value: Some(envelope.event_type().as_str()),
            });
        let key = id.to_string();
        let payload = envelope.encode();
        let record = FutureRecord::to(topic)
            .key(&key)
            .payload(&payload)
            .headers(headers);
        let sent = Instant::now();
        let delivery = producer
            .send_result(record)
            .map_err(|(error, _)| error)
            .context("cannot enqueue")?;
        sends.push(tokio::spawn(async move {
            match delivery.await {
                Ok(Ok(_)) => Some(sent.elapsed().as_secs_f64() * 1000.0),
                _ => None,
            }
        }));
    }
    let mut latencies = Vec::with_capacity(sends.len());
    for send in sends {
        latencies.push(send.await?.context("a message was not acknowledged")?);
    }
    Ok(latencies)
}
