//! A catalogue of hostile Ethernet frames, each labelled with the drop reason DESIGN §9 says
//! the datapath must count for it (or none, for frames that are odd but well-formed).
//!
//! The labels are written from the protocol specifications and the header boundaries of each
//! frame, not by running the parser: a test that compares the parser's verdict with the
//! label is therefore a real check of the parser, and the replay tests compare the switch's
//! per-reason drop counters with the label counts.
//!
//! Families (issue 7 item 2):
//! - every well-formed base frame cut at every length, once with the length fields left as
//!   they were (the IP header then lies) and once with them rewritten to the cut (the lie
//!   moves into the next layer);
//! - bad IPv4 versions, header lengths and total lengths;
//! - IPv6 extension-header chains: over-long chains ("loops" of one header type pointing to
//!   itself), headers reaching past the packet, fragments;
//! - TCP data offsets out of range and TCP options of zero or excessive length (the
//!   extractor does not read options, conntrack does: these frames go through `ct`);
//! - VLAN stacks that are too deep or cut; runts; jumbo frames; bad ND options.
//!
//! [`cases`] is deterministic; `tests/data/malformed.pcap` is its output written with
//! [`crate::pcap::write`], and a test keeps the two identical.

use fastpath::flow::extract::Malformed;

/// One frame and its expected verdict.
#[derive(Clone, Debug)]
pub struct Case {
    /// What the frame is, e.g. `ipv4_tcp_syn/raw_cut_37`.
    pub name: String,
    pub frame: Vec<u8>,
    /// The drop reason, or `None` for a frame that must be accepted by the parser.
    pub expect: Option<Malformed>,
}

/// Source MAC of every generated frame (a locally administered address).
pub const SRC_MAC: [u8; 6] = [0x02, 0x6d, 0x61, 0x6c, 0x00, 0x01];
/// Destination MAC of every generated frame.
pub const DST_MAC: [u8; 6] = [0x02, 0x6d, 0x61, 0x6c, 0x00, 0x02];

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_ARP: u16 = 0x0806;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const SCTP: u8 = 132;
const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const DEST_OPTS: u8 = 60;
const NO_NEXT: u8 = 59;

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An Ethernet header followed by VLAN tags (`tpids[i]` announces tag `i`), ending in `inner`.
fn eth_tagged(tpids: &[u16], inner: u16) -> Vec<u8> {
    let mut f = eth(tpids.first().copied().unwrap_or(inner));
    for (i, _) in tpids.iter().enumerate() {
        let next = tpids.get(i + 1).copied().unwrap_or(inner);
        f.extend_from_slice(&(100 + i as u16).to_be_bytes()); // TCI: VID 100+i
        f.extend_from_slice(&next.to_be_bytes());
    }
    f
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 header (with `options`, padded to 4 bytes) and `payload`.
fn ipv4(proto: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let hl = 20 + opt_len;
    let total = (hl + payload.len()) as u16;
    let mut h = vec![0x40 | (hl / 4) as u8, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, proto, 0, 0]);
    h.extend_from_slice(&[10, 7, 0, 1, 10, 7, 0, 2]);
    h.extend_from_slice(options);
    h.resize(hl, 0);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(payload);
    h
}

/// An extension header of `8 * units` bytes (hop-by-hop, routing or destination options).
fn ext_header(next: u8, units: usize) -> Vec<u8> {
    let mut h = vec![next, (units - 1) as u8];
    h.resize(8 * units, 0);
    if h.len() > 2 {
        h[2] = 1; // PadN option covering the rest
        h[3] = (8 * units - 4) as u8;
    }
    h
}

fn tcp(flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let opt_len = options.len().div_ceil(4) * 4;
    let mut h = vec![0x9c, 0x40, 0x00, 0x50]; // 40000 -> 80
    h.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
    h.push((((20 + opt_len) / 4) as u8) << 4);
    h.push(flags);
    h.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    h.extend_from_slice(options);
    h.resize(20 + opt_len, 0);
    h.extend_from_slice(payload);
    h
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x9c, 0x41, 0x00, 0x35];
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

const SYN: u8 = 0x02;
/// MSS 1460, NOP, window scale 7, SACK permitted, NOP, NOP.
const SYN_OPTIONS: [u8; 12] = [2, 4, 5, 180, 1, 3, 3, 7, 4, 2, 1, 1];

fn arp_request() -> Vec<u8> {
    let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
    a.extend_from_slice(&SRC_MAC);
    a.extend_from_slice(&[10, 7, 0, 1]);
    a.extend_from_slice(&[0; 6]);
    a.extend_from_slice(&[10, 7, 0, 2]);
    a
}

/// An ICMPv6 neighbour solicitation with `options`.
fn neighbour_solicitation(options: &[u8]) -> Vec<u8> {
    let mut m = vec![135, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    m.extend_from_slice(options);
    m
}

fn sll_option() -> Vec<u8> {
    let mut o = vec![1, 1];
    o.extend_from_slice(&SRC_MAC);
    o
}

/// The layer at the IP header, for computing cut verdicts.
#[derive(Clone, Copy)]
enum L3 {
    Ipv4 { header_len: usize },
    Ipv6,
    Arp,
}

/// The upper layer and the length of the part of it the parser requires.
#[derive(Clone, Copy)]
enum L4 {
    Tcp {
        header_len: usize,
    },
    Udp,
    Sctp,
    Icmp,
    /// ICMPv6 neighbour discovery: 8-byte header, 16-byte target, then options.
    Nd,
    None,
}

/// A well-formed frame and where its layers start.
struct Base {
    name: &'static str,
    frame: Vec<u8>,
    /// Offset of the L3 header (past Ethernet and VLAN tags).
    l3: usize,
    l3_kind: L3,
    /// Offset of the upper-layer header (past IPv4 options / IPv6 extension headers).
    l4: usize,
    l4_kind: L4,
}

fn bases() -> Vec<Base> {
    let v4 = |name, tags: &[u16], proto, options: &[u8], l4: Vec<u8>, l4_kind| {
        let mut frame = eth_tagged(tags, ETH_IPV4);
        let l3 = frame.len();
        let header_len = 20 + options.len().div_ceil(4) * 4;
        frame.extend_from_slice(&ipv4(proto, options, &l4));
        Base {
            name,
            frame,
            l3,
            l3_kind: L3::Ipv4 { header_len },
            l4: l3 + header_len,
            l4_kind,
        }
    };
    let v6 = |name, exts: &[Vec<u8>], first: u8, l4: Vec<u8>, l4_kind| {
        let mut frame = eth(ETH_IPV6);
        let l3 = frame.len();
        let mut payload: Vec<u8> = exts.concat();
        let ext_len = payload.len();
        payload.extend_from_slice(&l4);
        frame.extend_from_slice(&ipv6(first, &payload));
        Base {
            name,
            frame,
            l3,
            l3_kind: L3::Ipv6,
            l4: l3 + 40 + ext_len,
            l4_kind,
        }
    };
    let mut icmp_echo = vec![8, 0, 0, 0, 0, 1, 0, 1];
    icmp_echo.extend_from_slice(b"pingdata");
    let mut sctp = vec![0x9c, 0x42, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0];
    sctp.extend_from_slice(&[1, 0, 0, 4]);
    let mut arp_frame = eth(ETH_ARP);
    arp_frame.extend_from_slice(&arp_request());
    vec![
        v4(
            "ipv4_tcp_syn",
            &[],
            TCP,
            &[],
            tcp(SYN, &SYN_OPTIONS, &[]),
            L4::Tcp { header_len: 32 },
        ),
        v4(
            "ipv4_options_udp",
            &[],
            UDP,
            &[1, 1, 1, 0],
            udp(b"hello!"),
            L4::Udp,
        ),
        v4("ipv4_icmp_echo", &[], ICMP, &[], icmp_echo, L4::Icmp),
        v4("ipv4_sctp", &[], SCTP, &[], sctp, L4::Sctp),
        v4(
            "vlan_ipv4_udp",
            &[ETH_VLAN],
            UDP,
            &[],
            udp(b"tagged"),
            L4::Udp,
        ),
        v4(
            "qinq_ipv4_tcp",
            &[ETH_QINQ, ETH_VLAN],
            TCP,
            &[],
            tcp(0x18, &[], b"data"),
            L4::Tcp { header_len: 20 },
        ),
        Base {
            name: "arp_request",
            frame: arp_frame,
            l3: 14,
            l3_kind: L3::Arp,
            l4: 14 + 28,
            l4_kind: L4::None,
        },
        v6(
            "ipv6_tcp",
            &[],
            TCP,
            tcp(SYN, &[2, 4, 5, 160], b"xy"),
            L4::Tcp { header_len: 24 },
        ),
        v6(
            "ipv6_ext_udp",
            &[ext_header(DEST_OPTS, 1), ext_header(UDP, 2)],
            HOP_BY_HOP,
            udp(b"ext!"),
            L4::Udp,
        ),
        v6(
            "ipv6_nd_solicit",
            &[],
            ICMPV6,
            neighbour_solicitation(&sll_option()),
            L4::Nd,
        ),
    ]
}

/// The verdict for `base` cut to `cut` bytes with its length fields left alone.
fn raw_cut_verdict(b: &Base, cut: usize) -> Option<Malformed> {
    if cut < 14 {
        return Some(Malformed::Runt);
    }
    if cut < b.l3 {
        return Some(Malformed::TruncatedVlan);
    }
    let l3_bytes = cut - b.l3;
    Some(match b.l3_kind {
        L3::Arp => Malformed::TruncatedArp,
        L3::Ipv4 { header_len } if l3_bytes < header_len => Malformed::TruncatedIpv4,
        L3::Ipv4 { .. } => Malformed::BadIpv4Length,
        L3::Ipv6 if l3_bytes < 40 => Malformed::TruncatedIpv6,
        L3::Ipv6 => Malformed::BadIpv6Length,
    })
}

/// The verdict for `base` cut to `cut` bytes (past the fixed IP header) with its IP length
/// field rewritten to the cut, so the IP layer is consistent and the next layer is short.
fn consistent_cut_verdict(b: &Base, cut: usize) -> Option<Malformed> {
    if cut < b.l4 {
        return Some(Malformed::TruncatedIpv6ExtHeader);
    }
    let l4_bytes = cut - b.l4;
    match b.l4_kind {
        L4::Tcp { .. } if l4_bytes < 20 => Some(Malformed::TruncatedTcp),
        L4::Tcp { header_len } if l4_bytes < header_len => Some(Malformed::BadTcpDataOffset),
        L4::Udp if l4_bytes < 8 => Some(Malformed::TruncatedUdp),
        L4::Sctp if l4_bytes < 12 => Some(Malformed::TruncatedSctp),
        L4::Icmp if l4_bytes < 8 => Some(Malformed::TruncatedIcmp),
        L4::Nd if l4_bytes < 8 => Some(Malformed::TruncatedIcmpv6),
        L4::Nd if l4_bytes < 24 => Some(Malformed::TruncatedNd),
        // A cut inside the 8-byte link-layer option leaves fewer than 8 bytes, which (as in
        // OVS and RFC 4861's smallest option) are not an option at all: ignored.
        _ => None,
    }
}

fn truncations(b: &Base, out: &mut Vec<Case>) {
    for cut in 0..b.frame.len() {
        out.push(Case {
            name: format!("{}/raw_cut_{cut}", b.name),
            frame: b.frame[..cut].to_vec(),
            expect: raw_cut_verdict(b, cut),
        });
    }
    let fixed_ip = match b.l3_kind {
        L3::Ipv4 { header_len } => header_len,
        L3::Ipv6 => 40,
        L3::Arp => return,
    };
    for cut in b.l3 + fixed_ip..b.frame.len() {
        let mut frame = b.frame[..cut].to_vec();
        let ip = &mut frame[b.l3..];
        match b.l3_kind {
            L3::Ipv4 { header_len } => {
                let total = (cut - b.l3) as u16;
                ip[2..4].copy_from_slice(&total.to_be_bytes());
                ip[10..12].copy_from_slice(&[0, 0]);
                let c = checksum(&ip[..header_len]);
                ip[10..12].copy_from_slice(&c.to_be_bytes());
            }
            L3::Ipv6 => {
                let payload = (cut - b.l3 - 40) as u16;
                ip[4..6].copy_from_slice(&payload.to_be_bytes());
            }
            L3::Arp => unreachable!("returned above"),
        }
        out.push(Case {
            name: format!("{}/consistent_cut_{cut}", b.name),
            frame,
            expect: consistent_cut_verdict(b, cut),
        });
    }
    out.push(Case {
        name: format!("{}/whole", b.name),
        frame: b.frame.clone(),
        expect: None,
    });
}

fn case(name: &str, frame: Vec<u8>, expect: Option<Malformed>) -> Case {
    Case {
        name: name.to_owned(),
        frame,
        expect,
    }
}

fn with_eth(ethertype: u16, l3: &[u8]) -> Vec<u8> {
    let mut f = eth(ethertype);
    f.extend_from_slice(l3);
    f
}

fn ipv4_headers(out: &mut Vec<Case>) {
    let good = ipv4(UDP, &[], &udp(b"abcd"));
    for ihl in 0u8..5 {
        let mut ip = good.clone();
        ip[0] = 0x40 | ihl;
        out.push(case(
            &format!("ipv4/ihl_{ihl}"),
            with_eth(ETH_IPV4, &ip),
            Some(Malformed::BadIpv4Ihl),
        ));
    }
    // IHL 15 (60 bytes) in a 32-byte packet: the header runs past the frame.
    let mut ip = good.clone();
    ip[0] = 0x4f;
    out.push(case(
        "ipv4/ihl_15_short",
        with_eth(ETH_IPV4, &ip),
        Some(Malformed::TruncatedIpv4),
    ));
    // IHL 6 (a 4-byte option) but total length 20: shorter than the header.
    let mut ip = ipv4(UDP, &[1, 1, 1, 0], &udp(b"abcd"));
    ip[2..4].copy_from_slice(&20u16.to_be_bytes());
    out.push(case(
        "ipv4/total_below_ihl",
        with_eth(ETH_IPV4, &ip),
        Some(Malformed::BadIpv4Length),
    ));
    for (name, total) in [("total_0", 0u16), ("total_65535", 0xffff)] {
        let mut ip = good.clone();
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        out.push(case(
            &format!("ipv4/{name}"),
            with_eth(ETH_IPV4, &ip),
            Some(Malformed::BadIpv4Length),
        ));
    }
    for version in [0u8, 6, 15] {
        let mut ip = good.clone();
        ip[0] = (version << 4) | 5;
        out.push(case(
            &format!("ipv4/version_{version}"),
            with_eth(ETH_IPV4, &ip),
            Some(Malformed::BadIpv4Version),
        ));
    }
    // A later fragment: its L4 bytes are not a header, so 1 byte of payload is fine.
    let mut ip = ipv4(TCP, &[], &[0xee]);
    ip[6..8].copy_from_slice(&0x0010u16.to_be_bytes()); // offset 16*8, no MF
    out.push(case(
        "ipv4/later_fragment_1_byte",
        with_eth(ETH_IPV4, &ip),
        None,
    ));
    // Link padding after the IP packet is ignored.
    let mut f = with_eth(ETH_IPV4, &good);
    f.extend_from_slice(&[0; 20]);
    out.push(case("ipv4/link_padding", f, None));
}

fn ipv6_headers(out: &mut Vec<Case>) {
    let good = ipv6(UDP, &udp(b"abcd"));
    for version in [4u8, 0, 15] {
        let mut ip = good.clone();
        ip[0] = version << 4;
        out.push(case(
            &format!("ipv6/version_{version}"),
            with_eth(ETH_IPV6, &ip),
            Some(Malformed::BadIpv6Version),
        ));
    }
    let mut ip = good.clone();
    ip[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
    out.push(case(
        "ipv6/payload_65535",
        with_eth(ETH_IPV6, &ip),
        Some(Malformed::BadIpv6Length),
    ));
    // Chains of one header type pointing at itself ("loops"), of several lengths: 16
    // headers are walked, the 17th is one too many.
    for (kind, name) in [
        (HOP_BY_HOP, "hop_by_hop"),
        (DEST_OPTS, "dest_opts"),
        (ROUTING, "routing"),
    ] {
        for n in [2usize, 16, 17, 40] {
            let mut chain: Vec<u8> = (0..n - 1).flat_map(|_| ext_header(kind, 1)).collect();
            chain.extend_from_slice(&ext_header(UDP, 1));
            chain.extend_from_slice(&udp(b"loop"));
            let expect = (n > 16).then_some(Malformed::Ipv6ExtHeaderChain);
            out.push(case(
                &format!("ipv6/chain_{name}_{n}"),
                with_eth(ETH_IPV6, &ipv6(kind, &chain)),
                expect,
            ));
        }
    }
    // A chain ending in "no next header": nothing follows, nothing is malformed.
    out.push(case(
        "ipv6/no_next_header",
        with_eth(ETH_IPV6, &ipv6(DEST_OPTS, &ext_header(NO_NEXT, 1))),
        None,
    ));
    // An extension header announcing 2048 bytes in a 16-byte payload.
    let mut h = ext_header(UDP, 1);
    h[1] = 255;
    h.extend_from_slice(&udp(&[]));
    out.push(case(
        "ipv6/ext_header_past_end",
        with_eth(ETH_IPV6, &ipv6(DEST_OPTS, &h)),
        Some(Malformed::TruncatedIpv6ExtHeader),
    ));
    // Fragments: first (upper layer parsed), later (not), and a cut fragment header.
    let frag = |offset_units: u16, more: bool| {
        let mut f = vec![UDP, 0];
        f.extend_from_slice(&((offset_units << 3) | u16::from(more)).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 9]);
        f
    };
    let mut p = frag(0, true);
    p.extend_from_slice(&udp(b"first"));
    out.push(case(
        "ipv6/first_fragment",
        with_eth(ETH_IPV6, &ipv6(FRAGMENT, &p)),
        None,
    ));
    let mut p = frag(100, false);
    p.push(0xee);
    out.push(case(
        "ipv6/later_fragment_1_byte",
        with_eth(ETH_IPV6, &ipv6(FRAGMENT, &p)),
        None,
    ));
    // The first fragment's upper layer is cut: the UDP header is incomplete.
    let mut p = frag(0, true);
    p.extend_from_slice(&[0x9c, 0x41, 0]);
    out.push(case(
        "ipv6/first_fragment_cut_udp",
        with_eth(ETH_IPV6, &ipv6(FRAGMENT, &p)),
        Some(Malformed::TruncatedUdp),
    ));
    out.push(case(
        "ipv6/fragment_header_cut",
        with_eth(ETH_IPV6, &ipv6(FRAGMENT, &[UDP, 0, 0, 1])),
        Some(Malformed::TruncatedIpv6ExtHeader),
    ));
    // A fragment header chain of 20 atomic fragments pointing at each other.
    let mut chain: Vec<u8> = (0..19)
        .flat_map(|_| {
            let mut f = frag(0, false);
            f[0] = FRAGMENT;
            f
        })
        .collect();
    chain.extend_from_slice(&frag(0, false));
    chain.extend_from_slice(&udp(b"x"));
    out.push(case(
        "ipv6/chain_fragment_20",
        with_eth(ETH_IPV6, &ipv6(FRAGMENT, &chain)),
        Some(Malformed::Ipv6ExtHeaderChain),
    ));
}

fn tcp_headers(out: &mut Vec<Case>) {
    let v4 = |seg: Vec<u8>| with_eth(ETH_IPV4, &ipv4(TCP, &[], &seg));
    for off in [0u8, 1, 4] {
        let mut seg = tcp(SYN, &[], b"abcd");
        seg[12] = off << 4;
        out.push(case(
            &format!("tcp/data_offset_{off}"),
            v4(seg),
            Some(Malformed::BadTcpDataOffset),
        ));
    }
    let mut seg = tcp(SYN, &[], b"abcd");
    seg[12] = 15 << 4;
    out.push(case(
        "tcp/data_offset_15_short",
        v4(seg),
        Some(Malformed::BadTcpDataOffset),
    ));
    // Options the parser does not read but conntrack does; all are well-formed frames.
    let options: &[(&str, &[u8])] = &[
        ("zero_length_mss", &[2, 0, 5, 180]),
        ("zero_length_wscale", &[3, 0, 7, 1]),
        ("one_length_option", &[8, 1, 1, 1]),
        ("overlong_wscale", &[3, 255, 7, 0]),
        ("overlong_timestamp", &[1, 1, 8, 40, 0, 0, 0, 1]),
        ("kind_without_length", &[1, 1, 1, 3]),
        ("wscale_shift_255", &[3, 3, 255, 0]),
        ("two_wscales", &[3, 3, 14, 3, 3, 1, 1, 1]),
        ("eol_then_garbage", &[0, 3, 0, 0, 0xff, 0xff, 0xff, 0xff]),
        ("all_nop_40", &[1; 40]),
        ("unknown_kind_fills", &[254, 40, 0, 0]),
    ];
    for (name, opt) in options {
        for (flags, fname) in [(SYN, "syn"), (SYN | 0x10, "synack")] {
            out.push(case(
                &format!("tcp_options/{name}/{fname}"),
                v4(tcp(flags, opt, &[])),
                None,
            ));
        }
        out.push(case(
            &format!("tcp_options/{name}/ipv6_syn"),
            with_eth(ETH_IPV6, &ipv6(TCP, &tcp(SYN, opt, &[]))),
            None,
        ));
    }
}

fn vlan_stacks(out: &mut Vec<Case>) {
    let ip = ipv4(UDP, &[], &udp(b"vlan"));
    for depth in [3usize, 4, 16] {
        let mut tpids = vec![ETH_QINQ];
        tpids.extend(std::iter::repeat_n(ETH_VLAN, depth - 1));
        let mut f = eth_tagged(&tpids, ETH_IPV4);
        f.extend_from_slice(&ip);
        out.push(case(
            &format!("vlan/depth_{depth}"),
            f,
            Some(Malformed::TooManyVlans),
        ));
    }
    // Two 802.1Q tags in a row (no 802.1ad outer tag): still two tags, accepted.
    let mut f = eth_tagged(&[ETH_VLAN, ETH_VLAN], ETH_IPV4);
    f.extend_from_slice(&ip);
    out.push(case("vlan/two_8021q", f, None));
    // A tag announcing 802.3 length instead of an EtherType (LLC inside VLAN).
    let mut f = eth_tagged(&[ETH_VLAN], 0x0040);
    f.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0]);
    out.push(case("vlan/llc_inside", f, None));
    // Three tags, the third cut: the depth limit comes first.
    let mut f = eth_tagged(&[ETH_QINQ, ETH_VLAN], ETH_VLAN);
    f.extend_from_slice(&[0, 5]);
    out.push(case("vlan/third_tag_cut", f, Some(Malformed::TooManyVlans)));
    let mut f = eth(ETH_QINQ);
    f.extend_from_slice(&[0, 5]);
    out.push(case("vlan/tag_cut", f, Some(Malformed::TruncatedVlan)));
}

fn runts_and_jumbos(out: &mut Vec<Case>) {
    for len in [0usize, 1, 6, 12, 13] {
        out.push(case(
            &format!("runt/{len}"),
            eth(ETH_IPV4)[..len].to_vec(),
            Some(Malformed::Runt),
        ));
    }
    out.push(case(
        "runt/header_only_ipv4",
        eth(ETH_IPV4),
        Some(Malformed::TruncatedIpv4),
    ));
    out.push(case(
        "runt/header_only_ipv6",
        eth(ETH_IPV6),
        Some(Malformed::TruncatedIpv6),
    ));
    out.push(case(
        "runt/header_only_arp",
        eth(ETH_ARP),
        Some(Malformed::TruncatedArp),
    ));
    out.push(case("runt/header_only_unknown", eth(0x88b5), None));
    // Jumbo frames: 9000 bytes of IP (MTU 9000), and one tagged.
    let big = vec![0x5a; 9000 - 28];
    out.push(case(
        "jumbo/ipv4_udp_9000",
        with_eth(ETH_IPV4, &ipv4(UDP, &[], &udp(&big))),
        None,
    ));
    let mut f = eth_tagged(&[ETH_VLAN], ETH_IPV4);
    f.extend_from_slice(&ipv4(UDP, &[], &udp(&big)));
    out.push(case("jumbo/vlan_ipv4_udp_9000", f, None));
    // A jumbo whose IP total length claims more than the frame holds.
    let mut ip = ipv4(UDP, &[], &udp(&big));
    ip[2..4].copy_from_slice(&9100u16.to_be_bytes());
    out.push(case(
        "jumbo/ipv4_total_past_frame",
        with_eth(ETH_IPV4, &ip),
        Some(Malformed::BadIpv4Length),
    ));
}

fn arp_and_nd(out: &mut Vec<Case>) {
    // Non-Ethernet hardware type and an opcode above 255: not looked into, not malformed.
    let mut a = arp_request();
    a[1] = 6; // IEEE 802
    out.push(case("arp/hw_ieee802", with_eth(ETH_ARP, &a), None));
    let mut a = arp_request();
    a[6..8].copy_from_slice(&0x01ffu16.to_be_bytes());
    out.push(case("arp/opcode_511", with_eth(ETH_ARP, &a), None));
    // Address lengths announcing more than the frame holds.
    let mut a = arp_request();
    a[4] = 255;
    out.push(case(
        "arp/hlen_255",
        with_eth(ETH_ARP, &a),
        Some(Malformed::TruncatedArp),
    ));
    let nd = |opts: &[u8]| with_eth(ETH_IPV6, &ipv6(ICMPV6, &neighbour_solicitation(opts)));
    out.push(case(
        "nd/option_length_0",
        nd(&[1, 0, 0, 0, 0, 0, 0, 0]),
        Some(Malformed::BadNdOption),
    ));
    let mut two = sll_option();
    two.extend_from_slice(&sll_option());
    out.push(case(
        "nd/two_source_ll_options",
        nd(&two),
        Some(Malformed::BadNdOption),
    ));
    out.push(case(
        "nd/option_past_end",
        nd(&[1, 4, 0, 0, 0, 0, 0, 0]),
        Some(Malformed::BadNdOption),
    ));
    out.push(case(
        "nd/unknown_option",
        nd(&[200, 1, 0, 0, 0, 0, 0, 0]),
        None,
    ));
}

/// Every case, in a fixed order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for b in bases() {
        truncations(&b, &mut out);
    }
    ipv4_headers(&mut out);
    ipv6_headers(&mut out);
    tcp_headers(&mut out);
    vlan_stacks(&mut out);
    runts_and_jumbos(&mut out);
    arp_and_nd(&mut out);
    out
}

/// The committed pcap, relative to the tests crate.
pub const PCAP_PATH: &str = "data/malformed.pcap";

/// The bytes of the committed pcap: [`cases`] written by [`crate::pcap::write`].
pub fn pcap_bytes() -> Vec<u8> {
    let frames: Vec<Vec<u8>> = cases().into_iter().map(|c| c.frame).collect();
    crate::pcap::write(&frames)
}
