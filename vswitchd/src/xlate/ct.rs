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
//! and are stable: the same frozen state always gets the same id, so megaflows of different
//! packets of one connection share their second-pass megaflows. The table is bounded
//! ([`RecircTable::with_limit`]); ids are never reused while the table lives.

use super::error::XlateError;
use crate::ofproto::action::{CtZone, OfAction, OfCt, SubField};
use fastpath::action::{CtAction, Masked, NatSpec};
use fastpath::flow::{Field, FlowKey, FlowMask};
use std::collections::HashMap;
use std::sync::Mutex;

/// What a recirculated pass resumes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrozenState {
    /// The bridge whose tables the pass continues in (differs from the ingress bridge after
    /// a patch port).
    pub bridge: String,
    /// The table the pass continues in (`ct(table=N)`).
    pub table: u8,
    /// OpenFlow in_port at the freeze.
    pub in_port: u32,
    /// OpenFlow metadata at the freeze.
    pub metadata: u64,
    /// Registers at the freeze.
    pub regs: [u32; 16],
    /// Zone of the ct action that recirculated.
    pub ct_zone: u16,
    /// NAT of the ct action that recirculated, if any.
    pub nat: Option<NatSpec>,
}

/// Default bound on live recirculation ids per datapath.
pub const DEFAULT_RECIRC_LIMIT: usize = 1 << 20;

#[derive(Debug, Default)]
struct Inner {
    by_state: HashMap<FrozenState, u32>,
    by_id: HashMap<u32, FrozenState>,
    next: u32,
}

/// Recirculation id ↔ frozen state, shared by the bridges of one datapath.
#[derive(Debug)]
pub struct RecircTable {
    inner: Mutex<Inner>,
    limit: usize,
}

impl Default for RecircTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RecircTable {
    /// An empty table with [`DEFAULT_RECIRC_LIMIT`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_RECIRC_LIMIT)
    }

    /// An empty table holding at most `limit` ids.
    pub fn with_limit(limit: usize) -> Self {
        RecircTable {
            inner: Mutex::new(Inner {
                next: 1,
                ..Inner::default()
            }),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent (each update is
        // two inserts of the same pair), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The id for `state`, allocating one if it is new.
    pub fn id_for(&self, state: &FrozenState) -> Result<u32, XlateError> {
        let mut g = self.lock();
        if let Some(id) = g.by_state.get(state) {
            return Ok(*id);
        }
        if g.by_id.len() >= self.limit || g.next == u32::MAX {
            return Err(XlateError::RecircIdsExhausted(g.by_id.len()));
        }
        let id = g.next;
        g.next += 1;
        g.by_state.insert(state.clone(), id);
        g.by_id.insert(id, state.clone());
        Ok(id)
    }

    /// The frozen state of `id`.
    pub fn get(&self, id: u32) -> Option<FrozenState> {
        self.lock().by_id.get(&id).cloned()
    }

    /// Number of ids in use.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True if no id is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a sub-field's value from `flow`, un-wildcarding its bits in `wc`.
pub fn read_subfield(sf: &SubField, flow: &FlowKey, wc: &mut FlowMask) -> u128 {
    let m = sf.mask();
    sf.field.set(wc, sf.field.get(wc) | m);
    (sf.field.get(flow) & m) >> sf.start
}

/// Builds the datapath `ct` action for `ct`, reading a zone field from `flow` (and so
/// un-wildcarding it).
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

    fn state(table: u8, reg0: u32) -> FrozenState {
        let mut regs = [0; 16];
        regs[0] = reg0;
        FrozenState {
            bridge: "br0".into(),
            table,
            in_port: 1,
            metadata: 0,
            regs,
            ct_zone: 0,
            nat: None,
        }
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let t = RecircTable::new();
        let a = t.id_for(&state(1, 0)).unwrap();
        let b = t.id_for(&state(1, 7)).unwrap();
        assert_eq!(a, 1);
        assert_ne!(a, b);
        assert_eq!(t.id_for(&state(1, 0)).unwrap(), a);
        assert_eq!(t.get(b), Some(state(1, 7)));
        assert_eq!(t.get(99), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn table_is_bounded() {
        let t = RecircTable::with_limit(2);
        t.id_for(&state(1, 0)).unwrap();
        t.id_for(&state(2, 0)).unwrap();
        assert_eq!(
            t.id_for(&state(3, 0)),
            Err(XlateError::RecircIdsExhausted(2))
        );
        // Known states still resolve.
        assert_eq!(t.id_for(&state(2, 0)), Ok(2));
    }

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
}
