//! Committing header changes: turn "what the OpenFlow actions made of the flow" into datapath
//! set / VLAN actions.
//!
//! OpenFlow actions edit a copy of the flow (`flow`); the datapath still holds the packet as
//! `base` describes it. Before anything that lets the packet (or a copy) leave the current
//! translation — an output, `ct`, a recirculation — the differences are *committed*: for each
//! header, the fields that differ are written with one masked set action, and `base` catches up
//! with `flow`. This is OVS's `commit_odp_actions`, in the same order (Ethernet, L3, L4, VLAN).
//!
//! # Masks and soundness
//!
//! A set action's mask for a field is the megaflow mask (`wc`) over that field — the bits some
//! action read or wrote (or the whole field, if a change escaped them). Those bits are then
//! un-wildcarded, so every packet of the resulting megaflow gets a set with the same value and
//! mask. Values are masked, so the action list is identical for all of them (a field's other
//! bits keep the packet's own value). Fields that did not change are not written at all: the
//! actions that wrote them already un-wildcarded them, so "no change" holds megaflow-wide.
//!
//! VLAN tags are compared innermost first; tags that differ are popped from `base` (and
//! matched exactly) and the flow's are pushed.

use super::error::XlateError;
use fastpath::action::{DpAction, Masked, SetArp, SetEth, SetIpv4, SetIpv6, SetL4};
use fastpath::flow::key::{FRAG_LATER, VLAN_CFI, ethertype, ipproto};
use fastpath::flow::{Field, FlowKey, FlowMask};

/// Emits actions for every difference between `flow` and `base` into `out`, updates `base`,
/// and un-wildcards in `wc` the bits the emitted actions depend on.
///
/// Fails if a field changed that no datapath action can rewrite (ARP, ICMP, ND fields).
pub fn commit(
    flow: &FlowKey,
    base: &mut FlowKey,
    wc: &mut FlowMask,
    out: &mut Vec<DpAction>,
) -> Result<(), XlateError> {
    commit_eth(flow, base, wc, out);
    commit_l3(flow, base, wc, out)?;
    commit_l4(flow, base, wc, out)?;
    commit_vlan(flow, base, wc, out)
}

/// If `field` differs, returns its (masked value, mask) for a set action, un-wildcards the
/// mask in `wc` and copies the field into `base`.
fn diff(
    field: Field,
    flow: &FlowKey,
    base: &mut FlowKey,
    wc: &mut FlowMask,
) -> Option<(u128, u128)> {
    let (f, b) = (field.get(flow), field.get(base));
    if f == b {
        return None;
    }
    let wc_bits = field.get(wc);
    // The actions that wrote the field un-wildcarded what they wrote; if something changed
    // outside those bits anyway, write (and match) the whole field.
    let mask = if (f ^ b) & !wc_bits == 0 {
        wc_bits
    } else {
        field.max_value()
    };
    field.set(wc, mask);
    field.set(base, f);
    Some((f & mask, mask))
}

fn masked<T: Default>(d: Option<(u128, u128)>, conv: impl Fn(u128) -> T) -> Masked<T> {
    match d {
        Some((v, m)) => Masked {
            value: conv(v),
            mask: conv(m),
        },
        None => Masked::default(),
    }
}

fn mac(v: u128) -> [u8; 6] {
    let b = v.to_be_bytes();
    b[10..16].try_into().unwrap_or([0; 6])
}

fn commit_eth(flow: &FlowKey, base: &mut FlowKey, wc: &mut FlowMask, out: &mut Vec<DpAction>) {
    let src = diff(Field::DlSrc, flow, base, wc);
    let dst = diff(Field::DlDst, flow, base, wc);
    if src.is_some() || dst.is_some() {
        out.push(DpAction::SetEth(SetEth {
            src: masked(src, mac),
            dst: masked(dst, mac),
        }));
    }
}

fn commit_l3(
    flow: &FlowKey,
    base: &mut FlowKey,
    wc: &mut FlowMask,
    out: &mut Vec<DpAction>,
) -> Result<(), XlateError> {
    match base.dl_type {
        ethertype::IPV4 => {
            let src = diff(Field::NwSrc, flow, base, wc);
            let dst = diff(Field::NwDst, flow, base, wc);
            let tos = diff(Field::NwTos, flow, base, wc);
            let ttl = diff(Field::NwTtl, flow, base, wc);
            if src.is_some() || dst.is_some() || tos.is_some() || ttl.is_some() {
                out.push(DpAction::SetIpv4(SetIpv4 {
                    src: masked(src, |v| v as u32),
                    dst: masked(dst, |v| v as u32),
                    tos: masked(tos, |v| v as u8),
                    ttl: masked(ttl, |v| v as u8),
                }));
            }
        }
        ethertype::IPV6 => {
            let src = diff(Field::Ipv6Src, flow, base, wc);
            let dst = diff(Field::Ipv6Dst, flow, base, wc);
            let label = diff(Field::Ipv6Label, flow, base, wc);
            let tclass = diff(Field::NwTos, flow, base, wc);
            let hlimit = diff(Field::NwTtl, flow, base, wc);
            if [src, dst, label, tclass, hlimit]
                .iter()
                .any(Option::is_some)
            {
                out.push(DpAction::SetIpv6(SetIpv6 {
                    src: masked(src, |v| v.to_be_bytes()),
                    dst: masked(dst, |v| v.to_be_bytes()),
                    tclass: masked(tclass, |v| v as u8),
                    hlimit: masked(hlimit, |v| v as u8),
                    label: masked(label, |v| v as u32),
                }));
            }
            unsupported(flow, base, &[Field::NdTarget, Field::NdSll, Field::NdTll])?;
        }
        ethertype::ARP | fastpath::wire::arp::ETHERTYPE_RARP => {
            // The key keeps the ARP addresses in the IPv4 slots and the opcode in nw_proto.
            let sip = diff(Field::NwSrc, flow, base, wc);
            let tip = diff(Field::NwDst, flow, base, wc);
            let op = diff(Field::NwProto, flow, base, wc);
            let sha = diff(Field::ArpSha, flow, base, wc);
            let tha = diff(Field::ArpTha, flow, base, wc);
            if [sip, tip, op, sha, tha].iter().any(Option::is_some) {
                out.push(DpAction::SetArp(SetArp {
                    sip: masked(sip, |v| v as u32),
                    tip: masked(tip, |v| v as u32),
                    op: masked(op, |v| v as u16),
                    sha: masked(sha, mac),
                    tha: masked(tha, mac),
                }));
            }
        }
        _ => {}
    }
    // Whatever is left differing has no datapath set action (ARP fields, or L3 fields of a
    // packet without that header).
    unsupported(
        flow,
        base,
        &[
            Field::NwSrc,
            Field::NwDst,
            Field::NwProto,
            Field::NwTos,
            Field::NwTtl,
            Field::ArpSha,
            Field::ArpTha,
            Field::Ipv6Src,
            Field::Ipv6Dst,
            Field::Ipv6Label,
        ],
    )
}

fn commit_l4(
    flow: &FlowKey,
    base: &mut FlowKey,
    wc: &mut FlowMask,
    out: &mut Vec<DpAction>,
) -> Result<(), XlateError> {
    let has_ports = base.is_ip()
        && base.nw_frag & FRAG_LATER == 0
        && matches!(base.nw_proto, ipproto::TCP | ipproto::UDP | ipproto::SCTP);
    if has_ports {
        let src = diff(Field::TpSrc, flow, base, wc);
        let dst = diff(Field::TpDst, flow, base, wc);
        if src.is_some() || dst.is_some() {
            out.push(DpAction::SetL4(SetL4 {
                proto: base.nw_proto,
                src: masked(src, |v| v as u16),
                dst: masked(dst, |v| v as u16),
            }));
        }
        return Ok(());
    }
    let is_icmp = base.is_ip() && matches!(base.nw_proto, ipproto::ICMP | ipproto::ICMPV6);
    if is_icmp {
        unsupported(flow, base, &[Field::IcmpType, Field::IcmpCode])
    } else {
        unsupported(flow, base, &[Field::TpSrc, Field::TpDst])
    }
}

fn unsupported(flow: &FlowKey, base: &FlowKey, fields: &[Field]) -> Result<(), XlateError> {
    match fields.iter().find(|f| f.get(flow) != f.get(base)) {
        Some(f) => Err(XlateError::UnsupportedSet(*f)),
        None => Ok(()),
    }
}

/// A VLAN header: TPID and TCI (with [`VLAN_CFI`] set).
type Tag = (u16, u16);

/// The packet's tags, innermost first.
fn tags_inner_first(k: &FlowKey) -> ([Tag; 2], usize) {
    let outer_tpid = if k.vlan_qinq != 0 {
        ethertype::QINQ
    } else {
        ethertype::VLAN
    };
    let outer = (outer_tpid, k.vlan_tci);
    let inner = (ethertype::VLAN, k.vlan_tci_inner);
    match (k.vlan_tci & VLAN_CFI != 0, k.vlan_tci_inner & VLAN_CFI != 0) {
        (true, true) => ([inner, outer], 2),
        (true, false) => ([outer, (0, 0)], 1),
        _ => ([(0, 0); 2], 0),
    }
}

fn commit_vlan(
    flow: &FlowKey,
    base: &mut FlowKey,
    wc: &mut FlowMask,
    out: &mut Vec<DpAction>,
) -> Result<(), XlateError> {
    let (btags, bn) = tags_inner_first(base);
    let (ftags, fn_) = tags_inner_first(flow);
    let common = btags[..bn]
        .iter()
        .zip(&ftags[..fn_])
        .take_while(|(b, f)| b == f)
        .count();
    if common == bn && common == fn_ {
        return Ok(());
    }
    // The number of tags was consulted; popped tags are rebuilt from the flow, so they are
    // matched exactly. Tags kept in common were either untouched (equal for every packet) or
    // edited by actions that un-wildcarded what they edited.
    wc.vlan_tci |= VLAN_CFI;
    if bn > 0 {
        wc.vlan_tci_inner |= VLAN_CFI;
    }
    if bn > common {
        wc.vlan_tci = 0xffff;
    }
    if bn == 2 && common == 0 {
        wc.vlan_tci_inner = 0xffff;
    }
    for _ in common..bn {
        out.push(DpAction::PopVlan);
    }
    for &(tpid, tci) in &ftags[common..fn_] {
        out.push(DpAction::PushVlan {
            tpid,
            tci: tci & !VLAN_CFI,
        });
    }
    base.vlan_tci = flow.vlan_tci;
    base.vlan_tci_inner = flow.vlan_tci_inner;
    base.vlan_qinq = flow.vlan_qinq;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastpath::action::format_actions;

    fn tcp_packet() -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.dl_src = [0, 0, 0, 0, 0, 1];
        k.dl_dst = [0, 0, 0, 0, 0, 2];
        k.dl_type = ethertype::IPV4;
        k.nw_proto = ipproto::TCP;
        k.nw_src = 0x0a00_0101;
        k.nw_dst = 0x0a00_0002;
        k.nw_ttl = 64;
        k.nw_tos = 0x01;
        k.tp_src = 1234;
        k.tp_dst = 80;
        k
    }

    fn run(flow: &FlowKey, base: &FlowKey, wc: &mut FlowMask) -> Result<String, XlateError> {
        let mut b = *base;
        let mut out = Vec::new();
        commit(flow, &mut b, wc, &mut out)?;
        assert_eq!(b, *flow, "base catches up with flow");
        Ok(format_actions(&out))
    }

    #[test]
    fn no_change_emits_nothing() {
        let k = tcp_packet();
        let mut wc = FlowKey::ZERO;
        assert_eq!(run(&k, &k, &mut wc).unwrap(), "drop");
        assert!(wc.is_zero());
    }

    #[test]
    fn dscp_rewrite_is_a_masked_tos_set_keeping_ecn() {
        let base = tcp_packet();
        let mut flow = base;
        Field::IpDscp.set(&mut flow, 8);
        let mut wc = FlowKey::ZERO;
        // mod_nw_tos un-wildcards the DSCP bits when it runs.
        wc.nw_tos = 0xfc;
        assert_eq!(
            run(&flow, &base, &mut wc).unwrap(),
            "set(ipv4(tos=0x20/0xfc))"
        );
        assert_eq!(wc.nw_tos, 0xfc);
    }

    #[test]
    fn header_groups_commit_in_ovs_order() {
        let base = tcp_packet();
        let mut flow = base;
        flow.dl_dst = [0, 0, 0, 0, 0, 0x0c];
        flow.nw_ttl = 63;
        flow.nw_dst = 0xc0a8_0001;
        flow.tp_dst = 8080;
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            run(&flow, &base, &mut wc).unwrap(),
            "set(eth(dst=00:00:00:00:00:0c)),set(ipv4(dst=192.168.0.1,ttl=63)),set(tcp(dst=8080))"
        );
        assert_eq!(wc.nw_ttl, 0xff);
        assert_eq!(wc.tp_dst, 0xffff);
        assert_eq!(wc.dl_dst, [0xff; 6]);
    }

    #[test]
    fn udp_and_ipv6() {
        let mut base = tcp_packet();
        base.dl_type = ethertype::IPV6;
        base.nw_proto = ipproto::UDP;
        let mut flow = base;
        flow.ipv6_src[15] = 9;
        flow.nw_ttl = 1;
        flow.tp_src = 53;
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            run(&flow, &base, &mut wc).unwrap(),
            "set(ipv6(src=::9,hlimit=1)),set(udp(src=53))"
        );
    }

    #[test]
    fn icmp_rewrites_are_refused_arp_rewrites_are_committed() {
        let mut base = tcp_packet();
        base.nw_proto = ipproto::ICMP;
        let mut flow = base;
        flow.tp_src = 3;
        let mut out = Vec::new();
        let err = commit(&flow, &mut base.clone(), &mut FlowKey::default(), &mut out).unwrap_err();
        assert_eq!(err, XlateError::UnsupportedSet(Field::IcmpType));
        let mut arp = FlowKey::ZERO;
        arp.dl_type = ethertype::ARP;
        let mut flow = arp;
        flow.arp_sha = [1; 6];
        out.clear();
        commit(&flow, &mut arp.clone(), &mut FlowKey::default(), &mut out).unwrap();
        assert!(
            matches!(out.as_slice(), [DpAction::SetArp(_)]),
            "OVN's ARP responder rewrites ARP fields: {out:?}"
        );
    }

    #[test]
    fn later_fragments_have_no_ports_to_rewrite() {
        let mut base = tcp_packet();
        base.nw_frag = fastpath::flow::key::FRAG_ANY | FRAG_LATER;
        base.tp_src = 0;
        base.tp_dst = 0;
        let mut flow = base;
        flow.tp_dst = 80;
        let mut out = Vec::new();
        assert!(commit(&flow, &mut base.clone(), &mut FlowKey::default(), &mut out).is_err());
    }

    #[test]
    fn vlan_push_pop_and_modify() {
        let base = tcp_packet();
        let mut flow = base;
        flow.vlan_tci = VLAN_CFI | 10;
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            run(&flow, &base, &mut wc).unwrap(),
            "push_vlan(vid=10,pcp=0)"
        );
        assert_eq!(wc.vlan_tci, VLAN_CFI);

        // Modify: pop the old tag, push the new one.
        let mut tagged = base;
        tagged.vlan_tci = VLAN_CFI | (3 << 13) | 5;
        let mut flow = tagged;
        flow.vlan_tci = VLAN_CFI | (3 << 13) | 6;
        let mut wc = FlowKey::default();
        assert_eq!(
            run(&flow, &tagged, &mut wc).unwrap(),
            "pop_vlan,push_vlan(vid=6,pcp=3)"
        );
        assert_eq!(wc.vlan_tci, 0xffff, "a popped tag is matched exactly");

        // Pop: untagged flow.
        let mut flow = tagged;
        flow.vlan_tci = 0;
        assert_eq!(
            run(&flow, &tagged, &mut FlowKey::default()).unwrap(),
            "pop_vlan"
        );

        // Push an 802.1ad outer tag over an existing tag: the inner one is common.
        let mut flow = tagged;
        flow.vlan_tci_inner = tagged.vlan_tci;
        flow.vlan_tci = VLAN_CFI | 100;
        flow.vlan_qinq = 1;
        let mut wc = FlowKey::ZERO;
        assert_eq!(
            run(&flow, &tagged, &mut wc).unwrap(),
            "push_vlan(tpid=0x88a8,vid=100,pcp=0)"
        );
        assert_eq!(wc.vlan_tci, VLAN_CFI);
    }

    #[test]
    fn masked_values_make_actions_identical_across_the_megaflow() {
        // Two packets differing only in ECN bits (not in wc) get the same set action.
        let a = tcp_packet();
        let mut b = a;
        b.nw_tos = 0x02;
        let mut outs = Vec::new();
        for base in [a, b] {
            let mut flow = base;
            Field::IpDscp.set(&mut flow, 46);
            let mut wc = FlowKey::ZERO;
            wc.nw_tos = 0xfc;
            outs.push(run(&flow, &base, &mut wc).unwrap());
        }
        assert_eq!(outs[0], outs[1]);
        assert_eq!(outs[0], "set(ipv4(tos=0xb8/0xfc))");
    }
}
