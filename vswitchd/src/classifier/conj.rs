//! Conjunctive matches: `conjunction(id,k/n)` rules and the `conj_id` lookup, as OVS does them.
//!
//! # What and why
//!
//! A conjunctive match says "the packet's source is one of these addresses AND its port one of
//! those": rather than the cross product of rules (m × n), each set element gets one rule whose
//! only actions are `conjunction(ID,K/N)` — "I am a member of dimension K of N of conjunction
//! ID" — and one ordinary rule matches `conj_id=ID` and carries the actions. OVN compiles every
//! ACL over an address set or port group this way.
//!
//! Rules with conjunction actions are *soft* matches: matching one of them proves nothing by
//! itself. The lookup follows OVS's `classifier_lookup__` step for step, because the answer
//! (and which bits the megaflow needs) depends on its exact order:
//!
//! 1. The usual priority-ordered subtable walk, but only an ordinary (*hard*) match moves the
//!    early-exit bar; soft matches of a priority above the best hard match are collected.
//! 2. If no soft match outranks the hard one, the hard one is the answer — the common case,
//!    at the cost of the walk alone.
//! 3. Otherwise, at the highest soft priority, the soft matches' conjunctions are tallied per
//!    id (a 64-bit clause set each); the first id whose every clause is present is looked up
//!    again with `conj_id` set to it, soft matches ignored. A rule found that way is the answer.
//! 4. If none is found, each soft match of that priority steps down to the next-lower-priority
//!    rule with the identical match (which may be hard, raising the bar), and step 3 repeats.
//!
//! As in OVS, the tally only counts conjunctions whose `N` does not exceed the number of soft
//! matches at the priority, and a 64-clause conjunction starts out complete (OVS's clause set
//! is `~0 << (N & 63)`), so any one of its clauses satisfies it once 64 soft matches are seen.
//!
//! # Wildcards
//!
//! Every subtable the walks visit adds its bits, as for any lookup: the dimensions consulted
//! and the `conj_id` rule's fields. `conj_id` itself is pipeline scratch (zero in the
//! datapath), so it never reaches a megaflow.
//!
//! # Cost
//!
//! A classifier without conjunction rules never enters this module. With them, a lookup that
//! meets no soft match allocates nothing; one that does keeps its tallies in small vectors.

use fastpath::flow::{FlowKey, FlowMask};

use super::prefix::TrieCtx;
use super::{Classifier, rank_priority};

/// One `conjunction(id,k/n)` action of a rule, as the classifier keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conjunction {
    /// The conjunction's id (the `conj_id` its rule matches).
    pub id: u32,
    /// The dimension, from 0 (`k - 1`).
    pub clause: u8,
    /// The number of dimensions, 2 to 64.
    pub n_clauses: u8,
}

/// A soft match still under consideration: the rule and where it sits in its entry's list.
#[derive(Clone, Copy, Debug)]
struct Soft {
    subtable: u32,
    /// Index in the entry's rules (highest rank first).
    pos: usize,
    rank: u64,
    rule: u32,
}

/// Tallies `conj`'s clauses into `matches` (per id: the clause bits seen, the absent ones
/// pre-set); returns the first id that becomes complete. Conjunctions of more than
/// `max_n_clauses` dimensions cannot be complete and are skipped.
fn tally(conj: &[Conjunction], max_n_clauses: usize, matches: &mut Vec<(u32, u64)>) -> Option<u32> {
    let min = conj.iter().map(|c| usize::from(c.n_clauses)).min()?;
    if max_n_clauses < min {
        return None;
    }
    for c in conj {
        if usize::from(c.n_clauses) > max_n_clauses {
            continue;
        }
        let i = match matches.iter().position(|(id, _)| *id == c.id) {
            Some(i) => i,
            None => {
                matches.push((c.id, u64::MAX << (c.n_clauses & 63)));
                matches.len() - 1
            }
        };
        matches[i].1 |= 1u64 << (c.clause & 63);
        if matches[i].1 == u64::MAX {
            return Some(c.id);
        }
    }
    None
}

impl<T> Classifier<T> {
    /// The lookup when the classifier holds conjunction rules (see the module docs).
    /// `allow_soft` is false for the `conj_id` lookup, which ignores soft matches.
    pub(super) fn lookup_conj(
        &self,
        flow: &FlowKey,
        mut wc: Option<&mut FlowMask>,
        allow_soft: bool,
    ) -> Option<u32> {
        let mut tries = TrieCtx::new(&self.tries);
        let mut hard: Option<(u64, u32)> = None;
        let mut soft: Vec<Option<Soft>> = Vec::new();
        let hard_pri =
            |hard: Option<(u64, u32)>| hard.map_or(-1, |(r, _)| i32::from(rank_priority(r)));

        for &(max_rank, st_id) in &self.order {
            if hard.is_some_and(|(b, _)| max_rank < b) {
                break;
            }
            let Some(st) = &self.subtables[st_id as usize] else {
                continue;
            };
            let found = match wc.as_deref_mut() {
                Some(wc) => st.lookup_wc(flow, wc, &mut tries),
                None => st.lookup(flow),
            };
            let Some((rank, rule)) = found else {
                continue;
            };
            let Some(slot) = self.rules[rule as usize].as_ref() else {
                continue;
            };
            if slot.conj.is_empty() {
                if hard.is_none_or(|(b, _)| rank > b) {
                    hard = Some((rank, rule));
                }
            } else if allow_soft && i32::from(slot.priority) > hard_pri(hard) {
                soft.push(Some(Soft {
                    subtable: st_id,
                    pos: 0,
                    rank,
                    rule,
                }));
            }
        }

        let mut matches: Vec<(u32, u64)> = Vec::new();
        loop {
            let bar = hard_pri(hard);
            let mut i = 0;
            while i < soft.len() {
                match soft[i] {
                    Some(s) if i32::from(rank_priority(s.rank)) > bar => i += 1,
                    _ => {
                        soft.swap_remove(i);
                    }
                }
            }
            if soft.is_empty() {
                break;
            }
            let soft_pri = soft.iter().flatten().map(|s| rank_priority(s.rank)).max()?;
            let n_soft_pri = soft
                .iter()
                .flatten()
                .filter(|s| rank_priority(s.rank) == soft_pri)
                .count();

            matches.clear();
            for s in soft.iter().flatten() {
                if rank_priority(s.rank) != soft_pri {
                    continue;
                }
                let Some(slot) = self.rules[s.rule as usize].as_ref() else {
                    continue;
                };
                if let Some(id) = tally(&slot.conj, n_soft_pri, &mut matches) {
                    let mut with_id = *flow;
                    with_id.conj_id = id;
                    if let Some(found) = self.lookup_conj(&with_id, wc.as_deref_mut(), false) {
                        return Some(found);
                    }
                }
            }

            // No conjunction of this priority led anywhere: each of its soft matches steps
            // down to the next rule with the identical match, if any.
            for entry in soft.iter_mut() {
                let Some(s) = *entry else { continue };
                if rank_priority(s.rank) != soft_pri {
                    continue;
                }
                let next = self.subtables[s.subtable as usize]
                    .as_ref()
                    .and_then(|st| st.matching_rules(flow).get(s.pos + 1).copied());
                *entry = None;
                let Some((rank, rule)) = next else { continue };
                let Some(slot) = self.rules[rule as usize].as_ref() else {
                    continue;
                };
                if slot.conj.is_empty() {
                    if hard.is_none_or(|(b, _)| rank > b) {
                        hard = Some((rank, rule));
                    }
                } else {
                    *entry = Some(Soft {
                        pos: s.pos + 1,
                        rank,
                        rule,
                        ..s
                    });
                }
            }
        }
        hard.map(|(_, id)| id)
    }
}
