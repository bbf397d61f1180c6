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
//! (thread, key, mask), updated in place and stamped with the pass that last saw them; entries
//! a stats pass did not see are dropped at its end, so deleted megaflows do not linger. The map
//! hashes the key and mask as two runs of words (a megaflow identity is ~400 bytes: hashing it
//! field by field with SipHash, and rebuilding the map on every pass, cost more than the
//! translations on a full table).
//!
//! Cost: a stats pass translates only megaflows whose counters moved (see [`Revalidator::run`]),
//! so its cost follows the traffic, not the table size.

use super::slowpath::SlowState;
use crate::xlate::{Credit, translate};
use fastpath::dpif::{Datapath, RevalidateSummary, Verdict};
use fastpath::flow::{FlowKey, FlowMask};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// A megaflow's identity across passes: the thread whose table holds it, its key and mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MegaflowId {
    thread: usize,
    key: FlowKey,
    mask: FlowMask,
}

impl Hash for MegaflowId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.thread);
        // Integer slices hash as one byte run.
        self.key.words().hash(state);
        self.mask.words().hash(state);
    }
}

/// Counters a megaflow had when last pushed, and the pass that saw it.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    packets: u64,
    bytes: u64,
    pass: u64,
}

type Baselines = HashMap<MegaflowId, Baseline, ahash::RandomState>;

/// Revalidator state that outlives a pass: counter baselines.
#[derive(Debug, Default)]
pub struct Revalidator {
    baselines: Baselines,
    /// Stats passes so far (stamps baselines).
    passes: u64,
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
    ///
    /// A pass with `push_stats` is one where the caller changed nothing since the previous
    /// pass (counters are pushed before a change, on dump-flows and periodically): a megaflow
    /// whose counters did not move then needs no translation unless NORMAL's MAC table changed
    /// since the previous pass, because it was right at that pass and nothing it depends on
    /// changed. That keeps periodic passes cheap when a flood of one-packet megaflows fills the
    /// table. A pass without `push_stats` translates every megaflow.
    pub fn run(
        &mut self,
        dp: &Datapath,
        state: &SlowState,
        now_ms: u64,
        push_stats: bool,
    ) -> RevalidateSummary {
        // Read before translating: learning may go on during the pass, and a change it makes
        // after a megaflow was translated must trigger the next pass.
        let generation = state.mac_generation();
        let everything = !push_stats || generation != self.mac_generation;
        if push_stats {
            self.passes += 1;
        }
        let pass = self.passes;
        let baselines = &mut self.baselines;
        let summary = dp.revalidate_indexed(|thread, key, mask, _actions, stats| {
            let credit = if push_stats {
                let id = MegaflowId {
                    thread,
                    key: *key,
                    mask: *mask,
                };
                let b = baselines.entry(id).or_insert(Baseline {
                    packets: 0,
                    bytes: 0,
                    pass,
                });
                // A counter below its baseline means the megaflow was re-created.
                let (dp_, db) = if stats.packets >= b.packets {
                    (
                        stats.packets - b.packets,
                        stats.bytes.saturating_sub(b.bytes),
                    )
                } else {
                    (stats.packets, stats.bytes)
                };
                *b = Baseline {
                    packets: stats.packets,
                    bytes: stats.bytes,
                    pass,
                };
                (dp_ > 0).then_some(Credit {
                    packets: dp_,
                    bytes: db,
                })
            } else {
                None
            };
            if !everything && credit.is_none() {
                return Verdict::Keep;
            }
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
            // Megaflows this pass did not see are gone.
            self.baselines.retain(|_, b| b.pass == pass);
        } else {
            // Entries deleted by this pass keep stale baselines until the next stats pass,
            // which drops them; a re-created megaflow is detected by its lower count.
        }
        self.mac_generation = generation;
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
