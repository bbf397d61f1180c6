//! `selection_method=hash,fields(...)`: OVS's `pick_hash_fields_select_group` basis.
//!
//! Starting from `hash_uint64(selection_method_param)`, each listed field whose
//! prerequisites the packet meets is hashed with `hash_bytes` over its network-order bytes
//! ANDed with the field's mask, in OVS's field order; the bits hashed are un-wildcarded, and
//! so are the prerequisite fields that decided whether a field took part.

use super::hash;
use crate::ofproto::group::{Group, HashField};
use fastpath::flow::key::{FRAG_LATER, ethertype, ipproto};
use fastpath::flow::{FlowKey, FlowMask};

/// The field's value in network order.
fn value(f: HashField, k: &FlowKey) -> Vec<u8> {
    match f {
        HashField::EthSrc => k.dl_src.to_vec(),
        HashField::EthDst => k.dl_dst.to_vec(),
        HashField::EthType => k.dl_type.to_be_bytes().to_vec(),
        HashField::IpSrc => k.nw_src.to_be_bytes().to_vec(),
        HashField::IpDst => k.nw_dst.to_be_bytes().to_vec(),
        HashField::Ipv6Src => k.ipv6_src.to_vec(),
        HashField::Ipv6Dst => k.ipv6_dst.to_vec(),
        HashField::IpProto => vec![k.nw_proto],
        HashField::TcpSrc | HashField::UdpSrc | HashField::SctpSrc => {
            k.tp_src.to_be_bytes().to_vec()
        }
        HashField::TcpDst | HashField::UdpDst | HashField::SctpDst => {
            k.tp_dst.to_be_bytes().to_vec()
        }
    }
}

/// ORs `mask` (network-order bytes) into the field's bits of `wc`.
fn unwildcard(f: HashField, mask: &[u8], wc: &mut FlowMask) {
    let m16 = || u16::from_be_bytes([mask[0], mask[1]]);
    let m32 = || u32::from_be_bytes([mask[0], mask[1], mask[2], mask[3]]);
    let or = |dst: &mut [u8]| dst.iter_mut().zip(mask).for_each(|(d, m)| *d |= m);
    match f {
        HashField::EthSrc => or(&mut wc.dl_src),
        HashField::EthDst => or(&mut wc.dl_dst),
        HashField::EthType => wc.dl_type |= m16(),
        HashField::IpSrc => wc.nw_src |= m32(),
        HashField::IpDst => wc.nw_dst |= m32(),
        HashField::Ipv6Src => or(&mut wc.ipv6_src),
        HashField::Ipv6Dst => or(&mut wc.ipv6_dst),
        HashField::IpProto => wc.nw_proto |= mask[0],
        HashField::TcpSrc | HashField::UdpSrc | HashField::SctpSrc => wc.tp_src |= m16(),
        HashField::TcpDst | HashField::UdpDst | HashField::SctpDst => wc.tp_dst |= m16(),
    }
}

/// Whether the packet meets `f`'s prerequisites, un-wildcarding what that depended on.
fn prereqs_ok(f: HashField, k: &FlowKey, wc: &mut FlowMask) -> bool {
    let l4 = |proto: u8, wc: &mut FlowMask| {
        wc.dl_type = !0;
        if !k.is_ip() {
            return false;
        }
        wc.nw_proto = !0;
        k.nw_proto == proto && k.nw_frag & FRAG_LATER == 0
    };
    match f {
        HashField::EthSrc | HashField::EthDst | HashField::EthType => true,
        HashField::IpSrc | HashField::IpDst => {
            wc.dl_type = !0;
            k.dl_type == ethertype::IPV4
        }
        HashField::Ipv6Src | HashField::Ipv6Dst => {
            wc.dl_type = !0;
            k.dl_type == ethertype::IPV6
        }
        HashField::IpProto => {
            wc.dl_type = !0;
            k.is_ip()
        }
        HashField::TcpSrc | HashField::TcpDst => l4(ipproto::TCP, wc),
        HashField::UdpSrc | HashField::UdpDst => l4(ipproto::UDP, wc),
        HashField::SctpSrc | HashField::SctpDst => l4(ipproto::SCTP, wc),
    }
}

/// The basis a `selection_method=hash` group picks its bucket with.
pub fn hash_fields(group: &Group, k: &FlowKey, wc: &mut FlowMask) -> u32 {
    let mut basis = hash::hash_uint64(group.spec.method_param);
    for &(f, mask) in &group.spec.fields {
        if !prereqs_ok(f, k, wc) {
            continue;
        }
        let n = f.n_bytes();
        let mask_bytes = &mask.to_be_bytes()[16 - n..];
        let v: Vec<u8> = value(f, k)
            .iter()
            .zip(mask_bytes)
            .map(|(v, m)| v & m)
            .collect();
        basis = hash::hash_bytes(&v, basis);
        unwildcard(f, mask_bytes, wc);
    }
    basis
}
