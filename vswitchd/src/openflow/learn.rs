//! `learn` and its NXAST_LEARN wire form (OVS's `nx_action_learn`).
//!
//! A spec names its fields by NXM/OXM header; the model keeps OVS's names for printing. Both
//! directions go through the names: a wire field becomes `NAME[a..b]` and is read by the
//! flow-syntax parser's own learn-field rule (so the same fields are refused for the same
//! reasons), and a model field goes back to the wire field with its name and header class.
//! `limit` and `result_dst` need NXAST_LEARN2, which the codec does not speak: such actions
//! are refused in both directions rather than sent without them.

use super::OpenFlowError;
use crate::ofctl::learn_field_of;
use crate::ofproto::learn::{LearnField, LearnSpec, LearnSrc, OfLearn};
use ofp::ErrorCode;
use ofp::action::{Learn, LearnDst, LearnSpec as WireSpec, LearnSrc as WireSrc};
use ofp::field::FieldId;

/// NXM header classes (OpenFlow basic is 0x8000).
const NXM_OF: u16 = 0x0000;
const NXM_NX: u16 = 0x0001;
const OXM_BASIC: u16 = 0x8000;

const F_SEND_FLOW_REM: u16 = 1;
const F_DELETE_LEARNED: u16 = 2;

fn bad() -> OpenFlowError {
    OpenFlowError::Refused(ErrorCode::BadActionArgument)
}

/// The model field for `n_bits` bits at `ofs` of wire field `f`.
fn field_from_wire(f: FieldId, ofs: u16, n_bits: u16) -> Result<LearnField, OpenFlowError> {
    let def = f.def();
    let name = match def.name {
        "in_port" if def.width == 4 => "in_port_oxm",
        n => n,
    };
    let end = u32::from(ofs) + u32::from(n_bits.max(1)) - 1;
    learn_field_of(&format!("{name}[{ofs}..{end}]")).map_err(|_| bad())
}

/// The wire field for a model field (its NXM or OXM header, as its NXM name says).
fn field_to_wire(f: &LearnField) -> Result<FieldId, OpenFlowError> {
    let name = match f.name {
        "nw_proto" => "ip_proto",
        "in_port_oxm" => "in_port",
        n => n,
    };
    let oxm = f.nxm.starts_with("OXM_");
    FieldId::all()
        .find(|id| {
            let d = id.def();
            d.name == name
                && if oxm {
                    d.class == OXM_BASIC || (d.class != NXM_OF && d.class != NXM_NX)
                } else {
                    d.class == NXM_OF || d.class == NXM_NX
                }
                && (f.name != "in_port_oxm" || d.width == 4)
        })
        .ok_or_else(bad)
}

fn imm_to_wire(v: u128, n_bits: u32) -> Vec<u8> {
    let len = 2 * n_bits.div_ceil(16) as usize;
    v.to_be_bytes()[16 - len.min(16)..].to_vec()
}

fn imm_from_wire(bytes: &[u8]) -> Result<u128, OpenFlowError> {
    if bytes.len() > 16 && bytes[..bytes.len() - 16].iter().any(|b| *b != 0) {
        return Err(bad());
    }
    Ok(bytes.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b)))
}

/// The wire form of a learn action.
pub(super) fn learn_to_wire(l: &OfLearn) -> Result<Learn, OpenFlowError> {
    if l.limit != 0 || l.result_dst.is_some() {
        // NXAST_LEARN2 only.
        return Err(OpenFlowError::Refused(ErrorCode::BadActionType));
    }
    let mut specs = Vec::with_capacity(l.specs.len());
    for s in &l.specs {
        let (dst, src, n_bits) = match s {
            LearnSpec::Match { dst, src } | LearnSpec::Load { dst, src } => {
                let field = field_to_wire(dst)?;
                let ofs = dst.sub.start as u16;
                let d = if matches!(s, LearnSpec::Match { .. }) {
                    LearnDst::Match { field, ofs }
                } else {
                    LearnDst::Load { field, ofs }
                };
                (d, *src, dst.sub.n_bits())
            }
            LearnSpec::Output { src } => {
                (LearnDst::Output, LearnSrc::Field(*src), src.sub.n_bits())
            }
        };
        let src = match src {
            LearnSrc::Field(f) => WireSrc::Field {
                field: field_to_wire(&f)?,
                ofs: f.sub.start as u16,
            },
            LearnSrc::Imm(v) => WireSrc::Imm(imm_to_wire(v, n_bits)),
        };
        specs.push(WireSpec {
            n_bits: n_bits as u16,
            src,
            dst,
        });
    }
    let flags = if l.send_flow_rem { F_SEND_FLOW_REM } else { 0 }
        | if l.delete_learned {
            F_DELETE_LEARNED
        } else {
            0
        };
    Ok(Learn {
        idle_timeout: l.idle_timeout,
        hard_timeout: l.hard_timeout,
        priority: l.priority,
        cookie: l.cookie,
        flags,
        table_id: l.table,
        fin_idle_timeout: l.fin_idle_timeout,
        fin_hard_timeout: l.fin_hard_timeout,
        specs,
    })
}

/// The model of a wire learn action.
pub(super) fn learn_from_wire(w: &Learn) -> Result<OfLearn, OpenFlowError> {
    if w.flags & !(F_SEND_FLOW_REM | F_DELETE_LEARNED) != 0 || w.table_id == 255 {
        return Err(bad());
    }
    let mut specs = Vec::with_capacity(w.specs.len());
    for s in &w.specs {
        let src = match &s.src {
            WireSrc::Field { field, ofs } => {
                LearnSrc::Field(field_from_wire(*field, *ofs, s.n_bits)?)
            }
            WireSrc::Imm(bytes) => LearnSrc::Imm(imm_from_wire(bytes)?),
        };
        specs.push(match s.dst {
            LearnDst::Match { field, ofs } => LearnSpec::Match {
                dst: field_from_wire(field, ofs, s.n_bits)?,
                src,
            },
            LearnDst::Load { field, ofs } => LearnSpec::Load {
                dst: field_from_wire(field, ofs, s.n_bits)?,
                src,
            },
            LearnDst::Output => match src {
                LearnSrc::Field(f) => LearnSpec::Output { src: f },
                LearnSrc::Imm(_) => return Err(bad()),
            },
        });
    }
    Ok(OfLearn {
        table: w.table_id,
        priority: w.priority,
        idle_timeout: w.idle_timeout,
        hard_timeout: w.hard_timeout,
        fin_idle_timeout: w.fin_idle_timeout,
        fin_hard_timeout: w.fin_hard_timeout,
        cookie: w.cookie,
        send_flow_rem: w.flags & F_SEND_FLOW_REM != 0,
        delete_learned: w.flags & F_DELETE_LEARNED != 0,
        limit: 0,
        result_dst: None,
        specs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::OfAction;

    #[test]
    fn learn_round_trips_through_the_wire_form() {
        for flow in [
            "actions=learn(table=10,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15])",
            "tcp,actions=learn(table=1,idle_timeout=10,hard_timeout=20,fin_idle_timeout=5,fin_hard_timeout=6,priority=10,send_flow_rem,delete_learned,cookie=0x123,eth_type=0x800,nw_proto=6,NXM_OF_TCP_SRC[],NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],in_port=LOCAL,eth_dst=01:02:03:04:05:06,output:NXM_OF_IN_PORT[],load:0x5->NXM_NX_REG1[3..6],NXM_NX_REG3[]=OXM_OF_IN_PORT[])",
        ] {
            let spec = parse_flow(flow, &NoNames, FlowSyntax::Add).unwrap();
            let OfAction::Learn(l) = &spec.actions[0] else {
                panic!("{flow}")
            };
            let wire = learn_to_wire(l).unwrap_or_else(|e| panic!("{flow}: {e}"));
            let back = learn_from_wire(&wire).unwrap_or_else(|e| panic!("{flow}: {e}"));
            assert_eq!(&back, &**l, "{flow}");
        }
        let limited = parse_flow("actions=learn(limit=3)", &NoNames, FlowSyntax::Add).unwrap();
        let OfAction::Learn(l) = &limited.actions[0] else {
            panic!()
        };
        assert!(learn_to_wire(l).is_err(), "limit needs NXAST_LEARN2");
    }
}
