//! The whole flow, as a user sees it: users created through store-manager's API (SQLite,
//! the real broker), coolriel consuming the same topic writes their welcome emails, and its
//! gallery, opened in a real headless browser (Debian's `chromium`), lists and opens them.
//! A missing chromium fails the test (scripts/test.sh installs it); it is never skipped.

use std::path::Path;
use std::time::{Duration, Instant};

use test_support::Backend;
use test_support::browser::{chromium, dump_dom};

use crate::helpers::spawn_app;

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
        templates_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates")),
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
