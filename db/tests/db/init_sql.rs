//! `db/init.sql` against the migrations, on a real MySQL/MariaDB server.
//!
//! The migrations are the schema's source of truth, but the docker-compose MySQL container
//! builds its database from the hand-written `db/init.sql`, and store-manager then runs
//! `Migrator::up` on that database. Nothing but these tests keeps the two in step: a
//! database built by each must have the same tables, columns, indexes, foreign keys, seed
//! rows and migration records, and `Migrator::up` on a database built by `init.sql` must
//! find nothing to do (it would otherwise fail re-inserting the seed rows).
//!
//! The tests need a server: `mysql://root@127.0.0.1:3306`, or the server URL (without a
//! database) in `TEST_MYSQL_URL`. Without one they fail, they never skip. Each test works in
//! fresh `coolriel_test_<uuid>` databases and drops them at the end, also when it fails.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use db::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use uuid::Uuid;

const INIT_SQL: &str = include_str!("../../init.sql");

const DEFAULT_SERVER_URL: &str = "mysql://root@127.0.0.1:3306";

/// What is compared, as `(title, query)`. Every value that is not already text is cast to
/// text, so that rows read the same on MySQL 8 and MariaDB, whose types here differ.
const SCHEMA_QUERIES: [(&str, &str); 9] = [
    (
        "tables (name, engine, collation)",
        "SELECT TABLE_NAME, CAST(ENGINE AS CHAR), CAST(TABLE_COLLATION AS CHAR)
         FROM information_schema.TABLES
         WHERE TABLE_SCHEMA = DATABASE()
         ORDER BY TABLE_NAME",
    ),
    (
        "columns (table, column, position, type, nullable, default, extra, charset, collation)",
        "SELECT TABLE_NAME, COLUMN_NAME, CAST(ORDINAL_POSITION AS CHAR),
                CAST(COLUMN_TYPE AS CHAR), IS_NULLABLE, CAST(COLUMN_DEFAULT AS CHAR),
                CAST(EXTRA AS CHAR), CHARACTER_SET_NAME, COLLATION_NAME
         FROM information_schema.COLUMNS
         WHERE TABLE_SCHEMA = DATABASE()
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
    ),
    (
        "indexes (table, index, position, column, non-unique)",
        "SELECT TABLE_NAME, INDEX_NAME, CAST(SEQ_IN_INDEX AS CHAR), COLUMN_NAME,
                CAST(NON_UNIQUE AS CHAR)
         FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE()
         ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    ),
    (
        "foreign keys (table, name, column, referenced table, referenced column, on update, on delete)",
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME,
                k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE
         FROM information_schema.KEY_COLUMN_USAGE AS k
         JOIN information_schema.REFERENTIAL_CONSTRAINTS AS r
           ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
          AND r.TABLE_NAME = k.TABLE_NAME
          AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
         WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL
         ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    ),
    (
        "user_types rows (id, name)",
        "SELECT CAST(id AS CHAR), name FROM user_types ORDER BY id",
    ),
    (
        "users rows (id, name, email, user_type_id)",
        "SELECT CAST(id AS CHAR), name, email, CAST(user_type_id AS CHAR) FROM users ORDER BY id",
    ),
    (
        "products rows (id, name, sku, price_cents)",
        "SELECT CAST(id AS CHAR), name, sku, CAST(price_cents AS CHAR) FROM products ORDER BY id",
    ),
    (
        "stocks rows (product_id, quantity)",
        "SELECT CAST(product_id AS CHAR), CAST(quantity AS CHAR) FROM stocks ORDER BY product_id",
    ),
    (
        // Not applied_at: the two databases were not built in the same second.
        "seaql_migrations rows (version)",
        "SELECT version FROM seaql_migrations ORDER BY version",
    ),
];

#[tokio::test]
async fn init_sql_builds_the_same_database_as_the_migrations() {
    with_databases(|[migrated, scripted]| async move {
        Migrator::up(&migrated, None)
            .await
            .expect("Migrator::up on an empty database");
        run_script(&scripted, INIT_SQL).await;

        let differences = diff(&snapshot(&migrated).await, &snapshot(&scripted).await);
        assert!(
            differences.is_empty(),
            "db/init.sql and the migrations build different databases \
             (- migrations, + init.sql):\n{differences}"
        );
    })
    .await;
}

#[tokio::test]
async fn migrator_up_after_init_sql_changes_nothing() {
    with_databases(|[scripted]| async move {
        run_script(&scripted, INIT_SQL).await;
        let pending = Migrator::get_pending_migrations(&scripted)
            .await
            .expect("pending migrations");
        let pending: Vec<&str> = pending.iter().map(|m| m.name()).collect();
        assert!(
            pending.is_empty(),
            "init.sql does not record these migrations as applied: {pending:?}"
        );

        let before = snapshot_with_applied_at(&scripted).await;
        Migrator::up(&scripted, None)
            .await
            .expect("Migrator::up on a database built by init.sql");
        let after = snapshot_with_applied_at(&scripted).await;

        let differences = diff(&before, &after);
        assert!(
            differences.is_empty(),
            "Migrator::up changed a database built by init.sql \
             (- before, + after):\n{differences}"
        );
    })
    .await;
}

#[test]
fn split_statements_ignores_semicolons_in_comments_and_quotes() {
    let script = "-- a comment; with a semicolon\n\
                  CREATE TABLE t (a INT); # another; comment\n\
                  /* a block; comment */ INSERT INTO t VALUES ('x;y', \"it''s;\", 'a\\';b');\n\
                  SELECT `odd;name` FROM t--1;\n\
                  --\n\
                  -- only comments after the last statement;\n";
    assert_eq!(
        split_statements(script),
        [
            "CREATE TABLE t (a INT)",
            "INSERT INTO t VALUES ('x;y', \"it''s;\", 'a\\';b')",
            "SELECT `odd;name` FROM t--1",
        ]
    );
}

/// The server to test against, from `TEST_MYSQL_URL` or [`DEFAULT_SERVER_URL`].
#[derive(Debug, Clone)]
struct Server {
    /// `mysql://user:password@host:port`, without a database or a trailing slash.
    base: String,
    /// The URL's query string (`?...`), if any, kept for every connection.
    query: String,
}

impl Server {
    fn from_env() -> Self {
        let url = std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned());
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (url.as_str(), String::new()),
        };
        Self {
            base: base.trim_end_matches('/').to_owned(),
            query,
        }
    }

    /// The URL of `database` on this server, or of the server itself.
    fn url(&self, database: Option<&str>) -> String {
        format!("{}/{}{}", self.base, database.unwrap_or(""), self.query)
    }

    /// The URL without its password, for messages.
    fn redacted_url(&self) -> String {
        let Some((scheme, rest)) = self.base.split_once("://") else {
            return self.base.clone();
        };
        match rest.rsplit_once('@') {
            Some((user_info, host)) => {
                let user = user_info
                    .split_once(':')
                    .map_or(user_info, |(user, _)| user);
                format!("{scheme}://{user}@{host}")
            }
            None => self.base.clone(),
        }
    }

    /// Connects, failing the test with a clear message when the server cannot be reached.
    async fn connect(&self, database: Option<&str>) -> DatabaseConnection {
        let mut options = ConnectOptions::new(self.url(database));
        options
            .max_connections(2)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        Database::connect(options).await.unwrap_or_else(|error| {
            panic!(
                "cannot connect to MySQL/MariaDB at {} (database {database:?}): {error}\n\
                 These tests need a running server; set TEST_MYSQL_URL to its URL \
                 (without a database), e.g. mysql://root:password@127.0.0.1:3306",
                self.redacted_url()
            )
        })
    }
}

/// Runs `body` on `N` fresh, empty databases, then drops them, also when `body` panics.
async fn with_databases<const N: usize, F, Fut>(body: F)
where
    F: FnOnce([DatabaseConnection; N]) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let server = Server::from_env();
    let admin = server.connect(None).await;
    let names: Vec<String> = (0..N)
        .map(|_| format!("coolriel_test_{}", Uuid::new_v4().simple()))
        .collect();

    // In a task of its own, so that a panic comes back here as an error and the databases
    // are still dropped.
    let outcome = tokio::spawn({
        let (server, admin, names) = (server.clone(), admin.clone(), names.clone());
        async move {
            let mut connections = Vec::with_capacity(N);
            for name in &names {
                admin
                    .execute_unprepared(&format!("CREATE DATABASE `{name}`"))
                    .await
                    .unwrap_or_else(|error| panic!("create database {name}: {error}"));
                connections.push(server.connect(Some(name)).await);
            }
            let connections: [DatabaseConnection; N] =
                connections.try_into().expect("one connection per database");
            body(connections).await;
        }
    })
    .await;

    for name in &names {
        if let Err(error) = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
            .await
        {
            eprintln!("could not drop the test database {name}: {error}");
        }
    }
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

/// Executes a MySQL script statement by statement, as the `mysql` client would.
async fn run_script(db: &DatabaseConnection, script: &str) {
    for statement in split_statements(script) {
        db.execute_unprepared(&statement)
            .await
            .unwrap_or_else(|error| panic!("init.sql statement failed: {error}\n{statement}"));
    }
}

/// Splits a MySQL script into its statements, without their comments.
///
/// Comments are `-- ` (two dashes then a space or a line end) and `#` up to the end of the
/// line, and `/* ... */`. A `;` ends a statement unless it is in a comment, a quoted string
/// (`'...'` or `"..."`, with `\` escapes and doubled quotes) or a backquoted name. MySQL's
/// `/*! ... */` executable comments and `DELIMITER` are not supported.
fn split_statements(script: &str) -> Vec<String> {
    let bytes = script.as_bytes();
    let mut statements = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut flush = |current: &mut Vec<u8>| {
        // Only whole ASCII-delimited runs are dropped, so the rest is still UTF-8.
        let statement = String::from_utf8(std::mem::take(current)).expect("UTF-8 statement");
        let statement = statement.trim();
        if !statement.is_empty() {
            statements.push(statement.to_owned());
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        match &bytes[i..] {
            [quote @ (b'\'' | b'"' | b'`'), ..] => {
                let end = quoted_end(bytes, i, *quote);
                current.extend_from_slice(&bytes[i..end]);
                i = end;
            }
            [b'-', b'-', next, ..] if next.is_ascii_whitespace() => i = line_end(bytes, i),
            [b'-', b'-'] | [b'#', ..] => i = line_end(bytes, i),
            [b'/', b'*', ..] => {
                i = find(bytes, i + 2, b"*/").map_or(bytes.len(), |end| end + 2);
                current.push(b' ');
            }
            [b';', ..] => {
                flush(&mut current);
                i += 1;
            }
            [byte, ..] => {
                current.push(*byte);
                i += 1;
            }
            [] => unreachable!("i < bytes.len()"),
        }
    }
    flush(&mut current);
    statements
}

/// The index just past the quoted run that starts at `start`.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote != b'`' => i += 2,
            byte if byte == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            byte if byte == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the line end at or after `start`, or the end of the script.
fn line_end(bytes: &[u8], start: usize) -> usize {
    find(bytes, start, b"\n").unwrap_or(bytes.len())
}

fn find(bytes: &[u8], start: usize, needle: &[u8]) -> Option<usize> {
    bytes[start..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|position| start + position)
}

/// One part of a database's description: a title and its rows, each as one line of text.
type Section = (String, Vec<String>);

/// What the tests compare: the schema, the seed rows and the migration records.
async fn snapshot(db: &DatabaseConnection) -> Vec<Section> {
    let mut sections = Vec::with_capacity(SCHEMA_QUERIES.len());
    for (title, sql) in SCHEMA_QUERIES {
        sections.push((title.to_owned(), rows(db, sql).await));
    }
    sections
}

/// [`snapshot`], plus when each migration was recorded.
async fn snapshot_with_applied_at(db: &DatabaseConnection) -> Vec<Section> {
    let mut sections = snapshot(db).await;
    let sql = "SELECT version, CAST(applied_at AS CHAR) FROM seaql_migrations ORDER BY version";
    sections.push((
        "seaql_migrations rows (version, applied_at)".to_owned(),
        rows(db, sql).await,
    ));
    sections
}

/// The rows of a query whose columns all read as text, each as `"a" | "b" | NULL`.
async fn rows(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::MySql, sql))
        .await
        .unwrap_or_else(|error| panic!("query failed: {error}\n{sql}"));
    rows.iter()
        .map(|row| {
            (0..row.column_names().len())
                .map(|index| {
                    // Debug quotes tell SQL NULL from MariaDB's `NULL` text in COLUMN_DEFAULT.
                    match row.try_get_by_index::<Option<String>>(index) {
                        Ok(Some(value)) => format!("{value:?}"),
                        Ok(None) => "NULL".to_owned(),
                        Err(error) => panic!("column {index} is not text: {error}\n{sql}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect()
}

/// The rows only on the left (`-`) and only on the right (`+`), section by section; empty
/// when both sides are equal.
fn diff(left: &[Section], right: &[Section]) -> String {
    let mut out = String::new();
    for ((title, left), (_, right)) in left.iter().zip(right) {
        if left == right {
            continue;
        }
        writeln!(out, "{title}:").expect("write to a String");
        let left_set: BTreeSet<&String> = left.iter().collect();
        let right_set: BTreeSet<&String> = right.iter().collect();
        for row in left.iter().filter(|row| !right_set.contains(row)) {
            writeln!(out, "  - {row}").expect("write to a String");
        }
        for row in right.iter().filter(|row| !left_set.contains(row)) {
            writeln!(out, "  + {row}").expect("write to a String");
        }
        if left_set == right_set {
            writeln!(out, "  (the same rows, in another order or repeated)")
                .expect("write to a String");
        }
    }
    out
}
