//! `/orders` and the order reports.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::{AppState, done_or_not_found};
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
    let order_id = orders::create_order(&state.db, &state.events, new_order).await?;
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
    let updated = orders::set_paid(&state.db, &state.events, order_id, is_paid).await;
    done_or_not_found(updated, "updated", order_not_found)
}

pub(super) async fn delete_order(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let deleted = orders::delete_order(&state.db, &state.events, id.into_inner()).await;
    done_or_not_found(deleted, "deleted", order_not_found)
}

fn order_not_found(error: &OrderError) -> bool {
    matches!(error, OrderError::NotFound(_))
}

pub(super) async fn highest_spenders(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(orders::highest_spenders(&state.db).await?))
}

pub(super) async fn best_sellers(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(orders::best_sellers(&state.db).await?))
}
