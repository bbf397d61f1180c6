//! Learned flows on their way from translations to the tables.
//!
//! A translation runs under the slow path's *read* lock (many upcalls at once), so it cannot
//! change the tables. A `learn` action that finds its flow already installed, identical, only
//! refreshes it (an atomic store: the rule's hard timeout restarts), as OVS's
//! `ofproto_flow_mod_learn_refresh` does. A new or different flow is pushed onto the
//! [`LearnQueue`]: one short lock per *new* learned flow, never per packet, since packets of
//! a flow that learned are handled by its megaflow. The owner of the tables drains the queue
//! in batches ([`apply_learned`]) under the write lock and revalidates once per batch.
//!
//! Bounds: the queue holds at most [`LearnQueue::capacity`] flows (more are dropped and
//! counted; the next upcall or revalidation of the flow learns it again), `limit=N` caps the
//! flows with the action's cookie in its table (checked at translation for `result_dst`, and
//! again when applying), and a bridge stops learning at [`MAX_RULES`] rules.

use crate::ofproto::table::same_rule;
use crate::ofproto::{FlowMod, FlowSpec, FlowTables};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Default number of learned flows waiting to be applied.
pub const QUEUE_CAPACITY: usize = 65_536;

/// A bridge stops adding learned flows once it holds this many rules (the switch's own limit).
pub const MAX_RULES: usize = crate::switch::MAX_RULES_PER_BRIDGE;

/// One learned flow, for `bridge`, from an action with `limit` (0: none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    pub bridge: String,
    pub spec: FlowSpec,
    pub limit: u32,
}

/// Counters of the learn queue (`datapath-stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnStats {
    /// Flows queued by translations.
    pub queued: u64,
    /// Flows dropped because the queue was full.
    pub dropped: u64,
    /// Flows added or changed in the tables.
    pub installed: u64,
    /// Flows refused by `limit` or the bridge's rule limit.
    pub refused: u64,
}

/// Learned flows waiting for the table owner (see the module docs).
#[derive(Debug)]
pub struct LearnQueue {
    pending: Mutex<Vec<Learned>>,
    len: AtomicUsize,
    capacity: usize,
    queued: AtomicU64,
    dropped: AtomicU64,
    installed: AtomicU64,
    refused: AtomicU64,
    ready: tokio::sync::Notify,
}

impl Default for LearnQueue {
    fn default() -> Self {
        LearnQueue::new(QUEUE_CAPACITY)
    }
}

impl LearnQueue {
    /// An empty queue holding at most `capacity` flows.
    pub fn new(capacity: usize) -> LearnQueue {
        LearnQueue {
            pending: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            capacity,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            installed: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            ready: tokio::sync::Notify::new(),
        }
    }

    /// Most flows the queue holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Queues a learned flow; false (and counted) if the queue is full.
    pub fn push(&self, l: Learned) -> bool {
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        {
            let mut q = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            q.push(l);
            self.len.store(q.len(), Ordering::Relaxed);
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.ready.notify_one();
        true
    }

    /// Takes every queued flow, oldest first.
    pub fn take(&self) -> Vec<Learned> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        let mut q = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.len.store(0, Ordering::Relaxed);
        std::mem::take(&mut *q)
    }

    /// Number of queued flows.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves once a flow has been queued since the last wake-up.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Counts the outcome of applying a batch.
    pub fn count(&self, outcome: &Outcome) {
        self.installed
            .fetch_add(outcome.installed as u64, Ordering::Relaxed);
        self.refused
            .fetch_add(outcome.refused as u64, Ordering::Relaxed);
    }

    /// The counters.
    pub fn stats(&self) -> LearnStats {
        LearnStats {
            queued: self.queued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            installed: self.installed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// What applying learned flows to one bridge's tables did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Added or changed rules.
    pub installed: usize,
    /// Identical rules that were only refreshed.
    pub refreshed: usize,
    /// Flows refused (`limit`, the bridge's rule limit, or a table refusal).
    pub refused: usize,
}

/// The outcome a `learn` with `limit` would have now: true if `spec` is installed identical
/// or fits under the limit (OVS: the flows with the learn's cookie in its table).
pub fn within_limit(tables: &FlowTables, spec: &FlowSpec, limit: u32) -> bool {
    limit == 0
        || tables
            .find_exact(spec.table, &spec.m, spec.priority)
            .is_some()
        || tables.count_cookie(spec.table, spec.cookie) < limit as usize
}

/// Applies learned flows to `tables` at `now_ms`, in order: identical rules are refreshed,
/// others added (replacing a rule with the same match and priority) if the limits allow.
pub fn apply_learned<'a>(
    tables: &mut FlowTables,
    batch: impl IntoIterator<Item = &'a Learned>,
    now_ms: u64,
) -> Outcome {
    let mut out = Outcome::default();
    for l in batch {
        let s = &l.spec;
        if let Some(r) = tables.find_exact(s.table, &s.m, s.priority)
            && same_rule(r, s)
        {
            r.stats.refresh(now_ms);
            out.refreshed += 1;
            continue;
        }
        if !within_limit(tables, s, l.limit) || tables.len() >= MAX_RULES {
            out.refused += 1;
            continue;
        }
        match tables.apply(&[FlowMod::add(s.clone())], now_ms) {
            Ok(_) => out.installed += 1,
            Err(e) => {
                tracing::debug!(error = %e, "learned flow refused");
                out.refused += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};

    fn learned(flow: &str, limit: u32) -> Learned {
        Learned {
            bridge: "br0".into(),
            spec: parse_flow(flow, &NoNames, FlowSyntax::Add).unwrap(),
            limit,
        }
    }

    #[test]
    fn identical_flows_refresh_and_limits_refuse() {
        let mut t = FlowTables::new();
        let a = learned(
            "table=10,cookie=0x5,hard_timeout=10,dl_dst=00:00:00:00:00:01,actions=output:1",
            2,
        );
        let b = learned(
            "table=10,cookie=0x5,dl_dst=00:00:00:00:00:02,actions=output:2",
            2,
        );
        let c = learned(
            "table=10,cookie=0x5,dl_dst=00:00:00:00:00:03,actions=output:3",
            2,
        );
        let out = apply_learned(&mut t, [&a, &b, &c], 1_000);
        assert_eq!((out.installed, out.refused), (2, 1));
        let g = t.generation();
        // Learning the same flow again changes nothing but its hard timeout.
        let out = apply_learned(&mut t, [&a], 5_000);
        assert_eq!((out.installed, out.refreshed), (0, 1));
        assert_eq!(t.generation(), g, "a refresh is not a table change");
        let r = t.find_exact(10, &a.spec.m, a.spec.priority).unwrap();
        assert_eq!(r.hard_deadline_ms(), Some(15_000));
        // A changed flow (the MAC moved) replaces the old one, even at the limit.
        let moved = learned(
            "table=10,cookie=0x5,dl_dst=00:00:00:00:00:01,actions=output:4",
            2,
        );
        assert!(within_limit(&t, &moved.spec, 2));
        assert!(!within_limit(&t, &c.spec, 2));
        let out = apply_learned(&mut t, [&moved], 6_000);
        assert_eq!(out.installed, 1);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_queue_is_bounded() {
        let q = LearnQueue::new(2);
        let a = learned("table=1,actions=drop", 0);
        assert!(q.push(a.clone()));
        assert!(q.push(a.clone()));
        assert!(!q.push(a.clone()));
        assert_eq!(q.len(), 2);
        assert_eq!(q.take().len(), 2);
        assert!(q.is_empty());
        assert_eq!((q.stats().queued, q.stats().dropped), (2, 1));
    }
}
