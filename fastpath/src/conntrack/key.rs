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
use crate::wire::{icmp, icmpv6, ipproto, ipv4, ipv6, tcp, udp};

/// How conntrack treats an ICMP/ICMPv6 type (the protocol's own classification).
pub(crate) use crate::wire::icmp::Kind as IcmpKind;

/// The [`IcmpKind`] of ICMP (`family` 4) or ICMPv6 (`family` 6) type `ty`.
pub(crate) fn icmp_kind(family: u8, ty: u8) -> IcmpKind {
    if family == 4 {
        icmp::kind(ty)
    } else {
        icmpv6::kind(ty)
    }
}

/// The query type answering (or answered by) `ty`, in `family`.
pub(crate) fn icmp_counterpart(family: u8, ty: u8) -> Option<u8> {
    if family == 4 {
        icmp::counterpart(ty)
    } else {
        icmpv6::counterpart(ty)
    }
}

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
            let reply = icmp_counterpart(self.family, ty).unwrap_or(ty);
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
/// length field may point beyond it. The header itself must be within `end_limit`.
pub(crate) fn parse_l3(
    b: &[u8],
    l3: usize,
    end_limit: usize,
    allow_truncated: bool,
) -> Result<L3Info, CtInvalid> {
    let first = *b.get(l3).ok_or(CtInvalid::NotIp)?;
    let avail = b.get(l3..end_limit).ok_or(CtInvalid::BadL3)?;
    let mut src = [0; 16];
    let mut dst = [0; 16];
    match first >> 4 {
        4 => {
            let fixed = avail.get(..ipv4::HEADER_LEN).ok_or(CtInvalid::BadL3)?;
            // The fixed header is there: its getters cannot run past `fixed`.
            let ip = ipv4::Packet::new_unchecked(fixed);
            let (ihl, total) = (ip.header_len(), usize::from(ip.total_len()));
            if ihl < ipv4::HEADER_LEN || total < ihl || ihl > avail.len() {
                return Err(CtInvalid::BadL3);
            }
            if total > avail.len() && !allow_truncated {
                return Err(CtInvalid::BadL3);
            }
            if ip.is_fragment() {
                return Err(CtInvalid::Fragment);
            }
            src[..4].copy_from_slice(&ip.src_addr().octets());
            dst[..4].copy_from_slice(&ip.dst_addr().octets());
            Ok(L3Info {
                family: 4,
                proto: ip.protocol(),
                src,
                dst,
                l4: l3 + ihl,
                end: l3 + total.min(avail.len()),
            })
        }
        6 => {
            let fixed = avail.get(..ipv6::HEADER_LEN).ok_or(CtInvalid::BadL3)?;
            let ip = ipv6::Packet::new_unchecked(fixed);
            let plen = usize::from(ip.payload_len());
            // Jumbograms (plen 0) are not supported; a short frame is malformed.
            let whole = ipv6::HEADER_LEN + plen;
            if plen == 0 || (whole > avail.len() && !allow_truncated) {
                return Err(CtInvalid::BadL3);
            }
            let payload = &avail[ipv6::HEADER_LEN..whole.min(avail.len())];
            src = ip.src_addr().octets();
            dst = ip.dst_addr().octets();
            let upper = ipv6::skip_extension_headers(ip.next_header(), payload)
                .map_err(|_| CtInvalid::BadL3)?;
            if upper.is_fragment {
                return Err(CtInvalid::Fragment);
            }
            Ok(L3Info {
                family: 6,
                proto: upper.protocol,
                src,
                dst,
                l4: l3 + ipv6::HEADER_LEN + upper.offset,
                end: l3 + ipv6::HEADER_LEN + payload.len(),
            })
        }
        _ => Err(CtInvalid::NotIp),
    }
}

/// Reads the TCP window-scale option (kind 3) from a segment's options.
fn tcp_wscale(opts: &[u8]) -> Option<u8> {
    let mut at = 0;
    while at < opts.len() {
        match opts[at] {
            0 => return None,
            1 => at += 1,
            kind => {
                let len = usize::from(*opts.get(at + 1)?);
                if len < 2 || at + len > opts.len() {
                    return None;
                }
                if kind == 3 && len == 3 {
                    return Some(opts[at + 2]);
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
    let seg = b.get(l3.l4..l3.end).unwrap_or_default();
    let short = |_| CtInvalid::TruncatedL4;
    match (l3.family, l3.proto) {
        (_, ipproto::TCP) if quoted => {
            // Ports and sequence number are in the first 8 bytes, all an error must quote.
            let head = seg.get(..8).ok_or(CtInvalid::TruncatedL4)?;
            let t = tcp::Packet::new_unchecked(head);
            let seg = TcpSegment {
                seq: t.seq_number(),
                ..TcpSegment::default()
            };
            Ok((t.src_port(), t.dst_port(), L4::Tcp(seg)))
        }
        (_, ipproto::TCP) => {
            let t = tcp::Packet::new_checked(seg).map_err(short)?;
            let info = TcpSegment {
                flags: t.flags(),
                seq: t.seq_number(),
                ack: t.ack_number(),
                win: t.window(),
                payload_len: t.payload().len() as u32,
                wscale: tcp_wscale(t.options()),
            };
            Ok((t.src_port(), t.dst_port(), L4::Tcp(info)))
        }
        (_, ipproto::UDP) => {
            let u = udp::Packet::new_checked(seg).map_err(short)?;
            Ok((u.src_port(), u.dst_port(), L4::Udp))
        }
        (4, ipproto::ICMP) | (6, ipproto::ICMPV6) => {
            // The ICMP and ICMPv6 headers share type, code and the echo identifier's place.
            let m = icmp::Packet::new_checked(seg).map_err(short)?;
            let (ty, code) = (m.msg_type(), m.code());
            match icmp_kind(l3.family, ty) {
                kind @ (IcmpKind::Request | IcmpKind::Reply) => Ok((
                    m.echo_ident(),
                    u16::from(ty) << 8 | u16::from(code),
                    L4::IcmpQuery {
                        is_request: kind == IcmpKind::Request,
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
        let v = ct.track_frame(f, 14, &mut key, action, now);
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

    /// Conntrack follows as many extension headers as the flow extractor (`wire`'s 16): it
    /// used to give up after 8, so such a packet passed extract and was `+inv` here.
    #[test]
    fn ipv6_follows_as_many_extension_headers_as_extract() {
        for n in [8, 12, 16, 17] {
            // `n` destination-options headers (8 bytes each), then UDP.
            let mut l4 = Vec::new();
            for i in 0..n {
                l4.extend_from_slice(&[if i + 1 == n { 17 } else { 60 }, 0, 1, 4, 0, 0, 0, 0]);
            }
            l4.extend_from_slice(&udp(53, 5353, b"x"));
            let f = ipv6_frame(60, [0xfd; 16], [0xfe; 16], &l4);
            let (key, ex) = crate::flow::extract::extract_fresh(&f, 1);
            let v = parse(&f, 14, 0);
            if n <= crate::wire::ipv6::MAX_EXT_HEADERS {
                assert_eq!(ex.malformed, None, "{n} headers");
                let v = v.unwrap();
                assert_eq!(v.l4, usize::from(ex.offsets.l4));
                assert_eq!((v.tuple.proto, v.tuple.sport), (key.nw_proto, key.tp_src));
            } else {
                assert!(ex.malformed.is_some());
                assert_eq!(v, Err(CtInvalid::BadL3));
            }
        }
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
