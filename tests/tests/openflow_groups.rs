//! Groups over OpenFlow, driven by the real `ovs-ofctl` 3.1 against the real `vswitchd`, with
//! a private OVS (its own ovsdb-server and ovs-vswitchd in a temp dir, `dummy` datapath) as
//! the oracle for what `ovs-ofctl` prints: add-group, mod-group (also `--may-create`),
//! del-groups, OpenFlow 1.5's insert-buckets/remove-buckets, dump-groups, dump-group-stats,
//! dump-group-features and the errors for refused group-mods, in OpenFlow 1.3 and 1.5.
//!
//! Bridges, ports and temp dirs carry the `vmt` prefix; the guards kill the daemons by PID on
//! drop. Without Open vSwitch the tests fail under `CI=true` and otherwise print `SKIPPED`.

use vswitch_tests::ofctl::{OvsBridge, VsBridge, have_ovs, ofctl, ofctl_ok};

const BRIDGE: &str = "vmtbr0";

/// Sorted lines of a dump, without its header line and with durations blanked.
fn lines(dump: &str) -> Vec<String> {
    let mut v: Vec<String> = dump
        .lines()
        .skip(1)
        .map(|l| {
            l.split(',')
                .filter(|f| !f.starts_with("duration=") && !f.starts_with("duration:"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    v.sort();
    v
}

const GROUPS: [&str; 3] = [
    "group_id=1,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=mod_dl_src:00:00:00:00:00:07,output:2",
    "group_id=2,type=all,bucket=actions=output:1,bucket=actions=group:1",
    "group_id=3,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2",
];

/// The same group commands on both switches print the same dumps, in 1.3 and 1.5.
#[test]
fn group_mods_over_openflow_dump_as_ovs() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("vmt", BRIDGE);
    let ovs = OvsBridge::start("vmt-ovs", BRIDGE);
    for proto in ["OpenFlow13", "OpenFlow15"] {
        let mut dumps = Vec::new();
        for sw in [vs.mgmt(), ovs.mgmt()] {
            ofctl_ok(&["-O", proto, "del-flows", &sw]);
            ofctl_ok(&["-O", proto, "del-groups", &sw]);
            for g in GROUPS {
                ofctl_ok(&["-O", proto, "add-group", &sw, g]);
            }
            // A group that exists is refused with OpenFlow's error, and changes nothing.
            let o = ofctl(&[
                "-O",
                proto,
                "add-group",
                &sw,
                "group_id=1,type=all,bucket=output:2",
            ]);
            assert!(!o.status.success(), "{proto}: duplicate group accepted");
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(err.contains("OFPGMFC_GROUP_EXISTS"), "{proto}: {err}");
            // Modify of a group that does not exist: refused; with --may-create: added.
            let o = ofctl(&[
                "-O",
                proto,
                "mod-group",
                &sw,
                "group_id=9,type=all,bucket=output:2",
            ]);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(err.contains("OFPGMFC_UNKNOWN_GROUP"), "{proto}: {err}");
            ofctl_ok(&[
                "-O",
                proto,
                "--may-create",
                "mod-group",
                &sw,
                "group_id=9,type=indirect,bucket=output:2",
            ]);
            ofctl_ok(&[
                "-O",
                proto,
                "mod-group",
                &sw,
                "group_id=3,type=ff,bucket=watch_port:2,actions=output:2",
            ]);
            if proto == "OpenFlow15" {
                ofctl_ok(&[
                    "-O",
                    proto,
                    "insert-buckets",
                    &sw,
                    "group_id=2,command_bucket_id=first,bucket=bucket_id:7,actions=output:2",
                ]);
                ofctl_ok(&[
                    "-O",
                    proto,
                    "remove-buckets",
                    &sw,
                    "group_id=2,command_bucket_id=1",
                ]);
            }
            // A rule sends to group 1; deleting group 9 leaves it.
            ofctl_ok(&[
                "-O",
                proto,
                "add-flow",
                &sw,
                "priority=5,in_port=1,actions=group:1",
            ]);
            ofctl_ok(&["-O", proto, "del-groups", &sw, "group_id=9"]);
            let desc = ofctl_ok(&["-O", proto, "dump-groups", &sw]);
            let stats = ofctl_ok(&["-O", proto, "dump-group-stats", &sw]);
            let one = ofctl_ok(&["-O", proto, "dump-groups", &sw, "2"]);
            let features = ofctl_ok(&["-O", proto, "dump-group-features", &sw]);
            dumps.push((lines(&desc), lines(&stats), lines(&one), features));
        }
        assert_eq!(
            dumps[0].0, dumps[1].0,
            "{proto} dump-groups: vswitch (left) vs OVS"
        );
        assert_eq!(dumps[0].1, dumps[1].1, "{proto} dump-group-stats");
        assert_eq!(dumps[0].2, dumps[1].2, "{proto} dump-groups 2");
        assert_eq!(dumps[0].0.len(), 3, "{:?}", dumps[0].0);
        assert!(
            dumps[0].3.contains("max_groups=0xffffff00"),
            "{}",
            dumps[0].3
        );
    }
    // One model: vswitch-ctl sees the groups OpenFlow added, and OpenFlow sees its change.
    let ctl = vs.d.ctl(&["dump-groups", BRIDGE]).ok();
    assert!(ctl.contains("group_id=1,type=select"), "{ctl}");
    vs.d.ctl(&["del-groups", BRIDGE, "group_id=3"]).ok();
    let desc = ofctl_ok(&["-O", "OpenFlow13", "dump-groups", &vs.mgmt()]);
    assert!(!desc.contains("group_id=3"), "{desc}");
    // Deleting a group deletes the rules that send to it, as in OVS.
    ofctl_ok(&["-O", "OpenFlow13", "del-groups", &vs.mgmt(), "group_id=1"]);
    let flows = ofctl_ok(&["-O", "OpenFlow13", "dump-flows", &vs.mgmt()]);
    assert!(!flows.contains("group:1"), "{flows}");
}

/// Meters: the same meter commands on both switches print the same dumps (OpenFlow 1.3).
#[test]
fn meter_mods_over_openflow_dump_as_ovs() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("vmt", BRIDGE);
    let ovs = OvsBridge::start("vmt-ovs", BRIDGE);
    let proto = "OpenFlow13";
    let mut dumps = Vec::new();
    for sw in [vs.mgmt(), ovs.mgmt()] {
        ofctl_ok(&["-O", proto, "del-meters", &sw]);
        ofctl_ok(&[
            "-O",
            proto,
            "add-meter",
            &sw,
            "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
        ]);
        ofctl_ok(&[
            "-O",
            proto,
            "add-meter",
            &sw,
            "meter=2,pktps,bands=type=drop,rate=10",
        ]);
        ofctl_ok(&[
            "-O",
            proto,
            "add-meter",
            &sw,
            "meter=3,pktps,stats,bands=type=drop,rate=5",
        ]);
        let o = ofctl(&[
            "-O",
            proto,
            "add-meter",
            &sw,
            "meter=1,kbps,bands=type=drop,rate=1",
        ]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains("OFPMMFC_METER_EXISTS"), "{err}");
        let o = ofctl(&[
            "-O",
            proto,
            "mod-meter",
            &sw,
            "meter=9,kbps,bands=type=drop,rate=1",
        ]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains("OFPMMFC_UNKNOWN_METER"), "{err}");
        ofctl_ok(&[
            "-O",
            proto,
            "mod-meter",
            &sw,
            "meter=2,kbps,stats,bands=type=drop,rate=20",
        ]);
        ofctl_ok(&["-O", proto, "del-meter", &sw, "meter=3"]);
        let config = ofctl_ok(&["-O", proto, "dump-meters", &sw]);
        let stats = ofctl_ok(&["-O", proto, "meter-stats", &sw]);
        let one = ofctl_ok(&["-O", proto, "dump-meter", &sw, "meter=2"]);
        dumps.push((config, lines(&stats.replace(' ', ",")), one));
    }
    assert_eq!(dumps[0].0, dumps[1].0, "dump-meters: vswitch (left) vs OVS");
    assert_eq!(dumps[0].1, dumps[1].1, "meter-stats");
    assert_eq!(dumps[0].2, dumps[1].2, "dump-meter 2");
    assert!(dumps[0].0.contains("meter=1"), "{}", dumps[0].0);
    let a = ofctl_ok(&["-O", proto, "meter-features", &vs.mgmt()]);
    let b = ofctl_ok(&["-O", proto, "meter-features", &ovs.mgmt()]);
    eprintln!("meter-features: vswitch\n{a}\nOVS\n{b}");
    assert!(a.contains("band_types: drop"), "{a}");
    // Durable: a restart keeps the meters.
    let mut vs = vs;
    vs.restart();
    let config = ofctl_ok(&["-O", proto, "dump-meters", &vs.mgmt()]);
    assert_eq!(config, dumps[0].0, "after restart");
}

/// Metered flows: `meter:N` as OpenFlow 1.3's instruction and 1.5's action, a flow naming a
/// missing meter refused, meter-stats' flow_count, and del-meter taking its flows along, the
/// same on vswitch and OVS.
#[test]
fn metered_flows_over_openflow_as_ovs() {
    if !have_ovs() {
        return;
    }
    let vs = VsBridge::start("vmt", BRIDGE);
    let ovs = OvsBridge::start("vmt-ovs", BRIDGE);
    let mut seen = Vec::new();
    for sw in [vs.mgmt(), ovs.mgmt()] {
        ofctl_ok(&["-O", "OpenFlow13", "del-meters", &sw]);
        ofctl_ok(&["-O", "OpenFlow13", "del-flows", &sw]);
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "add-meter",
            &sw,
            "meter=1,pktps,bands=type=drop,rate=10",
        ]);
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "add-flow",
            &sw,
            "in_port=1,actions=meter:1,output:2",
        ]);
        ofctl_ok(&[
            "-O",
            "OpenFlow15",
            "add-flow",
            &sw,
            "in_port=2,actions=meter:1,goto_table:1",
        ]);
        let o = ofctl(&[
            "-O",
            "OpenFlow13",
            "add-flow",
            &sw,
            "in_port=3,actions=meter:5",
        ]);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains("OFPMMFC_INVALID_METER"), "{err}");
        let flows13 = ofctl_ok(&["-O", "OpenFlow13", "--no-stats", "dump-flows", &sw]);
        let flows15 = ofctl_ok(&["-O", "OpenFlow15", "--no-stats", "dump-flows", &sw]);
        let stats = ofctl_ok(&["-O", "OpenFlow13", "meter-stats", &sw]);
        let flow_count = stats
            .split_whitespace()
            .find(|w| w.starts_with("flow_count:"))
            .unwrap_or_default()
            .to_owned();
        ofctl_ok(&["-O", "OpenFlow13", "del-meter", &sw, "meter=1"]);
        let after = ofctl_ok(&["-O", "OpenFlow13", "--no-stats", "dump-flows", &sw]);
        seen.push((flows13, flows15, flow_count, after));
    }
    eprintln!("vswitch: {:?}\nOVS: {:?}", seen[0], seen[1]);
    assert!(
        seen[0].0.contains("actions=meter:1,output:2"),
        "{}",
        seen[0].0
    );
    assert_eq!(
        seen[0].0, seen[1].0,
        "dump-flows (1.3): vswitch (left) vs OVS"
    );
    assert_eq!(seen[0].1, seen[1].1, "dump-flows (1.5)");
    assert_eq!(seen[0].2, seen[1].2, "meter-stats flow_count");
    assert_eq!(seen[0].3, seen[1].3, "dump-flows after del-meter");
}
