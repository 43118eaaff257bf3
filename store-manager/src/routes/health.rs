use actix_web::HttpResponse;
use serde_json::json;

/// Liveness, as the lab had it: the process answers.
pub(super) async fn health_check() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}
