//! The cases of the benchmark issues. Each case measures the system and its limit in the
//! same run, `runs` times, alternating them, so a neighbour's build slows both.
//!
//! - this module: cases 1 to 6 (drain, replay, writes, latency, memory, scaling);
//! - [`lab`]: case 7, coolriel against the lab's own Python consumer.

pub(crate) mod lab;

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, Database, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _,
};
use store_manager::entities::outbox;

use crate::http;
use crate::kafka::{self, Mode};
use crate::limits;
use crate::load::LoadResult;
use crate::procs::{CpuUse, CpuWatch, Service, free_port, wait_ready};
use crate::report::{Section, Target};
use crate::stats::{Spread, max, percentile};

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) runs: usize,
    /// The current case's private broker (see [`Settings::with_broker`]).
    pub(crate) brokers: String,
    /// Its process, whose CPU time cases 3 and 4 account for.
    pub(crate) broker_pid: Option<u32>,
    /// The MariaDB server (`mysql://root@127.0.0.1:3306`); `None` skips MariaDB.
    pub(crate) mysql: Option<String>,
    /// Where the release `store-manager` and `coolriel` are.
    pub(crate) bin_dir: PathBuf,
    pub(crate) templates: PathBuf,
    /// A private scratch directory (SQLite files, email output, logs).
    pub(crate) work: PathBuf,
    /// Names this run's topics, groups and databases.
    pub(crate) tag: String,
    /// Case 1 and 6: users (each gives two events).
    pub(crate) drain_users: i64,
    /// Case 1 (c): events written by the file-write loop.
    pub(crate) write_events: u64,
    /// Case 2: users (two events each).
    pub(crate) replay_users: i64,
    /// Case 3: seconds per concurrency level.
    pub(crate) http_secs: u64,
    pub(crate) concurrencies: Vec<usize>,
    /// Cases 3 and 4: seconds each limit runs (a rate and percentiles settle well before
    /// the system's own 20 s and 30 s, which the issue fixes; this keeps the full mode
    /// under 20 minutes).
    pub(crate) limit_secs: u64,
    /// Case 4: seconds at `rate` requests per second.
    pub(crate) latency_secs: u64,
    pub(crate) rate: u32,
}

/// Peak RSS figures gathered by cases 1 and 4 for case 5.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    pub(crate) rows: Vec<(String, String, Vec<f64>)>,
}

/// The databases the benchmark made (MariaDB ones are dropped at the end).
#[derive(Debug, Default)]
pub(crate) struct Databases {
    created: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    MariaDb,
}

impl Backend {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::MariaDb => "MariaDB",
        }
    }
}

impl Settings {
    pub(crate) fn backends(&self) -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if self.mysql.is_some() {
            backends.push(Backend::MariaDb);
        }
        backends
    }

    /// These settings with `broker` as the broker (each case gets a fresh one).
    pub(crate) fn with_broker(&self, broker: &crate::procs::Broker) -> Result<Settings> {
        Ok(Settings {
            brokers: broker.bootstrap(),
            broker_pid: Some(broker.pid()?),
            ..self.clone()
        })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }
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

fn rate(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn log(message: &str) {
    eprintln!("[bench {}] {message}", Utc::now().format("%H:%M:%S"));
}

/// The processes besides the services whose CPU time is accounted for: the broker, and
/// the MariaDB server when `backend` is MariaDB.
fn shared_processes(settings: &Settings, backend: Backend) -> Vec<(&'static str, u32)> {
    let mut processes = Vec::new();
    if let Some(pid) = settings.broker_pid {
        processes.push(("broker (tansu)", pid));
    }
    if backend == Backend::MariaDb
        && let Some(pid) = crate::procs::find_process("mariadbd")
    {
        processes.push(("mariadbd", pid));
    }
    processes
}

/// Mean cores per process over several [`CpuUse`]s of the same processes, as text.
fn mean_cpu(uses: &[CpuUse]) -> String {
    let Some(first) = uses.first() else {
        return "not measured".to_owned();
    };
    let n = uses.len() as f64;
    let mean = CpuUse {
        processes: first
            .processes
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let sum: f64 = uses
                    .iter()
                    .filter_map(|u| u.processes.get(i))
                    .map(|p| p.1)
                    .sum();
                (name.clone(), sum / n)
            })
            .collect(),
        machine_busy: uses.iter().map(|u| u.machine_busy).sum::<f64>() / n,
        machine_cores: uses.iter().map(|u| u.machine_cores).sum::<f64>() / n,
    };
    mean.describe()
}

/// Removes a case's email output, unless `BENCH_KEEP_WORK` asks to keep everything (the
/// files' times are what a latency investigation needs).
fn discard_output(out: &Path) -> Result<()> {
    // Empty counts as unset, as in scripts/bench.sh.
    if std::env::var_os("BENCH_KEEP_WORK").is_none_or(|value| value.is_empty()) {
        std::fs::remove_dir_all(out)?;
    }
    Ok(())
}

/// The services' `RUST_LOG`: `info`, or `BENCH_SERVICE_LOG` when set (to see, say, the
/// outbox's per-round timings with `info,store_manager::outbox=debug`).
fn service_log_filter() -> String {
    std::env::var("BENCH_SERVICE_LOG").unwrap_or_else(|_| "info".to_owned())
}

/// Start `instances` coolriel processes in one group on `topic`, writing into `out`.
fn start_coolriel(
    settings: &Settings,
    topic: &str,
    group: &str,
    out: &Path,
    instances: usize,
    logs: &Path,
) -> Result<Vec<Service>> {
    (0..instances)
        .map(|i| {
            Service::spawn(
                &format!("coolriel #{i}"),
                &settings.bin("coolriel"),
                &[],
                &[
                    ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
                    ("COOLRIEL_TOPICS", topic.to_owned()),
                    ("KAFKA_GROUP_ID", group.to_owned()),
                    ("OUTPUT_DIR", out.display().to_string()),
                    ("TEMPLATES_DIR", settings.templates.display().to_string()),
                    ("COOLRIEL_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()?)),
                    ("RUST_LOG", service_log_filter()),
                ],
                &settings.work,
                &logs.join(format!("coolriel-{i}.log")),
            )
        })
        .collect()
}

/// Wait until `welcome_{id}.html` and `goodbye_{id}.html` exist for every id of `ids`
/// (HTML is written after the text file, so the pair is complete). Polls every 20 ms,
/// advancing a cursor, so each file is looked at about once. Returns when the last file
/// was seen and when the first was.
fn wait_for_emails(
    out: &Path,
    ids: &[i64],
    goodbye: bool,
    services: &mut [Service],
    timeout: Duration,
) -> Result<(Instant, Option<Instant>)> {
    let started = Instant::now();
    let mut cursor = 0;
    let mut first = None;
    let mut progress_at = Instant::now();
    let mut files = 0;
    loop {
        let before = cursor;
        while cursor < ids.len() {
            let id = ids[cursor];
            let done = out.join(format!("welcome_{id}.html")).exists()
                && (!goodbye || out.join(format!("goodbye_{id}.html")).exists());
            if !done {
                break;
            }
            cursor += 1;
        }
        let now = Instant::now();
        if cursor == ids.len() {
            return Ok((now, first.or(Some(now))));
        }
        if first.is_none()
            && std::fs::read_dir(out)?.any(|entry| {
                entry.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".html"))
            })
        {
            first = Some(now);
        }
        if cursor > before {
            progress_at = now;
        } else if now - progress_at > Duration::from_secs(5) {
            // The cursor may wait on one id while other partitions progress: count files.
            let count = std::fs::read_dir(out)?.count();
            if count != files {
                files = count;
                progress_at = now;
            } else if now - progress_at > STALL {
                bail!(
                    "stalled: {cursor} of {} ids complete and no new file in {} s ({count} files in {})",
                    ids.len(),
                    STALL.as_secs(),
                    out.display()
                );
            }
        }
        if started.elapsed() > timeout {
            bail!(
                "emails: {cursor} of {} ids complete after {timeout:?} in {}",
                ids.len(),
                out.display()
            );
        }
        for service in services.iter_mut() {
            service.check_alive()?;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A drain with no new email file for this long has stalled.
const STALL: Duration = Duration::from_secs(30);

/// One coolriel drain: the rate (events/s, start to last file), the start-up (start to
/// first file) and the peak RSS of each instance.
struct Drain {
    rate: f64,
    startup: Duration,
    rss_mib: Vec<f64>,
}

fn drain(
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

fn rows_of(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
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
    let (mut a, mut b, mut c, mut one, mut two) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut ratio, mut slowest, mut scale) = (vec![], vec![], vec![]);
    let mut scaling_failure: Option<String> = None;
    let (mut startup_one, mut startup_two, mut rss_one, mut rss_two) =
        (vec![], vec![], vec![], vec![]);
    for run in 0..settings.runs {
        log(&format!("case 1 run {}: bare consumer", run + 1));
        let rate_a = rate(
            events,
            kafka::bare_consume(&settings.brokers, &topic, events, Mode::Group)?,
        );
        log(&format!("case 1 run {}: rendering", run + 1));
        let (elapsed, html) = limits::render_loop(&settings.templates, events)?;
        let rate_b = rate(events, elapsed);
        log(&format!("case 1 run {}: atomic writes", run + 1));
        let dir = settings.dir(&format!("writes-{run}"))?;
        let rate_c = rate(
            settings.write_events,
            limits::write_loop(&dir, settings.write_events, &html)?,
        );
        log(&format!("case 1 run {}: coolriel, 1 instance", run + 1));
        let single = drain(settings, &topic, events, 1, run)?;
        if scaling_failure.is_none() {
            log(&format!("case 6 run {}: coolriel, 2 instances", run + 1));
            match drain(settings, &topic, events, 2, run) {
                Ok(double) => {
                    scale.push(double.rate / single.rate);
                    two.push(double.rate);
                    startup_two.push(double.startup.as_secs_f64());
                    rss_two.extend(double.rss_mib.iter().copied());
                }
                Err(error) => {
                    log(&format!("case 6: {error:#}"));
                    scaling_failure = Some(format!("run {}: {error:#}", run + 1));
                }
            }
        }
        let limit = rate_a.min(rate_b).min(rate_c);
        slowest.push(if limit == rate_a {
            "a"
        } else if limit == rate_b {
            "b"
        } else {
            "c"
        });
        a.push(rate_a);
        b.push(rate_b);
        c.push(rate_c);
        ratio.push(single.rate / limit);
        one.push(single.rate);
        startup_one.push(single.startup.as_secs_f64());
        rss_one.extend(single.rss_mib.iter().copied());
        log(&format!(
            "case 1 run {}: a {rate_a:.0}/s b {rate_b:.0}/s c {rate_c:.0}/s coolriel {:.0}/s",
            run + 1,
            single.rate,
        ));
    }
    memory.rows.push((
        "coolriel".into(),
        "case 1: drain, 1 instance".into(),
        rss_one,
    ));
    memory.rows.push((
        "coolriel".into(),
        "case 6: drain, 2 instances (each)".into(),
        rss_two,
    ));

    let ratio = Spread::of(&ratio);
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
    body += &rows_of(&[
        "(a) bare rdkafka consumer, fresh group, reads and counts".into(),
        Spread::of(&a).show(0),
        "from client creation (includes group join) to the last message".into(),
    ]);
    body += &rows_of(&[
        "(b) template rendering alone (HTML per event)".into(),
        Spread::of(&b).show(0),
        "`coolriel::Templates::render`, one thread".into(),
    ]);
    body += &rows_of(&[
        "(c) whole-or-absent file writes alone (1 HTML file per event)".into(),
        Spread::of(&c).show(0),
        format!(
            "`coolriel::output::OutputDir::publish` per file and `OutputDir::sync` per {} \
             events, as coolriel writes them by default, one thread, {} events",
            coolriel::SyncBatch::default().max_messages,
            settings.write_events
        ),
    ]);
    body += &rows_of(&[
        "**coolriel**, 1 instance, start → every email file on disk".into(),
        Spread::of(&one).show(0),
        format!(
            "start-up (start → first file) {} s",
            Spread::of(&startup_one).show(2)
        ),
    ]);
    let _ = writeln!(
        body,
        "\n(c) is bound by the file system: one inode created, written and linked into place \
         per event, and one `syncfs` per batch, the way coolriel's email actors make their \
         work durable before acknowledging it. coolriel writes from several writer actors at \
         once (`COOLRIEL_EMAIL_WRITERS`, two per email kind on this machine), so it can exceed \
         this one-thread loop. No output is deleted until the whole run ends (see case 7).\n\
         \nSlowest limit per run: {}. **Ratio coolriel / slowest of (a, b, c): {}** (target ≥ 0.8: {}).",
        slowest.join(", "),
        ratio.show(2),
        met(ratio.median >= 0.8)
    );
    let section1 = Section {
        title: "1. coolriel drain".into(),
        body,
        targets: vec![Target {
            case: "1".into(),
            what: "coolriel drain / slowest limit".into(),
            target: "≥ 0.8".into(),
            measured: ratio.show(2),
            met: ratio.median >= 0.8,
        }],
    };

    let scale = Spread::of(&scale);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "The same topic (3 partitions, {events} events) drained by a fresh group of 1, then of 2 \
         coolriel instances (same output directory), in the same runs as case 1.\n"
    );
    body.push_str("| instances | events/s | start → first file (s) |\n|---|---|---|\n");
    body += &rows_of(&[
        "1".into(),
        Spread::of(&one).show(0),
        Spread::of(&startup_one).show(2),
    ]);
    body += &rows_of(&[
        "2".into(),
        Spread::of(&two).show(0),
        Spread::of(&startup_two).show(2),
    ]);
    let _ = writeln!(
        body,
        "\nRate with 2 instances / rate with 1: **{}**.",
        scale.show(2)
    );
    body.push_str(
        "\nWhy a second instance does not add speed here: the drain is bound by the file \
         system, not by consuming (limit (c) is the slowest limit in case 1, well below the bare \
         consumer and the rendering). Both instances write to the same disk, and each \
         batch's `syncfs` flushes the whole file system, the other instance's files included, \
         so the durable writes per second stay what one disk gives; the two processes and the \
         broker also share the machine's 2 cores. On separate machines (or disks) the \
         partitions split between the instances would each get their own write path.\n",
    );
    if let Some(failure) = &scaling_failure {
        let _ = writeln!(
            body,
            "\n**The 2-instance drain did not finish** (later 2-instance runs skipped): \
             {failure}. A stall here means email files are missing: some messages were never \
             delivered to either instance. Until 2026-12-02 this happened on every run, with \
             the benchmark's broker on tansu's memory:// storage, which answers a fetch from \
             an offset inside a record batch with the next batch: the new owners resumed \
             after the rebalance past the old owner's committed offsets. The broker now keeps \
             its log in SQLite, which answers such fetches correctly; a stall now is a new \
             defect (`coolriel/tests/service.rs`, \
             `a_second_instance_joining_during_a_backlog_loses_nothing`, covers the case)."
        );
    }
    let section6 = Section {
        title: "6. Scaling: 1 and 2 coolriel instances".into(),
        body,
        targets: vec![],
    };
    Ok((section1, section6))
}

pub(crate) fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
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
    let (mut bare, mut replayed, mut ratio) = (vec![], vec![], vec![]);
    let mut replay_counts = Vec::new();
    for run in 0..settings.runs {
        let rate_bare = rate(
            events,
            kafka::bare_consume(&settings.brokers, &topic, events, Mode::Assign)?,
        );
        let out = settings.dir(&format!("replay-{run}"))?;
        let started = Instant::now();
        let out_arg = out.display().to_string();
        let replay_log = settings.work.join(format!("replay-{run}.log"));
        Service::spawn(
            "coolriel replay",
            &settings.bin("coolriel"),
            &["replay", "--topic", &topic, "--output-dir", &out_arg],
            &[
                ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
                ("COOLRIEL_TOPICS", topic.clone()),
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
        replay_counts.push(read);
        let rate_replay = rate(read, elapsed);
        std::fs::remove_dir_all(&out)?;
        log(&format!(
            "case 2 run {}: bare {rate_bare:.0}/s replay {rate_replay:.0}/s",
            run + 1
        ));
        bare.push(rate_bare);
        replayed.push(rate_replay);
        ratio.push(rate_replay / rate_bare);
    }
    let ratio = Spread::of(&ratio);
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
    body += &rows_of(&[
        "bare consumer (assign, read, count)".into(),
        Spread::of(&bare).show(0),
    ]);
    body += &rows_of(&["**coolriel replay**".into(), Spread::of(&replayed).show(0)]);
    let complete = replay_counts.iter().all(|&n| n == events);
    let _ = writeln!(
        body,
        "\nEvents the replay reported reading (its `events:` line), per run: {:?} of {events}{}",
        replay_counts,
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
    let _ = writeln!(
        body,
        "\n**Ratio replay / bare consumer: {}** (target ≥ 0.7: {}).",
        ratio.show(2),
        met(ratio.median >= 0.7)
    );
    Ok(Section {
        title: "2. Replay".into(),
        body,
        targets: vec![Target {
            case: "2".into(),
            what: "replay / bare consumer".into(),
            target: "≥ 0.7".into(),
            measured: ratio.show(2),
            met: ratio.median >= 0.7,
        }],
    })
}

fn store_manager(
    settings: &Settings,
    database_url: &str,
    user_topic: &str,
    order_topic: &str,
    port: u16,
    log_file: &Path,
) -> Result<Service> {
    Service::spawn(
        "store-manager",
        &settings.bin("store-manager"),
        &[],
        &[
            ("DATABASE_URL", database_url.to_owned()),
            ("KAFKA_BOOTSTRAP_SERVERS", settings.brokers.clone()),
            ("STORE_MANAGER_ADDR", format!("127.0.0.1:{port}")),
            ("USER_EVENTS_TOPIC", user_topic.to_owned()),
            ("ORDER_EVENTS_TOPIC", order_topic.to_owned()),
            ("RUST_LOG", service_log_filter()),
        ],
        &settings.work,
        log_file,
    )
}

/// Case 3 on one backend.
pub(crate) async fn writes(
    settings: &Settings,
    databases: &mut Databases,
    backend: Backend,
) -> Result<Section> {
    let label = backend.label();
    let key = label.to_lowercase();
    let user_topic = format!("bench-{}-http-{key}-users", settings.tag);
    let order_topic = format!("bench-{}-http-{key}-orders", settings.tag);
    kafka::create_topics(&settings.brokers, &[&user_topic, &order_topic]).await?;
    let server_db = databases
        .fresh(settings, backend, &format!("http-{key}"))
        .await?;
    let limit_db = databases
        .fresh(settings, backend, &format!("limit-{key}"))
        .await?;
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let mut server = store_manager(
        settings,
        &server_db,
        &user_topic,
        &order_topic,
        port,
        &settings.work.join(format!("store-manager-http-{key}.log")),
    )?;
    let client = http::client()?;
    wait_ready(
        &client,
        &format!("{base}/health-check"),
        &mut server,
        Duration::from_secs(60),
    )
    .await?;
    http::closed_loop(&client, &base, 4, Duration::from_secs(1), "warmup").await?;
    let duration = Duration::from_secs(settings.http_secs);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "**{label}.** `POST /users` for {} s per run at each concurrency (closed loop, the \
         harness's own HTTP client), against the limit: `store_manager::services::users::create_user` \
         (user insert + outbox insert, one transaction) called directly by as many tasks on the pool \
         `store_manager::database::connect` opens (SQLite: 1 connection; MySQL: 16), on a second \
         fresh database, right after, for {} s. Median (min–max) of {} runs. The \
         store-manager's outbox publishes to the private broker meanwhile; the limit publishes \
         nothing (its rows stay in the outbox).\n",
        settings.http_secs, settings.limit_secs, settings.runs
    );
    body.push_str(
        "| concurrency | HTTP req/s | HTTP p50 ms | HTTP p99 ms | errors | limit tx/s | limit p50 ms | limit p99 ms | ratio HTTP / limit |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let mut targets = Vec::new();
    let (mut cpu_http, mut cpu_limit) = (Vec::new(), Vec::new());
    for &concurrency in &settings.concurrencies {
        let (mut rps, mut p50, mut p99, mut errors) = (vec![], vec![], vec![], 0);
        let (mut lrps, mut lp50, mut lp99, mut ratio) = (vec![], vec![], vec![], vec![]);
        for run in 0..settings.runs {
            let tag = format!("{}-{concurrency}-{run}", settings.tag);
            let mut watched = vec![("store-manager", server.pid()?)];
            watched.extend(shared_processes(settings, backend));
            let watch = CpuWatch::start(&watched)?;
            let load: LoadResult =
                http::closed_loop(&client, &base, concurrency, duration, &tag).await?;
            let http_cpu = watch.stop()?;
            server.check_alive()?;
            let watch = CpuWatch::start(&shared_processes(settings, backend))?;
            let limit = limits::db_limit(
                &limit_db,
                concurrency,
                Duration::from_secs(settings.limit_secs),
                &tag,
            )
            .await?;
            let limit_cpu = watch.stop()?;
            if concurrency == 64 {
                cpu_http.push(http_cpu);
                cpu_limit.push(limit_cpu);
            }
            log(&format!(
                "case 3 {label} c={concurrency} run {}: HTTP {:.0}/s limit {:.0}/s",
                run + 1,
                load.per_second(),
                limit.per_second()
            ));
            rps.push(load.per_second());
            p50.push(percentile(&load.latencies_ms, 50.0));
            p99.push(percentile(&load.latencies_ms, 99.0));
            errors += load.errors + limit.errors;
            lrps.push(limit.per_second());
            lp50.push(percentile(&limit.latencies_ms, 50.0));
            lp99.push(percentile(&limit.latencies_ms, 99.0));
            ratio.push(load.per_second() / limit.per_second());
        }
        let ratio = Spread::of(&ratio);
        body += &rows_of(&[
            concurrency.to_string(),
            Spread::of(&rps).show(0),
            Spread::of(&p50).show(2),
            Spread::of(&p99).show(2),
            errors.to_string(),
            Spread::of(&lrps).show(0),
            Spread::of(&lp50).show(2),
            Spread::of(&lp99).show(2),
            ratio.show(2),
        ]);
        if concurrency == 64 {
            targets.push(Target {
                case: "3".into(),
                what: format!("{label}: POST /users / limit at concurrency 64"),
                target: "≥ 0.7".into(),
                measured: ratio.show(2),
                met: ratio.median >= 0.7,
            });
        }
    }
    server.stop()?;
    let _ = writeln!(
        body,
        "\nWhere the CPU went at concurrency 64 (cores: CPU seconds per second, mean of the \
         runs; the harness is the load generator in the HTTP runs and the loop itself in the \
         limit runs):\n\n\
         - HTTP: {}\n\
         - limit: {}",
        mean_cpu(&cpu_http),
        mean_cpu(&cpu_limit)
    );
    Ok(Section {
        title: format!("3. store-manager writes ({label})"),
        body,
        targets,
    })
}

/// Case 4 on one backend; peak RSS into `memory`.
pub(crate) async fn latency(
    settings: &Settings,
    databases: &mut Databases,
    backend: Backend,
    memory: &mut Memory,
) -> Result<Section> {
    let label = backend.label();
    let key = label.to_lowercase();
    let (mut achieved, mut http_p99, mut errors) = (vec![], vec![], 0);
    let (mut ack50, mut ack99, mut ackmax) = (vec![], vec![], vec![]);
    let (mut e2e50, mut e2e99, mut e2emax) = (vec![], vec![], vec![]);
    let (mut rss_sm, mut rss_co) = (vec![], vec![]);
    let (mut limit50, mut limit99, mut limitmax) = (vec![], vec![], vec![]);
    let mut cpu = Vec::new();
    let client = http::client()?;
    for run in 0..settings.runs {
        let name = format!("lat-{key}-{run}");
        let user_topic = format!("bench-{}-{name}-users", settings.tag);
        let order_topic = format!("bench-{}-{name}-orders", settings.tag);
        kafka::create_topics(&settings.brokers, &[&user_topic, &order_topic]).await?;
        let database_url = databases.fresh(settings, backend, &name).await?;
        let out = settings.dir(&name)?;
        let logs = settings.dir(&format!("{name}-logs"))?;
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut server = store_manager(
            settings,
            &database_url,
            &user_topic,
            &order_topic,
            port,
            &logs.join("store-manager.log"),
        )?;
        let group = format!("bench-{}-{name}", settings.tag);
        let mut coolriel = start_coolriel(settings, &user_topic, &group, &out, 1, &logs)?;
        wait_ready(
            &client,
            &format!("{base}/health-check"),
            &mut server,
            Duration::from_secs(60),
        )
        .await?;
        // Warm-up: the whole path works (group joined) before the clock starts.
        let warm = http::open_loop(
            &client,
            &base,
            10,
            Duration::from_secs(1),
            &format!("{name}-warm"),
        )
        .await?;
        let warm_ids: Vec<i64> = warm.created.iter().map(|c| c.user_id).collect();
        wait_for_emails(
            &out,
            &warm_ids,
            false,
            &mut coolriel,
            Duration::from_secs(120),
        )?;
        let measured_from: DateTime<Utc> = Utc::now();
        let mut watched = vec![("store-manager", server.pid()?)];
        for service in &coolriel {
            watched.push(("coolriel", service.pid()?));
        }
        watched.extend(shared_processes(settings, backend));
        let watch = CpuWatch::start(&watched)?;
        let load = http::open_loop(
            &client,
            &base,
            settings.rate,
            Duration::from_secs(settings.latency_secs),
            &name,
        )
        .await?;
        cpu.push(watch.stop()?);
        let ids: Vec<i64> = load.created.iter().map(|c| c.user_id).collect();
        // Every event published, every email written.
        let db = Database::connect(&database_url).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while outbox::Entity::find()
            .filter(outbox::Column::PublishedAt.is_null())
            .count(&db)
            .await?
            > 0
        {
            if Instant::now() > deadline {
                bail!("{label}: outbox not drained after 120 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut sorted_ids = ids.clone();
        sorted_ids.sort_unstable();
        wait_for_emails(
            &out,
            &sorted_ids,
            false,
            &mut coolriel,
            Duration::from_secs(300),
        )?;
        let rows = outbox::Entity::find()
            .filter(outbox::Column::CreatedAt.gte(measured_from))
            .all(&db)
            .await?;
        db.close().await?;
        let commit_to_ack: Vec<f64> = rows
            .iter()
            .filter_map(|row| {
                let published = row.published_at?;
                Some((published - row.created_at).num_microseconds()? as f64 / 1000.0)
            })
            .collect();
        let end_to_end: Vec<f64> = load
            .created
            .iter()
            .map(|created| {
                let file = out.join(format!("welcome_{}.html", created.user_id));
                let meta = std::fs::metadata(&file)?;
                let changed = UNIX_EPOCH
                    + Duration::new(
                        u64::try_from(meta.ctime())?,
                        u32::try_from(meta.ctime_nsec())?,
                    );
                Ok(signed_ms(changed, created.answered_at))
            })
            .collect::<Result<_>>()?;
        let latencies: Vec<f64> = load.created.iter().map(|c| c.latency_ms).collect();
        rss_sm.push(server.peak_rss_mib()?);
        rss_co.push(
            coolriel
                .iter()
                .map(Service::peak_rss_mib)
                .sum::<Result<f64>>()?,
        );
        server.stop()?;
        for service in coolriel {
            service.stop()?;
        }
        discard_output(&out)?;
        // Over the whole run, the answers after the last send included.
        let rate_now = load.created.len() as f64 / load.elapsed.as_secs_f64();
        log(&format!(
            "case 4 {label} run {}: {rate_now:.0} req/s, commit→ack p99 {:.2} ms, e2e p99 {:.2} ms",
            run + 1,
            percentile(&commit_to_ack, 99.0),
            percentile(&end_to_end, 99.0)
        ));
        achieved.push(rate_now);
        http_p99.push(percentile(&latencies, 99.0));
        errors += load.errors;
        ack50.push(percentile(&commit_to_ack, 50.0));
        ack99.push(percentile(&commit_to_ack, 99.0));
        ackmax.push(max(&commit_to_ack));
        e2e50.push(percentile(&end_to_end, 50.0));
        e2e99.push(percentile(&end_to_end, 99.0));
        e2emax.push(max(&end_to_end));

        // The limit, right after, with the system stopped: the broker's own acks.
        let limit_topic = format!("bench-{}-{name}-acks", settings.tag);
        kafka::create_topics(&settings.brokers, &[&limit_topic]).await?;
        let acks = kafka::ack_latency(
            &settings.brokers,
            &limit_topic,
            settings.rate,
            Duration::from_secs(settings.limit_secs),
        )
        .await?;
        log(&format!(
            "case 4 {label} run {}: broker ack alone p99 {:.2} ms",
            run + 1,
            percentile(&acks, 99.0)
        ));
        limit50.push(percentile(&acks, 50.0));
        limit99.push(percentile(&acks, 99.0));
        limitmax.push(max(&acks));
    }
    memory
        .rows
        .push(("store-manager".into(), format!("case 4: {label}"), rss_sm));
    memory
        .rows
        .push(("coolriel".into(), format!("case 4: {label}"), rss_co));
    let ack99s = Spread::of(&ack99);
    let e2e99s = Spread::of(&e2e99);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "**{label}.** Open loop: a `POST /users` started every {:.1} ms for {} s whatever the \
         answers take; store-manager and one coolriel instance (fresh database, topic and group \
         per run; 1 s warm-up first, not counted). Milliseconds, median (min–max) of {} runs.\n\n\
         - commit → ack: from the outbox rows, `published_at − created_at`. `created_at` is \
         taken just before the commit (in `outbox::enqueue`), `published_at` when the broker's \
         ack arrived, so this is commit (+ wake, read, send) → broker ack, exactly the value \
         the `store_manager_outbox_commit_to_ack_seconds` histogram observes, per row instead \
         of in buckets.\n\
         - 201 → file: the ctime of `welcome_<id>.html` (set when the whole file is linked \
         under its name; the batch's `syncfs` follows within 5 ms, before the event is \
         acknowledged) minus the wall-clock time the client got the 201. \
         Negative when the email was on disk before the answer reached the client.\n\
         - limit: what commit → ack cannot beat. Right after each run, with store-manager and \
         coolriel stopped, a bare producer with the outbox's settings (`store_manager::outbox::\
         producer_config`: idempotent, acks=all, linger 1 ms) sends the same events with the \
         same headers at the same rate, for {} s, to a fresh topic on the same broker: \
         send → ack per message.\n",
        1000.0 / f64::from(settings.rate),
        settings.latency_secs,
        settings.runs,
        settings.limit_secs
    );
    body.push_str("| figure | value |\n|---|---|\n");
    body += &rows_of(&[
        "achieved req/s (201s / first send → last answer)".into(),
        Spread::of(&achieved).show(0),
    ]);
    body += &rows_of(&["HTTP p99 ms".into(), Spread::of(&http_p99).show(2)]);
    body += &rows_of(&["failed requests (all runs)".into(), errors.to_string()]);
    body += &rows_of(&["commit → ack p50 ms".into(), Spread::of(&ack50).show(2)]);
    body += &rows_of(&["**commit → ack p99 ms**".into(), ack99s.show(2)]);
    body += &rows_of(&["commit → ack max ms".into(), Spread::of(&ackmax).show(2)]);
    body += &rows_of(&["201 → file p50 ms".into(), Spread::of(&e2e50).show(2)]);
    body += &rows_of(&["**201 → file p99 ms**".into(), e2e99s.show(2)]);
    body += &rows_of(&["201 → file max ms".into(), Spread::of(&e2emax).show(2)]);
    body += &rows_of(&[
        "limit: broker ack alone p50 ms".into(),
        Spread::of(&limit50).show(2),
    ]);
    body += &rows_of(&[
        "**limit: broker ack alone p99 ms**".into(),
        Spread::of(&limit99).show(2),
    ]);
    body += &rows_of(&[
        "limit: broker ack alone max ms".into(),
        Spread::of(&limitmax).show(2),
    ]);
    let _ = writeln!(
        body,
        "\nWhere the CPU went during the load (cores, mean of the runs): {}.",
        mean_cpu(&cpu)
    );
    let rate_ok = Spread::of(&achieved).median >= 0.95 * f64::from(settings.rate);
    if !rate_ok {
        let _ = writeln!(
            body,
            "\nThe achieved rate is below the offered {} req/s: the server could not keep up, \
             requests queued, and the latencies above include that queueing.",
            settings.rate
        );
    }
    Ok(Section {
        title: format!("4. Latency through the system ({label})"),
        body,
        targets: vec![
            Target {
                case: "4".into(),
                what: format!("{label}: commit → ack p99 at {} req/s", settings.rate),
                target: "< 10 ms".into(),
                measured: format!("{} ms", ack99s.show(2)),
                met: ack99s.median < 10.0 && rate_ok,
            },
            Target {
                case: "4".into(),
                what: format!("{label}: 201 → email file p99 at {} req/s", settings.rate),
                target: "< 100 ms".into(),
                measured: format!("{} ms", e2e99s.show(2)),
                met: e2e99s.median < 100.0 && rate_ok,
            },
        ],
    })
}

/// `later − earlier` in milliseconds, negative when `later` is before `earlier`.
fn signed_ms(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// Case 5, from the figures cases 1 and 4 gathered.
pub(crate) fn memory_section(memory: &Memory) -> Section {
    let mut body = String::from(
        "Peak resident set size (`VmHWM` of `/proc/PID/status`, read just before the process \
         is stopped), MiB, median (min–max) over the runs.\n\n| process | case | peak RSS MiB | target < 64 MiB |\n|---|---|---|---|\n",
    );
    let mut targets = Vec::new();
    for (process, case, values) in &memory.rows {
        let spread = Spread::of(values);
        let ok = spread.max < 64.0;
        body += &rows_of(&[
            process.clone(),
            case.clone(),
            spread.show(1),
            met(ok).into(),
        ]);
        targets.push(Target {
            case: "5".into(),
            what: format!("{process} peak RSS, {case}"),
            target: "< 64 MiB".into(),
            measured: format!("{} MiB", spread.show(1)),
            met: ok,
        });
    }
    Section {
        title: "5. Memory".into(),
        body,
        targets,
    }
}
