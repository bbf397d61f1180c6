//! The ovs-fields(7) names this parser knows, with each name's value syntax, whether it may
//! be masked, and its prerequisites.
//!
//! Several names reach the same [`Field`] (`dl_src`, `eth_src`, `NXM_OF_ETH_SRC`) and some
//! names share storage with others (`arp_spa` lives in `nw_src`, `icmp_type` in `tp_src`, as in
//! OVS's `struct flow`). Prerequisites belong to the *name*: `tcp_dst` needs TCP while `tp_dst`
//! takes TCP, UDP or SCTP, yet both set `tp_dst`. They are checked against the whole match after
//! every token is read, so `tp_dst=80,tcp` is as good as `tcp,tp_dst=80`.

use crate::ofproto::Match;
use fastpath::flow::Field;
use fastpath::flow::key::{ethertype, ipproto};

/// How a field's values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    Decimal,
    Hex,
    Mac,
    Ipv4,
    Ipv6,
    Port,
    Frag,
    TcpFlags,
    CtState,
    /// `tun_flags`: `+oam-csum...`, `oam|key`, or a number.
    TunFlags,
}

/// What the match must guarantee before a field may be matched or set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prereq {
    None,
    Ipv4,
    Ipv6,
    IpAny,
    Arp,
    Ipv4OrArp,
    Tcp,
    Udp,
    Sctp,
    /// TCP, UDP or SCTP.
    L4,
    Icmp,
    Icmpv6,
    /// ICMPv4 or ICMPv6 (the `icmp_type` storage named from an action).
    IcmpAny,
    /// Neighbour solicitation or advertisement.
    Nd,
    NdSolicit,
    NdAdvert,
}

impl Prereq {
    /// The words that finish "X requires ...".
    pub(crate) fn needs(self) -> &'static str {
        match self {
            Prereq::None => "nothing",
            Prereq::Ipv4 => "ip",
            Prereq::Ipv6 => "ipv6",
            Prereq::IpAny => "ip or ipv6",
            Prereq::Arp => "arp",
            Prereq::Ipv4OrArp => "ip or arp",
            Prereq::Tcp => "tcp",
            Prereq::Udp => "udp",
            Prereq::Sctp => "sctp",
            Prereq::L4 => "tcp, udp or sctp",
            Prereq::Icmp => "icmp",
            Prereq::Icmpv6 => "icmp6",
            Prereq::IcmpAny => "icmp or icmp6",
            Prereq::Nd => "icmp6 with icmpv6_type=135 or 136 and icmpv6_code=0",
            Prereq::NdSolicit => "icmp6 with icmpv6_type=135 and icmpv6_code=0",
            Prereq::NdAdvert => "icmp6 with icmpv6_type=136 and icmpv6_code=0",
        }
    }

    /// True if every packet matching `m` satisfies the prerequisite.
    pub(crate) fn holds(self, m: &Match) -> bool {
        let exact = |f: Field| {
            let (v, mask) = m.field(f);
            (mask == f.get(&f.exact_mask())).then_some(v)
        };
        let dl_type = exact(Field::DlType).map(|v| v as u16);
        let nw_proto = exact(Field::NwProto).map(|v| v as u8);
        let ip_any = matches!(dl_type, Some(ethertype::IPV4 | ethertype::IPV6));
        let ip_proto = |p: u8| ip_any && nw_proto == Some(p);
        let icmpv6 = dl_type == Some(ethertype::IPV6) && nw_proto == Some(ipproto::ICMPV6);
        let nd = |types: &[u16]| {
            let ty = exact(Field::TpSrc).map(|v| v as u16);
            let (code, code_mask) = m.field(Field::TpDst);
            icmpv6 && ty.is_some_and(|t| types.contains(&t)) && (code == 0 || code_mask == 0)
        };
        match self {
            Prereq::None => true,
            Prereq::Ipv4 => dl_type == Some(ethertype::IPV4),
            Prereq::Ipv6 => dl_type == Some(ethertype::IPV6),
            Prereq::IpAny => ip_any,
            Prereq::Arp => dl_type == Some(ethertype::ARP),
            Prereq::Ipv4OrArp => matches!(dl_type, Some(ethertype::IPV4 | ethertype::ARP)),
            Prereq::Tcp => ip_proto(ipproto::TCP),
            Prereq::Udp => ip_proto(ipproto::UDP),
            Prereq::Sctp => ip_proto(ipproto::SCTP),
            Prereq::L4 => {
                ip_proto(ipproto::TCP) || ip_proto(ipproto::UDP) || ip_proto(ipproto::SCTP)
            }
            Prereq::Icmp => dl_type == Some(ethertype::IPV4) && nw_proto == Some(ipproto::ICMP),
            Prereq::Icmpv6 => icmpv6,
            Prereq::IcmpAny => {
                (dl_type == Some(ethertype::IPV4) && nw_proto == Some(ipproto::ICMP)) || icmpv6
            }
            Prereq::Nd => nd(&[135, 136]),
            Prereq::NdSolicit => nd(&[135]),
            Prereq::NdAdvert => nd(&[136]),
        }
    }
}

/// One field name.
///
/// Most names see their [`Field`] whole. A few see only its low `width` bits, as in OVS:
/// `in_port` / `NXM_OF_IN_PORT` are 16 bits wide (only `in_port_oxm` / `OXM_OF_IN_PORT` are 32),
/// `vlan_vid` is the 12-bit VID plus the present bit (13 bits of `vlan_tci`). The extended
/// registers span `regs` consecutive 32-bit registers starting at `field`, most significant
/// first (`xreg1` is `reg2:reg3`, `xxreg0` is `reg0:reg1:reg2:reg3`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldName {
    pub name: &'static str,
    pub field: Field,
    pub syntax: Syntax,
    pub maskable: bool,
    pub prereq: Prereq,
    /// Width in bits as this name sees the field (0: the field's own width).
    pub width: u32,
    /// Number of 32-bit registers an extended register name spans (0: not one).
    pub regs: u8,
}

impl FieldName {
    /// Width in bits as this name sees its field.
    pub(crate) fn bits(&self) -> u32 {
        match (self.regs, self.width) {
            (0, 0) => self.field.bits(),
            (0, w) => w,
            (n, _) => 32 * n as u32,
        }
    }

    /// The all-ones value of [`FieldName::bits`] (for `nw_tos`, its DSCP bits only).
    pub(crate) fn full_mask(&self) -> u128 {
        match self.bits() {
            128 => u128::MAX,
            b if self.width == 0 && self.regs == 0 => full_mask(self.field) & ((1u128 << b) - 1),
            b => (1u128 << b) - 1,
        }
    }
}

const fn f(
    name: &'static str,
    field: Field,
    syntax: Syntax,
    maskable: bool,
    prereq: Prereq,
) -> FieldName {
    FieldName {
        name,
        field,
        syntax,
        maskable,
        prereq,
        width: 0,
        regs: 0,
    }
}

/// [`f`] for a name that sees only the low `width` bits of its field (maskable unless a port).
const fn narrow(name: &'static str, field: Field, syntax: Syntax, width: u32) -> FieldName {
    let maskable = !matches!(syntax, Syntax::Port);
    let mut d = f(name, field, syntax, maskable, Prereq::None);
    d.width = width;
    d
}

use Prereq as P;
use Syntax as S;

/// Every name except the registers (handled by [`lookup`]).
const NAMES: &[FieldName] = &[
    narrow("in_port", Field::InPort, S::Port, 16),
    narrow("NXM_OF_IN_PORT", Field::InPort, S::Port, 16),
    f("in_port_oxm", Field::InPort, S::Port, false, P::None),
    f("OXM_OF_IN_PORT", Field::InPort, S::Port, false, P::None),
    f("metadata", Field::Metadata, S::Hex, true, P::None),
    f("conj_id", Field::ConjId, S::Decimal, false, P::None),
    f("NXM_NX_CONJ_ID", Field::ConjId, S::Decimal, false, P::None),
    f("OXM_OF_METADATA", Field::Metadata, S::Hex, true, P::None),
    f("ct_state", Field::CtState, S::CtState, true, P::None),
    f("NXM_NX_CT_STATE", Field::CtState, S::CtState, true, P::None),
    f("ct_zone", Field::CtZone, S::Decimal, false, P::None),
    f("NXM_NX_CT_ZONE", Field::CtZone, S::Decimal, false, P::None),
    f("ct_mark", Field::CtMark, S::Hex, true, P::None),
    f("NXM_NX_CT_MARK", Field::CtMark, S::Hex, true, P::None),
    f("ct_label", Field::CtLabel, S::Hex, true, P::None),
    f("NXM_NX_CT_LABEL", Field::CtLabel, S::Hex, true, P::None),
    f("tun_id", Field::TunId, S::Hex, true, P::None),
    f("tunnel_id", Field::TunId, S::Hex, true, P::None),
    f("NXM_NX_TUN_ID", Field::TunId, S::Hex, true, P::None),
    f("OXM_OF_TUNNEL_ID", Field::TunId, S::Hex, true, P::None),
    f("tun_src", Field::TunSrc, S::Ipv4, true, P::None),
    f("NXM_NX_TUN_IPV4_SRC", Field::TunSrc, S::Ipv4, true, P::None),
    f("tun_dst", Field::TunDst, S::Ipv4, true, P::None),
    f("NXM_NX_TUN_IPV4_DST", Field::TunDst, S::Ipv4, true, P::None),
    f("tun_ipv6_src", Field::TunIpv6Src, S::Ipv6, true, P::None),
    f(
        "NXM_NX_TUN_IPV6_SRC",
        Field::TunIpv6Src,
        S::Ipv6,
        true,
        P::None,
    ),
    f("tun_ipv6_dst", Field::TunIpv6Dst, S::Ipv6, true, P::None),
    f(
        "NXM_NX_TUN_IPV6_DST",
        Field::TunIpv6Dst,
        S::Ipv6,
        true,
        P::None,
    ),
    f("tun_flags", Field::TunFlags, S::TunFlags, true, P::None),
    f(
        "NXM_NX_TUN_FLAGS",
        Field::TunFlags,
        S::TunFlags,
        true,
        P::None,
    ),
    f("tun_tos", Field::TunTos, S::Decimal, false, P::None),
    f("tun_ttl", Field::TunTtl, S::Decimal, false, P::None),
    f("tun_gbp_id", Field::TunGbpId, S::Decimal, true, P::None),
    f(
        "NXM_NX_TUN_GBP_ID",
        Field::TunGbpId,
        S::Decimal,
        true,
        P::None,
    ),
    f("tun_gbp_flags", Field::TunGbpFlags, S::Hex, true, P::None),
    f(
        "NXM_NX_TUN_GBP_FLAGS",
        Field::TunGbpFlags,
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata0",
        Field::TunMetadata(0),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA0",
        Field::TunMetadata(0),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata1",
        Field::TunMetadata(1),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA1",
        Field::TunMetadata(1),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata2",
        Field::TunMetadata(2),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA2",
        Field::TunMetadata(2),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata3",
        Field::TunMetadata(3),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA3",
        Field::TunMetadata(3),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata4",
        Field::TunMetadata(4),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA4",
        Field::TunMetadata(4),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata5",
        Field::TunMetadata(5),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA5",
        Field::TunMetadata(5),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata6",
        Field::TunMetadata(6),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA6",
        Field::TunMetadata(6),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "tun_metadata7",
        Field::TunMetadata(7),
        S::Hex,
        true,
        P::None,
    ),
    f(
        "NXM_NX_TUN_METADATA7",
        Field::TunMetadata(7),
        S::Hex,
        true,
        P::None,
    ),
    f("dl_src", Field::DlSrc, S::Mac, true, P::None),
    f("eth_src", Field::DlSrc, S::Mac, true, P::None),
    f("NXM_OF_ETH_SRC", Field::DlSrc, S::Mac, true, P::None),
    f("OXM_OF_ETH_SRC", Field::DlSrc, S::Mac, true, P::None),
    f("dl_dst", Field::DlDst, S::Mac, true, P::None),
    f("eth_dst", Field::DlDst, S::Mac, true, P::None),
    f("NXM_OF_ETH_DST", Field::DlDst, S::Mac, true, P::None),
    f("OXM_OF_ETH_DST", Field::DlDst, S::Mac, true, P::None),
    f("dl_type", Field::DlType, S::Hex, false, P::None),
    f("eth_type", Field::DlType, S::Hex, false, P::None),
    f("NXM_OF_ETH_TYPE", Field::DlType, S::Hex, false, P::None),
    f("OXM_OF_ETH_TYPE", Field::DlType, S::Hex, false, P::None),
    f("vlan_tci", Field::VlanTci, S::Hex, true, P::None),
    f("NXM_OF_VLAN_TCI", Field::VlanTci, S::Hex, true, P::None),
    narrow("vlan_vid", Field::VlanTci, S::Hex, 13),
    narrow("OXM_OF_VLAN_VID", Field::VlanTci, S::Hex, 13),
    f("dl_vlan", Field::DlVlan, S::Decimal, false, P::None),
    f("dl_vlan_pcp", Field::DlVlanPcp, S::Decimal, false, P::None),
    f("vlan_pcp", Field::DlVlanPcp, S::Decimal, false, P::None),
    f(
        "OXM_OF_VLAN_PCP",
        Field::DlVlanPcp,
        S::Decimal,
        false,
        P::None,
    ),
    f("nw_src", Field::NwSrc, S::Ipv4, true, P::Ipv4OrArp),
    f("ip_src", Field::NwSrc, S::Ipv4, true, P::Ipv4),
    f("NXM_OF_IP_SRC", Field::NwSrc, S::Ipv4, true, P::Ipv4),
    f("OXM_OF_IPV4_SRC", Field::NwSrc, S::Ipv4, true, P::Ipv4),
    f("nw_dst", Field::NwDst, S::Ipv4, true, P::Ipv4OrArp),
    f("ip_dst", Field::NwDst, S::Ipv4, true, P::Ipv4),
    f("NXM_OF_IP_DST", Field::NwDst, S::Ipv4, true, P::Ipv4),
    f("OXM_OF_IPV4_DST", Field::NwDst, S::Ipv4, true, P::Ipv4),
    f("ipv6_src", Field::Ipv6Src, S::Ipv6, true, P::Ipv6),
    f("NXM_NX_IPV6_SRC", Field::Ipv6Src, S::Ipv6, true, P::Ipv6),
    f("OXM_OF_IPV6_SRC", Field::Ipv6Src, S::Ipv6, true, P::Ipv6),
    f("ipv6_dst", Field::Ipv6Dst, S::Ipv6, true, P::Ipv6),
    f("NXM_NX_IPV6_DST", Field::Ipv6Dst, S::Ipv6, true, P::Ipv6),
    f("OXM_OF_IPV6_DST", Field::Ipv6Dst, S::Ipv6, true, P::Ipv6),
    f("ipv6_label", Field::Ipv6Label, S::Hex, true, P::Ipv6),
    f("NXM_NX_IPV6_LABEL", Field::Ipv6Label, S::Hex, true, P::Ipv6),
    f(
        "OXM_OF_IPV6_FLABEL",
        Field::Ipv6Label,
        S::Hex,
        true,
        P::Ipv6,
    ),
    f("nw_proto", Field::NwProto, S::Decimal, false, P::IpAny),
    f("ip_proto", Field::NwProto, S::Decimal, false, P::IpAny),
    f(
        "NXM_OF_IP_PROTO",
        Field::NwProto,
        S::Decimal,
        false,
        P::IpAny,
    ),
    f(
        "OXM_OF_IP_PROTO",
        Field::NwProto,
        S::Decimal,
        false,
        P::IpAny,
    ),
    f("nw_tos", Field::NwTos, S::Decimal, false, P::IpAny),
    f("NXM_OF_IP_TOS", Field::NwTos, S::Decimal, false, P::IpAny),
    f("ip_dscp", Field::IpDscp, S::Decimal, false, P::IpAny),
    f("OXM_OF_IP_DSCP", Field::IpDscp, S::Decimal, false, P::IpAny),
    f("nw_ecn", Field::NwEcn, S::Decimal, false, P::IpAny),
    f("ip_ecn", Field::NwEcn, S::Decimal, false, P::IpAny),
    f("NXM_NX_IP_ECN", Field::NwEcn, S::Decimal, false, P::IpAny),
    f("OXM_OF_IP_ECN", Field::NwEcn, S::Decimal, false, P::IpAny),
    f("nw_ttl", Field::NwTtl, S::Decimal, false, P::IpAny),
    f("NXM_NX_IP_TTL", Field::NwTtl, S::Decimal, false, P::IpAny),
    f("nw_frag", Field::NwFrag, S::Frag, true, P::IpAny),
    f("ip_frag", Field::NwFrag, S::Frag, true, P::IpAny),
    f("NXM_NX_IP_FRAG", Field::NwFrag, S::Frag, true, P::IpAny),
    f("tp_src", Field::TpSrc, S::Decimal, true, P::L4),
    f("tp_dst", Field::TpDst, S::Decimal, true, P::L4),
    f("tcp_src", Field::TpSrc, S::Decimal, true, P::Tcp),
    f("NXM_OF_TCP_SRC", Field::TpSrc, S::Decimal, true, P::Tcp),
    f("OXM_OF_TCP_SRC", Field::TpSrc, S::Decimal, true, P::Tcp),
    f("tcp_dst", Field::TpDst, S::Decimal, true, P::Tcp),
    f("NXM_OF_TCP_DST", Field::TpDst, S::Decimal, true, P::Tcp),
    f("OXM_OF_TCP_DST", Field::TpDst, S::Decimal, true, P::Tcp),
    f("udp_src", Field::TpSrc, S::Decimal, true, P::Udp),
    f("NXM_OF_UDP_SRC", Field::TpSrc, S::Decimal, true, P::Udp),
    f("OXM_OF_UDP_SRC", Field::TpSrc, S::Decimal, true, P::Udp),
    f("udp_dst", Field::TpDst, S::Decimal, true, P::Udp),
    f("NXM_OF_UDP_DST", Field::TpDst, S::Decimal, true, P::Udp),
    f("OXM_OF_UDP_DST", Field::TpDst, S::Decimal, true, P::Udp),
    f("sctp_src", Field::TpSrc, S::Decimal, true, P::Sctp),
    f("OXM_OF_SCTP_SRC", Field::TpSrc, S::Decimal, true, P::Sctp),
    f("sctp_dst", Field::TpDst, S::Decimal, true, P::Sctp),
    f("OXM_OF_SCTP_DST", Field::TpDst, S::Decimal, true, P::Sctp),
    f("tcp_flags", Field::TcpFlags, S::TcpFlags, true, P::Tcp),
    f(
        "NXM_NX_TCP_FLAGS",
        Field::TcpFlags,
        S::TcpFlags,
        true,
        P::Tcp,
    ),
    f(
        "OXM_OF_TCP_FLAGS",
        Field::TcpFlags,
        S::TcpFlags,
        true,
        P::Tcp,
    ),
    // OVS accepts `icmp_type`/`icmp_code` under `icmp6` too: they name the same storage.
    f("icmp_type", Field::IcmpType, S::Decimal, false, P::IcmpAny),
    f(
        "NXM_OF_ICMP_TYPE",
        Field::IcmpType,
        S::Decimal,
        false,
        P::Icmp,
    ),
    f("icmp_code", Field::IcmpCode, S::Decimal, false, P::IcmpAny),
    f(
        "NXM_OF_ICMP_CODE",
        Field::IcmpCode,
        S::Decimal,
        false,
        P::Icmp,
    ),
    f("icmpv6_type", Field::IcmpType, S::Decimal, false, P::Icmpv6),
    f(
        "NXM_NX_ICMPV6_TYPE",
        Field::IcmpType,
        S::Decimal,
        false,
        P::Icmpv6,
    ),
    f("icmpv6_code", Field::IcmpCode, S::Decimal, false, P::Icmpv6),
    f(
        "NXM_NX_ICMPV6_CODE",
        Field::IcmpCode,
        S::Decimal,
        false,
        P::Icmpv6,
    ),
    f("arp_op", Field::ArpOp, S::Decimal, false, P::Arp),
    f("NXM_OF_ARP_OP", Field::ArpOp, S::Decimal, false, P::Arp),
    f("arp_spa", Field::ArpSpa, S::Ipv4, true, P::Arp),
    f("NXM_OF_ARP_SPA", Field::ArpSpa, S::Ipv4, true, P::Arp),
    f("arp_tpa", Field::ArpTpa, S::Ipv4, true, P::Arp),
    f("NXM_OF_ARP_TPA", Field::ArpTpa, S::Ipv4, true, P::Arp),
    f("arp_sha", Field::ArpSha, S::Mac, true, P::Arp),
    f("NXM_NX_ARP_SHA", Field::ArpSha, S::Mac, true, P::Arp),
    f("arp_tha", Field::ArpTha, S::Mac, true, P::Arp),
    f("NXM_NX_ARP_THA", Field::ArpTha, S::Mac, true, P::Arp),
    f("nd_target", Field::NdTarget, S::Ipv6, true, P::Nd),
    f("NXM_NX_ND_TARGET", Field::NdTarget, S::Ipv6, true, P::Nd),
    f("nd_sll", Field::NdSll, S::Mac, true, P::NdSolicit),
    f("NXM_NX_ND_SLL", Field::NdSll, S::Mac, true, P::NdSolicit),
    f("nd_tll", Field::NdTll, S::Mac, true, P::NdAdvert),
    f("NXM_NX_ND_TLL", Field::NdTll, S::Mac, true, P::NdAdvert),
    f(
        "OXM_OF_ICMPV4_TYPE",
        Field::IcmpType,
        S::Decimal,
        false,
        P::Icmp,
    ),
    f(
        "OXM_OF_ICMPV4_CODE",
        Field::IcmpCode,
        S::Decimal,
        false,
        P::Icmp,
    ),
    f(
        "OXM_OF_ICMPV6_TYPE",
        Field::IcmpType,
        S::Decimal,
        false,
        P::Icmpv6,
    ),
    f(
        "OXM_OF_ICMPV6_CODE",
        Field::IcmpCode,
        S::Decimal,
        false,
        P::Icmpv6,
    ),
    f("OXM_OF_ARP_OP", Field::ArpOp, S::Decimal, false, P::Arp),
    f("OXM_OF_ARP_SPA", Field::ArpSpa, S::Ipv4, true, P::Arp),
    f("OXM_OF_ARP_TPA", Field::ArpTpa, S::Ipv4, true, P::Arp),
    f("OXM_OF_ARP_SHA", Field::ArpSha, S::Mac, true, P::Arp),
    f("OXM_OF_ARP_THA", Field::ArpTha, S::Mac, true, P::Arp),
    f(
        "OXM_OF_IPV6_ND_TARGET",
        Field::NdTarget,
        S::Ipv6,
        true,
        P::Nd,
    ),
    f(
        "OXM_OF_IPV6_ND_SLL",
        Field::NdSll,
        S::Mac,
        true,
        P::NdSolicit,
    ),
    f(
        "OXM_OF_IPV6_ND_TLL",
        Field::NdTll,
        S::Mac,
        true,
        P::NdAdvert,
    ),
];

/// The register number after one of `prefixes`, if below `limit` (no leading zeros).
fn reg_number(name: &str, prefixes: &[&str], limit: u8) -> Option<u8> {
    prefixes
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && !(n.len() > 1 && n.starts_with('0'))
        })
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| *n < limit)
}

/// Looks a field name up (case-sensitive, as OVS).
pub(crate) fn lookup(name: &str) -> Option<FieldName> {
    if let Some(n) = reg_number(name, &["reg", "NXM_NX_REG"], 16) {
        return Some(f("reg", Field::Reg(n), S::Hex, true, P::None));
    }
    let wide = |n: u8, regs: u8| {
        let mut d = f("xreg", Field::Reg(n * regs), S::Hex, true, P::None);
        d.regs = regs;
        d
    };
    if let Some(n) = reg_number(name, &["xreg", "OXM_OF_PKT_REG"], 8) {
        return Some(wide(n, 2));
    }
    if let Some(n) = reg_number(name, &["xxreg", "NXM_NX_XXREG"], 4) {
        return Some(wide(n, 4));
    }
    NAMES.iter().find(|d| d.name == name).copied()
}

/// The description used when printing `field` (its canonical name) in an action.
pub(crate) fn canonical(field: Field) -> FieldName {
    let name = field.name();
    let mut d = lookup(name).unwrap_or(f("", field, S::Hex, true, P::None));
    d.field = field;
    if field == Field::IcmpType || field == Field::IcmpCode {
        // One storage for ICMPv4 and ICMPv6: in actions the canonical name serves both.
        d.prereq = P::IcmpAny;
    }
    d
}

/// True if an action may write `field` (outside `ct(exec(...))`).
pub(crate) fn writable(field: Field) -> bool {
    !matches!(
        field,
        Field::RecircId
            | Field::DlType
            | Field::NwProto
            | Field::NwFrag
            | Field::TcpFlags
            | Field::CtState
            | Field::CtZone
            | Field::CtMark
            | Field::CtLabel
            | Field::ConjId
    )
}

/// The mask that means "the whole field" for set_field: the field's bits, except `nw_tos`
/// whose low two (ECN) bits are not part of it.
pub(crate) fn full_mask(field: Field) -> u128 {
    match field {
        Field::NwTos => 0xfc,
        _ => field.max_value(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_registers() {
        assert_eq!(lookup("eth_src").unwrap().field, Field::DlSrc);
        assert_eq!(lookup("reg15").unwrap().field, Field::Reg(15));
        assert_eq!(lookup("NXM_NX_REG3").unwrap().field, Field::Reg(3));
        assert!(lookup("reg16").is_none());
        assert!(lookup("reg01").is_none());
        assert!(lookup("nw_dstt").is_none());
        // Every canonical name is known, so every printed action parses back.
        for f in fastpath::flow::field::ALL_FIELDS {
            if f != Field::RecircId {
                assert!(lookup(f.name()).is_some(), "{}", f.name());
            }
        }
    }

    #[test]
    fn prerequisites_need_exact_protocols() {
        let mut m = Match::CATCHALL;
        assert!(!Prereq::L4.holds(&m));
        m.set_field(Field::DlType, ethertype::IPV6 as u128);
        m.set_field(Field::NwProto, ipproto::UDP as u128);
        assert!(Prereq::L4.holds(&m));
        assert!(Prereq::Udp.holds(&m));
        assert!(!Prereq::Tcp.holds(&m));
        assert!(!Prereq::Ipv4.holds(&m));
        m.set_field_masked(Field::NwProto, 0, 0xf0);
        assert!(!Prereq::IpAny.holds(&Match::CATCHALL));
        assert!(!Prereq::L4.holds(&m));
    }
}
