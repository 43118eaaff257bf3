//! Case 1: coolriel draining a filled topic, against its three limits measured in the same
//! runs: (a) the bare consumer, (b) template rendering alone, (c) whole-or-absent file
//! writes alone. Case 6's 2-instance drains ([`super::scaling`]) run in the same runs, on
//! the same topic, with [`drain`].

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::emails::wait_for_emails;
use super::memory::Memory;
use super::scaling::Scaling;
use super::services::start_coolriel;
use super::{Settings, log};
use crate::kafka::{self, Mode};
use crate::limits;
use crate::procs::Service;
use crate::report::{Section, Target, met, table_row};
use crate::stats::{Spread, rate};

/// The target: coolriel drains at least this share of the slowest limit's rate.
const TARGET: f64 = 0.8;

/// One coolriel drain: the rate (events/s, start to last file), the start-up (start to
/// first file) and the peak RSS of each instance.
pub(super) struct Drain {
    pub(super) rate: f64,
    pub(super) startup: Duration,
    pub(super) rss_mib: Vec<f64>,
}

/// `instances` coolriel processes in a fresh group drain `topic` (`events` events) into a
/// fresh directory.
pub(super) fn drain(
    settings: &Settings,
    topic: &str,
    events: u64,
    instances: usize,
    run: usize,
) -> Result<Drain> {
    let name = format!("drain-{instances}x-{run}");
    let out = settings.dir(&name)?;
    let logs = settings.dir(&format!("{name}-logs"))?;
    let group = format!("bench-{}-{name}", settings.tag);
    let ids: Vec<i64> = (1..=settings.drain_users).collect();
    let started = Instant::now();
    let mut services = start_coolriel(settings, topic, &group, &out, instances, &logs)?;
    let (done, first) =
        wait_for_emails(&out, &ids, true, &mut services, Duration::from_secs(3600))?;
    let rss_mib = services
        .iter()
        .map(Service::peak_rss_mib)
        .collect::<Result<Vec<_>>>()?;
    for service in services {
        service.stop()?;
    }
    // Kept until the work directory goes: deleting 200 000 files here would slow every
    // file created in the next minutes (see `lab`'s module documentation).
    Ok(Drain {
        rate: rate(events, done - started),
        startup: first.map_or(Duration::ZERO, |first| first - started),
        rss_mib,
    })
}

/// The three limits of one run, events/s.
struct Limits {
    a: f64,
    b: f64,
    c: f64,
}

/// Case 1's figures, one per run (RSS: one per instance and run).
#[derive(Debug, Default)]
pub(super) struct Runs {
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    pub(super) one: Vec<f64>,
    pub(super) startup_one: Vec<f64>,
    rss_one: Vec<f64>,
    ratio: Vec<f64>,
    slowest: Vec<&'static str>,
}

impl Runs {
    /// One run's limits and 1-instance drain.
    fn push(&mut self, limits: &Limits, single: &Drain) {
        let limit = limits.a.min(limits.b).min(limits.c);
        self.slowest.push(if limit == limits.a {
            "a"
        } else if limit == limits.b {
            "b"
        } else {
            "c"
        });
        self.a.push(limits.a);
        self.b.push(limits.b);
        self.c.push(limits.c);
        self.ratio.push(single.rate / limit);
        self.one.push(single.rate);
        self.startup_one.push(single.startup.as_secs_f64());
        self.rss_one.extend(single.rss_mib.iter().copied());
    }
}

/// Cases 1 (drain against its three limits) and 6 (one and two instances).
pub(crate) fn drain_and_scaling(
    settings: &Settings,
    memory: &mut Memory,
) -> Result<(Section, Section)> {
    let topic = format!("bench-{}-drain", settings.tag);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(kafka::create_topics(&settings.brokers, &[&topic]))?;
    log(&format!(
        "case 1: filling {topic} with {} events",
        settings.drain_users * 2
    ));
    let fill_started = Instant::now();
    let events = kafka::fill_users(&settings.brokers, &topic, settings.drain_users)?;
    let fill_rate = rate(events, fill_started.elapsed());
    let mut runs = Runs::default();
    let mut scaling = Scaling::default();
    for run in 0..settings.runs {
        let limits = measure_limits(settings, &topic, events, run)?;
        log(&format!("case 1 run {}: coolriel, 1 instance", run + 1));
        let single = drain(settings, &topic, events, 1, run)?;
        scaling.measure(settings, &topic, events, run, &single);
        runs.push(&limits, &single);
        log(&format!(
            "case 1 run {}: a {:.0}/s b {:.0}/s c {:.0}/s coolriel {:.0}/s",
            run + 1,
            limits.a,
            limits.b,
            limits.c,
            single.rate,
        ));
    }
    memory.rows.push((
        "coolriel".into(),
        "case 1: drain, 1 instance".into(),
        std::mem::take(&mut runs.rss_one),
    ));
    scaling.memory_into(memory);
    let one = section(settings, events, fill_rate, &runs);
    let six = scaling.section(events, &runs);
    Ok((one, six))
}

/// (a), (b) and (c) of one run, one after the other.
fn measure_limits(settings: &Settings, topic: &str, events: u64, run: usize) -> Result<Limits> {
    log(&format!("case 1 run {}: bare consumer", run + 1));
    let a = rate(
        events,
        kafka::bare_consume(&settings.brokers, topic, events, Mode::Group)?,
    );
    log(&format!("case 1 run {}: rendering", run + 1));
    let (elapsed, html) = limits::render_loop(&settings.templates, events)?;
    let b = rate(events, elapsed);
    log(&format!("case 1 run {}: atomic writes", run + 1));
    let dir = settings.dir(&format!("writes-{run}"))?;
    let c = rate(
        settings.write_events,
        limits::write_loop(&dir, settings.write_events, &html)?,
    );
    Ok(Limits { a, b, c })
}

/// Case 1's section of the report.
fn section(settings: &Settings, events: u64, fill_rate: f64, runs: &Runs) -> Section {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "{events} events (`UserCreated` then `UserDeleted` for users 1..={}, all three user types, \
         key = user id) on a 3-partition topic, filled at {fill_rate:.0} events/s. Every figure \
         is events/s, median (min–max) of {} runs; each run measures (a), (b), (c) and coolriel \
         one after the other.\n",
        settings.drain_users, settings.runs
    );
    body.push_str("| what | events/s | note |\n|---|---|---|\n");
    body += &table_row(&[
        "(a) bare rdkafka consumer, fresh group, reads and counts".into(),
        Spread::of(&runs.a).show(0),
        "from client creation (includes group join) to the last message".into(),
    ]);
    body += &table_row(&[
        "(b) template rendering alone (HTML per event)".into(),
        Spread::of(&runs.b).show(0),
        "`coolriel::Templates::render`, one thread".into(),
    ]);
    body += &table_row(&[
        "(c) whole-or-absent file writes alone (1 HTML file per event)".into(),
        Spread::of(&runs.c).show(0),
        format!(
            "`coolriel::output::OutputDir::publish` per file and `OutputDir::sync` per {} \
             events, as coolriel writes them by default, one thread, {} events",
            coolriel::SyncBatch::default().max_messages,
            settings.write_events
        ),
    ]);
    body += &table_row(&[
        "**coolriel**, 1 instance, start → every email file on disk".into(),
        Spread::of(&runs.one).show(0),
        format!(
            "start-up (start → first file) {} s",
            Spread::of(&runs.startup_one).show(2)
        ),
    ]);
    let target = Target::at_least(
        "1",
        "coolriel drain / slowest limit".into(),
        &Spread::of(&runs.ratio),
        TARGET,
        2,
    );
    let _ = writeln!(
        body,
        "\n(c) is bound by the file system: one inode created, written and linked into place \
         per event, and one `syncfs` per batch, the way coolriel's email actors make their \
         work durable before acknowledging it. coolriel writes from several writer actors at \
         once (`COOLRIEL_EMAIL_WRITERS`, two per email kind on this machine), so it can exceed \
         this one-thread loop. No output is deleted until the whole run ends (see case 7).\n\
         \nSlowest limit per run: {}. **Ratio coolriel / slowest of (a, b, c): {}** (target {}: {}).",
        runs.slowest.join(", "),
        target.measured,
        target.target,
        met(target.met)
    );
    Section {
        title: "1. coolriel drain".into(),
        body,
        targets: vec![target],
    }
}
