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
//! - [`stats`]: percentiles and median (min–max).
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

use crate::cases::{Backend, Databases, Memory, Settings};
use crate::procs::Broker;
use crate::report::Section;

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
    let settings = Settings {
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
    };
    let wanted = |case: u8| args.cases.is_empty() || args.cases.contains(&case);
    let mut sections: Vec<Section> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut memory = Memory::default();
    let mut databases = Databases::default();
    let mut record =
        |name: &str, result: Result<Vec<Section>>, sections: &mut Vec<Section>| match result {
            Ok(done) => sections.extend(done),
            Err(error) => {
                eprintln!("[bench] {name} failed: {error:#}");
                failures.push(format!("{name}: {error:#}"));
            }
        };
    let mut scaling = None;
    let broker = |name: &str| -> Result<(Broker, Settings)> {
        let broker = Broker::start(
            &args.tansu,
            &args.broker_script,
            &settings.work.join(format!("broker-{name}")),
        )?;
        let for_case = settings.with_broker(&broker)?;
        Ok((broker, for_case))
    };
    if wanted(1) || wanted(6) {
        let result = broker("drain").and_then(|(broker, settings)| {
            let result = cases::drain_and_scaling(&settings, &mut memory);
            broker.stop()?;
            result
        });
        let result = result.map(|(one, six)| {
            scaling = Some(six);
            vec![one]
        });
        record("case 1 (drain)", result, &mut sections);
    }
    if wanted(2) {
        let result = broker("replay").and_then(|(broker, settings)| {
            let result = cases::replay(&settings);
            broker.stop()?;
            result
        });
        record("case 2 (replay)", result.map(|s| vec![s]), &mut sections);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if wanted(3) {
        for backend in settings.backends() {
            let name = format!("writes-{}", backend.label().to_lowercase());
            let result = broker(&name).and_then(|(broker, settings)| {
                let result = runtime.block_on(cases::writes(&settings, &mut databases, backend));
                broker.stop()?;
                result
            });
            record(
                &format!("case 3 ({})", backend.label()),
                result.map(|s| vec![s]),
                &mut sections,
            );
        }
    }
    if wanted(4) {
        for backend in settings.backends() {
            let name = format!("latency-{}", backend.label().to_lowercase());
            let result = broker(&name).and_then(|(broker, settings)| {
                let result = runtime.block_on(cases::latency(
                    &settings,
                    &mut databases,
                    backend,
                    &mut memory,
                ));
                broker.stop()?;
                result
            });
            record(
                &format!("case 4 ({})", backend.label()),
                result.map(|s| vec![s]),
                &mut sections,
            );
        }
    }
    // Case 7 runs last and its section goes last, after 5 and 6 that gather earlier cases.
    let mut last = Vec::new();
    if wanted(7) {
        match &args.python {
            Some(python) => {
                let lab = cases::lab::LabSettings {
                    python: python.clone(),
                    consumer: args
                        .lab_consumer
                        .canonicalize()
                        .with_context(|| format!("cannot find {}", args.lab_consumer.display()))?,
                    sizes: if !args.lab_sizes.is_empty() {
                        args.lab_sizes.clone()
                    } else if settings.quick {
                        vec![2_000, 10_000]
                    } else {
                        vec![20_000, 200_000]
                    },
                };
                let result = broker("lab").and_then(|(broker, settings)| {
                    let result = cases::lab::against_the_lab(&settings, &lab);
                    broker.stop()?;
                    result
                });
                record("case 7 (lab consumer)", result.map(|s| vec![s]), &mut last);
            }
            None => eprintln!("[bench] case 7 skipped: no --python"),
        }
    }
    if !memory.rows.is_empty() {
        sections.push(cases::memory_section(&memory));
    }
    if let Some(six) = scaling {
        sections.push(six);
    }
    sections.extend(last);
    if let Err(error) = runtime.block_on(databases.drop_all(&settings)) {
        eprintln!("[bench] cannot drop the MariaDB databases: {error:#}");
    }
    let mode = if settings.quick {
        format!(
            "**QUICK (smoke run, scaled-down counts: not the issue's figures)**: drain {} events, \
             write loop {} events, replay {} events, {} s per concurrency, latency {} s at {} req/s",
            settings.drain_users * 2,
            settings.write_events,
            settings.replay_users * 2,
            settings.http_secs,
            settings.latency_secs,
            settings.rate
        )
    } else {
        format!(
            "full: drain {} events, write loop {} events, replay {} events, {} s per concurrency, \
             latency {} s at {} req/s",
            settings.drain_users * 2,
            settings.write_events,
            settings.replay_users * 2,
            settings.http_secs,
            settings.latency_secs,
            settings.rate
        )
    };
    let backends: Vec<&str> = settings
        .backends()
        .into_iter()
        .map(Backend::label)
        .collect();
    let header = report::Header {
        mode,
        command: args.command.clone(),
        machine: report::machine(),
        broker: format!(
            "{}; databases: {}",
            args.broker_description,
            backends.join(", ")
        ),
        started: started_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        duration_s: started.elapsed().as_secs_f64(),
        load_before,
        load_after: report::load_average(),
        commit: report::git_commit(),
        runs: settings.runs,
        full: !settings.quick,
        prescribed_load_s: (settings.runs * backends.len()) as f64
            * ((settings.http_secs + settings.limit_secs) * settings.concurrencies.len() as u64
                + settings.latency_secs
                + settings.limit_secs) as f64,
    };
    let text = report::render(&header, &sections, &failures);
    std::fs::write(&args.output, text)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!("[bench] wrote {}", args.output.display());
    if failures.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} case(s) failed", failures.len())
    }
}
