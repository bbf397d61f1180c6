//! The revalidator: keeps every cached megaflow equal to what a fresh translation gives now,
//! and pushes megaflow counters into the OpenFlow rules they came from.
//!
//! For each megaflow it re-translates the megaflow's (masked) key with learning off. The
//! verdict: the new mask must lie within the old one (the new translation consulted no bit the
//! megaflow wildcards — otherwise packets of the megaflow could now translate differently), in
//! which case the megaflow is kept or gets the new actions; anything else deletes it and the next
//! packet takes an upcall. Translating the masked key is enough: every packet of the megaflow
//! agrees with it on every bit of the old mask, hence of the new one.
//!
//! Statistics: the datapath counts packets and bytes per megaflow, per thread. On a pass with
//! `push_stats`, the difference since the previous push is credited to every rule the
//! translation visits (as OVS's revalidator does with `xlate_push_stats`). Baselines are kept per
//! (thread, key, mask), updated in place and stamped with the pass that last saw them; entries
//! a stats pass did not see are dropped at its end, so deleted megaflows do not linger. The map
//! hashes the key and mask as two runs of words (a megaflow identity is ~400 bytes: hashing it
//! field by field with SipHash, and rebuilding the map on every pass, cost more than the
//! translations on a full table).
//!
//! Recirculation ids: each pass collects the ids every megaflow holds and then frees, in the
//! datapath's recirculation table, the ids no megaflow held and nothing used lately
//! (`xlate::ct::recirc` explains why that is sound).
//!
//! Cost: a stats pass translates only megaflows whose counters moved (see [`Revalidator::run`]),
//! and at most [`FRESH_PER_PASS`] that it sees for the first time with only their installing
//! packet, so its cost follows the established traffic, not the table size or the rate of new
//! flows: a storm of new 5-tuples cannot make `dump-flows` (which runs a pass) slow.

use super::slowpath::SlowState;
use crate::xlate::ct::recirc_ids;
use crate::xlate::{Credit, translate_or_fail};
use fastpath::dpif::{Datapath, RevalidateSummary, Verdict};
use fastpath::flow::{FlowKey, FlowMask};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Megaflows a stats pass translates for the first time, at most, among those that counted
/// only the packet that installed them (the rest are credited by a later pass, or not at all
/// if they are evicted or expire first, as any megaflow's counters since its last push are).
/// Megaflows that counted more packets are always translated.
pub const FRESH_PER_PASS: usize = 1024;

/// A megaflow's identity across passes: the thread whose table holds it, its key and mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MegaflowId {
    thread: usize,
    key: FlowKey,
    mask: FlowMask,
}

impl Hash for MegaflowId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.thread);
        // Integer slices hash as one byte run.
        self.key.words().hash(state);
        self.mask.words().hash(state);
    }
}

/// Counters a megaflow had when last pushed, and the pass that saw it.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    packets: u64,
    bytes: u64,
    pass: u64,
}

type Baselines = HashMap<MegaflowId, Baseline, ahash::RandomState>;

/// Revalidator state that outlives a pass: counter baselines.
#[derive(Debug, Default)]
pub struct Revalidator {
    baselines: Baselines,
    /// Stats passes so far (stamps baselines).
    passes: u64,
    /// MAC generation seen at the last pass.
    pub(crate) mac_generation: u64,
    /// Recirculation ids the megaflows of a pass hold (kept to reuse the allocation).
    recirc_refs: Vec<u32>,
}

/// True if every bit of `inner` is also set in `outer`.
pub fn mask_within(inner: &FlowMask, outer: &FlowMask) -> bool {
    inner
        .words()
        .iter()
        .zip(outer.words())
        .all(|(i, o)| i & !o == 0)
}

impl Revalidator {
    /// One pass over every megaflow. The caller holds the slow path's lock (`state`): for
    /// writing after a configuration change, for reading on periodic passes.
    ///
    /// A pass with `push_stats` is one where the caller changed nothing since the previous
    /// pass (counters are pushed before a change, on dump-flows and periodically): a megaflow
    /// whose counters did not move then needs no translation unless NORMAL's MAC table changed
    /// since the previous pass, because it was right at that pass and nothing it depends on
    /// changed. That keeps periodic passes cheap when a flood of one-packet megaflows fills the
    /// table. A pass without `push_stats` translates every megaflow.
    pub fn run(
        &mut self,
        dp: &Datapath,
        state: &SlowState,
        now_ms: u64,
        push_stats: bool,
    ) -> RevalidateSummary {
        // Read before translating: learning may go on during the pass, and a change it makes
        // after a megaflow was translated must trigger the next pass.
        let generation = state.mac_generation();
        let everything = !push_stats || generation != self.mac_generation;
        if push_stats {
            self.passes += 1;
        }
        let pass = self.passes;
        let started = std::time::Instant::now();
        // Before the pass bumps the revalidation sequence: see `xlate::ct::recirc`.
        let recirc_started = state.recirc.now_ms();
        let mut translated = 0usize;
        let baselines = &mut self.baselines;
        let mut fresh_budget = FRESH_PER_PASS;
        let refs = &mut self.recirc_refs;
        refs.clear();
        let summary = dp.revalidate_indexed(|thread, key, mask, actions, stats| {
            // Every megaflow of the snapshot holds its recirculation ids, whatever its
            // verdict: packets may hit it until the verdict is applied.
            refs.extend(recirc_ids(key.recirc_id, actions));
            let credit = if push_stats {
                let id = MegaflowId {
                    thread,
                    key: *key,
                    mask: *mask,
                };
                let now = Baseline {
                    packets: stats.packets,
                    bytes: stats.bytes,
                    pass,
                };
                let base = match baselines.get_mut(&id) {
                    Some(b) => std::mem::replace(b, now),
                    // Seen for the first time with only the packet that installed it: under
                    // a storm of new flows there are more of these than one pass should
                    // translate, so past the budget they wait (unseen) for a later pass.
                    None if !everything && stats.packets <= 1 && fresh_budget == 0 => {
                        return Verdict::Keep;
                    }
                    None => {
                        fresh_budget = fresh_budget.saturating_sub(1);
                        baselines.insert(id, now);
                        Baseline {
                            packets: 0,
                            bytes: 0,
                            pass,
                        }
                    }
                };
                // A counter below its baseline means the megaflow was re-created.
                let (dp_, db) = if stats.packets >= base.packets {
                    (
                        stats.packets - base.packets,
                        stats.bytes.saturating_sub(base.bytes),
                    )
                } else {
                    (stats.packets, stats.bytes)
                };
                (dp_ > 0).then_some(Credit {
                    packets: dp_,
                    bytes: db,
                })
            } else {
                None
            };
            if !everything && credit.is_none() {
                return Verdict::Keep;
            }
            let Some(mut ctx) = state.ctx_for(key.in_port, false, now_ms) else {
                return Verdict::Delete;
            };
            ctx.credit = credit;
            // A megaflow that counted packets re-runs its `learn` actions (refreshing or
            // re-adding what they learned) and `fin_timeout`s, as OVS's xlate cache does.
            if credit.is_some() {
                ctx.learn = Some(&state.learn);
            }
            translated += 1;
            match translate_or_fail(&ctx, key) {
                Ok(t) if mask_within(&t.mask, mask) => Verdict::Update(t.actions),
                // The drop megaflow an upcall installs for a failed translation.
                Err(f) if f.error.installs_drop() && mask_within(&f.mask, mask) => {
                    Verdict::Update(Vec::new())
                }
                _ => Verdict::Delete,
            }
        });
        if push_stats {
            // Megaflows this pass did not see are gone.
            self.baselines.retain(|_, b| b.pass == pass);
        } else {
            // Entries deleted by this pass keep stale baselines until the next stats pass,
            // which drops them; a re-created megaflow is detected by its lower count.
        }
        self.mac_generation = generation;
        let recirc = state.recirc.sweep(&mut self.recirc_refs, recirc_started);
        if self.recirc_refs.capacity() > 4 * self.recirc_refs.len().max(1024) {
            self.recirc_refs = Vec::new();
        }
        tracing::debug!(
            examined = summary.examined,
            translated,
            updated = summary.updated,
            deleted = summary.deleted,
            push_stats,
            recirc_ids = recirc.live,
            recirc_freed = recirc.freed,
            us = started.elapsed().as_micros() as u64,
            "revalidation pass"
        );
        summary
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
    use crate::ofctl::{FlowSyntax, NoNames, parse_flow};
    use crate::ofproto::flow_mod::FlowMod;
    use fastpath::packet::Packet;
    use std::sync::Arc;

    /// Ethernet + IPv4 + UDP, 10.0.0.1:`sport` -> 10.0.0.2:53, no payload.
    pub(crate) fn udp(sport: u16) -> Vec<u8> {
        let mut f = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // Ethernet
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
            0, 0, 0, 53, 0, 8, 0, 0, // UDP
        ];
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        let sum: u32 = f[14..34]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        f[24..26].copy_from_slice(&(!(folded as u16)).to_be_bytes());
        f.to_vec()
    }

    /// A dataplane with dummy ports 1 and 2 and `flows`, driven by hand (no threads).
    pub(crate) fn dataplane(flows: &[&str]) -> Arc<Dataplane> {
        let dp = Dataplane::new(
            DataplaneConfig {
                dummy_devices: true,
                ..DataplaneConfig::default()
            },
            None,
        );
        dp.add_bridge("br0").unwrap();
        for ofport in [1, 2] {
            let port = PortConfig {
                name: format!("p{ofport}"),
                kind: PortType::Dummy,
                ofport,
                tag: None,
                trunks: vec![],
                mtu: None,
            };
            dp.add_port("br0", port).unwrap();
        }
        let mods: Vec<FlowMod> = flows
            .iter()
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        dp.flow_mods("br0", &mods).unwrap();
        dp
    }

    /// Packets credited to the rule of priority `prio` (after a stats pass).
    fn credited(dp: &Dataplane, prio: u16) -> u64 {
        let all = crate::ofctl::FlowSpec::new(FlowSyntax::MatchOnly);
        dp.dump_flows("br0", &all)
            .unwrap()
            .iter()
            .find(|r| r.priority == prio)
            .map(|r| r.stats.packets())
            .unwrap()
    }

    /// Sends one packet per source port in `ports` through the datapath.
    fn send(dp: &Dataplane, ctx: &mut fastpath::dpif::PmdContext, ports: std::ops::Range<u16>) {
        let no = dp.dp_port_of("p1").unwrap();
        for chunk in ports.collect::<Vec<_>>().chunks(32) {
            let mut batch: Vec<Packet> =
                chunk.iter().map(|p| Packet::from_bytes(&udp(*p))).collect();
            dp.datapath().process_batch(ctx, no, &mut batch, 1);
            ctx.discard_outputs();
        }
    }

    /// Copying the source port into a register makes every megaflow exact on it.
    const PER_PORT: &str = "priority=10,udp,actions=move:NXM_OF_UDP_SRC[]->NXM_NX_REG0[0..15]";

    #[test]
    fn one_packet_megaflows_past_the_budget_are_credited_by_later_passes() {
        let dp = dataplane(&[PER_PORT]);
        let mut ctx = dp.datapath().new_pmd();
        let n = FRESH_PER_PASS as u16 + 300;
        send(&dp, &mut ctx, 1000..1000 + n);
        assert_eq!(dp.datapath().megaflow_count(), usize::from(n));
        // Each stats pass credits at most the budget of first-seen one-packet megaflows...
        assert_eq!(credited(&dp, 10), FRESH_PER_PASS as u64);
        // ...and the next pass the rest; nothing is credited twice.
        assert_eq!(credited(&dp, 10), u64::from(n));
        assert_eq!(credited(&dp, 10), u64::from(n));
        // Megaflows that counted more packets are credited at once, whatever their number.
        send(&dp, &mut ctx, 1000..1000 + n);
        assert_eq!(credited(&dp, 10), 2 * u64::from(n));
    }

    #[test]
    fn a_change_revalidates_megaflows_the_stats_passes_skipped() {
        let dp = dataplane(&[PER_PORT]);
        let mut ctx = dp.datapath().new_pmd();
        let n = 2 * FRESH_PER_PASS as u16;
        send(&dp, &mut ctx, 1000..1000 + n);
        credited(&dp, 10);
        // The rule's actions change: every megaflow, credited or not yet, gets the new ones.
        let modify = FlowMod::add(
            parse_flow(
                "priority=10,udp,actions=output:2",
                &NoNames,
                FlowSyntax::Add,
            )
            .unwrap(),
        );
        dp.flow_mods("br0", &[modify]).unwrap();
        let dumped = dp.datapath().dump_megaflows();
        assert_eq!(dumped.len(), usize::from(n));
        assert!(
            dumped.iter().all(|m| !m.actions.is_empty()),
            "a megaflow kept the old (drop) actions"
        );
    }

    #[test]
    fn mask_within_is_bitwise_subset() {
        let mut a = FlowKey::ZERO;
        let mut b = FlowKey::ZERO;
        a.nw_src = 0xff00_0000;
        b.nw_src = 0xffff_0000;
        assert!(mask_within(&a, &b));
        assert!(!mask_within(&b, &a));
        a.tp_dst = 1;
        assert!(!mask_within(&a, &b));
    }
}
