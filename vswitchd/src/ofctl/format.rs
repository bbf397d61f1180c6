//! Printing matches, actions, megaflows and packets the way ovs-ofctl and ofproto/trace do.
//!
//! [`format_match`] follows OVS's `match_format` field order: conntrack fields, the protocol
//! shorthand (`tcp`, `arp`, ...) when `dl_type` (and `nw_proto`) are matched, registers,
//! metadata, `in_port`, VLAN, Ethernet, L3 (named by the match's `dl_type`: `arp_spa` for ARP,
//! `ipv6_src` for IPv6), then TOS/TTL/frag and L4 (`icmp_type` for ICMP). Integers print as OVS
//! prints them (ports decimal, registers `0x..`, masks `/0x..`, prefixes `/N`). Everything printed
//! parses back to the same value: `parse(print(x)) == x` is a tested property.
//! ICMPv6 type and code print as `icmp_type`/`icmp_code` too, as OVS 3.1 prints them (its
//! parser, like ours, takes them under `icmp6`).

use super::PortNames;
use super::fields::{self, Syntax};
use super::lex::{format_ipv4_masked, format_ipv6_masked, format_mac, format_port, hex};
use super::match_parse::{TCP_FLAG_NAMES, TCP_FLAGS_MASK, ct_state_names};
use crate::ofproto::action::{CtZone, OfCt, OfNat, SetSpelling};
use crate::ofproto::{Match, OfAction, SubField};
use fastpath::flow::Field;
use fastpath::flow::key::{
    FRAG_ANY, FRAG_LATER, FlowKey, FlowMask, VLAN_CFI, VLAN_PCP_MASK, VLAN_PCP_SHIFT,
    VLAN_VID_MASK, ethertype, ipproto,
};
use std::fmt::Write as _;
use std::net::IpAddr;

/// Prints a match (without priority) in `match_format` order. A catch-all prints as "".
pub fn format_match(m: &Match, names: &dyn PortNames) -> String {
    let mut out = Vec::new();
    write_match(&mut out, &m.key.masked(&m.mask), &m.mask, names, false);
    out.join(",")
}

/// Prints a megaflow `(key, mask)` as ofproto/trace's "Megaflow:" line:
/// `recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,...`. `recirc_id` is always printed and
/// `eth` always follows it (every datapath packet here is Ethernet). Ports are datapath numbers.
pub fn format_megaflow(key: &FlowKey, mask: &FlowMask) -> String {
    let mut mask = *mask;
    // Registers, metadata and conj_id are not part of a datapath flow.
    mask.metadata = 0;
    mask.regs = [0; 16];
    mask.conj_id = 0;
    let mut out = vec![format!("recirc_id={}", hex(key.recirc_id as u128))];
    out.push("eth".to_owned());
    mask.recirc_id = 0;
    write_match(&mut out, &key.masked(&mask), &mask, &super::NoNames, true);
    out.join(",")
}

/// Prints a packet's flow in ofproto/trace "Flow:" style (`tcp,in_port=1,dl_src=..,...`): every
/// field the packet's protocols give it, exactly; `parse_packet` reads it back. Unlike OVS,
/// an untagged packet's `vlan_tci=0x0000` is left out (DESIGN §6's example omits it), and so is
/// `in_port=0` (no port: a packet traced without one).
pub fn format_packet(key: &FlowKey, names: &dyn PortNames) -> String {
    let mask = packet_mask(key);
    let mut out = Vec::new();
    write_match(&mut out, &key.masked(&mask), &mask, names, false);
    if key.vlan_tci_inner != 0 {
        // The inner tag follows the outer one, as in OVS's flow_format.
        let at = out
            .iter()
            .rposition(|i| i.starts_with("dl_vlan") || i.starts_with("vlan_tci"))
            .map_or(out.len(), |i| i + 1);
        let t = key.vlan_tci_inner;
        let inner = if t & VLAN_CFI != 0 {
            format!(
                "dl_vlan1={},dl_vlan_pcp1={}",
                t & VLAN_VID_MASK,
                t >> VLAN_PCP_SHIFT
            )
        } else {
            format!("vlan_tci1=0x{t:04x}")
        };
        out.insert(at, inner);
    }
    out.join(",")
}

/// The fields a packet of `key`'s protocols carries (OVS's `flow_wildcards_init_for_packet`).
fn packet_mask(key: &FlowKey) -> FlowMask {
    let mut m = FlowKey::ZERO;
    let exact = |m: &mut FlowMask, f: Field| f.set(m, u128::MAX);
    if key.recirc_id != 0 {
        exact(&mut m, Field::RecircId);
    }
    // Each conntrack field is printed when nonzero, as OVS's flow_format does: a packet can
    // carry a zone or mark without state bits (`ct_zone=3`), and that must survive printing.
    for f in [Field::CtState, Field::CtZone, Field::CtMark, Field::CtLabel] {
        if f.get(key) != 0 {
            exact(&mut m, f);
        }
    }
    for (i, r) in key.regs.iter().enumerate() {
        if *r != 0 {
            exact(&mut m, Field::Reg(i as u8));
        }
    }
    if key.metadata != 0 {
        exact(&mut m, Field::Metadata);
    }
    if key.has_tunnel() {
        let v4 = key.tun_dst != 0;
        let fields = [
            Field::TunId,
            if v4 { Field::TunSrc } else { Field::TunIpv6Src },
            if v4 { Field::TunDst } else { Field::TunIpv6Dst },
            Field::TunTos,
            Field::TunTtl,
            Field::TunFlags,
        ];
        for f in fields {
            exact(&mut m, f);
        }
        if key.tun_gbp_id != 0 || key.tun_gbp_flags != 0 {
            exact(&mut m, Field::TunGbpId);
            exact(&mut m, Field::TunGbpFlags);
        }
    }
    for n in 0..fastpath::flow::tlv::MAX_FIELDS as u8 {
        if key.tun_md_present & (1 << n) != 0 {
            exact(&mut m, Field::TunMetadata(n));
        }
    }
    if !key.has_tunnel() {
        // Tunnel fields without a tunnel destination (a trace packet written that way): each
        // one that is set prints, so the line parses back to the same packet.
        for f in [
            Field::TunId,
            Field::TunSrc,
            Field::TunIpv6Src,
            Field::TunTos,
            Field::TunTtl,
            Field::TunFlags,
            Field::TunGbpId,
            Field::TunGbpFlags,
        ] {
            if f.get(key) != 0 {
                exact(&mut m, f);
            }
        }
    }
    // Port 0 is no OpenFlow port: a packet traced without an in_port prints none (either
    // form parses back to the same key).
    if key.in_port != 0 {
        exact(&mut m, Field::InPort);
    }
    for f in [Field::DlSrc, Field::DlDst, Field::DlType] {
        exact(&mut m, f);
    }
    if key.vlan_tci != 0 {
        exact(&mut m, Field::VlanTci);
    }
    match key.dl_type {
        ethertype::ARP => {
            for f in [
                Field::NwSrc,
                Field::NwDst,
                Field::NwProto,
                Field::ArpSha,
                Field::ArpTha,
            ] {
                exact(&mut m, f);
            }
        }
        ethertype::IPV4 | ethertype::IPV6 => {
            if key.dl_type == ethertype::IPV4 {
                exact(&mut m, Field::NwSrc);
                exact(&mut m, Field::NwDst);
            } else {
                exact(&mut m, Field::Ipv6Src);
                exact(&mut m, Field::Ipv6Dst);
                exact(&mut m, Field::Ipv6Label);
            }
            for f in [Field::NwProto, Field::NwFrag, Field::NwTos, Field::NwTtl] {
                exact(&mut m, f);
            }
            // ICMP carries type and code only over its own IP version (`icmp6,ip` is IPv4
            // protocol 58, which has no L4 fields to print, as in OVS's flow extraction).
            let l4 = match key.nw_proto {
                ipproto::TCP | ipproto::UDP | ipproto::SCTP => true,
                ipproto::ICMP => key.dl_type == ethertype::IPV4,
                ipproto::ICMPV6 => key.dl_type == ethertype::IPV6,
                _ => false,
            };
            if l4 && key.nw_frag & FRAG_LATER == 0 {
                exact(&mut m, Field::TpSrc);
                exact(&mut m, Field::TpDst);
                if key.nw_proto == ipproto::TCP {
                    exact(&mut m, Field::TcpFlags);
                }
                if key.dl_type == ethertype::IPV6
                    && key.nw_proto == ipproto::ICMPV6
                    && key.tp_dst == 0
                    && matches!(key.tp_src, 135 | 136)
                {
                    exact(&mut m, Field::NdTarget);
                    exact(
                        &mut m,
                        if key.tp_src == 135 {
                            Field::NdSll
                        } else {
                            Field::NdTll
                        },
                    );
                }
            }
        }
        _ => {}
    }
    m
}

/// `match_format`'s body over a masked key. `megaflow`: no port names.
fn write_match(
    out: &mut Vec<String>,
    k: &FlowKey,
    m: &FlowMask,
    names: &dyn PortNames,
    megaflow: bool,
) {
    let get = |f: Field| (f.get(k), f.get(m));
    if m.recirc_id != 0 {
        out.push(uint_masked(
            "recirc_id",
            k.recirc_id as u128,
            m.recirc_id as u128,
            0xffff_ffff,
        ));
    }
    if m.conj_id != 0 {
        out.push(format!("conj_id={}", k.conj_id));
    }
    if m.ct_state != 0 {
        out.push(format!(
            "ct_state={}",
            flags_masked(
                k.ct_state as u32,
                m.ct_state as u32,
                0xff,
                &ct_state_names()
            )
        ));
    }
    if m.ct_zone != 0 {
        out.push(be_masked(
            "ct_zone",
            k.ct_zone as u128,
            m.ct_zone as u128,
            0xffff,
        ));
    }
    if m.ct_mark != 0 {
        out.push(uint_masked(
            "ct_mark",
            k.ct_mark as u128,
            m.ct_mark as u128,
            0xffff_ffff,
        ));
    }
    let (label, label_mask) = get(Field::CtLabel);
    if label_mask != 0 {
        out.push(uint_masked("ct_label", label, label_mask, u128::MAX));
    }

    let dl_type = k.dl_type;
    let mut skip_type = false;
    let mut skip_proto = false;
    if m.dl_type != 0 {
        skip_type = true;
        let proto = (m.nw_proto != 0).then_some(k.nw_proto);
        let short = match (dl_type, proto) {
            (ethertype::IPV4, Some(ipproto::ICMP)) => Some("icmp"),
            (ethertype::IPV4, Some(ipproto::TCP)) => Some("tcp"),
            (ethertype::IPV4, Some(ipproto::UDP)) => Some("udp"),
            (ethertype::IPV4, Some(ipproto::SCTP)) => Some("sctp"),
            (ethertype::IPV6, Some(ipproto::ICMPV6)) => Some("icmp6"),
            (ethertype::IPV6, Some(ipproto::TCP)) => Some("tcp6"),
            (ethertype::IPV6, Some(ipproto::UDP)) => Some("udp6"),
            (ethertype::IPV6, Some(ipproto::SCTP)) => Some("sctp6"),
            _ => None,
        };
        if let Some(s) = short {
            skip_proto = true;
            out.push(s.to_owned());
        } else {
            match dl_type {
                ethertype::IPV4 => out.push("ip".to_owned()),
                ethertype::IPV6 => out.push("ipv6".to_owned()),
                ethertype::ARP => out.push("arp".to_owned()),
                super::match_parse::RARP => out.push("rarp".to_owned()),
                _ => skip_type = false,
            }
        }
    }
    for i in 0..16 {
        if m.regs[i] != 0 {
            out.push(uint_masked(
                &format!("reg{i}"),
                k.regs[i] as u128,
                m.regs[i] as u128,
                0xffff_ffff,
            ));
        }
    }
    write_tunnel(out, k, m);
    if m.metadata != 0 {
        out.push(uint_masked(
            "metadata",
            k.metadata as u128,
            m.metadata as u128,
            u64::MAX as u128,
        ));
    }
    if m.in_port != 0 {
        let port = if megaflow {
            k.in_port.to_string()
        } else {
            format_port(k.in_port, names)
        };
        out.push(format!("in_port={port}"));
    }
    if m.vlan_tci != 0 {
        let vid_mask = m.vlan_tci & VLAN_VID_MASK;
        let pcp_mask = m.vlan_tci & VLAN_PCP_MASK;
        let cfi = m.vlan_tci & VLAN_CFI != 0;
        if cfi
            && k.vlan_tci & VLAN_CFI != 0
            && (vid_mask == 0 || vid_mask == VLAN_VID_MASK)
            && (pcp_mask == 0 || pcp_mask == VLAN_PCP_MASK)
            && (vid_mask != 0 || pcp_mask != 0)
        {
            if vid_mask != 0 {
                out.push(format!("dl_vlan={}", k.vlan_tci & VLAN_VID_MASK));
            }
            if pcp_mask != 0 {
                out.push(format!("dl_vlan_pcp={}", k.vlan_tci >> VLAN_PCP_SHIFT));
            }
        } else if m.vlan_tci == 0xffff {
            out.push(format!("vlan_tci=0x{:04x}", k.vlan_tci));
        } else {
            out.push(format!(
                "vlan_tci=0x{:04x}/0x{:04x}",
                k.vlan_tci, m.vlan_tci
            ));
        }
    }
    push_mac(out, "dl_src", get(Field::DlSrc));
    push_mac(out, "dl_dst", get(Field::DlDst));
    if !skip_type && m.dl_type != 0 {
        out.push(format!("dl_type=0x{dl_type:04x}"));
    }
    let is_arp = dl_type == ethertype::ARP;
    match dl_type {
        ethertype::IPV6 => {
            push_ipv6(out, "ipv6_src", get(Field::Ipv6Src));
            push_ipv6(out, "ipv6_dst", get(Field::Ipv6Dst));
            if m.ipv6_label != 0 {
                if m.ipv6_label == 0xf_ffff {
                    out.push(format!("ipv6_label=0x{:05x}", k.ipv6_label));
                } else {
                    out.push(format!(
                        "ipv6_label=0x{:05x}/0x{:05x}",
                        k.ipv6_label, m.ipv6_label
                    ));
                }
            }
        }
        ethertype::ARP => {
            push_ipv4(out, "arp_spa", k.nw_src, m.nw_src);
            push_ipv4(out, "arp_tpa", k.nw_dst, m.nw_dst);
        }
        _ => {
            push_ipv4(out, "nw_src", k.nw_src, m.nw_src);
            push_ipv4(out, "nw_dst", k.nw_dst, m.nw_dst);
        }
    }
    if !skip_proto && m.nw_proto != 0 {
        let name = if is_arp { "arp_op" } else { "nw_proto" };
        out.push(format!("{name}={}", k.nw_proto));
    }
    if is_arp {
        push_mac(out, "arp_sha", get(Field::ArpSha));
        push_mac(out, "arp_tha", get(Field::ArpTha));
    }
    if m.nw_tos & 0xfc != 0 {
        out.push(format!("nw_tos={}", k.nw_tos & 0xfc));
    }
    if m.nw_tos & 0x03 != 0 {
        out.push(format!("nw_ecn={}", k.nw_tos & 0x03));
    }
    if m.nw_ttl != 0 {
        out.push(format!("nw_ttl={}", k.nw_ttl));
    }
    let frag = match m.nw_frag & (FRAG_ANY | FRAG_LATER) {
        0b11 => Some(match k.nw_frag & 3 {
            0 => "no",
            FRAG_ANY => "first",
            3 => "later",
            _ => "<error>",
        }),
        FRAG_ANY => Some(if k.nw_frag & FRAG_ANY != 0 {
            "yes"
        } else {
            "no"
        }),
        FRAG_LATER => Some(if k.nw_frag & FRAG_LATER != 0 {
            "later"
        } else {
            "not_later"
        }),
        _ => None,
    };
    if let Some(f) = frag {
        out.push(format!("nw_frag={f}"));
    }
    let icmp = matches!(
        (dl_type, k.nw_proto),
        (ethertype::IPV4, ipproto::ICMP) | (ethertype::IPV6, ipproto::ICMPV6)
    );
    let (src, dst) = if icmp {
        ("icmp_type", "icmp_code")
    } else {
        ("tp_src", "tp_dst")
    };
    // ICMP type and code are one byte each in the packet: a megaflow that matches all 8 bits
    // (xlate keeps them to 8) is exact, and prints as OVS prints its exact 16-bit mask.
    let l4_mask = |m: u16| if icmp && m & 0xff == 0xff { 0xffff } else { m };
    if m.tp_src != 0 {
        let mask = l4_mask(m.tp_src) as u128;
        out.push(be_masked(src, k.tp_src as u128, mask, 0xffff));
    }
    if m.tp_dst != 0 {
        let mask = l4_mask(m.tp_dst) as u128;
        out.push(be_masked(dst, k.tp_dst as u128, mask, 0xffff));
    }
    if dl_type == ethertype::IPV6 && k.nw_proto == ipproto::ICMPV6 {
        push_ipv6(out, "nd_target", get(Field::NdTarget));
        push_mac(out, "nd_sll", get(Field::NdSll));
        push_mac(out, "nd_tll", get(Field::NdTll));
    }
    let ip_any = dl_type == ethertype::IPV4 || dl_type == ethertype::IPV6;
    let tcp_flags_mask = m.tcp_flags as u32 & TCP_FLAGS_MASK;
    if ip_any && k.nw_proto == ipproto::TCP && tcp_flags_mask != 0 {
        out.push(format!(
            "tcp_flags={}",
            flags_masked(
                k.tcp_flags as u32,
                tcp_flags_mask,
                TCP_FLAGS_MASK,
                &TCP_FLAG_NAMES
            )
        ));
    }
}

/// The `tun_*` fields, in OVS's `format_flow_tunnel` order.
fn write_tunnel(out: &mut Vec<String>, k: &FlowKey, m: &FlowMask) {
    if m.tun_id != 0 {
        out.push(uint_masked(
            "tun_id",
            k.tun_id.into(),
            m.tun_id.into(),
            u64::MAX.into(),
        ));
    }
    push_ipv4(out, "tun_src", k.tun_src, m.tun_src);
    push_ipv4(out, "tun_dst", k.tun_dst, m.tun_dst);
    let v6 = |a: [u8; 16]| u128::from_be_bytes(a);
    push_ipv6(
        out,
        "tun_ipv6_src",
        (v6(k.tun_ipv6_src), v6(m.tun_ipv6_src)),
    );
    push_ipv6(
        out,
        "tun_ipv6_dst",
        (v6(k.tun_ipv6_dst), v6(m.tun_ipv6_dst)),
    );
    if m.tun_gbp_id != 0 {
        out.push(be_masked(
            "tun_gbp_id",
            k.tun_gbp_id.into(),
            m.tun_gbp_id.into(),
            0xffff,
        ));
    }
    if m.tun_gbp_flags != 0 {
        out.push(uint_masked(
            "tun_gbp_flags",
            k.tun_gbp_flags.into(),
            m.tun_gbp_flags.into(),
            0xff,
        ));
    }
    if m.tun_tos != 0 {
        out.push(format!("tun_tos={}", k.tun_tos));
    }
    if m.tun_ttl != 0 {
        out.push(format!("tun_ttl={}", k.tun_ttl));
    }
    // Only the defined bits can be set (the parser refuses others, the ports set no others),
    // so an exact mask over the whole u16 prints as names.
    let all = fastpath::flow::key::tun_flags::ALL;
    if m.tun_flags & all != 0 {
        out.push(format!(
            "tun_flags={}",
            flags_masked(
                k.tun_flags.into(),
                (m.tun_flags & all).into(),
                all.into(),
                &super::match_parse::tun_flag_names()
            )
        ));
    }
    // Geneve options last, as OVS's `tun_metadata_match_format`.
    for n in 0..fastpath::flow::tlv::MAX_FIELDS as u8 {
        if m.tun_md_present & (1 << n) != 0 {
            let f = Field::TunMetadata(n);
            out.push(uint_masked(f.name(), f.get(k), f.get(m), f.max_value()));
        }
    }
}

/// `%#x[/%#x]` (OVS `format_uint32_masked`): exact values without a mask.
fn uint_masked(name: &str, v: u128, m: u128, all: u128) -> String {
    if m == all {
        format!("{name}={}", hex(v))
    } else {
        format!("{name}={}/{}", hex(v), hex(m))
    }
}

/// Decimal when exact, else `0xV/0xM` (OVS `format_be16_masked`).
fn be_masked(name: &str, v: u128, m: u128, all: u128) -> String {
    if m == all {
        format!("{name}={v}")
    } else {
        format!("{name}={v:#x}/{m:#x}")
    }
}

fn push_mac(out: &mut Vec<String>, name: &str, (v, m): (u128, u128)) {
    if m != 0 {
        if m == 0xffff_ffff_ffff {
            out.push(format!("{name}={}", format_mac(v)));
        } else {
            out.push(format!("{name}={}/{}", format_mac(v), format_mac(m)));
        }
    }
}

fn push_ipv4(out: &mut Vec<String>, name: &str, v: u32, m: u32) {
    if m != 0 {
        out.push(format!("{name}={}", format_ipv4_masked(v, m)));
    }
}

fn push_ipv6(out: &mut Vec<String>, name: &str, (v, m): (u128, u128)) {
    if m != 0 {
        out.push(format!("{name}={}", format_ipv6_masked(v, m)));
    }
}

/// OVS `format_flags_masked`: `a|b` (or `0`) when the mask is full, else `+a-b` in bit order.
fn flags_masked(v: u32, m: u32, all: u32, names: &[(&str, u32)]) -> String {
    let name = |bit: u32| names.iter().find(|(_, b)| *b == bit).map(|(n, _)| *n);
    let mut s = String::new();
    if m == all {
        if v == 0 {
            return "0".to_owned();
        }
        for i in 0..32 {
            let bit = 1u32 << i;
            if v & bit != 0 {
                if !s.is_empty() {
                    s.push('|');
                }
                match name(bit) {
                    Some(n) => s.push_str(n),
                    None => {
                        let _ = write!(s, "{bit:#x}");
                    }
                }
            }
        }
        return s;
    }
    if m & !all != 0 || (0..32).any(|i| m & (1 << i) != 0 && name(1 << i).is_none()) {
        return format!("{v:#x}/{m:#x}");
    }
    for i in 0..32 {
        let bit = 1u32 << i;
        if m & bit != 0 {
            s.push(if v & bit != 0 { '+' } else { '-' });
            s.push_str(name(bit).unwrap_or("?"));
        }
    }
    s
}

/// Prints an action list as ovs-ofctl does (`,`-separated; an empty list is `drop`).
pub fn format_actions(actions: &[OfAction], names: &dyn PortNames) -> String {
    if actions.is_empty() {
        return "drop".to_owned();
    }
    actions
        .iter()
        .map(|a| format_action(a, names))
        .collect::<Vec<_>>()
        .join(",")
}

/// `controller(...)` as OVS's `format_CONTROLLER` prints it (the plain form as an output to
/// the controller port).
fn format_controller(c: &crate::ofproto::action::OfController) -> String {
    if c.is_plain() {
        return format!("CONTROLLER:{}", c.max_len);
    }
    let mut parts = Vec::new();
    if c.reason != crate::ofproto::action::OfController::ACTION {
        let name = crate::ofproto::action::PACKET_IN_REASONS
            .get(usize::from(c.reason))
            .map_or_else(|| c.reason.to_string(), |s| (*s).to_owned());
        parts.push(format!("reason={name}"));
    }
    if c.max_len != u16::MAX {
        parts.push(format!("max_len={}", c.max_len));
    }
    if c.id != 0 {
        parts.push(format!("id={}", c.id));
    }
    if !c.userdata.is_empty() {
        let hex: Vec<String> = c.userdata.iter().map(|b| format!("{b:02x}")).collect();
        parts.push(format!("userdata={}", hex.join(".")));
    }
    if c.pause {
        parts.push("pause".to_owned());
    }
    if let Some(m) = c.meter_id {
        parts.push(format!("meter_id={m}"));
    }
    format!("controller({})", parts.join(","))
}

/// Prints one action.
pub fn format_action(a: &OfAction, names: &dyn PortNames) -> String {
    match a {
        OfAction::Output(p) => format!("output:{}", format_port(*p, names)),
        OfAction::InPort => "IN_PORT".to_owned(),
        OfAction::Normal => "NORMAL".to_owned(),
        OfAction::Flood => "FLOOD".to_owned(),
        OfAction::All => "ALL".to_owned(),
        OfAction::Local => "LOCAL".to_owned(),
        OfAction::Drop => "drop".to_owned(),
        OfAction::Controller(c) => format_controller(c),
        OfAction::SetField {
            field,
            value,
            mask,
            spelling,
        } => {
            let full = fields::full_mask(*field);
            let mod_name = match field {
                Field::DlSrc => Some("mod_dl_src"),
                Field::DlDst => Some("mod_dl_dst"),
                Field::NwSrc => Some("mod_nw_src"),
                Field::NwDst => Some("mod_nw_dst"),
                Field::NwTos => Some("mod_nw_tos"),
                Field::NwEcn => Some("mod_nw_ecn"),
                Field::NwTtl => Some("mod_nw_ttl"),
                Field::TpSrc => Some("mod_tp_src"),
                Field::TpDst => Some("mod_tp_dst"),
                _ => None,
            };
            match (spelling, mod_name) {
                (SetSpelling::Mod, Some(n)) if *mask == full => {
                    format!("{n}:{}", field_value(*field, *value, None, names))
                }
                _ => {
                    let m = (*mask != full).then_some(*mask);
                    format!(
                        "set_field:{}->{}",
                        field_value(*field, *value, m, names),
                        field.name()
                    )
                }
            }
        }
        OfAction::Load { value, dst } => format!("load:{}->{}", hex(*value), format_subfield(dst)),
        OfAction::Move { src, dst } => {
            format!("move:{}->{}", format_subfield(src), format_subfield(dst))
        }
        OfAction::StackPush(sf) => format!("push:{}", format_subfield(sf)),
        OfAction::StackPop(sf) => format!("pop:{}", format_subfield(sf)),
        OfAction::PushVlan(tpid) => format!("push_vlan:{tpid:#06x}"),
        OfAction::SetVlanVid(v) => format!("mod_vlan_vid:{v}"),
        OfAction::SetVlanPcp(p) => format!("mod_vlan_pcp:{p}"),
        OfAction::PopVlan => "pop_vlan".to_owned(),
        OfAction::DecTtl => "dec_ttl".to_owned(),
        OfAction::GotoTable(t) => format!("goto_table:{t}"),
        OfAction::Resubmit { port, table } => {
            let p = port.map(|p| format_port(p, names)).unwrap_or_default();
            match table {
                None => format!("resubmit:{p}"),
                Some(t) => format!("resubmit({p},{t})"),
            }
        }
        OfAction::Ct(ct) => format_ct(ct, names),
        OfAction::CtClear => "ct_clear".to_owned(),
        OfAction::Learn(l) => super::learn::format_learn(l, names),
        OfAction::FinTimeout {
            idle_timeout,
            hard_timeout,
        } => super::learn::format_fin_timeout(*idle_timeout, *hard_timeout),
        OfAction::Group(g) => format!("group:{g}"),
        OfAction::Meter(m) => format!("meter:{m}"),
        OfAction::Conjunction(c) => {
            format!("conjunction({},{}/{})", c.id, c.clause + 1, c.n_clauses)
        }
        OfAction::Clone(acts) => format!("clone({})", format_actions(acts, names)),
        OfAction::Exit => "exit".to_owned(),
        OfAction::Note(bytes) => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("note:{}", hex.join("."))
        }
        OfAction::OutputReg { src, .. } => format!("output:{}", format_subfield(src)),
        OfAction::CheckPktLarger { len, dst } => {
            format!("check_pkt_larger({len})->{}", format_subfield(dst))
        }
    }
}

/// `NAME[]`, `NAME[a]` or `NAME[a..b]`.
pub fn format_subfield(s: &SubField) -> String {
    // `in_port` names OVS's 16-bit field; bits above 15 need the 32-bit OXM name.
    let (name, bits) = match s.field {
        Field::InPort if s.end < 16 => ("in_port", 16),
        Field::InPort => ("in_port_oxm", 32),
        f => (f.name(), f.bits()),
    };
    if s.start == 0 && s.end + 1 == bits {
        format!("{name}[]")
    } else if s.start == s.end {
        format!("{name}[{}]", s.start)
    } else {
        format!("{name}[{}..{}]", s.start, s.end)
    }
}

/// A set_field value (and mask) in the field's own syntax.
pub(crate) fn field_value(
    field: Field,
    v: u128,
    mask: Option<u128>,
    names: &dyn PortNames,
) -> String {
    let desc = fields::canonical(field);
    match desc.syntax {
        Syntax::Mac => match mask {
            None => format_mac(v),
            Some(m) => format!("{}/{}", format_mac(v), format_mac(m)),
        },
        Syntax::Ipv4 => format_ipv4_masked(v as u32, mask.unwrap_or(u32::MAX as u128) as u32),
        Syntax::Ipv6 => format_ipv6_masked(v, mask.unwrap_or(u128::MAX)),
        _ => {
            let value = match desc.syntax {
                Syntax::Decimal => v.to_string(),
                Syntax::Port => format_port(v as u32, names),
                _ => hex(v),
            };
            match mask {
                None => value,
                Some(m) => format!("{value}/{}", hex(m)),
            }
        }
    }
}

fn format_ct(ct: &OfCt, names: &dyn PortNames) -> String {
    let mut parts = Vec::new();
    if ct.commit {
        parts.push("commit".to_owned());
    }
    if let Some(t) = ct.table {
        parts.push(format!("table={t}"));
    }
    match ct.zone {
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => parts.push(format!("zone={z}")),
        CtZone::Field(s) => parts.push(format!("zone={}", format_subfield(&s))),
    }
    if let Some(nat) = &ct.nat {
        parts.push(format_nat(nat));
    }
    if !ct.exec.is_empty() {
        parts.push(format!("exec({})", format_actions(&ct.exec, names)));
    }
    format!("ct({})", parts.join(","))
}

fn format_nat(nat: &OfNat) -> String {
    let Some(src) = nat.src else {
        return "nat".to_owned();
    };
    let mut s = String::from(if src { "nat(src" } else { "nat(dst" });
    if let Some((lo, hi)) = nat.addrs {
        let bracket = nat.ports.is_some();
        let addr = |a: IpAddr| match a {
            IpAddr::V6(a) if bracket => format!("[{a}]"),
            a => a.to_string(),
        };
        let _ = write!(s, "={}", addr(lo));
        if hi != lo {
            let _ = write!(s, "-{}", addr(hi));
        }
        if let Some((p, q)) = nat.ports {
            let _ = write!(s, ":{p}");
            if q != p {
                let _ = write!(s, "-{q}");
            }
        }
    }
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn megaflow_matches_the_design_example() {
        let mut k = FlowKey::ZERO;
        let mut m = FlowKey::ZERO;
        k.in_port = 1;
        k.dl_type = ethertype::IPV4;
        k.nw_proto = ipproto::TCP;
        k.nw_src = 0x0a00_0105;
        k.nw_dst = 0x0a00_0007;
        k.tp_src = 12345;
        k.tp_dst = 80;
        k.nw_ttl = 64;
        for f in [
            Field::RecircId,
            Field::InPort,
            Field::DlType,
            Field::NwProto,
            Field::NwFrag,
            Field::TpDst,
        ] {
            f.set(&mut m, u128::MAX);
        }
        m.nw_src = 0xffff_ff00;
        m.nw_dst = 0xffff_ff00;
        m.nw_tos = 0xfc;
        m.regs[0] = !0;
        assert_eq!(
            format_megaflow(&k, &m),
            "recirc_id=0,eth,tcp,in_port=1,nw_src=10.0.1.0/24,nw_dst=10.0.0.0/24,nw_tos=0,nw_frag=no,tp_dst=80"
        );
        m.tp_dst = 0xff00;
        m.recirc_id = 0;
        k.recirc_id = 7;
        assert!(format_megaflow(&k, &m).starts_with("recirc_id=0x7,eth,"));
        assert!(format_megaflow(&k, &m).ends_with("tp_dst=0x0/0xff00"));
    }

    #[test]
    fn flags_printing() {
        let names = ct_state_names();
        assert_eq!(flags_masked(0x22, 0xff, 0xff, &names), "est|trk");
        assert_eq!(flags_masked(0, 0xff, 0xff, &names), "0");
        assert_eq!(flags_masked(0x21, 0x23, 0xff, &names), "+new-est+trk");
    }
}
