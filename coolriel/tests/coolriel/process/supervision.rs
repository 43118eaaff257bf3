//! The built binary under the supervision faults: partition actors that panic mid-batch,
//! a crash loop that ends the process, a broker gone at shutdown.

use std::time::{Duration, Instant};

use test_support::PrivateBroker;

use super::*;
use crate::helpers::*;

/// The restart lines of partition actors in a log.
fn partition_restart_lines(logs: &str) -> Vec<&str> {
    logs.lines()
        .filter(|line| {
            line.contains("actor restarted by its supervisor") && line.contains("PartitionActor")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_actors_that_panic_mid_batch_are_restarted_and_skip_no_offset() {
    let users: i64 = 300;
    let Backlog {
        topic,
        group,
        output,
        log,
        _root,
    } = backlog("panics", users).await;

    // Three panics, each on a message received while others of its partition are in
    // flight (the actor pipelines up to COOLRIEL_MAX_IN_FLIGHT).
    let mut service = spawn_service_with(
        &topic,
        &group,
        &output,
        &log,
        &[("COOLRIEL_FAULT_PARTITION_PANIC", "every=70,times=3")],
    );
    eventually("every email despite the panics", TIMEOUT, || {
        count_prefixed(&output, "welcome_", ".html") == users as usize
    })
    .await;
    let high: Vec<i64> = watermarks(&bootstrap(), &topic, 3)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    eventually("every offset committed", TIMEOUT, || {
        committed(&bootstrap(), &topic, &group, 3) == high
    })
    .await;
    test_support::process::terminate(&service);
    let status = test_support::process::wait_for_exit(&mut service, Duration::from_secs(20))
        .expect("exits after SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");

    let logs = std::fs::read_to_string(&log).expect("logs");
    let restarts = partition_restart_lines(&logs);
    assert_eq!(
        restarts.len(),
        3,
        "one line per restart:\n{}",
        restarts.join("\n")
    );
    for line in &restarts {
        assert!(
            line.contains("cause=injected fault (test only)") && line.contains("restarts="),
            "the line names the cause and the count: {line}"
        );
    }
    // No offset skipped: every message of every partition is in the history (at least
    // once: what the crashed actors had in flight was handled again).
    let history = history(&output);
    for (partition, end) in high.iter().enumerate() {
        let seen: std::collections::BTreeSet<i64> = history
            .iter()
            .filter(|record| record.topic == topic && record.partition == partition as i32)
            .map(|record| record.offset)
            .collect();
        let missing: Vec<i64> = (0..*end).filter(|offset| !seen.contains(offset)).collect();
        assert!(
            missing.is_empty(),
            "partition {partition} skipped {missing:?}"
        );
    }
    assert_eq!(assert_emails_whole(&output), users as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_actors_keep_panicking_exits_non_zero_and_commits_nothing_unhandled() {
    init_logs();
    let topic = unique("crashloop");
    let group = unique("coolriel");
    let root = tempfile::tempdir().expect("temp dir");
    let output = root.path().join("output");
    let log = root.path().join("coolriel.log");
    create_topic(&topic, 1).await;
    let producer = producer(&bootstrap());
    for id in 1..=3 {
        publish(&producer, &topic, Some(0), &created(id), None).await;
    }
    // Every message received panics: the actor can never get past the first one.
    let started = Instant::now();
    let mut service = spawn_service_with(
        &topic,
        &group,
        &output,
        &log,
        &[
            ("COOLRIEL_FAULT_PARTITION_PANIC", "every=1"),
            ("COOLRIEL_RESTART_LIMIT", "3"),
            ("COOLRIEL_SHUTDOWN_TIMEOUT_MS", "5000"),
        ],
    );
    let status = test_support::process::wait_for_exit(&mut service, Duration::from_secs(60))
        .expect("it stops by itself");
    let logs = std::fs::read_to_string(&log).expect("logs");
    assert!(
        !status.success(),
        "a crash loop must end in a failure, not exit {status}:\n{logs}"
    );
    eprintln!(
        "stopped by the restart budget after {:?}",
        started.elapsed()
    );
    assert!(
        partition_restart_lines(&logs).len() >= 3,
        "restarted before giving up:\n{logs}"
    );
    assert!(logs.contains("restart budget exhausted"), "{logs}");
    assert_eq!(count_prefixed(&output, "welcome_", ".html"), 0);
    assert_eq!(
        committed(&bootstrap(), &topic, &group, 1),
        vec![-1],
        "no offset is committed for a message that was never handled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_the_broker_gone_exits_within_the_bound_and_a_restart_loses_nothing() {
    init_logs();
    let mut broker = PrivateBroker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique("brokergone");
    let group = unique("coolriel");
    let root = tempfile::tempdir().expect("temp dir");
    let output = root.path().join("output");
    let log = root.path().join("coolriel.log");
    create_topic_at(&bootstrap, &topic, 1).await;
    let producer = producer(&bootstrap);
    for id in 1..=20 {
        publish(&producer, &topic, Some(0), &created(id), None).await;
    }
    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap.as_str()),
        ("COOLRIEL_SHUTDOWN_TIMEOUT_MS", "5000"),
    ];
    let mut first = spawn_service_with(&topic, &group, &output, &log, &env);
    eventually("the first 20 emails", TIMEOUT, || {
        count_prefixed(&output, "welcome_", ".html") == 20
    })
    .await;
    eventually("their offsets committed", TIMEOUT, || {
        committed(&bootstrap, &topic, &group, 1) == vec![20]
    })
    .await;

    broker.stop();
    let terminated = Instant::now();
    test_support::process::terminate(&first);
    // The bound (5 s) and a margin for the process's own exit; librdkafka alone would
    // wait for the broker with no end.
    let status = test_support::process::wait_for_exit(&mut first, Duration::from_secs(9));
    let took = terminated.elapsed();
    let logs = std::fs::read_to_string(&log).expect("logs");
    let status = status.unwrap_or_else(|| panic!("still running {took:?} after SIGTERM:\n{logs}"));
    eprintln!("exited {status} {took:?} after SIGTERM with the broker gone");
    // Everything was committed before the broker went: nothing in flight was lost.
    assert!(status.success(), "{status}:\n{logs}");

    broker.resume();
    for id in 21..=25 {
        publish(&producer, &topic, Some(0), &created(id), None).await;
    }
    let mut second = spawn_service_with(&topic, &group, &output, &log, &env);
    eventually("every email after the restart", TIMEOUT, || {
        count_prefixed(&output, "welcome_", ".html") == 25
    })
    .await;
    eventually("every offset committed after the restart", TIMEOUT, || {
        committed(&bootstrap, &topic, &group, 1) == vec![25]
    })
    .await;
    test_support::process::terminate(&second);
    let status =
        test_support::process::wait_for_exit(&mut second, Duration::from_secs(20)).expect("exits");
    assert!(status.success(), "{status}");
    assert_eq!(assert_emails_whole(&output), 25);
}
