//! Fuzz target: datapath action execution (`fastpath::action::execute`) on arbitrary frames.
//!
//! Structured input (`arbitrary`): a frame, up to 16 actions (output, recirc, Ethernet, IPv4,
//! IPv6 and L4 masked sets, VLAN push/pop, `ct` with commit, zone and NAT into tiny ranges,
//! `ct_clear`), whether the datapath has conntrack, and how the parse is handed to the
//! executor: as the datapath does (`flow::extract`'s offsets, malformed frames included) or as
//! arbitrary offsets (the executor's contract is to skip a rewrite whose header is not there).
//!
//! Checked beyond "never panics":
//! - every packet is accounted for exactly once: handed on by the last output/recirc, or
//!   recycled after its copies went out, or dropped with a reason; copies equal the earlier
//!   outputs and recircs;
//! - frames change length only by whole VLAN tags;
//! - with extract's offsets, a frame whose checksums were valid before (the target makes them
//!   valid with an independent oracle) has valid IPv4 and TCP/UDP/ICMP/ICMPv6 checksums in
//!   every copy that leaves: incremental updates equal a full computation, and a UDP checksum
//!   of zero stays zero.

#![no_main]

#[path = "common/checks.rs"]
mod checks;

use arbitrary::Arbitrary;
use fastpath::action::{
    ActionDrop, ConntrackHook, CtAction, DpAction, ExecEnv, Headers, Masked, NatSpec, PacketMeta,
    SetEth, SetIpv4, SetIpv6, SetL4, execute,
};
use fastpath::conntrack::{Conntrack, ConntrackConfig};
use fastpath::flow::extract::extract_fresh;
use fastpath::flow::key::{ethertype, ipproto};
use fastpath::packet::Packet;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Arbitrary, Debug)]
struct Input {
    with_conntrack: bool,
    fix_checksums: bool,
    keep_udp_zero: bool,
    /// `Some`: hand the executor these offsets instead of extract's.
    raw_headers: Option<RawHeaders>,
    actions: Vec<Act>,
    frame: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct RawHeaders {
    l3: u16,
    l4: u16,
    ipv6: bool,
    nw_proto: u8,
    nw_frag: u8,
}

#[derive(Arbitrary, Debug)]
enum Act {
    Output(u8),
    Recirc(u8),
    SetEth([u8; 6], [u8; 6], [u8; 6], [u8; 6]),
    SetIpv4 {
        src: (u32, u32),
        dst: (u32, u32),
        tos: (u8, u8),
        ttl: (u8, u8),
    },
    SetIpv6 {
        src: ([u8; 16], [u8; 16]),
        dst: ([u8; 16], [u8; 16]),
        tclass: (u8, u8),
        hlimit: (u8, u8),
        label: (u32, u32),
    },
    SetL4 {
        proto: u8,
        src: (u16, u16),
        dst: (u16, u16),
    },
    PushVlan {
        qinq: bool,
        tci: u16,
    },
    PopVlan,
    Ct {
        commit: bool,
        zone: u8,
        nat: Option<Nat>,
    },
    CtClear,
}

#[derive(Arbitrary, Debug)]
struct Nat {
    /// `None`: apply an existing binding; `Some(true)` SNAT, `Some(false)` DNAT.
    src: Option<bool>,
    /// Last byte of a one- or two-address range in 192.0.2.0/24 or 2001:db8::/64.
    addr: Option<(u8, bool)>,
    ports: Option<(u16, u8)>,
    v6: bool,
}

fn proto_of(sel: u8) -> u8 {
    match sel % 4 {
        0 => ipproto::TCP,
        1 => ipproto::UDP,
        2 => ipproto::SCTP,
        _ => sel,
    }
}

fn addr(v6: bool, last: u8) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(last)))
    } else {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }
}

/// A masked value from a (value, mask) pair.
fn m<T>((value, mask): (T, T)) -> Masked<T> {
    Masked { value, mask }
}

fn to_action(a: &Act) -> DpAction {
    match *a {
        Act::Output(p) => DpAction::Output(u32::from(p % 4)),
        Act::Recirc(id) => DpAction::Recirc(u32::from(id)),
        Act::SetEth(src, src_m, dst, dst_m) => DpAction::SetEth(SetEth {
            src: m((src, src_m)),
            dst: m((dst, dst_m)),
        }),
        Act::SetIpv4 { src, dst, tos, ttl } => DpAction::SetIpv4(SetIpv4 {
            src: m(src),
            dst: m(dst),
            tos: m(tos),
            ttl: m(ttl),
        }),
        Act::SetIpv6 {
            src,
            dst,
            tclass,
            hlimit,
            label,
        } => DpAction::SetIpv6(SetIpv6 {
            src: m(src),
            dst: m(dst),
            tclass: m(tclass),
            hlimit: m(hlimit),
            label: m(label),
        }),
        Act::SetL4 { proto, src, dst } => DpAction::SetL4(SetL4 {
            proto: proto_of(proto),
            src: m(src),
            dst: m(dst),
        }),
        Act::PushVlan { qinq, tci } => DpAction::PushVlan {
            tpid: if qinq {
                ethertype::QINQ
            } else {
                ethertype::VLAN
            },
            tci,
        },
        Act::PopVlan => DpAction::PopVlan,
        Act::Ct {
            commit,
            zone,
            ref nat,
        } => DpAction::Ct(CtAction {
            commit,
            zone: u16::from(zone % 3),
            nat: nat.as_ref().map(|n| NatSpec {
                src: n.src,
                addrs: n.addr.map(|(last, two)| {
                    (
                        addr(n.v6, last),
                        addr(n.v6, last.saturating_add(u8::from(two))),
                    )
                }),
                ports: n
                    .ports
                    .map(|(lo, span)| (lo, lo.saturating_add(u16::from(span % 3)))),
            }),
            mark: None,
            label: None,
        }),
        Act::CtClear => DpAction::CtClear,
    }
}

#[derive(Default)]
struct Recorder<'a> {
    sent: Vec<Vec<u8>>,
    copies: usize,
    recycled: usize,
    drops: Vec<ActionDrop>,
    ct: Option<&'a Conntrack>,
}

impl ExecEnv for Recorder<'_> {
    fn output(&mut self, _port: u32, packet: Packet) {
        self.sent.push(packet.data().to_vec());
    }
    fn copy(&mut self, packet: &Packet) -> Packet {
        self.copies += 1;
        packet.clone()
    }
    fn recirculate(&mut self, packet: Packet, _meta: PacketMeta) {
        self.sent.push(packet.data().to_vec());
    }
    fn drop_packet(&mut self, _: Packet, reason: ActionDrop) {
        self.drops.push(reason);
    }
    fn recycle(&mut self, _: Packet) {
        self.recycled += 1;
    }
    fn conntrack(&self) -> Option<&dyn ConntrackHook> {
        self.ct.map(|c| c as &dyn ConntrackHook)
    }
    fn userspace(
        &mut self,
        packet: &Packet,
        _meta: &PacketMeta,
        _action: &fastpath::action::UserspaceAction,
    ) {
        self.sent.push(packet.data().to_vec());
    }
}

fuzz_target!(|input: Input| {
    let mut frame = input.frame;
    let fixed = input.raw_headers.is_none()
        && input.fix_checksums
        && checks::fix(&mut frame, input.keep_udp_zero);
    let (key, ex) = extract_fresh(&frame, 1);
    let headers = match &input.raw_headers {
        None => Headers::new(&key, ex.offsets.l3, ex.offsets.l4),
        Some(r) => Headers {
            l3: r.l3,
            l4: r.l4,
            dl_type: if r.ipv6 {
                ethertype::IPV6
            } else {
                ethertype::IPV4
            },
            nw_proto: r.nw_proto,
            nw_frag: r.nw_frag,
        },
    };
    let actions: Vec<DpAction> = input.actions.iter().take(16).map(to_action).collect();
    let ct = input.with_conntrack.then(|| {
        Conntrack::new(ConntrackConfig {
            limit: 8,
            shards: Some(1),
            ..ConntrackConfig::default()
        })
    });
    let mut env = Recorder {
        ct: ct.as_ref(),
        ..Recorder::default()
    };
    let packet = Packet::from_bytes(&frame);
    execute(
        &mut env,
        packet,
        &headers,
        &PacketMeta::new(1),
        &actions,
        1000,
    );

    // Accounting: copies are the sends that were not the last action; the packet itself ends
    // exactly once.
    let handed_on = env.sent.len() - env.copies;
    assert!(handed_on <= 1, "{handed_on} sends without a copy");
    assert_eq!(
        handed_on + env.recycled + env.drops.len(),
        1,
        "the packet ends exactly once: {:?}",
        env.drops
    );
    if env.drops.contains(&ActionDrop::NoConntrack) {
        assert!(ct.is_none());
    }
    for (i, out) in env.sent.iter().enumerate() {
        let delta = out.len().abs_diff(frame.len());
        assert_eq!(delta % 4, 0, "copy {i} changed length by {delta}");
        if fixed && let Some(v) = checks::verdict(out) {
            assert!(v.ip_ok, "copy {i}: IPv4 header checksum");
            assert!(v.l4_ok, "copy {i}: L4 checksum (proto {})", v.proto);
        }
    }
});
