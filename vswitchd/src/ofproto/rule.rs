//! An OpenFlow rule as installed in a table, and its traffic counters.
//!
//! Rules are immutable once installed and shared as `Arc<Rule>` by the tables, xlate and the
//! revalidator. Only the counters change: [`RuleStats`] is a handle to atomics that the
//! revalidator credits with megaflow traffic through any `Arc<Rule>` it holds, with no lock.
//! A modify flow-mod installs a new `Rule` with the new actions that *shares* the old rule's
//! `RuleStats` handle, so counters survive it (OpenFlow 1.3) even while a revalidator is still
//! crediting the old `Arc`; an add that replaces a rule starts fresh counters.

use super::spec::{FlowSpec, TABLE_ALL};
use crate::ofproto::{Match, OfAction, ofpp};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[derive(Debug, Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    last_used_ms: AtomicU64,
    /// When a `learn` last re-learned the rule (restarts its hard timeout; 0: never).
    refreshed_ms: AtomicU64,
    /// Timeouts a `fin_timeout` reduced the rule's to (0: not reduced).
    fin_idle: AtomicU32,
    fin_hard: AtomicU32,
}

/// A shared handle to a rule's counters (cloning shares them).
#[derive(Clone, Debug, Default)]
pub struct RuleStats(Arc<Counters>);

impl RuleStats {
    /// Fresh, zeroed counters.
    pub fn new() -> RuleStats {
        RuleStats::default()
    }

    /// Adds traffic seen at `now_ms`.
    pub fn credit(&self, packets: u64, bytes: u64, now_ms: u64) {
        self.0.packets.fetch_add(packets, Ordering::Relaxed);
        self.0.bytes.fetch_add(bytes, Ordering::Relaxed);
        if packets > 0 {
            self.0.last_used_ms.fetch_max(now_ms, Ordering::Relaxed);
        }
    }

    pub fn packets(&self) -> u64 {
        self.0.packets.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.0.bytes.load(Ordering::Relaxed)
    }

    /// When a packet last hit the rule (0: never).
    pub fn last_used_ms(&self) -> u64 {
        self.0.last_used_ms.load(Ordering::Relaxed)
    }

    /// A `learn` found the rule already installed at `now_ms`: its hard timeout restarts
    /// (OVS's `ofproto_flow_mod_learn_refresh`).
    pub fn refresh(&self, now_ms: u64) {
        self.0.refreshed_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// When a `learn` last refreshed the rule (0: never).
    pub fn refreshed_ms(&self) -> u64 {
        self.0.refreshed_ms.load(Ordering::Relaxed)
    }

    /// `fin_timeout`: lowers the rule's idle and hard timeouts to `idle` / `hard` seconds
    /// where those are nonzero and shorter (OVS's `reduce_timeout`).
    pub fn reduce_timeouts(&self, idle: u16, hard: u16) {
        for (slot, v) in [(&self.0.fin_idle, idle), (&self.0.fin_hard, hard)] {
            if v != 0 {
                let _ = slot.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                    (old == 0 || u32::from(v) < old).then_some(u32::from(v))
                });
            }
        }
    }

    /// The (idle, hard) timeouts a `fin_timeout` set (0: none).
    pub fn reduced_timeouts(&self) -> (u16, u16) {
        (
            self.0.fin_idle.load(Ordering::Relaxed) as u16,
            self.0.fin_hard.load(Ordering::Relaxed) as u16,
        )
    }

    /// True if `self` and `other` are the same counters.
    pub fn shares_with(&self, other: &RuleStats) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One installed rule.
#[derive(Debug)]
pub struct Rule {
    /// Unique per bridge; kept across a modify, new on add.
    pub id: u64,
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    pub m: Match,
    pub actions: Vec<OfAction>,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// The flow-mod flags the rule keeps (`spec::ff::ALL`: OVS's `OFPUTIL_FF_STATE`).
    pub flags: u16,
    pub created_ms: u64,
    pub stats: RuleStats,
}

impl Rule {
    /// The rule's `conjunction` actions (empty for an ordinary rule), for the classifier.
    pub fn conjunctions(&self) -> Vec<crate::classifier::Conjunction> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                OfAction::Conjunction(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// True if an action outputs to `port` (the `out_port` filter of delete and dump;
    /// reserved ports count by their numbers, `ANY` matches every rule).
    pub fn has_output_to(&self, port: u32) -> bool {
        port == ofpp::ANY
            || super::action::flattened(&self.actions)
                .into_iter()
                .any(|a| {
                    let p = match a {
                        OfAction::Output(p) => *p,
                        OfAction::InPort => ofpp::IN_PORT,
                        OfAction::Normal => ofpp::NORMAL,
                        OfAction::Flood => ofpp::FLOOD,
                        OfAction::All => ofpp::ALL,
                        OfAction::Local => ofpp::LOCAL,
                        _ => return false,
                    };
                    p == port
                })
    }

    /// The rule's (idle, hard) timeouts now: as installed, or shorter after a `fin_timeout`.
    pub fn timeouts(&self) -> (u16, u16) {
        let reduce = |set: u16, fin: u16| {
            if fin != 0 && (set == 0 || fin < set) {
                fin
            } else {
                set
            }
        };
        let (fi, fh) = self.stats.reduced_timeouts();
        (reduce(self.idle_timeout, fi), reduce(self.hard_timeout, fh))
    }

    /// True if the rule has a `fin_timeout` action (it may get timeouts while installed).
    pub fn has_fin_timeout(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, OfAction::FinTimeout { .. }))
    }

    /// The instant the rule idles out (`None`: no idle timeout).
    pub fn idle_deadline_ms(&self) -> Option<u64> {
        let (idle, _) = self.timeouts();
        (idle != 0).then(|| self.created_ms.max(self.stats.last_used_ms()) + u64::from(idle) * 1000)
    }

    /// The instant the rule's hard timeout ends it (`None`: no hard timeout). A `learn` that
    /// re-learns the rule restarts it.
    pub fn hard_deadline_ms(&self) -> Option<u64> {
        let (_, hard) = self.timeouts();
        (hard != 0).then(|| self.created_ms.max(self.stats.refreshed_ms()) + u64::from(hard) * 1000)
    }

    /// True if a timeout has passed at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.idle_deadline_ms().is_some_and(|d| now_ms >= d)
            || self.hard_deadline_ms().is_some_and(|d| now_ms >= d)
    }

    /// The rule as an add-flow spec (for printing with `ofctl::format_flow` and for storage).
    pub fn to_spec(&self) -> FlowSpec {
        FlowSpec {
            table: self.table,
            priority: self.priority,
            cookie: self.cookie,
            cookie_mask: 0,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            out_port: None,
            flags: self.flags,
            m: self.m,
            actions: self.actions.clone(),
        }
    }

    /// True if the rule passes a dump / delete / modify filter's cookie and out_port parts.
    pub(crate) fn passes_filter(&self, filter: &FlowSpec) -> bool {
        (self.cookie ^ filter.cookie) & filter.cookie_mask == 0
            && filter.out_port.is_none_or(|p| self.has_output_to(p))
            && (filter.table == TABLE_ALL || filter.table == self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(actions: Vec<OfAction>) -> Rule {
        Rule {
            id: 1,
            table: 0,
            priority: 1,
            cookie: 0x12,
            m: Match::CATCHALL,
            actions,
            idle_timeout: 10,
            hard_timeout: 30,
            flags: 0,
            created_ms: 1_000,
            stats: RuleStats::new(),
        }
    }

    #[test]
    fn stats_are_shared_by_clones() {
        let s = RuleStats::new();
        let t = s.clone();
        t.credit(2, 100, 5_000);
        assert_eq!((s.packets(), s.bytes(), s.last_used_ms()), (2, 100, 5_000));
        s.credit(1, 1, 4_000);
        assert_eq!(t.last_used_ms(), 5_000, "last use never goes back");
        assert!(s.shares_with(&t));
        assert!(!s.shares_with(&RuleStats::new()));
    }

    #[test]
    fn timeouts_with_a_fake_clock() {
        let r = rule(vec![]);
        assert!(!r.is_expired(10_999));
        assert!(r.is_expired(11_000), "idle 10 s after creation");
        r.stats.credit(1, 60, 9_000);
        assert!(!r.is_expired(18_999));
        assert!(r.is_expired(19_000), "idle 10 s after last use");
        r.stats.credit(1, 60, 25_000);
        assert!(
            r.is_expired(31_000),
            "hard 30 s after creation, used or not"
        );
    }

    #[test]
    fn output_filter() {
        let r = rule(vec![OfAction::Output(3), OfAction::Local]);
        assert!(r.has_output_to(3));
        assert!(r.has_output_to(ofpp::LOCAL));
        assert!(!r.has_output_to(4));
        assert!(r.has_output_to(ofpp::ANY));
    }
}
