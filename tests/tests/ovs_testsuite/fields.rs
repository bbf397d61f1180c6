//! Match items of megaflows and trace packets, read into bits so that OVS's spelling
//! (datapath syntax converted to items, `/255.255.255.252`, `icmp_type`) and ours
//! (`/30`, `tcp`, hex) compare by what they match, and so a packet can be changed one bit at a
//! time and printed back for a probe trace.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ip4,
    Ip6,
    Mac,
    Int,
    Frag,
}

/// A field's value and mask (value bits outside the mask are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bits {
    pub(crate) kind: Kind,
    pub(crate) value: u128,
    pub(crate) mask: u128,
}

/// Match items by canonical field name.
pub(crate) type Fields = BTreeMap<String, Bits>;

pub(crate) fn is_first_pass(f: &Fields) -> bool {
    f.get("recirc_id").is_none_or(|b| b.value == 0)
}

/// Whether megaflow `m` matches packet `p` (fields a packet does not mention are zero).
pub(crate) fn matches(m: &Fields, p: &Fields) -> bool {
    m.iter().all(|(k, b)| {
        let pv = p.get(k).map_or(0, |x| x.value);
        (pv ^ b.value) & b.mask == 0
    })
}

/// The bits OVS's megaflow matches and ours does not, to probe (at most 8 per field, spread
/// from the highest to the lowest), or why ours cannot be probed. Bits we match and OVS does
/// not make ours narrower there, which is always sound (the megaflow count check covers the
/// cost), so only the bits we leave out need probing.
pub(crate) fn extra_bits(ours: &Fields, theirs: &Fields) -> Result<Vec<(String, u128)>, String> {
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
pub(crate) fn parse_items<'a>(items: impl Iterator<Item = &'a str>) -> Result<Fields, String> {
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
pub(crate) fn format_fields(f: &Fields) -> String {
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
            // ICMP type and code are 8-bit fields of the packet that OVS keeps in the 16-bit
            // tp_src/tp_dst: a probe that flips their upper bits is the same packet.
            Kind::Int if name.starts_with("icmp") => format!("{:#x}", b.value & 0xff),
            Kind::Int => format!("{:#x}", b.value),
        };
        items.push(format!("{name}={v}"));
    }
    items.join(",")
}

pub(crate) fn show_fields(f: &Fields) -> String {
    f.iter()
        .map(|(k, b)| format!("{k}={:#x}/{:#x}", b.value, b.mask))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megaflow_spellings_compare_by_bits() {
        let a =
            parse_items("recirc_id=0,eth,icmp,in_port=1,nw_src=10.0.0.0/30,nw_frag=no".split(','))
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
        let pkt = parse_items(
            "in_port=1,dl_type=0x0800,nw_proto=1,nw_src=10.0.0.3,icmp_type=8".split(','),
        )
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
}
