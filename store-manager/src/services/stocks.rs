//! Checking stock in and out (the lab's `PUT /stocks`, from lab 6), and the stock reads the
//! suppliers' GraphQL query answers from.
//!
//! A movement is all or nothing: every line is applied in one transaction, and a line that
//! would take a product below zero (or above what the column holds) rolls the whole
//! movement back. Each line is one conditional `UPDATE … WHERE quantity >= n`, the
//! statement orders use, so a movement and concurrent orders never oversell; lines are
//! applied in product id order, as orders lock them, so the two never wait on each other
//! in a cycle.
//!
//! # No event
//! Nothing here writes to the outbox. The store publishes user and order events only:
//! creating a product and setting its stock (`POST /stocks`) publish nothing, and orders
//! tell their consumers what was sold through `OrderCreated`/`OrderDeleted`, not through
//! stock levels. A stock event that only check-ins and check-outs published would give
//! consumers a partial picture of the stock, so there is none until every stock change
//! publishes one.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait as _,
    QueryFilter as _, Set,
};
use shared_events::Money;

use crate::database;
use crate::entities::{product, stock};
use crate::services::products::{self, table_id};
use crate::services::{LinesError, lines_by_product};

#[derive(Debug, thiserror::Error)]
pub enum StockError {
    #[error(transparent)]
    Lines(#[from] LinesError),
    #[error("operation must be \"+\" (check in) or \"-\" (check out), got {0:?}")]
    UnknownOperation(String),
    #[error("product {0} does not exist")]
    UnknownProduct(i64),
    #[error(
        "not enough stock for product {product_id}: {requested} to check out, {available} available"
    )]
    BelowZero {
        product_id: i64,
        requested: i64,
        available: i64,
    },
    #[error("checking {requested} in would take product {product_id} past {max} units")]
    AboveMaximum {
        product_id: i64,
        requested: i64,
        max: i32,
    },
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// The direction of a movement, as the lab writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `"+"`: units arrive.
    CheckIn,
    /// `"-"`: units leave.
    CheckOut,
}

impl Operation {
    pub fn parse(text: &str) -> Result<Self, StockError> {
        match text {
            "+" => Ok(Operation::CheckIn),
            "-" => Ok(Operation::CheckOut),
            other => Err(StockError::UnknownOperation(other.to_owned())),
        }
    }
}

/// A validated movement: at least one line, quantities in range, one line per product
/// (repeated products are added up), in product id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMovement {
    operation: Operation,
    lines: BTreeMap<i64, i64>,
}

impl StockMovement {
    pub fn parse(
        operation: Operation,
        items: impl IntoIterator<Item = (i64, i64)>,
    ) -> Result<Self, StockError> {
        let lines = lines_by_product(items)?;
        Ok(StockMovement { operation, lines })
    }
}

/// A product's quantity on hand after a movement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StockLevel {
    pub product_id: i64,
    pub quantity: i64,
}

/// Applies `movement` in one transaction; returns the new quantity of each product, in
/// product id order. On any error nothing changed.
pub async fn move_stock(
    db: &DatabaseConnection,
    movement: StockMovement,
) -> Result<Vec<StockLevel>, StockError> {
    let transaction = database::begin_write(db).await?;
    let mut levels = Vec::with_capacity(movement.lines.len());
    for (&product_id, &quantity) in &movement.lines {
        levels.push(apply_line(&transaction, movement.operation, product_id, quantity).await?);
    }
    transaction.commit().await?;
    let operation = match movement.operation {
        Operation::CheckIn => "+",
        Operation::CheckOut => "-",
    };
    tracing::info!(operation, products = levels.len(), "stock moved");
    Ok(levels)
}

/// Checks `quantity` units of one product in or out; the quantity on hand after.
async fn apply_line(
    connection: &impl ConnectionTrait,
    operation: Operation,
    product_id: i64,
    quantity: i64,
) -> Result<StockLevel, StockError> {
    let key = table_id(product_id).ok_or(StockError::UnknownProduct(product_id))?;
    if !products::exists(connection, key).await? {
        return Err(StockError::UnknownProduct(product_id));
    }
    let current = current_quantity(connection, key).await?;
    let applied = match operation {
        Operation::CheckOut => take(connection, key, quantity).await?,
        Operation::CheckIn if current.is_none() => {
            // A product always gets its stock row when it is created; a database
            // filled by other means may lack it.
            let quantity = i32::try_from(quantity).unwrap_or(i32::MAX);
            stock::Entity::insert(stock::ActiveModel {
                product_id: Set(key),
                quantity: Set(quantity),
            })
            .exec(connection)
            .await?;
            true
        }
        Operation::CheckIn => {
            stock::Entity::update_many()
                .col_expr(
                    stock::Column::Quantity,
                    Expr::col(stock::Column::Quantity).add(quantity),
                )
                .filter(stock::Column::ProductId.eq(key))
                .filter(stock::Column::Quantity.lte(i64::from(i32::MAX) - quantity))
                .exec(connection)
                .await?
                .rows_affected
                == 1
        }
    };
    if !applied {
        return Err(match operation {
            Operation::CheckOut => StockError::BelowZero {
                product_id,
                requested: quantity,
                available: current.unwrap_or(0),
            },
            Operation::CheckIn => StockError::AboveMaximum {
                product_id,
                requested: quantity,
                max: i32::MAX,
            },
        });
    }
    Ok(StockLevel {
        product_id,
        quantity: current_quantity(connection, key).await?.unwrap_or(0),
    })
}

/// Takes `quantity` units out of the product's stock, in one conditional statement (see
/// the module documentation); `false`, and nothing changed, when fewer are on hand.
pub(crate) async fn take(
    connection: &impl ConnectionTrait,
    key: i32,
    quantity: i64,
) -> Result<bool, DbErr> {
    let taken = stock::Entity::update_many()
        .col_expr(
            stock::Column::Quantity,
            Expr::col(stock::Column::Quantity).sub(quantity),
        )
        .filter(stock::Column::ProductId.eq(key))
        .filter(stock::Column::Quantity.gte(quantity))
        .exec(connection)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Puts `quantity` units back into the product's stock (a deleted order's).
pub(crate) async fn put_back(
    connection: &impl ConnectionTrait,
    key: i32,
    quantity: i64,
) -> Result<(), DbErr> {
    stock::Entity::update_many()
        .col_expr(
            stock::Column::Quantity,
            Expr::col(stock::Column::Quantity).add(quantity),
        )
        .filter(stock::Column::ProductId.eq(key))
        .exec(connection)
        .await?;
    Ok(())
}

/// The product's quantity on hand; `None` when it has no stock row.
pub(crate) async fn current_quantity(
    connection: &impl ConnectionTrait,
    key: i32,
) -> Result<Option<i64>, DbErr> {
    Ok(stock::Entity::find_by_id(key)
        .one(connection)
        .await?
        .map(|stock| i64::from(stock.quantity)))
}

/// A product with its quantity on hand, as the suppliers' query shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductStock {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub price: Money,
    pub quantity: i64,
}

/// The product and its stock, or `None` when there is no such product.
pub async fn product_stock(
    db: &DatabaseConnection,
    product_id: i64,
) -> Result<Option<ProductStock>, DbErr> {
    let Some(key) = table_id(product_id) else {
        return Ok(None);
    };
    let Some((found, stock)) = product::Entity::find_by_id(key)
        .find_also_related(stock::Entity)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(ProductStock {
        id: product_id,
        name: found.name,
        sku: found.sku,
        price: Money::from_cents(found.price_cents),
        quantity: stock.map_or(0, |stock| i64::from(stock.quantity)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::MAX_LINE_QUANTITY;

    #[test]
    fn operations_are_the_labs_signs() {
        assert_eq!(Operation::parse("+").ok(), Some(Operation::CheckIn));
        assert_eq!(Operation::parse("-").ok(), Some(Operation::CheckOut));
        for other in ["", "add", "++", " +", "*"] {
            assert!(matches!(
                Operation::parse(other),
                Err(StockError::UnknownOperation(_))
            ));
        }
    }

    #[test]
    fn repeated_products_are_added_up_and_bad_quantities_refused() {
        let movement =
            StockMovement::parse(Operation::CheckIn, [(3, 1), (1, 2), (3, 4)]).expect("valid");
        assert_eq!(
            movement.lines.into_iter().collect::<Vec<_>>(),
            [(1, 2), (3, 5)]
        );
        assert!(matches!(
            StockMovement::parse(Operation::CheckOut, []),
            Err(StockError::Lines(LinesError::NoItems))
        ));
        for quantity in [0, -1, MAX_LINE_QUANTITY + 1] {
            assert!(matches!(
                StockMovement::parse(Operation::CheckOut, [(1, quantity)]),
                Err(StockError::Lines(LinesError::InvalidQuantity { .. }))
            ));
        }
    }
}
