//! The real binary, on SQLite: its outbox actor restarted after panics (the test-only
//! fault hook), one log line each and no event lost; a crash loop ends the process with a
//! failure; and with the broker gone, a SIGTERM ends it within
//! `STORE_MANAGER_SHUTDOWN_TIMEOUT_MS`, non-zero because an event is left in the outbox,
//! which the next start publishes.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::process::{terminate, wait_for_exit};
use test_support::{PrivateBroker, kafka};

/// The binary on port 0 (it logs the port it bound) with its log in `log`.
fn start(
    database_url: &str,
    bootstrap: &str,
    topic: &str,
    log: &Path,
    env: &[(&str, &str)],
) -> (Child, SocketAddr) {
    crate::helpers::spawn_binary(database_url, bootstrap, topic, "process-test", log, env)
}

/// A test's own SQLite database, topic (on the broker at `bootstrap`) and log file.
struct Scene {
    _dir: tempfile::TempDir,
    url: String,
    topic: String,
    log: std::path::PathBuf,
}

async fn scene(bootstrap: &str) -> Scene {
    test_support::init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let topic = test_support::unique("user-events");
    kafka::create_topic(bootstrap, &topic, 3).await;
    Scene {
        url: format!("sqlite://{}/store.db?mode=rwc", dir.path().display()),
        log: dir.path().join("store-manager.log"),
        topic,
        _dir: dir,
    }
}

async fn create_user(client: &reqwest::Client, addr: SocketAddr, n: usize) -> i64 {
    let response = client
        .post(format!("http://{addr}/users"))
        .json(&json!({"name": format!("Process {n}"), "email": format!("process{n}@example.com")}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.expect("JSON")["user_id"]
        .as_i64()
        .expect("user_id")
}

async fn read_ids(bootstrap: &str, topic: &str, expected: usize) -> Vec<i64> {
    let records = kafka::read_topic_async(
        bootstrap,
        topic,
        expected,
        Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    records
        .iter()
        .map(|record| record.json()["id"].as_i64().expect("id"))
        .collect()
}

fn restart_lines(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|line| {
            line.contains("actor restarted by its supervisor") && line.contains("OutboxActor")
        })
        .collect()
}

#[actix_web::test]
async fn outbox_panics_restart_the_actor_with_one_line_each_and_lose_no_event() {
    let bootstrap = kafka::bootstrap();
    let Scene {
        url, topic, log, ..
    } = &scene(&bootstrap).await;
    // The 3rd and the 6th rounds panic (the start-up round is the first; then the rounds
    // woken by the requests, and the fallback poll's every 200 ms).
    let (mut child, addr) = start(
        url,
        &bootstrap,
        topic,
        log,
        &[("STORE_MANAGER_FAULT_OUTBOX_PANIC", "every=3,times=2")],
    );
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(create_user(&client, addr, n).await);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while restart_lines(&std::fs::read_to_string(log).expect("logs")).len() < 2 {
        assert!(Instant::now() < deadline, "two restarts expected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut published = read_ids(&bootstrap, topic, ids.len()).await;
    published.sort_unstable();
    published.dedup();
    assert_eq!(published, ids, "every committed user, published");
    terminate(&child);
    let status = wait_for_exit(&mut child, Duration::from_secs(20)).expect("exits");
    assert!(status.success(), "{status}");
    let logs = std::fs::read_to_string(log).expect("logs");
    let lines = restart_lines(&logs);
    assert_eq!(lines.len(), 2, "one line per restart:\n{logs}");
    for (n, line) in lines.iter().enumerate() {
        assert!(line.contains("cause=injected fault (test only)"), "{line}");
        assert!(line.contains(&format!("restarts={}", n + 1)), "{line}");
    }
}

#[actix_web::test]
async fn an_outbox_actor_in_a_crash_loop_ends_the_process_with_a_failure() {
    let bootstrap = kafka::bootstrap();
    let Scene {
        url, topic, log, ..
    } = &scene(&bootstrap).await;
    let started = Instant::now();
    // Every round panics, the start-up one first.
    let (mut child, _) = start(
        url,
        &bootstrap,
        topic,
        log,
        &[
            ("STORE_MANAGER_FAULT_OUTBOX_PANIC", "every=1"),
            ("STORE_MANAGER_RESTART_LIMIT", "3"),
            ("STORE_MANAGER_SHUTDOWN_TIMEOUT_MS", "5000"),
        ],
    );
    let status = wait_for_exit(&mut child, Duration::from_secs(60)).expect("stops by itself");
    let logs = std::fs::read_to_string(log).expect("logs");
    assert!(!status.success(), "{status}:\n{logs}");
    eprintln!(
        "stopped by the restart budget after {:?}",
        started.elapsed()
    );
    assert!(restart_lines(&logs).len() >= 3, "{logs}");
    assert!(logs.contains("restart budget exhausted"), "{logs}");
}

#[actix_web::test]
async fn sigterm_with_the_broker_gone_exits_within_the_bound_and_the_next_start_publishes_what_was_left()
 {
    let mut broker = PrivateBroker::start();
    let bootstrap = broker.bootstrap();
    let Scene {
        url, topic, log, ..
    } = &scene(&bootstrap).await;
    let env = [("STORE_MANAGER_SHUTDOWN_TIMEOUT_MS", "5000")];
    let (mut first, addr) = start(url, &bootstrap, topic, log, &env);
    let client = reqwest::Client::new();
    let before = create_user(&client, addr, 1).await;
    assert_eq!(read_ids(&bootstrap, topic, 1).await, vec![before]);

    broker.stop();
    // Committed, and stuck in the outbox: the broker is gone.
    let stranded = create_user(&client, addr, 2).await;
    let terminated = Instant::now();
    terminate(&first);
    // The bound (5 s) and a margin for the exit itself; the producer alone waits 30 s.
    let status = wait_for_exit(&mut first, Duration::from_secs(9));
    let took = terminated.elapsed();
    let logs = std::fs::read_to_string(log).expect("logs");
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM:\n{logs}"));
    eprintln!("exited {status} {took:?} after SIGTERM with the broker gone");
    assert!(
        !status.success(),
        "an event was left in the outbox: the exit must say so:\n{logs}"
    );

    broker.resume();
    let (mut second, _) = start(url, &bootstrap, topic, log, &env);
    let mut published = read_ids(&bootstrap, topic, 2).await;
    published.sort_unstable();
    assert_eq!(
        published,
        vec![before, stranded],
        "nothing lost, nothing twice"
    );
    terminate(&second);
    let status = wait_for_exit(&mut second, Duration::from_secs(20)).expect("exits");
    assert!(
        status.success(),
        "everything published: exit 0, not {status}"
    );
}
