//! The event history (event sourcing): every event of every topic (user and order events
//! alike, the [`Registry`](crate::registry::Registry) routes them all here), with where it
//! came from, appended to `OUTPUT_DIR/history.jsonl`, one JSON object a line.
//!
//! [`History`] is an [`EventHandler`] run by the [`HistoryActor`] like any other, one
//! actor (one writer for the file). It keeps the lines of the messages it handled in
//! memory and writes and fsyncs them all at once in [`EventHandler::make_durable`], which
//! the actor calls per batch (up to `sync_batch.max_messages` lines, or whatever arrived
//! within `sync_batch.interval` of the first one; see [`SyncBatch`](super::SyncBatch)).
//! Each message is acknowledged only after the fsync of its batch: the partition actor
//! stores an offset only when its line is durable, so the history is at least once too. A
//! crash can leave half a line at the end; it is cut off when the file is opened again.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};
use shared_events::EventEnvelope;

use super::{EventHandler, HandlerActor};
use crate::delivery::{EventContext, HandlerError};

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

/// Appends every event to the history file (see the module documentation).
#[derive(Debug)]
pub struct History {
    /// `OUTPUT_DIR/history.jsonl`.
    path: PathBuf,
    /// Opened on first use and again after an error or a restart, so a failed write
    /// never leaves the handler with a handle in an unknown state.
    file: Option<File>,
    /// The lines handled since the last [`EventHandler::make_durable`], each whole with
    /// its newline: written together, after the file's last whole line.
    waiting: Vec<u8>,
    /// How many lines `waiting` holds, for the logs.
    lines: usize,
}

impl History {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        History {
            path: path.into(),
            file: None,
            waiting: Vec::new(),
            lines: 0,
        }
    }

    /// Append `lines` and fsync them; on a failure, cut what part of them got in, so the
    /// retry does not follow half a line.
    fn append(&mut self, lines: &[u8]) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            slot => slot.insert(open_history(&self.path)?),
        };
        let length_before = file.metadata()?.len();
        let written = file.write_all(lines).and_then(|()| file.sync_data());
        if let Err(error) = written {
            let _ = file.set_len(length_before);
            self.file = None;
            return Err(error);
        }
        Ok(())
    }
}

impl EventHandler for History {
    type Event = EventEnvelope;
    const NAME: &'static str = "HistoryActor";
    /// It logs nothing per event (the partition actor's span already covers the message).
    const IN_EVENT_SPAN: bool = false;

    fn handle(&mut self, event: EventEnvelope, context: &EventContext) -> Result<(), HandlerError> {
        let record = HistoryRecord::new(event, context);
        let start = self.waiting.len();
        if let Err(error) = serde_json::to_writer(&mut self.waiting, &record) {
            // Only whole lines wait: drop what part of this one was written.
            self.waiting.truncate(start);
            return Err(HandlerError::Permanent(format!(
                "cannot serialise: {error}"
            )));
        }
        self.waiting.push(b'\n');
        self.lines += 1;
        Ok(())
    }

    fn has_unsynced_work(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Write and fsync the waiting lines. On a failure they are dropped: their messages
    /// are answered with the error and retried, which hands the lines in again.
    fn make_durable(&mut self) -> Result<(), HandlerError> {
        let lines = std::mem::take(&mut self.waiting);
        let count = std::mem::take(&mut self.lines);
        if lines.is_empty() {
            return Ok(());
        }
        match self.append(&lines) {
            Ok(()) => {
                tracing::debug!(actor = Self::NAME, lines = count, "history flushed");
                // Keep the buffer's capacity for the next batch.
                self.waiting = lines;
                self.waiting.clear();
                Ok(())
            }
            Err(error) => Err(HandlerError::from_io(
                format_args!("cannot append to {}", self.path.display()),
                &error,
            )),
        }
    }

    fn restarted(&mut self) {
        self.file = None;
        self.waiting.clear();
        self.lines = 0;
    }
}

/// Appends every event to the history file; started under `actix::Supervisor`.
pub type HistoryActor = HandlerActor<History>;

/// Open for appending, cutting a partial last line a crash may have left.
fn open_history(path: &Path) -> io::Result<File> {
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
                actor = History::NAME,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What a history file holding `seed` holds once opened again.
    fn reopened(seed: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        std::fs::write(&path, seed).expect("seed");
        drop(open_history(&path).expect("open"));
        std::fs::read(&path).expect("read")
    }

    #[test]
    fn a_partial_last_line_is_cut() {
        assert_eq!(reopened(b"{\"a\":1}\n{\"b\":"), b"{\"a\":1}\n");
    }

    #[test]
    fn a_file_without_any_newline_is_emptied() {
        assert_eq!(reopened(b"{\"half"), b"");
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
    use std::sync::Arc;
    use std::time::Duration;

    use actix::Actor as _;
    use shared_events::{Event, LabDateTime, UserCreated, UserType};

    use super::*;
    use crate::delivery::Deliver;
    use crate::handlers::SyncBatch;

    #[test]
    fn every_message_is_acknowledged_after_its_batch_is_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        let history_path = path.clone();
        actix::System::new().block_on(async move {
            let batch = SyncBatch {
                max_messages: 4,
                interval: Duration::from_millis(5),
            };
            let history = HistoryActor::new(History::new(history_path))
                .with_batch(batch)
                .start();
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
