//! The email gallery: `GET /` lists the emails in `OUTPUT_DIR`, newest first, each
//! labelled with its kind (welcome, goodbye, order, receipt), linked to its HTML and
//! plain-text files, and shown with the event it was written for (type, user or order id
//! and name, topic, partition, offset, time: the latest record of the matching event type
//! and aggregate id among the last 5000 lines of `history.jsonl`, read from the end); above
//! them, the events handled since start-up by type (the counts behind
//! `coolriel_events_handled_total`). The page reloads itself every 5 s (a `refresh` meta
//! tag: no script). `GET /emails/{file}` serves one of them; `GET /history` gives the
//! last records of `history.jsonl` as JSON.
//!
//! Only names the service itself writes are served: `{kind}_{id}.{html|txt}` exactly as
//! [`email_file_name`] makes them (no `/`, no `..`, no hidden file, not `history.jsonl`,
//! not a temporary file), and only regular files (not a symbolic link that would lead
//! out of the directory). Anything else is a 404 with a JSON body, so no path trick
//! reads outside `OUTPUT_DIR`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use shared_events::Event;

use super::{AdminState, error_response};
use crate::handlers::history::HistoryRecord;
use crate::templates::{EmailKind, Format, email_file_name};

/// Rows shown at most by the gallery (the newest).
const MAX_LISTED: usize = 1000;
/// Records `GET /history` returns by default and at most.
const DEFAULT_HISTORY: usize = 50;
const MAX_HISTORY: usize = 1000;
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

/// How the gallery labels a kind.
fn kind_label(kind: EmailKind) -> &'static str {
    kind.file_prefix()
}

fn kind_title(kind: EmailKind) -> &'static str {
    match kind {
        EmailKind::Welcome => "welcome",
        EmailKind::Goodbye => "goodbye",
        EmailKind::OrderConfirmation => "order confirmation",
        EmailKind::PaymentReceipt => "payment receipt",
    }
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

/// History records read at most, from the end, to find each email's event.
const HISTORY_LINES_SCANNED: usize = 5000;
/// The gallery reloads itself this often (seconds): the counts and the list stay live.
const REFRESH_SECONDS: u32 = 5;

/// The event an email was written for, as the history recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailEvent {
    pub event_type: String,
    /// The user's id (user events) or the customer's (order events).
    pub user_id: i64,
    /// The user's name, or the customer's.
    pub name: String,
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
    let (kind, id, user_id, name, order_id) = match record.event.event {
        Event::UserCreated(user) => (EmailKind::Welcome, user.id, user.id, user.name, None),
        Event::UserDeleted(user) => (EmailKind::Goodbye, user.id, user.id, user.name, None),
        Event::OrderCreated(order) => (
            EmailKind::OrderConfirmation,
            order.id,
            order.user_id,
            order.user_name,
            Some(order.id),
        ),
        Event::OrderPaid(order) => (
            EmailKind::PaymentReceipt,
            order.id,
            order.user_id,
            order.user_name,
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

/// `GET /`: the gallery page.
pub(super) async fn index(state: web::Data<AdminState>) -> HttpResponse {
    let dir = state.output_dir.clone();
    let listing = web::block(move || {
        let emails = list_emails(&dir)?;
        let lines = match last_lines(&dir.join("history.jsonl"), HISTORY_LINES_SCANNED) {
            Ok(lines) => lines,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        Ok((emails, email_events(&lines)))
    })
    .await;
    match listing {
        Ok(Ok((emails, events))) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(render_gallery(
                &state.output_dir,
                &emails,
                &events,
                &state.metrics.event_counts(),
            )),
        Ok(Err(error)) => {
            tracing::warn!(dir = %state.output_dir.display(), error = %error, "cannot list the emails");
            error_response(
                HttpResponse::InternalServerError(),
                "cannot list the output directory",
            )
        }
        Err(_) => error_response(
            HttpResponse::InternalServerError(),
            "cannot list the emails",
        ),
    }
}

/// The gallery page for `emails` (already sorted), each with its event from `events`,
/// and the events handled by type (`counts`); everything shown is escaped.
pub fn render_gallery(
    dir: &Path,
    emails: &[ListedEmail],
    events: &HashMap<(EmailKind, i64), EmailEvent>,
    counts: &BTreeMap<String, u64>,
) -> String {
    let mut by_kind: BTreeMap<&str, usize> = EmailKind::ALL
        .iter()
        .map(|kind| (kind_label(*kind), 0))
        .collect();
    for email in emails {
        *by_kind.entry(kind_label(email.kind)).or_default() += 1;
    }
    let mut page = String::with_capacity(2048 + emails.len().min(MAX_LISTED) * 512);
    let _ = write!(
        page,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta http-equiv=\"refresh\" content=\"{refresh}\">\n",
            "<title>coolriel: emails</title>\n<style>\n",
            "body{{font-family:system-ui,sans-serif;margin:1rem;color:#222}}\n",
            "table{{border-collapse:collapse;margin-bottom:1.5rem}}td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;font-size:.9rem}}\n",
            ".kind{{font-weight:600}}.kind-welcome{{color:#1b7f3b}}.kind-goodbye{{color:#8a5a00}}",
            ".kind-order{{color:#1f5fa8}}.kind-receipt{{color:#6b3fa0}}.muted{{color:#888}}.time{{white-space:nowrap}}.topic{{word-break:break-all;min-width:13rem}}\n",
            "</style>\n</head>\n<body>\n<h1>Emails</h1>\n"
        ),
        refresh = REFRESH_SECONDS
    );
    let _ = writeln!(
        page,
        "<p>Events handled since start-up, by type (refreshed every {REFRESH_SECONDS} s):</p>"
    );
    page.push_str("<table id=\"event-counts\">\n<thead><tr><th>Event type</th><th>Count</th></tr></thead>\n<tbody>\n");
    if counts.is_empty() {
        page.push_str("<tr><td colspan=\"2\" class=\"muted\">none yet</td></tr>\n");
    }
    for (event_type, count) in counts {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{count}</td></tr>",
            escape_html(event_type)
        );
    }
    page.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        page,
        "<p>In <code>{}</code>: {} email{}, newest first ({}). <a href=\"/preview\">template previews</a> · <a href=\"/history\">history</a> · <a href=\"/metrics\">metrics</a></p>",
        escape_html(&dir.display().to_string()),
        emails.len(),
        if emails.len() == 1 { "" } else { "s" },
        by_kind
            .iter()
            .map(|(kind, count)| format!("{kind}: {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if emails.len() > MAX_LISTED {
        let _ = writeln!(page, "<p>Showing the newest {MAX_LISTED}.</p>");
    }
    page.push_str("<table id=\"emails\">\n<thead><tr><th>Written (UTC)</th><th>Kind</th><th>For</th><th>HTML</th><th>Text</th><th>Event</th><th>Topic</th><th>Partition</th><th>Offset</th><th>Event time (UTC)</th></tr></thead>\n<tbody>\n");
    for email in emails.iter().take(MAX_LISTED) {
        let written =
            DateTime::<Utc>::from(email.modified).to_rfc3339_opts(SecondsFormat::Secs, true);
        let label = kind_label(email.kind);
        let event = events.get(&(email.kind, email.id));
        let subject = match (event, email.kind) {
            (Some(event), _) => match event.order_id {
                Some(order_id) => format!(
                    "order {order_id}<br>user {} {}",
                    event.user_id,
                    escape_html(&event.name)
                ),
                None => format!("user {} {}", event.user_id, escape_html(&event.name)),
            },
            (None, EmailKind::Welcome | EmailKind::Goodbye) => format!("user {}", email.id),
            (None, EmailKind::OrderConfirmation | EmailKind::PaymentReceipt) => {
                format!("order {}", email.id)
            }
        };
        let event_cells = match event {
            Some(event) => format!(
                "<td>{}</td><td class=\"topic\">{}</td><td>{}</td><td>{}</td><td class=\"time\">{}</td>",
                escape_html(&event.event_type),
                escape_html(&event.topic),
                event.partition,
                event.offset,
                escape_html(event.timestamp.as_deref().unwrap_or("-")),
            ),
            None => format!(
                "<td colspan=\"5\" class=\"muted\">not in the last {HISTORY_LINES_SCANNED} history records</td>"
            ),
        };
        let _ = writeln!(
            page,
            "<tr><td class=\"time\">{written}</td><td class=\"kind kind-{label}\" title=\"{title}\">{label}</td><td>{subject}</td><td>{html}</td><td>{text}</td>{event_cells}</tr>",
            title = kind_title(email.kind),
            html = file_link(email.html.as_deref()),
            text = file_link(email.text.as_deref()),
        );
    }
    page.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    page
}

fn file_link(name: Option<&str>) -> String {
    match name {
        Some(name) => {
            let name = escape_html(name);
            format!("<a href=\"/emails/{name}\">{name}</a>")
        }
        None => "-".to_owned(),
    }
}

/// Text safe inside HTML elements and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// `GET /emails/{file}`: one email file, or 404.
pub(super) async fn email(state: web::Data<AdminState>, file: web::Path<String>) -> HttpResponse {
    let name = file.into_inner();
    let Some(email) = parse_email_file_name(&name) else {
        return error_response(HttpResponse::NotFound(), "no such email");
    };
    let path = state.output_dir.join(&name);
    let read = web::block(move || read_regular_file(&path)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => {
            return error_response(HttpResponse::NotFound(), "no such email");
        }
        Ok(Err(error)) => {
            tracing::warn!(file = %name, error = %error, "cannot read an email");
            return error_response(HttpResponse::InternalServerError(), "cannot read the email");
        }
        Err(_) => {
            return error_response(HttpResponse::InternalServerError(), "cannot read the email");
        }
    };
    let content_type = match email.format {
        Format::Html => "text/html; charset=utf-8",
        Format::Text => "text/plain; charset=utf-8",
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The emails need no script nor anything from elsewhere.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
        ))
        .body(bytes)
}

/// The contents of `path` if it is a regular file; a symbolic link (or anything else)
/// reads as not found.
fn read_regular_file(path: &Path) -> io::Result<Vec<u8>> {
    let not_found = || io::Error::new(io::ErrorKind::NotFound, "not a regular file");
    if !std::fs::symlink_metadata(path)?.file_type().is_file() {
        return Err(not_found());
    }
    let mut file = File::open(path)?;
    // Replaced between the two calls? Still a regular file, or refused.
    if !file.metadata()?.is_file() {
        return Err(not_found());
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryQuery {
    limit: Option<usize>,
}

/// `GET /history?limit=N`: the last N records of `history.jsonl`, oldest first.
pub(super) async fn history(
    state: web::Data<AdminState>,
    query: web::Query<HistoryQuery>,
) -> HttpResponse {
    let limit = query.limit.unwrap_or(DEFAULT_HISTORY).min(MAX_HISTORY);
    let path: PathBuf = state.output_dir.join("history.jsonl");
    let read = web::block(move || last_lines(&path, limit)).await;
    match read {
        Ok(Ok(lines)) => {
            let records: Vec<serde_json::Value> = lines
                .iter()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
            HttpResponse::Ok().json(records)
        }
        Ok(Err(error)) if error.kind() == io::ErrorKind::NotFound => {
            HttpResponse::Ok().json(Vec::<serde_json::Value>::new())
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "cannot read the history");
            error_response(
                HttpResponse::InternalServerError(),
                "cannot read the history",
            )
        }
        Err(_) => error_response(
            HttpResponse::InternalServerError(),
            "cannot read the history",
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_names_the_service_writes_are_emails() {
        assert_eq!(
            parse_email_file_name("welcome_7.html"),
            Some(EmailFile {
                kind: EmailKind::Welcome,
                id: 7,
                format: Format::Html
            })
        );
        assert_eq!(
            parse_email_file_name("receipt_12.txt").map(|file| file.kind),
            Some(EmailKind::PaymentReceipt)
        );
        assert_eq!(
            parse_email_file_name("order_12.html").map(|file| file.kind),
            Some(EmailKind::OrderConfirmation)
        );
        assert!(parse_email_file_name("goodbye_-3.txt").is_some());
        for refused in [
            "",
            "history.jsonl",
            ".hidden",
            ".welcome_7.html",
            ".coolriel-abc.tmp",
            "welcome_7.html.tmp",
            "welcome_7",
            "welcome_.html",
            "welcome_007.html",
            "welcome_+7.html",
            "welcome_-0.html",
            "welcome_7.HTML",
            "welcome_7.json",
            "order_confirmation_7.html",
            "../welcome_7.html",
            "welcome_7.html/..",
            "..",
            "../../etc/passwd",
            "/etc/passwd",
            "welcome_7.html\0",
            "users.json",
        ] {
            assert_eq!(parse_email_file_name(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn names_are_escaped_in_the_page() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let page = render_gallery(
            Path::new("out<put>"),
            &[],
            &HashMap::new(),
            &BTreeMap::from([("<x>".to_owned(), 3)]),
        );
        assert!(page.contains("<td>&lt;x&gt;</td><td>3</td>"), "{page}");
        assert!(page.contains("out&lt;put&gt;"), "{page}");
    }

    #[test]
    fn emails_are_listed_newest_first_with_both_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        for (name, modified) in [
            ("welcome_1.html", old),
            ("welcome_1.txt", old),
            ("receipt_2.html", SystemTime::now()),
            ("receipt_2.txt", SystemTime::now()),
            ("goodbye_3.txt", old),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, name).expect("write");
            File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(modified))
                .expect("mtime");
        }
        std::fs::write(dir.path().join("history.jsonl"), "{}\n").expect("history");
        std::fs::write(dir.path().join(".hidden.html"), "x").expect("hidden");
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("welcome_9.html"))
            .expect("symlink");
        let emails = list_emails(dir.path()).expect("list");
        let listed: Vec<(EmailKind, i64, Option<&str>, Option<&str>)> = emails
            .iter()
            .map(|email| {
                (
                    email.kind,
                    email.id,
                    email.html.as_deref(),
                    email.text.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (
                    EmailKind::PaymentReceipt,
                    2,
                    Some("receipt_2.html"),
                    Some("receipt_2.txt")
                ),
                (EmailKind::Goodbye, 3, None, Some("goodbye_3.txt")),
                (
                    EmailKind::Welcome,
                    1,
                    Some("welcome_1.html"),
                    Some("welcome_1.txt")
                ),
            ]
        );
        let page = render_gallery(dir.path(), &emails, &HashMap::new(), &BTreeMap::new());
        assert!(
            page.contains("<a href=\"/emails/receipt_2.html\">receipt_2.html</a>"),
            "{page}"
        );
        assert!(page.find("receipt_2.html") < page.find("welcome_1.html"));
    }

    #[test]
    fn each_email_gets_the_latest_record_of_its_event_type() {
        use shared_events::{EventEnvelope, UserCreated, UserDeleted, UserType};
        let user = |id: i64, name: &str| UserCreated {
            id,
            name: name.into(),
            email: "a@example.com".into(),
            user_type: UserType::Client,
        };
        let record = |event: Event, offset: i64| HistoryRecord {
            topic: "user-events".into(),
            partition: 1,
            offset,
            key: None,
            timestamp: Some("2025-11-09T14:03:20.123Z".into()),
            event_type: event.event_type().as_str().to_owned(),
            event: EventEnvelope::new(event),
        };
        let created = user(7, "Ada");
        let lines: Vec<String> = [
            record(Event::UserCreated(created.clone()), 3),
            record(Event::UserCreated(user(7, "Ada <L>")), 9),
            record(
                Event::UserDeleted(UserDeleted {
                    id: 7,
                    name: "Ada".into(),
                    email: "a@example.com".into(),
                    user_type: UserType::Client,
                }),
                10,
            ),
        ]
        .iter()
        .map(|record| serde_json::to_string(record).expect("json"))
        .chain(["not json".to_owned()])
        .collect();
        let events = email_events(&lines);
        let welcome = &events[&(EmailKind::Welcome, 7)];
        assert_eq!((welcome.offset, welcome.name.as_str()), (9, "Ada <L>"));
        assert_eq!(events[&(EmailKind::Goodbye, 7)].offset, 10);
        let emails = [ListedEmail {
            kind: EmailKind::Welcome,
            id: 7,
            html: Some("welcome_7.html".into()),
            text: None,
            modified: SystemTime::now(),
        }];
        let page = render_gallery(Path::new("out"), &emails, &events, &BTreeMap::new());
        assert!(page.contains("user 7 Ada &lt;L&gt;"), "{page}");
        assert!(
            page.contains("<td>UserCreated</td><td class=\"topic\">user-events</td><td>1</td><td>9</td><td class=\"time\">2025-11-09T14:03:20.123Z</td>"),
            "{page}"
        );
    }

    #[test]
    fn symbolic_links_are_not_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        let link = dir.path().join("welcome_9.html");
        std::os::unix::fs::symlink("/etc/hostname", &link).expect("symlink");
        let error = read_regular_file(&link).expect_err("refused");
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn the_last_lines_are_read_from_the_end() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("history.jsonl");
        let text: String = (0..5000).map(|n| format!("{{\"n\":{n}}}\n")).collect();
        std::fs::write(&path, format!("{text}{{\"partial\"")).expect("write");
        let lines = last_lines(&path, 3).expect("tail");
        assert_eq!(lines, ["{\"n\":4997}", "{\"n\":4998}", "{\"n\":4999}"]);
        assert_eq!(last_lines(&path, 10_000).expect("all").len(), 5000);
        std::fs::write(&path, "").expect("empty");
        assert!(last_lines(&path, 3).expect("empty").is_empty());
    }
}
