//! Continuations with a real client: `ovs-ofctl monitor ... resume` (OVS's own resuming
//! controller, the one OVS's testsuite uses) receives a paused packet-in with its userdata
//! and continuation and sends `NXT_RESUME`; the packet then continues through the rest of the
//! pipeline — with the registers set before the pause and a rewrite after it — to a socket
//! in another namespace.
//!
//! Two namespaces (`vpc*`), each on a TAP port of one bridge:
//! `table 0` loads `reg1=0x2a` and resubmits to `table 1`, which pauses with userdata and
//! then resubmits to `table 2`, which matches `reg1=0x2a`, sets the TOS and outputs to the
//! second namespace. A datagram sent while no controller listens goes nowhere (the pause
//! holds it); datagrams sent while the resuming monitor listens arrive, in order, with the
//! TOS the post-pause rule set. Needs root (ignored with the reason otherwise) and
//! `ovs-ofctl` (a failure under `CI=true`).
//!
//! The TAP hands the switch UDP packets with a partial checksum (offloaded); the packet-in
//! carries the finished checksum, as OVS's does, or a resumed datagram would reach the
//! other namespace with a bad checksum and be dropped by its kernel.

use std::process::Command;
use std::time::Duration;

use vswitch_tests::Daemon;
use vswitch_tests::netns::{Netns, require_root, unique, wait_link};
use vswitch_tests::ofctl::{Monitor, have_ovs};

const MAC1: &str = "02:5e:00:00:01:01";
const MAC2: &str = "02:5e:00:00:01:02";

fn ofctl(args: &[&str]) {
    let o = Command::new("ovs-ofctl")
        .args(args)
        .output()
        .expect("run ovs-ofctl");
    assert!(
        o.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

const SEND: &str = "import socket,sys\n\
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
s.sendto(sys.argv[1].encode(),('10.245.0.2',9999))\n";

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root (namespaces, TAP ports)")]
fn a_paused_packet_resumed_by_ofctl_monitor_reaches_the_other_namespace() {
    if !require_root() || !have_ovs() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vpc").tempdir().unwrap();
    let d = Daemon::start(
        &dir.path().join("conf.db"),
        &dir.path().join("vswitchd.sock"),
        &["--pmd-threads", "1"],
    );
    let br = unique("vpcbr");
    let (t1, t2) = (unique("vpca"), unique("vpcb"));
    d.ctl(&["add-br", &br]).ok();
    d.ctl(&["add-port", &br, &t1, "--type", "tap", "--ofport", "1"])
        .ok();
    d.ctl(&["add-port", &br, &t2, "--type", "tap", "--ofport", "2"])
        .ok();
    assert!(
        wait_link(&t1, 5) && wait_link(&t2, 5),
        "TAPs did not appear"
    );
    let a = Netns::new("vpc");
    let b = Netns::new("vpc");
    a.adopt(&t1, "eth0", "10.245.0.1/24", Some(MAC1));
    b.adopt(&t2, "eth0", "10.245.0.2/24", Some(MAC2));
    a.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.245.0.2",
        "lladdr",
        MAC2,
        "dev",
        "eth0",
    ]);
    b.exec(&[
        "ip",
        "neigh",
        "replace",
        "10.245.0.1",
        "lladdr",
        MAC1,
        "dev",
        "eth0",
    ]);
    let target = format!("unix:{}", dir.path().join(format!("{br}.mgmt")).display());
    ofctl(&["del-flows", &target]);
    for flow in [
        "table=0,priority=10,in_port=1,ip,actions=load:0x2a->NXM_NX_REG1[],resubmit(,1)",
        "table=0,priority=10,in_port=2,actions=output:1",
        "table=1,priority=10,ip,actions=controller(userdata=aa.bb,pause),resubmit(,2)",
        "table=2,priority=10,reg1=0x2a,ip,actions=mod_nw_tos:32,output:2",
    ] {
        ofctl(&["-O", "OpenFlow13", "add-flow", &target, flow]);
    }
    // The receiver prints each datagram with the TOS it arrived with.
    let rx = b.spawn(&[
        "python3",
        "-c",
        "import socket\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         s.setsockopt(socket.IPPROTO_IP,socket.IP_RECVTOS,1)\n\
         s.bind(('10.245.0.2',9999)); s.settimeout(10)\n\
         print('ready',flush=True)\n\
         for _ in range(3):\n\
         \x20   m,anc,_,_=s.recvmsg(100,64)\n\
         \x20   tos=[c[2][0] for c in anc if c[1]==socket.IP_TOS]\n\
         \x20   print(m.decode(),tos,flush=True)\n",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    // Nobody resumes: the packet stays paused.
    a.exec(&["python3", "-c", SEND, "vpc-unresumed"]);
    std::thread::sleep(Duration::from_millis(300));
    let monitor = Monitor::start(
        &["-O", "OpenFlow13"],
        &target,
        &["65534", "resume"],
        dir.path(),
    );
    std::thread::sleep(Duration::from_millis(1500));
    for m in ["vpc-resumed-1", "vpc-resumed-2", "vpc-resumed-3"] {
        a.exec(&["python3", "-c", SEND, m]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = rx.wait(20);
    let text = String::from_utf8_lossy(&out.stdout);
    let mon = monitor.finish();
    eprintln!("monitor:\n{mon}");
    let got: Vec<&str> = text.lines().skip(1).collect();
    if got.len() != 3 {
        eprintln!(
            "daemon log:\n{}",
            std::fs::read_to_string(&d.log).unwrap_or_default()
        );
    }
    assert_eq!(
        got,
        [
            "vpc-resumed-1 [32]",
            "vpc-resumed-2 [32]",
            "vpc-resumed-3 [32]"
        ],
        "received: {text}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        mon.matches("NXT_PACKET_IN2").count(),
        3,
        "one paused packet-in per resumed datagram"
    );
    for want in [
        " userdata=aa.bb",
        "reg1=0x2a",
        " continuation.bridge=",
        " continuation.actions=unroll_xlate(table=0, cookie=0),resubmit(,2)",
    ] {
        assert!(mon.contains(want), "monitor lacks {want:?}: {mon}");
    }
}
