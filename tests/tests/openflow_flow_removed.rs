//! Flow-removed messages and flow-mod flags, driven by the real `ovs-ofctl` 3.1 against the
//! real `vswitchd`, with a private OVS doing the same as the oracle.
//!
//! `ovs-ofctl monitor` (OpenFlow 1.0, 1.3, 1.4 and 1.5, with a nonzero miss length so that
//! the service connection gets asynchronous messages) watches while flows with and without
//! `send_flow_rem` are deleted (non-strict and strict) and time out (idle and hard): both
//! switches must send the same `OFPT_FLOW_REMOVED` messages, durations aside. The flags
//! themselves (`dump-flows` in 1.3 prints them), `check_overlap` (`OFPFMFC_OVERLAP`) and
//! `reset_counts` are compared the same way.
//!
//! Bridges, files and sockets live in temp dirs named `vfr*`; the guards kill the daemons and
//! monitors by PID on drop. Without OVS the tests fail under `CI=true` and otherwise print
//! `SKIPPED`.

use std::time::Duration;

use vswitch_tests::ofctl::{Monitor, OvsBridge, VsBridge, have_ovs, ofctl, ofctl_ok};

const BRIDGE: &str = "vfrbr0";

/// What the monitor printed, durations blanked (they differ by milliseconds) and sorted
/// (two rules that time out in the same second may come in either order).
fn removed_lines(mon: &str) -> Vec<String> {
    let mut v: Vec<String> = mon
        .lines()
        .filter(|l| l.contains("FLOW_REMOVED"))
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    if w.starts_with("duration") {
                        "duration?"
                    } else {
                        w
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    v.sort();
    v
}

/// The same commands on `target` while a monitor of version `proto` watches.
fn removals(target: &str, proto: &str) -> Vec<String> {
    let rundir = tempfile::Builder::new()
        .prefix("vfr-mon")
        .tempdir()
        .unwrap();
    ofctl_ok(&["del-flows", target]);
    let mon = Monitor::start(&["-O", proto], target, &["65534"], rundir.path());
    std::thread::sleep(Duration::from_millis(500));
    for f in [
        "cookie=0x5,priority=5,idle_timeout=1,send_flow_rem,ip,nw_src=1.2.3.4,actions=drop",
        "table=2,priority=6,hard_timeout=1,send_flow_rem,tcp,actions=drop",
        "priority=7,send_flow_rem,udp,actions=drop",
        "priority=8,send_flow_rem,arp,actions=drop",
        "priority=9,arp,actions=drop",
        "table=3,priority=10,send_flow_rem,ipv6,actions=drop",
    ] {
        ofctl_ok(&["-O", "OpenFlow13", "add-flow", target, f]);
    }
    std::thread::sleep(Duration::from_millis(200));
    ofctl_ok(&["-O", "OpenFlow13", "del-flows", target, "udp"]);
    ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "--strict",
        "del-flows",
        target,
        "priority=8,arp",
    ]);
    // Deleted without send_flow_rem: nothing.
    // (non-strict: the priority=9 one is the arp flow left.)
    ofctl_ok(&["-O", "OpenFlow13", "del-flows", target, "arp"]);
    ofctl_ok(&["-O", "OpenFlow13", "del-flows", target, "table=3,ipv6"]);
    std::thread::sleep(Duration::from_millis(3500));
    removed_lines(&mon.finish())
}

#[test]
fn flow_removed_equals_ovs_in_every_version() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("vfr", BRIDGE);
    let ovs = OvsBridge::start("vfr-ovs", BRIDGE);
    for proto in ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let ours = removals(&vs.mgmt(), proto);
        let theirs = removals(&ovs.mgmt(), proto);
        assert_eq!(ours, theirs, "{proto}: vswitch (left) vs OVS (right)");
        // udp, arp (strict), ipv6 in table 3, the idle and the hard timeout.
        assert_eq!(ours.len(), 5, "{proto}: {ours:#?}");
        for reason in ["reason=delete", "reason=idle", "reason=hard"] {
            assert!(ours.iter().any(|l| l.contains(reason)), "{proto}: {reason}");
        }
    }
}

/// Flags as `dump-flows` prints them, `check_overlap` refusals and `reset_counts`.
#[test]
fn flow_mod_flags_equal_ovs() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("vfr", BRIDGE);
    let ovs = OvsBridge::start("vfr-ovs", BRIDGE);
    let mut seen = Vec::new();
    for sw in [vs.mgmt(), ovs.mgmt()] {
        let mut out = Vec::new();
        ofctl_ok(&["del-flows", &sw]);
        for f in [
            "priority=5,send_flow_rem,ip,actions=drop",
            "priority=6,send_flow_rem,no_packet_counts,ip,actions=drop",
            "priority=7,check_overlap,ip,actions=drop",
            "priority=8,no_byte_counts,reset_counts,ip,actions=drop",
            // Identical to an existing rule: replaces it, no overlap.
            "priority=7,check_overlap,ip,actions=output:1",
            // Same priority, disjoint: fine.
            "priority=7,check_overlap,arp,actions=drop",
        ] {
            ofctl_ok(&["-O", "OpenFlow13", "add-flow", &sw, f]);
        }
        // Overlaps priority=7,ip.
        let o = ofctl(&[
            "-O",
            "OpenFlow13",
            "add-flow",
            &sw,
            "priority=7,check_overlap,ip,nw_src=1.1.1.1,actions=drop",
        ]);
        out.push(format!(
            "overlap: {} {}",
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).contains("OFPFMFC_OVERLAP")
        ));
        // A modify keeps flags and timeouts.
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "mod-flows",
            &sw,
            "send_flow_rem,priority=8,ip,actions=output:2",
        ]);
        // OpenFlow 1.0 adds record reset_counts, as OVS does.
        ofctl_ok(&["add-flow", &sw, "priority=9,tcp,actions=drop"]);
        for proto in ["OpenFlow13", "OpenFlow15", "OpenFlow10"] {
            // Sorted here: `--sort` keeps the switch's order within one priority.
            let d = ofctl_ok(&["-O", proto, "dump-flows", &sw]);
            let mut lines: Vec<String> = d
                .lines()
                .filter(|l| l.starts_with(' '))
                .map(|l| {
                    l.split(' ')
                        .filter(|w| !w.starts_with("duration=") && !w.starts_with("idle_age="))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            lines.sort();
            out.push(lines.join("\n"));
        }
        seen.push(out);
    }
    assert_eq!(seen[0], seen[1], "vswitch (left) vs OVS (right)");
    assert_eq!(seen[0][0], "overlap: false true");
    assert!(seen[0][1].contains("send_flow_rem no_packet_counts priority=6"));
    assert!(seen[0][1].contains("reset_counts priority=9,tcp"));
}
