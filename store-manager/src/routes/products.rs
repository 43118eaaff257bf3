//! `/products` and `/stocks`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use shared_events::Money;

use super::error::{ApiError, Unreadable};
use super::{AppState, done_or_not_found};
use crate::services::products::{self, NewProduct, StockWrite};
use crate::services::stocks::{self, Operation, StockMovement};

const MAX_NAME_CHARS: usize = 100;
const MAX_SKU_CHARS: usize = 64;

#[derive(Debug, Deserialize)]
pub(super) struct CreateProductBody {
    name: String,
    sku: String,
    /// Taken as any JSON value so a bad amount is a 422 that says why, not a parse error.
    price: Value,
}

impl TryFrom<CreateProductBody> for NewProduct {
    type Error = ApiError;

    fn try_from(body: CreateProductBody) -> Result<Self, Self::Error> {
        let name = body.name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(|c| c.is_control() || c == '<' || c == '>')
        {
            return Err(ApiError::Unprocessable(
                format!(
                "name must be 1 to {MAX_NAME_CHARS} characters, without control characters or markup"
            ).into(),
            ));
        }
        let sku = body.sku.trim();
        if sku.is_empty()
            || sku.len() > MAX_SKU_CHARS
            || !sku
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::Unprocessable(
                format!("sku must be 1 to {MAX_SKU_CHARS} letters, digits, '-' or '_'").into(),
            ));
        }
        let price: Money = serde_json::from_value(body.price).map_err(|error| {
            ApiError::Unprocessable(Unreadable::new("invalid price", error).into())
        })?;
        if !price.is_positive() {
            return Err(ApiError::Unprocessable(
                format!("price must be greater than 0, got {price}").into(),
            ));
        }
        Ok(NewProduct {
            name: name.to_owned(),
            sku: sku.to_owned(),
            price,
        })
    }
}

pub(super) async fn create_product(
    state: web::Data<AppState>,
    body: web::Json<CreateProductBody>,
) -> Result<HttpResponse, ApiError> {
    let new_product = NewProduct::try_from(body.into_inner())?;
    let product_id = products::create_product(&state.db, new_product).await?;
    Ok(HttpResponse::Created().json(json!({ "product_id": product_id })))
}

pub(super) async fn get_product(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let product = products::find_product(&state.db, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(product))
}

pub(super) async fn delete_product(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let deleted = products::delete_product(&state.db, id.into_inner()).await;
    done_or_not_found(deleted, "deleted", |error| {
        matches!(error, products::ProductError::NotFound(_))
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct SetStockBody {
    product_id: i64,
    quantity: i64,
}

pub(super) async fn set_stock(
    state: web::Data<AppState>,
    body: web::Json<SetStockBody>,
) -> Result<HttpResponse, ApiError> {
    let SetStockBody {
        product_id,
        quantity,
    } = body.into_inner();
    let quantity = i32::try_from(quantity)
        .ok()
        .filter(|quantity| *quantity >= 0)
        .ok_or_else(|| {
            ApiError::Unprocessable(
                format!(
                    "quantity must be between 0 and {}, got {quantity}",
                    i32::MAX
                )
                .into(),
            )
        })?;
    let write = products::set_stock(&state.db, product_id, quantity).await?;
    // `result` is the lab's answer, kept for its clients.
    let result = match write {
        StockWrite::Updated => "rows updated: 1".to_owned(),
        StockWrite::Added => format!("rows added: {product_id}"),
    };
    Ok(HttpResponse::Ok().json(json!({
        "product_id": product_id,
        "quantity": quantity,
        "result": result,
    })))
}

#[derive(Debug, Deserialize)]
pub(super) struct StockLineBody {
    product_id: i64,
    quantity: i64,
}

/// The body of `PUT /stocks`, as lab 6 sends it.
#[derive(Debug, Deserialize)]
pub(super) struct MoveStockBody {
    items: Vec<StockLineBody>,
    operation: String,
}

/// Checks items in (`"+"`) or out (`"-"`), all in one transaction. Publishes nothing:
/// [`crate::services::stocks`] says why.
pub(super) async fn move_stock(
    state: web::Data<AppState>,
    body: web::Json<MoveStockBody>,
) -> Result<HttpResponse, ApiError> {
    let MoveStockBody { items, operation } = body.into_inner();
    let movement = StockMovement::parse(
        Operation::parse(&operation)?,
        items.iter().map(|line| (line.product_id, line.quantity)),
    )?;
    let levels = stocks::move_stock(&state.db, movement).await?;
    // `result` is the lab's answer; `items` the quantities now on hand.
    Ok(HttpResponse::Ok().json(json!({ "result": "OK", "items": levels })))
}

pub(super) async fn get_stock(
    state: web::Data<AppState>,
    product_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let stock = products::find_stock(&state.db, product_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(stock))
}

pub(super) async fn stock_overview(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let lines = products::stock_overview(&state.db).await?;
    Ok(HttpResponse::Ok().json(lines))
}
