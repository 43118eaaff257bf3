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
//!
//! # Layout
//! - this module: the start-up ([`Coolriel::start`]) and the life of the actix system
//!   thread, from the first actor to the last;
//! - [`handlers`]: the handler actors and the registry that routes to them;
//! - [`consumer`]: the consumer thread, from the subscription to the close;
//! - [`handle`]: [`CoolrielHandle`], which reports on the running service and
//!   stops it within the bound.

mod consumer;
mod handle;
mod handlers;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use supervision::FaultHook;
use tokio::sync::oneshot;

pub use handle::{CoolrielHandle, ShutdownProgress};

use self::consumer::ConsumerThread;
use crate::admin::{AdminServer, AdminState};
use crate::config::Config;
use crate::health::{self, ServiceHealth};
use crate::kafka::context::PartitionMap;
use crate::kafka::monitor::Monitor;
use crate::metrics::Metrics;
use crate::output::{OutputDir, remove_stale_temp_files};
use crate::registry::Registry;
use crate::templates::{TemplateError, Templates};
use crate::wait_group::WaitGroup;

/// How long the shutdown waits for actors and partition queues to be released.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

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

/// How far the shutdown got, shared between the consumer thread and the handle.
type Progress = Arc<Mutex<ShutdownProgress>>;

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
    /// Test-only (see [`PartitionDeps::faults`](crate::kafka::partition::PartitionDeps::faults)).
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

/// The life of the actix system thread: the handler actors, the admin server and the
/// consumer thread started, `ready` answered, then, once `shutdown` says by when, all of
/// it stopped again.
async fn serve(
    config: Config,
    templates: Arc<Templates>,
    extra_routes: ExtraRoutes,
    admin: AdminParts,
    supervised: Supervised,
    ready: std::sync::mpsc::Sender<Result<PartitionMap, StartError>>,
    shutdown: oneshot::Receiver<Instant>,
) -> Result<(), ServiceError> {
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
    let actors = WaitGroup::new();
    let (mut registry, handler_threads) =
        handlers::start(&config, &templates, output, &actors, &admin.metrics);
    extra_routes(&mut registry);
    actix::spawn(health::watch_restarts(
        Arc::clone(&admin.metrics),
        Arc::clone(&supervised.health),
    ));
    let partitions = PartitionMap::default();
    let started = start_serving(
        &config,
        templates,
        registry,
        admin,
        &partitions,
        &supervised,
    );
    let outcome = match started.await {
        Ok(running) => {
            let _ = ready.send(Ok(partitions));
            // An error means the handle was dropped: stop as well, within the usual bound.
            let deadline = shutdown
                .await
                .unwrap_or_else(|_| Instant::now() + config.shutdown_timeout);
            running.stop(deadline, &config, &supervised).await
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            Ok(())
        }
    };
    // The registry went with the consumer: the handler actors' mailboxes are closing.
    handler_threads.stop(actors, RELEASE_TIMEOUT).await;
    tracing::info!("stopped");
    outcome
}

/// What serves once the service is started.
struct Running {
    admin_server: AdminServer,
    consumer: ConsumerThread,
}

/// Start the admin server, then the consumer thread with `registry` (the admin server
/// stopped again if the consumer cannot start).
async fn start_serving(
    config: &Config,
    templates: Arc<Templates>,
    registry: Registry,
    admin: AdminParts,
    partitions: &PartitionMap,
    supervised: &Supervised,
) -> Result<Running, StartError> {
    let handlers: Arc<[_]> = registry.liveness().into();
    let admin_addr = admin.listener.local_addr().ok();
    let state = AdminState {
        metrics: Arc::clone(&admin.metrics),
        monitor: admin.monitor,
        partitions: Arc::clone(partitions),
        output_dir: config.output_dir.clone(),
        templates,
        health: Arc::clone(&supervised.health),
        handlers,
    };
    let admin_server = AdminServer::start(admin.listener, state, config.lag_refresh_interval)
        .map_err(|source| StartError::Admin {
            addr: admin_addr.unwrap_or(config.admin_addr),
            source,
        })?;
    let consumer = consumer::start(
        config,
        registry,
        Arc::clone(partitions),
        admin.metrics,
        supervised,
    )
    .await;
    match consumer {
        Ok(consumer) => Ok(Running {
            admin_server,
            consumer,
        }),
        Err(error) => {
            admin_server.stop().await;
            Err(error)
        }
    }
}

impl Running {
    /// Stop the admin server, then the consumer (drain, commit, close) by `deadline`:
    /// `Ok` only when every message in flight was finished and its offset committed.
    async fn stop(
        self,
        deadline: Instant,
        config: &Config,
        supervised: &Supervised,
    ) -> Result<(), ServiceError> {
        tracing::info!(
            bound_ms = u64::try_from(config.shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
            "shutting down"
        );
        handle::progress_of(&supervised.progress).stage = "stopping the admin server".to_owned();
        self.admin_server.stop().await;
        let mut outcome = self.consumer.stop(deadline).await;
        let progress = handle::progress_of(&supervised.progress).clone();
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
        handle::progress_of(&supervised.progress).stage = "stopping the handler actors".to_owned();
        outcome
    }
}
