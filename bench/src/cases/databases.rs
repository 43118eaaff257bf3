//! The databases cases 3 and 4 make: a SQLite file in the work directory, or a MariaDB
//! database `bench_<tag>_<name>` that [`Databases::drop_all`] drops at the end.

use anyhow::{Context as _, Result};
use sea_orm::{ConnectionTrait as _, Database};

use super::{Backend, Settings};

/// The databases the benchmark made (MariaDB ones are dropped at the end).
#[derive(Debug, Default)]
pub(crate) struct Databases {
    created: Vec<String>,
}

impl Databases {
    /// A new, empty database; returns its URL.
    pub(crate) async fn fresh(
        &mut self,
        settings: &Settings,
        backend: Backend,
        name: &str,
    ) -> Result<String> {
        match backend {
            Backend::Sqlite => Ok(format!(
                "sqlite://{}?mode=rwc",
                settings.work.join(format!("{name}.db")).display()
            )),
            Backend::MariaDb => {
                let server = settings.mysql.as_deref().context("no MariaDB server")?;
                let database = format!("bench_{}_{}", settings.tag, name.replace('-', "_"));
                let connection = Database::connect(server).await?;
                connection
                    .execute_unprepared(&format!("CREATE DATABASE `{database}`"))
                    .await?;
                connection.close().await?;
                self.created.push(database.clone());
                Ok(format!("{}/{database}", server.trim_end_matches('/')))
            }
        }
    }

    /// Drop every MariaDB database made.
    pub(crate) async fn drop_all(&mut self, settings: &Settings) -> Result<()> {
        let Some(server) = settings.mysql.as_deref() else {
            return Ok(());
        };
        if self.created.is_empty() {
            return Ok(());
        }
        let connection = Database::connect(server).await?;
        for database in self.created.drain(..) {
            connection
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS `{database}`"))
                .await?;
        }
        connection.close().await?;
        Ok(())
    }
}
