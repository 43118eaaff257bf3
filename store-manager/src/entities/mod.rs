//! sea-orm entities, one module per table (the schema itself lives in the `db` crate's
//! migrations).

pub mod outbox;
pub mod user;
pub mod user_type;
