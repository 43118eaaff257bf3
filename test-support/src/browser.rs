//! A real headless browser for the tests: Debian's `chromium` (or `CHROMIUM`), run with
//! `--headless --no-sandbox` and no background networking. A missing browser fails the
//! test with a clear message; it is never skipped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one chromium run may take.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

/// The browser binary: `CHROMIUM`, else `chromium` on the `PATH`; a clear failure if none.
pub fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed: this test needs a real headless browser \
                 (`apt-get install -y chromium`, which scripts/test.sh does when not on CI, \
                 or set CHROMIUM to a Chromium binary)"
            )
        })
}

/// Run chromium headless with `args` then `url`; its standard output.
pub fn browse(args: &[String], url: &str) -> String {
    let profile = tempfile::tempdir().expect("browser profile dir");
    let output_file = tempfile::NamedTempFile::new().expect("browser output file");
    let stdout = output_file.reopen().expect("reopen");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("cannot start chromium ({}): {error}", chromium().display())
        });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {args:?} {url} within {BROWSER_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read as _;
        let _ = pipe.read_to_string(&mut stderr);
    }
    assert!(
        status.success(),
        "chromium {args:?} {url} failed ({status}):\n{stderr}"
    );
    std::fs::read_to_string(output_file.path()).expect("chromium output")
}

pub fn dump_dom(url: &str) -> String {
    browse(&["--dump-dom".to_owned()], url)
}
