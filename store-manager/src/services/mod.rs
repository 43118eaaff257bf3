//! The store's operations, each one database transaction that also writes the events it
//! causes to the outbox. Routes call these; these know nothing of HTTP.

pub mod users;
