//! Building and running the application: database, outbox actor, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor as _;
use actix_web::body::BoxBody;
use actix_web::dev::{Server, Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpServer, web};
use futures::future::LocalBoxFuture;
use sea_orm::{DatabaseConnection, DbBackend};
use tracing::Instrument as _;

use crate::config::{ConfigError, Settings};
use crate::database::{self, DatabaseError};
use crate::metrics::Metrics;
use crate::outbox::{OutboxActor, OutboxError, OutboxPublisher, StopPublishing};
use crate::routes::{self, AppState};

/// How long a graceful shutdown waits for the outbox to publish what is pending.
const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

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
        let listener =
            TcpListener::bind(settings.listen_addr).map_err(|source| StartupError::Bind {
                addr: settings.listen_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
        let mut outbox_settings = settings.outbox.clone();
        outbox_settings
            .replica_id
            .get_or_insert_with(|| format!("{}:{}", host_name(), local_addr.port()));
        let metrics = Arc::new(Metrics::default());
        let mut publisher = OutboxPublisher::new(
            database::connect_outbox_pool(&settings.database_url).await?,
            &settings.kafka,
            &outbox_settings,
        )?
        .with_metrics(Arc::clone(&metrics));
        if db.get_database_backend() == DbBackend::Sqlite {
            // One writer connection for everything, queued fairly (see `with_writer`).
            publisher = publisher.with_writer(db.clone());
        }
        let publisher = Arc::new(publisher);
        let outbox = OutboxActor::new(Arc::clone(&publisher), outbox_settings).start();
        let state = web::Data::new(AppState {
            db: db.clone(),
            outbox: outbox.clone(),
            publisher: Arc::clone(&publisher),
            metrics,
            topics: settings.topics.clone(),
        });
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
        .shutdown_timeout(10)
        .run();
        tracing::info!(addr = %local_addr, "store-manager listening");
        Ok(Application {
            port: local_addr.port(),
            server,
            db,
            publisher,
            outbox,
        })
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

    /// Serves until SIGINT/SIGTERM (or [`Self::server_handle`] stops it), then gives the
    /// outbox a few seconds to publish what the last requests committed. Anything still
    /// pending after that is published by the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        // The actor's rounds end first, so only the drain below publishes from here on.
        if self.outbox.send(StopPublishing).await.is_err() {
            tracing::debug!("outbox actor already stopped");
        }
        match tokio::time::timeout(SHUTDOWN_DRAIN_TIMEOUT, drain_retrying(&self.publisher)).await {
            Ok(Ok(published)) => {
                tracing::info!(published, "outbox drained before shutdown")
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "outbox not drained; pending events are published on the next start")
            }
            Err(_) => tracing::warn!(
                timeout_secs = SHUTDOWN_DRAIN_TIMEOUT.as_secs(),
                "outbox drain timed out; pending events are published on the next start"
            ),
        }
        self.publisher.flush(Duration::from_secs(1));
        if let Err(error) = self.publisher.release_lease().await {
            tracing::warn!(%error, "outbox lease not released; another replica takes over when it expires");
        }
        tracing::info!("store-manager stopped");
        Ok(())
    }
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
