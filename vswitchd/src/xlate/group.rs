//! `group:N`: running a group's buckets (OVS's `xlate_group_action`).
//!
//! Each bucket runs as a clone: on its own copy of the OpenFlow flow (registers, metadata,
//! headers), restored afterwards, so a later bucket or the actions after `group:N` see the
//! packet as it was before the group. What a bucket commits to the datapath stays committed
//! (`base`), exactly as for patch ports: that is what the datapath packet now looks like.
//!
//! A bucket's actions are an OpenFlow *action set* (OVS runs them through
//! `ofpacts_execute_action_set`): at most one `pop_vlan`, `push_vlan` and `dec_ttl`, in that
//! order, then the field sets and moves in order, then ONE final action — the highest of
//! `ct` < `ct_clear` < `resubmit` < output < `group` (the later one among equals); with no
//! final action the bucket does nothing. [`action_set`] makes that list.
//!
//! Which buckets run: `all` and `indirect` every one; `ff` the first live one; `select` the
//! one its method picks (`ofproto::group` says how OVS decides the method, `xlate::hash` has
//! OVS's hashes). A select group's choice depends on the hashed fields, which are
//! un-wildcarded, so the megaflow covers only packets that choose the same bucket. OVS's
//! dp_hash method recirculates after a datapath `hash` action; here the same hash is computed
//! in the slow path instead, which picks the same bucket with one datapath pass and a
//! megaflow on the hashed fields. Liveness (a bucket's `watch_port` up, its `watch_group`
//! having a live bucket) is not a packet field: a link change revalidates the megaflows.

use super::hash;
use super::{MAX_DEPTH, XlateError, Xlator};
use crate::ofproto::OfAction;
use crate::ofproto::action::ofpp;
use crate::ofproto::group::{Bucket, Group, GroupType, OFPG_ANY, SelectMethod};
use std::sync::Arc;

/// OVS's limit on `watch_group` chains.
const MAX_LIVENESS_DEPTH: usize = 128;

/// The action list OVS runs for a bucket's action set (see the module docs).
pub fn action_set(actions: &[OfAction]) -> Vec<OfAction> {
    let mut pop = None;
    let mut push = None;
    let mut dec_ttl = None;
    let mut sets = Vec::new();
    let mut last: Option<(u8, &OfAction)> = None;
    for a in actions {
        let final_class = match a {
            OfAction::PopVlan => {
                pop = Some(a);
                continue;
            }
            OfAction::PushVlan(_) => {
                push = Some(a);
                continue;
            }
            OfAction::DecTtl => {
                dec_ttl = Some(a);
                continue;
            }
            OfAction::SetField { .. }
            | OfAction::Load { .. }
            | OfAction::Move { .. }
            | OfAction::SetVlanVid(_)
            | OfAction::SetVlanPcp(_) => {
                sets.push(a.clone());
                continue;
            }
            OfAction::Ct(_) => 0,
            OfAction::CtClear => 1,
            OfAction::Resubmit { .. } => 2,
            OfAction::Output(_)
            | OfAction::InPort
            | OfAction::Normal
            | OfAction::Flood
            | OfAction::All
            | OfAction::Local
            | OfAction::Controller(_) => 3,
            OfAction::Group(_) => 4,
            // Not action-set actions: OVS's action set has no place for them.
            OfAction::Drop
            | OfAction::GotoTable(_)
            | OfAction::Learn(_)
            | OfAction::StackPush(_)
            | OfAction::StackPop(_)
            | OfAction::FinTimeout { .. }
            | OfAction::Conjunction(_)
            | OfAction::Meter(_)
            | OfAction::Clone(_)
            | OfAction::Exit
            | OfAction::Note(_)
            | OfAction::OutputReg { .. }
            | OfAction::CheckPktLarger { .. } => continue,
        };
        if last.is_none_or(|(c, _)| final_class >= c) {
            last = Some((final_class, a));
        }
    }
    let Some((_, fin)) = last else {
        return Vec::new();
    };
    let mut out: Vec<OfAction> = [pop, push, dec_ttl]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    out.extend(sets);
    out.push(fin.clone());
    out
}

impl Xlator<'_, '_> {
    /// `group:N`.
    pub(super) fn group_action(&mut self, id: u32) -> Result<(), XlateError> {
        if self.depth >= MAX_DEPTH {
            return Err(XlateError::ResubmitDepthExceeded(MAX_DEPTH));
        }
        let Some(group) = self.bridge.tables.groups().get(id).cloned() else {
            self.note(|| format!("output to nonexistent group {id}"));
            return Ok(());
        };
        match group.spec.kind {
            GroupType::All | GroupType::Indirect => {
                for i in 0..group.spec.buckets.len() {
                    self.run_bucket(&group, i)?;
                }
                self.credit_group(&group, None);
            }
            GroupType::FastFailover => {
                let chosen = self.first_live_bucket(&group, 0, true);
                self.run_chosen(&group, chosen)?;
            }
            GroupType::Select => {
                let chosen = self.select_bucket(&group);
                self.run_chosen(&group, chosen)?;
            }
        }
        Ok(())
    }

    fn run_chosen(&mut self, group: &Arc<Group>, chosen: Option<usize>) -> Result<(), XlateError> {
        match chosen {
            Some(i) => {
                let bid = group.spec.buckets[i].id;
                self.note(|| format!("group {}: using bucket {bid}", group.spec.id));
                self.run_bucket(group, i)?;
                self.credit_group(group, Some(i));
            }
            None => self.note(|| format!("group {}: no live bucket", group.spec.id)),
        }
        Ok(())
    }

    fn credit_group(&self, group: &Group, bucket: Option<usize>) {
        if let Some(c) = self.ctx.credit {
            group.stats.credit(bucket, c.packets, c.bytes);
        }
    }

    /// Runs bucket `i` of `group` on a clone of the flow.
    fn run_bucket(&mut self, group: &Group, i: usize) -> Result<(), XlateError> {
        let actions = action_set(&group.spec.buckets[i].actions);
        let saved = self.flow;
        self.depth += 1;
        self.nesting += 1;
        // A pause inside a bucket freezes the rest of the bucket only (as OVS); an `exit`
        // ends only the bucket.
        let saved_tail = std::mem::replace(&mut self.tail, false);
        let r = self
            .do_actions(&actions)
            .and_then(|()| self.finish_freezing());
        self.tail = saved_tail;
        self.exiting = false;
        self.depth -= 1;
        self.nesting -= 1;
        self.flow = saved;
        r
    }

    /// OVS's `bucket_is_alive`.
    fn bucket_is_alive(&mut self, group: &Group, b: &Bucket, depth: usize) -> bool {
        if depth >= MAX_LIVENESS_DEPTH {
            self.note(|| format!("bucket chaining exceeded {MAX_LIVENESS_DEPTH} links"));
            return false;
        }
        if group.spec.kind == GroupType::Select && b.weight == 0 {
            return false;
        }
        if b.watch_port == ofpp::ANY && b.watch_group == OFPG_ANY {
            return true;
        }
        (b.watch_port != ofpp::ANY
            && b.watch_port != ofpp::CONTROLLER
            && self.bridge.ports.is_live(b.watch_port))
            || (b.watch_group != OFPG_ANY && self.group_is_alive(b.watch_group, depth + 1))
    }

    fn group_is_alive(&mut self, id: u32, depth: usize) -> bool {
        match self.bridge.tables.groups().get(id).cloned() {
            Some(g) => self.first_live_bucket(&g, depth, false).is_some(),
            None => false,
        }
    }

    /// OVS's `group_first_live_bucket` (reporting dead buckets when `report`).
    fn first_live_bucket(&mut self, group: &Group, depth: usize, report: bool) -> Option<usize> {
        for (i, b) in group.spec.buckets.iter().enumerate() {
            if self.bucket_is_alive(group, b, depth) {
                return Some(i);
            }
            if report {
                self.note(|| format!("bucket {}: not live", b.id));
            }
        }
        None
    }

    /// A select group's bucket, un-wildcarding what the choice read.
    fn select_bucket(&mut self, group: &Group) -> Option<usize> {
        match group.select_method()? {
            SelectMethod::DpHash { alg, basis, slots } => {
                let h = if *alg == 1 {
                    hash::sym_l3l4_mask(&self.flow, &mut self.wc);
                    hash::sym_l3l4(&self.flow, *basis)
                } else {
                    hash::five_tuple_mask(&self.flow, &mut self.wc);
                    hash::five_tuple(&self.flow, *basis)
                };
                let mask = slots.len() - 1;
                self.note(|| {
                    let name = if *alg == 1 { "sym_l4" } else { "l4" };
                    format!(
                        "selection method in use: dp_hash, computed here as hash({name}({basis}))={h:#x}, slot {}",
                        h as usize & mask
                    )
                });
                (0..slots.len())
                    .map(|i| slots[(h as usize).wrapping_add(i) & mask])
                    .find(|&b| {
                        let bucket = &group.spec.buckets[b];
                        self.bucket_is_alive(group, bucket, 0)
                    })
            }
            SelectMethod::Default => {
                hash::sym_l4_mask(&self.flow, &mut self.wc);
                let basis = hash::sym_l4(&self.flow, 0);
                self.best_live_bucket(group, basis)
            }
            SelectMethod::Fields => {
                let basis = super::group_fields::hash_fields(group, &self.flow, &mut self.wc);
                self.best_live_bucket(group, basis)
            }
        }
    }

    /// OVS's `group_best_live_bucket`: the highest `hash_int(bucket_id, basis) & 0xffff ×
    /// weight`, the later bucket winning a tie.
    fn best_live_bucket(&mut self, group: &Group, basis: u32) -> Option<usize> {
        let mut best = None;
        let mut best_score = 0u32;
        for (i, b) in group.spec.buckets.iter().enumerate() {
            if !self.bucket_is_alive(group, b, 0) {
                self.note(|| format!("bucket {}: not live", b.id));
                continue;
            }
            let score = (hash::hash_int(b.id, basis) & 0xffff) * u32::from(b.weight);
            self.note(|| format!("bucket {}: score {score}", b.id));
            if score >= best_score {
                best = Some(i);
                best_score = score;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow, parse_group, parse_packet};
    use crate::ofproto::{FlowMod, FlowTables, GroupMod, GroupModCommand};
    use crate::xlate::{PortKind, PortMap, RecircTable, XBridge, XPort, XlateCtx, translate};
    use fastpath::action::format_actions;

    fn tables(groups: &[&str], flows: &str) -> FlowTables {
        let mut t = FlowTables::new();
        for g in groups {
            let gm = GroupMod {
                command: GroupModCommand::Add,
                spec: parse_group(g, &NoNames).unwrap(),
            };
            t.apply_group_mod(&gm, 0).unwrap();
        }
        let mods: Vec<FlowMod> = flows
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        t.apply(&mods, 0).unwrap();
        t
    }

    fn ports(n: u32) -> PortMap {
        let mut m = PortMap::new();
        for of in 1..=n {
            m.insert(XPort {
                ofport: of,
                name: format!("p{of}"),
                kind: PortKind::Datapath(of),
            });
        }
        m
    }

    fn run(t: &FlowTables, p: &PortMap, pkt: &str) -> fastpath::upcall::Translation {
        let recirc = RecircTable::new();
        let ctx = XlateCtx {
            bridge: XBridge {
                name: "br0",
                tables: t,
                ports: p,
                normal: None,
            },
            peers: None,
            recirc: &recirc,
            credit: None,
            may_learn: false,
            now_ms: 0,
            learn: None,
        };
        translate(&ctx, &parse_packet(pkt, &NoNames).unwrap(), None).unwrap()
    }

    #[test]
    fn all_groups_clone_the_packet_per_bucket() {
        let t = tables(
            &["group_id=1,type=all,bucket=mod_nw_src:10.0.0.9,output:2,bucket=output:3"],
            "in_port=1,ip,actions=group:1,output:4",
        );
        let p = ports(4);
        let tr = run(&t, &p, "in_port=1,ip,nw_src=10.0.0.1");
        assert_eq!(
            format_actions(&tr.actions),
            "set(ipv4(src=10.0.0.9)),2,set(ipv4(src=10.0.0.1)),3,4"
        );
    }

    #[test]
    fn fast_failover_takes_the_first_live_bucket() {
        let t = tables(
            &["group_id=1,type=ff,bucket=watch_port:2,output:2,bucket=watch_port:3,output:3"],
            "in_port=1,actions=group:1",
        );
        let mut p = ports(3);
        assert_eq!(format_actions(&run(&t, &p, "in_port=1").actions), "2");
        p.set_live(2, false);
        assert_eq!(format_actions(&run(&t, &p, "in_port=1").actions), "3");
        p.set_live(3, false);
        assert_eq!(format_actions(&run(&t, &p, "in_port=1").actions), "drop");
    }

    #[test]
    fn select_groups_hash_symmetric_fields_and_unwildcard_them() {
        let t = tables(
            &["group_id=1,type=select,bucket=output:2,bucket=output:3"],
            "in_port=1,actions=group:1",
        );
        let p = ports(3);
        let mut seen = std::collections::BTreeSet::new();
        for sport in 1000..1040 {
            let pkt =
                format!("in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src={sport},tp_dst=80");
            let tr = run(&t, &p, &pkt);
            seen.insert(format_actions(&tr.actions));
            assert_eq!(tr.mask.nw_src, !0);
            assert_eq!(tr.mask.tp_src, !0);
            assert_eq!(tr.mask.tp_dst, !0);
            assert_eq!(
                tr.mask.dl_src, [0; 6],
                "sym_l4 (dp_hash) does not hash L2 for IP"
            );
        }
        assert_eq!(seen.len(), 2, "40 connections use both buckets: {seen:?}");
        // Weight 0 never chosen.
        let t = tables(
            &["group_id=1,type=select,bucket=weight:0,output:2,bucket=output:3"],
            "in_port=1,actions=group:1",
        );
        for sport in 1000..1010 {
            let pkt = format!("in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src={sport}");
            assert_eq!(format_actions(&run(&t, &p, &pkt).actions), "3");
        }
    }

    #[test]
    fn select_picks_the_bucket_ovs_picks() {
        // OVS 3.1 (Debian's build, dummy datapath): a packet per TCP source port 1000..=1015
        // from 10.0.0.1 to 10.0.0.2:80 through netdev-dummy/receive, bucket read back from
        // dump-group-stats after each (group_id=1,type=select,bucket=output:2,bucket=output:3).
        let ovs = [0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 1];
        let t = tables(
            &["group_id=1,type=select,bucket=output:2,bucket=output:3"],
            "in_port=1,actions=group:1",
        );
        let p = ports(3);
        let ours: Vec<u32> = (1000..=1015)
            .map(|sport| {
                let pkt = format!(
                    "in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,tcp,\
                     nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64,tp_src={sport},tp_dst=80"
                );
                let a = format_actions(&run(&t, &p, &pkt).actions);
                if a == "2" { 0 } else { 1 }
            })
            .collect();
        assert_eq!(ours, ovs);
    }

    #[test]
    fn deleting_a_group_deletes_the_rules_that_use_it() {
        let mut t = tables(
            &[
                "group_id=1,type=all,bucket=output:2",
                "group_id=2,type=all,bucket=output:3",
            ],
            "priority=5,in_port=1,actions=group:1
             priority=4,in_port=1,actions=group:2
             priority=3,actions=output:3",
        );
        assert_eq!(t.group_refs(1), 1);
        let del = GroupMod {
            command: GroupModCommand::Delete,
            spec: parse_group("group_id=1,type=all", &NoNames).unwrap(),
        };
        let applied = t.apply_group_mod(&del, 0).unwrap();
        assert_eq!(applied.removed.len(), 1);
        assert_eq!(t.len(), 2);
        // A flow naming a missing group is refused, as OVS refuses it.
        let bad = FlowMod::add(parse_flow("actions=group:1", &NoNames, FlowSyntax::Add).unwrap());
        assert!(
            t.apply(&[bad], 0)
                .unwrap_err()
                .to_string()
                .contains("group 1")
        );
    }

    #[test]
    fn buckets_run_as_action_sets() {
        let set = |v: u128| OfAction::Load {
            value: v,
            dst: crate::ofproto::SubField::whole(fastpath::flow::Field::Reg(0)),
        };
        // One final action: the later of two outputs; group beats output.
        let a = action_set(&[
            OfAction::Output(1),
            set(1),
            OfAction::Output(2),
            OfAction::DecTtl,
        ]);
        assert_eq!(a, vec![OfAction::DecTtl, set(1), OfAction::Output(2)]);
        let a = action_set(&[OfAction::Group(3), OfAction::Output(2)]);
        assert_eq!(a, vec![OfAction::Group(3)]);
        // No final action: nothing runs.
        assert!(action_set(&[set(1)]).is_empty());
    }
}
