//! Offload tests: the virtio-net header format, checksum completion against a fixture and
//! against full computation, segmentation checked by etherparse, and hostile input.

use super::segment::parse_layout;
use super::*;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;

/// UDP/IPv4 "hello, vswitch!" (odd length) with the UDP checksum field holding only the
/// pseudo-header sum 0x142b, as a sender with checksum offload leaves it. The full
/// checksum, computed independently, is 0x0af5.
const UDP_PARTIAL: [u8; 57] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
    0x08, 0x00, 0x45, 0x00, 0x00, 0x2b, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, //
    0x14, 0x8c, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x02, 0x04, 0xd2, //
    0x16, 0x2e, 0x00, 0x17, 0x14, 0x2b, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, //
    0x20, 0x76, 0x73, 0x77, 0x69, 0x74, 0x63, 0x68, 0x21,
];

/// UDP_PARTIAL as a TAP hands it over: virtio-net header (NEEDS_CSUM | DATA_VALID,
/// csum_start 34, csum_offset 6, native byte order) and frame, read as one buffer.
fn received_with_header() -> (Packet, [u8; VNET_HDR_LEN]) {
    let mut hdr = [0u8; VNET_HDR_LEN];
    hdr[0] = VNET_F_NEEDS_CSUM | 2;
    hdr[6..8].copy_from_slice(&34u16.to_ne_bytes());
    hdr[8..10].copy_from_slice(&6u16.to_ne_bytes());
    let mut pkt = Packet::with_capacity(2048);
    let space = pkt.rx_space_with_front(VNET_HDR_LEN).unwrap();
    space[..VNET_HDR_LEN].copy_from_slice(&hdr);
    space[VNET_HDR_LEN..VNET_HDR_LEN + UDP_PARTIAL.len()].copy_from_slice(&UDP_PARTIAL);
    pkt.set_len(UDP_PARTIAL.len());
    (pkt, hdr)
}

#[test]
fn header_in_headroom_parses_in_place_and_is_normalised() {
    let (mut pkt, mut hdr) = received_with_header();
    let o = take_rx_hdr(&mut pkt).unwrap();
    assert_eq!(o, partial(34, 6));
    assert_eq!(pkt.data(), &UDP_PARTIAL);
    // DATA_VALID is not part of the offload state: the bytes left behind are those a
    // transmit of this state sends.
    hdr[0] = VNET_F_NEEDS_CSUM;
    assert_eq!(pkt.front(VNET_HDR_LEN).unwrap(), &hdr);
    assert_eq!(VnetHdr::from_offload(&o).0, hdr);
    assert_eq!(pkt.headroom(), crate::packet::HEADROOM);
}

#[test]
fn framed_only_when_the_headroom_holds_the_header_to_send() {
    let (mut pkt, _) = received_with_header();
    pkt.offload = take_rx_hdr(&mut pkt).unwrap();
    let hdr = VnetHdr::from_offload(&pkt.offload);
    let one = framed(&pkt, &hdr).unwrap();
    assert_eq!(&one[..VNET_HDR_LEN], &hdr.0);
    assert_eq!(&one[VNET_HDR_LEN..], &UDP_PARTIAL);
    // Changed offload state: the bytes in front are stale.
    assert!(framed(&pkt, &VnetHdr::default()).is_none());
    // A push moves the frame start over the header.
    assert!(pkt.insert_gap(12, 4));
    assert!(framed(&pkt, &VnetHdr::from_offload(&pkt.offload)).is_none());
    // A packet built without a header has zeroed headroom: the all-zero header of a packet
    // without offload state is there already.
    let plain = Packet::from_bytes(&UDP_PARTIAL);
    assert!(framed(&plain, &VnetHdr::from_offload(&plain.offload)).is_some());
    // No room for a header at all.
    let mut full = Packet::from_bytes(&UDP_PARTIAL);
    assert!(full.insert_gap(0, crate::packet::HEADROOM - 4));
    assert!(framed(&full, &VnetHdr::default()).is_none());
    assert!(take_rx_hdr(&mut full).is_none());
}

fn partial(l4: usize, field: usize) -> Offload {
    Offload {
        needs_csum: true,
        csum_start: l4 as u16,
        csum_offset: field as u16,
        ..Offload::default()
    }
}

/// The pseudo-header sum (folded, not complemented) of the IP header at `l3`.
fn pseudo(frame: &[u8], l3: usize, ipv4: bool, proto: u8, l4_len: usize) -> u16 {
    let addrs = if ipv4 {
        l3 + 12..l3 + 20
    } else {
        l3 + 8..l3 + 40
    };
    let mut acc = u32::from(proto) + l4_len as u32;
    for i in addrs.step_by(2) {
        acc += u32::from(u16::from_be_bytes([frame[i], frame[i + 1]]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Replaces the L4 checksum with the pseudo-header sum, as an offloading sender does.
fn make_partial(frame: &mut [u8], l3: usize, ipv4: bool, l4: usize, field: usize) {
    let proto = if ipv4 { frame[l3 + 9] } else { frame[l3 + 6] };
    let p = pseudo(frame, l3, ipv4, proto, frame.len() - l4);
    frame[l4 + field..l4 + field + 2].copy_from_slice(&p.to_be_bytes());
}

fn tcp_v4(payload: &[u8], vlan: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let ts = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];
    let mut out = Vec::new();
    if vlan {
        b.single_vlan(0x123.try_into().unwrap())
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 0xfffff000, 512)
            .ack(77)
            .psh()
            .fin()
            .cwr()
            .options_raw(&ts)
            .unwrap()
            .write(&mut out, payload)
            .unwrap();
    } else {
        b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 0xfffff000, 512)
            .ack(77)
            .psh()
            .fin()
            .cwr()
            .options_raw(&ts)
            .unwrap()
            .write(&mut out, payload)
            .unwrap();
    }
    out
}

fn tcp_v6(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6([0xfd; 16], [0xfe; 16], 64)
        .tcp(40000, 443, 1000, 512)
        .ack(5)
        .psh()
        .write(&mut out, payload)
        .unwrap();
    out
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[cfg(target_endian = "little")]
#[test]
fn vnet_hdr_wire_format() {
    let bytes = [1, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
    let o = VnetHdr(bytes).to_offload();
    assert_eq!(
        o,
        Offload {
            needs_csum: true,
            csum_start: 34,
            csum_offset: 16,
            gso_type: VNET_GSO_TCPV4 | VNET_GSO_ECN,
            gso_size: 1448,
            hdr_len: 66,
        }
    );
    assert_eq!(VnetHdr::from_offload(&o).0, bytes);
    assert!(is_pending(&o));
    assert!(!is_pending(&Offload::default()));
    // DATA_VALID alone is no work.
    assert!(!is_pending(
        &VnetHdr([2, 0, 0, 0, 0, 0, 0, 0, 0, 0]).to_offload()
    ));
}

#[test]
fn completes_fixture_checksum() {
    let mut f = UDP_PARTIAL;
    complete_checksum(&mut f, &partial(34, 6)).unwrap();
    assert_eq!(f[40..42], [0x0a, 0xf5]);
    assert_eq!(f[..40], UDP_PARTIAL[..40]);
    assert_eq!(f[42..], UDP_PARTIAL[42..]);
    assert_eq!(partial_checksum_offsets(&UDP_PARTIAL), Some((34, 6)));
}

#[test]
fn completion_equals_full_computation() {
    for (full, l3, ipv4, field) in [
        (tcp_v4(&payload(1001), false), 14, true, 16),
        (tcp_v4(&payload(3), true), 18, true, 16),
        (tcp_v6(&payload(1200)), 14, false, 16),
    ] {
        let l4 = partial_checksum_offsets(&full).unwrap().0 as usize;
        assert_eq!(partial_checksum_offsets(&full).unwrap().1 as usize, field);
        let mut f = full.clone();
        make_partial(&mut f, l3, ipv4, l4, field);
        assert_ne!(f, full);
        let mut pkt = Packet::from_bytes(&f);
        pkt.offload = partial(l4, field);
        let mut pool = PacketPool::new(0, 2048);
        let mut out = Vec::new();
        let r = finalize(&mut pkt, &mut pool, &mut out).unwrap();
        assert_eq!(r, Finalized::ChecksumCompleted);
        assert_eq!(pkt.data(), &full[..]);
        assert_eq!(pkt.offload, Offload::default());
        assert!(out.is_empty());
    }
}

#[test]
fn rejects_bad_offsets_and_odd_gso() {
    let mut f = UDP_PARTIAL;
    assert_eq!(
        complete_checksum(&mut f, &partial(56, 6)),
        Err(OffloadDrop::BadChecksumOffsets)
    );
    assert_eq!(f, UDP_PARTIAL);
    let ufo = Offload {
        gso_type: VNET_GSO_UDP,
        gso_size: 8,
        ..partial(34, 6)
    };
    assert_eq!(
        Segmenter::new(&UDP_PARTIAL, &ufo).err(),
        Some(OffloadDrop::UnsupportedGso)
    );
    let tso_on_udp = Offload {
        gso_type: VNET_GSO_TCPV4,
        ..ufo
    };
    assert_eq!(
        Segmenter::new(&UDP_PARTIAL, &tso_on_udp).err(),
        Some(OffloadDrop::UnsupportedGso)
    );
    let wrong_start = Offload {
        gso_type: VNET_GSO_UDP_L4,
        gso_size: 8,
        ..partial(30, 6)
    };
    assert_eq!(
        Segmenter::new(&UDP_PARTIAL, &wrong_start).err(),
        Some(OffloadDrop::BadChecksumOffsets)
    );
    // Truncated IP packet: the IP total length runs past the frame.
    assert_eq!(
        Segmenter::new(&UDP_PARTIAL[..50], &wrong_start).err(),
        Some(OffloadDrop::Malformed)
    );
    assert_eq!(partial_checksum_offsets(&UDP_PARTIAL[..30]), None);
}

/// Regression: an IPv4 frame cut inside the header (22 and 23 bytes: the fragment field is
/// there, the protocol byte is not), as AF_PACKET hands over a checksum-not-ready frame
/// without a vnet header. Parsing read the protocol at `l3 + 9` after checking `l3 + 7`.
#[test]
fn ipv4_header_cut_before_protocol_is_malformed_not_a_panic() {
    let frame: [u8; 24] = [
        0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // eth
        0x45, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x40, 0x11, // ipv4, cut
    ];
    for len in [22, 23, 24] {
        let f = &frame[..len];
        assert_eq!(partial_checksum_offsets(f), None, "{len} bytes");
        assert_eq!(infer_tso(f, 1), None, "{len} bytes");
        assert_eq!(parse_layout(f), Err(OffloadDrop::Malformed), "{len} bytes");
        let o = Offload {
            gso_type: VNET_GSO_TCPV4,
            gso_size: 1,
            ..partial(14, 16)
        };
        assert_eq!(Segmenter::new(f, &o).err(), Some(OffloadDrop::Malformed));
    }
}

struct Seen {
    payload: Vec<u8>,
    seqs: Vec<u32>,
    flags: Vec<(bool, bool, bool)>,
    ids: Vec<u16>,
}

/// Parses every segment with etherparse and checks lengths and checksums independently.
fn check_tcp_segments(segs: &[Packet], mss: usize) -> Seen {
    let mut seen = Seen {
        payload: Vec::new(),
        seqs: Vec::new(),
        flags: Vec::new(),
        ids: Vec::new(),
    };
    for (i, s) in segs.iter().enumerate() {
        assert_eq!(s.offload, Offload::default());
        let p = SlicedPacket::from_ethernet(s.data()).expect("segment parses");
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("segment {i} is not TCP");
        };
        let want = match p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
                assert_eq!(
                    usize::from(h.total_len()) + 14 + p.vlan.iter().count() * 4,
                    s.len()
                );
                seen.ids.push(h.identification());
                tcp.calc_checksum_ipv4(h.source(), h.destination()).unwrap()
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header();
                assert_eq!(usize::from(h.payload_length()) + 14 + 40, s.len());
                tcp.calc_checksum_ipv6(h.source(), h.destination()).unwrap()
            }
            None => panic!("no IP"),
        };
        assert_eq!(tcp.checksum(), want, "segment {i} TCP checksum");
        assert!(tcp.payload().len() <= mss);
        seen.payload.extend_from_slice(tcp.payload());
        seen.seqs.push(tcp.sequence_number());
        seen.flags.push((tcp.fin(), tcp.psh(), tcp.cwr()));
    }
    seen
}

fn tso(frame: &[u8], l4: usize, gso_type: u8, mss: u16) -> Packet {
    let mut pkt = Packet::from_bytes(frame);
    let l3 = l4 - if gso_type == VNET_GSO_TCPV6 { 40 } else { 20 };
    make_partial(pkt.data_mut(), l3, gso_type != VNET_GSO_TCPV6, l4, 16);
    pkt.offload = Offload {
        gso_type,
        gso_size: mss,
        hdr_len: 66,
        ..partial(l4, 16)
    };
    pkt.in_port = 9;
    pkt
}

#[test]
fn segments_64k_tcpv4_super_packet() {
    let data = payload(64_000);
    let frame = tcp_v4(&data, false);
    let mut pkt = tso(&frame, 34, VNET_GSO_TCPV4, 1448);
    let mut pool = PacketPool::new(4, 2048);
    let mut out = Vec::new();
    let r = finalize(&mut pkt, &mut pool, &mut out).unwrap();
    assert_eq!(r, Finalized::Segmented(45));
    assert_eq!(out.len(), 45);
    assert!(out.iter().all(|s| s.in_port == 9));
    assert!(out[..44].iter().all(|s| s.len() == 14 + 20 + 32 + 1448));
    let seen = check_tcp_segments(&out, 1448);
    assert_eq!(seen.payload, data);
    for (i, seq) in seen.seqs.iter().enumerate() {
        assert_eq!(*seq, 0xfffff000u32.wrapping_add(i as u32 * 1448));
    }
    for (i, id) in seen.ids.iter().enumerate() {
        assert_eq!(*id, seen.ids[0].wrapping_add(i as u16));
    }
    assert_eq!(seen.flags[0], (false, false, true));
    assert!(
        seen.flags[1..44]
            .iter()
            .all(|f| *f == (false, false, false))
    );
    assert_eq!(seen.flags[44], (true, true, false));
}

#[test]
fn segments_tcpv6_and_vlan_tagged_super_packets() {
    let data = payload(20_000);
    let mut pkt = tso(&tcp_v6(&data), 54, VNET_GSO_TCPV6, 1000);
    let (mut pool, mut out) = (PacketPool::new(0, 2048), Vec::new());
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::Segmented(20))
    );
    assert_eq!(check_tcp_segments(&out, 1000).payload, data);

    let mut pkt = tso(&tcp_v4(&data, true), 38, VNET_GSO_TCPV4, 1460);
    out.clear();
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::Segmented(14))
    );
    for s in &out {
        assert_eq!(s.data()[12..16], [0x81, 0x00, 0x01, 0x23]);
    }
    assert_eq!(check_tcp_segments(&out, 1460).payload, data);
}

#[test]
fn segments_udp_l4_super_packet() {
    let data = payload(5000);
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv6([0xfd; 16], [0xfe; 16], 64)
        .udp(4000, 4789)
        .write(&mut frame, &data)
        .unwrap();
    let mut pkt = Packet::from_bytes(&frame);
    make_partial(pkt.data_mut(), 14, false, 54, 6);
    pkt.offload = Offload {
        gso_type: VNET_GSO_UDP_L4,
        gso_size: 1200,
        ..partial(54, 6)
    };
    let (mut pool, mut out) = (PacketPool::new(0, 2048), Vec::new());
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::Segmented(5))
    );
    let mut got = Vec::new();
    for s in &out {
        let p = SlicedPacket::from_ethernet(s.data()).unwrap();
        let (Some(NetSlice::Ipv6(ip)), Some(TransportSlice::Udp(udp))) = (p.net, p.transport)
        else {
            panic!("not UDP/IPv6");
        };
        let h = udp.to_header();
        let want = h
            .calc_checksum_ipv6_raw(
                ip.header().source(),
                ip.header().destination(),
                udp.payload(),
            )
            .unwrap();
        assert_eq!(h.checksum, want);
        assert_eq!(usize::from(h.length), 8 + udp.payload().len());
        got.extend_from_slice(udp.payload());
    }
    assert_eq!(got, data);
}

#[test]
fn small_buffers_return_everything_to_the_pool() {
    let frame = tcp_v4(&payload(10_000), false);
    let mut pkt = tso(&frame, 34, VNET_GSO_TCPV4, 1448);
    let mut pool = PacketPool::new(3, 1000);
    let mut out = vec![Packet::from_bytes(&[1, 2, 3])];
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Err(OffloadDrop::NoBuffer)
    );
    assert_eq!(out.len(), 1);
    assert_eq!(pool.available(), 3);
    // The super-packet itself is untouched and can be retried.
    assert_eq!(pkt.len(), frame.len());
    let mut pool = PacketPool::new(0, 1600);
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::Segmented(7))
    );
}

#[test]
fn single_segment_gso_is_checksummed_in_place() {
    let full = tcp_v4(&payload(100), false);
    let mut pkt = tso(&full, 34, VNET_GSO_TCPV4, 1448);
    let (mut pool, mut out) = (PacketPool::new(0, 2048), Vec::new());
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::ChecksumCompleted)
    );
    assert_eq!(pkt.data(), &full[..]);
    let mut plain = Packet::from_bytes(&full);
    assert_eq!(
        finalize(&mut plain, &mut pool, &mut out),
        Ok(Finalized::Unchanged)
    );
    assert!(out.is_empty());
}

#[test]
fn finalize_each_matches_finalize() {
    let frame = tcp_v4(&payload(5000), false);
    let mut pkt = tso(&frame, 34, VNET_GSO_TCPV4, 1448);
    let mut scratch = vec![0u8; 2048];
    let mut each: Vec<Vec<u8>> = Vec::new();
    let n = finalize_each(pkt.data(), &pkt.offload, &mut scratch, |f| {
        each.push(f.to_vec());
        Ok::<(), OffloadDrop>(())
    })
    .unwrap();
    assert_eq!(n, 4);
    let (mut pool, mut out) = (PacketPool::new(0, 2048), Vec::new());
    finalize(&mut pkt, &mut pool, &mut out).unwrap();
    assert!(each.iter().zip(&out).all(|(a, b)| a[..] == *b.data()));

    let mut f = UDP_PARTIAL;
    let n = finalize_each(&UDP_PARTIAL, &partial(34, 6), &mut scratch, |out| {
        f.copy_from_slice(out);
        Ok::<(), OffloadDrop>(())
    });
    assert_eq!((n, &f[40..42]), (Ok(1), &[0x0a, 0xf5][..]));
    let too_small = finalize_each(&UDP_PARTIAL, &partial(34, 6), &mut scratch[..10], |_| {
        Ok::<(), OffloadDrop>(())
    });
    assert_eq!(too_small, Err(OffloadDrop::NoBuffer));
}

#[test]
fn infers_tso_for_oversized_tcp_frames() {
    let data = payload(5000);
    let frame = tcp_v4(&data, false);
    let o = infer_tso(&frame, 1500).unwrap();
    // 20 bytes of IPv4 and 32 of TCP (with timestamps) leave 1448 per 1500-byte packet.
    assert_eq!(
        (o.gso_type, o.gso_size, o.csum_start),
        (VNET_GSO_TCPV4, 1448, 34)
    );
    let mut pkt = Packet::from_bytes(&frame);
    pkt.offload = o;
    let (mut pool, mut out) = (PacketPool::new(0, 2048), Vec::new());
    assert_eq!(
        finalize(&mut pkt, &mut pool, &mut out),
        Ok(Finalized::Segmented(4))
    );
    assert_eq!(check_tcp_segments(&out, 1448).payload, data);
    assert_eq!(infer_tso(&frame, 9000), None);
    assert_eq!(
        infer_tso(&tcp_v6(&payload(3000)), 1500).unwrap().gso_size,
        1440
    );
    assert_eq!(infer_tso(&UDP_PARTIAL, 20), None);
}

proptest! {
    #[test]
    fn garbage_never_panics(
        frame in proptest::collection::vec(any::<u8>(), 0..200),
        flags in any::<u8>(), gso_type in any::<u8>(), gso_size in any::<u16>(),
        csum_start in 0u16..220, csum_offset in 0u16..40,
    ) {
        let mut pkt = Packet::from_bytes(&frame);
        pkt.offload = VnetHdr::from_offload(&Offload {
            needs_csum: flags & 1 != 0, csum_start, csum_offset, gso_type, gso_size, hdr_len: 0,
        }).to_offload();
        let (mut pool, mut out) = (PacketPool::new(0, 256), Vec::new());
        let _ = finalize(&mut pkt, &mut pool, &mut out);
        let _ = partial_checksum_offsets(&frame);
    }

    #[test]
    fn segmentation_reassembles(len in 1usize..9000, mss in 1u16..3000) {
        let data = payload(len);
        let mut pkt = tso(&tcp_v4(&data, false), 34, VNET_GSO_TCPV4, mss);
        let (mut pool, mut out) = (PacketPool::new(0, 3100), Vec::new());
        finalize(&mut pkt, &mut pool, &mut out).unwrap();
        if out.is_empty() {
            out.push(pkt);
        }
        prop_assert_eq!(out.len(), len.div_ceil(usize::from(mss)));
        prop_assert_eq!(check_tcp_segments(&out, usize::from(mss)).payload, data);
    }
}
