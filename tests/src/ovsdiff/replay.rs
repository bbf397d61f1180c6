//! Datapath action lists (OVS's `odp-util` syntax, which vswitch prints too) parsed and
//! replayed on a packet, so two switches' rewrites compare by effect, not by spelling.
//!
//! `set(ipv4(src=10.0.0.1,ttl=63))` and `set(ipv4(ttl=63,src=10.0.0.1))` (or a masked
//! `set(ipv4(tos=0x20/0xfc))` against an exact one) do the same thing; replaying them on the
//! pass's starting flow and snapshotting the headers at every output makes them equal.

use fastpath::flow::FlowKey;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a pass does, in order: outputs with the headers as they leave, and conntrack steps.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// Out of OpenFlow port `port`, with these headers.
    Out { port: u32, headers: Headers },
    /// A `ct(...)` (printed form, as both switches print it), `ct_clear` or `recirc`.
    Other(String),
}

/// The header fields a datapath action can rewrite.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Headers {
    pub dl_src: [u8; 6],
    pub dl_dst: [u8; 6],
    pub vlan_tci: u16,
    pub nw_src: u32,
    pub nw_dst: u32,
    pub ipv6_src: [u8; 16],
    pub ipv6_dst: [u8; 16],
    pub nw_tos: u8,
    pub nw_ttl: u8,
    pub tp_src: u16,
    pub tp_dst: u16,
}

impl Headers {
    pub fn of(k: &FlowKey) -> Headers {
        Headers {
            dl_src: k.dl_src,
            dl_dst: k.dl_dst,
            vlan_tci: k.vlan_tci,
            nw_src: k.nw_src,
            nw_dst: k.nw_dst,
            ipv6_src: k.ipv6_src,
            ipv6_dst: k.ipv6_dst,
            nw_tos: k.nw_tos,
            nw_ttl: k.nw_ttl,
            tp_src: k.tp_src,
            tp_dst: k.tp_dst,
        }
    }
}

/// Splits at commas outside parentheses.
pub fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(s[start..].trim());
    }
    out.retain(|x| !x.is_empty());
    out
}

fn num(s: &str) -> Option<u128> {
    match s.strip_prefix("0x") {
        Some(h) => u128::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// `v` under `m` (both already as integers) applied to `old`.
fn apply(old: u128, v: u128, m: u128) -> u128 {
    (old & !m) | (v & m)
}

fn value_mask(s: &str, parse: impl Fn(&str) -> Option<u128>, full: u128) -> Option<(u128, u128)> {
    match s.split_once('/') {
        Some((v, m)) => Some((parse(v)?, parse(m)?)),
        None => Some((parse(s)?, full)),
    }
}

fn mac_u(s: &str) -> Option<u128> {
    mac(s).map(|b| b.iter().fold(0u128, |a, x| a << 8 | *x as u128))
}

fn u_mac(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    b[10..16].try_into().unwrap_or([0; 6])
}

fn ip4(s: &str) -> Option<u128> {
    s.parse::<Ipv4Addr>().ok().map(|a| u32::from(a) as u128)
}

fn ip6(s: &str) -> Option<u128> {
    s.parse::<Ipv6Addr>().ok().map(u128::from)
}

/// Applies one `set(HDR(k=v,...))` to `k`.
fn apply_set(k: &mut FlowKey, inner: &str) -> Result<(), String> {
    let (hdr, rest) = inner
        .split_once('(')
        .ok_or_else(|| format!("bad set: {inner}"))?;
    let body = rest.strip_suffix(')').unwrap_or(rest);
    for item in split_top(body) {
        let (name, val) = item
            .split_once('=')
            .ok_or_else(|| format!("bad set item: {item}"))?;
        let bad = || format!("bad value in set({hdr}({item}))");
        match (hdr, name) {
            ("eth", "src") => {
                let (v, m) = value_mask(val, mac_u, (1 << 48) - 1).ok_or_else(bad)?;
                k.dl_src = u_mac(apply(mac_u_of(&k.dl_src), v, m));
            }
            ("eth", "dst") => {
                let (v, m) = value_mask(val, mac_u, (1 << 48) - 1).ok_or_else(bad)?;
                k.dl_dst = u_mac(apply(mac_u_of(&k.dl_dst), v, m));
            }
            ("ipv4", "src") => {
                let (v, m) = value_mask(val, ip4, u32::MAX as u128).ok_or_else(bad)?;
                k.nw_src = apply(k.nw_src as u128, v, m) as u32;
            }
            ("ipv4", "dst") => {
                let (v, m) = value_mask(val, ip4, u32::MAX as u128).ok_or_else(bad)?;
                k.nw_dst = apply(k.nw_dst as u128, v, m) as u32;
            }
            ("ipv4", "tos") | ("ipv6", "tclass") => {
                let (v, m) = value_mask(val, num, 0xff).ok_or_else(bad)?;
                k.nw_tos = apply(k.nw_tos as u128, v, m) as u8;
            }
            ("ipv4", "ttl") | ("ipv6", "hlimit") => {
                let (v, m) = value_mask(val, num, 0xff).ok_or_else(bad)?;
                k.nw_ttl = apply(k.nw_ttl as u128, v, m) as u8;
            }
            ("ipv6", "src") => {
                let (v, m) = value_mask(val, ip6, u128::MAX).ok_or_else(bad)?;
                k.ipv6_src = apply(u128::from_be_bytes(k.ipv6_src), v, m).to_be_bytes();
            }
            ("ipv6", "dst") => {
                let (v, m) = value_mask(val, ip6, u128::MAX).ok_or_else(bad)?;
                k.ipv6_dst = apply(u128::from_be_bytes(k.ipv6_dst), v, m).to_be_bytes();
            }
            ("tcp" | "udp" | "sctp", "src") => {
                let (v, m) = value_mask(val, num, 0xffff).ok_or_else(bad)?;
                k.tp_src = apply(k.tp_src as u128, v, m) as u16;
            }
            ("tcp" | "udp" | "sctp", "dst") => {
                let (v, m) = value_mask(val, num, 0xffff).ok_or_else(bad)?;
                k.tp_dst = apply(k.tp_dst as u128, v, m) as u16;
            }
            // Fields that restate the packet (OVS's non-masked set lists every field).
            ("ipv4", "proto" | "frag") | ("ipv6", "proto" | "frag" | "label") => {}
            _ => return Err(format!("unknown set field {hdr}.{name}")),
        }
    }
    Ok(())
}

fn mac_u_of(b: &[u8; 6]) -> u128 {
    b.iter().fold(0u128, |a, x| a << 8 | *x as u128)
}

/// Replays `actions` on `start`; `port_of` maps a datapath port to an OpenFlow port.
pub fn replay(
    actions: &str,
    start: &FlowKey,
    port_of: &dyn Fn(u32) -> Option<u32>,
) -> Result<Vec<Event>, String> {
    let mut k = *start;
    let mut out = Vec::new();
    for a in split_top(actions.trim()) {
        if a == "drop" {
            continue;
        }
        if let Some(n) = num(a) {
            let port = port_of(n as u32).ok_or_else(|| format!("unknown datapath port {n}"))?;
            out.push(Event::Out {
                port,
                headers: Headers::of(&k),
            });
        } else if let Some(inner) = a.strip_prefix("set(").and_then(|x| x.strip_suffix(')')) {
            apply_set(&mut k, inner)?;
        } else if let Some(inner) = a
            .strip_prefix("push_vlan(")
            .and_then(|x| x.strip_suffix(')'))
        {
            let (mut vid, mut pcp) = (0u16, 0u16);
            for item in split_top(inner) {
                match item.split_once('=') {
                    Some(("vid", v)) => vid = num(v).ok_or("bad vid")? as u16,
                    Some(("pcp", v)) => pcp = num(v).ok_or("bad pcp")? as u16,
                    Some(("tpid", _)) | Some(("cfi", _)) => {}
                    _ => return Err(format!("bad push_vlan item {item}")),
                }
            }
            k.vlan_tci = 0x1000 | (vid & 0xfff) | (pcp << 13);
        } else if a == "pop_vlan" {
            k.vlan_tci = 0;
        } else if a == "ct_clear" || a == "ct" || a.starts_with("ct(") {
            out.push(Event::Other(a.to_string()));
        } else if a.starts_with("userspace(") && a.contains("dont_send=1") {
            // A packet-in for a bridge with no controller (OVS's `dec_ttl` at TTL 1, a
            // table miss in some modes): it goes nowhere.
        } else if a.starts_with("recirc(") {
            out.push(Event::Other("recirc".into()));
        } else if let Some(inner) = a.strip_prefix("clone(").and_then(|x| x.strip_suffix(')')) {
            // On a copy: the packet after it is the packet before it.
            out.extend(replay(inner, &k, port_of)?);
        } else if let Some(inner) = a
            .strip_prefix("check_pkt_len(")
            .and_then(|x| x.strip_suffix(')'))
        {
            // Both branches, each on a copy, marked so that they compare branch by branch.
            let parts = split_top(inner);
            let branch = |name: &str| {
                parts
                    .iter()
                    .find_map(|p| p.strip_prefix(name)?.strip_prefix('(')?.strip_suffix(')'))
                    .ok_or_else(|| format!("check_pkt_len without {name}(...): {a}"))
            };
            let size = parts.first().copied().unwrap_or_default();
            out.push(Event::Other(format!("check_pkt_len({size}) gt")));
            out.extend(replay(branch("gt")?, &k, port_of)?);
            out.push(Event::Other("check_pkt_len le".into()));
            out.extend(replay(branch("le")?, &k, port_of)?);
            out.push(Event::Other("check_pkt_len end".into()));
        } else {
            return Err(format!("unknown datapath action '{a}'"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_effects_replay_equal() {
        let mut k = FlowKey::ZERO;
        k.nw_tos = 0x01;
        k.nw_ttl = 64;
        let id = |p: u32| Some(p);
        let a = replay("set(ipv4(tos=0x20/0xfc,ttl=63)),2", &k, &id).unwrap();
        let b = replay("set(ipv4(ttl=63)),set(ipv4(tos=0x21)),2", &k, &id).unwrap();
        assert_eq!(a, b);
        let c = replay("set(ipv4(tos=0x20)),2", &k, &id).unwrap();
        assert_ne!(a, c);
        let v = replay(
            "push_vlan(vid=7,pcp=0),3,pop_vlan,ct(commit,zone=5),recirc(0x2)",
            &k,
            &id,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert!(matches!(&v[0], Event::Out { port: 3, headers } if headers.vlan_tci == 0x1007));
        assert!(replay("userspace(pid=1)", &k, &id).is_err());
        // A clone's rewrites stay inside it; check_pkt_len's branches replay one after the
        // other, each from the packet before it.
        let c = replay("clone(set(ipv4(ttl=9)),1),2", &k, &id).unwrap();
        assert!(matches!(&c[0], Event::Out { port: 1, headers } if headers.nw_ttl == 9));
        assert!(matches!(&c[1], Event::Out { port: 2, headers } if headers.nw_ttl == 64));
        let p = replay(
            "check_pkt_len(size=200,gt(set(ipv4(ttl=1)),1),le(2)),3",
            &k,
            &id,
        )
        .unwrap();
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(matches!(&p[5], Event::Out { port: 3, headers } if headers.nw_ttl == 64));
    }
}
