//! Building and running the application: database, outbox actor, HTTP server.
//!
//! # Stopping, within a bound
//! [`Application::run_until_stopped`] serves until SIGINT or SIGTERM (or until a test
//! stops the server, or the outbox actor uses up its restart budget), then shuts down in
//! `STORE_MANAGER_SHUTDOWN_TIMEOUT_MS` (15 s) at most, whatever the database and the broker
//! do: the requests in flight are answered (actix's graceful stop, given half the bound),
//! the outbox actor finishes its round, a last drain publishes what the last requests
//! committed, and the lease is released; each step gets what is left of the bound, and
//! what could not be done is logged. It answers `Ok` only when everything was published
//! ([`ShutdownError`] otherwise, and `store-manager` exits non-zero): rows left pending are
//! published by the next start.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Supervisor;
use actix_web::body::BoxBody;
use actix_web::dev::{Server, Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpServer, web};
use futures::future::LocalBoxFuture;
use sea_orm::{DatabaseConnection, DbBackend};
use tracing::Instrument as _;

use crate::config::{ConfigError, OutboxSettings, Settings};
use crate::database::{self, DatabaseError};
use crate::metrics::Metrics;
use crate::outbox::{
    OutboxActor, OutboxError, OutboxHealth, OutboxPublisher, OutboxSupervision, OutboxWaker,
    StopPublishing,
};
use crate::routes::{self, AppState};
use supervision::{FaultHook, RestartBudget};

/// How long a graceful shutdown waits for the outbox to publish what is pending (at most:
/// the shutdown bound may leave it less).
const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// What the shutdown keeps, of its bound, for the lease release and the producer's flush.
const RELEASE_RESERVE: Duration = Duration::from_secs(1);

/// Why the service stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    #[error("HTTP server failed: {0}")]
    Server(#[from] std::io::Error),
    /// Stopped, but the outbox still holds rows (they go out at the next start).
    #[error("outbox not drained at shutdown: {0}")]
    Unpublished(String),
    #[error("the restart budget is exhausted: the outbox actor kept panicking")]
    RestartBudgetExhausted,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A built application, listening but not yet serving. Must be built inside an actix
/// system (`#[actix_web::main]`, `#[actix_web::test]`): the outbox actor runs on it.
pub struct Application {
    port: u16,
    server: Server,
    db: DatabaseConnection,
    publisher: Arc<OutboxPublisher>,
    outbox: actix::Addr<OutboxActor>,
    /// The outbox actor's restart budget: exhausted, the service stops with a failure.
    budget: Arc<RestartBudget>,
    /// Test-only: arms the outbox actor's fault hook.
    outbox_faults: Arc<FaultHook>,
    /// `STORE_MANAGER_SHUTDOWN_TIMEOUT_MS`.
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects to the database (running the migrations), starts the outbox actor (which
    /// first publishes anything a previous run left pending) and binds the listener.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        settings.validate()?;
        let db = database::connect(&settings.database_url).await?;
        tracing::info!(
            database = %database::redact(&settings.database_url),
            "database ready, migrations applied"
        );
        let (listener, local_addr) = bind(&settings)?;
        let mut outbox_settings = settings.outbox.clone();
        outbox_settings
            .replica_id
            .get_or_insert_with(|| format!("{}:{}", host_name(), local_addr.port()));
        let metrics = Arc::new(Metrics::default());
        let publisher = start_publisher(&settings, &outbox_settings, &db, &metrics).await?;
        let supervision = OutboxSupervision {
            health: Arc::new(OutboxHealth::default()),
            budget: Arc::new(RestartBudget::new(settings.restart_policy)),
            metrics: Arc::clone(&metrics),
            faults: Arc::new(FaultHook::with_plan(settings.outbox_panics)),
        };
        if settings.outbox_panics.is_some() {
            tracing::warn!(
                "STORE_MANAGER_FAULT_OUTBOX_PANIC is set: the outbox actor will panic on purpose (test only)"
            );
        }
        let ready_max_pending_age = outbox_settings.ready_max_pending_age;
        let outbox = {
            let actor = OutboxActor::new(Arc::clone(&publisher), outbox_settings)
                .with_supervision(supervision.clone());
            Supervisor::start(move |_| actor)
        };
        let state = AppState {
            db: db.clone(),
            outbox: outbox.clone(),
            publisher: Arc::clone(&publisher),
            metrics,
            events: OutboxWaker::new(settings.topics.clone(), outbox.clone().recipient()),
            outbox_health: Arc::clone(&supervision.health),
            restart_budget: Arc::clone(&supervision.budget),
            ready_max_pending_age,
        };
        let server = serve(state, listener, &settings)?;
        tracing::info!(addr = %local_addr, "store-manager listening");
        Ok(Application {
            port: local_addr.port(),
            server,
            db,
            publisher,
            outbox,
            budget: supervision.budget,
            outbox_faults: supervision.faults,
            shutdown_timeout: settings.shutdown_timeout,
        })
    }

    /// Test-only: the outbox actor's fault hook; [`FaultHook::arm`] makes its next
    /// rounds panic.
    pub fn outbox_faults(&self) -> Arc<FaultHook> {
        Arc::clone(&self.outbox_faults)
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to the database, for tests that look at what was stored.
    pub fn database(&self) -> DatabaseConnection {
        self.db.clone()
    }

    /// A handle that stops the server (tests; signals do it in production).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM (or [`Self::server_handle`] stops it, or the restart
    /// budget runs out), then shuts down within the bound (see the module documentation).
    pub async fn run_until_stopped(self) -> Result<(), ShutdownError> {
        let Application {
            server,
            publisher,
            outbox,
            budget,
            shutdown_timeout,
            ..
        } = self;
        let handle = server.handle();
        let mut server = std::pin::pin!(server);
        let stopped_by = tokio::select! {
            served = &mut server => {
                served?;
                None
            }
            signal = supervision::wait_for_signal() => Some(signal.unwrap_or("a signal (listening failed)")),
            () = budget.exhausted() => Some("the restart budget running out"),
        };
        let started = Instant::now();
        let deadline = started + shutdown_timeout;
        if let Some(reason) = stopped_by {
            tracing::info!(
                reason,
                bound_ms = u64::try_from(shutdown_timeout.as_millis()).unwrap_or(u64::MAX),
                "shutting down"
            );
            // Graceful: the requests in flight are answered, within half the bound. The
            // stop is sent at once; the server's own future carries it out, so it is
            // awaited first and the stop's answer after.
            let stopping = handle.stop(true);
            server.await?;
            stopping.await;
        }
        let outcome = stop_publishing(&publisher, &outbox, deadline).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if budget.is_exhausted() {
            tracing::error!(
                elapsed_ms,
                "store-manager stopped: restart budget exhausted"
            );
            return Err(ShutdownError::RestartBudgetExhausted);
        }
        match outcome {
            Ok(()) => {
                tracing::info!(elapsed_ms, "store-manager stopped");
                Ok(())
            }
            Err(unpublished) => {
                tracing::warn!(elapsed_ms, reason = %unpublished, "store-manager stopped with events left in the outbox; the next start publishes them");
                Err(ShutdownError::Unpublished(unpublished))
            }
        }
    }
}

/// Binds `STORE_MANAGER_ADDR`; the listener and the address actually bound (port 0 picks one).
fn bind(settings: &Settings) -> Result<(TcpListener, std::net::SocketAddr), StartupError> {
    let bind_error = |source| StartupError::Bind {
        addr: settings.listen_addr,
        source,
    };
    let listener = TcpListener::bind(settings.listen_addr).map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local_addr))
}

/// The outbox publisher, on its own pool, counting in the application's `metrics`.
async fn start_publisher(
    settings: &Settings,
    outbox_settings: &OutboxSettings,
    db: &DatabaseConnection,
    metrics: &Arc<Metrics>,
) -> Result<Arc<OutboxPublisher>, StartupError> {
    let mut publisher = OutboxPublisher::new(
        database::connect_outbox_pool(&settings.database_url).await?,
        &settings.kafka,
        outbox_settings,
    )?
    .with_metrics(Arc::clone(metrics));
    if db.get_database_backend() == DbBackend::Sqlite {
        // One writer connection for everything, queued fairly (see `with_writer`).
        publisher = publisher.with_writer(db.clone());
    }
    Ok(Arc::new(publisher))
}

/// The HTTP server on `listener`, serving the routes with `state`; it runs once awaited.
fn serve(
    state: AppState,
    listener: TcpListener,
    settings: &Settings,
) -> Result<Server, StartupError> {
    let state = web::Data::new(state);
    // Half the bound for the requests in flight; the rest for the outbox.
    let http_grace_secs = (settings.shutdown_timeout.as_secs() / 2).clamp(1, 10);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(request_span)
            .configure(routes::configure)
            .default_service(web::to(routes::not_found))
    })
    .listen(listener)
    .map_err(|source| StartupError::Bind {
        addr: settings.listen_addr,
        source,
    })?
    .max_connections(settings.max_connections_per_worker)
    // `run_until_stopped` handles SIGINT and SIGTERM, to bound the whole shutdown.
    .disable_signals()
    .shutdown_timeout(http_grace_secs)
    .run();
    Ok(server)
}

/// After the server stopped: end the actor's rounds, drain what the last requests
/// committed, release the lease; by `deadline`. `Err` says what was left undone.
async fn stop_publishing(
    publisher: &OutboxPublisher,
    outbox: &actix::Addr<OutboxActor>,
    deadline: Instant,
) -> Result<(), String> {
    let left = |reserve: Duration| {
        deadline
            .saturating_duration_since(Instant::now())
            .saturating_sub(reserve)
    };
    // The actor's rounds end first, so only the drain below publishes from here on.
    match tokio::time::timeout(left(RELEASE_RESERVE), outbox.send(StopPublishing)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => tracing::debug!("outbox actor already stopped"),
        Err(_) => tracing::warn!("outbox actor did not take the stop in time"),
    }
    let drain_timeout = SHUTDOWN_DRAIN_TIMEOUT.min(left(RELEASE_RESERVE));
    let drained = match tokio::time::timeout(drain_timeout, drain_retrying(publisher)).await {
        Ok(Ok(published)) => {
            tracing::info!(published, "outbox drained before shutdown");
            Ok(())
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "outbox not drained; pending events are published on the next start");
            Err(error.to_string())
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = u64::try_from(drain_timeout.as_millis()).unwrap_or(u64::MAX),
                "outbox drain timed out; pending events are published on the next start"
            );
            Err(format!("the drain did not finish within {drain_timeout:?}"))
        }
    };
    publisher.flush(Duration::from_secs(1).min(left(RELEASE_RESERVE)));
    // A round stuck on a dead broker holds the publisher until its message timeout: the
    // lease waits for it only so long (it expires by itself, and this process publishes
    // nothing more).
    let release = RELEASE_RESERVE.min(left(Duration::ZERO));
    match tokio::time::timeout(release, publisher.release_lease()).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "outbox lease not released; another replica takes over when it expires")
        }
        Err(_) => tracing::warn!(
            "outbox lease not released in time; another replica takes over when it expires"
        ),
    }
    drained
}

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Every request runs in a span carrying its request id (the caller's `x-request-id` when
/// it sends a sane one, else a new UUID), so the log lines of the request, including the
/// `event_id` of the event it wrote, can be found together. The id is echoed in the
/// response; the request is counted and timed by route.
fn request_span<S>(
    request: ServiceRequest,
    service: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
    S::Future: 'static,
{
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let method = request.method().to_string();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = request
        .app_data::<web::Data<AppState>>()
        .map(|state| Arc::clone(&state.metrics));
    let span = tracing::info_span!("request", %request_id, %method, %route);
    let started = Instant::now();
    let response = service.call(request);
    Box::pin(
        async move {
            let mut response = response.await?;
            let status = response.status().as_u16();
            let elapsed = started.elapsed().as_secs_f64();
            tracing::info!(
                path = %response.request().path(),
                status,
                elapsed_ms = elapsed * 1000.0,
                "request"
            );
            if let Some(metrics) = metrics {
                metrics.observe_request(&method, &route, status, elapsed);
            }
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID_HEADER, value);
            }
            Ok(response)
        }
        .instrument(span),
    )
}

/// The last drain, retried until it succeeds (the caller bounds it with a timeout).
/// Pooled connections opened by the HTTP workers die with them when the server stops; the
/// first attempts can fail on those, and the pool replaces them with fresh ones.
async fn drain_retrying(publisher: &OutboxPublisher) -> Result<usize, OutboxError> {
    loop {
        match publisher.drain().await {
            Ok(published) => return Ok(published),
            Err(OutboxError::Database(error)) => {
                tracing::debug!(%error, "shutdown drain: database error, retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => return Err(other),
        }
    }
}

/// The machine's name (in a container, the container's), for the default replica id.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
