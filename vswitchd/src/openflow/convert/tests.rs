use super::*;
use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
use ofp::Match10;
use ofp::match10::wc;

fn wire_fm(command: u8, fields: Vec<MatchEntry>, insts: Vec<Instruction>) -> WireFlowMod {
    WireFlowMod {
        cookie: 0x5,
        cookie_mask: 0,
        table_id: 1,
        command,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 100,
        buffer_id: ofp::message::NO_BUFFER,
        out_port: ofpp::ANY,
        out_group: ofp::message::OFPG_ANY,
        flags: 0,
        importance: 0,
        match_: WireMatch::Fields(fields),
        instructions: insts,
    }
}

fn tcp80_oxm() -> Vec<MatchEntry> {
    vec![
        MatchEntry::exact(FieldId::InPort, 1),
        MatchEntry::exact(FieldId::EthType, 0x0800),
        MatchEntry::masked(FieldId::Ipv4Dst, 0x0a00_0000, 0xffff_ff00),
        MatchEntry::exact(FieldId::IpProto, 6),
        MatchEntry::exact(FieldId::TcpDst, 80),
    ]
}

#[test]
fn oxm_flow_mod_equals_the_text_flow() {
    let fm = wire_fm(
        fc::ADD,
        tcp80_oxm(),
        vec![
            Instruction::ApplyActions(vec![
                Action::SetField(MatchEntry::exact(FieldId::Reg(0), 1)),
                Action::Output {
                    port: 2,
                    max_len: 0,
                },
            ]),
            Instruction::GotoTable(3),
        ],
    );
    let got = flow_mod_to_model(&fm).unwrap();
    let want = parse_flow(
        "table=1,priority=100,cookie=0x5,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80,\
         actions=set_field:0x1->reg0,output:2,goto_table:3",
        &NoNames,
        FlowSyntax::Add,
    )
    .unwrap();
    assert_eq!(got.command, FlowModCommand::Add);
    assert_eq!(got.spec, want);
}

#[test]
fn nxm_and_of10_matches_mean_the_same() {
    let oxm = match_to_model(&WireMatch::Fields(tcp80_oxm())).unwrap();
    let nxm = match_to_model(&WireMatch::Fields(vec![
        MatchEntry::exact(FieldId::NxmInPort, 1),
        MatchEntry::exact(FieldId::NxmEthType, 0x0800),
        MatchEntry::masked(FieldId::NxmIpDst, 0x0a00_0000, 0xffff_ff00),
        MatchEntry::exact(FieldId::NxmIpProto, 6),
        MatchEntry::exact(FieldId::NxmTcpDst, 80),
    ]))
    .unwrap();
    let m10 = Match10 {
        wildcards: wc::ALL
            & !(wc::IN_PORT | wc::DL_TYPE | wc::NW_PROTO | wc::TP_DST)
            & !(0x3f << wc::NW_DST_SHIFT)
            | (8 << wc::NW_DST_SHIFT),
        in_port: 1,
        dl_type: 0x0800,
        nw_proto: 6,
        nw_dst: 0x0a00_0000,
        tp_dst: 80,
        ..Match10::default()
    };
    let of10 = match_to_model(&WireMatch::Of10(m10)).unwrap();
    assert_eq!(oxm, nxm);
    assert_eq!(oxm, of10);
}

#[test]
fn vlan_and_xreg_fields_land_where_ovs_puts_them() {
    let m = match_to_model(&WireMatch::Fields(vec![
        MatchEntry::exact(FieldId::VlanVid, 0x1000 | 100),
        MatchEntry::masked(FieldId::Xreg(7), 3 << 32, 0xffff_ffff << 32),
    ]))
    .unwrap();
    assert_eq!(m.field(Field::VlanTci), (0x1000 | 100, 0x1fff));
    assert_eq!(m.field(Field::Reg(14)), (3, 0xffff_ffff));
    assert_eq!(m.field(Field::Reg(15)), (0, 0));
}

#[test]
fn ct_nat_converts_like_its_text() {
    let ct = Action::Nx(NxAction::Ct(ofp::action::Ct {
        flags: 1,
        zone: CtZoneSrc::Imm(5),
        recirc_table: 2,
        alg: 0,
        actions: vec![Action::Nx(NxAction::Nat(ofp::action::Nat {
            flags: 1,
            ipv4: Some((0x0a00_0001, Some(0x0a00_0009))),
            ipv6: None,
            proto: Some((100, Some(200))),
        }))],
    }));
    let mut fields = tcp80_oxm();
    fields.truncate(2);
    let fm = wire_fm(fc::ADD, fields, vec![Instruction::ApplyActions(vec![ct])]);
    let got = flow_mod_to_model(&fm).unwrap();
    let want = parse_flow(
        "table=1,priority=100,cookie=0x5,ip,in_port=1,\
         actions=ct(commit,zone=5,table=2,nat(src=10.0.0.1-10.0.0.9:100-200))",
        &NoNames,
        FlowSyntax::Add,
    )
    .unwrap();
    assert_eq!(got.spec, want);
}

#[test]
fn refusals_carry_ovs_errors() {
    // tcp_dst without ip_proto=6: a prerequisite.
    let fm = wire_fm(
        fc::ADD,
        vec![MatchEntry::exact(FieldId::TcpDst, 80)],
        Vec::new(),
    );
    assert_eq!(
        flow_mod_to_model(&fm).unwrap_err().code(),
        ErrorCode::BadMatchPrereq
    );
    let fm = wire_fm(
        fc::ADD,
        vec![MatchEntry::exact(FieldId::MplsLabel, 1)],
        Vec::new(),
    );
    assert_eq!(
        flow_mod_to_model(&fm).unwrap_err().code(),
        ErrorCode::BadMatchField
    );
    // A meter instruction (1.3) and a meter action (1.5) are both the model's first action.
    for insts in [
        vec![Instruction::ApplyActions(vec![Action::Meter(1)])],
        vec![
            Instruction::ApplyActions(vec![Action::Output {
                port: 2,
                max_len: 0,
            }]),
            Instruction::Meter(1),
        ],
    ] {
        let fm = wire_fm(fc::ADD, Vec::new(), insts);
        let m = flow_mod_to_model(&fm).unwrap();
        assert_eq!(m.spec.actions[0], OfAction::Meter(1));
    }
    let fm = wire_fm(fc::ADD, Vec::new(), vec![Instruction::ClearActions]);
    assert_eq!(
        flow_mod_to_model(&fm).unwrap_err().code(),
        ErrorCode::BadInstructionUnsupported
    );
    let fm = wire_fm(9, Vec::new(), Vec::new());
    assert_eq!(
        flow_mod_to_model(&fm).unwrap_err().code(),
        ErrorCode::FlowModBadCommand
    );
}

#[test]
fn delete_keeps_out_port_and_cookie_mask() {
    let mut fm = wire_fm(fc::DELETE_STRICT, tcp80_oxm(), Vec::new());
    fm.out_port = 2;
    fm.cookie_mask = u64::MAX;
    fm.table_id = TABLE_ALL;
    let got = flow_mod_to_model(&fm).unwrap();
    assert_eq!(got.command, FlowModCommand::Delete { strict: true });
    assert_eq!(got.spec.out_port, Some(2));
    assert_eq!((got.spec.cookie, got.spec.cookie_mask), (5, u64::MAX));
    assert!(got.table_any);
    assert!(got.spec.actions.is_empty());
}

#[test]
fn empty_instructions_are_drop() {
    let fm = wire_fm(fc::ADD, Vec::new(), Vec::new());
    assert_eq!(
        flow_mod_to_model(&fm).unwrap().spec.actions,
        vec![OfAction::Drop]
    );
}

/// OVN moves bits into `xxreg0` (`move:NXM_NX_REG10[12]->NXM_NX_XXREG0[111]`) and out of it
/// into `ct_label`: the wire's extended-register subfields land on the registers the text
/// syntax puts them in, cut at register boundaries.
#[test]
fn extended_register_moves_and_loads_convert_like_their_text() {
    let mv = |src, src_ofs, dst, dst_ofs, n_bits| {
        Action::Nx(NxAction::RegMove {
            n_bits,
            src_ofs,
            dst_ofs,
            src,
            dst,
        })
    };
    let fm = wire_fm(
        fc::ADD,
        Vec::new(),
        vec![Instruction::ApplyActions(vec![
            mv(FieldId::Reg(10), 12, FieldId::Xxreg(0), 111, 1),
            mv(FieldId::Xxreg(1), 16, FieldId::Xreg(3), 8, 40),
            Action::Nx(NxAction::RegLoad {
                dst: ofp::action::SubField {
                    field: FieldId::Xreg(0),
                    ofs: 16,
                    n_bits: 32,
                },
                value: 0x1234_5678,
            }),
        ])],
    );
    let got = flow_mod_to_model(&fm).unwrap();
    let want = parse_flow(
        "table=1,priority=100,cookie=0x5,\
         actions=move:NXM_NX_REG10[12]->NXM_NX_XXREG0[111],\
         move:NXM_NX_XXREG1[16..55]->xreg3[8..47],load:0x12345678->xreg0[16..47]",
        &NoNames,
        FlowSyntax::Add,
    )
    .unwrap();
    assert_eq!(got.spec, want);
    // Bit 111 of xxreg0 is bit 15 of reg0.
    assert_eq!(
        got.spec.actions[0],
        OfAction::Move {
            src: SubField {
                field: Field::Reg(10),
                start: 12,
                end: 12
            },
            dst: SubField {
                field: Field::Reg(0),
                start: 15,
                end: 15
            },
        }
    );
    // Past the register's end: refused as OVS refuses it.
    let fm = wire_fm(
        fc::ADD,
        Vec::new(),
        vec![Instruction::ApplyActions(vec![mv(
            FieldId::Reg(0),
            0,
            FieldId::Xreg(0),
            60,
            8,
        )])],
    );
    assert!(flow_mod_to_model(&fm).is_err());
}
