//! The slow path as the datapath sees it: bridges, their tables and ports, and the upcall
//! handler that translates a missed packet through them.
//!
//! All of it sits behind one `RwLock` ([`SlowPath::state`]): upcalls and periodic
//! revalidation take it for reading; configuration changes (flow mods, ports, bridges) take it
//! for writing *and revalidate before releasing it*, which is what makes "once a change is
//! acknowledged, no cached megaflow gives the old answer" hold (see `fastpath::dpif`'s lock
//! order: this lock is always taken before any datapath table lock).

use crate::mac_learning::MacTable;
use crate::normal::{NormalPort, VlanMode};
use crate::ofproto::table::FlowTables;
use crate::xlate::ct::{RecircStats, RecircTable};
use crate::xlate::learn::{LearnQueue, LearnStats};
use crate::xlate::{
    BridgeSet, LearningSwitch, PortKind, PortMap, XBridge, XPort, XlateCtx, XlateError,
    translate_or_fail,
};
use fastpath::flow::FlowKey;
use fastpath::upcall::{Translation, UpcallError, UpcallHandler};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

/// What kind of device a port is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortType {
    /// A TAP device the switch creates and owns.
    Tap,
    /// An existing interface attached with AF_PACKET.
    System,
    /// The bridge's own host-stack port (a TAP device).
    Internal,
    /// Joins this bridge to `peer` (a patch port of another bridge).
    Patch { peer: String },
    /// In-memory, for tests.
    Dummy,
    /// A VXLAN, Geneve or GRE tunnel.
    Tunnel(fastpath::port::tunnel::TunnelConfig),
}

/// A port as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    pub kind: PortType,
    pub ofport: u32,
    pub tag: Option<u16>,
    pub trunks: Vec<u16>,
    /// MTU for devices the switch creates.
    pub mtu: Option<u32>,
}

/// One bridge in the slow path.
#[derive(Debug)]
pub struct BridgeState {
    pub name: String,
    pub tables: FlowTables,
    pub ports: PortMap,
    pub configs: BTreeMap<u32, PortConfig>,
    pub normal: LearningSwitch,
    /// The bridge's TLV map (`tun_metadataN`), shared with its tunnel ports.
    pub tlv: fastpath::flow::tlv::SharedTlv,
    /// The bridge's mirrors as configured (resolved into `ports` by `rebuild_normal`).
    pub mirrors: Vec<crate::xlate::mirror::MirrorConfig>,
}

impl BridgeState {
    fn new(name: &str) -> BridgeState {
        BridgeState {
            name: name.to_string(),
            tables: FlowTables::new(),
            ports: PortMap::new(),
            configs: BTreeMap::new(),
            normal: LearningSwitch::new(Vec::new(), MacTable::default()),
            tlv: Default::default(),
            mirrors: Vec::new(),
        }
    }

    /// Rebuilds the NORMAL port list after a port change, keeping the learned addresses.
    pub(crate) fn rebuild_normal(&mut self) {
        let macs = self.normal.with_macs(std::mem::take);
        let ports = self
            .configs
            .values()
            .map(|c| NormalPort {
                ofport: c.ofport,
                vlan: VlanMode::from_config(c.tag, &c.trunks),
            })
            .collect();
        self.normal = LearningSwitch::new(ports, macs);
        self.rebuild_mirrors();
    }

    /// Resolves the configured mirrors against the ports (after a port or mirror change),
    /// keeping their counters.
    pub(crate) fn rebuild_mirrors(&mut self) {
        let ports = self.configs.values().map(|c| {
            (
                c.ofport,
                c.name.as_str(),
                VlanMode::from_config(c.tag, &c.trunks),
            )
        });
        let set =
            crate::xlate::mirror::MirrorSet::build(&self.mirrors, ports, self.ports.mirrors());
        self.ports.set_mirrors(Arc::new(set));
    }

    /// Rebuilds the xlate port map from the configs (after a removal), given each port's
    /// datapath number and the patch peers' locations.
    pub(crate) fn rebuild_ports(
        &mut self,
        dp_of: &HashMap<String, u32>,
        patch_of: &HashMap<String, (String, u32)>,
    ) {
        let mut map = PortMap::new();
        for c in self.configs.values() {
            let kind = match &c.kind {
                PortType::Patch { peer } => {
                    patch_of.get(peer).map(|(bridge, ofport)| PortKind::Patch {
                        bridge: bridge.clone(),
                        ofport: *ofport,
                    })
                }
                PortType::Tunnel(cfg) => dp_of
                    .get(&c.name)
                    .map(|no| PortKind::Tunnel { dp: *no, cfg: *cfg }),
                _ => dp_of.get(&c.name).map(|no| PortKind::Datapath(*no)),
            };
            if let Some(kind) = kind {
                map.insert(XPort {
                    ofport: c.ofport,
                    name: c.name.clone(),
                    kind,
                });
            }
        }
        map.keep_liveness(&self.ports);
        map.set_mirrors(self.ports.mirrors().clone());
        self.ports = map;
        self.rebuild_normal();
    }
}

/// Everything translations read.
#[derive(Debug, Default)]
pub struct SlowState {
    pub bridges: BTreeMap<String, BridgeState>,
    /// Datapath port number → (bridge, OpenFlow port).
    pub dp_ports: HashMap<u32, (String, u32)>,
    pub recirc: RecircTable,
    /// Flows `learn` actions learned, waiting to be applied (shared with [`SlowPath::learn`]).
    pub learn: Arc<LearnQueue>,
}

impl SlowState {
    pub(crate) fn add_bridge(&mut self, name: &str) {
        self.bridges
            .entry(name.to_string())
            .or_insert_with(|| BridgeState::new(name));
    }

    /// An xlate context for a packet that entered on datapath port `dp_in`.
    pub fn ctx_for(&self, dp_in: u32, may_learn: bool, now_ms: u64) -> Option<XlateCtx<'_>> {
        let (bridge, _) = self.dp_ports.get(&dp_in)?;
        let b = self.bridges.get(bridge)?;
        Some(self.ctx_for_bridge(b, may_learn, now_ms))
    }

    /// An xlate context for bridge `b`.
    pub fn ctx_for_bridge<'a>(
        &'a self,
        b: &'a BridgeState,
        may_learn: bool,
        now_ms: u64,
    ) -> XlateCtx<'a> {
        XlateCtx {
            bridge: XBridge {
                name: &b.name,
                tables: &b.tables,
                ports: &b.ports,
                normal: Some(&b.normal),
            },
            peers: Some(self),
            recirc: &self.recirc,
            credit: None,
            may_learn,
            now_ms,
            // Upcalls (the translations that may learn) have side effects; others do not.
            learn: may_learn.then_some(&*self.learn),
        }
    }

    /// Sum of every bridge's MAC table generation (changes when any forwarding decision of
    /// NORMAL may change).
    pub fn mac_generation(&self) -> u64 {
        self.bridges
            .values()
            .map(|b| b.normal.with_macs(|m| m.generation()))
            .sum()
    }
}

impl BridgeSet for SlowState {
    fn bridge(&self, name: &str) -> Option<XBridge<'_>> {
        let b = self.bridges.get(name)?;
        Some(XBridge {
            name: &b.name,
            tables: &b.tables,
            ports: &b.ports,
            normal: Some(&b.normal),
        })
    }
}

/// The slow path's counters at one moment (`datapath-stats`, metrics).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlowStats {
    /// Failed upcall translations per kind, every kind of [`XlateError::KINDS`] in order.
    pub xlate_errors: Vec<(&'static str, u64)>,
    /// The recirculation id table.
    pub recirc: RecircStats,
    /// Learned flows.
    pub learn: LearnStats,
    /// Packets sent up for the controller.
    pub punt: super::punt::PuntStats,
}

/// Upcall translations that failed, per [`XlateError::KINDS`].
#[derive(Debug)]
pub struct XlateErrorCounters([AtomicU64; XlateError::KINDS.len()]);

impl Default for XlateErrorCounters {
    fn default() -> Self {
        XlateErrorCounters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl XlateErrorCounters {
    fn count(&self, e: &XlateError) {
        self.0[e.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// `(kind, count)` for every kind, zeros included, in [`XlateError::KINDS`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        XlateError::KINDS
            .iter()
            .zip(&self.0)
            .map(|(k, c)| (*k, c.load(Ordering::Relaxed)))
            .collect()
    }
}

/// The slow path: shared state plus its clock and failure counters.
#[derive(Debug)]
pub struct SlowPath {
    state: RwLock<SlowState>,
    learn: Arc<LearnQueue>,
    epoch: Instant,
    errors: XlateErrorCounters,
}

impl Default for SlowPath {
    fn default() -> Self {
        let learn = Arc::new(LearnQueue::default());
        SlowPath {
            state: RwLock::new(SlowState {
                learn: learn.clone(),
                ..SlowState::default()
            }),
            learn,
            epoch: Instant::now(),
            errors: XlateErrorCounters::default(),
        }
    }
}

impl SlowPath {
    /// Milliseconds since start (MAC learning and rule timeouts).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Shared access (upcalls, dumps, periodic revalidation).
    pub fn read(&self) -> RwLockReadGuard<'_, SlowState> {
        // A panic while holding the lock leaves the state as the last completed change left it
        // (changes are applied in one step after validation), so poisoning is not fatal.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Exclusive access (configuration changes; revalidate before dropping it).
    pub fn write(&self) -> RwLockWriteGuard<'_, SlowState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Flows learned by upcalls and revalidation, waiting for [`crate::dataplane::Dataplane::apply_learned`].
    pub fn learn_queue(&self) -> &Arc<LearnQueue> {
        &self.learn
    }

    /// Failed upcall translations per kind.
    pub fn xlate_errors(&self) -> &XlateErrorCounters {
        &self.errors
    }
}

impl UpcallHandler for SlowPath {
    /// Translates a miss. A failure is counted per kind; where a drop megaflow is sound
    /// ([`XlateError::installs_drop`]) the answer is one (no actions, the mask consulted up to
    /// the failure), so the flow's next packets are dropped in the fast path, as in OVS.
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        let now = self.now_ms();
        let state = self.read();
        let Some(ctx) = state.ctx_for(key.in_port, true, now) else {
            self.errors.count(&XlateError::UnknownInPort(key.in_port));
            return Err(UpcallError::TranslationFailed);
        };
        translate_or_fail(&ctx, key).or_else(|f| {
            self.errors.count(&f.error);
            tracing::debug!(error = %f.error, "translation failed");
            if f.error.installs_drop() {
                Ok(Translation {
                    actions: Vec::new(),
                    mask: *f.mask,
                })
            } else {
                Err(UpcallError::TranslationFailed)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::revalidator::tests::{dataplane, udp};
    use super::*;
    use fastpath::dpif::DropReason;
    use fastpath::packet::Packet;

    fn errors(dp: &crate::dataplane::Dataplane, kind: &str) -> u64 {
        let s = dp.slow_stats();
        s.xlate_errors.iter().find(|(k, _)| *k == kind).unwrap().1
    }

    #[test]
    fn a_failed_translation_installs_a_drop_megaflow_over_what_it_consulted() {
        // Source port 1000 loops; anything else is forwarded.
        let dp = dataplane(&[
            "priority=10,udp,tp_src=1000,actions=resubmit(,0)",
            "priority=1,actions=output:2",
        ]);
        let d = dp.datapath();
        let mut ctx = d.new_pmd();
        let p1 = dp.dp_port_of("p1").unwrap();
        let p2 = dp.dp_port_of("p2").unwrap();
        let mut send = |sport: u16| {
            let mut b = vec![Packet::from_bytes(&udp(sport))];
            d.process_batch(&mut ctx, p1, &mut b, 1);
            ctx.take_outputs()
                .iter()
                .filter(|(p, _)| *p == p2)
                .map(|(_, q)| q.len())
                .sum::<usize>()
        };
        assert_eq!(send(1000), 0);
        assert_eq!(send(1000), 0);
        assert_eq!(send(1000), 0);
        // One upcall, one drop megaflow; the others hit it.
        let st = d.stats();
        assert_eq!(st.upcalls, 1);
        assert_eq!(st.dropped(DropReason::FlowDrop), 3);
        assert_eq!(st.dropped(DropReason::UpcallFailed), 0);
        assert_eq!(errors(&dp, "resubmit_loop"), 1);
        let mf = d.dump_megaflows();
        assert_eq!(mf.len(), 1);
        assert!(mf[0].actions.is_empty());
        assert_eq!(
            mf[0].mask.tp_src, 0xffff,
            "the mask consulted covers tp_src"
        );
        // A packet outside the drop megaflow's mask is translated and forwarded.
        assert_eq!(send(1001), 1);
        // Revalidation keeps the drop megaflow instead of deleting it on every pass.
        dp.maintain(true);
        let change = crate::ofproto::flow_mod::FlowMod::add(
            crate::ofctl::parse_flow(
                "priority=5,tcp,actions=output:2",
                &crate::ofctl::NoNames,
                crate::ofctl::FlowSyntax::Add,
            )
            .unwrap(),
        );
        dp.flow_mods("br0", &[change]).unwrap();
        assert_eq!(send(1000), 0);
        assert_eq!(
            d.stats().upcalls,
            2,
            "only the first packet of each flow went up"
        );
        assert_eq!(errors(&dp, "resubmit_loop"), 1);
        // The rule goes: the next packet of the flow is forwarded.
        let del = crate::ofproto::flow_mod::FlowMod::delete(
            crate::ofctl::parse_flow(
                "priority=10,udp,tp_src=1000",
                &crate::ofctl::NoNames,
                crate::ofctl::FlowSyntax::MatchOnly,
            )
            .unwrap(),
            true,
        );
        dp.flow_mods("br0", &[del]).unwrap();
        assert_eq!(send(1000), 1);
    }

    #[test]
    fn an_unknown_recirculation_id_is_counted_and_installs_nothing() {
        let dp = dataplane(&["priority=1,actions=output:2"]);
        let mut key = FlowKey::ZERO;
        key.in_port = dp.dp_port_of("p1").unwrap();
        key.recirc_id = 0x77;
        assert_eq!(
            dp.slow_path().upcall(&key, &[]),
            Err(UpcallError::TranslationFailed)
        );
        assert_eq!(errors(&dp, "unknown_recirc_id"), 1);
        key.in_port = 999;
        key.recirc_id = 0;
        assert_eq!(
            dp.slow_path().upcall(&key, &[]),
            Err(UpcallError::TranslationFailed)
        );
        assert_eq!(errors(&dp, "unknown_in_port"), 1);
    }

    #[test]
    fn learned_flows_are_queued_by_upcalls_applied_in_batches_and_refreshed_by_revalidation() {
        let dp = dataplane(&[
            "udp,actions=learn(table=1,hard_timeout=30,eth_type=0x800,nw_proto=17,\
             NXM_OF_UDP_DST[]=NXM_OF_UDP_SRC[],output:NXM_OF_IN_PORT[]),output:2",
        ]);
        let d = dp.datapath();
        let mut ctx = d.new_pmd();
        let p1 = dp.dp_port_of("p1").unwrap();
        let mut send = |sport: u16| {
            let mut b = vec![Packet::from_bytes(&udp(sport))];
            d.process_batch(&mut ctx, p1, &mut b, 1);
            ctx.take_outputs();
        };
        let table1 = |dp: &crate::dataplane::Dataplane| {
            let mut f = crate::ofctl::FlowSpec::new(crate::ofctl::FlowSyntax::MatchOnly);
            f.table = 1;
            dp.dump_flows("br0", &f)
                .unwrap()
                .iter()
                .map(|r| crate::ofctl::format_flow(&r.to_spec(), &crate::ofctl::NoNames))
                .collect::<Vec<_>>()
        };
        send(1000);
        send(1000);
        assert_eq!(d.stats().upcalls, 1, "the second packet hit the megaflow");
        assert_eq!(dp.slow_path().learn_queue().len(), 1);
        assert!(
            table1(&dp).is_empty(),
            "nothing is installed before the batch"
        );
        let mf = d.dump_megaflows();
        assert_eq!(
            mf[0].mask.tp_src, 0xffff,
            "the learned-from field is in the megaflow"
        );
        assert_eq!(dp.apply_learned(), 1);
        assert!(table1(&dp)[0].contains("tp_dst=1000"), "{:?}", table1(&dp));
        assert!(
            table1(&dp)[0].contains("actions=output:1"),
            "{:?}",
            table1(&dp)
        );
        // Another source port is another megaflow and another learned flow.
        send(1001);
        assert_eq!(d.stats().upcalls, 2);
        assert_eq!(dp.apply_learned(), 1);
        assert_eq!(table1(&dp).len(), 2);
        // The flows go (as by a hard timeout or a del-flows); the megaflow of table 0 stays,
        // and when it counts packets the revalidator re-runs its learn: the flow comes back.
        let del = crate::ofproto::flow_mod::FlowMod::delete(
            crate::ofctl::parse_flow(
                "table=1",
                &crate::ofctl::NoNames,
                crate::ofctl::FlowSyntax::MatchOnly,
            )
            .unwrap(),
            false,
        );
        dp.flow_mods("br0", &[del]).unwrap();
        assert!(table1(&dp).is_empty());
        send(1000);
        assert_eq!(d.stats().upcalls, 2, "still the megaflow");
        dp.maintain(true);
        assert_eq!(dp.apply_learned(), 1);
        let flows = table1(&dp);
        assert_eq!(flows.len(), 1);
        assert!(flows[0].contains("tp_dst=1000"), "{flows:?}");
        // Traffic on an installed flow's megaflow only refreshes it: no table change.
        send(1000);
        dp.maintain(true);
        assert_eq!(dp.apply_learned(), 0);
        let st = dp.slow_stats().learn;
        // (Revalidation also re-queues flows still waiting for a batch: those refresh.)
        assert_eq!((st.installed, st.dropped, st.refused), (3, 0, 0));
        assert!(st.queued >= 3);
    }
}
