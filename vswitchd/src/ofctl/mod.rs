//! # ofctl — the ovs-ofctl flow syntax: parser, printer, trace packets
//!
//! What: text ⇄ model for OpenFlow rules (DESIGN §5). [`parse_flow`] turns
//! `table=1,priority=100,tcp,nw_src=10.0.0.0/8,tp_dst=80,actions=mod_nw_tos:32,output:2` into a
//! [`FlowSpec`] (a [`Match`] plus [`OfAction`]s and the flow-mod header fields);
//! [`format_match`], [`format_actions`] and [`format_flow`] print them back as ovs-ofctl does;
//! [`format_megaflow`] prints a datapath `(key, mask)` as ofproto/trace's "Megaflow:" line; and
//! [`parse_packet`] / [`format_packet`] read and write ofproto/trace's packet syntax.
//!
//! Why this shape: users paste flows from OVS documentation and scripts, so spelling, defaults,
//! prerequisites and error cases follow ovs-ofctl(8) / ovs-fields(7) / ovs-actions(7). A bad flow
//! is rejected whole with an [`OfctlError`] naming the offending token.
//!
//! Invariants:
//! - Everything printed parses back to the same value (`parse(print(x)) == x`, property-tested).
//! - A parsed match is canonical: its key is masked, and fields that share storage
//!   (`arp_spa`/`nw_src`, `icmp_type`/`tp_src`) give equal matches whichever name was used.
//! - A parsed action list is never empty: `drop` (or nothing after `actions=`) is `[Drop]`.
//!
//! Layout: `lex` (items and scalar values), `fields` (names, syntax, prerequisites),
//! `match_parse`, `action_parse`, `format`, `packet`, `error`.

mod action_more;
mod action_parse;
mod conj;
mod error;
mod fields;
mod format;
mod group;
mod learn;
mod lex;
mod match_parse;
mod meter_action;
mod packet;
mod stack;
pub(crate) mod subfield;

pub use action_more::padded_note;
pub use error::OfctlError;
pub use format::{
    format_action, format_actions, format_match, format_megaflow, format_packet, format_subfield,
};
pub use group::{format_group, parse_group, parse_group_selector};
pub use learn::learn_field_of;
pub use packet::parse_packet;

#[cfg(test)]
mod tests;

use lex::split_items;
use match_parse::MatchBuilder;
use std::collections::HashMap;

/// Port names ⇄ OpenFlow port numbers, for `in_port=vm1` and `output:vm1`.
pub trait PortNames {
    /// The number of the port called `name`.
    fn number(&self, name: &str) -> Option<u32>;
    /// The name of port `n`.
    fn name(&self, n: u32) -> Option<String>;
}

/// No port names: ports are numbers (or reserved names such as `LOCAL`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNames;

impl PortNames for NoNames {
    fn number(&self, _name: &str) -> Option<u32> {
        None
    }
    fn name(&self, _n: u32) -> Option<String> {
        None
    }
}

/// A simple two-way map of port names.
#[derive(Clone, Debug, Default)]
pub struct NameMap {
    by_name: HashMap<String, u32>,
    by_number: HashMap<u32, String>,
}

impl NameMap {
    /// An empty map.
    pub fn new() -> NameMap {
        NameMap::default()
    }

    /// Builds a map from `(name, number)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, u32)>) -> NameMap {
        let mut m = NameMap::new();
        for (name, n) in pairs {
            m.insert(name, n);
        }
        m
    }

    /// Adds (or renames) a port.
    pub fn insert(&mut self, name: &str, n: u32) {
        if let Some(old) = self.by_number.insert(n, name.to_owned()) {
            self.by_name.remove(&old);
        }
        self.by_name.insert(name.to_owned(), n);
    }
}

impl PortNames for NameMap {
    fn number(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }
    fn name(&self, n: u32) -> Option<String> {
        self.by_number.get(&n).cloned()
    }
}

pub use crate::ofproto::spec::{DEFAULT_PRIORITY, FlowSpec, TABLE_ALL};
/// Which command a flow is for (what keys it may have).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowSyntax {
    /// add-flow, add-flows, replace-flows: actions required, no cookie mask, no out_port.
    Add,
    /// mod-flows: match and actions; `cookie=C/MASK` selects, plain `cookie=C` sets.
    Modify,
    /// del-flows, dump-flows: match only; `cookie=C/MASK` and `out_port=P` select.
    MatchOnly,
}

impl FlowSpec {
    /// A catch-all spec with the defaults of `syntax` and no actions: table 0 for adding, every
    /// table for selecting.
    pub fn new(syntax: FlowSyntax) -> FlowSpec {
        FlowSpec::catch_all(if syntax == FlowSyntax::Add {
            0
        } else {
            TABLE_ALL
        })
    }
}

/// The flow on one line of a flow file, as `ovs-ofctl add-flows` reads it: everything from the
/// first `#` is a comment, and the white space around the rest is dropped. Empty for a blank
/// or comment-only line.
pub fn flow_line(line: &str) -> &str {
    line.split_once('#').map_or(line, |(flow, _)| flow).trim()
}

/// Parses a flow: `[table=N,][priority=N,][cookie=C[/MASK],][idle_timeout=S,][hard_timeout=S,]
/// [out_port=P,]MATCH[,actions=ACTIONS]` per `syntax`.
pub fn parse_flow(
    s: &str,
    names: &dyn PortNames,
    syntax: FlowSyntax,
) -> Result<FlowSpec, OfctlError> {
    let (match_part, actions_part) = split_actions(s);
    let mut spec = FlowSpec::new(syntax);
    let mut b = MatchBuilder::new(names, false);
    let mut cookie_given = false;
    for item in split_items(match_part)? {
        let (key, value) = (item.key, item.value);
        let not_allowed = |why| OfctlError::NotAllowed {
            key: key.to_owned(),
            why,
        };
        if item.delim == Some('(') {
            return Err(OfctlError::syntax(
                key,
                "a match field takes '=VALUE', not '(...)'",
            ));
        }
        let num = |bits| lex::parse_uint_bits(key, value, bits);
        match key {
            "table" => {
                spec.table = if syntax != FlowSyntax::Add && (value == "255" || value == "all") {
                    TABLE_ALL
                } else {
                    action_parse::parse_table(key, value)?
                };
            }
            "priority" => spec.priority = num(16)? as u16,
            "idle_timeout" | "hard_timeout" => {
                if syntax != FlowSyntax::Add {
                    return Err(not_allowed("timeouts are set only when a flow is added"));
                }
                let t = num(16)? as u16;
                if key == "idle_timeout" {
                    spec.idle_timeout = t;
                } else {
                    spec.hard_timeout = t;
                }
            }
            // Given once: a masked cookie (which flows) and a plain one (the value) share
            // `spec.cookie`, so a second `cookie` would mix them.
            "cookie" if cookie_given => {
                return Err(not_allowed("the cookie is given more than once"));
            }
            "cookie" => {
                cookie_given = true;
                match (value.split_once('/'), syntax) {
                    (Some(_), FlowSyntax::Add) => {
                        return Err(not_allowed("a flow to add cannot have a cookie mask"));
                    }
                    (Some((c, m)), _) => {
                        spec.cookie = parse_cookie(key, c)?;
                        spec.cookie_mask = parse_cookie(key, m)?;
                        spec.cookie &= spec.cookie_mask;
                    }
                    (None, FlowSyntax::MatchOnly) => {
                        return Err(not_allowed("select flows by cookie with cookie=VALUE/MASK"));
                    }
                    (None, _) => spec.cookie = num(64)? as u64,
                }
            }
            "send_flow_rem" | "check_overlap" | "reset_counts" | "no_packet_counts"
            | "no_byte_counts"
                if item.delim.is_none() =>
            {
                if syntax == FlowSyntax::MatchOnly {
                    return Err(not_allowed(
                        "flags are set when a flow is added or modified",
                    ));
                }
                spec.flags |= flag_bit(key);
            }
            // What dump-flows prints besides the flow: ignored, as OVS does, so that its
            // output feeds back into add-flows / replace-flows.
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            "out_port" => {
                if syntax != FlowSyntax::MatchOnly {
                    return Err(not_allowed("out_port selects flows to delete or dump"));
                }
                let p = lex::parse_port(value, names)
                    .ok_or_else(|| OfctlError::UnknownPort(value.to_owned()))?;
                spec.out_port = Some(p);
            }
            _ => {
                if !b.item(key, value, item.delim.is_none())? {
                    return Err(OfctlError::UnknownField(key.to_owned()));
                }
            }
        }
    }
    if syntax == FlowSyntax::Add && spec.table == TABLE_ALL {
        return Err(OfctlError::bad_value(
            "table",
            "255",
            "a flow is added to one table (0..254)",
        ));
    }
    spec.m = b.finish()?;
    match (actions_part, syntax) {
        (Some(_), FlowSyntax::MatchOnly) => {
            return Err(OfctlError::NotAllowed {
                key: "actions".into(),
                why: "this command takes only a match",
            });
        }
        (None, FlowSyntax::Add | FlowSyntax::Modify) => return Err(OfctlError::MissingActions),
        (Some(a), _) => {
            spec.actions = action_parse::parse_actions(a, &spec.m, spec.table, names)?;
        }
        (None, FlowSyntax::MatchOnly) => {}
    }
    Ok(spec)
}

/// The `OFPFF_*` bit of a flag keyword (ovs-ofctl's names).
fn flag_bit(key: &str) -> u16 {
    use crate::ofproto::spec::ff;
    match key {
        "send_flow_rem" => ff::SEND_FLOW_REM,
        "check_overlap" => ff::CHECK_OVERLAP,
        "reset_counts" => ff::RESET_COUNTS,
        "no_packet_counts" => ff::NO_PKT_COUNTS,
        "no_byte_counts" => ff::NO_BYT_COUNTS,
        _ => 0,
    }
}

/// The flags as OVS prints them in a flow-stats line: each name followed by a space.
pub fn format_flags(flags: u16) -> String {
    use crate::ofproto::spec::ff;
    let mut s = String::new();
    for (bit, name) in [
        (ff::SEND_FLOW_REM, "send_flow_rem"),
        (ff::CHECK_OVERLAP, "check_overlap"),
        (ff::RESET_COUNTS, "reset_counts"),
        (ff::NO_PKT_COUNTS, "no_packet_counts"),
        (ff::NO_BYT_COUNTS, "no_byte_counts"),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
            s.push(' ');
        }
    }
    s
}

/// A cookie or cookie mask: a 64-bit number, or `-1` for all ones (ovs-ofctl(8)).
fn parse_cookie(key: &str, v: &str) -> Result<u64, OfctlError> {
    if v == "-1" {
        return Ok(u64::MAX);
    }
    Ok(lex::parse_uint_bits(key, v, 64)? as u64)
}

/// Splits at `actions=` / `action=` (at an item boundary): (match, actions).
fn split_actions(s: &str) -> (&str, Option<&str>) {
    let mut from = 0;
    while let Some(i) = s[from..].find("action").map(|i| i + from) {
        let boundary = i == 0 || s[..i].ends_with([',', ' ', '\t', '\r', '\n']);
        let mut j = i + "action".len();
        if s[j..].starts_with('s') {
            j += 1;
        }
        if boundary && s[j..].starts_with(['=', ':']) {
            return (&s[..i], Some(&s[j + 1..]));
        }
        from = i + 1;
    }
    (s, None)
}

/// Prints a spec in add-flow syntax (dump-flows style: `cookie=0x5, table=1, idle_timeout=10,
/// priority=100,tcp,tp_dst=80 actions=output:2`); [`parse_flow`] with [`FlowSyntax::Add`]
/// reads it back.
pub fn format_flow(spec: &FlowSpec, names: &dyn PortNames) -> String {
    format_flow_as(spec, FlowSyntax::Add, names)
}

/// Prints a spec for `syntax` (matching-only syntax has no `actions=`).
pub fn format_flow_as(spec: &FlowSpec, syntax: FlowSyntax, names: &dyn PortNames) -> String {
    let mut s = String::new();
    if spec.cookie != 0 || spec.cookie_mask != 0 {
        s.push_str(&format!("cookie={:#x}", spec.cookie));
        if spec.cookie_mask != 0 {
            s.push_str(&format!("/{:#x}", spec.cookie_mask));
        }
        s.push_str(", ");
    }
    let default_table = if syntax == FlowSyntax::Add {
        0
    } else {
        TABLE_ALL
    };
    if spec.table != default_table {
        s.push_str(&format!("table={}, ", spec.table));
    }
    if spec.idle_timeout != 0 {
        s.push_str(&format!("idle_timeout={}, ", spec.idle_timeout));
    }
    if spec.hard_timeout != 0 {
        s.push_str(&format!("hard_timeout={}, ", spec.hard_timeout));
    }
    if let Some(p) = spec.out_port {
        s.push_str(&format!("out_port={}, ", lex::format_port(p, names)));
    }
    s.push_str(&format_flags(spec.flags));
    let mut m = Vec::new();
    if spec.priority != DEFAULT_PRIORITY {
        m.push(format!("priority={}", spec.priority));
    }
    let fm = format_match(&spec.m, names);
    if !fm.is_empty() {
        m.push(fm);
    }
    s.push_str(&m.join(","));
    if syntax != FlowSyntax::MatchOnly {
        if !m.is_empty() {
            s.push(' ');
        }
        s.push_str("actions=");
        s.push_str(&format_actions(&spec.actions, names));
    }
    s.trim_end_matches([',', ' ']).to_owned()
}

/// The cookie of a spec as dump-flows prints it (`0x0`).
pub fn format_cookie(cookie: u64) -> String {
    format!("{cookie:#x}")
}
