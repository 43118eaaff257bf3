//! The outbox publisher as one step (`try_publish_next -> Published | Empty`), driven by
//! hand with no actor and no sleeps: order, marking, and the retention cleanup.

use std::time::Duration;

use sea_orm::{ColumnTrait as _, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};
use shared_events::{Event, EventEnvelope, UserCreated, UserDeleted, UserType};
use store_manager::entities::outbox;
use store_manager::outbox::{OutboxPublisher, PublishOutcome, enqueue};
use store_manager::{Settings, database};
use test_support::{Backend, TestDatabase, kafka};

on_both_databases!(
    rows_are_published_in_id_order_then_the_outbox_is_empty,
    cleanup_deletes_published_rows_in_batches_and_keeps_pending_ones,
    only_the_lease_holder_publishes,
);

fn user_event(id: i64, deleted: bool) -> EventEnvelope {
    let (name, email) = (format!("User {id}"), format!("user{id}@example.com"));
    EventEnvelope::new(if deleted {
        Event::UserDeleted(UserDeleted {
            id,
            name,
            email,
            user_type: UserType::Manager,
        })
    } else {
        Event::UserCreated(UserCreated {
            id,
            name,
            email,
            user_type: UserType::Manager,
        })
    })
}

async fn publisher_with_rows(
    backend: Backend,
    rows: &[EventEnvelope],
) -> (
    TestDatabase,
    OutboxPublisher,
    sea_orm::DatabaseConnection,
    String,
) {
    test_support::init_logs();
    let database = TestDatabase::new(backend).await;
    let db = database::connect(database.url()).await.expect("connect");
    let topic = test_support::unique("user-events");
    kafka::create_topic(&kafka::bootstrap(), &topic, 3).await;
    for envelope in rows {
        enqueue(&db, &topic, envelope).await.expect("enqueue");
    }
    let mut settings = Settings::default();
    settings.kafka.bootstrap_servers = kafka::bootstrap();
    settings.outbox.batch_size = 4;
    let publisher =
        OutboxPublisher::new(db.clone(), &settings.kafka, &settings.outbox).expect("publisher");
    (database, publisher, db, topic)
}

async fn rows_are_published_in_id_order_then_the_outbox_is_empty(backend: Backend) {
    // Ten events for three users, interleaved; batches of 4 so order must hold across batches.
    let rows: Vec<EventEnvelope> = (0..10).map(|n| user_event(n % 3, n >= 6)).collect();
    let (_database, publisher, _db, topic) = publisher_with_rows(backend, &rows).await;

    assert_eq!(publisher.pending().await.expect("pending"), 10);
    let mut batches = Vec::new();
    while let PublishOutcome::Published(count) =
        publisher.try_publish_next().await.expect("publish")
    {
        batches.push(count);
    }
    // Batches of 4 rows, at most one per user per round: users 0, 1, 2 each have 4 or 3
    // events, so every round publishes one event of each user present.
    assert_eq!(batches, [3, 3, 3, 1]);
    assert_eq!(publisher.pending().await.expect("pending"), 0);

    let records = kafka::read_topic_async(
        &kafka::bootstrap(),
        &topic,
        10,
        Duration::from_millis(500),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(records.len(), 10, "each row once");
    // Per key, the log holds the rows in the order they were written.
    for key in 0..3 {
        let expected: Vec<String> = rows
            .iter()
            .filter(|row| row.event.aggregate_id() == key)
            .map(|row| row.event_id.expect("id").to_string())
            .collect();
        let published: Vec<String> = records
            .iter()
            .filter(|record| record.key.as_deref() == Some(key.to_string().as_str()))
            .map(|record| record.headers["event_id"].clone())
            .collect();
        assert_eq!(published, expected, "order of user {key}'s events");
    }
}

async fn cleanup_deletes_published_rows_in_batches_and_keeps_pending_ones(backend: Backend) {
    let rows: Vec<EventEnvelope> = (0..7).map(|n| user_event(n, false)).collect();
    let (_database, publisher, db, topic) = publisher_with_rows(backend, &rows).await;
    assert_eq!(publisher.drain().await.expect("drain"), 7);
    // Two more that stay pending: the cleanup must never touch them.
    for n in 100..102 {
        enqueue(&db, &topic, &user_event(n, false))
            .await
            .expect("enqueue");
    }

    // Within the retention period nothing goes.
    let kept = publisher
        .clean_up(Duration::from_secs(3600), 3)
        .await
        .expect("cleanup");
    assert_eq!(kept, 0);
    // Past it (retention zero), every published row goes, three per statement.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let deleted = publisher
        .clean_up(Duration::ZERO, 3)
        .await
        .expect("cleanup");
    assert_eq!(deleted, 7);
    let left = outbox::Entity::find().count(&db).await.expect("count");
    assert_eq!(left, 2);
    let pending = outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(&db)
        .await
        .expect("count");
    assert_eq!(pending, 2);
}

async fn only_the_lease_holder_publishes(backend: Backend) {
    let rows: Vec<EventEnvelope> = (0..3).map(|n| user_event(n, false)).collect();
    let (_database, leader, db, topic) = publisher_with_rows(backend, &rows).await;
    // On the test's broker (`KAFKA_BOOTSTRAP_SERVERS`), as the leader: the default is
    // 127.0.0.1:9092, which another broker may be serving, or none.
    let mut settings = Settings::default();
    settings.kafka.bootstrap_servers = kafka::bootstrap();
    let standby =
        OutboxPublisher::new(db.clone(), &settings.kafka, &settings.outbox).expect("publisher");

    // The first to publish takes the lease; the other stands by, even with rows pending.
    assert_eq!(
        leader.try_publish_next().await.expect("publish"),
        PublishOutcome::Published(3)
    );
    enqueue(&db, &topic, &user_event(10, false))
        .await
        .expect("enqueue");
    assert_eq!(
        standby.try_publish_next().await.expect("standby"),
        PublishOutcome::Standby
    );
    assert_eq!(standby.drain().await.expect("drain"), 0);
    assert_eq!(leader.pending().await.expect("pending"), 1);

    // Released (graceful shutdown), the lease goes to the other at once.
    leader.release_lease().await.expect("release");
    assert_eq!(
        standby.try_publish_next().await.expect("publish"),
        PublishOutcome::Published(1)
    );
    assert_eq!(
        leader.try_publish_next().await.expect("now standby"),
        PublishOutcome::Standby
    );
}
