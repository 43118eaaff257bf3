//! The email gallery in a real headless browser (Debian's `chromium`, run with
//! `--headless --no-sandbox`): users created and one deleted, then the page as the browser
//! built it (its DOM after load) shows one card per email with its kind, user type,
//! recipient, rendered preview and the event it came from (type, topic, partition,
//! offset), the counts of events handled, and filters by kind and user type that show
//! exactly the emails they name. An email and a template preview open, and a screenshot
//! of the gallery is kept as a test artifact (`<target dir>/test-artifacts/gallery.png`).
//!
//! A missing chromium fails the test (`scripts/test.sh` installs it; set `CHROMIUM` to use
//! another binary); it is never skipped.
//!
//! "Create users through the API": the store manager's API is another crate, so this
//! test publishes the `UserCreated` events it would publish (same key, headers and
//! payload, see `test_support::kafka::publish`) straight to the test's topic; the store manager's own
//! tests cover the API → topic half.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use coolriel::Coolriel;
use shared_events::{Event, EventEnvelope, UserCreated, UserDeleted, UserType};
use test_support::browser::{browse, chromium, dump_dom};

use crate::helpers::*;

/// Where the screenshot is kept: under the target directory, next to `tmp`.
fn artifact_path() -> PathBuf {
    let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    target_tmp
        .parent()
        .unwrap_or(target_tmp)
        .join("test-artifacts")
        .join("gallery.png")
}

fn user(id: i64, name: &str, user_type: UserType) -> EventEnvelope {
    EventEnvelope::new(Event::UserCreated(UserCreated {
        id,
        name: name.to_owned(),
        email: format!("user{id}@example.com"),
        user_type,
    }))
}

fn goodbye(id: i64, name: &str, user_type: UserType) -> EventEnvelope {
    EventEnvelope::new(Event::UserDeleted(UserDeleted {
        id,
        name: name.to_owned(),
        email: format!("user{id}@example.com"),
        user_type,
    }))
}

/// The attributes of each `<article>` of a DOM dump, in page order.
fn cards(dom: &str) -> Vec<BTreeMap<String, String>> {
    dom.split("<article ")
        .skip(1)
        .map(|rest| {
            let tag = rest.split('>').next().unwrap_or_default();
            tag.split("\" ")
                .filter_map(|pair| pair.split_once("=\""))
                .map(|(name, value)| {
                    (
                        name.trim().to_owned(),
                        value.trim_end_matches('"').to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

/// The text of each card (its markup from `<article` to `</article>`).
fn card_markup(dom: &str) -> Vec<&str> {
    dom.split("<article ")
        .skip(1)
        .map(|rest| rest.split("</article>").next().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_lists_and_opens_the_emails_in_a_headless_browser() {
    init_logs();
    // Fail at once, before the broker work, when there is no browser.
    let browser = chromium();
    assert!(browser.exists(), "no chromium at {}", browser.display());

    let topic = unique("gallery");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, 2).await;
    let service = Coolriel::start(config(&topic, &group, dir.path())).expect("start");
    let admin = service.admin_addr();

    let users = [
        (1, "Ada Lovelace", UserType::Client),
        (2, "Grace <Hopper>", UserType::Employee),
        (3, "Margaret Hamilton", UserType::Manager),
    ];
    let producer = producer(&bootstrap());
    let mut placed = Vec::new();
    for (id, name, user_type) in users {
        placed.push(publish(&producer, &topic, None, &user(id, name, user_type), None).await);
    }
    let gone = publish(
        &producer,
        &topic,
        None,
        &goodbye(1, "Ada Lovelace", UserType::Client),
        None,
    )
    .await;
    eventually(
        "the welcome and goodbye emails and their history",
        TIMEOUT,
        || {
            count_prefixed(dir.path(), "welcome_", ".html") == users.len()
                && count_prefixed(dir.path(), "welcome_", ".txt") == users.len()
                && dir.path().join("goodbye_1.html").exists()
                && history(dir.path()).len() == users.len() + 1
        },
    )
    .await;
    eventually("the events counted", TIMEOUT, || {
        sample(
            &get(admin, "/metrics").body,
            "coolriel_events_handled_total{event_type=\"UserCreated\",outcome=\"ok\"}",
        ) == Some(users.len() as f64)
    })
    .await;

    let base = format!("http://{admin}");
    let gallery_url = format!("{base}/");
    let dom = |path: &str| {
        let url = format!("{base}{path}");
        tokio::task::spawn_blocking(move || dump_dom(&url))
    };
    let gallery = tokio::task::spawn_blocking({
        let url = gallery_url.clone();
        move || dump_dom(&url)
    })
    .await
    .expect("browser thread");
    assert!(
        gallery.contains("<meta http-equiv=\"refresh\" content=\"5\">"),
        "{gallery}"
    );
    assert!(
        gallery.contains("data-event-type=\"UserCreated\">UserCreated <b>3</b>")
            && gallery.contains("data-event-type=\"UserDeleted\">UserDeleted <b>1</b>"),
        "the count of events by type:\n{gallery}"
    );

    // One card per email, each with its event: four in all, the goodbye newest or not.
    let shown = cards(&gallery);
    assert_eq!(shown.len(), users.len() + 1, "{gallery}");
    let card_of = |kind: &str, id: i64| {
        shown
            .iter()
            .position(|card| card["data-kind"] == kind && card["data-id"] == id.to_string())
            .unwrap_or_else(|| panic!("no {kind} card for user {id}:\n{gallery}"))
    };
    let markup = card_markup(&gallery);
    let slug = |user_type: UserType| format!("{user_type:?}").to_lowercase();
    for ((id, name, user_type), (partition, offset)) in users.iter().zip(&placed) {
        let at = card_of("welcome", *id);
        let card = &shown[at];
        assert_eq!(card["data-user-type"], slug(*user_type), "{card:?}");
        assert_eq!(card["data-event-type"], "UserCreated", "{card:?}");
        assert_eq!(card["data-topic"], topic, "{card:?}");
        assert_eq!(card["data-partition"], partition.to_string(), "{card:?}");
        assert_eq!(card["data-offset"], offset.to_string(), "{card:?}");
        // The DOM serialises text with `<` and `>` escaped: the name stayed text.
        let name_shown = name.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            markup[at].contains(&format!("{name_shown} · user {id}")),
            "user {id} ({name}) on its card:\n{}",
            markup[at]
        );
        assert!(
            markup[at].contains(&format!("<iframe src=\"/emails/welcome_{id}.html\"")),
            "the preview of welcome_{id}:\n{}",
            markup[at]
        );
        for extension in ["html", "txt"] {
            assert!(
                markup[at].contains(&format!("href=\"/emails/welcome_{id}.{extension}\"")),
                "the link to welcome_{id}.{extension}:\n{}",
                markup[at]
            );
        }
    }
    let farewell = &shown[card_of("goodbye", 1)];
    assert_eq!(
        (
            farewell["data-user-type"].as_str(),
            farewell["data-event-type"].as_str(),
            farewell["data-partition"].clone(),
            farewell["data-offset"].clone()
        ),
        (
            "client",
            "UserDeleted",
            gone.0.to_string(),
            gone.1.to_string()
        )
    );
    assert!(!gallery.contains("<Hopper>"), "unescaped name:\n{gallery}");

    // The filters, as their links are followed: each shows exactly what it names.
    let employees = dom("/?user_type=employee").await.expect("browser thread");
    let only: Vec<(String, String)> = cards(&employees)
        .iter()
        .map(|card| (card["data-kind"].clone(), card["data-id"].clone()))
        .collect();
    assert_eq!(
        only,
        [("welcome".to_owned(), "2".to_owned())],
        "{employees}"
    );
    assert!(
        employees.contains("class=\"chip active\" href=\"/?user_type=employee\""),
        "the chosen filter is marked:\n{employees}"
    );
    let goodbyes = dom("/?kind=goodbye").await.expect("browser thread");
    let only: Vec<(String, String)> = cards(&goodbyes)
        .iter()
        .map(|card| (card["data-kind"].clone(), card["data-user-type"].clone()))
        .collect();
    assert_eq!(
        only,
        [("goodbye".to_owned(), "client".to_owned())],
        "{goodbyes}"
    );
    let clients = dom("/?kind=welcome&user_type=client")
        .await
        .expect("browser thread");
    assert_eq!(cards(&clients).len(), 1, "{clients}");
    let nobody = dom("/?kind=receipt").await.expect("browser thread");
    assert!(
        cards(&nobody).is_empty() && nobody.contains("No email matches these filters."),
        "{nobody}"
    );
    let bad = get(admin, "/?user_type=admin");
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.json()["error"].is_string(), "{}", bad.body);

    // One email, opened as the link does.
    let email = tokio::task::spawn_blocking({
        let url = format!("{base}/emails/welcome_1.html");
        move || dump_dom(&url)
    })
    .await
    .expect("browser thread");
    assert!(
        email.contains(welcome_marker(UserType::Client)) && email.contains("Ada Lovelace"),
        "the welcome email of user 1:\n{email}"
    );

    // A template preview renders too.
    let preview = tokio::task::spawn_blocking({
        let url = format!("{base}/preview/welcome_manager");
        move || dump_dom(&url)
    })
    .await
    .expect("browser thread");
    assert!(
        preview.contains(welcome_marker(UserType::Manager)),
        "the preview of welcome_manager:\n{preview}"
    );

    let list = get(admin, "/preview");
    assert_eq!(list.status, 200);
    assert_eq!(
        list.body.matches("<a href=\"/preview/").count(),
        24,
        "{}",
        list.body
    );
    let text = get(admin, "/preview/payment_receipt_employee.txt");
    assert_eq!(text.status, 200, "{}", text.body);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    for unknown in [
        "/preview/welcome_admin",
        "/preview/welcome_client.json",
        "/preview/%FF",
    ] {
        let answer = get(admin, unknown);
        assert_eq!(answer.status, 404, "{unknown}: {}", answer.body);
        assert!(
            answer.json()["error"].is_string(),
            "{unknown}: {}",
            answer.body
        );
    }

    // The screenshot, kept as an artifact.
    let png = artifact_path();
    std::fs::create_dir_all(png.parent().expect("artifact dir")).expect("artifact dir");
    let _ = std::fs::remove_file(&png);
    tokio::task::spawn_blocking({
        let png = png.clone();
        move || {
            browse(
                &[
                    format!("--screenshot={}", png.display()),
                    "--window-size=1200,900".to_owned(),
                    "--hide-scrollbars".to_owned(),
                ],
                &gallery_url,
            )
        }
    })
    .await
    .expect("browser thread");
    let bytes = std::fs::read(&png)
        .unwrap_or_else(|error| panic!("no screenshot at {}: {error}", png.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 24,
        "{} is not a PNG ({} bytes)",
        png.display(),
        bytes.len()
    );
    // The header's size is the window's: the page was laid out at 1200 × 900.
    let dimension =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert_eq!(
        (dimension(16), dimension(20)),
        (1200, 900),
        "{}",
        png.display()
    );
    eprintln!("gallery screenshot: {}", png.display());

    service.shutdown().await.expect("clean shutdown");
}
