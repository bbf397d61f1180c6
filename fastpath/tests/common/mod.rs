//! Helpers shared by the fastpath's system tests (`ports_netns.rs`, `multiqueue_netns.rs`):
//! the environment check, `ip`, namespaces and links removed on drop, and threads that run
//! inside a network namespace. Each test binary uses only some of them.
#![allow(dead_code)]

use std::os::fd::AsRawFd;
use std::process::Command;
use std::thread::JoinHandle;

/// True if root, `/dev/net/tun` and every tool in `tools` (each run with `-V`) are available.
/// When they are not, panics naming `what` and the missing piece: a test that could not run
/// must not pass (without root the build script marks these tests ignored instead).
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
    panic!("{what} cannot run: needs {why}");
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

/// Deletes, on drop, every namespace and root-namespace link it was told about.
pub struct Cleanup {
    netns: Vec<String>,
    links: Vec<String>,
}

impl Cleanup {
    pub fn new() -> Cleanup {
        Cleanup {
            netns: Vec::new(),
            links: Vec::new(),
        }
    }

    pub fn netns(&mut self, tag: &str) -> String {
        let name = format!("vsw-ft-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        self.netns.push(name.clone());
        name
    }

    /// A root-namespace interface name unique to this process (<= 15 bytes).
    pub fn link(&mut self, tag: &str) -> String {
        let name = format!("vft{}{tag}", std::process::id() % 100_000);
        assert!(name.len() <= 15);
        let _ = Command::new("ip").args(["link", "del", &name]).output();
        self.links.push(name.clone());
        name
    }

    /// A veth pair: `host` stays here, `peer` goes into `ns` (up, optional address).
    pub fn veth(
        &mut self,
        host_tag: &str,
        peer_tag: &str,
        ns: &str,
        addr: Option<&str>,
    ) -> (String, String) {
        let host = self.link(host_tag);
        let peer = self.link(peer_tag);
        ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", ns]);
        ns_setup(ns, &peer, addr);
        ip(&["link", "set", &host, "up"]);
        (host, peer)
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        for n in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// Brings `dev` up inside `ns`, with IPv6 off (no stray ND/MLD frames) and an optional address.
pub fn ns_setup(ns: &str, dev: &str, addr: Option<&str>) {
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{dev}.disable_ipv6=1"),
        ])
        .output();
    if let Some(a) = addr {
        ip(&["-n", ns, "addr", "add", a, "dev", dev]);
    }
    ip(&["-n", ns, "link", "set", dev, "up"]);
}
