//! The gallery's names, listing, events, filters and page, and the files it serves.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::Path;
use std::time::SystemTime;

use shared_events::{Event, UserType};

use super::files::read_regular_file;
use super::*;
use crate::handlers::history::HistoryRecord;
use crate::templates::{EmailKind, Format};

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
