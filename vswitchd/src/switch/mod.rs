//! The in-daemon model the RPCs act on: bridges, their ports, conntrack limits, settings.
//!
//! A [`Switch`] owns the [`Store`] and the [`Bridge`]s. Every mutation follows one pattern:
//! validate and plan (nothing changes), commit the plan to the store as one durable
//! transaction, then apply it in memory. If validation or the commit fails, the switch is
//! exactly as before, so "a bad request changes nothing" and "acknowledged means durable"
//! both hold by construction.
//!
//! Names: bridges and ports share one namespace (a bridge has a host-side local port of the
//! same name, as in OVS) and follow Linux interface-name rules, since ports are interfaces:
//! 1 to 15 bytes (IFNAMSIZ - 1), printable ASCII, no '/', ':' or whitespace, not `.`/`..`.
//!
//! The live state is the [`Dataplane`]'s: every change is committed to the store first, then
//! applied to the dataplane (bridges, ports, OpenFlow tables, which the dataplane revalidates
//! its caches against before the call returns). Flow changes are parsed and planned outside
//! the slow path's write lock, committed with no lock held, and executed inside
//! [`Dataplane::modify_tables`] (see `flows`). At start-up the stored
//! bridges, ports and ovs-ofctl lines are replayed into the dataplane. Rule times
//! (`created_ms`, timeouts) count from the dataplane's start: after a restart, rules' durations
//! and timeouts start over, as their counters do.

mod bridge;
mod bridge_row;
mod bundle;
mod controllers;
mod fail_mode;
mod flows;
mod groups;
mod meters;
mod mirrors;
mod settings;
pub mod tlv;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::dataplane::{Dataplane, DataplaneError, PortConfig, PortType};
use crate::ofproto::{Rule, ofpp};
use crate::store::{BridgeRecord, Change, FailMode, PortKind, PortRecord, Store, StoreError};
use crate::trace::TraceReport;

pub use bridge::{Bridge, MAX_OFPORT, MAX_OPTIONS, PortSpec};
pub use bundle::{BundleError, BundleOp};
pub use flows::{FlowCommand, FlowCounts, MAX_RULES_PER_BRIDGE};
pub use groups::{GroupCommand, GroupCounts, GroupEntry};
pub use meters::{MeterEntry, MeterModError};
pub use mirrors::{MAX_MIRROR_NAME, MirrorSpec};
pub use settings::{DEFAULT_FLOW_LIMIT, KEYS as SETTING_KEYS, MAX_FLOW_LIMIT, Settings};
pub use tlv::TlvCommand;
pub use view::SwitchView;

/// Most bridges one switch may have.
pub const MAX_BRIDGES: usize = 1024;
/// Flow changes with at least this many classifier steps are executed on a copy of the
/// tables that is swapped in, rather than in place under the slow path's write lock.
pub const COPY_ABOVE_STEPS: usize = 4096;
/// Longest interface name (IFNAMSIZ without the NUL).
pub const MAX_NAME_LEN: usize = 15;

/// Errors of switch operations; each maps to one gRPC status code.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// A bridge or port name breaks the naming rules.
    #[error("invalid {what} name '{}': {reason}", crate::quote::Quoted(.name))]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    /// Some other argument is malformed; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// No bridge of that name.
    #[error("no bridge named {}", crate::quote::Quoted(.0))]
    BridgeNotFound(String),
    /// No port of that name on the bridge.
    #[error("bridge {} has no port named {}", crate::quote::Quoted(.bridge), crate::quote::Quoted(.port))]
    PortNotFound { bridge: String, port: String },
    /// The bridge name is taken.
    #[error("bridge {0} already exists")]
    BridgeExists(String),
    /// No mirror of that name on the bridge.
    #[error("bridge {} has no mirror named {}", crate::quote::Quoted(.bridge), crate::quote::Quoted(.name))]
    MirrorNotFound { bridge: String, name: String },
    /// The port name is taken (switch-wide).
    #[error("{0} already exists")]
    NameInUse(String),
    /// The OpenFlow port number is taken on this bridge.
    #[error("OpenFlow port {ofport} is already used by port {port} on bridge {bridge}")]
    OfportInUse {
        bridge: String,
        ofport: u32,
        port: String,
    },
    /// A configured limit would be exceeded.
    #[error("{0}")]
    Limit(String),
    /// The database failed; nothing was changed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The dataplane refused a change the store accepted (e.g. an unknown bridge there).
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
    /// A flow uses a `tun_metadataN` the bridge's TLV map does not map.
    #[error("tun_metadata{0} is not mapped (add-tlv-map first)")]
    UnmappedTlv(u8),
    /// The TLV map refused a change; nothing changed.
    #[error(transparent)]
    Tlv(fastpath::flow::tlv::TlvError),
    /// The tables refused flow-mods given in the rule model (OpenFlow); nothing changed.
    #[error(transparent)]
    Table(crate::ofproto::FlowModError),
}

use fastpath::port::tunnel::{TunnelConfig, TunnelKind};

/// The dataplane's view of a stored port.
pub fn port_config(p: &PortRecord) -> PortConfig {
    let kind = match p.kind {
        PortKind::Tap => PortType::Tap,
        PortKind::System => PortType::System,
        PortKind::Internal => PortType::Internal,
        PortKind::Dummy => PortType::Dummy,
        PortKind::Patch => PortType::Patch {
            peer: p.options.get("peer").cloned().unwrap_or_default(),
        },
        PortKind::Vxlan | PortKind::Geneve | PortKind::Gre => {
            let kind = p.kind.tunnel().unwrap_or(TunnelKind::Vxlan);
            // Stored ports were validated (check_options); a record that somehow fails is a
            // flow-based tunnel that claims nothing it was not asked for.
            PortType::Tunnel(
                TunnelConfig::from_options(kind, &p.options).unwrap_or(TunnelConfig {
                    kind,
                    remote: None,
                    local: None,
                    key: Some(0),
                    dst_port: kind.default_port(),
                    csum: false,
                    tos: Some(0),
                    ttl: Some(fastpath::port::tunnel::DEFAULT_TTL),
                    df: true,
                }),
            )
        }
    };
    PortConfig {
        name: p.name.clone(),
        kind,
        ofport: p.ofport,
        tag: p.tag,
        trunks: p.trunks.clone(),
        mtu: p.options.get("mtu").and_then(|m| m.parse().ok()),
    }
}

/// The bridge's own host-stack port (`internal`, named after the bridge, OpenFlow `LOCAL`),
/// which OVS creates with every bridge. Not stored: it comes and goes with the bridge.
fn local_port(bridge: &str) -> PortConfig {
    PortConfig {
        name: bridge.to_owned(),
        kind: PortType::Internal,
        ofport: ofpp::LOCAL,
        tag: None,
        trunks: Vec::new(),
        mtu: None,
    }
}

/// Checks `name` against the interface-name rules (see the module docs).
pub fn validate_name(what: &'static str, name: &str) -> Result<(), SwitchError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than 15 bytes (IFNAMSIZ)")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are reserved")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':')
    {
        Some("only printable ASCII without '/', ':' or whitespace is allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SwitchError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Conntrack limits as configured (the conntrack engine enforces them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtLimits {
    /// Limit of zones without their own; 0 = unlimited.
    pub default_limit: u64,
    /// Per-zone limits; 0 = unlimited.
    pub zones: BTreeMap<u16, u64>,
}

/// The switch: every bridge, backed by the store.
#[derive(Debug)]
pub struct Switch {
    store: Store,
    bridges: BTreeMap<String, Bridge>,
    /// The store rows behind each bridge's tables.
    rows: BTreeMap<String, flows::FlowRows>,
    ct_limits: CtLimits,
    settings: Settings,
    dp: Arc<Dataplane>,
    /// Where removed `send_flow_rem` rules are reported (the OpenFlow connections).
    flow_removed: Option<FlowRemovedSink>,
}

/// Receives the `send_flow_rem` rules a change removed, per bridge, once the change is
/// durable and in the tables ([`crate::openflow::flow_removed`]).
#[derive(Clone)]
pub struct FlowRemovedSink(pub Arc<FlowRemovedFn>);

/// The function behind a [`FlowRemovedSink`]: bridge name, the rules that went.
pub type FlowRemovedFn =
    dyn Fn(&str, Vec<crate::openflow::flow_removed::RemovedFlow>) + Send + Sync;

impl std::fmt::Debug for FlowRemovedSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlowRemovedSink")
    }
}

/// Reports the rules of `gone` that asked for it to `sink`.
fn report_removed(
    sink: &Option<FlowRemovedSink>,
    bridge: &str,
    gone: Vec<(Arc<crate::ofproto::rule::Rule>, u8)>,
    now_ms: u64,
) {
    let Some(sink) = sink else {
        return;
    };
    let flows: Vec<_> = gone
        .into_iter()
        .filter(|(r, _)| r.flags & crate::ofproto::spec::ff::SEND_FLOW_REM != 0)
        .map(
            |(rule, reason)| crate::openflow::flow_removed::RemovedFlow {
                duration_ms: now_ms.saturating_sub(rule.created_ms),
                rule,
                reason,
            },
        )
        .collect();
    if !flows.is_empty() {
        (sink.0)(bridge, flows);
    }
}

impl Switch {
    /// Loads the configuration from `store` and replays it into `dp`: bridges (each with
    /// its local port), ports (a device that cannot be opened now leaves its port down, to be
    /// attached when it appears) and OpenFlow tables.
    pub fn load(store: Store, dp: Arc<Dataplane>) -> Result<Switch, SwitchError> {
        let snap = store.load()?;
        let now = dp.slow_path().now_ms();
        let mut bridges = BTreeMap::new();
        let mut flow_rows = BTreeMap::new();
        let mut tables = Vec::new();
        let mut tlv_maps = BTreeMap::new();
        for b in snap.bridges {
            let mut bridge = Bridge::new(b.bridge.name.clone());
            bridge.fail_mode = b.bridge.fail_mode;
            bridge.controllers = b.bridge.controllers.clone();
            tlv_maps.insert(b.bridge.name.clone(), tlv::restore(&b.bridge)?);
            for port in b.ports {
                bridge.apply_put_port(port);
            }
            let (mut t, rows) = flows::FlowRows::load(&b.bridge.name, &b.groups, &b.flows, now)?;
            meters::load(&b.bridge.name, &mut t, &b.meters, now)?;
            bridge.mirrors = b.mirrors;
            bridge.flows = rows.len();
            flow_rows.insert(b.bridge.name.clone(), rows);
            tables.push((b.bridge.name.clone(), t));
            bridges.insert(b.bridge.name, bridge);
        }
        let mut sw = Switch {
            store,
            bridges,
            rows: flow_rows,
            ct_limits: CtLimits {
                default_limit: snap.ct_default_limit.unwrap_or(0),
                zones: snap.ct_limits,
            },
            settings: Settings::from_stored(&snap.settings)?,
            dp,
            flow_removed: None,
        };
        for (name, t) in tables {
            sw.dp.add_bridge(&name)?;
            sw.dp.add_port(&name, local_port(&name))?;
            sw.dp
                .bridge_tlv(&name)
                .store(tlv_maps.remove(&name).unwrap_or_default());
            let ports: Vec<PortConfig> = sw.bridges[&name].ports().map(port_config).collect();
            for p in ports {
                sw.dp.add_port(&name, p)?;
            }
            sw.dp.modify_tables(&name, |live, _| *live = t)?;
            sw.push_mirrors(&name)?;
        }
        sw.rebuild_views();
        sw.apply_ct_limits();
        sw.apply_settings();
        Ok(sw)
    }

    /// The dataplane.
    pub fn dataplane(&self) -> &Arc<Dataplane> {
        &self.dp
    }

    /// Milliseconds since the dataplane started: the clock of rule times and timeouts.
    pub fn now_ms(&self) -> u64 {
        self.dp.slow_path().now_ms()
    }

    /// Rebuilds every bridge's xlate view (after any port or bridge change).
    fn rebuild_views(&mut self) {
        // patch peer name → (its bridge, its OpenFlow number), for patch ports only.
        let peers: BTreeMap<String, (String, u32)> = self
            .bridges
            .values()
            .flat_map(|b| {
                b.ports()
                    .filter(|p| p.kind == PortKind::Patch)
                    .map(|p| (p.name.clone(), (b.name().to_owned(), p.ofport)))
            })
            .collect();
        let peer_of = |name: &str| peers.get(name).cloned();
        for b in self.bridges.values_mut() {
            b.rebuild_view(&peer_of);
        }
    }

    /// Runs a flow command on `bridge`: parsed with the bridge's port names, planned against
    /// the live tables, committed durably, then applied atomically to the tables and the
    /// datapath's caches revalidated, before this returns. Only the last step holds the slow
    /// path's write lock, so upcalls keep being translated (against the old rules) while a
    /// large change is parsed and written to disk.
    pub fn flow_command(
        &mut self,
        bridge: &str,
        cmd: FlowCommand<'_>,
    ) -> Result<FlowCounts, SwitchError> {
        let br = self
            .bridges
            .get(bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.to_owned()))?;
        let parsed = flows::parse(cmd, &br.xports)?;
        self.run_parsed(bridge, parsed)
    }

    /// Runs flow-mods already in the rule model (from the OpenFlow channel) on `bridge`, as
    /// one atomic, durable bundle, exactly as [`Switch::flow_command`] runs parsed text. A
    /// refusal by the tables is [`SwitchError::Table`], whose bundle index names the flow-mod.
    pub fn flow_mods(
        &mut self,
        bridge: &str,
        mods: Vec<crate::ofproto::FlowMod>,
    ) -> Result<FlowCounts, SwitchError> {
        self.bridge(bridge)?;
        let adds = mods
            .iter()
            .filter(|m| m.command == crate::ofproto::FlowModCommand::Add)
            .count();
        let parsed = flows::Parsed::Mods {
            mods,
            line_nos: Vec::new(),
            adds,
            raw_errors: true,
        };
        self.run_parsed(bridge, parsed)
    }

    fn run_parsed(
        &mut self,
        bridge: &str,
        parsed: flows::Parsed,
    ) -> Result<FlowCounts, SwitchError> {
        let br = self
            .bridges
            .get_mut(bridge)
            .ok_or_else(|| SwitchError::BridgeNotFound(bridge.to_owned()))?;
        let tlv = self.dp.bridge_tlv(bridge).load();
        let specs: Box<dyn Iterator<Item = &crate::ofctl::FlowSpec>> = match &parsed {
            flows::Parsed::Mods { mods, .. } => Box::new(mods.iter().map(|m| &m.spec)),
            flows::Parsed::Replace { specs, .. } => Box::new(specs.iter()),
        };
        for s in specs {
            tlv::check_mapped(&tlv, tlv::fields_used(&s.m, &s.actions))?;
        }
        let now = self.dp.slow_path().now_ms();
        let planned = self
            .dp
            .read_tables(bridge, |t, _| flows::plan(t, &parsed, now))??;
        drop(parsed);
        let rows = self.rows.entry(bridge.to_owned()).or_default();
        let gone = planned.applied().gone.clone();
        let r = Self::commit_and_apply(&self.dp, &mut self.store, rows, bridge, planned);
        br.flows = rows.len();
        if r.is_ok() {
            report_removed(&self.flow_removed, bridge, gone, now);
        }
        r
    }

    /// Sets where removed `send_flow_rem` rules are reported.
    pub fn set_flow_removed_sink(&mut self, sink: FlowRemovedSink) {
        self.flow_removed = Some(sink);
    }

    /// Commits a plan's rows, then executes it under the write lock (see `flows`).
    fn commit_and_apply(
        dp: &Dataplane,
        store: &mut Store,
        rows: &mut flows::FlowRows,
        bridge: &str,
        planned: crate::ofproto::Planned,
    ) -> Result<FlowCounts, SwitchError> {
        if planned.applied().is_empty() {
            return Ok(FlowCounts::default());
        }
        let counts = rows.commit(bridge, &planned, store)?;
        let store = &*store;
        // A large plan runs on a copy of the tables (under the read lock, so upcalls go on),
        // and the write lock is held only to swap the copy in; a small one runs in place.
        let copy = if planned.steps() >= COPY_ABOVE_STEPS {
            dp.read_tables(bridge, |t, _| t.clone()).ok()
        } else {
            None
        };
        let (planned, copy) = match copy {
            Some(mut copy) => {
                let base = copy.generation();
                match copy.execute_planned(planned) {
                    Ok(_) => (None, Some((base, copy))),
                    // Cannot happen (planned against the same tables): reload below.
                    Err(_) => (None, None),
                }
            }
            None => (Some(planned), None),
        };
        let old = dp.modify_tables(bridge, |tables, now| {
            let done = match (planned, copy) {
                (Some(planned), _) => tables.execute_planned(planned).map(|_| None),
                (None, Some((base, copy))) if tables.generation() == base => {
                    Ok(Some(std::mem::replace(tables, copy)))
                }
                _ => Err(crate::ofproto::StalePlan),
            };
            done.unwrap_or_else(|e| {
                // Durable already: make memory what the store (and a restart) says.
                tracing::error!(bridge, error = %e, "reloading the tables from the store");
                rows.restore(tables, bridge, store, now);
                None
            })
        })?;
        // The replaced tables are freed here, after the write lock is released.
        drop(old);
        Ok(counts)
    }

    /// Installs the flows `learn` actions queued (not stored: learned flows are rebuilt by
    /// traffic, as in OVS); returns how many rules were added or changed. Calling it through
    /// the switch keeps it apart from flow commands, which plan and execute in two steps.
    pub fn apply_learned(&mut self) -> usize {
        self.dp.apply_learned()
    }

    /// Removes rules whose timeouts passed, on every bridge, from the tables and the store;
    /// returns how many.
    pub fn expire_flows(&mut self) -> usize {
        let now = self.now_ms();
        let mut total = 0;
        let names: Vec<String> = self.bridges.keys().cloned().collect();
        for name in names {
            let due = self
                .dp
                .read_tables(&name, |t, _| t.next_deadline_ms().is_some_and(|d| d <= now))
                .unwrap_or(false);
            if !due {
                continue;
            }
            let Some(br) = self.bridges.get_mut(&name) else {
                continue;
            };
            let Ok(planned) = self.dp.read_tables(&name, |t, _| t.plan_expiry(now)) else {
                continue;
            };
            let rows = self.rows.entry(name.clone()).or_default();
            let gone = planned.applied().gone.clone();
            match Self::commit_and_apply(&self.dp, &mut self.store, rows, &name, planned) {
                Ok(c) => {
                    total += c.removed as usize;
                    report_removed(&self.flow_removed, &name, gone, now);
                }
                Err(e) => tracing::error!(bridge = %name, error = %e, "cannot expire flows"),
            }
            br.flows = rows.len();
        }
        total
    }

    /// dump-flows: matching rules in dump order, with counters pushed from the datapath first.
    pub fn dump_flows(
        &self,
        bridge: &str,
        filter: &str,
        table: Option<u8>,
    ) -> Result<Vec<Arc<Rule>>, SwitchError> {
        dump_rules(&self.dp, self.bridge(bridge)?, filter, table)
    }

    /// Traces `packet` (ofproto/trace syntax) through `bridge`, as an upcall would translate
    /// it now; `ct_next` are the conntrack states after each recirculation. Without
    /// `generate` the trace has no side effects; with it, NORMAL learns and `learn` actions
    /// queue their flows (see [`crate::dataplane::Dataplane::trace`]).
    pub fn trace(
        &self,
        bridge: &str,
        packet: &str,
        ct_next: &[String],
        generate: bool,
    ) -> Result<TraceReport, SwitchError> {
        self.bridge(bridge)?;
        trace_on(&self.dp, bridge, packet, ct_next, generate)
    }

    /// Bridges sorted by name.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// The bridge called `name`.
    pub fn bridge(&self, name: &str) -> Result<&Bridge, SwitchError> {
        self.bridges
            .get(name)
            .ok_or_else(|| SwitchError::BridgeNotFound(name.to_owned()))
    }

    /// Conntrack limits.
    pub fn ct_limits(&self) -> &CtLimits {
        &self.ct_limits
    }

    /// Whether `name` is used by a bridge or by any port.
    fn name_in_use(&self, name: &str) -> Option<String> {
        if self.bridges.contains_key(name) {
            return Some(format!("bridge {name}"));
        }
        self.bridges
            .values()
            .find(|b| b.port(name).is_some())
            .map(|b| format!("port {name} (on bridge {})", b.name()))
    }

    /// Creates a bridge in the default fail mode (standalone: one NORMAL rule).
    pub fn add_bridge(&mut self, name: &str) -> Result<(), SwitchError> {
        self.add_bridge_with(name, None)
    }

    /// Creates a bridge with `fail_mode` set (`None`: not set, acting as standalone). A
    /// standalone bridge starts with [`flows::DEFAULT_FLOW`], a secure one with no rules.
    pub fn add_bridge_with(
        &mut self,
        name: &str,
        fail_mode: Option<FailMode>,
    ) -> Result<(), SwitchError> {
        validate_name("bridge", name)?;
        if self.bridges.contains_key(name) {
            return Err(SwitchError::BridgeExists(name.to_owned()));
        }
        if let Some(user) = self.name_in_use(name) {
            return Err(SwitchError::NameInUse(user));
        }
        if self.bridges.len() >= MAX_BRIDGES {
            return Err(SwitchError::Limit(format!(
                "the switch already has {MAX_BRIDGES} bridges"
            )));
        }
        let now = self.now_ms();
        let mode = fail_mode.unwrap_or(FailMode::Standalone);
        let (tables, rows, flow_rows) = flows::initial(name, mode, &mut self.store, now)?;
        let mut changes = vec![Change::PutBridge(BridgeRecord {
            name: name.to_owned(),
            fail_mode,
            ..BridgeRecord::default()
        })];
        changes.extend(flow_rows);
        self.store.commit(&changes)?;
        let mut bridge = Bridge::new(name.to_owned());
        bridge.fail_mode = fail_mode;
        bridge.flows = rows.len();
        self.rows.insert(name.to_owned(), rows);
        self.bridges.insert(name.to_owned(), bridge);
        self.rebuild_views();
        self.dp.add_bridge(name)?;
        self.dp.add_port(name, local_port(name))?;
        self.dp.modify_tables(name, |live, _| *live = tables)?;
        tracing::info!(bridge = name, fail_mode = %mode, "bridge added");
        Ok(())
    }

    /// Deletes a bridge with its ports and flows; returns how many ports went with it.
    pub fn del_bridge(&mut self, name: &str) -> Result<usize, SwitchError> {
        let ports = self.bridge(name)?.port_count();
        self.store
            .commit(&[Change::DeleteBridge(name.to_owned())])?;
        self.bridges.remove(name);
        self.rows.remove(name);
        self.rebuild_views();
        self.dp.del_bridge(name)?;
        tracing::info!(bridge = name, ports, "bridge deleted");
        Ok(ports)
    }

    /// Adds a port; returns it as stored (with its OpenFlow number).
    pub fn add_port(&mut self, bridge: &str, spec: PortSpec) -> Result<PortRecord, SwitchError> {
        let br = self.bridge(bridge)?;
        validate_name("port", &spec.name)?;
        if let Some(user) = self.name_in_use(&spec.name) {
            return Err(SwitchError::NameInUse(user));
        }
        let record = br.plan_add_port(spec)?;
        self.commit_port(bridge, record)
    }

    /// Removes a port.
    pub fn del_port(&mut self, bridge: &str, port: &str) -> Result<PortRecord, SwitchError> {
        let br = self.bridge(bridge)?;
        if br.port(port).is_none() {
            return Err(SwitchError::PortNotFound {
                bridge: bridge.to_owned(),
                port: port.to_owned(),
            });
        }
        self.store.commit(&[Change::DeletePort {
            bridge: bridge.to_owned(),
            port: port.to_owned(),
        }])?;
        let removed = self.bridge_mut(bridge).apply_delete_port(port);
        self.rebuild_views();
        self.dp.del_port(bridge, port)?;
        tracing::info!(bridge, port, "port deleted");
        Ok(removed.expect("port existed before the commit"))
    }

    /// Applies `KEY=VALUE` settings to a port, all or none; returns the new record.
    pub fn set_port(
        &mut self,
        bridge: &str,
        port: &str,
        settings: &[(String, String)],
    ) -> Result<PortRecord, SwitchError> {
        let record = self.bridge(bridge)?.plan_set_port(port, settings)?;
        self.commit_port(bridge, record)
    }

    fn commit_port(&mut self, bridge: &str, record: PortRecord) -> Result<PortRecord, SwitchError> {
        self.store.commit(&[Change::PutPort {
            bridge: bridge.to_owned(),
            port: record.clone(),
        }])?;
        let old = self.bridge_mut(bridge).port(&record.name).cloned();
        self.bridge_mut(bridge).apply_put_port(record.clone());
        self.rebuild_views();
        let cfg = port_config(&record);
        match old.map(|o| port_config(&o)) {
            // Only VLAN settings changed: no need to reopen the device.
            Some(o) if o.kind == cfg.kind && o.ofport == cfg.ofport && o.mtu == cfg.mtu => {
                self.dp
                    .set_port_vlan(bridge, &cfg.name, cfg.tag, cfg.trunks)?;
            }
            Some(_) => {
                self.dp.del_port(bridge, &cfg.name)?;
                self.dp.add_port(bridge, cfg)?;
            }
            None => {
                self.dp.add_port(bridge, cfg)?;
                tracing::info!(
                    bridge,
                    port = %record.name,
                    ofport = record.ofport,
                    r#type = %record.kind,
                    "port added"
                );
            }
        }
        Ok(record)
    }

    fn bridge_mut(&mut self, name: &str) -> &mut Bridge {
        self.bridges
            .get_mut(name)
            .expect("bridge checked before the commit")
    }

    /// Sets the conntrack limit of `zone` (or the default limit); 0 = unlimited.
    pub fn set_ct_limit(&mut self, zone: Option<u16>, limit: u64) -> Result<(), SwitchError> {
        self.store.commit(&[Change::SetCtLimit { zone, limit }])?;
        match zone {
            Some(z) => {
                self.ct_limits.zones.insert(z, limit);
            }
            None => self.ct_limits.default_limit = limit,
        }
        self.apply_ct_limits();
        Ok(())
    }

    /// Pushes the stored conntrack limits into conntrack (0 = unlimited).
    fn apply_ct_limits(&self) {
        let Some(ct) = self.dp.conntrack() else {
            return;
        };
        ct.set_default_zone_limit(ct_limit(self.ct_limits.default_limit));
        for (z, l) in &self.ct_limits.zones {
            // A zone's own limit overrides the default, "unlimited" included.
            ct.set_zone_limit(*z, Some(ct_limit(*l).unwrap_or(u32::MAX)));
        }
    }
}

/// A configured conntrack limit as conntrack takes it: 0 is unlimited (`None`); a limit past
/// `u32::MAX` cannot bind (counts are `u32`) and is the largest one.
fn ct_limit(configured: u64) -> Option<u32> {
    (configured > 0).then(|| u32::try_from(configured).unwrap_or(u32::MAX))
}

/// dump-flows on `br`'s live tables, counters pushed first.
fn dump_rules(
    dp: &Dataplane,
    br: &Bridge,
    filter: &str,
    table: Option<u8>,
) -> Result<Vec<Arc<Rule>>, SwitchError> {
    dp.push_stats();
    dp.read_tables(br.name(), |t, _| flows::dump(t, filter, table, br.names()))?
}

/// trace on `bridge`'s live tables.
fn trace_on(
    dp: &Dataplane,
    bridge: &str,
    packet: &str,
    ct_next: &[String],
    generate: bool,
) -> Result<TraceReport, SwitchError> {
    dp.trace(bridge, packet, ct_next, generate)
        .map_err(|e| match e {
            DataplaneError::Trace(t) => SwitchError::Invalid(crate::report::chain(&t)),
            other => SwitchError::Dataplane(other),
        })
}

#[cfg(test)]
mod tests;
