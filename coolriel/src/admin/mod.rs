//! The admin HTTP server (`COOLRIEL_ADMIN_ADDR`, default `127.0.0.1:5001`), started by
//! [`Coolriel::start`](crate::Coolriel::start) and stopped by its shutdown:
//!
//! | route                 | answer                                                         |
//! |-----------------------|----------------------------------------------------------------|
//! | `GET /health-check`   | 200 `{"status":"ok"}`: the process answers (liveness)          |
//! | `GET /ready`          | 200 when the service can work, else 503 naming every reason: the broker, a writable output directory, the handler actors, the assignment, partitions recovering from a restart, the restart budget (see [`readiness`]) |
//! | `GET /metrics`        | Prometheus/OpenMetrics text (see [`crate::metrics`])           |
//! | `GET /?kind=&user_type=&page=` | the email gallery: the emails in `OUTPUT_DIR`, newest first, as cards (the email rendered, the event it came from, from the tail of `history.jsonl`), filtered by kind and user type, 48 a page, and the events handled by type; refreshes itself every 5 s; 400 JSON for an unknown filter value |
//! | `GET /emails/{file}`  | one email file (`welcome_7.html`, `receipt_12.txt`, ...)       |
//! | `GET /history?limit=` | the last `limit` (default 50, at most 1000) history records    |
//! | `GET /preview`        | every template variant, each linked to its preview             |
//! | `GET /preview/{name}` | one variant (`welcome_client`, `.txt` for the text) rendered with sample data; 404 JSON for an unknown name |
//!
//! Anything else is a 404 with a JSON `{"error":..}` body, as are the files the gallery
//! does not serve (see [`gallery`]).
//!
//! The server has one worker thread of its own; blocking work (the broker, the disk) runs
//! on its blocking pool. Nothing here calls the consumer or waits for an actor. A task on
//! the actix system refreshes the partition gauges from the broker every
//! `COOLRIEL_LAG_REFRESH_MS` through the [`Monitor`], also on a blocking thread.

pub mod gallery;
pub mod preview;
pub mod readiness;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServerHandle, Service, ServiceRequest, ServiceResponse};
use actix_web::error::{InternalError, PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures::future::LocalBoxFuture;
use serde_json::json;
use tokio::sync::oneshot;

use crate::health::ServiceHealth;
use crate::kafka::context::{self, PartitionMap};
use crate::kafka::monitor::Monitor;
use crate::metrics::Metrics;
use crate::registry::ActorLiveness;
use crate::templates::{Format, Templates};

/// The most time one refresh of the partition gauges may take.
const REFRESH_BUDGET: Duration = Duration::from_secs(2);
/// How long a stopping server lets a request finish.
const SHUTDOWN_TIMEOUT_SECS: u64 = 2;

/// What the routes share.
#[derive(Debug, Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub monitor: Arc<Monitor>,
    /// The partition actors: the partitions this instance owns.
    pub partitions: PartitionMap,
    /// `OUTPUT_DIR`: the emails and `history.jsonl`.
    pub output_dir: PathBuf,
    /// The loaded templates, for `GET /preview/{template}`.
    pub templates: Arc<Templates>,
    /// The restart budget, recovering partitions, the watchdog's verdict (readiness).
    pub health: Arc<ServiceHealth>,
    /// Every handler actor by name, with its liveness probe (readiness).
    pub handlers: Arc<[ActorLiveness]>,
}

impl AdminState {
    fn owned_partitions(&self) -> Vec<(String, i32)> {
        context::lock(&self.partitions).keys().cloned().collect()
    }
}

/// The running server and its gauge refresher.
#[derive(Debug)]
pub(crate) struct AdminServer {
    handle: ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    stop_refresh: oneshot::Sender<()>,
    refresher: tokio::task::JoinHandle<()>,
}

impl AdminServer {
    /// Serve on `listener`; must run inside an actix system, which runs the server's
    /// accept loop and the refresher.
    pub(crate) fn start(
        listener: TcpListener,
        state: AdminState,
        refresh_every: Duration,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let data = web::Data::new(state.clone());
        let server: Server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .wrap_fn(log_request)
                .configure(configure)
                .default_service(web::to(not_found))
        })
        .workers(1)
        // main.rs handles SIGINT/SIGTERM and stops the server through the shutdown.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .listen(listener)?
        .run();
        let handle = server.handle();
        let server = actix::spawn(server);
        let (stop_refresh, stopped) = oneshot::channel();
        let refresher = actix::spawn(refresh_partition_gauges(state, refresh_every, stopped));
        tracing::info!(addr = %addr, "admin server listening");
        Ok(AdminServer {
            handle,
            server,
            stop_refresh,
            refresher,
        })
    }

    pub(crate) async fn stop(self) {
        let _ = self.stop_refresh.send(());
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.server.await {
            tracing::warn!(error = %error, "admin server stopped with an error");
        }
        let _ = self.refresher.await;
        tracing::info!("admin server stopped");
    }
}

/// Every `every`, read the owned partitions' offsets from the broker (on a blocking
/// thread); the first reading is taken at once.
async fn refresh_partition_gauges(
    state: AdminState,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let partitions = state.owned_partitions();
        let monitor = Arc::clone(&state.monitor);
        let metrics = Arc::clone(&state.metrics);
        let refresh = tokio::task::spawn_blocking(move || {
            monitor.refresh(&partitions, &metrics, REFRESH_BUDGET);
        });
        if let Err(error) = refresh.await {
            tracing::warn!(error = %error, "partition gauge refresh failed");
        }
        tokio::select! {
            _ = &mut stop => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Registers the routes and the JSON error handlers.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .route("/health-check", web::get().to(health_check))
        .route("/ready", web::get().to(readiness::readiness))
        .route("/metrics", web::get().to(metrics))
        .route("/", web::get().to(gallery::index))
        .route("/emails/{file}", web::get().to(gallery::files::email))
        .route("/history", web::get().to(gallery::files::history))
        .route("/preview", web::get().to(preview::index))
        .route("/preview/{template}", web::get().to(preview::show));
}

/// Liveness, as the store's: the process answers.
async fn health_check() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Prometheus text exposition; the partition gauges are as last refreshed.
async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    let assigned = context::lock(&state.partitions).len();
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(assigned))
}

/// Unknown paths and methods: JSON like every other error.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    error_response(
        HttpResponse::NotFound(),
        &format!("no route for {} {}", request.method(), request.path()),
    )
}

pub(crate) fn error_response(
    mut builder: actix_web::HttpResponseBuilder,
    message: &str,
) -> HttpResponse {
    builder.json(json!({ "error": message }))
}

/// A page rendered through its template, or a 500 JSON error saying `what` could not be
/// rendered.
pub(crate) fn html_page<E: std::fmt::Display>(
    rendered: Result<String, E>,
    what: &str,
) -> HttpResponse {
    match rendered {
        Ok(page) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page),
        Err(error) => {
            tracing::warn!(error = %error, "cannot render {what}");
            error_response(
                HttpResponse::InternalServerError(),
                &format!("cannot render {what}"),
            )
        }
    }
}

/// An email (a file written, or a preview) in its format: the emails need no script nor
/// anything from elsewhere, and a browser must not guess another type.
pub(crate) fn email_response<B>(format: Format, body: B) -> HttpResponse
where
    B: actix_web::body::MessageBody + 'static,
{
    let content_type = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Text => "text/plain; charset=utf-8",
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
        ))
        .body(body)
}

/// A path parameter that does not decode (`%FF`) matches no file: 404.
fn path_error(error: PathError, request: &HttpRequest) -> actix_web::Error {
    let response = error_response(
        HttpResponse::NotFound(),
        &format!("no such file: {}", request.path()),
    );
    InternalError::from_response(error, response).into()
}

fn query_error(error: QueryPayloadError, _request: &HttpRequest) -> actix_web::Error {
    let response = error_response(
        HttpResponse::BadRequest(),
        &format!("invalid query: {error}"),
    );
    InternalError::from_response(error, response).into()
}

/// One debug line per request (probes and scrapes are frequent; the store's requests are
/// the ones logged at info).
fn log_request<S>(
    request: ServiceRequest,
    service: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
    S::Future: 'static,
{
    let method = request.method().to_string();
    let path = request.path().to_owned();
    let started = std::time::Instant::now();
    let response = service.call(request);
    Box::pin(async move {
        let response = response.await?;
        tracing::debug!(
            %method,
            %path,
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "admin request"
        );
        Ok(response)
    })
}
