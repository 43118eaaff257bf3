//! Products and their stock. A product is created with a stock of 0; `POST /stocks` sets it.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait as _, FromQueryResult, QueryFilter as _, Set, SqlErr,
};
use shared_events::Money;

use crate::database;
use crate::entities::{product, stock};
use crate::services::{is_foreign_key_violation, lab_number, report};

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("a product with sku {0} already exists")]
    DuplicateSku(String),
    #[error("product {0} not found")]
    NotFound(i64),
    #[error("product {0} is on an order and cannot be deleted")]
    OnAnOrder(i64),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// A product to create, already validated.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub name: String,
    pub sku: String,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProductView {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StockView {
    pub product_id: i64,
    pub quantity: i64,
}

/// One line of the stock overview: our keys, then the lab's (its report's French column
/// names, the price as a number) for the lab's clients.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StockLine {
    pub product_id: i32,
    pub name: String,
    pub sku: String,
    pub quantity: i64,
    #[serde(rename = "Article")]
    pub lab_article: String,
    #[serde(rename = "Numéro SKU")]
    pub lab_sku: String,
    #[serde(rename = "Prix unitaire")]
    pub lab_unit_price: f64,
    #[serde(rename = "Unités en stock")]
    pub lab_units_in_stock: i64,
}

#[derive(FromQueryResult)]
struct StockLineRow {
    product_id: i32,
    name: String,
    sku: String,
    price_cents: i64,
    quantity: i64,
}

/// Ids in the API are i64 (JSON numbers); the tables use INT. An id that does not fit
/// cannot exist.
pub(crate) fn table_id(id: i64) -> Option<i32> {
    i32::try_from(id).ok()
}

/// Whether the product exists.
pub(crate) async fn exists(connection: &impl ConnectionTrait, key: i32) -> Result<bool, DbErr> {
    Ok(product::Entity::find_by_id(key)
        .one(connection)
        .await?
        .is_some())
}

pub async fn create_product(
    db: &DatabaseConnection,
    new_product: NewProduct,
) -> Result<i64, ProductError> {
    let transaction = database::begin_write(db).await?;
    let sku = new_product.sku.clone();
    let inserted = product::Entity::insert(product::ActiveModel {
        id: NotSet,
        name: Set(new_product.name),
        sku: Set(new_product.sku),
        price_cents: Set(new_product.price.cents()),
        created_at: Set(Utc::now()),
    })
    .exec(&transaction)
    .await
    .map_err(|error| match error.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ProductError::DuplicateSku(sku),
        _ => ProductError::Database(error),
    })?;
    stock::Entity::insert(stock::ActiveModel {
        product_id: Set(inserted.last_insert_id),
        quantity: Set(0),
    })
    .exec(&transaction)
    .await?;
    transaction.commit().await?;
    let id = i64::from(inserted.last_insert_id);
    tracing::info!(product_id = id, "product created");
    Ok(id)
}

pub async fn find_product(db: &DatabaseConnection, id: i64) -> Result<ProductView, ProductError> {
    let found = product::Entity::find_by_id(table_id(id).ok_or(ProductError::NotFound(id))?)
        .one(db)
        .await?
        .ok_or(ProductError::NotFound(id))?;
    Ok(ProductView {
        id: i64::from(found.id),
        name: found.name,
        sku: found.sku,
        price: Money::from_cents(found.price_cents),
    })
}

pub async fn delete_product(db: &DatabaseConnection, id: i64) -> Result<(), ProductError> {
    let key = table_id(id).ok_or(ProductError::NotFound(id))?;
    let removed = product::Entity::delete_by_id(key)
        .exec(db)
        .await
        .map_err(|error| {
            if is_foreign_key_violation(&error) {
                ProductError::OnAnOrder(id)
            } else {
                ProductError::Database(error)
            }
        })?;
    if removed.rows_affected == 0 {
        return Err(ProductError::NotFound(id));
    }
    tracing::info!(product_id = id, "product deleted");
    Ok(())
}

/// How `POST /stocks` changed the stock table, in the lab's words (its `result` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockWrite {
    /// The product's stock row was updated (`"rows updated: 1"`).
    Updated,
    /// The product had no stock row; one was added (`"rows added: <product id>"`).
    Added,
}

/// Sets the quantity on hand (the lab's `POST /stocks`).
pub async fn set_stock(
    db: &DatabaseConnection,
    product_id: i64,
    quantity: i32,
) -> Result<StockWrite, ProductError> {
    let key = table_id(product_id).ok_or(ProductError::NotFound(product_id))?;
    let transaction = database::begin_write(db).await?;
    if !exists(&transaction, key).await? {
        return Err(ProductError::NotFound(product_id));
    }
    let updated = stock::Entity::update_many()
        .col_expr(stock::Column::Quantity, Expr::value(quantity))
        .filter(stock::Column::ProductId.eq(key))
        .exec(&transaction)
        .await?;
    let mut write = StockWrite::Updated;
    if updated.rows_affected == 0 {
        // MySQL counts unchanged rows as not affected: only insert when none exists.
        if stock::Entity::find_by_id(key)
            .one(&transaction)
            .await?
            .is_none()
        {
            stock::Entity::insert(stock::ActiveModel {
                product_id: Set(key),
                quantity: Set(quantity),
            })
            .exec(&transaction)
            .await?;
            write = StockWrite::Added;
        }
    }
    transaction.commit().await?;
    tracing::info!(product_id, quantity, "stock set");
    Ok(write)
}

pub async fn find_stock(
    db: &DatabaseConnection,
    product_id: i64,
) -> Result<StockView, ProductError> {
    let key = table_id(product_id).ok_or(ProductError::NotFound(product_id))?;
    let found = stock::Entity::find_by_id(key)
        .one(db)
        .await?
        .ok_or(ProductError::NotFound(product_id))?;
    Ok(StockView {
        product_id,
        quantity: i64::from(found.quantity),
    })
}

/// Every product with its quantity, by product id, in one query.
pub async fn stock_overview(db: &DatabaseConnection) -> Result<Vec<StockLine>, ProductError> {
    // CAST … AS SIGNED: MySQL widens COALESCE/SUM results (to DECIMAL for SUM), and the
    // driver decodes types strictly; a BIGINT reads the same on both backends.
    const OVERVIEW: &str = "SELECT p.id AS product_id, p.name, p.sku, p.price_cents,
                CAST(COALESCE(s.quantity, 0) AS SIGNED) AS quantity
         FROM products p LEFT JOIN stocks s ON s.product_id = p.id
         ORDER BY p.id";
    Ok(report(db, OVERVIEW, |row: StockLineRow| StockLine {
        lab_article: row.name.clone(),
        lab_sku: row.sku.clone(),
        lab_unit_price: lab_number(Money::from_cents(row.price_cents)),
        lab_units_in_stock: row.quantity,
        product_id: row.product_id,
        name: row.name,
        sku: row.sku,
        quantity: row.quantity,
    })
    .await?)
}
