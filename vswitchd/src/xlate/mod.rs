//! xlate: run a flow through a bridge's OpenFlow tables and produce datapath actions plus the
//! megaflow mask (OVS's `ofproto-dpif-xlate`).
//!
//! # How a translation runs
//!
//! Two copies of the packet's flow are kept. `flow` is the OpenFlow view: actions edit it,
//! lookups read it, its `in_port` is an OpenFlow port. `base` is what the datapath packet looks
//! like given the actions emitted so far. Before anything lets the packet leave (output, `ct`,
//! recirculation) the differences are committed ([`commit`]) as set / VLAN actions.
//!
//! Every bit of the packet that influenced the result is recorded in `wc`: the classifier ORs
//! in what each lookup consulted, and actions add what they read (`move` sources, `dec_ttl`'s
//! TTL, prerequisites, NORMAL's addresses) or wrote (so a "no change" decision at commit time
//! holds for the whole megaflow). The returned mask is `wc` restricted to datapath fields,
//! plus what OVS always matches: `recirc_id`, `in_port`, `dl_type`, and `nw_frag` for IP.
//! Soundness — every packet agreeing with the key under the mask translates to the same
//! actions — is property-tested in `tests/tests/pipeline_trace.rs`.
//!
//! # Limits
//!
//! `resubmit` to the same or an earlier table (the only way to recurse) nests at most
//! [`MAX_DEPTH`] levels, and one translation does at most [`MAX_RESUBMITS`] lookups (OVS's
//! limits); re-entering a table with an identical flow inside its own resubmit chain is
//! reported as a loop at once. These fail the translation
//! ([`XlateError`]): the packet is dropped and, as in OVS, a drop megaflow over the bits
//! consulted so far is installed ([`translate_or_fail`]).
//!
//! # Recirculation
//!
//! `ct(table=N)` freezes the state the rest of the pipeline needs under a recirculation id
//! ([`ct`]); a packet arriving with that `recirc_id` resumes in table N of the frozen bridge with
//! the frozen registers and metadata.

pub mod clone;
pub mod commit;
pub mod controller;
pub mod ct;
pub mod error;
pub mod fields;
pub mod group;
mod group_fields;
pub mod hash;
pub mod learn;
mod meter;
pub mod mirror;
pub mod output;
pub mod pause;
pub mod record;
pub mod stack;

pub use ct::{FrozenState, RecircTable};
pub use error::{XlateError, XlateFailure};
pub use output::{LearningSwitch, NormalHandler};
pub use record::{Step, Trace};

use crate::ofctl::{NoNames, PortNames, format_action, format_match};
use crate::ofproto::action::{OfAction, ofpp};
use crate::ofproto::{FlowTables, Rule};
use fastpath::action::{CtAction, DpAction};
use fastpath::flow::key::{FRAG_ANY, FRAG_MASK, VLAN_CFI, ct_state, ipproto};
use fastpath::flow::{FlowKey, FlowMask};
use fastpath::upcall::Translation;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Maximum `resubmit` / `goto_table` nesting (OVS's `MAX_DEPTH`).
pub const MAX_DEPTH: usize = 64;
/// Maximum table lookups in one translation (OVS's `MAX_RESUBMITS`).
pub const MAX_RESUBMITS: usize = MAX_DEPTH * MAX_DEPTH;

/// Where a bridge port leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortKind {
    /// A datapath port with this number.
    Datapath(u32),
    /// A patch port: output continues in `bridge` as if received on its port `ofport`.
    Patch { bridge: String, ofport: u32 },
    /// A tunnel port: datapath port `dp`, encapsulating as `cfg` says.
    Tunnel {
        dp: u32,
        cfg: fastpath::port::tunnel::TunnelConfig,
    },
}

impl PortKind {
    /// The datapath port number, for ports that have one.
    pub fn dp(&self) -> Option<u32> {
        match self {
            PortKind::Datapath(dp) | PortKind::Tunnel { dp, .. } => Some(*dp),
            PortKind::Patch { .. } => None,
        }
    }
}

/// One port of a bridge, as xlate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XPort {
    pub ofport: u32,
    pub name: String,
    pub kind: PortKind,
}

/// The ports of one bridge: OpenFlow number ↔ datapath number ↔ name.
#[derive(Clone, Debug, Default)]
pub struct PortMap {
    by_ofport: BTreeMap<u32, XPort>,
    by_dp: HashMap<u32, u32>,
    by_name: HashMap<String, u32>,
    /// OpenFlow ports whose link is down (fast-failover groups skip buckets watching them).
    down: std::collections::BTreeSet<u32>,
    /// The bridge's mirrors ([`mirror`]).
    mirrors: Arc<mirror::MirrorSet>,
}

impl PortMap {
    /// An empty map.
    pub fn new() -> PortMap {
        PortMap::default()
    }

    /// Adds or replaces a port. The bridge's own port uses OpenFlow number [`ofpp::LOCAL`].
    pub fn insert(&mut self, port: XPort) {
        if let Some(old) = self.by_ofport.remove(&port.ofport) {
            self.by_name.remove(&old.name);
            if let Some(dp) = old.kind.dp() {
                self.by_dp.remove(&dp);
            }
        }
        if let Some(dp) = port.kind.dp() {
            self.by_dp.insert(dp, port.ofport);
        }
        self.by_name.insert(port.name.clone(), port.ofport);
        self.by_ofport.insert(port.ofport, port);
    }

    /// The port with OpenFlow number `ofport`.
    pub fn get(&self, ofport: u32) -> Option<&XPort> {
        self.by_ofport.get(&ofport)
    }

    /// The OpenFlow number of datapath port `dp`.
    pub fn ofport_of_dp(&self, dp: u32) -> Option<u32> {
        self.by_dp.get(&dp).copied()
    }

    /// Ports in ascending OpenFlow number (the LOCAL port last).
    pub fn iter(&self) -> impl Iterator<Item = &XPort> {
        self.by_ofport.values()
    }

    /// Records whether port `ofport`'s link is up (ports are up unless said otherwise).
    pub fn set_live(&mut self, ofport: u32, up: bool) {
        if up {
            self.down.remove(&ofport);
        } else {
            self.down.insert(ofport);
        }
    }

    /// Takes over `old`'s record of which ports are down (when the map is rebuilt).
    pub fn keep_liveness(&mut self, old: &PortMap) {
        self.down = old.down.clone();
    }

    /// The bridge's mirrors.
    pub fn mirrors(&self) -> &Arc<mirror::MirrorSet> {
        &self.mirrors
    }

    /// Sets the bridge's mirrors (resolved against these ports).
    pub fn set_mirrors(&mut self, mirrors: Arc<mirror::MirrorSet>) {
        self.mirrors = mirrors;
    }

    /// True if port `ofport` exists and its link is up (OVS's `odp_port_is_alive`).
    pub fn is_live(&self, ofport: u32) -> bool {
        self.by_ofport.contains_key(&ofport) && !self.down.contains(&ofport)
    }
}

impl PortNames for PortMap {
    fn number(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    fn name(&self, n: u32) -> Option<String> {
        self.by_ofport.get(&n).map(|p| p.name.clone())
    }
}

/// One bridge, as a translation reads it.
#[derive(Clone, Copy)]
pub struct XBridge<'a> {
    pub name: &'a str,
    pub tables: &'a FlowTables,
    pub ports: &'a PortMap,
    /// The `normal` action's MAC-learning switch; `None` makes `normal` drop (reported).
    pub normal: Option<&'a dyn NormalHandler>,
}

impl core::fmt::Debug for XBridge<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XBridge").field("name", &self.name).finish()
    }
}

/// Other bridges of the datapath, for patch ports and recirculations that resume in them.
pub trait BridgeSet {
    fn bridge(&self, name: &str) -> Option<XBridge<'_>>;
}

/// Statistics to credit to every rule a translation visits (the revalidator pushes megaflow
/// counters into rules this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credit {
    pub packets: u64,
    pub bytes: u64,
}

/// Everything a translation reads besides the packet.
#[derive(Clone, Copy)]
pub struct XlateCtx<'a> {
    /// The bridge the packet arrived on (first pass).
    pub bridge: XBridge<'a>,
    /// The datapath's other bridges (patch peers); `None` if there are none.
    pub peers: Option<&'a dyn BridgeSet>,
    /// The datapath's recirculation ids.
    pub recirc: &'a RecircTable,
    /// Counters to add to each visited rule.
    pub credit: Option<Credit>,
    /// Whether `normal` may learn source addresses (false when revalidating).
    pub may_learn: bool,
    /// Current time, for MAC learning and rule `last_used`.
    pub now_ms: u64,
    /// Where `learn` puts the flows it learns and whether `learn` / `fin_timeout` may change
    /// rules at all (`None`: no side effects, as in a trace; see [`learn`]).
    pub learn: Option<&'a learn::LearnQueue>,
}

impl core::fmt::Debug for XlateCtx<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("XlateCtx")
            .field("bridge", &self.bridge)
            .field("credit", &self.credit)
            .field("may_learn", &self.may_learn)
            .field("now_ms", &self.now_ms)
            .field("learn", &self.learn.is_some())
            .finish()
    }
}

/// A recirculation requested by a pass: the id, the packet as it leaves for conntrack, and
/// the `ct` action it goes through (what trace needs to simulate the next pass).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecircPoint {
    pub id: u32,
    pub packet: FlowKey,
    pub ct: CtAction,
}

/// Translates datapath key `key` (its `in_port` a datapath port) into actions and a mask.
/// With `trace`, records every step.
pub fn translate(
    ctx: &XlateCtx<'_>,
    key: &FlowKey,
    trace: Option<&mut Trace>,
) -> Result<Translation, XlateError> {
    let mut x = Xlator::new(ctx, key, trace);
    x.run(key)?;
    Ok(x.finish(key))
}

/// Translates an action list applied to one packet (an OpenFlow packet-out): `key` is the
/// packet (its `in_port` a datapath port, or any value for a packet from the controller) and
/// `in_port` its OpenFlow input port. No rule is involved; `resubmit` and output to `TABLE`
/// run the bridge's tables.
pub fn translate_actions(
    ctx: &XlateCtx<'_>,
    key: &FlowKey,
    in_port: u32,
    actions: &[OfAction],
) -> Result<Translation, XlateError> {
    let mut x = Xlator::new(ctx, key, None);
    x.flow.in_port = in_port;
    x.do_actions(actions)?;
    x.finish_freezing()?;
    Ok(x.finish(key))
}

/// As [`translate`] (no trace), but a failure comes with the mask of what the translation had
/// consulted, for the drop megaflow the upcall installs ([`XlateError::installs_drop`]).
pub fn translate_or_fail(ctx: &XlateCtx<'_>, key: &FlowKey) -> Result<Translation, XlateFailure> {
    let mut x = Xlator::new(ctx, key, None);
    let r = x.run(key);
    let t = x.finish(key);
    match r {
        Ok(()) => Ok(t),
        Err(error) => Err(XlateFailure {
            error,
            mask: Box::new(t.mask),
        }),
    }
}

/// The state of one translation.
pub(crate) struct Xlator<'a, 't> {
    ctx: &'a XlateCtx<'a>,
    bridge: XBridge<'a>,
    /// The name of the bridge the pass started in (for trace step labels).
    first_bridge: &'a str,
    flow: FlowKey,
    base: FlowKey,
    wc: FlowMask,
    actions: Vec<DpAction>,
    /// Table whose actions are running (for `resubmit(,)` with no table).
    table: u8,
    /// Cookie of the rule whose actions are running (for packet-ins).
    rule_cookie: u64,
    /// Recursion depth as OVS counts it: only resubmits to the same or an earlier table (which
    /// could recurse forever) and patch ports deepen.
    depth: usize,
    /// Resubmit nesting, for trace indentation.
    nesting: usize,
    lookups: usize,
    /// (bridge, table, flow) of every rule whose actions are running, for loop detection.
    stack: Vec<(&'a str, u8, FlowKey)>,
    /// The rule whose actions are running (`fin_timeout` changes it).
    rule: Option<Arc<Rule>>,
    /// A `controller(pause)` freeze in progress ([`pause`]).
    freeze: Option<pause::Freeze>,
    /// `exit` ran: no more actions, up to the nearest group bucket or patch port ([`clone`]).
    exiting: bool,
    /// Whether the running action list's end is the end of the translation (OVS's
    /// `is_last_action`; decides whether a `clone` needs isolating).
    tail: bool,
    /// Mirrors whose output already has a copy of the packet as it is now ([`mirror`]).
    mirrored: u32,
    /// The `push`/`pop` register stack ([`stack`]).
    values: Vec<u128>,
    trace: Option<&'t mut Trace>,
}

impl<'a, 't> Xlator<'a, 't> {
    fn new(ctx: &'a XlateCtx<'a>, key: &FlowKey, trace: Option<&'t mut Trace>) -> Self {
        let mut x = Xlator {
            ctx,
            bridge: ctx.bridge,
            first_bridge: ctx.bridge.name,
            flow: *key,
            base: *key,
            wc: FlowKey::ZERO,
            actions: Vec::new(),
            table: 0,
            rule_cookie: 0,
            depth: 0,
            nesting: 0,
            lookups: 0,
            stack: Vec::new(),
            rule: None,
            freeze: None,
            exiting: false,
            tail: true,
            mirrored: 0,
            values: Vec::new(),
            trace,
        };
        // Fields every megaflow matches (OVS's xlate_wc_init).
        x.wc.recirc_id = u32::MAX;
        x.wc.in_port = u32::MAX;
        x.wc.dl_type = 0xffff;
        if key.is_ip() {
            x.wc.nw_frag = FRAG_MASK;
        }
        if key.has_tunnel() {
            // OVS's tnl_wc_init: a packet from a tunnel matches its key, outer addresses, the
            // flags that describe the header, and the outer TOS (ECN may be copied inward).
            x.wc.tun_id = u64::MAX;
            if key.tun_dst != 0 {
                x.wc.tun_src = u32::MAX;
                x.wc.tun_dst = u32::MAX;
            } else {
                x.wc.tun_ipv6_src = [0xff; 16];
                x.wc.tun_ipv6_dst = [0xff; 16];
            }
            x.wc.tun_flags = fastpath::flow::key::tun_flags::DF
                | fastpath::flow::key::tun_flags::CSUM
                | fastpath::flow::key::tun_flags::KEY;
            x.wc.tun_tos = u8::MAX;
        }
        x
    }

    fn run(&mut self, key: &FlowKey) -> Result<(), XlateError> {
        if key.recirc_id == 0 {
            self.flow.in_port = self
                .bridge
                .ports
                .ofport_of_dp(key.in_port)
                .ok_or(XlateError::UnknownInPort(key.in_port))?;
            if self.came_from_mirror_output() {
                self.note(|| "input port is a mirror output port; dropped".into());
                return Ok(());
            }
            self.mirror_ingress()?;
            self.xlate_table(0)?;
            return self.finish_freezing();
        }
        // A recirculated packet resumes where it was frozen: possibly in another bridge
        // (after a patch port) and with the OpenFlow in_port it had there.
        let st = self
            .ctx
            .recirc
            .get(key.recirc_id)
            .filter(|st| st.continuation.is_none())
            .ok_or(XlateError::UnknownRecircId(key.recirc_id))?;
        if st.bridge != self.bridge.name {
            self.bridge = self
                .ctx
                .peers
                .and_then(|p| p.bridge(&st.bridge))
                .ok_or(XlateError::PatchPeerMissing)?;
            self.first_bridge = self.bridge.name;
        }
        self.flow.in_port = st.in_port;
        self.flow.regs = st.regs;
        self.flow.metadata = st.metadata;
        self.xlate_table(st.table)?;
        self.finish_freezing()
    }

    fn finish(mut self, key: &FlowKey) -> Translation {
        let mut mask = self.wc.masked(&FlowKey::dp_only_mask());
        mask.recirc_id = u32::MAX;
        mask.in_port = u32::MAX;
        mask.dl_type = 0xffff;
        if key.is_ip() {
            mask.nw_frag |= FRAG_MASK;
        }
        nest_mask(key, &mut mask);
        if let Some(t) = self.trace.as_deref_mut() {
            t.final_flow = Some(self.flow);
        }
        Translation {
            actions: std::mem::take(&mut self.actions),
            mask,
        }
    }

    fn note(&mut self, msg: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_deref_mut() {
            t.note(msg());
        }
    }

    /// Looks `self.flow` up in `table` of the current bridge and runs the matching rule.
    fn xlate_table(&mut self, table: u8) -> Result<(), XlateError> {
        self.xlate_table_from(table, None)
    }

    /// [`Xlator::xlate_table`], looking the rule up as if the packet had come in on `in_port`
    /// (`resubmit(PORT,TABLE)`). As OVS's `rule_dpif_lookup_from_table`, the port is only for
    /// the lookup: the rule's actions see the real input port again (so `in_port` and `normal`
    /// behave as expected), and an IP fragment is looked up with L4 ports 0 (OVS's default
    /// fragment handling, `normal`: a first fragment's ports do not take part in the lookup,
    /// though actions that read them still see them).
    fn xlate_table_from(&mut self, table: u8, in_port: Option<u32>) -> Result<(), XlateError> {
        if self.depth >= MAX_DEPTH {
            return Err(XlateError::ResubmitDepthExceeded(MAX_DEPTH));
        }
        self.lookups += 1;
        if self.lookups > MAX_RESUBMITS {
            return Err(XlateError::TooManyResubmits(MAX_RESUBMITS));
        }
        let bridge_name = self.bridge.name;
        let mut lookup = self.flow;
        if let Some(p) = in_port {
            lookup.in_port = p;
        }
        if lookup.is_ip() && lookup.nw_frag & FRAG_ANY != 0 {
            lookup.tp_src = 0;
            lookup.tp_dst = 0;
        }
        if self
            .stack
            .iter()
            .any(|(b, t, f)| *b == bridge_name && *t == table && *f == lookup)
        {
            return Err(XlateError::ResubmitLoop(table));
        }
        let rule: Option<Arc<Rule>> = self
            .bridge
            .tables
            .lookup(table, &lookup, Some(&mut self.wc))
            .cloned();
        let depth = self.nesting;
        let bridge = (self.bridge.name != self.first_bridge).then(|| self.bridge.name.to_string());
        let Some(rule) = rule else {
            if let Some(t) = self.trace.as_deref_mut() {
                t.enter(Step {
                    table,
                    priority: None,
                    cookie: 0,
                    match_: String::new(),
                    actions: "drop".into(),
                    depth,
                    bridge,
                    notes: Vec::new(),
                    note_at: Vec::new(),
                });
                t.leave();
            }
            return Ok(());
        };
        if let Some(t) = self.trace.as_deref_mut() {
            // Traces show port numbers, as ofproto/trace does (DESIGN §6).
            let names = &NoNames;
            let actions = rule
                .actions
                .iter()
                .map(|a| format_action(a, names))
                .collect::<Vec<_>>()
                .join(", ");
            t.enter(Step {
                table,
                priority: Some(rule.priority),
                cookie: rule.cookie,
                match_: format_match(&rule.m, names),
                actions: if actions.is_empty() {
                    "drop".into()
                } else {
                    actions
                },
                depth,
                bridge,
                notes: Vec::new(),
                note_at: Vec::new(),
            });
        }
        if let Some(c) = self.ctx.credit {
            rule.stats.credit(c.packets, c.bytes, self.ctx.now_ms);
        }
        let saved_table = self.table;
        let saved_cookie = self.rule_cookie;
        self.table = table;
        self.rule_cookie = rule.cookie;
        self.stack.push((bridge_name, table, lookup));
        let saved_rule = self.rule.replace(rule.clone());
        let r = self.do_actions(&rule.actions);
        self.rule = saved_rule;
        self.stack.pop();
        self.table = saved_table;
        self.rule_cookie = saved_cookie;
        if let Some(t) = self.trace.as_deref_mut() {
            t.leave();
        }
        r
    }

    /// Runs one rule's action list.
    fn do_actions(&mut self, actions: &[OfAction]) -> Result<(), XlateError> {
        for (i, a) in actions.iter().enumerate() {
            if self.exiting {
                break;
            }
            let last = self.tail && i + 1 == actions.len();
            self.reset_mirrors(a);
            match a {
                OfAction::Output(p) => self.output_action(*p)?,
                OfAction::InPort => self.output(self.flow.in_port, true)?,
                OfAction::Normal => self.normal()?,
                OfAction::Flood | OfAction::All => self.flood()?,
                OfAction::Local => self.output(ofpp::LOCAL, false)?,
                OfAction::Drop => {}
                OfAction::SetField {
                    field, value, mask, ..
                } => {
                    let r = fields::set_field(&mut self.flow, &mut self.wc, *field, *value, *mask);
                    self.report_skip(r);
                }
                OfAction::Load { value, dst } => {
                    let r = fields::load(&mut self.flow, &mut self.wc, *value, dst);
                    self.report_skip(r);
                }
                OfAction::Move { src, dst } => {
                    let r = fields::move_field(&mut self.flow, &mut self.wc, src, dst);
                    self.report_skip(r);
                }
                OfAction::StackPush(sf) => {
                    if !stack::push(&mut self.values, sf, &self.flow, &mut self.wc) {
                        self.note(|| "stack overflow: push skipped".into());
                    }
                }
                OfAction::StackPop(sf) => {
                    match stack::pop(&mut self.values, sf, &mut self.flow, &mut self.wc) {
                        Ok(true) => {}
                        Ok(false) => self.note(|| "stack underflow".into()),
                        Err(skip) => self.report_skip(Err(skip)),
                    }
                }
                OfAction::PushVlan(tpid) => self.push_vlan(*tpid)?,
                OfAction::SetVlanVid(vid) => self.set_vlan(
                    fastpath::flow::key::VLAN_VID_MASK,
                    vid & fastpath::flow::key::VLAN_VID_MASK,
                )?,
                OfAction::SetVlanPcp(pcp) => self.set_vlan(
                    fastpath::flow::key::VLAN_PCP_MASK,
                    u16::from(pcp & 7) << fastpath::flow::key::VLAN_PCP_SHIFT,
                )?,
                OfAction::PopVlan => self.pop_vlan(),
                OfAction::DecTtl => {
                    if !self.dec_ttl() {
                        // OVS: stop processing this rule's actions.
                        return Ok(());
                    }
                }
                OfAction::GotoTable(t) => {
                    self.xlate_table(*t)?;
                    return Ok(());
                }
                OfAction::Resubmit { port, table } => {
                    let target = table.unwrap_or(self.table);
                    let deepens = usize::from(target <= self.table);
                    self.depth += deepens;
                    self.nesting += 1;
                    let saved_tail = std::mem::replace(&mut self.tail, last);
                    let r = self.xlate_table_from(target, *port);
                    self.tail = saved_tail;
                    self.depth -= deepens;
                    self.nesting -= 1;
                    r?;
                }
                OfAction::Ct(ct) => self.ct(ct)?,
                OfAction::Group(g) => self.group_action(*g)?,
                OfAction::Meter(id) => self.meter_action(*id),
                OfAction::Controller(c) if c.pause => self.start_pause(c),
                OfAction::Controller(c) => self.controller(c)?,
                OfAction::CtClear => {
                    // As OVS: only a tracked packet has conntrack state to clear; for an
                    // untracked one the action does nothing (and the answer depended on the
                    // tracked bit).
                    self.wc.ct_state |= ct_state::TRK;
                    if self.flow.ct_state & ct_state::TRK != 0 {
                        self.flow.ct_state = 0;
                        self.flow.ct_zone = 0;
                        self.flow.ct_mark = 0;
                        self.flow.ct_label = [0; 16];
                        self.actions.push(DpAction::CtClear);
                    }
                }
                OfAction::Learn(l) => self.learn(l),
                OfAction::FinTimeout {
                    idle_timeout,
                    hard_timeout,
                } => self.fin_timeout(*idle_timeout, *hard_timeout),
                // A soft match is never the rule a lookup returns; only a packet-out or a
                // rule's own actions list could run it, and then (as in OVS) it does nothing.
                OfAction::Conjunction(_) => {
                    self.note(|| ">>>> executing no-op conjunction action <<<<".to_string())
                }
                OfAction::Clone(inner) => self.clone_action(inner, last)?,
                OfAction::Exit => self.exiting = true,
                OfAction::Note(_) => {}
                OfAction::OutputReg { src, .. } => self.output_reg(src)?,
                OfAction::CheckPktLarger { len, dst } => {
                    // The rest of this list runs inside the datapath check ([`clone`]).
                    return self.check_pkt_larger(*len, dst, &actions[i + 1..]);
                }
            }
            if self.freeze.is_some() {
                // Paused (here or in a resubmit): the rest waits for the resume.
                self.freeze_rest(&actions[i + 1..]);
                return Ok(());
            }
        }
        Ok(())
    }

    /// `learn`: see [`learn`] and `ofproto::learn`. The megaflow matches every bit the specs
    /// read; the flow is learned only when side effects are allowed.
    fn learn(&mut self, l: &crate::ofproto::OfLearn) {
        l.mask_sources(&mut self.wc);
        let spec = l.execute(&self.flow);
        let tables = self.bridge.tables;
        let existing = tables
            .find_exact(spec.table, &spec.m, spec.priority)
            .filter(|r| crate::ofproto::table::same_rule(r, &spec));
        let success = match (existing, self.ctx.learn) {
            (Some(r), Some(_)) => {
                r.stats.refresh(self.ctx.now_ms);
                true
            }
            (Some(_), None) => true,
            (None, q) => {
                learn::within_limit(tables, &spec, l.limit)
                    && q.is_none_or(|q| {
                        q.push(learn::Learned {
                            bridge: self.bridge.name.to_string(),
                            spec: spec.clone(),
                            limit: l.limit,
                        })
                    })
            }
        };
        if let Some(t) = self.trace.as_deref_mut() {
            let flow = crate::ofctl::format_flow(&spec, &NoNames);
            t.note(match (existing.is_some(), success) {
                (true, _) => format!("learn: already installed: {flow}"),
                (false, true) => format!("learn: adds {flow}"),
                (false, false) => format!("learn: refused by limit={}: {flow}", l.limit),
            });
            t.learned.push((self.bridge.name.to_string(), spec));
        }
        if let Some(r) = &l.result_dst {
            let res = fields::load(&mut self.flow, &mut self.wc, u128::from(success), &r.sub);
            self.report_skip(res);
        }
    }

    /// `fin_timeout`: a TCP FIN or RST shortens the running rule's timeouts (a side effect,
    /// so only when those are allowed). The FIN and RST bits join the megaflow, so that the
    /// first such packet of a flow takes an upcall.
    fn fin_timeout(&mut self, idle: u16, hard: u16) {
        const FIN: u16 = 0x001;
        const RST: u16 = 0x004;
        if !fields::prereqs_ok(fastpath::flow::Field::TcpFlags, &self.flow, &mut self.wc) {
            return;
        }
        self.wc.tcp_flags |= FIN | RST;
        if self.flow.tcp_flags & (FIN | RST) == 0 {
            return;
        }
        match (&self.rule, self.ctx.learn) {
            (Some(rule), Some(_)) => rule.stats.reduce_timeouts(idle, hard),
            _ => self.note(|| "fin_timeout: the rule's timeouts would be reduced".into()),
        }
    }

    fn report_skip(&mut self, r: Result<(), fields::Skip>) {
        if let Err(skip) = r {
            self.note(|| skip.to_string());
        }
    }

    /// Commits pending header changes.
    fn commit(&mut self) -> Result<(), XlateError> {
        commit::commit(&self.flow, &mut self.base, &mut self.wc, &mut self.actions)
    }

    /// `dec_ttl`; false if the TTL ran out (the rest of the rule's actions are skipped).
    fn dec_ttl(&mut self) -> bool {
        if !self.flow.is_ip() {
            return true;
        }
        self.wc.nw_ttl = 0xff;
        if self.flow.nw_ttl > 1 {
            self.flow.nw_ttl -= 1;
            true
        } else {
            self.note(|| {
                "dec_ttl: TTL exceeded; the rest of this rule's actions are skipped".into()
            });
            false
        }
    }

    fn ct(&mut self, ofct: &crate::ofproto::action::OfCt) -> Result<(), XlateError> {
        self.commit()?;
        let action = ct::compose_ct(ofct, &self.flow, &mut self.wc);
        self.actions.push(DpAction::Ct(action));
        let Some(table) = ofct.table else {
            return Ok(());
        };
        let state = FrozenState {
            bridge: self.bridge.name.to_string(),
            table,
            in_port: self.flow.in_port,
            metadata: self.flow.metadata,
            regs: self.flow.regs,
            ct_zone: action.zone,
            nat: action.nat,
            continuation: None,
        };
        // The frozen registers and metadata come from the flow; the bits they carry were
        // derived from packet bits already in `wc` or from constants.
        let id = self.ctx.recirc.id_for(&state)?;
        self.actions.push(DpAction::Recirc(id));
        if let Some(t) = self.trace.as_deref_mut() {
            t.recircs.push(RecircPoint {
                id,
                packet: self.base,
                ct: action,
            });
            t.note(format!(
                "ct: the packet recirculates as recirc({id:#x}) and resumes in table {table}"
            ));
        }
        Ok(())
    }
}

/// Makes a megaflow mask respect header nesting, as OVS's `xlate_wc_finish` does: a masked
/// transport bit pins the IP protocol (and any bit of the protocol pins all of it), ICMP
/// type/code are 8-bit so only their low bytes stay, and a masked VLAN bit pins the tag's
/// presence. Every change adds bits, or drops bits that are constant (zero) for every
/// packet the rest of the mask admits, so the megaflow stays sound; it only reads like the
/// datapath flow OVS would install (`nw_proto=6`, not one stray bit of it).
fn nest_mask(key: &FlowKey, mask: &mut FlowMask) {
    let l4 = mask.tp_src != 0 || mask.tp_dst != 0 || mask.tcp_flags != 0;
    let l4 = l4 || mask.nd_target != [0; 16];
    if key.is_ip() && (l4 || mask.nw_proto != 0) {
        mask.nw_proto = 0xff;
        if key.nw_proto == ipproto::ICMP || key.nw_proto == ipproto::ICMPV6 {
            mask.tp_src &= 0xff;
            mask.tp_dst &= 0xff;
        }
    }
    if mask.vlan_tci != 0 {
        mask.vlan_tci |= VLAN_CFI;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mac_learning::MacTable;
    use crate::normal::{NormalPort, VlanMode};
    use crate::ofctl::{FlowSyntax, parse_flow, parse_packet};
    use crate::ofproto::FlowMod;
    use fastpath::action::format_actions;
    use fastpath::flow::key::VLAN_CFI;

    fn tables(flows: &str) -> FlowTables {
        let mods: Vec<FlowMod> = flows
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        let mut t = FlowTables::new();
        t.apply(&mods, 0).unwrap();
        t
    }

    fn dp_ports(pairs: &[(u32, u32)]) -> PortMap {
        let mut m = PortMap::new();
        for &(of, dp) in pairs {
            m.insert(XPort {
                ofport: of,
                name: format!("p{of}"),
                kind: PortKind::Datapath(dp),
            });
        }
        m
    }

    fn ctx<'a>(
        name: &'a str,
        tables: &'a FlowTables,
        ports: &'a PortMap,
        recirc: &'a RecircTable,
    ) -> XlateCtx<'a> {
        XlateCtx {
            bridge: XBridge {
                name,
                tables,
                ports,
                normal: None,
            },
            peers: None,
            recirc,
            credit: None,
            may_learn: false,
            now_ms: 7,
            learn: None,
        }
    }

    fn pkt(s: &str) -> FlowKey {
        parse_packet(s, &NoNames).unwrap()
    }

    #[test]
    fn datapath_and_openflow_port_numbers_are_mapped() {
        // OpenFlow 1 ↔ datapath 11, OpenFlow 2 ↔ datapath 12.
        let t = tables("in_port=1,actions=output:2");
        let ports = dp_ports(&[(1, 11), (2, 12)]);
        let recirc = RecircTable::new();
        let c = ctx("br0", &t, &ports, &recirc);
        let tr = translate(&c, &pkt("in_port=11,ip"), None).unwrap();
        assert_eq!(format_actions(&tr.actions), "12");
        assert_eq!(tr.mask.in_port, u32::MAX);
        assert_eq!(
            translate(&c, &pkt("in_port=3,ip"), None),
            Err(XlateError::UnknownInPort(3))
        );
        // The bridge's own port is OpenFlow LOCAL; flood and all include it.
        let mut ports = ports;
        ports.insert(XPort {
            ofport: ofpp::LOCAL,
            name: "br0".into(),
            kind: PortKind::Datapath(0),
        });
        for (flows, want) in [
            ("actions=local", "0"),
            ("actions=all", "12,0"),
            ("actions=flood", "12,0"),
        ] {
            let t = tables(flows);
            let c = ctx("br0", &t, &ports, &recirc);
            let tr = translate(&c, &pkt("in_port=11,ip"), None).unwrap();
            assert_eq!(format_actions(&tr.actions), want, "{flows}");
        }
        assert_eq!(ports.number("p2"), Some(2));
        assert_eq!(ports.name(1).as_deref(), Some("p1"));
        assert_eq!(ports.ofport_of_dp(12), Some(2));
    }

    #[test]
    fn rules_visited_are_credited() {
        let t = tables(
            "table=0,actions=resubmit(,1),output:2
             table=1,actions=output:3",
        );
        let ports = dp_ports(&[(1, 1), (2, 2), (3, 3)]);
        let recirc = RecircTable::new();
        let mut c = ctx("br0", &t, &ports, &recirc);
        c.credit = Some(Credit {
            packets: 3,
            bytes: 180,
        });
        translate(&c, &pkt("in_port=1,ip"), None).unwrap();
        for table in [0u8, 1] {
            let r = t.lookup(table, &pkt("in_port=1,ip"), None).unwrap();
            assert_eq!((r.stats.packets(), r.stats.bytes()), (3, 180));
            assert_eq!(r.stats.last_used_ms(), 7);
        }
    }

    #[test]
    fn recirculation_resumes_the_frozen_state() {
        let t = tables(
            "table=0,ip,ct_state=-trk,actions=load:0x7->reg3[],ct(zone=9,table=2)
             table=2,reg3=0x7,ct_state=+trk,actions=output:2",
        );
        let ports = dp_ports(&[(1, 1), (2, 2)]);
        let recirc = RecircTable::new();
        let c = ctx("br0", &t, &ports, &recirc);
        let first = translate(&c, &pkt("in_port=1,ip"), None).unwrap();
        assert_eq!(format_actions(&first.actions), "ct(zone=9),recirc(0x1)");
        let st = recirc.get(1).unwrap();
        assert_eq!((st.table, st.regs[3], st.ct_zone), (2, 7, 9));
        // The same state gets the same id.
        let again = translate(&c, &pkt("in_port=1,ip,nw_src=1.2.3.4"), None).unwrap();
        assert_eq!(again.actions, first.actions);
        // The packet comes back from conntrack.
        let mut back = pkt("in_port=1,ip,ct_state=+trk+new");
        back.recirc_id = 1;
        let second = translate(&c, &back, None).unwrap();
        assert_eq!(format_actions(&second.actions), "2");
        assert_eq!(second.mask.recirc_id, u32::MAX);
        assert_eq!(
            second.mask.regs, [0; 16],
            "registers never reach the megaflow"
        );
        back.recirc_id = 99;
        assert_eq!(
            translate(&c, &back, None),
            Err(XlateError::UnknownRecircId(99))
        );
    }

    struct Bridges(Vec<(String, FlowTables, PortMap)>);

    impl BridgeSet for Bridges {
        fn bridge(&self, name: &str) -> Option<XBridge<'_>> {
            self.0
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(n, t, p)| XBridge {
                    name: n,
                    tables: t,
                    ports: p,
                    normal: None,
                })
        }
    }

    #[test]
    fn patch_ports_continue_in_the_peer_bridge() {
        // br0: port 1 = dp 1, port 2 = patch to br1:1, port 3 = dp 3.
        // br1: port 1 = patch to br0:2, port 2 = dp 5.
        let mut p0 = dp_ports(&[(1, 1), (3, 3)]);
        p0.insert(XPort {
            ofport: 2,
            name: "patch-br1".into(),
            kind: PortKind::Patch {
                bridge: "br1".into(),
                ofport: 1,
            },
        });
        let mut p1 = dp_ports(&[(2, 5)]);
        p1.insert(XPort {
            ofport: 1,
            name: "patch-br0".into(),
            kind: PortKind::Patch {
                bridge: "br0".into(),
                ofport: 2,
            },
        });
        let t0 = tables("in_port=1,actions=set_field:0x5->reg0,output:2,output:3");
        let t1 = tables("in_port=1,reg0=0,actions=mod_dl_dst:00:00:00:00:00:99,output:2");
        let peers = Bridges(vec![("br1".into(), t1, p1)]);
        let recirc = RecircTable::new();
        let mut c = ctx("br0", &t0, &p0, &recirc);
        c.peers = Some(&peers);
        let mut trace = Trace::new();
        let tr = translate(&c, &pkt("in_port=1,ip"), Some(&mut trace)).unwrap();
        // The peer sees fresh registers; br0's later output undoes the peer's rewrite.
        assert_eq!(
            format_actions(&tr.actions),
            "set(eth(dst=00:00:00:00:00:99)),5,set(eth(dst=00:00:00:00:00:00)),3"
        );
        assert_eq!(trace.outputs, vec![2, 3]);
        assert_eq!(trace.steps[1].bridge.as_deref(), Some("br1"));
        // Without the peer, the output is skipped (and said so).
        c.peers = None;
        let tr = translate(&c, &pkt("in_port=1,ip"), None).unwrap();
        assert_eq!(format_actions(&tr.actions), "3");
    }

    #[test]
    fn recirculation_after_a_patch_port_resumes_in_the_peer_bridge() {
        let mut p0 = dp_ports(&[(1, 1)]);
        p0.insert(XPort {
            ofport: 2,
            name: "patch-br1".into(),
            kind: PortKind::Patch {
                bridge: "br1".into(),
                ofport: 1,
            },
        });
        let p1 = dp_ports(&[(2, 5)]);
        let t0 = tables("actions=output:2");
        let t1 = tables(
            "table=0,ip,in_port=1,actions=ct(table=1)
             table=1,ip,in_port=1,ct_state=+trk,actions=output:2",
        );
        let peers = Bridges(vec![("br1".into(), t1, p1)]);
        let recirc = RecircTable::new();
        let mut c = ctx("br0", &t0, &p0, &recirc);
        c.peers = Some(&peers);
        let first = translate(&c, &pkt("in_port=1,ip"), None).unwrap();
        assert_eq!(format_actions(&first.actions), "ct,recirc(0x1)");
        let st = recirc.get(1).unwrap();
        assert_eq!((st.bridge.as_str(), st.in_port), ("br1", 1));
        let mut back = pkt("in_port=1,ip,ct_state=+trk");
        back.recirc_id = 1;
        let second = translate(&c, &back, None).unwrap();
        assert_eq!(format_actions(&second.actions), "5");
    }

    #[test]
    fn normal_tags_for_trunks_and_learns_only_when_allowed() {
        let t = tables("actions=normal");
        let ports = dp_ports(&[(1, 1), (2, 2), (3, 3)]);
        let sw = LearningSwitch::new(
            vec![
                NormalPort {
                    ofport: 1,
                    vlan: VlanMode::Access(10),
                },
                NormalPort {
                    ofport: 2,
                    vlan: VlanMode::Access(20),
                },
                NormalPort {
                    ofport: 3,
                    vlan: VlanMode::TrunkAll,
                },
            ],
            MacTable::default(),
        );
        let recirc = RecircTable::new();
        let mut c = ctx("br0", &t, &ports, &recirc);
        c.bridge.normal = Some(&sw);
        let from_access = pkt("in_port=1,dl_src=00:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,ip");
        let tr = translate(&c, &from_access, None).unwrap();
        assert_eq!(format_actions(&tr.actions), "push_vlan(vid=10,pcp=0),3");
        assert_eq!(tr.mask.dl_src, [0xff; 6]);
        assert_eq!(sw.with_macs(|m| m.len()), 0, "may_learn is false");
        c.may_learn = true;
        translate(&c, &from_access, None).unwrap();
        assert_eq!(sw.with_macs(|m| m.len()), 1);
        // The reply from the trunk, tagged 10, now goes only to port 1, untagged.
        let mut reply = pkt("in_port=3,dl_src=00:00:00:00:00:02,dl_dst=00:00:00:00:00:01,ip");
        reply.vlan_tci = VLAN_CFI | 10;
        let tr = translate(&c, &reply, None).unwrap();
        assert_eq!(format_actions(&tr.actions), "pop_vlan,1");
    }
}
