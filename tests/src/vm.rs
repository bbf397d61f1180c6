//! Real QEMU guests on host TAP devices, for system tests that attach a VM to the switch.
//!
//! This wraps the shared VM harness (`../shared/vm`: `run-vm.sh`, `wait-vm.sh`,
//! `stop-vm.sh`; read its README). A guest is a Debian kernel with a busybox initramfs whose
//! virtio-net NIC is a host TAP device that QEMU creates, exactly as libvirt attaches a VM
//! (`vnet0`). The guest brings its NIC up, optionally waits until a peer answers ping, runs one
//! shell command, reports `VM-RESULT rc=N` on its serial console and powers off — and its tap
//! disappears with QEMU.
//!
//! Invariants this module keeps:
//!
//! - Every VM is owned by a [`Vm`] guard that stops QEMU **by pidfile** on drop
//!   (`stop-vm.sh` checks the PID really is that QEMU), so a failed assertion never leaves a
//!   guest running; its state directory goes with it.
//! - TCG guests are CPU-hungry and the CI machine has two cores: tests in one process take
//!   [`vm_slot`] so their VMs boot one test at a time.
//! - QEMU's default offloads stay on unless a test asks for `offload(false)` explicitly: the
//!   guest then sends TSO frames up to 64 KB with partial checksums, which the switch must carry.
//!
//! The peer side of a test runs in a network namespace. [`spawn_in_netns`] runs a closure on a
//! thread that has entered the namespace (`setns`), so TCP servers and clients for the guest
//! are plain `std::net` code with deadlines, not external tools with uncertain semantics.

use crate::netns::{require_root, try_run};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shared VM harness directory: `$VSWITCH_VM_DIR`, else the first `shared/vm` holding
/// `run-vm.sh` beside an ancestor of this crate (in CI `../shared/vm` from the repository root;
/// in a worktree `/work/wt/NAME` it is found two levels further up).
pub fn vm_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VSWITCH_VM_DIR") {
        return Some(PathBuf::from(d));
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/vm"))
        .find(|d| d.join("run-vm.sh").is_file())
}

/// True if VM tests can run here: root, `/dev/net/tun`, the harness scripts, QEMU and a guest
/// kernel (`../shared/vm/install.sh` installs both). A missing piece panics, naming it: a test
/// that could not run must not pass (without root or QEMU the build script marks VM tests
/// ignored instead).
pub fn require_vm() -> bool {
    if !require_root() {
        return false;
    }
    let problem = if vm_dir().is_none() {
        Some("the VM harness (shared/vm/run-vm.sh) was not found; set VSWITCH_VM_DIR".to_owned())
    } else if !Command::new("sh")
        .args(["-c", "command -v qemu-system-x86_64"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        Some("qemu-system-x86_64 is missing: run ../shared/vm/install.sh".to_owned())
    } else if !Command::new("sh")
        .args(["-c", "ls /boot/vmlinuz-* >/dev/null 2>&1"])
        .status()
        .is_ok_and(|s| s.success())
    {
        Some("no guest kernel in /boot: run ../shared/vm/install.sh".to_owned())
    } else {
        None
    };
    match problem {
        None => true,
        Some(p) => panic!("VM test cannot run: {p}"),
    }
}

/// Serialises VM tests within one test process (TCG guests need a core each to boot in time).
/// A test that panicked while holding the slot does not block the others.
pub fn vm_slot() -> MutexGuard<'static, ()> {
    static SLOT: Mutex<()> = Mutex::new(());
    SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to boot one guest; the defaults are `run-vm.sh`'s (offloads on, 256 MB, TCG if KVM
/// cannot run the guest).
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// Host TAP name (≤ 15 bytes); QEMU creates it.
    pub tap: String,
    pub mac: String,
    /// Guest address, `A.B.C.D/LEN`.
    pub ip: String,
    /// The guest pings this until it answers before running `cmd`.
    pub wait_ping: Option<String>,
    pub wait_secs: u32,
    /// Shell command run in the guest (busybox sh; ≤ ~1400 bytes).
    pub cmd: String,
    /// The guest kills `cmd` after this many seconds (rc 124).
    pub cmd_timeout: Option<u32>,
    /// The host kills QEMU this many seconds after start.
    pub timeout: u32,
    /// QEMU's `vnet_hdr` on the tap (libvirt's default): TSO and partial checksums from the guest.
    pub offload: bool,
    pub mem_mb: u32,
}

impl VmConfig {
    /// A guest on `tap` with `mac` and `ip`, running `cmd`, offloads on.
    pub fn new(tap: &str, mac: &str, ip: &str, cmd: &str) -> VmConfig {
        VmConfig {
            tap: tap.to_owned(),
            mac: mac.to_owned(),
            ip: ip.to_owned(),
            wait_ping: None,
            wait_secs: 90,
            cmd: cmd.to_owned(),
            cmd_timeout: None,
            timeout: 180,
            offload: true,
            mem_mb: 256,
        }
    }

    /// The guest waits (up to `wait_secs`) until `peer` answers ping.
    pub fn wait_ping(mut self, peer: &str) -> VmConfig {
        self.wait_ping = Some(peer.to_owned());
        self
    }

    pub fn offload(mut self, on: bool) -> VmConfig {
        self.offload = on;
        self
    }

    pub fn timeout(mut self, secs: u32) -> VmConfig {
        self.timeout = secs;
        self
    }

    pub fn cmd_timeout(mut self, secs: u32) -> VmConfig {
        self.cmd_timeout = Some(secs);
        self
    }
}

/// What a guest reported.
#[derive(Clone, Debug)]
pub struct VmOutcome {
    /// The guest command's exit status; 124 if a timeout killed it or QEMU, 125 if the VM failed.
    pub rc: i32,
    /// The command's output (from its serial console).
    pub output: String,
    /// `wait-vm.sh`'s summary line and any diagnostics (console tail on failure).
    pub summary: String,
}

/// A running guest, stopped by pidfile on drop.
#[derive(Debug)]
pub struct Vm {
    pub cfg: VmConfig,
    dir: PathBuf,
    pidfile: PathBuf,
    started: Instant,
}

fn script(name: &str) -> PathBuf {
    vm_dir().expect("VM harness directory").join(name)
}

impl Vm {
    /// Boots the guest in the background; returns once QEMU runs and its tap exists (DOWN: the
    /// switch port that attaches it brings it up). Panics if QEMU cannot start.
    pub fn start(cfg: VmConfig) -> Vm {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vswitch-vm.{}.{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create VM state directory");
        let pidfile = dir.join("qemu.pid");
        let mut cmd = Command::new(script("run-vm.sh"));
        cmd.arg("--background")
            .arg(&pidfile)
            .args(["--tap", &cfg.tap, "--mac", &cfg.mac, "--ip", &cfg.ip])
            .args(["--cmd", &cfg.cmd])
            .args(["--timeout", &cfg.timeout.to_string()])
            .args(["--wait-secs", &cfg.wait_secs.to_string()])
            .args(["--mem", &cfg.mem_mb.to_string()])
            .args(["--offload", if cfg.offload { "on" } else { "off" }]);
        if let Some(p) = &cfg.wait_ping {
            cmd.args(["--wait-ping", p]);
        }
        if let Some(t) = cfg.cmd_timeout {
            cmd.args(["--cmd-timeout", &t.to_string()]);
        }
        let started = Instant::now();
        let vm = Vm {
            cfg,
            dir,
            pidfile,
            started,
        };
        let out = cmd.output().expect("run run-vm.sh");
        assert!(
            out.status.success(),
            "run-vm.sh failed ({}) for tap {}: {}",
            out.status,
            vm.cfg.tap,
            String::from_utf8_lossy(&out.stderr)
        );
        vm
    }

    pub fn tap(&self) -> &str {
        &self.cfg.tap
    }

    /// Seconds since the guest was started.
    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    /// True while this guest's QEMU runs.
    pub fn is_running(&self) -> bool {
        let Ok(pid) = std::fs::read_to_string(&self.pidfile) else {
            return false;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", pid.trim())) else {
            return false;
        };
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains("qemu-system") && cmdline.contains(&*self.pidfile.to_string_lossy())
    }

    /// The serial console so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(self.dir.join("qemu.pid.console")).unwrap_or_default()
    }

    /// Waits for the guest's result (until its `timeout`), which also powers it off.
    pub fn wait(&mut self) -> VmOutcome {
        let out = Command::new(script("wait-vm.sh"))
            .arg(&self.pidfile)
            .output()
            .expect("run wait-vm.sh");
        VmOutcome {
            rc: out.status.code().unwrap_or(125),
            output: String::from_utf8_lossy(&out.stdout).into_owned(),
            summary: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Kills the guest now (as a host pulling the plug) and waits until its tap is gone.
    pub fn stop(&mut self) {
        let _ = Command::new(script("stop-vm.sh"))
            .arg(&self.pidfile)
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10)
            && try_run("ip", &["link", "show", &self.cfg.tap])
                .status
                .success()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // stop-vm.sh kills only the QEMU whose command line names this pidfile.
        let _ = Command::new(script("stop-vm.sh"))
            .arg(&self.pidfile)
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `f` on a new thread that has entered network namespace `ns` (by `/run/netns/NS`).
/// Sockets the closure opens live in that namespace. The thread ends when `f` returns, so `f`
/// must bound its own waits (every helper below takes a deadline).
pub fn spawn_in_netns<T, F>(ns: &str, f: F) -> JoinHandle<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        enter_netns(&path)?;
        f()
    })
}

fn enter_netns(path: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path)?;
    // SAFETY: setns on a valid, open namespace fd; it changes only the calling thread's network
    // namespace, which is this helper thread's alone.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

/// Accepts one TCP connection on `port` (any address) within `deadline`, reads everything the
/// client sends until it closes its sending side, then sends `reply` and closes. Replying only
/// after the client is done matters: netcat-style clients exit as soon as the server's side
/// closes, dropping whatever they had not sent yet.
pub fn tcp_serve_once(port: u16, reply: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
    let l = TcpListener::bind(("0.0.0.0", port))?;
    l.set_nonblocking(true)?;
    let stream = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(timed_out("no connection before the deadline"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    let mut s = stream;
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(10));
    s.set_read_timeout(Some(left))?;
    s.set_write_timeout(Some(left))?;
    let mut got = Vec::new();
    s.read_to_end(&mut got)?;
    s.write_all(reply)?;
    s.shutdown(std::net::Shutdown::Both)?;
    Ok(got)
}

/// Connects to `addr`, retrying refused or unreachable attempts until `deadline` (the guest's
/// listener may not be up yet), sends `msg`, closes the sending side and returns the answer.
pub fn tcp_exchange(addr: SocketAddr, msg: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out("no connection before the deadline"));
        }
        match TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(3))) {
            Ok(s) => return exchange(s, msg, deadline),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// One connection attempt to `addr` with `timeout`; true if it was established.
pub fn tcp_connects(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

fn exchange(mut s: TcpStream, send: &[u8], deadline: Instant) -> io::Result<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    let left = left.max(Duration::from_millis(10));
    s.set_read_timeout(Some(left))?;
    s.set_write_timeout(Some(left))?;
    // Read and write at once: a large message in both directions would otherwise deadlock.
    let mut reader = s.try_clone()?;
    let reading = std::thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).map(|_| got)
    });
    s.write_all(send)?;
    s.shutdown(std::net::Shutdown::Write)?;
    reading
        .join()
        .map_err(|_| io::Error::other("reader thread panicked"))?
}

/// A deterministic, incompressible-looking test payload of `len` bytes (xorshift), so that a
/// corrupted or reordered segment shows up as a hash mismatch.
pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_deterministic_and_varied() {
        let a = payload(4096, 7);
        assert_eq!(a, payload(4096, 7));
        assert_ne!(a, payload(4096, 8));
        let distinct = a.iter().collect::<std::collections::HashSet<_>>().len();
        assert!(distinct > 200, "only {distinct} distinct byte values");
    }

    #[test]
    fn vm_dir_finds_the_harness_or_honours_the_override() {
        // CI checks out the shared harness beside the repository, so it must be found there.
        match vm_dir() {
            Some(d) => assert!(d.join("run-vm.sh").is_file(), "{}", d.display()),
            None => assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "shared/vm not found under CI"
            ),
        }
    }

    #[test]
    fn loopback_exchange_both_ways() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let deadline = Instant::now() + Duration::from_secs(10);
        let big = payload(3 << 20, 1);
        let big2 = big.clone();
        let server = std::thread::spawn(move || tcp_serve_once(port, &big2, deadline));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let got = tcp_exchange(addr, b"hello", deadline).unwrap();
        assert_eq!(got.len(), big.len());
        assert!(got == big);
        assert_eq!(server.join().unwrap().unwrap(), b"hello");
    }
}
