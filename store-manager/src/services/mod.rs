//! The store's operations, each one database transaction that also writes the events it
//! causes to the outbox. Routes call these; these know nothing of HTTP.

pub mod orders;
pub mod products;
pub mod stocks;
pub mod users;

use std::collections::BTreeMap;

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, FromQueryResult, SqlErr, Statement};
use shared_events::Money;

use crate::outbox::EventSink;

/// Most units of one product in one order or stock movement; more is a typo.
pub const MAX_LINE_QUANTITY: i64 = 1_000_000;

/// Why the lines of an order or a stock movement were refused (a 422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    #[error("at least one item is needed")]
    NoItems,
    #[error(
        "quantity {quantity} for product {product_id} must be between 1 and {MAX_LINE_QUANTITY}"
    )]
    InvalidQuantity { product_id: i64, quantity: i64 },
}

/// `(product id, quantity)` lines as one line per product (repeated products added up),
/// in product id order, the order rows are locked in; at least one line, every quantity
/// (and every sum) in 1..=[`MAX_LINE_QUANTITY`].
pub(crate) fn lines_by_product(
    items: impl IntoIterator<Item = (i64, i64)>,
) -> Result<BTreeMap<i64, i64>, LinesError> {
    let mut lines = BTreeMap::new();
    for (product_id, quantity) in items {
        if !(1..=MAX_LINE_QUANTITY).contains(&quantity) {
            return Err(LinesError::InvalidQuantity {
                product_id,
                quantity,
            });
        }
        let total: &mut i64 = lines.entry(product_id).or_default();
        *total += quantity;
        if *total > MAX_LINE_QUANTITY {
            return Err(LinesError::InvalidQuantity {
                product_id,
                quantity: *total,
            });
        }
    }
    if lines.is_empty() {
        return Err(LinesError::NoItems);
    }
    Ok(lines)
}

/// `money` as a JSON number (`1999.99`), for the keys the lab's clients read as numbers
/// (`total_expense`, `Prix unitaire`, `total_amount`, the GraphQL `price`). Our own keys
/// stay exact decimal strings; a double holds every amount below 2^53 cents to the cent,
/// and JSON writes it in the fewest digits that read back the same.
pub(crate) fn lab_number(money: Money) -> f64 {
    money.cents() as f64 / 100.0
}

/// A write refused because a row still references the one being deleted. sea-orm
/// classifies MySQL's errors, but SQLite reports a parent-row violation found at the end
/// of the statement as code 1811 (SQLITE_CONSTRAINT_TRIGGER), which it does not map.
pub(crate) fn is_foreign_key_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || error.to_string().contains("FOREIGN KEY constraint failed")
}

/// Commits `transaction`, then tells `events` it did (the application's sink wakes the
/// OutboxActor): the service that commits is the one that wakes the outbox.
pub(crate) async fn commit(
    transaction: DatabaseTransaction,
    events: &dyn EventSink,
) -> Result<(), DbErr> {
    transaction.commit().await?;
    events.committed();
    Ok(())
}

/// Runs a report's SQL (written for both backends) and turns each row into its view.
pub(crate) async fn report<Row: FromQueryResult, View>(
    db: &DatabaseConnection,
    sql: &str,
    view: impl FnMut(Row) -> View,
) -> Result<Vec<View>, DbErr> {
    let statement = Statement::from_string(db.get_database_backend(), sql);
    Ok(Row::find_by_statement(statement)
        .all(db)
        .await?
        .into_iter()
        .map(view)
        .collect())
}
