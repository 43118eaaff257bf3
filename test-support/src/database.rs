//! One fresh database per test, on either backend.

use sea_orm::{ConnectionTrait as _, Database};

/// The two databases every scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// The MariaDB server (without a database name) the tests create their databases on.
pub fn mysql_server_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// A database that exists for one test and is dropped with it.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    /// The SQLite file's directory, removed on drop.
    _sqlite_dir: Option<tempfile::TempDir>,
    /// The MariaDB database to drop.
    mysql_name: Option<String>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}/store.db?mode=rwc", dir.path().display());
                TestDatabase {
                    url,
                    _sqlite_dir: Some(dir),
                    mysql_name: None,
                }
            }
            Backend::MariaDb => {
                let server = mysql_server_url();
                let name = format!("coolriel_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&server).await.unwrap_or_else(|error| {
                    panic!(
                        "MariaDB must be reachable at {server} (scripts/test.sh starts it): {error}"
                    )
                });
                admin
                    .execute_unprepared(&format!(
                        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    ))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDatabase {
                    url: format!("{server}/{name}"),
                    _sqlite_dir: None,
                    mysql_name: Some(name),
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.mysql_name.take() else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot block on itself: use a thread
        // with its own runtime.
        let server = mysql_server_url();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(&server).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{name}`"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!(
                "warning: a test database was not dropped (scripts/test.sh removes leftovers)"
            );
        }
    }
}
