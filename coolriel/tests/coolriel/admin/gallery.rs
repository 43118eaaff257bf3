//! The email gallery of a running service: the emails listed and served, and nothing
//! else (no other file, no path trick).

use std::os::unix::fs::PermissionsExt as _;

use coolriel::Coolriel;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gallery_lists_and_serves_the_emails_and_nothing_else() {
    init_logs();
    let user_topic = unique("gallery-users");
    let order_topic = unique("gallery-orders");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&user_topic, 1).await;
    create_topic(&order_topic, 1).await;
    let service = Coolriel::start(config_for(&[&user_topic, &order_topic], &group, dir.path()))
        .expect("start");
    let admin = service.admin_addr();

    let producer = producer(&bootstrap());
    publish(&producer, &user_topic, None, &created(1), None).await;
    publish(&producer, &user_topic, None, &deleted(1), None).await;
    publish(&producer, &order_topic, None, &order_created(12, 1), None).await;
    publish(&producer, &order_topic, None, &order_paid(12, 1), None).await;
    // Written last: the newest email.
    eventually("four emails", TIMEOUT, || {
        ["welcome_1", "goodbye_1", "order_12", "receipt_12"]
            .iter()
            .all(|stem| dir.path().join(format!("{stem}.html")).exists())
    })
    .await;
    publish(&producer, &user_topic, None, &created(2), None).await;
    eventually("the newest email", TIMEOUT, || {
        dir.path().join("welcome_2.html").exists() && history(dir.path()).len() == 5
    })
    .await;

    // Readable by everyone, like the history.
    for name in [
        "welcome_1.html",
        "welcome_1.txt",
        "receipt_12.html",
        "history.jsonl",
    ] {
        let mode = std::fs::metadata(dir.path().join(name))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{name}: {mode:o}");
    }

    let page = get(admin, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "{page:?}"
    );
    for stem in [
        "welcome_1",
        "goodbye_1",
        "order_12",
        "receipt_12",
        "welcome_2",
    ] {
        for extension in ["html", "txt"] {
            let name = format!("{stem}.{extension}");
            assert!(
                page.body
                    .contains(&format!("<a href=\"/emails/{name}\">{name}</a>")),
                "{name} not linked in\n{}",
                page.body
            );
        }
    }
    for kind in ["welcome", "goodbye", "order", "receipt"] {
        assert!(
            page.body.contains(&format!("kind-{kind}\"")),
            "{kind} not labelled"
        );
    }
    assert!(
        !page.body.contains("history.jsonl\""),
        "the history is not an email"
    );
    let position = |name: &str| page.body.find(name).expect("listed");
    assert!(
        position("welcome_2.html") < position("welcome_1.html"),
        "newest first:\n{}",
        page.body
    );

    let html = get(admin, "/emails/welcome_1.html");
    assert_eq!(html.status, 200);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(html.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        html.body,
        std::fs::read_to_string(dir.path().join("welcome_1.html")).expect("file")
    );
    assert!(html.body.contains(welcome_marker(user_type_of(1))));
    let text = get(admin, "/emails/receipt_12.txt");
    assert_eq!(text.status, 200);
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(text.body.contains("User 1"), "{}", text.body);

    let records = get(admin, "/history?limit=2");
    assert_eq!(records.status, 200);
    let records = records.json();
    let records = records.as_array().expect("an array");
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[1]["event_type"], "UserCreated");
    assert_eq!(records[1]["event"]["id"], 2);
    assert_eq!(
        get(admin, "/history").json().as_array().map(Vec::len),
        Some(5)
    );
    let bad = get(admin, "/history?limit=many");
    assert_eq!(bad.status, 400);
    assert!(bad.json()["error"].is_string());

    // Path tricks: nothing outside the directory, nothing but the emails.
    std::fs::write(dir.path().join(".hidden"), "secret").expect("hidden file");
    std::fs::write(dir.path().join(".welcome_3.html"), "secret").expect("hidden email");
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("welcome_99.html")).expect("symlink");
    for target in [
        "/emails/..%2F..%2Fetc%2Fpasswd",
        "/emails/../../etc/passwd",
        "/emails/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/emails/..",
        "/emails/%2e%2e",
        "/emails/.hidden",
        "/emails/.welcome_3.html",
        "/emails/history.jsonl",
        "/emails/welcome_99.html",
        "/emails/welcome_1.html%00",
        "/emails/welcome_1.html%2F..%2F..%2Fhistory.jsonl",
        "/emails/%2Fetc%2Fpasswd",
        "/emails/%FF",
        "/emails/",
        "/emails/welcome_4.html",
        "/../../etc/passwd",
    ] {
        let answer = get(admin, target);
        assert_eq!(answer.status, 404, "{target}: {answer:?}");
        assert!(answer.json()["error"].is_string(), "{target}: {answer:?}");
        assert!(
            !answer.body.contains("root:"),
            "{target} leaked /etc/passwd"
        );
        assert!(
            !answer.body.contains("secret"),
            "{target} leaked a hidden file"
        );
    }

    service.shutdown().await.expect("clean shutdown");
}
