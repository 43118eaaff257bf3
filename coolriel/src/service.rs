//! Start and stop the service.
//!
//! [`Coolriel::start`] loads the templates (a bad template fails here, before anything is
//! consumed), then starts two threads and waits until the consumer has subscribed:
//!
//! - **coolriel** runs the actix system: the partition actors, and the handler actors
//!   (welcome, goodbye, order confirmation, payment receipt, history), each on its own
//!   arbiter because they do blocking file I/O.
//! - **coolriel-consumer** owns the Kafka consumer and polls its main queue, which serves
//!   the rebalance callbacks; the callbacks start and drain the partition actors. Beside
//!   the poll loop, the assignment watchdog ([`crate::kafka::watchdog`]) rejoins the group
//!   if a broken rebalance left this member idle while partitions go unread.
//!
//! The consumer subscribes to every topic of `COOLRIEL_TOPICS` (by default `user-events`
//! and `order-events`) in one group, and `<topic>.dlq` is created for each of them; every
//! partition of every topic gets its own partition actor, all sharing one registry.
//!
//! The admin HTTP server ([`crate::admin`]: health, readiness, metrics, the email gallery)
//! listens on `COOLRIEL_ADMIN_ADDR`, bound before anything starts (a taken port fails the
//! start) and served from the actix system from before the consumer subscribes;
//! [`CoolrielHandle::admin_addr`] is the address bound.
//!
//! [`CoolrielHandle::shutdown`] stops the admin server, stops fetching, lets every
//! partition actor finish what it has in flight, commits the offsets, leaves the group (so
//! the other members take the partitions over at once) and stops the actors.
//!
//! # A bounded shutdown
//! The whole shutdown takes at most `COOLRIEL_SHUTDOWN_TIMEOUT_MS` (15 s), whatever the
//! broker does: librdkafka's synchronous commit and its consumer close wait for the
//! broker with no end of their own. The drain gets what the bound leaves after a reserve
//! for the commit and the close; the consumer thread records how far it got
//! ([`ShutdownProgress`]); and when the bound passes, the handle stops waiting, logs what
//! was stored and whether it was committed, and returns. It answers `Ok` when every
//! message in flight was finished and its offset committed (a close still waiting for a
//! dead broker to acknowledge the leave is then only logged), and an error otherwise, so
//! that `coolriel run` exits non-zero: what was not committed is handled again after the
//! restart (at least once).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use actix::{Addr, Arbiter, Recipient, Supervisor};
use rdkafka::consumer::Consumer as _;
use rdkafka::error::KafkaError;
use shared_events::{EventEnvelope, OrderCreated, OrderPaid, UserCreated, UserDeleted, topics};
use supervision::FaultHook;
use tokio::sync::oneshot;

use crate::admin::{AdminServer, AdminState};
use crate::config::Config;
use crate::handlers::email::{
    GoodbyeEmails, Mailer, OrderConfirmationEmails, PaymentReceiptEmails, WelcomeEmails,
};
use crate::handlers::history::HistoryActor;
use crate::handlers::{EventHandler, HandlerActor, SyncBatch};
use crate::health::{self, ServiceHealth};
use crate::kafka::context::{self, CoolrielContext, PartitionMap};
use crate::kafka::dead_letter::DeadLetters;
use crate::kafka::monitor::Monitor;
use crate::kafka::partition::{DrainReport, PartitionDeps};
use crate::kafka::{LiveConsumer, admin, consumer_config, watchdog};
use crate::metrics::Metrics;
use crate::output::{OutputDir, remove_stale_temp_files};
use crate::registry::{Deliver, Registry};
use crate::templates::{TemplateError, Templates};
use crate::wait_group::WaitGroup;

/// How long the shutdown waits for actors and partition queues to be released.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// What the drain leaves of the shutdown bound for the commit and the close.
const COMMIT_AND_CLOSE_RESERVE: Duration = Duration::from_secs(3);

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("cannot prepare the output directory {dir}: {source}")]
    OutputDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the Kafka {client}: {source}")]
    Kafka {
        client: &'static str,
        #[source]
        source: KafkaError,
    },
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
    #[error("cannot serve the admin HTTP server on {addr} (COOLRIEL_ADMIN_ADDR): {source}")]
    Admin {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the service stopped while starting")]
    Aborted,
}

/// What went wrong while running or stopping.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
    /// Stopped, but not everything in flight was finished and committed; what was not is
    /// handled again after a restart.
    #[error("{unfinished} messages left unfinished at the drain; final commit {commit}")]
    Unfinished {
        unfinished: usize,
        commit: &'static str,
    },
    /// The shutdown bound passed first (see the module documentation).
    #[error("the shutdown did not finish within {bound:?} (stuck while {stage})")]
    TimedOut { bound: Duration, stage: String },
}

/// How far the shutdown got: written by the consumer thread, read when the bound passes.
#[derive(Debug, Clone, Default)]
pub struct ShutdownProgress {
    /// What the shutdown is doing now, for the log line of a shutdown that ran out of time.
    pub stage: String,
    /// The drained partitions: where each stored its last offset.
    pub drained: Vec<DrainReport>,
    /// Messages given up at the drain timeout.
    pub unfinished: usize,
    /// The final commit: `None` while it has not answered.
    pub committed: Option<bool>,
}

impl ShutdownProgress {
    /// Every message finished and its offset committed (the close may still be waiting).
    fn finished(&self) -> bool {
        self.unfinished == 0 && self.committed == Some(true)
    }
}

/// Shared between the consumer thread and the handle.
type Progress = Arc<Mutex<ShutdownProgress>>;

fn progress_of(progress: &Progress) -> std::sync::MutexGuard<'_, ShutdownProgress> {
    // Plain data: a panic while it was held leaves it readable.
    progress
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Extra routes for a service being started: runs on the actix system thread, after the
/// standard handlers are registered (tests add failing handlers this way). The registry
/// carries the service's [`Metrics`] for the actors it starts.
pub type ExtraRoutes = Box<dyn FnOnce(&mut Registry) + Send>;

/// The service (see the module documentation).
#[derive(Debug)]
pub struct Coolriel;

impl Coolriel {
    /// Start with the standard handlers: welcome and goodbye emails, order confirmations
    /// and payment receipts, and the history.
    pub fn start(config: Config) -> Result<CoolrielHandle, StartError> {
        Self::start_with(config, |_| {})
    }

    /// Start with more routes; `extra_routes` runs on the actix system thread, so it may
    /// start actors there (`Supervisor::start`) and register them.
    ///
    /// Blocks until the consumer has subscribed, not until partitions are assigned
    /// ([`CoolrielHandle::assigned_partitions`] tells when they are).
    pub fn start_with(
        config: Config,
        extra_routes: impl FnOnce(&mut Registry) + Send + 'static,
    ) -> Result<CoolrielHandle, StartError> {
        let templates = Arc::new(Templates::load_or_embedded(
            config.templates_dir.as_deref(),
        )?);
        prepare_output_dir(&config)?;
        let admin_error = |source| StartError::Admin {
            addr: config.admin_addr,
            source,
        };
        let listener = TcpListener::bind(config.admin_addr).map_err(admin_error)?;
        let admin_addr = listener.local_addr().map_err(admin_error)?;
        let monitor = Monitor::new(&config).map_err(|source| StartError::Kafka {
            client: "monitor client",
            source,
        })?;
        let admin = AdminParts {
            listener,
            monitor: Arc::new(monitor),
            metrics: Arc::new(Metrics::default()),
        };
        let supervised = Supervised {
            health: Arc::new(ServiceHealth::new(config.restart_policy)),
            partition_faults: Arc::new(FaultHook::with_plan(config.partition_panics)),
            progress: Progress::default(),
        };
        let shutdown_timeout = config.shutdown_timeout;

        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let extra: ExtraRoutes = Box::new(extra_routes);
        let shared = supervised.clone();
        let thread = std::thread::Builder::new()
            .name("coolriel".into())
            .spawn(move || {
                let system = actix::System::new();
                let outcome = system.block_on(serve(
                    config,
                    templates,
                    extra,
                    admin,
                    shared,
                    ready_tx,
                    shutdown_rx,
                ));
                let _ = done_tx.send(outcome);
            })
            .map_err(|source| StartError::Thread {
                name: "coolriel",
                source,
            })?;
        let partitions = match ready_rx.recv() {
            Ok(Ok(partitions)) => partitions,
            Ok(Err(error)) => {
                let _ = thread.join();
                return Err(error);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(StartError::Aborted);
            }
        };
        Ok(CoolrielHandle {
            shutdown: Some(shutdown_tx),
            done: Some(done_rx),
            thread: Some(thread),
            partitions,
            admin_addr,
            supervised,
            shutdown_timeout,
        })
    }
}

/// The supervision state the service, its handle and its admin server share.
#[derive(Debug, Clone)]
struct Supervised {
    health: Arc<ServiceHealth>,
    /// Test-only (see [`PartitionDeps::faults`]).
    partition_faults: Arc<FaultHook>,
    progress: Progress,
}

/// What the admin server is made of, prepared before the system thread starts.
struct AdminParts {
    /// Bound on the caller's thread, so a taken port fails `start` at once.
    listener: TcpListener,
    monitor: Arc<Monitor>,
    metrics: Arc<Metrics>,
}

fn prepare_output_dir(config: &Config) -> Result<(), StartError> {
    let wrap = |source| StartError::OutputDir {
        dir: config.output_dir.clone(),
        source,
    };
    std::fs::create_dir_all(&config.output_dir).map_err(wrap)?;
    let removed = remove_stale_temp_files(&config.output_dir).map_err(wrap)?;
    if removed > 0 {
        tracing::warn!(
            dir = %config.output_dir.display(),
            removed,
            "removed temporary files left by an earlier crash"
        );
    }
    Ok(())
}

/// A running service.
#[derive(Debug)]
pub struct CoolrielHandle {
    /// Dropping it (or sending the deadline) asks the service to stop.
    shutdown: Option<oneshot::Sender<Instant>>,
    /// Answered when the service has stopped.
    done: Option<oneshot::Receiver<Result<(), ServiceError>>>,
    /// The actix system thread, joined on shutdown.
    thread: Option<JoinHandle<()>>,
    /// The partition actors, to tell which partitions this instance owns.
    partitions: PartitionMap,
    /// Where the admin server listens.
    admin_addr: SocketAddr,
    /// The restart budget, the fault hook, the shutdown's progress.
    supervised: Supervised,
    /// `COOLRIEL_SHUTDOWN_TIMEOUT_MS`.
    shutdown_timeout: Duration,
}

impl CoolrielHandle {
    /// The address the admin HTTP server is bound to (the port chosen for port 0).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The partitions this instance owns now, as `(topic, partition)`.
    pub fn assigned_partitions(&self) -> Vec<(String, i32)> {
        context::lock(&self.partitions).keys().cloned().collect()
    }

    /// Resolves when the service must stop with a failure: its actors used up the restart
    /// budget (`coolriel run` then shuts down and exits non-zero).
    pub async fn failed(&self) {
        self.supervised.health.budget().exhausted().await;
    }

    /// Whether the restart budget is used up (see [`CoolrielHandle::failed`]).
    pub fn restart_budget_exhausted(&self) -> bool {
        self.supervised.health.budget().is_exhausted()
    }

    /// Test-only: the partition actors' fault hook; [`FaultHook::arm`] makes the next
    /// messages received panic their partition actor.
    pub fn partition_faults(&self) -> &FaultHook {
        &self.supervised.partition_faults
    }

    /// Stop fetching, finish in-flight messages, commit, leave the group, stop; within
    /// `COOLRIEL_SHUTDOWN_TIMEOUT_MS` (see the module documentation).
    pub async fn shutdown(mut self) -> Result<(), ServiceError> {
        let bound = self.shutdown_timeout;
        let deadline = Instant::now() + bound;
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(deadline);
        }
        let outcome = match self.done.take() {
            Some(done) => {
                match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), done).await
                {
                    Ok(outcome) => outcome.unwrap_or(Err(ServiceError::Panicked("coolriel"))),
                    // The threads are left behind: the process is about to exit.
                    Err(_) => return self.ran_out_of_time(bound),
                }
            }
            None => Ok(()),
        };
        if let Some(thread) = self.thread.take() {
            // It has answered `done`; only its last few instructions are left.
            thread
                .join()
                .map_err(|_| ServiceError::Panicked("coolriel"))?;
        }
        outcome
    }

    /// The bound passed before the shutdown finished: say what was and was not committed.
    fn ran_out_of_time(&self, bound: Duration) -> Result<(), ServiceError> {
        let progress = progress_of(&self.supervised.progress).clone();
        let stored: Vec<String> = progress
            .drained
            .iter()
            .map(|report| match report.position {
                Some(offset) => format!("{}/{}@{offset}", report.topic, report.partition),
                None => format!("{}/{}@-", report.topic, report.partition),
            })
            .collect();
        if progress.finished() {
            tracing::warn!(
                bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
                stage = %progress.stage,
                committed = ?stored,
                "shutdown bound reached while closing the consumer; every offset was committed, leaving without the close"
            );
            return Ok(());
        }
        tracing::error!(
            bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX),
            stage = %progress.stage,
            stored = ?stored,
            committed = ?progress.committed,
            unfinished = progress.unfinished,
            "shutdown bound reached; what was not committed is handled again after a restart"
        );
        Err(ServiceError::TimedOut {
            bound,
            stage: progress.stage,
        })
    }

    /// [`CoolrielHandle::shutdown`] for callers without an async runtime (not bounded).
    pub fn shutdown_blocking(mut self) -> Result<(), ServiceError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(Instant::now() + self.shutdown_timeout);
        }
        self.done.take();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| ServiceError::Panicked("coolriel")),
            None => Ok(()),
        }
    }
}

impl Drop for CoolrielHandle {
    fn drop(&mut self) {
        // A handle dropped without `shutdown` still stops the service, without waiting.
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(Instant::now() + self.shutdown_timeout);
        }
    }
}

/// The life of the actix system thread.
async fn serve(
    config: Config,
    templates: Arc<Templates>,
    extra_routes: ExtraRoutes,
    admin: AdminParts,
    supervised: Supervised,
    ready: std::sync::mpsc::Sender<Result<PartitionMap, StartError>>,
    shutdown: oneshot::Receiver<Instant>,
) -> Result<(), ServiceError> {
    let actors = WaitGroup::new();
    let metrics = admin.metrics;
    let output = match OutputDir::open(&config.output_dir) {
        Ok(output) => Arc::new(output),
        Err(source) => {
            let _ = ready.send(Err(StartError::OutputDir {
                dir: config.output_dir.clone(),
                source,
            }));
            return Ok(());
        }
    };
    let mailer = Mailer::new(Arc::clone(&templates), output).with_text_files(config.text_files);
    let mut pools = HandlerPools {
        arbiters: Vec::new(),
        actors: &actors,
        metrics: &metrics,
        batch: config.sync_batch,
        writers: config.email_writers,
    };
    let welcome = pools.start(|| WelcomeEmails::new(mailer.clone()));
    let goodbye = pools.start(|| GoodbyeEmails::new(mailer.clone()));
    let confirmation = pools.start(|| OrderConfirmationEmails::new(mailer.clone()));
    let receipt = pools.start(|| PaymentReceiptEmails::new(mailer.clone()));
    let mut arbiters = pools.arbiters;
    let history = {
        let history = HistoryActor::new(
            config.history_path(),
            config.sync_batch.max_messages,
            config.sync_batch.interval,
        )
        .with_metrics(Arc::clone(&metrics));
        let token = actors.token();
        let arbiter = Arbiter::new();
        let history =
            Supervisor::start_in_arbiter(&arbiter.handle(), move |_| history.watched(token));
        arbiters.push(arbiter);
        history
    };
    let mut registry = Registry::with_metrics(Arc::clone(&metrics));
    registry
        .route_pool::<UserCreated>(WelcomeEmails::NAME, recipients(welcome))
        .route_pool::<UserDeleted>(GoodbyeEmails::NAME, recipients(goodbye))
        .route_pool::<OrderCreated>(OrderConfirmationEmails::NAME, recipients(confirmation))
        .route_pool::<OrderPaid>(PaymentReceiptEmails::NAME, recipients(receipt))
        .route::<EventEnvelope>(HistoryActor::NAME, history.recipient());
    extra_routes(&mut registry);
    let handlers: Arc<[_]> = registry.liveness().into();
    actix::spawn(health::watch_restarts(
        Arc::clone(&metrics),
        Arc::clone(&supervised.health),
    ));

    let partitions = PartitionMap::default();
    let admin_addr = admin.listener.local_addr().ok();
    let admin_server = AdminServer::start(
        admin.listener,
        AdminState {
            metrics: Arc::clone(&metrics),
            monitor: admin.monitor,
            partitions: Arc::clone(&partitions),
            output_dir: config.output_dir.clone(),
            templates,
            health: Arc::clone(&supervised.health),
            handlers,
        },
        config.lag_refresh_interval,
    )
    .map_err(|source| StartError::Admin {
        addr: admin_addr.unwrap_or(config.admin_addr),
        source,
    });
    let started = match admin_server {
        Ok(admin_server) => {
            match start_consumer(
                &config,
                registry,
                Arc::clone(&partitions),
                metrics,
                &supervised,
            )
            .await
            {
                Ok(consumer) => Ok((admin_server, consumer)),
                Err(error) => {
                    admin_server.stop().await;
                    Err(error)
                }
            }
        }
        Err(error) => Err(error),
    };
    let running = match started {
        Ok(running) => {
            let _ = ready.send(Ok(partitions));
            Some(running)
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            None
        }
    };

    let mut outcome = Ok(());
    if let Some((admin_server, consumer)) = running {
        // An error means the handle was dropped: stop as well, within the usual bound.
        let deadline = shutdown
            .await
            .unwrap_or_else(|_| Instant::now() + config.shutdown_timeout);
        tracing::info!(
            bound_ms = u64::try_from(config.shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
            "shutting down"
        );
        progress_of(&supervised.progress).stage = "stopping the admin server".to_owned();
        admin_server.stop().await;
        let _ = consumer.stop.send(deadline);
        let _ = consumer.done.await;
        if consumer.thread.join().is_err() {
            outcome = Err(ServiceError::Panicked("coolriel-consumer"));
        }
        let progress = progress_of(&supervised.progress).clone();
        if outcome.is_ok() && !progress.finished() {
            outcome = Err(ServiceError::Unfinished {
                unfinished: progress.unfinished,
                commit: match progress.committed {
                    Some(true) => "done",
                    Some(false) => "failed",
                    None => "not attempted",
                },
            });
        }
        progress_of(&supervised.progress).stage = "stopping the handler actors".to_owned();
    }
    // The registry went with the consumer: the handler actors' mailboxes are closing.
    if !actors.wait(RELEASE_TIMEOUT).await {
        tracing::warn!("some handler actors did not stop in time");
    }
    for arbiter in arbiters {
        arbiter.stop();
        let _ = arbiter.join();
    }
    tracing::info!("stopped");
    outcome
}

/// Starts the handler actors, each a pool of supervised [`HandlerActor`]s with an arbiter
/// (a thread) per worker, watched by `actors` so the shutdown can wait until they stopped.
struct HandlerPools<'a> {
    /// Every worker's arbiter, stopped and joined at the end.
    arbiters: Vec<Arbiter>,
    actors: &'a WaitGroup,
    metrics: &'a Arc<Metrics>,
    batch: SyncBatch,
    /// Workers per pool (`COOLRIEL_EMAIL_WRITERS`).
    writers: usize,
}

impl HandlerPools<'_> {
    fn start<H: EventHandler>(&mut self, make: impl Fn() -> H) -> Vec<Addr<HandlerActor<H>>> {
        (0..self.writers.max(1))
            .map(|worker| {
                let token = self.actors.token();
                let actor = HandlerActor::new(make())
                    .with_metrics(Arc::clone(self.metrics))
                    .with_batch(self.batch)
                    .with_worker(worker);
                let arbiter = Arbiter::new();
                let addr =
                    Supervisor::start_in_arbiter(&arbiter.handle(), move |_| actor.watched(token));
                self.arbiters.push(arbiter);
                addr
            })
            .collect()
    }
}

fn recipients<H: EventHandler>(
    pool: Vec<Addr<HandlerActor<H>>>,
) -> Vec<Recipient<Deliver<H::Event>>> {
    pool.into_iter().map(|worker| worker.recipient()).collect()
}

/// The consumer thread, seen from the system thread.
struct ConsumerThread {
    /// Ends the poll loop and starts the drain, to be done by the deadline sent.
    stop: oneshot::Sender<Instant>,
    /// Answered once the consumer is closed.
    done: oneshot::Receiver<()>,
    thread: JoinHandle<()>,
}

async fn start_consumer(
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
        let partitions = Arc::clone(&partitions);
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
        let Some(token) = feeds.token() else {
            let _ = ready.send(Err(StartError::Aborted));
            return;
        };
        let metrics = Arc::clone(&deps.metrics);
        let health = Arc::clone(&deps.health);
        let context = CoolrielContext::new(partitions, arbiter, deps, config.drain_timeout, token);
        let consumer: LiveConsumer = match consumer_config(&config).create_with_context(context) {
            Ok(consumer) => consumer,
            Err(source) => {
                let _ = ready.send(Err(StartError::Kafka {
                    client: "consumer",
                    source,
                }));
                return;
            }
        };
        let consumer = Arc::new(consumer);
        consumer.context().set_consumer(Arc::downgrade(&consumer));
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        if let Err(source) = consumer.subscribe(&topics) {
            let _ = ready.send(Err(StartError::Subscribe {
                topics: config.topics.clone(),
                source,
            }));
            return;
        }
        tracing::info!(
            actor = "Consumer",
            group = %config.group_id,
            topics = ?config.topics,
            "subscribed"
        );
        let _ = ready.send(Ok(()));
        let watchdog = watchdog::spawn(
            Arc::downgrade(&consumer),
            config.group_id.clone(),
            config.topics.clone(),
            config.session_timeout,
            metrics,
            health,
        );

        let mut stop = stop;
        let deadline = loop {
            tokio::select! {
                biased;
                deadline = &mut stop => break deadline.unwrap_or_else(|_| Instant::now() + config.shutdown_timeout),
                received = consumer.recv() => match received {
                    Ok(message) => consumer.context().adopt(message.detach()),
                    Err(error) => {
                        tracing::warn!(actor = "Consumer", error = %error, "consumer error");
                        // Errors repeat while the broker is away; do not spin on them.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                },
            }
        };

        tracing::info!(actor = "Consumer", "stopping: draining partitions");
        let stage = |name: &str| progress_of(&progress).stage = name.to_owned();
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
                actor = "Consumer",
                partition = report.partition,
                offset = ?report.position,
                unfinished = report.unfinished,
                "partition released"
            );
        }
        {
            let mut progress = progress_of(&progress);
            progress.unfinished = reports.iter().map(|report| report.unfinished).sum();
            progress.drained = reports;
        }
        stage("committing offsets (waiting for the broker)");
        let committed = context::commit(consumer.as_ref());
        progress_of(&progress).committed = Some(committed);
        stage("releasing the partition queues");
        let release = RELEASE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        if !feeds.wait(release).await {
            tracing::warn!(actor = "Consumer", "partition queues not released in time");
        }
        stage("closing the consumer (leaving the group)");
        // The last reference: closing leaves the group, so the other members take the
        // partitions over now rather than after the session timeout.
        match Arc::try_unwrap(consumer) {
            Ok(consumer) => drop(consumer),
            Err(consumer) => {
                tracing::warn!(actor = "Consumer", "consumer still shared at close");
                drop(consumer);
            }
        }
        tracing::info!(actor = "Consumer", "consumer closed");
    });
}
