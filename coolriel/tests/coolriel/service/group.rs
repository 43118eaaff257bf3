//! The consumer group: two instances sharing the partitions, one joining during a backlog,
//! a topic created after start-up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use coolriel::{Config, Coolriel, SyncBatch};
use shared_events::topics;

use super::PARTITIONS;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_the_partitions_and_the_survivor_loses_nothing() {
    init_logs();
    let topic = unique("pair");
    let group = unique("coolriel");
    let dir_a = tempfile::tempdir().expect("temp dir");
    let dir_b = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;

    let a = Coolriel::start(config(&topic, &group, dir_a.path())).expect("start a");
    eventually("a owns every partition", TIMEOUT, || {
        a.assigned_partitions().len() == 3
    })
    .await;
    let b = Coolriel::start(config(&topic, &group, dir_b.path())).expect("start b");
    eventually("the partitions are split", TIMEOUT, || {
        let (owned_a, owned_b) = (a.assigned_partitions(), b.assigned_partitions());
        !owned_a.is_empty() && !owned_b.is_empty() && owned_a.len() + owned_b.len() == 3
    })
    .await;
    let owned_a: BTreeSet<i32> = a
        .assigned_partitions()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let owned_b: BTreeSet<i32> = b
        .assigned_partitions()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert!(owned_a.is_disjoint(&owned_b), "{owned_a:?} / {owned_b:?}");

    let producer = producer(&bootstrap());
    let first: i64 = 30;
    for id in 1..=first {
        publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
    }
    let welcomes = |dirs: [&std::path::Path; 2]| {
        let mut ids = BTreeSet::new();
        for dir in dirs {
            for name in files(dir) {
                if let Some(id) = name
                    .strip_prefix("welcome_")
                    .and_then(|rest| rest.strip_suffix(".html"))
                {
                    ids.insert(id.parse::<i64>().expect("id"));
                }
            }
        }
        ids
    };
    eventually("the first batch handled", TIMEOUT, || {
        welcomes([dir_a.path(), dir_b.path()]).len() == first as usize
    })
    .await;
    // Each instance handled exactly its own partitions.
    let partitions_of = |dir: &std::path::Path| -> BTreeSet<i32> {
        history(dir).iter().map(|record| record.partition).collect()
    };
    assert_eq!(partitions_of(dir_a.path()), owned_a);
    assert_eq!(partitions_of(dir_b.path()), owned_b);

    // The second batch is published while `a` stops.
    let second = {
        let topic = topic.clone();
        tokio::spawn(async move {
            let producer = test_support::kafka::producer(&bootstrap());
            for id in first + 1..=2 * first {
                publish(&producer, &topic, Some((id % 3) as i32), &created(id), None).await;
            }
        })
    };
    a.shutdown().await.expect("a stops cleanly");
    eventually("b owns every partition", TIMEOUT, || {
        b.assigned_partitions().len() == 3
    })
    .await;
    second.await.expect("second batch published");
    eventually(
        "every event handled by one instance or the other",
        TIMEOUT,
        || welcomes([dir_a.path(), dir_b.path()]).len() == 2 * first as usize,
    )
    .await;
    b.shutdown().await.expect("b stops cleanly");

    let high: Vec<i64> = watermarks(&bootstrap(), &topic, PARTITIONS)
        .into_iter()
        .map(|(_, high)| high)
        .collect();
    assert_eq!(committed(&bootstrap(), &topic, &group, PARTITIONS), high);
}

/// The second instance joins while the first is working through a backlog: librdkafka has
/// fetched ahead of what the first instance finished, and the rebalance must resume every
/// partition at its finished offset, not at the fetch position. Every offset of every
/// partition is in one of the two histories when the backlog is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_joining_during_a_backlog_loses_nothing() {
    init_logs();
    let topic = unique("backlog");
    let group = unique("coolriel");
    let dir_a = tempfile::tempdir().expect("temp dir");
    let dir_b = tempfile::tempdir().expect("temp dir");
    create_topic(&topic, PARTITIONS).await;

    const USERS: i64 = 1_500;
    let producer = producer(&bootstrap());
    let sends: Vec<_> = (1..=USERS)
        .map(|id| {
            let (producer, topic) = (&producer, topic.as_str());
            async move { publish(producer, topic, Some((id % 3) as i32), &created(id), None).await }
        })
        .collect();
    // The end of each partition from the broker's acknowledgements (sent at once, so the
    // producer batches them: the resume positions fall inside batches).
    let mut high = vec![0_i64; PARTITIONS as usize];
    for (partition, offset) in futures::future::join_all(sends).await {
        let end = &mut high[partition as usize];
        *end = (*end).max(offset + 1);
    }
    assert_eq!(high.iter().sum::<i64>(), USERS);

    // `a` is slowed down (one message in flight per partition, each sync waiting 30 ms
    // for company: about 100 events/s) so that librdkafka's prefetch runs far ahead of
    // what it has finished, and the backlog outlasts a join even on a busy machine.
    let slow = Config {
        max_in_flight: 1,
        sync_batch: SyncBatch {
            max_messages: 256,
            interval: Duration::from_millis(30),
        },
        ..config(&topic, &group, dir_a.path())
    };
    let a = Coolriel::start(slow).expect("start a");
    eventually("a is part-way through the backlog", TIMEOUT, || {
        count_prefixed(dir_a.path(), "welcome_", ".html") >= 60
    })
    .await;
    let b = Coolriel::start(config(&topic, &group, dir_b.path())).expect("start b");
    eventually("b owns a partition", TIMEOUT, || {
        !b.assigned_partitions().is_empty()
    })
    .await;
    let handled_by_a_at_join = count_prefixed(dir_a.path(), "welcome_", ".html");
    assert!(
        handled_by_a_at_join < USERS as usize / 2,
        "the backlog must still be there when b joins ({handled_by_a_at_join} handled)"
    );
    let welcomes = || {
        count_prefixed(dir_a.path(), "welcome_", ".html")
            + count_prefixed(dir_b.path(), "welcome_", ".html")
    };
    let missing = || {
        let mut seen = BTreeSet::new();
        for id in 1..=USERS {
            if dir_a.path().join(format!("welcome_{id}.html")).exists()
                || dir_b.path().join(format!("welcome_{id}.html")).exists()
            {
                seen.insert(id);
            }
        }
        (1..=USERS)
            .filter(|id| !seen.contains(id))
            .collect::<Vec<_>>()
    };
    let finished = tokio::time::timeout(Duration::from_secs(120), async {
        while committed(&bootstrap(), &topic, &group, PARTITIONS) != high {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    b.shutdown().await.expect("b stops cleanly");
    a.shutdown().await.expect("a stops cleanly");
    let missing = missing();
    assert!(
        finished.is_ok() && missing.is_empty(),
        "{} of {USERS} welcomes written ({handled_by_a_at_join} by a before b joined); \
         committed {:?} of {high:?}; missing ids (first 20): {:?}",
        welcomes(),
        committed(&bootstrap(), &topic, &group, PARTITIONS),
        &missing[..missing.len().min(20)]
    );

    // Every offset of every partition is in a history, and the two instances' histories
    // together hold each message at least once.
    let mut seen: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    for record in history(dir_a.path())
        .into_iter()
        .chain(history(dir_b.path()))
    {
        seen.entry(record.partition)
            .or_default()
            .insert(record.offset);
    }
    for (partition, &end) in high.iter().enumerate() {
        let offsets = seen.remove(&(partition as i32)).unwrap_or_default();
        let absent: Vec<i64> = (0..end)
            .filter(|offset| !offsets.contains(offset))
            .collect();
        assert!(
            absent.is_empty(),
            "partition {partition}: {} offsets never in a history (first: {:?})",
            absent.len(),
            &absent[..absent.len().min(10)]
        );
    }
}

/// With the default topics, `order-events` may not exist yet when the service starts (tansu
/// creates no topic on use): the other topic is consumed meanwhile, and the late one soon
/// after it is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_after_start_up_is_consumed_too() {
    init_logs();
    let users_topic = unique("users");
    let orders_topic = unique("orders");
    let group = unique("coolriel");
    let dir = tempfile::tempdir().expect("temp dir");
    create_topic(&users_topic, PARTITIONS).await;
    let producer = producer(&bootstrap());
    let service = Coolriel::start(config_for(
        &[users_topic.as_str(), orders_topic.as_str()],
        &group,
        dir.path(),
    ))
    .expect("starts with a missing topic");
    publish(&producer, &users_topic, None, &created(1), None).await;
    eventually("the user topic consumed", TIMEOUT, || {
        dir.path().join("welcome_1.html").exists()
    })
    .await;

    create_source_topic(&orders_topic, PARTITIONS).await;
    publish(&producer, &orders_topic, None, &order_created(1, 1), None).await;
    let created_at = Instant::now();
    eventually("the order topic consumed", TIMEOUT, || {
        dir.path().join("order_1.html").exists()
    })
    .await;
    eprintln!("late topic consumed after {:?}", created_at.elapsed());
    service.shutdown().await.expect("clean shutdown");
    // Its dead-letter topic was created at start-up, with the other one.
    assert_eq!(
        watermarks(&bootstrap(), &topics::dead_letter_topic(&orders_topic), 1),
        vec![(0, 0)]
    );
    assert_eq!(history(dir.path()).len(), 2);
}
