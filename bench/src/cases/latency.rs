//! Case 4: latency through the whole system under an open loop at a fixed rate (commit →
//! broker ack from the outbox rows, and the client's 201 → the email file on disk), against
//! its limit: the broker's own acknowledgement latency with the system stopped.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, Database, DatabaseConnection, EntityTrait as _, PaginatorTrait as _,
    QueryFilter as _,
};
use store_manager::entities::outbox;

use super::databases::Databases;
use super::emails::{discard_output, wait_for_emails};
use super::memory::Memory;
use super::services::{shared_processes, start_coolriel, start_store_manager};
use super::{Backend, Settings, log};
use crate::http::{self, OpenLoopResult};
use crate::kafka;
use crate::procs::{CpuUse, CpuWatch, Service, wait_ready};
use crate::report::{Section, Target, table_row};
use crate::stats::{Spread, max, percentile};

/// Case 4's figures, one per run; failures summed over the runs.
#[derive(Debug, Default)]
struct Runs {
    achieved: Vec<f64>,
    http_p99: Vec<f64>,
    failures: http::Failures,
    ack50: Vec<f64>,
    ack99: Vec<f64>,
    ackmax: Vec<f64>,
    e2e50: Vec<f64>,
    e2e99: Vec<f64>,
    e2emax: Vec<f64>,
    rss_sm: Vec<f64>,
    rss_co: Vec<f64>,
    limit50: Vec<f64>,
    limit99: Vec<f64>,
    limitmax: Vec<f64>,
    cpu: Vec<CpuUse>,
}

/// One run's store-manager and coolriel instance, on a fresh database, topic and group.
struct System {
    database_url: String,
    out: PathBuf,
    base: String,
    server: Service,
    coolriel: Vec<Service>,
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
    let mut runs = Runs::default();
    let client = http::client()?;
    for run in 0..settings.runs {
        let name = format!("lat-{key}-{run}");
        let mut system = start(settings, databases, backend, &client, &name).await?;
        warm_up(&client, &mut system, &name).await?;
        measure(settings, backend, &client, system, &name, run, &mut runs).await?;
        // The limit, right after, with the system stopped: the broker's own acks.
        measure_limit(settings, label, &name, run, &mut runs).await?;
    }
    memory.rows.push((
        "store-manager".into(),
        format!("case 4: {label}"),
        std::mem::take(&mut runs.rss_sm),
    ));
    memory.rows.push((
        "coolriel".into(),
        format!("case 4: {label}"),
        std::mem::take(&mut runs.rss_co),
    ));
    Ok(section(settings, label, &runs))
}

/// Topics, a fresh database, a store-manager that answers and one coolriel instance.
async fn start(
    settings: &Settings,
    databases: &mut Databases,
    backend: Backend,
    client: &reqwest::Client,
    name: &str,
) -> Result<System> {
    let user_topic = format!("bench-{}-{name}-users", settings.tag);
    let order_topic = format!("bench-{}-{name}-orders", settings.tag);
    kafka::create_topics(&settings.brokers, &[&user_topic, &order_topic]).await?;
    let database_url = databases.fresh(settings, backend, name).await?;
    let out = settings.dir(name)?;
    let logs = settings.dir(&format!("{name}-logs"))?;
    let (mut server, base) = start_store_manager(
        settings,
        &database_url,
        &user_topic,
        &order_topic,
        &logs.join("store-manager.log"),
    )?;
    let group = format!("bench-{}-{name}", settings.tag);
    let coolriel = start_coolriel(settings, &user_topic, &group, &out, 1, &logs)?;
    wait_ready(
        client,
        &format!("{base}/health-check"),
        &mut server,
        Duration::from_secs(60),
    )
    .await?;
    Ok(System {
        database_url,
        out,
        base,
        server,
        coolriel,
    })
}

/// The whole path works (group joined) before the clock starts: 1 s at 10 req/s, every
/// email written.
async fn warm_up(client: &reqwest::Client, system: &mut System, name: &str) -> Result<()> {
    let warm = http::open_loop(
        client,
        &system.base,
        10,
        Duration::from_secs(1),
        &format!("{name}-warm"),
    )
    .await?;
    let warm_ids: Vec<i64> = warm.created.iter().map(|c| c.user_id).collect();
    wait_for_emails(
        &system.out,
        &warm_ids,
        false,
        &mut system.coolriel,
        Duration::from_secs(120),
    )?;
    Ok(())
}

/// One run: the load with its CPU use, then until every event is published and every
/// email written; the two latencies, the peak RSS; the system stopped.
async fn measure(
    settings: &Settings,
    backend: Backend,
    client: &reqwest::Client,
    mut system: System,
    name: &str,
    run: usize,
    runs: &mut Runs,
) -> Result<()> {
    let measured_from: DateTime<Utc> = Utc::now();
    let mut watched = vec![("store-manager", system.server.pid()?)];
    for service in &system.coolriel {
        watched.push(("coolriel", service.pid()?));
    }
    watched.extend(shared_processes(settings, backend));
    let watch = CpuWatch::start(&watched)?;
    let duration = Duration::from_secs(settings.latency_secs);
    let load = http::open_loop(client, &system.base, settings.rate, duration, name).await?;
    runs.cpu.push(watch.stop()?);
    // Every event published, every email written.
    let db = Database::connect(&system.database_url).await?;
    wait_for_outbox(&db, backend.label()).await?;
    let mut ids: Vec<i64> = load.created.iter().map(|c| c.user_id).collect();
    ids.sort_unstable();
    let timeout = Duration::from_secs(300);
    wait_for_emails(&system.out, &ids, false, &mut system.coolriel, timeout)?;
    let commit_to_ack = commit_to_ack(&db, measured_from).await?;
    db.close().await?;
    let end_to_end = end_to_end(&system.out, &load)?;
    let latencies: Vec<f64> = load.created.iter().map(|c| c.latency_ms).collect();
    runs.rss_sm.push(system.server.peak_rss_mib()?);
    runs.rss_co.push(
        system
            .coolriel
            .iter()
            .map(Service::peak_rss_mib)
            .sum::<Result<f64>>()?,
    );
    system.server.stop()?;
    for service in system.coolriel {
        service.stop()?;
    }
    discard_output(&system.out)?;
    // Over the whole run, the answers after the last send included.
    let rate_now = load.created.len() as f64 / load.elapsed.as_secs_f64();
    log(&format!(
        "case 4 {} run {}: {rate_now:.0} req/s, commit→ack p99 {:.2} ms, e2e p99 {:.2} ms",
        backend.label(),
        run + 1,
        percentile(&commit_to_ack, 99.0),
        percentile(&end_to_end, 99.0)
    ));
    runs.achieved.push(rate_now);
    runs.http_p99.push(percentile(&latencies, 99.0));
    runs.failures.merge(&load.failures);
    runs.ack50.push(percentile(&commit_to_ack, 50.0));
    runs.ack99.push(percentile(&commit_to_ack, 99.0));
    runs.ackmax.push(max(&commit_to_ack));
    runs.e2e50.push(percentile(&end_to_end, 50.0));
    runs.e2e99.push(percentile(&end_to_end, 99.0));
    runs.e2emax.push(max(&end_to_end));
    Ok(())
}

/// Until no outbox row is unpublished (at most 120 s).
async fn wait_for_outbox(db: &DatabaseConnection, label: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while outbox::Entity::find()
        .filter(outbox::Column::PublishedAt.is_null())
        .count(db)
        .await?
        > 0
    {
        if Instant::now() > deadline {
            bail!("{label}: outbox not drained after 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `published_at − created_at` of every outbox row created since `measured_from`, in ms.
async fn commit_to_ack(db: &DatabaseConnection, measured_from: DateTime<Utc>) -> Result<Vec<f64>> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::CreatedAt.gte(measured_from))
        .all(db)
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let published = row.published_at?;
            Some((published - row.created_at).num_microseconds()? as f64 / 1000.0)
        })
        .collect())
}

/// For each user created, the ctime of its `welcome_<id>.html` minus the time the client
/// got the 201, in ms.
fn end_to_end(out: &Path, load: &OpenLoopResult) -> Result<Vec<f64>> {
    load.created
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
        .collect()
}

/// `later − earlier` in milliseconds, negative when `later` is before `earlier`.
fn signed_ms(later: SystemTime, earlier: SystemTime) -> f64 {
    match later.duration_since(earlier) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// The limit of one run: a bare producer's send → ack on a fresh topic.
async fn measure_limit(
    settings: &Settings,
    label: &str,
    name: &str,
    run: usize,
    runs: &mut Runs,
) -> Result<()> {
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
    runs.limit50.push(percentile(&acks, 50.0));
    runs.limit99.push(percentile(&acks, 99.0));
    runs.limitmax.push(max(&acks));
    Ok(())
}

/// Case 4's section of the report.
fn section(settings: &Settings, label: &str, runs: &Runs) -> Section {
    let ack99s = Spread::of(&runs.ack99);
    let e2e99s = Spread::of(&runs.e2e99);
    let mut body = intro(settings, label);
    body += &table(runs);
    let _ = writeln!(
        body,
        "\nWhere the CPU went during the load (cores, mean of the runs): {}.",
        CpuUse::describe_mean(&runs.cpu)
    );
    let rate_ok = Spread::of(&runs.achieved).median >= 0.95 * f64::from(settings.rate);
    if !rate_ok {
        let _ = writeln!(
            body,
            "\nThe achieved rate is below the offered {} req/s: the server could not keep up, \
             requests queued, and the latencies above include that queueing.",
            settings.rate
        );
    }
    Section {
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
    }
}

/// What the section measures, and how.
fn intro(settings: &Settings, label: &str) -> String {
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
    body
}

/// The figures' table.
fn table(runs: &Runs) -> String {
    let spread = |values: &[f64]| Spread::of(values).show(2);
    let mut table = String::from("| figure | value |\n|---|---|\n");
    for (figure, value) in [
        (
            "achieved req/s (201s / first send → last answer)",
            Spread::of(&runs.achieved).show(0),
        ),
        ("HTTP p99 ms", spread(&runs.http_p99)),
        (
            "failed requests (all runs, by cause)",
            runs.failures.to_string(),
        ),
        ("commit → ack p50 ms", spread(&runs.ack50)),
        ("**commit → ack p99 ms**", spread(&runs.ack99)),
        ("commit → ack max ms", spread(&runs.ackmax)),
        ("201 → file p50 ms", spread(&runs.e2e50)),
        ("**201 → file p99 ms**", spread(&runs.e2e99)),
        ("201 → file max ms", spread(&runs.e2emax)),
        ("limit: broker ack alone p50 ms", spread(&runs.limit50)),
        ("**limit: broker ack alone p99 ms**", spread(&runs.limit99)),
        ("limit: broker ack alone max ms", spread(&runs.limitmax)),
    ] {
        table += &table_row(&[figure.to_owned(), value]);
    }
    table
}
