//! Helpers shared by the fastpath's system tests (`ports_netns.rs`, `multiqueue_netns.rs`):
//! the environment check, `ip`, and threads that run inside a network namespace.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::thread::JoinHandle;

/// True if root, `/dev/net/tun` and every tool in `tools` (each run with `-V`) are available.
/// When they are not, panics under `CI=true` (a system test must never skip there) and
/// otherwise skips loudly, naming `what`.
pub fn system_ready(what: &str, tools: &[&str]) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .is_ok();
    let mut why = format!("root={root} /dev/net/tun={tun}");
    let mut ready = root && tun;
    for tool in tools {
        let found = Command::new(tool).arg("-V").output().is_ok();
        why.push_str(&format!(" {tool}={found}"));
        ready &= found;
    }
    if ready {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{what} cannot run under CI: {why}");
    }
    eprintln!("\n!!!!!!!! SKIPPING {what}: needs {why} !!!!!!!!\n");
    false
}

/// Runs `ip ARGS...`, panicking with its stderr if it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` on a new thread that has entered network namespace `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on this thread only, with a valid namespace descriptor.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
}
