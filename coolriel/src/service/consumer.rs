//! The consumer thread, **coolriel-consumer**: it owns the Kafka consumer and polls its main
//! queue, which serves the rebalance callbacks (they start and drain the partition actors,
//! see [`crate::kafka::context`]); beside the poll loop, the assignment watchdog
//! ([`crate::kafka::watchdog`]) rejoins the group if a broken rebalance left this member
//! idle while partitions go unread. Told to stop, it drains the partitions, commits and
//! closes the consumer (leaving the group) within what the shutdown bound leaves, writing
//! how far it got into the shutdown's progress.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::Arbiter;
use rdkafka::consumer::Consumer as _;
use shared_events::topics;
use tokio::sync::oneshot;

use super::handle::progress_of;
use super::{Progress, RELEASE_TIMEOUT, ServiceError, StartError, Supervised};
use crate::config::Config;
use crate::kafka::context::{self, CoolrielContext, PartitionMap};
use crate::kafka::dead_letter::DeadLetters;
use crate::kafka::partition::PartitionDeps;
use crate::kafka::watchdog::{self, WatchdogHandle};
use crate::kafka::{LiveConsumer, admin, consumer_config};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::wait_group::WaitGroup;

/// What the drain leaves of the shutdown bound for the commit and the close.
const COMMIT_AND_CLOSE_RESERVE: Duration = Duration::from_secs(3);

/// The name of the consumer in logs (it is not an actor, but it is in the tree).
const CONSUMER: &str = "Consumer";

/// The consumer thread, seen from the system thread.
pub(super) struct ConsumerThread {
    /// Ends the poll loop and starts the drain, to be done by the deadline sent.
    stop: oneshot::Sender<Instant>,
    /// Answered once the consumer is closed.
    done: oneshot::Receiver<()>,
    thread: JoinHandle<()>,
}

impl ConsumerThread {
    /// Drain, commit and close by `deadline`, and wait until the thread ended.
    pub(super) async fn stop(self, deadline: Instant) -> Result<(), ServiceError> {
        let _ = self.stop.send(deadline);
        let _ = self.done.await;
        self.thread
            .join()
            .map_err(|_| ServiceError::Panicked("coolriel-consumer"))
    }
}

/// Start the consumer thread, its partition actors routing through `registry`; answers
/// once the consumer has subscribed.
pub(super) async fn start(
    config: &Config,
    registry: Registry,
    partitions: PartitionMap,
    metrics: Arc<Metrics>,
    supervised: &Supervised,
) -> Result<ConsumerThread, StartError> {
    let dead_letters = DeadLetters::new(config).map_err(|source| StartError::Kafka {
        client: "dead-letter producer",
        source,
    })?;
    ensure_dead_letter_topics(config).await;
    let deps = Arc::new(PartitionDeps {
        registry: Arc::new(registry),
        dead_letters,
        retry: config.retry,
        handler_timeout: config.handler_timeout,
        max_in_flight: config.max_in_flight.max(1),
        metrics,
        health: Arc::clone(&supervised.health),
        faults: Arc::clone(&supervised.partition_faults),
    });
    let progress = Arc::clone(&supervised.progress);
    let (ready_tx, ready_rx) = oneshot::channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (done_tx, done_rx) = oneshot::channel();
    let thread = {
        let config = config.clone();
        let arbiter = Arbiter::current();
        std::thread::Builder::new()
            .name("coolriel-consumer".into())
            .spawn(move || {
                consume(
                    config, deps, partitions, arbiter, progress, ready_tx, stop_rx,
                );
                let _ = done_tx.send(());
            })
            .map_err(|source| StartError::Thread {
                name: "coolriel-consumer",
                source,
            })?
    };
    match ready_rx.await {
        Ok(Ok(())) => Ok(ConsumerThread {
            stop: stop_tx,
            done: done_rx,
            thread,
        }),
        Ok(Err(error)) => {
            let _ = thread.join();
            Err(error)
        }
        Err(_) => {
            let _ = thread.join();
            Err(StartError::Aborted)
        }
    }
}

/// Create `<topic>.dlq` for each source topic. A failure is logged, not fatal: the broker
/// may come up later, and dead-lettering retries until the topic is there.
async fn ensure_dead_letter_topics(config: &Config) {
    let names: Vec<String> = config
        .topics
        .iter()
        .map(|topic| topics::dead_letter_topic(topic))
        .collect();
    let wanted: Vec<(&str, i32)> = names.iter().map(|name| (name.as_str(), 1)).collect();
    if let Err(error) =
        admin::create_topics(&config.bootstrap_servers, &wanted, Duration::from_secs(10)).await
    {
        tracing::warn!(error = %error, topics = ?names, "cannot create the dead-letter topics");
    }
}

/// The consumer thread: subscribe, poll the main queue until told to stop, then drain,
/// commit and close.
fn consume(
    config: Config,
    deps: Arc<PartitionDeps>,
    partitions: PartitionMap,
    arbiter: actix::ArbiterHandle,
    progress: Progress,
    ready: oneshot::Sender<Result<(), StartError>>,
    stop: oneshot::Receiver<Instant>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            let _ = ready.send(Err(StartError::Thread {
                name: "coolriel-consumer runtime",
                source,
            }));
            return;
        }
    };
    runtime.block_on(async move {
        let feeds = WaitGroup::new();
        let metrics = Arc::clone(&deps.metrics);
        let health = Arc::clone(&deps.health);
        let consumer = match subscribe(&config, deps, partitions, arbiter, &feeds) {
            Ok(consumer) => consumer,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let watchdog = watchdog::spawn(
            Arc::downgrade(&consumer),
            config.group_id.clone(),
            config.topics.clone(),
            config.session_timeout,
            metrics,
            health,
        );
        let deadline = poll_until_stopped(&consumer, stop, config.shutdown_timeout).await;
        close(consumer, watchdog, feeds, deadline, &config, &progress).await;
    });
}

/// The group consumer, its context starting partition actors on `arbiter` (each handed a
/// token of `feeds`), subscribed to every configured topic.
fn subscribe(
    config: &Config,
    deps: Arc<PartitionDeps>,
    partitions: PartitionMap,
    arbiter: actix::ArbiterHandle,
    feeds: &WaitGroup,
) -> Result<Arc<LiveConsumer>, StartError> {
    let token = feeds.token().ok_or(StartError::Aborted)?;
    let context = CoolrielContext::new(partitions, arbiter, deps, config.drain_timeout, token);
    let consumer: LiveConsumer = consumer_config(config)
        .create_with_context(context)
        .map_err(|source| StartError::Kafka {
            client: "consumer",
            source,
        })?;
    let consumer = Arc::new(consumer);
    consumer.context().set_consumer(Arc::downgrade(&consumer));
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| StartError::Subscribe {
            topics: config.topics.clone(),
            source,
        })?;
    tracing::info!(
        actor = CONSUMER,
        group = %config.group_id,
        topics = ?config.topics,
        "subscribed"
    );
    Ok(consumer)
}

/// Poll the main queue (which runs the rebalance callbacks) until `stop` says by when the
/// shutdown must be done; a dropped `stop` gives the usual bound from now.
async fn poll_until_stopped(
    consumer: &LiveConsumer,
    mut stop: oneshot::Receiver<Instant>,
    bound: Duration,
) -> Instant {
    loop {
        tokio::select! {
            biased;
            deadline = &mut stop => return deadline.unwrap_or_else(|_| Instant::now() + bound),
            received = consumer.recv() => match received {
                Ok(message) => consumer.context().adopt(message.detach()),
                Err(error) => {
                    tracing::warn!(actor = CONSUMER, error = %error, "consumer error");
                    // Errors repeat while the broker is away; do not spin on them.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
}

/// Drain every partition, commit, wait for the partition queues, and close the consumer
/// (leaving the group), by `deadline`, saying in `progress` how far it got.
async fn close(
    consumer: Arc<LiveConsumer>,
    watchdog: WatchdogHandle,
    feeds: WaitGroup,
    deadline: Instant,
    config: &Config,
    progress: &Progress,
) {
    tracing::info!(actor = CONSUMER, "stopping: draining partitions");
    let stage = |name: &str| progress_of(progress).stage = name.to_owned();
    stage("draining partitions");
    // Before anything else: a rejoin now would fight the drain.
    watchdog.stop().await;
    // The drain may take what the bound leaves after the commit's and close's share.
    let drain_timeout = config.drain_timeout.min(
        deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(COMMIT_AND_CLOSE_RESERVE),
    );
    let reports = consumer.context().close(drain_timeout);
    for report in &reports {
        tracing::debug!(
            actor = CONSUMER,
            partition = report.partition,
            offset = ?report.position,
            unfinished = report.unfinished,
            "partition released"
        );
    }
    {
        let mut progress = progress_of(progress);
        progress.unfinished = reports.iter().map(|report| report.unfinished).sum();
        progress.drained = reports;
    }
    stage("committing offsets (waiting for the broker)");
    let committed = context::commit(consumer.as_ref());
    progress_of(progress).committed = Some(committed);
    stage("releasing the partition queues");
    let release = RELEASE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
    if !feeds.wait(release).await {
        tracing::warn!(actor = CONSUMER, "partition queues not released in time");
    }
    stage("closing the consumer (leaving the group)");
    // The last reference: closing leaves the group, so the other members take the
    // partitions over now rather than after the session timeout.
    match Arc::try_unwrap(consumer) {
        Ok(consumer) => drop(consumer),
        Err(consumer) => {
            tracing::warn!(actor = CONSUMER, "consumer still shared at close");
            drop(consumer);
        }
    }
    tracing::info!(actor = CONSUMER, "consumer closed");
}
