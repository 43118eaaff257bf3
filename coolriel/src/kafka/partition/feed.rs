//! [`PartitionFeed`]: what a partition actor needs of the consumer, and nothing more.

use std::sync::Arc;

use futures::future::BoxFuture;
use rdkafka::error::KafkaResult;
use rdkafka::message::OwnedMessage;

/// One partition's link to the consumer: its own queue of messages, and storing and
/// seeking its offset. The consumer context implements it
/// ([`crate::kafka::context`]), so the partition actor does not know the consumer's type
/// and the two modules do not import each other.
pub trait PartitionFeed: Send + Sync + 'static {
    /// The next message of the partition, from its own queue.
    fn recv(self: Arc<Self>) -> BoxFuture<'static, KafkaResult<OwnedMessage>>;

    /// Store `position` as the partition's offset to commit (the consumer commits the
    /// stored offsets). `None` when the consumer is gone (shutting down).
    fn store(&self, position: i64) -> Option<KafkaResult<()>>;

    /// Seek the partition to `position`, discarding the messages fetched before the seek.
    /// `None` when the consumer is gone (shutting down).
    fn seek(&self, position: i64) -> Option<KafkaResult<()>>;
}
