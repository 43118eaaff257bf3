//! One round of the outbox: read the oldest pending rows, send them, hand the rows the
//! broker acknowledged to the marker (`marker.rs`) and count the failures.
//!
//! A round sends at most one row per `(topic, key)`, and none of a key whose previous row
//! is acknowledged but not marked yet: a key's next event is sent only after the previous
//! one was acknowledged and marked, so no failure, whatever its kind, can let a later event
//! of an aggregate reach the topic before an earlier one.

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::producer::future_producer::Delivery;
use shared_events::topics;

use super::lease::Renewal;
use super::marker::{self, AckedRound, MAX_UNMARKED, Marker, TopicKey};
use super::publisher::{OutboxError, OutboxPublisher, PublishOutcome};
use super::queries::oldest_pending;
use crate::entities::outbox;

/// What one round leaves to the next.
#[derive(Debug, Default)]
pub(super) struct RoundState {
    /// Until when this replica holds the lease, as it last wrote it, so that most rounds
    /// need no lease write at all.
    pub(super) lease_until: Option<DateTime<Utc>>,
    /// The background marker, started by the first round that has rows to mark.
    pub(super) marker: Option<Marker>,
    /// A lease renewal written ahead of time, in the background (see [`super::lease`]).
    pub(super) renewal: Option<Renewal>,
}

impl RoundState {
    /// Waits until nothing is left unmarked; a failed marking is the error (its rows stay
    /// pending and the next round sends them again).
    pub(super) async fn finish_marking(&mut self) -> Result<(), OutboxError> {
        match &self.marker {
            Some(marker) => marker.settle(0).await,
            None => Ok(()),
        }
    }

    /// The rows acknowledged and not marked yet, and their keys: this round skips both.
    fn unmarked(&self) -> (HashSet<i64>, HashSet<TopicKey>) {
        self.marker
            .as_ref()
            .map(|marker| {
                let unmarked = marker.unmarked();
                (
                    unmarked.ids.clone(),
                    unmarked.keys.keys().cloned().collect(),
                )
            })
            .unwrap_or_default()
    }
}

/// What the broker answered for one row: where it was stored, or why not.
type Sent = Result<Delivery, String>;

/// A round's rows sorted by the broker's answers.
#[derive(Debug, Default)]
struct Answers {
    published: Vec<i64>,
    failed: Vec<i64>,
    first_error: Option<String>,
}

impl OutboxPublisher {
    /// One round; with `settle_when_empty` false, [`PublishOutcome::Empty`] only means
    /// nothing is left to send (the marker may still be writing, see
    /// [`OutboxPublisher::publish_available`]).
    pub(super) async fn round(
        &self,
        settle_when_empty: bool,
    ) -> Result<PublishOutcome, OutboxError> {
        let round_started = Instant::now();
        let mut state = self.round.lock().await;
        if !self.hold_lease(&mut state).await? {
            state.finish_marking().await?;
            return Ok(PublishOutcome::Standby);
        }
        let Some((rows, read_done)) = self.next_rows(&mut state, settle_when_empty).await? else {
            return Ok(PublishOutcome::Empty);
        };
        let results = self.send(&rows).await;
        let acked_at = Utc::now();
        let acks_done = Instant::now();
        let answers = self.sort_answers(&rows, results, acked_at);
        tracing::debug!(
            actor = "OutboxActor",
            rows = rows.len(),
            read_ms = (read_done - round_started).as_secs_f64() * 1000.0,
            send_to_ack_ms = (acks_done - read_done).as_secs_f64() * 1000.0,
            "outbox round"
        );
        self.finish(&mut state, &rows, answers, acked_at).await
    }

    /// The rows this round sends, one per key, with when the table was read; `None` when
    /// nothing is left to send (after waiting for the marker if `settle_when_empty`).
    async fn next_rows(
        &self,
        state: &mut RoundState,
        settle_when_empty: bool,
    ) -> Result<Option<(Vec<outbox::Model>, Instant)>, OutboxError> {
        if let Some(marker) = &state.marker {
            // A failed marking is this round's error; too many waiting rows, a pause.
            marker.settle(MAX_UNMARKED).await?;
        }
        let (marking_ids, marking_keys) = state.unmarked();
        let rows = oldest_pending(&self.db, self.batch_size, &marking_ids).await?;
        let read_done = Instant::now();
        if rows.is_empty() {
            if settle_when_empty {
                state.finish_marking().await?;
            }
            return Ok(None);
        }
        let mut rows = first_row_per_key(&rows, &marking_keys);
        if rows.is_empty() {
            // Every key waits for the marking: wait with them.
            state.finish_marking().await?;
            let all = oldest_pending(&self.db, self.batch_size, &HashSet::new()).await?;
            rows = first_row_per_key(&all, &HashSet::new());
        }
        Ok(Some((rows, read_done)))
    }

    /// Sends `rows`, all enqueued at once in id order, and waits for every answer.
    async fn send(&self, rows: &[outbox::Model]) -> Vec<Sent> {
        let deliveries = rows.iter().map(|row| {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: topics::HEADER_EVENT_ID,
                    value: Some(row.event_id.as_bytes()),
                })
                .insert(Header {
                    key: topics::HEADER_EVENT_TYPE,
                    value: Some(row.event_type.as_bytes()),
                });
            let record = FutureRecord::to(&row.topic)
                .key(row.event_key.as_bytes())
                .payload(row.payload.as_bytes())
                .headers(headers);
            // Enqueue now, in id order; awaiting comes after, so the batch is in flight at once.
            let queued = self
                .producer
                .send_result(record)
                .map_err(|(error, _)| error);
            async move {
                match queued {
                    Ok(delivery) => match delivery.await {
                        Ok(Ok(delivered)) => Ok(delivered),
                        Ok(Err((error, _))) => Err(error.to_string()),
                        Err(_) => Err("the producer was dropped".to_owned()),
                    },
                    Err(error) => Err(error.to_string()),
                }
            }
        });
        join_all(deliveries).await
    }

    /// Sorts the rows by the broker's answers, logging and timing each published one.
    fn sort_answers(
        &self,
        rows: &[outbox::Model],
        results: Vec<Sent>,
        acked_at: DateTime<Utc>,
    ) -> Answers {
        let mut answers = Answers::default();
        for (row, result) in rows.iter().zip(results) {
            match result {
                Ok(delivery) => {
                    let commit_to_ack = (acked_at - row.created_at).to_std().unwrap_or_default();
                    self.metrics.commit_to_ack(commit_to_ack.as_secs_f64());
                    tracing::debug!(
                        event_id = %row.event_id,
                        event_type = %row.event_type,
                        topic = %row.topic,
                        key = %row.event_key,
                        partition = delivery.partition,
                        offset = delivery.offset,
                        commit_to_ack_ms = commit_to_ack.as_secs_f64() * 1000.0,
                        "event published"
                    );
                    answers.published.push(row.id);
                }
                Err(error) => {
                    answers.first_error.get_or_insert_with(|| error.clone());
                    answers.failed.push(row.id);
                }
            }
        }
        answers
    }

    /// Hands the acknowledged rows to the marker, counts both kinds, and records the
    /// failures on their rows: the round's error.
    async fn finish(
        &self,
        state: &mut RoundState,
        rows: &[outbox::Model],
        answers: Answers,
        acked_at: DateTime<Utc>,
    ) -> Result<PublishOutcome, OutboxError> {
        let Answers {
            published,
            failed,
            first_error,
        } = answers;
        if !published.is_empty() {
            let ids: HashSet<i64> = published.iter().copied().collect();
            let round = AckedRound {
                acked_at,
                rows: rows
                    .iter()
                    .filter(|row| ids.contains(&row.id))
                    .map(|row| (row.id, (row.topic.clone(), row.event_key.clone())))
                    .collect(),
            };
            state
                .marker
                .get_or_insert_with(|| Marker::start(self.writer.clone()))
                .mark(round)?;
        }
        self.metrics.published(published.len() as u64);
        self.metrics.publish_failed(failed.len() as u64);
        match first_error {
            None => Ok(PublishOutcome::Published(published.len())),
            Some(first_error) => {
                marker::record_failure(&self.writer, &failed, &first_error).await?;
                Err(OutboxError::Publish {
                    attempted: rows.len(),
                    failed: failed.len(),
                    first_error,
                })
            }
        }
    }
}

/// The first row of each `(topic, key)` of `rows` (which are in id order), leaving out
/// the keys in `waiting`.
fn first_row_per_key(rows: &[outbox::Model], waiting: &HashSet<TopicKey>) -> Vec<outbox::Model> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter(|row| {
            let key = (row.topic.clone(), row.event_key.clone());
            !waiting.contains(&key) && seen.insert(key)
        })
        .cloned()
        .collect()
}
