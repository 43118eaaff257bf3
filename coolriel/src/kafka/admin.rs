//! Topic creation. Kafka creates a topic on first use when configured to; tansu never
//! does, and a producer then waits for a topic that will not come. The service creates
//! the dead-letter topics it writes to; tests create their random topics with it too.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::TracingContext;

/// A topic could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create a Kafka admin client for {bootstrap}: {source}")]
    Client {
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot create topics on {bootstrap} (is the broker up?): {source}")]
    Request {
        bootstrap: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot create topic {topic}: {code}")]
    Topic {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// Create each `(name, partitions)` topic that does not exist yet (replication factor 1).
/// Fails when the broker does not answer within `timeout`.
pub async fn create_topics(
    bootstrap: &str,
    topics: &[(&str, i32)],
    timeout: Duration,
) -> Result<(), AdminError> {
    let admin: AdminClient<TracingContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create_with_context(TracingContext)
        .map_err(|source| AdminError::Client {
            bootstrap: bootstrap.to_owned(),
            source,
        })?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|&(name, partitions)| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| AdminError::Request {
            bootstrap: bootstrap.to_owned(),
            source,
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::Topic { topic, code }),
        }
    }
    Ok(())
}
