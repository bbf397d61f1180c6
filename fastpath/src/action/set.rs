//! Set actions: masked rewrites of Ethernet, IPv4, IPv6 and TCP/UDP/SCTP header fields.
//!
//! Every write goes through a `wire` view's setter, and every checksum the change affects is
//! updated incrementally through [`crate::wire::checksum::Field`] (IPv4 header, the L4
//! checksum over the pseudo-header for address changes, the L4 checksum for port changes;
//! SCTP's CRC32c is recomputed). A field whose value does not change is not written, so a
//! no-op set leaves the bytes (checksums included) exactly as they were.
//!
//! A rewrite whose header the frame does not hold is skipped: only the fixed part of a header
//! is needed, so a header whose options or payload are cut short is still rewritten, as it
//! always was. Nothing here panics for any frame or offsets.

use super::execute::{ABSENT, Headers};
use super::{Masked, SetArp, SetEth, SetIpv4, SetIpv6, SetL4};
use crate::packet::Packet;
use crate::wire::checksum::{self, Field};
use crate::wire::{arp, ethernet, ethertype, icmpv6, ipproto, ipv4, ipv6, sctp, tcp, udp};

/// `(old & !mask) | (value & mask)` for the integer types a set uses.
pub(super) fn apply<T>(old: T, m: &Masked<T>) -> T
where
    T: Copy
        + core::ops::BitAnd<Output = T>
        + core::ops::BitOr<Output = T>
        + core::ops::Not<Output = T>,
{
    (old & !m.mask) | (m.value & m.mask)
}

pub(super) fn apply_bytes<const N: usize>(mut old: [u8; N], m: &Masked<[u8; N]>) -> [u8; N] {
    for ((b, v), k) in old.iter_mut().zip(m.value).zip(m.mask) {
        *b = (*b & !k) | (v & k);
    }
    old
}

pub(super) fn set_eth(packet: &mut Packet, set: &SetEth) {
    let Ok(mut eth) = ethernet::Frame::new_checked(packet.data_mut()) else {
        return;
    };
    eth.set_dst_addr(apply_bytes(eth.dst_addr(), &set.dst));
    eth.set_src_addr(apply_bytes(eth.src_addr(), &set.src));
}

/// The checksum field that covers the pseudo-header, if the packet has one: the L4 offset, the
/// protocol, and what the field holds.
fn pseudo_header_csum(packet: &Packet, headers: &Headers) -> Option<(usize, u8, Field)> {
    let l4 = headers.l4_offset()?;
    let kind = match headers.nw_proto {
        ipproto::TCP => Field::Full,
        ipproto::UDP => Field::Udp,
        ipproto::ICMPV6 if headers.dl_type == ethertype::IPV6 => Field::Full,
        _ => return None,
    };
    let off = &packet.offload;
    if off.needs_csum && usize::from(off.csum_start) == l4 {
        return Some((l4, headers.nw_proto, Field::Partial));
    }
    Some((l4, headers.nw_proto, kind))
}

/// The fixed part (`len` bytes) of the header at `at`, if the frame holds it.
///
/// Rewrites need only a header's fixed fields, so, as the executor always has, they act on a
/// header whose variable part or payload is cut short (the datapath drops such frames before
/// they get here; this keeps the executor total). Views built on it with `new_unchecked` only
/// use fixed-field accessors, which stay inside the slice.
fn fixed(d: &mut [u8], at: usize, len: usize) -> Option<&mut [u8]> {
    d.get_mut(at..)?.get_mut(..len)
}

/// Rewrites the checksum of the TCP, UDP or ICMPv6 header at `l4` of frame `d` with `f`, if
/// the header is there.
fn update_l4_checksum(d: &mut [u8], l4: usize, proto: u8, f: impl FnOnce(u16) -> u16) {
    match proto {
        ipproto::TCP => {
            if let Some(h) = fixed(d, l4, tcp::HEADER_LEN) {
                let mut t = tcp::Packet::new_unchecked(h);
                t.set_checksum(f(t.checksum()));
            }
        }
        ipproto::UDP => {
            if let Some(h) = fixed(d, l4, udp::HEADER_LEN) {
                let mut u = udp::Packet::new_unchecked(h);
                u.set_checksum(f(u.checksum()));
            }
        }
        ipproto::ICMPV6 => {
            if let Some(h) = fixed(d, l4, icmpv6::HEADER_LEN) {
                let mut m = icmpv6::Packet::new_unchecked(h);
                m.set_checksum(f(m.checksum()));
            }
        }
        _ => {}
    }
}

/// Applies a pseudo-header change (`old` → `new` address bytes) to the L4 checksum of frame
/// `d`.
fn update_l4_for_address(d: &mut [u8], csum: Option<(usize, u8, Field)>, old: &[u8], new: &[u8]) {
    if let Some((l4, proto, kind)) = csum {
        update_l4_checksum(d, l4, proto, |c| kind.update_bytes(c, old, new));
    }
}

/// The fixed part of the L3 header, if its offset is present and the frame holds it.
fn l3_fixed<'a>(d: &'a mut [u8], headers: &Headers, len: usize) -> Option<&'a mut [u8]> {
    if headers.l3 == ABSENT {
        return None;
    }
    fixed(d, usize::from(headers.l3), len)
}

pub(super) fn set_ipv4(packet: &mut Packet, headers: &Headers, set: &SetIpv4) {
    if headers.dl_type != ethertype::IPV4 {
        return;
    }
    let l4csum = pseudo_header_csum(packet, headers);
    let d = packet.data_mut();
    let Some(hdr) = l3_fixed(d, headers, ipv4::HEADER_LEN) else {
        return;
    };
    let mut ip = ipv4::Packet::new_unchecked(hdr);
    let mut ip_csum = ip.checksum();
    // TOS is the low byte of the header's first word, TTL the high byte of the fifth.
    let (tos, ttl) = (ip.tos(), ip.ttl());
    let (new_tos, new_ttl) = (apply(tos, &set.tos), apply(ttl, &set.ttl));
    if new_tos != tos {
        ip.set_tos(new_tos);
        ip_csum = checksum::update_u16(ip_csum, u16::from(tos), u16::from(new_tos));
    }
    if new_ttl != ttl {
        ip.set_ttl(new_ttl);
        ip_csum = checksum::update_u16(ip_csum, u16::from(ttl) << 8, u16::from(new_ttl) << 8);
    }
    let (src, dst) = (ip.src_addr().to_bits(), ip.dst_addr().to_bits());
    let (new_src, new_dst) = (apply(src, &set.src), apply(dst, &set.dst));
    if new_src != src {
        ip.set_src_addr(new_src.into());
        ip_csum = checksum::update_u32(ip_csum, src, new_src);
    }
    if new_dst != dst {
        ip.set_dst_addr(new_dst.into());
        ip_csum = checksum::update_u32(ip_csum, dst, new_dst);
    }
    ip.set_checksum(ip_csum);
    if new_src != src {
        update_l4_for_address(d, l4csum, &src.to_be_bytes(), &new_src.to_be_bytes());
    }
    if new_dst != dst {
        update_l4_for_address(d, l4csum, &dst.to_be_bytes(), &new_dst.to_be_bytes());
    }
}

pub(super) fn set_ipv6(packet: &mut Packet, headers: &Headers, set: &SetIpv6) {
    if headers.dl_type != ethertype::IPV6 {
        return;
    }
    let l4csum = pseudo_header_csum(packet, headers);
    let d = packet.data_mut();
    let Some(hdr) = l3_fixed(d, headers, ipv6::HEADER_LEN) else {
        return;
    };
    let mut ip = ipv6::Packet::new_unchecked(hdr);
    // Traffic class, flow label and hop limit are not covered by any checksum.
    ip.set_traffic_class(apply(ip.traffic_class(), &set.tclass));
    ip.set_flow_label(apply(ip.flow_label(), &set.label));
    ip.set_hop_limit(apply(ip.hop_limit(), &set.hlimit));
    let (src, dst) = (ip.src_addr().octets(), ip.dst_addr().octets());
    let (new_src, new_dst) = (apply_bytes(src, &set.src), apply_bytes(dst, &set.dst));
    ip.set_src_addr(new_src.into());
    ip.set_dst_addr(new_dst.into());
    if new_src != src {
        update_l4_for_address(d, l4csum, &src, &new_src);
    }
    if new_dst != dst {
        update_l4_for_address(d, l4csum, &dst, &new_dst);
    }
}

/// End of the IP packet (IPv4 total length / IPv6 payload length), if its fixed header is
/// in the frame.
fn ip_end(d: &[u8], headers: &Headers) -> Option<usize> {
    let l3 = usize::from(headers.l3);
    let ip = d.get(l3..)?;
    match headers.dl_type {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_unchecked(ip.get(..ipv4::HEADER_LEN)?);
            Some(l3 + usize::from(ip.total_len()))
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_unchecked(ip.get(..ipv6::HEADER_LEN)?);
            Some(l3 + ipv6::HEADER_LEN + usize::from(ip.payload_len()))
        }
        _ => None,
    }
}

/// A TCP or UDP header's new ports and checksum under `set`, or `None` if the ports stay. A
/// partial checksum is left as it is: the ports are in the range the device will sum, and the
/// pseudo-header did not change.
fn new_ports(set: &SetL4, kind: Field, sp: u16, dp: u16, c: u16) -> Option<(u16, u16, u16)> {
    let (nsp, ndp) = (apply(sp, &set.src), apply(dp, &set.dst));
    if (nsp, ndp) == (sp, dp) {
        return None;
    }
    let c = match kind {
        Field::Partial => c,
        _ => kind.update_u16(kind.update_u16(c, sp, nsp), dp, ndp),
    };
    Some((nsp, ndp, c))
}

pub(super) fn set_l4(packet: &mut Packet, headers: &Headers, set: &SetL4) {
    let Some(l4) = headers.l4_offset() else {
        return;
    };
    if headers.nw_proto != set.proto || headers.l3 == ABSENT {
        return;
    }
    let off = packet.offload;
    let kind = if off.needs_csum && usize::from(off.csum_start) == l4 {
        Field::Partial
    } else if set.proto == ipproto::UDP {
        Field::Udp
    } else {
        Field::Full
    };
    let end = ip_end(packet.data(), headers);
    let d = packet.data_mut();
    match set.proto {
        ipproto::TCP => {
            let Some(h) = fixed(d, l4, tcp::HEADER_LEN) else {
                return;
            };
            let mut t = tcp::Packet::new_unchecked(h);
            if let Some((sp, dp, c)) =
                new_ports(set, kind, t.src_port(), t.dst_port(), t.checksum())
            {
                t.set_src_port(sp);
                t.set_dst_port(dp);
                t.set_checksum(c);
            }
        }
        ipproto::UDP => {
            let Some(h) = fixed(d, l4, udp::HEADER_LEN) else {
                return;
            };
            let mut u = udp::Packet::new_unchecked(h);
            if let Some((sp, dp, c)) =
                new_ports(set, kind, u.src_port(), u.dst_port(), u.checksum())
            {
                u.set_src_port(sp);
                u.set_dst_port(dp);
                u.set_checksum(c);
            }
        }
        ipproto::SCTP => {
            // The CRC covers the packet up to the end of the IP payload (no padding).
            let Some(seg) = d.get_mut(l4..) else {
                return;
            };
            let len = seg.len();
            let end = end.map_or(len, |e| e.saturating_sub(l4).max(sctp::HEADER_LEN).min(len));
            let Ok(mut p) = sctp::Packet::new_checked(&mut seg[..end]) else {
                return;
            };
            let (sp, dp) = (p.src_port(), p.dst_port());
            let (nsp, ndp) = (apply(sp, &set.src), apply(dp, &set.dst));
            if (nsp, ndp) == (sp, dp) {
                return;
            }
            p.set_src_port(nsp);
            p.set_dst_port(ndp);
            if kind != Field::Partial {
                p.fill_checksum();
            }
        }
        _ => {}
    }
}

/// Rewrites an Ethernet/IPv4 ARP (or RARP) header's opcode and addresses; anything else
/// (another hardware or protocol type, a short header) is left as it is. ARP has no checksum.
pub(super) fn set_arp(packet: &mut Packet, headers: &Headers, set: &SetArp) {
    if !matches!(headers.dl_type, ethertype::ARP | arp::ETHERTYPE_RARP) || headers.l3 == ABSENT {
        return;
    }
    let Some(h) = fixed(
        packet.data_mut(),
        usize::from(headers.l3),
        arp::ETH_IPV4_LEN,
    ) else {
        return;
    };
    if !arp::Packet::new_unchecked(&*h).is_ethernet_ipv4() {
        return;
    }
    let put = |h: &mut [u8], at: usize, old_new: &mut dyn FnMut(&[u8]) -> Vec<u8>| {
        let new = old_new(&h[at..]);
        h[at..at + new.len()].copy_from_slice(&new);
    };
    let op = u16::from_be_bytes([h[6], h[7]]);
    put(h, 6, &mut |_| apply(op, &set.op).to_be_bytes().to_vec());
    let mac_at = |h: &[u8], at: usize| -> [u8; 6] { h[at..at + 6].try_into().unwrap_or([0; 6]) };
    let ip_at = |h: &[u8], at: usize| -> u32 {
        u32::from_be_bytes(h[at..at + 4].try_into().unwrap_or([0; 4]))
    };
    let sha = apply_bytes(mac_at(h, 8), &set.sha);
    let sip = apply(ip_at(h, 14), &set.sip);
    let tha = apply_bytes(mac_at(h, 18), &set.tha);
    let tip = apply(ip_at(h, 24), &set.tip);
    h[8..14].copy_from_slice(&sha);
    h[14..18].copy_from_slice(&sip.to_be_bytes());
    h[18..24].copy_from_slice(&tha);
    h[24..28].copy_from_slice(&tip.to_be_bytes());
}
