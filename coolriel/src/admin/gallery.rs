//! The email gallery: `GET /` shows the emails in `OUTPUT_DIR`, newest first, as cards:
//! each email's HTML rendered in a sandboxed frame, its kind and user type, who it is for,
//! the event it was written for (type, topic, partition, offset, time: the latest record
//! of the matching event type and aggregate id among the last 5000 lines of
//! `history.jsonl`, read from the end) and links to its HTML and plain-text files. Above
//! them, filters by email kind and user type (`?kind=welcome&user_type=employee`, each
//! choice with its count; an unknown value is a 400) and the events handled since
//! start-up by type (the counts behind `coolriel_events_handled_total`). 48 cards a page
//! (`?page=2` for older ones). The page reloads itself every 5 s (a `refresh` meta tag:
//! no script) and is rendered by the Handlebars template `gallery.html.hbs`, which
//! escapes every value. `GET /emails/{file}` serves one email; `GET /history` gives the
//! last records of `history.jsonl` as JSON.
//!
//! Only names the service itself writes are served: `{kind}_{id}.{html|txt}` exactly as
//! [`email_file_name`] makes them (no `/`, no `..`, no hidden file, not `history.jsonl`,
//! not a temporary file), and only regular files (not a symbolic link that would lead
//! out of the directory). Anything else is a 404 with a JSON body, so no path trick
//! reads outside `OUTPUT_DIR`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};
use shared_events::{Event, UserType};

use super::{AdminState, error_response};
use crate::handlers::history::HistoryRecord;
use crate::templates::{EmailKind, Format, email_file_name};

/// Cards on one page of the gallery: each is a frame that loads its email.
const PER_PAGE: usize = 48;
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
        EmailKind::Welcome => "Welcome",
        EmailKind::Goodbye => "Goodbye",
        EmailKind::OrderConfirmation => "Order confirmation",
        EmailKind::PaymentReceipt => "Payment receipt",
    }
}

/// How the gallery names a user type in its query and its markup.
fn user_type_value(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "client",
        UserType::Employee => "employee",
        UserType::Manager => "manager",
    }
}

fn user_type_title(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Client",
        UserType::Employee => "Employee",
        UserType::Manager => "Manager",
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

/// `GET /`'s query: the filters and the page, all optional.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct GalleryQuery {
    /// An email kind as its files are named: `welcome`, `goodbye`, `order`, `receipt`.
    pub kind: Option<String>,
    /// `client`, `employee` or `manager`.
    pub user_type: Option<String>,
    /// 1-based; 48 cards a page.
    pub page: Option<usize>,
}

/// The filters of a [`GalleryQuery`], checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GalleryFilter {
    pub kind: Option<EmailKind>,
    pub user_type: Option<UserType>,
    /// 1-based.
    pub page: usize,
}

impl Default for GalleryFilter {
    fn default() -> Self {
        GalleryFilter {
            kind: None,
            user_type: None,
            page: 1,
        }
    }
}

impl GalleryQuery {
    /// The filters it names, or what is wrong with it.
    pub fn filter(&self) -> Result<GalleryFilter, String> {
        let wanted = |value: &Option<String>| value.clone().filter(|value| !value.is_empty());
        let kind = match wanted(&self.kind) {
            None => None,
            Some(value) => Some(
                EmailKind::ALL
                    .into_iter()
                    .find(|kind| kind_label(*kind) == value)
                    .ok_or_else(|| {
                        format!("unknown kind {value:?}: welcome, goodbye, order or receipt")
                    })?,
            ),
        };
        let user_type = match wanted(&self.user_type) {
            None => None,
            Some(value) => Some(
                UserType::ALL
                    .into_iter()
                    .find(|user_type| user_type_value(*user_type) == value)
                    .ok_or_else(|| {
                        format!("unknown user_type {value:?}: client, employee or manager")
                    })?,
            ),
        };
        Ok(GalleryFilter {
            kind,
            user_type,
            page: self.page.unwrap_or(1).max(1),
        })
    }
}

/// `GET /`: the gallery page.
pub(super) async fn index(
    state: web::Data<AdminState>,
    query: web::Query<GalleryQuery>,
) -> HttpResponse {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reason) => return error_response(HttpResponse::BadRequest(), &reason),
    };
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
    let (emails, events) = match listing {
        Ok(Ok(listing)) => listing,
        Ok(Err(error)) => {
            tracing::warn!(dir = %state.output_dir.display(), error = %error, "cannot list the emails");
            return error_response(
                HttpResponse::InternalServerError(),
                "cannot list the output directory",
            );
        }
        Err(_) => {
            return error_response(
                HttpResponse::InternalServerError(),
                "cannot list the emails",
            );
        }
    };
    let counts = state.metrics.event_counts();
    match render_gallery(&state.output_dir, &emails, &events, &counts, filter) {
        Ok(page) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page),
        Err(error) => {
            tracing::warn!(error = %error, "cannot render the gallery");
            error_response(
                HttpResponse::InternalServerError(),
                "cannot render the gallery",
            )
        }
    }
}

/// What `gallery.html.hbs` is filled with.
#[derive(Debug, Serialize)]
struct GalleryPage {
    output_dir: String,
    refresh_seconds: u32,
    history_scanned: usize,
    /// Emails in the directory, before any filter.
    total: usize,
    kinds: Vec<FilterChoice>,
    user_types: Vec<FilterChoice>,
    event_counts: Vec<EventCount>,
    cards: Vec<Card>,
    /// "12 emails match, newest first" and the like.
    shown_text: String,
    /// What the page says when no card is shown.
    empty_text: String,
    pages: Option<Pages>,
}

/// One choice of a filter: a link that keeps the other filter.
#[derive(Debug, Serialize)]
struct FilterChoice {
    /// The query value (`welcome`), empty for "all".
    value: &'static str,
    label: &'static str,
    count: usize,
    active: bool,
    href: String,
}

#[derive(Debug, Serialize)]
struct EventCount {
    event_type: String,
    count: u64,
}

#[derive(Debug, Serialize)]
struct Card {
    /// `welcome`, `goodbye`, `order`, `receipt`.
    kind: &'static str,
    kind_title: &'static str,
    /// `client`, `employee`, `manager`, or `unknown` when the event is not found.
    user_type: &'static str,
    user_type_label: &'static str,
    id: i64,
    /// "Ada Lovelace · user 7", "order 3 · Jane Doe (user 4)".
    subject: String,
    html: Option<String>,
    text: Option<String>,
    written: String,
    event: Option<CardEvent>,
}

#[derive(Debug, Serialize)]
struct CardEvent {
    event_type: String,
    topic: String,
    partition: i32,
    offset: i64,
    time: String,
}

#[derive(Debug, Serialize)]
struct Pages {
    newer: Option<String>,
    older: Option<String>,
}

/// Why the gallery page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    #[error("the gallery template is invalid: {0}")]
    Template(String),
    #[error("cannot render the gallery: {0}")]
    Render(#[from] handlebars::RenderError),
}

/// The gallery's template, compiled once; strict mode, so a field the page lacks is an
/// error rather than an empty spot. Values are HTML-escaped by the library.
fn gallery_template() -> Result<&'static Handlebars<'static>, GalleryError> {
    static TEMPLATE: OnceLock<Result<Handlebars<'static>, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let mut registry = Handlebars::new();
            registry.set_strict_mode(true);
            registry
                .register_template_string("gallery", include_str!("gallery.html.hbs"))
                .map_err(|error| error.to_string())?;
            Ok(registry)
        })
        .as_ref()
        .map_err(|error| GalleryError::Template(error.clone()))
}

/// The link to the gallery with these filters and page.
fn gallery_href(kind: Option<EmailKind>, user_type: Option<UserType>, page: usize) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Some(kind) = kind {
        query.push(format!("kind={}", kind_label(kind)));
    }
    if let Some(user_type) = user_type {
        query.push(format!("user_type={}", user_type_value(user_type)));
    }
    if page > 1 {
        query.push(format!("page={page}"));
    }
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{}", query.join("&"))
    }
}

/// Whether `email` passes the filters (`user_type` is known from its event only).
fn passes(
    email: &ListedEmail,
    kind: Option<EmailKind>,
    user_type: Option<UserType>,
    events: &HashMap<(EmailKind, i64), EmailEvent>,
) -> bool {
    kind.is_none_or(|kind| email.kind == kind)
        && user_type.is_none_or(|wanted| {
            events
                .get(&(email.kind, email.id))
                .is_some_and(|event| event.user_type == wanted)
        })
}

/// The gallery page for `emails` (already sorted), each with its event from `events`,
/// the events handled by type (`counts`), filtered and paged by `filter`.
pub fn render_gallery(
    dir: &Path,
    emails: &[ListedEmail],
    events: &HashMap<(EmailKind, i64), EmailEvent>,
    counts: &BTreeMap<String, u64>,
    filter: GalleryFilter,
) -> Result<String, GalleryError> {
    // A choice's count is that of the emails it would show, the other filter kept.
    let count = |kind, user_type| {
        emails
            .iter()
            .filter(|email| passes(email, kind, user_type, events))
            .count()
    };
    let kinds = std::iter::once(None)
        .chain(EmailKind::ALL.into_iter().map(Some))
        .map(|kind| FilterChoice {
            value: kind.map_or("", kind_label),
            label: kind.map_or("All", kind_title),
            count: count(kind, filter.user_type),
            active: filter.kind == kind,
            href: gallery_href(kind, filter.user_type, 1),
        })
        .collect();
    let user_types = std::iter::once(None)
        .chain(UserType::ALL.into_iter().map(Some))
        .map(|user_type| FilterChoice {
            value: user_type.map_or("", user_type_value),
            label: user_type.map_or("All", user_type_title),
            count: count(filter.kind, user_type),
            active: filter.user_type == user_type,
            href: gallery_href(filter.kind, user_type, 1),
        })
        .collect();

    let matching: Vec<&ListedEmail> = emails
        .iter()
        .filter(|email| passes(email, filter.kind, filter.user_type, events))
        .collect();
    let first = (filter.page - 1).saturating_mul(PER_PAGE);
    let cards: Vec<Card> = matching
        .iter()
        .skip(first)
        .take(PER_PAGE)
        .map(|email| card(email, events.get(&(email.kind, email.id))))
        .collect();
    let shown_text = match matching.len() {
        1 => "1 email matches".to_owned(),
        total if total <= PER_PAGE => format!("{total} emails match, newest first"),
        total => format!(
            "{total} emails match, newest first; {} to {} shown",
            first + 1,
            first + cards.len()
        ),
    };
    let empty_text = if emails.is_empty() {
        "No email yet: create a user (POST /users on store-manager) and its welcome email appears here."
    } else if matching.is_empty() {
        "No email matches these filters."
    } else {
        "No email on this page."
    };
    let older = (first + PER_PAGE < matching.len())
        .then(|| gallery_href(filter.kind, filter.user_type, filter.page + 1));
    let newer =
        (filter.page > 1).then(|| gallery_href(filter.kind, filter.user_type, filter.page - 1));
    let pages = (older.is_some() || newer.is_some()).then_some(Pages { newer, older });
    let page = GalleryPage {
        output_dir: dir.display().to_string(),
        refresh_seconds: REFRESH_SECONDS,
        history_scanned: HISTORY_LINES_SCANNED,
        total: emails.len(),
        kinds,
        user_types,
        event_counts: counts
            .iter()
            .map(|(event_type, count)| EventCount {
                event_type: event_type.clone(),
                count: *count,
            })
            .collect(),
        cards,
        shown_text,
        empty_text: empty_text.to_owned(),
        pages,
    };
    Ok(gallery_template()?.render("gallery", &page)?)
}

/// `2025-11-09 14:03:20 UTC` for `2025-11-09T14:03:20.123Z`; other text as it is.
fn readable_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |time| {
            time.with_timezone(&Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        },
    )
}

/// One email's card: what it is, for whom, from which event.
fn card(email: &ListedEmail, event: Option<&EmailEvent>) -> Card {
    let subject = match (event, email.kind) {
        (Some(event), _) => match event.order_id {
            Some(order_id) => format!("order {order_id} · {} (user {})", event.name, event.user_id),
            None => format!("{} · user {}", event.name, event.user_id),
        },
        (None, EmailKind::Welcome | EmailKind::Goodbye) => format!("user {}", email.id),
        (None, EmailKind::OrderConfirmation | EmailKind::PaymentReceipt) => {
            format!("order {}", email.id)
        }
    };
    Card {
        kind: kind_label(email.kind),
        kind_title: kind_title(email.kind),
        user_type: event.map_or("unknown", |event| user_type_value(event.user_type)),
        user_type_label: event.map_or("user type unknown", |event| {
            user_type_title(event.user_type)
        }),
        id: email.id,
        subject,
        html: email.html.clone(),
        text: email.text.clone(),
        written: DateTime::<Utc>::from(email.modified).to_rfc3339_opts(SecondsFormat::Secs, true),
        event: event.map(|event| CardEvent {
            event_type: event.event_type.clone(),
            topic: event.topic.clone(),
            partition: event.partition,
            offset: event.offset,
            time: event
                .timestamp
                .as_deref()
                .map_or_else(|| "no broker time".to_owned(), readable_time),
        }),
    }
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
        let page = render_gallery(
            Path::new("out<put>"),
            &[],
            &HashMap::new(),
            &BTreeMap::from([("<x>".to_owned(), 3)]),
            GalleryFilter::default(),
        )
        .expect("renders");
        assert!(page.contains("&lt;x&gt; <b>3</b>"), "{page}");
        assert!(page.contains("out&lt;put&gt;"), "{page}");
        assert!(!page.contains("<x>"), "{page}");
    }

    #[test]
    fn the_filters_are_checked() {
        let query = |kind: Option<&str>, user_type: Option<&str>| GalleryQuery {
            kind: kind.map(str::to_owned),
            user_type: user_type.map(str::to_owned),
            page: None,
        };
        assert_eq!(query(None, None).filter(), Ok(GalleryFilter::default()));
        assert_eq!(
            query(Some("receipt"), Some("manager")).filter(),
            Ok(GalleryFilter {
                kind: Some(EmailKind::PaymentReceipt),
                user_type: Some(UserType::Manager),
                page: 1
            })
        );
        assert_eq!(
            query(Some(""), Some("")).filter(),
            Ok(GalleryFilter::default())
        );
        assert!(query(Some("welcome_7"), None).filter().is_err());
        assert!(query(None, Some("Client")).filter().is_err());
        assert_eq!(
            gallery_href(Some(EmailKind::Goodbye), Some(UserType::Client), 2),
            "/?kind=goodbye&user_type=client&page=2"
        );
        assert_eq!(gallery_href(None, None, 1), "/");
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
        let page = render_gallery(
            dir.path(),
            &emails,
            &HashMap::new(),
            &BTreeMap::new(),
            GalleryFilter::default(),
        )
        .expect("renders");
        assert!(
            page.contains("<a href=\"/emails/receipt_2.html\">receipt_2.html</a>"),
            "{page}"
        );
        assert!(
            page.contains("<iframe src=\"/emails/receipt_2.html\""),
            "{page}"
        );
        assert!(page.find("receipt_2.html") < page.find("welcome_1.html"));
        assert!(page.contains("no HTML part"), "goodbye_3 has none: {page}");
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
            record(
                Event::UserCreated(UserCreated {
                    user_type: UserType::Employee,
                    ..user(7, "Ada <L>")
                }),
                9,
            ),
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
        assert_eq!(welcome.user_type, UserType::Employee);
        let listed = |kind, file: &str| ListedEmail {
            kind,
            id: 7,
            html: Some(format!("{file}.html")),
            text: None,
            modified: SystemTime::now(),
        };
        let emails = [
            listed(EmailKind::Goodbye, "goodbye_7"),
            listed(EmailKind::Welcome, "welcome_7"),
            ListedEmail {
                id: 8,
                ..listed(EmailKind::Welcome, "welcome_8")
            },
        ];
        let render = |filter| {
            render_gallery(Path::new("out"), &emails, &events, &BTreeMap::new(), filter)
                .expect("renders")
        };
        let page = render(GalleryFilter::default());
        assert!(page.contains("Ada &lt;L&gt; · user 7"), "{page}");
        assert!(
            page.contains("<article class=\"email\" data-kind=\"welcome\" data-user-type=\"employee\" data-id=\"7\" data-event-type=\"UserCreated\" data-topic=\"user-events\" data-partition=\"1\" data-offset=\"9\">"),
            "{page}"
        );
        assert!(page.contains(">2025-11-09 14:03:20 UTC<"), "{page}");
        assert!(
            page.contains("data-kind=\"welcome\" data-user-type=\"unknown\" data-id=\"8\">"),
            "welcome_8 has no event in the history: {page}"
        );
        assert_eq!(page.matches("<article").count(), 3, "{page}");

        // By user type: the employee's welcome only; the client's goodbye and the email
        // whose user type is unknown are left out.
        let employees = render(GalleryFilter {
            user_type: Some(UserType::Employee),
            ..GalleryFilter::default()
        });
        assert_eq!(employees.matches("<article").count(), 1, "{employees}");
        assert!(employees.contains("data-id=\"7\" data-event-type=\"UserCreated\""));
        // The kind filter's counts follow the user type chosen.
        assert!(
            employees.contains("href=\"/?kind=goodbye&user_type=employee\" data-filter=\"goodbye\">Goodbye<span class=\"n\">0</span>"),
            "{employees}"
        );
        let goodbyes = render(GalleryFilter {
            kind: Some(EmailKind::Goodbye),
            ..GalleryFilter::default()
        });
        assert_eq!(goodbyes.matches("<article").count(), 1, "{goodbyes}");
        assert!(goodbyes.contains("data-kind=\"goodbye\" data-user-type=\"client\""));
        let none = render(GalleryFilter {
            kind: Some(EmailKind::PaymentReceipt),
            ..GalleryFilter::default()
        });
        assert!(none.contains("No email matches these filters."), "{none}");
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
