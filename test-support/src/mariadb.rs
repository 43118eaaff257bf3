//! A MariaDB server of the test's own (database outage tests): installed into a temporary
//! directory from the machine's MariaDB binaries, with root and no password; it may be
//! killed and restarted on the same data.
//!
//! It listens on a Unix socket in its directory and on no TCP port at all
//! (`--skip-networking`): mariadbd cannot bind port 0 (it takes 0 for "the default",
//! 3306), and a socket path of its own cannot be taken by another test.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct PrivateMariaDb {
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
        let mut server = PrivateMariaDb { dir, process: None };
        server.resume();
        let created = server
            .client()
            .args(["-e", "CREATE DATABASE store CHARACTER SET utf8mb4"])
            .status()
            .expect("mariadb client");
        assert!(created.success(), "cannot create the private database");
        server
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("mysqld.sock")
    }

    /// The `store` database, as root, over the server's socket.
    pub fn url(&self) -> String {
        format!(
            "mysql://root@localhost/store?socket={}",
            self.socket().display()
        )
    }

    /// The `mariadb` command-line client, as root, on this server.
    pub fn client(&self) -> Command {
        let mut client = Command::new("mariadb");
        client.args(["-uroot", "-S"]).arg(self.socket());
        client
    }

    fn answers(&self) -> bool {
        UnixStream::connect(self.socket()).is_ok()
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

    /// Starts (again) on the same socket and data.
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
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--skip-networking", "--user=root", "--skip-log-bin"])
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
