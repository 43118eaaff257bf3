//! sea-orm entities, one module per table (the schema itself lives in the `db` crate's
//! migrations). Relations: user → user_type; order → user; order_item → order, product;
//! stock → product.

pub mod order;
pub mod order_item;
pub mod outbox;
pub mod outbox_lease;
pub mod product;
pub mod stock;
pub mod user;
pub mod user_type;
