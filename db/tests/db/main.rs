//! The db crate's integration tests, one binary for both files: each is a module, so
//! sea-orm and sqlx (with its bundled SQLite) are linked once rather than once per file.
//! `cargo test -p db --test db init_sql::` runs the tests of one module.
//!
//! - [`init_sql`]: `db/init.sql` against the migrations, on a real MySQL/MariaDB server;
//! - [`lab_emails`]: the lab's e-mail migration on a database that ran the earlier ones,
//!   on SQLite.

mod init_sql;
mod lab_emails;
