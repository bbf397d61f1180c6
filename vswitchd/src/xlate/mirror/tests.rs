use super::*;
use crate::mac_learning::MacTable;
use crate::normal::NormalPort;
use crate::ofctl::{FlowSyntax, NoNames, parse_flow, parse_packet};
use crate::ofproto::{FlowMod, FlowTables};
use crate::xlate::{
    Credit, LearningSwitch, PortKind, PortMap, RecircTable, XBridge, XPort, XlateCtx, translate,
};
use fastpath::action::format_actions;
use fastpath::flow::FlowKey;

fn tables(flows: &str) -> FlowTables {
    let mods: Vec<FlowMod> = flows
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
        .collect();
    let mut t = FlowTables::new();
    t.apply(&mods, 0).unwrap();
    t
}

/// Ports p1..pN (OpenFlow i = datapath i) with VLAN modes `modes`, and `mirrors`.
fn ports(modes: &[VlanMode], mirrors: &[MirrorConfig]) -> PortMap {
    let mut m = PortMap::new();
    for i in 1..=modes.len() as u32 {
        m.insert(XPort {
            ofport: i,
            name: format!("p{i}"),
            kind: PortKind::Datapath(i),
        });
    }
    let names: Vec<String> = (1..=modes.len()).map(|i| format!("p{i}")).collect();
    let set = MirrorSet::build(
        mirrors,
        modes
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 + 1, names[i].as_str(), v.clone())),
        &MirrorSet::default(),
    );
    m.set_mirrors(Arc::new(set));
    m
}

fn mirror(name: &str, src: &[&str], dst: &[&str], out: MirrorOutput) -> MirrorConfig {
    MirrorConfig {
        name: name.into(),
        select_all: src.is_empty() && dst.is_empty(),
        select_src_port: src.iter().map(|s| s.to_string()).collect(),
        select_dst_port: dst.iter().map(|s| s.to_string()).collect(),
        select_vlan: Vec::new(),
        output: out,
    }
}

fn to(p: &str) -> MirrorOutput {
    MirrorOutput::Port(p.into())
}

fn run(flows: &str, ports: &PortMap, packet: &str) -> String {
    run_with(flows, ports, packet, None)
}

fn run_with(
    flows: &str,
    ports: &PortMap,
    packet: &str,
    normal: Option<&dyn crate::xlate::NormalHandler>,
) -> String {
    let t = tables(flows);
    let recirc = RecircTable::new();
    let ctx = XlateCtx {
        bridge: XBridge {
            name: "br0",
            tables: &t,
            ports,
            normal,
        },
        peers: None,
        recirc: &recirc,
        credit: None,
        may_learn: false,
        now_ms: 1,
        learn: None,
    };
    let key: FlowKey = parse_packet(packet, &NoNames).unwrap();
    format_actions(&translate(&ctx, &key, None).unwrap().actions)
}

const TCP: &str = "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,tp_dst=80";

#[test]
fn select_all_copies_once_as_the_packet_arrived() {
    let p = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[mirror("m", &[], &[], to("p3"))],
    );
    // Ingress copy first; the egress selection of port 2 is the same output: no second copy.
    assert_eq!(run("actions=output:2", &p, TCP), "3,2");
    // Not mirrored back to the input port, nor output there.
    let from3 = TCP.replace("in_port=1", "in_port=3");
    assert_eq!(run("actions=output:2", &p, &from3), "drop");
}

#[test]
fn source_copy_is_the_packet_as_it_arrived_destination_copy_as_it_leaves() {
    let flows = "ip,actions=mod_nw_tos:32,output:2";
    let src = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[mirror("m", &["p1"], &[], to("p3"))],
    );
    assert_eq!(run(flows, &src, TCP), "3,set(ipv4(tos=0x20/0xfc)),2");
    let dst = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[mirror("m", &[], &["p2"], to("p3"))],
    );
    assert_eq!(run(flows, &dst, TCP), "set(ipv4(tos=0x20/0xfc)),2,3");
    // A destination selection ignores packets leaving elsewhere; a source one packets
    // entering elsewhere.
    assert_eq!(run("actions=output:4", &dst, TCP), "drop");
    let from2 = TCP.replace("in_port=1", "in_port=2");
    assert_eq!(run("actions=output:1", &src, &from2), "1");
}

#[test]
fn a_changed_packet_is_mirrored_again_an_unchanged_one_is_not() {
    let p = ports(
        &[const { VlanMode::TrunkAll }; 4],
        &[mirror("m", &[], &["p2", "p4"], to("p3"))],
    );
    assert_eq!(run("actions=output:2,output:4", &p, TCP), "2,3,4");
    assert_eq!(
        run("ip,actions=output:2,mod_nw_tos:32,output:4", &p, TCP),
        "2,3,set(ipv4(tos=0x20/0xfc)),4,3"
    );
    // mod_dl_src keeps OVS's mask (its SET_ETH_SRC does not reset the mirrors).
    assert_eq!(
        run(
            "actions=output:2,mod_dl_src:00:00:00:00:00:09,output:4",
            &p,
            TCP
        ),
        "2,3,set(eth(src=00:00:00:00:00:09)),4"
    );
}

#[test]
fn mirrors_with_the_same_output_share_one_copy() {
    let p = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[
            mirror("a", &["p1"], &[], to("p3")),
            mirror("b", &[], &["p2"], to("p3")),
        ],
    );
    assert_eq!(run("actions=output:2", &p, TCP), "3,2");
}

#[test]
fn vlan_selection_uses_the_packets_vlan_on_the_port() {
    let mut m = mirror("m", &["p1", "p2"], &[], to("p3"));
    m.select_vlan = vec![10];
    // p1 is an access port of VLAN 10, p2 of VLAN 20; p3 a trunk.
    let p = ports(
        &[
            VlanMode::Access(10),
            VlanMode::Access(20),
            VlanMode::TrunkAll,
        ],
        &[m],
    );
    // The copy leaves the trunk tagged with the VLAN; the flow goes on untagged.
    assert_eq!(
        run("actions=output:4", &p, TCP),
        "push_vlan(vid=10,pcp=0),3"
    );
    let from2 = TCP.replace("in_port=1", "in_port=2");
    assert_eq!(run("actions=output:1", &p, &from2), "1");
}

#[test]
fn output_vlan_floods_the_copy_in_that_vlan() {
    let m = mirror("m", &["p1"], &[], MirrorOutput::Vlan(99));
    let p = ports(
        &[
            VlanMode::TrunkAll,
            VlanMode::Access(99),
            VlanMode::Trunk(vec![99]),
            VlanMode::Trunk(vec![5]),
        ],
        &[m],
    );
    assert_eq!(run("actions=drop", &p, TCP), "2,push_vlan(vid=99,pcp=0),3");
    // A reserved destination is not flooded.
    let stp = TCP.replace("dl_dst=00:00:00:00:00:02", "dl_dst=01:80:c2:00:00:00");
    assert_eq!(run("actions=drop", &p, &stp), "drop");
}

#[test]
fn the_output_port_is_reserved_for_mirroring() {
    let p = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[mirror("m", &["p2"], &[], to("p3"))],
    );
    let sw = LearningSwitch::new(
        (1..=3)
            .map(|i| NormalPort {
                ofport: i,
                vlan: VlanMode::TrunkAll,
            })
            .collect(),
        MacTable::default(),
    );
    // normal floods to every port but the mirror output.
    assert_eq!(run_with("actions=normal", &p, TCP, Some(&sw)), "2");
    // What arrives on the mirror output is dropped before any table runs.
    let from3 = TCP.replace("in_port=1", "in_port=3");
    assert_eq!(run_with("actions=output:1", &p, &from3, Some(&sw)), "drop");
    // An explicit output to it still happens (as in OVS).
    assert_eq!(run("actions=output:3", &p, TCP), "3");
}

#[test]
fn a_missing_output_port_disables_the_mirror_and_counters_follow_credits() {
    let p = ports(
        &[const { VlanMode::TrunkAll }; 2],
        &[mirror("m", &[], &[], to("p9"))],
    );
    assert_eq!(run("actions=output:2", &p, TCP), "2");
    let p = ports(
        &[const { VlanMode::TrunkAll }; 3],
        &[mirror("m", &[], &[], to("p3"))],
    );
    let t = tables("actions=output:2");
    let recirc = RecircTable::new();
    let ctx = XlateCtx {
        bridge: XBridge {
            name: "br0",
            tables: &t,
            ports: &p,
            normal: None,
        },
        peers: None,
        recirc: &recirc,
        credit: Some(Credit {
            packets: 4,
            bytes: 400,
        }),
        may_learn: false,
        now_ms: 1,
        learn: None,
    };
    translate(&ctx, &parse_packet(TCP, &NoNames).unwrap(), None).unwrap();
    let (_, stats) = p.mirrors().iter().next().unwrap();
    assert_eq!((stats.packets(), stats.bytes()), (4, 400));
    // A rebuilt set keeps the counters of a mirror of the same name.
    let again = MirrorSet::build(
        &[mirror("m", &[], &[], to("p3"))],
        [(3, "p3", VlanMode::TrunkAll)],
        p.mirrors(),
    );
    assert_eq!(again.iter().next().unwrap().1.packets(), 4);
}
