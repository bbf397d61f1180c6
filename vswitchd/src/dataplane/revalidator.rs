//! The revalidator: keeps every cached megaflow equal to what a fresh translation gives now,
//! and pushes megaflow counters into the OpenFlow rules they came from.
//!
//! For each megaflow it re-translates the megaflow's (masked) key with learning off. The
//! verdict: the new mask must lie within the old one (the new translation consulted no bit the
//! megaflow wildcards — otherwise packets of the megaflow could now translate differently), in
//! which case the megaflow is kept or gets the new actions; anything else deletes it and the next
//! packet takes an upcall. Translating the masked key is enough: every packet of the megaflow
//! agrees with it on every bit of the old mask, hence of the new one.
//!
//! Statistics: the datapath counts packets and bytes per megaflow, per thread. On a pass with
//! `push_stats`, the difference since the previous push is credited to every rule the
//! translation visits (as OVS's revalidator does with `xlate_push_stats`). Baselines are kept per
//! (thread, key, mask) and rebuilt on every such pass, so deleted megaflows do not linger.

use super::slowpath::SlowState;
use crate::xlate::{Credit, translate};
use fastpath::dpif::{Datapath, RevalidateSummary, Verdict};
use fastpath::flow::{FlowKey, FlowMask};
use std::collections::HashMap;

type Baselines = HashMap<(usize, FlowKey, FlowMask), (u64, u64)>;

/// Revalidator state that outlives a pass: counter baselines.
#[derive(Debug, Default)]
pub struct Revalidator {
    baselines: Baselines,
    /// MAC generation seen at the last pass.
    pub(crate) mac_generation: u64,
}

/// True if every bit of `inner` is also set in `outer`.
pub fn mask_within(inner: &FlowMask, outer: &FlowMask) -> bool {
    inner
        .words()
        .iter()
        .zip(outer.words())
        .all(|(i, o)| i & !o == 0)
}

impl Revalidator {
    /// One pass over every megaflow. The caller holds the slow path's lock (`state`): for
    /// writing after a configuration change, for reading on periodic passes.
    pub fn run(
        &mut self,
        dp: &Datapath,
        state: &SlowState,
        now_ms: u64,
        push_stats: bool,
    ) -> RevalidateSummary {
        let mut next: Baselines = HashMap::new();
        let old = &self.baselines;
        let summary = dp.revalidate_indexed(|thread, key, mask, _actions, stats| {
            let credit = if push_stats {
                let id = (thread, *key, *mask);
                let (p0, b0) = old.get(&id).copied().unwrap_or((0, 0));
                // A counter below its baseline means the megaflow was re-created.
                let (dp_, db) = if stats.packets >= p0 {
                    (stats.packets - p0, stats.bytes.saturating_sub(b0))
                } else {
                    (stats.packets, stats.bytes)
                };
                next.insert(id, (stats.packets, stats.bytes));
                (dp_ > 0).then_some(Credit {
                    packets: dp_,
                    bytes: db,
                })
            } else {
                None
            };
            let Some(mut ctx) = state.ctx_for(key.in_port, false, now_ms) else {
                return Verdict::Delete;
            };
            ctx.credit = credit;
            match translate(&ctx, key, None) {
                Ok(t) if mask_within(&t.mask, mask) => Verdict::Update(t.actions),
                _ => Verdict::Delete,
            }
        });
        if push_stats {
            self.baselines = next;
        } else {
            // Entries deleted by this pass keep stale baselines until the next stats pass,
            // which rebuilds the map; a re-created megaflow is detected by its lower count.
        }
        self.mac_generation = state.mac_generation();
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_within_is_bitwise_subset() {
        let mut a = FlowKey::ZERO;
        let mut b = FlowKey::ZERO;
        a.nw_src = 0xff00_0000;
        b.nw_src = 0xffff_0000;
        assert!(mask_within(&a, &b));
        assert!(!mask_within(&b, &a));
        a.tp_dst = 1;
        assert!(!mask_within(&a, &b));
    }
}
