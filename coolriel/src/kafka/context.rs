//! The consumer context: rebalance callbacks that give each assigned partition its own
//! [`PartitionActor`] and take it back on revoke.
//!
//! The callbacks run on the consumer thread, inside its poll of the main queue (which is
//! why that thread polls it all the time, though messages arrive on the partition
//! queues). A revoke blocks that thread until the revoked partitions' actors have drained
//! and their offsets are committed: the partition actors live on the actix system thread,
//! so blocking here cannot stall them, and returning early would let the next owner start
//! from an older offset while this process is still handling the same messages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

use actix::{Addr, ArbiterHandle, Supervisor};
use futures::future::BoxFuture;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedMessage;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::LiveConsumer;
use super::partition::{Adopt, Drain, DrainReport, PartitionActor, PartitionDeps, PartitionFeed};
use crate::wait_group::Token;

/// The name of the consumer in logs (it is not an actor, but it is in the tree).
const CONSUMER: &str = "Consumer";

/// The partition actors of this process, by topic and partition. Shared with the
/// service handle, which reports the assignment.
pub type PartitionMap = Arc<Mutex<BTreeMap<(String, i32), Addr<PartitionActor>>>>;

pub(crate) fn lock(
    map: &PartitionMap,
) -> MutexGuard<'_, BTreeMap<(String, i32), Addr<PartitionActor>>> {
    // A panic while holding this lock leaves the map as consistent as before it.
    map.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts and drains partition actors as the group assigns and revokes partitions.
pub struct CoolrielContext {
    /// The running partition actors.
    partitions: PartitionMap,
    /// The consumer this context belongs to, to split partition queues from. Set right
    /// after the consumer is built (the context must exist first); weak so the consumer
    /// does not own itself.
    consumer: OnceLock<Weak<LiveConsumer>>,
    /// Where partition actors run: the actix system arbiter.
    arbiter: ArbiterHandle,
    /// What partition actors share.
    deps: Arc<PartitionDeps>,
    /// How long a revoke waits for a partition to drain.
    drain_timeout: Duration,
    /// Handed to each partition queue; `None` once closing, when no partition is started
    /// any more and the shutdown waits for the handed-out tokens to come back.
    feed_token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for CoolrielContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoolrielContext")
            .field(
                "partitions",
                &lock(&self.partitions).keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl CoolrielContext {
    pub(crate) fn new(
        partitions: PartitionMap,
        arbiter: ArbiterHandle,
        deps: Arc<PartitionDeps>,
        drain_timeout: Duration,
        feed_token: Token,
    ) -> Self {
        CoolrielContext {
            partitions,
            consumer: OnceLock::new(),
            arbiter,
            deps,
            drain_timeout,
            feed_token: Mutex::new(Some(feed_token)),
        }
    }

    pub(crate) fn set_consumer(&self, consumer: Weak<LiveConsumer>) {
        // Called once, right after creation; a second call would be a bug and is ignored.
        let _ = self.consumer.set(consumer);
    }

    /// Shutdown: start no more partitions, drain every partition actor (blocking, at most
    /// `drain_timeout`).
    pub(crate) fn close(&self, drain_timeout: Duration) -> Vec<DrainReport> {
        self.feed_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let actors: Vec<_> = std::mem::take(&mut *lock(&self.partitions))
            .into_iter()
            .collect();
        drain_blocking(actors, drain_timeout)
    }

    /// A message that came on the main queue: hand it to its partition's actor.
    pub(crate) fn adopt(&self, message: OwnedMessage) {
        let key = (message.topic().to_owned(), message.partition());
        match lock(&self.partitions).get(&key) {
            Some(actor) => {
                tracing::debug!(
                    actor = CONSUMER,
                    partition = message.partition(),
                    offset = message.offset(),
                    "message on the main queue; handing it to its partition actor"
                );
                actor.do_send(Adopt(message));
            }
            None => tracing::warn!(
                actor = CONSUMER,
                topic = %key.0,
                partition = key.1,
                offset = message.offset(),
                "message for a partition without an actor; it will be delivered again"
            ),
        }
    }

    fn start_partitions(&self, assigned: &TopicPartitionList) {
        let Some(token) = self
            .feed_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
        else {
            return;
        };
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            tracing::error!(
                actor = CONSUMER,
                "partitions assigned before the consumer was ready"
            );
            return;
        };
        let mut partitions = lock(&self.partitions);
        for element in assigned.elements() {
            let topic = element.topic().to_owned();
            let partition = element.partition();
            // Split right after the assignment, before any fetch: messages fetched
            // earlier would go to the main queue (they would still be adopted).
            let Some(queue) = consumer.split_partition_queue(&topic, partition) else {
                tracing::error!(actor = CONSUMER, topic = %topic, partition, "cannot split the partition queue");
                continue;
            };
            tracing::info!(actor = CONSUMER, topic = %topic, partition, "partition assigned");
            let feed: Arc<dyn PartitionFeed> = Arc::new(QueueFeed {
                topic: topic.clone(),
                partition,
                queue,
                consumer: Arc::downgrade(&consumer),
                _released: token.clone(),
            });
            let deps = Arc::clone(&self.deps);
            let actor_topic = topic.clone();
            // Supervised: a panic restarts it where it stored its last offset (see
            // `super::partition::restart`).
            let actor = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
                PartitionActor::new(actor_topic, partition, feed, deps)
            });
            if let Some(previous) = partitions.insert((topic, partition), actor) {
                // Cannot happen with eager rebalancing, where the revoke comes first; if
                // it does, the old actor must not keep consuming beside the new one.
                let (reply, _) = std::sync::mpsc::channel();
                previous.do_send(Drain {
                    timeout: self.drain_timeout,
                    reply,
                });
            }
        }
    }

    fn revoke_partitions(&self, consumer: &BaseConsumer<Self>, revoked: &TopicPartitionList) {
        let actors: Vec<_> = {
            let mut partitions = lock(&self.partitions);
            revoked
                .elements()
                .iter()
                .filter_map(|element| {
                    let key = (element.topic().to_owned(), element.partition());
                    tracing::info!(
                        actor = CONSUMER,
                        topic = %key.0,
                        partition = key.1,
                        "partition revoked"
                    );
                    partitions.remove(&key).map(|actor| (key, actor))
                })
                .collect()
        };
        if actors.is_empty() {
            return;
        }
        drain_blocking(actors, self.drain_timeout);
        if consumer.assignment_lost() {
            tracing::warn!(
                actor = CONSUMER,
                "assignment lost (session timed out); offsets cannot be committed, the new owner redelivers"
            );
            return;
        }
        let _ = commit(consumer);
    }
}

/// A partition's own queue, split from the consumer, with the consumer's offset store and
/// seek for that partition: the [`PartitionFeed`] of its actor.
struct QueueFeed {
    topic: String,
    partition: i32,
    /// The messages of this partition only.
    queue: StreamPartitionQueue<CoolrielContext>,
    /// For storing offsets and seeking. Weak, so only the consumer thread ever owns the
    /// consumer.
    consumer: Weak<LiveConsumer>,
    /// Dropped after the queue: the shutdown path waits for every token before it closes
    /// the consumer, so the consumer is closed on its own thread, not by whichever
    /// thread happens to drop the last queue.
    _released: Token,
}

impl PartitionFeed for QueueFeed {
    fn recv(self: Arc<Self>) -> BoxFuture<'static, KafkaResult<OwnedMessage>> {
        Box::pin(async move { self.queue.recv().await.map(|message| message.detach()) })
    }

    fn store(&self, position: i64) -> Option<KafkaResult<()>> {
        let consumer = self.consumer.upgrade()?;
        let mut list = TopicPartitionList::new();
        Some(
            list.add_partition_offset(&self.topic, self.partition, Offset::Offset(position))
                .and_then(|()| consumer.store_offsets(&list)),
        )
    }

    fn seek(&self, position: i64) -> Option<KafkaResult<()>> {
        let consumer = self.consumer.upgrade()?;
        // Asynchronous (timeout 0): the version barrier that discards the messages
        // fetched before the seek is set before this returns.
        Some(consumer.seek(
            &self.topic,
            self.partition,
            Offset::Offset(position),
            Duration::ZERO,
        ))
    }
}

/// Commit the stored offsets now, synchronously; false when the commit failed.
pub(crate) fn commit<C: ConsumerContext, K: rdkafka::consumer::Consumer<C>>(consumer: &K) -> bool {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => {
            tracing::info!(actor = CONSUMER, "offsets committed");
            true
        }
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
            tracing::debug!(actor = CONSUMER, "no new offset to commit");
            true
        }
        Err(error) => {
            tracing::warn!(actor = CONSUMER, error = %error, "cannot commit offsets");
            false
        }
    }
}

/// Ask each actor to drain and wait (blocking the calling thread) until all answered or
/// their drain timeout passed.
fn drain_blocking(
    actors: Vec<((String, i32), Addr<PartitionActor>)>,
    timeout: Duration,
) -> Vec<DrainReport> {
    let (reply, replies) = std::sync::mpsc::channel();
    for (_, actor) in &actors {
        actor.do_send(Drain {
            timeout,
            reply: reply.clone(),
        });
    }
    drop(reply);
    // Every reply sender is dropped once answered (or with an actor that died), which
    // ends the wait early; the margin covers an actor that answers at its own deadline.
    let deadline = Instant::now() + timeout + Duration::from_secs(1);
    let mut reports = Vec::with_capacity(actors.len());
    while reports.len() < actors.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        match replies.recv_timeout(left) {
            Ok(report) => reports.push(report),
            Err(_) => break,
        }
    }
    if reports.len() < actors.len() {
        tracing::warn!(
            actor = CONSUMER,
            drained = reports.len(),
            expected = actors.len(),
            "not every partition actor answered the drain"
        );
    }
    reports
}

impl ClientContext for CoolrielContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        super::log_librdkafka(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        super::log_client_error(&error, reason);
    }
}

impl ConsumerContext for CoolrielContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(revoked) => self.revoke_partitions(consumer, revoked),
            Rebalance::Assign(_) => {}
            Rebalance::Error(error) => {
                tracing::warn!(actor = CONSUMER, error = %error, "rebalance error");
            }
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(assigned) = rebalance {
            if assigned.count() == 0 {
                // Normal when the group has more members than partitions; otherwise the
                // watchdog (`super::watchdog`) notices and rejoins.
                tracing::info!(
                    actor = CONSUMER,
                    "rebalanced: no partition assigned to this member"
                );
            }
            if assigned.count() > 0 {
                self.deps.health.set_stranded(None);
            }
            self.start_partitions(assigned);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => {
                tracing::debug!(actor = CONSUMER, offsets = ?offsets.to_topic_map(), "offsets committed");
                for element in offsets.elements() {
                    if let rdkafka::Offset::Offset(offset) = element.offset() {
                        self.deps
                            .metrics
                            .committed(element.topic(), element.partition(), offset);
                    }
                }
            }
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(error) => tracing::warn!(actor = CONSUMER, error = %error, "offset commit failed"),
        }
    }
}
