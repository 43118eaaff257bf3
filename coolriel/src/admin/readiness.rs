//! `GET /ready`: 200 when the service can do its work, else 503, with every check and
//! every reason in the JSON body:
//!
//! ```json
//! {"ready": false, "broker": "up", "output_dir": "not writable: ... No space left on device",
//!  "handlers": {"down": []}, "assignment": "ok", "recovering": ["user-events/1"],
//!  "restart_budget": "ok", "partitions": 3,
//!  "reasons": ["output directory output is not writable: ...", "partition user-events/1 is recovering from a restart of its actor"]}
//! ```
//!
//! | check            | fails when |
//! |------------------|------------|
//! | `broker`         | the broker does not answer a metadata request within 1 s |
//! | `output_dir`     | a small file cannot be written in `OUTPUT_DIR` (full, read-only, gone) |
//! | `handlers`       | a handler actor is not running (its mailbox closed: it stopped for good) |
//! | `assignment`     | the watchdog found this member with no partition while partitions nobody consumes wait, for longer than its patience (until a partition is assigned again) |
//! | `recovering`     | a partition actor restarted after a panic and is re-reading what it had not finished |
//! | `restart_budget` | `COOLRIEL_RESTART_LIMIT` restarts happened within the window: the service is on its way out |
//!
//! The broker and the disk are asked on blocking threads, each bounded in time, so a hung
//! disk or broker makes the answer "down", not a hung probe.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AdminState;
use crate::kafka::context;
use crate::output::TEMP_FILE_PREFIX;

/// How long readiness waits for the broker, and for the disk.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);
/// What the output probe writes: one page, so a full file system refuses it (an empty
/// file needs only an inode, which a full disk may still have).
const PROBE_BYTES: usize = 4096;

/// See the module documentation.
pub(super) async fn readiness(state: web::Data<AdminState>) -> HttpResponse {
    let (broker, output) = probe_broker_and_disk(&state).await;
    let handlers_down: Vec<&'static str> = state
        .handlers
        .iter()
        .filter(|handler| !handler.is_running())
        .map(|handler| handler.actor)
        .collect();
    let stranded = state.health.stranded();
    let recovering = state.health.recovering();
    let budget = state.health.budget();
    let exhausted = budget.is_exhausted();

    let mut reasons = Vec::new();
    if !broker {
        reasons.push("the broker does not answer".to_owned());
    }
    if let Err(error) = &output {
        reasons.push(format!(
            "output directory {} is not writable: {error}",
            state.output_dir.display()
        ));
    }
    for actor in &handlers_down {
        reasons.push(format!("handler actor {actor} is not running"));
    }
    if let Some(partitions) = &stranded {
        reasons.push(format!(
            "no partition assigned while nobody consumes {}",
            partitions.join(", ")
        ));
    }
    for partition in &recovering {
        reasons.push(format!(
            "partition {partition} is recovering from a restart of its actor"
        ));
    }
    if exhausted {
        let policy = budget.policy();
        reasons.push(format!(
            "restart budget exhausted ({} restarts within {:?}): shutting down",
            policy.limit, policy.window
        ));
    }
    let ready = reasons.is_empty();
    let body = json!({
        "ready": ready,
        "broker": if broker { "up" } else { "down" },
        "output_dir": match &output {
            Ok(()) => "writable".to_owned(),
            Err(error) => format!("not writable: {error}"),
        },
        "handlers": { "down": handlers_down },
        "assignment": if stranded.is_some() { "stranded" } else { "ok" },
        "recovering": recovering,
        "restart_budget": if exhausted { "exhausted" } else { "ok" },
        "partitions": context::lock(&state.partitions).len(),
        "reasons": reasons,
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Whether the broker answers, and whether the output directory takes a write, asked at
/// once on blocking threads, each within its time.
async fn probe_broker_and_disk(state: &AdminState) -> (bool, Result<(), String>) {
    let monitor = Arc::clone(&state.monitor);
    let broker = web::block(move || monitor.broker_reachable(READINESS_TIMEOUT));
    let dir = state.output_dir.clone();
    let output = web::block(move || probe_output_dir(&dir));
    let (broker, output) = futures::join!(
        tokio::time::timeout(READINESS_TIMEOUT * 2, broker),
        tokio::time::timeout(READINESS_TIMEOUT, output),
    );
    let broker = matches!(broker, Ok(Ok(true)));
    let output = match output {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(error))) => Err(error.to_string()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!(
            "no answer from the disk within {READINESS_TIMEOUT:?}"
        )),
    };
    (broker, output)
}

/// Write one page to a temporary file in `dir` and remove it. The file is named like the
/// service's own temporary files, so one left by a crash is swept at the next start.
pub fn probe_output_dir(dir: &Path) -> std::io::Result<()> {
    let mut probe = tempfile::Builder::new()
        .prefix(&format!("{TEMP_FILE_PREFIX}ready-"))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    probe.write_all(&[0; PROBE_BYTES])?;
    probe.flush()?;
    probe.close()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_writes_nothing_that_stays() {
        let dir = tempfile::tempdir().expect("temp dir");
        probe_output_dir(dir.path()).expect("writable");
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn the_probe_fails_where_nothing_can_be_written() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A file where the directory should be: refused even to root.
        let not_a_dir = dir.path().join("output");
        std::fs::write(&not_a_dir, b"").expect("file");
        assert!(probe_output_dir(&not_a_dir).is_err());
        assert!(probe_output_dir(&dir.path().join("missing")).is_err());
    }
}
