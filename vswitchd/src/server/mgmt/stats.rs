//! Read-only replies — features, port descriptions, flow, aggregate, table and port stats —
//! built from the published [`SwitchView`] and the dataplane's tables and counters.
//!
//! Flow dumps are the one reply that can be large (a million rules is tens of megabytes on
//! the wire), so [`Answer::Flows`] hands the matching rules to the connection, which encodes
//! them [`FLOW_CHUNK`] at a time ([`flow_stats`]) and writes each chunk before encoding the
//! next: a dump holds rule handles, never the whole encoded reply.

use std::sync::Arc;

use ofp::message::{Features, Match as WireMatch};
use ofp::multipart::{Aggregate, Desc, FlowStats, FlowStatsRequest, MpReply, MpRequest};
use ofp::multipart::{PortStats, TableFeatures, TableStats};
use ofp::port::PortDesc;
use ofp::{ErrorCode, Version};

use crate::ofctl::{FlowSpec, FlowSyntax, TABLE_ALL};
use crate::ofproto::{Rule, ofpp};
use crate::openflow::OpenFlowError;
use crate::openflow::convert::match_to_model;
use crate::openflow::to_wire::{actions_to_instructions, match_to_wire};
use crate::switch::SwitchView;

/// Rules encoded per chunk of a flow dump.
pub const FLOW_CHUNK: usize = 512;
/// Tables a bridge has (0..=253), as OVS reports.
pub const N_TABLES: u8 = 254;
/// Rules a table may hold, as reported.
const MAX_ENTRIES: u32 = crate::switch::MAX_RULES_PER_BRIDGE as u32;

/// `OFPC_*` capabilities as OVS reports them: flow, table, port, group (1.1+) and queue
/// stats, and ARP-matching on IP fields (1.0).
fn capabilities(v: Version) -> u32 {
    if v == Version::Of10 { 0xc7 } else { 0x4f }
}
/// OpenFlow 1.0's supported-actions bitmap: output through set_tp_dst (no enqueue).
const OF10_ACTIONS: u32 = 0x7ff;
/// `OFPPS_LINK_DOWN`.
const LINK_DOWN: u32 = 1;
/// `OFPPC_PORT_DOWN`.
const PORT_DOWN: u32 = 1;

/// A multipart answer: a ready body, or rules for the connection to stream.
#[derive(Debug)]
pub enum Answer {
    Body(MpReply),
    Flows { nx: bool, rules: Vec<Arc<Rule>> },
}

fn refused(c: ErrorCode) -> OpenFlowError {
    OpenFlowError::Refused(c)
}

/// The MAC of interface `name` in the daemon's namespace, if it has one.
fn hw_addr(name: &str) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{name}/address")).ok()?;
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    Some(mac)
}

/// A stable locally administered MAC for a port without a device.
fn derived_mac(bridge: &str, port: &str) -> [u8; 6] {
    // FNV-1a over "bridge/port": stable across restarts, unlike a random MAC.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bridge.bytes().chain([b'/']).chain(port.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let b = h.to_be_bytes();
    [0x02 | (b[0] & 0xfc), b[1], b[2], b[3], b[4], b[5]]
}

/// The bridge's datapath id: its local port's MAC in the low 48 bits, as in OVS.
pub fn datapath_id(bridge: &str) -> u64 {
    let mac = hw_addr(bridge).unwrap_or_else(|| derived_mac(bridge, bridge));
    mac.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b))
}

/// Every port of `bridge` (LOCAL included), in port-number order.
pub fn port_descs(view: &SwitchView, bridge: &str) -> Result<Vec<PortDesc>, OpenFlowError> {
    let reports = view
        .dataplane()
        .port_reports(bridge, None)
        .map_err(|_| refused(ErrorCode::BadRequestEperm))?;
    let mut out: Vec<PortDesc> = reports
        .into_iter()
        .map(|r| PortDesc {
            port_no: r.ofport,
            hw_addr: hw_addr(&r.name).unwrap_or_else(|| derived_mac(bridge, &r.name)),
            config: if r.up { 0 } else { PORT_DOWN },
            state: if r.up { 0 } else { LINK_DOWN },
            name: r.name,
            ..PortDesc::default()
        })
        .collect();
    // LOCAL (0xfffffffe) sorts last, as OVS lists it.
    out.sort_by_key(|p| p.port_no);
    Ok(out)
}

/// The features reply (OpenFlow 1.0 lists the ports in it).
pub fn features(view: &SwitchView, bridge: &str, v: Version) -> Result<Features, OpenFlowError> {
    Ok(Features {
        datapath_id: datapath_id(bridge),
        n_buffers: 0,
        n_tables: N_TABLES,
        auxiliary_id: 0,
        capabilities: capabilities(v),
        actions: if v == Version::Of10 { OF10_ACTIONS } else { 0 },
        ports: if v == Version::Of10 {
            port_descs(view, bridge)?
        } else {
            Vec::new()
        },
    })
}

/// A flow-stats request as a dump filter (non-strict, as OpenFlow's flow stats are).
fn filter(req: &FlowStatsRequest) -> Result<FlowSpec, OpenFlowError> {
    let mut spec = FlowSpec::new(FlowSyntax::MatchOnly);
    spec.m = match_to_model(&req.match_)?;
    spec.table = req.table_id;
    spec.cookie = req.cookie;
    spec.cookie_mask = req.cookie_mask;
    spec.out_port = (req.out_port != ofpp::ANY).then_some(req.out_port);
    Ok(spec)
}

fn matching(
    view: &SwitchView,
    bridge: &str,
    req: &FlowStatsRequest,
) -> Result<Vec<Arc<Rule>>, OpenFlowError> {
    if matches!(req.match_, WireMatch::Of10(_)) {
        // OpenFlow 1.0's fixed match cannot carry most of the model's fields; ovs-ofctl
        // switches to NXM (NXST_FLOW) for dumps, and so must other 1.0 clients.
        return Err(refused(ErrorCode::BadRequestMultipart));
    }
    let spec = filter(req)?;
    if spec.table != TABLE_ALL && spec.table >= N_TABLES {
        return Err(refused(ErrorCode::BadRequestTableId));
    }
    view.dataplane()
        .dump_flows(bridge, &spec)
        .map_err(|_| refused(ErrorCode::BadRequestEperm))
}

/// One rule's flow stats in version `v` (`nx`: an `NXST_FLOW` reply, with ages).
pub fn flow_stats(r: &Rule, now_ms: u64, v: Version, nx: bool) -> Result<FlowStats, OpenFlowError> {
    let age = now_ms.saturating_sub(r.created_ms);
    let secs = |ms: u64| u16::try_from(ms / 1000).unwrap_or(u16::MAX);
    let used = r.stats.last_used_ms().max(r.created_ms);
    Ok(FlowStats {
        table_id: r.table,
        duration_sec: (age / 1000) as u32,
        duration_nsec: ((age % 1000) * 1_000_000) as u32,
        priority: r.priority,
        idle_timeout: r.idle_timeout,
        hard_timeout: r.hard_timeout,
        // `NXST_FLOW` and 1.0 flow stats have no flags field.
        flags: if nx || v == Version::Of10 { 0 } else { r.flags },
        importance: 0,
        // OVS adds one so that 0 means "not reported".
        idle_age: if nx || v >= Version::Of15 {
            secs(now_ms.saturating_sub(used)).saturating_add(1)
        } else {
            0
        },
        hard_age: 0,
        cookie: r.cookie,
        packet_count: r.stats.packets(),
        byte_count: r.stats.bytes(),
        match_: WireMatch::Fields(match_to_wire(&r.m)?),
        instructions: actions_to_instructions(&r.actions, if nx { Version::Of10 } else { v })?,
    })
}

/// Port statistics, for one port or (`OFPP_ANY`) all.
fn port_stats(
    view: &SwitchView,
    bridge: &str,
    port_no: u32,
) -> Result<Vec<PortStats>, OpenFlowError> {
    let reports = view
        .dataplane()
        .port_reports(bridge, None)
        .map_err(|_| refused(ErrorCode::BadRequestEperm))?;
    let mut out: Vec<PortStats> = reports
        .into_iter()
        .filter(|r| port_no == ofpp::ANY || r.ofport == port_no)
        .map(|r| {
            let dp_drops: u64 = r.dp.as_ref().map(|d| d.drops.iter().sum()).unwrap_or(0);
            PortStats {
                port_no: r.ofport,
                rx_packets: r.stats.rx_packets,
                tx_packets: r.stats.tx_packets,
                rx_bytes: r.stats.rx_bytes,
                tx_bytes: r.stats.tx_bytes,
                rx_dropped: r.stats.rx_dropped + dp_drops,
                tx_dropped: r.stats.tx_dropped,
                rx_errors: r.stats.rx_errors,
                tx_errors: r.stats.tx_errors,
                ..PortStats::default()
            }
        })
        .collect();
    if out.is_empty() && port_no != ofpp::ANY {
        return Err(refused(ErrorCode::BadRequestPort));
    }
    out.sort_by_key(|p| p.port_no);
    Ok(out)
}

/// Per-table statistics: active rules per table; lookups are not counted per table.
fn table_stats(
    view: &SwitchView,
    bridge: &str,
    v: Version,
) -> Result<Vec<TableStats>, OpenFlowError> {
    let mut active = [0u32; 256];
    view.dataplane()
        .read_tables(bridge, |t, _| {
            for r in t.rules() {
                active[usize::from(r.table)] += 1;
            }
        })
        .map_err(|_| refused(ErrorCode::BadRequestEperm))?;
    Ok((0..N_TABLES)
        .map(|t| TableStats {
            table_id: t,
            name: if v == Version::Of10 {
                if t == 0 {
                    "classifier".into()
                } else {
                    format!("table{t}")
                }
            } else {
                String::new()
            },
            wildcards: if v == Version::Of10 { 0x3f_ffff } else { 0 },
            max_entries: if v == Version::Of10 { MAX_ENTRIES } else { 0 },
            active_count: active[usize::from(t)],
            lookup_count: 0,
            matched_count: 0,
        })
        .collect())
}

/// `OFPTFPT_*` properties a table-features entry must have: instructions, next tables,
/// write and apply actions, match, wildcards, write and apply set-field.
const REQUIRED_PROPS: [u16; 8] = [0, 2, 4, 6, 8, 10, 12, 14];

/// Every table's features: the name OVS gives it (`table0`...) and its capacity, with the
/// required properties present but empty (clients use names and limits; what the pipeline
/// can do is what the flow syntax accepts).
fn table_features() -> Vec<TableFeatures> {
    (0..N_TABLES)
        .map(|t| TableFeatures {
            table_id: t,
            command: 0,
            name: format!("table{t}"),
            metadata_match: u64::MAX,
            metadata_write: u64::MAX,
            capabilities: 0,
            max_entries: MAX_ENTRIES,
            properties: REQUIRED_PROPS
                .iter()
                .flat_map(|t| [0, *t as u8, 0, 4, 0, 0, 0, 0])
                .collect(),
        })
        .collect()
}

/// The meters `id` selects (`OFPM_ALL`: every meter), by ascending id.
fn meters(
    view: &SwitchView,
    bridge: &str,
    id: u32,
) -> Result<Vec<crate::switch::MeterEntry>, OpenFlowError> {
    use crate::ofproto::meter::OFPM_ALL;
    let now = view.now_ms();
    view.dataplane()
        .read_tables(bridge, |t, _| {
            t.meters()
                .iter()
                .filter(|m| id == OFPM_ALL || m.spec.id == id)
                .map(|m| crate::switch::MeterEntry {
                    meter: Arc::clone(m),
                    duration_ms: now.saturating_sub(m.created_ms),
                    flow_count: t.meter_refs(m.spec.id) as u32,
                })
                .collect()
        })
        .map_err(|_| refused(ErrorCode::BadRequestEperm))
}

/// The groups `id` selects (`OFPG_ALL`, or `OFPG_ANY` as OpenFlow 1.3's group-desc request
/// implies: every group), by ascending id.
fn groups(
    view: &SwitchView,
    bridge: &str,
    id: u32,
) -> Result<Vec<(Arc<crate::ofproto::group::Group>, usize)>, OpenFlowError> {
    use crate::ofproto::group::{OFPG_ALL, OFPG_ANY};
    view.dataplane()
        .read_tables(bridge, |t, _| {
            t.groups()
                .iter()
                .filter(|g| id == OFPG_ALL || id == OFPG_ANY || g.spec.id == id)
                .map(|g| (Arc::clone(g), t.group_refs(g.spec.id)))
                .collect()
        })
        .map_err(|_| refused(ErrorCode::BadRequestEperm))
}

fn group_stats(
    view: &SwitchView,
    bridge: &str,
    id: u32,
) -> Result<Vec<ofp::group::GroupStats>, OpenFlowError> {
    view.dataplane().push_stats();
    let now = view.now_ms();
    Ok(groups(view, bridge, id)?
        .into_iter()
        .map(|(g, refs)| {
            let (packets, bytes) = g.stats.total();
            let age = now.saturating_sub(g.created_ms);
            ofp::group::GroupStats {
                group_id: g.spec.id,
                ref_count: refs as u32,
                packet_count: packets,
                byte_count: bytes,
                duration_sec: (age / 1000) as u32,
                duration_nsec: ((age % 1000) * 1_000_000) as u32,
                buckets: g.stats.buckets(),
            }
        })
        .collect())
}

fn group_descs(
    view: &SwitchView,
    bridge: &str,
    id: u32,
    v: Version,
) -> Result<Vec<ofp::group::GroupDesc>, OpenFlowError> {
    groups(view, bridge, id)?
        .iter()
        .map(|(g, _)| crate::openflow::group::group_desc(&g.spec, v))
        .collect()
}

/// OVS's group features: every type, weights, liveness and chaining, `OFPG_MAX` groups of
/// each type, and the OpenFlow 1.1+ actions a bucket may hold (output, push/pop
/// VLAN, group, dec TTL, set-field).
fn group_features() -> ofp::group::GroupFeatures {
    const ACTIONS: u32 = 1 | (1 << 17) | (1 << 18) | (1 << 22) | (1 << 24) | (1 << 25);
    ofp::group::GroupFeatures {
        types: 0xf,
        capabilities: 0x7,
        max_groups: [crate::ofproto::group::OFPG_MAX; 4],
        actions: [ACTIONS; 4],
    }
}

/// Answers a multipart request (blocking briefly on the dataplane's read locks).
pub fn multipart(
    view: &SwitchView,
    bridge: &str,
    v: Version,
    req: &MpRequest,
) -> Result<Answer, OpenFlowError> {
    let body = |b| Ok(Answer::Body(b));
    match req {
        MpRequest::Desc => body(MpReply::Desc(Desc {
            mfr: "vswitch".into(),
            hw: "vswitch userspace datapath".into(),
            sw: env!("CARGO_PKG_VERSION").into(),
            serial: "None".into(),
            dp: "None".into(),
        })),
        MpRequest::Flow(r) => Ok(Answer::Flows {
            nx: false,
            rules: matching(view, bridge, r)?,
        }),
        MpRequest::NxFlow(r) => Ok(Answer::Flows {
            nx: true,
            rules: matching(view, bridge, r)?,
        }),
        MpRequest::Aggregate(r) | MpRequest::NxAggregate(r) => {
            let rules = matching(view, bridge, r)?;
            let a = Aggregate {
                packet_count: rules.iter().map(|r| r.stats.packets()).sum(),
                byte_count: rules.iter().map(|r| r.stats.bytes()).sum(),
                flow_count: rules.len() as u32,
            };
            body(if matches!(req, MpRequest::Aggregate(_)) {
                MpReply::Aggregate(a)
            } else {
                MpReply::NxAggregate(a)
            })
        }
        MpRequest::Table => body(MpReply::Table(table_stats(view, bridge, v)?)),
        MpRequest::PortStats { port_no } => {
            body(MpReply::PortStats(port_stats(view, bridge, *port_no)?))
        }
        MpRequest::PortDesc { port_no } => {
            let mut ports = port_descs(view, bridge)?;
            if *port_no != ofpp::ANY {
                ports.retain(|p| p.port_no == *port_no);
            }
            body(MpReply::PortDesc(ports))
        }
        // No queues, groups or meters yet: empty lists, as a switch without any answers.
        MpRequest::Queue { .. } => body(MpReply::Queue(Vec::new())),
        MpRequest::Group { group_id } => {
            body(MpReply::GroupStats(group_stats(view, bridge, *group_id)?))
        }
        MpRequest::GroupDesc { group_id } => {
            body(MpReply::GroupDesc(group_descs(view, bridge, *group_id, v)?))
        }
        MpRequest::GroupFeatures => body(MpReply::GroupFeatures(group_features())),
        MpRequest::Meter { meter_id } => body(MpReply::MeterStats(
            meters(view, bridge, *meter_id)?
                .iter()
                .map(|m| crate::openflow::meter::meter_stats(m, m.flow_count))
                .collect(),
        )),
        MpRequest::MeterConfig { meter_id } => body(MpReply::MeterConfig(
            meters(view, bridge, *meter_id)?
                .iter()
                .map(crate::openflow::meter::meter_config)
                .collect(),
        )),
        // A request with a body would change the tables' features, which are fixed.
        MpRequest::TableFeatures(b) if !b.is_empty() => Err(refused(ErrorCode::BadRequestEperm)),
        MpRequest::TableFeatures(_) => body(MpReply::TableFeatures(table_features())),
        MpRequest::MeterFeatures => body(MpReply::MeterFeatures(
            crate::openflow::meter::meter_features(),
        )),
    }
}
