//! The dead-letter topic: where a message goes when it cannot be decoded, or when a
//! handler still fails after its retries, so the partition can move on without losing it.
//!
//! The dead letter keeps the original key, value and headers, and adds the `dlq.*`
//! headers of [`shared_events::topics`] saying where it came from and why it was set aside.

use std::time::Duration;

use rdkafka::Message as _;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers as _, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use shared_events::topics;

use super::TracingContext;
use crate::config::{Config, RetryPolicy};

/// Longest `dlq.error` header kept; a serde error quoting a huge value is cut.
const MAX_ERROR_LENGTH: usize = 2048;

/// Produces dead letters. Cheap to clone (the producer is reference-counted).
#[derive(Clone)]
pub struct DeadLetters {
    /// Idempotent, `acks=all`: a dead letter must not be lost either.
    producer: FutureProducer<TracingContext>,
    /// Pace of the retries while the broker refuses the dead letter.
    retry: RetryPolicy,
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetters").finish_non_exhaustive()
    }
}

/// Why and after how many handler attempts a message is dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterReason {
    pub error: String,
    /// 0 for a message that could not be decoded (no handler saw it).
    pub attempts: u32,
}

impl DeadLetters {
    pub fn new(config: &Config) -> Result<Self, KafkaError> {
        let producer = super::producer_config(config).create_with_context(TracingContext)?;
        Ok(DeadLetters {
            producer,
            retry: RetryPolicy {
                max_attempts: u32::MAX,
                initial_backoff: Duration::from_millis(200),
                max_backoff: Duration::from_secs(5),
            },
        })
    }

    /// Send `message` to its dead-letter topic and wait for the broker's acknowledgement,
    /// trying again until it comes: the caller stores the offset only after this returns.
    /// A shutdown that cannot wait drops this future; the message is then redelivered.
    pub async fn send(&self, message: &OwnedMessage, reason: &DeadLetterReason) {
        let topic = topics::dead_letter_topic(message.topic());
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let attempts = reason.attempts.to_string();
        let error = truncate(&reason.error, MAX_ERROR_LENGTH);
        let mut failures = 0_u32;
        loop {
            let mut headers = OwnedHeaders::new();
            if let Some(original) = message.headers() {
                for header in original.iter() {
                    // A dead letter sent back through the topic gets fresh dlq.* headers.
                    if !header.key.starts_with("dlq.") {
                        headers = headers.insert(header);
                    }
                }
            }
            let headers = headers
                .insert(text_header(
                    topics::HEADER_DLQ_SOURCE_TOPIC,
                    message.topic(),
                ))
                .insert(text_header(topics::HEADER_DLQ_SOURCE_PARTITION, &partition))
                .insert(text_header(topics::HEADER_DLQ_SOURCE_OFFSET, &offset))
                .insert(text_header(topics::HEADER_DLQ_ERROR, error))
                .insert(text_header(topics::HEADER_DLQ_ATTEMPTS, &attempts));
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&topic).headers(headers);
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(payload) = message.payload() {
                record = record.payload(payload);
            }
            match self.producer.send(record, Duration::from_secs(5)).await {
                Ok(delivery) => {
                    tracing::warn!(
                        actor = "PartitionActor",
                        partition = message.partition(),
                        offset = message.offset(),
                        dlq_topic = %topic,
                        dlq_partition = delivery.partition,
                        dlq_offset = delivery.offset,
                        attempts = reason.attempts,
                        error = %error,
                        "message dead-lettered"
                    );
                    return;
                }
                Err((send_error, _)) => {
                    failures = failures.saturating_add(1);
                    let backoff = self.retry.backoff(failures);
                    tracing::error!(
                        actor = "PartitionActor",
                        partition = message.partition(),
                        offset = message.offset(),
                        dlq_topic = %topic,
                        error = %send_error,
                        retry_in = ?backoff,
                        "cannot dead-letter the message; trying again"
                    );
                    actix::clock::sleep(backoff).await;
                }
            }
        }
    }
}

fn text_header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// At most `limit` bytes, cut on a character boundary.
fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("éé", 3), "é");
        assert_eq!(truncate("abcdef", 4), "abcd");
    }
}
