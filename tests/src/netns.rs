//! Network namespaces, veth pairs and processes inside them, for system tests.
//!
//! Everything created here is owned by a guard that removes it on drop, by name: namespaces
//! ([`Netns`]), links in the root namespace ([`Link`]) and background processes ([`Bg`], killed
//! by PID). Names carry the test process's PID and a counter, so parallel tests and leftover
//! state from a crashed run never collide.
//!
//! Traffic only ever flows between these namespaces and the switch under test.
//!
//! [`require_root`] is how a system test starts: without root, `ip` or `/dev/net/tun` it fails.
//! A test that did not run never reports "ok": on a machine without root the build script
//! (`build.rs`) sets `cfg(no_system_tests)` and the tests are marked *ignored*, with the reason.

use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True if this process can run system tests; panics (naming what is missing) otherwise, so
/// that a test that could not run fails instead of passing. Returns `bool` so that call sites
/// read `if !require_root() { return; }`.
pub fn require_root() -> bool {
    let problem = if unsafe_geteuid() != 0 {
        Some("not running as root")
    } else if !std::path::Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun is missing")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("the `ip` command (iproute2) is missing")
    } else {
        None
    };
    match problem {
        None => true,
        Some(p) => panic!("system test cannot run: {p}"),
    }
}

fn unsafe_geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A unique short name: `{prefix}{pid % 10000}{n}` (fits IFNAMSIZ for prefixes ≤ 6 bytes).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 10000)
}

/// Runs a command, panicking with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command, returning its output whatever its status.
pub fn try_run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates a namespace with a unique name starting with `prefix`, loopback up.
    pub fn new(prefix: &str) -> Netns {
        let name = unique(prefix);
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// `ip netns exec NAME args...`, panicking on failure; returns stdout.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// As [`Netns::exec`] but returns the output whatever the status.
    pub fn try_exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        try_run("ip", &full)
    }

    /// Starts a background process in the namespace (killed when the guard drops).
    pub fn spawn(&self, args: &[&str]) -> Bg {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {args:?}: {e}"));
        Bg { child: Some(child) }
    }

    /// Moves interface `ifname` (in the root namespace) here, names it `inner`, gives it
    /// `cidr` and brings it up. Turns tx checksum offload off unless `offload` (a userspace
    /// switch reading AF_PACKET must otherwise complete CHECKSUM_PARTIAL packets itself).
    pub fn adopt(&self, ifname: &str, inner: &str, cidr: &str, mac: Option<&str>) {
        run("ip", &["link", "set", ifname, "netns", &self.name]);
        if ifname != inner {
            self.exec(&["ip", "link", "set", ifname, "name", inner]);
        }
        if let Some(m) = mac {
            self.exec(&["ip", "link", "set", inner, "address", m]);
        }
        self.exec(&["ip", "addr", "add", cidr, "dev", inner]);
        self.exec(&["ip", "link", "set", inner, "up"]);
    }

    /// Pings `ip` `count` times (0.2 s apart, 2 s deadline each); true if all answered.
    pub fn ping(&self, ip: &str, count: u32) -> bool {
        let c = count.to_string();
        self.try_exec(&["ping", "-c", &c, "-i", "0.2", "-W", "2", "-q", ip])
            .status
            .success()
    }

    /// Waits up to `secs` for one ping to `ip` to answer.
    pub fn wait_ping(&self, ip: &str, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if self
                .try_exec(&["ping", "-c", "1", "-W", "1", "-q", ip])
                .status
                .success()
            {
                return true;
            }
        }
        false
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill anything still running inside, then delete.
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            });
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A link in the root namespace, deleted on drop (if it is still there).
#[derive(Debug)]
pub struct Link {
    pub name: String,
}

impl Link {
    /// A veth pair `a` <-> `b` in the root namespace; the guard owns `a` (deleting one end
    /// deletes both).
    pub fn veth(a: &str, b: &str) -> Link {
        run("ip", &["link", "add", a, "type", "veth", "peer", "name", b]);
        Link {
            name: a.to_string(),
        }
    }

    /// Takes ownership of an existing link name (e.g. a TAP the switch creates).
    pub fn adopt(name: &str) -> Link {
        Link {
            name: name.to_string(),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Waits until interface `name` exists in the root namespace.
pub fn wait_link(name: &str, secs: u64) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if try_run("ip", &["link", "show", name]).status.success() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A background process, killed (SIGKILL, by PID) on drop.
#[derive(Debug)]
pub struct Bg {
    child: Option<Child>,
}

impl Bg {
    /// Waits for the process to exit (up to `secs`), returning its output; kills it on timeout.
    pub fn wait(mut self, secs: u64) -> Output {
        let mut child = self.child.take().expect("child");
        let t = Instant::now();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return child.wait_with_output().expect("wait");
            }
            if t.elapsed() > Duration::from_secs(secs) {
                let _ = child.kill();
                return child.wait_with_output().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
