//! Decoding what the real `ovs-ofctl` 3.1 sends.
//!
//! Each case runs `ovs-ofctl -O VERSION COMMAND unix:SOCK ...` against the harness's socket and
//! requires that every message decodes, that re-encoding it gives back the very same bytes
//! (so nothing was dropped or invented), and that the flow-mods carry what the command said.

mod common;

use common::{capture, have_ovs_ofctl};
use ofp::action::{Action, CtZoneSrc, NxAction};
use ofp::field::{FieldId, MatchEntry};
use ofp::message::{FlowMod, Match, fc};
use ofp::{Instruction, Message, Version};

/// Every captured message decodes and re-encodes to identical bytes.
fn assert_round_trips(c: &common::Capture) -> Vec<Message> {
    assert!(
        c.status.success(),
        "ovs-ofctl failed: {} {}",
        c.stdout,
        c.stderr
    );
    let mut out = Vec::new();
    for (rx, (h, m)) in c.messages.iter().zip(c.decoded()) {
        if let Message::Hello { .. } = m {
            continue;
        }
        let v = Version::from_wire(h.version).expect("known version");
        let again = ofp::encode(&m, v, h.xid).unwrap_or_else(|e| panic!("re-encode {m:?}: {e}"));
        assert_eq!(again, rx.bytes, "re-encoding {m:?} differs");
        out.push(m);
    }
    out
}

fn flow_mods(msgs: &[Message]) -> Vec<FlowMod> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::FlowMod(f) | Message::NxFlowMod(f) => Some(f.clone()),
            Message::BundleAdd(b) => match &*b.message {
                Message::FlowMod(f) | Message::NxFlowMod(f) => Some(f.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn fields(f: &FlowMod) -> &[MatchEntry] {
    match &f.match_ {
        Match::Fields(e) => e,
        Match::Of10(_) => panic!("expected OXM/NXM fields"),
    }
}

const OVN_LIKE: &str = "table=1,priority=100,ct_state=+trk+est,reg14=0x3,tcp,nw_src=10.0.0.0/24,\
tp_dst=80,actions=set_field:0x1->reg0,load:0x5->NXM_NX_REG1[0..15],\
move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],ct(commit,zone=NXM_NX_REG13[0..15],table=2,\
exec(set_field:0x1/0x1->ct_mark),nat(src=10.0.0.1-10.0.0.9:100-200)),resubmit(,3),\
controller(userdata=00.01.02,pause),note:ab.cd,output:2";

#[test]
fn add_flow_in_every_version() {
    if !have_ovs_ofctl() {
        return;
    }
    for proto in ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let c = capture(&["-O", proto, "add-flow", "SOCK", OVN_LIKE]);
        let msgs = assert_round_trips(&c);
        let fms = flow_mods(&msgs);
        assert_eq!(fms.len(), 1, "{proto}: {msgs:?}");
        let f = &fms[0];
        assert_eq!(
            (f.command, f.table_id, f.priority),
            (fc::ADD, 1, 100),
            "{proto}"
        );
        let fs = fields(f);
        assert!(
            fs.contains(&MatchEntry::masked(FieldId::CtState, 0x22, 0x22)),
            "{proto}: {fs:?}"
        );
        // OpenFlow 1.5 has no NXM registers in OVS's encoding: reg14 is xreg7's upper half.
        assert!(
            fs.contains(&MatchEntry::exact(FieldId::Reg(14), 3))
                || fs.contains(&MatchEntry::masked(
                    FieldId::Xreg(7),
                    3 << 32,
                    0xffff_ffff << 32
                )),
            "{proto}: {fs:?}"
        );
        let [Instruction::ApplyActions(acts)] = f.instructions.as_slice() else {
            panic!("{proto}: {:?}", f.instructions)
        };
        let ct = acts
            .iter()
            .find_map(|a| match a {
                Action::Nx(NxAction::Ct(ct)) => Some(ct),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{proto}: no ct in {acts:?}"));
        assert_eq!(ct.flags & 1, 1, "commit");
        assert_eq!(ct.recirc_table, 2);
        assert!(matches!(ct.zone, CtZoneSrc::Field(sf) if sf.field == FieldId::Reg(13)));
        assert!(
            ct.actions
                .iter()
                .any(|a| matches!(a, Action::Nx(NxAction::Nat(n)) if n.ipv4 == Some((0x0a00_0001, Some(0x0a00_0009))) && n.proto == Some((100, Some(200))))),
            "{proto}: {:?}",
            ct.actions
        );
        assert!(acts.contains(&Action::Output {
            port: 2,
            max_len: 0
        }));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Nx(NxAction::Controller2(c2)) if c2.pause && c2.userdata.as_deref() == Some(&[0, 1, 2][..])
        )));
    }
}

#[test]
fn flow_commands_and_bundles() {
    if !have_ovs_ofctl() {
        return;
    }
    let cases: &[(&str, &[&str], u8)] = &[
        (
            "OpenFlow13",
            &[
                "del-flows",
                "SOCK",
                "--strict",
                "priority=5,ip,nw_dst=10.0.0.1",
            ],
            fc::DELETE_STRICT,
        ),
        (
            "OpenFlow13",
            &["del-flows", "SOCK", "cookie=0x5/-1"],
            fc::DELETE,
        ),
        (
            "OpenFlow13",
            &["mod-flows", "SOCK", "in_port=1,actions=drop"],
            fc::MODIFY,
        ),
        (
            "OpenFlow10",
            &[
                "mod-flows",
                "SOCK",
                "--strict",
                "in_port=1,actions=output:3",
            ],
            fc::MODIFY_STRICT,
        ),
        (
            "OpenFlow15",
            &[
                "--bundle",
                "add-flow",
                "SOCK",
                "ipv6,ipv6_src=fe80::/64,actions=dec_ttl,push_vlan:0x8100,set_field:4196->vlan_vid,output:1",
            ],
            fc::ADD,
        ),
        (
            "OpenFlow13",
            &[
                "--bundle",
                "add-flow",
                "SOCK",
                "arp,arp_tpa=10.0.0.1,actions=meter:2,move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],clone(ct_clear,resubmit(,5)),group:4,goto_table:7",
            ],
            fc::ADD,
        ),
        (
            "OpenFlow14",
            &[
                "add-flow",
                "SOCK",
                "idle_timeout=10,hard_timeout=20,importance=3,send_flow_rem,check_overlap,udp,tp_src=0x10/0xfff0,actions=learn(table=10,idle_timeout=30,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15],output:NXM_OF_IN_PORT[]),multipath(eth_src,50,hrw,12,0,NXM_NX_REG0[0..3]),bundle(eth_src,0,active_backup,ofport,members:1,2),exit",
            ],
            fc::ADD,
        ),
        (
            "OpenFlow13",
            &[
                "add-flow",
                "SOCK",
                "tcp,tcp_flags=+syn-ack,actions=push:NXM_NX_REG0[],pop:NXM_NX_REG1[],fin_timeout(idle_timeout=5),sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3),set_queue:3,output:NXM_NX_REG0[0..15],check_pkt_larger(1500)->NXM_NX_REG0[0],dec_ttl(1,2),enqueue:1:2,mod_nw_tos:32,mod_dl_src:00:00:00:00:00:01,mod_tp_dst:80,clear_actions,write_actions(output:3),write_metadata:0x1/0xff",
            ],
            fc::ADD,
        ),
    ];
    for (proto, args, command) in cases {
        let mut full = vec!["-O", proto];
        full.extend_from_slice(args);
        let c = capture(&full);
        let msgs = assert_round_trips(&c);
        let fms = flow_mods(&msgs);
        assert_eq!(fms.len(), 1, "{full:?}: {msgs:?}");
        assert_eq!(fms[0].command, *command, "{full:?}");
        if full.contains(&"--bundle") {
            assert!(
                msgs.iter().any(|m| matches!(m, Message::BundleAdd(_))),
                "{full:?}: {msgs:?}"
            );
        }
    }
}

#[test]
fn dumps_and_packet_out() {
    if !have_ovs_ofctl() {
        return;
    }
    for proto in ["OpenFlow10", "OpenFlow13", "OpenFlow15"] {
        for cmd in [
            &["dump-flows", "SOCK", "table=3,ip"][..],
            &["dump-ports", "SOCK"],
            &["dump-ports-desc", "SOCK"],
            &["dump-tables", "SOCK"],
            &["show", "SOCK"],
            &[
                "packet-out",
                "SOCK",
                "in_port=controller,packet=000000000002000000000001080045000014000000004000400000000a0000010a000002,actions=output:1",
            ],
        ] {
            let mut full = vec!["-O", proto];
            full.extend_from_slice(cmd);
            let c = capture(&full);
            let msgs = assert_round_trips(&c);
            assert!(!msgs.is_empty(), "{full:?}");
        }
    }
}
