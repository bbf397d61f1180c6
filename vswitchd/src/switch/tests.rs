use super::*;
use crate::store::PortKind;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn open(&self) -> Switch {
        switch(self.dir.path())
    }
    /// Closes `sw` (its database) and opens the switch again from disk.
    fn open_again(&self, sw: Switch) -> Switch {
        drop(sw);
        self.open()
    }
}

/// A switch over dummy devices with its database in `dir` (the other modules' tests use it).
pub(super) fn switch(dir: &std::path::Path) -> Switch {
    let dp = crate::dataplane::Dataplane::new(
        crate::dataplane::DataplaneConfig {
            dummy_devices: true,
            ..Default::default()
        },
        None,
    );
    Switch::load(Store::open(&dir.join("conf.db")).unwrap(), dp).unwrap()
}

/// The rules of `br` as `dump-flows` prints them (no names).
pub(super) fn rules(sw: &Switch, br: &str) -> Vec<String> {
    sw.dump_flows(br, "", None)
        .unwrap()
        .iter()
        .map(|r| crate::ofctl::format_flow(&r.to_spec(), &crate::ofctl::NoNames))
        .collect()
}

fn spec(name: &str) -> PortSpec {
    PortSpec {
        name: name.into(),
        kind: PortKind::Dummy,
        ofport: 0,
        tag: None,
        trunks: vec![],
        options: BTreeMap::new(),
    }
}

fn names(sw: &Switch, br: &str) -> Vec<(String, u32)> {
    sw.bridge(br)
        .unwrap()
        .ports()
        .map(|p| (p.name.clone(), p.ofport))
        .collect()
}

#[test]
fn name_rules_follow_ifnamsiz() {
    assert!(validate_name("port", "vnet0").is_ok());
    assert!(validate_name("port", "abcdefghijklmno").is_ok(), "15 bytes");
    for bad in [
        "",
        "abcdefghijklmnop",
        ".",
        "..",
        "a/b",
        "a:b",
        "a b",
        "tab\t",
        "é",
    ] {
        let err = validate_name("port", bad).unwrap_err();
        assert!(matches!(err, SwitchError::InvalidName { .. }), "{bad:?}");
    }
    let msg = validate_name("port", "abcdefghijklmnop")
        .unwrap_err()
        .to_string();
    assert_eq!(
        msg,
        "invalid port name 'abcdefghijklmnop': longer than 15 bytes (IFNAMSIZ)"
    );
}

#[test]
fn bridges_and_ports_persist() {
    let fx = Fixture::new();
    {
        let mut sw = fx.open();
        sw.add_bridge("br0").unwrap();
        sw.add_bridge("br1").unwrap();
        sw.add_port("br0", spec("p1")).unwrap();
        let mut s = spec("p2");
        s.kind = PortKind::Tap;
        s.tag = Some(10);
        sw.add_port("br0", s).unwrap();
        sw.set_ct_limit(Some(3), 50).unwrap();
        sw.set_ct_limit(None, 9).unwrap();
    }
    let sw = fx.open();
    assert_eq!(
        sw.bridges().map(Bridge::name).collect::<Vec<_>>(),
        ["br0", "br1"]
    );
    assert_eq!(names(&sw, "br0"), [("p1".into(), 1), ("p2".into(), 2)]);
    let p2 = sw.bridge("br0").unwrap().port("p2").unwrap();
    assert_eq!((p2.kind, p2.tag), (PortKind::Tap, Some(10)));
    assert_eq!(sw.ct_limits().zones[&3], 50);
    assert_eq!(sw.ct_limits().default_limit, 9);
    assert_eq!(sw.settings().flow_limit, DEFAULT_FLOW_LIMIT);
}

#[test]
fn ofports_fill_the_lowest_gap_and_requests_are_honoured() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    let mut s = spec("p5");
    s.ofport = 5;
    sw.add_port("br0", s).unwrap();
    sw.add_port("br0", spec("a")).unwrap();
    sw.add_port("br0", spec("b")).unwrap();
    sw.del_port("br0", "a").unwrap();
    sw.add_port("br0", spec("c")).unwrap();
    assert_eq!(
        names(&sw, "br0"),
        [("c".into(), 1), ("b".into(), 2), ("p5".into(), 5)]
    );
    let mut dup = spec("d");
    dup.ofport = 5;
    let err = sw.add_port("br0", dup).unwrap_err();
    assert_eq!(
        err.to_string(),
        "OpenFlow port 5 is already used by port p5 on bridge br0"
    );
    let mut big = spec("e");
    big.ofport = 0xff00;
    assert!(matches!(
        sw.add_port("br0", big),
        Err(SwitchError::Invalid(_))
    ));
}

#[test]
fn names_are_unique_across_bridges_and_ports() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    sw.add_bridge("br1").unwrap();
    sw.add_port("br0", spec("p1")).unwrap();
    assert!(matches!(
        sw.add_bridge("br0"),
        Err(SwitchError::BridgeExists(_))
    ));
    assert_eq!(
        sw.add_port("br1", spec("p1")).unwrap_err().to_string(),
        "port p1 (on bridge br0) already exists"
    );
    assert_eq!(
        sw.add_port("br1", spec("br0")).unwrap_err().to_string(),
        "bridge br0 already exists"
    );
    assert!(matches!(
        sw.add_bridge("p1"),
        Err(SwitchError::NameInUse(_))
    ));
}

#[test]
fn failed_requests_change_nothing_in_memory_or_on_disk() {
    let fx = Fixture::new();
    {
        let mut sw = fx.open();
        sw.add_bridge("br0").unwrap();
        sw.add_port("br0", spec("p1")).unwrap();
        assert!(matches!(
            sw.add_port("nobr", spec("x")),
            Err(SwitchError::BridgeNotFound(_))
        ));
        assert!(matches!(
            sw.add_port("br0", spec("waytoolongname16")),
            Err(SwitchError::InvalidName { .. })
        ));
        assert!(matches!(
            sw.del_port("br0", "zz"),
            Err(SwitchError::PortNotFound { .. })
        ));
        let bad = [
            ("tag".to_owned(), "5".to_owned()),
            ("trunks".to_owned(), "9999".to_owned()),
        ];
        assert!(sw.set_port("br0", "p1", &bad).is_err());
        assert_eq!(
            sw.bridge("br0").unwrap().port("p1").unwrap().tag,
            None,
            "first setting not applied"
        );
        let mut patch = spec("pp");
        patch.kind = PortKind::Patch;
        assert_eq!(
            sw.add_port("br0", patch).unwrap_err().to_string(),
            "patch port pp needs option 'peer=PORT'"
        );
        assert!(matches!(
            sw.del_bridge("nobr"),
            Err(SwitchError::BridgeNotFound(_))
        ));
    }
    let sw = fx.open();
    assert_eq!(names(&sw, "br0"), [("p1".into(), 1)]);
    assert_eq!(sw.bridge("br0").unwrap().port("p1").unwrap().tag, None);
}

#[test]
fn set_port_applies_every_key() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", spec("p1")).unwrap();
    let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let r = sw
        .set_port(
            "br0",
            "p1",
            &[
                kv("trunks", "30,10,10"),
                kv("ofport", "7"),
                kv("type", "patch"),
                kv("options:peer", "q1"),
            ],
        )
        .unwrap();
    assert_eq!(
        (r.trunks.as_slice(), r.ofport, r.kind),
        (&[10u16, 30][..], 7, PortKind::Patch)
    );
    assert_eq!(r.options["peer"], "q1");
    assert!(
        sw.bridge("br0").unwrap().port_by_ofport(1).is_none(),
        "old number released"
    );
    let r = sw
        .set_port(
            "br0",
            "p1",
            &[
                kv("trunks", "none"),
                kv("tag", "100"),
                kv("type", "tap"),
                kv("options:peer", ""),
            ],
        )
        .unwrap();
    assert_eq!((r.tag, r.trunks.len(), r.options.len()), (Some(100), 0, 0));
    let err = sw
        .set_port("br0", "p1", &[kv("colour", "red")])
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown port setting 'colour'"),
        "{err}"
    );
    let err = sw.set_port("br0", "p1", &[kv("tag", "x")]).unwrap_err();
    assert_eq!(err.to_string(), "bad value 'x' for 'tag': not a number");
    let err = sw.set_port("br0", "p1", &[kv("trunks", "5")]).unwrap_err();
    assert!(
        err.to_string().contains("cannot also have 'trunks'"),
        "{err}"
    );
}

#[test]
fn del_bridge_frees_its_port_names() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", spec("p1")).unwrap();
    assert_eq!(sw.del_bridge("br0").unwrap(), 1);
    sw.add_bridge("br1").unwrap();
    sw.add_port("br1", spec("p1")).unwrap();
    drop(sw);
    let sw = fx.open();
    assert!(sw.bridge("br0").is_err());
    assert_eq!(names(&sw, "br1"), [("p1".into(), 1)]);
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn dump(sw: &Switch, br: &str) -> Vec<String> {
    sw.dump_flows(br, "", None)
        .unwrap()
        .iter()
        .map(|r| crate::ofctl::format_flow(&r.to_spec(), sw.bridge(br).unwrap().names()))
        .collect()
}

fn flow_fixture() -> (Fixture, Switch) {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", spec("vm1")).unwrap();
    sw.add_port("br0", spec("vm2")).unwrap();
    // A new bridge starts with OVS's single default rule, durably.
    assert_eq!(dump(&sw, "br0"), ["priority=0 actions=NORMAL"]);
    sw.flow_command(
        "br0",
        FlowCommand::Delete {
            filter: "",
            strict: false,
        },
    )
    .unwrap();
    (fx, sw)
}

#[test]
fn flows_persist_as_text_and_reload_with_port_names() {
    let (fx, mut sw) = flow_fixture();
    let c = sw
        .flow_command(
            "br0",
            FlowCommand::Add("priority=5,in_port=vm1,actions=output:vm2"),
        )
        .unwrap();
    assert_eq!(
        c,
        FlowCounts {
            added: 1,
            modified: 0,
            removed: 0
        }
    );
    sw.flow_command(
        "br0",
        FlowCommand::AddMany(&lines(&[
            "# comment",
            "",
            "table=1,cookie=0x7,idle_timeout=60,ip,actions=drop",
        ])),
    )
    .unwrap();
    let before = dump(&sw, "br0");
    assert_eq!(
        before,
        [
            "priority=5,in_port=vm1 actions=output:vm2",
            "cookie=0x7, table=1, idle_timeout=60, ip actions=drop"
        ]
    );
    drop(sw);
    let sw = fx.open();
    assert_eq!(dump(&sw, "br0"), before);
    assert_eq!(sw.bridge("br0").unwrap().flow_count(), 2);
}

#[test]
fn a_bad_line_rejects_the_whole_bundle_and_stores_nothing() {
    let (fx, mut sw) = flow_fixture();
    sw.flow_command("br0", FlowCommand::Add("priority=1,actions=drop"))
        .unwrap();
    let err = sw
        .flow_command(
            "br0",
            FlowCommand::AddMany(&lines(&[
                "tcp,actions=drop",
                "",
                "tcp,tp_dstt=80,actions=drop",
            ])),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "line 3: unknown field 'tp_dstt'");
    let err = sw
        .flow_command(
            "br0",
            FlowCommand::AddMany(&lines(&[
                "table=1,actions=drop",
                "table=2,actions=goto_table:1",
            ])),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("line 2: goto_table:1 must go to a later table"),
        "{err}"
    );
    assert!(matches!(
        sw.flow_command("nobr", FlowCommand::Add("actions=drop")),
        Err(SwitchError::BridgeNotFound(_))
    ));
    assert_eq!(dump(&sw, "br0"), ["priority=1 actions=drop"]);
    drop(sw);
    assert_eq!(dump(&fx.open(), "br0"), ["priority=1 actions=drop"]);
}

#[test]
fn modify_delete_and_replace_are_reflected_on_disk() {
    let (fx, mut sw) = flow_fixture();
    sw.flow_command(
        "br0",
        FlowCommand::AddMany(&lines(&[
            "priority=1,tcp,actions=drop",
            "priority=2,udp,actions=drop",
            "priority=3,actions=normal",
        ])),
    )
    .unwrap();
    let c = sw
        .flow_command(
            "br0",
            FlowCommand::Modify {
                flow: "tcp,actions=output:1",
                strict: false,
            },
        )
        .unwrap();
    assert_eq!(c.modified, 1);
    let c = sw
        .flow_command(
            "br0",
            FlowCommand::Delete {
                filter: "priority=2,udp",
                strict: true,
            },
        )
        .unwrap();
    assert_eq!(c.removed, 1);
    // Re-adding an identical match replaces the rule (one row, not two).
    sw.flow_command("br0", FlowCommand::Add("priority=3,actions=drop"))
        .unwrap();
    let want = [
        "priority=3 actions=drop",
        "priority=1,tcp actions=output:vm1",
    ];
    assert_eq!(dump(&sw, "br0"), want);
    drop(sw);
    let mut sw = fx.open();
    assert_eq!(dump(&sw, "br0"), want);
    let c = sw
        .flow_command(
            "br0",
            FlowCommand::Replace(&lines(&[
                "priority=3,actions=drop",
                "priority=9,arp,actions=flood",
            ])),
        )
        .unwrap();
    assert_eq!((c.added, c.removed), (1, 1), "the identical rule is kept");
    sw.flow_command(
        "br0",
        FlowCommand::Delete {
            filter: "",
            strict: false,
        },
    )
    .unwrap();
    sw.flow_command("br0", FlowCommand::Add("priority=4,actions=drop"))
        .unwrap();
    drop(sw);
    assert_eq!(dump(&fx.open(), "br0"), ["priority=4 actions=drop"]);
}

#[test]
fn hard_timeouts_expire_durably() {
    let (fx, mut sw) = flow_fixture();
    sw.flow_command(
        "br0",
        FlowCommand::AddMany(&lines(&[
            "hard_timeout=1,priority=2,actions=drop",
            "priority=1,actions=drop",
        ])),
    )
    .unwrap();
    assert_eq!(sw.expire_flows(), 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(sw.expire_flows(), 1);
    drop(sw);
    assert_eq!(dump(&fx.open(), "br0"), ["priority=1 actions=drop"]);
}

#[test]
fn trace_runs_the_bridge_tables() {
    let (_fx, mut sw) = flow_fixture();
    sw.flow_command(
        "br0",
        FlowCommand::AddMany(&lines(&[
            "priority=90,tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,actions=set_field:0x1->reg0,goto_table:1",
            "table=1,priority=100,reg0=0x1,tcp,tp_dst=80,actions=mod_nw_tos:32,output:vm2",
        ])),
    )
    .unwrap();
    let packet = "in_port=vm1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,nw_src=10.0.1.1,nw_dst=10.0.0.2,tp_src=1000,tp_dst=80,tcp_flags=syn";
    let report = sw.trace("br0", packet, &[], false).unwrap();
    let text = report.to_text();
    assert!(text.contains("Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80\n"), "{text}");
    assert!(
        text.ends_with("Datapath actions: set(ipv4(tos=0x20/0xfc)),2\n"),
        "{text}"
    );
    assert_eq!(report.passes[0].outputs, [2]);
    assert!(matches!(
        sw.trace("br0", "in_port=vm9", &[], false),
        Err(SwitchError::Invalid(_))
    ));
    assert!(matches!(
        sw.trace("br0", "in_port=1", &["bogus".into()], false),
        Err(SwitchError::Invalid(_))
    ));
    assert!(matches!(
        sw.trace("nobr", "in_port=1", &[], false),
        Err(SwitchError::BridgeNotFound(_))
    ));
}

/// Issue 20: a trace speaks OpenFlow (the bridge's port numbers) everywhere but in the
/// datapath actions, and shows the packet as the actions left it (`Final flow:`).
#[test]
fn trace_uses_openflow_numbers_and_shows_the_final_flow() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    // Another bridge first, so br0's datapath port numbers differ from its OpenFlow ones.
    sw.add_bridge("br1").unwrap();
    sw.add_port("br1", spec("x1")).unwrap();
    sw.add_port("br1", spec("x2")).unwrap();
    sw.add_bridge("br0").unwrap();
    sw.add_port("br0", spec("a1")).unwrap();
    sw.add_port("br0", spec("a2")).unwrap();
    sw.flow_command(
        "br0",
        FlowCommand::AddMany(&lines(&[
            "priority=10,in_port=1,ip,actions=load:0x7->reg0,mod_nw_tos:32,output:2",
            "priority=10,in_port=2,ip,actions=output:1",
        ])),
    )
    .unwrap();
    let dp_a1 = sw.dataplane().dp_port_of("a1").unwrap();
    let dp_a2 = sw.dataplane().dp_port_of("a2").unwrap();
    assert!(dp_a1 != 1 && dp_a2 != 2, "datapath numbers {dp_a1} {dp_a2}");
    let packet = "in_port=a1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2";
    let report = sw.trace("br0", packet, &[], false).unwrap();
    let text = report.to_text();
    assert!(text.starts_with("Flow: ip,in_port=1,"), "{text}");
    assert!(
        text.contains("Megaflow: recirc_id=0,eth,ip,in_port=1,"),
        "{text}"
    );
    assert!(
        text.ends_with(&format!(
            "Datapath actions: set(ipv4(tos=0x20/0xfc)),{dp_a2}\n"
        )),
        "{text}"
    );
    assert_eq!(report.passes[0].outputs, [2]);
    let last = text.lines().rev().nth(2).unwrap();
    assert!(
        last.starts_with("Final flow: ip,reg0=0x7,in_port=1,")
            || (last.starts_with("Final flow: ") && last.contains("reg0=0x7")),
        "{text}"
    );
    assert!(last.contains("nw_tos=32"), "{text}");
    assert!(
        report.to_json().contains("\"final_flow\":"),
        "{}",
        report.to_json()
    );
    // Actions that change nothing: OVS's "unchanged".
    let back = "in_port=a2,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01,ip,nw_src=10.0.0.2,nw_dst=10.0.0.1";
    let text = sw.trace("br0", back, &[], false).unwrap().to_text();
    assert!(text.contains("\nFinal flow: unchanged\n"), "{text}");
    assert!(
        text.ends_with(&format!("Datapath actions: {dp_a1}\n")),
        "{text}"
    );
}

#[test]
fn patch_ports_continue_in_the_peer_bridge() {
    let fx = Fixture::new();
    let mut sw = fx.open();
    sw.add_bridge("br0").unwrap();
    sw.add_bridge("br1").unwrap();
    sw.add_port("br0", spec("a1")).unwrap();
    let patch = |name: &str, peer: &str| PortSpec {
        kind: PortKind::Patch,
        options: BTreeMap::from([("peer".to_owned(), peer.to_owned())]),
        ..spec(name)
    };
    sw.add_port("br0", patch("to1", "to0")).unwrap();
    sw.add_port("br1", patch("to0", "to1")).unwrap();
    sw.add_port("br1", spec("b1")).unwrap();
    sw.flow_command("br0", FlowCommand::Add("in_port=a1,actions=output:to1"))
        .unwrap();
    sw.flow_command("br1", FlowCommand::Add("in_port=to0,actions=output:b1"))
        .unwrap();
    let report = sw.trace("br0", "in_port=a1,ip", &[], false).unwrap();
    assert!(
        report.to_text().contains("Datapath actions: 2"),
        "{}",
        report.to_text()
    );
}

#[test]
fn settings_are_all_or_none_durable_and_in_force() {
    let fx = Fixture::new();
    {
        let mut sw = fx.open();
        assert_eq!(sw.dataplane().datapath().flow_limit(), 200_000);
        let s = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        // The second setting is bad: nothing changes, in memory or on disk.
        let e = sw
            .set_settings(&[s("flow-limit", "500"), s("flow-limit", "0")])
            .unwrap_err();
        assert!(e.to_string().contains("flow-limit='0'"), "{e}");
        assert_eq!(sw.settings().flow_limit, DEFAULT_FLOW_LIMIT);
        assert!(sw.set_settings(&[s("mac-aging", "5")]).is_err());
        sw.set_settings(&[s("flow-limit", "500")]).unwrap();
        assert_eq!(sw.dataplane().datapath().flow_limit(), 500);
    }
    {
        // Reloaded, the stored value is in force before any traffic.
        let mut sw = fx.open();
        assert_eq!(sw.settings().flow_limit, 500);
        assert_eq!(sw.dataplane().datapath().flow_limit(), 500);
        // An empty value removes the stored one.
        sw.set_settings(&[("flow-limit".into(), String::new())])
            .unwrap();
        assert_eq!(sw.dataplane().datapath().flow_limit(), 200_000);
    }
    let sw = fx.open();
    assert_eq!(sw.settings().flow_limit, DEFAULT_FLOW_LIMIT);
    drop(sw);
    let stored = Store::open(&fx.dir.path().join("conf.db")).unwrap();
    assert!(stored.load().unwrap().settings.is_empty());
}

#[test]
fn every_zone_limit_is_applied_as_configured() {
    let fx = Fixture::new();
    let ct = std::sync::Arc::new(fastpath::conntrack::Conntrack::new(
        fastpath::conntrack::ConntrackConfig::default(),
    ));
    let dp = crate::dataplane::Dataplane::new(
        crate::dataplane::DataplaneConfig {
            dummy_devices: true,
            ..Default::default()
        },
        Some(ct.clone()),
    );
    let mut sw = Switch::load(Store::open(&fx.dir.path().join("conf.db")).unwrap(), dp).unwrap();
    sw.set_ct_limit(None, 10).unwrap();
    // u32::MAX once doubled as "unset": zone 7 got the default of 10.
    sw.set_ct_limit(Some(7), u64::from(u32::MAX)).unwrap();
    sw.set_ct_limit(Some(8), 0).unwrap();
    sw.set_ct_limit(Some(9), 1 << 40).unwrap();
    sw.set_ct_limit(Some(10), 3).unwrap();
    let applied = |z: u16| {
        let l = ct.zone_limit(z);
        (l.limit, l.explicit)
    };
    assert_eq!(applied(7), (Some(u32::MAX), true));
    // 0 is unlimited for the zone, not "use the default".
    assert_eq!(applied(8), (Some(u32::MAX), true));
    assert_eq!(applied(9), (Some(u32::MAX), true));
    assert_eq!(applied(10), (Some(3), true));
    assert_eq!(applied(11), (Some(10), false));
    sw.set_ct_limit(None, 0).unwrap();
    assert_eq!(applied(11), (None, false));
    assert_eq!(sw.ct_limits().zones[&7], u64::from(u32::MAX));
}

/// A change large enough to run on a copy of the tables (swapped in under the write lock)
/// leaves memory, disk and the datapath's view exactly as an in-place change would, and the
/// rules a replace keeps keep their identity (and so their counters).
#[test]
fn large_changes_swap_in_a_copy_and_stay_durable() {
    let (fx, mut sw) = flow_fixture();
    let n = COPY_ABOVE_STEPS + 100;
    let big: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "priority=5,ip,nw_src=10.0.{}.{},actions=drop",
                i >> 8,
                i & 0xff
            )
        })
        .collect();
    let c = sw.flow_command("br0", FlowCommand::AddMany(&big)).unwrap();
    assert_eq!(c.added as usize, n);
    let kept = sw.dump_flows("br0", "ip,nw_src=10.0.0.1", None).unwrap();
    assert_eq!(kept.len(), 1);
    // Replace: half of the rules stay, the rest go, as many new ones come.
    let mut next: Vec<String> = big[..n / 2].to_vec();
    next.extend((0..n - n / 2).map(|i| format!("priority=6,udp,tp_dst={i},actions=drop")));
    let c = sw.flow_command("br0", FlowCommand::Replace(&next)).unwrap();
    assert_eq!(c.added as usize, n - n / 2);
    let after = sw.dump_flows("br0", "ip,nw_src=10.0.0.1", None).unwrap();
    assert!(
        Arc::ptr_eq(&kept[0], &after[0]),
        "an unchanged rule is the same rule"
    );
    let live = dump(&sw, "br0");
    assert_eq!(live.len(), n);
    let from_disk = dump(&fx.open_again(sw), "br0");
    assert_eq!(live, from_disk);
}
