//! An OpenFlow bundle that mixes group-mods with flow-mods, committed as one transaction.
//!
//! A bundle of flow-mods alone goes the way of every flow command (see `flows`): planned,
//! stored, executed. A bundle that also carries group-mods (OVN's first bundle deletes every
//! group, then installs its flows; later ones add the groups that new flows send to) needs
//! each message to see the effect of those before it, so it runs on a *copy* of the bridge's
//! tables: every message in order is checked and applied to the copy (flow-mods planned and
//! executed there, group-mods applied there, deleting the rules of a deleted group), and the
//! row changes of all of them are collected on a scratch copy of the rows. Only when the last
//! message has passed is the whole change written to the store in one transaction, and then
//! the copy replaces the live tables under the write lock, so the datapath sees the bundle
//! entirely or not at all. The first refusal ends it with nothing changed, naming the message.
//!
//! OVS bundles may also carry port-mods and packet-outs; vswitch's carry flow-mods and
//! group-mods (as OVS, not meter-mods: `OFPBFC_MSG_UNSUP`, decided by the caller).

use super::flows::{self, FlowCounts};
use super::tlv;
use super::{Switch, SwitchError};
use crate::ofctl::{NoNames, format_group};
use crate::ofproto::group::GroupModCommand;
use crate::ofproto::{FlowMod, FlowModError};
use crate::openflow::OpenFlowError;
use crate::openflow::group::{WireGroupMod, apply_bucket_command, group_error};
use crate::store::Change;

/// One message of a bundle, converted. (Flow-mods are nearly every message of a bundle:
/// boxing them would cost an allocation each to save space on the rare group-mod.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum BundleOp {
    Flow(FlowMod),
    Group(WireGroupMod),
}

/// Why a bundle was refused; `index` (0-based) names the message.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("message {} of the bundle", .index + 1)]
    Flow {
        index: usize,
        #[source]
        source: SwitchError,
    },
    #[error("message {} of the bundle", .index + 1)]
    Group {
        index: usize,
        #[source]
        source: OpenFlowError,
    },
    /// The store or the dataplane failed; nothing changed.
    #[error(transparent)]
    Switch(#[from] SwitchError),
}

impl Switch {
    /// Runs a bundle of flow-mods and group-mods on `bridge`, in order, all or nothing:
    /// durable and applied when this returns.
    pub fn bundle(&mut self, bridge: &str, ops: Vec<BundleOp>) -> Result<FlowCounts, BundleError> {
        self.bridge(bridge)?;
        let tlv_table = self.dp.bridge_tlv(bridge).load();
        for (index, op) in ops.iter().enumerate() {
            if let BundleOp::Flow(m) = op {
                tlv::check_mapped(&tlv_table, tlv::fields_used(&m.spec.m, &m.spec.actions))
                    .map_err(|source| BundleError::Flow { index, source })?;
            }
        }
        let now = self.now_ms();
        let (base, mut copy) = self
            .dp
            .read_tables(bridge, |t, _| (t.generation(), t.clone()))
            .map_err(SwitchError::from)?;
        let mut rows = self.rows.get(bridge).cloned().unwrap_or_default();
        let mut changes = Vec::new();
        let mut counts = FlowCounts::default();
        let mut i = 0;
        while i < ops.len() {
            match &ops[i] {
                BundleOp::Flow(_) => {
                    // A run of flow-mods is one plan, as a flow-only bundle is.
                    let start = i;
                    let mut mods = Vec::new();
                    while let Some(BundleOp::Flow(m)) = ops.get(i) {
                        mods.push(m.clone());
                        i += 1;
                    }
                    let in_run = |e: &FlowModError| match e {
                        FlowModError::InBundle { index, .. } => start + index,
                        _ => start,
                    };
                    let adds = mods
                        .iter()
                        .filter(|m| m.command == crate::ofproto::FlowModCommand::Add)
                        .count();
                    flows::check_room(copy.len(), adds).map_err(|source| BundleError::Flow {
                        index: start,
                        source,
                    })?;
                    let planned = copy.plan(&mods, now).map_err(|e| BundleError::Flow {
                        index: in_run(&e),
                        source: SwitchError::Table(e),
                    })?;
                    changes.extend(rows.stage(
                        bridge,
                        planned.applied(),
                        planned.leaves_in_place(),
                        &mut self.store,
                    ));
                    let applied = copy
                        .execute_planned(planned)
                        .map_err(|_| SwitchError::Invalid("bundle plan went stale".into()))?;
                    let c = flows::counts(&applied);
                    counts.added += c.added;
                    counts.modified += c.modified;
                    counts.removed += c.removed;
                }
                BundleOp::Group(wire) => {
                    let index = i;
                    i += 1;
                    let refused = |source| BundleError::Group { index, source };
                    let gm = match wire {
                        WireGroupMod::Whole(g) => g.clone(),
                        WireGroupMod::Buckets(w) => {
                            let cur = copy.groups().get(w.group_id).map(|g| g.spec.clone());
                            apply_bucket_command(w, cur.as_ref()).map_err(refused)?
                        }
                    };
                    let touched = copy
                        .groups()
                        .clone()
                        .apply(&gm, now)
                        .map_err(|e| refused(OpenFlowError::Refused(group_error(&e))))?;
                    let applied = copy
                        .apply_group_mod(&gm, now)
                        .map_err(|e| refused(OpenFlowError::Refused(group_error(&e))))?;
                    // Rules removed with a deleted group: they are all in the tables after.
                    changes.extend(rows.stage(bridge, &applied, |_| true, &mut self.store));
                    counts.removed += applied.removed.len() as u64;
                    if gm.command == GroupModCommand::Delete {
                        changes.extend(touched.iter().map(|id| Change::DeleteGroup {
                            bridge: bridge.to_owned(),
                            id: *id,
                        }));
                    } else {
                        changes.push(Change::PutGroup {
                            bridge: bridge.to_owned(),
                            id: gm.spec.id,
                            line: format_group(&gm.spec, &NoNames, true),
                        });
                    }
                }
            }
        }
        self.store.commit(&changes).map_err(SwitchError::from)?;
        let store = &self.store;
        let live_rows = self.rows.entry(bridge.to_owned()).or_default();
        *live_rows = rows;
        let old = self
            .dp
            .modify_tables(bridge, |tables, now| {
                if tables.generation() == base {
                    Some(std::mem::replace(tables, copy))
                } else {
                    // Cannot happen (every change goes through the switch, one at a time):
                    // the store holds the bundle, so make memory what it says.
                    tracing::error!(bridge, "tables changed under a bundle: reloading");
                    live_rows.restore(tables, bridge, store, now);
                    None
                }
            })
            .map_err(SwitchError::from)?;
        drop(old);
        if let Some(b) = self.bridges.get_mut(bridge) {
            b.flows = self.rows.get(bridge).map_or(0, |r| r.len());
        }
        Ok(counts)
    }
}
