//! Helpers for end-to-end tests that run the real `vswitchd` and `vswitch-ctl` binaries.
//!
//! A test crate cannot use `env!("CARGO_BIN_EXE_...")` for binaries of *other* packages, so
//! [`binaries`] builds them once per test process with the same cargo and profile as the test
//! itself (`cargo build -p vswitchd -p ctl`) and returns their paths in the target directory.
//!
//! Every process started here is owned by a guard ([`Daemon`]) that kills it by PID on drop,
//! so a failing assertion never leaves a daemon behind.

pub mod malformed;
pub mod netns;
pub mod ofctl;
pub mod ovsdiff;
pub mod pcap;
pub mod rawsock;
pub mod system;
pub mod traffic;
pub mod vm;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Paths of the built binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub vswitchd: PathBuf,
    pub ctl: PathBuf,
}

/// Builds `vswitchd` and `vswitch-ctl` (once per process) and returns their paths.
pub fn binaries() -> &'static Binaries {
    static BINS: OnceLock<Binaries> = OnceLock::new();
    BINS.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // <target>/<profile-dir>/deps/<test-binary>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in <target>/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target directory");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_owned(),
            Some(other) => other.to_owned(),
            None => panic!("cannot tell the cargo profile from {}", exe.display()),
        };
        // The same package and target selection as `cargo test --workspace` (every package,
        // test targets included), so cargo resolves the same features and reuses every
        // dependency that run already compiled: only the two binaries are linked. Building
        // `-p vswitchd -p ctl` alone resolves features without the test crates' dependencies
        // and recompiled about a hundred crates (five minutes on two cores) in the first
        // test binary that called this.
        let binaries = Binaries {
            vswitchd: profile_dir.join("vswitchd"),
            ctl: profile_dir.join("vswitch-ctl"),
        };
        // A developer running one test binary after `cargo build --release --workspace --bins`
        // can skip the workspace-wide build (it links every test crate) with
        // VSWITCH_PREBUILT_BINS=1; the binaries must then exist.
        if std::env::var_os("VSWITCH_PREBUILT_BINS").is_some_and(|v| v == "1") {
            for bin in [&binaries.vswitchd, &binaries.ctl] {
                assert!(
                    bin.is_file(),
                    "VSWITCH_PREBUILT_BINS=1 but {} is missing: run cargo build --workspace --bins \
                     with the test's profile first",
                    bin.display()
                );
            }
            return binaries;
        }
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--workspace",
                "--bins",
                "--tests",
                "--profile",
                &profile,
            ])
            .env("CARGO_TARGET_DIR", target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build --workspace --bins --tests failed"
        );
        binaries
    })
}

/// The result of one `vswitch-ctl` run.
#[derive(Debug)]
pub struct CtlResult {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CtlResult {
    fn from_output(o: Output) -> CtlResult {
        CtlResult {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert!(
            self.status.success(),
            "vswitch-ctl failed: {}\nstderr: {}",
            self.status,
            self.stderr
        );
        self.stdout
    }

    /// Asserts failure (exit 1, nothing on stdout) and returns stderr.
    #[track_caller]
    pub fn err(self) -> String {
        assert_eq!(
            self.status.code(),
            Some(1),
            "expected exit 1; stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "stdout on failure: {}", self.stdout);
        self.stderr
    }

    /// Parses stdout as JSON (asserting success).
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// Runs `vswitch-ctl` with `args` (no `--server` added).
pub fn ctl_raw(args: &[&str], envs: &[(&str, &str)]) -> CtlResult {
    let mut cmd = Command::new(&binaries().ctl);
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    CtlResult::from_output(cmd.output().expect("run vswitch-ctl"))
}

/// A running `vswitchd`, killed (by PID) on drop.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    pub db: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
}

/// How long start-up may take before a test gives up.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Daemon {
    /// Starts `vswitchd --db DB --listen unix:SOCKET EXTRA...` and waits until the socket
    /// accepts connections. Logs go to `LOG` (beside the db).
    pub fn start(db: &Path, socket: &Path, extra: &[&str]) -> Daemon {
        Self::start_in(None, db, socket, extra)
    }

    /// [`Daemon::start`] inside network namespace `netns` (`ip netns exec NS vswitchd ...`,
    /// which execs: the child's PID is the daemon's), so that its tunnels use that
    /// namespace's addresses and routes.
    pub fn start_in(netns: Option<&str>, db: &Path, socket: &Path, extra: &[&str]) -> Daemon {
        let log = db.with_extension("log");
        let listen = format!("unix:{}", socket.display());
        let args = [&["--listen", listen.as_str()], extra].concat();
        let child = match netns {
            None => Self::spawn(db, &log, &args),
            Some(ns) => {
                if let Some(dir) = log.parent() {
                    std::fs::create_dir_all(dir).expect("create log directory");
                }
                let stderr = std::fs::File::create(&log).expect("create log file");
                Command::new("ip")
                    .args(["netns", "exec", ns])
                    .arg(&binaries().vswitchd)
                    .arg("--db")
                    .arg(db)
                    .args(&args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(stderr)
                    .spawn()
                    .expect("spawn vswitchd in a namespace")
            }
        };
        let mut d = Daemon {
            child: Some(child),
            db: db.to_owned(),
            socket: socket.to_owned(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while UnixStream::connect(socket).is_err() {
            if let Some(status) = d.child_mut().try_wait().expect("try_wait") {
                panic!(
                    "vswitchd exited during start-up ({status}): {}",
                    d.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "vswitchd did not listen within {START_TIMEOUT:?}: {}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// Spawns `vswitchd --db DB ARGS...` with stderr to `log`, without waiting.
    pub fn spawn(db: &Path, log: &Path, args: &[&str]) -> Child {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).expect("create log directory");
        }
        let stderr = std::fs::File::create(log).expect("create log file");
        Command::new(&binaries().vswitchd)
            .arg("--db")
            .arg(db)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn vswitchd")
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("daemon already stopped")
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon already stopped").id()
    }

    /// Runs `vswitch-ctl --server unix:SOCKET ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> CtlResult {
        let server = format!("unix:{}", self.socket.display());
        ctl_raw(&[&["--server", server.as_str()], args].concat(), &[])
    }

    /// Sends `signal` and waits up to `limit` for the exit; returns the status and how long
    /// the exit took.
    pub fn stop_with(&mut self, signal: libc::c_int, limit: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("daemon already stopped");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        let start = Instant::now();
        // SAFETY: kill(2) on the PID of our own child, which has not been reaped yet (so the
        // PID cannot have been reused).
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return (status, start.elapsed());
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "vswitchd did not exit within {limit:?} of signal {signal}: {}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL to this child's PID only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Kills a child by PID on drop (for processes other than a [`Daemon`]).
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to `limit` for `child` to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().expect("try_wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}
