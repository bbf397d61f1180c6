//! Controllers: the real `vswitchd` connecting to a real OpenFlow controller (an os-ken
//! application of ours, `tests/controllers/l2_proactive.py`), listening for `ovs-ofctl` on
//! `ptcp:`/`punix:` targets, roles on the wire, and what fail modes do when the controller
//! goes away — with traffic between network namespaces.
//!
//! Everything is named with the `vct` prefix (namespaces, TAPs, bridges, the controller
//! process's argv[0]) and owned by guards that remove it by name or PID on drop. Tests that
//! need root are ignored without it (`cfg(no_system_tests)`); without os-ken or `ovs-ofctl`
//! a test fails under `CI=true` and otherwise prints `SKIPPED`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vswitch_tests::netns::{Netns, unique, wait_link};
use vswitch_tests::traffic::TcpBulk;
use vswitch_tests::{ChildGuard, Daemon};

const CONTROLLER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/controllers/l2_proactive.py");
/// The daemon's fail-open delay (three 5 s probe intervals), plus slack for a busy machine.
const FAIL_OPEN_WAIT: u64 = 15 + 10;

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// True if `what` can run; otherwise fails under CI and prints SKIPPED.
fn have(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(!in_ci(), "{what} is required under CI");
        eprintln!("SKIPPED (not run): {what} is not installed");
    }
    ok
}

fn have_os_ken() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import os_ken"])
        .output()
        .is_ok_and(|o| o.status.success());
    have("os-ken (pip install os-ken)", ok)
}

fn have_ofctl() -> bool {
    let ok = Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    have("ovs-ofctl (Debian openvswitch-common)", ok)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

fn mac(n: u8) -> String {
    format!("02:5e:00:00:0c:{n:02x}")
}

/// The daemon with one bridge.
struct Switch {
    dir: tempfile::TempDir,
    d: Daemon,
    br: String,
}

impl Switch {
    fn start(fail_mode: &str) -> Switch {
        let dir = tempfile::Builder::new().prefix("vct").tempdir().unwrap();
        let d = Daemon::start(
            &dir.path().join("conf.db"),
            &dir.path().join("run/vswitchd.sock"),
            &["--pmd-threads", "1"],
        );
        let br = unique("vctbr");
        let s = Switch { dir, d, br };
        s.ok(&["add-br", &s.br, "--", "set-fail-mode", &s.br, fail_mode]);
        s
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        self.d.ctl(args).ok()
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        self.d.ctl(&[&["--format", "json"], args].concat()).json()
    }

    fn controllers(&self) -> Value {
        self.json(&["get-controller", &self.br])
    }

    fn connected(&self) -> bool {
        self.controllers()["controllers"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["is_connected"] == true))
    }

    fn fail_open(&self) -> bool {
        self.controllers()["fail_open"] == true
    }

    /// Polls `cond` every 200 ms for up to `secs`.
    fn eventually(&self, secs: u64, mut cond: impl FnMut(&Switch) -> bool) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if cond(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        cond(self)
    }

    /// A host in a fresh `vct` namespace on a new tap port: (namespace, ofport, ip).
    fn host(&self, n: u8) -> (Netns, u32, String) {
        let ns = Netns::new("vct");
        let port = unique("vctp");
        self.ok(&["add-port", &self.br, &port, "--type", "tap"]);
        assert!(wait_link(&port, 5), "TAP {port} did not appear");
        let ip = format!("10.243.0.{n}");
        ns.adopt(&port, "eth0", &format!("{ip}/24"), Some(&mac(n)));
        let show = self.json(&["show"]);
        let ofport = show["bridges"][0]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == port.as_str())
            .and_then(|p| p["ofport"].as_u64())
            .unwrap_or_else(|| panic!("no port {port} in {show}")) as u32;
        (ns, ofport, ip)
    }
}

/// Our os-ken application, listening on 127.0.0.1:`port`.
struct Osken {
    _child: ChildGuard,
    ready: PathBuf,
}

impl Osken {
    fn start(dir: &Path, port: u16, hosts: &[(String, u32)]) -> Osken {
        let ready = dir.join(unique("vct-ready"));
        let hosts: Vec<String> = hosts.iter().map(|(m, p)| format!("{m}={p}")).collect();
        let log = std::fs::File::create(dir.join(unique("vct-osken")).with_extension("log"))
            .expect("controller log");
        // `exec -a` names the process with our prefix; the child's PID is python's.
        let child = Command::new("bash")
            .args(["-c", "exec -a vct-osken python3 \"$@\"", "vct-osken"])
            .arg(CONTROLLER)
            .args(["--port", &port.to_string(), "--hosts", &hosts.join(",")])
            .arg("--ready")
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start the os-ken controller");
        Osken {
            _child: ChildGuard(child),
            ready,
        }
    }

    /// Waits until the controller saw its flows acknowledged (a barrier reply) `n` times.
    fn wait_ready(&self, n: usize, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            let lines = std::fs::read_to_string(&self.ready).unwrap_or_default();
            if lines.lines().count() >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

fn rule_lines(s: &Switch) -> Vec<String> {
    s.ok(&["dump-flows", &s.br])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The brief's main scenario: a secure bridge programmed only by an os-ken controller over
/// `tcp:127.0.0.1`; the switch reconnects with backoff until the controller is up; ping and a
/// checked TCP transfer pass through the controller's flows; with the controller killed the
/// secure bridge keeps them (and never fails open).
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn os_ken_controls_a_secure_bridge_that_keeps_its_flows_when_it_dies() {
    if !vswitch_tests::netns::require_root() || !have_os_ken() {
        return;
    }
    let s = Switch::start("secure");
    let (ns1, p1, ip1) = s.host(1);
    let (ns2, p2, ip2) = s.host(2);
    assert!(rule_lines(&s).is_empty(), "a secure bridge starts empty");
    assert!(
        !ns1.ping(&ip2, 1),
        "nothing passes a secure bridge without flows"
    );

    let port = free_port();
    let target = format!("tcp:127.0.0.1:{port}");
    s.ok(&["set-controller", &s.br, &format!("tcp:127.0.0.1:{port}")]);
    assert_eq!(s.ok(&["get-controller", &s.br]).trim(), target);
    // No controller yet: the switch backs off and says why.
    assert!(
        s.eventually(5, |s| s.controllers()["controllers"][0]["state"]
            == "BACKOFF"),
        "{}",
        s.controllers()
    );
    assert!(!s.connected());
    assert!(
        s.controllers()["controllers"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{}",
        s.controllers()
    );

    let ctl = Osken::start(s.dir.path(), port, &[(mac(1), p1), (mac(2), p2)]);
    // Backoff is at most 8 s; os-ken needs a few seconds to start on a busy machine.
    assert!(
        ctl.wait_ready(1, 30),
        "the controller never saw its flows acknowledged: {}\n{}",
        s.controllers(),
        s.d.log_text()
    );
    assert!(s.connected(), "{}", s.controllers());
    let c = &s.controllers()["controllers"][0];
    assert_eq!(c["state"], "ACTIVE");
    assert_eq!(c["role"], "equal");
    assert!(
        s.ok(&["show"]).contains(&format!(
            "Controller \"{target}\"\n        is_connected: true"
        )),
        "{}",
        s.ok(&["show"])
    );
    let rules = rule_lines(&s);
    assert_eq!(rules.len(), 3, "{rules:?}");
    // dump-flows names ports (`output:vctp...`) where ovs-ofctl prints numbers.
    let port2 = s.json(&["show"])["bridges"][0]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["ofport"] == p2)
        .and_then(|p| p["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        rules
            .iter()
            .any(|r| r.contains(&format!("dl_dst={} actions=output:{port2}", mac(2)))),
        "{rules:?}"
    );

    assert!(
        ns1.wait_ping(&ip2, 10),
        "no ping through the controller's flows"
    );
    assert!(ns2.ping(&ip1, 3));
    let t = TcpBulk::run(&ns1, &ns2, &ip2, 5001, 8 << 20, 11, 30);
    assert!(t.intact(), "transfer damaged: {t:?}");
    eprintln!(
        "FIGURE secure bridge, os-ken flows: 8 MB in {:.2} s = {:.0} Mbit/s",
        t.secs,
        t.mbit_per_s()
    );

    drop(ctl);
    assert!(
        s.eventually(15, |s| !s.connected()),
        "the switch did not notice the controller's death: {}",
        s.controllers()
    );
    // Secure: the controller's flows stay and keep forwarding; the bridge never fails open.
    assert_eq!(rule_lines(&s).len(), 3);
    assert!(
        ns1.ping(&ip2, 3),
        "secure bridge lost forwarding without its controller"
    );
    std::thread::sleep(Duration::from_secs(FAIL_OPEN_WAIT - 8));
    assert!(
        !s.fail_open(),
        "a secure bridge failed open: {}",
        s.controllers()
    );
    assert!(ns1.ping(&ip2, 2));
    assert_eq!(rule_lines(&s).len(), 3);
}

/// Standalone: with every controller gone for the fail-open delay, the bridge switches by
/// NORMAL over its other rules (here a controller-era rule that drops ICMP), with no rule to
/// show for it; when the controller is back, fail-open ends and the rules rule again.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn standalone_bridge_fails_open_without_its_controller_and_recovers() {
    if !vswitch_tests::netns::require_root() || !have_os_ken() {
        return;
    }
    let s = Switch::start("standalone");
    let (ns1, p1, _) = s.host(1);
    let (_ns2, p2, ip2) = s.host(2);
    assert!(ns1.wait_ping(&ip2, 10), "standalone bridge: NORMAL rule");

    let port = free_port();
    let hosts = [(mac(1), p1), (mac(2), p2)];
    let ctl = Osken::start(s.dir.path(), port, &hosts);
    s.ok(&["set-controller", &s.br, &format!("tcp:127.0.0.1:{port}")]);
    assert!(
        ctl.wait_ready(1, 30),
        "{}\n{}",
        s.controllers(),
        s.d.log_text()
    );
    // The first controller flushed the NORMAL rule; the controller's three remain. A policy
    // rule (added on the side: one rule model) drops ICMP.
    let rules = rule_lines(&s);
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert!(!rules.iter().any(|r| r.contains("NORMAL")), "{rules:?}");
    s.ok(&["add-flow", &s.br, "priority=200,icmp,actions=drop"]);
    assert!(
        !ns1.ping(&ip2, 2),
        "the drop rule holds while the controller is connected"
    );

    drop(ctl);
    let gone = Instant::now();
    assert!(s.eventually(15, |s| !s.connected()), "{}", s.controllers());
    assert!(
        s.eventually(FAIL_OPEN_WAIT, |s| s.fail_open()),
        "never failed open: {}\n{}",
        s.controllers(),
        s.d.log_text()
    );
    let after = gone.elapsed();
    assert!(
        after >= Duration::from_secs(12),
        "failed open after only {after:?}"
    );
    eprintln!(
        "FIGURE fail-open after the controller died: {:.1} s",
        after.as_secs_f64()
    );
    assert!(
        ns1.wait_ping(&ip2, 5),
        "fail-open: NORMAL overrides the drop rule"
    );
    // The fail-open rule is hidden: the tables are what the controller left.
    let rules = rule_lines(&s);
    assert_eq!(rules.len(), 4, "{rules:?}");
    assert!(!rules.iter().any(|r| r.contains("NORMAL")), "{rules:?}");
    assert!(s.ok(&["show"]).contains("fail_open: true"));
    let trace = s.ok(&[
        "trace",
        &s.br,
        &format!("in_port={p1},icmp,nw_src=10.243.0.1,nw_dst=10.243.0.2"),
    ]);
    assert!(trace.contains("NORMAL"), "{trace}");

    // The controller comes back: fail-open ends, the drop rule holds again.
    let ctl = Osken::start(s.dir.path(), port, &hosts);
    assert!(ctl.wait_ready(1, 30), "{}", s.controllers());
    assert!(s.eventually(5, |s| !s.fail_open()), "{}", s.controllers());
    assert!(!ns1.ping(&ip2, 2), "fail-open was not left on reconnection");

    // del-controller: flushed, and the standalone bridge has its NORMAL rule back.
    drop(ctl);
    s.ok(&["del-controller", &s.br]);
    assert_eq!(s.ok(&["get-controller", &s.br]).trim(), "");
    let rules = rule_lines(&s);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(rules[0].contains("priority=0 actions=NORMAL"), "{rules:?}");
    assert!(ns1.wait_ping(&ip2, 5));
}

/// Passive targets: `ovs-ofctl` connects to `ptcp:` and `punix:`, programs and reads the
/// bridge there like on the mgmt socket; the targets' state shows in get-controller.
#[test]
fn ovs_ofctl_reaches_passive_ptcp_and_punix_targets() {
    if !have_ofctl() {
        return;
    }
    let s = Switch::start("secure");
    let port = free_port();
    let sock = s.dir.path().join("vct-ctl.sock");
    let ptcp = format!("ptcp:{port}:127.0.0.1");
    let punix = format!("punix:{}", sock.display());
    s.ok(&["set-controller", &s.br, &ptcp, &punix]);
    let mut sorted = [ptcp.clone(), punix.clone()];
    sorted.sort();
    assert_eq!(s.ok(&["get-controller", &s.br]), sorted.join("\n") + "\n");
    assert!(
        s.eventually(5, |s| s.controllers()["controllers"]
            .as_array()
            .is_some_and(|a| a.iter().all(|c| c["state"] == "LISTENING"))),
        "{}",
        s.controllers()
    );

    let tcp = format!("tcp:127.0.0.1:{port}");
    let unix = format!("unix:{}", sock.display());
    let ofctl = |args: &[&str]| {
        let o = Command::new("ovs-ofctl")
            .args(args)
            .output()
            .expect("ovs-ofctl");
        assert!(
            o.status.success(),
            "ovs-ofctl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    ofctl(&[
        "-O",
        "OpenFlow13",
        "add-flow",
        &tcp,
        "priority=7,ip,actions=drop",
    ]);
    ofctl(&[
        "-O",
        "OpenFlow15",
        "add-flow",
        &unix,
        "table=1,priority=9,arp,actions=flood",
    ]);
    let dump = ofctl(&["-O", "OpenFlow13", "dump-flows", &unix]);
    assert!(dump.contains("priority=7,ip actions=drop"), "{dump}");
    assert!(
        dump.contains("table=1, n_packets=0, n_bytes=0, priority=9,arp actions=FLOOD"),
        "{dump}"
    );
    // One rule model: vswitch-ctl sees what came over the controller channel.
    assert_eq!(rule_lines(&s).len(), 2);
    let show = ofctl(&["-O", "OpenFlow13", "show", &tcp]);
    assert!(show.contains("OFPT_FEATURES_REPLY"), "{show}");
    // Removing one target closes its listener; the other stays.
    s.ok(&["set-controller", &s.br, &punix]);
    assert!(
        s.eventually(5, |_| std::net::TcpStream::connect(("127.0.0.1", port))
            .is_err()),
        "ptcp listener still open"
    );
    assert_eq!(rule_lines(&s).len(), 2, "changing targets keeps the flows");
    ofctl(&["-O", "OpenFlow13", "dump-flows", &unix]);
    s.ok(&["del-controller", &s.br]);
    assert!(
        s.eventually(5, |_| !sock.exists()),
        "punix socket not removed"
    );
}

// --- Roles on the wire (OpenFlow 1.3 messages built by hand). ---

fn of13(typ: u8, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![4, typ];
    m.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
    m.extend_from_slice(&xid.to_be_bytes());
    m.extend_from_slice(body);
    m
}

/// Reads one message: (type, xid, body).
fn read_msg(s: &mut UnixStream) -> (u8, u32, Vec<u8>) {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).expect("read header");
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    let mut body = vec![0u8; len - 8];
    s.read_exact(&mut body).expect("read body");
    (h[1], u32::from_be_bytes([h[4], h[5], h[6], h[7]]), body)
}

/// Connects and completes the hello exchange in OpenFlow 1.3.
fn open13(path: &Path) -> UnixStream {
    let mut s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&of13(0, 1, &[])).unwrap();
    let (typ, _, _) = read_msg(&mut s);
    assert_eq!(typ, 0, "hello");
    s
}

fn role_request(s: &mut UnixStream, xid: u32, role: u32, generation: u64) -> (u8, Vec<u8>) {
    let mut body = role.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 4]);
    body.extend_from_slice(&generation.to_be_bytes());
    s.write_all(&of13(24, xid, &body)).unwrap();
    let (typ, rx, body) = read_msg(s);
    assert_eq!(rx, xid);
    (typ, body)
}

/// A flow-mod add of `priority=5,actions=drop` in table 0, then a barrier: the replies up to
/// the barrier's (an error, if refused).
fn flow_mod(s: &mut UnixStream, xid: u32) -> Vec<(u8, Vec<u8>)> {
    let mut body = vec![0u8; 40];
    body[18..20].copy_from_slice(&5u16.to_be_bytes()); // priority
    body[20..24].copy_from_slice(&u32::MAX.to_be_bytes()); // no buffer
    body[24..28].copy_from_slice(&u32::MAX.to_be_bytes()); // out_port any
    body[28..32].copy_from_slice(&u32::MAX.to_be_bytes()); // out_group any
    body.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]); // empty OXM match
    s.write_all(&of13(14, xid, &body)).unwrap();
    s.write_all(&of13(20, xid + 1, &[])).unwrap();
    let mut out = Vec::new();
    loop {
        let (typ, _, body) = read_msg(s);
        if typ == 21 {
            return out;
        }
        out.push((typ, body));
    }
}

/// OFPT_ROLE_REQUEST across connections of one bridge (a punix controller target and the
/// mgmt socket share the bridge's roles): a new master demotes the old one to slave, whose
/// flow-mods are then refused with OFPBRC_IS_SLAVE; an older generation id is refused with
/// OFPRRFC_STALE; the roles show in get-controller.
#[test]
fn role_requests_elect_one_master_and_refuse_a_slave_s_flow_mods() {
    let s = Switch::start("secure");
    let sock = s.dir.path().join("vct-role.sock");
    s.ok(&[
        "set-controller",
        &s.br,
        &format!("punix:{}", sock.display()),
    ]);
    assert!(s.eventually(5, |_| sock.exists()));
    let mgmt = s.dir.path().join(format!("run/{}.mgmt", s.br));
    let mut a = open13(&sock);
    let mut b = open13(&mgmt);

    // ROLE_MASTER = 2, ROLE_SLAVE = 3; a reply is OFPT_ROLE_REPLY (25).
    let (typ, body) = role_request(&mut a, 10, 2, 100);
    assert_eq!(typ, 25);
    assert_eq!(&body[..4], &2u32.to_be_bytes());
    assert_eq!(&body[8..16], &100u64.to_be_bytes());
    assert!(flow_mod(&mut a, 11).is_empty(), "the master may write");
    assert!(
        s.eventually(5, |s| s.controllers()["controllers"][0]["role"] == "master"),
        "{}",
        s.controllers()
    );

    let (typ, body) = role_request(&mut b, 20, 2, 101);
    assert_eq!(typ, 25);
    assert_eq!(&body[..4], &2u32.to_be_bytes());
    assert_eq!(s.controllers()["controllers"][0]["role"], "slave");
    // The demoted master's flow-mod: OFPET_BAD_REQUEST (1), OFPBRC_IS_SLAVE (10).
    let replies = flow_mod(&mut a, 12);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0].0, 1);
    assert_eq!(&replies[0].1[..4], &[0, 1, 0, 10]);
    // A stale generation id: OFPET_ROLE_REQUEST_FAILED (11), OFPRRFC_STALE (0).
    let (typ, body) = role_request(&mut a, 13, 2, 99);
    assert_eq!(typ, 1);
    assert_eq!(&body[..4], &[0, 11, 0, 0]);
    // Nothing changed: still a slave, the new master still writes.
    let (typ, body) = role_request(&mut a, 14, 0, 0);
    assert_eq!(typ, 25);
    assert_eq!(&body[..4], &3u32.to_be_bytes());
    assert!(flow_mod(&mut b, 21).is_empty());
    assert_eq!(
        rule_lines(&s).len(),
        1,
        "the two flow-mods added the same rule"
    );
}
