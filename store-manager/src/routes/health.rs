//! Liveness, readiness and metrics.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::outbox::{self, OutboxState};

/// How long readiness waits for the database and the broker before calling them down.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// Liveness, as the lab had it: the process answers.
pub(super) async fn health_check() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: 200 when the service can do all its work, else 503 with every reason:
///
/// ```json
/// {"ready": false, "database": "up", "broker": "up", "outbox": "restarting",
///  "outbox_restarts": 1, "oldest_pending_age_seconds": 0.4, "restart_budget": "ok",
///  "reasons": ["the outbox actor is restarting after a panic"]}
/// ```
///
/// Fails when the database or the broker does not answer within 1 s, when the outbox
/// actor is not running (restarting after a panic, stopped, or its mailbox closed), when
/// the oldest pending outbox row is older than `OUTBOX_READY_MAX_AGE_SECS` (publication is
/// stuck, whatever the reason), or when the restart budget is exhausted. Requests still
/// succeed while only the broker is down (events wait in the outbox), so a load balancer
/// may keep routing on the database alone; everything is reported.
pub(super) async fn readiness(state: web::Data<AppState>) -> HttpResponse {
    let database = tokio::time::timeout(READINESS_TIMEOUT, state.db.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let broker = state.publisher.broker_reachable(READINESS_TIMEOUT).await;
    let oldest = if database {
        tokio::time::timeout(READINESS_TIMEOUT, outbox::oldest_pending_age(&state.db))
            .await
            .ok()
            .and_then(Result::ok)
    } else {
        None
    };
    let outbox_state = if state.outbox.connected() {
        state.outbox_health.state()
    } else {
        OutboxState::Stopped
    };
    let exhausted = state.restart_budget.is_exhausted();
    let max_age = state.ready_max_pending_age.as_secs_f64();

    let mut reasons = Vec::new();
    if !database {
        reasons.push("the database does not answer".to_owned());
    }
    if !broker {
        reasons.push("the broker does not answer".to_owned());
    }
    match outbox_state {
        OutboxState::Running => {}
        OutboxState::Restarting => {
            reasons.push("the outbox actor is restarting after a panic".to_owned())
        }
        OutboxState::Stopped => reasons.push("the outbox actor is not running".to_owned()),
    }
    if let Some(age) = oldest.filter(|age| *age > max_age) {
        reasons.push(format!(
            "the oldest pending outbox row waits for {age:.1} s (more than {max_age} s)"
        ));
    }
    if exhausted {
        reasons.push("the restart budget is exhausted: shutting down".to_owned());
    }
    let status = |up: bool| if up { "up" } else { "down" };
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "database": status(database),
        "broker": status(broker),
        "outbox": outbox_state.as_str(),
        "outbox_restarts": state.outbox_health.restarts(),
        "oldest_pending_age_seconds": oldest,
        "restart_budget": if exhausted { "exhausted" } else { "ok" },
        "reasons": reasons,
    });
    if ready {
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
