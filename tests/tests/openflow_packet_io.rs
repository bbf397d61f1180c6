//! Packet-ins with real traffic, side by side with a private OVS 3.1.
//!
//! A host in a namespace (its `eth0` a TAP port of vswitch, or a veth port of OVS's userspace
//! `netdev` datapath) pings through a bridge whose flow sends ICMP to the controller after a
//! header rewrite (`icmp,actions=mod_nw_tos:16,controller`). Several `ovs-ofctl monitor`s
//! listen on the bridge's management socket, in the combinations controllers use (OpenFlow
//! 1.3 with ovs-ofctl's preferred `NXT_PACKET_IN2`, OpenFlow 1.0 and 1.5 with the standard
//! `OFPT_PACKET_IN`), plus one that sets no `miss_send_len`, which as a service connection
//! must receive nothing. What each monitor prints from vswitch must equal what the same
//! monitor prints from OVS, modulo the ICMP checksum (ping's identifier and timestamp differ).
//!
//! Everything is named with the `vpi` prefix; daemons, monitors, namespaces and links are
//! owned by guards that remove them by PID or name, also when an assertion fails. Needs root
//! (ignored with the reason otherwise) and Open vSwitch (a failure under `CI=true`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vswitch_tests::Daemon;
use vswitch_tests::netns::{Link, Netns, require_root, unique, wait_link};
use vswitch_tests::ofctl::{Monitor, have_ovs};
use vswitch_tests::ovsdiff::OvsSandbox;

const MAC1: &str = "02:5e:00:00:00:01";
const MAC2: &str = "02:5e:00:00:00:02";
const FLOW: &str = "priority=10,icmp,actions=mod_nw_tos:16,controller";

/// The monitors: (name, ovs-ofctl arguments before and after the target).
const MONITORS: [(&str, &[&str], &[&str]); 4] = [
    ("of13-nxt2", &["-O", "OpenFlow13"], &["65534"]),
    (
        "of10-standard",
        &["-O", "OpenFlow10", "--packet-in-format=standard"],
        &["65534"],
    ),
    (
        "of15-standard",
        &["-O", "OpenFlow15", "--packet-in-format=standard"],
        &["65534"],
    ),
    ("of13-no-miss-len", &["-O", "OpenFlow13"], &[]),
];

fn ofctl(rundir: &Path, args: &[&str]) -> String {
    let o = Command::new("ovs-ofctl")
        .args(args)
        .env("OVS_RUNDIR", rundir)
        .output()
        .expect("run ovs-ofctl");
    assert!(
        o.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Loads the flow through `target`, starts the monitors, pings twice from `ns`, and returns
/// each monitor's output, normalized.
fn ping_under_monitors(rundir: &Path, target: &str, ns: &Netns) -> Vec<(String, String)> {
    ofctl(rundir, &["add-flow", target, FLOW]);
    let procs: Vec<(&str, Monitor)> = MONITORS
        .iter()
        .map(|(name, pre, post)| (*name, Monitor::start(pre, target, post, rundir)))
        .collect();
    // Time for the monitors to connect and send their configuration.
    std::thread::sleep(Duration::from_millis(1500));
    ns.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.244.0.2",
        "lladdr",
        MAC2,
        "dev",
        "eth0",
    ]);
    // Nobody answers: the pings go to the controller only.
    let _ = ns.try_exec(&["ping", "-c", "2", "-i", "0.3", "-W", "1", "10.244.0.2"]);
    std::thread::sleep(Duration::from_millis(1000));
    procs
        .into_iter()
        .map(|(name, p)| (name.to_owned(), normalize(&p.finish())))
        .collect()
}

/// Drops everything but the messages, and the ICMP checksum (ping's id and time differ).
fn normalize(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("fatal_signal"))
        .map(|l| match l.find("icmp_csum:") {
            Some(i) => format!("{}icmp_csum:*", &l[..i]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn vswitch_side() -> Vec<(String, String)> {
    let dir = tempfile::Builder::new().prefix("vpi").tempdir().unwrap();
    let d = Daemon::start(
        &dir.path().join("conf.db"),
        &dir.path().join("vswitchd.sock"),
        &["--pmd-threads", "1"],
    );
    let br = unique("vpibr");
    let tap = unique("vpit");
    d.ctl(&["add-br", &br]).ok();
    d.ctl(&["add-port", &br, &tap, "--type", "tap", "--ofport", "1"])
        .ok();
    assert!(wait_link(&tap, 5), "TAP {tap} did not appear");
    let ns = Netns::new("vpi");
    ns.adopt(&tap, "eth0", "10.244.0.1/24", Some(MAC1));
    let target = format!("unix:{}", dir.path().join(format!("{br}.mgmt")).display());
    let out = ping_under_monitors(dir.path(), &target, &ns);
    let megaflows = d.ctl(&["dump-megaflows", &br]).ok();
    assert!(
        megaflows.contains("userspace(pid=0,controller(reason=1,dont_send=0"),
        "the ICMP megaflow sends every packet up: {megaflows}"
    );
    out
}

fn ovs_side() -> Vec<(String, String)> {
    let ovs = OvsSandbox::start(1).expect("private OVS");
    let br = unique("vpiob");
    let port = unique("vpio");
    let inner = unique("vpii");
    let _link = Link::veth(&port, &inner);
    vswitch_tests::netns::run("ip", &["link", "set", &port, "up"]);
    let ns = Netns::new("vpi");
    ns.adopt(&inner, "eth0", "10.244.0.1/24", Some(MAC1));
    ovs.vsctl(&[
        "add-br",
        &br,
        "--",
        "set",
        "bridge",
        &br,
        "datapath_type=netdev",
        "--",
        "add-port",
        &br,
        &port,
        "--",
        "set",
        "interface",
        &port,
        "ofport_request=1",
    ])
    .expect("OVS bridge with a veth port");
    let sock = ovs.dir().join(format!("{br}.mgmt"));
    for _ in 0..250 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let target = format!("unix:{}", sock.display());
    let out = ping_under_monitors(ovs.dir(), &target, &ns);
    let _ = ovs.vsctl(&["del-br", &br]);
    out
}

#[test]
fn ping_to_a_controller_action_reaches_ofctl_monitor_as_from_ovs() {
    if !require_root() || !have_ovs() {
        return;
    }
    let ours = vswitch_side();
    let theirs = ovs_side();
    for ((name, ours), (_, theirs)) in ours.iter().zip(&theirs) {
        eprintln!("--- {name}: vswitch\n{ours}\n--- {name}: OVS\n{theirs}");
        if name.ends_with("no-miss-len") {
            assert!(!theirs.contains("PACKET_IN"), "{name}: OVS sent {theirs}");
            assert!(!ours.contains("PACKET_IN"), "{name}: we sent {ours}");
            continue;
        }
        assert_eq!(
            theirs.matches("PACKET_IN").count(),
            2,
            "{name}: OVS saw both pings"
        );
        assert!(
            theirs.contains("nw_tos=16"),
            "{name}: the packet as modified"
        );
        assert_eq!(ours, theirs, "{name}: vswitch and OVS differ");
    }
}

/// Ethernet (to `dst_mac`) + IPv4 10.244.1.2 → 10.244.1.1 + UDP 5555 → 9999 + `payload`, as
/// hex for `ovs-ofctl packet-out` (UDP checksum 0: none).
fn udp_hex(dst_mac: &str, payload: &[u8]) -> String {
    let mut f: Vec<u8> = dst_mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect();
    f.extend_from_slice(&[0x02, 0x5e, 0, 0, 0, 0x09, 0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 244, 1, 2, 10, 244, 1, 1]);
    let sum: u32 = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(folded as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&5555u16.to_be_bytes());
    f.extend_from_slice(&9999u16.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn ofctl_packet_out_reaches_a_socket_in_a_namespace() {
    if !require_root() || !have_ovs() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vpi").tempdir().unwrap();
    let d = Daemon::start(
        &dir.path().join("conf.db"),
        &dir.path().join("vswitchd.sock"),
        &["--pmd-threads", "1"],
    );
    let br = unique("vpibr");
    let tap = unique("vpit");
    d.ctl(&["add-br", &br]).ok();
    d.ctl(&["add-port", &br, &tap, "--type", "tap", "--ofport", "1"])
        .ok();
    assert!(wait_link(&tap, 5), "TAP {tap} did not appear");
    let ns = Netns::new("vpi");
    ns.adopt(&tap, "eth0", "10.244.1.1/24", Some(MAC1));
    let target = format!("unix:{}", dir.path().join(format!("{br}.mgmt")).display());
    // A UDP socket in the namespace that prints the first three datagrams it receives.
    let rx = ns.spawn(&[
        "python3",
        "-c",
        "import socket,sys\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.bind(('10.244.1.1',9999)); s.settimeout(15)\n\
         print('ready',flush=True)\n\
         for _ in range(3): print(s.recv(100).decode(),flush=True)\n",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    // In every version: straight out of port 1, and through the tables (this rule).
    ofctl(
        dir.path(),
        &[
            "add-flow",
            &target,
            "priority=100,udp,tp_dst=9999,actions=output:1",
        ],
    );
    let sends: [(&str, &str, &[u8]); 3] = [
        ("OpenFlow10", "output:1", b"vpi-of10-output"),
        ("OpenFlow13", "output:1", b"vpi-of13-output"),
        ("OpenFlow15", "output:TABLE", b"vpi-of15-table"),
    ];
    for (v, actions, payload) in sends {
        ofctl(
            dir.path(),
            &[
                "-O",
                v,
                "packet-out",
                &target,
                "CONTROLLER",
                actions,
                &udp_hex(MAC1, payload),
            ],
        );
    }
    let out = rx.wait(20);
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        got,
        ["vpi-of10-output", "vpi-of13-output", "vpi-of15-table"],
        "received: {text}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
