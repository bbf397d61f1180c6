//! The recirculation id table: which frozen state each `recirc_id` stands for, and when an id
//! may be forgotten and handed to another state.
//!
//! # Lifecycle
//!
//! An id is *allocated* the first time a translation freezes a state no live id holds, and
//! *touched* whenever a translation freezes that state again or resumes from it. It is in use
//! while anything may still carry it:
//!
//! - a megaflow whose actions end in `recirc(id)` (packets will come back with it), or whose
//!   key matches `recirc_id=id` (it was translated from the state);
//! - a packet between its `recirc(id)` and its second-pass upcall, or a translation between
//!   allocating the id and installing its megaflow.
//!
//! OVS counts the first kind with references held by its megaflow handles (`ukey`s) and covers
//! the second with an RCU grace period (`ofproto-dpif-rid`). Here the datapath has no removal
//! hooks (megaflows are evicted, expired, replaced and flushed in several places on the packet
//! path), so the references are *recounted*: every revalidation pass already visits every
//! megaflow, collects the ids each carries ([`RecircTable::sweep`]'s `referenced`) and then
//! sweeps. An id is freed only if no megaflow of the pass referenced it **and** it was not
//! touched for [`DEFAULT_GRACE_MS`] before the pass started. That is sound for megaflows the
//! pass did not see: those were installed by upcalls whose translation started after the
//! pass's revalidation-sequence bump (an earlier one retranslates instead of installing), so
//! they touched their ids after the pass started. The grace period covers packets in flight,
//! which live for microseconds.
//!
//! # Reuse
//!
//! Ids are handed out by a cyclic counter over `1..=max_id` that skips ids still in the table,
//! so a freed id comes back only after the whole space (about 4·10⁹ ids) has gone round, long
//! after any cached state that could have named it. The number of live ids is bounded
//! ([`DEFAULT_RECIRC_LIMIT`]); past it, freezing a new state fails with
//! [`XlateError::RecircIdsExhausted`], which is counted ([`RecircStats::exhausted`]) and logged
//! at a bounded rate by the flood watch.

use super::super::error::XlateError;
use fastpath::action::{DpAction, NatSpec};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    /// For a `controller(pause)`: the frozen actions the packet-in carries and `NXT_RESUME`
    /// runs ([`crate::xlate::pause`]); such a state is never resumed by a recirculation.
    pub continuation: Option<std::sync::Arc<crate::xlate::pause::Continuation>>,
}

/// Default bound on live recirculation ids per datapath (megaflows, bounded by `flow-limit`,
/// hold almost all of them).
pub const DEFAULT_RECIRC_LIMIT: usize = 1 << 20;

/// How long an unreferenced id survives its last use (packets in flight).
pub const DEFAULT_GRACE_MS: u64 = 500;

/// Every recirculation id a megaflow holds: the one its key matches (if not the first pass)
/// and those its actions recirculate with.
pub fn recirc_ids(key_recirc_id: u32, actions: &[DpAction]) -> impl Iterator<Item = u32> + '_ {
    let mut ids = Vec::new();
    DpAction::walk(actions, &mut |a| match a {
        DpAction::Recirc(id) => ids.push(*id),
        DpAction::Userspace(u) if u.recirc_id != 0 => ids.push(u.recirc_id),
        _ => {}
    });
    (key_recirc_id != 0)
        .then_some(key_recirc_id)
        .into_iter()
        .chain(ids)
}

#[derive(Debug)]
struct Entry {
    state: Arc<FrozenState>,
    /// Table clock at the last allocation, touch or reference by a sweep.
    last_used_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_state: HashMap<Arc<FrozenState>, u32>,
    by_id: HashMap<u32, Entry>,
    /// Last id handed out (the next search starts after it).
    last: u32,
}

/// Counters of one table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecircStats {
    /// Ids in use now.
    pub live: u64,
    /// The bound on `live`.
    pub limit: u64,
    /// Ids allocated since start.
    pub allocated: u64,
    /// Ids freed since start.
    pub freed: u64,
    /// Freezes refused because the table was full.
    pub exhausted: u64,
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// Distinct live ids the pass's megaflows referenced.
    pub referenced: usize,
    /// Ids freed.
    pub freed: usize,
    /// Ids left.
    pub live: usize,
}

/// Recirculation id ↔ frozen state, shared by the bridges of one datapath.
#[derive(Debug)]
pub struct RecircTable {
    inner: Mutex<Inner>,
    limit: usize,
    max_id: u32,
    grace_ms: u64,
    /// The clock's origin; `None`: the clock is only what [`RecircTable::advance_clock`] added
    /// (deterministic tests).
    epoch: Option<Instant>,
    /// Added to the clock (tests move time forward with it).
    skew_ms: AtomicU64,
    allocated: AtomicU64,
    freed: AtomicU64,
    exhausted: AtomicU64,
}

impl Default for RecircTable {
    fn default() -> Self {
        Self::new()
    }
}

impl RecircTable {
    /// An empty table with [`DEFAULT_RECIRC_LIMIT`] and [`DEFAULT_GRACE_MS`].
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_RECIRC_LIMIT)
    }

    /// An empty table holding at most `limit` ids.
    pub fn with_limit(limit: usize) -> Self {
        Self::with_params(limit, u32::MAX, DEFAULT_GRACE_MS)
    }

    /// An empty table holding at most `limit` ids drawn from `1..=max_id`, keeping
    /// unreferenced ids `grace_ms` after their last use.
    pub fn with_params(limit: usize, max_id: u32, grace_ms: u64) -> Self {
        RecircTable {
            inner: Mutex::new(Inner::default()),
            limit: limit.min(max_id as usize),
            max_id: max_id.max(1),
            grace_ms,
            epoch: Some(Instant::now()),
            skew_ms: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves the two maps consistent before anything can panic (inserts and
        // removes of one pair), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The table's clock, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        let real = self.epoch.map_or(0, |e| e.elapsed().as_millis() as u64);
        real + self.skew_ms.load(Ordering::Relaxed)
    }

    /// As [`RecircTable::with_params`], on a clock that moves only with
    /// [`RecircTable::advance_clock`].
    #[cfg(test)]
    fn with_manual_clock(limit: usize, max_id: u32, grace_ms: u64) -> Self {
        RecircTable {
            epoch: None,
            ..Self::with_params(limit, max_id, grace_ms)
        }
    }

    /// The state of `id` without using it (tests).
    #[cfg(test)]
    fn peek(&self, id: u32) -> Option<Arc<FrozenState>> {
        self.lock().by_id.get(&id).map(|e| e.state.clone())
    }

    /// Moves the table's clock forward (tests of the grace period).
    pub fn advance_clock(&self, ms: u64) {
        self.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The id for `state`, allocating one if no live id holds it.
    pub fn id_for(&self, state: &FrozenState) -> Result<u32, XlateError> {
        let now = self.now_ms();
        let mut g = self.lock();
        if let Some(&id) = g.by_state.get(state) {
            if let Some(e) = g.by_id.get_mut(&id) {
                e.last_used_ms = now;
            }
            return Ok(id);
        }
        if g.by_id.len() >= self.limit {
            self.exhausted.fetch_add(1, Ordering::Relaxed);
            return Err(XlateError::RecircIdsExhausted(g.by_id.len()));
        }
        // The table holds fewer than `max_id` ids, so a free one exists.
        let mut id = g.last;
        loop {
            id = if id >= self.max_id { 1 } else { id + 1 };
            if !g.by_id.contains_key(&id) {
                break;
            }
        }
        g.last = id;
        let state = Arc::new(state.clone());
        g.by_state.insert(state.clone(), id);
        g.by_id.insert(
            id,
            Entry {
                state,
                last_used_ms: now,
            },
        );
        self.allocated.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// The frozen state of `id` (a use: it restarts the grace period).
    pub fn get(&self, id: u32) -> Option<Arc<FrozenState>> {
        let now = self.now_ms();
        let mut g = self.lock();
        let e = g.by_id.get_mut(&id)?;
        e.last_used_ms = now;
        Some(e.state.clone())
    }

    /// Frees every id that is neither in `referenced` (the ids the megaflows of a revalidation
    /// pass hold, in any order, with repeats) nor used in the grace period before
    /// `pass_started_ms` (this table's clock when the pass began, before it bumped the
    /// revalidation sequence). Referenced ids count as used now. `referenced` is left sorted.
    pub fn sweep(&self, referenced: &mut Vec<u32>, pass_started_ms: u64) -> SweepSummary {
        referenced.sort_unstable();
        referenced.dedup();
        let now = self.now_ms();
        let cutoff = pass_started_ms.saturating_sub(self.grace_ms);
        let mut g = self.lock();
        let mut sum = SweepSummary::default();
        for id in referenced.iter() {
            if let Some(e) = g.by_id.get_mut(id) {
                e.last_used_ms = now;
                sum.referenced += 1;
            }
        }
        let Inner {
            by_state, by_id, ..
        } = &mut *g;
        by_id.retain(|_, e| {
            let keep = e.last_used_ms >= cutoff;
            if !keep {
                by_state.remove(&e.state);
                sum.freed += 1;
            }
            keep
        });
        sum.live = by_id.len();
        drop(g);
        self.freed.fetch_add(sum.freed as u64, Ordering::Relaxed);
        sum
    }

    /// Number of ids in use.
    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    /// True if no id is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table's counters.
    pub fn stats(&self) -> RecircStats {
        RecircStats {
            live: self.len() as u64,
            limit: self.limit as u64,
            allocated: self.allocated.load(Ordering::Relaxed),
            freed: self.freed.load(Ordering::Relaxed),
            exhausted: self.exhausted.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests;
