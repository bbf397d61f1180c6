//! The rule classifier: highest-priority match, plus the mask of every bit the answer needed.
//!
//! # What and why
//!
//! xlate asks each OpenFlow table "which rule matches this flow?" and must also learn which
//! header bits that answer depended on, because the union of those bits becomes the megaflow
//! mask the fast path caches under. A bit left out is a forwarding bug (some packet would get
//! another packet's actions); a needless bit only narrows the megaflow. So [`Classifier::lookup`]
//! guarantees *soundness* — every flow agreeing with the packet on the returned wildcard bits
//! gets the same answer — and works hard to keep those bits few, the way OVS does:
//!
//! - **Tuple-space search** ([`subtable`]): one hash table per distinct mask.
//! - **Priority-ordered subtables with early exit**: subtables are sorted by the best rank they
//!   hold; once the best match found outranks the next subtable, the rest are never looked at
//!   and contribute no bits.
//! - **Staged lookup** ([`stage`]): metadata | L2 | L3 | L4, with an index per stage, so a miss
//!   decided early pins down only the early fields.
//! - **Conjunctive matches** ([`conj`]): rules whose actions are `conjunction(id,k/n)` are
//!   *soft* matches, tallied per priority; a complete conjunction is looked up again with
//!   `conj_id` set. A classifier without them takes the plain paths.
//! - **Prefix tries** ([`trie`], [`prefix`]) on `nw_src`, `nw_dst`, `ipv6_src`, `ipv6_dst`, and a
//!   per-subtable trie on the port pair: a subtable matching a `/24` that cannot match is
//!   skipped with just the prefix bits that proved it (`10.0.8.0/21` for a packet from
//!   `10.0.9.x`, `tp_dst=0x100/0xff00` for port `0x1bb` against a port-80 rule).
//!
//! # Ordering rule
//!
//! Among matching rules the highest priority wins; equal priorities go to the earliest
//! inserted (a replacement counts as a new insertion). Both are folded into one `u64` *rank*
//! per rule — priority in the top 16 bits, inverted insertion sequence below — so ranks are
//! unique and "outranks" is a plain integer comparison, including for early exit.
//!
//! # Invariants
//!
//! Rule matches are stored normalized (`key & mask == key`). Every rule is in exactly one
//! subtable (the one for its mask) and, for each trie field on which its mask is a CIDR
//! prefix, once in that field's trie. `order` lists every non-empty subtable by descending
//! best rank. Lookups take `&self`, never allocate and never lock.

mod conj;
pub mod flow_match;
mod linear;
mod prefix;
mod stage;
mod subtable;
mod table;
mod trie;

#[cfg(test)]
mod conj_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use fastpath::flow::{FlowKey, FlowMask};

pub use conj::Conjunction;
pub use flow_match::Match;
pub use linear::LinearClassifier;
use prefix::{N_TRIES, TrieCtx, TrieField};
pub use stage::Stage;
use subtable::Subtable;
use trie::PrefixTrie;

/// Insertion sequence numbers live in the low 48 bits of a rank.
const SEQ_BITS: u32 = 48;
const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;

/// The rank of a rule: higher priority first, then earlier insertion.
#[inline]
fn make_rank(priority: u16, seq: u64) -> u64 {
    ((priority as u64) << SEQ_BITS) | (SEQ_MAX - (seq & SEQ_MAX))
}

/// The priority part of a rank.
#[inline]
fn rank_priority(rank: u64) -> u16 {
    (rank >> SEQ_BITS) as u16
}

/// `m` with its key masked (the form rules are stored and compared in).
#[inline]
fn normalize(m: &Match) -> Match {
    Match::new(m.key, m.mask)
}

/// A stored rule.
#[derive(Clone)]
struct RuleSlot<T> {
    m: Match,
    priority: u16,
    value: T,
    /// The rule's `conjunction` actions: non-empty makes it a soft match (see [`conj`]).
    conj: Box<[Conjunction]>,
}

/// OpenFlow-style rule classifier with wildcard tracking. `T` is the rule payload, e.g.
/// `Arc<Rule>`. Cloning copies the whole index (for copy-on-write publication).
#[derive(Clone)]
pub struct Classifier<T> {
    rules: Vec<Option<RuleSlot<T>>>,
    free_rules: Vec<u32>,
    subtables: Vec<Option<Subtable>>,
    free_subtables: Vec<u32>,
    by_mask: HashMap<FlowMask, u32, ahash::RandomState>,
    /// Non-empty subtables as (best rank, id), best first.
    order: Vec<(u64, u32)>,
    tries: [PrefixTrie; N_TRIES],
    next_seq: u64,
    len: usize,
    /// Rules with conjunctions; while zero, lookups take the plain paths.
    n_conj: usize,
}

impl<T> Default for Classifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Classifier<T> {
    /// An empty classifier.
    pub fn new() -> Self {
        Classifier {
            rules: Vec::new(),
            free_rules: Vec::new(),
            subtables: Vec::new(),
            free_subtables: Vec::new(),
            by_mask: HashMap::default(),
            order: Vec::new(),
            tries: Default::default(),
            next_seq: 0,
            len: 0,
            n_conj: 0,
        }
    }

    /// Inserts; an identical (match, priority) is replaced and its old value returned.
    pub fn insert(&mut self, m: &Match, priority: u16, value: T) -> Option<T> {
        self.insert_conj(m, priority, value, &[])
    }

    /// [`Classifier::insert`] for a rule whose actions are `conj` (a soft match when non-empty:
    /// it takes part in conjunctive matches and is never the answer itself).
    pub fn insert_conj(
        &mut self,
        m: &Match,
        priority: u16,
        value: T,
        conj: &[Conjunction],
    ) -> Option<T> {
        let m = normalize(m);
        let old = self.remove(&m, priority);
        let rank = make_rank(priority, self.next_seq);
        self.next_seq += 1;

        let st_id = match self.by_mask.get(&m.mask) {
            Some(&id) => id,
            None => {
                let st = Subtable::new(&m.mask);
                let id = match self.free_subtables.pop() {
                    Some(id) => {
                        self.subtables[id as usize] = Some(st);
                        id
                    }
                    None => {
                        self.subtables.push(Some(st));
                        (self.subtables.len() - 1) as u32
                    }
                };
                self.by_mask.insert(m.mask, id);
                id
            }
        };
        let slot = RuleSlot {
            m,
            priority,
            value,
            conj: conj.into(),
        };
        self.n_conj += usize::from(!conj.is_empty());
        let rule_id = match self.free_rules.pop() {
            Some(id) => {
                self.rules[id as usize] = Some(slot);
                id
            }
            None => {
                self.rules.push(Some(slot));
                (self.rules.len() - 1) as u32
            }
        };
        if let Some(st) = self.subtables[st_id as usize].as_mut() {
            st.insert(&m.key, rank, rule_id);
            for (i, f) in TrieField::ALL.iter().enumerate() {
                let plen = st.trie_plen(i);
                if plen > 0 {
                    self.tries[i].insert(f.value(&m.key), plen);
                }
            }
        }
        self.reorder(st_id);
        self.len += 1;
        old
    }

    /// Removes the rule with exactly this match and priority, returning its value.
    pub fn remove(&mut self, m: &Match, priority: u16) -> Option<T> {
        let m = normalize(m);
        let st_id = *self.by_mask.get(&m.mask)?;
        let st = self.subtables[st_id as usize].as_mut()?;
        let (rank, _) = st.find(&m.key, priority)?;
        let rule_id = st.remove(&m.key, rank)?;
        for (i, f) in TrieField::ALL.iter().enumerate() {
            let plen = st.trie_plen(i);
            if plen > 0 {
                self.tries[i].remove(f.value(&m.key), plen);
            }
        }
        if st.is_empty() {
            self.subtables[st_id as usize] = None;
            self.free_subtables.push(st_id);
            self.by_mask.remove(&m.mask);
        }
        self.reorder(st_id);
        self.len -= 1;
        let slot = self.rules[rule_id as usize].take()?;
        self.free_rules.push(rule_id);
        self.n_conj -= usize::from(!slot.conj.is_empty());
        Some(slot.value)
    }

    /// Puts subtable `st_id` back in its place in `order` after its best rank changed.
    fn reorder(&mut self, st_id: u32) {
        self.order.retain(|&(_, id)| id != st_id);
        let best = self.subtables[st_id as usize]
            .as_ref()
            .and_then(Subtable::max_rank);
        if let Some(rank) = best {
            let pos = self.order.partition_point(|&(r, _)| r > rank);
            self.order.insert(pos, (rank, st_id));
        }
    }

    /// The rule with exactly this match and priority.
    pub fn find_exact(&self, m: &Match, priority: u16) -> Option<&T> {
        let m = normalize(m);
        let st_id = *self.by_mask.get(&m.mask)?;
        let st = self.subtables[st_id as usize].as_ref()?;
        let (_, rule_id) = st.find(&m.key, priority)?;
        self.rules[rule_id as usize].as_ref().map(|r| &r.value)
    }

    /// Highest-priority rule matching `flow`. Ties (equal priority, both match): the earliest
    /// inserted wins (a replacement counts as a new insertion). If `wc` is given, ORs into it
    /// the mask of every bit of `flow` the lookup consulted, such that EVERY flow agreeing with
    /// `flow` on all bits of the resulting `wc` gets the same answer (soundness). Rules with
    /// conjunctions are never returned; they make `conj_id=N` rules match (see [`conj`]).
    pub fn lookup(&self, flow: &FlowKey, wc: Option<&mut FlowMask>) -> Option<&T> {
        let best = match wc {
            _ if self.n_conj != 0 => self.lookup_conj(flow, wc, true),
            None => self.lookup_plain(flow),
            Some(wc) => self.lookup_wc(flow, wc),
        };
        best.and_then(|id| self.rules[id as usize].as_ref())
            .map(|r| &r.value)
    }

    /// Lookup without wildcard tracking: one probe per subtable until early exit.
    fn lookup_plain(&self, flow: &FlowKey) -> Option<u32> {
        let mut best: Option<(u64, u32)> = None;
        for &(max_rank, st_id) in &self.order {
            if best.is_some_and(|(b, _)| max_rank < b) {
                break;
            }
            let Some(st) = &self.subtables[st_id as usize] else {
                continue;
            };
            if let Some(found) = st.lookup(flow)
                && best.is_none_or(|(b, _)| found.0 > b)
            {
                best = Some(found);
            }
        }
        best.map(|(_, id)| id)
    }

    /// Lookup with wildcard tracking: staged, trie-assisted probes until early exit.
    fn lookup_wc(&self, flow: &FlowKey, wc: &mut FlowMask) -> Option<u32> {
        let mut tries = TrieCtx::new(&self.tries);
        let mut best: Option<(u64, u32)> = None;
        for &(max_rank, st_id) in &self.order {
            if best.is_some_and(|(b, _)| max_rank < b) {
                break;
            }
            let Some(st) = &self.subtables[st_id as usize] else {
                continue;
            };
            if let Some(found) = st.lookup_wc(flow, wc, &mut tries)
                && best.is_none_or(|(b, _)| found.0 > b)
            {
                best = Some(found);
            }
        }
        best.map(|(_, id)| id)
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no rules.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every rule as (match, priority, value), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Match, u16, &T)> {
        self.rules
            .iter()
            .flatten()
            .map(|r| (&r.m, r.priority, &r.value))
    }

    /// Number of subtables (distinct masks).
    pub fn n_subtables(&self) -> usize {
        self.order.len()
    }

    /// The masks of the subtables in lookup order (best rank first).
    pub fn subtable_masks(&self) -> impl Iterator<Item = &FlowMask> {
        self.order
            .iter()
            .filter_map(|&(_, id)| self.subtables[id as usize].as_ref())
            .map(Subtable::mask)
    }

    /// Checks internal consistency (tests).
    #[cfg(test)]
    fn check_invariants(&self) {
        let n_live = self.rules.iter().flatten().count();
        assert_eq!(n_live, self.len);
        let n_conj = self
            .rules
            .iter()
            .flatten()
            .filter(|r| !r.conj.is_empty())
            .count();
        assert_eq!(n_conj, self.n_conj);
        let mut trie_counts = [0u64; N_TRIES];
        for r in self.rules.iter().flatten() {
            let st_id = self.by_mask[&r.m.mask];
            let st = self.subtables[st_id as usize].as_ref().unwrap();
            assert_eq!(st.mask(), &r.m.mask);
            let (rank, _) = st.find(&r.m.key, r.priority).unwrap();
            assert_eq!(rank_priority(rank), r.priority);
            for (i, c) in trie_counts.iter_mut().enumerate() {
                *c += (st.trie_plen(i) > 0) as u64;
            }
        }
        for (i, c) in trie_counts.iter().enumerate() {
            assert_eq!(self.tries[i].n_rules(), *c, "trie {i}");
        }
        let live_subtables = self.subtables.iter().flatten().count();
        assert_eq!(live_subtables, self.order.len());
        assert_eq!(live_subtables, self.by_mask.len());
        assert!(self.order.windows(2).all(|w| w[0].0 > w[1].0));
        let entries: usize = self.subtables.iter().flatten().map(|s| s.n_entries()).sum();
        assert!(entries <= self.len);
    }
}
