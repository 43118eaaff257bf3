//! The whole flow, as a user sees it: users created through store-manager's API (SQLite,
//! the real broker), coolriel consuming the same topic writes their welcome emails, and its
//! gallery, opened in a real headless browser (Debian's `chromium`), lists and opens them.
//! A missing chromium fails the test (scripts/test.sh installs it); it is never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::spawn_app;
use test_support::Backend;

fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("chromium is not installed (apt-get install -y chromium, or set CHROMIUM)")
        })
}

/// The DOM of `url` after chromium rendered it.
fn dump_dom(url: &str) -> String {
    let profile = tempfile::tempdir().expect("browser profile");
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[actix_web::test]
async fn users_created_through_the_api_get_emails_listed_in_the_gallery() {
    let browser = chromium();
    let app = spawn_app(Backend::Sqlite).await;
    let output = tempfile::tempdir().expect("output dir");
    let config = coolriel::Config {
        bootstrap_servers: app.bootstrap.clone(),
        group_id: test_support::unique("coolriel-e2e"),
        topics: vec![app.topic.clone()],
        output_dir: output.path().to_owned(),
        templates_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates"),
        admin_addr: "127.0.0.1:0".parse().expect("address"),
        ..coolriel::Config::default()
    };
    let service = coolriel::Coolriel::start(config).expect("coolriel starts");
    let admin = service.admin_addr();

    let users = [
        ("Ada Lovelace", "ada.e2e@example.com", 1),
        ("Jean Dupont", "jean.e2e@example.com", 2),
        ("Da Big Boss", "boss.e2e@example.com", 3),
    ];
    let mut ids = Vec::new();
    for (name, email, user_type) in users {
        ids.push(app.create_user(name, email, Some(user_type)).await);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ids
        .iter()
        .all(|id| output.path().join(format!("welcome_{id}.html")).is_file())
    {
        assert!(
            Instant::now() < deadline,
            "the welcome emails never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let gallery = tokio::task::spawn_blocking(move || dump_dom(&format!("http://{admin}/")))
        .await
        .expect("browser thread");
    for ((name, _, _), id) in users.iter().zip(&ids) {
        assert!(
            gallery.contains(name),
            "{name} missing from the gallery:\n{gallery}"
        );
        assert!(
            gallery.contains(&format!("welcome_{id}.html")),
            "no link to welcome_{id}.html:\n{gallery}"
        );
    }
    let employee_id = ids[1];
    let email = tokio::task::spawn_blocking(move || {
        dump_dom(&format!("http://{admin}/emails/welcome_{employee_id}.html"))
    })
    .await
    .expect("browser thread");
    assert!(
        email.contains("Salut et bienvenue dans l'équipe !"),
        "the employee's welcome, opened from the gallery:\n{email}"
    );
    assert!(browser.exists());
    tokio::task::spawn_blocking(move || service.shutdown_blocking())
        .await
        .expect("shutdown thread")
        .expect("coolriel stops cleanly");
}
