//! Case 2: `coolriel replay` (process start → exit, every document written) over a filled
//! topic, against the bare consumer assigned the same partitions from the beginning.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::{Settings, log};
use crate::kafka::{self, Mode};
use crate::procs::Service;
use crate::report::{Section, Target, met, table_row};
use crate::stats::{Spread, rate};

/// The target: the replay reads at least this share of the bare consumer's rate.
const TARGET: f64 = 0.7;

/// Case 2's figures, one per run.
#[derive(Debug, Default)]
struct Runs {
    bare: Vec<f64>,
    replayed: Vec<f64>,
    ratio: Vec<f64>,
    /// The events each replay reported reading.
    counts: Vec<u64>,
}

/// Case 2: `coolriel replay` against the bare consumer (manual assignment, like replay).
pub(crate) fn replay(settings: &Settings) -> Result<Section> {
    let topic = format!("bench-{}-replay", settings.tag);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(kafka::create_topics(&settings.brokers, &[&topic]))?;
    log(&format!(
        "case 2: filling {topic} with {} events",
        settings.replay_users * 2
    ));
    let events = kafka::fill_users(&settings.brokers, &topic, settings.replay_users)?;
    std::thread::sleep(Duration::from_secs(1));
    let watermarks = kafka::topic_size(&settings.brokers, &topic)?;
    let mut runs = Runs::default();
    for run in 0..settings.runs {
        let rate_bare = rate(
            events,
            kafka::bare_consume(&settings.brokers, &topic, events, Mode::Assign)?,
        );
        let (read, rate_replay) = run_replay(settings, &topic, run)?;
        runs.counts.push(read);
        log(&format!(
            "case 2 run {}: bare {rate_bare:.0}/s replay {rate_replay:.0}/s",
            run + 1
        ));
        runs.bare.push(rate_bare);
        runs.replayed.push(rate_replay);
        runs.ratio.push(rate_replay / rate_bare);
    }
    Ok(section(settings, events, watermarks, &runs))
}

/// One `coolriel replay` of `topic` into a fresh directory, removed afterwards: the events
/// it reported reading and its rate.
fn run_replay(settings: &Settings, topic: &str, run: usize) -> Result<(u64, f64)> {
    let out = settings.dir(&format!("replay-{run}"))?;
    let started = Instant::now();
    let out_arg = out.display().to_string();
    let replay_log = settings.work.join(format!("replay-{run}.log"));
    Service::spawn(
        "coolriel replay",
        &settings.bin("coolriel"),
        &["replay", "--topic", topic, "--output-dir", &out_arg],
        &[
            ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
            ("COOLRIEL_TOPICS", topic.to_owned()),
            ("OUTPUT_DIR", out.display().to_string()),
            ("TEMPLATES_DIR", settings.templates.display().to_string()),
            ("RUST_LOG", "warn".to_owned()),
        ],
        &settings.work,
        &replay_log,
    )?
    .wait(Duration::from_secs(3600))?;
    let elapsed = started.elapsed();
    let summary = std::fs::read_to_string(&replay_log)?;
    let read: u64 = summary
        .lines()
        .find_map(|line| line.strip_prefix("events: "))
        .and_then(|n| n.trim().parse().ok())
        .context("no `events: N` line in the replay's output")?;
    let rate_replay = rate(read, elapsed);
    std::fs::remove_dir_all(&out)?;
    Ok((read, rate_replay))
}

/// Case 2's section of the report.
fn section(settings: &Settings, events: u64, watermarks: u64, runs: &Runs) -> Section {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "`coolriel replay --topic T --output-dir D` (process start → exit, history, users and \
         orders documents written) over {events} events, against the bare consumer assigned \
         to the same 3 partitions from the beginning. Events/s, median (min–max) of {} runs. \
         Fill check: the broker acknowledged {events} messages; the sum of its high \
         watermarks 1 s later was {watermarks}.\n",
        settings.runs
    );
    body.push_str("| what | events/s |\n|---|---|\n");
    body += &table_row(&[
        "bare consumer (assign, read, count)".into(),
        Spread::of(&runs.bare).show(0),
    ]);
    body += &table_row(&[
        "**coolriel replay**".into(),
        Spread::of(&runs.replayed).show(0),
    ]);
    let complete = runs.counts.iter().all(|&n| n == events);
    let _ = writeln!(
        body,
        "\nEvents the replay reported reading (its `events:` line), per run: {:?} of {events}{}",
        runs.counts,
        if complete {
            "."
        } else {
            " — **the replay stopped short**: it reads each partition up to the high watermark \
             fetched at its start, and the broker's watermarks lagged behind what it \
             acknowledged (see the fill check above; tansu 0.6.0's memory:// storage did, \
             its sqlite:// storage did not when checked). Its rate above is the events it \
             read over its time."
        }
    );
    let target = Target::at_least(
        "2",
        "replay / bare consumer".into(),
        &Spread::of(&runs.ratio),
        TARGET,
        2,
    );
    let _ = writeln!(
        body,
        "\n**Ratio replay / bare consumer: {}** (target {}: {}).",
        target.measured,
        target.target,
        met(target.met)
    );
    Section {
        title: "2. Replay".into(),
        body,
        targets: vec![target],
    }
}
