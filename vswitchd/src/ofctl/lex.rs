//! Tokens and scalar values of the ovs-ofctl syntax.
//!
//! A flow, an action list and the inside of `ct(...)` are all the same shape: items separated
//! by commas or white space, each `key`, `key=value`, `key:value` or `key(value)`, where a value
//! runs to the next separator *outside parentheses* (so `ct(commit,nat(src=10.0.0.1))` is one
//! item). [`split_items`] implements exactly that, as OVS's `ofputil_parse_key_value` does; the
//! rest of this module parses the scalar values (numbers, MACs, IP addresses and prefixes,
//! ports) and formats them back the way OVS prints them.

use super::PortNames;
use super::error::OfctlError;
use crate::ofproto::ofpp;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One `key[=value]` item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    pub key: &'a str,
    /// Empty for a bare key.
    pub value: &'a str,
    /// `=`, `:`, `(` or `None` for a bare key.
    pub delim: Option<char>,
}

const SEPARATORS: &[char] = &[',', ' ', '\t', '\r', '\n'];

/// Splits `s` into items. Parentheses must balance.
pub(crate) fn split_items(s: &str) -> Result<Vec<Item<'_>>, OfctlError> {
    let mut items = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(SEPARATORS);
        if rest.is_empty() {
            return Ok(items);
        }
        let key_len = rest
            .find(|c: char| matches!(c, ':' | '=' | '(') || SEPARATORS.contains(&c))
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        let delim = rest[key_len..].chars().next();
        match delim {
            Some(d @ (':' | '=')) => {
                let value_start = &rest[key_len + 1..];
                let n =
                    value_len(value_start, false).map_err(|why| OfctlError::syntax(rest, why))?;
                items.push(Item {
                    key,
                    value: &value_start[..n],
                    delim: Some(d),
                });
                rest = &value_start[n..];
            }
            Some('(') => {
                let value_start = &rest[key_len + 1..];
                let n =
                    value_len(value_start, true).map_err(|why| OfctlError::syntax(rest, why))?;
                items.push(Item {
                    key,
                    value: &value_start[..n],
                    delim: Some('('),
                });
                // Skip the closing parenthesis.
                rest = &value_start[n + 1..];
                // `check_pkt_larger(N)->DST`: the value runs on to the destination.
                if key == "check_pkt_larger"
                    && let Some(dst) = rest.strip_prefix("->")
                {
                    let m = value_len(dst, false).map_err(|why| OfctlError::syntax(rest, why))?;
                    let end = n + 1 + 2 + m;
                    items.pop();
                    items.push(Item {
                        key,
                        value: &value_start[..end],
                        delim: Some('('),
                    });
                    rest = &value_start[end..];
                    continue;
                }
                if let Some(c) = rest.chars().next()
                    && !SEPARATORS.contains(&c)
                {
                    return Err(OfctlError::syntax(
                        key,
                        format!("unexpected '{c}' after ')'"),
                    ));
                }
            }
            _ => {
                items.push(Item {
                    key,
                    value: "",
                    delim: None,
                });
                rest = &rest[key_len..];
            }
        }
        if key.is_empty() {
            return Err(OfctlError::syntax(s, "an item has an empty name"));
        }
    }
}

/// Length of a value: up to a separator (or, inside `key(`, the matching `)`), skipping over
/// balanced parentheses.
fn value_len(s: &str, in_parens: bool) -> Result<usize, &'static str> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            ')' if in_parens => return Ok(i),
            ')' => return Err("unbalanced ')'"),
            _ if depth == 0 && !in_parens && SEPARATORS.contains(&c) => return Ok(i),
            _ => {}
        }
        i += 1;
    }
    if depth > 0 || in_parens {
        Err("missing ')'")
    } else {
        Ok(i)
    }
}

/// Parses an unsigned integer as OVS reads field values, priorities, timeouts and cookies
/// (C's `strtoull(s, 0)`): `0x` hexadecimal, a leading `0` octal (`010` is 8), else decimal.
pub(crate) fn parse_uint(s: &str) -> Option<u128> {
    match s.strip_prefix('0') {
        Some(oct) if !oct.is_empty() && oct.bytes().all(|b| b.is_ascii_digit()) => {
            u128::from_str_radix(oct, 8).ok()
        }
        _ => parse_uint_dec(s),
    }
}

/// Parses an unsigned integer where OVS reads base 10 (port and table numbers, bit offsets:
/// `010` is 10), or `0x` hexadecimal.
pub(crate) fn parse_uint_dec(s: &str) -> Option<u128> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 32 {
            return None;
        }
        u128::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses an integer ([`parse_uint`]) of at most `bits` bits, reporting errors against `field`.
pub(crate) fn parse_uint_bits(field: &str, s: &str, bits: u32) -> Result<u128, OfctlError> {
    check_bits(field, s, bits, parse_uint(s))
}

/// [`parse_uint_bits`] for a base-10 number ([`parse_uint_dec`]).
pub(crate) fn parse_uint_bits_dec(field: &str, s: &str, bits: u32) -> Result<u128, OfctlError> {
    check_bits(field, s, bits, parse_uint_dec(s))
}

fn check_bits(field: &str, s: &str, bits: u32, v: Option<u128>) -> Result<u128, OfctlError> {
    let v = v.ok_or_else(|| {
        OfctlError::bad_value(field, s, "not a decimal, 0x-hexadecimal or 0-octal number")
    })?;
    if bits < 128 && v >> bits != 0 {
        return Err(OfctlError::bad_value(
            field,
            s,
            format!("does not fit in {bits} bits"),
        ));
    }
    Ok(v)
}

/// Parses `aa:bb:cc:dd:ee:ff` into its 48-bit value.
pub(crate) fn parse_mac(s: &str) -> Option<u128> {
    let mut v = 0u128;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        v = (v << 8) | u8::from_str_radix(part, 16).ok()? as u128;
        n += 1;
    }
    (n == 6).then_some(v)
}

/// Formats a 48-bit value as a MAC address.
pub(crate) fn format_mac(v: u128) -> String {
    let b = (v as u64).to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

/// Parses `A.B.C.D[/LEN|/MASK]`.
pub(crate) fn parse_ipv4_masked(field: &str, s: &str) -> Result<(u32, u32), OfctlError> {
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let bad = || OfctlError::bad_value(field, s, "not an IPv4 address[/prefix length or mask]");
    let ip: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let mask = match mask {
        None => u32::MAX,
        Some(m) if m.contains('.') => u32::from(m.parse::<Ipv4Addr>().map_err(|_| bad())?),
        Some(m) => {
            let len: u32 = m.parse().map_err(|_| bad())?;
            if len > 32 {
                return Err(OfctlError::bad_value(field, s, "prefix length above 32"));
            }
            prefix_mask_u32(len)
        }
    };
    Ok((u32::from(ip), mask))
}

/// Parses `ADDR[/LEN|/MASK]` for IPv6.
pub(crate) fn parse_ipv6_masked(field: &str, s: &str) -> Result<(u128, u128), OfctlError> {
    let (addr, mask) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let bad = || OfctlError::bad_value(field, s, "not an IPv6 address[/prefix length or mask]");
    let ip: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    let mask = match mask {
        None => u128::MAX,
        Some(m) if m.contains(':') => u128::from(m.parse::<Ipv6Addr>().map_err(|_| bad())?),
        Some(m) => {
            let len: u32 = m.parse().map_err(|_| bad())?;
            if len > 128 {
                return Err(OfctlError::bad_value(field, s, "prefix length above 128"));
            }
            prefix_mask_u128(len)
        }
    };
    Ok((u128::from(ip), mask))
}

pub(crate) fn prefix_mask_u32(len: u32) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

pub(crate) fn prefix_mask_u128(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

/// `A.B.C.D`, then `/N` for a CIDR mask or `/A.B.C.D` for another non-full mask.
pub(crate) fn format_ipv4_masked(v: u32, m: u32) -> String {
    let mut s = Ipv4Addr::from(v).to_string();
    if m != u32::MAX {
        if m.leading_ones() + m.trailing_zeros() == 32 {
            s.push_str(&format!("/{}", m.leading_ones()));
        } else {
            s.push_str(&format!("/{}", Ipv4Addr::from(m)));
        }
    }
    s
}

/// IPv6 counterpart of [`format_ipv4_masked`].
pub(crate) fn format_ipv6_masked(v: u128, m: u128) -> String {
    let mut s = Ipv6Addr::from(v).to_string();
    if m != u128::MAX {
        if m.leading_ones() + m.trailing_zeros() == 128 {
            s.push_str(&format!("/{}", m.leading_ones()));
        } else {
            s.push_str(&format!("/{}", Ipv6Addr::from(m)));
        }
    }
    s
}

/// OVS's `%#x` / `ds_put_hex`: `0` for zero, else `0x` and the digits.
pub(crate) fn hex(v: u128) -> String {
    if v == 0 {
        "0".to_owned()
    } else {
        format!("{v:#x}")
    }
}

/// Reserved OpenFlow ports by their ovs-ofctl names.
const RESERVED_PORTS: [(&str, u32); 8] = [
    ("IN_PORT", ofpp::IN_PORT),
    ("TABLE", ofpp::TABLE),
    ("NORMAL", ofpp::NORMAL),
    ("FLOOD", ofpp::FLOOD),
    ("ALL", ofpp::ALL),
    ("CONTROLLER", ofpp::CONTROLLER),
    ("LOCAL", ofpp::LOCAL),
    ("ANY", ofpp::ANY),
];

/// Parses a port: a number, a reserved name (any case) or a port name from `names`.
pub(crate) fn parse_port(s: &str, names: &dyn PortNames) -> Option<u32> {
    if let Some(n) = parse_uint_dec(s) {
        // Port 0 is no port, but OVS parses it (`in_port=0`, `output:0`, `resubmit:0`).
        return u32::try_from(n).ok();
    }
    if let Some((_, n)) = RESERVED_PORTS
        .iter()
        .find(|(r, _)| r.eq_ignore_ascii_case(s))
    {
        return Some(*n);
    }
    if s.eq_ignore_ascii_case("NONE") {
        return Some(ofpp::ANY);
    }
    names.number(s).filter(|n| *n != 0)
}

/// Formats a port: reserved name, else its name from `names` (when that name would parse
/// back to it), else its number.
pub(crate) fn format_port(n: u32, names: &dyn PortNames) -> String {
    if let Some((r, _)) = RESERVED_PORTS.iter().find(|(_, v)| *v == n) {
        return (*r).to_owned();
    }
    if let Some(name) = names.name(n)
        && parse_port(&name, names) == Some(n)
        && !name.is_empty()
        && !name.contains(|c: char| SEPARATORS.contains(&c) || "=:(),[]".contains(c))
    {
        return name;
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::NoNames;

    fn keys(s: &str) -> Vec<(String, String, Option<char>)> {
        split_items(s)
            .unwrap()
            .into_iter()
            .map(|i| (i.key.to_owned(), i.value.to_owned(), i.delim))
            .collect()
    }

    #[test]
    fn items_split_on_separators_outside_parentheses() {
        assert_eq!(
            keys("tcp, nw_src=10.0.0.1/24 ct(commit,nat(src=1.2.3.4)),output:2,3"),
            vec![
                ("tcp".into(), "".into(), None),
                ("nw_src".into(), "10.0.0.1/24".into(), Some('=')),
                ("ct".into(), "commit,nat(src=1.2.3.4)".into(), Some('(')),
                ("output".into(), "2".into(), Some(':')),
                ("3".into(), "".into(), None),
            ]
        );
        assert_eq!(
            keys("resubmit(,2) load:0x1->reg0[0..15]"),
            vec![
                ("resubmit".into(), ",2".into(), Some('(')),
                ("load".into(), "0x1->reg0[0..15]".into(), Some(':')),
            ]
        );
    }

    #[test]
    fn unbalanced_parentheses_are_errors() {
        assert!(split_items("ct(commit").is_err());
        assert!(split_items("ct(commit))").is_err());
        assert!(split_items("a=b)").is_err());
        assert!(split_items("=5").is_err());
    }

    #[test]
    fn numbers_and_addresses() {
        assert_eq!(parse_uint("0x1f"), Some(31));
        assert_eq!(parse_uint("31"), Some(31));
        assert_eq!(parse_uint("-1"), None);
        assert_eq!(parse_uint("0x"), None);
        assert!(parse_uint_bits("nw_ttl", "300", 8).is_err());
        assert_eq!(parse_mac("00:0a:00:00:00:01"), Some(0x000a_0000_0001));
        assert_eq!(parse_mac("00:0a:00:00:00"), None);
        assert_eq!(format_mac(0x000a_0000_0001), "00:0a:00:00:00:01");
        assert_eq!(
            parse_ipv4_masked("nw_src", "10.0.1.0/24").unwrap(),
            (0x0a00_0100, 0xffff_ff00)
        );
        assert_eq!(
            parse_ipv4_masked("nw_src", "10.0.1.0/255.0.255.0").unwrap(),
            (0x0a00_0100, 0xff00_ff00)
        );
        assert!(parse_ipv4_masked("nw_src", "10.0.1.0/33").is_err());
        assert_eq!(format_ipv4_masked(0x0a00_0100, 0xffff_ff00), "10.0.1.0/24");
        assert_eq!(
            format_ipv4_masked(0x0a00_0100, 0xff00_ff00),
            "10.0.1.0/255.0.255.0"
        );
        let (v, m) = parse_ipv6_masked("ipv6_src", "fd00::/16").unwrap();
        assert_eq!(format_ipv6_masked(v, m), "fd00::/16");
        assert_eq!(hex(0), "0");
        assert_eq!(hex(255), "0xff");
    }

    #[test]
    fn ports_by_number_and_reserved_name() {
        assert_eq!(parse_port("LOCAL", &NoNames), Some(ofpp::LOCAL));
        assert_eq!(parse_port("normal", &NoNames), Some(ofpp::NORMAL));
        assert_eq!(parse_port("7", &NoNames), Some(7));
        assert_eq!(parse_port("0", &NoNames), Some(0));
        assert_eq!(parse_port("p1", &NoNames), None);
        assert_eq!(format_port(ofpp::LOCAL, &NoNames), "LOCAL");
        assert_eq!(format_port(7, &NoNames), "7");
    }
}
