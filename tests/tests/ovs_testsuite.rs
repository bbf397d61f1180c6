//! OVS's own test suite as a second oracle (issue 13, part 2).
//!
//! `tests/ovs-testsuite/convert.py` extracts from OVS 3.1's `tests/ofproto-dpif.at` the cases an
//! offline trace can express (a flow table, the ports `add_of_ports` made, one `ofproto/trace`
//! packet, and the `Megaflow:` / `Datapath actions:` lines OVS checked), and from
//! `tests/ovs-ofctl.at` the flow-parsing cases (a flow and the flow-mod OVS printed for it, or a
//! flow OVS rejects). This test runs each through our offline trace and flow parser.
//!
//! The verdict is kept honest both ways by `tests/ovs-testsuite/UNSUPPORTED.md`: a case that
//! fails must have a row there (the missing feature, or `bug: ...`), and a case with a row must
//! still fail — so a fix shows up as a row to delete, never as silence.
//!
//! Port numbering: OVS's `add_of_ports br0 1 10 11` makes ports p1, p10, p11 whose OpenFlow
//! and datapath numbers are both the number in the name; our offline bridge has ports p1..pN
//! with the same property, so the case runs with N = the largest port. (Ports OVS did not
//! create then exist in ours too, which only flooding could tell; no converted case floods
//! on a bridge with such gaps.)

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use vswitchd::ofctl::{
    FlowSpec, FlowSyntax, NoNames, format_flow, format_match, format_packet, parse_flow,
};
use vswitchd::trace::offline_trace;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ovs-testsuite");

fn load(name: &str) -> Vec<Value> {
    let path = format!("{DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    v["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no cases"))
        .clone()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// Runs one dpif case: a trace check or a megaflow check.
fn run_dpif_case(c: &Value) -> Result<(), String> {
    if c["kind"] == "megaflows" {
        run_megaflow_case(c)
    } else {
        run_trace_case(c)
    }
}

/// The case's table, port count and `--ct-next` states.
fn setup(c: &Value) -> Result<(String, u32, Vec<String>), String> {
    if c["groups"].as_array().is_some_and(|g| !g.is_empty()) {
        return Err("groups: the offline trace takes no group table".into());
    }
    let n_ports = c["ports"]
        .as_array()
        .and_then(|p| p.iter().filter_map(Value::as_u64).max())
        .unwrap_or(0) as u32;
    let flows: Vec<&str> = c["flows"]
        .as_array()
        .map(|f| f.iter().map(s).collect())
        .unwrap_or_default();
    let ct_next: Vec<String> = c["ct_next"]
        .as_array()
        .map(|v| v.iter().map(|x| s(x).to_owned()).collect())
        .unwrap_or_default();
    Ok((flows.join("\n"), n_ports, ct_next))
}

/// Runs one trace case: `Ok(())` when our offline trace gives OVS's result.
fn run_trace_case(c: &Value) -> Result<(), String> {
    let (flows, n_ports, ct_next) = setup(c)?;
    let report = offline_trace(&flows, n_ports, s(&c["packet"]), &ct_next)
        .map_err(|e| format!("trace refused: {e}"))?;
    // OVS's `tail -1 stdout` is the last pass's line.
    let last = report.passes.last().ok_or("no datapath pass")?;
    let want_actions = s(&c["expect"]["actions"]);
    let mut diffs = Vec::new();
    if last.datapath_actions != want_actions {
        diffs.push(format!(
            "actions {:?}, OVS {:?}",
            last.datapath_actions, want_actions
        ));
    }
    if let Some(want_mf) = c["expect"]["megaflow"].as_str() {
        let got = last.megaflow.as_deref().unwrap_or("(none)");
        // A single-pass megaflow may differ from OVS's where probes show it sound.
        let sound = || -> Result<(), String> {
            if report.passes.len() != 1 || !ct_next.is_empty() {
                return Err("differs (after recirculation: not probed)".into());
            }
            let pkt = parse_items(s(&c["packet"]).split(','))?;
            let ours = parse_items(got.split(','))?;
            let theirs = parse_items(want_mf.split(','))?;
            probe_wider(
                &flows,
                n_ports,
                &pkt,
                &ours,
                &theirs,
                std::slice::from_ref(&last.datapath_actions),
            )
        };
        if got != want_mf
            && let Err(why) = sound()
        {
            diffs.push(format!("megaflow {got:?}, OVS {want_mf:?}: {why}"));
        }
    }
    match (&last.error, c["expect"]["error"].as_str()) {
        (Some(e), None) => diffs.push(format!("translation error: {e}")),
        (None, Some(w)) => diffs.push(format!("translated; OVS fails with {w:?}")),
        // Our error messages are our own; that translation fails is what OVS checks.
        _ => {}
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Runs one megaflow case: the packets OVS received, in order, and the megaflows its datapath
/// installed for them (with their actions where OVS's test kept them).
///
/// Per packet, our first-pass megaflow must match the packet and be OVS's megaflow for that
/// packet or wider (DESIGN §2 allows wider): a subset of OVS's mask bits with the same values.
/// Where it is wider, each bit OVS matches and we do not is probed: the packet with that bit
/// flipped must translate to the same datapath actions, or the wider megaflow is unsound.
/// Later passes (after recirculation) must appear among OVS's megaflows as they are. And we
/// may install no more megaflows than OVS did.
fn run_megaflow_case(c: &Value) -> Result<(), String> {
    let (flows, n_ports, _) = setup(c)?;
    let trace_all = |pkt: &str| -> Result<Vec<(String, String)>, String> {
        let report = offline_trace(&flows, n_ports, pkt, &[])
            .map_err(|e| format!("trace of {pkt} refused: {e}"))?;
        Ok(report
            .passes
            .iter()
            .map(|p| {
                let mf = p.megaflow.clone().unwrap_or_default();
                (mf, p.datapath_actions.clone())
            })
            .collect())
    };
    let mut want: Vec<(Fields, Option<&str>)> = Vec::new();
    for m in c["expect_megaflows"].as_array().into_iter().flatten() {
        let items = m["match"].as_array().into_iter().flatten().map(s);
        want.push((parse_items(items)?, m["actions"].as_str()));
    }
    let n_first_ovs = want.iter().filter(|(f, _)| is_first_pass(f)).count();
    let mut installed: Vec<Fields> = Vec::new();
    let mut diffs = Vec::new();
    for p in c["packets"].as_array().into_iter().flatten() {
        let pkt = parse_items(s(p).split(','))?;
        let passes = trace_all(s(p))?;
        for (i, (mf, acts)) in passes.iter().enumerate() {
            let ours = parse_items(mf.split(','))?;
            if i > 0 {
                if !want.iter().any(|(w, _)| *w == ours) {
                    diffs.push(format!("our recirculated megaflow {mf} not OVS's"));
                }
                continue;
            }
            if !matches(&ours, &pkt) {
                diffs.push(format!(
                    "our megaflow {mf} does not match its packet {}",
                    s(p)
                ));
                continue;
            }
            if !installed.iter().any(|m| matches(m, &pkt)) {
                installed.push(ours.clone());
            }
            let Some((theirs, their_acts)) = want
                .iter()
                .find(|(w, _)| is_first_pass(w) && matches(w, &pkt))
            else {
                diffs.push(format!("no OVS megaflow matches packet {}", s(p)));
                continue;
            };
            if let Some(w) = their_acts.filter(|w| w != acts) {
                diffs.push(format!("actions for {} {acts:?}, OVS {w:?}", s(p)));
            }
            if ours == *theirs {
                continue;
            }
            let actions: Vec<String> = passes.iter().map(|p| p.1.clone()).collect();
            if let Err(why) = probe_wider(&flows, n_ports, &pkt, &ours, theirs, &actions) {
                diffs.push(format!("our megaflow {mf}: {why}"));
            }
        }
    }
    if installed.len() > n_first_ovs {
        diffs.push(format!(
            "{} megaflows installed, OVS {n_first_ovs}",
            installed.len()
        ));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// First-pass megaflows that differ from OVS's and passed the probes (reported, not failed).
static DIFFERENT_SOUND: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ip4,
    Ip6,
    Mac,
    Int,
    Frag,
}

/// A field's value and mask (value bits outside the mask are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bits {
    kind: Kind,
    value: u128,
    mask: u128,
}

/// Checks a first-pass megaflow `ours` that differs from OVS's `theirs` for packet `pkt`:
/// each bit OVS matches and we do not, flipped in the packet, must translate to the same
/// datapath actions (`actions`, one per pass), or the difference is unsound.
fn probe_wider(
    flows: &str,
    n_ports: u32,
    pkt: &Fields,
    ours: &Fields,
    theirs: &Fields,
    actions: &[String],
) -> Result<(), String> {
    if !matches(ours, pkt) {
        return Err("does not match its own packet".into());
    }
    let bits =
        extra_bits(ours, theirs).map_err(|why| format!("vs OVS {}: {why}", show_fields(theirs)))?;
    for (field, bit) in bits {
        let mut probe = pkt.clone();
        let b = probe.entry(field.clone()).or_insert(Bits {
            kind: theirs[&field].kind,
            value: 0,
            mask: u128::MAX,
        });
        b.value ^= bit;
        let probe_pkt = format_fields(&probe);
        let report = offline_trace(flows, n_ports, &probe_pkt, &[])
            .map_err(|e| format!("probe {probe_pkt} refused: {e}"))?;
        let got: Vec<&String> = report.passes.iter().map(|p| &p.datapath_actions).collect();
        if got.iter().copied().ne(actions.iter()) {
            return Err(format!(
                "unsound: {probe_pkt} matches it but translates to {got:?}, not {actions:?}"
            ));
        }
    }
    DIFFERENT_SOUND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Match items by canonical field name.
type Fields = BTreeMap<String, Bits>;

fn is_first_pass(f: &Fields) -> bool {
    f.get("recirc_id").is_none_or(|b| b.value == 0)
}

/// Whether megaflow `m` matches packet `p` (fields a packet does not mention are zero).
fn matches(m: &Fields, p: &Fields) -> bool {
    m.iter().all(|(k, b)| {
        let pv = p.get(k).map_or(0, |x| x.value);
        (pv ^ b.value) & b.mask == 0
    })
}

/// The bits OVS's megaflow matches and ours does not, to probe (at most 8 per field, spread
/// from the highest to the lowest), or why ours cannot be probed. Bits we match and OVS does
/// not make ours narrower there, which is always sound (the megaflow count check covers the
/// cost), so only the bits we leave out need probing.
fn extra_bits(ours: &Fields, theirs: &Fields) -> Result<Vec<(String, u128)>, String> {
    let mut bits = Vec::new();
    for (k, t) in theirs {
        let extra = t.mask & !ours.get(k).map_or(0, |b| b.mask);
        if extra == 0 {
            continue;
        }
        // A different dl_type or fragment type is another kind of packet, which the probe's
        // flow syntax cannot always express; other fields can take any value.
        if matches!(t.kind, Kind::Frag) || k == "dl_type" {
            return Err(format!("OVS matches {k}, we do not"));
        }
        let all: Vec<u128> = (0..128u32)
            .rev()
            .map(|i| 1u128 << i)
            .filter(|bit| extra & bit != 0)
            .collect();
        let step = all.len().div_ceil(8).max(1);
        let mut pick: Vec<u128> = all.iter().copied().step_by(step).collect();
        if let Some(low) = all.last().filter(|l| !pick.contains(l)) {
            pick.push(*low);
        }
        bits.extend(pick.into_iter().map(|bit| (k.clone(), bit)));
    }
    Ok(bits)
}

/// Parses match or packet items (`tcp`, `nw_src=10.0.0.0/24`, `icmp_type=8`, ...): protocol
/// shorthands become `dl_type` / `nw_proto`, ICMP type and code `tp_src` / `tp_dst`.
fn parse_items<'a>(items: impl Iterator<Item = &'a str>) -> Result<Fields, String> {
    let mut out = Fields::new();
    let int = |v: u128, m: u128| Bits {
        kind: Kind::Int,
        value: v,
        mask: m,
    };
    for item in items.map(str::trim).filter(|i| !i.is_empty()) {
        let (dl, proto) = match item {
            "eth" => continue,
            "ip" => (0x800, None),
            "ipv6" => (0x86dd, None),
            "arp" => (0x806, None),
            "rarp" => (0x8035, None),
            "tcp" => (0x800, Some(6)),
            "udp" => (0x800, Some(17)),
            "sctp" => (0x800, Some(132)),
            "icmp" => (0x800, Some(1)),
            "tcp6" => (0x86dd, Some(6)),
            "udp6" => (0x86dd, Some(17)),
            "sctp6" => (0x86dd, Some(132)),
            "icmp6" => (0x86dd, Some(58)),
            _ => {
                let (k, v) = item
                    .split_once('=')
                    .ok_or_else(|| format!("cannot read match item {item:?}"))?;
                let k = match k {
                    "icmp_type" | "icmpv6_type" => "tp_src",
                    "icmp_code" | "icmpv6_code" => "tp_dst",
                    "eth_src" => "dl_src",
                    "eth_dst" => "dl_dst",
                    "eth_type" => "dl_type",
                    "ip_src" => "nw_src",
                    "ip_dst" => "nw_dst",
                    k => k,
                };
                let b = parse_value(k, v).ok_or_else(|| format!("cannot read {item:?}"))?;
                out.insert(k.to_owned(), b);
                continue;
            }
        };
        out.insert("dl_type".into(), int(dl, 0xffff));
        if let Some(p) = proto {
            out.insert("nw_proto".into(), int(p, 0xff));
        }
    }
    Ok(out)
}

fn parse_value(field: &str, v: &str) -> Option<Bits> {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let bits = |kind, value: u128, mask: u128| {
        Some(Bits {
            kind,
            value: value & mask,
            mask,
        })
    };
    if field == "nw_frag" {
        let (value, mask) = match v {
            "no" => (0, 3),
            "first" => (1, 3),
            "later" => (3, 3),
            "yes" => (1, 1),
            "not_later" => (0, 2),
            _ => return None,
        };
        return bits(Kind::Frag, value, mask);
    }
    if field == "ct_state" {
        const NAMES: [&str; 8] = ["new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat"];
        let (mut value, mut mask) = (0, 0);
        let mut rest = v;
        while let Some(sign) = rest.chars().next() {
            let end = rest[1..].find(['+', '-']).map_or(rest.len(), |i| i + 1);
            let name = &rest[1..end];
            let i = NAMES.iter().position(|n| *n == name)?;
            mask |= 1 << i;
            if sign == '+' {
                value |= 1 << i;
            }
            rest = &rest[end..];
        }
        return bits(Kind::Int, value, mask);
    }
    let (val, mask) = match v.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (v, None),
    };
    let prefix = |m: &str, width: u32| {
        m.parse::<u32>()
            .ok()
            .filter(|len| *len <= width)
            .map(|len| (u128::MAX >> (128 - width)) & !((1u128 << (width - len)) - 1))
    };
    if let Ok(a) = val.parse::<Ipv4Addr>() {
        let m = match mask {
            None => u32::MAX as u128,
            Some(m) => m
                .parse::<Ipv4Addr>()
                .map(|d| u32::from(d) as u128)
                .ok()
                .or_else(|| prefix(m, 32))?,
        };
        return bits(Kind::Ip4, u32::from(a) as u128, m);
    }
    if let Ok(a) = val.parse::<Ipv6Addr>() {
        let m = match mask {
            None => u128::MAX,
            Some(m) => m.parse::<Ipv6Addr>().map(u128::from).ok().or_else(|| {
                if m == "128" {
                    Some(u128::MAX)
                } else {
                    prefix(m, 127)
                }
            })?,
        };
        return bits(Kind::Ip6, u128::from(a), m);
    }
    let mac = |x: &str| {
        let parts: Vec<&str> = x.split(':').collect();
        (parts.len() == 6)
            .then(|| {
                parts.iter().try_fold(0u128, |acc, p| {
                    Some(acc << 8 | u8::from_str_radix(p, 16).ok()? as u128)
                })
            })
            .flatten()
    };
    if let Some(a) = mac(val) {
        let m = match mask {
            None => (1u128 << 48) - 1,
            Some(m) => mac(m)?,
        };
        return bits(Kind::Mac, a, m);
    }
    let num = |x: &str| match x.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => x.parse::<u128>().ok(),
    };
    let full = full_mask(field);
    let m = match mask {
        None => full,
        Some(m) => num(m)?,
    };
    bits(Kind::Int, num(val)?, m)
}

/// Every bit of a numeric field.
fn full_mask(field: &str) -> u128 {
    match field {
        "nw_tos" => 0xfc,
        "nw_ecn" => 0x3,
        "nw_proto" | "nw_ttl" | "dl_vlan_pcp" => 0xff,
        "tp_src" | "tp_dst" | "dl_type" | "arp_op" | "dl_vlan" | "vlan_tci" | "ct_zone" => 0xffff,
        "ipv6_label" => 0xf_ffff,
        "metadata" | "tun_id" => u64::MAX as u128,
        "ct_label" => u128::MAX,
        _ => u32::MAX as u128,
    }
}

/// Fields as a trace packet: every field with its exact value.
fn format_fields(f: &Fields) -> String {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let proto = f.get("nw_proto").map(|b| b.value);
    let mut items = Vec::new();
    // dl_type and nw_proto first: later fields need them.
    let order = ["dl_type", "nw_proto"];
    let rest = f.keys().filter(|k| !order.contains(&k.as_str()));
    for k in order.iter().map(|k| k.to_string()).chain(rest.cloned()) {
        let Some(b) = f.get(&k) else { continue };
        let name = match (k.as_str(), proto) {
            ("tp_src", Some(1)) => "icmp_type",
            ("tp_dst", Some(1)) => "icmp_code",
            ("tp_src", Some(58)) => "icmpv6_type",
            ("tp_dst", Some(58)) => "icmpv6_code",
            (k, _) => k,
        };
        let v = match b.kind {
            Kind::Ip4 => Ipv4Addr::from(b.value as u32).to_string(),
            Kind::Ip6 => Ipv6Addr::from(b.value).to_string(),
            Kind::Mac => (0..6)
                .rev()
                .map(|i| format!("{:02x}", (b.value >> (8 * i)) & 0xff))
                .collect::<Vec<_>>()
                .join(":"),
            Kind::Frag => match b.value {
                0 => "no",
                1 => "first",
                _ => "later",
            }
            .to_owned(),
            Kind::Int => format!("{:#x}", b.value),
        };
        items.push(format!("{name}={v}"));
    }
    items.join(",")
}

fn show_fields(f: &Fields) -> String {
    f.iter()
        .map(|(k, b)| format!("{k}={:#x}/{:#x}", b.value, b.mask))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs one flow-parsing case: `Ok(())` when we accept what OVS accepts with the same meaning
/// and print its match as OVS does, or reject what OVS rejects.
fn run_ofctl_case(c: &Value) -> Result<(), String> {
    let flow = s(&c["flow"]);
    let ours = parse_flow(flow, &NoNames, FlowSyntax::Add);
    if c["error"].as_bool() == Some(true) {
        return match ours {
            Err(_) => Ok(()),
            Ok(spec) => Err(format!(
                "accepted (as {:?}); OVS rejects it",
                format_flow(&spec, &NoNames)
            )),
        };
    }
    let ours = ours.map_err(|e| format!("rejected: {e}"))?;
    if c["accept"].as_bool() == Some(true) {
        // OVS accepts the match (its printed form is not part of the case): it must match
        // something, and read back the same from how we print it.
        if ours.m == vswitchd::ofproto::Match::CATCHALL {
            return Err("accepted as a match on nothing".into());
        }
        let printed = format_flow(&ours, &NoNames);
        let again = parse_flow(&printed, &NoNames, FlowSyntax::Add)
            .map_err(|e| format!("our printed form {printed:?} rejected: {e}"))?;
        return if again == ours {
            Ok(())
        } else {
            Err(format!(
                "our printed form {printed:?} reads back differently"
            ))
        };
    }
    let theirs = parse_flow(s(&c["expect_flow"]), &NoNames, FlowSyntax::Add).map_err(|e| {
        format!(
            "OVS's printed form {:?} rejected: {e}",
            s(&c["expect_flow"])
        )
    })?;
    if ours.m != theirs.m
        || (ours.table, ours.priority, ours.cookie)
            != (theirs.table, theirs.priority, theirs.cookie)
        || (ours.idle_timeout, ours.hard_timeout) != (theirs.idle_timeout, theirs.hard_timeout)
        || !same_effect(&ours, &theirs)
    {
        return Err(format!(
            "means {:?}; OVS printed {:?} (which we read as {:?})",
            format_flow(&ours, &NoNames),
            s(&c["expect_flow"]),
            format_flow(&theirs, &NoNames)
        ));
    }
    // OVS prints the priority among the match items of a flow-mod; format_match does not.
    let want_match: Vec<&str> = s(&c["expect_match"])
        .split(',')
        .filter(|i| !i.is_empty() && !i.starts_with("priority="))
        .collect();
    let got = format_match(&ours.m, &NoNames);
    if got != want_match.join(",") {
        return Err(format!(
            "match prints as {got:?}, OVS {:?}",
            want_match.join(",")
        ));
    }
    Ok(())
}

/// Whether two rules' actions do the same thing. OVS prints an action in the spelling of the
/// protocol it encoded it for (`mod_nw_src:A` as `set_field:A->ip_src` in OpenFlow 1.2), so
/// equal action lists are not required: both rules, alone in a table, must translate a packet
/// that matches them (the match's own values) to the same datapath actions.
fn same_effect(a: &FlowSpec, b: &FlowSpec) -> bool {
    if a.actions == b.actions {
        return true;
    }
    let mut packet_key = a.m.key;
    if packet_key.in_port == 0 {
        packet_key.in_port = 1;
    }
    let packet = format_packet(&packet_key, &NoNames);
    let run = |spec: &FlowSpec| {
        let mut one = spec.clone();
        one.table = 0;
        offline_trace(&format_flow(&one, &NoNames), 200, &packet, &[])
            .map(|r| {
                r.passes
                    .iter()
                    .map(|p| p.datapath_actions.clone())
                    .collect::<Vec<_>>()
            })
            .map_err(|e| e.to_string())
    };
    let (ra, rb) = (run(a), run(b));
    ra.is_ok() && ra == rb
}

/// The rows of UNSUPPORTED.md's tables: case name -> reason.
fn unsupported() -> BTreeMap<String, String> {
    let path = format!("{DIR}/UNSUPPORTED.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let Some(body) = line.strip_prefix("| ") else {
            continue;
        };
        let cells: Vec<&str> = body.trim_end_matches('|').split(" | ").collect();
        if cells.len() < 2 || cells[0] == "case" || cells[0].starts_with("---") {
            continue;
        }
        let name = cells[0].replace("\\|", "|");
        let reason = cells[1].trim().to_owned();
        assert!(
            !reason.is_empty(),
            "UNSUPPORTED.md: row {name:?} gives no reason"
        );
        assert!(
            rows.insert(name.clone(), reason).is_none(),
            "UNSUPPORTED.md: {name:?} listed twice"
        );
    }
    rows
}

#[test]
fn ovs_testsuite_cases_pass_or_are_listed() {
    let listed = unsupported();
    let mut outcomes: BTreeMap<String, Result<(), String>> = BTreeMap::new();
    let mut run = |file: &str, f: fn(&Value) -> Result<(), String>| {
        let cases = load(file);
        assert!(cases.len() > 20, "{file}: only {} cases", cases.len());
        for c in &cases {
            let name = s(&c["name"]).to_owned();
            let r = f(c);
            assert!(
                outcomes.insert(name.clone(), r).is_none(),
                "{file}: case {name:?} twice"
            );
        }
    };
    run("ofproto-dpif.json", run_dpif_case);
    run("ovs-ofctl.json", |c| {
        // ovs-ofctl.at also holds a few trace tests.
        if c.get("packet").is_some() || c.get("packets").is_some() {
            run_dpif_case(c)
        } else {
            run_ofctl_case(c)
        }
    });

    let mut problems = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (name, r) in &outcomes {
        match (r, listed.contains_key(name)) {
            (Ok(()), false) => passed += 1,
            (Err(_), true) => failed += 1,
            (Ok(()), true) => problems.push(format!(
                "{name}: passes now; delete its row from UNSUPPORTED.md"
            )),
            (Err(why), false) => {
                problems.push(format!("{name}: fails and is not in UNSUPPORTED.md: {why}"))
            }
        }
    }
    let known: BTreeSet<&String> = outcomes.keys().collect();
    for name in listed.keys().filter(|n| !known.contains(n)) {
        problems.push(format!("{name}: listed in UNSUPPORTED.md but no such case"));
    }
    eprintln!(
        "ovs testsuite: {} cases, {passed} pass, {failed} listed as unsupported; \
         {} megaflows differ from OVS's and passed the soundness probes",
        outcomes.len(),
        DIFFERENT_SOUND.load(std::sync::atomic::Ordering::Relaxed)
    );
    if std::env::var_os("OVS_TESTSUITE_ROWS").is_some() {
        // Bootstrap aid: every failure as a table row with its mismatch.
        for (name, r) in &outcomes {
            if let Err(why) = r {
                println!(
                    "| {} | {} |",
                    name.replace('|', "\\|"),
                    why.replace('|', "\\|")
                );
            }
        }
    }
    if std::env::var_os("OVS_TESTSUITE_PRUNE").is_some() {
        // After a fix: drop the rows of cases that pass now (or no longer exist).
        let path = format!("{DIR}/UNSUPPORTED.md");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let keep: Vec<&str> = text
            .lines()
            .filter(|line| {
                let name = line
                    .strip_prefix("| ")
                    .and_then(|b| b.split(" | ").next())
                    .map(|n| n.replace("\\|", "|"));
                match name {
                    Some(n) if listed.contains_key(&n) => {
                        matches!(outcomes.get(&n), Some(Err(_)))
                    }
                    _ => true,
                }
            })
            .collect();
        std::fs::write(&path, keep.join("\n") + "\n").unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("pruned UNSUPPORTED.md; run again to check");
        return;
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn megaflow_spellings_compare_by_bits() {
    let a = parse_items("recirc_id=0,eth,icmp,in_port=1,nw_src=10.0.0.0/30,nw_frag=no".split(','))
        .unwrap();
    let b = parse_items(
        [
            "recirc_id=0",
            "in_port=1",
            "dl_type=0x0800",
            "nw_proto=1",
            "nw_src=10.0.0.2/255.255.255.252",
            "nw_frag=no",
        ]
        .into_iter(),
    )
    .unwrap();
    assert_eq!(a, b);
    let pkt =
        parse_items("in_port=1,dl_type=0x0800,nw_proto=1,nw_src=10.0.0.3,icmp_type=8".split(','))
            .unwrap();
    assert!(matches(&a, &pkt));
    let other =
        parse_items("in_port=1,dl_type=0x0800,nw_proto=1,nw_src=10.0.0.4".split(',')).unwrap();
    assert!(!matches(&a, &other));
    // A packet prints back to the same fields, ICMP type under its own name.
    let text = format_fields(&pkt);
    assert!(text.contains("icmp_type=0x8"), "{text}");
    assert_eq!(parse_items(text.split(',')).unwrap(), pkt);
    // Bits OVS matches and we do not are probed, spread over the field.
    let ours =
        parse_items("recirc_id=0,in_port=1,icmp,nw_src=0.0.0.2/0.0.0.2,nw_frag=no".split(','))
            .unwrap();
    let bits = extra_bits(&ours, &a).unwrap();
    let src: Vec<u128> = bits
        .iter()
        .filter(|(k, _)| k == "nw_src")
        .map(|b| b.1)
        .collect();
    assert_eq!(src.first(), Some(&(1 << 31)));
    assert_eq!(src.last(), Some(&(1 << 2)));
    assert!(src.len() <= 9);
    assert!(extra_bits(&parse_items("in_port=1".split(',')).unwrap(), &a).is_err());
    assert_eq!(
        parse_items(["ct_state=-new+est+trk"].into_iter()).unwrap()["ct_state"].mask,
        0b10_0011
    );
}
