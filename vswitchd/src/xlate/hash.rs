//! OVS's flow hashes, bit for bit, so a select group picks the bucket OVS picks.
//!
//! A select group's choice is only as good as its agreement with OVS: a controller that
//! spreads connections with OVS and then moves to vswitch must see each connection stay on its
//! bucket. So the hashes here compute exactly what OVS 3.1 computes on x86-64 without SSE 4.2
//! (the distribution builds): its Murmur3-based `hash_add`/`hash_finish`, `hash_int`,
//! `hash_bytes`, Bob Jenkins' `jhash_bytes`, and the flow hashes built on them:
//!
//! - [`sym_l3l4`]: the datapath's `hash(sym_l4(basis))` (what `dp_hash` is for the default
//!   select method): IP addresses XORed, the protocol, TCP/SCTP ports XORed (not for
//!   fragments); non-IP falls back to [`sym_l2`].
//! - [`five_tuple`]: the datapath's `hash(l4(basis))`.
//! - [`sym_l4`]: the slow-path hash of the "default" method OVS falls back to when a group's
//!   weights need more than 256 hash values.
//!
//! OVS reads multi-byte fields as they lie in memory (network order) and loads them as
//! little-endian words; the `le*` helpers do that from our host-order fields. Each hash has a
//! companion that un-wildcards exactly the fields it reads, so a megaflow installed for the
//! choice covers only packets that hash the same.

use fastpath::flow::key::{FRAG_MASK, VLAN_CFI, VLAN_VID_MASK, ethertype, ipproto};
use fastpath::flow::{FlowKey, FlowMask};

fn mhash_add(hash: u32, data: u32) -> u32 {
    let mut h = hash;
    if data != 0 {
        let d = data.wrapping_mul(0xcc9e_2d51).rotate_left(15);
        h ^= d.wrapping_mul(0x1b87_3593);
    }
    h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

fn mhash_finish(hash: u32) -> u32 {
    let mut h = hash;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// OVS's `hash_add`.
pub fn hash_add(hash: u32, data: u32) -> u32 {
    mhash_add(hash, data)
}

/// OVS's `hash_add64` (low word first).
pub fn hash_add64(hash: u32, data: u64) -> u32 {
    hash_add(hash_add(hash, data as u32), (data >> 32) as u32)
}

/// OVS's `hash_finish`.
pub fn hash_finish(hash: u32, fin: u32) -> u32 {
    mhash_finish(hash ^ fin)
}

/// OVS's `hash_int` (`hash_2words(x, basis)`).
pub fn hash_int(x: u32, basis: u32) -> u32 {
    hash_finish(hash_add(hash_add(x, 0), basis), 8)
}

/// OVS's `hash_uint64`.
pub fn hash_uint64(x: u64) -> u32 {
    hash_finish(hash_add64(0, x), 8)
}

/// OVS's `hash_bytes`.
pub fn hash_bytes(p: &[u8], basis: u32) -> u32 {
    let mut h = basis;
    let mut chunks = p.chunks_exact(4);
    for c in &mut chunks {
        h = hash_add(h, u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut t = [0u8; 4];
        t[..rest.len()].copy_from_slice(rest);
        h = hash_add(h, u32::from_le_bytes(t));
    }
    hash_finish(h, p.len() as u32)
}

fn jhash_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c) ^ c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a) ^ a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b) ^ b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c) ^ c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a) ^ a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b) ^ b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn jhash_final(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// Bob Jenkins' lookup3 hash as OVS's `jhash_bytes`.
pub fn jhash_bytes(p: &[u8], basis: u32) -> u32 {
    let word = |s: &[u8], i: usize| {
        let mut t = [0u8; 4];
        let end = (i + 4).min(s.len());
        if i < end {
            t[..end - i].copy_from_slice(&s[i..end]);
        }
        u32::from_le_bytes(t)
    };
    let init = 0xdead_beef_u32
        .wrapping_add(p.len() as u32)
        .wrapping_add(basis);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = p;
    while rest.len() >= 12 {
        a = a.wrapping_add(word(rest, 0));
        b = b.wrapping_add(word(rest, 4));
        c = c.wrapping_add(word(rest, 8));
        jhash_mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if !rest.is_empty() {
        a = a.wrapping_add(word(rest, 0));
        b = b.wrapping_add(word(rest, 4));
        c = c.wrapping_add(word(rest, 8));
        jhash_final(&mut a, &mut b, &mut c);
    }
    c
}

/// A host-order 32-bit field as OVS loads its network-order bytes on a little-endian machine.
fn le32(v: u32) -> u32 {
    u32::from_le_bytes(v.to_be_bytes())
}

/// The same for a 16-bit field.
fn le16(v: u16) -> u32 {
    u32::from(u16::from_le_bytes(v.to_be_bytes()))
}

fn xor16(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn eth_xor(f: &FlowKey) -> [u8; 6] {
    std::array::from_fn(|i| f.dl_src[i] ^ f.dl_dst[i])
}

/// XOR of the VLAN ids of both tags (network order), as OVS's symmetric hashes take them.
fn vid_xor(f: &FlowKey) -> u16 {
    (f.vlan_tci & VLAN_VID_MASK) ^ (f.vlan_tci_inner & VLAN_VID_MASK)
}

fn is_fragment(f: &FlowKey) -> bool {
    f.nw_frag & FRAG_MASK != 0
}

/// OVS's `flow_hash_symmetric_l2`.
pub fn sym_l2(f: &FlowKey, basis: u32) -> u32 {
    let t = f.dl_type.to_be_bytes();
    let v = vid_xor(f).to_be_bytes();
    let e = eth_xor(f);
    let mut h = basis;
    h = hash_add(h, u32::from_le_bytes([t[0], t[1], v[0], v[1]]));
    h = hash_add(h, u32::from_le_bytes([e[0], e[1], e[2], e[3]]));
    h = hash_add(h, u32::from_le_bytes([e[4], e[5], 0, 0]));
    hash_finish(h, basis)
}

/// OVS's `flow_hash_symmetric_l3l4(flow, basis, false)`: the datapath's `hash(sym_l4(basis))`.
pub fn sym_l3l4(f: &FlowKey, basis: u32) -> u32 {
    let mut h = basis;
    if f.dl_type == ethertype::IPV4 {
        h = hash_add(h, le32(f.nw_src ^ f.nw_dst));
    } else if f.dl_type == ethertype::IPV6 {
        let x = xor16(&f.ipv6_src, &f.ipv6_dst);
        for w in x.chunks_exact(8) {
            h = hash_add64(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
    } else {
        return sym_l2(f, basis);
    }
    h = hash_add(h, u32::from(f.nw_proto));
    if !is_fragment(f) && matches!(f.nw_proto, ipproto::TCP | ipproto::SCTP) {
        h = hash_add(h, le16(f.tp_src ^ f.tp_dst));
    }
    hash_finish(h, basis)
}

/// Un-wildcards what [`sym_l3l4`] reads.
pub fn sym_l3l4_mask(f: &FlowKey, wc: &mut FlowMask) {
    wc.dl_type = !0;
    if f.dl_type == ethertype::IPV4 {
        wc.nw_src = !0;
        wc.nw_dst = !0;
    } else if f.dl_type == ethertype::IPV6 {
        wc.ipv6_src = [0xff; 16];
        wc.ipv6_dst = [0xff; 16];
    } else {
        wc.dl_src = [0xff; 6];
        wc.dl_dst = [0xff; 6];
        wc.vlan_tci |= VLAN_VID_MASK | VLAN_CFI;
        wc.vlan_tci_inner |= VLAN_VID_MASK | VLAN_CFI;
        return;
    }
    wc.nw_proto = !0;
    wc.nw_frag |= FRAG_MASK;
    if !is_fragment(f) && matches!(f.nw_proto, ipproto::TCP | ipproto::SCTP) {
        wc.tp_src = !0;
        wc.tp_dst = !0;
    }
}

/// OVS's `flow_hash_5tuple`: the datapath's `hash(l4(basis))`.
pub fn five_tuple(f: &FlowKey, basis: u32) -> u32 {
    let mut h = basis;
    if f.dl_type == ethertype::IPV6 {
        for a in [&f.ipv6_src, &f.ipv6_dst] {
            for w in a.chunks_exact(8) {
                h = hash_add64(h, u64::from_le_bytes(w.try_into().expect("8 bytes")));
            }
        }
    } else if f.dl_type == ethertype::IPV4 || f.dl_type == ethertype::ARP {
        h = hash_add(h, le32(f.nw_src));
        h = hash_add(h, le32(f.nw_dst));
    } else {
        return hash_finish(h, 42);
    }
    h = hash_add(h, u32::from(f.nw_proto));
    if matches!(
        f.nw_proto,
        ipproto::TCP | ipproto::UDP | ipproto::SCTP | ipproto::ICMP | ipproto::ICMPV6
    ) {
        let (s, d) = (f.tp_src.to_be_bytes(), f.tp_dst.to_be_bytes());
        h = hash_add(h, u32::from_le_bytes([s[0], s[1], d[0], d[1]]));
    }
    hash_finish(h, 42)
}

/// Un-wildcards what [`five_tuple`] reads.
pub fn five_tuple_mask(f: &FlowKey, wc: &mut FlowMask) {
    wc.dl_type = !0;
    if f.dl_type == ethertype::IPV6 {
        wc.ipv6_src = [0xff; 16];
        wc.ipv6_dst = [0xff; 16];
    } else if f.dl_type == ethertype::IPV4 || f.dl_type == ethertype::ARP {
        wc.nw_src = !0;
        wc.nw_dst = !0;
    } else {
        return;
    }
    wc.nw_proto = !0;
    if matches!(
        f.nw_proto,
        ipproto::TCP | ipproto::UDP | ipproto::SCTP | ipproto::ICMP | ipproto::ICMPV6
    ) {
        wc.tp_src = !0;
        wc.tp_dst = !0;
    }
}

/// OVS's `flow_hash_symmetric_l4`: jhash over a 32-byte record of the symmetric fields.
pub fn sym_l4(f: &FlowKey, basis: u32) -> u32 {
    // struct { union { be32; in6_addr } (0..16); be16 eth_type (16); be16 vlan_tci (18);
    //          be16 tp_port (20); eth_addr (22..28); u8 ip_proto (28); pad to 32 }
    let mut rec = [0u8; 32];
    rec[22..28].copy_from_slice(&eth_xor(f));
    rec[18..20].copy_from_slice(&vid_xor(f).to_be_bytes());
    rec[16..18].copy_from_slice(&f.dl_type.to_be_bytes());
    let l4 = |rec: &mut [u8; 32]| {
        rec[28] = f.nw_proto;
        if matches!(f.nw_proto, ipproto::TCP | ipproto::SCTP) {
            rec[20..22].copy_from_slice(&(f.tp_src ^ f.tp_dst).to_be_bytes());
        }
    };
    if f.dl_type == ethertype::IPV4 {
        rec[0..4].copy_from_slice(&(f.nw_src ^ f.nw_dst).to_be_bytes());
        l4(&mut rec);
    } else if f.dl_type == ethertype::IPV6 {
        rec[0..16].copy_from_slice(&xor16(&f.ipv6_src, &f.ipv6_dst));
        l4(&mut rec);
    }
    jhash_bytes(&rec, basis)
}

/// Un-wildcards what [`sym_l4`] reads (OVS's `flow_mask_hash_fields(.., SYMMETRIC_L4)`).
pub fn sym_l4_mask(f: &FlowKey, wc: &mut FlowMask) {
    wc.dl_type = !0;
    wc.dl_src = [0xff; 6];
    wc.dl_dst = [0xff; 6];
    wc.vlan_tci |= VLAN_VID_MASK | VLAN_CFI;
    wc.vlan_tci_inner |= VLAN_VID_MASK | VLAN_CFI;
    if f.dl_type == ethertype::IPV4 {
        wc.nw_src = !0;
        wc.nw_dst = !0;
    } else if f.dl_type == ethertype::IPV6 {
        wc.ipv6_src = [0xff; 16];
        wc.ipv6_dst = [0xff; 16];
    }
    if f.is_ip() {
        wc.nw_proto = !0;
        if matches!(f.nw_proto, ipproto::TCP | ipproto::SCTP) {
            wc.tp_src = !0;
            wc.tp_dst = !0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_hashes_ignore_direction_and_masks_cover_them() {
        let mut a = FlowKey::ZERO;
        a.dl_type = ethertype::IPV4;
        a.nw_proto = ipproto::TCP;
        a.nw_src = 0x0a00_0001;
        a.nw_dst = 0x0a00_0002;
        a.tp_src = 1234;
        a.tp_dst = 80;
        a.dl_src = [0, 0, 0, 0, 0, 1];
        a.dl_dst = [0, 0, 0, 0, 0, 2];
        let mut b = a;
        std::mem::swap(&mut b.nw_src, &mut b.nw_dst);
        std::mem::swap(&mut b.tp_src, &mut b.tp_dst);
        std::mem::swap(&mut b.dl_src, &mut b.dl_dst);
        assert_eq!(sym_l3l4(&a, 0), sym_l3l4(&b, 0));
        assert_eq!(sym_l4(&a, 0), sym_l4(&b, 0));
        let mut c = a;
        c.tp_src = 1235;
        assert_ne!(sym_l3l4(&a, 0), sym_l3l4(&c, 0));
        // A field outside the mask does not change the hash.
        let mut wc = FlowKey::ZERO;
        sym_l3l4_mask(&a, &mut wc);
        assert_eq!(wc.dl_src, [0; 6]);
        let mut d = a;
        d.dl_src = [9; 6];
        d.nw_ttl = 3;
        assert_eq!(sym_l3l4(&a, 0), sym_l3l4(&d, 0));
        // UDP ports are not hashed by sym_l3l4.
        let mut u = a;
        u.nw_proto = ipproto::UDP;
        let mut u2 = u;
        u2.tp_src = 9;
        assert_eq!(sym_l3l4(&u, 0), sym_l3l4(&u2, 0));
    }
}
