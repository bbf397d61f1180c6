use super::*;
use crate::switch::tests::switch;
use crate::switch::{FlowCommand, PortSpec};
use std::collections::BTreeMap;

fn port(name: &str) -> PortSpec {
    PortSpec {
        name: name.into(),
        kind: crate::store::PortKind::Dummy,
        ofport: 0,
        tag: None,
        trunks: vec![],
        options: BTreeMap::new(),
    }
}

fn spec(name: &str, src: &[&str], dst: &[&str], out: &str) -> MirrorSpec {
    MirrorSpec {
        name: name.into(),
        select_src_port: src.iter().map(|s| s.to_string()).collect(),
        select_dst_port: dst.iter().map(|s| s.to_string()).collect(),
        output_port: Some(out.into()),
        ..Default::default()
    }
}

const PKT: &str =
    "in_port=p1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,ip,nw_src=1.1.1.1,nw_dst=2.2.2.2";

fn actions(sw: &Switch) -> String {
    let text = sw.trace("br0", PKT, &[], false).unwrap().to_text();
    text.lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_owned()
}

#[test]
fn mirrors_are_durable_validated_and_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let mut sw = switch(dir.path());
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", port(p)).unwrap();
    }
    sw.flow_command("br0", FlowCommand::Add("actions=output:2"))
        .unwrap();
    assert_eq!(actions(&sw), "2");
    let m = sw.add_mirror("br0", spec("m0", &[], &[], "p3")).unwrap();
    assert!(m.select_all, "no port selector means select_all");
    assert_eq!(actions(&sw), "3,2");
    // Refusals change nothing.
    assert!(matches!(
        sw.add_mirror("br0", spec("m0", &["p1"], &[], "p3")),
        Err(SwitchError::NameInUse(_))
    ));
    assert!(matches!(
        sw.add_mirror("br0", spec("m1", &["p9"], &[], "p3")),
        Err(SwitchError::PortNotFound { .. })
    ));
    assert!(matches!(
        sw.add_mirror("br0", spec("m1", &["p3"], &[], "p3")),
        Err(SwitchError::Invalid(_))
    ));
    let mut both = spec("m1", &["p1"], &[], "p3");
    both.output_vlan = Some(5);
    assert!(matches!(
        sw.add_mirror("br0", both),
        Err(SwitchError::Invalid(_))
    ));
    assert!(matches!(
        sw.del_mirror("br0", "nosuch"),
        Err(SwitchError::MirrorNotFound { .. })
    ));
    // After a restart the mirror is still there and still mirrors.
    drop(sw);
    let mut sw = switch(dir.path());
    assert_eq!(sw.bridge("br0").unwrap().mirrors().len(), 1);
    assert_eq!(actions(&sw), "3,2");
    sw.del_mirror("br0", "m0").unwrap();
    assert_eq!(actions(&sw), "2");
    drop(sw);
    let sw = switch(dir.path());
    assert!(sw.bridge("br0").unwrap().mirrors().is_empty());
    assert_eq!(actions(&sw), "2");
}

#[test]
fn a_deleted_port_silences_its_mirror_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut sw = switch(dir.path());
    sw.add_bridge("br0").unwrap();
    for p in ["p1", "p2", "p3"] {
        sw.add_port("br0", port(p)).unwrap();
    }
    sw.flow_command("br0", FlowCommand::Add("actions=output:2"))
        .unwrap();
    sw.add_mirror("br0", spec("m0", &["p1"], &[], "p3"))
        .unwrap();
    assert_eq!(actions(&sw), "3,2");
    sw.del_port("br0", "p3").unwrap();
    assert_eq!(actions(&sw), "2");
    sw.add_port("br0", port("p3")).unwrap();
    assert_eq!(actions(&sw), "3,2");
    // Deleting the bridge deletes its mirrors.
    sw.del_bridge("br0").unwrap();
    sw.add_bridge("br0").unwrap();
    assert!(sw.bridge("br0").unwrap().mirrors().is_empty());
}
