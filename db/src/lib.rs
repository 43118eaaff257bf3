//! The store's schema, as timestamped sea-orm migrations that run on SQLite and MySQL/MariaDB.
//!
//! # Layout
//! - [`Migrator`]: the ordered list of migrations; `Migrator::up(&db, None)` runs at
//!   store-manager start-up and in every test database.
//! - `m20251109_000001_user_types`: the `user_types` table, seeded with the lab's three types.
//! - `m20251109_000002_users`: `users` with its foreign key to `user_types` (ON DELETE
//!   RESTRICT) and a unique email, seeded with the lab's five users.
//! - `m20251109_000003_outbox`: the transactional outbox the OutboxActor publishes from.
//! - `m20251125_000004_store`: products, stocks, orders and order items, seeded with the
//!   lab's four products and their stock. Money is stored in whole cents.
//! - `m20251125_000005_outbox_lease`: the lease that lets one of several store-manager
//!   replicas publish the outbox at a time.
//! - `m20261204_000006_lab_emails`: Jane Doe and Da Boss get the lab's addresses
//!   (`@magasinducoin.ca`); the users migration seeded them as `@example.com` and has
//!   already run on deployed databases, so it is left as it was.
//!
//! `db/init.sql` is the same schema written by hand for MySQL, for people and for the
//! docker-compose MySQL container; `tests/db/init_sql.rs` keeps the two from drifting.

pub use sea_orm_migration::prelude::*;

mod m20251109_000001_user_types;
mod m20251109_000002_users;
mod m20251109_000003_outbox;
mod m20251125_000004_store;
mod m20251125_000005_outbox_lease;
mod m20261204_000006_lab_emails;

/// Every migration, oldest first.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251109_000001_user_types::Migration),
            Box::new(m20251109_000002_users::Migration),
            Box::new(m20251109_000003_outbox::Migration),
            Box::new(m20251125_000004_store::Migration),
            Box::new(m20251125_000005_outbox_lease::Migration),
            Box::new(m20261204_000006_lab_emails::Migration),
        ]
    }
}

/// The lab's user types, `(id, name)`; ids are part of the event contract.
pub const SEED_USER_TYPES: [(i32, &str); 3] = [(1, "Client"), (2, "Employee"), (3, "Manager")];

/// The lab's users as `m20251109_000002_users` seeded them, `(name, email, user_type_id)`.
/// That migration has run on deployed databases: this list is its history and never
/// changes. Later migrations change the rows ([`LAB_EMAIL_CHANGES`]); [`SEED_USERS`] is
/// what a database holds after all of them.
pub const FIRST_SEED_USERS: [(&str, &str, i32); 5] = [
    ("Ada Lovelace", "alovelace@example.com", 1),
    ("Adele Goldberg", "agoldberg@example.com", 1),
    ("Alan Turing", "aturing@example.com", 1),
    ("Jane Doe", "jdoe@example.com", 2),
    ("Da Boss", "dboss@example.com", 3),
];

/// `(seeded address, the lab's address)`, changed by `m20261204_000006_lab_emails`.
pub const LAB_EMAIL_CHANGES: [(&str, &str); 2] = [
    ("jdoe@example.com", "jdoe@magasinducoin.ca"),
    ("dboss@example.com", "dboss@magasinducoin.ca"),
];

/// The lab's users, `(name, email, user_type_id)`, as every migration leaves them and as
/// `db/init.sql` inserts them: ids 1 to 5 in this order.
pub const SEED_USERS: [(&str, &str, i32); 5] = [
    ("Ada Lovelace", "alovelace@example.com", 1),
    ("Adele Goldberg", "agoldberg@example.com", 1),
    ("Alan Turing", "aturing@example.com", 1),
    ("Jane Doe", "jdoe@magasinducoin.ca", 2),
    ("Da Boss", "dboss@magasinducoin.ca", 3),
];

/// The lab's products, `(name, sku, price in cents, stock)`; ids 1 to 4 in this order.
pub const SEED_PRODUCTS: [(&str, &str, i64, i32); 4] = [
    ("Laptop ABC", "LP12567", 199_999, 1000),
    ("Keyboard DEF", "KB67890", 5_950, 500),
    ("Gadget XYZ", "GG12345", 575, 2),
    ("27-inch Screen WYZ", "SC27289", 29_975, 90),
];
