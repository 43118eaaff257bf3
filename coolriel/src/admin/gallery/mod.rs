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
//! [`email_file_name`](crate::templates::email_file_name) makes them (no `/`, no `..`, no hidden file, not `history.jsonl`,
//! not a temporary file), and only regular files (not a symbolic link that would lead
//! out of the directory). Anything else is a 404 with a JSON body, so no path trick
//! reads outside `OUTPUT_DIR`.

pub mod files;
pub mod listing;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use handlebars::Handlebars;
use serde::{Deserialize, Serialize};
use shared_events::UserType;

pub use listing::{
    EmailEvent, EmailFile, ListedEmail, email_events, last_lines, list_emails,
    parse_email_file_name,
};

use super::{AdminState, error_response, html_page};
use crate::templates::{EmailKind, user_type_slug};

/// Cards on one page of the gallery: each is a frame that loads its email.
const PER_PAGE: usize = 48;

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

fn user_type_title(user_type: UserType) -> &'static str {
    match user_type {
        UserType::Client => "Client",
        UserType::Employee => "Employee",
        UserType::Manager => "Manager",
    }
}

/// History records read at most, from the end, to find each email's event.
const HISTORY_LINES_SCANNED: usize = 5000;
/// The gallery reloads itself this often (seconds): the counts and the list stay live.
const REFRESH_SECONDS: u32 = 5;

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
        Ok(GalleryFilter {
            kind: chosen(&self.kind, EmailKind::ALL, kind_label).map_err(|value| {
                format!("unknown kind {value:?}: welcome, goodbye, order or receipt")
            })?,
            user_type: chosen(&self.user_type, UserType::ALL, user_type_slug).map_err(|value| {
                format!("unknown user_type {value:?}: client, employee or manager")
            })?,
            page: self.page.unwrap_or(1).max(1),
        })
    }
}

/// The choice among `all` whose name is `value` (`None` when absent or empty), or the
/// value that names none.
fn chosen<T: Copy>(
    value: &Option<String>,
    all: impl IntoIterator<Item = T>,
    name: fn(T) -> &'static str,
) -> Result<Option<T>, String> {
    match value.as_deref().filter(|value| !value.is_empty()) {
        None => Ok(None),
        Some(value) => all
            .into_iter()
            .find(|choice| name(*choice) == value)
            .map(Some)
            .ok_or_else(|| value.to_owned()),
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
    html_page(
        render_gallery(&state.output_dir, &emails, &events, &counts, filter),
        "the gallery",
    )
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
        query.push(format!("user_type={}", user_type_slug(user_type)));
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
    let (kinds, user_types) = filter_choices(emails, events, filter);
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

/// The choices of both filters, each counting the emails it would show (the other
/// filter kept) and linking to them.
fn filter_choices(
    emails: &[ListedEmail],
    events: &HashMap<(EmailKind, i64), EmailEvent>,
    filter: GalleryFilter,
) -> (Vec<FilterChoice>, Vec<FilterChoice>) {
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
            value: user_type.map_or("", user_type_slug),
            label: user_type.map_or("All", user_type_title),
            count: count(filter.kind, user_type),
            active: filter.user_type == user_type,
            href: gallery_href(filter.kind, user_type, 1),
        })
        .collect();
    (kinds, user_types)
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
        user_type: event.map_or("unknown", |event| user_type_slug(event.user_type)),
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

#[cfg(test)]
mod tests;
