//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::outbox;

/// How long readiness waits for the database and the broker before calling them down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Liveness, as the lab had it: the process answers.
pub(super) async fn health_check() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 when the database and the broker both answer, else 503 naming what
/// is down. Requests still succeed while only the broker is down (events wait in the
/// outbox), so a load balancer may keep routing on the database alone; both are reported.
pub(super) async fn readiness(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(READINESS_TIMEOUT, state.db.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let broker = state.publisher.broker_reachable(READINESS_TIMEOUT).await;
    let status = |up: bool| if up { "up" } else { "down" };
    let body = json!({
        "ready": database && broker,
        "database": status(database),
        "broker": status(broker),
    });
    if database && broker {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus text exposition. The outbox gauges are read from the database now; if it
/// is down they read as unknown (-1) rather than failing the scrape.
pub(super) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let pending = outbox::pending_rows(&state.db)
        .await
        .map_or(-1.0, |rows| rows as f64);
    let oldest = outbox::oldest_pending_age(&state.db).await.unwrap_or(-1.0);
    let text = state.metrics.render(pending, oldest);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}
