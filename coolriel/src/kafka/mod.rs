//! Everything that talks to Kafka.
//!
//! - [`context`]: [`CoolrielContext`], the consumer context whose rebalance callbacks
//!   start a [`PartitionActor`](partition::PartitionActor) per assigned partition and
//!   drain them on revoke.
//! - [`partition`]: the partition actor: decode, route, retry, dead-letter, store offsets.
//! - [`dead_letter`]: the producer for `<topic>.dlq`.
//! - [`admin`]: creating the dead-letter topics (tansu does not create topics on use).
//! - [`monitor`]: the admin server's own client (readiness, committed offsets and
//!   watermarks for the lag gauges).
//! - [`watchdog`]: rejoins the group when a broken rebalance left this member with no
//!   partition in a group small enough for each member to have one.

pub mod admin;
pub mod context;
pub mod dead_letter;
pub mod monitor;
pub mod partition;
pub mod watchdog;

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;

use crate::config::Config;
pub use context::CoolrielContext;

/// The group consumer of the live service.
pub type LiveConsumer = StreamConsumer<CoolrielContext>;

/// librdkafka's own log lines and errors, into `tracing` (rdkafka writes them to the
/// `log` crate, which nothing here listens to).
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingContext;

impl ClientContext for TracingContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        log_librdkafka(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        log_client_error(&error, reason);
    }
}

/// The replay's group-less consumer needs no callbacks beyond the logs.
impl ConsumerContext for TracingContext {}

pub(crate) fn log_librdkafka(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", facility, "{message}");
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

pub(crate) fn log_client_error(error: &KafkaError, reason: &str) {
    // Transport errors repeat while the broker is away; librdkafka keeps retrying.
    tracing::warn!(target: "librdkafka", error = %error, reason, "kafka client error");
}

/// The group consumer's settings.
pub(crate) fn consumer_config(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .set("client.id", "coolriel")
        // At least once: an offset is stored by the partition actor only when the message
        // is done; the stored offsets are committed every second and on revoke/shutdown.
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // A new group starts at the beginning: no event published before the first start
        // is skipped.
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        // A configured topic that does not exist yet (tansu creates none on use) is looked
        // for again at each metadata refresh: every 10 s rather than librdkafka's 5 min, so
        // a topic created after start-up is consumed soon after.
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set("enable.partition.eof", "false")
        // See `Config::fetch_wait_max`: what the broker may hold a fetch for.
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait_max.as_millis().to_string(),
        )
        // Bounded prefetch. librdkafka's defaults (100 000 messages per partition, 64 MiB)
        // let a consumer behind a long backlog hold much of it in memory, while a
        // partition actor never has more than COOLRIEL_MAX_IN_FLIGHT messages in its
        // hands: a few thousand queued per partition keep it fed between fetches (ADR
        // 0007 has the memory figures).
        .set("queued.min.messages", PREFETCH_MESSAGES_PER_PARTITION)
        .set("queued.max.messages.kbytes", PREFETCH_KBYTES);
    client
}

/// See [`consumer_config`]: how much librdkafka fetches ahead of the partition actors.
const PREFETCH_MESSAGES_PER_PARTITION: &str = "2000";
const PREFETCH_KBYTES: &str = "4096";

/// The dead-letter producer's settings.
pub(crate) fn producer_config(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("client.id", "coolriel-dlq")
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // A send that cannot be delivered in this time fails and is tried again by the
        // partition actor, which logs each failure (librdkafka alone would wait 5 min).
        .set("message.timeout.ms", "30000")
        .set("linger.ms", "5");
    client
}
