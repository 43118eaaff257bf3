//! HTTP routes (DESIGN §4), the extractor settings that turn bad input into JSON errors,
//! and the shared [`AppState`].

pub mod error;
mod graphql;
mod health;
mod orders;
mod products;
mod users;

use actix::Addr;
use actix_web::error::{JsonPayloadError, PathError};
use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde_json::json;

use std::sync::Arc;

use crate::metrics::Metrics;
use crate::outbox::{OutboxActor, OutboxHealth, OutboxPublisher, OutboxWaker};
use error::{ApiError, Unreadable};
use supervision::RestartBudget;

/// Largest JSON body accepted; larger ones get 413. A user is a few hundred bytes.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    /// The outbox actor, for readiness (is it running?).
    pub outbox: Addr<OutboxActor>,
    /// For readiness (can the broker be reached?) and the outbox gauges.
    pub publisher: Arc<OutboxPublisher>,
    pub metrics: Arc<Metrics>,
    /// The topics events go to, and the outbox actor the services wake after each commit.
    pub events: OutboxWaker,
    /// The outbox actor's state and restarts (readiness).
    pub outbox_health: Arc<OutboxHealth>,
    /// Exhausted: the service is on its way out (readiness).
    pub restart_budget: Arc<RestartBudget>,
    /// `OUTBOX_READY_MAX_AGE_SECS`: readiness fails while the oldest pending row is older.
    pub ready_max_pending_age: std::time::Duration,
}

/// Registers every route and the JSON error handlers.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(
            web::JsonConfig::default()
                .limit(MAX_JSON_BODY_BYTES)
                .error_handler(json_error),
        )
        .app_data(web::PathConfig::default().error_handler(path_error))
        .route("/health-check", web::get().to(health::health_check))
        .route("/ready", web::get().to(health::readiness))
        .route("/metrics", web::get().to(health::metrics))
        .route("/users", web::post().to(users::create_user))
        .route("/users/{id}", web::get().to(users::get_user))
        .route("/users/{id}", web::delete().to(users::delete_user))
        .route("/user-types", web::get().to(users::list_user_types))
        .route("/products", web::post().to(products::create_product))
        .route("/products/{id}", web::get().to(products::get_product))
        .route("/products/{id}", web::delete().to(products::delete_product))
        .route("/stocks", web::post().to(products::set_stock))
        .route("/stocks", web::put().to(products::move_stock))
        .route(
            "/stocks/graphql-query",
            web::post().to(graphql::supplier_query),
        )
        // Before /stocks/{product_id}, which would otherwise try to parse "reports".
        .route(
            "/stocks/reports/overview-stocks",
            web::get().to(products::stock_overview),
        )
        .route("/stocks/{product_id}", web::get().to(products::get_stock))
        .route("/orders", web::post().to(orders::create_order))
        .route("/orders", web::put().to(orders::update_order))
        .route(
            "/orders/reports/highest-spenders",
            web::get().to(orders::highest_spenders),
        )
        .route(
            "/orders/reports/best-sellers",
            web::get().to(orders::best_sellers),
        )
        .route("/orders/{id}", web::get().to(orders::get_order))
        .route("/orders/{id}", web::delete().to(orders::delete_order));
}

/// The lab's answer to a delete (`"deleted"`) or an order update (`"updated"`): `{done: true}`,
/// or a 404 `{done: false, "error": "…"}` when `not_found` says the row does not exist (the
/// lab's shape, plus the error every other failure carries); other errors as usual.
fn done_or_not_found<E>(
    result: Result<(), E>,
    done: &str,
    not_found: impl FnOnce(&E) -> bool,
) -> Result<HttpResponse, ApiError>
where
    E: std::fmt::Display + Into<ApiError>,
{
    match result {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({ done: true }))),
        Err(error) if not_found(&error) => {
            Ok(HttpResponse::NotFound().json(json!({ done: false, "error": error.to_string() })))
        }
        Err(error) => Err(error.into()),
    }
}

/// Unknown paths and methods: JSON like every other error.
pub async fn not_found(request: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().json(json!({
        "error": format!("no route for {} {}", request.method(), request.path())
    }))
}

fn json_error(error: JsonPayloadError, _request: &HttpRequest) -> actix_web::Error {
    let api_error = match error {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::PayloadTooLarge {
                limit: MAX_JSON_BODY_BYTES,
            }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(inner) => {
            ApiError::BadRequest(Unreadable::new("invalid JSON body", inner).into())
        }
        other => ApiError::BadRequest(Unreadable::new("cannot read the JSON body", other).into()),
    };
    api_error.into()
}

fn path_error(error: PathError, request: &HttpRequest) -> actix_web::Error {
    let cause = match error {
        PathError::Deserialize(inner) => {
            Unreadable::new(format!("invalid path {}", request.path()), inner).into()
        }
        other => other.into(),
    };
    ApiError::BadRequest(cause).into()
}
