//! Choosing connections to flush, as `ovs-appctl dpctl/flush-conntrack` does.
//!
//! # What
//!
//! A [`TuplePattern`] is a conntrack tuple with every field optional, written the way OVS
//! writes it: `ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=1234,ct_tp_dst=80`
//! (`ct_ipv6_src`/`ct_ipv6_dst` for IPv6; `icmp_id`/`icmp_type`/`icmp_code` instead of ports
//! for ICMP and ICMPv6). A [`FlushSpec`] is a zone plus an original-direction pattern and an
//! optional reply-direction pattern, and [`Conntrack::flush_spec`](super::Conntrack::flush_spec)
//! removes what it selects.
//!
//! # Semantics (OVS's, made explicit)
//!
//! - No pattern: every connection, or only those of the zone if one is given.
//! - A pattern: only connections of the given zone, **zone 0 if none is given** (OVS's
//!   documented default), then:
//!   - an original pattern that names the whole tuple (both addresses, the protocol, and both
//!     ports for TCP/UDP or id, type and code for ICMP) with no reply pattern is looked up
//!     exactly, and finds the connection whose original *or reply* tuple it is, as OVS's
//!     lookup does: the tuple of either direction's packets flushes the connection;
//!   - anything else selects every connection whose original tuple matches the original
//!     pattern's fields and whose reply tuple (after NAT) matches the reply pattern's fields.
//!     A field that is not given matches anything. (OVS compares the three ICMP fields even
//!     when they are not given, as zero, so a partial ICMP pattern matches almost nothing
//!     there; here they are wildcards like every other field.)
//!
//! # Invariants
//!
//! Patterns are checked on construction ([`TuplePattern::parse`], [`TuplePattern::check`]):
//! addresses of one pattern are of one family, ports need TCP or UDP (the protocols conntrack
//! tracks ports for), ICMP fields need the ICMP protocol of the pattern's family. A checked
//! pattern therefore never silently matches nothing because of a contradiction in itself.

use std::net::IpAddr;

use super::key::ConnTuple;
use crate::flow::key::ipproto;

/// Why a tuple pattern was refused. Messages name the offending field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The tuple string is empty.
    #[error("empty conntrack tuple (expected e.g. ct_nw_src=10.0.0.1,ct_nw_proto=6,ct_tp_dst=80)")]
    Empty,
    /// A `field` with no `=value`, or an empty value.
    #[error("conntrack tuple field '{0}' has no value")]
    MissingValue(String),
    /// A field name the syntax does not have.
    #[error(
        "unknown conntrack tuple field '{0}' (expected ct_nw_src, ct_nw_dst, ct_ipv6_src, \
         ct_ipv6_dst, ct_nw_proto, ct_tp_src, ct_tp_dst, icmp_type, icmp_code or icmp_id)"
    )]
    UnknownField(String),
    /// A value that does not parse for its field.
    #[error("bad value '{value}' for '{field}': {why}")]
    BadValue {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    /// The same field (or the same address slot) given twice.
    #[error("conntrack tuple field '{0}' is set twice")]
    Duplicate(&'static str),
    /// IPv4 and IPv6 addresses in one pattern.
    #[error("'{0}' and '{1}' are of different address families")]
    MixedFamilies(&'static str, &'static str),
    /// Ports without a protocol, or with one conntrack tracks no ports for.
    #[error("'{field}' needs ct_nw_proto=6 (tcp) or ct_nw_proto=17 (udp){}", proto_note(*.proto))]
    PortsNeedTcpOrUdp {
        field: &'static str,
        proto: Option<u8>,
    },
    /// ICMP fields without the ICMP protocol of the pattern's family.
    #[error("'{field}' needs {want}")]
    IcmpNeedsIcmp {
        field: &'static str,
        /// The protocol(s) it needs, e.g. `ct_nw_proto=1 (icmp)`.
        want: &'static str,
    },
}

fn proto_note(p: Option<u8>) -> String {
    p.map(|p| format!(", not protocol {p}")).unwrap_or_default()
}

/// A conntrack tuple with every field optional (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TuplePattern {
    /// Source address (`ct_nw_src` / `ct_ipv6_src`).
    pub src: Option<IpAddr>,
    /// Destination address (`ct_nw_dst` / `ct_ipv6_dst`).
    pub dst: Option<IpAddr>,
    /// IP protocol (`ct_nw_proto`).
    pub proto: Option<u8>,
    /// TCP/UDP source port (`ct_tp_src`).
    pub sport: Option<u16>,
    /// TCP/UDP destination port (`ct_tp_dst`).
    pub dport: Option<u16>,
    /// ICMP/ICMPv6 query identifier (`icmp_id`).
    pub icmp_id: Option<u16>,
    /// ICMP/ICMPv6 type (`icmp_type`), e.g. 8 for an echo request.
    pub icmp_type: Option<u8>,
    /// ICMP/ICMPv6 code (`icmp_code`).
    pub icmp_code: Option<u8>,
}

/// Parses a number in decimal or `0x` hexadecimal.
fn number<T: TryFrom<u64>>(field: &'static str, value: &str) -> Result<T, FilterError> {
    let bad = |why| FilterError::BadValue {
        field,
        value: value.to_owned(),
        why,
    };
    let n = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    }
    .map_err(|_| bad("not a number"))?;
    T::try_from(n).map_err(|_| bad("out of range"))
}

fn set<T>(slot: &mut Option<T>, field: &'static str, v: T) -> Result<(), FilterError> {
    if slot.replace(v).is_some() {
        return Err(FilterError::Duplicate(field));
    }
    Ok(())
}

impl TuplePattern {
    /// True if no field is given (the pattern matches every tuple).
    pub fn is_empty(&self) -> bool {
        *self == TuplePattern::default()
    }

    /// Parses OVS's `ct-orig-tuple` syntax: comma-separated `field=value` pairs, in any order.
    pub fn parse(s: &str) -> Result<TuplePattern, FilterError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FilterError::Empty);
        }
        let mut p = TuplePattern::default();
        // The field names that set each address, for error messages.
        let (mut src_name, mut dst_name) = ("", "");
        for item in s.split(',').map(str::trim) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            let (key, value) = (key.trim(), value.trim());
            if value.is_empty() {
                return Err(FilterError::MissingValue(key.to_owned()));
            }
            match key {
                "ct_nw_src" | "ct_nw_dst" | "ct_ipv6_src" | "ct_ipv6_dst" => {
                    let (field, v6, is_src): (&'static str, bool, bool) = match key {
                        "ct_nw_src" => ("ct_nw_src", false, true),
                        "ct_nw_dst" => ("ct_nw_dst", false, false),
                        "ct_ipv6_src" => ("ct_ipv6_src", true, true),
                        _ => ("ct_ipv6_dst", true, false),
                    };
                    let addr: IpAddr = if v6 {
                        value.parse::<std::net::Ipv6Addr>().map(IpAddr::V6)
                    } else {
                        value.parse::<std::net::Ipv4Addr>().map(IpAddr::V4)
                    }
                    .map_err(|_| FilterError::BadValue {
                        field,
                        value: value.to_owned(),
                        why: if v6 {
                            "not an IPv6 address"
                        } else {
                            "not an IPv4 address"
                        },
                    })?;
                    let (slot, name) = if is_src {
                        (&mut p.src, &mut src_name)
                    } else {
                        (&mut p.dst, &mut dst_name)
                    };
                    if slot.is_some() {
                        return Err(FilterError::Duplicate(field));
                    }
                    *slot = Some(addr);
                    *name = field;
                    if let (Some(a), Some(b)) = (p.src, p.dst)
                        && a.is_ipv4() != b.is_ipv4()
                    {
                        return Err(FilterError::MixedFamilies(src_name, dst_name));
                    }
                }
                "ct_nw_proto" => set(&mut p.proto, "ct_nw_proto", number("ct_nw_proto", value)?)?,
                "ct_tp_src" => set(&mut p.sport, "ct_tp_src", number("ct_tp_src", value)?)?,
                "ct_tp_dst" => set(&mut p.dport, "ct_tp_dst", number("ct_tp_dst", value)?)?,
                "icmp_id" => set(&mut p.icmp_id, "icmp_id", number("icmp_id", value)?)?,
                "icmp_type" => set(&mut p.icmp_type, "icmp_type", number("icmp_type", value)?)?,
                "icmp_code" => set(&mut p.icmp_code, "icmp_code", number("icmp_code", value)?)?,
                _ => return Err(FilterError::UnknownField(key.to_owned())),
            }
        }
        p.check()?;
        Ok(p)
    }

    /// Checks the pattern is consistent (see the module docs); [`TuplePattern::parse`] does
    /// this, callers that build a pattern field by field must.
    pub fn check(&self) -> Result<(), FilterError> {
        let family_v4 = self.src.or(self.dst).map(|a| a.is_ipv4());
        if let (Some(a), Some(b)) = (self.src, self.dst)
            && a.is_ipv4() != b.is_ipv4()
        {
            return Err(FilterError::MixedFamilies(
                if a.is_ipv4() {
                    "ct_nw_src"
                } else {
                    "ct_ipv6_src"
                },
                if b.is_ipv4() {
                    "ct_nw_dst"
                } else {
                    "ct_ipv6_dst"
                },
            ));
        }
        for (given, field) in [
            (self.sport.is_some(), "ct_tp_src"),
            (self.dport.is_some(), "ct_tp_dst"),
        ] {
            if given && !matches!(self.proto, Some(ipproto::TCP | ipproto::UDP)) {
                return Err(FilterError::PortsNeedTcpOrUdp {
                    field,
                    proto: self.proto,
                });
            }
        }
        for (given, field) in [
            (self.icmp_id.is_some(), "icmp_id"),
            (self.icmp_type.is_some(), "icmp_type"),
            (self.icmp_code.is_some(), "icmp_code"),
        ] {
            if !given {
                continue;
            }
            let ok = match (family_v4, self.proto) {
                (Some(true), Some(p)) => p == ipproto::ICMP,
                (Some(false), Some(p)) => p == ipproto::ICMPV6,
                (None, Some(p)) => p == ipproto::ICMP || p == ipproto::ICMPV6,
                (_, None) => false,
            };
            if !ok {
                let want = match family_v4 {
                    Some(true) => "ct_nw_proto=1 (icmp)",
                    Some(false) => "ct_nw_proto=58 (icmpv6)",
                    None => "ct_nw_proto=1 (icmp) or ct_nw_proto=58 (icmpv6)",
                };
                return Err(FilterError::IcmpNeedsIcmp { field, want });
            }
        }
        Ok(())
    }

    /// True if tuple `t` has every field the pattern gives (zones are not compared).
    pub fn matches(&self, t: &ConnTuple) -> bool {
        let icmp_type = (t.dport >> 8) as u8;
        let icmp_code = t.dport as u8;
        self.src.is_none_or(|a| a == t.src_ip())
            && self.dst.is_none_or(|a| a == t.dst_ip())
            && self.proto.is_none_or(|p| p == t.proto)
            && self.sport.is_none_or(|p| t.has_ports() && p == t.sport)
            && self.dport.is_none_or(|p| t.has_ports() && p == t.dport)
            && self.icmp_id.is_none_or(|id| t.is_icmp() && id == t.sport)
            && self
                .icmp_type
                .is_none_or(|ty| t.is_icmp() && ty == icmp_type)
            && self.icmp_code.is_none_or(|c| t.is_icmp() && c == icmp_code)
    }

    /// The one tuple this pattern names in `zone`, if it gives every field of it.
    pub fn exact(&self, zone: u16) -> Option<ConnTuple> {
        let (src, dst, proto) = (self.src?, self.dst?, self.proto?);
        let probe = ConnTuple::new(zone, proto, src, dst, 0, 0);
        if probe.is_icmp() {
            Some(ConnTuple::icmp(
                zone,
                src,
                dst,
                self.icmp_id?,
                self.icmp_type?,
                self.icmp_code?,
            ))
        } else if probe.has_ports() {
            Some(ConnTuple::new(
                zone,
                proto,
                src,
                dst,
                self.sport?,
                self.dport?,
            ))
        } else {
            Some(probe)
        }
    }
}

/// What `flush-conntrack` removes: OVS's `[zone=N] [ct-orig-tuple [ct-reply-tuple]]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlushSpec {
    /// The zone; with a pattern, `None` means zone 0 (see the module docs).
    pub zone: Option<u16>,
    /// Pattern on the original-direction tuple.
    pub orig: TuplePattern,
    /// Pattern on the reply-direction tuple (after NAT).
    pub reply: TuplePattern,
}

/// How a [`FlushSpec`] is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushPlan {
    /// Every connection, or those of a zone.
    All(Option<u16>),
    /// The connection owning this tuple (either direction).
    Exact(ConnTuple),
    /// A walk over the zone, testing both patterns.
    Walk(u16),
}

impl FlushSpec {
    pub(crate) fn plan(&self) -> FlushPlan {
        if self.orig.is_empty() && self.reply.is_empty() {
            return FlushPlan::All(self.zone);
        }
        let zone = self.zone.unwrap_or(0);
        match self.orig.exact(zone) {
            Some(t) if self.reply.is_empty() => FlushPlan::Exact(t),
            _ => FlushPlan::Walk(zone),
        }
    }

    /// True if a walk selects the connection with tuples `orig` and `reply` (the walk
    /// itself keeps to its zone).
    pub(crate) fn selects(&self, orig: &ConnTuple, reply: &ConnTuple) -> bool {
        self.orig.matches(orig) && self.reply.matches(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_ovs_examples() {
        let p = TuplePattern::parse(
            "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=1234,ct_tp_dst=80",
        )
        .unwrap();
        assert_eq!(
            p,
            TuplePattern {
                src: Some(ip("10.0.0.1")),
                dst: Some(ip("10.0.0.2")),
                proto: Some(6),
                sport: Some(1234),
                dport: Some(80),
                ..TuplePattern::default()
            }
        );
        assert_eq!(
            p.exact(3),
            Some(ConnTuple::new(
                3,
                6,
                ip("10.0.0.1"),
                ip("10.0.0.2"),
                1234,
                80
            ))
        );
        // Any order, spaces around items, hex numbers, IPv6, ICMP.
        let p = TuplePattern::parse(
            " ct_nw_proto=0x3a , ct_ipv6_dst=fd00::2,ct_ipv6_src=fd00::1,icmp_type=128,icmp_code=0,icmp_id=7",
        )
        .unwrap();
        assert_eq!(
            p.exact(0),
            Some(ConnTuple::icmp(0, ip("fd00::1"), ip("fd00::2"), 7, 128, 0))
        );
        // Partial patterns are fine, and are not exact.
        let p = TuplePattern::parse("ct_nw_src=10.0.0.1").unwrap();
        assert_eq!(p.exact(0), None);
        let p = TuplePattern::parse("ct_nw_proto=17,ct_tp_dst=53").unwrap();
        assert_eq!((p.proto, p.dport, p.exact(0)), (Some(17), Some(53), None));
        // A portless protocol is exact with addresses alone.
        let p = TuplePattern::parse("ct_nw_src=1.1.1.1,ct_nw_dst=2.2.2.2,ct_nw_proto=47").unwrap();
        assert_eq!(
            p.exact(0),
            Some(ConnTuple::new(0, 47, ip("1.1.1.1"), ip("2.2.2.2"), 0, 0))
        );
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        let err = |s: &str| TuplePattern::parse(s).unwrap_err().to_string();
        assert_eq!(
            err(""),
            "empty conntrack tuple (expected e.g. ct_nw_src=10.0.0.1,ct_nw_proto=6,ct_tp_dst=80)"
        );
        assert_eq!(
            err("ct_nw_src"),
            "conntrack tuple field 'ct_nw_src' has no value"
        );
        assert_eq!(
            err("ct_nw_src="),
            "conntrack tuple field 'ct_nw_src' has no value"
        );
        assert!(err("nw_src=1.2.3.4").starts_with("unknown conntrack tuple field 'nw_src' ("));
        assert_eq!(
            err("ct_nw_src=fd00::1"),
            "bad value 'fd00::1' for 'ct_nw_src': not an IPv4 address"
        );
        assert_eq!(
            err("ct_ipv6_dst=10.0.0.1"),
            "bad value '10.0.0.1' for 'ct_ipv6_dst': not an IPv6 address"
        );
        assert_eq!(
            err("ct_nw_proto=6,ct_tp_src=65536"),
            "bad value '65536' for 'ct_tp_src': out of range"
        );
        assert_eq!(
            err("ct_nw_proto=tcp"),
            "bad value 'tcp' for 'ct_nw_proto': not a number"
        );
        assert_eq!(
            err("ct_nw_proto=256"),
            "bad value '256' for 'ct_nw_proto': out of range"
        );
        assert_eq!(
            err("ct_nw_src=1.1.1.1,ct_nw_src=1.1.1.2"),
            "conntrack tuple field 'ct_nw_src' is set twice"
        );
        assert_eq!(
            err("ct_nw_src=1.1.1.1,ct_ipv6_src=::1"),
            "conntrack tuple field 'ct_ipv6_src' is set twice"
        );
        assert_eq!(
            err("ct_nw_src=1.1.1.1,ct_ipv6_dst=::1"),
            "'ct_nw_src' and 'ct_ipv6_dst' are of different address families"
        );
        assert_eq!(
            err("ct_tp_dst=80"),
            "'ct_tp_dst' needs ct_nw_proto=6 (tcp) or ct_nw_proto=17 (udp)"
        );
        assert_eq!(
            err("ct_nw_proto=1,ct_tp_src=5"),
            "'ct_tp_src' needs ct_nw_proto=6 (tcp) or ct_nw_proto=17 (udp), not protocol 1"
        );
        assert_eq!(
            err("icmp_type=8"),
            "'icmp_type' needs ct_nw_proto=1 (icmp) or ct_nw_proto=58 (icmpv6)"
        );
        assert_eq!(
            err("ct_nw_dst=1.2.3.4,ct_nw_proto=6,icmp_id=1"),
            "'icmp_id' needs ct_nw_proto=1 (icmp)"
        );
        assert_eq!(
            err("ct_ipv6_src=::1,ct_nw_proto=1,icmp_code=0"),
            "'icmp_code' needs ct_nw_proto=58 (icmpv6)"
        );
        assert_eq!(
            err("ct_nw_src=1.1.1.1,ct_nw_proto=58,icmp_id=3"),
            "'icmp_id' needs ct_nw_proto=1 (icmp)"
        );
        assert_eq!(
            err("ct_nw_proto=6,,ct_tp_src=1"),
            "conntrack tuple field '' has no value"
        );
    }

    #[test]
    fn partial_patterns_match_given_fields_only() {
        let a = ip("10.0.0.1");
        let b = ip("10.0.0.2");
        let tcp = ConnTuple::new(0, 6, a, b, 1234, 80);
        let udp = ConnTuple::new(0, 17, a, b, 1234, 80);
        let echo = ConnTuple::icmp(0, a, b, 9, 8, 0);
        let v6 = ConnTuple::new(0, 6, ip("fd00::1"), ip("fd00::2"), 1234, 80);
        let m = |s: &str, t: &ConnTuple| TuplePattern::parse(s).unwrap().matches(t);
        assert!(TuplePattern::default().matches(&tcp));
        assert!(m("ct_nw_src=10.0.0.1", &tcp) && m("ct_nw_src=10.0.0.1", &echo));
        assert!(!m("ct_nw_src=10.0.0.1", &v6), "family differs");
        assert!(!m("ct_nw_dst=10.0.0.1", &tcp));
        assert!(m("ct_nw_proto=6,ct_tp_dst=80", &tcp));
        assert!(!m("ct_nw_proto=6,ct_tp_dst=80", &udp));
        assert!(!m("ct_nw_proto=6,ct_tp_src=80", &tcp));
        assert!(m("ct_ipv6_dst=fd00::2,ct_nw_proto=6", &v6));
        assert!(m("ct_nw_proto=1,icmp_type=8", &echo));
        assert!(m("ct_nw_proto=1,icmp_id=9,icmp_code=0", &echo));
        assert!(!m("ct_nw_proto=1,icmp_type=0", &echo));
        assert!(!m("ct_nw_proto=1,icmp_id=8", &echo));
    }

    #[test]
    fn plans_follow_ovs() {
        let full = TuplePattern::parse(
            "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=17,ct_tp_src=1,ct_tp_dst=2",
        )
        .unwrap();
        let partial = TuplePattern::parse("ct_nw_proto=17").unwrap();
        let spec = |zone, orig, reply| FlushSpec { zone, orig, reply };
        let none = TuplePattern::default();
        assert_eq!(spec(None, none, none).plan(), FlushPlan::All(None));
        assert_eq!(spec(Some(4), none, none).plan(), FlushPlan::All(Some(4)));
        // A pattern without a zone means zone 0.
        assert_eq!(
            spec(None, full, none).plan(),
            FlushPlan::Exact(full.exact(0).unwrap())
        );
        assert_eq!(
            spec(Some(7), full, none).plan(),
            FlushPlan::Exact(full.exact(7).unwrap())
        );
        assert_eq!(spec(None, partial, none).plan(), FlushPlan::Walk(0));
        // A reply pattern always walks, even with a full original one.
        assert_eq!(spec(Some(2), full, partial).plan(), FlushPlan::Walk(2));
        assert_eq!(spec(Some(2), none, partial).plan(), FlushPlan::Walk(2));
        let t = full.exact(0).unwrap();
        assert!(spec(None, partial, none).selects(&t, &t.reverse()));
        let reply_src = TuplePattern::parse("ct_nw_src=10.0.0.2").unwrap();
        assert!(spec(None, none, reply_src).selects(&t, &t.reverse()));
        assert!(!spec(None, reply_src, none).selects(&t, &t.reverse()));
    }

    /// Through a real tracker: exact tuples of either direction, partial patterns, reply
    /// patterns on NATed tuples, the zone-0 default, and counts.
    #[test]
    fn conntrack_flushes_what_the_spec_selects() {
        use crate::action::NatSpec;
        use crate::conntrack::key::tests::{commit, ipv4_frame, run, tcp, udp};
        use crate::conntrack::{Conntrack, ConntrackConfig};

        const A: [u8; 4] = [10, 0, 0, 1];
        const B: [u8; 4] = [10, 0, 0, 2];
        let ct = Conntrack::new(ConntrackConfig::default());
        let syn = |sport| ipv4_frame(6, A, B, &tcp(sport, 80, 1, 0, 0x002, 1000, b""));
        run(&ct, &mut syn(1000), &commit(0), 0);
        run(&ct, &mut syn(1001), &commit(0), 0);
        run(&ct, &mut syn(1000), &commit(5), 0);
        run(
            &ct,
            &mut ipv4_frame(17, A, B, &udp(53, 53, b"q")),
            &commit(0),
            0,
        );
        let mut snat = commit(0);
        snat.nat = Some(NatSpec {
            src: Some(true),
            addrs: Some((IpAddr::from([192, 0, 2, 9]), IpAddr::from([192, 0, 2, 9]))),
            ports: None,
        });
        run(&ct, &mut ipv4_frame(17, A, B, &udp(99, 7, b"n")), &snat, 0);
        assert_eq!(ct.len(), 5);
        let flush = |zone, orig: &str, reply: &str| {
            let pat = |s: &str| {
                if s.is_empty() {
                    TuplePattern::default()
                } else {
                    TuplePattern::parse(s).unwrap()
                }
            };
            ct.flush_spec(&FlushSpec {
                zone,
                orig: pat(orig),
                reply: pat(reply),
            })
        };
        // The reply direction's full tuple finds the connection too (zone 0 by default).
        let reply_tuple =
            "ct_nw_src=10.0.0.2,ct_nw_dst=10.0.0.1,ct_nw_proto=6,ct_tp_src=80,ct_tp_dst=1001";
        assert_eq!(flush(Some(5), reply_tuple, ""), 0, "not in zone 5");
        assert_eq!(flush(None, reply_tuple, ""), 1);
        assert_eq!(flush(None, reply_tuple, ""), 0, "already gone");
        assert!(ct.dump(Some(0)).iter().all(|e| e.orig.sport != 1001));
        // A partial pattern matches original tuples only: h2's address as source selects
        // nothing, even though every reply tuple has it.
        assert_eq!(flush(None, "ct_nw_src=10.0.0.2", ""), 0);
        // The NATed connection is found by its translated reply destination.
        assert_eq!(flush(None, "", "ct_nw_dst=192.0.2.9"), 1);
        assert_eq!(ct.len(), 3);
        // A partial TCP pattern without a zone keeps to zone 0.
        assert_eq!(flush(None, "ct_nw_proto=6,ct_tp_dst=80", ""), 1);
        assert_eq!(ct.dump(Some(5)).len(), 1);
        assert_eq!(flush(Some(5), "ct_nw_proto=6", ""), 1);
        // Without any pattern: everything left (the UDP one).
        assert_eq!(flush(None, "", ""), 1);
        assert!(ct.is_empty());
        assert_eq!(ct.stats().removed, 5);
    }
}
