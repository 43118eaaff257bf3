//! The store's operations, each one database transaction that also writes the events it
//! causes to the outbox. Routes call these; these know nothing of HTTP.

pub mod orders;
pub mod products;
pub mod stocks;
pub mod users;

use sea_orm::{DbErr, SqlErr};
use shared_events::Money;

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
