//! Continuations: `controller(pause)` freezes the translation, the controller gets the packet
//! with everything needed to carry on, and `NXT_RESUME` carries on exactly there (OVS's
//! freezing in `ofproto-dpif-xlate`, its `xlate_resume`).
//!
//! # Freezing
//!
//! On reaching `controller(...,pause)` the translation stops running actions and starts
//! *collecting* them: the rest of the current action list, then, as each enclosing
//! `resubmit` returns, the rest of its list, up to the outermost rule. Each collected stretch
//! remembers the table id and cookie of the rule it came from, but only where an action
//! could show them (an output, group, `controller`, `dec_ttl`, `resubmit(,)` to the current
//! table — OVS's `freeze_unroll_actions`), and a `goto_table:N` becomes `resubmit(,N)`
//! since instructions cannot be replayed. Where the frozen pipeline ends — the end of the
//! translation, of a group bucket, or of a patch port's peer pipeline — the state is
//! finished: pending header changes are committed, and the bridge, table, metadata, registers
//! and the collected actions are frozen under a recirculation id, exactly like a `ct(table=N)`
//! recirculation ([`super::ct`]). The datapath action is a `userspace(controller(...,
//! continuation=1,recirc_id=N))` action, so every packet of the megaflow goes up (the pause is
//! never cached away), and the packet-in built for it carries the frozen actions as the
//! `NXCPT_*` continuation ([`ofp::continuation`]). As in OVS, the rest of the pass is
//! dropped: the packet continues only when the controller resumes it. A trace (no side
//! effects) stops at the pause and emits nothing for it.
//!
//! # Resuming
//!
//! [`translate_resume`] takes the packet and pipeline metadata from the `NXT_RESUME` (the
//! controller may have changed both) and the frozen actions from its continuation, and runs
//! the actions from the top, each stretch with its table id and cookie. A second `pause`
//! among them freezes again, so a packet can be paused any number of times. Conntrack fields
//! are kept only if the packet was through conntrack when it was frozen.

use super::{FrozenState, XlateCtx, XlateError, Xlator};
use crate::ofproto::action::{OfAction, OfController};
use fastpath::action::{DpAction, UserspaceAction};
use fastpath::flow::FlowKey;
use fastpath::flow::key::ct_state;
use fastpath::upcall::Translation;
use std::sync::Arc;

/// Frozen actions that run with the table id and cookie of the rule they came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FrozenStretch {
    pub table: u8,
    pub cookie: u64,
    pub actions: Vec<OfAction>,
}

/// What a paused translation leaves for its resumption, besides metadata and the packet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Continuation {
    /// The actions still to run, in order.
    pub stretches: Vec<FrozenStretch>,
    /// Whether the packet had been through conntrack (its `ct_*` fields are meaningful).
    pub conntracked: bool,
}

/// A freeze in progress: the pause that started it and the actions collected so far.
#[derive(Debug)]
pub(super) struct Freeze {
    pause: OfController,
    stretches: Vec<FrozenStretch>,
}

impl Freeze {
    fn push(&mut self, a: OfAction) {
        if self.stretches.is_empty() {
            self.stretches.push(FrozenStretch::default());
        }
        if let Some(s) = self.stretches.last_mut() {
            s.actions.push(a);
        }
    }
}

/// Whether an action can reveal the table id or cookie of its rule (OVS's list in
/// `freeze_unroll_actions`).
fn needs_unroll(a: &OfAction) -> bool {
    matches!(
        a,
        OfAction::Output(_)
            | OfAction::InPort
            | OfAction::Normal
            | OfAction::Flood
            | OfAction::All
            | OfAction::Local
            | OfAction::Group(_)
            | OfAction::OutputReg { .. }
            | OfAction::Controller(_)
            | OfAction::DecTtl
            | OfAction::Resubmit { table: None, .. }
    )
}

impl Xlator<'_, '_> {
    /// `controller(...,pause)`: from here on, actions are collected instead of run.
    pub(super) fn start_pause(&mut self, c: &OfController) {
        self.note(|| "pause: the translation freezes here; the controller resumes it".into());
        self.freeze = Some(Freeze {
            pause: c.clone(),
            stretches: Vec::new(),
        });
    }

    /// Collects `rest`, the actions after the freeze point in the running rule's list.
    pub(super) fn freeze_rest(&mut self, rest: &[OfAction]) {
        let (table, cookie) = (self.table, self.rule_cookie);
        let Some(f) = self.freeze.as_mut() else {
            return;
        };
        for a in rest {
            if needs_unroll(a) {
                let differs = f
                    .stretches
                    .last()
                    .is_none_or(|s| (s.table, s.cookie) != (table, cookie));
                if differs {
                    f.stretches.push(FrozenStretch {
                        table,
                        cookie,
                        actions: Vec::new(),
                    });
                }
            }
            match a {
                OfAction::GotoTable(t) => f.push(OfAction::Resubmit {
                    port: None,
                    table: Some(*t),
                }),
                other => f.push(other.clone()),
            }
        }
    }

    /// Ends a freeze where the frozen pipeline ends: freezes the state under a recirculation
    /// id and emits the `userspace` action that sends each packet up with its continuation.
    pub(super) fn finish_freezing(&mut self) -> Result<(), XlateError> {
        let Some(f) = self.freeze.take() else {
            return Ok(());
        };
        if self.trace.is_some() {
            // As ofproto/trace: no side effects, so no packet-in and nothing to resume.
            return Ok(());
        }
        self.commit()?;
        let conntracked = self.flow.ct_state & ct_state::TRK != 0;
        let continuation = Continuation {
            stretches: f.stretches,
            conntracked,
        };
        // OVS freezes a pause with table 0 (`finish_freezing`), which the packet-in shows.
        let state = FrozenState {
            bridge: self.bridge.name.to_string(),
            table: 0,
            in_port: self.flow.in_port,
            metadata: self.flow.metadata,
            regs: self.flow.regs,
            ct_zone: self.flow.ct_zone,
            nat: None,
            continuation: Some(Arc::new(continuation)),
        };
        let recirc_id = self.ctx.recirc.id_for(&state)?;
        let mut cookie = self.controller_cookie(&f.pause);
        cookie.table_id = 0;
        cookie.recirc_id = recirc_id;
        cookie.continuation = true;
        let desc = format!(
            "controller(reason={},dont_send=0,continuation=1,recirc_id={recirc_id},\
             rule_cookie={},controller_id={},max_len={})",
            f.pause.reason,
            super::controller::cookie_text(self.rule_cookie),
            f.pause.id,
            f.pause.max_len
        );
        let meter = self.controller_meter(f.pause.meter_id);
        self.actions
            .push(DpAction::Userspace(Arc::new(UserspaceAction {
                desc,
                recirc_id,
                cookie: cookie.encode(),
                meter,
            })));
        Ok(())
    }

    /// Runs frozen stretches; if one pauses again, the rest are frozen after it.
    fn run_stretches(&mut self, stretches: &[FrozenStretch]) -> Result<(), XlateError> {
        for (i, s) in stretches.iter().enumerate() {
            self.table = s.table;
            self.rule_cookie = s.cookie;
            if self.freeze.is_some() {
                self.freeze_rest_stretch(s);
                continue;
            }
            self.do_actions(&s.actions)?;
            if self.freeze.is_some() {
                // Collected, not run: the packet-in shows the table and cookie of the
                // stretch that paused (as OVS, whose unroll markers are copied, not run).
                let (table, cookie) = (self.table, self.rule_cookie);
                for later in &stretches[i + 1..] {
                    self.table = later.table;
                    self.rule_cookie = later.cookie;
                    self.freeze_rest_stretch(later);
                }
                (self.table, self.rule_cookie) = (table, cookie);
                break;
            }
        }
        Ok(())
    }

    fn freeze_rest_stretch(&mut self, s: &FrozenStretch) {
        let (table, cookie) = (self.table, self.rule_cookie);
        if let Some(f) = self.freeze.as_mut()
            && f.stretches
                .last()
                .is_none_or(|l| (l.table, l.cookie) != (table, cookie))
        {
            f.stretches.push(FrozenStretch {
                table,
                cookie,
                actions: Vec::new(),
            });
        }
        self.freeze_rest(&s.actions);
    }
}

/// The UUID a bridge's continuations carry (OVS's `ofproto->uuid`): random per process and
/// bridge name, so a continuation made before a restart, or by another switch, is stale.
pub fn bridge_uuid(name: &str) -> [u8; 16] {
    use std::hash::BuildHasher;
    static SEED: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let seed = SEED.get_or_init(std::collections::hash_map::RandomState::new);
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&seed.hash_one((name, 0u8)).to_be_bytes());
    u[8..].copy_from_slice(&seed.hash_one((name, 1u8)).to_be_bytes());
    u
}

/// What `NXT_RESUME` resumes: the packet's flow as the controller sent it back, with the
/// pipeline metadata it carries, and the frozen actions.
#[derive(Clone, Debug)]
pub struct Resume {
    /// The packet's headers and metadata (registers, `metadata`, tunnel, conntrack), its
    /// `in_port` the OpenFlow input port.
    pub flow: FlowKey,
    /// The datapath port the packet came in on (`u32::MAX`: none).
    pub dp_in_port: u32,
    pub continuation: Continuation,
}

impl Resume {
    /// The flow the resumed pipeline starts from: conntrack fields are kept only if the
    /// packet was through conntrack when it was frozen (OVS's `clear_conntrack`).
    pub fn start_flow(&self) -> FlowKey {
        let mut f = self.flow;
        if !self.continuation.conntracked {
            f.ct_state = 0;
            f.ct_zone = 0;
            f.ct_mark = 0;
            f.ct_label = [0; 16];
        }
        f
    }
}

/// Resumes a paused translation (OVS's `xlate_resume`): the datapath actions for the packet.
pub fn translate_resume(ctx: &XlateCtx<'_>, r: &Resume) -> Result<Translation, XlateError> {
    let flow = r.start_flow();
    let mut key = flow;
    key.in_port = r.dp_in_port;
    let mut x = Xlator::new(ctx, &key, None);
    x.flow = flow;
    x.run_stretches(&r.continuation.stretches)?;
    x.finish_freezing()?;
    Ok(x.finish(&key))
}

#[cfg(test)]
mod tests;
