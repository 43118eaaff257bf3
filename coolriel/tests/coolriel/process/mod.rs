//! The built binary against the real broker: killed with SIGKILL in the middle of the
//! work and restarted, nothing is lost and no email is partial; SIGTERM exits 0 quickly;
//! `LOG_FORMAT=json` logs lines that follow one event by its `event_id`; partition actors
//! that panic (the test-only fault hook) are restarted where they stored their offset,
//! and a process whose actors keep panicking exits non-zero; with its broker gone, a
//! SIGTERM still ends the process within `COOLRIEL_SHUTDOWN_TIMEOUT_MS` (those three in
//! [`supervision`]).

mod supervision;

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::*;

/// Start `coolriel` (the service) with its output in `output` and its logs in `log`.
fn spawn_service(topic: &str, group: &str, output: &Path, log: &Path) -> Child {
    spawn_service_with(topic, group, output, log, &[])
}

/// [`spawn_service`] with more environment variables.
fn spawn_service_with(
    topic: &str,
    group: &str,
    output: &Path,
    log: &Path,
    extra_env: &[(&str, &str)],
) -> Child {
    let log = File::options()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_coolriel"))
        // A working directory of its own, so no developer's .env is picked up.
        .current_dir(output.parent().expect("parent"))
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_GROUP_ID", group)
        .env("COOLRIEL_TOPICS", topic)
        .env("OUTPUT_DIR", output)
        .env("TEMPLATES_DIR", templates_dir())
        // Both parts: a SIGKILL must never leave an HTML file without its text beside it.
        .env("COOLRIEL_TEXT_FILES", "true")
        // The killed member must leave the group quickly for the restart to get its
        // partitions (6 s is the smallest session timeout Kafka accepts).
        .env("KAFKA_SESSION_TIMEOUT_MS", "6000")
        .env("RUST_LOG", "info,librdkafka=warn")
        // Several tests run at once: no fixed port.
        .env("COOLRIEL_ADMIN_ADDR", "127.0.0.1:0")
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start coolriel")
}

/// The exit status of `child`; panics (once it is killed) when it does not exit in time.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    test_support::process::wait_for_exit(child, timeout)
        .unwrap_or_else(|| panic!("coolriel did not exit within {timeout:?}"))
}

/// Every welcome email present is whole: its HTML ends the document, its text is there.
fn assert_emails_whole(dir: &Path) -> usize {
    let mut count = 0;
    for name in files(dir) {
        let Some(id) = name
            .strip_prefix("welcome_")
            .and_then(|rest| rest.strip_suffix(".html"))
        else {
            continue;
        };
        let html = std::fs::read_to_string(dir.join(&name)).expect("read email");
        assert!(html.ends_with("</html>\n"), "{name} is partial: {html:?}");
        assert!(
            html.contains(&format!("user{id}@example.com")),
            "{name} is not user {id}'s"
        );
        let text = std::fs::read_to_string(dir.join(format!("welcome_{id}.txt")))
            .expect("text beside html");
        assert!(text.contains(&format!("User {id}")), "welcome_{id}.txt");
        count += 1;
    }
    count
}

/// A test's own topic of 3 partitions holding `users` UserCreated events, its group, and
/// where the service writes (`output`) and logs (`log`).
struct Backlog {
    topic: String,
    group: String,
    output: std::path::PathBuf,
    log: std::path::PathBuf,
    _root: tempfile::TempDir,
}

async fn backlog(prefix: &str, users: i64) -> Backlog {
    init_logs();
    let topic = unique(prefix);
    let root = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, 3).await;
    let producer = producer(&bootstrap());
    for id in 1..=users {
        publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
    }
    Backlog {
        topic,
        group: unique("coolriel"),
        output: root.path().join("output"),
        log: root.path().join("coolriel.log"),
        _root: root,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_with_sigkill_mid_batch_then_restarted_loses_nothing() {
    let users: i64 = 600;
    let Backlog {
        topic,
        group,
        output,
        log,
        _root,
    } = backlog("sigkill", users).await;

    let mut first = spawn_service(&topic, &group, &output, &log);
    eventually("some emails written", TIMEOUT, || {
        count_prefixed(&output, "welcome_", ".html") >= 30
    })
    .await;
    first.kill().expect("SIGKILL");
    wait_for_exit(&mut first, Duration::from_secs(10));
    let at_kill = assert_emails_whole(&output);
    eprintln!("killed after {at_kill} of {users} emails");
    assert!(
        at_kill < users as usize,
        "the kill came after all {users} emails; the test needs more work in flight"
    );

    let restarted = Instant::now();
    let mut second = spawn_service(&topic, &group, &output, &log);
    eventually("every email after the restart", TIMEOUT, || {
        count_prefixed(&output, "welcome_", ".html") == users as usize
    })
    .await;
    eprintln!("restart finished the work in {:?}", restarted.elapsed());
    assert_eq!(assert_emails_whole(&output), users as usize);

    // SIGTERM: drain, commit, exit 0 within a few seconds.
    let terminated = Instant::now();
    test_support::process::terminate(&second);
    let status = wait_for_exit(&mut second, Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(
        terminated.elapsed() < Duration::from_secs(5),
        "took {:?}",
        terminated.elapsed()
    );

    // No temporary file is left, and the history has every user (at least once: what
    // was done but not committed at the kill was handled again) and no partial line.
    let leftovers: Vec<String> = files(&output)
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let history = history(&output);
    let ids: std::collections::BTreeSet<i64> = history
        .iter()
        .map(|record| record.event.event.aggregate_id())
        .collect();
    assert_eq!(ids.len(), users as usize);
    let high: Vec<i64> = watermarks(&bootstrap(), &topic, 3)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    assert_eq!(committed(&bootstrap(), &topic, &group, 3), high);
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(logs.contains("signal received; shutting down"), "{logs}");
    // stderr is a file, not a terminal: no colour codes.
    assert!(!logs.contains('\u{1b}'), "escape codes in the log file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_follow_one_event_by_its_id_to_the_email_written() {
    init_logs();
    let topic = unique("jsonlogs");
    let group = unique("coolriel");
    let root = tempfile::tempdir().expect("temp dir");
    let output = root.path().join("output");
    let log = root.path().join("coolriel.log");
    create_topic(&topic, 1).await;
    let envelope = created(7);
    let event_id = envelope
        .event_id
        .expect("our events have an id")
        .to_string();
    let (_, offset) = publish(&producer(&bootstrap()), &topic, Some(0), &envelope, None).await;

    let mut service = spawn_service_with(&topic, &group, &output, &log, &[("LOG_FORMAT", "json")]);
    eventually("the welcome email", TIMEOUT, || {
        output.join("welcome_7.html").exists()
    })
    .await;
    test_support::process::terminate(&service);
    let status = wait_for_exit(&mut service, Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(!logs.contains('\u{1b}'), "escape codes in the log file");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect();
    let of_the_event: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["span"]["event_id"] == event_id.as_str())
        .collect();
    let written = of_the_event
        .iter()
        .find(|line| line["fields"]["message"] == "email written")
        .unwrap_or_else(|| panic!("no \"email written\" line for event {event_id} in\n{logs}"));
    let span = &written["span"];
    assert_eq!(span["name"], "event");
    assert_eq!(span["topic"], topic.as_str());
    assert_eq!(span["partition"], 0);
    assert_eq!(span["offset"], offset);
    assert_eq!(span["event_type"], "UserCreated");
    assert_eq!(written["fields"]["actor"], "UserCreatedActor");
    assert!(
        written["fields"]["file"]
            .as_str()
            .is_some_and(|file| file.ends_with("welcome_7.html")),
        "{written}"
    );
}

/// Started from a directory with nothing of the repository in it, no `TEMPLATES_DIR` and
/// no `OUTPUT_DIR`: the built-in templates write the email into `output/` there, and the
/// start-up line names that directory in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_from_any_directory_with_its_built_in_templates() {
    init_logs();
    let topic = unique("anywhere");
    let group = unique("coolriel");
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log = log_dir.path().join("coolriel.log");
    create_topic(&topic, 1).await;
    publish(&producer(&bootstrap()), &topic, Some(0), &created(5), None).await;

    let log_file = File::create(&log).expect("log file");
    let mut service = Command::new(env!("CARGO_BIN_EXE_coolriel"))
        .current_dir(elsewhere.path())
        .env_remove("TEMPLATES_DIR")
        .env_remove("OUTPUT_DIR")
        .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap())
        .env("KAFKA_GROUP_ID", &group)
        .env("COOLRIEL_TOPICS", &topic)
        .env("COOLRIEL_ADMIN_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("start coolriel");
    let output = elsewhere.path().join("output");
    let written = eventually_or_exit(&mut service, &log, || {
        output.join("welcome_5.html").exists()
    });
    kill_term(&mut service);
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(
        written,
        "no welcome_5.html in {}:\n{logs}",
        output.display()
    );
    let html = std::fs::read_to_string(output.join("welcome_5.html")).expect("email");
    assert!(html.contains("user5@example.com"), "{html}");
    let starting = logs
        .lines()
        .find(|line| line.contains("starting"))
        .unwrap_or_else(|| panic!("no start-up line in\n{logs}"));
    assert!(
        starting.contains(&output.display().to_string()) && starting.contains("built in"),
        "{starting}"
    );
}

/// Waits up to [`TIMEOUT`] for `done`; false as soon as the process exits instead.
fn eventually_or_exit(child: &mut Child, log: &Path, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < TIMEOUT {
        if done() {
            return true;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let logs = std::fs::read_to_string(log).unwrap_or_default();
            panic!("coolriel exited ({status}):\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn kill_term(child: &mut Child) {
    test_support::process::terminate(child);
    let status = wait_for_exit(child, Duration::from_secs(10));
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
