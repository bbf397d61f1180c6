//! Control-plane maintenance of a running datapath: revalidation with the owning thread's
//! index (so the slow path can keep per-thread counter baselines when it pushes megaflow
//! statistics into rules) and re-attaching ports whose interface went away.
//!
//! Revalidation decides outside the table locks and applies under them (see
//! [`Datapath::revalidate_indexed`]): a pass translates every megaflow, which on a full table
//! takes far longer than a datapath thread may pause.

use super::Datapath;
use crate::action::DpActions;
use crate::cache::megaflow::{FlowStats, MegaflowEntry, Retain};
use crate::flow::{FlowKey, FlowMask};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::revalidate::{RevalidateSummary, Verdict};

/// An entry's identity for the length of a pass: its address, which cannot be reused while
/// the pass's snapshot holds a reference to it.
fn entry_id(e: &Arc<MegaflowEntry>) -> usize {
    Arc::as_ptr(e) as usize
}

impl Datapath {
    /// As [`Datapath::revalidate`], with the index of the thread whose table holds each
    /// megaflow passed first. Identical megaflows can exist in several threads' tables; the
    /// index tells them apart.
    ///
    /// `decide` runs *outside* the table locks: a thread's table is locked once to take a
    /// snapshot of its entries (reference counts only) and once more, only if some verdict is
    /// not `Keep`, to apply the verdicts to the entries still there. A pass over many megaflows
    /// (each verdict is a full translation) therefore never stalls the thread's packets, which
    /// keep hitting the table in between. Soundness is unchanged: an entry installed after the
    /// snapshot came from an upcall that saw this pass's sequence bump (a translation that
    /// started before it retranslates instead of installing), and every verdict is applied
    /// before this returns.
    pub fn revalidate_indexed(
        &self,
        mut decide: impl FnMut(usize, &FlowKey, &FlowMask, &DpActions, FlowStats) -> Verdict,
    ) -> RevalidateSummary {
        self.reval_seq.fetch_add(1, Ordering::SeqCst);
        let mut sum = RevalidateSummary::default();
        let mut changes: HashMap<usize, Retain> = HashMap::new();
        for (i, t) in self.threads().iter().enumerate() {
            let snapshot: Vec<Arc<MegaflowEntry>> = t.lock().iter().cloned().collect();
            sum.examined += snapshot.len();
            for e in &snapshot {
                let change = match decide(i, e.key(), e.mask(), e.actions(), e.stats()) {
                    Verdict::Keep => continue,
                    Verdict::Update(a) if a == *e.actions() => continue,
                    Verdict::Update(a) => Retain::Replace(a),
                    Verdict::Delete => Retain::Remove,
                };
                changes.insert(entry_id(e), change);
            }
            if changes.is_empty() {
                continue;
            }
            let mut table = t.lock();
            // Entries evicted or expired since the snapshot are simply not visited.
            let (updated, deleted) = table.retain(|e| {
                changes
                    .remove(&(std::ptr::from_ref(e) as usize))
                    .unwrap_or(Retain::Keep)
            });
            t.sync_len(&table);
            drop(table);
            changes.clear();
            sum.updated += updated;
            sum.deleted += deleted;
        }
        let c = &self.shared;
        super::stats::SharedCounters::add(&c.revalidated, sum.examined as u64);
        super::stats::SharedCounters::add(&c.reval_updated, sum.updated as u64);
        super::stats::SharedCounters::add(&c.reval_deleted, sum.deleted as u64);
        sum
    }

    /// Tries to re-attach every port that is down (its interface disappeared: a VM powered
    /// off, a veth deleted). Returns `(port number, up)` for each port that was down, so the
    /// caller can log transitions.
    pub fn reopen_down_ports(&self) -> Vec<(u32, bool)> {
        let ports = self.ports.load();
        let mut out = Vec::new();
        for (no, p) in ports.iter() {
            if let Some(up) = p.reopen_down() {
                out.push((*no, up));
            }
        }
        out
    }

    /// Whether port `no` is up (`None` if there is no such port).
    pub fn port_is_up(&self, no: u32) -> Option<bool> {
        self.ports.load().get(&no).map(|p| p.is_up())
    }
}
