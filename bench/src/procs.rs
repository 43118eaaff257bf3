//! The services under test as child processes: start, wait until they answer, read their
//! peak memory (`VmHWM`), stop.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// A running release binary; killed when dropped.
#[derive(Debug)]
pub(crate) struct Service {
    /// What it is, for error messages.
    name: String,
    /// The process (`None` once stopped).
    child: Option<Child>,
    /// Where its stdout and stderr go.
    log: PathBuf,
}

impl Service {
    /// Start `bin args` in `cwd` (where no `.env` lies) with `env` added, output to `log`.
    pub(crate) fn spawn(
        name: &str,
        bin: &Path,
        args: &[&str],
        env: &[(&str, String)],
        cwd: &Path,
        log: &Path,
    ) -> Result<Service> {
        let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(bin);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Service {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        })
    }

    pub(crate) fn pid(&self) -> Result<u32> {
        self.child
            .as_ref()
            .map(Child::id)
            .with_context(|| format!("{} was stopped", self.name))
    }

    /// Fails when the process has exited (with the end of its log).
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// Peak resident set size so far, in MiB (`VmHWM` of `/proc/PID/status`).
    pub(crate) fn peak_rss_mib(&self) -> Result<f64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read the status of {} ({pid})", self.name))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .context("no VmHWM line")?;
        Ok(kib / 1024.0)
    }

    /// Run `command` (an exit status check only) and wait; for one-shot commands.
    pub(crate) fn wait(mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                if status.success() {
                    return Ok(());
                }
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!("{} failed ({status}):\n{log}", self.name);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!("{} did not finish in {timeout:?}", self.name)
    }

    /// SIGTERM (graceful stop), SIGKILL after 15 s.
    pub(crate) fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Wait until `GET url` answers 200, checking that `service` is still running.
pub(crate) async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    service: &mut Service,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        service.check_alive()?;
        if let Ok(response) = client.get(url).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{url} did not answer in {timeout:?}")
}
