//! The email gallery in a real headless browser (Debian's `chromium`, run with
//! `--headless --no-sandbox`): users created, the gallery lists their emails with their
//! events, an email opens, and a screenshot of the gallery is kept as a test artifact
//! (`<target dir>/test-artifacts/gallery.png`).
//!
//! A missing chromium fails the test (`scripts/test.sh` installs it; set `CHROMIUM` to use
//! another binary); it is never skipped.
//!
//! "Create users through the API": the store manager's API is another crate, so this
//! test publishes the `UserCreated` events it would publish (same key, headers and
//! payload, see `common::publish`) straight to the test's topic; the store manager's own
//! tests cover the API → topic half.

mod common;

use std::path::{Path, PathBuf};

use test_support::browser::{browse, chromium, dump_dom};

use common::*;
use coolriel::Coolriel;
use shared_events::{Event, EventEnvelope, UserCreated, UserType};

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
    let producer = producer();
    let mut placed = Vec::new();
    for (id, name, user_type) in users {
        placed.push(publish(&producer, &topic, None, &user(id, name, user_type), None).await);
    }
    eventually("the welcome emails and their history", TIMEOUT, || {
        count_prefixed(dir.path(), "welcome_", ".html") == users.len()
            && count_prefixed(dir.path(), "welcome_", ".txt") == users.len()
            && history(dir.path()).len() == users.len()
    })
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
        gallery.contains("<td>UserCreated</td><td>3</td>"),
        "the count of events by type:\n{gallery}"
    );
    for ((id, name, _), (partition, offset)) in users.iter().zip(&placed) {
        // The DOM serialises text with `<` and `>` escaped: the name stayed text.
        let shown = name.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            gallery.contains(&format!("user {id} {shown}")),
            "user {id} ({name}) in the gallery:\n{gallery}"
        );
        assert!(
            gallery.contains(&format!(
                "<td>UserCreated</td><td class=\"topic\">{topic}</td><td>{partition}</td><td>{offset}</td>"
            )),
            "the event of user {id} (partition {partition}, offset {offset}):\n{gallery}"
        );
        for extension in ["html", "txt"] {
            assert!(
                gallery.contains(&format!("href=\"/emails/welcome_{id}.{extension}\"")),
                "the link to welcome_{id}.{extension}:\n{gallery}"
            );
        }
    }
    assert!(!gallery.contains("<Hopper>"), "unescaped name:\n{gallery}");

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
        bytes.len() > 1000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG ({} bytes)",
        png.display(),
        bytes.len()
    );
    eprintln!("gallery screenshot: {}", png.display());

    service.shutdown().await.expect("clean shutdown");
}
