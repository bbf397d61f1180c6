//! Field writes during translation: `set_field`, `load`, `move`, with run-time prerequisites.
//!
//! The flow-syntax parser already rejects writes whose prerequisites the rule's match does not
//! guarantee, but a flow can reach an action through `resubmit` with a different packet type,
//! so prerequisites are checked again here, as OVS does: a write to a field the packet does not
//! have (`tcp_dst` of a UDP packet, `dl_vlan` of an untagged frame) is skipped. The check reads
//! `dl_type` / `nw_proto` / the VLAN present bit, so those are un-wildcarded.
//!
//! A write un-wildcards the bits it writes: commit emits a set action only when the value
//! differs from the packet's, so the result depends on the packet's original value of those
//! bits. A `move` also un-wildcards the source bits it reads.
//!
//! The VLAN actions live here too: they edit the flow's tag fields, and [`super::commit`] turns
//! the result into pop / push actions.

use super::error::XlateError;
use crate::ofproto::action::SubField;
use fastpath::flow::key::{FRAG_LATER, VLAN_CFI, ethertype, ipproto};
use fastpath::flow::{Field, FlowKey, FlowMask};

/// Why a write was skipped (shown in traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The packet lacks the header the field lives in.
    Prerequisite(Field),
    /// The field cannot be written by an OpenFlow action.
    ReadOnly(Field),
}

impl core::fmt::Display for Skip {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Skip::Prerequisite(x) => write!(
                f,
                "skipped: the packet has no {} field (prerequisites not met)",
                x.name()
            ),
            Skip::ReadOnly(x) => write!(f, "skipped: {} is read-only", x.name()),
        }
    }
}

fn unwildcard(field: Field, wc: &mut FlowMask, bits: u128) {
    field.set(wc, field.get(wc) | bits);
}

fn is_ip(flow: &FlowKey, wc: &mut FlowMask) -> bool {
    wc.dl_type = 0xffff;
    flow.is_ip()
}

fn dl_type_is(flow: &FlowKey, wc: &mut FlowMask, t: &[u16]) -> bool {
    wc.dl_type = 0xffff;
    t.contains(&flow.dl_type)
}

fn proto_is(flow: &FlowKey, wc: &mut FlowMask, p: &[u8]) -> bool {
    wc.nw_proto = 0xff;
    p.contains(&flow.nw_proto)
}

/// True if `flow` has `field`; un-wildcards what was consulted.
pub fn prereqs_ok(field: Field, flow: &FlowKey, wc: &mut FlowMask) -> bool {
    use Field::*;
    const RARP: u16 = 0x8035;
    match field {
        NwSrc | NwDst => dl_type_is(flow, wc, &[ethertype::IPV4]),
        NwProto | NwTos | IpDscp | NwEcn | NwTtl | NwFrag => is_ip(flow, wc),
        Ipv6Src | Ipv6Dst | Ipv6Label => dl_type_is(flow, wc, &[ethertype::IPV6]),
        ArpOp | ArpSpa | ArpTpa | ArpSha | ArpTha => dl_type_is(flow, wc, &[ethertype::ARP, RARP]),
        // As OVS's MFP_TCP/UDP/SCTP: a later fragment has no L4 header (nw_frag is in every IP
        // megaflow already).
        TpSrc | TpDst => {
            is_ip(flow, wc)
                && proto_is(flow, wc, &[ipproto::TCP, ipproto::UDP, ipproto::SCTP])
                && flow.nw_frag & FRAG_LATER == 0
        }
        TcpFlags => {
            is_ip(flow, wc) && proto_is(flow, wc, &[ipproto::TCP]) && flow.nw_frag & FRAG_LATER == 0
        }
        IcmpType | IcmpCode => {
            (dl_type_is(flow, wc, &[ethertype::IPV4]) && proto_is(flow, wc, &[ipproto::ICMP]))
                || (flow.dl_type == ethertype::IPV6 && proto_is(flow, wc, &[ipproto::ICMPV6]))
        }
        NdTarget | NdSll | NdTll => {
            let types: &[u16] = match field {
                NdSll => &[135],
                NdTll => &[136],
                _ => &[135, 136],
            };
            dl_type_is(flow, wc, &[ethertype::IPV6]) && proto_is(flow, wc, &[ipproto::ICMPV6]) && {
                wc.tp_src = 0xffff;
                types.contains(&flow.tp_src)
            }
        }
        DlVlan | DlVlanPcp => {
            wc.vlan_tci |= VLAN_CFI;
            flow.has_vlan()
        }
        RecircId | InPort | Metadata | Reg(_) | CtState | CtZone | CtMark | CtLabel | DlSrc
        | DlDst | DlType | VlanTci | ConjId => true,
        TunId
        | TunSrc
        | TunDst
        | TunIpv6Src
        | TunIpv6Dst
        | TunFlags
        | TunTos
        | TunTtl
        | TunGbpId
        | TunGbpFlags
        | TunMetadata { .. } => true,
    }
}

/// True if OpenFlow actions may write `field` (conntrack fields only through `ct(exec(...))`).
pub fn is_writable(field: Field) -> bool {
    use Field::*;
    !matches!(
        field,
        RecircId | CtState | CtZone | CtMark | CtLabel | DlType | NwProto | NwFrag | TcpFlags
    )
}

/// `set_field:value/mask->field` (also `load` and the `mod_*` actions).
pub fn set_field(
    flow: &mut FlowKey,
    wc: &mut FlowMask,
    field: Field,
    value: u128,
    mask: u128,
) -> Result<(), Skip> {
    if !is_writable(field) {
        return Err(Skip::ReadOnly(field));
    }
    if !prereqs_ok(field, flow, wc) {
        return Err(Skip::Prerequisite(field));
    }
    let mask = mask & field.max_value();
    field.set_masked(flow, value, mask);
    unwildcard(field, wc, mask);
    Ok(())
}

/// `load:value->dst`.
pub fn load(
    flow: &mut FlowKey,
    wc: &mut FlowMask,
    value: u128,
    dst: &SubField,
) -> Result<(), Skip> {
    set_field(flow, wc, dst.field, value << dst.start, dst.mask())
}

/// `move:src->dst` (widths are equal: the parser checks).
pub fn move_field(
    flow: &mut FlowKey,
    wc: &mut FlowMask,
    src: &SubField,
    dst: &SubField,
) -> Result<(), Skip> {
    if !prereqs_ok(src.field, flow, wc) {
        return Err(Skip::Prerequisite(src.field));
    }
    let bits = (src.field.get(flow) & src.mask()) >> src.start;
    unwildcard(src.field, wc, src.mask());
    load(flow, wc, bits, dst)
}

/// `push_vlan:tpid`: a new outer tag with VID 0 and PCP 0 (the old outer tag becomes the
/// inner one). The packet's existing tags are un-wildcarded: the pushed result depends on them.
///
/// The key tracks two tags. A push onto two forgets the innermost one, as OVS's flow does
/// (its `flow_push_vlan_uninit` shifts the innermost out); the flow mod check already refuses
/// a third push within one action list, so only resubmits get here.
pub fn push_vlan(flow: &mut FlowKey, wc: &mut FlowMask, tpid: u16) -> Result<(), XlateError> {
    wc.vlan_tci |= VLAN_CFI;
    if flow.has_vlan() {
        wc.vlan_tci = 0xffff;
        wc.vlan_tci_inner |= VLAN_CFI;
        flow.vlan_tci_inner = flow.vlan_tci;
    } else {
        // An untagged packet has no inner tag, whatever the field holds.
        flow.vlan_tci_inner = 0;
    }
    flow.vlan_tci = VLAN_CFI;
    flow.vlan_qinq = u8::from(tpid == ethertype::QINQ);
    Ok(())
}

/// `mod_vlan_vid` / `mod_vlan_pcp`: replaces the `bits` under `mask` of the outer tag, pushing
/// a tag (VID 0, PCP 0, 802.1Q) first if the packet has none (OpenFlow 1.0 semantics, as
/// ovs-ofctl's `mod_vlan_*`).
pub fn set_vlan(flow: &mut FlowKey, wc: &mut FlowMask, mask: u16, bits: u16) {
    wc.vlan_tci |= mask | VLAN_CFI;
    if !flow.has_vlan() {
        flow.vlan_tci = VLAN_CFI;
        flow.vlan_tci_inner = 0;
        flow.vlan_qinq = 0;
    }
    flow.vlan_tci = (flow.vlan_tci & !mask) | (bits & mask) | VLAN_CFI;
}

/// `strip_vlan` / `pop_vlan`: removes the outer tag (the inner one, if any, becomes outer).
pub fn pop_vlan(flow: &mut FlowKey, wc: &mut FlowMask) {
    wc.vlan_tci = 0xffff;
    if flow.has_vlan() {
        wc.vlan_tci_inner = 0xffff;
        flow.vlan_tci = flow.vlan_tci_inner;
        flow.vlan_tci_inner = 0;
        flow.vlan_qinq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sf(field: Field, start: u32, end: u32) -> SubField {
        SubField { field, start, end }
    }

    fn udp() -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.dl_type = ethertype::IPV4;
        k.nw_proto = ipproto::UDP;
        k.nw_src = 0x0a00_0001;
        k
    }

    #[test]
    fn set_field_writes_masked_and_unwildcards_written_bits() {
        let mut k = udp();
        let mut wc = FlowKey::ZERO;
        set_field(&mut k, &mut wc, Field::NwSrc, 0xc0a8_0000, 0xffff_0000).unwrap();
        assert_eq!(k.nw_src, 0xc0a8_0001);
        assert_eq!(wc.nw_src, 0xffff_0000);
        assert_eq!(wc.dl_type, 0xffff);
    }

    #[test]
    fn prerequisites_are_checked_at_run_time() {
        let mut k = udp();
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            set_field(&mut k, &mut wc, Field::Ipv6Src, 1, u128::MAX),
            Err(Skip::Prerequisite(Field::Ipv6Src))
        );
        assert_eq!(
            set_field(&mut k, &mut wc, Field::DlVlan, 5, 0xfff),
            Err(Skip::Prerequisite(Field::DlVlan))
        );
        assert_eq!(wc.vlan_tci, VLAN_CFI);
        assert!(set_field(&mut k, &mut wc, Field::TpDst, 53, 0xffff).is_ok());
        assert_eq!(wc.nw_proto, 0xff);
        assert_eq!(
            set_field(&mut k, &mut wc, Field::NwProto, 6, 0xff),
            Err(Skip::ReadOnly(Field::NwProto))
        );
        assert!(!prereqs_ok(Field::NdTarget, &k, &mut wc));
    }

    #[test]
    fn load_and_move_use_bit_ranges() {
        let mut k = udp();
        let mut wc = FlowKey::ZERO;
        load(&mut k, &mut wc, 0xab, &sf(Field::Reg(0), 8, 15)).unwrap();
        assert_eq!(k.regs[0], 0xab00);
        assert_eq!(wc.regs[0], 0xff00);
        move_field(
            &mut k,
            &mut wc,
            &sf(Field::NwSrc, 0, 7),
            &sf(Field::Reg(1), 16, 23),
        )
        .unwrap();
        assert_eq!(k.regs[1], 0x01_0000);
        assert_eq!(
            wc.nw_src, 0xff,
            "source bits read by move are un-wildcarded"
        );
        assert_eq!(wc.regs[1], 0xff_0000);
    }

    #[test]
    fn vlan_edits() {
        let mut k = udp();
        let mut wc = FlowKey::ZERO;
        set_vlan(&mut k, &mut wc, 0x0fff, 10);
        assert_eq!(k.vlan_tci, VLAN_CFI | 10);
        assert_eq!(wc.vlan_tci, 0x1fff);
        set_vlan(&mut k, &mut wc, 0xe000, 5 << 13);
        assert_eq!(k.vlan_tci, VLAN_CFI | 10 | (5 << 13));
        push_vlan(&mut k, &mut wc, ethertype::QINQ).unwrap();
        assert_eq!(k.vlan_tci, VLAN_CFI);
        assert_eq!(k.vlan_tci_inner, VLAN_CFI | 10 | (5 << 13));
        assert_eq!(k.vlan_qinq, 1);
        // A third tag: the innermost is forgotten, as in OVS (found by the differential test,
        // where the translation used to fail and drop the packet).
        let mut k3 = k;
        push_vlan(&mut k3, &mut wc, 0x8100).unwrap();
        assert_eq!((k3.vlan_tci, k3.vlan_tci_inner), (VLAN_CFI, VLAN_CFI));
        pop_vlan(&mut k, &mut wc);
        assert_eq!(k.vlan_tci, VLAN_CFI | 10 | (5 << 13));
        assert_eq!(k.vlan_tci_inner, 0);
        pop_vlan(&mut k, &mut wc);
        assert!(!k.has_vlan());
        pop_vlan(&mut k, &mut wc);
        assert!(!k.has_vlan());
    }
}
