//! OpenFlow 1.0's fixed match as NXM fields, with 1.0's rules: network fields count only when
//! `dl_type` names IPv4 or ARP, transport fields only when `nw_proto` names TCP, UDP, SCTP or
//! ICMP (OVS ignores them otherwise); `dl_vlan` 0xffff means "no VLAN"; for ARP, `nw_proto`
//! is the opcode and `nw_src`/`nw_dst` are the protocol addresses.

use ofp::Match10;
use ofp::field::{FieldId, MatchEntry};
use ofp::match10::wc;

fn prefix_mask(wild_bits: u32) -> u128 {
    if wild_bits >= 32 {
        0
    } else {
        u128::from(u32::MAX << wild_bits)
    }
}

/// The NXM entries equivalent to `m`.
pub fn to_entries(m: &Match10) -> Vec<MatchEntry> {
    let w = m.wildcards;
    let exact = |bit: u32| w & bit == 0;
    let mut out = Vec::new();
    if exact(wc::IN_PORT) {
        out.push(MatchEntry::exact(FieldId::NxmInPort, u128::from(m.in_port)));
    }
    let mac = |b: [u8; 6]| b.iter().fold(0u128, |a, &x| (a << 8) | u128::from(x));
    if exact(wc::DL_SRC) {
        out.push(MatchEntry::exact(FieldId::NxmEthSrc, mac(m.dl_src)));
    }
    if exact(wc::DL_DST) {
        out.push(MatchEntry::exact(FieldId::NxmEthDst, mac(m.dl_dst)));
    }
    let (mut tci, mut tci_mask) = (0u128, 0u128);
    if exact(wc::DL_VLAN) {
        if m.dl_vlan == 0xffff {
            tci_mask = 0xffff;
        } else {
            tci |= 0x1000 | u128::from(m.dl_vlan & 0xfff);
            tci_mask |= 0x1fff;
        }
    }
    if exact(wc::DL_VLAN_PCP) && !(exact(wc::DL_VLAN) && m.dl_vlan == 0xffff) {
        tci |= 0x1000 | (u128::from(m.dl_vlan_pcp & 7) << 13);
        tci_mask |= 0xf000;
    }
    if tci_mask != 0 {
        out.push(MatchEntry::masked(FieldId::VlanTci, tci, tci_mask));
    }
    if !exact(wc::DL_TYPE) {
        return out;
    }
    out.push(MatchEntry::exact(
        FieldId::NxmEthType,
        u128::from(m.dl_type),
    ));
    let arp = m.dl_type == 0x0806;
    if m.dl_type != 0x0800 && !arp {
        return out;
    }
    if exact(wc::NW_TOS) && !arp {
        out.push(MatchEntry::exact(
            FieldId::IpTos,
            u128::from(m.nw_tos & 0xfc),
        ));
    }
    if exact(wc::NW_PROTO) {
        out.push(if arp {
            MatchEntry::exact(FieldId::NxmArpOp, u128::from(m.nw_proto))
        } else {
            MatchEntry::exact(FieldId::NxmIpProto, u128::from(m.nw_proto))
        });
    }
    for (wild, addr, ip, arp_f) in [
        (
            m.nw_src_wild_bits(),
            m.nw_src,
            FieldId::NxmIpSrc,
            FieldId::NxmArpSpa,
        ),
        (
            m.nw_dst_wild_bits(),
            m.nw_dst,
            FieldId::NxmIpDst,
            FieldId::NxmArpTpa,
        ),
    ] {
        let mask = prefix_mask(wild);
        if mask != 0 {
            let f = if arp { arp_f } else { ip };
            out.push(MatchEntry::masked(f, u128::from(addr) & mask, mask));
        }
    }
    if arp || !exact(wc::NW_PROTO) {
        return out;
    }
    let (src, dst) = match m.nw_proto {
        6 => (FieldId::NxmTcpSrc, FieldId::NxmTcpDst),
        17 => (FieldId::NxmUdpSrc, FieldId::NxmUdpDst),
        132 => (FieldId::SctpSrc, FieldId::SctpDst),
        1 => (FieldId::NxmIcmpType, FieldId::NxmIcmpCode),
        _ => return out,
    };
    let icmp = m.nw_proto == 1;
    if exact(wc::TP_SRC) {
        let v = if icmp { m.tp_src & 0xff } else { m.tp_src };
        out.push(MatchEntry::exact(src, u128::from(v)));
    }
    if exact(wc::TP_DST) {
        let v = if icmp { m.tp_dst & 0xff } else { m.tp_dst };
        out.push(MatchEntry::exact(dst, u128::from(v)));
    }
    out
}
