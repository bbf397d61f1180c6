//! Conntrack actions and recirculation: freezing the pipeline at `ct(table=N)`.
//!
//! `ct(...)` sends the packet through conntrack in the datapath. With `table=N` the pipeline
//! continues *after* conntrack, in table N, for a packet whose `ct_state`, `ct_zone`, `ct_mark`
//! and `ct_label` now hold conntrack's verdict — which the slow path cannot know in advance. So
//! translation stops there: the OpenFlow state that must survive (bridge, table, in_port,
//! registers, metadata, and the ct action's context) is *frozen* under a recirculation id, the
//! datapath actions end with `recirc(id)`, and when the packet comes back with that
//! `recirc_id`, its upcall resumes from the frozen state (OVS's `frozen_state`). As in OVS the
//! current pass is forked, not ended: actions after `ct` keep translating for the original
//! packet.
//!
//! Ids are allocated per datapath (shared by its bridges), start at 1 (0 is "first pass"),
//! and are stable while in use: the same frozen state gets the same id, so megaflows of
//! different packets of one connection share their second-pass megaflows. Ids no megaflow or
//! packet in flight holds are freed, and the table is bounded ([`recirc`]).

pub mod recirc;

pub use recirc::{
    DEFAULT_GRACE_MS, DEFAULT_RECIRC_LIMIT, FrozenState, RecircStats, RecircTable, SweepSummary,
    recirc_ids,
};

use crate::ofproto::action::{CtZone, OfAction, OfCt, SubField};
use fastpath::action::{CtAction, Masked, NatSpec};
use fastpath::flow::{Field, FlowKey, FlowMask};

/// Reads a sub-field's value from `flow`, un-wildcarding its bits in `wc`.
pub fn read_subfield(sf: &SubField, flow: &FlowKey, wc: &mut FlowMask) -> u128 {
    let m = sf.mask();
    sf.field.set(wc, sf.field.get(wc) | m);
    (sf.field.get(flow) & m) >> sf.start
}

/// Builds the datapath `ct` action for `ct`, reading a zone field and the sources of
/// `move`s into `ct_mark`/`ct_label` from `flow` (and so un-wildcarding them).
pub fn compose_ct(ct: &OfCt, flow: &FlowKey, wc: &mut FlowMask) -> CtAction {
    let zone = match ct.zone {
        CtZone::Imm(z) => z,
        CtZone::Field(sf) => read_subfield(&sf, flow, wc) as u16,
    };
    let mut mark: Option<Masked<u32>> = None;
    let mut label: Option<Masked<u128>> = None;
    for a in &ct.exec {
        let (field, value, mask) = match a {
            OfAction::SetField {
                field, value, mask, ..
            } => (*field, *value, *mask),
            OfAction::Load { value, dst } => (dst.field, value << dst.start, dst.mask()),
            // The source as the flow holds it here (so its bits are un-wildcarded): OVN keeps
            // a connection's label bits in a register until it commits.
            OfAction::Move { src, dst } => {
                let v = read_subfield(src, flow, wc);
                (dst.field, v << dst.start, dst.mask())
            }
            // The parser admits only ct_mark / ct_label writes inside exec().
            _ => continue,
        };
        match field {
            Field::CtMark => {
                let m = mark.get_or_insert_with(Masked::default);
                let mask = mask as u32;
                m.value = (m.value & !mask) | (value as u32 & mask);
                m.mask |= mask;
            }
            Field::CtLabel => {
                let l = label.get_or_insert_with(Masked::default);
                l.value = (l.value & !mask) | (value & mask);
                l.mask |= mask;
            }
            _ => {}
        }
    }
    CtAction {
        commit: ct.commit,
        zone,
        nat: ct.nat.map(|n| NatSpec {
            src: n.src,
            addrs: n.addrs,
            ports: n.ports,
        }),
        mark,
        label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofproto::action::{OfNat, SetSpelling};
    use fastpath::action::DpAction;

    #[test]
    fn zone_from_field_is_read_and_unwildcarded() {
        let ct = OfCt {
            commit: true,
            zone: CtZone::Field(SubField {
                field: Field::Reg(4),
                start: 0,
                end: 15,
            }),
            table: Some(1),
            nat: Some(OfNat {
                src: None,
                addrs: None,
                ports: None,
            }),
            exec: vec![
                OfAction::SetField {
                    field: Field::CtMark,
                    value: 0x5,
                    mask: 0xff,
                    spelling: SetSpelling::SetField,
                },
                OfAction::Load {
                    value: 1,
                    dst: SubField {
                        field: Field::CtMark,
                        start: 31,
                        end: 31,
                    },
                },
            ],
        };
        let mut flow = FlowKey::ZERO;
        flow.regs[4] = 0xabcd_0042;
        let mut wc = FlowKey::ZERO;
        let a = compose_ct(&ct, &flow, &mut wc);
        assert_eq!(a.zone, 0x42);
        assert_eq!(wc.regs[4], 0xffff);
        assert_eq!(
            DpAction::Ct(a).to_string(),
            "ct(commit,zone=66,mark=0x80000005/0x800000ff,nat)"
        );
    }

    #[test]
    fn move_into_label_reads_the_source_and_unwildcards_it() {
        // OVN: ct(commit,exec(set_field:0/0x1->ct_mark,move:NXM_NX_XXREG0[0..31]->NXM_NX_CT_LABEL[96..127]))
        let ct = OfCt {
            commit: true,
            zone: CtZone::Imm(7),
            table: None,
            nat: None,
            exec: vec![
                OfAction::SetField {
                    field: Field::CtMark,
                    value: 0,
                    mask: 1,
                    spelling: SetSpelling::SetField,
                },
                OfAction::Move {
                    src: SubField {
                        field: Field::Reg(3),
                        start: 0,
                        end: 31,
                    },
                    dst: SubField {
                        field: Field::CtLabel,
                        start: 96,
                        end: 127,
                    },
                },
            ],
        };
        let mut flow = FlowKey::ZERO;
        flow.regs[3] = 0x1234_5678;
        let mut wc = FlowKey::ZERO;
        let a = compose_ct(&ct, &flow, &mut wc);
        assert_eq!(wc.regs[3], 0xffff_ffff);
        let label = a.label.expect("a label");
        assert_eq!(label.value, 0x1234_5678u128 << 96);
        assert_eq!(label.mask, 0xffff_ffffu128 << 96);
        assert_eq!(a.mark, Some(Masked { value: 0, mask: 1 }));
    }
}
