//! Executor tests: rewrites checked against etherparse's full checksum computation, VLAN
//! push/pop, copies and ownership, conntrack hand-off, and property tests.

use super::*;
use crate::action::NatSpec;
use crate::action::UserspaceAction;
use crate::action::set::apply;
use crate::action::{Masked, SetEth, SetIpv4, SetIpv6, SetL4};
use crate::flow::key::{FRAG_ANY, VLAN_CFI, ct_state};
use crate::packet::Offload;
use crate::wire::{checksum, ethertype, ipproto, vlan};
use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};
use proptest::prelude::*;

const VLAN_LEN: usize = vlan::HEADER_LEN;

fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Records what the executor asked for.
#[derive(Default)]
struct Recorder {
    out: Vec<(u32, Vec<u8>)>,
    recirc: Vec<(Vec<u8>, PacketMeta)>,
    drops: Vec<ActionDrop>,
    copies: usize,
    recycled: usize,
    ct: Option<MarkEstablished>,
    upcalls: Vec<(Vec<u8>, String)>,
}

/// A conntrack stand-in for the executor tests: marks every packet `trk|est` in the zone.
struct MarkEstablished;
impl ConntrackHook for MarkEstablished {
    fn execute(
        &self,
        _: &mut Packet,
        _: &Headers,
        meta: &mut PacketMeta,
        action: &CtAction,
        _: u64,
    ) {
        meta.ct_state = ct_state::TRK | ct_state::EST;
        meta.ct_zone = action.zone;
    }
}

impl ExecEnv for Recorder {
    fn output(&mut self, port: u32, packet: Packet) {
        self.out.push((port, packet.data().to_vec()));
    }
    fn copy(&mut self, packet: &Packet) -> Packet {
        self.copies += 1;
        packet.clone()
    }
    fn recirculate(&mut self, packet: Packet, meta: PacketMeta) {
        self.recirc.push((packet.data().to_vec(), meta));
    }
    fn drop_packet(&mut self, _: Packet, reason: ActionDrop) {
        self.drops.push(reason);
    }
    fn recycle(&mut self, _: Packet) {
        self.recycled += 1;
    }
    fn conntrack(&self) -> Option<&dyn ConntrackHook> {
        self.ct.as_ref().map(|c| c as &dyn ConntrackHook)
    }
    fn userspace(&mut self, packet: &Packet, _: &PacketMeta, action: &UserspaceAction) {
        self.upcalls
            .push((packet.data().to_vec(), action.desc.clone()));
    }
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

/// Ethernet + IPv4 (10.0.0.1 → 10.0.0.2, ttl 64) + TCP 1234 → 80 + "data", checksums valid.
const TCP4: [u8; 58] = [
    0x02, 0, 0, 0, 0, 0x0b, 0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x00, // eth
    0x45, 0x00, 0x00, 0x2c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x06, 0x66, 0xc9, 10, 0, 0, 1, 10, 0, 0,
    2, // ipv4
    0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0x00, 0x9d, 0xf6, 0,
    0, // tcp
    b'd', b'a', b't', b'a',
];

fn tcp4_headers() -> Headers {
    Headers {
        l3: 14,
        l4: 34,
        dl_type: ethertype::IPV4,
        nw_proto: ipproto::TCP,
        nw_frag: 0,
    }
}

fn run(frame: &[u8], headers: Headers, actions: &[DpAction]) -> Recorder {
    let mut env = Recorder::default();
    run_in(&mut env, Packet::from_bytes(frame), headers, actions);
    env
}

fn run_in(env: &mut Recorder, p: Packet, headers: Headers, actions: &[DpAction]) {
    execute(env, p, &headers, &PacketMeta::new(1), actions, 0);
}

/// Checks IPv4 header and TCP/UDP/ICMPv6 checksums against etherparse's full recomputation.
fn assert_checksums_valid(frame: &[u8]) {
    let h = PacketHeaders::from_ethernet_slice(frame).expect("frame parses");
    let payload = h.payload.slice();
    match (&h.net, &h.transport) {
        (Some(NetHeaders::Ipv4(ip, _)), t) => {
            assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "ipv4 header");
            match t {
                Some(TransportHeader::Tcp(tcp)) => {
                    assert_eq!(tcp.checksum, tcp.calc_checksum_ipv4(ip, payload).unwrap())
                }
                Some(TransportHeader::Udp(udp)) if udp.checksum != 0 => {
                    assert_eq!(udp.checksum, udp.calc_checksum_ipv4(ip, payload).unwrap())
                }
                _ => {}
            }
        }
        (Some(NetHeaders::Ipv6(ip, _)), t) => match t {
            Some(TransportHeader::Tcp(tcp)) => {
                assert_eq!(tcp.checksum, tcp.calc_checksum_ipv6(ip, payload).unwrap())
            }
            Some(TransportHeader::Udp(udp)) => {
                assert_eq!(udp.checksum, udp.calc_checksum_ipv6(ip, payload).unwrap())
            }
            Some(TransportHeader::Icmpv6(icmp)) => {
                let c = icmp
                    .icmp_type
                    .calc_checksum(ip.source, ip.destination, payload)
                    .unwrap();
                assert_eq!(icmp.checksum, c)
            }
            _ => {}
        },
        _ => panic!("not IP"),
    }
}

fn set_v4(f: impl FnOnce(&mut SetIpv4)) -> DpAction {
    let mut s = SetIpv4::default();
    f(&mut s);
    DpAction::SetIpv4(s)
}

#[test]
fn userspace_sends_the_packet_as_modified_so_far_and_later_actions_still_run() {
    let up = DpAction::Userspace(std::sync::Arc::new(UserspaceAction {
        desc: "controller(reason=1)".into(),
        recirc_id: 0,
        cookie: vec![1, 2, 3],
        meter: None,
    }));
    let set = set_v4(|s| {
        s.ttl = Masked {
            value: 9,
            mask: 0xff,
        }
    });
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[set, up.clone(), DpAction::Output(2)],
    );
    assert_eq!(env.upcalls.len(), 1);
    assert_eq!(env.upcalls[0].1, "controller(reason=1)");
    assert_eq!(
        env.upcalls[0].0[22], 9,
        "the TTL set before it is in the copy"
    );
    assert_eq!(env.out.len(), 1, "the output after it still happens");
    assert!(env.drops.is_empty());
    // Alone, it is not a drop: the packet went somewhere.
    let env = run(&TCP4, tcp4_headers(), &[up]);
    assert_eq!(env.upcalls.len(), 1);
    assert!(env.drops.is_empty());
    assert_eq!(env.recycled, 1);
}

#[test]
fn fixture_is_valid() {
    assert_checksums_valid(&TCP4);
}

#[test]
fn set_eth_writes_only_masked_bits() {
    let set = SetEth {
        src: Masked {
            value: [0xff; 6],
            mask: [0, 0, 0, 0, 0, 0x0f],
        },
        dst: Masked {
            value: MAC_A,
            mask: [0xff; 6],
        },
    };
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[DpAction::SetEth(set), DpAction::Output(2)],
    );
    let (port, f) = &env.out[0];
    assert_eq!(*port, 2);
    assert_eq!(f[0..6], MAC_A);
    assert_eq!(f[6..12], [0x02, 0, 0, 0, 0, 0x0f]);
    assert_eq!(f[12..], TCP4[12..]);
}

#[test]
fn set_ipv4_addresses_updates_ip_and_tcp_checksums() {
    let act = set_v4(|s| {
        s.src = Masked {
            value: 0xc0a8_0101,
            mask: !0,
        };
        s.dst = Masked {
            value: 0x0000_0063,
            mask: 0x0000_00ff,
        };
    });
    let env = run(&TCP4, tcp4_headers(), &[act, DpAction::Output(1)]);
    let f = &env.out[0].1;
    assert_eq!(f[26..30], [192, 168, 1, 1]);
    assert_eq!(f[30..34], [10, 0, 0, 0x63]);
    assert_checksums_valid(f);
}

#[test]
fn set_ipv4_tos_and_ttl_update_header_checksum() {
    let act = set_v4(|s| {
        s.tos = Masked {
            value: 0xb8,
            mask: 0xfc,
        };
        s.ttl = Masked {
            value: 7,
            mask: 0xff,
        };
    });
    let env = run(&TCP4, tcp4_headers(), &[act, DpAction::Output(1)]);
    let f = &env.out[0].1;
    assert_eq!((f[15], f[22]), (0xb8, 7));
    assert_eq!(f[34..], TCP4[34..], "TCP untouched");
    assert_checksums_valid(f);
}

fn udp4(csum: bool) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(5000, 53)
        .write(&mut v, b"hello")
        .unwrap();
    if !csum {
        v[40] = 0;
        v[41] = 0;
    }
    v
}

fn udp4_headers() -> Headers {
    Headers {
        nw_proto: ipproto::UDP,
        ..tcp4_headers()
    }
}

#[test]
fn udp_zero_checksum_stays_zero_and_set_checksums_stay_valid() {
    let act = set_v4(|s| {
        s.dst = Masked {
            value: 0x0b0b_0b0b,
            mask: !0,
        }
    });
    let env = run(
        &udp4(false),
        udp4_headers(),
        &[act.clone(), DpAction::Output(1)],
    );
    assert_eq!(env.out[0].1[40..42], [0, 0]);
    assert_checksums_valid(&env.out[0].1);
    let env = run(&udp4(true), udp4_headers(), &[act, DpAction::Output(1)]);
    assert_ne!(env.out[0].1[40..42], [0, 0]);
    assert_checksums_valid(&env.out[0].1);
}

#[test]
fn set_l4_ports_tcp_and_udp() {
    let set = SetL4 {
        proto: ipproto::TCP,
        src: Masked {
            value: 4321,
            mask: !0,
        },
        dst: Masked {
            value: 8080,
            mask: !0,
        },
    };
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[DpAction::SetL4(set), DpAction::Output(1)],
    );
    let f = &env.out[0].1;
    assert_eq!(be16(f, 34), 4321);
    assert_eq!(be16(f, 36), 8080);
    assert_checksums_valid(f);
    // A UDP set on a TCP packet is ignored.
    let wrong = SetL4 {
        proto: ipproto::UDP,
        ..set
    };
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[DpAction::SetL4(wrong), DpAction::Output(1)],
    );
    assert_eq!(env.out[0].1, TCP4);
    let set = SetL4 {
        proto: ipproto::UDP,
        ..set
    };
    let env = run(
        &udp4(true),
        udp4_headers(),
        &[DpAction::SetL4(set), DpAction::Output(1)],
    );
    assert_eq!(be16(&env.out[0].1, 36), 8080);
    assert_checksums_valid(&env.out[0].1);
}

#[test]
fn set_l4_skips_later_fragments() {
    let set = SetL4 {
        proto: ipproto::TCP,
        src: Masked { value: 1, mask: !0 },
        dst: Masked::default(),
    };
    let h = Headers {
        nw_frag: FRAG_ANY | FRAG_LATER,
        ..tcp4_headers()
    };
    let env = run(&TCP4, h, &[DpAction::SetL4(set), DpAction::Output(1)]);
    assert_eq!(env.out[0].1, TCP4);
}

#[test]
fn sctp_port_rewrite_recomputes_crc32c() {
    // Ethernet + IPv4 (proto 132) + SCTP common header + 4-byte chunk stub.
    let mut f = TCP4[..34].to_vec();
    f[23] = ipproto::SCTP;
    f[16..18].copy_from_slice(&36u16.to_be_bytes()); // total length 20 + 16
    f.extend_from_slice(&[0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 7, 0, 0, 0, 0, 1, 2, 3, 4]);
    let crc = checksum::crc32c(&f[34..]);
    f[42..46].copy_from_slice(&crc.to_le_bytes());
    f.extend_from_slice(&[0xee; 6]); // Ethernet padding beyond the IP length
    let set = SetL4 {
        proto: ipproto::SCTP,
        src: Masked::default(),
        dst: Masked {
            value: 9999,
            mask: !0,
        },
    };
    let h = Headers {
        nw_proto: ipproto::SCTP,
        ..tcp4_headers()
    };
    let env = run(&f, h, &[DpAction::SetL4(set), DpAction::Output(1)]);
    let mut out = env.out[0].1.clone();
    assert_eq!(be16(&out, 36), 9999);
    let stored = u32::from_le_bytes(out[42..46].try_into().unwrap());
    out[42..46].fill(0);
    assert_eq!(
        stored,
        checksum::crc32c(&out[34..50]),
        "CRC over IP payload only"
    );
}

fn tcp6() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6([0xfe; 16], [0x20; 16], 64)
        .tcp(1000, 2000, 1, 100)
        .write(&mut v, b"payload")
        .unwrap();
    v
}

fn v6_headers(proto: u8) -> Headers {
    Headers {
        l3: 14,
        l4: 54,
        dl_type: ethertype::IPV6,
        nw_proto: proto,
        nw_frag: 0,
    }
}

#[test]
fn set_ipv6_fields_and_l4_checksums() {
    let mut dst = [0x20; 16];
    dst[15] = 0x99;
    let set = SetIpv6 {
        src: Masked::default(),
        dst: Masked {
            value: dst,
            mask: [0xff; 16],
        },
        tclass: Masked {
            value: 0x28,
            mask: 0xff,
        },
        hlimit: Masked {
            value: 3,
            mask: 0xff,
        },
        label: Masked {
            value: 0xabcde,
            mask: 0xfffff,
        },
    };
    let env = run(
        &tcp6(),
        v6_headers(ipproto::TCP),
        &[DpAction::SetIpv6(set), DpAction::Output(1)],
    );
    let f = &env.out[0].1;
    assert_eq!(be32(f, 14), 0x6000_0000 | (0x28 << 20) | 0xabcde);
    assert_eq!(f[21], 3);
    assert_eq!(f[38..54], dst);
    assert_checksums_valid(f);

    let mut icmp = Vec::new();
    PacketBuilder::ethernet2(MAC_A, MAC_B)
        .ipv6([0xfe; 16], [0x20; 16], 64)
        .icmpv6_echo_request(7, 1)
        .write(&mut icmp, b"ping")
        .unwrap();
    let env = run(
        &icmp,
        v6_headers(ipproto::ICMPV6),
        &[DpAction::SetIpv6(set), DpAction::Output(1)],
    );
    assert_checksums_valid(&env.out[0].1);
}

#[test]
fn partial_checksum_tracks_pseudo_header_only() {
    let mut f = TCP4;
    let pseudo = checksum::pseudo_header_v4(0x0a00_0001, 0x0a00_0002, 6, 24);
    f[50..52].copy_from_slice(&checksum::fold(pseudo).to_be_bytes());
    let mut p = Packet::from_bytes(&f);
    p.offload = Offload {
        needs_csum: true,
        csum_start: 34,
        csum_offset: 16,
        ..Offload::default()
    };
    let acts = [
        set_v4(|s| {
            s.dst = Masked {
                value: 0x0a00_0009,
                mask: !0,
            }
        }),
        DpAction::SetL4(SetL4 {
            proto: ipproto::TCP,
            src: Masked { value: 7, mask: !0 },
            dst: Masked::default(),
        }),
        DpAction::Output(1),
    ];
    let mut env = Recorder::default();
    run_in(&mut env, p, tcp4_headers(), &acts);
    let out = &env.out[0].1;
    let want = checksum::pseudo_header_v4(0x0a00_0001, 0x0a00_0009, 6, 24);
    assert_eq!(be16(out, 50), checksum::fold(want));
}

#[test]
fn push_vlan_on_untagged_and_tagged_then_set_uses_shifted_offsets() {
    let push = DpAction::PushVlan {
        tpid: ethertype::VLAN,
        tci: 0x2064,
    };
    let ttl = set_v4(|s| {
        s.ttl = Masked {
            value: 9,
            mask: 0xff,
        }
    });
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[push.clone(), ttl, DpAction::Output(1)],
    );
    let f = &env.out[0].1;
    assert_eq!(f.len(), TCP4.len() + 4);
    assert_eq!(f[12..18], [0x81, 0x00, 0x20, 0x64, 0x08, 0x00]);
    assert_eq!(f[26], 9, "ttl written at the shifted L3 offset");
    assert_checksums_valid(f);
    // Pushing onto a tagged frame adds an outer tag (QinQ).
    let qinq = DpAction::PushVlan {
        tpid: ethertype::QINQ,
        tci: 5 | VLAN_CFI,
    };
    let mut env = Recorder::default();
    run_in(
        &mut env,
        Packet::from_bytes(f),
        tcp4_headers(),
        &[qinq, DpAction::Output(1)],
    );
    assert_eq!(
        env.out[0].1[12..20],
        [0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x20, 0x64]
    );
}

#[test]
fn pop_vlan_on_tagged_and_untagged() {
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 10,
            },
            DpAction::Output(1),
        ],
    );
    let tagged = env.out[0].1.clone();
    let h = Headers {
        l3: 18,
        l4: 38,
        ..tcp4_headers()
    };
    let tos = set_v4(|s| {
        s.tos = Masked {
            value: 0x10,
            mask: 0xff,
        }
    });
    let env = run(&tagged, h, &[DpAction::PopVlan, tos, DpAction::Output(1)]);
    let f = &env.out[0].1;
    assert_eq!(f.len(), TCP4.len());
    assert_eq!(f[15], 0x10, "tos written at the shifted-back offset");
    assert_checksums_valid(f);
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[DpAction::PopVlan, DpAction::Output(1)],
    );
    assert_eq!(env.out[0].1, TCP4, "pop on untagged is a no-op");
}

#[test]
fn modify_vlan_rewrites_in_place_and_pushes_when_untagged() {
    let modify = [
        DpAction::PopVlan,
        DpAction::PushVlan {
            tpid: 0x8100,
            tci: 0xa00c,
        },
        DpAction::Output(1),
    ];
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[
            DpAction::PushVlan {
                tpid: 0x8100,
                tci: 10,
            },
            DpAction::Output(1),
        ],
    );
    let tagged = env.out[0].1.clone();
    let mut p = Packet::from_bytes(&tagged);
    let head = p.headroom();
    p.offload.csum_start = 0;
    let mut env = Recorder::default();
    run_in(
        &mut env,
        p,
        Headers {
            l3: 18,
            l4: 38,
            ..tcp4_headers()
        },
        &modify,
    );
    assert_eq!(env.out[0].1.len(), tagged.len());
    assert_eq!(env.out[0].1[12..16], [0x81, 0x00, 0xa0, 0x0c]);
    assert_eq!(head, HEADROOM_FOR_TEST);
    let env = run(&TCP4, tcp4_headers(), &modify);
    assert_eq!(env.out[0].1[12..18], [0x81, 0x00, 0xa0, 0x0c, 0x08, 0x00]);
}

const HEADROOM_FOR_TEST: usize = crate::packet::HEADROOM;

#[test]
fn push_vlan_without_headroom_drops() {
    let mut p = Packet::from_bytes(&TCP4);
    let push = DpAction::PushVlan {
        tpid: 0x8100,
        tci: 1,
    };
    // Consume the headroom with pushes until none is left.
    let mut h = tcp4_headers();
    while p.headroom() >= VLAN_LEN {
        assert!(push_vlan(&mut p, &mut h, 0x8100, 1));
    }
    let mut env = Recorder::default();
    run_in(&mut env, p, h, &[push, DpAction::Output(1)]);
    assert_eq!(env.drops, [ActionDrop::NoHeadroom]);
    assert!(env.out.is_empty());
}

#[test]
fn outputs_copy_only_when_needed() {
    let env = run(&TCP4, tcp4_headers(), &[DpAction::Output(1)]);
    assert_eq!((env.copies, env.out.len()), (0, 1));
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[
            DpAction::Output(1),
            DpAction::Output(2),
            DpAction::Output(3),
        ],
    );
    assert_eq!(env.copies, 2);
    assert_eq!(env.out.iter().map(|o| o.0).collect::<Vec<_>>(), [1, 2, 3]);
    // An output before a rewrite keeps the original bytes.
    let ttl = set_v4(|s| {
        s.ttl = Masked {
            value: 1,
            mask: 0xff,
        }
    });
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[DpAction::Output(1), ttl.clone(), DpAction::Output(2)],
    );
    assert_eq!(env.out[0].1, TCP4);
    assert_eq!(env.out[1].1[22], 1);
    // Trailing rewrites after the last output: the buffer is recycled, not counted as a drop.
    let env = run(&TCP4, tcp4_headers(), &[DpAction::Output(1), ttl]);
    assert_eq!((env.recycled, env.drops.len(), env.copies), (1, 0, 1));
}

#[test]
fn empty_or_outputless_actions_drop() {
    let env = run(&TCP4, tcp4_headers(), &[]);
    assert_eq!(env.drops, [ActionDrop::FlowDrop]);
    let env = run(&TCP4, tcp4_headers(), &[DpAction::PopVlan]);
    assert_eq!(env.drops, [ActionDrop::FlowDrop]);
}

#[test]
fn ct_needs_a_hook_and_recirc_carries_its_result() {
    let ct = CtAction {
        zone: 7,
        nat: Some(NatSpec {
            src: None,
            addrs: None,
            ports: None,
        }),
        ..CtAction::default()
    };
    let acts = [DpAction::Ct(ct), DpAction::Recirc(3)];
    let env = run(&TCP4, tcp4_headers(), &acts);
    assert_eq!(env.drops, [ActionDrop::NoConntrack]);
    assert!(env.recirc.is_empty());
    let mut env = Recorder {
        ct: Some(MarkEstablished),
        ..Recorder::default()
    };
    run_in(&mut env, Packet::from_bytes(&TCP4), tcp4_headers(), &acts);
    let (_, meta) = &env.recirc[0];
    assert_eq!(
        (meta.recirc_id, meta.ct_state, meta.ct_zone, meta.in_port),
        (3, ct_state::TRK | ct_state::EST, 7, 1)
    );
    // ct_clear before recirc forgets it again.
    let acts = [
        DpAction::Ct(ct),
        DpAction::CtClear,
        DpAction::Recirc(4),
        DpAction::Output(2),
    ];
    let mut env = Recorder {
        ct: Some(MarkEstablished),
        ..Recorder::default()
    };
    run_in(&mut env, Packet::from_bytes(&TCP4), tcp4_headers(), &acts);
    assert_eq!(env.recirc[0].1.ct_state, 0);
    assert_eq!((env.copies, env.out.len()), (1, 1));
}

#[test]
fn truncated_headers_are_left_alone() {
    let short = &TCP4[..40]; // TCP header cut short
    let acts = [
        set_v4(|s| s.src = Masked { value: 1, mask: !0 }),
        DpAction::SetL4(SetL4 {
            proto: 6,
            src: Masked { value: 1, mask: !0 },
            dst: Masked::default(),
        }),
        DpAction::Output(1),
    ];
    let env = run(short, tcp4_headers(), &acts);
    assert_eq!(
        env.out[0].1[26..30],
        [0, 0, 0, 1],
        "IP header complete: rewritten"
    );
    assert_eq!(
        env.out[0].1[34..40],
        TCP4[34..40],
        "TCP header truncated: untouched"
    );
    let env = run(&TCP4[..20], tcp4_headers(), &acts);
    assert_eq!(env.out[0].1, TCP4[..20]);
}

fn arb_masked32() -> impl Strategy<Value = Masked<u32>> {
    (
        any::<u32>(),
        prop_oneof![Just(0u32), Just(!0u32), any::<u32>()],
    )
        .prop_map(|(value, mask)| Masked { value, mask })
}

fn arb_masked16() -> impl Strategy<Value = Masked<u16>> {
    (
        any::<u16>(),
        prop_oneof![Just(0u16), Just(!0u16), any::<u16>()],
    )
        .prop_map(|(value, mask)| Masked { value, mask })
}

fn arb_masked128() -> impl Strategy<Value = Masked<[u8; 16]>> {
    (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(value, mask)| Masked { value, mask })
}

proptest! {
    /// IPv4 + TCP/UDP: any masked rewrite of addresses, tos, ttl and ports leaves every
    /// checksum equal to a full recomputation.
    #[test]
    fn ipv4_rewrites_keep_checksums_exact(
        udp in any::<bool>(), src in arb_masked32(), dst in arb_masked32(),
        tos in any::<(u8, u8)>(), ttl in any::<(u8, u8)>(),
        sp in arb_masked16(), dp in arb_masked16(),
        ip in any::<([u8; 4], [u8; 4])>(), ports in any::<(u16, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4(ip.0, ip.1, 64);
        let mut f = Vec::new();
        let proto = if udp {
            b.udp(ports.0, ports.1).write(&mut f, &payload).unwrap();
            ipproto::UDP
        } else {
            b.tcp(ports.0, ports.1, 9, 1000).write(&mut f, &payload).unwrap();
            ipproto::TCP
        };
        let h = Headers { nw_proto: proto, ..tcp4_headers() };
        let acts = [
            DpAction::SetIpv4(SetIpv4 {
                src, dst,
                tos: Masked { value: tos.0, mask: tos.1 },
                ttl: Masked { value: ttl.0, mask: ttl.1 },
            }),
            DpAction::SetL4(SetL4 { proto, src: sp, dst: dp }),
            DpAction::Output(1),
        ];
        let env = run(&f, h, &acts);
        let out = &env.out[0].1;
        prop_assert_eq!(be32(out, 26), apply(u32::from_be_bytes(ip.0), &src));
        prop_assert_eq!(be16(out, 36), apply(ports.1, &dp));
        assert_checksums_valid(out);
    }

    /// IPv6 + TCP/UDP: address and port rewrites keep L4 checksums exact.
    #[test]
    fn ipv6_rewrites_keep_checksums_exact(
        udp in any::<bool>(), src in arb_masked128(), dst in arb_masked128(),
        sp in arb_masked16(), addrs in any::<([u8; 16], [u8; 16])>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let b = PacketBuilder::ethernet2(MAC_A, MAC_B).ipv6(addrs.0, addrs.1, 64);
        let mut f = Vec::new();
        let proto = if udp {
            b.udp(1, 2).write(&mut f, &payload).unwrap();
            ipproto::UDP
        } else {
            b.tcp(1, 2, 9, 1000).write(&mut f, &payload).unwrap();
            ipproto::TCP
        };
        let acts = [
            DpAction::SetIpv6(SetIpv6 { src, dst, ..SetIpv6::default() }),
            DpAction::SetL4(SetL4 { proto, src: sp, dst: Masked::default() }),
            DpAction::Output(1),
        ];
        let env = run(&f, v6_headers(proto), &acts);
        assert_checksums_valid(&env.out[0].1);
    }
}

#[test]
fn clone_runs_on_a_copy_and_check_pkt_len_picks_a_branch_by_frame_length() {
    let ttl = |v| {
        set_v4(|s| {
            s.ttl = Masked {
                value: v,
                mask: 0xff,
            }
        })
    };
    // clone(set ttl 9, 1), 2: port 1 sees TTL 9, port 2 the packet as it was.
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[
            DpAction::Clone(vec![ttl(9), DpAction::Output(1)]),
            DpAction::Output(2),
        ],
    );
    assert_eq!(env.out.len(), 2);
    assert_eq!((env.out[0].0, env.out[0].1[22]), (1, 9));
    assert_eq!((env.out[1].0, env.out[1].1[22]), (2, 64));
    assert!(env.drops.is_empty());
    // The frame is 58 bytes: larger than 57, not larger than 58.
    for (len, port) in [(57u16, 1u32), (58, 2)] {
        let check = DpAction::CheckPktLen {
            len,
            greater: vec![ttl(1), DpAction::Output(1)],
            less_eq: vec![DpAction::Output(2)],
        };
        let env = run(&TCP4, tcp4_headers(), &[check.clone(), DpAction::Output(3)]);
        let ports: Vec<u32> = env.out.iter().map(|o| o.0).collect();
        assert_eq!(ports, vec![port, 3], "size={len}");
        assert_eq!(env.out[1].1[22], 64, "the branch ran on a copy");
        let env = run(&TCP4, tcp4_headers(), &[check]);
        assert_eq!(env.out.len(), 1);
        assert_eq!(
            env.copies, 0,
            "as the last action the branch takes the packet"
        );
    }
    assert_eq!(
        crate::action::format_actions(&[
            DpAction::Clone(vec![DpAction::CtClear, DpAction::Output(1)]),
            DpAction::CheckPktLen {
                len: 200,
                greater: vec![DpAction::Output(2)],
                less_eq: vec![],
            }
        ]),
        "clone(ct_clear,1),check_pkt_len(size=200,gt(2),le(drop))"
    );
}

#[test]
fn a_meter_passes_within_its_rate_and_drops_beyond_it() {
    use crate::meter::{BandConfig, BandKind, Meter, MeterRef, MeterUnit};
    // One packet per second with a burst of one: the first passes, the next is dropped.
    let band = BandConfig {
        kind: BandKind::Drop,
        rate: 1,
        burst: 1,
    };
    let m = MeterRef {
        id: 1,
        meter: std::sync::Arc::new(Meter::new(
            MeterUnit::Pktps,
            &[band],
            crate::meter::clock_ns(),
        )),
    };
    let acts = [DpAction::Meter(m.clone()), DpAction::Output(2)];
    let env = run(&TCP4, tcp4_headers(), &acts);
    assert_eq!((env.out.len(), env.drops.len()), (1, 0));
    let env = run(&TCP4, tcp4_headers(), &acts);
    assert_eq!(
        (env.out.len(), env.drops.as_slice()),
        (0, &[ActionDrop::Meter][..])
    );
    // A copy sent before the meter stays sent; the rest is recycled, not counted as a drop.
    let env = run(
        &TCP4,
        tcp4_headers(),
        &[
            DpAction::Output(1),
            DpAction::Meter(m.clone()),
            DpAction::Output(2),
        ],
    );
    assert_eq!((env.out.len(), env.drops.len(), env.recycled), (1, 0, 1));
    let st = m.meter.stats();
    assert_eq!((st.packets, st.bands[0].0), (3, 2));
    assert_eq!(crate::action::format_actions(&acts), "meter(0),2");
    // A controller meter drops only the copy for the slow path.
    let up = DpAction::Userspace(std::sync::Arc::new(UserspaceAction {
        desc: "controller(reason=1)".into(),
        recirc_id: 0,
        cookie: Vec::new(),
        meter: Some(m),
    }));
    let env = run(&TCP4, tcp4_headers(), &[up.clone(), DpAction::Output(2)]);
    assert_eq!((env.upcalls.len(), env.out.len()), (0, 1));
    assert_eq!(
        crate::action::format_actions(&[up]),
        "sample(sample=100.0%,actions(meter(0),userspace(pid=0,controller(reason=1))))"
    );
}
