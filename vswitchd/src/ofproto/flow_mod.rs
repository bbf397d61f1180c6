//! Flow-mods with OpenFlow 1.3 semantics, planned before they touch the tables.
//!
//! A bundle of flow-mods (add-flows, a single mod-flows, ...) is all-or-nothing. Rather than
//! undoing a half-applied bundle — which would reorder equal-priority rules inside the
//! classifier — a [`Plan`] first runs every flow-mod against a read-only view of the tables plus
//! an overlay of the bundle's own earlier effects, validating as it goes and recording the
//! concrete inserts and removals. Only a bundle that planned without error is executed, and
//! execution cannot fail, so a rejected bundle leaves the tables exactly as they were.
//!
//! Semantics (OpenFlow 1.3 §6.4, as OVS implements them):
//! - add: a rule with the identical match and priority in that table is replaced by a new rule
//!   (new id, counters reset).
//! - modify (non-strict): every rule whose match is at least as specific as the given match and
//!   whose cookie matches `cookie/cookie_mask` gets the new actions, keeping id, counters,
//!   timeouts and cookie; strict: only the rule with the identical match and priority. Nothing
//!   matched: nothing happens (OF1.3 no longer adds). A nonzero `cookie` with `cookie_mask == 0`
//!   sets the cookie of the modified rules (ovs-ofctl's `cookie=C` in mod-flows).
//! - delete / delete-strict: as modify's selection, plus the `out_port` filter.
//! - flags ([`ff`]): a rule keeps the flags it was added with (a modify changes neither them
//!   nor its timeouts, as OVS); `check_overlap` refuses an add when a rule of the same table
//!   and priority, other than the one it would replace, could match a packet the new one
//!   matches (OVS's `classifier_rule_overlaps`); `reset_counts` on a modify gives the changed
//!   rules fresh counters.
//! - `table_any` (or `spec.table == 255`) selects every table for modify and delete.

use super::rule::{Rule, RuleStats};
use super::spec::{FlowSpec, TABLE_ALL, ff};
use crate::classifier::Classifier;
use crate::ofproto::action::N_TABLES;
use crate::ofproto::{Match, OfAction};
use std::collections::HashMap;
use std::sync::Arc;

/// What a flow-mod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowModCommand {
    Add,
    Modify { strict: bool },
    Delete { strict: bool },
}

/// One flow-mod: a command and the flow it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    pub command: FlowModCommand,
    pub spec: FlowSpec,
    /// Modify / delete in every table (as `spec.table == 255`).
    pub table_any: bool,
}

impl FlowMod {
    pub fn add(spec: FlowSpec) -> FlowMod {
        FlowMod {
            command: FlowModCommand::Add,
            spec,
            table_any: false,
        }
    }

    pub fn modify(spec: FlowSpec, strict: bool) -> FlowMod {
        FlowMod {
            command: FlowModCommand::Modify { strict },
            spec,
            table_any: false,
        }
    }

    pub fn delete(spec: FlowSpec, strict: bool) -> FlowMod {
        FlowMod {
            command: FlowModCommand::Delete { strict },
            spec,
            table_any: false,
        }
    }

    fn all_tables(&self) -> bool {
        self.table_any || self.spec.table == TABLE_ALL
    }
}

/// Why a bundle of flow-mods was rejected (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    #[error("table {0} does not exist (tables are 0..254)")]
    NoSuchTable(u8),
    #[error("a flow is added to one table, not to all tables")]
    AddToAllTables,
    #[error("goto_table:{target} in table {table} must go to a later table")]
    GotoBackward { table: u8, target: u8 },
    #[error("goto_table must be the last action")]
    GotoNotLast,
    #[error("{action} refers to table {target}, which does not exist (tables are 0..254)")]
    NoSuchTargetTable { action: &'static str, target: u8 },
    #[error("group {0} does not exist (add it with add-group first)")]
    NoSuchGroup(u32),
    #[error("check_overlap: a flow of priority {priority} in table {table} overlaps this one")]
    Overlap { table: u8, priority: u16 },
    #[error("meter {0} does not exist (add it with add-meter first)")]
    NoSuchMeter(u32),
    /// `index` is 0-based; the message counts from 1.
    #[error("flow {} of the bundle", .index + 1)]
    InBundle {
        index: usize,
        #[source]
        source: Box<FlowModError>,
    },
}

/// What a successful bundle changed. A rule replaced by an add appears in `removed` (old) and
/// `added` (new); a modified rule in `modified` as (old, new).
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub added: Vec<Arc<Rule>>,
    pub modified: Vec<(Arc<Rule>, Arc<Rule>)>,
    pub removed: Vec<Arc<Rule>>,
    /// The removed rules that went for a reason OpenFlow reports (not those an add
    /// replaced), with that reason (`OFPRR_*`, [`crate::openflow::flow_removed::reason`]).
    pub gone: Vec<(Arc<Rule>, u8)>,
}

impl Applied {
    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// (table, match, priority): a rule's identity within the tables.
pub(crate) type RuleKey = (u8, Match, u16);

/// A concrete change to execute.
pub(crate) enum Op {
    /// Insert, replacing any rule with the same key.
    Insert(Arc<Rule>),
    /// Remove the rule with this rule's key.
    Remove(Arc<Rule>),
}

/// Checks `actions` for a rule in `table`.
pub(crate) fn validate_actions(actions: &[OfAction], table: u8) -> Result<(), FlowModError> {
    let exists = |action, t: u8| {
        if (t as usize) < N_TABLES {
            Ok(())
        } else {
            Err(FlowModError::NoSuchTargetTable { action, target: t })
        }
    };
    for (i, a) in actions.iter().enumerate() {
        match a {
            OfAction::GotoTable(t) => {
                exists("goto_table", *t)?;
                if *t <= table {
                    return Err(FlowModError::GotoBackward { table, target: *t });
                }
                if i + 1 != actions.len() {
                    return Err(FlowModError::GotoNotLast);
                }
            }
            OfAction::Resubmit { table: Some(t), .. } => exists("resubmit", *t)?,
            OfAction::Learn(l) => exists("learn", l.table)?,
            OfAction::Ct(ct) => {
                if let Some(t) = ct.table {
                    exists("ct", t)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// True if some packet could match both `a` and `b`: they agree wherever both care.
pub(crate) fn overlaps(a: &Match, b: &Match) -> bool {
    a.mask
        .words()
        .iter()
        .zip(b.mask.words())
        .zip(a.key.words().iter().zip(b.key.words()))
        .all(|((am, bm), (ak, bk))| (ak ^ bk) & am & bm == 0)
}

/// A bundle being planned against a read-only view of the tables.
pub(crate) struct Plan<'t> {
    tables: &'t [Classifier<Arc<Rule>>],
    /// The bundle's effects so far: `Some` = rule now present, `None` = removed. Keyed by a
    /// whole match (two flow keys), hashed with ahash: SipHash over it cost a bundle more than
    /// its classifier work.
    overlay: HashMap<RuleKey, Option<Arc<Rule>>, ahash::RandomState>,
    pub ops: Vec<Op>,
    pub applied: Applied,
    pub next_id: u64,
}

impl<'t> Plan<'t> {
    pub(crate) fn new(tables: &'t [Classifier<Arc<Rule>>], next_id: u64) -> Plan<'t> {
        Plan {
            tables,
            overlay: HashMap::default(),
            ops: Vec::new(),
            applied: Applied::default(),
            next_id,
        }
    }

    /// Plans one flow-mod.
    pub(crate) fn flow_mod(&mut self, fm: &FlowMod, now_ms: u64) -> Result<(), FlowModError> {
        let spec = &fm.spec;
        let m = Match::new(spec.m.key, spec.m.mask);
        match fm.command {
            FlowModCommand::Add => {
                if fm.all_tables() {
                    return Err(FlowModError::AddToAllTables);
                }
                self.add(spec, now_ms)
            }
            FlowModCommand::Modify { strict } => {
                for old in self.select(fm, &m, strict, false)? {
                    validate_actions(&spec.actions, old.table)?;
                    let cookie = if spec.cookie_mask == 0 && spec.cookie != 0 {
                        spec.cookie
                    } else {
                        old.cookie
                    };
                    let new = Arc::new(Rule {
                        id: old.id,
                        table: old.table,
                        priority: old.priority,
                        cookie,
                        m: old.m,
                        actions: spec.actions.clone(),
                        idle_timeout: old.idle_timeout,
                        hard_timeout: old.hard_timeout,
                        flags: old.flags,
                        created_ms: old.created_ms,
                        stats: if spec.flags & ff::RESET_COUNTS != 0 {
                            RuleStats::new()
                        } else {
                            old.stats.clone()
                        },
                    });
                    self.put(new.clone());
                    self.applied.modified.push((old, new));
                }
                Ok(())
            }
            FlowModCommand::Delete { strict } => {
                for old in self.select(fm, &m, strict, true)? {
                    self.take(&old);
                    self.applied
                        .gone
                        .push((old.clone(), crate::openflow::flow_removed::reason::DELETE));
                    self.applied.removed.push(old);
                }
                Ok(())
            }
        }
    }

    /// Plans an add of `spec` (replacing an identical rule).
    pub(crate) fn add(&mut self, spec: &FlowSpec, now_ms: u64) -> Result<(), FlowModError> {
        if spec.table as usize >= N_TABLES {
            return Err(FlowModError::NoSuchTable(spec.table));
        }
        validate_actions(&spec.actions, spec.table)?;
        let m = Match::new(spec.m.key, spec.m.mask);
        if spec.flags & ff::CHECK_OVERLAP != 0
            && self
                .rules_in(spec.table)
                .iter()
                .any(|r| r.priority == spec.priority && r.m != m && overlaps(&r.m, &m))
        {
            return Err(FlowModError::Overlap {
                table: spec.table,
                priority: spec.priority,
            });
        }
        let rule = Arc::new(Rule {
            id: self.next_id,
            table: spec.table,
            priority: spec.priority,
            cookie: spec.cookie,
            m,
            actions: if spec.actions.is_empty() {
                vec![OfAction::Drop]
            } else {
                spec.actions.clone()
            },
            idle_timeout: spec.idle_timeout,
            hard_timeout: spec.hard_timeout,
            flags: spec.flags & ff::ALL,
            created_ms: now_ms,
            stats: RuleStats::new(),
        });
        self.next_id += 1;
        if let Some(old) = self.get(&(spec.table, m, spec.priority)) {
            self.applied.removed.push(old);
        }
        self.put(rule.clone());
        self.applied.added.push(rule);
        Ok(())
    }

    /// OVS's `delete_learned`: once no rule is left with a `learn(delete_learned)` of some
    /// (table, cookie), the flows in that table with that cookie (what it learned) go too,
    /// in the same change (OVS's `learned_cookies_flush`).
    pub(crate) fn delete_learned(&mut self) {
        fn keys(r: &Rule) -> impl Iterator<Item = (u8, u64)> + '_ {
            r.actions.iter().filter_map(|a| match a {
                OfAction::Learn(l) if l.delete_learned => Some((l.table, l.cookie)),
                _ => None,
            })
        }
        let mut gone_keys: Vec<(u8, u64)> = self
            .applied
            .removed
            .iter()
            .chain(self.applied.modified.iter().map(|(old, _)| old))
            .flat_map(|r| keys(r).collect::<Vec<_>>())
            .collect();
        if gone_keys.is_empty() {
            return;
        }
        gone_keys.sort_unstable();
        gone_keys.dedup();
        let live: Vec<Arc<Rule>> = (0..N_TABLES as u8)
            .filter(|t| self.has_rules(*t))
            .flat_map(|t| self.rules_in(t))
            .collect();
        for (table, cookie) in gone_keys {
            if live.iter().any(|r| keys(r).any(|k| k == (table, cookie))) {
                continue;
            }
            let mut learned: Vec<Arc<Rule>> = self
                .rules_in(table)
                .into_iter()
                .filter(|r| r.cookie == cookie)
                .collect();
            learned.sort_by_key(|r| r.id);
            for r in learned {
                self.take(&r);
                self.applied
                    .gone
                    .push((r.clone(), crate::openflow::flow_removed::reason::DELETE));
                self.applied.removed.push(r);
            }
        }
    }

    /// Plans removing `rule`.
    pub(crate) fn take(&mut self, rule: &Arc<Rule>) {
        let key = (rule.table, rule.m, rule.priority);
        self.overlay.insert(key, None);
        self.ops.push(Op::Remove(rule.clone()));
    }

    fn put(&mut self, rule: Arc<Rule>) {
        self.overlay
            .insert((rule.table, rule.m, rule.priority), Some(rule.clone()));
        self.ops.push(Op::Insert(rule));
    }

    /// The rule with exactly this key, as the bundle has left it so far.
    fn get(&self, key: &RuleKey) -> Option<Arc<Rule>> {
        match self.overlay.get(key) {
            Some(r) => r.clone(),
            None => self.tables[key.0 as usize]
                .find_exact(&key.1, key.2)
                .cloned(),
        }
    }

    /// Every rule of `table` as the bundle has left it so far.
    pub(crate) fn rules_in(&self, table: u8) -> Vec<Arc<Rule>> {
        let mut out: Vec<Arc<Rule>> = self.tables[table as usize]
            .iter()
            .filter(|(m, p, _)| !self.overlay.contains_key(&(table, **m, *p)))
            .map(|(_, _, r)| r.clone())
            .collect();
        out.extend(
            self.overlay
                .iter()
                .filter(|((t, _, _), _)| *t == table)
                .filter_map(|(_, r)| r.clone()),
        );
        out
    }

    /// The rules a modify or delete selects, in a deterministic order (table, priority desc, id).
    fn select(
        &self,
        fm: &FlowMod,
        m: &Match,
        strict: bool,
        is_delete: bool,
    ) -> Result<Vec<Arc<Rule>>, FlowModError> {
        let spec = &fm.spec;
        let tables: Vec<u8> = if fm.all_tables() {
            (0..N_TABLES as u8).filter(|t| self.has_rules(*t)).collect()
        } else if (spec.table as usize) < N_TABLES {
            vec![spec.table]
        } else {
            return Err(FlowModError::NoSuchTable(spec.table));
        };
        let mut out = Vec::new();
        for t in tables {
            let candidates = if strict {
                self.get(&(t, *m, spec.priority)).into_iter().collect()
            } else {
                self.rules_in(t)
            };
            out.extend(candidates.into_iter().filter(|r| {
                (strict || r.m.is_subset_of(m))
                    && (r.cookie ^ spec.cookie) & spec.cookie_mask == 0
                    && (!is_delete || spec.out_port.is_none_or(|p| r.has_output_to(p)))
            }));
        }
        out.sort_by(|a, b| (a.table, b.priority, a.id).cmp(&(b.table, a.priority, b.id)));
        Ok(out)
    }

    fn has_rules(&self, table: u8) -> bool {
        !self.tables[table as usize].is_empty() || self.overlay.keys().any(|(t, _, _)| *t == table)
    }
}

#[cfg(test)]
mod tests {
    //! Model-based property test: random bundles of flow-mods against a brute-force model of
    //! the OpenFlow 1.3 rules, including rejected bundles (which must change nothing).

    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::FlowTables;
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    struct ModelRule {
        table: u8,
        priority: u16,
        id: u64,
        cookie: u64,
        actions: Vec<String>,
        packets: u64,
        /// Index into MATCHES.
        m: usize,
    }

    const MATCHES: [&str; 7] = [
        "",
        "ip",
        "tcp",
        "tcp,tp_dst=80",
        "ip,nw_src=10.0.0.0/8",
        "tcp,nw_src=10.0.0.0/8,tp_dst=80",
        "arp",
    ];

    fn parse(s: &str) -> Match {
        parse_flow(s, &NoNames, FlowSyntax::MatchOnly).unwrap().m
    }

    fn index_of(m: &Match) -> usize {
        MATCHES.iter().position(|s| parse(s) == *m).unwrap()
    }

    #[derive(Clone, Debug)]
    struct GenMod {
        kind: u8,
        table: u8,
        m: usize,
        priority: u16,
        cookie: u64,
        cookie_mask: u64,
        out_port: Option<u32>,
        output: u32,
    }

    fn gen_mod() -> impl Strategy<Value = GenMod> {
        (
            0u8..6,
            prop_oneof![Just(0u8), Just(1), Just(255)],
            0..MATCHES.len(),
            1u16..3,
            prop_oneof![Just(1u64), Just(2), Just(0x11)],
            prop_oneof![Just(0u64), Just(0xf), Just(0xff)],
            prop_oneof![Just(None), Just(Some(1u32)), Just(Some(2))],
            1u32..4,
        )
            .prop_map(
                |(kind, table, m, priority, cookie, cookie_mask, out_port, output)| GenMod {
                    kind,
                    table,
                    m,
                    priority,
                    cookie,
                    cookie_mask,
                    out_port,
                    output,
                },
            )
    }

    fn to_flow_mod(g: &GenMod) -> FlowMod {
        let mut spec = parse_flow(MATCHES[g.m], &NoNames, FlowSyntax::MatchOnly).unwrap();
        spec.priority = g.priority;
        spec.table = g.table;
        spec.actions = vec![OfAction::Output(g.output)];
        spec.cookie = g.cookie & g.cookie_mask;
        spec.cookie_mask = g.cookie_mask;
        match g.kind {
            0 | 1 => {
                spec.table = g.table.min(1);
                spec.cookie = g.cookie;
                spec.cookie_mask = 0;
                FlowMod::add(spec)
            }
            2 | 3 => FlowMod::modify(spec, g.kind == 3),
            _ => {
                spec.out_port = g.out_port;
                spec.actions.clear();
                FlowMod::delete(spec, g.kind == 5)
            }
        }
    }

    fn actions_text(a: &[OfAction]) -> Vec<String> {
        a.iter()
            .map(|a| crate::ofctl::format_action(a, &NoNames))
            .collect()
    }

    /// The model: OpenFlow 1.3 semantics written as directly as possible.
    fn model_apply(model: &mut Vec<ModelRule>, next_id: &mut u64, fm: &FlowMod) {
        let s = &fm.spec;
        let mi = index_of(&s.m);
        let selected = |r: &ModelRule, strict: bool, del: bool| {
            (s.table == 255 || r.table == s.table)
                && if strict {
                    r.m == mi && r.priority == s.priority
                } else {
                    parse(MATCHES[r.m]).is_subset_of(&s.m)
                }
                && (r.cookie ^ s.cookie) & s.cookie_mask == 0
                && (!del
                    || s.out_port
                        .is_none_or(|p| r.actions.contains(&format!("output:{p}"))))
        };
        match fm.command {
            FlowModCommand::Add => {
                model.retain(|r| !(r.table == s.table && r.m == mi && r.priority == s.priority));
                model.push(ModelRule {
                    table: s.table,
                    priority: s.priority,
                    id: *next_id,
                    cookie: s.cookie,
                    actions: actions_text(&s.actions),
                    packets: 0,
                    m: mi,
                });
                *next_id += 1;
            }
            FlowModCommand::Modify { strict } => {
                for r in model.iter_mut() {
                    if selected(r, strict, false) {
                        r.actions = actions_text(&s.actions);
                        if s.cookie_mask == 0 && s.cookie != 0 {
                            r.cookie = s.cookie;
                        }
                    }
                }
            }
            FlowModCommand::Delete { strict } => model.retain(|r| !selected(r, strict, true)),
        }
    }

    fn snapshot(t: &FlowTables) -> Vec<ModelRule> {
        let mut v: Vec<ModelRule> = t
            .rules()
            .iter()
            .map(|r| ModelRule {
                table: r.table,
                priority: r.priority,
                id: r.id,
                cookie: r.cookie,
                actions: actions_text(&r.actions),
                packets: r.stats.packets(),
                m: index_of(&r.m),
            })
            .collect();
        v.sort();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn flow_mods_follow_the_model(
            bundles in prop::collection::vec(
                (prop::collection::vec(gen_mod(), 1..4), any::<bool>(), any::<u8>()),
                1..12,
            )
        ) {
            let mut tables = FlowTables::new();
            let mut model: Vec<ModelRule> = Vec::new();
            let mut next_id = 1;
            for (now, (gens, poison, traffic)) in bundles.iter().enumerate() {
                let mut mods: Vec<FlowMod> = gens.iter().map(to_flow_mod).collect();
                let before = snapshot(&tables);
                let generation = tables.generation();
                if *poison {
                    // A flow-mod that fails only when planned: goto backwards.
                    let spec = parse_flow("table=1,actions=drop", &NoNames, FlowSyntax::Add).unwrap();
                    let mut bad = FlowMod::add(spec);
                    bad.spec.actions = vec![OfAction::GotoTable(0)];
                    mods.push(bad);
                    prop_assert!(tables.apply(&mods, now as u64).is_err());
                    prop_assert_eq!(snapshot(&tables), before);
                    prop_assert_eq!(tables.generation(), generation);
                    continue;
                }
                let applied = tables.apply(&mods, now as u64).unwrap();
                for fm in &mods {
                    model_apply(&mut model, &mut next_id, fm);
                }
                model.sort();
                prop_assert_eq!(snapshot(&tables), model.clone());
                prop_assert_eq!(tables.generation() > generation, !applied.is_empty());
                // Traffic on one rule, to see counters kept by modify and reset by add.
                if !model.is_empty() {
                    let i = *traffic as usize % model.len();
                    let r = &mut model[i];
                    let rule = tables.find_exact(r.table, &parse(MATCHES[r.m]), r.priority).unwrap();
                    rule.stats.credit(1, 60, now as u64);
                    r.packets += 1;
                }
            }
        }
    }
}
