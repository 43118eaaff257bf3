//! `/orders` and the order reports.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::outbox::Wake;
use crate::services::orders::{self, NewOrder, OrderError};

#[derive(Debug, Deserialize)]
pub(super) struct OrderLineBody {
    product_id: i64,
    quantity: i64,
}

#[derive(Debug, Deserialize)]
pub(super) struct CreateOrderBody {
    user_id: i64,
    items: Vec<OrderLineBody>,
}

#[derive(Debug, Deserialize)]
pub(super) struct UpdateOrderBody {
    order_id: i64,
    is_paid: bool,
}

pub(super) async fn create_order(
    state: web::Data<AppState>,
    body: web::Json<CreateOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let new_order = NewOrder::parse(
        body.user_id,
        body.items
            .iter()
            .map(|line| (line.product_id, line.quantity)),
    )?;
    let order_id = orders::create_order(&state.db, &state.topics, new_order).await?;
    state.outbox.do_send(Wake);
    Ok(HttpResponse::Created().json(json!({ "order_id": order_id })))
}

pub(super) async fn get_order(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let order = orders::find_order(&state.db, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(order))
}

pub(super) async fn update_order(
    state: web::Data<AppState>,
    body: web::Json<UpdateOrderBody>,
) -> Result<HttpResponse, ApiError> {
    let UpdateOrderBody { order_id, is_paid } = body.into_inner();
    match orders::set_paid(&state.db, &state.topics, order_id, is_paid).await {
        Ok(()) => {
            state.outbox.do_send(Wake);
            Ok(HttpResponse::Ok().json(json!({ "updated": true })))
        }
        Err(error @ OrderError::NotFound(_)) => {
            Ok(HttpResponse::NotFound()
                .json(json!({ "updated": false, "error": error.to_string() })))
        }
        Err(error) => Err(error.into()),
    }
}

pub(super) async fn delete_order(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    match orders::delete_order(&state.db, &state.topics, id.into_inner()).await {
        Ok(()) => {
            state.outbox.do_send(Wake);
            Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
        }
        Err(error @ OrderError::NotFound(_)) => {
            Ok(HttpResponse::NotFound()
                .json(json!({ "deleted": false, "error": error.to_string() })))
        }
        Err(error) => Err(error.into()),
    }
}

pub(super) async fn highest_spenders(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(orders::highest_spenders(&state.db).await?))
}

pub(super) async fn best_sellers(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(orders::best_sellers(&state.db).await?))
}
