//! The flow limit and eviction: megaflows are bounded datapath-wide (`flow-limit`); an install
//! at the limit first evicts a slice of the least recently used megaflows from the fullest
//! thread's table, taking one table lock at a time and never two at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::stats::SharedCounters;
use super::{Datapath, ThreadShared};

/// At the flow limit, installs evict `flow_limit / EVICT_SLICE` least recently used megaflows
/// at a time.
pub const EVICT_SLICE: usize = 16;

impl Datapath {
    /// Evicts least recently used megaflows if the datapath is at its flow limit. Takes one
    /// table lock at a time (the fullest thread's), never while holding another.
    pub(super) fn make_room(&self, own: &Arc<ThreadShared>) {
        let limit = self.flow_limit();
        let threads = self.threads.read().unwrap_or_else(|e| e.into_inner());
        let total: usize = threads
            .iter()
            .map(|t| t.megaflows.load(Ordering::Relaxed))
            .sum();
        if total < limit {
            return;
        }
        let victim = Arc::clone(
            threads
                .iter()
                .max_by_key(|t| t.megaflows.load(Ordering::Relaxed))
                .unwrap_or(own),
        );
        drop(threads);
        // Evict a slice at a time so the scan for the oldest (three passes over the table) is
        // amortised over many installs: at 1/64 of the limit, a storm of new flows spent more
        // of its datapath thread scanning for victims than translating.
        let n = (limit / EVICT_SLICE).max(1).max(total + 1 - limit);
        self.evict_from(&victim, n);
    }

    pub(super) fn evict_from(&self, victim: &ThreadShared, n: usize) -> usize {
        let mut table = victim.lock();
        let evicted = table.evict_oldest(n);
        victim.sync_len(&table);
        drop(table);
        SharedCounters::add(&self.shared.evicted, evicted as u64);
        evicted
    }

    /// The megaflow limit in force.
    pub fn flow_limit(&self) -> usize {
        self.flow_limit.load(Ordering::Relaxed)
    }

    /// Changes the megaflow limit (at least 1). A lower limit takes effect at once: the least
    /// recently used megaflows over it are evicted now (counted as evictions), fullest thread
    /// first, one table lock at a time. Returns how many were evicted.
    pub fn set_flow_limit(&self, limit: usize) -> usize {
        let limit = limit.max(1);
        self.flow_limit.store(limit, Ordering::Relaxed);
        let mut evicted = 0;
        loop {
            let threads = self.threads.read().unwrap_or_else(|e| e.into_inner());
            let total: usize = threads
                .iter()
                .map(|t| t.megaflows.load(Ordering::Relaxed))
                .sum();
            let Some(victim) = threads
                .iter()
                .max_by_key(|t| t.megaflows.load(Ordering::Relaxed))
                .cloned()
            else {
                return evicted;
            };
            drop(threads);
            if total <= limit {
                return evicted;
            }
            let n = self.evict_from(&victim, total - limit);
            if n == 0 {
                return evicted;
            }
            evicted += n;
        }
    }
}
