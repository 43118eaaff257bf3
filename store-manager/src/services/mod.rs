//! The store's operations, each one database transaction that also writes the events it
//! causes to the outbox. Routes call these; these know nothing of HTTP.

pub mod orders;
pub mod products;
pub mod users;

use sea_orm::{DbErr, SqlErr};

/// A write refused because a row still references the one being deleted. sea-orm
/// classifies MySQL's errors, but SQLite reports a parent-row violation found at the end
/// of the statement as code 1811 (SQLITE_CONSTRAINT_TRIGGER), which it does not map.
pub(crate) fn is_foreign_key_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || error.to_string().contains("FOREIGN KEY constraint failed")
}
