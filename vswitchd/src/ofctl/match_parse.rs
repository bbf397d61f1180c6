//! Match fields of the flow syntax: `tcp,nw_src=10.0.0.0/8,tp_dst=80,ct_state=+trk-new`.
//!
//! [`MatchBuilder`] takes one `key[=value]` item at a time and writes it into a [`Match`];
//! prerequisites are remembered per name and checked by [`MatchBuilder::finish`] once the whole
//! match is known, because ovs-ofctl lets a protocol shorthand come after the fields that need
//! it. The same builder, in packet mode, reads ofproto/trace packets: values are exact (no
//! masks) and every field left out is zero.

use super::PortNames;
use super::error::OfctlError;
use super::fields::{self, FieldName, Prereq, Syntax};
use super::lex::{self, parse_port, parse_uint_bits};
use super::subfield;
use crate::ofproto::Match;
use fastpath::flow::Field;
use fastpath::flow::key::{
    FRAG_ANY, FRAG_LATER, VLAN_CFI, VLAN_PCP_MASK, VLAN_PCP_SHIFT, VLAN_VID_MASK, ct_state,
    ethertype, ipproto,
};

/// TCP flag names by bit, as OVS prints them (`packet_tcp_flag_to_string`).
pub(crate) const TCP_FLAG_NAMES: [(&str, u32); 12] = [
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
    ("[200]", 0x200),
    ("[400]", 0x400),
    ("[800]", 0x800),
];

/// All-ones value of the 12 TCP flag bits.
pub(crate) const TCP_FLAGS_MASK: u32 = 0x0fff;

/// `ct_state` flag names by bit.
pub(crate) fn ct_state_names() -> [(&'static str, u32); 8] {
    ct_state::NAMES.map(|(n, b)| (n, b as u32))
}

/// `nw_frag` keywords: (name, value, mask), first match wins when parsing (as OVS).
const FRAG_KEYWORDS: [(&str, u8, u8); 5] = [
    ("no", 0, FRAG_ANY | FRAG_LATER),
    ("first", FRAG_ANY, FRAG_ANY | FRAG_LATER),
    ("later", FRAG_ANY | FRAG_LATER, FRAG_ANY | FRAG_LATER),
    ("yes", FRAG_ANY, FRAG_ANY),
    ("not_later", 0, FRAG_LATER),
];

/// Protocol shorthands: (name, dl_type, nw_proto), with OVS's aliases (`parse_protocol` in
/// lib/ofp-protocol.c): `ipv4`/`ip4`, `ip6`. (`eth`, any Ethernet frame, is every packet here.)
const SHORTHANDS: [(&str, u16, Option<u8>); 15] = [
    ("ip", ethertype::IPV4, None),
    ("ipv4", ethertype::IPV4, None),
    ("ip4", ethertype::IPV4, None),
    ("ipv6", ethertype::IPV6, None),
    ("ip6", ethertype::IPV6, None),
    ("arp", ethertype::ARP, None),
    ("rarp", RARP, None),
    ("tcp", ethertype::IPV4, Some(ipproto::TCP)),
    ("udp", ethertype::IPV4, Some(ipproto::UDP)),
    ("sctp", ethertype::IPV4, Some(ipproto::SCTP)),
    ("icmp", ethertype::IPV4, Some(ipproto::ICMP)),
    ("tcp6", ethertype::IPV6, Some(ipproto::TCP)),
    ("udp6", ethertype::IPV6, Some(ipproto::UDP)),
    ("sctp6", ethertype::IPV6, Some(ipproto::SCTP)),
    ("icmp6", ethertype::IPV6, Some(ipproto::ICMPV6)),
];

/// The ethertype of RARP (the `rarp` shorthand).
pub(crate) const RARP: u16 = 0x8035;

/// Builds a [`Match`] (or, in packet mode, an exact flow) from items.
pub(crate) struct MatchBuilder<'n> {
    pub m: Match,
    names: &'n dyn PortNames,
    packet: bool,
    /// Names used, with their prerequisites, in order (for error messages).
    used: Vec<(String, Prereq)>,
}

impl<'n> MatchBuilder<'n> {
    pub(crate) fn new(names: &'n dyn PortNames, packet: bool) -> Self {
        MatchBuilder {
            m: Match::CATCHALL,
            names,
            packet,
            used: Vec::new(),
        }
    }

    /// Applies one item. Returns `Ok(false)` if `key` is not a match field or shorthand.
    pub(crate) fn item(&mut self, key: &str, value: &str, bare: bool) -> Result<bool, OfctlError> {
        if bare && key == "eth" && !self.packet {
            return Ok(true);
        }
        if bare && let Some((_, dl_type, proto)) = SHORTHANDS.iter().find(|(n, _, _)| *n == key) {
            self.m.set_field(Field::DlType, *dl_type as u128);
            if let Some(p) = proto {
                self.m.set_field(Field::NwProto, *p as u128);
                // The protocol number only means this protocol over IP: a later `dl_type`
                // that is not IP must not leave it behind (`udp,dl_type=2`).
                self.used.push((key.to_owned(), Prereq::IpAny));
            }
            return Ok(true);
        }
        if self.packet && key == "recirc_id" {
            let v = parse_uint_bits(key, value, 32)?;
            self.m.set_field(Field::RecircId, v);
            return Ok(true);
        }
        if !self.packet && key.ends_with(']') && key.contains('[') {
            return self.subfield(key, value, bare).map(|()| true);
        }
        let Some(desc) = fields::lookup(key) else {
            return Ok(false);
        };
        if bare {
            return Err(OfctlError::bad_value(key, "", "a value is required"));
        }
        // The outer TOS and TTL reach megaflows and traces, but no OpenFlow version can carry
        // a match on them (OVS: no OXM or NXM), so a rule cannot use them.
        if !self.packet && matches!(desc.field, Field::TunTos | Field::TunTtl) {
            return Err(OfctlError::bad_value(
                key,
                value,
                "no OpenFlow version can match this field (as in OVS)",
            ));
        }
        if value.contains('/') && (self.packet || !desc.maskable) {
            let why = if self.packet {
                "a packet has exact values, not masks"
            } else {
                "this field cannot be masked"
            };
            return Err(OfctlError::bad_value(key, value, why));
        }
        self.set(key, &desc, value)?;
        if desc.prereq != Prereq::None {
            self.used.push((key.to_owned(), desc.prereq));
        }
        Ok(true)
    }

    fn set(&mut self, key: &str, desc: &FieldName, value: &str) -> Result<(), OfctlError> {
        let (field, syntax) = (desc.field, desc.syntax);
        if desc.regs > 0 || desc.width > 0 && syntax != Syntax::Port {
            // A name that sees part of a field (`vlan_vid`) or several registers (`xreg0`).
            let bits = desc.bits();
            let (v, mask) = match value.split_once('/') {
                Some((v, m)) => (
                    parse_uint_bits(key, v, bits)?,
                    parse_uint_bits(key, m, bits)?,
                ),
                None => (parse_uint_bits(key, value, bits)?, desc.full_mask()),
            };
            if desc.regs > 0 {
                // As OVS: an extended register is set whole, so a register it spans with a
                // zero mask no longer matches (`reg0=1,xreg0=2/0xff` is `reg1=0x2/0xff`).
                for (f, v, m) in split_wide(desc, v, mask) {
                    self.m.set_field_masked(f, v, m);
                }
            } else {
                // A narrow name (`vlan_vid`) sets its bits and keeps the field's others
                // (`vlan_pcp=2,vlan_vid=0x1005` matches both, as OVS's
                // match_set_vlan_vid_masked keeps the PCP mask).
                let (old, old_mask) = self.m.field(desc.field);
                let keep = !desc.full_mask();
                self.m
                    .set_field_masked(desc.field, (old & keep) | v, (old_mask & keep) | mask);
            }
            return Ok(());
        }
        match (field, syntax) {
            (Field::DlVlan, _) => {
                let v = parse_uint_bits(key, value, 16)? as u16;
                let (old, old_mask) = self.vlan();
                if v == 0xffff {
                    self.m.set_field_masked(Field::VlanTci, 0, 0xffff);
                } else if v > VLAN_VID_MASK {
                    return Err(OfctlError::bad_value(
                        key,
                        value,
                        "a VLAN id is 0..4095 (or 0xffff for no tag)",
                    ));
                } else {
                    let nv = (old & !VLAN_VID_MASK) | VLAN_CFI | v;
                    let nm = old_mask | VLAN_VID_MASK | VLAN_CFI;
                    self.m
                        .set_field_masked(Field::VlanTci, nv as u128, nm as u128);
                }
            }
            (Field::DlVlanPcp, _) => {
                let p = parse_uint_bits(key, value, 3)? as u16;
                let (old, old_mask) = self.vlan();
                let nv = (old & !VLAN_PCP_MASK) | VLAN_CFI | (p << VLAN_PCP_SHIFT);
                let nm = old_mask | VLAN_PCP_MASK | VLAN_CFI;
                self.m
                    .set_field_masked(Field::VlanTci, nv as u128, nm as u128);
            }
            (Field::NwTos, _) => {
                let v = parse_uint_bits(key, value, 8)?;
                if v & 3 != 0 {
                    return Err(OfctlError::bad_value(
                        key,
                        value,
                        "the low 2 (ECN) bits must be zero; use nw_ecn for them",
                    ));
                }
                self.m.set_field(Field::IpDscp, v >> 2);
            }
            (_, Syntax::Port) => {
                let p = parse_port(value, self.names)
                    .ok_or_else(|| OfctlError::UnknownPort(value.to_owned()))?;
                self.m.set_field(field, p as u128);
            }
            (_, Syntax::Decimal | Syntax::Hex) => {
                let bits = field.bits();
                let (v, mask) = match value.split_once('/') {
                    Some((v, m)) => (
                        parse_uint_bits(key, v, bits)?,
                        parse_uint_bits(key, m, bits)?,
                    ),
                    // The storage's exact mask: ICMP type/code are 8-bit values in 16-bit
                    // `tp_src`/`tp_dst`, matched exactly as OVS does (mask 0xffff).
                    None => (
                        parse_uint_bits(key, value, bits)?,
                        field.get(&field.exact_mask()),
                    ),
                };
                self.m.set_field_masked(field, v, mask);
            }
            (_, Syntax::Mac) => {
                let bad = || OfctlError::bad_value(key, value, "not an Ethernet address[/mask]");
                let (v, mask) = match value.split_once('/') {
                    Some((v, m)) => (
                        lex::parse_mac(v).ok_or_else(bad)?,
                        lex::parse_mac(m).ok_or_else(bad)?,
                    ),
                    None => (lex::parse_mac(value).ok_or_else(bad)?, field.max_value()),
                };
                self.m.set_field_masked(field, v, mask);
            }
            (_, Syntax::Ipv4) => {
                let (v, mask) = lex::parse_ipv4_masked(key, value)?;
                self.m.set_field_masked(field, v as u128, mask as u128);
            }
            (_, Syntax::Ipv6) => {
                let (v, mask) = lex::parse_ipv6_masked(key, value)?;
                self.m.set_field_masked(field, v, mask);
            }
            (_, Syntax::Frag) => {
                let (_, v, mask) = FRAG_KEYWORDS
                    .iter()
                    .find(|(n, _, _)| *n == value)
                    .ok_or_else(|| {
                        OfctlError::bad_value(
                            key,
                            value,
                            "expected no, yes, first, later or not_later",
                        )
                    })?;
                let mask = if self.packet {
                    FRAG_ANY | FRAG_LATER
                } else {
                    *mask
                };
                self.m.set_field_masked(field, *v as u128, mask as u128);
            }
            (_, Syntax::TcpFlags) => {
                let (v, mask) = parse_flags(key, value, &TCP_FLAG_NAMES, TCP_FLAGS_MASK)?;
                let mask = if self.packet { TCP_FLAGS_MASK } else { mask };
                self.m.set_field_masked(field, v as u128, mask as u128);
            }
            (_, Syntax::CtState) => {
                let (v, mask) = parse_flags(key, value, &ct_state_names(), 0xff)?;
                let mask = if self.packet { 0xff } else { mask };
                self.m.set_field_masked(field, v as u128, mask as u128);
            }
            (_, Syntax::TunFlags) => {
                let all = u32::from(fastpath::flow::key::tun_flags::ALL);
                let (v, mask) = parse_flags(key, value, &tun_flag_names(), all)?;
                let mask = if self.packet { all } else { mask };
                self.m.set_field_masked(field, v as u128, mask as u128);
            }
        }
        Ok(())
    }

    /// `FIELD[]=V`, `FIELD[i..j]=V`, `FIELD[i]=V`: matches those bits of the field to the
    /// integer `V` (right-aligned), keeping what earlier items matched in its other bits, as
    /// OVS's `parse_subfield` does. A field that cannot be masked can only be given whole, and
    /// only if its width is whole bytes (OVS refuses `dl_vlan[]` and `ip_dscp[]` too).
    fn subfield(&mut self, key: &str, value: &str, bare: bool) -> Result<(), OfctlError> {
        let (desc, pieces) = subfield::parse_pieces(key)?;
        if bare {
            return Err(OfctlError::bad_value(key, "", "a value is required"));
        }
        let total: u32 = pieces.iter().map(|p| p.n_bits()).sum();
        let mut v = parse_uint_bits(key, value, total)?;
        if !desc.maskable {
            let whole = total == desc.bits() && pieces[0].start == 0;
            if !whole || desc.bits() % 8 != 0 {
                return Err(OfctlError::bad_value(
                    key,
                    value,
                    "this field cannot be masked, so only whole bytes of all of it can be matched",
                ));
            }
            self.set(key, &desc, &v.to_string())?;
        } else {
            for p in &pieces {
                let n = p.n_bits();
                let ones = if n >= 128 {
                    u128::MAX
                } else {
                    (1u128 << n) - 1
                };
                let bits = ones << p.start;
                let (old, old_mask) = self.m.field(p.field);
                let part = (v & ones) << p.start;
                self.m
                    .set_field_masked(p.field, (old & !bits) | part, old_mask | bits);
                v = if n >= 128 { 0 } else { v >> n };
            }
        }
        if desc.prereq != Prereq::None {
            self.used.push((key.to_owned(), desc.prereq));
        }
        Ok(())
    }

    fn vlan(&self) -> (u16, u16) {
        let (v, m) = self.m.field(Field::VlanTci);
        (v as u16, m as u16)
    }

    /// Checks every prerequisite against the complete match.
    pub(crate) fn finish(self) -> Result<Match, OfctlError> {
        for (name, prereq) in &self.used {
            if !prereq.holds(&self.m) {
                return Err(OfctlError::Prerequisite {
                    what: name.clone(),
                    needs: prereq.needs(),
                });
            }
        }
        Ok(self.m)
    }
}

/// The (field, value, mask) pieces a value of `desc` writes: the field itself, or for an
/// extended register each 32-bit register it spans (most significant first).
pub(crate) fn split_wide(desc: &FieldName, v: u128, mask: u128) -> Vec<(Field, u128, u128)> {
    let Field::Reg(base) = desc.field else {
        return vec![(desc.field, v, mask)];
    };
    if desc.regs == 0 {
        return vec![(desc.field, v, mask)];
    }
    (0..desc.regs)
        .map(|i| {
            let shift = 32 * (desc.regs - 1 - i) as u32;
            let part = |x: u128| (x >> shift) & 0xffff_ffff;
            (Field::Reg(base + i), part(v), part(mask))
        })
        .collect()
}

/// `tun_flags` names with their bits.
pub(crate) fn tun_flag_names() -> [(&'static str, u32); 4] {
    fastpath::flow::key::tun_flags::NAMES.map(|(n, b)| (n, u32::from(b)))
}

/// Parses a flags value: `+a-b` (masked), `a|b` (exactly these), or `0xV[/0xM]`.
pub(crate) fn parse_flags(
    key: &str,
    value: &str,
    names: &[(&str, u32)],
    all: u32,
) -> Result<(u32, u32), OfctlError> {
    let bits = 32 - all.leading_zeros();
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        let (v, m) = match value.split_once('/') {
            Some((v, m)) => (
                parse_uint_bits(key, v, bits)?,
                parse_uint_bits(key, m, bits)?,
            ),
            None => (parse_uint_bits(key, value, bits)?, all as u128),
        };
        return Ok((v as u32 & m as u32, m as u32));
    }
    let lookup = |name: &str| {
        names
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| OfctlError::bad_value(key, value, format!("unknown flag '{name}'")))
    };
    if value.starts_with(['+', '-']) {
        let (mut v, mut m) = (0u32, 0u32);
        let mut rest = value;
        while !rest.is_empty() {
            let sign = &rest[..1];
            let body = &rest[1..];
            let end = body.find(['+', '-']).unwrap_or(body.len());
            let bit = lookup(&body[..end])?;
            if m & bit != 0 {
                return Err(OfctlError::bad_value(
                    key,
                    value,
                    format!("flag '{}' given twice", &body[..end]),
                ));
            }
            m |= bit;
            if sign == "+" {
                v |= bit;
            }
            rest = &body[end..];
        }
        return Ok((v, m));
    }
    let mut v = 0;
    for name in value.split('|') {
        v |= lookup(name)?;
    }
    Ok((v, all))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofctl::NoNames;

    fn build(items: &[(&str, &str)]) -> Result<Match, OfctlError> {
        let mut b = MatchBuilder::new(&NoNames, false);
        for (k, v) in items {
            assert!(b.item(k, v, v.is_empty())?, "{k} not a field");
        }
        b.finish()
    }

    #[test]
    fn dl_vlan_sets_cfi_and_vid_and_0xffff_means_untagged() {
        let m = build(&[("dl_vlan", "10"), ("dl_vlan_pcp", "3")]).unwrap();
        assert_eq!(m.key.vlan_tci, VLAN_CFI | 10 | (3 << 13));
        assert_eq!(m.mask.vlan_tci, 0xffff);
        let m = build(&[("dl_vlan", "0xffff")]).unwrap();
        assert_eq!((m.key.vlan_tci, m.mask.vlan_tci), (0, 0xffff));
        assert!(build(&[("dl_vlan", "4096")]).is_err());
    }

    #[test]
    fn nw_tos_keeps_ecn_mask_and_rejects_ecn_bits() {
        let m = build(&[("ip", ""), ("nw_ecn", "1"), ("nw_tos", "32")]).unwrap();
        assert_eq!((m.key.nw_tos, m.mask.nw_tos), (33, 0xff));
        assert!(build(&[("ip", ""), ("nw_tos", "33")]).is_err());
    }

    #[test]
    fn flags_forms() {
        let names = ct_state_names();
        assert_eq!(
            parse_flags("ct_state", "+trk+new-est", &names, 0xff).unwrap(),
            (0x21, 0x23)
        );
        assert_eq!(
            parse_flags("ct_state", "trk|est", &names, 0xff).unwrap(),
            (0x22, 0xff)
        );
        assert_eq!(
            parse_flags("ct_state", "0x20/0x21", &names, 0xff).unwrap(),
            (0x20, 0x21)
        );
        assert!(parse_flags("ct_state", "+trk+trk", &names, 0xff).is_err());
        assert!(parse_flags("ct_state", "+bogus", &names, 0xff).is_err());
        assert_eq!(
            parse_flags("tcp_flags", "syn", &TCP_FLAG_NAMES, TCP_FLAGS_MASK).unwrap(),
            (2, 0xfff)
        );
        assert_eq!(
            parse_flags("tcp_flags", "+syn-ack", &TCP_FLAG_NAMES, TCP_FLAGS_MASK).unwrap(),
            (2, 0x12)
        );
    }

    #[test]
    fn prerequisites_are_checked_after_the_whole_match() {
        assert!(build(&[("tp_dst", "80"), ("tcp", "")]).is_ok());
        let e = build(&[("tp_dst", "80")]).unwrap_err();
        assert_eq!(e.to_string(), "tp_dst requires tcp, udp or sctp");
        let e = build(&[("udp", ""), ("tcp_dst", "80")]).unwrap_err();
        assert_eq!(e.to_string(), "tcp_dst requires tcp");
        let e = build(&[("ipv6", ""), ("nw_src", "1.2.3.4")]).unwrap_err();
        assert_eq!(e.to_string(), "nw_src requires ip or arp");
        assert!(build(&[("arp", ""), ("nw_src", "1.2.3.4")]).is_ok());
        let e = build(&[("tcp", ""), ("icmp_type", "3")]).unwrap_err();
        assert_eq!(e.to_string(), "icmp_type requires icmp or icmp6");
        assert!(
            build(&[
                ("icmp6", ""),
                ("icmpv6_type", "135"),
                ("nd_target", "fe80::1")
            ])
            .is_ok()
        );
        assert!(
            build(&[
                ("icmp6", ""),
                ("icmpv6_type", "128"),
                ("nd_target", "fe80::1")
            ])
            .is_err()
        );
    }

    #[test]
    fn masks_only_where_allowed() {
        let e = build(&[("ip", ""), ("nw_ttl", "5/3")]).unwrap_err();
        assert!(e.to_string().contains("cannot be masked"), "{e}");
        let m = build(&[("reg3", "0x5/0xf")]).unwrap();
        assert_eq!((m.key.regs[3], m.mask.regs[3]), (5, 0xf));
        let e = build(&[("ip", ""), ("nw_ttl", "300")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad value '300' for 'nw_ttl': does not fit in 8 bits"
        );
    }
}
