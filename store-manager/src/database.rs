//! Connecting to the database and bringing its schema up to date.

use std::path::PathBuf;
use std::time::Duration;

use db::{Migrator, MigratorTrait as _};
use sea_orm::{
    ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait as _,
};

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error(
        "cannot create the directory {dir} for the SQLite database: {source} (set DATABASE_URL to a writable place)"
    )]
    CreateDir { dir: String, source: std::io::Error },
    #[error("cannot connect to the database at {url}: {source}")]
    Connect { url: String, source: DbErr },
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(DbErr),
}

/// Connects the pool the HTTP handlers use, and runs the migrations.
///
/// SQLite gets a single connection: it allows one writer at a time, and with several
/// pooled connections concurrent write transactions fail with "database is locked"
/// instead of queueing. WAL lets readers of other processes (`sqlite3`, the tests) read
/// while we write.
pub async fn connect(database_url: &str) -> Result<DatabaseConnection, DatabaseError> {
    let connection = open_pool(database_url, 16).await?;
    Migrator::up(&connection, None)
        .await
        .map_err(DatabaseError::Migrate)?;
    Ok(connection)
}

/// Connects the outbox publisher's own small pool. It is opened and used on the main
/// runtime only: connections a pool opens from an HTTP worker belong to that worker's
/// runtime and die with it at shutdown, which would break a publication round between the
/// broker's ack and the database update (and send its rows twice). A pool of its own also
/// keeps request load from starving the publisher of connections. On SQLite the outbox
/// only reads through it and writes through the request pool
/// ([`crate::outbox::OutboxPublisher::with_writer`] says why).
pub async fn connect_outbox_pool(database_url: &str) -> Result<DatabaseConnection, DatabaseError> {
    open_pool(database_url, 2).await
}

async fn open_pool(
    database_url: &str,
    max_connections: u32,
) -> Result<DatabaseConnection, DatabaseError> {
    let is_sqlite = database_url.starts_with("sqlite:");
    if is_sqlite {
        create_sqlite_dir(database_url)?;
    }
    let mut options = ConnectOptions::new(database_url.to_owned());
    // Short: with the database unreachable, a request waits this long for a connection
    // before answering 503; a healthy pool hands one over in well under a millisecond.
    options
        .connect_timeout(Duration::from_secs(2))
        .acquire_timeout(Duration::from_secs(2))
        .sqlx_logging(false)
        .min_connections(1)
        .max_connections(if is_sqlite { 1 } else { max_connections });
    let connection = Database::connect(options)
        .await
        .map_err(|source| DatabaseError::Connect {
            url: redact(database_url),
            source,
        })?;
    if connection.get_database_backend() == DbBackend::Sqlite {
        for pragma in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
        ] {
            connection
                .execute_unprepared(pragma)
                .await
                .map_err(DatabaseError::Migrate)?;
        }
    }
    Ok(connection)
}

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later cannot
/// wait for another process's writer and fails with "database is locked" instead. Other
/// backends ignore the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// The file of a `sqlite://` URL (`data/store.db` in `sqlite://data/store.db?mode=rwc`),
/// as an absolute path: a relative one is the working directory's. `None` for another
/// backend or an in-memory database.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let path = database_url
        .strip_prefix("sqlite:")?
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    std::path::absolute(path).ok()
}

/// `sqlite://data/store.db?mode=rwc` creates the file but not `data/`.
fn create_sqlite_dir(database_url: &str) -> Result<(), DatabaseError> {
    let Some(file) = sqlite_file(database_url) else {
        return Ok(());
    };
    match file.parent() {
        Some(dir) => std::fs::create_dir_all(dir).map_err(|source| DatabaseError::CreateDir {
            dir: dir.display().to_string(),
            source,
        }),
        None => Ok(()),
    }
}

/// The URL without its password, for error messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            if credentials.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, sqlite_file};

    #[test]
    fn a_relative_sqlite_file_is_under_the_working_directory() {
        let cwd = std::env::current_dir().expect("working directory");
        assert_eq!(
            sqlite_file("sqlite://data/store.db?mode=rwc"),
            Some(cwd.join("data/store.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/store.db"),
            Some("/var/lib/store.db".into())
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("mysql://root@127.0.0.1/store"), None);
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("mysql://app:s3cret@db:3306/store"),
            "mysql://app:***@db:3306/store"
        );
        assert_eq!(
            redact("mysql://root@127.0.0.1/x"),
            "mysql://root@127.0.0.1/x"
        );
        assert_eq!(
            redact("sqlite://data/store.db?mode=rwc"),
            "sqlite://data/store.db?mode=rwc"
        );
    }
}
