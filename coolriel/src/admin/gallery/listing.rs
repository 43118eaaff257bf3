//! What the gallery shows: the emails in the output directory (only the names the service
//! writes) and, from the tail of the history, the event each was written for.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::Path;
use std::time::SystemTime;

use shared_events::{Event, UserType};

use crate::handlers::history::HistoryRecord;
use crate::templates::{EmailKind, Format, email_file_name};

/// Bytes read at most from the end of the history (a line is well under a kilobyte).
const MAX_HISTORY_BYTES: u64 = 16 * 1024 * 1024;

/// What an email file name says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmailFile {
    pub kind: EmailKind,
    /// The user id (welcome, goodbye) or the order id (order, receipt).
    pub id: i64,
    pub format: Format,
}

/// The email a file name names, if it is exactly a name the service writes.
pub fn parse_email_file_name(name: &str) -> Option<EmailFile> {
    let (stem, extension) = name.rsplit_once('.')?;
    let format = Format::ALL
        .into_iter()
        .find(|format| format.extension() == extension)?;
    let (prefix, id) = stem.split_once('_')?;
    let kind = EmailKind::ALL
        .into_iter()
        .find(|kind| kind.file_prefix() == prefix)?;
    let id: i64 = id.parse().ok()?;
    // `+7`, `007` and `-0` parse too, but the service never writes them.
    (email_file_name(kind, id, format) == name).then_some(EmailFile { kind, id, format })
}

/// One email: its HTML and text files, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedEmail {
    pub kind: EmailKind,
    pub id: i64,
    pub html: Option<String>,
    pub text: Option<String>,
    /// The later modification time of its files.
    pub modified: SystemTime,
}

/// The emails in `dir`, newest first (then by name); other files are ignored.
pub fn list_emails(dir: &Path) -> io::Result<Vec<ListedEmail>> {
    let mut emails: BTreeMap<(u8, i64), ListedEmail> = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(file) = parse_email_file_name(&name) else {
            continue;
        };
        // The entry's own type: a symbolic link is not followed, hence not listed.
        if !entry.file_type()?.is_file() {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        let kind_order = EmailKind::ALL
            .iter()
            .position(|kind| *kind == file.kind)
            .unwrap_or_default() as u8;
        let listed = emails
            .entry((kind_order, file.id))
            .or_insert_with(|| ListedEmail {
                kind: file.kind,
                id: file.id,
                html: None,
                text: None,
                modified,
            });
        listed.modified = listed.modified.max(modified);
        match file.format {
            Format::Html => listed.html = Some(name),
            Format::Text => listed.text = Some(name),
        }
    }
    let mut emails: Vec<ListedEmail> = emails.into_values().collect();
    emails.sort_by(|a, b| {
        b.modified
            .cmp(&a.modified)
            .then_with(|| a.kind.file_prefix().cmp(b.kind.file_prefix()))
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(emails)
}

/// The event an email was written for, as the history recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailEvent {
    pub event_type: String,
    /// The user's id (user events) or the customer's (order events).
    pub user_id: i64,
    /// The user's name, or the customer's.
    pub name: String,
    /// The user's type, or the customer's: which template variant wrote the email.
    pub user_type: UserType,
    /// The order's id, for order events.
    pub order_id: Option<i64>,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The broker's timestamp (RFC 3339), when the message had one.
    pub timestamp: Option<String>,
}

/// The email kind an event produces, its aggregate id, and what the gallery shows of it.
fn email_event(record: HistoryRecord) -> Option<((EmailKind, i64), EmailEvent)> {
    let (kind, id, user_id, name, user_type, order_id) = match record.event.event {
        Event::UserCreated(user) => (
            EmailKind::Welcome,
            user.id,
            user.id,
            user.name,
            user.user_type,
            None,
        ),
        Event::UserDeleted(user) => (
            EmailKind::Goodbye,
            user.id,
            user.id,
            user.name,
            user.user_type,
            None,
        ),
        Event::OrderCreated(order) => (
            EmailKind::OrderConfirmation,
            order.id,
            order.user_id,
            order.user_name,
            order.user_type,
            Some(order.id),
        ),
        Event::OrderPaid(order) => (
            EmailKind::PaymentReceipt,
            order.id,
            order.user_id,
            order.user_name,
            order.user_type,
            Some(order.id),
        ),
        Event::OrderDeleted(_) => return None,
    };
    Some((
        (kind, id),
        EmailEvent {
            event_type: record.event_type,
            user_id,
            name,
            user_type,
            order_id,
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
        },
    ))
}

/// For each (kind, id), the latest event of the matching type among the history `lines`
/// (oldest first); lines that are not records are skipped.
pub fn email_events(lines: &[String]) -> HashMap<(EmailKind, i64), EmailEvent> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str::<HistoryRecord>(line).ok())
        .filter_map(email_event)
        .collect()
}

/// The last `count` whole lines of a file (a partial last line, being written, is left
/// out), read from the end.
pub fn last_lines(path: &Path, count: usize) -> io::Result<Vec<String>> {
    const CHUNK: u64 = 64 * 1024;
    let mut file = File::open(path)?;
    let length = file.metadata()?.len();
    let mut start = length;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut newlines = 0;
    // Enough when the tail holds `count + 1` newlines (the one before the first line
    // wanted), or the whole file.
    while start > 0 && newlines <= count && length - start < MAX_HISTORY_BYTES {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; usize::try_from(start - from).unwrap_or(0)];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        newlines += chunk.iter().filter(|&&byte| byte == b'\n').count();
        chunks.push(chunk);
        start = from;
    }
    let tail: Vec<u8> = chunks.into_iter().rev().flatten().collect();
    // Only whole lines: up to the last newline.
    let end = tail
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |at| at + 1);
    let text = String::from_utf8_lossy(&tail[..end]);
    let mut lines: Vec<&str> = text.lines().collect();
    // The first line may be cut at the chunk boundary unless the read began at 0.
    if start > 0 && !lines.is_empty() {
        lines.remove(0);
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines[skip..]
        .iter()
        .map(|line| (*line).to_owned())
        .collect())
}
