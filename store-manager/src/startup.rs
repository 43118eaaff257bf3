//! Building and running the application: database, outbox actor, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor as _;
use actix_web::dev::{Server, Service as _};
use actix_web::{App, HttpServer, web};
use futures::FutureExt as _;
use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::database::{self, DatabaseError};
use crate::outbox::{OutboxActor, OutboxError, OutboxPublisher};
use crate::routes::{self, AppState};

/// How long a graceful shutdown waits for the outbox to publish what is pending.
const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
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
        let db = database::connect(&settings.database_url).await?;
        tracing::info!(
            database = %database::redact(&settings.database_url),
            "database ready, migrations applied"
        );
        let publisher = Arc::new(OutboxPublisher::new(
            db.clone(),
            &settings.kafka,
            &settings.outbox,
        )?);
        let outbox = OutboxActor::new(Arc::clone(&publisher), settings.outbox.clone()).start();
        let listener =
            TcpListener::bind(settings.listen_addr).map_err(|source| StartupError::Bind {
                addr: settings.listen_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen_addr,
            source,
        })?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            outbox,
            topics: settings.topics.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(|request, service| {
                    let method = request.method().clone();
                    let path = request.path().to_owned();
                    let started = Instant::now();
                    service.call(request).map(move |result| {
                        if let Ok(response) = &result {
                            tracing::info!(
                                %method,
                                %path,
                                status = response.status().as_u16(),
                                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                                "request"
                            );
                        }
                        result
                    })
                })
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            addr: settings.listen_addr,
            source,
        })?
        .shutdown_timeout(10)
        .run();
        tracing::info!(addr = %local_addr, "store-manager listening");
        Ok(Application {
            port: local_addr.port(),
            server,
            db,
            publisher,
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
        match tokio::time::timeout(SHUTDOWN_DRAIN_TIMEOUT, self.publisher.drain()).await {
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
        tracing::info!("store-manager stopped");
        Ok(())
    }
}
