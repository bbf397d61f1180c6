//! Revalidation support: dumping, re-deciding, expiring and flushing megaflows.
//!
//! # Design
//!
//! The revalidator lives in the slow path (`vswitchd`): after a rule change it re-translates
//! every megaflow and tells the datapath, per megaflow, to keep it, replace its actions, or
//! delete it ([`Datapath::revalidate`]). The datapath's part is to bump the revalidation
//! sequence *first*, so that an upcall whose translation started before the rule change does
//! not install its (possibly stale) result afterwards, then to snapshot each thread's table,
//! ask for the verdicts with no table lock held (they are translations: a full table takes
//! long), and apply them under the table's lock, so each verdict lands atomically with respect
//! to the thread's packet processing.
//!
//! The caller must hold the slow path's write lock (the one translations take for reading)
//! around the rule change *and* the `revalidate` call: that is what makes "after a rule change
//! is acknowledged, no megaflow gives the old answer" hold. The callback must not call back into
//! the datapath.
//!
//! Idle expiry ([`Datapath::sweep`]) and dumps work the same way, one table lock at a time.

use super::Datapath;
use super::stats::SharedCounters;
use crate::action::DpActions;
use crate::cache::FlowStats;
use crate::flow::{FlowKey, FlowMask};
use std::sync::atomic::Ordering;

/// What to do with a revalidated megaflow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The actions are still right.
    Keep,
    /// Same match, new actions. Only sound if the new translation's mask is within the old
    /// one (it consulted no bit the megaflow wildcards); otherwise answer `Delete`.
    Update(DpActions),
    /// Remove the megaflow (the next packet takes an upcall).
    Delete,
}

/// What one [`Datapath::revalidate`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevalidateSummary {
    pub examined: usize,
    pub updated: usize,
    pub deleted: usize,
}

/// One megaflow as dumped (`dump-megaflows`, trace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MegaflowDump {
    /// The masked key.
    pub key: FlowKey,
    pub mask: FlowMask,
    pub actions: DpActions,
    pub stats: FlowStats,
    /// Index of the datapath thread whose table holds it.
    pub thread: usize,
}

impl Datapath {
    /// Runs `decide(key, mask, actions, stats)` over every megaflow of every thread and applies
    /// its verdict. See the module docs for the locking contract.
    pub fn revalidate(
        &self,
        mut decide: impl FnMut(&FlowKey, &FlowMask, &DpActions, FlowStats) -> Verdict,
    ) -> RevalidateSummary {
        self.revalidate_indexed(|_, key, mask, actions, stats| decide(key, mask, actions, stats))
    }

    /// Deletes megaflows unused for the configured idle timeout. Returns how many.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let mut expired = 0;
        for t in self.threads() {
            let mut table = t.lock();
            expired += table.expire_idle(now_ms, self.config.idle_timeout_ms);
            t.sync_len(&table);
        }
        SharedCounters::add(&self.shared.expired, expired as u64);
        expired
    }

    /// Deletes every megaflow (as a revalidation that deletes all).
    pub fn flush_megaflows(&self) -> usize {
        self.revalidate(|_, _, _, _| Verdict::Delete).deleted
    }

    /// Every megaflow with its statistics.
    pub fn dump_megaflows(&self) -> Vec<MegaflowDump> {
        let mut out = Vec::new();
        for (thread, t) in self.threads().iter().enumerate() {
            let table = t.lock();
            out.extend(table.iter().map(|e| MegaflowDump {
                key: *e.key(),
                mask: *e.mask(),
                actions: e.actions().clone(),
                stats: e.stats(),
                thread,
            }));
        }
        out
    }

    /// Handles on every megaflow (the shared entries, not copies): a dump streams from these,
    /// reading each entry only when its turn comes.
    pub fn megaflow_entries(&self) -> Vec<std::sync::Arc<crate::cache::megaflow::MegaflowEntry>> {
        let mut out = Vec::new();
        for t in self.threads().iter() {
            out.extend(t.lock().iter().cloned());
        }
        out
    }

    /// Number of megaflows installed over all threads.
    pub fn megaflow_count(&self) -> usize {
        self.threads()
            .iter()
            .map(|t| t.megaflows.load(Ordering::Relaxed))
            .sum()
    }
}
