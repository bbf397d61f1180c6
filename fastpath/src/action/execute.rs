//! Executing datapath actions on a packet buffer, in place.
//!
//! # Design
//!
//! [`execute`] walks one megaflow's action list over one packet. Field rewrites patch the
//! bytes where the parse found the headers ([`Headers`]) and update checksums incrementally
//! ([`crate::wire::checksum`]); VLAN push/pop use the buffer's headroom instead of moving the frame's
//! tail. Everything the executor cannot do by itself goes through an [`ExecEnv`]: queueing a
//! packet for output, copying it, recirculating it, dropping it, and conntrack.
//!
//! Ownership decides copying: an `output` or `recirc` that is the *last* action gives the packet
//! buffer away; any earlier one sends a copy (taken from the environment's pool), because later
//! actions may still change the packet. So the common `set(...),output:N` copies nothing.
//!
//! `pop_vlan` immediately followed by `push_vlan` (how xlate spells "modify VLAN") rewrites the
//! tag in place rather than removing and re-inserting four bytes.
//!
//! # Invariants
//!
//! - A rewrite whose header the packet does not have (wrong `dl_type`, missing or truncated L3/L4,
//!   a later IP fragment for L4) is skipped: xlate only emits sets whose prerequisites the
//!   megaflow matched, so this only guards against malformed input. It never panics.
//! - `Headers` stays true for the packet: push/pop shift the L3/L4 offsets by the tag length.
//! - Conntrack metadata lives in [`PacketMeta`] beside the packet, never in the frame; `recirc`
//!   hands it on so the next lookup sees the new `ct_*` fields.

use super::{CtAction, DpAction, Masked, SetEth, SetIpv4, SetIpv6, SetL4};
use crate::flow::FlowKey;
use crate::flow::key::{FRAG_LATER, VLAN_CFI};
use crate::packet::Packet;
use crate::wire::checksum::{self, Field};
use crate::wire::{ethernet, ethertype, icmpv6, ipproto, ipv4, ipv6, sctp, tcp, udp, vlan};

/// Offset value meaning "this header is absent".
pub const ABSENT: u16 = u16::MAX;

/// Offset of the first TPID / the Ethernet type in a frame: where a pushed tag goes.
const ETH_TYPE_OFFSET: usize = ethernet::HEADER_LEN - 2;

/// Where a packet's headers are and what they are: what the executor needs from the parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Offset of the IPv4/IPv6/ARP header, or [`ABSENT`].
    pub l3: u16,
    /// Offset of the TCP/UDP/SCTP/ICMP header, or [`ABSENT`].
    pub l4: u16,
    /// Ethernet type after VLAN tags.
    pub dl_type: u16,
    /// IP protocol (final next header for IPv6).
    pub nw_proto: u8,
    /// Fragment bits, as in the flow key.
    pub nw_frag: u8,
}

impl Headers {
    /// The headers of a packet whose key is `key` and whose L3/L4 offsets are `l3`, `l4`.
    pub fn new(key: &FlowKey, l3: u16, l4: u16) -> Headers {
        Headers {
            l3,
            l4,
            dl_type: key.dl_type,
            nw_proto: key.nw_proto,
            nw_frag: key.nw_frag,
        }
    }

    /// The L4 header offset if the packet carries one that may be rewritten (present and not in
    /// a non-first fragment).
    fn l4_offset(&self) -> Option<usize> {
        (self.l4 != ABSENT && self.nw_frag & FRAG_LATER == 0).then_some(usize::from(self.l4))
    }

    fn shift(&mut self, by: isize) {
        for off in [&mut self.l3, &mut self.l4] {
            if *off != ABSENT {
                *off = (*off as isize + by) as u16;
            }
        }
    }
}

/// Metadata that travels with a packet beside its frame (OVS's `pkt_metadata`): input port,
/// recirculation id and conntrack results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    pub in_port: u32,
    pub recirc_id: u32,
    pub ct_state: u8,
    pub ct_zone: u16,
    pub ct_mark: u32,
    pub ct_label: [u8; 16],
}

impl PacketMeta {
    /// Metadata for a packet just received on `in_port`.
    pub fn new(in_port: u32) -> PacketMeta {
        PacketMeta {
            in_port,
            ..PacketMeta::default()
        }
    }

    /// Writes the metadata into a key's datapath metadata fields (before extraction).
    pub fn write_to(&self, key: &mut FlowKey) {
        key.in_port = self.in_port;
        key.recirc_id = self.recirc_id;
        key.ct_state = self.ct_state;
        key.ct_zone = self.ct_zone;
        key.ct_mark = self.ct_mark;
        key.ct_label = self.ct_label;
    }

    fn clear_ct(&mut self) {
        self.ct_state = 0;
        self.ct_zone = 0;
        self.ct_mark = 0;
        self.ct_label = [0; 16];
    }
}

/// The conntrack engine, as the executor calls it (implemented by the conntrack module).
///
/// Called from a datapath thread while it holds its own megaflow table lock: an implementation
/// may take its own locks but must never call back into the datapath or the slow path.
pub trait ConntrackHook: Send + Sync {
    /// Runs `action` on the packet: looks up (and on `commit` creates) its connection, applies
    /// NAT by rewriting the frame (headers at `headers`), and stores the result in `meta`
    /// (`ct_state` with `TRK` set, `ct_zone`, `ct_mark`, `ct_label`). A packet conntrack cannot
    /// make sense of is marked `INV | TRK`, not dropped.
    fn execute(
        &self,
        packet: &mut Packet,
        headers: &Headers,
        meta: &mut PacketMeta,
        action: &CtAction,
        now_ms: u64,
    );
}

/// Why the executor dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ActionDrop {
    /// The megaflow's actions send the packet nowhere.
    #[error("the flow's actions drop the packet")]
    FlowDrop,
    /// `push_vlan` found no headroom left in the buffer.
    #[error("no headroom left to push a VLAN tag")]
    NoHeadroom,
    /// A `ct` action on a datapath built without conntrack.
    #[error("the actions need conntrack but the datapath has none")]
    NoConntrack,
}

/// What the executor needs from the datapath thread around it.
pub trait ExecEnv {
    /// Queues `packet` for transmission on datapath port `port`.
    fn output(&mut self, port: u32, packet: Packet);
    /// A copy of `packet` (frame, offload state), preferably in a pooled buffer.
    fn copy(&mut self, packet: &Packet) -> Packet;
    /// Queues `packet` for another lookup with `meta` (whose `recirc_id` is already set).
    fn recirculate(&mut self, packet: Packet, meta: PacketMeta);
    /// Counts and recycles a dropped packet.
    fn drop_packet(&mut self, packet: Packet, reason: ActionDrop);
    /// Recycles a packet that was fully handled (its copies went out), without counting a drop.
    fn recycle(&mut self, packet: Packet);
    /// The conntrack engine, if the datapath has one.
    fn conntrack(&self) -> Option<&dyn ConntrackHook>;
}

/// Runs `actions` on `packet` (whose headers and metadata are `headers`, `meta`) and hands the
/// results to `env`.
pub fn execute<E: ExecEnv>(
    env: &mut E,
    mut packet: Packet,
    headers: &Headers,
    meta: &PacketMeta,
    actions: &[DpAction],
    now_ms: u64,
) {
    let mut headers = *headers;
    // Copied only by the actions that change it (ct, ct_clear): most packets never need to.
    let mut own_meta: Option<PacketMeta> = None;
    let mut sent = false;
    let mut i = 0;
    while i < actions.len() {
        let last = i + 1 == actions.len();
        match &actions[i] {
            DpAction::Output(port) => {
                if last {
                    env.output(*port, packet);
                    return;
                }
                let copy = env.copy(&packet);
                env.output(*port, copy);
                sent = true;
            }
            DpAction::Recirc(id) => {
                let next = PacketMeta {
                    recirc_id: *id,
                    ..*own_meta.as_ref().unwrap_or(meta)
                };
                if last {
                    env.recirculate(packet, next);
                    return;
                }
                let copy = env.copy(&packet);
                env.recirculate(copy, next);
                sent = true;
            }
            DpAction::SetEth(set) => set_eth(&mut packet, set),
            DpAction::SetIpv4(set) => set_ipv4(&mut packet, &headers, set),
            DpAction::SetIpv6(set) => set_ipv6(&mut packet, &headers, set),
            DpAction::SetL4(set) => set_l4(&mut packet, &headers, set),
            DpAction::PopVlan => {
                if let Some(DpAction::PushVlan { tpid, tci }) = actions.get(i + 1)
                    && rewrite_vlan(&mut packet, *tpid, *tci)
                {
                    i += 2;
                    continue;
                }
                pop_vlan(&mut packet, &mut headers);
            }
            DpAction::PushVlan { tpid, tci } => {
                if !push_vlan(&mut packet, &mut headers, *tpid, *tci) {
                    env.drop_packet(packet, ActionDrop::NoHeadroom);
                    return;
                }
            }
            DpAction::Ct(ct) => match env.conntrack() {
                Some(hook) => {
                    let m = own_meta.get_or_insert(*meta);
                    hook.execute(&mut packet, &headers, m, ct, now_ms);
                }
                None => {
                    env.drop_packet(packet, ActionDrop::NoConntrack);
                    return;
                }
            },
            DpAction::CtClear => own_meta.get_or_insert(*meta).clear_ct(),
        }
        i += 1;
    }
    if sent {
        env.recycle(packet);
    } else {
        env.drop_packet(packet, ActionDrop::FlowDrop);
    }
}

/// `(old & !mask) | (value & mask)` for the integer types a set uses.
fn apply<T>(old: T, m: &Masked<T>) -> T
where
    T: Copy
        + core::ops::BitAnd<Output = T>
        + core::ops::BitOr<Output = T>
        + core::ops::Not<Output = T>,
{
    (old & !m.mask) | (m.value & m.mask)
}

fn apply_bytes<const N: usize>(mut old: [u8; N], m: &Masked<[u8; N]>) -> [u8; N] {
    for ((b, v), k) in old.iter_mut().zip(m.value).zip(m.mask) {
        *b = (*b & !k) | (v & k);
    }
    old
}

fn set_eth(packet: &mut Packet, set: &SetEth) {
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

fn set_ipv4(packet: &mut Packet, headers: &Headers, set: &SetIpv4) {
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

fn set_ipv6(packet: &mut Packet, headers: &Headers, set: &SetIpv6) {
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

fn set_l4(packet: &mut Packet, headers: &Headers, set: &SetL4) {
    let Some(l4) = headers.l4_offset() else {
        return;
    };
    if headers.nw_proto != set.proto || headers.l3 == ABSENT {
        return;
    }
    let off = packet.offload;
    // A partial checksum: the ports are in the range the device will sum, and the
    // pseudo-header did not change, so nothing to update.
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
            let (sp, dp) = (t.src_port(), t.dst_port());
            let (nsp, ndp) = (apply(sp, &set.src), apply(dp, &set.dst));
            if (nsp, ndp) == (sp, dp) {
                return;
            }
            t.set_src_port(nsp);
            t.set_dst_port(ndp);
            if kind != Field::Partial {
                let c = kind.update_u16(t.checksum(), sp, nsp);
                t.set_checksum(kind.update_u16(c, dp, ndp));
            }
        }
        ipproto::UDP => {
            let Some(h) = fixed(d, l4, udp::HEADER_LEN) else {
                return;
            };
            let mut u = udp::Packet::new_unchecked(h);
            let (sp, dp) = (u.src_port(), u.dst_port());
            let (nsp, ndp) = (apply(sp, &set.src), apply(dp, &set.dst));
            if (nsp, ndp) == (sp, dp) {
                return;
            }
            u.set_src_port(nsp);
            u.set_dst_port(ndp);
            if kind != Field::Partial {
                let c = kind.update_u16(u.checksum(), sp, nsp);
                u.set_checksum(kind.update_u16(c, dp, ndp));
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

/// The frame as an Ethernet frame whose outer type is a VLAN tag, if it has a whole tag and
/// the type that follows it.
fn tagged(d: &mut [u8]) -> Option<ethernet::Frame<&mut [u8]>> {
    let eth = ethernet::Frame::new_checked(d).ok()?;
    (vlan::is_tpid(eth.ethertype()) && eth.payload().len() >= vlan::HEADER_LEN).then_some(eth)
}

fn push_vlan(packet: &mut Packet, headers: &mut Headers, tpid: u16, tci: u16) -> bool {
    if packet.len() < ethernet::HEADER_LEN {
        // No Ethernet type to push in front of: leave the runt alone (it is not forwarded as
        // tagged, but nothing is corrupted either).
        return true;
    }
    if !packet.insert_gap(ETH_TYPE_OFFSET, vlan::HEADER_LEN) {
        return false;
    }
    // The gap sits where the Ethernet type was, which now follows it as the tag's type.
    let mut eth = ethernet::Frame::new_unchecked(packet.data_mut());
    eth.set_ethertype(tpid);
    vlan::Tag::new_unchecked(eth.payload_mut()).set_tci(tci & !VLAN_CFI);
    headers.shift(vlan::HEADER_LEN as isize);
    true
}

fn pop_vlan(packet: &mut Packet, headers: &mut Headers) {
    if tagged(packet.data_mut()).is_none() {
        return;
    }
    if packet.remove_gap(ETH_TYPE_OFFSET, vlan::HEADER_LEN) {
        headers.shift(-(vlan::HEADER_LEN as isize));
    }
}

/// Pop-then-push on a tagged packet: rewrite the outer tag in place. False if untagged.
fn rewrite_vlan(packet: &mut Packet, tpid: u16, tci: u16) -> bool {
    let Some(mut eth) = tagged(packet.data_mut()) else {
        return false;
    };
    eth.set_ethertype(tpid);
    vlan::Tag::new_unchecked(eth.payload_mut()).set_tci(tci & !VLAN_CFI);
    true
}

#[cfg(test)]
mod tests;
