//! A switch under test: the real `vswitchd` with one bridge, and hosts in network namespaces
//! attached to its ports — through a TAP the switch creates (`tap`) or a veth pair whose root
//! end the switch opens with AF_PACKET (`system`).
//!
//! Ownership and clean-up: a [`Bed`] owns the daemon (killed by PID on drop), its temp
//! directory (db, socket, log) and the root ends of its veth pairs; each [`Host`] owns its
//! namespace, and deleting a namespace destroys the interface inside it (a moved TAP or a
//! veth end). A failing assertion anywhere therefore leaves nothing behind.
//!
//! All operations go through the real `vswitch-ctl`, mostly with `--format json` so the tests
//! read fields rather than scrape text (the text forms are checked where a test says so).

use crate::netns::{Link, Netns, unique, wait_link};
use crate::{CtlResult, Daemon};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How a host attaches to the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A `tap` port: the switch creates the TAP and the test moves it into the namespace.
    Tap,
    /// A `system` port on the root end of a veth pair; the other end is in the namespace.
    /// `offload` leaves the namespace end's tx checksum/segmentation offloads on (the kernel
    /// default); off runs `ethtool -K eth0 tx off` there.
    Veth { offload: bool },
}

/// A host: a namespace whose `eth0` is attached to a bridge port.
#[derive(Debug)]
pub struct Host {
    pub ns: Netns,
    /// The port name on the bridge (the TAP's or the root veth end's name).
    pub port: String,
    /// Its OpenFlow port number.
    pub ofport: u32,
    /// Its IPv4 address, without prefix length.
    pub ip: String,
    pub mac: String,
}

/// The daemon, one bridge, and what the bridge's ports need in the root namespace.
#[derive(Debug)]
pub struct Bed {
    daemon: Daemon,
    links: Vec<Link>,
    pub br: String,
    dir: tempfile::TempDir,
}

/// A locally administered MAC ending in `n`.
pub fn mac(n: u8) -> String {
    format!("02:5e:00:00:00:{n:02x}")
}

impl Bed {
    /// Starts a daemon (one datapath thread: several tests share two cores) with one bridge.
    pub fn start() -> Bed {
        let dir = tempfile::tempdir().expect("temp dir");
        let daemon = Daemon::start(
            &dir.path().join("conf.db"),
            &dir.path().join("vswitchd.sock"),
            &["--pmd-threads", "1"],
        );
        let bed = Bed {
            daemon,
            links: Vec::new(),
            br: unique("br"),
            dir,
        };
        bed.ok(&["add-br", &bed.br.clone()]);
        bed
    }

    /// The daemon's temp directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The daemon's log so far (for failure messages).
    pub fn log(&self) -> String {
        self.daemon.log_text()
    }

    /// `vswitch-ctl ARGS...` against this daemon.
    pub fn ctl(&self, args: &[&str]) -> CtlResult {
        self.daemon.ctl(args)
    }

    /// `vswitch-ctl ARGS...`, asserting success; its stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.ctl(args).ok()
    }

    /// `vswitch-ctl --format json ARGS...`, asserting success; the parsed output.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        self.ctl(&[&["--format", "json"], args].concat()).json()
    }

    /// Adds a host on a new port of the bridge: `eth0` in a fresh namespace with `cidr` and
    /// `mac`; `port_args` go to `add-port` (e.g. `--tag 10`).
    pub fn host(&mut self, attach: Attach, cidr: &str, mac: &str, port_args: &[&str]) -> Host {
        self.host_named("vsw-st", "vst", attach, cidr, mac, port_args)
    }

    /// As [`Bed::host`], naming the namespace and the port after `ns_prefix` / `port_prefix`
    /// (a test's own prefix, so that its leftovers can be found by name).
    pub fn host_named(
        &mut self,
        ns_prefix: &str,
        port_prefix: &str,
        attach: Attach,
        cidr: &str,
        mac: &str,
        port_args: &[&str],
    ) -> Host {
        let ns = Netns::new(ns_prefix);
        let port = unique(port_prefix);
        let br = self.br.clone();
        match attach {
            Attach::Tap => {
                let mut args = vec!["add-port", &br, &port, "--type", "tap"];
                args.extend_from_slice(port_args);
                self.ok(&args);
                assert!(wait_link(&port, 5), "TAP {port} did not appear");
                ns.adopt(&port, "eth0", cidr, Some(mac));
            }
            Attach::Veth { offload } => {
                let inner = unique("vsi");
                self.links.push(Link::veth(&port, &inner));
                crate::netns::run("ip", &["link", "set", &port, "up"]);
                ns.adopt(&inner, "eth0", cidr, Some(mac));
                if !offload {
                    ns.exec(&["ethtool", "-K", "eth0", "tx", "off"]);
                }
                let mut args = vec!["add-port", &br, &port, "--type", "system"];
                args.extend_from_slice(port_args);
                self.ok(&args);
            }
        }
        let ofport = self.ofport(&port);
        let ip = cidr.split('/').next().expect("address").to_owned();
        Host {
            ns,
            port,
            ofport,
            ip,
            mac: mac.to_owned(),
        }
    }

    /// The OpenFlow port number of `port`.
    pub fn ofport(&self, port: &str) -> u32 {
        let show = self.json(&["show"]);
        show["bridges"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|b| b["ports"].as_array().into_iter().flatten())
            .find(|p| p["name"] == port)
            .and_then(|p| p["ofport"].as_u64())
            .unwrap_or_else(|| panic!("no port {port} in {show}")) as u32
    }

    /// Replaces the bridge's flow table with `flows` (one per line), atomically.
    pub fn set_flows(&self, flows: &[&str]) {
        let dir = self.dir.path().join(unique("flows"));
        std::fs::write(&dir, flows.join("\n") + "\n").expect("write flows");
        self.ok(&["replace-flows", &self.br, dir.to_str().expect("utf-8 path")]);
    }

    /// `dump-ports` for one port, as JSON.
    pub fn port_stats(&self, port: &str) -> Value {
        let all = self.json(&["dump-ports", &self.br, port]);
        all.as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == port))
            .cloned()
            .unwrap_or_else(|| panic!("no stats for {port}: {all}"))
    }

    /// `datapath-stats` as JSON.
    pub fn dp_stats(&self) -> Value {
        self.json(&["datapath-stats"])
    }

    /// `dump-megaflows BR` as JSON objects.
    pub fn megaflows(&self) -> Vec<Value> {
        match self.json(&["dump-megaflows", &self.br]) {
            Value::Array(a) => a,
            other => panic!("dump-megaflows is not an array: {other}"),
        }
    }

    /// Polls `cond` every 100 ms for up to `secs`; true once it holds.
    pub fn eventually(&self, secs: u64, mut cond: impl FnMut(&Bed) -> bool) -> bool {
        let t = Instant::now();
        loop {
            if cond(self) {
                return true;
            }
            if t.elapsed() > Duration::from_secs(secs) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A JSON number field as u64 (0 if absent), for counters.
pub fn num(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or(0)
}
