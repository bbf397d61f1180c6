//! Control-plane maintenance of a running datapath: revalidation with the owning thread's
//! index (so the slow path can keep per-thread counter baselines when it pushes megaflow
//! statistics into rules) and re-attaching ports whose interface went away.

use super::Datapath;
use crate::action::DpActions;
use crate::cache::megaflow::{FlowStats, Retain};
use crate::flow::{FlowKey, FlowMask};
use std::sync::atomic::Ordering;

use super::revalidate::{RevalidateSummary, Verdict};

impl Datapath {
    /// As [`Datapath::revalidate`], with the index of the thread whose table holds each
    /// megaflow passed first. Identical megaflows can exist in several threads' tables; the
    /// index tells them apart.
    pub fn revalidate_indexed(
        &self,
        mut decide: impl FnMut(usize, &FlowKey, &FlowMask, &DpActions, FlowStats) -> Verdict,
    ) -> RevalidateSummary {
        self.reval_seq.fetch_add(1, Ordering::SeqCst);
        let mut sum = RevalidateSummary::default();
        for (i, t) in self.threads().iter().enumerate() {
            let mut table = t.lock();
            sum.examined += table.len();
            let (updated, deleted) =
                table.retain(
                    |e| match decide(i, e.key(), e.mask(), e.actions(), e.stats()) {
                        Verdict::Keep => Retain::Keep,
                        Verdict::Update(a) if a == *e.actions() => Retain::Keep,
                        Verdict::Update(a) => Retain::Replace(a),
                        Verdict::Delete => Retain::Remove,
                    },
                );
            t.sync_len(&table);
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
            let mut io = p.io();
            if !io.is_up() {
                out.push((*no, io.reopen()));
            }
        }
        out
    }

    /// Whether port `no` is up (`None` if there is no such port).
    pub fn port_is_up(&self, no: u32) -> Option<bool> {
        self.ports.load().get(&no).map(|p| p.io().is_up())
    }
}
