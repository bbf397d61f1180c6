//! From the rule model back to the wire: the match and instructions of a rule, for flow-stats
//! replies (`dump-flows`) and flow-removed messages.
//!
//! The model stores some fields in shared slots (`nw_src` is also `arp_spa`, `tp_src` is also
//! `icmp_type`, the TOS byte holds DSCP and ECN); each slot is emitted once, under the wire
//! field its packet type calls for (an ARP rule's `nw_src` becomes `arp_spa`, an ICMPv6 rule's
//! `tp_src` becomes `icmpv6_type`). OXM fields are used where OpenFlow defines them and NXM
//! headers elsewhere (registers, conntrack fields, the VLAN TCI), which OVS accepts in every
//! version. Actions use the standard form where one exists (`set_field`, `output`), the
//! Nicira form otherwise (`resubmit`, `ct`, `move`, `load`).
//!
//! Invariant (tested): converting the result back with [`super::convert`] gives the same rule.

use super::OpenFlowError;
use crate::ofproto::action::{CtZone, OfController, OfCt, SubField};
use crate::ofproto::{Match, OfAction, ofpp};
use fastpath::flow::Field;
use ofp::action::{Action, Controller2, Ct, CtZoneSrc, Nat, NxAction, SubField as WireSub};
use ofp::field::{FieldId, MatchEntry};
use ofp::{ErrorCode, Instruction, Version};
use std::net::IpAddr;

/// The wire field that carries a model field in a rule matching `dl_type`/`nw_proto`.
fn wire_field(f: Field, dl_type: Option<u16>, nw_proto: Option<u8>) -> Option<FieldId> {
    use FieldId as W;
    let arp = dl_type == Some(0x0806);
    let v6 = dl_type == Some(0x86dd);
    Some(match f {
        Field::InPort => W::InPort,
        Field::Metadata => W::Metadata,
        Field::Reg(n) => W::Reg(n),
        Field::CtState => W::CtState,
        Field::CtZone => W::CtZone,
        Field::CtMark => W::CtMark,
        Field::CtLabel => W::CtLabel,
        Field::ConjId => W::ConjId,
        Field::TunId => W::TunnelId,
        Field::TunSrc => W::TunIpv4Src,
        Field::TunDst => W::TunIpv4Dst,
        Field::TunIpv6Src => W::TunIpv6Src,
        Field::TunIpv6Dst => W::TunIpv6Dst,
        // The header's length is the option's; a slot holds at most 8 bytes, right-aligned.
        Field::TunMetadata(n) => W::TunMetadata(n, 8),
        Field::DlSrc => W::EthSrc,
        Field::DlDst => W::EthDst,
        Field::DlType => W::EthType,
        Field::VlanTci => W::VlanTci,
        Field::NwSrc if arp => W::ArpSpa,
        Field::NwDst if arp => W::ArpTpa,
        Field::NwSrc => W::Ipv4Src,
        Field::NwDst => W::Ipv4Dst,
        Field::NwProto if arp => W::ArpOp,
        Field::NwProto => W::IpProto,
        Field::Ipv6Src => W::Ipv6Src,
        Field::Ipv6Dst => W::Ipv6Dst,
        Field::Ipv6Label => W::Ipv6Flabel,
        Field::NwTtl => W::IpTtl,
        Field::IpDscp => W::IpDscp,
        Field::NwEcn => W::IpEcn,
        Field::NwTos => W::IpTos,
        Field::NwFrag => W::IpFrag,
        Field::TcpFlags => W::NxmTcpFlags,
        Field::ArpSha if arp => W::ArpSha,
        Field::ArpTha if arp => W::ArpTha,
        Field::ArpSha => W::NdSll,
        Field::ArpTha => W::NdTll,
        Field::NdTarget => W::NdTarget,
        Field::TpSrc | Field::TpDst => {
            let src = f == Field::TpSrc;
            match (nw_proto, v6) {
                (Some(6), _) => pick(src, W::TcpSrc, W::TcpDst),
                (Some(17), _) => pick(src, W::UdpSrc, W::UdpDst),
                (Some(132), _) => pick(src, W::SctpSrc, W::SctpDst),
                (Some(1), false) => pick(src, W::Icmpv4Type, W::Icmpv4Code),
                (Some(58), true) => pick(src, W::Icmpv6Type, W::Icmpv6Code),
                _ => return None,
            }
        }
        _ => return None,
    })
}

fn pick(src: bool, a: FieldId, b: FieldId) -> FieldId {
    if src { a } else { b }
}

/// Storage slots, each once (the model's aliases are left out).
const SLOTS: [Field; 38] = {
    use Field::*;
    [
        InPort,
        TunId,
        TunSrc,
        TunDst,
        TunIpv6Src,
        TunIpv6Dst,
        Metadata,
        CtState,
        CtZone,
        CtMark,
        CtLabel,
        DlSrc,
        DlDst,
        DlType,
        VlanTci,
        NwSrc,
        NwDst,
        NwProto,
        Ipv6Src,
        Ipv6Dst,
        Ipv6Label,
        NwTos,
        NwTtl,
        NwFrag,
        TpSrc,
        TpDst,
        TcpFlags,
        ArpSha,
        ArpTha,
        NdTarget,
        Reg(0),
        Reg(1),
        Reg(2),
        Reg(3),
        Reg(4),
        Reg(5),
        Reg(6),
        Reg(7),
    ]
};

fn exact(m: &Match, f: Field) -> Option<u128> {
    let (v, mask) = m.field(f);
    (mask == f.max_value()).then_some(v)
}

/// A model match as wire fields (OXM/NXM).
pub fn match_to_wire(m: &Match) -> Result<Vec<MatchEntry>, OpenFlowError> {
    let dl_type = exact(m, Field::DlType).map(|v| v as u16);
    let nw_proto = exact(m, Field::NwProto).map(|v| v as u8);
    let mut out = Vec::new();
    let slots = SLOTS
        .iter()
        .copied()
        .chain((8..16).map(Field::Reg))
        .chain([Field::ConjId]);
    for f in slots {
        let (value, mask) = m.field(f);
        if mask == 0 {
            continue;
        }
        if f == Field::NwTos {
            // DSCP and ECN are separate OXM fields.
            if mask & 0xfc != 0 {
                out.push(MatchEntry::exact(FieldId::IpDscp, (value & 0xfc) >> 2));
            }
            if mask & 0x03 != 0 {
                out.push(MatchEntry::exact(FieldId::IpEcn, value & 0x03));
            }
            continue;
        }
        let w = wire_field(f, dl_type, nw_proto)
            .ok_or(OpenFlowError::Refused(ErrorCode::BadMatchField))?;
        let full = ofp::field::width_mask(w.def().width);
        let entry = if mask == f.max_value() || !w.def().maskable {
            MatchEntry::exact(w, value)
        } else {
            MatchEntry::masked(w, value, mask & full)
        };
        out.push(entry);
    }
    // Geneve options, each present field once.
    for n in
        (0..fastpath::flow::tlv::MAX_FIELDS as u8).filter(|n| m.mask.tun_md_present & (1 << n) != 0)
    {
        let f = Field::TunMetadata(n);
        let (value, mask) = m.field(f);
        out.push(if mask == f.max_value() {
            MatchEntry::exact(FieldId::TunMetadata(n, tun_metadata_len(value)), value)
        } else {
            let w = FieldId::TunMetadata(n, tun_metadata_len(value | mask));
            MatchEntry::masked(w, value, mask)
        });
    }
    Ok(out)
}

/// The shortest option length (4 or 8 bytes, as the TLV map allows) whose field holds
/// `bits`: OVN's options are 4 bytes and OVS sends them so.
fn tun_metadata_len(bits: u128) -> u8 {
    if bits >> 32 == 0 { 4 } else { 8 }
}

/// A push/pop subfield: the wire's `SubField` names its bits as `reg_move` does.
fn stack_sub(sf: &SubField) -> Result<ofp::action::SubField, OpenFlowError> {
    let w = wire_sub(sf)?;
    Ok(ofp::action::SubField {
        field: w.field,
        ofs: w.ofs,
        n_bits: w.n_bits,
    })
}

fn wire_sub(sf: &SubField) -> Result<WireSub, OpenFlowError> {
    let field = wire_field(sf.field, None, Some(6))
        .ok_or(OpenFlowError::Refused(ErrorCode::BadActionSetType))?;
    Ok(WireSub {
        field,
        ofs: sf.start as u16,
        n_bits: (sf.end - sf.start + 1) as u16,
    })
}

/// How a register write goes on the wire, as OVS encodes it: OpenFlow 1.5 has only
/// set-field (masked where needed); 1.2-1.4 use set-field for a whole field that came in as
/// set-field and `reg_load` otherwise (OVS sends an action back the way it came in); 1.0
/// uses its own set actions where they exist and `reg_load` for the rest. `reg_load2` carries
/// what `reg_load` cannot (a non-contiguous mask, a value over 64 bits).
fn write_field(
    f: Field,
    value: u128,
    mask: u128,
    came_as_load: bool,
    v: Version,
) -> Result<Action, OpenFlowError> {
    let w =
        wire_field(f, None, Some(6)).ok_or(OpenFlowError::Refused(ErrorCode::BadActionSetType))?;
    let full = mask == f.max_value() || (f == Field::NwTos && mask == 0xfc);
    let entry = if full {
        MatchEntry::exact(w, value)
    } else {
        MatchEntry::masked(w, value, mask)
    };
    if f == Field::NwTos && full && v > Version::Of10 {
        // `mod_nw_tos` is a DSCP write from OpenFlow 1.2 on.
        return Ok(Action::SetField(MatchEntry::exact(
            FieldId::IpDscp,
            value >> 2,
        )));
    }
    if v >= Version::Of15 || (v > Version::Of10 && full && !came_as_load) {
        return Ok(Action::SetField(entry));
    }
    if v == Version::Of10 && full && !came_as_load {
        let legacy = match f {
            Field::DlSrc => Some(Action::SetDlSrc(mac_bytes(value))),
            Field::DlDst => Some(Action::SetDlDst(mac_bytes(value))),
            Field::NwSrc => Some(Action::SetNwSrc(value as u32)),
            Field::NwDst => Some(Action::SetNwDst(value as u32)),
            Field::NwTos => Some(Action::SetNwTos(value as u8)),
            Field::TpSrc => Some(Action::SetTpSrc(value as u16)),
            Field::TpDst => Some(Action::SetTpDst(value as u16)),
            _ => None,
        };
        if let Some(a) = legacy {
            return Ok(a);
        }
    }
    let ofs = mask.trailing_zeros();
    let n_bits = 128 - mask.leading_zeros() - ofs;
    let contiguous = mask != 0 && (mask >> ofs).count_ones() == n_bits;
    match u64::try_from(value >> ofs) {
        Ok(v64) if contiguous => Ok(Action::Nx(NxAction::RegLoad {
            dst: WireSub {
                field: w,
                ofs: ofs as u16,
                n_bits: n_bits as u16,
            },
            value: v64,
        })),
        _ => Ok(Action::Nx(NxAction::RegLoad2(entry))),
    }
}

fn mac_bytes(v: u128) -> [u8; 6] {
    let b = (v as u64).to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

fn action_to_wire(a: &OfAction, v: Version) -> Result<Option<Action>, OpenFlowError> {
    let out = |port| Action::Output { port, max_len: 0 };
    Ok(Some(match a {
        OfAction::Output(p) => out(*p),
        OfAction::InPort => out(ofpp::IN_PORT),
        OfAction::Normal => out(ofpp::NORMAL),
        OfAction::Flood => out(ofpp::FLOOD),
        OfAction::All => out(ofpp::ALL),
        OfAction::Local => out(ofpp::LOCAL),
        OfAction::Drop | OfAction::GotoTable(_) => return Ok(None),
        OfAction::SetField {
            field,
            value,
            mask,
            spelling: _,
        } => write_field(*field, *value, *mask, false, v)?,
        OfAction::Load { value, dst } => {
            write_field(dst.field, *value << dst.start, dst.mask(), true, v)?
        }
        OfAction::Move { src, dst } => {
            let (s, d) = (wire_sub(src)?, wire_sub(dst)?);
            if v >= Version::Of15 {
                // OpenFlow 1.5's copy-field replaces Nicira's reg_move there.
                return Ok(Some(Action::CopyField {
                    n_bits: s.n_bits,
                    src_ofs: s.ofs,
                    dst_ofs: d.ofs,
                    src: s.field,
                    dst: d.field,
                }));
            }
            Action::Nx(NxAction::RegMove {
                n_bits: s.n_bits,
                src_ofs: s.ofs,
                dst_ofs: d.ofs,
                src: s.field,
                dst: d.field,
            })
        }
        OfAction::StackPush(sf) => Action::Nx(NxAction::StackPush(stack_sub(sf)?)),
        OfAction::StackPop(sf) => Action::Nx(NxAction::StackPop(stack_sub(sf)?)),
        OfAction::PushVlan(t) => Action::PushVlan(*t),
        // From OpenFlow 1.1 on these are set-field actions (OVS pushes a tag first only in
        // 1.0's semantics, which the model keeps: see the tests README).
        OfAction::SetVlanVid(vid) if v > Version::Of10 => Action::SetField(MatchEntry::exact(
            FieldId::VlanVid,
            u128::from(*vid | 0x1000),
        )),
        OfAction::SetVlanPcp(p) if v > Version::Of10 => {
            Action::SetField(MatchEntry::exact(FieldId::VlanPcp, u128::from(*p)))
        }
        OfAction::SetVlanVid(vid) => Action::SetVlanVid(*vid),
        OfAction::SetVlanPcp(p) => Action::SetVlanPcp(*p),
        OfAction::PopVlan => Action::PopVlan,
        OfAction::DecTtl => Action::DecNwTtl,
        OfAction::Resubmit { port, table } => Action::Nx(NxAction::Resubmit {
            in_port: port.unwrap_or(ofpp::IN_PORT),
            table: table.unwrap_or(255),
            ct: false,
        }),
        OfAction::CtClear => Action::Nx(NxAction::CtClear),
        OfAction::Group(g) => Action::Group(*g),
        // OpenFlow 1.5's meter action; before it, an instruction (see actions_to_instructions).
        OfAction::Meter(m) if v >= Version::Of15 => Action::Meter(*m),
        OfAction::Meter(_) => return Err(OpenFlowError::Refused(ErrorCode::BadActionType)),
        OfAction::Controller(c) if c.is_plain() => Action::Output {
            port: ofpp::CONTROLLER,
            max_len: c.max_len,
        },
        OfAction::Controller(c) if c.userdata.is_empty() && !c.pause && c.meter_id.is_none() => {
            Action::Nx(NxAction::Controller {
                max_len: c.max_len,
                controller_id: c.id,
                reason: c.reason,
            })
        }
        OfAction::Controller(c) => Action::Nx(NxAction::Controller2(Controller2 {
            max_len: (c.max_len != u16::MAX).then_some(c.max_len),
            controller_id: (c.id != 0).then_some(c.id),
            reason: (c.reason != OfController::ACTION).then_some(c.reason),
            userdata: (!c.userdata.is_empty()).then(|| c.userdata.clone()),
            pause: c.pause,
            meter_id: c.meter_id,
        })),
        OfAction::Ct(ct) => Action::Nx(NxAction::Ct(ct_to_wire(ct, v)?)),
        OfAction::FinTimeout {
            idle_timeout,
            hard_timeout,
        } => Action::Nx(NxAction::FinTimeout {
            idle: *idle_timeout,
            hard: *hard_timeout,
        }),
        OfAction::Learn(l) => Action::Nx(NxAction::Learn(super::learn::learn_to_wire(l)?)),
        OfAction::Conjunction(c) => Action::Nx(NxAction::Conjunction {
            clause: c.clause,
            n_clauses: c.n_clauses,
            id: c.id,
        }),
        OfAction::Clone(acts) => Action::Nx(NxAction::Clone(actions_to_wire(acts, v)?)),
        OfAction::Exit => Action::Nx(NxAction::Exit),
        OfAction::Note(bytes) => Action::Nx(NxAction::Note(bytes.clone())),
        OfAction::OutputReg { src, max_len } => Action::Nx(NxAction::OutputReg {
            src: wire_sub(src)?,
            max_len: *max_len,
        }),
        OfAction::CheckPktLarger { len, dst } => Action::Nx(NxAction::CheckPktLarger {
            pkt_len: *len,
            dst: wire_sub(dst)?,
        }),
    }))
}

fn ct_to_wire(ct: &OfCt, v: Version) -> Result<Ct, OpenFlowError> {
    let zone = match ct.zone {
        CtZone::Imm(z) => CtZoneSrc::Imm(z),
        CtZone::Field(sf) => CtZoneSrc::Field(wire_sub(&sf)?),
    };
    let mut actions = Vec::new();
    if let Some(n) = &ct.nat {
        let mut nat = Nat {
            flags: match n.src {
                None => 0,
                Some(true) => 1,
                Some(false) => 2,
            },
            ..Nat::default()
        };
        match n.addrs {
            Some((IpAddr::V4(lo), IpAddr::V4(hi))) => {
                nat.ipv4 = Some((u32::from(lo), (lo != hi).then_some(u32::from(hi))));
            }
            Some((IpAddr::V6(lo), IpAddr::V6(hi))) => {
                nat.ipv6 = Some((u128::from(lo), (lo != hi).then_some(u128::from(hi))));
            }
            Some(_) => return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument)),
            None => {}
        }
        nat.proto = n.ports.map(|(lo, hi)| (lo, (lo != hi).then_some(hi)));
        actions.push(Action::Nx(NxAction::Nat(nat)));
    }
    for a in &ct.exec {
        actions.extend(action_to_wire(a, v)?);
    }
    Ok(Ct {
        flags: u16::from(ct.commit),
        zone,
        recirc_table: ct.table.unwrap_or(255),
        alg: 0,
        actions,
    })
}

/// An action list (no `goto_table`) in version `v`'s wire form: a group bucket's, or an
/// action list property such as a continuation's.
pub fn actions_to_wire(acts: &[OfAction], v: Version) -> Result<Vec<Action>, OpenFlowError> {
    let mut out = Vec::new();
    for a in acts {
        out.extend(action_to_wire(a, v)?);
    }
    Ok(out)
}

/// A rule's actions as OpenFlow 1.1+ instructions (apply-actions, then goto-table).
pub fn actions_to_instructions(
    acts: &[OfAction],
    v: Version,
) -> Result<Vec<Instruction>, OpenFlowError> {
    let mut apply = Vec::new();
    let mut goto = None;
    let mut meter = None;
    for a in acts {
        if let OfAction::Meter(m) = a
            && v > Version::Of10
            && v < Version::Of15
        {
            meter = Some(Instruction::Meter(*m));
            continue;
        }
        if let OfAction::GotoTable(t) = a {
            if v == Version::Of10 {
                // OpenFlow 1.0 has no instructions; OVS sends goto_table as resubmit there.
                apply.push(Action::Nx(NxAction::Resubmit {
                    in_port: ofpp::IN_PORT,
                    table: *t,
                    ct: false,
                }));
                continue;
            }
            goto = Some(Instruction::GotoTable(*t));
        }
        apply.extend(action_to_wire(a, v)?);
    }
    let mut out: Vec<Instruction> = meter.into_iter().collect();
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    out.extend(goto);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::action::SetSpelling;
    use crate::openflow::convert::flow_mod_to_model;
    use ofp::message::{FlowMod, Match as WireMatch, NO_BUFFER, OFPG_ANY, fc};

    /// text → model → wire → model gives the same flow.
    #[test]
    fn rules_survive_the_wire() {
        for text in [
            "table=1,priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80,actions=set_field:0x1->reg0,output:2,goto_table:3",
            "priority=5,arp,arp_tpa=10.0.0.1,arp_op=1,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],in_port",
            "priority=7,icmp6,icmpv6_type=135,ipv6_src=fe80::/64,actions=dec_ttl,normal",
            "ct_state=+trk+est,ip,reg3=0x5/0xff,actions=ct(commit,zone=NXM_NX_REG13[0..15],table=2,nat(src=10.0.0.1-10.0.0.9:100-200)),resubmit(,4)",
            "udp,nw_tos=32,vlan_tci=0x1064/0x1fff,actions=mod_vlan_vid:7,push_vlan:0x8100,load:0x3->NXM_NX_REG1[4..7],flood",
        ] {
            let spec = parse_flow(text, &NoNames, FlowSyntax::Add).unwrap();
            for v in [Version::Of13, Version::Of15] {
                let fm = FlowMod {
                    cookie: spec.cookie,
                    cookie_mask: 0,
                    table_id: spec.table,
                    command: fc::ADD,
                    idle_timeout: spec.idle_timeout,
                    hard_timeout: spec.hard_timeout,
                    priority: spec.priority,
                    buffer_id: NO_BUFFER,
                    out_port: ofpp::ANY,
                    out_group: OFPG_ANY,
                    flags: 0,
                    importance: 0,
                    match_: WireMatch::Fields(match_to_wire(&spec.m).unwrap()),
                    instructions: actions_to_instructions(&spec.actions, v).unwrap(),
                };
                // Through the bytes too.
                let bytes = ofp::encode(&ofp::Message::FlowMod(fm), v, 1).unwrap();
                let (_, ofp::Message::FlowMod(fm)) = ofp::decode(&bytes).unwrap() else {
                    panic!()
                };
                let back = flow_mod_to_model(&fm).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(back.spec.m, spec.m, "{text} {v:?}");
                let norm = |a: &[OfAction]| {
                    a.iter()
                        .map(|x| match x {
                            OfAction::SetField {
                                field, value, mask, ..
                            } => OfAction::SetField {
                                field: *field,
                                value: *value,
                                mask: *mask,
                                // The spelling is text-only: both are set_field on the wire.
                                spelling: SetSpelling::SetField,
                            },
                            // OpenFlow 1.5 carries a load as a masked set_field (as OVS
                            // encodes it), which decodes as one.
                            OfAction::Load { value, dst } => {
                                let width = dst.end - dst.start + 1;
                                let bits = if width >= 128 {
                                    u128::MAX
                                } else {
                                    (1u128 << width) - 1
                                };
                                OfAction::SetField {
                                    field: dst.field,
                                    value: value << dst.start,
                                    mask: bits << dst.start,
                                    spelling: SetSpelling::SetField,
                                }
                            }
                            x => x.clone(),
                        })
                        .collect::<Vec<_>>()
                };
                assert_eq!(
                    norm(&back.spec.actions),
                    norm(&spec.actions),
                    "{text} {v:?}"
                );
            }
        }
    }
}
