//! A bridge's OpenFlow tables: 255 classifiers of `Arc<Rule>`, changed only by atomic bundles.
//!
//! [`FlowTables::apply`] plans a bundle of [`FlowMod`]s (see `flow_mod`: every check happens
//! while planning, against a read-only view) and then executes the plan, which cannot fail —
//! so a bundle either changes everything it says or nothing at all. Every successful change
//! bumps [`FlowTables::generation`], which the revalidator compares to know when cached
//! megaflows must be re-checked.
//!
//! Time is an argument (`now_ms`), never read here: timeouts are testable with a fake clock,
//! and the daemon decides what "now" is. Rules with timeouts are also indexed by id so that
//! [`FlowTables::expire`] does not scan rules that can never expire.

use super::flow_mod::{Applied, FlowMod, FlowModCommand, FlowModError, Op, Plan};
use super::group::{self, GroupError, GroupMod, GroupTable};
use super::rule::Rule;
use super::spec::{FlowSpec, TABLE_ALL};
use crate::classifier::Classifier;
use crate::ofproto::Match;
use crate::ofproto::action::N_TABLES;
use fastpath::flow::{FlowKey, FlowMask};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A change planned against a bridge's tables, not yet executed: what it will do
/// ([`Planned::applied`]) and the concrete steps.
pub struct Planned {
    ops: Vec<Op>,
    applied: Applied,
    next_id: u64,
    /// The tables' generation when planned; executing needs it unchanged.
    generation: u64,
}

impl std::fmt::Debug for Planned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Planned")
            .field("ops", &self.ops.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Planned {
    /// Number of classifier inserts and removals executing the plan takes.
    pub fn steps(&self) -> usize {
        self.ops.len()
    }

    /// What executing the plan will change.
    pub fn applied(&self) -> &Applied {
        &self.applied
    }

    /// Whether `rule` (one of [`Planned::applied`]'s added rules) is still in the tables
    /// once the plan has run: a rule added and then replaced again by the same bundle is not.
    pub fn leaves_in_place(&self) -> impl Fn(&Arc<Rule>) -> bool + '_ {
        let mut last: std::collections::HashMap<(u8, Match, u16), Option<&Arc<Rule>>> =
            std::collections::HashMap::with_capacity(self.ops.len());
        for op in &self.ops {
            match op {
                Op::Insert(r) => last.insert((r.table, r.m, r.priority), Some(r)),
                Op::Remove(r) => last.insert((r.table, r.m, r.priority), None),
            };
        }
        move |r| {
            last.get(&(r.table, r.m, r.priority))
                .is_some_and(|x| x.is_some_and(|x| Arc::ptr_eq(x, r)))
        }
    }
}

/// A plan met tables that changed after it was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the flow tables changed while the change was being planned")]
pub struct StalePlan;

/// The OpenFlow tables of one bridge. Cloning copies the classifiers' indexes, not the rules
/// (they are shared `Arc`s).
#[derive(Clone)]
pub struct FlowTables {
    tables: Vec<Classifier<Arc<Rule>>>,
    /// Rules with an idle or hard timeout, by id.
    timed: BTreeMap<u64, Arc<Rule>>,
    next_id: u64,
    generation: u64,
    /// OVS's hidden fail-open rule (`priority=0xf0f0f0,actions=NORMAL` in table 0): while
    /// set, it wins every table-0 lookup and consults no header bit. Not a rule of any
    /// table: dumps, flow-mods and the store never see it.
    fail_open: Option<Arc<Rule>>,
    /// The bridge's groups (`group:N` actions refer to them).
    groups: GroupTable,
    /// The bridge's meters.
    meters: super::meter::MeterTable,
}

impl std::fmt::Debug for FlowTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTables")
            .field("rules", &self.len())
            .field("generation", &self.generation)
            .finish()
    }
}

impl Default for FlowTables {
    fn default() -> Self {
        Self::new()
    }
}

impl FlowTables {
    /// 255 empty tables.
    pub fn new() -> FlowTables {
        FlowTables {
            tables: (0..N_TABLES).map(|_| Classifier::new()).collect(),
            timed: BTreeMap::new(),
            next_id: 1,
            generation: 0,
            fail_open: None,
            groups: GroupTable::new(),
            meters: Default::default(),
        }
    }

    /// The bridge's meters.
    pub fn meters(&self) -> &super::meter::MeterTable {
        &self.meters
    }

    /// Applies a meter-mod (a new generation: cached translations are redone).
    pub fn apply_meter_mod(
        &mut self,
        mm: &super::meter::MeterMod,
        now_ms: u64,
    ) -> Result<Vec<u32>, super::meter::MeterError> {
        let touched = self.meters.apply(mm, now_ms)?;
        self.generation += 1;
        if matches!(mm, super::meter::MeterMod::Delete(_)) && !touched.is_empty() {
            // As OVS: the flows that use a deleted meter go with it.
            let planned = self.plan_meter_delete(&touched);
            self.execute_planned(planned)
                .expect("planned against these tables");
        }
        Ok(touched)
    }

    /// Applies a bundle atomically: all flow-mods or, on error, none.
    pub fn apply(&mut self, mods: &[FlowMod], now_ms: u64) -> Result<Applied, FlowModError> {
        let planned = self.plan(mods, now_ms)?;
        Ok(self
            .execute_planned(planned)
            .expect("planned against these tables"))
    }

    /// Replaces every rule of every table by `specs` (replace-flows), atomically. As
    /// ovs-ofctl replace-flows does, a rule identical to its replacement (same table, match,
    /// priority, cookie, timeouts and actions) is left alone and keeps its counters; others are
    /// added (counters start at zero) or deleted.
    pub fn replace_all(
        &mut self,
        specs: &[FlowSpec],
        now_ms: u64,
    ) -> Result<Applied, FlowModError> {
        let planned = self.plan_replace(specs, now_ms)?;
        Ok(self
            .execute_planned(planned)
            .expect("planned against these tables"))
    }

    /// Plans a bundle without changing anything: every check of [`FlowTables::apply`] runs
    /// here, so a plan that comes back executes without error as long as the tables have not
    /// changed since (see [`FlowTables::execute_planned`]). This is what lets a caller plan
    /// under a shared lock, make the change durable with no lock held, and take the
    /// exclusive lock only to execute.
    pub fn plan(&self, mods: &[FlowMod], now_ms: u64) -> Result<Planned, FlowModError> {
        let mut plan = Plan::new(&self.tables, self.next_id);
        for (index, fm) in mods.iter().enumerate() {
            if fm.command != (FlowModCommand::Delete { strict: false })
                && fm.command != (FlowModCommand::Delete { strict: true })
            {
                self.check_groups(&fm.spec.actions)
                    .and_then(|()| self.check_meters(&fm.spec.actions))
                    .map_err(|e| bundle_error(mods.len(), index, e))?;
            }
            plan.flow_mod(fm, now_ms)
                .map_err(|e| bundle_error(mods.len(), index, e))?;
        }
        plan.delete_learned();
        Ok(self.planned(plan))
    }

    /// Plans [`FlowTables::replace_all`] without changing anything.
    pub fn plan_replace(&self, specs: &[FlowSpec], now_ms: u64) -> Result<Planned, FlowModError> {
        let mut plan = Plan::new(&self.tables, self.next_id);
        // Last spec per key wins, as successive adds would.
        let mut wanted: std::collections::HashMap<(u8, Match, u16), (usize, &FlowSpec)> =
            std::collections::HashMap::new();
        for (i, s) in specs.iter().enumerate() {
            if s.table == TABLE_ALL || s.table as usize >= N_TABLES {
                return Err(bundle_error(
                    specs.len(),
                    i,
                    FlowModError::NoSuchTable(s.table),
                ));
            }
            self.check_groups(&s.actions)
                .map_err(|e| bundle_error(specs.len(), i, e))?;
            wanted.insert((s.table, Match::new(s.m.key, s.m.mask), s.priority), (i, s));
        }
        for t in 0..N_TABLES as u8 {
            for old in plan.rules_in(t) {
                let key = (old.table, old.m, old.priority);
                match wanted.get(&key) {
                    Some((_, s)) if same_rule(&old, s) => {
                        wanted.remove(&key);
                    }
                    Some(_) => {}
                    None => {
                        plan.take(&old);
                        let why = crate::openflow::flow_removed::reason::DELETE;
                        plan.applied.gone.push((old.clone(), why));
                        plan.applied.removed.push(old);
                    }
                }
            }
        }
        let mut adds: Vec<(usize, &FlowSpec)> = wanted.into_values().collect();
        adds.sort_by_key(|(i, _)| *i);
        for (i, s) in adds {
            plan.add(s, now_ms)
                .map_err(|e| bundle_error(specs.len(), i, e))?;
        }
        plan.delete_learned();
        Ok(self.planned(plan))
    }

    /// Plans removing the rules whose idle or hard timeout has passed at `now_ms`.
    pub fn plan_expiry(&self, now_ms: u64) -> Planned {
        let mut plan = Plan::new(&self.tables, self.next_id);
        let expired: Vec<Arc<Rule>> = self
            .timed
            .values()
            .filter(|r| r.is_expired(now_ms))
            .cloned()
            .collect();
        for r in expired {
            plan.take(&r);
            let why = crate::openflow::flow_removed::expiry_reason(&r, now_ms);
            plan.applied.gone.push((r.clone(), why));
            plan.applied.removed.push(r);
        }
        plan.delete_learned();
        self.planned(plan)
    }

    fn planned(&self, plan: Plan<'_>) -> Planned {
        Planned {
            ops: plan.ops,
            applied: plan.applied,
            next_id: plan.next_id,
            generation: self.generation,
        }
    }

    /// Executes a plan made by [`FlowTables::plan`], [`FlowTables::plan_replace`] or
    /// [`FlowTables::plan_expiry`]. Refused (nothing changes) if the tables changed since the
    /// plan was made, since the plan's checks no longer hold then.
    pub fn execute_planned(&mut self, planned: Planned) -> Result<Applied, StalePlan> {
        if planned.generation != self.generation {
            return Err(StalePlan);
        }
        self.execute(planned.ops, planned.next_id, &planned.applied);
        Ok(planned.applied)
    }

    fn execute(&mut self, ops: Vec<Op>, next_id: u64, applied: &Applied) {
        for op in ops {
            match op {
                Op::Insert(rule) => {
                    if let Some(old) = self.tables[rule.table as usize].insert_conj(
                        &rule.m,
                        rule.priority,
                        rule.clone(),
                        &rule.conjunctions(),
                    ) {
                        self.timed.remove(&old.id);
                    }
                    if rule.idle_timeout != 0 || rule.hard_timeout != 0 || rule.has_fin_timeout() {
                        self.timed.insert(rule.id, rule);
                    }
                }
                Op::Remove(rule) => {
                    if let Some(old) =
                        self.tables[rule.table as usize].remove(&rule.m, rule.priority)
                    {
                        self.timed.remove(&old.id);
                    }
                }
            }
        }
        self.next_id = next_id;
        if !applied.is_empty() {
            self.generation += 1;
        }
    }

    /// The highest-priority rule of `table` matching `flow`; with `wc`, ORs in the bits the
    /// lookup consulted (for the megaflow mask).
    pub fn lookup(
        &self,
        table: u8,
        flow: &FlowKey,
        wc: Option<&mut FlowMask>,
    ) -> Option<&Arc<Rule>> {
        if table == 0
            && let Some(r) = &self.fail_open
        {
            return Some(r);
        }
        self.tables.get(table as usize)?.lookup(flow, wc)
    }

    /// Whether the bridge fails open now (see [`FlowTables::set_fail_open`]).
    pub fn fail_open(&self) -> bool {
        self.fail_open.is_some()
    }

    /// Installs (or removes) the hidden fail-open rule; the caller revalidates.
    pub fn set_fail_open(&mut self, on: bool, now_ms: u64) {
        if on == self.fail_open.is_some() {
            return;
        }
        self.generation += 1;
        self.fail_open = on.then(|| {
            Arc::new(Rule {
                id: 0,
                table: 0,
                priority: u16::MAX,
                cookie: 0,
                m: Match::CATCHALL,
                actions: vec![crate::ofproto::action::OfAction::Normal],
                idle_timeout: 0,
                hard_timeout: 0,
                flags: 0,
                created_ms: now_ms,
                stats: super::rule::RuleStats::new(),
            })
        });
    }

    /// Removes and returns the rules whose idle or hard timeout has passed at `now_ms`.
    pub fn expire(&mut self, now_ms: u64) -> Vec<Arc<Rule>> {
        let planned = self.plan_expiry(now_ms);
        self.execute_planned(planned)
            .expect("planned against these tables")
            .removed
    }

    /// The earliest instant a timeout can end a rule (for the daemon's timer), if any.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        self.timed
            .values()
            .filter_map(|r| match (r.idle_deadline_ms(), r.hard_deadline_ms()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            })
            .min()
    }

    /// dump-flows: rules at least as specific as `filter.m`, passing its cookie/mask, out_port
    /// and table (255 = all), sorted by table, then priority (highest first), then age.
    pub fn dump(&self, filter: &FlowSpec) -> Vec<Arc<Rule>> {
        let m = Match::new(filter.m.key, filter.m.mask);
        let mut out: Vec<Arc<Rule>> = self
            .tables
            .iter()
            .enumerate()
            .filter(|(t, c)| {
                !c.is_empty() && (filter.table == TABLE_ALL || *t == filter.table as usize)
            })
            .flat_map(|(_, c)| c.iter().map(|(_, _, r)| r))
            .filter(|r| r.m.is_subset_of(&m) && r.passes_filter(filter))
            .cloned()
            .collect();
        out.sort_by(|a, b| (a.table, b.priority, a.id).cmp(&(b.table, a.priority, b.id)));
        out
    }

    /// Every rule, in dump order.
    pub fn rules(&self) -> Vec<Arc<Rule>> {
        self.dump(&FlowSpec::catch_all(TABLE_ALL))
    }

    /// The rule with exactly this match and priority in `table`.
    pub fn find_exact(&self, table: u8, m: &Match, priority: u16) -> Option<&Arc<Rule>> {
        self.tables.get(table as usize)?.find_exact(m, priority)
    }

    /// Number of rules in `table` with cookie `cookie` (a `learn` action's `limit`).
    pub fn count_cookie(&self, table: u8, cookie: u64) -> usize {
        self.tables.get(table as usize).map_or(0, |c| {
            c.iter().filter(|(_, _, r)| r.cookie == cookie).count()
        })
    }

    /// Number of rules in all tables.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|c| c.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|c| c.is_empty())
    }

    /// Bumped by every change (bundle, replace, expiry, group-mod).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The bridge's groups.
    pub fn groups(&self) -> &GroupTable {
        &self.groups
    }

    /// Applies a group-mod. As in OVS, deleting a group deletes the rules that send to it
    /// (returned in [`Applied::removed`]); a modify keeps them.
    pub fn apply_group_mod(&mut self, gm: &GroupMod, now_ms: u64) -> Result<Applied, GroupError> {
        let touched = self.groups.apply(gm, now_ms)?;
        self.generation += 1;
        if gm.command != group::GroupModCommand::Delete || touched.is_empty() {
            return Ok(Applied::default());
        }
        let planned = self.plan_group_delete(&touched);
        Ok(self
            .execute_planned(planned)
            .expect("planned against these tables"))
    }

    /// Plans deleting the rules that send to any of the groups `ids` (what deleting them does;
    /// see [`FlowTables::apply_group_mod`]).
    pub fn plan_group_delete(&self, ids: &[u32]) -> Planned {
        let mut plan = Plan::new(&self.tables, self.next_id);
        for r in self.rules() {
            if group::chained(&r.actions).any(|g| ids.contains(&g)) {
                plan.take(&r);
                let why = crate::openflow::flow_removed::reason::GROUP_DELETE;
                plan.applied.gone.push((r.clone(), why));
                plan.applied.removed.push(r);
            }
        }
        plan.delete_learned();
        self.planned(plan)
    }

    /// Number of rules that send to group `id` (its `ref_count`).
    pub fn group_refs(&self, id: u32) -> usize {
        self.tables
            .iter()
            .flat_map(|c| c.iter().map(|(_, _, r)| r))
            .filter(|r| group::chained(&r.actions).any(|g| g == id))
            .count()
    }

    /// Number of rules that use meter `id` (its `flow_count`).
    pub fn meter_refs(&self, id: u32) -> usize {
        self.tables
            .iter()
            .flat_map(|c| c.iter().map(|(_, _, r)| r))
            .filter(|r| super::meter::metered(&r.actions).any(|m| m == id))
            .count()
    }

    fn check_meters(&self, actions: &[crate::ofproto::OfAction]) -> Result<(), FlowModError> {
        match super::meter::metered(actions).find(|m| self.meters.get(*m).is_none()) {
            Some(m) => Err(FlowModError::NoSuchMeter(m)),
            None => Ok(()),
        }
    }

    /// Plans deleting every rule that uses one of meters `ids` (as OVS does when a meter is
    /// deleted).
    pub fn plan_meter_delete(&self, ids: &[u32]) -> Planned {
        let mut plan = Plan::new(&self.tables, self.next_id);
        for r in self.rules() {
            if super::meter::metered(&r.actions).any(|m| ids.contains(&m)) {
                plan.take(&r);
                plan.applied.removed.push(r);
            }
        }
        self.planned(plan)
    }

    fn check_groups(&self, actions: &[crate::ofproto::OfAction]) -> Result<(), FlowModError> {
        match group::chained(actions).find(|g| self.groups.get(*g).is_none()) {
            Some(g) => Err(FlowModError::NoSuchGroup(g)),
            None => Ok(()),
        }
    }
}

/// True if rule `r` is what adding `s` would install (same cookie, timeouts and actions).
pub(crate) fn same_rule(r: &Rule, s: &FlowSpec) -> bool {
    let actions_eq = if s.actions.is_empty() {
        r.actions == [crate::ofproto::OfAction::Drop]
    } else {
        r.actions == s.actions
    };
    r.cookie == s.cookie
        && r.idle_timeout == s.idle_timeout
        && r.hard_timeout == s.hard_timeout
        && actions_eq
}

fn bundle_error(len: usize, index: usize, e: FlowModError) -> FlowModError {
    if len == 1 {
        e
    } else {
        FlowModError::InBundle {
            index,
            source: Box::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::{FlowModCommand, OfAction};
    use fastpath::flow::key::{ethertype, ipproto};

    fn spec(s: &str, syntax: FlowSyntax) -> FlowSpec {
        parse_flow(s, &NoNames, syntax).unwrap_or_else(|e| panic!("{s}: {e}"))
    }
    fn add(s: &str) -> FlowMod {
        FlowMod::add(spec(s, FlowSyntax::Add))
    }
    fn modify(s: &str, strict: bool) -> FlowMod {
        FlowMod::modify(spec(s, FlowSyntax::Modify), strict)
    }
    fn delete(s: &str, strict: bool) -> FlowMod {
        FlowMod::delete(spec(s, FlowSyntax::MatchOnly), strict)
    }
    fn tables(flows: &[&str]) -> FlowTables {
        let mut t = FlowTables::new();
        let mods: Vec<FlowMod> = flows.iter().map(|f| add(f)).collect();
        t.apply(&mods, 0).unwrap();
        t
    }
    fn dump(t: &FlowTables) -> Vec<String> {
        t.rules()
            .iter()
            .map(|r| crate::ofctl::format_flow(&r.to_spec(), &NoNames))
            .collect()
    }
    fn tcp_packet(dst_port: u16) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.dl_type = ethertype::IPV4;
        k.nw_proto = ipproto::TCP;
        k.nw_src = 0x0a00_0001;
        k.tp_dst = dst_port;
        k
    }

    #[test]
    fn tables_and_rules_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<FlowTables>();
        send_sync::<Arc<Rule>>();
    }

    #[test]
    fn add_lookup_and_replace_resets_counters() {
        let mut t = tables(&[
            "priority=10,tcp,tp_dst=80,actions=output:1",
            "priority=5,ip,actions=output:2",
        ]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.generation(), 1);
        let r = t.lookup(0, &tcp_packet(80), None).unwrap().clone();
        assert_eq!(r.actions, vec![OfAction::Output(1)]);
        r.stats.credit(3, 300, 10);
        let mut wc = FlowKey::ZERO;
        let r2 = t.lookup(0, &tcp_packet(22), Some(&mut wc)).unwrap();
        assert_eq!(r2.actions, vec![OfAction::Output(2)]);
        assert_ne!(
            wc.tp_dst, 0,
            "the lookup reports the port bits it consulted"
        );
        assert!(
            t.lookup(1, &tcp_packet(80), None).is_none(),
            "empty table: no rule"
        );

        let applied = t
            .apply(&[add("priority=10,tcp,tp_dst=80,actions=output:3")], 50)
            .unwrap();
        assert_eq!((applied.added.len(), applied.removed.len()), (1, 1));
        assert_eq!(applied.removed[0].id, r.id);
        let new = t.lookup(0, &tcp_packet(80), None).unwrap();
        assert_ne!(new.id, r.id);
        assert_eq!(new.stats.packets(), 0, "add replaces and resets counters");
        assert_eq!(new.created_ms, 50);
        assert_eq!(t.len(), 2);
        assert_eq!(t.generation(), 2);
    }

    #[test]
    fn modify_non_strict_selects_subsets_and_keeps_counters() {
        let mut t = tables(&[
            "priority=10,tcp,nw_src=10.0.0.1,tp_dst=80,actions=output:1",
            "priority=20,tcp,tp_dst=22,actions=output:1",
            "priority=30,ip,actions=output:1",
            "priority=40,arp,actions=output:1",
        ]);
        let m80 = spec("tcp,nw_src=10.0.0.1,tp_dst=80", FlowSyntax::MatchOnly).m;
        let before = t.find_exact(0, &m80, 10).unwrap().clone();
        before.stats.credit(7, 700, 5);
        let a = t
            .apply(&[modify("tcp,actions=output:9", false)], 100)
            .unwrap();
        assert_eq!(a.modified.len(), 2, "both tcp rules, not the ip or arp one");
        assert!(a.added.is_empty() && a.removed.is_empty());
        let after = t.find_exact(0, &m80, 10).unwrap();
        assert_eq!(after.actions, vec![OfAction::Output(9)]);
        assert_eq!((after.id, after.created_ms), (before.id, before.created_ms));
        assert_eq!(after.stats.packets(), 7, "modify keeps counters");
        assert!(after.stats.shares_with(&before.stats));
        assert_eq!(
            dump(&t),
            vec![
                "priority=40,arp actions=output:1",
                "priority=30,ip actions=output:1",
                "priority=20,tcp,tp_dst=22 actions=output:9",
                "priority=10,tcp,nw_src=10.0.0.1,tp_dst=80 actions=output:9",
            ]
        );
    }

    #[test]
    fn modify_strict_and_no_add_when_nothing_matches() {
        let mut t = tables(&[
            "priority=10,tcp,actions=output:1",
            "priority=20,tcp,actions=output:1",
        ]);
        let a = t
            .apply(&[modify("priority=20,tcp,actions=output:5", true)], 1)
            .unwrap();
        assert_eq!(a.modified.len(), 1);
        assert_eq!(a.modified[0].1.priority, 20);
        let g = t.generation();
        let a = t
            .apply(&[modify("priority=30,tcp,actions=output:5", true)], 1)
            .unwrap();
        assert!(a.is_empty(), "OF1.3 modify does not add");
        let a = t
            .apply(&[modify("udp,actions=output:5", false)], 1)
            .unwrap();
        assert!(a.is_empty());
        assert_eq!(t.len(), 2);
        assert_eq!(t.generation(), g, "no change, no new generation");
    }

    #[test]
    fn cookies_select_and_modify_can_set_them() {
        let mut t = tables(&[
            "cookie=0x11,priority=1,ip,actions=output:1",
            "cookie=0x12,priority=2,ip,actions=output:1",
            "cookie=0x21,priority=3,ip,actions=output:1",
        ]);
        let a = t
            .apply(&[modify("cookie=0x10/0xf0,actions=output:2", false)], 1)
            .unwrap();
        assert_eq!(a.modified.len(), 2);
        assert!(a.modified.iter().all(|(o, n)| o.cookie == n.cookie));
        let a = t
            .apply(
                &[modify("cookie=0x99,priority=3,ip,actions=output:3", true)],
                1,
            )
            .unwrap();
        assert_eq!(a.modified[0].1.cookie, 0x99);
        let a = t.apply(&[delete("cookie=0x10/0xf0", false)], 1).unwrap();
        assert_eq!(a.removed.len(), 2);
        assert_eq!(
            dump(&t),
            vec!["cookie=0x99, priority=3,ip actions=output:3"]
        );
    }

    #[test]
    fn delete_strict_non_strict_and_out_port() {
        let mut t = tables(&[
            "priority=10,tcp,tp_dst=80,actions=output:1",
            "priority=10,tcp,tp_dst=81,actions=output:2",
            "priority=20,tcp,tp_dst=80,actions=output:2",
            "priority=5,ip,actions=LOCAL",
        ]);
        let a = t
            .apply(&[delete("priority=10,tcp,tp_dst=80", true)], 1)
            .unwrap();
        assert_eq!(a.removed.len(), 1);
        assert_eq!(a.removed[0].actions, vec![OfAction::Output(1)]);
        let a = t.apply(&[delete("out_port=2,tcp", false)], 1).unwrap();
        assert_eq!(a.removed.len(), 2);
        let a = t.apply(&[delete("out_port=LOCAL", false)], 1).unwrap();
        assert_eq!(a.removed.len(), 1);
        assert!(t.is_empty());
        let a = t.apply(&[delete("", false)], 1).unwrap();
        assert!(a.is_empty());
    }

    #[test]
    fn table_any_reaches_every_table() {
        let mut t = tables(&[
            "table=0,ip,actions=goto_table:3",
            "table=3,ip,actions=output:1",
            "table=7,tcp,actions=output:1",
        ]);
        let a = t.apply(&[delete("tcp", false)], 1).unwrap();
        assert_eq!(a.removed.len(), 1, "default table for delete is all");
        let mut fm = delete("table=3,ip", false);
        fm.spec.table = 0;
        fm.table_any = true;
        assert_eq!(t.apply(&[fm], 1).unwrap().removed.len(), 2);
        let t0 = delete("table=0", false);
        assert_eq!(t0.spec.table, 0);
        assert!(t.is_empty());
    }

    #[test]
    fn modify_all_tables_checks_goto_per_rule() {
        let mut t = tables(&["table=0,ip,actions=output:1", "table=5,ip,actions=output:1"]);
        let before = dump(&t);
        let g = t.generation();
        let e = t
            .apply(&[modify("ip,actions=goto_table:3", false)], 1)
            .unwrap_err();
        assert_eq!(
            e,
            FlowModError::GotoBackward {
                table: 5,
                target: 3
            }
        );
        assert_eq!(dump(&t), before, "rejected: nothing changed");
        assert_eq!(t.generation(), g);
        assert!(
            t.apply(&[modify("ip,actions=goto_table:6", false)], 1)
                .is_ok()
        );
    }

    #[test]
    fn bundle_is_all_or_nothing() {
        let mut t = tables(&[
            "priority=1,ip,actions=output:1",
            "priority=2,arp,actions=NORMAL",
        ]);
        let before = dump(&t);
        let (g, n) = (t.generation(), t.len());
        let mut bad = add("table=3,ip,actions=output:1");
        bad.spec.actions = vec![OfAction::GotoTable(2)];
        let mods = vec![
            add("priority=9,tcp,actions=output:4"),
            delete("arp", false),
            modify("ip,actions=output:7", false),
            add("priority=1,ip,actions=output:5"),
            bad,
        ];
        let e = t.apply(&mods, 1).unwrap_err();
        assert_eq!(
            crate::report::chain(&e),
            "flow 5 of the bundle: goto_table:2 in table 3 must go to a later table"
        );
        assert_eq!(dump(&t), before);
        assert_eq!((t.generation(), t.len()), (g, n));
        // The same bundle without the bad flow applies, with later mods seeing earlier ones.
        let a = t.apply(&mods[..4], 1).unwrap();
        assert_eq!(a.added.len(), 2);
        assert_eq!(
            a.removed.len(),
            2,
            "the arp rule, and the ip rule replaced by the last add"
        );
        assert_eq!(a.modified.len(), 2, "the new tcp rule and the old ip rule");
        assert_eq!(
            dump(&t),
            vec![
                "priority=9,tcp actions=output:7",
                "priority=1,ip actions=output:5"
            ]
        );
    }

    #[test]
    fn invalid_single_mods() {
        let mut t = FlowTables::new();
        let mut fm = add("actions=drop");
        fm.table_any = true;
        assert_eq!(t.apply(&[fm], 0).unwrap_err(), FlowModError::AddToAllTables);
        let mut fm = add("actions=drop");
        fm.spec.actions = vec![OfAction::GotoTable(255)];
        assert!(matches!(
            t.apply(&[fm], 0).unwrap_err(),
            FlowModError::NoSuchTargetTable { .. }
        ));
        let mut fm = add("actions=drop");
        fm.spec.actions = vec![OfAction::GotoTable(3), OfAction::Output(1)];
        assert_eq!(t.apply(&[fm], 0).unwrap_err(), FlowModError::GotoNotLast);
        let mut fm = add("actions=drop");
        fm.command = FlowModCommand::Delete { strict: false };
        fm.spec.table = 255;
        assert!(t.apply(&[fm], 0).unwrap().is_empty());
        assert!(t.is_empty());
        assert_eq!(t.generation(), 0);
    }

    #[test]
    fn replace_all_keeps_identical_rules_and_their_counters() {
        let mut t = tables(&[
            "priority=1,ip,actions=output:1",
            "priority=2,arp,actions=NORMAL",
            "priority=3,tcp,actions=output:3",
        ]);
        let kept = t.lookup(0, &tcp_packet(1), None).unwrap().clone();
        kept.stats.credit(4, 400, 1);
        let specs: Vec<FlowSpec> = [
            "priority=3,tcp,actions=output:3",
            "priority=1,ip,actions=output:9",
            "table=2,priority=7,udp,actions=drop",
        ]
        .iter()
        .map(|s| spec(s, FlowSyntax::Add))
        .collect();
        let a = t.replace_all(&specs, 10).unwrap();
        assert_eq!((a.added.len(), a.removed.len()), (2, 2));
        let now = t.lookup(0, &tcp_packet(1), None).unwrap();
        assert_eq!(now.id, kept.id);
        assert_eq!(now.stats.packets(), 4);
        assert_eq!(
            dump(&t),
            vec![
                "priority=3,tcp actions=output:3",
                "priority=1,ip actions=output:9",
                "table=2, priority=7,udp actions=drop",
            ]
        );
        let before = dump(&t);
        let mut bad = specs.clone();
        bad[1].actions = vec![OfAction::GotoTable(0)];
        assert!(t.replace_all(&bad, 11).is_err());
        assert_eq!(dump(&t), before);
        let a = t.replace_all(&[], 12).unwrap();
        assert_eq!(a.removed.len(), 3);
        assert!(t.is_empty());
    }

    #[test]
    fn removals_carry_openflow_reasons() {
        use crate::openflow::flow_removed::reason;
        let t = tables(&[
            "priority=1,idle_timeout=10,send_flow_rem,ip,actions=drop",
            "priority=2,hard_timeout=10,idle_timeout=10,ip,actions=drop",
            "priority=3,udp,actions=drop",
        ]);
        let planned = t.plan_expiry(10_000);
        let mut why: Vec<(u16, u8)> = planned
            .applied()
            .gone
            .iter()
            .map(|(r, w)| (r.priority, *w))
            .collect();
        why.sort();
        // Both timeouts end rule 2 at once: OVS reports the hard one.
        assert_eq!(
            why,
            vec![(1, reason::IDLE_TIMEOUT), (2, reason::HARD_TIMEOUT)]
        );
        let (a, _) = t.plan_expiry(10_000).applied().gone[0].clone();
        assert_eq!(a.flags, crate::ofproto::spec::ff::SEND_FLOW_REM);
        let planned = t.plan(&[delete("udp", false)], 0).unwrap();
        assert_eq!(planned.applied().gone.len(), 1);
        assert_eq!(planned.applied().gone[0].1, reason::DELETE);
        // An add that replaces a rule removes it without a reason to report.
        let planned = t
            .plan(&[add("priority=3,udp,actions=output:1")], 0)
            .unwrap();
        assert_eq!(planned.applied().removed.len(), 1);
        assert!(planned.applied().gone.is_empty());
    }

    #[test]
    fn check_overlap_and_reset_counts() {
        let mut t = tables(&["priority=7,ip,actions=drop"]);
        let e = t
            .apply(
                &[add(
                    "priority=7,check_overlap,ip,nw_src=1.1.1.1,actions=drop",
                )],
                0,
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                FlowModError::Overlap {
                    table: 0,
                    priority: 7
                }
            ),
            "{e}"
        );
        // Identical (replaced), other priority, disjoint: no overlap.
        for f in [
            "priority=7,check_overlap,ip,actions=output:1",
            "priority=8,check_overlap,ip,nw_src=1.1.1.1,actions=drop",
            "priority=7,check_overlap,arp,actions=drop",
        ] {
            t.apply(&[add(f)], 0).unwrap();
        }
        let hit = t.find_exact(0, &spec("priority=7,ip,actions=drop", FlowSyntax::Add).m, 7);
        let hit = hit.unwrap().clone();
        hit.stats.credit(2, 100, 5);
        t.apply(&[modify("priority=7,ip,actions=output:3", true)], 0)
            .unwrap();
        let kept = t.find_exact(0, &hit.m, 7).unwrap().clone();
        assert_eq!(kept.stats.packets(), 2, "a modify keeps counters");
        t.apply(
            &[modify("priority=7,reset_counts,ip,actions=output:4", true)],
            0,
        )
        .unwrap();
        let reset = t.find_exact(0, &hit.m, 7).unwrap().clone();
        assert_eq!(reset.stats.packets(), 0, "reset_counts");
        assert_eq!(
            reset.flags,
            crate::ofproto::spec::ff::CHECK_OVERLAP,
            "flags kept"
        );
    }

    #[test]
    fn deleting_the_learner_deletes_what_it_learned() {
        let learner = "table=0,priority=5,actions=learn(table=1,cookie=0x99,delete_learned,NXM_OF_ETH_SRC[]),output:1";
        let mut t = tables(&[
            learner,
            "table=1,cookie=0x99,dl_src=00:00:00:00:00:01,actions=drop",
            "table=1,cookie=0x99,dl_src=00:00:00:00:00:02,actions=drop",
            "table=1,cookie=0x98,dl_src=00:00:00:00:00:03,actions=drop",
        ]);
        let applied = t.apply(&[delete("table=0", false)], 0).unwrap();
        assert_eq!(applied.gone.len(), 3, "the learner and its two flows");
        assert_eq!(dump(&t).len(), 1, "{:?}", dump(&t));
        assert!(dump(&t)[0].contains("0x98"));
    }

    #[test]
    fn timeouts_expire_with_a_fake_clock() {
        let mut t = FlowTables::new();
        t.apply(
            &[
                add("idle_timeout=10,priority=1,ip,actions=output:1"),
                add("hard_timeout=30,priority=2,ip,actions=output:2"),
                add("priority=3,arp,actions=output:3"),
            ],
            1_000,
        )
        .unwrap();
        assert_eq!(t.next_deadline_ms(), Some(11_000));
        let idle = t
            .find_exact(0, &spec("priority=1,ip,actions=drop", FlowSyntax::Add).m, 1)
            .unwrap()
            .clone();
        idle.stats.credit(1, 64, 8_000);
        assert!(t.expire(10_999).is_empty());
        assert!(
            t.expire(17_999).is_empty(),
            "use pushed the idle deadline to 18 s"
        );
        let g = t.generation();
        let gone = t.expire(18_000);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].id, idle.id);
        assert_eq!(t.generation(), g + 1);
        assert_eq!(t.next_deadline_ms(), Some(31_000));
        let gone = t.expire(31_000);
        assert_eq!(gone[0].priority, 2);
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline_ms(), None);
        // A replaced timed rule is no longer timed.
        t.apply(
            &[add("idle_timeout=5,priority=3,arp,actions=output:3")],
            40_000,
        )
        .unwrap();
        t.apply(&[add("priority=3,arp,actions=output:4")], 40_000)
            .unwrap();
        assert_eq!(t.next_deadline_ms(), None);
        assert!(t.expire(1_000_000).is_empty());
    }

    #[test]
    fn dump_filters_and_sorts() {
        let t = tables(&[
            "table=1,priority=5,tcp,tp_dst=80,actions=output:2",
            "table=0,priority=1,ip,actions=output:1",
            "table=0,priority=9,tcp,actions=output:2",
            "table=1,priority=7,udp,actions=output:3",
        ]);
        let all: Vec<(u8, u16)> = t.rules().iter().map(|r| (r.table, r.priority)).collect();
        assert_eq!(all, vec![(0, 9), (0, 1), (1, 7), (1, 5)]);
        let tcp: Vec<u16> = t
            .dump(&spec("tcp", FlowSyntax::MatchOnly))
            .iter()
            .map(|r| r.priority)
            .collect();
        assert_eq!(tcp, vec![9, 5]);
        let t1 = t.dump(&spec("table=1,out_port=2", FlowSyntax::MatchOnly));
        assert_eq!(t1.len(), 1);
        assert_eq!(t1[0].priority, 5);
    }
}
