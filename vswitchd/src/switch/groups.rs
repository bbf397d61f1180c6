//! Group commands on a bridge: add-group, mod-group, del-groups, and the group dumps.
//!
//! A group change follows the order flow changes follow (see `flows`): parsed with the
//! bridge's port names, checked against a copy of the live group table (a refusal changes
//! nothing), made durable, then applied under the slow path's write lock, which revalidates
//! the cached megaflows before returning. Deleting a group deletes the rules that send to it
//! (OVS semantics); their rows leave the store in one transaction *before* the group's row, so
//! a crash in between leaves rules and groups consistent (a stored rule never names a missing
//! group, which would stop the next start).

use super::{Switch, SwitchError};
use crate::ofctl::{NoNames, format_group, parse_group, parse_group_selector};
use crate::ofproto::group::{Group, GroupError, GroupModCommand, OFPG_ALL};
use crate::ofproto::{GroupMod, GroupSpec, GroupType};
use crate::store::Change;
use std::sync::Arc;

/// A group command, in ovs-ofctl syntax.
#[derive(Clone, Copy, Debug)]
pub enum GroupCommand<'a> {
    /// add-group GROUP
    Add(&'a str),
    /// mod-group GROUP (`may_create`: `--may-create`)
    Modify { group: &'a str, may_create: bool },
    /// del-groups [group_id=N]
    Delete(&'a str),
}

/// What a group command changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCounts {
    /// Groups added, replaced or deleted.
    pub groups: u64,
    /// Rules deleted with their group.
    pub flows_removed: u64,
}

/// One group and its counters, for the dumps.
#[derive(Clone, Debug)]
pub struct GroupEntry {
    pub group: Arc<Group>,
    /// Rules that send to it.
    pub ref_count: usize,
    pub duration_ms: u64,
}

fn group_error(e: GroupError) -> SwitchError {
    SwitchError::Invalid(e.to_string())
}

impl Switch {
    /// Runs a group command on `bridge`; durable and applied when this returns.
    pub fn group_command(
        &mut self,
        bridge: &str,
        cmd: GroupCommand<'_>,
    ) -> Result<GroupCounts, SwitchError> {
        let br = self
            .bridges
            .get(bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.to_owned()))?;
        let invalid = |e: crate::ofctl::OfctlError| SwitchError::Invalid(e.to_string());
        let gm = match cmd {
            GroupCommand::Add(s) => GroupMod {
                command: GroupModCommand::Add,
                spec: parse_group(s, &br.xports).map_err(invalid)?,
            },
            GroupCommand::Modify { group, may_create } => GroupMod {
                command: GroupModCommand::Modify { may_create },
                spec: parse_group(group, &br.xports).map_err(invalid)?,
            },
            GroupCommand::Delete(s) => GroupMod {
                command: GroupModCommand::Delete,
                spec: GroupSpec {
                    id: parse_group_selector(s).map_err(invalid)?,
                    kind: GroupType::All,
                    method: Default::default(),
                    method_param: 0,
                    fields: Vec::new(),
                    buckets: Vec::new(),
                },
            },
        };
        self.group_mod(bridge, gm)
    }

    /// Applies a group-mod in the model (from the text commands or the OpenFlow channel).
    pub fn group_mod(&mut self, bridge: &str, gm: GroupMod) -> Result<GroupCounts, SwitchError> {
        let now = self.now_ms();
        let (touched, planned) = self
            .dp
            .read_tables(bridge, |t, _| {
                let mut groups = t.groups().clone();
                let touched = groups.apply(&gm, now)?;
                let planned = (gm.command == GroupModCommand::Delete && !touched.is_empty())
                    .then(|| t.plan_group_delete(&touched));
                Ok::<_, GroupError>((touched, planned))
            })?
            .map_err(group_error)?;
        let mut counts = GroupCounts::default();
        if let Some(planned) = &planned {
            let rows = self.rows.entry(bridge.to_owned()).or_default();
            counts.flows_removed = rows.commit(bridge, planned, &mut self.store)?.removed;
        }
        let changes: Vec<Change> = if gm.command == GroupModCommand::Delete {
            touched
                .iter()
                .map(|id| Change::DeleteGroup {
                    bridge: bridge.to_owned(),
                    id: *id,
                })
                .collect()
        } else {
            vec![Change::PutGroup {
                bridge: bridge.to_owned(),
                id: gm.spec.id,
                line: format_group(&gm.spec, &NoNames, true),
            }]
        };
        self.store.commit(&changes)?;
        counts.groups = if gm.command == GroupModCommand::Delete {
            touched.len() as u64
        } else {
            1
        };
        self.dp.modify_tables(bridge, |tables, now| {
            if let Err(e) = tables.apply_group_mod(&gm, now) {
                // Checked above against the same table: cannot happen.
                tracing::error!(bridge, error = %e, "group change refused after it was stored");
            }
        })?;
        if let Some(b) = self.bridges.get_mut(bridge) {
            b.flows = self.rows.get(bridge).map_or(0, |r| r.len());
        }
        if let Some(planned) = planned {
            let gone = planned.applied().gone.clone();
            super::report_removed(&self.flow_removed, bridge, gone, now);
        }
        Ok(counts)
    }

    /// The groups of `bridge` (all, or `group_id=N`), with counters.
    pub fn dump_groups(
        &self,
        bridge: &str,
        selector: &str,
    ) -> Result<Vec<GroupEntry>, SwitchError> {
        self.bridge(bridge)?;
        let id = parse_group_selector(selector).map_err(|e| SwitchError::Invalid(e.to_string()))?;
        self.dp.push_stats();
        let now = self.now_ms();
        Ok(self.dp.read_tables(bridge, |t, _| {
            t.groups()
                .iter()
                .filter(|g| id == OFPG_ALL || g.spec.id == id)
                .map(|g| GroupEntry {
                    group: g.clone(),
                    ref_count: t.group_refs(g.spec.id),
                    duration_ms: now.saturating_sub(g.created_ms),
                })
                .collect()
        })?)
    }
}
