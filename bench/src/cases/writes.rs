//! Case 3: store-manager's `POST /users` under closed-loop load at each concurrency, against
//! its limit: the same transaction (`create_user`) called directly on a fresh database.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;

use super::databases::Databases;
use super::services::{shared_processes, start_store_manager};
use super::{Backend, Settings, log};
use crate::http;
use crate::kafka;
use crate::limits;
use crate::procs::{CpuUse, CpuWatch, Service, wait_ready};
use crate::report::{Section, Target, table_row};
use crate::stats::{Spread, percentile};

/// The target: HTTP reaches at least this share of the limit's rate at concurrency 64.
const TARGET: f64 = 0.7;

/// The concurrency the target and the CPU figures are about.
const TARGET_CONCURRENCY: usize = 64;

/// A store-manager answering on `base`, and the second database the limit runs on.
struct System {
    server: Service,
    client: reqwest::Client,
    base: String,
    limit_db: String,
}

/// One concurrency's figures, one per run; errors summed over the runs.
#[derive(Debug, Default)]
struct Level {
    rps: Vec<f64>,
    p50: Vec<f64>,
    p99: Vec<f64>,
    errors: u64,
    lrps: Vec<f64>,
    lp50: Vec<f64>,
    lp99: Vec<f64>,
    ratio: Vec<f64>,
    cpu_http: Vec<CpuUse>,
    cpu_limit: Vec<CpuUse>,
}

/// Case 3 on one backend.
pub(crate) async fn writes(
    settings: &Settings,
    databases: &mut Databases,
    backend: Backend,
) -> Result<Section> {
    let label = backend.label();
    let mut system = start(settings, databases, backend).await?;
    let mut body = intro(settings, label);
    let mut targets = Vec::new();
    let (mut cpu_http, mut cpu_limit) = (Vec::new(), Vec::new());
    for &concurrency in &settings.concurrencies {
        let mut level = Level::default();
        for run in 0..settings.runs {
            measure(settings, &mut system, backend, concurrency, run, &mut level).await?;
        }
        let ratio = Spread::of(&level.ratio);
        body += &table_row(&[
            concurrency.to_string(),
            Spread::of(&level.rps).show(0),
            Spread::of(&level.p50).show(2),
            Spread::of(&level.p99).show(2),
            level.errors.to_string(),
            Spread::of(&level.lrps).show(0),
            Spread::of(&level.lp50).show(2),
            Spread::of(&level.lp99).show(2),
            ratio.show(2),
        ]);
        if concurrency == TARGET_CONCURRENCY {
            cpu_http = level.cpu_http;
            cpu_limit = level.cpu_limit;
            targets.push(Target::at_least(
                "3",
                format!("{label}: POST /users / limit at concurrency {TARGET_CONCURRENCY}"),
                &ratio,
                TARGET,
                2,
            ));
        }
    }
    system.server.stop()?;
    let _ = writeln!(
        body,
        "\nWhere the CPU went at concurrency {TARGET_CONCURRENCY} (cores: CPU seconds per second, \
         mean of the runs; the harness is the load generator in the HTTP runs and the loop itself \
         in the limit runs):\n\n\
         - HTTP: {}\n\
         - limit: {}",
        CpuUse::describe_mean(&cpu_http),
        CpuUse::describe_mean(&cpu_limit)
    );
    Ok(Section {
        title: format!("3. store-manager writes ({label})"),
        body,
        targets,
    })
}

/// Topics, the two databases, a store-manager that answers and has served a warm-up.
async fn start(settings: &Settings, databases: &mut Databases, backend: Backend) -> Result<System> {
    let key = backend.label().to_lowercase();
    let user_topic = format!("bench-{}-http-{key}-users", settings.tag);
    let order_topic = format!("bench-{}-http-{key}-orders", settings.tag);
    kafka::create_topics(&settings.brokers, &[&user_topic, &order_topic]).await?;
    let server_db = databases
        .fresh(settings, backend, &format!("http-{key}"))
        .await?;
    let limit_db = databases
        .fresh(settings, backend, &format!("limit-{key}"))
        .await?;
    let (mut server, base) = start_store_manager(
        settings,
        &server_db,
        &user_topic,
        &order_topic,
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
    Ok(System {
        server,
        client,
        base,
        limit_db,
    })
}

/// One run at `concurrency`: the HTTP load, then the limit, each with its CPU use.
async fn measure(
    settings: &Settings,
    system: &mut System,
    backend: Backend,
    concurrency: usize,
    run: usize,
    level: &mut Level,
) -> Result<()> {
    let tag = format!("{}-{concurrency}-{run}", settings.tag);
    let mut watched = vec![("store-manager", system.server.pid()?)];
    watched.extend(shared_processes(settings, backend));
    let watch = CpuWatch::start(&watched)?;
    let duration = Duration::from_secs(settings.http_secs);
    let load = http::closed_loop(&system.client, &system.base, concurrency, duration, &tag).await?;
    level.cpu_http.push(watch.stop()?);
    system.server.check_alive()?;
    let watch = CpuWatch::start(&shared_processes(settings, backend))?;
    let limit_secs = Duration::from_secs(settings.limit_secs);
    let limit = limits::db_limit(&system.limit_db, concurrency, limit_secs, &tag).await?;
    level.cpu_limit.push(watch.stop()?);
    log(&format!(
        "case 3 {} c={concurrency} run {}: HTTP {:.0}/s limit {:.0}/s",
        backend.label(),
        run + 1,
        load.per_second(),
        limit.per_second()
    ));
    level.rps.push(load.per_second());
    level.p50.push(percentile(&load.latencies_ms, 50.0));
    level.p99.push(percentile(&load.latencies_ms, 99.0));
    level.errors += load.errors + limit.errors;
    level.lrps.push(limit.per_second());
    level.lp50.push(percentile(&limit.latencies_ms, 50.0));
    level.lp99.push(percentile(&limit.latencies_ms, 99.0));
    level.ratio.push(load.per_second() / limit.per_second());
    Ok(())
}

/// What the section measures, and its table's head.
fn intro(settings: &Settings, label: &str) -> String {
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
    body
}
