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
use crate::xlate::ct::RecircTable;
use crate::xlate::{
    BridgeSet, LearningSwitch, PortKind, PortMap, XBridge, XPort, XlateCtx, translate,
};
use fastpath::flow::FlowKey;
use fastpath::upcall::{Translation, UpcallError, UpcallHandler};
use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
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
}

impl BridgeState {
    fn new(name: &str) -> BridgeState {
        BridgeState {
            name: name.to_string(),
            tables: FlowTables::new(),
            ports: PortMap::new(),
            configs: BTreeMap::new(),
            normal: LearningSwitch::new(Vec::new(), MacTable::default()),
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

/// The slow path: shared state plus its clock.
#[derive(Debug)]
pub struct SlowPath {
    state: RwLock<SlowState>,
    epoch: Instant,
}

impl Default for SlowPath {
    fn default() -> Self {
        SlowPath {
            state: RwLock::new(SlowState::default()),
            epoch: Instant::now(),
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
}

impl UpcallHandler for SlowPath {
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        let now = self.now_ms();
        let state = self.read();
        let ctx = state
            .ctx_for(key.in_port, true, now)
            .ok_or(UpcallError::TranslationFailed)?;
        translate(&ctx, key, None).map_err(|e| {
            tracing::debug!(error = %e, "translation failed");
            UpcallError::TranslationFailed
        })
    }
}
