//! Trace: the user's window into the pipeline (DESIGN §6).
//!
//! A trace runs one packet through a bridge's tables exactly as an upcall would — same
//! [`xlate::translate`](crate::xlate::translate), same megaflow mask — while recording each
//! table visited, the rule that matched, and anything xlate skipped or refused. When the actions
//! recirculate (`ct(table=N)`), the trace follows the packet into the next datapath pass with
//! the conntrack state the user chose (`--ct-next`, default `trk,new` as in OVS's
//! ofproto/trace), so one report shows every pass.
//!
//! The text and JSON forms are a fixed interface (scripts parse them): text lines use
//! U+2500 `─` between a rule and its actions, and JSON keys come in the documented order.
//! Fields beyond the documented ones appear only when they carry something (a `notes` list,
//! an `error`, the `resume` point of a recirculated pass).

use crate::mac_learning::MacTable;
use crate::normal::{NormalPort, VlanMode};
use crate::ofctl::{
    FlowSyntax, NoNames, OfctlError, format_megaflow, format_packet, parse_flow, parse_packet,
};
use crate::ofproto::{FlowMod, FlowModError, FlowTables};
pub use crate::xlate::record::{Step, Trace};
use crate::xlate::{
    LearningSwitch, PortKind, PortMap, RecircPoint, RecircTable, XBridge, XPort, XlateCtx,
    XlateError, translate,
};
use fastpath::action::format_actions;
use fastpath::flow::FlowKey;
use fastpath::flow::key::ct_state;
use fastpath::upcall::Translation;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Recirculations a trace follows in a row before giving up (a `ct(table=N)` that always
/// recirculates again would otherwise never end; the datapath bounds it the same way).
pub const MAX_RECIRC_DEPTH: usize = 6;
/// Passes a trace reports at most (forks multiply them).
pub const MAX_PASSES: usize = 64;
/// Ports an offline trace bridge may have.
pub const MAX_OFFLINE_PORTS: u32 = 4096;
/// OVS's ofproto/trace default state after a ct recirculation.
pub const DEFAULT_CT_NEXT: u8 = ct_state::TRK | ct_state::NEW;

/// Why an offline trace could not run.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A flow line did not parse.
    #[error("flows line {line}")]
    Flow { line: usize, source: OfctlError },
    /// The flows parsed but the table refused them.
    #[error("flows")]
    Table(#[from] FlowModError),
    /// The packet did not parse.
    #[error("packet: {0}")]
    Packet(OfctlError),
    /// A `--ct-next` state did not parse.
    #[error("bad --ct-next state '{0}': expected flags like 'trk,est' or '+trk+est' ({1})")]
    CtState(String, &'static str),
    /// A group line did not parse.
    #[error("groups line {line}")]
    GroupLine { line: usize, source: OfctlError },
    /// The groups parsed but the group table refused one.
    #[error("groups line {line}")]
    Group {
        line: usize,
        source: crate::ofproto::group::GroupError,
    },
    /// A meter line did not parse, or the meter table refused it.
    #[error("meters line {line}")]
    Meter {
        line: usize,
        source: crate::ofproto::meter::MeterError,
    },
    /// `--ports` out of range.
    #[error("--ports must be between 0 and {MAX_OFFLINE_PORTS}, not {0}")]
    Ports(u32),
}

/// Parses a `--ct-next` state: flag names (`new est rel rpl inv trk snat dnat`) separated by
/// `,`, `|` or given as `+flag`, or a number (`0x22`).
pub fn parse_ct_state(s: &str) -> Result<u8, TraceError> {
    let bad = |why| TraceError::CtState(s.to_string(), why);
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x") {
        return u8::from_str_radix(hex, 16).map_err(|_| bad("not an 8-bit hex number"));
    }
    if let Ok(n) = t.parse::<u8>() {
        return Ok(n);
    }
    let mut bits = 0;
    for name in t.split([',', '|', '+']).filter(|n| !n.is_empty()) {
        let (_, bit) = ct_state::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| bad("unknown flag"))?;
        bits |= bit;
    }
    if bits == 0 && !t.is_empty() {
        return Err(bad("no flags"));
    }
    Ok(bits)
}

/// `ct_state` bits as `flag,flag` in OVS's flag order.
pub fn format_ct_state(bits: u8) -> String {
    let names: Vec<&str> = ct_state::NAMES
        .iter()
        .filter(|(_, b)| bits & b != 0)
        .map(|(n, _)| *n)
        .collect();
    if names.is_empty() {
        "0".into()
    } else {
        names.join(",")
    }
}

/// Traces `key` (a datapath key, first pass) through `ctx`, following recirculations with
/// the given conntrack states (then [`DEFAULT_CT_NEXT`]).
pub fn trace_packet(ctx: &XlateCtx<'_>, key: &FlowKey, ct_next: &[u8]) -> TraceReport {
    // Port numbers, not names, as ofproto/trace prints them (DESIGN §6), and OpenFlow ones:
    // only the datapath actions speak in datapath port numbers.
    let names = &NoNames;
    let ports = ctx.bridge.ports;
    let flow = |k: &FlowKey| format_packet(&openflow_view(k, ports), names);
    let mut report = TraceReport {
        flow: flow(key),
        passes: Vec::new(),
    };
    let mut next_states = ct_next.iter().copied();
    let mut queue: VecDeque<(FlowKey, Option<Resume>, usize)> = VecDeque::new();
    queue.push_back((*key, None, 0));
    while let Some((k, resume, level)) = queue.pop_front() {
        if report.passes.len() >= MAX_PASSES {
            break;
        }
        let mut t = Trace::new();
        let result = translate(ctx, &k, Some(&mut t));
        let mut pass = Pass {
            steps: std::mem::take(&mut t.steps),
            megaflow: None,
            datapath_actions: "drop".into(),
            outputs: Vec::new(),
            final_flow: None,
            error: None,
            resume,
        };
        match result {
            Ok(tr) => {
                pass.megaflow = Some(format_megaflow(&openflow_view(&k, ports), &tr.mask));
                pass.datapath_actions = format_actions(&tr.actions);
                pass.outputs = t.outputs;
                pass.final_flow = t.final_flow.as_ref().map(flow);
                for rp in t.recircs {
                    if level + 1 > MAX_RECIRC_DEPTH {
                        pass.error = Some(format!(
                            "recirculation depth exceeded ({MAX_RECIRC_DEPTH}); recirc({:#x}) not followed",
                            rp.id
                        ));
                        continue;
                    }
                    let state = next_states.next().unwrap_or(DEFAULT_CT_NEXT);
                    let next = recirculated(&rp, state);
                    let resume = Resume {
                        recirc_id: format!("{:#x}", rp.id),
                        ct_state: format_ct_state(state),
                        flow: flow(&next),
                    };
                    queue.push_back((next, Some(resume), level + 1));
                }
            }
            Err(e) => pass.error = Some(e.to_string()),
        }
        report.passes.push(pass);
    }
    report
}

/// `k` with its datapath in_port replaced by the bridge's OpenFlow number for that port (a
/// port of another bridge, or none, keeps the number it has).
fn openflow_view(k: &FlowKey, ports: &PortMap) -> FlowKey {
    let mut k = *k;
    if let Some(of) = ports.ofport_of_dp(k.in_port) {
        k.in_port = of;
    }
    k
}

/// The packet as it comes back from conntrack: the recirculation id, the chosen state, the
/// zone, and the mark / label a committing ct set. NAT is simulated as ofproto/trace does
/// (`ofproto_trace_recirc_node`): a `nat(src=...)` / `nat(dst=...)` with an address range
/// rewrites that address to the first of the range, and the port to the range's first port
/// if one is given; the conntrack state is left as `--ct-next` chose it.
fn recirculated(rp: &RecircPoint, state: u8) -> FlowKey {
    let mut k = rp.packet;
    if let Some(nat) = rp.ct.nat
        && let (Some(src), Some((addr, _))) = (nat.src, nat.addrs)
    {
        let port = nat.ports.map(|(min, _)| min).filter(|p| *p != 0);
        match (addr, src) {
            (IpAddr::V4(a), true) => k.nw_src = u32::from(a),
            (IpAddr::V4(a), false) => k.nw_dst = u32::from(a),
            (IpAddr::V6(a), true) => k.ipv6_src = a.octets(),
            (IpAddr::V6(a), false) => k.ipv6_dst = a.octets(),
        }
        match (port, src) {
            (Some(p), true) => k.tp_src = p,
            (Some(p), false) => k.tp_dst = p,
            (None, _) => {}
        }
    }
    k.recirc_id = rp.id;
    k.ct_state = state;
    k.ct_zone = rp.ct.zone;
    if rp.ct.commit {
        if let Some(m) = rp.ct.mark {
            k.ct_mark = (k.ct_mark & !m.mask) | (m.value & m.mask);
        }
        if let Some(l) = rp.ct.label {
            let old = u128::from_be_bytes(k.ct_label);
            k.ct_label = ((old & !l.mask) | (l.value & l.mask)).to_be_bytes();
        }
    }
    k.metadata = 0;
    k.regs = [0; 16];
    k
}

/// Offline trace: a bridge `br0` with ports `p1..pN` (OpenFlow port i = datapath port i), the
/// flows in `flows_text` (one per line; `#` starts a comment to the end of the line, as in
/// ovs-ofctl), and `packet` in trace flow syntax. `normal` is a learning switch over the ports
/// (all trunks, empty table).
pub fn offline_trace(
    flows_text: &str,
    n_ports: u32,
    packet: &str,
    ct_next: &[String],
) -> Result<TraceReport, TraceError> {
    offline_trace_with_groups(flows_text, "", n_ports, packet, ct_next)
}

/// [`offline_trace_with_groups`] with the meters of `meters_text` (one per line, in
/// `ovs-ofctl add-meter` syntax) installed before the flows.
pub fn offline_trace_with_meters(
    flows_text: &str,
    groups_text: &str,
    meters_text: &str,
    n_ports: u32,
    packet: &str,
    ct_next: &[String],
) -> Result<TraceReport, TraceError> {
    let bridge = OfflineBridge::with_meters(flows_text, groups_text, meters_text, n_ports)?;
    let states = ct_next
        .iter()
        .map(|s| parse_ct_state(s))
        .collect::<Result<Vec<_>, _>>()?;
    let key = bridge.packet(packet)?;
    Ok(bridge.trace(&key, &states))
}

/// [`offline_trace`] with the groups of `groups_text` (one per line, in `ovs-ofctl
/// add-groups` syntax) installed before the flows.
pub fn offline_trace_with_groups(
    flows_text: &str,
    groups_text: &str,
    n_ports: u32,
    packet: &str,
    ct_next: &[String],
) -> Result<TraceReport, TraceError> {
    let bridge = OfflineBridge::with_groups(flows_text, groups_text, n_ports)?;
    let states = ct_next
        .iter()
        .map(|s| parse_ct_state(s))
        .collect::<Result<Vec<_>, _>>()?;
    let key = bridge.packet(packet)?;
    Ok(bridge.trace(&key, &states))
}

/// Offline `trace --generate`: the packets of `packets`, in order, through one in-memory bridge
/// (see [`offline_trace_with_groups`]), each with its side effects (NORMAL's MAC learning, the
/// flows of `learn` actions) in place for the next one.
pub fn offline_trace_generate(
    flows_text: &str,
    groups_text: &str,
    n_ports: u32,
    packets: &[String],
    ct_next: &[String],
) -> Result<Vec<TraceReport>, TraceError> {
    offline_trace_generate_with_meters(flows_text, groups_text, "", n_ports, packets, ct_next)
}

/// [`offline_trace_generate`] with the meters of `meters_text` (see
/// [`offline_trace_with_meters`]).
pub fn offline_trace_generate_with_meters(
    flows_text: &str,
    groups_text: &str,
    meters_text: &str,
    n_ports: u32,
    packets: &[String],
    ct_next: &[String],
) -> Result<Vec<TraceReport>, TraceError> {
    let mut bridge = OfflineBridge::with_meters(flows_text, groups_text, meters_text, n_ports)?;
    let states = ct_next
        .iter()
        .map(|s| parse_ct_state(s))
        .collect::<Result<Vec<_>, _>>()?;
    packets
        .iter()
        .map(|p| {
            let key = bridge.packet(p)?;
            Ok(bridge.trace_generate(&key, &states))
        })
        .collect()
}

/// The in-memory bridge of an offline trace, built once and asked many times (the
/// differential test against OVS traces every packet and probe of a table through one).
pub struct OfflineBridge {
    ports: PortMap,
    tables: FlowTables,
    normal: LearningSwitch,
    recirc: RecircTable,
}

impl OfflineBridge {
    /// Ports `p1..pN` and the flows of `flows_text` (see [`offline_trace`]).
    pub fn new(flows_text: &str, n_ports: u32) -> Result<OfflineBridge, TraceError> {
        OfflineBridge::with_groups(flows_text, "", n_ports)
    }

    /// As [`OfflineBridge::new`], with the groups of `groups_text` (see
    /// [`offline_trace_with_groups`]).
    pub fn with_groups(
        flows_text: &str,
        groups_text: &str,
        n_ports: u32,
    ) -> Result<OfflineBridge, TraceError> {
        OfflineBridge::with_meters(flows_text, groups_text, "", n_ports)
    }

    /// As [`OfflineBridge::with_groups`], with the meters of `meters_text` (see
    /// [`offline_trace_with_meters`]).
    pub fn with_meters(
        flows_text: &str,
        groups_text: &str,
        meters_text: &str,
        n_ports: u32,
    ) -> Result<OfflineBridge, TraceError> {
        if n_ports > MAX_OFFLINE_PORTS {
            return Err(TraceError::Ports(n_ports));
        }
        let mut ports = PortMap::new();
        for i in 1..=n_ports {
            ports.insert(XPort {
                ofport: i,
                name: format!("p{i}"),
                kind: PortKind::Datapath(i),
            });
        }
        let mut mods = Vec::new();
        for (i, line) in flows_text.lines().enumerate() {
            let l = crate::ofctl::flow_line(line);
            if l.is_empty() {
                continue;
            }
            let spec =
                parse_flow(l, &ports, FlowSyntax::Add).map_err(|source| TraceError::Flow {
                    line: i + 1,
                    source,
                })?;
            mods.push(FlowMod::add(spec));
        }
        let mut tables = FlowTables::new();
        for (i, line) in groups_text.lines().enumerate() {
            let l = crate::ofctl::flow_line(line);
            if l.is_empty() {
                continue;
            }
            let spec =
                crate::ofctl::parse_group(l, &ports).map_err(|source| TraceError::GroupLine {
                    line: i + 1,
                    source,
                })?;
            let gm = crate::ofproto::GroupMod {
                command: crate::ofproto::GroupModCommand::Add,
                spec,
            };
            tables
                .apply_group_mod(&gm, 0)
                .map_err(|source| TraceError::Group {
                    line: i + 1,
                    source,
                })?;
        }
        for (i, line) in meters_text.lines().enumerate() {
            let l = crate::ofctl::flow_line(line);
            if l.is_empty() {
                continue;
            }
            let meter = |source| TraceError::Meter {
                line: i + 1,
                source,
            };
            let spec = crate::ofproto::meter::parse_meter(l).map_err(meter)?;
            tables
                .apply_meter_mod(&crate::ofproto::meter::MeterMod::Add(spec), 0)
                .map_err(meter)?;
        }
        tables.apply(&mods, 0)?;
        let normal = LearningSwitch::new(
            ports
                .iter()
                .map(|p| NormalPort {
                    ofport: p.ofport,
                    vlan: VlanMode::TrunkAll,
                })
                .collect(),
            MacTable::default(),
        );
        Ok(OfflineBridge {
            ports,
            tables,
            normal,
            recirc: RecircTable::new(),
        })
    }

    /// Parses a packet in trace syntax against this bridge's port names.
    pub fn packet(&self, packet: &str) -> Result<FlowKey, TraceError> {
        parse_packet(packet, &self.ports).map_err(TraceError::Packet)
    }

    fn ctx(&self, side_effects: bool) -> XlateCtx<'_> {
        XlateCtx {
            bridge: XBridge {
                name: "br0",
                tables: &self.tables,
                ports: &self.ports,
                normal: Some(&self.normal),
            },
            peers: None,
            recirc: &self.recirc,
            credit: None,
            // As ofproto/trace: a trace teaches `normal` only with `-generate`.
            may_learn: side_effects,
            now_ms: 0,
            learn: None,
        }
    }

    /// Traces `key` as [`trace_packet`] does.
    pub fn trace(&self, key: &FlowKey, ct_next: &[u8]) -> TraceReport {
        trace_packet(&self.ctx(false), key, ct_next)
    }

    /// Traces `key` and lets its side effects happen, as ofproto/trace's `-generate` does:
    /// NORMAL learns the source MAC, and the flows its `learn` actions learn are added to this
    /// bridge's tables.
    pub fn trace_generate(&mut self, key: &FlowKey, ct_next: &[u8]) -> TraceReport {
        let queue = crate::xlate::learn::LearnQueue::default();
        let report = {
            let mut ctx = self.ctx(true);
            ctx.learn = Some(&queue);
            trace_packet(&ctx, key, ct_next)
        };
        let batch = queue.take();
        crate::xlate::learn::apply_learned(&mut self.tables, &batch, 0);
        report
    }

    /// The bridge's tables (for dumps).
    pub fn tables(&self) -> &FlowTables {
        &self.tables
    }

    /// One translation of `key` (any pass): the datapath actions and the megaflow mask.
    pub fn translate(&self, key: &FlowKey) -> Result<Translation, XlateError> {
        translate(&self.ctx(false), key, None)
    }
}

/// Where a recirculated pass resumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resume {
    /// The recirculation id, as `0x..`.
    pub recirc_id: String,
    /// The conntrack state the pass was given (`--ct-next`, or the default).
    pub ct_state: String,
    /// The packet's flow entering this pass.
    pub flow: String,
}

/// One datapath pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pass {
    pub steps: Vec<Step>,
    /// The megaflow this pass installs; `None` when translation failed (nothing installed).
    pub megaflow: Option<String>,
    /// Datapath actions in ODP syntax (`drop` when none).
    pub datapath_actions: String,
    /// OpenFlow ports the packet leaves on, in order.
    pub outputs: Vec<u32>,
    /// The packet as the pass's actions left it (registers and metadata included), in
    /// OpenFlow terms; `None` when translation failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_flow: Option<String>,
    /// Why translation failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Set for passes after a recirculation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// A whole trace: the packet and every datapath pass it makes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceReport {
    /// The packet, in flow syntax.
    pub flow: String,
    pub passes: Vec<Pass>,
}

impl TraceReport {
    /// The human form (DESIGN §6).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Flow: {}", self.flow);
        for (i, pass) in self.passes.iter().enumerate() {
            if let Some(r) = &pass.resume {
                if i > 0 {
                    s.push('\n');
                }
                let _ = writeln!(s, "recirc({}) with ct_state={}", r.recirc_id, r.ct_state);
                let _ = writeln!(s, "Flow: {}", r.flow);
            }
            write_steps(&mut s, &pass.steps);
            if let Some(e) = &pass.error {
                let _ = writeln!(s, "Translation failed: {e}; the packet is dropped");
            }
            if let Some(f) = &pass.final_flow {
                let entering = pass.resume.as_ref().map_or(&self.flow, |r| &r.flow);
                if f == entering {
                    let _ = writeln!(s, "Final flow: unchanged");
                } else {
                    let _ = writeln!(s, "Final flow: {f}");
                }
            }
            if let Some(m) = &pass.megaflow {
                let _ = writeln!(s, "Megaflow: {m}");
            }
            let _ = writeln!(s, "Datapath actions: {}", pass.datapath_actions);
        }
        s
    }

    /// The machine form: one JSON object (DESIGN §6).
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Writes the steps with each note after the steps that happened before it.
fn write_steps(s: &mut String, steps: &[Step]) {
    let mut notes: Vec<((usize, usize), &str, usize)> = steps
        .iter()
        .flat_map(|st| {
            st.note_at
                .iter()
                .zip(&st.notes)
                .map(move |(at, n)| (*at, n.as_str(), st.depth))
        })
        .collect();
    notes.sort_by_key(|(at, _, _)| *at);
    let mut pending = notes.into_iter().peekable();
    for (i, step) in steps.iter().enumerate() {
        while let Some((_, n, depth)) = pending.next_if(|((at, _), _, _)| *at <= i) {
            write_note(s, depth, n);
        }
        write_step(s, step);
    }
    for (_, n, depth) in pending {
        write_note(s, depth, n);
    }
}

fn write_note(s: &mut String, depth: usize, note: &str) {
    let _ = writeln!(s, "{}    >> {note}", "    ".repeat(depth));
}

fn write_step(s: &mut String, step: &Step) {
    let indent = "    ".repeat(step.depth);
    let _ = write!(s, "{indent}{:>2}. ", step.table);
    if let Some(b) = &step.bridge {
        let _ = write!(s, "bridge {b}: ");
    }
    match step.priority {
        None => {
            let _ = writeln!(s, "No match ─ drop");
        }
        Some(p) => {
            let _ = write!(s, "priority {p}");
            if step.cookie != 0 {
                let _ = write!(s, ", cookie {:#x}", step.cookie);
            }
            if !step.match_.is_empty() {
                let _ = write!(s, ", {}", step.match_);
            }
            let _ = writeln!(s, " ─ {}", step.actions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design_example() -> TraceReport {
        TraceReport {
            flow: "tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80".into(),
            passes: vec![Pass {
                steps: vec![
                    Step {
                        table: 0,
                        priority: Some(90),
                        cookie: 0,
                        match_: "tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24".into(),
                        actions: "set_field:0x1->reg0, goto_table:1".into(),
                        depth: 0,
                        bridge: None,
                        notes: vec![],
                        note_at: vec![],
                    },
                    Step {
                        table: 1,
                        priority: Some(100),
                        cookie: 0,
                        match_: "reg0=0x1,tcp,tp_dst=80".into(),
                        actions: "mod_nw_tos:32, output:2".into(),
                        depth: 0,
                        bridge: None,
                        notes: vec![],
                        note_at: vec![],
                    },
                ],
                megaflow: Some("recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80".into()),
                datapath_actions: "set(ipv4(tos=0x20/0xfc)),2".into(),
                outputs: vec![2],
                final_flow: None,
                error: None,
                resume: None,
            }],
        }
    }

    #[test]
    fn text_form_matches_design() {
        let want = "Flow: tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80
 0. priority 90, tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24 ─ set_field:0x1->reg0, goto_table:1
 1. priority 100, reg0=0x1,tcp,tp_dst=80 ─ mod_nw_tos:32, output:2
Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80
Datapath actions: set(ipv4(tos=0x20/0xfc)),2
";
        assert_eq!(design_example().to_text(), want);
    }

    #[test]
    fn json_form_has_documented_keys_in_order() {
        let j = design_example().to_json();
        assert!(j.starts_with(
            r#"{"flow":"tcp,in_port=1,dl_src=00:00:00:00:00:01,...,tp_dst=80","passes":[{"steps":[{"table":0,"priority":90,"cookie":"0x0","match":"tcp,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24","actions":"set_field:0x1->reg0, goto_table:1"},"#
        ));
        assert!(j.ends_with(
            r#""megaflow":"recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80","datapath_actions":"set(ipv4(tos=0x20/0xfc)),2","outputs":[2]}]}"#
        ));
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["passes"][0]["steps"][1]["priority"], 100);
    }

    #[test]
    fn misses_notes_errors_and_recirculated_passes() {
        let mut t = Trace::new();
        t.enter(Step {
            table: 0,
            priority: Some(1),
            cookie: 0x2a,
            match_: String::new(),
            actions: "resubmit(,1), output:1".into(),
            depth: 0,
            bridge: None,
            notes: vec![],
            note_at: vec![],
        });
        t.enter(Step {
            table: 1,
            priority: None,
            cookie: 0,
            match_: String::new(),
            actions: "drop".into(),
            depth: 1,
            bridge: None,
            notes: vec![],
            note_at: vec![],
        });
        t.leave();
        t.note("skipping output to input port");
        t.leave();
        let report = TraceReport {
            flow: "in_port=1".into(),
            passes: vec![
                Pass {
                    steps: t.steps,
                    megaflow: None,
                    datapath_actions: "drop".into(),
                    outputs: vec![],
                    final_flow: None,
                    error: Some("resubmit depth exceeded (64 levels)".into()),
                    resume: None,
                },
                Pass {
                    steps: vec![],
                    megaflow: Some("recirc_id=0x1,eth,in_port=1".into()),
                    datapath_actions: "drop".into(),
                    outputs: vec![],
                    final_flow: None,
                    error: None,
                    resume: Some(Resume {
                        recirc_id: "0x1".into(),
                        ct_state: "new,trk".into(),
                        flow: "recirc_id=0x1,in_port=1".into(),
                    }),
                },
            ],
        };
        let want = "Flow: in_port=1
 0. priority 1, cookie 0x2a ─ resubmit(,1), output:1
     1. No match ─ drop
    >> skipping output to input port
Translation failed: resubmit depth exceeded (64 levels); the packet is dropped
Datapath actions: drop

recirc(0x1) with ct_state=new,trk
Flow: recirc_id=0x1,in_port=1
Megaflow: recirc_id=0x1,eth,in_port=1
Datapath actions: drop
";
        assert_eq!(report.to_text(), want);
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(v["passes"][0]["megaflow"], serde_json::Value::Null);
        assert_eq!(
            v["passes"][0]["steps"][1]["priority"],
            serde_json::Value::Null
        );
        assert_eq!(
            v["passes"][0]["steps"][0]["notes"][0],
            "skipping output to input port"
        );
        assert_eq!(v["passes"][1]["resume"]["recirc_id"], "0x1");
    }
}
