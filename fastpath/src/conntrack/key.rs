//! Connection keys, and reading one from a packet.
//!
//! A [`ConnTuple`] is what identifies one direction of a connection: zone, address family,
//! protocol, addresses and ports. It is a 40-byte `#[repr(C)]` value with no padding, hashed as
//! one byte slice. A connection has two tuples, *original* (the first packet's) and *reply*
//! (what the answer looks like: the original reversed, then rewritten by NAT), and the table
//! indexes both.
//!
//! For ICMP queries (echo, timestamp, information), `sport` holds the identifier and `dport`
//! holds `type << 8 | code`, so a request and its reply have distinct tuples that
//! [`ConnTuple::reverse`] maps onto each other (type 8 <-> 0 and so on). Protocols without ports
//! (including SCTP, as in OVS's userspace datapath) have both ports zero.
//!
//! [`parse`] reads the tuple and the L4 facts conntrack needs (TCP sequence space, ICMP kind)
//! straight from the frame. It checks every length before it reads, so no input can make it
//! panic; a frame it cannot make sense of yields a [`CtInvalid`] reason instead.

use core::fmt;
use core::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use zerocopy::{Immutable, IntoBytes, KnownLayout};

use super::CtInvalid;
use super::icmp::{self, IcmpKind};
use crate::flow::key::ipproto;

/// One direction of a connection. See the module docs for the ICMP encoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ConnTuple {
    /// Source address (IPv4 in the first 4 bytes, the rest zero).
    pub src: [u8; 16],
    /// Destination address (IPv4 in the first 4 bytes, the rest zero).
    pub dst: [u8; 16],
    /// TCP/UDP source port, or ICMP identifier.
    pub sport: u16,
    /// TCP/UDP destination port, or ICMP `type << 8 | code`.
    pub dport: u16,
    /// Conntrack zone.
    pub zone: u16,
    /// IP protocol.
    pub proto: u8,
    /// 4 or 6.
    pub family: u8,
}

impl Hash for ConnTuple {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.as_bytes());
    }
}

impl ConnTuple {
    /// A tuple between two IP addresses of the same family. Panics if the families differ
    /// (a programming error, not packet input).
    pub fn new(zone: u16, proto: u8, src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Self {
        let (family, src, dst) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (4, v4_bytes(s), v4_bytes(d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => (6, s.octets(), d.octets()),
            _ => panic!("ConnTuple::new: mixed address families"),
        };
        ConnTuple {
            src,
            dst,
            sport,
            dport,
            zone,
            proto,
            family,
        }
    }

    /// An ICMP/ICMPv6 query tuple (`icmp_type` is the request's type).
    pub fn icmp(zone: u16, src: IpAddr, dst: IpAddr, id: u16, icmp_type: u8, code: u8) -> Self {
        let proto = if src.is_ipv4() {
            ipproto::ICMP
        } else {
            ipproto::ICMPV6
        };
        Self::new(
            zone,
            proto,
            src,
            dst,
            id,
            u16::from(icmp_type) << 8 | u16::from(code),
        )
    }

    /// Source address.
    pub fn src_ip(&self) -> IpAddr {
        addr_of(self.family, &self.src)
    }

    /// Destination address.
    pub fn dst_ip(&self) -> IpAddr {
        addr_of(self.family, &self.dst)
    }

    /// True if this tuple's ports are an ICMP query's identifier and type/code.
    pub fn is_icmp(&self) -> bool {
        (self.family == 4 && self.proto == ipproto::ICMP)
            || (self.family == 6 && self.proto == ipproto::ICMPV6)
    }

    /// True if the protocol has ports conntrack tracks and NAT may rewrite.
    pub fn has_ports(&self) -> bool {
        self.proto == ipproto::TCP || self.proto == ipproto::UDP
    }

    /// The tuple a reply to this direction carries (before any NAT).
    pub fn reverse(&self) -> ConnTuple {
        let mut r = ConnTuple {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        };
        if self.is_icmp() {
            let ty = (self.dport >> 8) as u8;
            let reply = icmp::counterpart(self.family, ty).unwrap_or(ty);
            r.sport = self.sport;
            r.dport = u16::from(reply) << 8 | (self.dport & 0xff);
        }
        r
    }
}

impl fmt::Display for ConnTuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "src={},dst={}", self.src_ip(), self.dst_ip())?;
        if self.is_icmp() {
            write!(
                f,
                ",id={},type={},code={}",
                self.sport,
                self.dport >> 8,
                self.dport & 0xff
            )
        } else if self.has_ports() {
            write!(f, ",sport={},dport={}", self.sport, self.dport)
        } else {
            Ok(())
        }
    }
}

fn v4_bytes(a: Ipv4Addr) -> [u8; 16] {
    let mut b = [0; 16];
    b[..4].copy_from_slice(&a.octets());
    b
}

pub(crate) fn addr_of(family: u8, b: &[u8; 16]) -> IpAddr {
    if family == 4 {
        IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*b))
    }
}

/// The TCP facts the window tracker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct TcpSegment {
    /// The 12 flag bits.
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    /// Advertised window, unscaled.
    pub win: u16,
    /// Payload bytes.
    pub payload_len: u32,
    /// Window scale option value, if present.
    pub wscale: Option<u8>,
}

/// What kind of L4 header a packet has, as far as conntrack cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum L4 {
    Tcp(TcpSegment),
    Udp,
    /// An ICMP/ICMPv6 query or query reply (tuple holds id and type/code).
    IcmpQuery {
        is_request: bool,
    },
    /// An ICMP/ICMPv6 error: the quoted packet starts at `l4 + 8`.
    IcmpError,
    /// Any other protocol: tracked by addresses only.
    Other,
}

/// A packet as conntrack sees it: its tuple and where its headers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PacketView {
    pub tuple: ConnTuple,
    pub l3: usize,
    pub l4: usize,
    /// End of the IP payload (`l3` + IP total length); trailing padding is beyond it.
    pub end: usize,
    pub l4kind: L4,
    /// The L4 checksum field holds an offloaded *partial* sum (pseudo-header only, finished by
    /// whoever transmits): NAT must update it as such. Set by the caller, which knows the
    /// packet's offload state; false from [`parse`].
    pub l4_csum_partial: bool,
}

#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The L3 part of a header walk: family, protocol, addresses, L4 offset and payload end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct L3Info {
    pub family: u8,
    pub proto: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub l4: usize,
    pub end: usize,
}

/// Parses the IPv4 or IPv6 header at `l3`. `end_limit` bounds the packet (the frame length,
/// or the quoted bytes of an ICMP error); with `allow_truncated` (quoted headers) the IP
/// length field may point beyond it.
pub(crate) fn parse_l3(
    b: &[u8],
    l3: usize,
    end_limit: usize,
    allow_truncated: bool,
) -> Result<L3Info, CtInvalid> {
    let first = *b.get(l3).ok_or(CtInvalid::NotIp)?;
    let mut src = [0; 16];
    let mut dst = [0; 16];
    match first >> 4 {
        4 => {
            let hdr = b.get(l3..l3 + 20).ok_or(CtInvalid::BadL3)?;
            let ihl = usize::from(first & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
            if ihl < 20 || l3 + 20 > end_limit || total < ihl || l3 + ihl > end_limit {
                return Err(CtInvalid::BadL3);
            }
            let end = if l3 + total > end_limit {
                if !allow_truncated {
                    return Err(CtInvalid::BadL3);
                }
                end_limit
            } else {
                l3 + total
            };
            if u16::from_be_bytes([hdr[6], hdr[7]]) & 0x3fff != 0 {
                return Err(CtInvalid::Fragment);
            }
            src[..4].copy_from_slice(&hdr[12..16]);
            dst[..4].copy_from_slice(&hdr[16..20]);
            Ok(L3Info {
                family: 4,
                proto: hdr[9],
                src,
                dst,
                l4: l3 + ihl,
                end,
            })
        }
        6 => {
            let hdr = b.get(l3..l3 + 40).ok_or(CtInvalid::BadL3)?;
            let plen = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
            let mut end = l3 + 40 + plen;
            if l3 + 40 > end_limit {
                return Err(CtInvalid::BadL3);
            }
            if plen == 0 || end > end_limit {
                // Jumbograms (plen 0) are not supported; a short frame is malformed.
                if !allow_truncated || plen == 0 {
                    return Err(CtInvalid::BadL3);
                }
                end = end_limit;
            }
            src.copy_from_slice(&hdr[8..24]);
            dst.copy_from_slice(&hdr[24..40]);
            let (proto, l4) = walk_ipv6_ext(b, hdr[6], l3 + 40, end)?;
            Ok(L3Info {
                family: 6,
                proto,
                src,
                dst,
                l4,
                end,
            })
        }
        _ => Err(CtInvalid::NotIp),
    }
}

/// Walks IPv6 extension headers from `off` to the upper-layer header (bounded).
fn walk_ipv6_ext(
    b: &[u8],
    mut nh: u8,
    mut off: usize,
    end: usize,
) -> Result<(u8, usize), CtInvalid> {
    for _ in 0..8 {
        let len = match nh {
            0 | 43 | 60 => (usize::from(*b.get(off + 1).ok_or(CtInvalid::BadL3)?) + 1) * 8,
            51 => (usize::from(*b.get(off + 1).ok_or(CtInvalid::BadL3)?) + 2) * 4,
            44 => {
                let fo = be16(b, off + 2).ok_or(CtInvalid::BadL3)?;
                // Offset or more-fragments set: a real fragment (an atomic one is not).
                if fo & 0xfff9 != 0 {
                    return Err(CtInvalid::Fragment);
                }
                8
            }
            _ => return Ok((nh, off)),
        };
        if off + len > end {
            return Err(CtInvalid::BadL3);
        }
        nh = b[off];
        off += len;
    }
    Err(CtInvalid::BadL3)
}

/// Reads the TCP window-scale option (kind 3) from the options between `from` and `to`.
fn tcp_wscale(b: &[u8], mut at: usize, to: usize) -> Option<u8> {
    while at < to {
        match b[at] {
            0 => return None,
            1 => at += 1,
            kind => {
                let len = usize::from(*b.get(at + 1).filter(|_| at + 1 < to)?);
                if len < 2 || at + len > to {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(b[at + 2]);
                }
                at += len;
            }
        }
    }
    None
}

/// Reads the L4 header at `l3.l4` (bounded by `l3.end`). `quoted` relaxes the TCP check to
/// the 8 bytes an ICMP error is guaranteed to carry.
pub(crate) fn parse_l4(b: &[u8], l3: &L3Info, quoted: bool) -> Result<(u16, u16, L4), CtInvalid> {
    let (l4, end) = (l3.l4, l3.end);
    let avail = end.saturating_sub(l4);
    match (l3.family, l3.proto) {
        (_, ipproto::TCP) if quoted => {
            if avail < 8 {
                return Err(CtInvalid::TruncatedL4);
            }
            let seg = TcpSegment {
                seq: be32(b, l4 + 4).unwrap_or(0),
                ..TcpSegment::default()
            };
            Ok((
                be16(b, l4).unwrap_or(0),
                be16(b, l4 + 2).unwrap_or(0),
                L4::Tcp(seg),
            ))
        }
        (_, ipproto::TCP) => {
            if avail < 20 {
                return Err(CtInvalid::TruncatedL4);
            }
            let doff = usize::from(b[l4 + 12] >> 4) * 4;
            if doff < 20 || doff > avail {
                return Err(CtInvalid::TruncatedL4);
            }
            let seg = TcpSegment {
                flags: u16::from_be_bytes([b[l4 + 12], b[l4 + 13]]) & 0x0fff,
                seq: be32(b, l4 + 4).unwrap_or(0),
                ack: be32(b, l4 + 8).unwrap_or(0),
                win: u16::from_be_bytes([b[l4 + 14], b[l4 + 15]]),
                payload_len: (avail - doff) as u32,
                wscale: tcp_wscale(b, l4 + 20, l4 + doff),
            };
            Ok((
                u16::from_be_bytes([b[l4], b[l4 + 1]]),
                u16::from_be_bytes([b[l4 + 2], b[l4 + 3]]),
                L4::Tcp(seg),
            ))
        }
        (_, ipproto::UDP) => {
            if avail < 8 {
                return Err(CtInvalid::TruncatedL4);
            }
            Ok((
                u16::from_be_bytes([b[l4], b[l4 + 1]]),
                u16::from_be_bytes([b[l4 + 2], b[l4 + 3]]),
                L4::Udp,
            ))
        }
        (4, ipproto::ICMP) | (6, ipproto::ICMPV6) => {
            if avail < 8 {
                return Err(CtInvalid::TruncatedL4);
            }
            let (ty, code) = (b[l4], b[l4 + 1]);
            match icmp::classify(l3.family, ty) {
                IcmpKind::Request | IcmpKind::Reply => Ok((
                    u16::from_be_bytes([b[l4 + 4], b[l4 + 5]]),
                    u16::from(ty) << 8 | u16::from(code),
                    L4::IcmpQuery {
                        is_request: icmp::classify(l3.family, ty) == IcmpKind::Request,
                    },
                )),
                IcmpKind::Error if !quoted => Ok((0, 0, L4::IcmpError)),
                _ => Err(CtInvalid::IcmpUnsupported),
            }
        }
        _ => Ok((0, 0, L4::Other)),
    }
}

/// Reads the packet whose L3 header is at `l3` (the `l4` offset from the flow extractor is
/// recomputed here, since conntrack also needs the final IPv6 next-header value).
pub(crate) fn parse(frame: &[u8], l3: usize, zone: u16) -> Result<PacketView, CtInvalid> {
    let info = parse_l3(frame, l3, frame.len(), false)?;
    let (sport, dport, l4kind) = parse_l4(frame, &info, false)?;
    Ok(PacketView {
        tuple: ConnTuple {
            src: info.src,
            dst: info.dst,
            sport,
            dport,
            zone,
            proto: info.proto,
            family: info.family,
        },
        l3,
        l4: info.l4,
        end: info.end,
        l4kind,
        l4_csum_partial: false,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::action::CtAction;
    use crate::conntrack::{Conntrack, CtVerdict};
    use crate::flow::FlowKey;

    /// Runs `f` through `ct` with `action` at `now`; returns the verdict and the key.
    pub(crate) fn run(
        ct: &Conntrack,
        f: &mut [u8],
        action: &CtAction,
        now: u64,
    ) -> (CtVerdict, FlowKey) {
        let mut key = FlowKey::ZERO;
        let v = ct.execute(f, 14, 0, &mut key, action, now);
        (v, key)
    }

    /// `ct(commit,zone=Z)`.
    pub(crate) fn commit(zone: u16) -> CtAction {
        CtAction {
            commit: true,
            zone,
            ..CtAction::default()
        }
    }

    /// `ct(zone=Z)`.
    pub(crate) fn track(zone: u16) -> CtAction {
        CtAction {
            zone,
            ..CtAction::default()
        }
    }

    /// Builds an Ethernet + IPv4 frame around `l4` (checksums valid). Test fixture helper.
    pub(crate) fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let total = (20 + l4.len()) as u16;
        let mut ip = [
            0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let c = crate::wire::checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        super::super::nat::tests::fix_l4_checksum(&mut f, 14);
        f
    }

    /// Builds an Ethernet + IPv6 frame around `l4` (checksums valid).
    pub(crate) fn ipv6_frame(proto: u8, src: [u8; 16], dst: [u8; 16], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x86;
        f[13] = 0xdd;
        let mut ip = [0u8; 40];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        ip[6] = proto;
        ip[7] = 64;
        ip[8..24].copy_from_slice(&src);
        ip[24..40].copy_from_slice(&dst);
        f.extend_from_slice(&ip);
        f.extend_from_slice(l4);
        super::super::nat::tests::fix_l4_checksum(&mut f, 14);
        f
    }

    /// A TCP header (no options unless `wscale`) plus `payload`.
    pub(crate) fn tcp(
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u16,
        win: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sport.to_be_bytes());
        t[2..4].copy_from_slice(&dport.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&ack.to_be_bytes());
        t[12] = 5 << 4 | (flags >> 8) as u8;
        t[13] = flags as u8;
        t[14..16].copy_from_slice(&win.to_be_bytes());
        t.extend_from_slice(payload);
        t
    }

    pub(crate) fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut u = vec![0u8; 8];
        u[0..2].copy_from_slice(&sport.to_be_bytes());
        u[2..4].copy_from_slice(&dport.to_be_bytes());
        u[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        u.extend_from_slice(payload);
        u
    }

    #[test]
    fn parses_ipv4_tcp_with_wscale() {
        let mut t = tcp(1000, 80, 7, 0, 0x002, 65535, b"");
        t[12] = 6 << 4;
        t.extend_from_slice(&[1, 3, 3, 7]);
        let f = ipv4_frame(6, [10, 0, 0, 1], [10, 0, 0, 2], &t);
        let v = parse(&f, 14, 3).unwrap();
        assert_eq!(v.tuple.family, 4);
        assert_eq!(v.tuple.zone, 3);
        assert_eq!((v.tuple.sport, v.tuple.dport), (1000, 80));
        assert_eq!(v.tuple.src_ip().to_string(), "10.0.0.1");
        match v.l4kind {
            L4::Tcp(s) => {
                assert_eq!(s.flags, 0x002);
                assert_eq!(s.seq, 7);
                assert_eq!(s.wscale, Some(7));
                assert_eq!(s.payload_len, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv4_fragments_and_truncation_are_invalid() {
        let mut f = ipv4_frame(17, [1, 1, 1, 1], [2, 2, 2, 2], &udp(1, 2, b"abc"));
        for cut in 0..f.len() {
            assert!(parse(&f[..cut], 14, 0).is_err(), "cut at {cut}");
        }
        f[14 + 6] = 0x20; // MF
        assert_eq!(parse(&f, 14, 0), Err(CtInvalid::Fragment));
        assert_eq!(parse(&[0u8; 40], 14, 0), Err(CtInvalid::NotIp));
    }

    #[test]
    fn ipv6_walks_extension_headers() {
        // Hop-by-hop (8 bytes) then UDP.
        let mut l4 = vec![17, 0, 0, 0, 0, 0, 0, 0];
        l4.extend_from_slice(&udp(53, 5353, b"x"));
        let mut src = [0u8; 16];
        src[15] = 1;
        let f = ipv6_frame(0, src, [0xfe; 16], &l4);
        let v = parse(&f, 14, 0).unwrap();
        assert_eq!(v.tuple.proto, 17);
        assert_eq!(v.l4, 14 + 48);
        assert_eq!((v.tuple.sport, v.tuple.dport), (53, 5353));
        // A fragment header with an offset is a fragment.
        let frag = [17, 0, 0, 8, 0, 0, 0, 1];
        let f = ipv6_frame(44, src, [0xfe; 16], &frag);
        assert_eq!(parse(&f, 14, 0), Err(CtInvalid::Fragment));
    }

    #[test]
    fn icmp_tuples_reverse_to_replies() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let req = ConnTuple::icmp(0, a, b, 77, 8, 0);
        let rep = ConnTuple::icmp(0, b, a, 77, 0, 0);
        assert_eq!(req.reverse(), rep);
        assert_eq!(
            req.to_string(),
            "src=10.0.0.1,dst=10.0.0.2,id=77,type=8,code=0"
        );
        let a6: IpAddr = "fd00::1".parse().unwrap();
        let b6: IpAddr = "fd00::2".parse().unwrap();
        assert_eq!(
            ConnTuple::icmp(1, a6, b6, 5, 128, 0).reverse(),
            ConnTuple::icmp(1, b6, a6, 5, 129, 0)
        );
        let t = ConnTuple::new(0, 6, a, b, 1, 2);
        assert_eq!(t.reverse().reverse(), t);
        assert_eq!(core::mem::size_of::<ConnTuple>(), 40);
    }
}
