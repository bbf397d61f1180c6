//! The dataplane: bridges on top of one userspace datapath (OVS's `ofproto-dpif` layer).
//!
//! ```text
//! gRPC / switch model ─► Dataplane ─► SlowPath (tables, xlate, NORMAL)  ◄─ upcalls ─┐
//!                                  └► fastpath::Datapath (caches, PMD threads, ports) ┘
//! ```
//!
//! One [`Datapath`] serves every bridge: datapath port numbers are global and each bridge
//! maps its OpenFlow ports onto them, so patch ports and recirculations can cross bridges within
//! one translation. Every configuration change takes the slow path's write lock, applies the
//! change, and revalidates every megaflow before releasing it: when a call here returns, no
//! packet that starts processing afterwards sees the old configuration.
//!
//! A maintenance thread ([`maintenance`]) expires idle megaflows, MAC entries and timed-out
//! rules, pushes megaflow counters into rules, revalidates after MAC learning changes, and
//! re-attaches ports whose interface disappeared.

pub mod devices;
pub mod floodwatch;
pub mod maintenance;
pub mod mirrors;
pub mod punt;
pub mod revalidator;
pub mod slowpath;

pub use slowpath::{PortConfig, PortType, SlowPath, SlowState, SlowStats};

use crate::mac_learning::MacEntry;
use crate::ofctl::{FlowSpec, format_megaflow};
use crate::ofproto::flow_mod::{Applied, FlowMod, FlowModError};
use crate::ofproto::ofpp;
use crate::ofproto::rule::Rule;
use crate::trace::{TraceError, TraceReport, parse_ct_state, trace_packet};
use fastpath::conntrack::{Conntrack, Sweeper};
use fastpath::dpif::pmd::{PmdAssignment, PmdThread};
use fastpath::dpif::{Datapath, DpConfig, DpStats, MegaflowDump, PortDpStats};
use fastpath::port::PortStats;
use fastpath::port::dummy::DummyHandle;
use revalidator::Revalidator;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Why a dataplane operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error("no bridge named '{0}'")]
    NoSuchBridge(String),
    #[error("bridge '{0}' already exists")]
    BridgeExists(String),
    #[error("no port named '{0}'")]
    NoSuchPort(String),
    #[error("port '{0}' already exists")]
    PortExists(String),
    #[error("OpenFlow port {0} is already in use on this bridge")]
    OfportInUse(u32),
    #[error(transparent)]
    FlowMod(#[from] FlowModError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error("packet-out actions")]
    PacketOut(#[from] crate::xlate::XlateError),
    #[error("the continuation is stale: no bridge of this switch made it")]
    StaleContinuation,
}

/// Conntrack entries the sweeper examines per 100 ms round (a full table of 3 M entries is
/// walked in about 30 s without ever holding a shard lock for long).
pub const CT_SWEEP_BUDGET: usize = 10_000;

/// First datapath port number given to bridges' LOCAL ports.
pub const LOCAL_DP_BASE: u32 = 0x1_0000;

/// Dataplane settings.
#[derive(Clone, Debug)]
pub struct DataplaneConfig {
    /// Datapath threads (at least 1).
    pub pmd_threads: usize,
    pub dp: DpConfig,
    /// Make every port an in-memory dummy port whatever its type (as OVS's
    /// `--enable-dummy=override`): for tests of the configuration model, which must not touch
    /// the host's interfaces.
    pub dummy_devices: bool,
    /// How TAP ports move frames through their descriptors.
    pub tap_io: fastpath::port::tap::TapIo,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        // TAP ports exchange 64 KB offloaded segments: buffers must hold them.
        let dp = DpConfig {
            buffer_capacity: fastpath::packet::MAX_FRAME,
            ..DpConfig::default()
        };
        DataplaneConfig {
            pmd_threads: cores,
            dp,
            dummy_devices: false,
            tap_io: fastpath::port::tap::TapIo::default(),
        }
    }
}

/// A port's device state, by port name.
#[derive(Debug)]
struct Device {
    bridge: String,
    /// Datapath port number once the device is attached.
    dp_no: Option<u32>,
    dummy: Option<DummyHandle>,
}

/// Per-port counters, for dump-ports and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortReport {
    pub name: String,
    pub ofport: u32,
    pub up: bool,
    pub stats: PortStats,
    pub dp: Option<PortDpStats>,
}

/// The dataplane of a running switch.
pub struct Dataplane {
    dp: Arc<Datapath>,
    slow: Arc<SlowPath>,
    devices: Mutex<BTreeMap<String, Device>>,
    reval: Mutex<Revalidator>,
    pmds: Mutex<Vec<PmdThread>>,
    maint: Mutex<Option<maintenance::Maintenance>>,
    conntrack: Option<Arc<Conntrack>>,
    sweeper: Mutex<Option<Sweeper>>,
    dummy_devices: bool,
    tap_io: fastpath::port::tap::TapIo,
    /// Datapath threads (configured, then as started): TAP devices get a queue per thread.
    threads: AtomicUsize,
    /// Rate-limited warnings about tables that floods fill (maintenance thread).
    flood: Mutex<floodwatch::FloodWatch>,
    /// Tunnel endpoints (receiving sockets) and the tunnel ports behind them.
    tunnels: fastpath::port::tunnel::Registry,
    /// Where `controller` actions send packets, and the receiving end until it is taken.
    punt: Arc<punt::Punt>,
    punted: Mutex<Option<tokio::sync::mpsc::Receiver<punt::Punted>>>,
    /// The datapath context packet-outs run in (created on first use).
    packet_out: Mutex<Option<fastpath::dpif::PmdContext>>,
}

impl std::fmt::Debug for Dataplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dataplane").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Dataplane {
    /// A dataplane with no bridges and no threads (tests drive it with [`Dataplane::datapath`]);
    /// call [`Dataplane::start`] to run datapath threads and the maintenance thread.
    pub fn new(cfg: DataplaneConfig, conntrack: Option<Arc<Conntrack>>) -> Arc<Dataplane> {
        let slow = Arc::new(SlowPath::default());
        let hook = conntrack
            .clone()
            .map(|c| c as Arc<dyn fastpath::action::ConntrackHook>);
        let dp = Arc::new(Datapath::new(cfg.dp.clone(), slow.clone(), hook));
        let (punt, punted) = punt::Punt::new(punt::PUNT_QUEUE);
        let punt = Arc::new(punt);
        dp.set_userspace_sink(punt.clone());
        Arc::new(Dataplane {
            punt,
            punted: Mutex::new(Some(punted)),
            packet_out: Mutex::new(None),
            dp,
            slow,
            devices: Mutex::new(BTreeMap::new()),
            reval: Mutex::new(Revalidator::default()),
            pmds: Mutex::new(Vec::new()),
            maint: Mutex::new(None),
            conntrack,
            sweeper: Mutex::new(None),
            dummy_devices: cfg.dummy_devices,
            tap_io: cfg.tap_io,
            threads: AtomicUsize::new(cfg.pmd_threads.max(1)),
            flood: Mutex::new(floodwatch::FloodWatch::default()),
            tunnels: fastpath::port::tunnel::Registry::default(),
        })
    }

    /// Starts `pmd_threads` datapath threads and the maintenance thread.
    pub fn start(self: &Arc<Self>, pmd_threads: usize) -> std::io::Result<()> {
        let count = pmd_threads.max(1) as u32;
        self.threads.store(count as usize, Ordering::Relaxed);
        let mut pmds = lock(&self.pmds);
        for index in 0..count {
            pmds.push(PmdThread::spawn(
                self.dp.clone(),
                PmdAssignment { index, count },
            )?);
        }
        *lock(&self.maint) = Some(maintenance::Maintenance::spawn(Arc::downgrade(self))?);
        if let Some(ct) = &self.conntrack {
            let dp = self.dp.clone();
            *lock(&self.sweeper) = Some(Sweeper::spawn(
                ct.clone(),
                std::time::Duration::from_millis(100),
                CT_SWEEP_BUDGET,
                move || dp.clock_ms(),
            )?);
        }
        Ok(())
    }

    /// Stops every thread (the datapath's, the maintenance thread, the conntrack sweeper).
    pub fn stop(&self) {
        drop(lock(&self.sweeper).take());
        if let Some(m) = lock(&self.maint).take() {
            m.stop();
        }
        for p in lock(&self.pmds).drain(..) {
            p.stop();
        }
    }

    /// Conntrack, if this dataplane has it.
    pub fn conntrack(&self) -> Option<&Arc<Conntrack>> {
        self.conntrack.as_ref()
    }

    /// The datapath's clock (conntrack expiry times are on it).
    pub fn clock_ms(&self) -> u64 {
        self.dp.clock_ms()
    }

    /// Feeds the flood watch the current totals and logs what it reports (maintenance).
    pub(crate) fn watch_floods(&self, now_ms: u64) {
        let (mac_evicted, recirc_exhausted) = {
            let st = self.slow.read();
            let macs = st
                .bridges
                .values()
                .map(|b| b.normal.with_macs(|m| m.stats().evicted))
                .sum();
            (macs, st.recirc.stats().exhausted)
        };
        let conntrack_refused = self.conntrack.as_ref().map_or(0, |ct| {
            let s = ct.stats();
            s.global_limit_drops + s.zone_limit_drops
        });
        let dp = self.dp.stats();
        let totals = floodwatch::Totals {
            mac_evicted,
            conntrack_refused,
            megaflow_evicted: dp.evicted,
            upcall_lost: dp.lost,
            recirc_exhausted,
        };
        for w in lock(&self.flood).observe(totals, now_ms) {
            tracing::warn!(
                count = w.count,
                total = w.total,
                "{} (at most one warning per {} s)",
                w.kind.message(),
                floodwatch::INTERVAL_MS / 1000
            );
        }
    }

    /// The datapath (tests, benchmarks).
    pub fn datapath(&self) -> &Arc<Datapath> {
        &self.dp
    }

    /// The slow path.
    pub fn slow_path(&self) -> &Arc<SlowPath> {
        &self.slow
    }

    /// Revalidates every megaflow against `state` (held by the caller). With `push_stats` the
    /// caller must not have changed `state` since the previous pass (see
    /// [`Revalidator::run`]): only megaflows that counted packets are translated then.
    fn revalidate(&self, state: &SlowState, push_stats: bool) {
        let now = self.slow.now_ms();
        lock(&self.reval).run(&self.dp, state, now, push_stats);
    }

    /// Pushes megaflow counters into rules now (before dump-flows, so counters are current).
    pub fn push_stats(&self) {
        let state = self.slow.read();
        self.revalidate(&state, true);
    }

    // ---- bridges ----

    /// Adds a bridge (no ports, empty tables: the caller installs the default flow).
    pub fn add_bridge(&self, name: &str) -> Result<(), DataplaneError> {
        let mut st = self.slow.write();
        if st.bridges.contains_key(name) {
            return Err(DataplaneError::BridgeExists(name.into()));
        }
        st.add_bridge(name);
        Ok(())
    }

    /// Removes a bridge and all its ports.
    pub fn del_bridge(&self, name: &str) -> Result<(), DataplaneError> {
        let ports: Vec<String> = {
            let st = self.slow.read();
            let b = st
                .bridges
                .get(name)
                .ok_or_else(|| DataplaneError::NoSuchBridge(name.into()))?;
            b.configs.values().map(|c| c.name.clone()).collect()
        };
        for p in ports {
            self.del_port(name, &p)?;
        }
        let mut st = self.slow.write();
        st.bridges.remove(name);
        self.revalidate(&st, false);
        Ok(())
    }

    /// The TLV map of `bridge` (a fresh, unshared one if there is no such bridge).
    pub fn bridge_tlv(&self, bridge: &str) -> fastpath::flow::tlv::SharedTlv {
        self.slow
            .read()
            .bridges
            .get(bridge)
            .map(|b| b.tlv.clone())
            .unwrap_or_default()
    }

    /// Bridge names.
    pub fn bridges(&self) -> Vec<String> {
        self.slow.read().bridges.keys().cloned().collect()
    }

    // ---- ports ----

    /// Adds a port: opens its device (a `system` port whose interface does not exist yet is
    /// kept, down, and attached when the interface appears), then makes it visible to xlate.
    pub fn add_port(&self, bridge: &str, cfg: PortConfig) -> Result<(), DataplaneError> {
        {
            let st = self.slow.read();
            let b = st
                .bridges
                .get(bridge)
                .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
            if b.configs.contains_key(&cfg.ofport) {
                return Err(DataplaneError::OfportInUse(cfg.ofport));
            }
        }
        if lock(&self.devices).contains_key(&cfg.name) {
            return Err(DataplaneError::PortExists(cfg.name.clone()));
        }
        let mut dev = Device {
            bridge: bridge.to_string(),
            dp_no: None,
            dummy: None,
        };
        match self.attach_device(&cfg, &self.bridge_tlv(bridge)) {
            Ok(Some((no, dummy))) => {
                dev.dp_no = Some(no);
                dev.dummy = dummy;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(port = %cfg.name, error = %e, "port is down until its device can be opened")
            }
        }
        let dp_no = dev.dp_no;
        lock(&self.devices).insert(cfg.name.clone(), dev);
        let mut st = self.slow.write();
        if let Some(no) = dp_no {
            st.dp_ports.insert(no, (bridge.to_string(), cfg.ofport));
        }
        if let Some(b) = st.bridges.get_mut(bridge) {
            b.configs.insert(cfg.ofport, cfg);
        }
        self.rebuild_all_ports(&mut st);
        self.revalidate(&st, false);
        Ok(())
    }

    /// Removes a port.
    pub fn del_port(&self, bridge: &str, name: &str) -> Result<(), DataplaneError> {
        let dev = {
            let mut devs = lock(&self.devices);
            match devs.get(name) {
                Some(d) if d.bridge == bridge => devs.remove(name),
                _ => return Err(DataplaneError::NoSuchPort(name.into())),
            }
        };
        {
            let mut st = self.slow.write();
            if let Some(b) = st.bridges.get_mut(bridge) {
                let ofports: Vec<u32> = b
                    .configs
                    .values()
                    .filter(|c| c.name == name)
                    .map(|c| c.ofport)
                    .collect();
                b.configs.retain(|_, c| c.name != name);
                for of in ofports {
                    b.normal.with_macs(|m| m.flush_port(of));
                }
            }
            if let Some(no) = dev.as_ref().and_then(|d| d.dp_no) {
                st.dp_ports.remove(&no);
            }
            self.rebuild_all_ports(&mut st);
            self.revalidate(&st, false);
        }
        if let Some(no) = dev.and_then(|d| d.dp_no) {
            let _ = self.dp.remove_port(no);
            if let Some(endpoint) = self.tunnels.remove(no) {
                let _ = self.dp.remove_port(endpoint);
            }
        }
        Ok(())
    }

    /// Opens the device behind `cfg` and attaches it to the datapath: its datapath number
    /// and, for a dummy port, the test handle. A tunnel port also attaches its endpoint (the
    /// receiving socket) when it is the first port to use it. `Ok(None)`: no device (patch).
    fn attach_device(
        &self,
        cfg: &PortConfig,
        tlv: &fastpath::flow::tlv::SharedTlv,
    ) -> Result<Option<(u32, Option<DummyHandle>)>, String> {
        if let PortType::Tunnel(tc) = &cfg.kind
            && !self.dummy_devices
        {
            let no = self.free_dp_no(cfg.ofport);
            let ep = self
                .tunnels
                .add(tc, tlv, no, |endpoint| {
                    let eno = self.free_dp_no(ofpp::MAX);
                    tracing::info!(
                        endpoint = fastpath::port::Port::name(&endpoint),
                        dp = eno,
                        "tunnel endpoint opened"
                    );
                    self.dp
                        .add_port(eno, Box::new(endpoint))
                        .map(|()| eno)
                        .map_err(std::io::Error::other)
                })
                .map_err(|e| e.to_string())?;
            let port = fastpath::port::tunnel::TunnelPort::new(&cfg.name, *tc, tlv.clone(), ep);
            if let Err(e) = self.dp.add_port(no, Box::new(port)) {
                if let Some(endpoint) = self.tunnels.remove(no) {
                    let _ = self.dp.remove_port(endpoint);
                }
                return Err(e.to_string());
            }
            return Ok(Some((no, None)));
        }
        match self.open_device(cfg).map_err(|e| e.to_string())? {
            Some(opened) => {
                let no = self.free_dp_no(cfg.ofport);
                self.dp
                    .add_port_queues(no, opened.queues)
                    .map_err(|e| e.to_string())?;
                Ok(Some((no, opened.dummy)))
            }
            None => Ok(None),
        }
    }

    /// Changes a port's VLAN settings (`--tag`, `--trunks`).
    pub fn set_port_vlan(
        &self,
        bridge: &str,
        name: &str,
        tag: Option<u16>,
        trunks: Vec<u16>,
    ) -> Result<(), DataplaneError> {
        let mut st = self.slow.write();
        let b = st
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let c = b
            .configs
            .values_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| DataplaneError::NoSuchPort(name.into()))?;
        c.tag = tag;
        c.trunks = trunks;
        b.rebuild_normal();
        self.revalidate(&st, false);
        Ok(())
    }

    /// Opens the device behind `cfg` (a queue per datapath thread for TAP devices).
    fn open_device(
        &self,
        cfg: &PortConfig,
    ) -> Result<Option<devices::Opened>, fastpath::port::PortError> {
        let threads = self.threads.load(Ordering::Relaxed);
        devices::open(cfg, self.dummy_devices, self.tap_io, threads)
    }

    /// The smallest free datapath port number, preferring `want` (so that with one bridge,
    /// datapath and OpenFlow numbers agree, which keeps traces easy to read).
    fn free_dp_no(&self, want: u32) -> u32 {
        let used: std::collections::HashSet<u32> = self.dp.port_numbers().into_iter().collect();
        if want > 0 && want < ofpp::MAX && !used.contains(&want) {
            return want;
        }
        // Bridges' LOCAL ports live above every OpenFlow port number a user can pick.
        let base = if want >= ofpp::MAX { LOCAL_DP_BASE } else { 1 };
        (base..).find(|n| !used.contains(n)).unwrap_or(u32::MAX)
    }

    /// Recomputes every bridge's xlate port map (device numbers and patch peers).
    fn rebuild_all_ports(&self, st: &mut SlowState) {
        let devs = lock(&self.devices);
        let dp_of: HashMap<String, u32> = devs
            .iter()
            .filter_map(|(n, d)| d.dp_no.map(|no| (n.clone(), no)))
            .collect();
        let mut patch_of = HashMap::new();
        for b in st.bridges.values() {
            for c in b.configs.values() {
                if matches!(c.kind, PortType::Patch { .. }) {
                    patch_of.insert(c.name.clone(), (b.name.clone(), c.ofport));
                }
            }
        }
        for b in st.bridges.values_mut() {
            b.rebuild_ports(&dp_of, &patch_of);
        }
    }

    /// Tries to attach ports whose device could not be opened yet, and re-attaches ports whose
    /// interface disappeared. Returns true if anything changed.
    pub fn maintain_ports(&self) -> bool {
        for (no, up) in self.dp.reopen_down_ports() {
            if up {
                tracing::info!(port = no, "port is back up");
            }
        }
        let pending: Vec<(String, String)> = lock(&self.devices)
            .iter()
            .filter(|(_, d)| d.dp_no.is_none())
            .map(|(n, d)| (n.clone(), d.bridge.clone()))
            .collect();
        let mut changed = false;
        for (name, bridge) in pending {
            let cfg = {
                let st = self.slow.read();
                st.bridges
                    .get(&bridge)
                    .and_then(|b| b.configs.values().find(|c| c.name == name).cloned())
            };
            let Some(cfg) = cfg else { continue };
            if matches!(cfg.kind, PortType::Patch { .. }) {
                continue;
            }
            if let Ok(Some((no, dummy))) = self.attach_device(&cfg, &self.bridge_tlv(&bridge)) {
                {
                    tracing::info!(port = %name, dp = no, "port attached");
                    if let Some(d) = lock(&self.devices).get_mut(&name) {
                        d.dp_no = Some(no);
                        d.dummy = dummy;
                    }
                    let mut st = self.slow.write();
                    st.dp_ports.insert(no, (bridge.clone(), cfg.ofport));
                    self.rebuild_all_ports(&mut st);
                    self.revalidate(&st, false);
                    changed = true;
                }
            }
        }
        changed
    }

    /// The test handle of a dummy port.
    pub fn dummy_handle(&self, name: &str) -> Option<DummyHandle> {
        lock(&self.devices).get(name).and_then(|d| d.dummy.clone())
    }

    /// Datapath port number of a port, if attached.
    pub fn dp_port_of(&self, name: &str) -> Option<u32> {
        lock(&self.devices).get(name).and_then(|d| d.dp_no)
    }

    /// Counters of every port of `bridge` (or of one port).
    pub fn port_reports(
        &self,
        bridge: &str,
        only: Option<&str>,
    ) -> Result<Vec<PortReport>, DataplaneError> {
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let devs = lock(&self.devices);
        let mut out = Vec::new();
        for c in b.configs.values() {
            if only.is_some_and(|o| o != c.name) {
                continue;
            }
            let no = devs.get(&c.name).and_then(|d| d.dp_no);
            let up = match (&c.kind, no) {
                (PortType::Patch { .. }, _) => true,
                // An attached interface is up while the kernel says so too: administratively
                // up with a carrier (a veth whose peer is down has none), as OVS's link_state.
                (PortType::System, Some(no)) => {
                    self.dp.port_is_up(no).unwrap_or(false)
                        && fastpath::port::sys::if_flags(&c.name)
                            .is_ok_and(|f| f & libc::IFF_UP != 0 && f & libc::IFF_RUNNING != 0)
                }
                (_, Some(no)) => self.dp.port_is_up(no).unwrap_or(false),
                (_, None) => false,
            };
            out.push(PortReport {
                name: c.name.clone(),
                ofport: c.ofport,
                up,
                stats: no
                    .and_then(|n| self.dp.port_stats(n).ok())
                    .unwrap_or_default(),
                dp: no.map(|n| self.dp.port_dp_stats(n)),
            });
        }
        if let Some(o) = only
            && out.is_empty()
        {
            return Err(DataplaneError::NoSuchPort(o.into()));
        }
        Ok(out)
    }

    // ---- flows ----

    /// Applies a bundle of flow mods atomically, then revalidates. Counters are pushed into
    /// the old rules first, so a modified rule keeps what its megaflows counted.
    pub fn flow_mods(&self, bridge: &str, mods: &[FlowMod]) -> Result<Applied, DataplaneError> {
        let mut st = self.slow.write();
        if !st.bridges.contains_key(bridge) {
            return Err(DataplaneError::NoSuchBridge(bridge.into()));
        }
        if self.dp.megaflow_count() > 0 {
            self.revalidate(&st, true);
        }
        let now = self.slow.now_ms();
        let b = st
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let applied = b.tables.apply(mods, now)?;
        self.revalidate(&st, false);
        Ok(applied)
    }

    /// Replaces a bridge's whole table set atomically (replace-flows), then revalidates.
    pub fn replace_flows(
        &self,
        bridge: &str,
        specs: Vec<FlowSpec>,
    ) -> Result<Applied, DataplaneError> {
        let mut st = self.slow.write();
        if self.dp.megaflow_count() > 0 {
            self.revalidate(&st, true);
        }
        let now = self.slow.now_ms();
        let b = st
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let applied = b.tables.replace_all(&specs, now)?;
        self.revalidate(&st, false);
        Ok(applied)
    }

    /// Runs `f` on a bridge's live tables under the slow path's write lock, then revalidates
    /// every megaflow before releasing it. Counters are pushed into the rules first, so a
    /// modified rule keeps what its megaflows counted. This is how the switch model changes
    /// flows: it applies the change, commits it to the store, and restores the tables if the
    /// commit fails, all inside `f`.
    pub fn modify_tables<R>(
        &self,
        bridge: &str,
        f: impl FnOnce(&mut crate::ofproto::table::FlowTables, u64) -> R,
    ) -> Result<R, DataplaneError> {
        let mut st = self.slow.write();
        if !st.bridges.contains_key(bridge) {
            return Err(DataplaneError::NoSuchBridge(bridge.into()));
        }
        if self.dp.megaflow_count() > 0 {
            self.revalidate(&st, true);
        }
        let now = self.slow.now_ms();
        let b = st
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let r = f(&mut b.tables, now);
        self.revalidate(&st, false);
        Ok(r)
    }

    /// Applies the flows `learn` actions queued (upcalls and revalidation), in one batch
    /// under the write lock, then revalidates if a table changed; returns how many rules were
    /// added or changed. Whoever else changes the tables must not run at the same time (the
    /// switch calls this between its own commands, see `xlate::learn`).
    pub fn apply_learned(&self) -> usize {
        let queue = self.slow.learn_queue();
        if queue.is_empty() {
            return 0;
        }
        let mut st = self.slow.write();
        // Counters first (this pass may queue learns of its own: take them in this batch).
        if self.dp.megaflow_count() > 0 {
            self.revalidate(&st, true);
        }
        let batch = queue.take();
        if batch.is_empty() {
            return 0;
        }
        let now = self.slow.now_ms();
        let mut total = crate::xlate::learn::Outcome::default();
        let mut by_bridge: BTreeMap<&str, Vec<&crate::xlate::learn::Learned>> = BTreeMap::new();
        for l in &batch {
            by_bridge.entry(l.bridge.as_str()).or_default().push(l);
        }
        for (bridge, items) in by_bridge {
            let Some(b) = st.bridges.get_mut(bridge) else {
                continue;
            };
            let o = crate::xlate::learn::apply_learned(&mut b.tables, items, now);
            total.installed += o.installed;
            total.refreshed += o.refreshed;
            total.refused += o.refused;
        }
        queue.count(&total);
        if total.installed > 0 {
            self.revalidate(&st, false);
        }
        total.installed
    }

    /// Records port `ofport` of `bridge` as up or down for xlate (fast-failover groups watch
    /// it) and, if that changed anything, revalidates the cached megaflows.
    pub fn set_port_live(&self, bridge: &str, ofport: u32, up: bool) {
        let mut st = self.slow.write();
        let Some(b) = st.bridges.get_mut(bridge) else {
            return;
        };
        if b.ports.is_live(ofport) == up || b.ports.get(ofport).is_none() {
            return;
        }
        b.ports.set_live(ofport, up);
        if self.dp.megaflow_count() > 0 {
            self.revalidate(&st, false);
        }
    }

    /// Runs `f` on a bridge's live tables for reading.
    pub fn read_tables<R>(
        &self,
        bridge: &str,
        f: impl FnOnce(&crate::ofproto::table::FlowTables, &crate::xlate::PortMap) -> R,
    ) -> Result<R, DataplaneError> {
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        Ok(f(&b.tables, &b.ports))
    }

    /// Rules matching `filter` (non-strict), with counters pushed first.
    pub fn dump_flows(
        &self,
        bridge: &str,
        filter: &FlowSpec,
    ) -> Result<Vec<Arc<Rule>>, DataplaneError> {
        self.push_stats();
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        Ok(b.tables.dump(filter))
    }

    /// Runs `f` on a bridge's port map (OpenFlow names for parsing and printing flows).
    pub fn with_port_names<R>(
        &self,
        bridge: &str,
        f: impl FnOnce(&crate::xlate::PortMap) -> R,
    ) -> Result<R, DataplaneError> {
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        Ok(f(&b.ports))
    }

    // ---- diagnosis ----

    /// Traces a packet (ofproto/trace syntax, `in_port` an OpenFlow port of `bridge`) through
    /// the live tables. Without `generate` the trace has no side effects; with it (OVS's
    /// `ofproto/trace -generate`) NORMAL learns the source MAC and `learn` actions queue their
    /// flows for [`Dataplane::apply_learned`], as an upcall's translation would.
    pub fn trace(
        &self,
        bridge: &str,
        packet: &str,
        ct_next: &[String],
        generate: bool,
    ) -> Result<TraceReport, DataplaneError> {
        let states = ct_next
            .iter()
            .map(|s| parse_ct_state(s))
            .collect::<Result<Vec<_>, _>>()?;
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        let mut key = crate::ofctl::parse_packet(packet, &b.ports).map_err(TraceError::Packet)?;
        // The datapath sees datapath port numbers.
        if let Some(p) = b.ports.get(key.in_port)
            && let Some(no) = p.kind.dp()
        {
            key.in_port = no;
        }
        let ctx = st.ctx_for_bridge(b, generate, self.slow.now_ms());
        Ok(trace_packet(&ctx, &key, &states))
    }

    /// Every megaflow, formatted as OVS's dpctl/dump-flows does
    /// (`recirc_id=0,eth,ip,in_port=1,... packets:N, bytes:N, used:Xs, actions:...`).
    pub fn dump_megaflows(&self) -> Vec<(MegaflowDump, String)> {
        let now = self.dp.clock_ms();
        self.dp
            .dump_megaflows()
            .into_iter()
            .map(|m| {
                let used = if m.stats.packets == 0 {
                    "never".to_string()
                } else {
                    format!(
                        "{:.3}s",
                        now.saturating_sub(m.stats.used_ms) as f64 / 1000.0
                    )
                };
                let text = format!(
                    "{}, packets:{}, bytes:{}, used:{}, actions:{}",
                    format_megaflow(&m.key, &m.mask),
                    m.stats.packets,
                    m.stats.bytes,
                    used,
                    fastpath::action::format_actions(&m.actions)
                );
                (m, text)
            })
            .collect()
    }

    /// Deletes every megaflow.
    pub fn flush_megaflows(&self) -> usize {
        let _st = self.slow.write();
        self.dp.flush_megaflows()
    }

    /// Datapath counters.
    pub fn stats(&self) -> DpStats {
        self.dp.stats()
    }

    /// Sends `frame` into bridge `bridge` as if it had been received on OpenFlow port
    /// `in_port` (a port, `LOCAL`, or `CONTROLLER`), applying `actions` (an OpenFlow
    /// packet-out): the actions are translated like a rule's (`resubmit` and output to
    /// `TABLE` run the tables) and executed on the datapath at once.
    pub fn packet_out(
        &self,
        bridge: &str,
        in_port: u32,
        actions: &[crate::ofproto::OfAction],
        frame: &[u8],
    ) -> Result<(), DataplaneError> {
        let now = self.slow.now_ms();
        let (translation, dp_in) = {
            let st = self.slow.read();
            let b = st
                .bridges
                .get(bridge)
                .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.to_owned()))?;
            // A packet from the controller has no datapath input port (OVS's ODPP_NONE).
            let dp_in = b
                .ports
                .get(in_port)
                .and_then(|p| p.kind.dp())
                .unwrap_or(u32::MAX);
            let mut key = fastpath::flow::FlowKey::ZERO;
            key.in_port = dp_in;
            let _ = fastpath::flow::extract::extract(frame, dp_in, &mut key);
            let ctx = st.ctx_for_bridge(b, true, now);
            let t = crate::xlate::translate_actions(&ctx, &key, in_port, actions)?;
            (t, dp_in)
        };
        let mut guard = lock(&self.packet_out);
        let ctx = guard.get_or_insert_with(|| self.dp.new_pmd());
        let mut packet = fastpath::packet::Packet::from_bytes(frame);
        packet.in_port = dp_in;
        let meta = fastpath::action::PacketMeta::new(dp_in);
        self.dp
            .execute_packet(ctx, packet, meta, &translation.actions, self.dp.clock_ms());
        self.dp.transmit(ctx);
        Ok(())
    }

    /// Resumes a paused packet (`NXT_RESUME`): finds the bridge that froze it, runs the
    /// frozen actions on the packet as the controller sent it back, and executes the result
    /// on the datapath at once (OVS's `nxt_resume`).
    pub fn resume(
        &self,
        req: crate::openflow::resume::ResumeRequest,
    ) -> Result<(), DataplaneError> {
        use crate::xlate::pause::bridge_uuid;
        let now = self.slow.now_ms();
        let (translation, dp_in, start) = {
            let st = self.slow.read();
            let b = st
                .bridges
                .iter()
                .find(|(name, _)| bridge_uuid(name) == req.bridge)
                .map(|(_, b)| b)
                .ok_or(DataplaneError::StaleContinuation)?;
            let of_in = req
                .metadata
                .iter()
                .find(|(f, _, _)| *f == fastpath::flow::Field::InPort)
                .map_or(crate::ofproto::ofpp::CONTROLLER, |(_, v, _)| *v as u32);
            // The datapath port the packet came in on: the continuation's, else the
            // OpenFlow input port's (none for a packet from the controller).
            let dp_in = match req.odp_port {
                0 => b
                    .ports
                    .get(of_in)
                    .and_then(|p| p.kind.dp())
                    .unwrap_or(u32::MAX),
                p => p,
            };
            let mut key = fastpath::flow::FlowKey::ZERO;
            key.in_port = dp_in;
            let _ = fastpath::flow::extract::extract(&req.frame, dp_in, &mut key);
            let frame = req.frame.clone();
            let resume = req.into_resume(key, dp_in);
            let start = resume.start_flow();
            let ctx = st.ctx_for_bridge(b, true, now);
            let t = crate::xlate::pause::translate_resume(&ctx, &resume)?;
            tracing::debug!(
                dp_in,
                in_port = start.in_port,
                actions = %fastpath::action::format_actions(&t.actions),
                "resumed"
            );
            (t, dp_in, (start, frame))
        };
        let (flow, frame) = start;
        let mut guard = lock(&self.packet_out);
        let ctx = guard.get_or_insert_with(|| self.dp.new_pmd());
        let mut packet = fastpath::packet::Packet::from_bytes(&frame);
        packet.in_port = dp_in;
        let mut meta = fastpath::action::PacketMeta::new(dp_in);
        meta.ct_state = flow.ct_state;
        meta.ct_zone = flow.ct_zone;
        meta.ct_mark = flow.ct_mark;
        meta.ct_label = flow.ct_label;
        self.dp
            .execute_packet(ctx, packet, meta, &translation.actions, self.dp.clock_ms());
        self.dp.transmit(ctx);
        Ok(())
    }

    /// The state frozen under recirculation id `id` (a paused packet's continuation).
    pub fn frozen(&self, id: u32) -> Option<Arc<crate::xlate::FrozenState>> {
        self.slow.read().recirc.get(id)
    }

    /// The receiving end of the packets `controller` actions send up (once; `None` after).
    pub fn take_punted(&self) -> Option<tokio::sync::mpsc::Receiver<punt::Punted>> {
        lock(&self.punted).take()
    }

    /// The slow path's counters: failed translations per kind, recirculation ids.
    pub fn slow_stats(&self) -> SlowStats {
        SlowStats {
            punt: self.punt.stats(),
            xlate_errors: self.slow.xlate_errors().snapshot(),
            recirc: self.slow.read().recirc.stats(),
            learn: self.slow.learn_queue().stats(),
        }
    }

    /// A bridge's MAC table.
    pub fn fdb(&self, bridge: &str) -> Result<Vec<MacEntry>, DataplaneError> {
        let st = self.slow.read();
        let b = st
            .bridges
            .get(bridge)
            .ok_or_else(|| DataplaneError::NoSuchBridge(bridge.into()))?;
        Ok(b.normal.with_macs(|m| m.entries()))
    }

    /// Runs one maintenance round now (tests; the maintenance thread calls it periodically).
    pub fn maintain(&self, full: bool) {
        maintenance::round(self, full);
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop();
    }
}
