//! `store-manager`: serve the store's API until SIGINT/SIGTERM; exit 0 when everything in
//! flight was finished within the shutdown bound, non-zero otherwise (see
//! [`Application::run_until_stopped`]).

use anyhow::Context as _;
use store_manager::cli::Cli;
use store_manager::{Application, Settings, database, telemetry};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is normal; a broken one is not.
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(error) if error.not_found() => {}
        Err(error) => return Err(error).context("cannot read .env"),
    }
    Cli::parse_with_settings_help();
    telemetry::init();
    let settings = Settings::from_env().context("invalid settings")?;
    // A relative SQLite path is the working directory's: say which file that is.
    if let Some(file) = database::sqlite_file(&settings.database_url) {
        tracing::info!(file = %file.display(), "SQLite database");
    }
    let application = Application::build(settings)
        .await
        .context("store-manager failed to start")?;
    application
        .run_until_stopped()
        .await
        .context("store-manager did not stop cleanly")
}
