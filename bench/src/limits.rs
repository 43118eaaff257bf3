//! The limits, each one stage alone in a loop: template rendering and atomic file writes
//! (case 1), and the store's write transaction straight against the database (case 3).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use coolriel::templates::{EmailData, Format};
use coolriel::{EmailKind, Templates};
use shared_events::UserType;
use shared_events::lab_time::LabDateTime;
use store_manager::domain::{UserEmail, UserName};
use store_manager::services::users::{NewUser, create_user};
use store_manager::topics::Topics;

use crate::load::{self, LoadResult};

/// Render `events` emails (HTML only, as coolriel does per event by default), welcome and
/// goodbye alternately over the three user types. Returns the elapsed time and the last
/// email rendered (the write loop writes copies of it).
pub(crate) fn render_loop(templates: &Path, events: u64) -> Result<(Duration, String)> {
    let templates = Templates::load(templates).context("cannot load the templates")?;
    let when = LabDateTime::now();
    let mut last = String::new();
    let started = Instant::now();
    for i in 0..events {
        let kind = if i % 2 == 0 {
            EmailKind::Welcome
        } else {
            EmailKind::Goodbye
        };
        let user_type = UserType::ALL[usize::try_from(i / 2)? % UserType::ALL.len()];
        let id = i64::try_from(i / 2)?;
        let data = EmailData::new(
            id,
            &format!("Bench User {id}"),
            &format!("user{id}@bench.example"),
            user_type,
            &when,
        );
        let html = templates.render_format(kind, user_type, Format::Html, &data)?;
        last = std::hint::black_box(html);
    }
    Ok((started.elapsed(), last))
}

/// Write `events` emails into `dir` the way coolriel's email actors do by default, alone
/// in one thread: one HTML file per event with `coolriel::output::OutputDir::publish`,
/// and `OutputDir::sync` once per full batch (`coolriel::SyncBatch::default().max_messages`
/// events, the most coolriel ever puts in one sync) and once at the end, so every file is
/// durable when it returns.
pub(crate) fn write_loop(dir: &Path, events: u64, html: &str) -> Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let output = coolriel::output::OutputDir::open(dir)?;
    let batch = u64::try_from(coolriel::SyncBatch::default().max_messages)?;
    let mut unsynced = Vec::new();
    let started = Instant::now();
    for i in 0..events {
        let prefix = if i % 2 == 0 { "welcome" } else { "goodbye" };
        let name = format!("{prefix}_{}.html", i / 2);
        output.publish(&name, html.as_bytes())?;
        unsynced.push(name);
        if (i + 1) % batch == 0 {
            output.sync(&unsynced)?;
            unsynced.clear();
        }
    }
    output.sync(&unsynced)?;
    Ok(started.elapsed())
}

/// `concurrency` tasks run `store_manager::services::users::create_user` (the user
/// insert and the outbox insert in one transaction, what `POST /users` does) on the pool
/// `store_manager::database::connect` opens, for `duration`.
pub(crate) async fn db_limit(
    database_url: &str,
    concurrency: usize,
    duration: Duration,
    tag: &str,
) -> Result<LoadResult> {
    let db = store_manager::database::connect(database_url)
        .await
        .context("cannot connect to the database")?;
    let topics = Arc::new(Topics {
        user_events: "bench-limit-users".to_owned(),
        order_events: "bench-limit-orders".to_owned(),
    });
    let result = {
        let db = db.clone();
        let tag = tag.to_owned();
        load::closed_loop(concurrency, duration, move |worker, i| {
            let new_user = NewUser {
                name: UserName::parse(&format!("Bench Limit {worker} {i}"))?,
                email: UserEmail::parse(&format!("limit-{tag}-{worker}-{i}@bench.example"))?,
                user_type: UserType::ALL[usize::try_from(i)? % 3],
            };
            let (db, topics) = (db.clone(), Arc::clone(&topics));
            Ok(async move { create_user(&db, &topics, new_user).await.is_ok() })
        })
        .await?
    };
    db.close().await?;
    Ok(result)
}
