//! The email files coolriel writes, as the cases see them: waiting until every expected
//! file is on disk (the end of a drain), and removing a case's output.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::procs::Service;

/// A drain with no new email file for this long has stalled.
const STALL: Duration = Duration::from_secs(30);

/// Wait until `welcome_{id}.html` and `goodbye_{id}.html` exist for every id of `ids`
/// (HTML is written after the text file, so the pair is complete). Polls every 20 ms,
/// advancing a cursor, so each file is looked at about once. Returns when the last file
/// was seen and when the first was.
pub(super) fn wait_for_emails(
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

/// Removes a case's email output, unless `BENCH_KEEP_WORK` asks to keep everything (the
/// files' times are what a latency investigation needs).
pub(super) fn discard_output(out: &Path) -> Result<()> {
    // Empty counts as unset, as in scripts/bench.sh.
    if std::env::var_os("BENCH_KEEP_WORK").is_none_or(|value| value.is_empty()) {
        std::fs::remove_dir_all(out)?;
    }
    Ok(())
}
