//! The OpenFlow channel driven by the real `ovs-ofctl` 3.1, against the real `vswitchd`, with
//! a private OVS (its own ovsdb-server and ovs-vswitchd in a temp dir, `dummy` datapath) as
//! the oracle for what `ovs-ofctl` must print.
//!
//! Every bridge, port and file is created under a temp dir or with the `ofc` prefix; the
//! guards kill the daemons by PID on drop. Without `ovs-ofctl` (Debian `openvswitch-common`)
//! the tests fail under `CI=true` and otherwise print `SKIPPED`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use vswitch_tests::ofctl::{OvsBridge, VsBridge, have_ovs, ofctl, ofctl_env, ofctl_ok};

const BRIDGE: &str = "ofcbr0";

/// A flow table both switches and the model accept in OpenFlow 1.3 and 1.5.
const FLOWS: &str = "\
table=0,priority=10,in_port=1,actions=output:2
table=0,priority=10,in_port=2,actions=output:1
table=0,priority=20,ip,nw_dst=10.0.0.1,actions=mod_nw_tos:32,goto_table:1
table=0,priority=30,cookie=0x5,arp,arp_tpa=10.0.0.9,actions=NORMAL
table=1,priority=5,cookie=0x7,tcp,tp_dst=80,actions=drop
table=1,priority=6,udp,nw_src=10.1.0.0/16,udp_dst=53,actions=set_field:0x1->reg0,load:0x3->reg2[0..3],resubmit(,2)
table=2,priority=7,reg0=0x1,ipv6,ipv6_src=fe80::/64,actions=dec_ttl,push_vlan:0x8100,set_field:4196->vlan_vid,output:1
table=2,priority=8,ct_state=+trk+est,ip,actions=ct(commit,zone=5,table=3),mod_dl_src:00:00:00:00:00:01
table=3,priority=9,dl_vlan=10,actions=strip_vlan,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],output:2
table=3,idle_timeout=60,hard_timeout=120,priority=1,actions=drop
";

fn write_flows(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `dump-flows --no-stats --sort` on both switches after the same commands, per version.
#[test]
fn dump_flows_equal_ovs_in_every_version() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let ovs = OvsBridge::start("ofc-ovs", BRIDGE);
    let tmp = tempfile::tempdir().unwrap();
    let all = write_flows(tmp.path(), "all.txt", FLOWS);
    // OpenFlow 1.0 has no push_vlan.
    let ten: String = FLOWS
        .lines()
        .filter(|l| !l.contains("push_vlan"))
        .map(|l| format!("{l}\n"))
        .collect();
    let ten = write_flows(tmp.path(), "ten.txt", &ten);
    for (proto, file) in [
        ("OpenFlow10", &ten),
        ("OpenFlow13", &all),
        ("OpenFlow15", &all),
    ] {
        let mut dumps = Vec::new();
        for sw in [vs.mgmt(), ovs.mgmt()] {
            ofctl_ok(&["-O", proto, "del-flows", &sw]);
            ofctl_ok(&["-O", proto, "add-flows", &sw, file]);
            ofctl_ok(&["-O", proto, "mod-flows", &sw, "in_port=2,actions=output:3"]);
            ofctl_ok(&[
                "-O",
                proto,
                "del-flows",
                "--strict",
                &sw,
                "table=1,priority=5,tcp,tp_dst=80",
            ]);
            let dump = ofctl_ok(&["-O", proto, "--sort", "dump-flows", "--no-stats", &sw]);
            let agg = ofctl_ok(&["-O", proto, "dump-aggregate", &sw, "table=0"]);
            dumps.push((dump, agg));
        }
        assert_eq!(
            dumps[0].0, dumps[1].0,
            "{proto}: vswitch (left) vs OVS (right)"
        );
        assert_eq!(dumps[0].1, dumps[1].1, "{proto}: aggregate");
        // The file's flows less the one deleted (`--sort` prints no header line).
        let added = std::fs::read_to_string(file).unwrap().lines().count();
        assert_eq!(
            dumps[0].0.lines().count(),
            added - 1,
            "{proto}: {}",
            dumps[0].0
        );
    }
    // The same flows, seen by vswitch-ctl.
    let ctl = vs.d.ctl(&["dump-flows", BRIDGE]).ok();
    assert!(
        ctl.contains("priority=10,in_port=p2 actions=output:3"),
        "{ctl}"
    );
    assert!(!ctl.contains("tp_dst=80"), "{ctl}");
    // dump-tables and the 1.3+ table stats: identical for identical tables.
    for proto in ["OpenFlow13", "OpenFlow15"] {
        let a = ofctl_ok(&["-O", proto, "dump-tables", &vs.mgmt()]);
        let b = ofctl_ok(&["-O", proto, "dump-tables", &ovs.mgmt()]);
        assert_eq!(a, b, "{proto} dump-tables");
    }
}

/// Flow commands from both channels, bundles, replace-flows, show, ports and the
/// `OVS_RUNDIR` form.
#[test]
fn ofctl_and_vswitch_ctl_share_one_rule_model() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let s = vs.mgmt();
    let tmp = tempfile::tempdir().unwrap();
    // vswitch-ctl → ovs-ofctl.
    vs.d.ctl(&[
        "add-flow",
        BRIDGE,
        "table=4,priority=9,in_port=p1,actions=output:p2",
    ])
    .ok();
    let dump = ofctl_ok(&["-O", "OpenFlow13", "dump-flows", &s, "table=4"]);
    assert!(
        dump.contains("table=4, n_packets=0, n_bytes=0, priority=9,in_port=1 actions=output:2"),
        "{dump}"
    );
    // --bundle is all or nothing: a goto_table backwards refuses the whole bundle.
    let bad = write_flows(
        tmp.path(),
        "bad.txt",
        "table=5,priority=1,actions=drop\ntable=6,priority=2,actions=goto_table:5\n",
    );
    let o = ofctl(&["-O", "OpenFlow14", "--bundle", "add-flows", &s, &bad]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("OFPBIC_BAD_TABLE_ID"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let none = ofctl_ok(&["-O", "OpenFlow13", "dump-flows", &s, "table=5"]);
    assert_eq!(none.lines().count(), 1, "bundle half-applied: {none}");
    let good = write_flows(
        tmp.path(),
        "good.txt",
        "table=5,priority=1,actions=drop\ntable=5,priority=2,ip,actions=goto_table:6\n",
    );
    ofctl_ok(&["-O", "OpenFlow15", "--bundle", "add-flows", &s, &good]);
    let ctl = vs.d.ctl(&["dump-flows", BRIDGE, "--table", "5"]).ok();
    assert_eq!(ctl.lines().count(), 2, "{ctl}");
    // replace-flows replaces everything (the default NORMAL flow too).
    let repl = write_flows(
        tmp.path(),
        "repl.txt",
        "priority=3,in_port=1,actions=output:2\npriority=3,in_port=2,actions=output:1\n",
    );
    ofctl_ok(&["-O", "OpenFlow13", "replace-flows", &s, &repl]);
    let ctl = vs.d.ctl(&["dump-flows", BRIDGE]).ok();
    assert_eq!(ctl.lines().count(), 2, "{ctl}");
    // OVS_RUNDIR plus a bridge name finds the socket, as with OVS.
    let run = vs.run.display().to_string();
    let o = ofctl_env(&["dump-flows", BRIDGE], &[("OVS_RUNDIR", &run)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("in_port=2 actions=output:1"));
    // show, port descriptions and port stats in each version.
    for proto in ["OpenFlow10", "OpenFlow13", "OpenFlow15"] {
        let show = ofctl_ok(&["-O", proto, "show", &s]);
        assert!(show.contains("n_tables:254"), "{show}");
        for p in [" 1(p1): addr:", " 2(p2): addr:", " LOCAL(ofcbr0): addr:"] {
            assert!(show.contains(p), "{proto}: {show}");
        }
        let desc = ofctl_ok(&["-O", proto, "dump-ports-desc", &s]);
        assert!(desc.contains(" 2(p2): addr:"), "{desc}");
        let ports = ofctl_ok(&["-O", proto, "dump-ports", &s]);
        assert!(ports.contains("3 ports"), "{ports}");
        assert!(ports.contains("port  1: rx pkts=0"), "{ports}");
    }
}

/// Refusals: OVS's error for each, and nothing changed.
#[test]
fn bad_flows_get_ovs_errors() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let ovs = OvsBridge::start("ofc-ovs", BRIDGE);
    for (proto, flow) in [
        ("OpenFlow13", "table=3,actions=goto_table:2"),
        ("OpenFlow15", "table=7,actions=goto_table:7"),
    ] {
        let mut errs = Vec::new();
        for sw in [vs.mgmt(), ovs.mgmt()] {
            let o = ofctl(&["-O", proto, "add-flow", &sw, flow]);
            assert!(!o.status.success(), "{proto} {flow} was accepted");
            errs.push(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        assert_eq!(errs[0], errs[1], "{proto} {flow}");
    }
    let dump = vs.d.ctl(&["dump-flows", BRIDGE]).ok();
    assert_eq!(dump.lines().count(), 1, "{dump}");
}

/// The socket comes and goes with the bridge; a deleted bridge's clients are disconnected.
#[test]
fn mgmt_socket_follows_the_bridge() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let sock = vs.run.join("ofcbr1.mgmt");
    assert!(!sock.exists());
    vs.d.ctl(&["add-br", "ofcbr1"]).ok();
    assert!(sock.exists(), "add-br returned before the socket existed");
    let s = format!("unix:{}", sock.display());
    ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-flow",
        &s,
        "priority=5,actions=drop",
    ]);
    let mut idle = UnixStream::connect(&sock).unwrap();
    hello(&mut idle, 4);
    vs.d.ctl(&["del-br", "ofcbr1"]).ok();
    assert!(!sock.exists());
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(
        read_until_closed(&mut idle),
        "connection of a deleted bridge stays open"
    );
}

fn hello(s: &mut UnixStream, version: u8) {
    s.write_all(&[version, 0, 0, 8, 0, 0, 0, 1]).unwrap();
}

/// Reads until EOF (true) or the read timeout (false).
fn read_until_closed(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// Reads one OpenFlow message.
fn read_msg(s: &mut UnixStream) -> Vec<u8> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).unwrap();
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut m = h.to_vec();
    m.resize(len.max(8), 0);
    s.read_exact(&mut m[8..]).unwrap();
    m
}

/// Malformed, truncated, oversized and unknown-version input, and 1,000 idle connections:
/// errors or closed connections, never a crash or a hang of other clients.
#[test]
fn bad_input_and_idle_connections() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let path = vs.run.join(format!("{BRIDGE}.mgmt"));
    let connect = || {
        let s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    };
    // A hello with no version in common (version 0): OFPET_HELLO_FAILED, then closed.
    let mut s = connect();
    s.write_all(&[0, 0, 0, 8, 0, 0, 0, 1]).unwrap();
    let _our_hello = read_msg(&mut s);
    let err = read_msg(&mut s);
    assert_eq!((err[1], &err[8..10]), (1, &[0u8, 0][..]), "{err:?}");
    assert!(read_until_closed(&mut s));
    // A length below the header: closed.
    let mut s = connect();
    hello(&mut s, 4);
    let _ = read_msg(&mut s);
    s.write_all(&[4, 2, 0, 4, 0, 0, 0, 9]).unwrap();
    assert!(read_until_closed(&mut s));
    // A message of a type nobody knows: OFPBRC_BAD_TYPE, connection stays usable.
    let mut s = connect();
    hello(&mut s, 4);
    let _ = read_msg(&mut s);
    // Another version than the negotiated one: OFPBRC_BAD_VERSION.
    s.write_all(&[5, 2, 0, 8, 0, 0, 0, 6]).unwrap();
    let err = read_msg(&mut s);
    assert_eq!((err[1], &err[8..12]), (1, &[0, 1, 0, 0][..]), "{err:?}");
    s.write_all(&[4, 99, 0, 8, 0, 0, 0, 7]).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(
        (err[1], &err[4..8], &err[8..12]),
        (1, &[0, 0, 0, 7][..], &[0, 1, 0, 1][..])
    );
    // A flow-mod cut short inside its match (length says 40): OFPBRC_BAD_LEN class error.
    let mut fm = vec![4, 14, 0, 40, 0, 0, 0, 8];
    fm.extend([0u8; 32]);
    s.write_all(&fm).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(err[1], 1, "an error for a truncated flow-mod: {err:?}");
    // Echo still answered on the same connection.
    s.write_all(&[4, 2, 0, 8, 0, 0, 0, 5]).unwrap();
    let echo = read_msg(&mut s);
    assert_eq!((echo[1], &echo[4..8]), (3, &[0, 0, 0, 5][..]));
    // An oversized message (the 64 KiB maximum of garbage): an error, not a crash.
    let mut big = vec![4, 14, 0xff, 0xff, 0, 0, 0, 6];
    big.resize(65_535, 0xab);
    s.write_all(&big).unwrap();
    let err = read_msg(&mut s);
    assert_eq!(err[1], 1, "an error for a garbage flow-mod");
    // 1,000 idle connections (hello sent, nothing else), then a normal client still works.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        let mut c = UnixStream::connect(&path).unwrap();
        hello(&mut c, 4);
        idle.push(c);
    }
    let t = Instant::now();
    let dump = ofctl_ok(&["-O", "OpenFlow13", "dump-flows", &vs.mgmt()]);
    assert!(dump.contains("actions=NORMAL"), "{dump}");
    eprintln!(
        "dump-flows beside 1,000 idle connections: {:?}",
        t.elapsed()
    );
    drop(idle);
    // The daemon is alive and unchanged.
    let ctl = vs.d.ctl(&["dump-flows", BRIDGE]).ok();
    assert_eq!(ctl.lines().count(), 1, "{ctl}");
}

/// An OpenFlow 1.0 flow-mod (ADD, priority 100) matching `ip,nw_src=10.0.x.y` with one
/// output action to `port`.
fn of10_add_flow(xid: u32, i: u32, port: u16) -> Vec<u8> {
    // All wildcards but dl_type and nw_src (exact).
    let wildcards: u32 = 0x003f_ffff & !(1 << 4) & !(0x3f << 8);
    let mut m = vec![1, 14, 0, 0];
    m.extend(xid.to_be_bytes());
    m.extend(wildcards.to_be_bytes());
    m.extend([0u8; 2 + 6 + 6 + 2 + 1 + 1]); // in_port, dl_src, dl_dst, dl_vlan, pcp, pad
    m.extend(0x0800u16.to_be_bytes()); // dl_type
    m.extend([0u8; 1 + 1 + 2]); // nw_tos, nw_proto, pad
    m.extend(((10 << 24) | i).to_be_bytes()); // nw_src
    m.extend([0u8; 4 + 2 + 2]); // nw_dst, tp_src, tp_dst
    m.extend(0u64.to_be_bytes()); // cookie
    m.extend([0u8; 2 + 2 + 2]); // command ADD, idle, hard
    m.extend(100u16.to_be_bytes()); // priority
    m.extend(0xffff_ffffu32.to_be_bytes()); // buffer_id
    m.extend(0xffffu16.to_be_bytes()); // out_port
    m.extend(0u16.to_be_bytes()); // flags
    m.extend([0, 0, 0, 8]); // OFPAT_OUTPUT, len 8
    m.extend(port.to_be_bytes());
    m.extend(0u16.to_be_bytes());
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}

/// Flow-mods streamed without barriers (as controllers send them) are applied in batches
/// that span reads; each is still answered on its own: a bad one gets its error with its
/// xid, the others apply, and the barrier's reply comes after all of them.
#[test]
fn streamed_flow_mods_apply_in_batches_with_their_own_errors() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("ofc", BRIDGE);
    let path = vs.run.join(format!("{BRIDGE}.mgmt"));
    let mut s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    hello(&mut s, 1);
    let _ = read_msg(&mut s);
    const N: u32 = 3000;
    const BAD: u32 = 1777;
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        // Many small writes, so the stream spans many reads.
        for chunk in (0..N).collect::<Vec<_>>().chunks(50) {
            let mut bytes = Vec::new();
            for &i in chunk {
                // OFPP_NONE is not an output port: OFPBAC_BAD_OUT_PORT, as in OVS.
                let port = if i == BAD { 0xffff } else { 1 };
                bytes.extend(of10_add_flow(1000 + i, i, port));
            }
            w.write_all(&bytes).unwrap();
        }
        w.write_all(&[1, 18, 0, 8, 0, 0, 0xbe, 0xef]).unwrap(); // barrier
    });
    let mut errors = Vec::new();
    loop {
        let m = read_msg(&mut s);
        let xid = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
        match m[1] {
            1 => errors.push((xid, u16::from_be_bytes([m[8], m[9]]))),
            19 if xid == 0xbeef => break,
            _ => {}
        }
    }
    writer.join().unwrap();
    assert_eq!(
        errors,
        vec![(1000 + BAD, 2)],
        "one OFPET_BAD_ACTION error, for the bad flow"
    );
    let agg = ofctl_ok(&["dump-aggregate", &vs.mgmt()]);
    // The N - 1 good flows and the standalone bridge's NORMAL rule.
    assert!(agg.contains(&format!("flow_count={}", N)), "{agg}");
}
