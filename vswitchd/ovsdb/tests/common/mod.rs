//! A private ovsdb-server for tests: its own database, socket and log in a temp dir
//! (prefix `od-`), stopped by PID when dropped. Missing OVS fails under `CI=true` and
//! skips loudly elsewhere.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ovsdb::{Client, Replica};

pub const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// `Some(reason)` when OVS is not installed; panics under CI.
pub fn missing_ovs() -> Option<String> {
    let have = |b: &str| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let why = if !Path::new(SCHEMA).exists() {
        Some(format!("{SCHEMA} missing"))
    } else {
        ["ovsdb-server", "ovsdb-tool", "ovs-vsctl"]
            .into_iter()
            .find(|b| !have(b))
            .map(|b| format!("{b} not installed"))
    };
    if let Some(w) = &why {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "OVSDB tests need Open vSwitch under CI: {w} (install openvswitch-switch)"
        );
        eprintln!("SKIPPING OVSDB system test: {w} (this would fail under CI=true)");
    }
    why
}

pub struct OdServer {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OdServer {
    /// Creates a database and starts a server on it.
    pub fn start() -> OdServer {
        let dir = tempfile::Builder::new().prefix("od-").tempdir().unwrap();
        let db = dir.path().join("conf.db");
        let st = Command::new("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(SCHEMA)
            .status()
            .unwrap();
        assert!(st.success(), "ovsdb-tool create failed");
        let mut s = OdServer { dir, child: None };
        s.restart();
        s.vsctl(&["init"]);
        s
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    pub fn remote(&self) -> String {
        format!("unix:{}", self.sock().display())
    }

    /// Starts (again) the server on the same database and socket.
    pub fn restart(&mut self) {
        self.stop();
        let d = self.dir.path();
        let child = Command::new("ovsdb-server")
            .arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", self.sock().display()))
            .arg(format!(
                "--unixctl={}",
                d.join("ovsdb-server.ctl").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovsdb-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.sock().exists() {
            assert!(
                Instant::now() < deadline,
                "ovsdb-server did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM to its PID, then waits).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped yet.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    /// `ovs-vsctl --no-wait` against this server; panics with its stderr on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.remote()))
            .arg("--no-wait")
            .arg("--timeout=10")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for OdServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `f` holds on the replica (and the client is connected when `connected`).
pub async fn wait_for(client: &Client, what: &str, f: impl Fn(&Replica) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rx = client.subscribe();
    loop {
        if client.replica().as_ref().is_some_and(&f) {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; status {:?}",
            client.status()
        );
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), rx.changed()).await;
    }
}

/// Waits for a status condition.
pub async fn wait_status(client: &Client, what: &str, f: impl Fn(&ovsdb::Status) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut rx = client.subscribe();
    while !f(&client.status()) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {what}; status {:?}",
            client.status()
        );
        let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), rx.changed()).await;
    }
}
