//! Case 7: coolriel against the lab's own consumer.
//!
//! The same topic of `UserCreated` events, the same broker, the same disk, in the same
//! run: the lab's Python consumer (`bench/lab_consumer.py`: confluent-kafka, one HTML file
//! per event with a plain `open().write()`, no fsync, a `str.replace` template,
//! auto-commit) and coolriel (release build, default settings: every email whole or
//! absent, made durable before its offset is committed), each in a group of its own, timed
//! from process start to the last `welcome_<id>.html`. The two alternate which goes
//! first from run to run.
//!
//! # Why nothing is deleted between runs
//! On ext4 without a journal (this machine's disk), the inode allocator skips, one by one,
//! every inode freed in the last minute (five while its inode table block is dirty), so
//! creating files right after many were deleted is many times slower, for whichever
//! program comes first. Every run therefore writes into a fresh directory and nothing is
//! removed until the case ends. Then one more pair of runs measures exactly that effect:
//! both consumers draining right after the case's own files were deleted.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use super::emails::wait_for_emails;
use super::services::start_coolriel;
use super::{Settings, log};
use crate::kafka;
use crate::procs::Service;
use crate::report::{Section, Target, table_row};
use crate::stats::{Spread, rate};

/// What case 7 needs besides the common settings.
#[derive(Debug, Clone)]
pub(crate) struct LabSettings {
    /// The Python interpreter that has confluent-kafka (`scripts/bench.sh` makes a venv).
    pub(crate) python: PathBuf,
    /// `bench/lab_consumer.py`.
    pub(crate) consumer: PathBuf,
    /// The topic sizes drained (the 20 000 and 200 000 in full mode).
    pub(crate) sizes: Vec<i64>,
}

/// The target of the issue: coolriel at least 3 times the lab's consumer.
const TARGET_RATIO: f64 = 3.0;

/// And at least this many emails per second.
const TARGET_EMAILS_PER_SECOND: f64 = 6000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consumer {
    Coolriel,
    Lab,
}

impl Consumer {
    fn label(self) -> &'static str {
        match self {
            Consumer::Coolriel => "coolriel",
            Consumer::Lab => "lab (Python)",
        }
    }
}

/// Rates of one size, per run.
#[derive(Debug, Default)]
struct Rates {
    coolriel: Vec<f64>,
    lab: Vec<f64>,
    ratio: Vec<f64>,
}

/// Case 7 (see the module documentation).
pub(crate) fn against_the_lab(settings: &Settings, lab: &LabSettings) -> Result<Section> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut body = intro(settings);
    let mut targets = Vec::new();
    let mut outputs: Vec<PathBuf> = Vec::new();
    let mut first_topic = None;
    for &size in &lab.sizes {
        let topic = format!("bench-{}-lab-{size}", settings.tag);
        runtime.block_on(kafka::create_topics(&settings.brokers, &[&topic]))?;
        log(&format!("case 7: filling {topic} with {size} UserCreated"));
        let events = kafka::fill_created_users(&settings.brokers, &topic, size)?;
        let rates = measure(settings, lab, &topic, size, &mut outputs)?;
        let ratio = Spread::of(&rates.ratio);
        let coolriel = Spread::of(&rates.coolriel);
        body += &table_row(&[
            events.to_string(),
            Spread::of(&rates.lab).show(0),
            coolriel.show(0),
            format!("**{}**", ratio.show(2)),
        ]);
        targets.push(Target::at_least(
            "7",
            format!("coolriel / lab consumer, {events} events"),
            &ratio,
            TARGET_RATIO,
            2,
        ));
        targets.push(Target::at_least(
            "7",
            format!("coolriel emails/s, {events} events"),
            &coolriel,
            TARGET_EMAILS_PER_SECOND,
            0,
        ));
        first_topic.get_or_insert((topic, size));
    }
    // The effect of deleting files right before creating others (module documentation).
    let deleted = count_files(&outputs)?;
    log(&format!("case 7: deleting the case's {deleted} files"));
    for out in &outputs {
        std::fs::remove_dir_all(out)?;
    }
    if let Some((topic, size)) = first_topic {
        let after = after_deleting(settings, lab, &topic, size)?;
        let _ = writeln!(
            body,
            "\nRight after the case's {deleted} files were deleted, one more drain of {size} events \
             each, coolriel first: {} emails/s. On ext4 without a journal (this disk) a new inode \
             is never one freed in the last minute (five while its inode table block is dirty), \
             and the allocator tests the freed ones one by one before it finds another: the \
             first program to create files after a mass deletion pays for it, whatever it is. \
             This, not the consumer, is why identical drains took anywhere from 6.7 to 19.3 s \
             when each run began by deleting the previous run's files.",
            after.join(", ")
        );
    }
    Ok(Section {
        title: "7. coolriel against the lab's consumer".into(),
        body,
        targets,
    })
}

/// What the section measures, and its table's head.
fn intro(settings: &Settings) -> String {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "Each topic (3 partitions) holds one `UserCreated` per user (all three user types, key = \
         user id). The lab's consumer (`bench/lab_consumer.py`: confluent-kafka, auto-commit, \
         `str.replace` template, one `open().write()` per email, no fsync) and coolriel (release \
         build, default settings: HTML only, whole-or-absent files, durable before the offset is \
         committed), each in a group of its own, timed from process start to the last \
         `welcome_<id>.html`; they alternate which goes first. Emails/s, median (min–max) of {} \
         runs; the ratio is computed per run. No file is deleted between runs (see below).\n",
        settings.runs
    );
    body.push_str(
        "| events | lab consumer emails/s | coolriel emails/s | coolriel / lab |\n|---|---|---|---|\n",
    );
    body
}

/// The runs on one topic of `size` events: both consumers per run, alternating which goes
/// first; their output directories into `outputs`.
fn measure(
    settings: &Settings,
    lab: &LabSettings,
    topic: &str,
    size: i64,
    outputs: &mut Vec<PathBuf>,
) -> Result<Rates> {
    let mut rates = Rates::default();
    for run in 0..settings.runs {
        let order = if run % 2 == 0 {
            [Consumer::Lab, Consumer::Coolriel]
        } else {
            [Consumer::Coolriel, Consumer::Lab]
        };
        let mut pair = [0.0, 0.0];
        for consumer in order {
            let name = format!("lab-{size}-{run}-{consumer:?}").to_lowercase();
            let (rate, out) = drain(settings, lab, consumer, topic, size, &name)?;
            outputs.push(out);
            log(&format!(
                "case 7 {size} run {}: {} {rate:.0} emails/s",
                run + 1,
                consumer.label()
            ));
            pair[usize::from(consumer == Consumer::Coolriel)] = rate;
        }
        rates.lab.push(pair[0]);
        rates.coolriel.push(pair[1]);
        rates.ratio.push(pair[1] / pair[0]);
    }
    Ok(rates)
}

/// One more drain by each consumer, coolriel first, right after the case's files were
/// deleted: `consumer rate` for each.
fn after_deleting(
    settings: &Settings,
    lab: &LabSettings,
    topic: &str,
    size: i64,
) -> Result<Vec<String>> {
    let mut after = Vec::new();
    for consumer in [Consumer::Coolriel, Consumer::Lab] {
        let name = format!("lab-after-delete-{consumer:?}").to_lowercase();
        let (rate, out) = drain(settings, lab, consumer, topic, size, &name)?;
        log(&format!(
            "case 7 after deleting: {} {rate:.0} emails/s",
            consumer.label()
        ));
        after.push(format!("{} {rate:.0}", consumer.label()));
        std::fs::remove_dir_all(out)?;
    }
    Ok(after)
}

/// One drain of `size` events by `consumer` into a fresh directory; the rate (start to the
/// last file) and the directory, which the caller deletes when the case ends.
fn drain(
    settings: &Settings,
    lab: &LabSettings,
    consumer: Consumer,
    topic: &str,
    size: i64,
    name: &str,
) -> Result<(f64, PathBuf)> {
    let out = settings.dir(name)?;
    let logs = settings.dir(&format!("{name}-logs"))?;
    let group = format!("bench-{}-{name}", settings.tag);
    let ids: Vec<i64> = (1..=size).collect();
    let started = Instant::now();
    let mut services = match consumer {
        Consumer::Coolriel => start_coolriel(settings, topic, &group, &out, 1, &logs)?,
        Consumer::Lab => vec![start_lab(settings, lab, topic, &group, &out, &logs)?],
    };
    let (done, _) = wait_for_emails(&out, &ids, false, &mut services, Duration::from_secs(3600))
        .with_context(|| format!("{} draining {topic}", consumer.label()))?;
    let elapsed = done - started;
    for service in services {
        service.stop()?;
    }
    std::fs::remove_dir_all(&logs)?;
    Ok((rate(u64::try_from(size)?, elapsed), out))
}

fn start_lab(
    settings: &Settings,
    lab: &LabSettings,
    topic: &str,
    group: &str,
    out: &Path,
    logs: &Path,
) -> Result<Service> {
    let args = [
        lab.consumer.to_str().context("consumer path")?,
        "--bootstrap",
        &settings.brokers,
        "--topic",
        topic,
        "--group",
        group,
        "--output",
        out.to_str().context("output path")?,
        "--templates",
        settings.templates.to_str().context("templates path")?,
    ];
    Service::spawn(
        "lab consumer",
        &lab.python,
        &args,
        &[],
        &settings.work,
        &logs.join("lab-consumer.log"),
    )
}

fn count_files(dirs: &[PathBuf]) -> Result<usize> {
    let mut count = 0;
    for dir in dirs {
        count += std::fs::read_dir(dir)?.count();
    }
    Ok(count)
}
