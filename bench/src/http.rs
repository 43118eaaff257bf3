//! Load generation over HTTP (no external tool needed): a closed loop at a fixed
//! concurrency (case 3) and an open loop at a fixed rate (case 4).

use std::collections::BTreeMap;
use std::fmt;
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
    pub(crate) failures: Failures,
    /// From the first request sent to the last answer received.
    pub(crate) elapsed: Duration,
}

/// Requests that did not end in a readable 201, counted by cause: the status code, or what
/// went wrong before one arrived (`timeout` is the client's 30 s, `connect`, `body`, …).
#[derive(Debug, Default)]
pub(crate) struct Failures(BTreeMap<String, u64>);

impl Failures {
    pub(crate) fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub(crate) fn add(&mut self, cause: String, count: u64) {
        *self.0.entry(cause).or_default() += count;
    }

    pub(crate) fn merge(&mut self, other: &Failures) {
        for (cause, count) in &other.0 {
            self.add(cause.clone(), *count);
        }
    }
}

/// `8498 (503: 8000, timeout: 498)`, or `0`.
impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.total())?;
        if self.0.is_empty() {
            return Ok(());
        }
        let causes: Vec<String> = self
            .0
            .iter()
            .map(|(cause, count)| format!("{cause}: {count}"))
            .collect();
        write!(f, " ({})", causes.join(", "))
    }
}

/// The cause a failed request is counted under.
fn failure_cause(error: &reqwest::Error) -> String {
    let cause = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else if error.is_request() {
        "request"
    } else {
        "other"
    };
    cause.to_owned()
}

/// One open-loop request: the 201's user and timing, or the cause of its failure.
async fn create_one(
    client: reqwest::Client,
    url: Arc<String>,
    body: serde_json::Value,
) -> Result<Created, String> {
    let sent = Instant::now();
    let response = client
        .post(url.as_str())
        .json(&body)
        .send()
        .await
        .map_err(|error| failure_cause(&error))?;
    let status = response.status().as_u16();
    if status != 201 {
        return Err(status.to_string());
    }
    let answered_at = SystemTime::now();
    let latency_ms = sent.elapsed().as_secs_f64() * 1000.0;
    let created: serde_json::Value = response
        .json()
        .await
        .map_err(|error| failure_cause(&error))?;
    let user_id = created
        .get("user_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| "201 without user_id".to_owned())?;
    Ok(Created {
        user_id,
        answered_at,
        latency_ms,
    })
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
        tasks.push(tokio::spawn(create_one(client, url, body)));
    }
    let mut result = OpenLoopResult::default();
    for task in tasks {
        match task.await? {
            Ok(created) => result.created.push(created),
            Err(cause) => result.failures.add(cause, 1),
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::Failures;

    #[test]
    fn failures_show_their_total_then_each_cause() {
        let mut failures = Failures::default();
        assert_eq!(failures.to_string(), "0");
        failures.add("503".to_owned(), 2);
        failures.add("timeout".to_owned(), 1);
        let mut more = Failures::default();
        more.add("503".to_owned(), 3);
        failures.merge(&more);
        assert_eq!(failures.total(), 6);
        assert_eq!(failures.to_string(), "6 (503: 5, timeout: 1)");
    }
}
