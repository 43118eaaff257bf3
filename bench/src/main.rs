//! bench: the benchmark harness behind `scripts/bench.sh`. It measures each stage of the
//! system against its own limit in the same run and writes `BENCHMARKS.md`.
//!
//! `scripts/bench.sh` builds the release binaries, installs tansu and names a MariaDB
//! server; this binary does the rest: a fresh private broker per case, topics, SQLite
//! files and MariaDB databases of its own (dropped at the end), the services as child
//! processes, the load, the limits, and the report.
//!
//! # Layout
//! - [`cases`]: the cases of the issues (drain, replay, writes, latency, memory, scaling,
//!   and coolriel against the lab's consumer), each against its limit.
//! - [`kafka`]: topics, filling a topic, the bare consumer.
//! - [`limits`]: rendering, atomic writes and the database transaction alone in a loop.
//! - [`load`]: the closed loop (workers timing one operation until a deadline).
//! - [`http`]: closed-loop and open-loop HTTP load.
//! - [`procs`]: child processes and their peak RSS.
//! - [`stats`]: rates, percentiles and median (min–max).
//! - [`report`]: the report (`BENCHMARKS.md`) from the cases' sections.

mod cases;
mod http;
mod kafka;
mod limits;
mod load;
mod procs;
mod report;
mod stats;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Parser;

use crate::cases::{Backend, Plan, Settings};

/// Run the benchmarks and write the report.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Coolriel benchmarks: every stage against its own limit"
)]
struct Args {
    /// Scaled-down counts and durations (a smoke run of a few minutes).
    #[arg(long)]
    quick: bool,
    /// Runs per figure (at least 3 for the report's median, min and max).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The tansu binary; each case starts a fresh private broker with it.
    #[arg(long)]
    tansu: PathBuf,
    /// `scripts/broker.sh`, for the header index every broker gets.
    #[arg(long)]
    broker_script: PathBuf,
    /// A MariaDB/MySQL server URL without database (`mysql://root@127.0.0.1:3306`);
    /// MariaDB cases are skipped without it.
    #[arg(long)]
    mysql: Option<String>,
    /// Directory of the release `store-manager` and `coolriel` binaries.
    #[arg(long)]
    bin_dir: PathBuf,
    #[arg(long)]
    templates: PathBuf,
    /// Scratch directory (emptied parts of it are removed as the cases end).
    #[arg(long)]
    work: PathBuf,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
    /// Names this run's topics, groups and databases.
    #[arg(long)]
    tag: String,
    /// The command line to print in the report.
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
    /// What the broker is (for the report).
    #[arg(long, default_value = "tansu")]
    broker_description: String,
    /// Only these cases (1-7; 5 needs 1 and 4, 6 runs with 1).
    #[arg(long, value_delimiter = ',')]
    cases: Vec<u8>,
    /// Case 7: a Python interpreter with confluent-kafka (case 7 is skipped without it).
    #[arg(long)]
    python: Option<PathBuf>,
    /// Case 7: the topic sizes (default 20000,200000; quick 2000,10000).
    #[arg(long, value_delimiter = ',')]
    lab_sizes: Vec<i64>,
    /// Case 7: the lab's consumer, `bench/lab_consumer.py`.
    #[arg(long, default_value = "bench/lab_consumer.py")]
    lab_consumer: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let load_before = report::load_average();
    std::fs::create_dir_all(&args.work)?;
    let settings = settings(&args)?;
    let outcome = cases::run(&settings, &plan(&args))?;
    let header = report::Header {
        mode: mode(&settings),
        command: args.command.clone(),
        machine: report::machine(),
        broker: format!(
            "{}; databases: {}",
            args.broker_description,
            backends(&settings).join(", ")
        ),
        started: started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        duration_s: started.elapsed().as_secs_f64(),
        load_before,
        load_after: report::load_average(),
        commit: report::git_commit(),
        runs: settings.runs,
        full: !settings.quick,
        prescribed_load_s: prescribed_load_s(&settings),
    };
    let text = report::render(&header, &outcome.sections, &outcome.failures);
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!("[bench] wrote {}", args.output.display());
    if outcome.failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} case(s) failed", outcome.failures.len())
    }
}

/// The counts and durations of the mode, and the paths (the work directory exists).
fn settings(args: &Args) -> Result<Settings> {
    Ok(Settings {
        quick: args.quick,
        runs: args.runs.max(1),
        brokers: String::new(),
        broker_pid: None,
        mysql: args.mysql.clone(),
        bin_dir: args.bin_dir.clone(),
        templates: args.templates.clone(),
        work: args.work.canonicalize()?,
        tag: args.tag.clone(),
        drain_users: if args.quick { 1_500 } else { 100_000 },
        write_events: if args.quick { 1_000 } else { 10_000 },
        replay_users: if args.quick { 25_000 } else { 500_000 },
        http_secs: if args.quick { 2 } else { 20 },
        limit_secs: if args.quick { 2 } else { 8 },
        concurrencies: vec![1, 16, 64],
        latency_secs: if args.quick { 5 } else { 30 },
        rate: 1_000,
    })
}

fn plan(args: &Args) -> Plan {
    Plan {
        cases: args.cases.clone(),
        tansu: args.tansu.clone(),
        broker_script: args.broker_script.clone(),
        python: args.python.clone(),
        lab_consumer: args.lab_consumer.clone(),
        lab_sizes: args.lab_sizes.clone(),
    }
}

/// The report's mode line: the mode and its counts.
fn mode(settings: &Settings) -> String {
    let mode = if settings.quick {
        "**QUICK (smoke run, scaled-down counts: not the issue's figures)**:"
    } else {
        "full:"
    };
    format!(
        "{mode} drain {} events, write loop {} events, replay {} events, {} s per concurrency, \
         latency {} s at {} req/s",
        settings.drain_users * 2,
        settings.write_events,
        settings.replay_users * 2,
        settings.http_secs,
        settings.latency_secs,
        settings.rate
    )
}

fn backends(settings: &Settings) -> Vec<&'static str> {
    settings
        .backends()
        .into_iter()
        .map(Backend::label)
        .collect()
}

/// Seconds of fixed-duration load: cases 3 and 4 and their limits, every run.
fn prescribed_load_s(settings: &Settings) -> f64 {
    (settings.runs * settings.backends().len()) as f64
        * ((settings.http_secs + settings.limit_secs) * settings.concurrencies.len() as u64
            + settings.latency_secs
            + settings.limit_secs) as f64
}
