//! Fuzz target `templates`: hostile events into the email templates
//! ([`coolriel::templates::Templates`], loaded from the repository's `templates/`) and
//! into the files coolriel writes for them ([`coolriel::handlers::email::Mailer`]).
//!
//! Names, emails, product names and SKUs are whatever a client typed into store-manager,
//! and they reach the HTML emails as typed. Each input becomes one email case (kind, user
//! type, ids, names, emails, order lines, amounts, date), in one of two ways: if the bytes
//! decode as an event ([`shared_events::decode`]; seeds in `fuzz/seeds/templates/`), the
//! case is the email coolriel writes for that event (`UserCreated` → welcome,
//! `UserDeleted` → goodbye, `OrderCreated` → order confirmation, `OrderPaid` → payment
//! receipt); otherwise the bytes are read as structured data with [`arbitrary`]. Each
//! case is written by a [`Mailer`], as its handler would do it, and then checked:
//!
//! - **no panic**, and **rendering succeeds**: the data always has every field the strict
//!   templates use, so a render error would dead-letter a valid event;
//! - **file names stay inside `OUTPUT_DIR`**: [`email_file_name`] gives
//!   `{prefix}_{id}.{html,txt}` from the numeric id alone, as one plain path component,
//!   and the mailer, with its text part on (`COOLRIEL_TEXT_FILES=true`; off, it writes the
//!   same HTML file alone), writes exactly those two files directly in its output
//!   directory and nothing else there (the files are read back, then removed);
//! - **every value is escaped in HTML, and only escaped**: the email is rendered again
//!   with each fuzzed string (the name, the email, each line's product name and SKU)
//!   replaced by a unique placeholder. The HTML file must be exactly that rendering with
//!   each placeholder replaced by the HTML-escaped value, and the text file exactly that
//!   rendering with the raw value. So a name with markup (`<`, `>`, `"`, `&`, `'`) shows
//!   up in the HTML only in its escaped form, everywhere the template uses it. (A plain
//!   "the HTML does not contain the raw name" check would not work: a name like `<p>` is
//!   also template text, and `&` is part of every entity.) The escaped form is also
//!   checked without relying on Handlebars: it has no `<`, `>`, `"` or `'`, and decoding
//!   its entities gives back the original value.
//!
//! The templates are the repository's `templates/`, or `$COOLRIEL_FUZZ_TEMPLATES_DIR` (to
//! fuzz changed templates, or to see the target catch a broken one). The output directory is `$COOLRIEL_FUZZ_OUTPUT_DIR` (scripts/fuzz.sh points it at a
//! temporary directory, in /dev/shm when there is one), or a directory per process under
//! the system's temporary directory.
#![no_main]

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, LazyLock};

use arbitrary::{Arbitrary, Unstructured};
use chrono::DateTime;
use coolriel::EventContext;
use coolriel::handlers::email::{EmailSubject, Mailer};
use coolriel::output::OutputDir;
use coolriel::templates::{
    EmailData, EmailKind, Format, OrderEmailData, OrderView, RenderedEmail, Templates,
    UserView, email_file_name,
};
use libfuzzer_sys::fuzz_target;
use shared_events::{Decoded, Event, LabDateTime, Money, OrderItem, UserType, decode};

static TEMPLATES: LazyLock<Arc<Templates>> = LazyLock::new(|| {
    let dir = match std::env::var_os("COOLRIEL_FUZZ_TEMPLATES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates"),
    };
    match Templates::load(&dir) {
        Ok(templates) => Arc::new(templates),
        Err(error) => panic!("cannot load the templates from {}: {error}", dir.display()),
    }
});

static OUTPUT_DIR: LazyLock<PathBuf> = LazyLock::new(|| {
    let dir = match std::env::var_os("COOLRIEL_FUZZ_OUTPUT_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("coolriel-fuzz-output-{}", std::process::id())),
    };
    if let Err(error) = std::fs::create_dir_all(&dir) {
        panic!(
            "cannot create the output directory {}: {error}",
            dir.display()
        );
    }
    dir
});

/// [`OUTPUT_DIR`], opened once as the service opens its own.
static OUTPUT: LazyLock<Arc<OutputDir>> = LazyLock::new(|| match OutputDir::open(OUTPUT_DIR.as_path()) {
    Ok(output) => Arc::new(output),
    Err(error) => panic!("cannot open {}: {error}", OUTPUT_DIR.display()),
});

fuzz_target!(|data: &[u8]| {
    let case = match decode(data) {
        Ok(Decoded::Event(envelope)) => Case::from_event(envelope.event, envelope.datetime),
        _ => Input::arbitrary_take_rest(Unstructured::new(data))
            .ok()
            .map(Input::into_case),
    };
    if let Some(case) = case {
        check(&case);
    }
});

/// One email to write: what a handler takes from its event.
#[derive(Debug, Clone)]
struct Case {
    kind: EmailKind,
    user_type: UserType,
    /// The user's id for the user emails, the order's for the order emails.
    id: i64,
    user_id: i64,
    name: String,
    email: String,
    items: Vec<OrderItem>,
    total: Money,
    when: LabDateTime,
}

impl Case {
    /// The email coolriel writes for `event`, if any (none for `OrderDeleted`).
    fn from_event(event: Event, when: LabDateTime) -> Option<Case> {
        let user = |kind, id, name, email, user_type| Case {
            kind,
            user_type,
            id,
            user_id: id,
            name,
            email,
            items: Vec::new(),
            total: Money::ZERO,
            when,
        };
        let order = |kind, id, user_id, name, email, user_type, items, total| Case {
            kind,
            user_type,
            id,
            user_id,
            name,
            email,
            items,
            total,
            when,
        };
        Some(match event {
            Event::UserCreated(e) => user(EmailKind::Welcome, e.id, e.name, e.email, e.user_type),
            Event::UserDeleted(e) => user(EmailKind::Goodbye, e.id, e.name, e.email, e.user_type),
            Event::OrderCreated(e) => order(
                EmailKind::OrderConfirmation,
                e.id,
                e.user_id,
                e.user_name,
                e.user_email,
                e.user_type,
                e.items,
                e.total,
            ),
            Event::OrderPaid(e) => order(
                EmailKind::PaymentReceipt,
                e.id,
                e.user_id,
                e.user_name,
                e.user_email,
                e.user_type,
                e.items,
                e.total,
            ),
            Event::OrderDeleted(_) => return None,
        })
    }

    fn is_order(&self) -> bool {
        EmailKind::ORDER.contains(&self.kind)
    }

    /// Every string of the case that came from the input, with its placeholder.
    fn strings(&self) -> Vec<(String, &str)> {
        let mut strings = vec![
            (placeholder("name"), self.name.as_str()),
            (placeholder("email"), self.email.as_str()),
        ];
        if self.is_order() {
            for (index, item) in self.items.iter().enumerate() {
                strings.push((placeholder(&format!("item{index}.name")), &item.name));
                strings.push((placeholder(&format!("item{index}.sku")), &item.sku));
            }
        }
        strings
    }

    /// The same case with every input string replaced by its placeholder.
    fn with_placeholders(&self) -> Case {
        let mut case = self.clone();
        case.name = placeholder("name");
        case.email = placeholder("email");
        for (index, item) in case.items.iter_mut().enumerate() {
            item.name = placeholder(&format!("item{index}.name"));
            item.sku = placeholder(&format!("item{index}.sku"));
        }
        case
    }

    /// Rendered by the templates directly (the mailer renders the real case).
    fn render(&self) -> RenderedEmail {
        let rendered = if self.is_order() {
            TEMPLATES.render(self.kind, self.user_type, &self.order_data())
        } else {
            TEMPLATES.render(self.kind, self.user_type, &self.user_data())
        };
        rendered.unwrap_or_else(|error| panic!("{self:?} does not render: {error}"))
    }

    fn user_data(&self) -> EmailData {
        EmailData::new(self.id, &self.name, &self.email, self.user_type, &self.when)
    }

    fn order_data(&self) -> OrderEmailData {
        OrderEmailData::new(self.order_view(), &self.when)
    }

    fn order_view(&self) -> OrderView<'_> {
        OrderView {
            order_id: self.id,
            user_id: self.user_id,
            user_name: &self.name,
            user_email: &self.email,
            user_type: self.user_type,
            items: &self.items,
            total: self.total,
        }
    }
}

/// Marks a placeholder: a private-use character, which neither escaping nor the templates
/// produce. A case whose strings contain it skips the placeholder comparison.
const MARK: char = '\u{E000}';

fn placeholder(field: &str) -> String {
    format!("{MARK}{field}{MARK}")
}

fn check(case: &Case) {
    check_file_names(case);
    let written = write_with_mailer(case);
    check_escaping(case, &written);
}

fn check_escaping(case: &Case, written: &RenderedEmail) {
    let strings = case.strings();
    for (_, value) in &strings {
        check_escaped(value, &handlebars::html_escape(value));
    }
    if strings.iter().any(|(_, value)| value.contains(MARK)) {
        return;
    }
    let skeleton = case.with_placeholders().render();
    let name = placeholder("name");
    assert!(
        skeleton.html.contains(&name) && skeleton.text.contains(&name),
        "the {:?} email does not show the name",
        case.kind
    );
    let mut html = skeleton.html;
    let mut text = skeleton.text;
    for (placeholder, value) in &strings {
        html = html.replace(placeholder, &handlebars::html_escape(value));
        text = text.replace(placeholder, value);
    }
    assert_eq!(
        written.html, html,
        "the HTML shows an input string other than escaped: {case:?}"
    );
    assert_eq!(
        written.text, text,
        "the plain text shows an input string other than as it is: {case:?}"
    );
}

/// `escaped` is safe in HTML text and in a quoted attribute, and means `value`.
fn check_escaped(value: &str, escaped: &str) {
    for markup in ['<', '>', '"', '\''] {
        assert!(
            !escaped.contains(markup),
            "{value:?} escapes to {escaped:?}, which still has {markup:?}"
        );
    }
    assert_eq!(
        unescape(escaped).as_deref(),
        Some(value),
        "{escaped:?} does not read back as {value:?}"
    );
}

/// Reads character references back (`&amp;`, `&#x27;`, `&#60;`, ...); `None` for an `&`
/// that starts none.
fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find(';')?;
        let reference = &after[..end];
        let decoded = match reference {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = reference.strip_prefix('#')?;
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(decoded);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The handlers' output paths: `OUTPUT_DIR/{prefix}_{id}.{ext}`, from the numeric id only.
fn check_file_names(case: &Case) {
    let dir = Path::new("output");
    for format in Format::ALL {
        let file = email_file_name(case.kind, case.id, format);
        assert_eq!(
            file,
            format!(
                "{}_{}.{}",
                case.kind.file_prefix(),
                case.id,
                format.extension()
            )
        );
        let path = dir.join(&file);
        let components: Vec<_> = path.components().collect();
        assert_eq!(
            components,
            [
                Component::Normal("output".as_ref()),
                Component::Normal(file.as_ref())
            ],
            "{file:?} leaves the output directory"
        );
    }
}

/// Writes the case's email as its handler would with its text part on, checks that the
/// [`Mailer`] wrote the two files in its directory and no other, and returns their
/// contents (removing them).
fn write_with_mailer(case: &Case) -> RenderedEmail {
    // A mailer per case, as cheap as a handler's (the templates are shared): its list of
    // files to sync stays short, and the files are whole once linked into place, which is
    // all this checks (durability is `Mailer::sync`'s, not fuzzed). The text part is on
    // (`COOLRIEL_TEXT_FILES=true`) because it is where an unescaped value shows as typed;
    // the HTML file is written the same way with it off.
    let mut mailer =
        Mailer::new(Arc::clone(&TEMPLATES), Arc::clone(&OUTPUT)).with_text_files(true);
    let dir = OUTPUT_DIR.as_path();
    let context = EventContext {
        topic: "user-events".to_owned(),
        partition: 0,
        offset: 0,
        key: Some(case.id.to_string()),
        timestamp_ms: None,
        event_id: None,
        datetime: case.when,
    };
    let written = if case.is_order() {
        mailer.send(case.kind, EmailSubject::Order(case.order_view()), &context)
    } else {
        let user = UserView {
            id: case.id,
            name: &case.name,
            email: &case.email,
            user_type: case.user_type,
        };
        mailer.send(case.kind, EmailSubject::User(user), &context)
    };
    // A render error (the data lacks a field a strict template uses) would be a permanent
    // failure: the event dead-lettered, its email never written.
    let html_path = written.unwrap_or_else(|error| panic!("{case:?} was not written: {error}"));
    let text_path = dir.join(email_file_name(case.kind, case.id, Format::Text));
    assert_eq!(
        html_path,
        dir.join(email_file_name(case.kind, case.id, Format::Html))
    );
    assert_eq!(html_path.parent(), Some(dir));
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
    };
    let written = RenderedEmail {
        html: read(&html_path),
        text: read(&text_path),
    };
    for path in [&html_path, &text_path] {
        if let Err(error) = std::fs::remove_file(path) {
            panic!("cannot remove {}: {error}", path.display());
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.file_name()))
        .collect();
    assert!(
        left.is_empty(),
        "the mailer wrote more than its two files: {left:?}"
    );
    written
}

/// The structured form of an input that is not an event.
#[derive(Debug, Arbitrary)]
struct Input {
    kind: u8,
    user_type: u8,
    id: i64,
    user_id: i64,
    seconds: i64,
    nanos: u32,
    total_cents: i64,
    name: String,
    email: String,
    items: Vec<Item>,
}

#[derive(Debug, Arbitrary)]
struct Item {
    product_id: i64,
    unit_price_cents: i64,
    quantity: i64,
    line_total_cents: i64,
    name: String,
    sku: String,
}

impl Input {
    fn into_case(self) -> Case {
        let kinds = EmailKind::ALL;
        let when = DateTime::from_timestamp(self.seconds, self.nanos).unwrap_or_default();
        Case {
            kind: kinds[usize::from(self.kind) % kinds.len()],
            user_type: UserType::ALL[usize::from(self.user_type) % UserType::ALL.len()],
            id: self.id,
            user_id: self.user_id,
            name: self.name,
            email: self.email,
            items: self
                .items
                .into_iter()
                .map(|item| OrderItem {
                    product_id: item.product_id,
                    name: item.name,
                    sku: item.sku,
                    unit_price: Money::from_cents(item.unit_price_cents),
                    quantity: item.quantity,
                    line_total: Money::from_cents(item.line_total_cents),
                })
                .collect(),
            total: Money::from_cents(self.total_cents),
            when: LabDateTime::from_utc(when),
        }
    }
}
