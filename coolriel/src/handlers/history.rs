//! The event history (event sourcing): every event of every topic (user and order events
//! alike, the [`Registry`](crate::registry::Registry) routes them all here), with where it
//! came from, appended to `OUTPUT_DIR/history.jsonl`, one JSON object a line.
//!
//! Lines are written and fsynced in batches (up to `sync_batch.max_messages` lines, or
//! whatever arrived within `sync_batch.interval` of the first one; see `Config::sync_batch`), and each message is
//! acknowledged only after the fsync of its batch: the partition actor stores an offset
//! only when its line is durable, so the history is at least once too. A crash can leave
//! half a line at the end; it is cut off when the file is opened again.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorContext as _, AsyncContext as _, Context, Handler, ResponseFuture, Running,
    SpawnHandle, Supervised,
};
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use shared_events::EventEnvelope;
use tokio::sync::oneshot;

use super::{HandlerError, panic_message};
use crate::metrics::Metrics;
use crate::registry::{Deliver, EventContext};
use crate::wait_group::Token;

/// One line of `history.jsonl`, and one entry of the document `coolriel replay` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The Kafka key (the user id or order id for our messages); `null` for the lab's.
    pub key: Option<String>,
    /// The broker's timestamp of the message, RFC 3339 in UTC with milliseconds.
    pub timestamp: Option<String>,
    pub event_type: String,
    /// The event as decoded, with the metadata it carried.
    pub event: EventEnvelope,
}

impl HistoryRecord {
    pub fn new(event: EventEnvelope, context: &EventContext) -> Self {
        HistoryRecord {
            topic: context.topic.clone(),
            partition: context.partition,
            offset: context.offset,
            key: context.key.clone(),
            timestamp: context.timestamp_ms.and_then(format_timestamp),
            event_type: event.event_type().as_str().to_owned(),
            event,
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (`2025-11-09T14:03:12.123Z`).
pub fn format_timestamp(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis)
        .map(|instant| instant.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A line waiting for its batch to be flushed.
struct Pending {
    /// The JSON line, newline included.
    line: Vec<u8>,
    /// Answered after the fsync of the batch (or its failure).
    ack: oneshot::Sender<Result<(), HandlerError>>,
}

/// Appends every event to the history file; started under `actix::Supervisor`.
pub struct HistoryActor {
    /// `OUTPUT_DIR/history.jsonl`.
    path: PathBuf,
    /// Opened on first use and again after an error or a restart, so a failed write
    /// never leaves the actor with a handle in an unknown state.
    file: Option<File>,
    /// Lines received since the last flush, each with the acknowledgement to send once
    /// it is durable.
    pending: Vec<Pending>,
    /// The flush scheduled for the current batch, if any.
    flush_timer: Option<SpawnHandle>,
    /// Flush as soon as this many lines wait.
    max_batch: usize,
    /// Flush this long after the first line of a batch arrived.
    flush_interval: Duration,
    /// Dropped with the actor, so the service's shutdown can wait until it stopped.
    _watch: Option<Token>,
    /// Where restarts are counted, if anywhere.
    metrics: Option<Arc<Metrics>>,
    /// The panic that caused the coming restart, and how many restarts came before.
    restart_cause: Option<String>,
    restarts: u32,
}

impl std::fmt::Debug for HistoryActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryActor")
            .field("path", &self.path)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl HistoryActor {
    pub const NAME: &'static str = "HistoryActor";

    pub fn new(path: impl Into<PathBuf>, max_batch: usize, flush_interval: Duration) -> Self {
        HistoryActor {
            path: path.into(),
            file: None,
            pending: Vec::new(),
            flush_timer: None,
            max_batch: max_batch.max(1),
            flush_interval,
            _watch: None,
            metrics: None,
            restart_cause: None,
            restarts: 0,
        }
    }

    /// Count this actor's restarts (`coolriel_actor_restarts_total{actor="HistoryActor"}`).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub(crate) fn watched(mut self, token: Option<Token>) -> Self {
        self._watch = token;
        self
    }

    /// Write and fsync the waiting lines, then answer their senders.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        let written = catch_unwind(AssertUnwindSafe(|| self.append(&batch)));
        let (result, panicked) = match written {
            Ok(Ok(())) => {
                tracing::debug!(actor = Self::NAME, lines = batch.len(), "history flushed");
                (Ok(()), false)
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    actor = Self::NAME,
                    lines = batch.len(),
                    error = %error,
                    "history write failed; the events will be retried"
                );
                let what = format!("cannot append to {}", self.path.display());
                (Err(HandlerError::from_io(what, &error)), false)
            }
            Err(panic) => {
                let reason = panic_message(panic.as_ref());
                tracing::error!(actor = Self::NAME, panic = %reason, "history flush panicked");
                self.restart_cause = Some(reason.clone());
                (Err(HandlerError::Panicked(reason)), true)
            }
        };
        for pending in batch {
            // A sender that went away (its partition was revoked) needs no answer.
            let _ = pending.ack.send(result.clone());
        }
        if panicked {
            ctx.stop();
        }
    }

    fn append(&mut self, batch: &[Pending]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            slot => slot.insert(open_history(&self.path)?),
        };
        let length_before = file.metadata()?.len();
        let mut buffer = Vec::with_capacity(batch.iter().map(|p| p.line.len()).sum());
        for pending in batch {
            buffer.extend_from_slice(&pending.line);
        }
        let written = file.write_all(&buffer).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // Cut what part of the batch got in, so the retry does not follow half a line.
            let _ = file.set_len(length_before);
            self.file = None;
            return Err(error);
        }
        Ok(())
    }
}

/// Open for appending, cutting a partial last line a crash may have left.
fn open_history(path: &std::path::Path) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let length = file.metadata()?.len();
    if length > 0 {
        let whole = whole_lines_length(&mut file, length)?;
        if whole < length {
            tracing::warn!(
                actor = HistoryActor::NAME,
                file = %path.display(),
                cut = length - whole,
                "history ended with a partial line (crash during a write); cut it"
            );
            file.set_len(whole)?;
            file.sync_data()?;
        }
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        crate::output::sync_dir(dir)?;
    }
    Ok(file)
}

/// The length of the file up to and including its last newline.
fn whole_lines_length(file: &mut File, length: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = length;
    let mut buffer = vec![0; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let size = usize::try_from(end - start).unwrap_or(buffer.len());
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buffer[..size])?;
        if let Some(position) = buffer[..size].iter().rposition(|&byte| byte == b'\n') {
            return Ok(start + position as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl Actor for HistoryActor {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = Self::NAME, file = %self.path.display(), "actor started");
    }

    fn stopping(&mut self, ctx: &mut Self::Context) -> Running {
        self.flush(ctx);
        Running::Stop
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::info!(actor = Self::NAME, "actor stopped");
    }
}

impl Supervised for HistoryActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        self.restarts += 1;
        tracing::warn!(
            actor = Self::NAME,
            cause = self.restart_cause.take().as_deref().unwrap_or("stopped"),
            restarts = self.restarts,
            "actor restarted by its supervisor"
        );
        if let Some(metrics) = &self.metrics {
            metrics.restarted(Self::NAME);
        }
        self.file = None;
        // The restart cleared the context's timers.
        self.flush_timer = None;
    }
}

impl Handler<Deliver<EventEnvelope>> for HistoryActor {
    type Result = ResponseFuture<Result<(), HandlerError>>;

    fn handle(&mut self, message: Deliver<EventEnvelope>, ctx: &mut Self::Context) -> Self::Result {
        let Deliver { event, context } = message;
        let record = HistoryRecord::new(event, &context);
        let mut line = match serde_json::to_vec(&record) {
            Ok(line) => line,
            Err(error) => {
                let error = HandlerError::Permanent(format!("cannot serialise: {error}"));
                return Box::pin(async move { Err(error) });
            }
        };
        line.push(b'\n');
        let (ack, answer) = oneshot::channel();
        self.pending.push(Pending { line, ack });
        if self.pending.len() >= self.max_batch {
            self.flush(ctx);
        } else if self.flush_timer.is_none() {
            self.flush_timer = Some(ctx.run_later(self.flush_interval, |actor, ctx| {
                actor.flush_timer = None;
                actor.flush(ctx);
            }));
        }
        let context: Arc<EventContext> = context;
        Box::pin(async move {
            answer.await.unwrap_or_else(|_| {
                Err(HandlerError::Transient(format!(
                    "history actor stopped before writing offset {}",
                    context.offset
                )))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_last_line_is_cut() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").expect("seed");
        drop(open_history(&path).expect("open"));
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"a\":1}\n");
    }

    #[test]
    fn a_file_without_any_newline_is_emptied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, b"{\"half").expect("seed");
        drop(open_history(&path).expect("open"));
        assert_eq!(std::fs::read(&path).expect("read"), b"");
    }

    #[test]
    fn timestamps_are_rfc3339_with_millis() {
        assert_eq!(
            format_timestamp(1_762_697_000_123).as_deref(),
            Some("2025-11-09T14:03:20.123Z")
        );
    }
}

#[cfg(test)]
mod actor_tests {
    use super::*;
    use shared_events::{Event, LabDateTime, UserCreated, UserType};

    #[test]
    fn every_message_is_acknowledged_after_its_batch_is_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        let history_path = path.clone();
        actix::System::new().block_on(async move {
            let history = HistoryActor::new(history_path, 4, Duration::from_millis(5)).start();
            let sends = (0..10).map(|offset| {
                let envelope = EventEnvelope::new(Event::UserCreated(UserCreated {
                    id: offset,
                    name: "Ada".into(),
                    email: "ada@example.com".into(),
                    user_type: UserType::Client,
                }));
                history.send(Deliver {
                    event: envelope,
                    context: Arc::new(EventContext {
                        topic: "user-events".into(),
                        partition: 0,
                        offset,
                        key: Some(offset.to_string()),
                        timestamp_ms: Some(1_762_697_000_000),
                        event_id: None,
                        datetime: LabDateTime::now(),
                    }),
                })
            });
            for answer in futures::future::join_all(sends).await {
                answer.expect("delivered").expect("written");
            }
        });
        let text = std::fs::read_to_string(&path).expect("history");
        let offsets: Vec<i64> = text
            .lines()
            .map(|line| {
                serde_json::from_str::<HistoryRecord>(line)
                    .expect("a whole record per line")
                    .offset
            })
            .collect();
        assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    }
}
