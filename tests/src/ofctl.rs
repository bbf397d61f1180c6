//! `ovs-ofctl` against the two switches side by side: a `vswitchd` with one bridge, and a
//! private OVS (its own `ovsdb-server` and `ovs-vswitchd` in a temp dir, `dummy` datapath)
//! with the same bridge, as the oracle for what `ovs-ofctl` prints. Both have dummy ports
//! `p1` (OpenFlow port 1) and `p2` (2); each is reached at its `BRIDGE.mgmt` socket.
//!
//! The private OVS never touches the system's: every `OVS_*DIR` points into its temp dir,
//! and its daemons are killed by the PIDs of their pidfiles on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::Daemon;
use crate::ovsdiff::ovs_available;

/// True when Open vSwitch is installed; panics under `CI=true` when it is not, and otherwise
/// prints that the test did not run.
pub fn have_ovs() -> bool {
    if ovs_available() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "Open vSwitch (ovs-ofctl, ovs-vswitchd, ovsdb-server) is required under CI"
    );
    eprintln!("SKIPPED (not run): Open vSwitch is not installed");
    false
}

/// `ovs-ofctl ARGS...` with extra environment variables.
pub fn ofctl_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("ovs-ofctl")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run ovs-ofctl")
}

/// `ovs-ofctl ARGS...`.
pub fn ofctl(args: &[&str]) -> Output {
    ofctl_env(args, &[])
}

/// Runs ovs-ofctl and returns stdout, panicking with stderr on failure.
#[track_caller]
pub fn ofctl_ok(args: &[&str]) -> String {
    let o = ofctl(args);
    assert!(
        o.status.success(),
        "ovs-ofctl {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ovs-ofctl [PRE...] monitor TARGET [POST...]` running in the background, its control socket
/// in `rundir` (the system's OVS_RUNDIR may not exist); killed by PID on drop.
pub struct Monitor(Option<Child>);

impl Monitor {
    pub fn start(pre: &[&str], target: &str, post: &[&str], rundir: &Path) -> Monitor {
        let child = Command::new("ovs-ofctl")
            .args(pre)
            .arg("monitor")
            .arg(target)
            .args(post)
            .env("OVS_RUNDIR", rundir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ovs-ofctl monitor");
        Monitor(Some(child))
    }

    /// Stops it and returns what it printed: `ovs-ofctl monitor` prints the messages it
    /// receives (and sends) on stderr, as OVS's own testsuite captures them
    /// (`2> ofctl_monitor.log`).
    pub fn finish(mut self) -> String {
        let mut c = self.0.take().expect("child");
        // SAFETY: SIGTERM to a PID we spawned and have not yet reaped.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        std::thread::sleep(Duration::from_millis(200));
        let _ = c.kill();
        let out = c.wait_with_output().expect("wait for ovs-ofctl");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// vswitchd with one bridge and dummy ports p1 (1) and p2 (2).
pub struct VsBridge {
    _dir: tempfile::TempDir,
    /// The daemon (for `vswitch-ctl`).
    pub d: Daemon,
    /// Its run directory: the mgmt sockets are here.
    pub run: PathBuf,
    bridge: String,
}

impl VsBridge {
    /// Starts it with its state in a temp dir named with `prefix`.
    pub fn start(prefix: &str, bridge: &str) -> VsBridge {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let run = dir.path().join("run");
        let d = Daemon::start(&dir.path().join("conf.db"), &run.join("vswitchd.sock"), &[]);
        d.ctl(&["add-br", bridge]).ok();
        for (p, n) in [("p1", "1"), ("p2", "2")] {
            d.ctl(&["add-port", bridge, p, "--type", "dummy", "--ofport", n])
                .ok();
        }
        VsBridge {
            _dir: dir,
            d,
            run,
            bridge: bridge.to_owned(),
        }
    }

    /// The bridge's OpenFlow target, `unix:RUNDIR/BRIDGE.mgmt`.
    pub fn mgmt(&self) -> String {
        format!(
            "unix:{}",
            self.run.join(format!("{}.mgmt", self.bridge)).display()
        )
    }

    /// Stops the daemon (SIGTERM) and starts it again on the same database and socket.
    pub fn restart(&mut self) {
        self.d.stop_with(libc::SIGTERM, Duration::from_secs(10));
        self.d = Daemon::start(
            &self._dir.path().join("conf.db"),
            &self.run.join("vswitchd.sock"),
            &[],
        );
    }
}

/// A private OVS with one bridge and the same ports, killed by PID on drop.
pub struct OvsBridge {
    dir: tempfile::TempDir,
    pids: Vec<u32>,
    bridge: String,
}

impl OvsBridge {
    fn run(&self, prog: &str, args: &[&str]) {
        let d = self.dir.path();
        let o = Command::new(prog)
            .args(args)
            .env("OVS_RUNDIR", d)
            .env("OVS_LOGDIR", d)
            .env("OVS_DBDIR", d)
            .env("OVS_SYSCONFDIR", d)
            .output()
            .unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(
            o.status.success(),
            "{prog} {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Starts it in a temp dir named with `prefix` and waits for the bridge's mgmt socket.
    pub fn start(prefix: &str, bridge: &str) -> OvsBridge {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let mut ovs = OvsBridge {
            dir,
            pids: Vec::new(),
            bridge: bridge.to_owned(),
        };
        let ds = ovs.dir.path().display().to_string();
        let schema = std::env::var("OVS_PKGDATADIR").unwrap_or("/usr/share/openvswitch".into());
        ovs.run(
            "ovsdb-tool",
            &[
                "create",
                &format!("{ds}/conf.db"),
                &format!("{schema}/vswitch.ovsschema"),
            ],
        );
        ovs.run(
            "ovsdb-server",
            &[
                "--detach",
                "--no-chdir",
                &format!("--pidfile={ds}/ovsdb-server.pid"),
                "-vconsole:off",
                &format!("--log-file={ds}/ovsdb-server.log"),
                &format!("--remote=punix:{ds}/db.sock"),
                &format!("{ds}/conf.db"),
            ],
        );
        ovs.pids
            .push(read_pid(&ovs.dir.path().join("ovsdb-server.pid")));
        let db = format!("--db=unix:{ds}/db.sock");
        ovs.run("ovs-vsctl", &[&db, "--no-wait", "init"]);
        ovs.run(
            "ovs-vswitchd",
            &[
                "--detach",
                "--no-chdir",
                &format!("--pidfile={ds}/ovs-vswitchd.pid"),
                "-vconsole:off",
                &format!("--log-file={ds}/ovs-vswitchd.log"),
                "--enable-dummy",
                "--disable-system",
                "--disable-system-route",
                &format!("unix:{ds}/db.sock"),
            ],
        );
        ovs.pids
            .push(read_pid(&ovs.dir.path().join("ovs-vswitchd.pid")));
        let mut vsctl = vec![
            db.clone(),
            "--timeout=20".into(),
            "add-br".into(),
            bridge.into(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            bridge.into(),
            "datapath_type=dummy".into(),
        ];
        for (p, n) in [("p1", 1), ("p2", 2)] {
            vsctl.extend(
                [
                    "--",
                    "add-port",
                    bridge,
                    p,
                    "--",
                    "set",
                    "interface",
                    p,
                    "type=dummy",
                ]
                .map(String::from),
            );
            vsctl.push(format!("ofport_request={n}"));
        }
        let vsctl: Vec<&str> = vsctl.iter().map(String::as_str).collect();
        ovs.run("ovs-vsctl", &vsctl);
        let sock = ovs.dir.path().join(format!("{bridge}.mgmt"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(Instant::now() < deadline, "OVS did not create {sock:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        ovs
    }

    /// The bridge's OpenFlow target, `unix:DIR/BRIDGE.mgmt`.
    pub fn mgmt(&self) -> String {
        format!(
            "unix:{}",
            self.dir
                .path()
                .join(format!("{}.mgmt", self.bridge))
                .display()
        )
    }
}

impl Drop for OvsBridge {
    fn drop(&mut self) {
        for pid in &self.pids {
            // SAFETY: kill on a PID we started (read from its own pidfile) has no other effect.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

fn read_pid(p: &Path) -> u32 {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{p:?}: {e}"))
        .trim()
        .parse()
        .unwrap()
}
