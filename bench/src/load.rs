//! Closed-loop load: workers that each repeat one operation back to back until a deadline,
//! timing it. Case 3's HTTP load ([`crate::http::closed_loop`]) and its limit, the database
//! transaction alone ([`crate::limits::db_limit`]), are both this loop.

use std::time::{Duration, Instant};

use anyhow::Result;

/// What a load run did.
#[derive(Debug, Default)]
pub(crate) struct LoadResult {
    /// Latency of every successful operation, in milliseconds.
    pub(crate) latencies_ms: Vec<f64>,
    /// Operations that did not succeed (for HTTP: any status but 201, or no answer).
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
}

impl LoadResult {
    pub(crate) fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` workers (tokio tasks), each running operations back to back for
/// `duration`. Worker `w`'s `i`th operation (from 1) is `operation(w, i)`: what it returns
/// before the future (the input, say) is not timed, and an error there ends the run with it;
/// the future is timed from its first poll to its end and counts as a success when it
/// yields `true`.
pub(crate) async fn closed_loop<O, F>(
    concurrency: usize,
    duration: Duration,
    operation: O,
) -> Result<LoadResult>
where
    O: Fn(usize, u64) -> Result<F> + Clone + Send + 'static,
    F: Future<Output = bool> + Send + 'static,
{
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            let mut i = 0_u64;
            while Instant::now() < deadline {
                i += 1;
                let pending = operation(worker, i)?;
                let sent = Instant::now();
                if pending.await {
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            anyhow::Ok((latencies, errors))
        }));
    }
    let mut result = LoadResult::default();
    for task in tasks {
        let (latencies, errors) = task.await??;
        result.latencies_ms.extend(latencies);
        result.errors += errors;
    }
    result.elapsed = started.elapsed();
    Ok(result)
}
