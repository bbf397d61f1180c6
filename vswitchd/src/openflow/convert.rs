//! From the wire codec's types to the rule model: an OpenFlow flow-mod becomes the same
//! [`FlowMod`] that `vswitch-ctl add-flow` produces.
//!
//! Match fields: each wire header maps to one model field ([`model_field`]); wire forms that
//! name the same field (`NXM_OF_IN_PORT` and `OXM_OF_IN_PORT`, `tcp_src` and `udp_src`) land
//! on the same storage, and OpenFlow 1.5's 64-bit `xreg` splits into its two 32-bit `reg`s.
//! OXM `vlan_vid` (12 bits plus the "present" bit 0x1000) and `vlan_pcp` are placed in the TCI,
//! where the present bit is the CFI bit, as in OVS.
//!
//! Validation is the text syntax's: the converted flow is printed in ovs-ofctl syntax and
//! parsed back with [`crate::ofctl::parse_flow`], so prerequisites, widths and action rules are
//! enforced by one parser whichever channel a flow came from, and a flow accepted here prints
//! and re-parses as `vswitch-ctl dump-flows` shows it. The parser's refusal becomes
//! `OFPBMC_BAD_PREREQ` when it is about a prerequisite and `OFPBAC_BAD_ARGUMENT` otherwise.
//!
//! What the model has no place for is refused with OVS's error for it: an unknown field
//! (`OFPBMC_BAD_FIELD`), an action the pipeline does not run yet (`OFPBAC_BAD_TYPE`), an
//! instruction other than apply-actions, write-metadata and goto-table
//! (`OFPBIC_UNSUP_INST`).

use super::OpenFlowError;
use crate::ofctl::{FlowSpec, FlowSyntax, NoNames, TABLE_ALL, format_flow_as, parse_flow};
use crate::ofproto::action::{CtZone, OfController, OfCt, OfNat, SetSpelling, SubField};
use crate::ofproto::{FlowMod, FlowModCommand, Match, OfAction, ofpp};
use fastpath::flow::Field;
use ofp::action::{Action, CtZoneSrc, NxAction};
use ofp::field::{FieldId, MatchEntry};
use ofp::message::{FlowMod as WireFlowMod, Match as WireMatch, fc};
use ofp::{ErrorCode, Instruction};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The model field a wire field sets, or `None` for fields the switch does not match on.
pub fn model_field(f: FieldId) -> Option<Field> {
    use FieldId as W;
    Some(match f {
        W::InPort | W::NxmInPort => Field::InPort,
        W::Metadata => Field::Metadata,
        W::Reg(n) => Field::Reg(n),
        W::CtState => Field::CtState,
        W::CtZone => Field::CtZone,
        W::CtMark => Field::CtMark,
        W::CtLabel => Field::CtLabel,
        W::RecircId => Field::RecircId,
        W::ConjId => Field::ConjId,
        W::EthSrc | W::NxmEthSrc => Field::DlSrc,
        W::EthDst | W::NxmEthDst => Field::DlDst,
        W::EthType | W::NxmEthType => Field::DlType,
        W::VlanTci | W::VlanVid | W::VlanPcp => Field::VlanTci,
        W::Ipv4Src | W::NxmIpSrc => Field::NwSrc,
        W::Ipv4Dst | W::NxmIpDst => Field::NwDst,
        W::ArpSpa | W::NxmArpSpa => Field::ArpSpa,
        W::ArpTpa | W::NxmArpTpa => Field::ArpTpa,
        W::ArpSha | W::NxmArpSha => Field::ArpSha,
        W::ArpTha | W::NxmArpTha => Field::ArpTha,
        W::ArpOp | W::NxmArpOp => Field::ArpOp,
        W::Ipv6Src | W::NxmIpv6Src => Field::Ipv6Src,
        W::Ipv6Dst | W::NxmIpv6Dst => Field::Ipv6Dst,
        W::Ipv6Flabel | W::NxmIpv6Label => Field::Ipv6Label,
        W::IpProto | W::NxmIpProto => Field::NwProto,
        W::IpTos => Field::NwTos,
        W::IpDscp => Field::IpDscp,
        W::IpEcn | W::NxmIpEcn => Field::NwEcn,
        W::IpTtl => Field::NwTtl,
        W::IpFrag => Field::NwFrag,
        W::TcpSrc | W::UdpSrc | W::SctpSrc | W::NxmTcpSrc | W::NxmUdpSrc => Field::TpSrc,
        W::TcpDst | W::UdpDst | W::SctpDst | W::NxmTcpDst | W::NxmUdpDst => Field::TpDst,
        W::Icmpv4Type | W::Icmpv6Type | W::NxmIcmpType | W::NxmIcmpv6Type => Field::IcmpType,
        W::Icmpv4Code | W::Icmpv6Code | W::NxmIcmpCode | W::NxmIcmpv6Code => Field::IcmpCode,
        W::TcpFlags | W::OnfTcpFlags | W::NxmTcpFlags => Field::TcpFlags,
        W::NdTarget | W::NxmNdTarget => Field::NdTarget,
        W::NdSll | W::NxmNdSll => Field::NdSll,
        W::NdTll | W::NxmNdTll => Field::NdTll,
        // OVN's Geneve encapsulation sets the VNI (masked, 24 bits) and its decapsulation
        // moves it out.
        W::TunnelId | W::TunId => Field::TunId,
        W::TunIpv4Src => Field::TunSrc,
        W::TunIpv4Dst => Field::TunDst,
        W::TunIpv6Src => Field::TunIpv6Src,
        W::TunIpv6Dst => Field::TunIpv6Dst,
        W::TunMetadata(n, _) if usize::from(n) < fastpath::flow::tlv::MAX_FIELDS => {
            Field::TunMetadata(n)
        }
        _ => return None,
    })
}

fn bad_field() -> OpenFlowError {
    OpenFlowError::Refused(ErrorCode::BadMatchField)
}

/// The (field, value, mask) triples one wire entry sets.
pub(crate) fn entry_to_model(e: &MatchEntry) -> Result<Vec<(Field, u128, u128)>, OpenFlowError> {
    let full = ofp::field::width_mask(e.field.def().width);
    let mask = e.mask.unwrap_or(full) & full;
    let value = e.value & mask;
    Ok(match e.field {
        FieldId::Xreg(n) => {
            let lo32 = 0xffff_ffffu128;
            vec![
                (Field::Reg(2 * n), value >> 32, (mask >> 32) & lo32),
                (Field::Reg(2 * n + 1), value & lo32, mask & lo32),
            ]
        }
        FieldId::Xxreg(n) => (0..4)
            .map(|i| {
                let shift = 96 - 32 * i;
                let reg = Field::Reg(4 * n + i as u8);
                (
                    reg,
                    (value >> shift) & 0xffff_ffff,
                    (mask >> shift) & 0xffff_ffff,
                )
            })
            .collect(),
        FieldId::VlanVid => vec![(Field::VlanTci, value & 0x1fff, mask & 0x1fff)],
        FieldId::VlanPcp => vec![(Field::VlanTci, (value & 7) << 13, 0xe000)],
        // NXM_OF_IP_TOS (and OpenFlow 1.0's nw_tos) is the six DSCP bits in place, as the
        // text syntax's nw_tos: an "exact" one leaves ECN wildcarded (OVS's MFF_IP_DSCP).
        FieldId::IpTos => vec![(Field::NwTos, value & 0xfc, mask & 0xfc)],
        FieldId::TunMetadata(..) if (value | mask) >> 64 != 0 => {
            return Err(OpenFlowError::Refused(ErrorCode::BadMatchValue));
        }
        FieldId::NxmInPort => {
            let port = ofp::action::port_from_of10(value as u16);
            vec![(Field::InPort, u128::from(port), u128::from(u32::MAX))]
        }
        f => {
            let model = model_field(f).ok_or_else(bad_field)?;
            // An exact wire field is exact in the model, whatever its storage width
            // (ICMP type is one byte on the wire, two in the flow key).
            let mask = if e.mask.is_none() { u128::MAX } else { mask };
            vec![(model, value, mask)]
        }
    })
}

/// A wire match as a model match. OpenFlow 1.0's fixed match is converted field by field.
pub fn match_to_model(m: &WireMatch) -> Result<Match, OpenFlowError> {
    let entries = match m {
        WireMatch::Fields(f) => f.clone(),
        WireMatch::Of10(m10) => super::match10::to_entries(m10),
    };
    let mut out = Match::CATCHALL;
    for e in &entries {
        for (field, value, mask) in entry_to_model(e)? {
            let (old_v, old_m) = out.field(field);
            out.set_field_masked(field, (old_v & !mask) | value, old_m | mask);
        }
    }
    Ok(out)
}

fn sub(field: FieldId, ofs: u16, n_bits: u16) -> Result<SubField, OpenFlowError> {
    let model = model_field(field).ok_or(OpenFlowError::Refused(ErrorCode::BadActionSetType))?;
    let end = u32::from(ofs) + u32::from(n_bits.max(1)) - 1;
    if end >= model.bits() {
        return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument));
    }
    Ok(SubField {
        field: model,
        start: u32::from(ofs),
        end,
    })
}

/// A wire subfield as model subfields, least significant first: one, except for an extended
/// register (`xreg`: two 32-bit registers, `xxreg`: four, most significant first), which is
/// cut at register boundaries.
fn pieces(field: FieldId, ofs: u16, n_bits: u16) -> Result<Vec<SubField>, OpenFlowError> {
    let (base, regs) = match field {
        FieldId::Xreg(n) => (2 * n, 2),
        FieldId::Xxreg(n) => (4 * n, 4),
        f => return Ok(vec![sub(f, ofs, n_bits)?]),
    };
    let start = u32::from(ofs);
    let end = start + u32::from(n_bits.max(1)) - 1;
    if end >= 32 * u32::from(regs) {
        return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument));
    }
    let mut out = Vec::new();
    let mut lo = start;
    while lo <= end {
        let hi = end.min(lo / 32 * 32 + 31);
        out.push(SubField {
            field: Field::Reg(base + regs - 1 - (lo / 32) as u8),
            start: lo % 32,
            end: hi % 32,
        });
        lo = hi + 1;
    }
    Ok(out)
}

fn unsupported_action() -> OpenFlowError {
    OpenFlowError::Refused(ErrorCode::BadActionType)
}

fn port_action(port: u32) -> Result<OfAction, OpenFlowError> {
    Ok(match port {
        ofpp::IN_PORT => OfAction::InPort,
        ofpp::NORMAL => OfAction::Normal,
        ofpp::FLOOD => OfAction::Flood,
        ofpp::ALL => OfAction::All,
        ofpp::LOCAL => OfAction::Local,
        p if p < ofpp::MAX => OfAction::Output(p),
        _ => return Err(OpenFlowError::Refused(ErrorCode::BadActionOutPort)),
    })
}

fn set(field: Field, value: u128, spelling: SetSpelling) -> OfAction {
    OfAction::SetField {
        field,
        value,
        // The TOS byte's settable part is the DSCP bits, as the text syntax has it.
        mask: if field == Field::NwTos {
            0xfc
        } else {
            field.max_value()
        },
        spelling,
    }
}

/// One wire action as model actions.
pub fn action_to_model(a: &Action) -> Result<Vec<OfAction>, OpenFlowError> {
    let one = |a| Ok(vec![a]);
    match a {
        Action::Output {
            port: ofpp::CONTROLLER,
            max_len,
        } => one(OfAction::Controller(OfController::new(*max_len))),
        Action::Output { port, .. } => one(port_action(*port)?),
        Action::Nx(NxAction::Controller {
            max_len,
            controller_id,
            reason,
        }) => one(OfAction::Controller(OfController {
            max_len: *max_len,
            reason: *reason,
            id: *controller_id,
            userdata: Vec::new(),
            pause: false,
            meter_id: None,
        })),
        Action::Nx(NxAction::Controller2(c)) => one(OfAction::Controller(OfController {
            max_len: c.max_len.unwrap_or(u16::MAX),
            reason: c.reason.unwrap_or(OfController::ACTION),
            id: c.controller_id.unwrap_or(0),
            userdata: c.userdata.clone().unwrap_or_default(),
            pause: c.pause,
            meter_id: c.meter_id,
        })),
        Action::SetVlanVid(v) => one(OfAction::SetVlanVid(*v & 0xfff)),
        Action::SetVlanPcp(p) => one(OfAction::SetVlanPcp(*p & 7)),
        Action::PopVlan => one(OfAction::PopVlan),
        Action::PushVlan(t) => one(OfAction::PushVlan(*t)),
        Action::DecNwTtl => one(OfAction::DecTtl),
        Action::SetDlSrc(mac) => one(set(Field::DlSrc, mac_u128(mac), SetSpelling::Mod)),
        Action::SetDlDst(mac) => one(set(Field::DlDst, mac_u128(mac), SetSpelling::Mod)),
        Action::SetNwSrc(ip) => one(set(Field::NwSrc, u128::from(*ip), SetSpelling::Mod)),
        Action::SetNwDst(ip) => one(set(Field::NwDst, u128::from(*ip), SetSpelling::Mod)),
        Action::SetNwTos(t) => one(set(Field::NwTos, u128::from(*t & 0xfc), SetSpelling::Mod)),
        Action::SetTpSrc(p) => one(set(Field::TpSrc, u128::from(*p), SetSpelling::Mod)),
        Action::SetTpDst(p) => one(set(Field::TpDst, u128::from(*p), SetSpelling::Mod)),
        Action::SetField(e) | Action::Nx(NxAction::RegLoad2(e)) => {
            if e.field == FieldId::VlanVid && e.mask.is_none() {
                return one(OfAction::SetVlanVid((e.value & 0xfff) as u16));
            }
            entry_to_model(e)?
                .into_iter()
                .filter(|(_, _, mask)| *mask != 0)
                .map(|(field, value, mask)| {
                    Ok(OfAction::SetField {
                        field,
                        value,
                        mask: mask & field.max_value(),
                        spelling: SetSpelling::SetField,
                    })
                })
                .collect()
        }
        Action::CopyField {
            n_bits,
            src_ofs,
            dst_ofs,
            src,
            dst,
        }
        | Action::Nx(NxAction::RegMove {
            n_bits,
            src_ofs,
            dst_ofs,
            src,
            dst,
        }) => {
            // Extended registers (OVN moves bits into `xxreg0`) are cut into register
            // pieces as the text syntax cuts them.
            let src = pieces(*src, *src_ofs, *n_bits)?;
            let dst = pieces(*dst, *dst_ofs, *n_bits)?;
            crate::ofctl::subfield::cut_moves_checked(&src, &dst)
                .ok_or(OpenFlowError::Refused(ErrorCode::BadActionArgument))
        }
        Action::Nx(NxAction::RegLoad { dst, value }) => {
            let mut value = u128::from(*value);
            let mut out = Vec::new();
            for p in pieces(dst.field, dst.ofs, dst.n_bits)? {
                let n = p.n_bits();
                out.push(OfAction::Load {
                    value: value & ((1u128 << n) - 1),
                    dst: p,
                });
                value >>= n;
            }
            Ok(out)
        }
        Action::Nx(NxAction::Resubmit {
            in_port,
            table,
            ct: false,
        }) => one(OfAction::Resubmit {
            port: (*in_port != ofpp::IN_PORT).then_some(*in_port),
            table: (*table != TABLE_ALL).then_some(*table),
        }),
        Action::Nx(NxAction::CtClear) => one(OfAction::CtClear),
        Action::Nx(NxAction::StackPush(sf)) | Action::Nx(NxAction::StackPop(sf)) => {
            // One model field: an extended register's bits must lie in one register.
            let [piece] = pieces(sf.field, sf.ofs, sf.n_bits)?[..] else {
                return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument));
            };
            one(if matches!(a, Action::Nx(NxAction::StackPush(_))) {
                OfAction::StackPush(piece)
            } else {
                OfAction::StackPop(piece)
            })
        }
        Action::Group(g) => one(OfAction::Group(*g)),
        Action::Meter(m) => one(OfAction::Meter(*m)),
        Action::Nx(NxAction::Ct(ct)) => {
            let zone = match ct.zone {
                CtZoneSrc::Imm(z) => CtZone::Imm(z),
                CtZoneSrc::Field(sf) => CtZone::Field(sub(sf.field, sf.ofs, sf.n_bits)?),
            };
            let mut nat = None;
            let mut exec = Vec::new();
            for inner in &ct.actions {
                match inner {
                    Action::Nx(NxAction::Nat(n)) => nat = Some(nat_to_model(n)?),
                    other => exec.extend(action_to_model(other)?),
                }
            }
            // Bits other than commit (force) and an ALG are not in the model.
            if ct.flags & !1 != 0 || ct.alg != 0 {
                return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument));
            }
            one(OfAction::Ct(OfCt {
                commit: ct.flags & 1 != 0,
                zone,
                table: (ct.recirc_table != TABLE_ALL).then_some(ct.recirc_table),
                nat,
                exec,
            }))
        }
        Action::Nx(NxAction::Learn(l)) => {
            one(OfAction::Learn(Box::new(super::learn::learn_from_wire(l)?)))
        }
        Action::Nx(NxAction::FinTimeout { idle, hard }) => one(OfAction::FinTimeout {
            idle_timeout: *idle,
            hard_timeout: *hard,
        }),
        Action::Nx(NxAction::Conjunction {
            clause,
            n_clauses,
            id,
        }) => one(OfAction::Conjunction(crate::classifier::Conjunction {
            id: *id,
            clause: *clause,
            n_clauses: *n_clauses,
        })),
        Action::Nx(NxAction::Clone(acts)) => {
            let mut inner = Vec::new();
            for a in acts {
                inner.extend(action_to_model(a)?);
            }
            one(OfAction::Clone(inner))
        }
        Action::Nx(NxAction::Exit) => one(OfAction::Exit),
        Action::Nx(NxAction::Note(bytes)) => {
            one(OfAction::Note(crate::ofctl::padded_note(bytes.clone())))
        }
        Action::Nx(NxAction::OutputReg { src, max_len }) => one(OfAction::OutputReg {
            src: sub(src.field, src.ofs, src.n_bits)?,
            max_len: *max_len,
        }),
        Action::Nx(NxAction::CheckPktLarger { pkt_len, dst }) => one(OfAction::CheckPktLarger {
            len: *pkt_len,
            dst: sub(dst.field, dst.ofs, dst.n_bits)?,
        }),
        _ => Err(unsupported_action()),
    }
}

fn mac_u128(mac: &[u8; 6]) -> u128 {
    mac.iter().fold(0, |acc, &b| (acc << 8) | u128::from(b))
}

fn nat_to_model(n: &ofp::action::Nat) -> Result<OfNat, OpenFlowError> {
    let src = match n.flags & 3 {
        0 => None,
        1 => Some(true),
        2 => Some(false),
        _ => return Err(OpenFlowError::Refused(ErrorCode::BadActionArgument)),
    };
    let addrs = match (n.ipv4, n.ipv6) {
        (Some((lo, hi)), None) => Some((
            IpAddr::V4(Ipv4Addr::from(lo)),
            IpAddr::V4(Ipv4Addr::from(hi.unwrap_or(lo))),
        )),
        (None, Some((lo, hi))) => Some((
            IpAddr::V6(Ipv6Addr::from(lo)),
            IpAddr::V6(Ipv6Addr::from(hi.unwrap_or(lo))),
        )),
        _ => None,
    };
    Ok(OfNat {
        src,
        addrs,
        ports: n.proto.map(|(lo, hi)| (lo, hi.unwrap_or(lo))),
    })
}

/// The actions of an instruction list, in execution order: apply-actions, then
/// write-metadata (as a masked set of `metadata`), then goto-table.
pub fn instructions_to_model(insts: &[Instruction]) -> Result<Vec<OfAction>, OpenFlowError> {
    let mut apply = Vec::new();
    let mut metadata = None;
    let mut goto = None;
    let mut meter = None;
    for i in insts {
        match i {
            Instruction::Meter(m) => meter = Some(OfAction::Meter(*m)),
            Instruction::ApplyActions(acts) => {
                for a in acts {
                    apply.extend(action_to_model(a)?);
                }
            }
            Instruction::WriteMetadata { metadata: v, mask } => {
                metadata = Some(OfAction::SetField {
                    field: Field::Metadata,
                    value: u128::from(*v & *mask),
                    mask: u128::from(*mask),
                    spelling: SetSpelling::SetField,
                })
            }
            Instruction::GotoTable(t) => goto = Some(OfAction::GotoTable(*t)),
            Instruction::ClearActions | Instruction::WriteActions(_) => {
                return Err(OpenFlowError::Refused(ErrorCode::BadInstructionUnsupported));
            }
        }
    }
    apply.extend(metadata);
    apply.extend(goto);
    if let Some(m) = meter {
        apply.insert(0, m);
    }
    if apply.is_empty() {
        apply.push(OfAction::Drop);
    }
    Ok(apply)
}

/// A wire flow-mod as the model's flow-mod, validated by the text parser.
pub fn flow_mod_to_model(fm: &WireFlowMod) -> Result<FlowMod, OpenFlowError> {
    let (command, syntax) = match fm.command {
        fc::ADD => (FlowModCommand::Add, FlowSyntax::Add),
        fc::MODIFY => (FlowModCommand::Modify { strict: false }, FlowSyntax::Modify),
        fc::MODIFY_STRICT => (FlowModCommand::Modify { strict: true }, FlowSyntax::Modify),
        fc::DELETE => (
            FlowModCommand::Delete { strict: false },
            FlowSyntax::MatchOnly,
        ),
        fc::DELETE_STRICT => (
            FlowModCommand::Delete { strict: true },
            FlowSyntax::MatchOnly,
        ),
        _ => return Err(OpenFlowError::Refused(ErrorCode::FlowModBadCommand)),
    };
    if fm.command == fc::ADD && fm.table_id == TABLE_ALL {
        return Err(OpenFlowError::Refused(ErrorCode::FlowModBadTableId));
    }
    let deleting = matches!(command, FlowModCommand::Delete { .. });
    let mut spec = FlowSpec::new(syntax);
    spec.table = fm.table_id;
    spec.priority = fm.priority;
    spec.cookie = fm.cookie;
    spec.cookie_mask = fm.cookie_mask;
    spec.idle_timeout = fm.idle_timeout;
    spec.hard_timeout = fm.hard_timeout;
    spec.out_port = (deleting && fm.out_port != ofpp::ANY).then_some(fm.out_port);
    spec.m = match_to_model(&fm.match_)?;
    spec.actions = if deleting {
        Vec::new()
    } else {
        instructions_to_model(&fm.instructions)?
    };
    // One validation path: print in ovs-ofctl syntax and parse back.
    let text = format_flow_as(&spec, syntax, &NoNames);
    let parsed = parse_flow(&text, &NoNames, syntax).map_err(|e| {
        let msg = e.to_string();
        OpenFlowError::Invalid {
            code: if msg.contains("requires") {
                ErrorCode::BadMatchPrereq
            } else {
                ErrorCode::BadActionArgument
            },
            flow: text.clone(),
            why: msg,
        }
    })?;
    Ok(FlowMod {
        command,
        spec: FlowSpec {
            // Fields the text form cannot carry for every command.
            table: fm.table_id,
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            out_port: spec.out_port,
            flags: if deleting {
                0
            } else {
                fm.flags & crate::ofproto::spec::ff::ALL
            },
            ..parsed
        },
        table_any: fm.table_id == TABLE_ALL,
    })
}

#[cfg(test)]
mod tests;
