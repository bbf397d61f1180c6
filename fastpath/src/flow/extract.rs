//! Flow key extraction: from a received frame to the [`FlowKey`] every cache matches on.
//!
//! # What
//!
//! [`extract`] parses a frame layer by layer with the [`crate::wire`] views and writes each
//! layer's fields into the key, with OVS `flow_extract` semantics (see the key's conventions).
//! It also returns where the L3, L4 and L7 headers start ([`HeaderOffsets`]) so that actions
//! can rewrite headers without parsing again.
//!
//! # Malformed frames
//!
//! A layer's fields are written only once its header has been checked, so when a layer is
//! truncated or malformed the key holds every earlier layer and zeros after it, and the
//! reason is returned ([`Malformed`]). The caller counts the reason per port and drops the
//! frame. Frames the switch simply does not look into (802.3/LLC, unknown EtherTypes, unknown
//! IP protocols, non-Ethernet ARP, non-first fragments) are not malformed.
//!
//! Where OVS would keep a partial key and forward (a TCP header shorter than its data
//! offset, a cut L4 header, a bad ND option), this module reports a reason instead, because
//! DESIGN §9 drops malformed packets. The fields themselves follow OVS, including its quirks:
//! a non-first IPv6 fragment has `nw_proto` 44 (its upper layer is not in this fragment),
//! IPv4 later fragments keep their protocol, and ARP opcodes above 255 read as 0.
//!
//! # Invariants
//!
//! - Never panics, for any input (the views' no-panic contract, plus a fuzz target and a
//!   proptest over arbitrary bytes).
//! - No allocation; the work is bounded by the frame length and [`ipv6::MAX_EXT_HEADERS`].
//! - Offsets present are within the frame and ordered `l3 <= l4 <= l7`; an absent layer
//!   implies every later one is absent too.
//! - Only packet fields are reset: `recirc_id`, the `ct_*` fields, `metadata` and the
//!   registers keep what the caller stored (recirculation sets them before re-extracting).

use super::key::{FRAG_ANY, FRAG_LATER, FlowKey, VLAN_CFI, ethertype, ipproto};
use crate::wire::{self, arp, ethernet, icmp, icmpv6, ipv4, ipv6, sctp, tcp, udp, vlan};

/// Byte offsets of the headers found (u16::MAX = absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderOffsets {
    /// Start of the L3 header (just past the Ethernet header and VLAN tags).
    pub l3: u16,
    /// Start of the L4 header (past IPv4 options / IPv6 extension headers).
    pub l4: u16,
    /// Start of the L4 payload (past the TCP/UDP/SCTP/ICMP/ICMPv6 header).
    pub l7: u16,
}

impl HeaderOffsets {
    /// The marker of an absent header.
    pub const ABSENT: u16 = u16::MAX;
    /// No header found.
    pub const NONE: HeaderOffsets = HeaderOffsets {
        l3: Self::ABSENT,
        l4: Self::ABSENT,
        l7: Self::ABSENT,
    };

    /// True if the offsets obey this module's invariants for a frame of `frame_len` bytes:
    /// present offsets are within the frame, ordered `l3 <= l4 <= l7`, and an absent layer
    /// has no later layer present. (Used by tests and the fuzz target.)
    pub fn is_consistent(&self, frame_len: usize) -> bool {
        let present = |o: u16| o != Self::ABSENT;
        let within = |o: u16| !present(o) || usize::from(o) <= frame_len;
        let ordered = |a: u16, b: u16| !present(b) || (present(a) && a <= b);
        within(self.l3)
            && within(self.l4)
            && within(self.l7)
            && ordered(self.l3, self.l4)
            && ordered(self.l4, self.l7)
    }
}

/// Why a frame is malformed (counted per port per reason, then dropped). Copy, small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Malformed {
    #[error("the frame is shorter than an Ethernet header")]
    Runt,
    #[error("the frame has more than two VLAN tags")]
    TooManyVlans,
    #[error("the frame ends inside a VLAN tag")]
    TruncatedVlan,
    #[error("the frame ends inside an ARP packet")]
    TruncatedArp,
    #[error("the frame ends inside an IPv4 header")]
    TruncatedIpv4,
    #[error("the IPv4 version field is not 4")]
    BadIpv4Version,
    #[error("the IPv4 header length is below 20 bytes")]
    BadIpv4Ihl,
    #[error("the IPv4 total length is below the header length or beyond the frame")]
    BadIpv4Length,
    #[error("the frame ends inside an IPv6 header")]
    TruncatedIpv6,
    #[error("the IPv6 version field is not 6")]
    BadIpv6Version,
    #[error("the IPv6 payload length reaches beyond the frame")]
    BadIpv6Length,
    #[error("the packet ends inside an IPv6 extension header")]
    TruncatedIpv6ExtHeader,
    #[error("the IPv6 extension header chain is too long")]
    Ipv6ExtHeaderChain,
    #[error("the packet ends inside a TCP header")]
    TruncatedTcp,
    #[error("the TCP data offset is below 5 words or beyond the packet")]
    BadTcpDataOffset,
    #[error("the packet ends inside a UDP header")]
    TruncatedUdp,
    #[error("the packet ends inside an SCTP header")]
    TruncatedSctp,
    #[error("the packet ends inside an ICMP header")]
    TruncatedIcmp,
    #[error("the packet ends inside an ICMPv6 header")]
    TruncatedIcmpv6,
    #[error("the neighbour discovery message ends before its target address")]
    TruncatedNd,
    #[error("a neighbour discovery option is malformed or repeated")]
    BadNdOption,
}

impl Malformed {
    /// Every reason, in declaration order (for per-reason counters).
    pub const ALL: &'static [Malformed] = &[
        Malformed::Runt,
        Malformed::TooManyVlans,
        Malformed::TruncatedVlan,
        Malformed::TruncatedArp,
        Malformed::TruncatedIpv4,
        Malformed::BadIpv4Version,
        Malformed::BadIpv4Ihl,
        Malformed::BadIpv4Length,
        Malformed::TruncatedIpv6,
        Malformed::BadIpv6Version,
        Malformed::BadIpv6Length,
        Malformed::TruncatedIpv6ExtHeader,
        Malformed::Ipv6ExtHeaderChain,
        Malformed::TruncatedTcp,
        Malformed::BadTcpDataOffset,
        Malformed::TruncatedUdp,
        Malformed::TruncatedSctp,
        Malformed::TruncatedIcmp,
        Malformed::TruncatedIcmpv6,
        Malformed::TruncatedNd,
        Malformed::BadNdOption,
    ];

    /// A stable snake_case name (counter labels, logs).
    pub fn name(self) -> &'static str {
        match self {
            Malformed::Runt => "runt",
            Malformed::TooManyVlans => "too_many_vlans",
            Malformed::TruncatedVlan => "truncated_vlan",
            Malformed::TruncatedArp => "truncated_arp",
            Malformed::TruncatedIpv4 => "truncated_ipv4",
            Malformed::BadIpv4Version => "bad_ipv4_version",
            Malformed::BadIpv4Ihl => "bad_ipv4_ihl",
            Malformed::BadIpv4Length => "bad_ipv4_length",
            Malformed::TruncatedIpv6 => "truncated_ipv6",
            Malformed::BadIpv6Version => "bad_ipv6_version",
            Malformed::BadIpv6Length => "bad_ipv6_length",
            Malformed::TruncatedIpv6ExtHeader => "truncated_ipv6_ext_header",
            Malformed::Ipv6ExtHeaderChain => "ipv6_ext_header_chain",
            Malformed::TruncatedTcp => "truncated_tcp",
            Malformed::BadTcpDataOffset => "bad_tcp_data_offset",
            Malformed::TruncatedUdp => "truncated_udp",
            Malformed::TruncatedSctp => "truncated_sctp",
            Malformed::TruncatedIcmp => "truncated_icmp",
            Malformed::TruncatedIcmpv6 => "truncated_icmpv6",
            Malformed::TruncatedNd => "truncated_nd",
            Malformed::BadNdOption => "bad_nd_option",
        }
    }

    /// Index of this reason in [`Malformed::ALL`] (for counter arrays).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What [`extract`] found besides the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extracted {
    pub offsets: HeaderOffsets,
    /// `Some` if the frame is malformed: count it and drop it.
    pub malformed: Option<Malformed>,
}

/// Fills `key` (after resetting every packet field; `recirc_id`, ct fields, tunnel fields, metadata
/// and registers are left as the caller set them) from `frame` received on `in_port`.
pub fn extract(frame: &[u8], in_port: u32, key: &mut FlowKey) -> Extracted {
    *key = FlowKey {
        recirc_id: key.recirc_id,
        in_port,
        ct_state: key.ct_state,
        ct_zone: key.ct_zone,
        ct_mark: key.ct_mark,
        ct_label: key.ct_label,
        tun_id: key.tun_id,
        tun_src: key.tun_src,
        tun_dst: key.tun_dst,
        tun_ipv6_src: key.tun_ipv6_src,
        tun_ipv6_dst: key.tun_ipv6_dst,
        tun_flags: key.tun_flags,
        tun_tos: key.tun_tos,
        tun_ttl: key.tun_ttl,
        tun_gbp_id: key.tun_gbp_id,
        tun_gbp_flags: key.tun_gbp_flags,
        // Geneve options (`tun_metadataN`), decoded by the tunnel endpoint before extraction.
        tun_md_present: key.tun_md_present,
        tun_md: key.tun_md,
        metadata: key.metadata,
        regs: key.regs,
        ..FlowKey::ZERO
    };
    let mut offsets = HeaderOffsets::NONE;
    let malformed = extract_l2(frame, key, &mut offsets).err();
    Extracted { offsets, malformed }
}

/// [`extract`] into a fresh key (all metadata zero).
pub fn extract_fresh(frame: &[u8], in_port: u32) -> (FlowKey, Extracted) {
    let mut key = FlowKey::ZERO;
    let ex = extract(frame, in_port, &mut key);
    (key, ex)
}

/// A byte offset as stored in [`HeaderOffsets`]. Headers start within the first 64 KiB of any
/// real frame; a larger offset (only possible in a GSO super-packet with a huge IPv6
/// extension chain) saturates to "absent" rather than wrapping, which keeps the ordering
/// invariant because every later offset saturates too.
fn offset(at: usize) -> u16 {
    u16::try_from(at).unwrap_or(HeaderOffsets::ABSENT)
}

fn extract_l2(
    frame: &[u8],
    key: &mut FlowKey,
    offsets: &mut HeaderOffsets,
) -> Result<(), Malformed> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| Malformed::Runt)?;
    key.dl_dst = eth.dst_addr();
    key.dl_src = eth.src_addr();

    let mut ty = eth.ethertype();
    let mut rest = eth.into_payload();
    let mut at = ethernet::HEADER_LEN;
    let mut tags = 0;
    while vlan::is_tpid(ty) {
        if tags == 2 {
            return Err(Malformed::TooManyVlans);
        }
        let tag = vlan::Tag::new_checked(rest).map_err(|_| Malformed::TruncatedVlan)?;
        if tags == 0 {
            key.vlan_tci = tag.tci() | VLAN_CFI;
            key.vlan_qinq = u8::from(ty == ethertype::QINQ);
        } else {
            key.vlan_tci_inner = tag.tci() | VLAN_CFI;
        }
        tags += 1;
        ty = tag.ethertype();
        rest = tag.into_payload();
        at += vlan::HEADER_LEN;
    }
    offsets.l3 = offset(at);
    if ty < ethernet::ETH_TYPE_MIN {
        key.dl_type = ethernet::DL_TYPE_NONE;
        return Ok(());
    }
    key.dl_type = ty;
    match ty {
        ethertype::IPV4 => extract_ipv4(rest, at, key, offsets),
        ethertype::IPV6 => extract_ipv6(rest, at, key, offsets),
        ethertype::ARP | arp::ETHERTYPE_RARP => extract_arp(rest, key),
        _ => Ok(()),
    }
}

fn extract_arp(bytes: &[u8], key: &mut FlowKey) -> Result<(), Malformed> {
    let p = arp::Packet::new_checked(bytes).map_err(|_| Malformed::TruncatedArp)?;
    if let Some(a) = p.ethernet_ipv4() {
        // Only the low 8 bits of the opcode are matchable; larger opcodes read as 0 (as OVS).
        key.nw_proto = u8::try_from(a.operation).unwrap_or(0);
        key.nw_src = a.spa;
        key.nw_dst = a.tpa;
        key.arp_sha = a.sha;
        key.arp_tha = a.tha;
    }
    Ok(())
}

fn extract_ipv4(
    bytes: &[u8],
    at: usize,
    key: &mut FlowKey,
    offsets: &mut HeaderOffsets,
) -> Result<(), Malformed> {
    let ip = ipv4::Packet::new_checked(bytes).map_err(|e| match e {
        wire::Error::BadVersion => Malformed::BadIpv4Version,
        wire::Error::BadHeaderLen => Malformed::BadIpv4Ihl,
        wire::Error::BadLength => Malformed::BadIpv4Length,
        _ => Malformed::TruncatedIpv4,
    })?;
    key.nw_src = u32::from(ip.src_addr());
    key.nw_dst = u32::from(ip.dst_addr());
    key.nw_tos = ip.tos();
    key.nw_ttl = ip.ttl();
    key.nw_proto = ip.protocol();
    if ip.is_fragment() {
        key.nw_frag = FRAG_ANY;
        if ip.frag_offset() != 0 {
            key.nw_frag |= FRAG_LATER;
        }
    }
    let l4 = at + ip.header_len();
    offsets.l4 = offset(l4);
    if key.nw_frag & FRAG_LATER != 0 {
        return Ok(());
    }
    extract_l4(ip.protocol(), ip.payload(), l4, key, offsets)
}

fn extract_ipv6(
    bytes: &[u8],
    at: usize,
    key: &mut FlowKey,
    offsets: &mut HeaderOffsets,
) -> Result<(), Malformed> {
    let ip = ipv6::Packet::new_checked(bytes).map_err(|e| match e {
        wire::Error::BadVersion => Malformed::BadIpv6Version,
        wire::Error::BadLength => Malformed::BadIpv6Length,
        _ => Malformed::TruncatedIpv6,
    })?;
    key.ipv6_src = ip.src_addr().octets();
    key.ipv6_dst = ip.dst_addr().octets();
    key.ipv6_label = ip.flow_label();
    key.nw_tos = ip.traffic_class();
    key.nw_ttl = ip.hop_limit();

    let payload = ip.payload();
    let upper = ipv6::skip_extension_headers(ip.next_header(), payload).map_err(|e| match e {
        wire::Error::TooManyHeaders => Malformed::Ipv6ExtHeaderChain,
        _ => Malformed::TruncatedIpv6ExtHeader,
    })?;
    key.nw_proto = upper.protocol;
    if upper.is_fragment {
        key.nw_frag = FRAG_ANY;
        if upper.is_later_fragment {
            key.nw_frag |= FRAG_LATER;
        }
    }
    let l4 = at + ipv6::HEADER_LEN + upper.offset;
    offsets.l4 = offset(l4);
    if upper.is_later_fragment {
        return Ok(());
    }
    // `upper.offset <= payload.len()` by the walk's construction; `get` keeps that local.
    let l4_bytes = payload.get(upper.offset..).unwrap_or(&[]);
    extract_l4(upper.protocol, l4_bytes, l4, key, offsets)
}

fn extract_l4(
    proto: u8,
    bytes: &[u8],
    at: usize,
    key: &mut FlowKey,
    offsets: &mut HeaderOffsets,
) -> Result<(), Malformed> {
    let header_len = match proto {
        ipproto::TCP => {
            let p = tcp::Packet::new_checked(bytes).map_err(|e| match e {
                wire::Error::BadHeaderLen => Malformed::BadTcpDataOffset,
                _ => Malformed::TruncatedTcp,
            })?;
            key.tp_src = p.src_port();
            key.tp_dst = p.dst_port();
            key.tcp_flags = p.flags();
            p.header_len()
        }
        ipproto::UDP => {
            let p = udp::Packet::new_checked(bytes).map_err(|_| Malformed::TruncatedUdp)?;
            key.tp_src = p.src_port();
            key.tp_dst = p.dst_port();
            udp::HEADER_LEN
        }
        ipproto::SCTP => {
            let p = sctp::Packet::new_checked(bytes).map_err(|_| Malformed::TruncatedSctp)?;
            key.tp_src = p.src_port();
            key.tp_dst = p.dst_port();
            sctp::HEADER_LEN
        }
        ipproto::ICMP => {
            let p = icmp::Packet::new_checked(bytes).map_err(|_| Malformed::TruncatedIcmp)?;
            key.tp_src = u16::from(p.msg_type());
            key.tp_dst = u16::from(p.code());
            icmp::HEADER_LEN
        }
        ipproto::ICMPV6 => {
            let p = icmpv6::Packet::new_checked(bytes).map_err(|_| Malformed::TruncatedIcmpv6)?;
            key.tp_src = u16::from(p.msg_type());
            key.tp_dst = u16::from(p.code());
            offsets.l7 = offset(at + icmpv6::HEADER_LEN);
            if p.is_neighbor_discovery() {
                extract_nd(&p, key)?;
            }
            return Ok(());
        }
        _ => return Ok(()),
    };
    offsets.l7 = offset(at + header_len);
    Ok(())
}

/// Neighbour discovery: the target and link-layer options, all or nothing.
fn extract_nd(p: &icmpv6::Packet<&[u8]>, key: &mut FlowKey) -> Result<(), Malformed> {
    let target = p.nd_target().map_err(|_| Malformed::TruncatedNd)?;
    let ll = p
        .nd_link_layer_addrs()
        .map_err(|_| Malformed::BadNdOption)?;
    key.nd_target = target.octets();
    key.arp_sha = ll.source.unwrap_or_default();
    key.arp_tha = ll.target.unwrap_or_default();
    Ok(())
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
