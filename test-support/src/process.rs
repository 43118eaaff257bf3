//! The services' binaries as child processes: the address a child bound itself (it is told
//! port 0 and logs the port it got, so no port is ever handed from one process to another,
//! where another test could take it in between), SIGTERM, and waiting for an exit; and
//! starting one with its log in a file.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Starts `command` with its standard error appended to the file at `log` (created when
/// absent; the services log there) and its standard output discarded.
pub fn spawn_logged(command: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|error| panic!("log file {}: {error}", log.display()));
    command
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|error| panic!("{:?} does not start: {error}", command.get_program()))
}

/// The address in the first line of the log at `log` (written since `from` bytes) that
/// contains `message` and an `addr=IP:PORT` field, as the services log the listener they
/// bound (`store-manager listening`, `admin server listening`). Panics when `child` exits
/// or `timeout` passes first.
pub fn bound_address(
    log: &Path,
    from: usize,
    message: &str,
    child: &mut Child,
    timeout: Duration,
) -> SocketAddr {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = text
            .get(from..)
            .unwrap_or_default()
            .lines()
            .find_map(|line| {
                if !line.contains(message) {
                    return None;
                }
                let (_, rest) = line.split_once("addr=")?;
                rest.split_whitespace()
                    .next()?
                    .trim_matches('"')
                    .parse()
                    .ok()
            });
        if let Some(addr) = found {
            return addr;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the process exited ({status}) before logging {message:?}:\n{text}");
        }
        assert!(
            started.elapsed() < timeout,
            "no {message:?} line with addr= in {} within {timeout:?}:\n{text}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &Child) {
    let sent = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill -TERM");
    assert!(sent.success(), "kill -TERM {} failed", child.id());
}

/// Waits for `child` to exit; `None` (after SIGKILLing it) when it did not within `timeout`.
pub fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if started.elapsed() >= timeout {
            child.kill().ok();
            child.wait().ok();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The size of the file at `path` now (0 when absent): where its next lines will start.
pub fn log_length(path: &Path) -> usize {
    std::fs::metadata(path)
        .map(|metadata| usize::try_from(metadata.len()).unwrap_or(usize::MAX))
        .unwrap_or(0)
}
