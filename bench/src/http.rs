//! Load generation over HTTP (no external tool needed): a closed loop at a fixed
//! concurrency (case 3) and an open loop at a fixed rate (case 4).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::load::{self, LoadResult};

pub(crate) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .context("cannot build the HTTP client")
}

fn body(tag: &str, worker: usize, i: u64) -> serde_json::Value {
    json!({
        "name": format!("Bench User {worker} {i}"),
        "email": format!("http-{tag}-{worker}-{i}@bench.example"),
        "user_type_id": 1 + i % 3,
    })
}

/// `concurrency` connections each POST /users back to back for `duration`.
pub(crate) async fn closed_loop(
    client: &reqwest::Client,
    base: &str,
    concurrency: usize,
    duration: Duration,
    tag: &str,
) -> Result<LoadResult> {
    let url = Arc::new(format!("{base}/users"));
    let client = client.clone();
    let tag = tag.to_owned();
    load::closed_loop(concurrency, duration, move |worker, i| {
        let (client, url, tag) = (client.clone(), Arc::clone(&url), tag.clone());
        Ok(async move {
            let answer = client
                .post(url.as_str())
                .json(&body(&tag, worker, i))
                .send()
                .await;
            match answer {
                Ok(response) if response.status().as_u16() == 201 => {
                    let _ = response.bytes().await;
                    true
                }
                _ => false,
            }
        })
    })
    .await
}

/// One successful request of the open loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Created {
    pub(crate) user_id: i64,
    /// When the 201 arrived (wall clock, to compare with file times).
    pub(crate) answered_at: SystemTime,
    pub(crate) latency_ms: f64,
}

/// What an open-loop run did.
#[derive(Debug, Default)]
pub(crate) struct OpenLoopResult {
    pub(crate) created: Vec<Created>,
    pub(crate) errors: u64,
    /// From the first request sent to the last answer received.
    pub(crate) elapsed: Duration,
}

/// POST /users at `rate` requests per second for `duration`, whatever the answers take
/// (a request is started on every tick; none waits for another).
pub(crate) async fn open_loop(
    client: &reqwest::Client,
    base: &str,
    rate: u32,
    duration: Duration,
    tag: &str,
) -> Result<OpenLoopResult> {
    let url = Arc::new(format!("{base}/users"));
    let total = u64::from(rate) * duration.as_secs();
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total)?);
    for i in 0..total {
        ticker.tick().await;
        let client = client.clone();
        let url = Arc::clone(&url);
        let body = body(tag, 0, i);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = client.post(url.as_str()).json(&body).send().await.ok()?;
            if response.status().as_u16() != 201 {
                return None;
            }
            let answered_at = SystemTime::now();
            let latency_ms = sent.elapsed().as_secs_f64() * 1000.0;
            let created: serde_json::Value = response.json().await.ok()?;
            Some(Created {
                user_id: created.get("user_id")?.as_i64()?,
                answered_at,
                latency_ms,
            })
        }));
    }
    let mut result = OpenLoopResult::default();
    for task in tasks {
        match task.await? {
            Some(created) => result.created.push(created),
            None => result.errors += 1,
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}
