//! A MariaDB server of the test's own (database outage tests): installed into a temporary
//! directory from the machine's MariaDB binaries, on a free port, with root and no
//! password; it may be killed and restarted on the same data.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct PrivateMariaDb {
    port: u16,
    dir: tempfile::TempDir,
    process: Option<Child>,
}

impl PrivateMariaDb {
    /// Installs and starts a server with an empty database `store`.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| {
                panic!("mariadb-install-db must be installed (scripts/test.sh installs MariaDB): {error}")
            });
        assert!(status.success(), "mariadb-install-db failed");
        let mut server = PrivateMariaDb {
            port: crate::free_port(),
            dir,
            process: None,
        };
        server.resume();
        let created = Command::new("mariadb")
            .args(["-uroot", "-h127.0.0.1", &format!("-P{}", server.port)])
            .args(["-e", "CREATE DATABASE store CHARACTER SET utf8mb4"])
            .status()
            .expect("mariadb client");
        assert!(created.success(), "cannot create the private database");
        server
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/store", self.port)
    }

    fn answers(&self) -> bool {
        crate::port_answers(self.port)
    }

    /// Kills the server (SIGKILL: as abrupt as a crash or a cut cable); the data stays.
    pub fn stop(&mut self) {
        crate::kill(self.process.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.answers() {
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts (again) on the same port and data.
    pub fn resume(&mut self) {
        assert!(
            self.process.is_none(),
            "the private MariaDB is already running"
        );
        let data: PathBuf = self.dir.path().join("data");
        let log = std::fs::File::create(self.dir.path().join("server.log")).expect("log file");
        let process = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={}", self.port))
            .arg(format!(
                "--socket={}",
                self.dir.path().join("mysqld.sock").display()
            ))
            .args(["--bind-address=127.0.0.1", "--user=root", "--skip-log-bin"])
            .arg("--innodb-buffer-pool-size=16M")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd starts");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        crate::kill(self.process.take());
    }
}
