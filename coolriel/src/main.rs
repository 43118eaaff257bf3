//! The `coolriel` binary: configuration, logging, signals. The service is in the library.

use std::process::ExitCode;

use anyhow::Context as _;
use coolriel::cli::{Cli, Command, ReplayArgs};
use coolriel::{Config, Coolriel, ReplayOptions};

fn main() -> ExitCode {
    match run_command() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once (our errors already quote
/// their source in their own message).
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

fn run_command() -> anyhow::Result<()> {
    // The lab kept its settings in a .env file; real environment variables win over it.
    let dotenv = dotenvy::dotenv();
    let cli = Cli::parse_with_settings_help();
    coolriel::telemetry::init();
    match dotenv {
        Ok(path) => tracing::debug!(file = %path.display(), "loaded .env"),
        Err(error) if error.not_found() => {}
        Err(error) => return Err(error).context("cannot read .env"),
    }
    let mut config = Config::from_env().context("invalid configuration")?;
    // Relative paths are the working directory's: resolved once, so the logs and any
    // error name the real place whatever directory the binary was started from.
    config.output_dir = std::path::absolute(&config.output_dir)
        .with_context(|| format!("OUTPUT_DIR {}", config.output_dir.display()))?;
    if let Some(dir) = &mut config.templates_dir {
        *dir = std::path::absolute(&*dir)
            .with_context(|| format!("TEMPLATES_DIR {}", dir.display()))?;
    }
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(config),
        Command::Replay(args) => replay(&config, args),
    }
}

/// Run until SIGINT or SIGTERM, then drain, commit and exit: 0 when everything in flight
/// was finished and committed within `COOLRIEL_SHUTDOWN_TIMEOUT_MS`, non-zero otherwise.
/// Also stops, with a failure, when the actors use up the restart budget.
fn run(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        output_dir = %config.output_dir.display(),
        templates = %config
            .templates_dir
            .as_ref()
            .map_or_else(|| "built in".to_owned(), |dir| dir.display().to_string()),
        "starting"
    );
    let handle = Coolriel::start(config).context("cannot start coolriel")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal runtime")?;
    runtime.block_on(async move {
        let budget_exhausted = tokio::select! {
            signal = supervision::wait_for_signal() => {
                let signal = signal.context("cannot listen for signals")?;
                tracing::info!(signal, "signal received; shutting down");
                false
            }
            () = handle.failed() => true,
        };
        handle.shutdown().await.context("shutdown failed")?;
        if budget_exhausted {
            anyhow::bail!("stopped: the restart budget is exhausted (actors kept panicking)");
        }
        Ok(())
    })
}

fn replay(config: &Config, args: ReplayArgs) -> anyhow::Result<()> {
    let mut options = ReplayOptions::from_config(config);
    if !args.topics.is_empty() {
        let mut topics: Vec<String> = Vec::new();
        for topic in args.topics {
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        options.topics = topics;
    }
    options.since = args.since;
    options.until = args.until;
    if let Some(dir) = args.output_dir {
        options.output_dir = dir;
    }
    let summary = coolriel::replay(&options).context("replay failed")?;
    println!("{summary}");
    Ok(())
}
