//! A tansu broker of the test's own, keeping its log in a temporary SQLite file so that it
//! survives a stop and a restart. The binary comes from `TANSU_BIN` (scripts/test.sh sets
//! it) or the cache scripts/broker.sh installs into.
//!
//! tansu cannot be given port 0: it advertises the port it is told to its clients. So the
//! broker is started on a candidate port and the start counts only once tansu itself is
//! the process listening there (`crate::listens_on`); if another process took the port
//! first, tansu fails to bind and another port is tried. A restart ([`PrivateBroker::resume`])
//! must reuse the port (the clients know it), and fails loudly if it was taken meanwhile.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct PrivateBroker {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

fn tansu_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU_BIN") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cache =
        std::env::var("COOLRIEL_CACHE").unwrap_or_else(|_| format!("{home}/.cache/coolriel"));
    PathBuf::from(cache).join("tansu-0.6.0/bin/tansu")
}

/// Ports tried before giving up on starting a broker.
const PORT_ATTEMPTS: usize = 5;

impl PrivateBroker {
    pub fn start() -> Self {
        let mut broker = PrivateBroker {
            port: 0,
            dir: tempfile::tempdir().expect("temporary directory"),
            process: None,
        };
        for _ in 0..PORT_ATTEMPTS {
            broker.port = crate::candidate_port();
            if broker.launch() {
                return broker;
            }
        }
        panic!("the private broker could not listen on any of {PORT_ATTEMPTS} ports");
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        crate::port_answers(self.port)
    }

    /// Stops the broker (SIGKILL: the harshest outage); its log stays on disk.
    pub fn stop(&mut self) {
        crate::kill(self.process.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.answers() {
            assert!(Instant::now() < deadline, "the private broker did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts (again) on the same port with the same log.
    pub fn resume(&mut self) {
        assert!(
            self.launch(),
            "the private broker could not listen on its port {} again (taken meanwhile?)",
            self.port
        );
    }

    /// Starts tansu on `self.port`; false when it is not the one listening there (it
    /// could not bind the port, which another process took).
    fn launch(&mut self) -> bool {
        assert!(
            self.process.is_none(),
            "the private broker is already running"
        );
        let binary = tansu_bin();
        let address = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("broker log");
        let process = Command::new(&binary)
            .arg("broker")
            .args(["--storage-engine", "sqlite://tansu.db"])
            .args(["--kafka-listener-url", &address])
            .args(["--kafka-advertised-listener-url", &address])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start tansu at {} ({error}); run scripts/broker.sh install or set TANSU_BIN",
                    binary.display()
                )
            });
        let pid = process.id();
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(15);
        while !crate::listens_on(pid, self.port) {
            let exited = self
                .process
                .as_mut()
                .is_some_and(|process| process.try_wait().ok().flatten().is_some());
            if exited {
                // It could not bind: the port was taken between its choice and the start.
                self.process = None;
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "the private broker did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The same header index as every broker the scripts start (scripts/broker.sh says
        // why), so a test's broker answers fetches the way theirs do.
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/broker.sh");
        let indexed = Command::new(&script)
            .arg("index-headers")
            .arg(self.dir.path().join("tansu.db"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("cannot run {}: {error}", script.display()));
        assert!(
            indexed.success(),
            "{} index-headers failed",
            script.display()
        );
        true
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        crate::kill(self.process.take());
    }
}
