//! Actions of the flow syntax: `actions=mod_nw_tos:32,set_field:0x1->reg0,ct(commit,table=2)`.
//!
//! Parsing checks what OVS's `ofpacts_check` checks: a field set, loaded or moved must be
//! guaranteed by the flow's match (`set_field:80->tp_dst` needs `tcp`, `udp` or `sctp`), `ct`
//! needs IP, `drop` stands alone, `conjunction` goes only with other `conjunction`s, and
//! `goto_table` comes last and goes forward. The match does
//! not change while actions run as far as these checks go, since no action here can write the
//! fields prerequisites look at (`dl_type`, `nw_proto`, ICMP type).

use super::PortNames;
use super::error::OfctlError;
use super::fields::{self, FieldName, Prereq, Syntax};
use super::lex::{self, parse_port, parse_uint, parse_uint_bits, parse_uint_bits_dec, split_items};
use super::subfield::{self, parse_subfield};
use crate::ofproto::action::{CtZone, OfController, OfCt, OfNat, PACKET_IN_REASONS, SetSpelling};
use crate::ofproto::{Match, OfAction, ofpp};
use fastpath::flow::Field;
use fastpath::flow::key::{VLAN_CFI, ethertype};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Highest table number (tables are 0..=254; 255 means "all").
pub(crate) const MAX_TABLE: u8 = 254;

/// Where an action list appears.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Flow,
    /// Inside `ct(exec(...))`: only sets of ct_mark / ct_label.
    CtExec,
}

/// Parses an action list for a flow in `table` matching `m`.
pub(crate) fn parse_actions(
    s: &str,
    m: &Match,
    table: u8,
    names: &dyn PortNames,
) -> Result<Vec<OfAction>, OfctlError> {
    let actions = parse_list(s, m, names, Ctx::Flow)?;
    if actions.is_empty() {
        return Ok(vec![OfAction::Drop]);
    }
    if actions.len() > 1 && actions.contains(&OfAction::Drop) {
        return Err(OfctlError::DropNotAlone);
    }
    super::conj::check_conjunctions(&actions)?;
    super::meter_action::check_meter_first(&actions)?;
    for (i, a) in actions.iter().enumerate() {
        if let OfAction::GotoTable(t) = a {
            if i + 1 != actions.len() {
                return Err(OfctlError::NotLast(format!("goto_table:{t}")));
            }
            // With every table targeted (modify), the tables check each rule's own table.
            if table != super::TABLE_ALL && *t <= table {
                return Err(OfctlError::GotoBackward { target: *t });
            }
        }
    }
    Ok(actions)
}

thread_local! {
    /// Set while parsing a group bucket's actions, which have no match to check against.
    static UNCHECKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Parses a group bucket's actions: as a flow's, but with no prerequisite checks (OVS checks
/// none for buckets; xlate skips a write the packet cannot take) and no table to go to.
pub(crate) fn parse_actions_unchecked(
    s: &str,
    names: &dyn PortNames,
) -> Result<Vec<OfAction>, OfctlError> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            UNCHECKED.with(|u| u.set(false));
        }
    }
    UNCHECKED.with(|u| u.set(true));
    let _reset = Reset;
    let actions = parse_list(s, &Match::CATCHALL, names, Ctx::Flow)?;
    if actions.len() > 1 && actions.contains(&OfAction::Drop) {
        return Err(OfctlError::DropNotAlone);
    }
    super::meter_action::check_no_meter(&actions)?;
    if let Some(OfAction::GotoTable(t)) =
        actions.iter().find(|a| matches!(a, OfAction::GotoTable(_)))
    {
        return Err(OfctlError::bad_action(
            &format!("goto_table:{t}"),
            "a group bucket cannot go to a table (use resubmit)",
        ));
    }
    Ok(actions
        .into_iter()
        .filter(|a| *a != OfAction::Drop)
        .collect())
}

fn parse_list(
    s: &str,
    m: &Match,
    names: &dyn PortNames,
    ctx: Ctx,
) -> Result<Vec<OfAction>, OfctlError> {
    let mut out = Vec::new();
    // VLAN headers the packet is known to carry here, as OVS's action check tracks them.
    let mut vlans = u32::from(m.mask.vlan_tci & m.key.vlan_tci & VLAN_CFI != 0);
    for item in split_items(s)? {
        match item.key {
            "push_vlan" if vlans >= 2 => {
                return Err(OfctlError::bad_action(
                    "push_vlan",
                    "a packet carries at most 2 VLAN headers",
                ));
            }
            "push_vlan" => vlans += 1,
            // (OVS also refuses `pop_vlan`, not `strip_vlan`, without a VLAN in the match;
            // both print as `pop_vlan` here, so that check would break dump-and-restore.)
            "pop_vlan" | "strip_vlan" => vlans = vlans.saturating_sub(1),
            _ => {}
        }
        let acts = match item.key {
            "set_field" => {
                let v = need_value(item.key, item.value, item.delim, "VALUE->FIELD")?;
                subfield::parse_set_field(v, m, names, ctx)?
            }
            "load" => {
                let v = need_value(item.key, item.value, item.delim, "VALUE->FIELD[bits]")?;
                subfield::parse_load(v, m, ctx)?
            }
            "push" | "pop" => {
                let v = need_value(item.key, item.value, item.delim, "FIELD[bits]")?;
                vec![super::stack::parse(item.key == "push", v, m)?]
            }
            "move" => {
                let v = need_value(item.key, item.value, item.delim, "FIELD[bits]->FIELD[bits]")?;
                subfield::parse_move(v, m, ctx)?
            }
            k if super::action_more::is_clone(k, item.delim) => {
                vec![super::action_more::finish_clone(parse_list(
                    item.value, m, names, ctx,
                )?)?]
            }
            _ => vec![parse_one(item.key, item.value, item.delim, m, names)?],
        };
        for a in acts {
            check_ct_exec(&a, item.key, ctx)?;
            out.push(a);
        }
    }
    Ok(out)
}

/// Inside `ct(exec(...))` only writes of `ct_mark` / `ct_label` (set_field, load, move) are
/// allowed.
fn check_ct_exec(a: &OfAction, key: &str, ctx: Ctx) -> Result<(), OfctlError> {
    {
        if ctx == Ctx::CtExec {
            let ok = match a {
                OfAction::SetField { field, .. } => matches!(field, Field::CtMark | Field::CtLabel),
                OfAction::Load { dst, .. } | OfAction::Move { dst, .. } => {
                    matches!(dst.field, Field::CtMark | Field::CtLabel)
                }
                _ => false,
            };
            if !ok {
                return Err(OfctlError::bad_action(
                    "ct",
                    format!(
                        "exec() takes only set_field, load or move to ct_mark or ct_label, not '{key}'"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn need_value<'a>(
    key: &str,
    value: &'a str,
    delim: Option<char>,
    what: &str,
) -> Result<&'a str, OfctlError> {
    if delim.is_none() || value.is_empty() {
        return Err(OfctlError::bad_action(key, format!("needs {what}")));
    }
    Ok(value)
}

fn no_value(key: &str, value: &str, delim: Option<char>) -> Result<(), OfctlError> {
    if delim.is_some() && !value.is_empty() {
        return Err(OfctlError::bad_action(key, "takes no argument"));
    }
    Ok(())
}

pub(super) fn check_prereq(what: &str, p: Prereq, m: &Match) -> Result<(), OfctlError> {
    if p.holds(m) || UNCHECKED.with(|u| u.get()) {
        Ok(())
    } else {
        Err(OfctlError::Prerequisite {
            what: what.to_owned(),
            needs: p.needs(),
        })
    }
}

fn parse_one(
    key: &str,
    value: &str,
    delim: Option<char>,
    m: &Match,
    names: &dyn PortNames,
) -> Result<OfAction, OfctlError> {
    let mod_field =
        |field: Field, prereq: Prereq, syntax: Syntax| -> Result<OfAction, OfctlError> {
            let v = need_value(key, value, delim, "a value")?;
            check_prereq(key, prereq, m)?;
            let value = parse_scalar(key, syntax, field.bits(), v, names)?;
            if field == Field::NwTos && value & 3 != 0 {
                return Err(OfctlError::bad_value(
                    key,
                    v,
                    "the low 2 (ECN) bits must be zero",
                ));
            }
            Ok(OfAction::SetField {
                field,
                value,
                mask: fields::full_mask(field),
                spelling: SetSpelling::Mod,
            })
        };
    match key {
        "drop" => no_value(key, value, delim).map(|_| OfAction::Drop),
        // As OVS's parse_OUTPUT: `output(port=..,max_len=..)` is the truncating form; any
        // other parenthesised argument (`output(2)`) is read as `output:ARG`.
        "output" if delim == Some('(') && value.contains("port") && value.contains("max_len") => {
            super::action_more::parse_output_paren(value, m, names)
        }
        "output" => {
            let v = need_value(key, value, delim, "a port")?;
            match parse_port(v, names) {
                Some(p) => output_to(key, p),
                // Not a port: a field (OVS's `OUTPUT_REG`), whole or `FIELD[bits]`.
                None => match super::action_more::parse_output_reg(v, m) {
                    Err(OfctlError::UnknownField(_)) => Err(OfctlError::UnknownPort(v.to_owned())),
                    r => r,
                },
            }
        }
        "exit" => no_value(key, value, delim).map(|_| OfAction::Exit),
        "note" if delim == Some(':') => super::action_more::parse_note(value),
        "check_pkt_larger" if delim == Some('(') => {
            super::action_more::parse_check_pkt_larger(value)
        }
        "mod_dl_src" => mod_field(Field::DlSrc, Prereq::None, Syntax::Mac),
        "mod_dl_dst" => mod_field(Field::DlDst, Prereq::None, Syntax::Mac),
        "mod_nw_src" => mod_field(Field::NwSrc, Prereq::Ipv4, Syntax::Ipv4),
        "mod_nw_dst" => mod_field(Field::NwDst, Prereq::Ipv4, Syntax::Ipv4),
        "mod_nw_tos" => mod_field(Field::NwTos, Prereq::IpAny, Syntax::Decimal),
        "mod_nw_ecn" => mod_field(Field::NwEcn, Prereq::IpAny, Syntax::Decimal),
        "mod_nw_ttl" => mod_field(Field::NwTtl, Prereq::IpAny, Syntax::Decimal),
        "mod_tp_src" => mod_field(Field::TpSrc, Prereq::L4, Syntax::Decimal),
        "mod_tp_dst" => mod_field(Field::TpDst, Prereq::L4, Syntax::Decimal),
        "mod_vlan_vid" => {
            let v = need_value(key, value, delim, "a VLAN id")?;
            Ok(OfAction::SetVlanVid(parse_uint_bits(key, v, 12)? as u16))
        }
        "mod_vlan_pcp" => {
            let v = need_value(key, value, delim, "a priority")?;
            Ok(OfAction::SetVlanPcp(parse_uint_bits(key, v, 3)? as u8))
        }
        "strip_vlan" | "pop_vlan" => no_value(key, value, delim).map(|_| OfAction::PopVlan),
        "push_vlan" => {
            let v = need_value(key, value, delim, "an ethertype")?;
            let tpid = parse_uint_bits(key, v, 16)? as u16;
            if tpid != ethertype::VLAN && tpid != ethertype::QINQ {
                return Err(OfctlError::bad_value(
                    key,
                    v,
                    "not a VLAN ethertype (0x8100 or 0x88a8)",
                ));
            }
            Ok(OfAction::PushVlan(tpid))
        }
        "dec_ttl" => no_value(key, value, delim).map(|_| OfAction::DecTtl),
        "ct_clear" => no_value(key, value, delim).map(|_| OfAction::CtClear),
        "goto_table" => {
            let v = need_value(key, value, delim, "a table number")?;
            Ok(OfAction::GotoTable(parse_table(key, v)?))
        }
        "resubmit" => parse_resubmit(value, delim, names),
        "conjunction" if delim == Some('(') => super::conj::parse_conjunction(value),
        "conjunction" => Err(OfctlError::bad_action(key, "needs (id,i/n)")),
        "ct" => parse_ct(value, m, names),
        "learn" if delim == Some('(') => super::learn::parse_learn(value, m, names),
        "fin_timeout" if delim == Some('(') => super::learn::parse_fin_timeout(value),
        "learn" | "fin_timeout" => Err(OfctlError::bad_action(key, "needs (...)")),
        "group" => {
            let v = need_value(key, value, delim, "a group number")?;
            let g = lex::parse_uint_bits_dec(key, v, 32)? as u32;
            if g > crate::ofproto::group::OFPG_MAX {
                return Err(OfctlError::bad_value(
                    key,
                    v,
                    "groups are numbered 0..4294967040",
                ));
            }
            Ok(OfAction::Group(g))
        }
        k if k.eq_ignore_ascii_case("controller") => parse_controller(value, delim),
        "meter" => super::meter_action::parse_meter_action(
            key,
            need_value(key, value, delim, "a meter id")?,
        ),
        "enqueue" | "write_metadata" | "clear_actions" | "write_actions" | "set_queue"
        | "push_mpls" | "pop_mpls" => Err(OfctlError::bad_action(
            key,
            "this action is not supported by vswitch",
        )),
        _ if delim.is_none() => match parse_port(key, names) {
            Some(p) => output_to(key, p),
            None => Err(OfctlError::UnknownAction(key.to_owned())),
        },
        _ => Err(OfctlError::UnknownAction(key.to_owned())),
    }
}

/// Output to `p`, with reserved ports mapped to their own actions.
fn output_to(token: &str, p: u32) -> Result<OfAction, OfctlError> {
    Ok(match p {
        ofpp::IN_PORT => OfAction::InPort,
        ofpp::NORMAL => OfAction::Normal,
        ofpp::FLOOD => OfAction::Flood,
        ofpp::ALL => OfAction::All,
        ofpp::LOCAL => OfAction::Local,
        ofpp::CONTROLLER => OfAction::Controller(OfController::new(u16::MAX)),
        ofpp::TABLE | ofpp::ANY => {
            return Err(OfctlError::bad_action(
                token,
                "output to this reserved port is not supported",
            ));
        }
        p if p > ofpp::MAX => {
            return Err(OfctlError::bad_action(
                token,
                format!("port {p} is reserved"),
            ));
        }
        p => OfAction::Output(p),
    })
}

/// `controller`, `controller:MAX_LEN`,
/// `controller(reason=R,max_len=N,id=N,userdata=HEX,pause)`
/// (OVS's `parse_CONTROLLER`).
fn parse_controller(value: &str, delim: Option<char>) -> Result<OfAction, OfctlError> {
    let key = "controller";
    let mut c = OfController::new(u16::MAX);
    let value = value.trim();
    match delim {
        None => {}
        _ if value.is_empty() => {}
        _ if value.bytes().all(|b| b.is_ascii_digit()) => {
            c.max_len = parse_uint_bits_dec("max_len", value, 16)? as u16;
        }
        Some('(') => {
            for item in split_items(value)? {
                let v = item.value.trim();
                match item.key {
                    "reason" => {
                        c.reason =
                            PACKET_IN_REASONS
                                .iter()
                                .position(|r| *r == v)
                                .ok_or_else(|| {
                                    OfctlError::bad_value("reason", v, "not a packet-in reason")
                                })? as u8;
                    }
                    "max_len" => c.max_len = parse_uint_bits("max_len", v, 16)? as u16,
                    "id" => c.id = parse_uint_bits("id", v, 16)? as u16,
                    "userdata" => c.userdata = parse_hex_bytes("userdata", v)?,
                    "pause" => c.pause = true,
                    "meter_id" => c.meter_id = Some(parse_uint_bits("meter_id", v, 32)? as u32),
                    other => {
                        return Err(OfctlError::bad_action(
                            key,
                            format!("unknown key '{other}' in controller()"),
                        ));
                    }
                }
            }
        }
        _ => {
            return Err(OfctlError::bad_value(
                key,
                value,
                "expected a maximum length or (key=value,...)",
            ));
        }
    }
    Ok(OfAction::Controller(c))
}

/// Hex bytes, optionally separated by `.` (OVS's `ofpbuf_put_hex` as `userdata=` uses it).
fn parse_hex_bytes(key: &str, v: &str) -> Result<Vec<u8>, OfctlError> {
    let digits: Vec<u8> = v
        .bytes()
        .filter(|b| *b != b'.' && !b.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(OfctlError::bad_value(
            key,
            v,
            "expected pairs of hex digits",
        ));
    }
    Ok(digits
        .chunks(2)
        .map(|p| {
            let hex = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
            hex(p[0]) << 4 | hex(p[1])
        })
        .collect())
}

pub(crate) fn parse_table(key: &str, v: &str) -> Result<u8, OfctlError> {
    // Base 10, as OVS reads table numbers (`table=010` is table 10).
    let t = parse_uint_bits_dec(key, v, 8)?;
    if t > MAX_TABLE as u128 {
        return Err(OfctlError::bad_value(key, v, "tables are numbered 0..254"));
    }
    Ok(t as u8)
}

fn parse_resubmit(
    value: &str,
    delim: Option<char>,
    names: &dyn PortNames,
) -> Result<OfAction, OfctlError> {
    let key = "resubmit";
    let port_of = |s: &str| -> Result<Option<u32>, OfctlError> {
        if s.is_empty() {
            return Ok(None);
        }
        match parse_port(s, names) {
            Some(ofpp::IN_PORT) => Ok(None),
            Some(p) if p <= ofpp::MAX || p == ofpp::LOCAL => Ok(Some(p)),
            Some(_) => Err(OfctlError::bad_action(
                key,
                format!("cannot resubmit as if from port '{s}'"),
            )),
            None => Err(OfctlError::UnknownPort(s.to_owned())),
        }
    };
    let (port, table) = match delim {
        Some(':') => (port_of(value)?, None),
        Some('(') => {
            let mut parts = value.split(',');
            let p = parts.next().unwrap_or("").trim();
            let t = parts.next().unwrap_or("").trim();
            if parts.next().is_some() {
                return Err(OfctlError::bad_action(
                    key,
                    "takes (PORT,TABLE); the ct form is not supported",
                ));
            }
            let table = if t.is_empty() {
                None
            } else {
                Some(parse_table(key, t)?)
            };
            (port_of(p)?, table)
        }
        _ => return Err(OfctlError::bad_action(key, "needs :PORT or (PORT,TABLE)")),
    };
    if port.is_none() && table.is_none() {
        return Err(OfctlError::bad_action(
            key,
            "at least one of port or table must be given",
        ));
    }
    Ok(OfAction::Resubmit { port, table })
}

/// Parses one value of `syntax` for `field` (no mask).
fn parse_scalar(
    key: &str,
    syntax: Syntax,
    bits: u32,
    v: &str,
    names: &dyn PortNames,
) -> Result<u128, OfctlError> {
    match syntax {
        Syntax::Mac => lex::parse_mac(v)
            .ok_or_else(|| OfctlError::bad_value(key, v, "not an Ethernet address")),
        Syntax::Ipv4 => v
            .parse::<Ipv4Addr>()
            .map(|a| u32::from(a) as u128)
            .map_err(|_| OfctlError::bad_value(key, v, "not an IPv4 address")),
        Syntax::Ipv6 => v
            .parse::<Ipv6Addr>()
            .map(u128::from)
            .map_err(|_| OfctlError::bad_value(key, v, "not an IPv6 address")),
        Syntax::Port => parse_port(v, names)
            .map(|p| p as u128)
            .ok_or_else(|| OfctlError::UnknownPort(v.to_owned())),
        _ => parse_uint_bits(key, v, bits),
    }
}

/// Parses `V[/M]` for `desc`'s syntax; IPv4/IPv6 masks may be prefix lengths.
pub(super) fn parse_masked(
    key: &str,
    desc: &FieldName,
    v: &str,
    names: &dyn PortNames,
) -> Result<(u128, u128), OfctlError> {
    let full = desc.full_mask();
    let (value, mask) = match desc.syntax {
        Syntax::Ipv4 => {
            let (a, m) = lex::parse_ipv4_masked(key, v)?;
            (a as u128, m as u128)
        }
        Syntax::Ipv6 => lex::parse_ipv6_masked(key, v)?,
        _ => match v.split_once('/') {
            Some((a, m)) => (
                parse_scalar(key, desc.syntax, desc.bits(), a, names)?,
                parse_scalar(key, desc.syntax, desc.bits(), m, names)?,
            ),
            None => (parse_scalar(key, desc.syntax, desc.bits(), v, names)?, full),
        },
    };
    // `in_port` names the 16-bit field, but a port number written whole sets all of it.
    let (mask, full) = if desc.field == Field::InPort && mask == full {
        (desc.field.max_value(), desc.field.max_value())
    } else {
        (mask, full)
    };
    if mask != full && !desc.maskable {
        return Err(OfctlError::bad_value(key, v, "this field cannot be masked"));
    }
    if (value | mask) & !full != 0 {
        return Err(OfctlError::bad_value(key, v, "sets bits outside the field"));
    }
    Ok((value & mask, mask))
}

/// A field an action writes: known, writable here, prerequisites met.
pub(super) fn dst_field(
    what: &str,
    name: &str,
    m: &Match,
    ctx: Ctx,
) -> Result<FieldName, OfctlError> {
    let desc = fields::lookup(name).ok_or_else(|| OfctlError::UnknownField(name.to_owned()))?;
    let ct_field = matches!(desc.field, Field::CtMark | Field::CtLabel);
    if ct_field && ctx != Ctx::CtExec {
        return Err(OfctlError::bad_action(
            what,
            format!("{name} can be set only inside ct(commit,exec(...))"),
        ));
    }
    if !ct_field && !fields::writable(desc.field) {
        return Err(OfctlError::bad_action(what, format!("{name} is read-only")));
    }
    let prereq = action_prereq(&desc);
    check_prereq(&format!("{what}->{name}"), prereq, m)?;
    Ok(desc)
}

/// The prerequisite of a field named in an action: as in a match, except that the ICMP
/// type/code names serve ICMPv4 and ICMPv6 alike (one storage, one printed name), and
/// `nw_src`/`nw_dst` name the IPv4 addresses only (an ARP flow writes `arp_spa`/`arp_tpa`),
/// as OVS's set_field does.
pub(super) fn action_prereq(desc: &FieldName) -> Prereq {
    match desc.prereq {
        Prereq::Icmp | Prereq::Icmpv6 => Prereq::IcmpAny,
        Prereq::Ipv4OrArp => Prereq::Ipv4,
        p => p,
    }
}

pub(super) fn split_arrow<'a>(what: &str, v: &'a str) -> Result<(&'a str, &'a str), OfctlError> {
    v.rsplit_once("->")
        .ok_or_else(|| OfctlError::bad_action(what, format!("'{v}' lacks '->'")))
}

fn parse_ct(value: &str, m: &Match, names: &dyn PortNames) -> Result<OfAction, OfctlError> {
    let bad = |why: String| OfctlError::bad_action("ct", why);
    let mut ct = OfCt {
        commit: false,
        zone: CtZone::Imm(0),
        table: None,
        nat: None,
        exec: Vec::new(),
    };
    for item in split_items(value)? {
        match (item.key, item.delim) {
            ("commit", None) => ct.commit = true,
            ("zone", Some('=' | ':')) => {
                ct.zone = match parse_uint(item.value) {
                    Some(z) if z <= u16::MAX as u128 => CtZone::Imm(z as u16),
                    Some(_) => {
                        return Err(OfctlError::bad_value(
                            "zone",
                            item.value,
                            "zones are 0..65535",
                        ));
                    }
                    None => {
                        let (desc, sub) = parse_subfield(item.value)?;
                        check_prereq(&format!("ct(zone={})", item.value), action_prereq(&desc), m)?;
                        if sub.n_bits() != 16 {
                            return Err(OfctlError::bad_value(
                                "zone",
                                item.value,
                                "a zone field must be 16 bits",
                            ));
                        }
                        CtZone::Field(sub)
                    }
                }
            }
            ("table", Some('=' | ':')) => ct.table = Some(parse_table("table", item.value)?),
            ("nat", None) => ct.nat = Some(OfNat::default()),
            ("nat", Some('(')) => ct.nat = Some(parse_nat(item.value)?),
            ("exec", Some('(')) => ct.exec = parse_list(item.value, m, names, Ctx::CtExec)?,
            ("force" | "alg", _) => {
                return Err(bad(format!("'{}' is not supported by vswitch", item.key)));
            }
            (k, _) => return Err(bad(format!("unknown argument '{k}'"))),
        }
    }
    check_prereq("ct", Prereq::IpAny, m)?;
    if !ct.exec.is_empty() && !ct.commit {
        return Err(bad(
            "setting ct_mark or ct_label in exec() requires commit".into()
        ));
    }
    if let Some(OfNat {
        addrs: Some((a, _)),
        ..
    }) = &ct.nat
    {
        let (p, fam) = match a {
            IpAddr::V4(_) => (Prereq::Ipv4, "an IPv4"),
            IpAddr::V6(_) => (Prereq::Ipv6, "an IPv6"),
        };
        check_prereq(&format!("ct(nat) with {fam} address"), p, m)?;
    }
    Ok(OfAction::Ct(ct))
}

fn parse_nat(value: &str) -> Result<OfNat, OfctlError> {
    let bad = |why: String| OfctlError::bad_action("ct", format!("nat: {why}"));
    let mut nat = OfNat::default();
    for item in split_items(value)? {
        let src = match item.key {
            "src" => true,
            "dst" => false,
            "persistent" | "hash" | "random" => {
                return Err(bad(format!("'{}' is not supported by vswitch", item.key)));
            }
            k => return Err(bad(format!("unknown argument '{k}'"))),
        };
        if nat.src.is_some() {
            return Err(bad("give only one of src and dst".into()));
        }
        nat.src = Some(src);
        match item.delim {
            None => {}
            Some('=') => {
                let (addrs, ports) = parse_nat_range(item.value).map_err(bad)?;
                nat.addrs = Some(addrs);
                nat.ports = ports;
            }
            _ => {
                return Err(bad(format!(
                    "expected {}=ADDR[-ADDR][:PORT[-PORT]]",
                    item.key
                )));
            }
        }
    }
    Ok(nat)
}

type NatRange = ((IpAddr, IpAddr), Option<(u16, u16)>);

/// `IP[-IP][:PORT[-PORT]]`, IPv6 addresses optionally in brackets (required with ports).
fn parse_nat_range(s: &str) -> Result<NatRange, String> {
    let (addr_part, port_part) = if s.starts_with('[') {
        // [a]-[b]:p-q
        let close = s.rfind(']').ok_or("missing ']'")?;
        let tail = &s[close + 1..];
        let ports = match tail {
            "" => None,
            t => Some(t.strip_prefix(':').ok_or("expected ':' after ']'")?),
        };
        (&s[..=close], ports)
    } else if s.matches(':').count() > 1 {
        (s, None) // bare IPv6, no ports
    } else {
        match s.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        }
    };
    let unbracket = |a: &str| {
        a.strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(a)
            .to_owned()
    };
    let (lo, hi) = match split_range(addr_part) {
        Some((a, b)) => (unbracket(a), unbracket(b)),
        None => (unbracket(addr_part), unbracket(addr_part)),
    };
    let lo: IpAddr = lo
        .parse()
        .map_err(|_| format!("'{lo}' is not an IP address"))?;
    let hi: IpAddr = hi
        .parse()
        .map_err(|_| format!("'{hi}' is not an IP address"))?;
    if lo.is_ipv4() != hi.is_ipv4() {
        return Err("address range mixes IPv4 and IPv6".into());
    }
    if lo > hi {
        return Err(format!("address range {lo}-{hi} is empty"));
    }
    let ports = match port_part {
        None => None,
        Some(p) => {
            let (a, b) = p.split_once('-').unwrap_or((p, p));
            let a: u16 = a.parse().map_err(|_| format!("bad port '{a}'"))?;
            let b: u16 = b.parse().map_err(|_| format!("bad port '{b}'"))?;
            if a == 0 || a > b {
                return Err(format!("port range {a}-{b} is empty or starts at 0"));
            }
            Some((a, b))
        }
    };
    Ok(((lo, hi), ports))
}

/// Splits `a-b` at the range dash (the one outside brackets).
fn split_range(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '-' if depth == 0 => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::{NameMap, NoNames};
    use crate::ofproto::SubField;
    use fastpath::flow::key::ipproto;

    fn tcp() -> Match {
        let mut m = Match::CATCHALL;
        m.set_field(Field::DlType, ethertype::IPV4 as u128);
        m.set_field(Field::NwProto, ipproto::TCP as u128);
        m
    }

    fn p(s: &str) -> Result<Vec<OfAction>, OfctlError> {
        parse_actions(s, &tcp(), 0, &NoNames)
    }

    #[test]
    fn outputs_and_reserved_ports() {
        assert_eq!(
            p("output:1,2,NORMAL,flood,all,local,in_port").unwrap(),
            vec![
                OfAction::Output(1),
                OfAction::Output(2),
                OfAction::Normal,
                OfAction::Flood,
                OfAction::All,
                OfAction::Local,
                OfAction::InPort
            ]
        );
        let names = NameMap::from_pairs([("vm1", 5)]);
        assert_eq!(
            parse_actions("vm1,output:vm1", &tcp(), 0, &names).unwrap(),
            vec![OfAction::Output(5), OfAction::Output(5)]
        );
        assert_eq!(
            p("outptu:1").unwrap_err().to_string(),
            "unknown action 'outptu'"
        );
        assert_eq!(p("vm9").unwrap_err().to_string(), "unknown action 'vm9'");
        assert_eq!(
            p("output:vm9").unwrap_err().to_string(),
            "unknown port 'vm9'"
        );
    }

    #[test]
    fn drop_alone_and_goto_last_and_forward() {
        assert_eq!(p("drop").unwrap(), vec![OfAction::Drop]);
        assert_eq!(p("").unwrap(), vec![OfAction::Drop]);
        assert_eq!(p("drop,1").unwrap_err(), OfctlError::DropNotAlone);
        assert_eq!(p("goto_table:1").unwrap(), vec![OfAction::GotoTable(1)]);
        assert_eq!(
            parse_actions("goto_table:0", &tcp(), 0, &NoNames)
                .unwrap_err()
                .to_string(),
            "goto_table:0 must go to a later table"
        );
        assert_eq!(
            p("goto_table:2,output:1").unwrap_err().to_string(),
            "'goto_table:2' must be the last action"
        );
        assert!(p("goto_table:255").is_err());
    }

    #[test]
    fn field_setting_actions() {
        assert_eq!(
            p("mod_nw_tos:32,set_field:0x1->reg0,load:0x5->reg1[0..15],move:reg0[0..15]->reg2[16..31]").unwrap(),
            vec![
                OfAction::SetField {
                    field: Field::NwTos,
                    value: 32,
                    mask: 0xfc,
                    spelling: SetSpelling::Mod
                },
                OfAction::SetField {
                    field: Field::Reg(0),
                    value: 1,
                    mask: 0xffff_ffff,
                    spelling: SetSpelling::SetField
                },
                OfAction::Load {
                    value: 5,
                    dst: SubField {
                        field: Field::Reg(1),
                        start: 0,
                        end: 15
                    }
                },
                OfAction::Move {
                    src: SubField {
                        field: Field::Reg(0),
                        start: 0,
                        end: 15
                    },
                    dst: SubField {
                        field: Field::Reg(2),
                        start: 16,
                        end: 31
                    }
                },
            ]
        );
        assert_eq!(
            p("set_field:10.0.0.0/8->nw_dst").unwrap(),
            vec![OfAction::SetField {
                field: Field::NwDst,
                value: 0x0a00_0000,
                mask: 0xff00_0000,
                spelling: SetSpelling::SetField
            }]
        );
        assert!(p("load:0x10000->reg0[0..15]").is_err());
        assert!(p("load:1->NXM_NX_REG0[]").is_ok());
        let e = p("move:reg0[0..15]->reg1[0..7]").unwrap_err().to_string();
        assert!(e.contains("16 bits") && e.contains("has 8"), "{e}");
        let e = parse_actions("set_field:80->tp_dst", &Match::CATCHALL, 0, &NoNames).unwrap_err();
        assert_eq!(e.to_string(), "set_field->tp_dst requires tcp, udp or sctp");
        let mut arp = Match::CATCHALL;
        arp.set_field(Field::DlType, ethertype::ARP as u128);
        assert!(parse_actions("set_field:1.2.3.4->nw_src", &arp, 0, &NoNames).is_err());
        assert!(parse_actions("set_field:1.2.3.4->arp_spa", &arp, 0, &NoNames).is_ok());
        let e = p("set_field:1->nw_proto").unwrap_err().to_string();
        assert!(e.contains("read-only"), "{e}");
        assert!(p("set_field:1->ct_mark").is_err());
        assert!(p("mod_nw_tos:33").is_err());
        assert!(p("mod_vlan_vid:4096").is_err());
        assert!(p("push_vlan:0x800").is_err());
        assert_eq!(
            p("push_vlan:0x8100,mod_vlan_vid:10,mod_vlan_pcp:3,strip_vlan,pop_vlan")
                .unwrap()
                .len(),
            5
        );
    }

    #[test]
    fn resubmit_forms() {
        assert_eq!(
            p("resubmit(,2),resubmit(3,4),resubmit:5,resubmit(6,)").unwrap(),
            vec![
                OfAction::Resubmit {
                    port: None,
                    table: Some(2)
                },
                OfAction::Resubmit {
                    port: Some(3),
                    table: Some(4)
                },
                OfAction::Resubmit {
                    port: Some(5),
                    table: None
                },
                OfAction::Resubmit {
                    port: Some(6),
                    table: None
                },
            ]
        );
        assert!(p("resubmit(,)").is_err());
        assert!(p("resubmit:in_port").is_err());
    }

    #[test]
    fn ct_forms() {
        let a = p("ct(commit,zone=5,table=3,nat(src=10.0.0.1-10.0.0.9:1000-2000),exec(set_field:0x1->ct_mark))").unwrap();
        let OfAction::Ct(ct) = &a[0] else { panic!() };
        assert!(ct.commit);
        assert_eq!(ct.zone, CtZone::Imm(5));
        assert_eq!(ct.table, Some(3));
        let nat = ct.nat.unwrap();
        assert_eq!(nat.src, Some(true));
        assert_eq!(nat.ports, Some((1000, 2000)));
        assert_eq!(ct.exec.len(), 1);
        let a = p("ct(zone=reg0[0..15]),ct_clear").unwrap();
        assert!(matches!(
            &a[0],
            OfAction::Ct(OfCt {
                zone: CtZone::Field(_),
                ..
            })
        ));
        assert_eq!(a[1], OfAction::CtClear);
        assert!(p("ct(zone=reg0[0..7])").is_err());
        assert!(
            p("ct(exec(set_field:1->ct_mark))").is_err(),
            "exec needs commit"
        );
        assert!(p("ct(commit,exec(output:1))").is_err());
        assert!(
            p("ct(commit,nat(dst=[fd00::1]-[fd00::9]:80))").is_err(),
            "IPv6 NAT in IPv4 flow"
        );
        let e = parse_actions("ct(commit)", &Match::CATCHALL, 0, &NoNames).unwrap_err();
        assert_eq!(e.to_string(), "ct requires ip or ipv6");
        let mut m6 = Match::CATCHALL;
        m6.set_field(Field::DlType, ethertype::IPV6 as u128);
        let a = parse_actions(
            "ct(commit,nat(dst=[fd00::1]-[fd00::9]:80))",
            &m6,
            0,
            &NoNames,
        )
        .unwrap();
        let OfAction::Ct(ct) = &a[0] else { panic!() };
        assert_eq!(
            ct.nat.unwrap().addrs,
            Some(("fd00::1".parse().unwrap(), "fd00::9".parse().unwrap()))
        );
        assert!(parse_actions("ct(nat(src=fd00::1-fd00::2))", &m6, 0, &NoNames).is_ok());
        assert!(p("ct(nat(src=10.0.0.9-10.0.0.1))").is_err());
        assert!(p("ct(nat(src,dst))").is_err());
    }
}
