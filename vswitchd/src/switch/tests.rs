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
        Switch::load(Store::open(&self.dir.path().join("conf.db")).unwrap()).unwrap()
    }
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
