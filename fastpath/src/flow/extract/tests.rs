//! Byte-array fixtures for [`super::extract`], one group per protocol, plus truncation at
//! every byte and bad header fields.

use super::*;
use crate::flow::key::{FRAG_MASK, ct_state};

const DST: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x53, 0x01];
const SRC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x02];
const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Ethernet header, then `(tpid, tci)` tags, then `ty` and `payload`.
fn eth(tags: &[(u16, u16)], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DST);
    f.extend_from_slice(&SRC);
    for (tpid, tci) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// IPv4 10.0.0.1 -> 10.0.0.2 with `flags_frag` (flags and offset word) and `options`.
fn ipv4(proto: u8, flags_frag: u16, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let hl = 20 + options.len();
    let total = (hl + payload.len()) as u16;
    let mut p = vec![0x40 | (hl / 4) as u8, 0x2e];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0x00, 0x01]);
    p.extend_from_slice(&flags_frag.to_be_bytes());
    p.extend_from_slice(&[33, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

/// IPv6 with tclass 0x2e, label 0xabcde, hop limit 7.
fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x62, 0xea, 0xbc, 0xde];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 7]);
    p.extend_from_slice(&V6_SRC);
    p.extend_from_slice(&V6_DST);
    p.extend_from_slice(payload);
    p
}

fn tcp(sport: u16, dport: u16, flags: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    p.extend_from_slice(&(0x5000 | flags).to_be_bytes());
    p.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(data);
    p
}

fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(data);
    p
}

fn neighbor_solicit(options: &[u8]) -> Vec<u8> {
    let mut p = vec![135, 0, 0, 0, 0, 0, 0, 0];
    p.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    p.extend_from_slice(options);
    p
}

fn offsets(l3: u16, l4: u16, l7: u16) -> HeaderOffsets {
    HeaderOffsets { l3, l4, l7 }
}

const NONE: u16 = HeaderOffsets::ABSENT;

#[test]
fn vlan_ipv4_tcp() {
    let f = eth(
        &[(0x8100, 0xa00a)],
        0x0800,
        &ipv4(6, 0x4000, &[], &tcp(40000, 443, 0x012, b"hi")),
    );
    let (k, ex) = extract_fresh(&f, 7);
    assert_eq!(ex.malformed, None);
    assert_eq!(ex.offsets, offsets(18, 38, 58));
    assert_eq!((k.in_port, k.dl_dst, k.dl_src), (7, DST, SRC));
    assert_eq!((k.vlan_tci, k.vlan_tci_inner, k.vlan_qinq), (0xb00a, 0, 0));
    assert_eq!(k.dl_type, 0x0800);
    assert_eq!((k.nw_src, k.nw_dst), (0x0a00_0001, 0x0a00_0002));
    assert_eq!(
        (k.nw_proto, k.nw_tos, k.nw_ttl, k.nw_frag),
        (6, 0x2e, 33, 0)
    );
    assert_eq!((k.tp_src, k.tp_dst, k.tcp_flags), (40000, 443, 0x012));
}

#[test]
fn ipv4_options_and_link_padding() {
    // 4 bytes of options; UDP; the frame is padded to 60 bytes with non-zero junk.
    let mut f = eth(
        &[],
        0x0800,
        &ipv4(17, 0, &[1, 1, 1, 0], &udp(53, 5353, b"")),
    );
    f.resize(60, 0xee);
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, 38, 46),
            malformed: None
        }
    );
    assert_eq!((k.nw_proto, k.tp_src, k.tp_dst), (17, 53, 5353));
}

#[test]
fn ipv4_fragments() {
    // First fragment (MF): L4 parsed.
    let f = eth(&[], 0x0800, &ipv4(17, 0x2000, &[], &udp(1, 2, b"abcd")));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!((k.nw_frag, k.tp_src, k.tp_dst), (FRAG_ANY, 1, 2));
    assert_eq!(ex.offsets.l7, 42);
    // Later fragment: no L4 fields, no L7 offset, protocol kept.
    let f = eth(&[], 0x0800, &ipv4(17, 0x0004, &[], &udp(1, 2, b"abcd")));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(k.nw_frag, FRAG_ANY | FRAG_LATER);
    assert_eq!((k.nw_proto, k.tp_src, k.tp_dst), (17, 0, 0));
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, 34, NONE),
            malformed: None
        }
    );
}

#[test]
fn ipv6_tcp_through_extension_headers() {
    let mut payload = vec![60, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop -> dest opts
    payload.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // dest opts -> TCP
    payload.extend_from_slice(&tcp(22, 50000, 0x18, b""));
    let f = eth(&[], 0x86dd, &ipv6(0, &payload));
    let (k, ex) = extract_fresh(&f, 3);
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, 70, 90),
            malformed: None
        }
    );
    assert_eq!((k.ipv6_src, k.ipv6_dst), (V6_SRC, V6_DST));
    assert_eq!((k.ipv6_label, k.nw_tos, k.nw_ttl), (0xabcde, 0x2e, 7));
    assert_eq!((k.nw_proto, k.nw_frag), (6, 0));
    assert_eq!((k.tp_src, k.tp_dst, k.tcp_flags), (22, 50000, 0x18));
    assert_eq!((k.nw_src, k.nw_dst), (0, 0));
}

#[test]
fn ipv6_fragments() {
    // First fragment: L4 parsed through the fragment header.
    let mut payload = vec![17, 0, 0x00, 0x01, 0, 0, 0, 5];
    payload.extend_from_slice(&udp(7, 8, b""));
    let f = eth(&[], 0x86dd, &ipv6(44, &payload));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (k.nw_proto, k.nw_frag, k.tp_src, k.tp_dst),
        (17, FRAG_ANY, 7, 8)
    );
    assert_eq!(ex.offsets, offsets(14, 62, 70));
    // Later fragment: protocol 44 (as OVS), no L4.
    let payload = [17, 0, 0x00, 0x10, 0, 0, 0, 5, 1, 2, 3, 4];
    let f = eth(&[], 0x86dd, &ipv6(44, &payload));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (k.nw_proto, k.nw_frag & FRAG_MASK),
        (44, FRAG_ANY | FRAG_LATER)
    );
    assert_eq!((k.tp_src, k.tp_dst), (0, 0));
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, 62, NONE),
            malformed: None
        }
    );
}

#[test]
fn ipv6_extension_header_errors() {
    let f = eth(&[], 0x86dd, &ipv6(0, &[6, 1, 0, 0, 0, 0, 0, 0])); // says 16 bytes, has 8
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(ex.malformed, Some(Malformed::TruncatedIpv6ExtHeader));
    assert_eq!(ex.offsets, offsets(14, NONE, NONE));
    assert_eq!((k.ipv6_src, k.nw_ttl, k.nw_proto), (V6_SRC, 7, 0));
    let f = eth(&[], 0x86dd, &ipv6(0, &[0u8; 8 * 20]));
    let (_, ex) = extract_fresh(&f, 1);
    assert_eq!(ex.malformed, Some(Malformed::Ipv6ExtHeaderChain));
}

#[test]
fn arp() {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 2];
    arp.extend_from_slice(&SRC);
    arp.extend_from_slice(&[10, 0, 0, 1]);
    arp.extend_from_slice(&DST);
    arp.extend_from_slice(&[10, 0, 0, 2]);
    let (k, ex) = extract_fresh(&eth(&[], 0x0806, &arp), 1);
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, NONE, NONE),
            malformed: None
        }
    );
    assert_eq!((k.dl_type, k.nw_proto), (0x0806, 2));
    assert_eq!(
        (k.nw_src, k.nw_dst, k.arp_sha, k.arp_tha),
        (0x0a00_0001, 0x0a00_0002, SRC, DST)
    );
    // Opcode above 255: nw_proto 0, addresses still taken.
    let mut big_op = arp.clone();
    big_op[6] = 1;
    let (k, _) = extract_fresh(&eth(&[], 0x0806, &big_op), 1);
    assert_eq!((k.nw_proto, k.nw_src), (0, 0x0a00_0001));
    // Not Ethernet/IPv4: no fields, not malformed.
    let mut other = arp.clone();
    other[1] = 6;
    let (k, ex) = extract_fresh(&eth(&[], 0x0806, &other), 1);
    assert_eq!((ex.malformed, k.nw_src, k.arp_sha), (None, 0, [0; 6]));
    // Reverse ARP has the same format.
    let (k, ex) = extract_fresh(&eth(&[], 0x8035, &arp), 1);
    assert_eq!(
        (ex.malformed, k.dl_type, k.nw_proto, k.arp_sha),
        (None, 0x8035, 2, SRC)
    );
    // Truncated.
    let (k, ex) = extract_fresh(&eth(&[], 0x0806, &arp[..27]), 1);
    assert_eq!(
        (ex.malformed, k.dl_type, k.nw_src),
        (Some(Malformed::TruncatedArp), 0x0806, 0)
    );
}

#[test]
fn icmp_and_sctp() {
    let f = eth(&[], 0x0800, &ipv4(1, 0, &[], &[3, 4, 0, 0, 0, 0, 0, 0]));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (k.nw_proto, k.tp_src, k.tp_dst, ex.offsets.l7),
        (1, 3, 4, 42)
    );
    let f = eth(&[], 0x0800, &ipv4(1, 0, &[], &[3, 4, 0, 0, 0, 0, 0]));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (ex.malformed, k.tp_src),
        (Some(Malformed::TruncatedIcmp), 0)
    );
    let sctp = [0x0b, 0x59, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0];
    let f = eth(&[], 0x0800, &ipv4(132, 0, &[], &sctp));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (k.nw_proto, k.tp_src, k.tp_dst, ex.offsets.l7),
        (132, 2905, 80, 46)
    );
    let f = eth(&[], 0x0800, &ipv4(132, 0, &[], &sctp[..11]));
    assert_eq!(
        extract_fresh(&f, 1).1.malformed,
        Some(Malformed::TruncatedSctp)
    );
}

#[test]
fn icmpv6_neighbor_discovery() {
    let sll = [1, 1, 2, 0, 0, 0, 0, 0x0a];
    let tll = [2, 1, 2, 0, 0, 0, 0, 0x0b];
    let target = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    let mut opts = sll.to_vec();
    opts.extend_from_slice(&tll);
    let f = eth(&[], 0x86dd, &ipv6(58, &neighbor_solicit(&opts)));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(14, 54, 62),
            malformed: None
        }
    );
    assert_eq!((k.nw_proto, k.tp_src, k.tp_dst), (58, 135, 0));
    assert_eq!(k.nd_target, target);
    assert_eq!(
        (k.arp_sha, k.arp_tha),
        ([2, 0, 0, 0, 0, 0x0a], [2, 0, 0, 0, 0, 0x0b])
    );

    // A repeated option: ND fields cleared, type/code kept, reason recorded.
    let mut twice = sll.to_vec();
    twice.extend_from_slice(&sll);
    let f = eth(&[], 0x86dd, &ipv6(58, &neighbor_solicit(&twice)));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(ex.malformed, Some(Malformed::BadNdOption));
    assert_eq!((k.tp_src, k.nd_target, k.arp_sha), (135, [0; 16], [0; 6]));

    // Target cut short.
    let f = eth(&[], 0x86dd, &ipv6(58, &neighbor_solicit(&[])[..20]));
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        (ex.malformed, k.tp_src),
        (Some(Malformed::TruncatedNd), 135)
    );

    // Not ND (echo request): no ND fields even with trailing bytes.
    let f = eth(
        &[],
        0x86dd,
        &ipv6(58, &[128, 0, 0, 0, 0, 1, 0, 1, 1, 1, 2, 0, 0, 0, 0, 1]),
    );
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!((ex.malformed, k.tp_src, k.arp_sha), (None, 128, [0; 6]));
    let f = eth(&[], 0x86dd, &ipv6(58, &[128, 0, 0, 0, 0, 1, 0]));
    assert_eq!(
        extract_fresh(&f, 1).1.malformed,
        Some(Malformed::TruncatedIcmpv6)
    );
}

#[test]
fn vlan_stacks_and_llc() {
    let ip = ipv4(17, 0, &[], &udp(1, 2, b""));
    let f = eth(&[(0x88a8, 0x0064), (0x8100, 0x200a)], 0x0800, &ip);
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(ex.offsets, offsets(22, 42, 50));
    assert_eq!(
        (k.vlan_tci, k.vlan_tci_inner, k.vlan_qinq),
        (0x1064, 0x300a, 1)
    );
    assert_eq!((k.dl_type, k.tp_dst), (0x0800, 2));

    let f = eth(&[(0x88a8, 1), (0x8100, 2), (0x8100, 3)], 0x0800, &ip);
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(ex.malformed, Some(Malformed::TooManyVlans));
    assert_eq!(
        (k.vlan_tci, k.vlan_tci_inner, k.dl_type),
        (0x1001, 0x1002, 0)
    );

    // 802.3 length field: dl_type 0x05ff, nothing else.
    let f = eth(&[(0x8100, 5)], 0x0026, &[0xaa, 0xaa, 0x03, 0, 0, 0, 8, 0]);
    let (k, ex) = extract_fresh(&f, 1);
    assert_eq!(
        ex,
        Extracted {
            offsets: offsets(18, NONE, NONE),
            malformed: None
        }
    );
    assert_eq!((k.dl_type, k.vlan_tci), (0x05ff, 0x1005));

    // Unknown EtherType: L2 only.
    let (k, ex) = extract_fresh(&eth(&[], 0x88cc, &[1, 2, 3]), 1);
    assert_eq!((k.dl_type, ex.malformed, ex.offsets.l3), (0x88cc, None, 14));
}

#[test]
fn truncation_at_every_byte_keeps_earlier_layers() {
    let full = eth(
        &[(0x8100, 0x000a)],
        0x0800,
        &ipv4(6, 0, &[], &tcp(1000, 80, 0x002, b"")),
    );
    let (whole, _) = extract_fresh(&full, 1);
    for len in 0..full.len() {
        let (k, ex) = extract_fresh(&full[..len], 1);
        let want = match len {
            0..14 => Malformed::Runt,
            14..18 => Malformed::TruncatedVlan,
            18..38 => Malformed::TruncatedIpv4,
            _ => Malformed::BadIpv4Length, // total length now exceeds the frame
        };
        assert_eq!(ex.malformed, Some(want), "len {len}");
        if len >= 14 {
            assert_eq!((k.dl_src, k.dl_dst), (whole.dl_src, whole.dl_dst));
        }
        if len >= 18 {
            assert_eq!((k.vlan_tci, k.dl_type, ex.offsets.l3), (0x100a, 0x0800, 18));
        }
        assert_eq!(
            (k.nw_src, k.tp_src, ex.offsets.l4),
            (0, 0, NONE),
            "len {len}"
        );
    }

    // With the IP length fixed up to the cut, the TCP layer is what fails.
    for cut in 0..20 {
        let f = eth(
            &[],
            0x0800,
            &ipv4(6, 0, &[], &tcp(1000, 80, 0x002, b"")[..cut]),
        );
        let (k, ex) = extract_fresh(&f, 1);
        assert_eq!(ex.malformed, Some(Malformed::TruncatedTcp), "cut {cut}");
        assert_eq!((k.nw_proto, k.nw_src, ex.offsets.l4), (6, 0x0a00_0001, 34));
        assert_eq!((k.tp_src, k.tcp_flags, ex.offsets.l7), (0, 0, NONE));
    }
}

#[test]
fn bad_header_fields() {
    let good = ipv4(6, 0, &[], &tcp(1, 2, 0, b""));
    let cases: [(usize, u8, Malformed); 5] = [
        (0, 0x55, Malformed::BadIpv4Version),
        (0, 0x44, Malformed::BadIpv4Ihl),
        (0, 0x4f, Malformed::TruncatedIpv4), // 60-byte header in 40 bytes
        (3, 19, Malformed::BadIpv4Length),
        (32, 0x40, Malformed::BadTcpDataOffset),
    ];
    for (at, byte, want) in cases {
        let mut ip = good.clone();
        ip[at] = byte;
        let (_, ex) = extract_fresh(&eth(&[], 0x0800, &ip), 1);
        assert_eq!(ex.malformed, Some(want), "byte {at} = {byte:#x}");
    }
    let mut ip = ipv6(17, &udp(1, 2, b""));
    ip[0] = 0x42;
    assert_eq!(
        extract_fresh(&eth(&[], 0x86dd, &ip), 1).1.malformed,
        Some(Malformed::BadIpv6Version)
    );
    let mut ip = ipv6(17, &udp(1, 2, b""));
    ip[5] = 9;
    assert_eq!(
        extract_fresh(&eth(&[], 0x86dd, &ip), 1).1.malformed,
        Some(Malformed::BadIpv6Length)
    );
    let ip = ipv6(17, &udp(1, 2, b""));
    assert_eq!(
        extract_fresh(&eth(&[], 0x86dd, &ip[..39]), 1).1.malformed,
        Some(Malformed::TruncatedIpv6)
    );
    let ip = ipv6(17, &[0; 7]);
    assert_eq!(
        extract_fresh(&eth(&[], 0x86dd, &ip), 1).1.malformed,
        Some(Malformed::TruncatedUdp)
    );
}

#[test]
fn keeps_metadata_and_resets_packet_fields() {
    let mut key = FlowKey::ZERO;
    key.recirc_id = 9;
    key.ct_state = ct_state::TRK | ct_state::EST;
    key.ct_zone = 3;
    key.ct_mark = 0xfeed;
    key.ct_label = [7; 16];
    key.metadata = 0x1234;
    key.regs[5] = 55;
    // Stale packet fields from a previous packet.
    key.tp_src = 999;
    key.ipv6_src = [1; 16];
    key.nd_target = [2; 16];
    key.vlan_tci = 0x1fff;
    let f = eth(&[], 0x0800, &ipv4(17, 0, &[], &udp(5, 6, b"")));
    let ex = extract(&f, 4, &mut key);
    assert_eq!(ex.malformed, None);
    assert_eq!(
        (key.recirc_id, key.ct_state, key.ct_zone, key.ct_mark),
        (9, 0x22, 3, 0xfeed)
    );
    assert_eq!(
        (key.ct_label, key.metadata, key.regs[5]),
        ([7; 16], 0x1234, 55)
    );
    assert_eq!((key.in_port, key.tp_src, key.tp_dst), (4, 5, 6));
    assert_eq!(
        (key.ipv6_src, key.nd_target, key.vlan_tci),
        ([0; 16], [0; 16], 0)
    );
}

#[test]
fn malformed_names_are_unique_and_indexed() {
    let mut names: Vec<_> = Malformed::ALL.iter().map(|m| m.name()).collect();
    for (i, m) in Malformed::ALL.iter().enumerate() {
        assert_eq!(m.index(), i);
        assert!(!m.to_string().is_empty());
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Malformed::ALL.len());
}

#[test]
fn fuzz_seed_corpus_means_what_its_names_say() {
    macro_rules! seed {
        ($name:literal, $want:expr) => {
            (
                $name,
                &include_bytes!(concat!("../../../../fuzz/corpus/parse_extract/", $name))[..],
                $want,
            )
        };
    }
    let seeds: [(&str, &[u8], Option<Malformed>); 15] = [
        seed!("arp_request", None),
        seed!("ipv4_tcp_syn", None),
        seed!("vlan_ipv4_udp_padded", None),
        seed!("qinq_ipv6_tcp", None),
        seed!("ipv6_nd_ns_sll", None),
        seed!("ipv6_ext_chain_udp", None),
        seed!("ipv6_frag_later", None),
        seed!("ipv4_frag_first_icmp", None),
        seed!("ipv4_options_sctp", None),
        seed!("llc_8023", None),
        seed!("bad_truncated_ipv4", Some(Malformed::TruncatedIpv4)),
        seed!("bad_tcp_data_offset", Some(Malformed::BadTcpDataOffset)),
        seed!("bad_nd_dup_option", Some(Malformed::BadNdOption)),
        seed!("bad_three_vlans", Some(Malformed::TooManyVlans)),
        seed!("runt", Some(Malformed::Runt)),
    ];
    for (name, frame, want) in seeds {
        let (k, ex) = extract_fresh(frame, 1);
        assert_eq!(ex.malformed, want, "{name}");
        if want.is_none() {
            // Well-formed seeds reach past L2: a protocol or the 802.3 marker is recorded.
            assert_ne!(ex.offsets.l3, NONE, "{name}");
            assert!(k.nw_proto != 0 || k.dl_type == 0x05ff, "{name}: {k:?}");
        }
    }
}

/// The tunnel endpoint decodes Geneve options into the key before extraction; extraction
/// keeps them, as it keeps the other tunnel fields (OVN carries its logical ports there).
#[test]
fn extraction_keeps_the_tunnel_metadata_options() {
    let mut key = FlowKey::ZERO;
    key.tun_id = 1;
    key.tun_md_present = 1;
    key.tun_md[7] = 2;
    key.tun_md[5] = 1;
    let frame = eth(&[], 0x0800, &ipv4(1, 0, &[], &[8, 0, 0, 0, 0, 0, 0, 0]));
    let ex = extract(&frame, 1, &mut key);
    assert!(ex.malformed.is_none());
    assert_eq!(key.tun_md_present, 1);
    assert_eq!(
        crate::flow::Field::TunMetadata(0).get(&key) & 0xffff_ffff,
        0x0001_0002
    );
    assert_eq!(key.tun_id, 1);
}
