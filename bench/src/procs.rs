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

/// CPU time used by a process so far (user + system), in seconds, from `/proc/PID/stat`.
pub(crate) fn cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("no ')' in the stat line")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index - 3)
            .and_then(|field| field.parse::<f64>().ok())
            .context("malformed stat line")
    };
    Ok((ticks(14)? + ticks(15)?) / clock_ticks_per_second())
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on; `getconf` says otherwise.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The first process whose command name is `name` (`mariadbd`), if any.
pub(crate) fn find_process(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}

/// Busy and total CPU time of the whole machine so far, in seconds (`/proc/stat`).
pub(crate) fn machine_cpu_seconds() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
    let total: f64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    let ticks = clock_ticks_per_second();
    Ok(((total - idle) / ticks, total / ticks))
}

/// Where the machine's CPU went over an interval: each watched process's share, in cores
/// (CPU seconds per wall-clock second), and the whole machine's.
#[derive(Debug)]
pub(crate) struct CpuWatch {
    started: Instant,
    machine: (f64, f64),
    processes: Vec<(String, u32, f64)>,
}

impl CpuWatch {
    /// Starts watching `processes` (name, pid); the harness itself is always watched.
    pub(crate) fn start(processes: &[(&str, u32)]) -> Result<Self> {
        let mut watched = vec![("bench harness".to_owned(), std::process::id())];
        watched.extend(
            processes
                .iter()
                .map(|(name, pid)| ((*name).to_owned(), *pid)),
        );
        let processes = watched
            .into_iter()
            .map(|(name, pid)| Ok((name, pid, cpu_seconds(pid)?)))
            .collect::<Result<_>>()?;
        Ok(CpuWatch {
            started: Instant::now(),
            machine: machine_cpu_seconds()?,
            processes,
        })
    }

    /// Cores used since the start: per process (in the order given, the harness first),
    /// then the machine's busy cores and its core count.
    pub(crate) fn stop(&self) -> Result<CpuUse> {
        let wall = self.started.elapsed().as_secs_f64();
        let processes = self
            .processes
            .iter()
            .map(|(name, pid, before)| Ok((name.clone(), (cpu_seconds(*pid)? - before) / wall)))
            .collect::<Result<_>>()?;
        let (busy, total) = machine_cpu_seconds()?;
        Ok(CpuUse {
            processes,
            machine_busy: (busy - self.machine.0) / wall,
            machine_cores: (total - self.machine.1) / wall,
        })
    }
}

/// What [`CpuWatch::stop`] measured.
#[derive(Debug, Clone)]
pub(crate) struct CpuUse {
    pub(crate) processes: Vec<(String, f64)>,
    pub(crate) machine_busy: f64,
    pub(crate) machine_cores: f64,
}

impl CpuUse {
    /// Mean cores per process over several uses of the same processes, described; `not
    /// measured` when there are none.
    pub(crate) fn describe_mean(uses: &[CpuUse]) -> String {
        let Some(first) = uses.first() else {
            return "not measured".to_owned();
        };
        let n = uses.len() as f64;
        let mean = CpuUse {
            processes: first
                .processes
                .iter()
                .enumerate()
                .map(|(i, (name, _))| {
                    let sum: f64 = uses
                        .iter()
                        .filter_map(|u| u.processes.get(i))
                        .map(|p| p.1)
                        .sum();
                    (name.clone(), sum / n)
                })
                .collect(),
            machine_busy: uses.iter().map(|u| u.machine_busy).sum::<f64>() / n,
            machine_cores: uses.iter().map(|u| u.machine_cores).sum::<f64>() / n,
        };
        mean.describe()
    }

    /// `name 0.62, name 0.40, …; machine 1.95 of 2.0 cores`.
    pub(crate) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .processes
            .iter()
            .map(|(name, cores)| format!("{name} {cores:.2}"))
            .collect();
        format!(
            "{}; whole machine {:.2} of {:.1} cores busy",
            parts.join(", "),
            self.machine_busy,
            self.machine_cores
        )
    }
}

/// A private tansu broker for one case, its log in a SQLite file of its own directory
/// (see `scripts/bench.sh` for why not `memory://`), with the header index every broker
/// of the project gets (`scripts/broker.sh index-headers`). A fresh broker per case, so
/// no case runs against a log that the cases before it filled.
#[derive(Debug)]
pub(crate) struct Broker {
    service: Service,
    port: u16,
}

impl Broker {
    pub(crate) fn start(tansu: &Path, broker_script: &Path, dir: &Path) -> Result<Broker> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let url = format!("tcp://127.0.0.1:{port}");
        let mut service = Service::spawn(
            "tansu",
            tansu,
            &[
                "broker",
                "--storage-engine",
                "sqlite://tansu.db",
                "--kafka-listener-url",
                &url,
                "--kafka-advertised-listener-url",
                &url,
            ],
            &[],
            dir,
            &dir.join("tansu.log"),
        )?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            service.check_alive()?;
            if started.elapsed() > Duration::from_secs(15) {
                bail!("tansu did not answer on port {port} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let indexed = Command::new(broker_script)
            .arg("index-headers")
            .arg(dir.join("tansu.db"))
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", broker_script.display()))?;
        if !indexed.success() {
            bail!("{} index-headers failed", broker_script.display());
        }
        Ok(Broker { service, port })
    }

    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub(crate) fn pid(&self) -> Result<u32> {
        self.service.pid()
    }

    pub(crate) fn stop(self) -> Result<()> {
        self.service.stop()
    }
}
