//! The TLV map (Geneve options as `tun_metadataN`) driven by the real `ovs-ofctl` 3.1 against
//! the real `vswitchd`: `add-tlv-map`, `dump-tlv-map`, `del-tlv-map` with OVS's errors, flows
//! that use mapped and unmapped fields, and a trace that forwards only on the right option
//! value.
//!
//! The daemon's temp dir has the `vtl` prefix; the guard kills it by PID on drop. Without
//! `ovs-ofctl` the test fails under `CI=true` and otherwise prints `SKIPPED`.

use std::process::{Command, Output};

use vswitch_tests::Daemon;

const BRIDGE: &str = "vtlbr0";
const OVN_MAP: &str = "{class=0x102,type=0x80,len=4}->tun_metadata0";

fn have_ofctl() -> bool {
    if Command::new("ovs-ofctl").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "ovs-ofctl is required under CI"
    );
    eprintln!("SKIPPED (not run): ovs-ofctl is not installed");
    false
}

fn ofctl(args: &[&str]) -> Output {
    Command::new("ovs-ofctl")
        .args(args)
        .output()
        .expect("run ovs-ofctl")
}

fn ok(args: &[&str]) -> String {
    let o = ofctl(args);
    assert!(
        o.status.success(),
        "ovs-ofctl {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs ovs-ofctl expecting a refusal that names `error`.
fn refused(args: &[&str], error: &str) {
    let o = ofctl(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains(error),
        "ovs-ofctl {args:?}: wanted {error}, got status {} and {err}",
        o.status
    );
}

#[test]
fn tlv_map_with_ovs_errors_and_flows_on_tun_metadata() {
    if !have_ofctl() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vtl").tempdir().unwrap();
    let run = dir.path().join("run");
    let d = Daemon::start(&dir.path().join("conf.db"), &run.join("vswitchd.sock"), &[]);
    d.ctl(&["add-br", BRIDGE]).ok();
    for (p, n) in [("p1", "1"), ("p2", "2")] {
        d.ctl(&["add-port", BRIDGE, p, "--type", "dummy", "--ofport", n])
            .ok();
    }
    let mgmt = format!("unix:{}", run.join(format!("{BRIDGE}.mgmt")).display());
    let m = mgmt.as_str();

    let empty = ok(&["dump-tlv-map", m]);
    assert!(
        empty.contains("max option space=64 max fields=8"),
        "{empty}"
    );
    assert!(!empty.contains("tun_metadata"), "{empty}");

    // A flow on an unmapped field is refused, as in OVS.
    let flow = "table=0,priority=10,in_port=1,tun_metadata0=0x1234,actions=output:2";
    refused(&["add-flow", m, flow], "OFPBMC_BAD_FIELD");

    ok(&["add-tlv-map", m, OVN_MAP]);
    let one = ok(&["dump-tlv-map", m]);
    assert!(one.contains("0x102") && one.contains("0x80"), "{one}");
    assert!(one.contains("tun_metadata0"), "{one}");
    refused(&["add-tlv-map", m, OVN_MAP], "NXTTMFC_ALREADY_MAPPED");
    refused(
        &[
            "add-tlv-map",
            m,
            "{class=0x102,type=0x80,len=4}->tun_metadata1",
        ],
        "NXTTMFC_DUP_ENTRY",
    );
    // Beyond this switch's fields and option size: OVS's errors for them.
    refused(
        &[
            "add-tlv-map",
            m,
            "{class=0xffff,type=1,len=4}->tun_metadata9",
        ],
        "NXTTMFC_BAD_FIELD_IDX",
    );
    refused(
        &[
            "add-tlv-map",
            m,
            "{class=0xffff,type=1,len=12}->tun_metadata1",
        ],
        "NXTTMFC_BAD_OPT_LEN",
    );

    ok(&["add-flow", m, flow]);
    ok(&[
        "add-flow",
        m,
        "table=0,priority=5,in_port=1,tun_metadata0=0x10/0xf0,actions=output:1",
    ]);
    let dump = d.ctl(&["dump-flows", BRIDGE]).ok();
    assert!(dump.contains("tun_metadata0=0x1234"), "{dump}");
    assert!(dump.contains("tun_metadata0=0x10/0xf0"), "{dump}");

    // The mapping is in use: OVS refuses to delete it.
    refused(&["del-tlv-map", m, OVN_MAP], "NXTTMFC_INVALID_TLV_DEL");

    // Trace: only the right option value takes the priority-10 rule; the bridge's default
    // NORMAL rule takes the rest.
    let base = "in_port=1,tun_id=0x5,tun_src=192.0.2.1,tun_dst=192.0.2.2,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2";
    let right = d
        .ctl(&["trace", BRIDGE, &format!("{base},tun_metadata0=0x1234")])
        .ok();
    assert!(right.contains("Datapath actions: 2"), "{right}");
    assert!(right.contains("tun_metadata0=0x1234"), "{right}");
    let masked = d
        .ctl(&["trace", BRIDGE, &format!("{base},tun_metadata0=0x1f")])
        .ok();
    // Output to the input port: dropped, as OpenFlow says.
    assert!(masked.contains("priority 5"), "{masked}");
    assert!(masked.contains("Datapath actions: drop"), "{masked}");
    let wrong = d
        .ctl(&["trace", BRIDGE, &format!("{base},tun_metadata0=0x1235")])
        .ok();
    assert!(
        !wrong.contains("priority 10") && !wrong.contains("priority 5"),
        "{wrong}"
    );
    let absent = d.ctl(&["trace", BRIDGE, base]).ok();
    assert!(
        !absent.contains("priority 10") && !absent.contains("priority 5"),
        "{absent}"
    );

    ok(&["del-flows", m]);
    ok(&["del-tlv-map", m, OVN_MAP]);
    let again = ok(&["dump-tlv-map", m]);
    assert!(!again.contains("tun_metadata0"), "{again}");
    ok(&["add-tlv-map", m, OVN_MAP]);
    ok(&["del-tlv-map", m]);
    assert!(!ok(&["dump-tlv-map", m]).contains("tun_metadata0"));
}

/// `vswitch-ctl add-tlv-map`/`dump-tlv-map`/`del-tlv-map`: the same map OpenFlow sees (the
/// dump equals `ovs-ofctl dump-tlv-map`'s printing of the switch's own reply), OVS's refusal
/// to delete a mapping a flow uses, and the map surviving `kill -9` with the flows on it.
#[test]
fn vswitch_ctl_tlv_map_equals_the_openflow_view_and_survives_kill_9() {
    if !have_ofctl() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("vtl").tempdir().unwrap();
    let run = dir.path().join("run");
    let (db, sock) = (dir.path().join("conf.db"), run.join("vswitchd.sock"));
    let mut d = Daemon::start(&db, &sock, &[]);
    d.ctl(&["add-br", BRIDGE]).ok();
    for (p, n) in [("p1", "1"), ("p2", "2")] {
        d.ctl(&["add-port", BRIDGE, p, "--type", "dummy", "--ofport", n])
            .ok();
    }
    let mgmt = format!("unix:{}", run.join(format!("{BRIDGE}.mgmt")).display());
    let two = format!("{OVN_MAP},{{class=0xffff,type=0,len=8}}->tun_metadata3");
    d.ctl(&["add-tlv-map", BRIDGE, &two]).ok();

    // ovs-ofctl prints the reply after a `NXT_TLV_TABLE_REPLY (xid=..):` line.
    let ours = || d.ctl(&["dump-tlv-map", BRIDGE]).ok();
    let theirs = || {
        let o = ok(&["dump-tlv-map", &mgmt]);
        o.split_once('\n').map(|(_, body)| body.to_owned()).unwrap()
    };
    let dump = ours();
    assert_eq!(dump, theirs());
    assert!(dump.contains("allocated option space=12"), "{dump}");
    assert!(
        dump.contains("0xffff     0       8  tun_metadata3"),
        "{dump}"
    );
    let json = d.ctl(&["--format", "json", "dump-tlv-map", BRIDGE]).json();
    assert_eq!(json["maps"][0]["field"], "tun_metadata0");
    assert_eq!(json["maps"][1]["class"], 0xffff);

    // OVS's refusals, through vswitch-ctl.
    let err = d.ctl(&["add-tlv-map", BRIDGE, OVN_MAP]).err();
    assert!(err.contains("tun_metadata0 is already mapped"), "{err}");
    let err = d.ctl(&["add-tlv-map", BRIDGE, "{class=1,type=1}->x"]).err();
    assert!(err.contains("invalid tlv mapping"), "{err}");
    let flow = "table=0,priority=10,in_port=1,tun_metadata3=0x1/0xff,actions=output:2";
    d.ctl(&["add-flow", BRIDGE, flow]).ok();
    let err = d.ctl(&["del-tlv-map", BRIDGE]).err();
    assert!(err.contains("tun_metadata3 is used by a flow"), "{err}");
    // A mapping added over OpenFlow shows in vswitch-ctl.
    ok(&[
        "add-tlv-map",
        &mgmt,
        "{class=0x10,type=0x7f,len=4}->tun_metadata5",
    ]);
    let before = ours();
    assert!(before.contains("tun_metadata5"), "{before}");

    // kill -9: every acknowledged change is there after the restart, map before flows.
    d.stop_with(libc::SIGKILL, std::time::Duration::from_secs(10));
    let d = Daemon::start(&db, &sock, &[]);
    assert_eq!(d.ctl(&["dump-tlv-map", BRIDGE]).ok(), before);
    let flows = d.ctl(&["dump-flows", BRIDGE]).ok();
    assert!(flows.contains("tun_metadata3=0x1/0xff"), "{flows}");
    let base = "in_port=1,tun_id=0x5,tun_src=192.0.2.1,tun_dst=192.0.2.2,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2";
    let t = d
        .ctl(&["trace", BRIDGE, &format!("{base},tun_metadata3=0x201")])
        .ok();
    assert!(t.contains("Datapath actions: 2"), "{t}");

    d.ctl(&["del-flows", BRIDGE]).ok();
    d.ctl(&[
        "del-tlv-map",
        BRIDGE,
        "{class=0,type=0,len=4}->tun_metadata3",
    ])
    .ok();
    let after = d.ctl(&["dump-tlv-map", BRIDGE]).ok();
    assert!(
        !after.contains("tun_metadata3") && after.contains("tun_metadata5"),
        "{after}"
    );
    d.ctl(&["del-tlv-map", BRIDGE]).ok();
    assert!(
        !d.ctl(&["dump-tlv-map", BRIDGE])
            .ok()
            .contains("tun_metadata")
    );
}
