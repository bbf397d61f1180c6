//! Fuzz target: sequences of packets through `fastpath::conntrack::Conntrack::execute`.
//!
//! Structured input (`arbitrary`): small connection limits, then up to 64 operations, each
//! after the clock advanced (time is an argument, so expiry is exercised in milliseconds of
//! fuzzing). A packet operation builds a well-formed Ethernet/IPv4-or-IPv6 frame from a 5-tuple
//! drawn from a few hosts and ports, or an earlier packet's tuple as is or reversed (so packets
//! meet each other's connections): TCP with chosen flags and sequence numbers either relative to what each side has sent (so handshakes,
//! windows and teardowns are reachable) or raw, UDP, ICMP echo, ICMP errors quoting a tuple,
//! or another protocol; a `ct` action with commit, zone, NAT (including tiny pools that run
//! out and address families that do not match) and mark/label. A raw operation runs arbitrary
//! bytes at an arbitrary L3 offset. Other operations sweep (whole table), flush and dump.
//!
//! Checked, beyond "never panics":
//! - connections never exceed the global limit, nor a zone's limit;
//! - every packet gets `+trk` and exactly one of `+new`, `+est`, `+rel`, `+inv`; an invalid one
//!   gets nothing else, and the verdict agrees with the bits; `ct_zone` is the action's zone;
//! - the frame keeps its length and, for a packet that is not NAT-rewritten, its bytes;
//! - the dump lists as many connections as `len()`; after a full sweep none has expired; a
//!   flush of everything empties the table; `stats().entries == len()`.

#![no_main]

use arbitrary::Arbitrary;
use fastpath::action::{CtAction, Masked, NatSpec};
use fastpath::conntrack::{Conntrack, ConntrackConfig, CtVerdict};
use fastpath::flow::FlowKey;
use fastpath::flow::key::ct_state;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

static TRACKER: OnceLock<Conntrack> = OnceLock::new();

#[derive(Arbitrary, Debug)]
struct Input {
    /// Global limit is 1 + this % 16.
    limit: u8,
    /// Zone 1's own limit (% 8).
    zone1_limit: Option<u8>,
    /// Limit of zones without their own (% 8).
    default_zone_limit: Option<u8>,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Packet {
        dt: u16,
        pkt: Pkt,
        ct: Ct,
    },
    Raw {
        dt: u16,
        l3: RawL3,
        bytes: Vec<u8>,
        ct: Ct,
    },
    Sweep {
        dt: u16,
    },
    Flush {
        zone: Option<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum RawL3 {
    Ethernet,
    At(u16),
    Absent,
}

#[derive(Arbitrary, Debug, Clone, Copy, Default)]
struct Tuple {
    v6: bool,
    src: u8,
    dst: u8,
    sport: u8,
    dport: u8,
}

/// A packet's tuple: a fresh one, or one of an earlier packet's (as is, or reversed: the
/// answer), so that conversations happen without the fuzzer guessing four matching indices.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum TupleRef {
    New(Tuple),
    Same(u8),
    Reverse(u8),
}

impl TupleRef {
    fn resolve(self, history: &[Tuple]) -> Tuple {
        let pick = |i: u8| history.get(i as usize % history.len().max(1)).copied();
        match self {
            TupleRef::New(t) => t,
            TupleRef::Same(i) => pick(i).unwrap_or_default(),
            TupleRef::Reverse(i) => pick(i).map(Tuple::reverse).unwrap_or_default(),
        }
    }
}

impl Tuple {
    fn reverse(self) -> Tuple {
        Tuple {
            v6: self.v6,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TcpFlags {
    Syn,
    SynAck,
    Ack,
    PshAck,
    FinAck,
    Rst,
    RstAck,
    Raw(u8),
}

impl TcpFlags {
    fn bits(self) -> u8 {
        match self {
            TcpFlags::Syn => 0x02,
            TcpFlags::SynAck => 0x12,
            TcpFlags::Ack => 0x10,
            TcpFlags::PshAck => 0x18,
            TcpFlags::FinAck => 0x11,
            TcpFlags::Rst => 0x04,
            TcpFlags::RstAck => 0x14,
            TcpFlags::Raw(b) => b,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum L4 {
    Tcp {
        flags: TcpFlags,
        seq: Seq,
        ack: Seq,
        window: u16,
        wscale: Option<u8>,
        payload: u8,
    },
    Udp {
        payload: u8,
    },
    Echo {
        reply: bool,
        id: u8,
    },
    /// An ICMP error (destination unreachable / time exceeded) quoting `quoted`.
    Error {
        time_exceeded: bool,
        code: u8,
        quoted: TupleRef,
        quoted_proto: u8,
        truncate: u8,
    },
    Other {
        proto: u8,
        payload: u8,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seq {
    /// What this side (for seq) or the other side (for ack) has sent so far, plus a delta.
    Next(i16),
    Raw(u32),
}

#[derive(Arbitrary, Debug)]
struct Pkt {
    tuple: TupleRef,
    l4: L4,
    /// Above 240 (1 in 17): a fragment (IPv4 more-fragments bit; IPv6 fragment header).
    fragment: u8,
    /// IPv6 only: a hop-by-hop options header before L4.
    hop_by_hop: bool,
    ttl: u8,
}

#[derive(Arbitrary, Debug)]
struct Ct {
    commit: bool,
    zone: u8,
    nat: Option<Nat>,
    mark: Option<(u32, u32)>,
    label: Option<(u128, u128)>,
}

#[derive(Arbitrary, Debug)]
enum Nat {
    /// `nat` alone: apply an existing binding.
    Existing,
    Src {
        v6: bool,
        wide: bool,
        ports: bool,
    },
    Dst {
        v6: bool,
        ports: bool,
    },
}

const V4: [[u8; 4]; 4] = [
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [192, 168, 1, 1],
    [172, 16, 0, 9],
];
const V6: [u16; 4] = [1, 2, 0x99, 0xfe80];
/// 5000 is the first port of the SNAT pool (`ct_action`), so replies to a port-translated
/// connection can be built from indices too.
const PORTS: [u16; 6] = [1024, 80, 443, 53, 0, 5000];

fn v6_addr(i: u8) -> [u8; 16] {
    let x = V6[i as usize % V6.len()];
    let mut a = [0u8; 16];
    a[0] = 0xfd;
    a[14..].copy_from_slice(&x.to_be_bytes());
    a
}

fn addr(v6: bool, i: u8) -> Vec<u8> {
    if v6 {
        v6_addr(i).to_vec()
    } else {
        V4[i as usize % V4.len()].to_vec()
    }
}

fn port(i: u8) -> u16 {
    PORTS[i as usize % PORTS.len()]
}

/// One TCP direction: (v6, src, dst, sport, dport) as indices.
type Dir = (bool, u8, u8, u16, u16);

/// What each TCP direction has sent so far (seq + payload, SYN and FIN count one).
#[derive(Default)]
struct SeqTracker {
    next: HashMap<Dir, u32>,
}

impl SeqTracker {
    fn resolve(&self, dir: Dir, s: Seq, base: u32) -> u32 {
        match s {
            Seq::Raw(v) => v,
            Seq::Next(d) => self
                .next
                .get(&dir)
                .copied()
                .unwrap_or(base)
                .wrapping_add(d as i32 as u32),
        }
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IP packet (no Ethernet header) carrying `l4` with protocol `proto`.
fn ip_packet(
    t: &Tuple,
    proto: u8,
    l4: &[u8],
    fragment: bool,
    hop_by_hop: bool,
    ttl: u8,
) -> Vec<u8> {
    let (src, dst) = (addr(t.v6, t.src), addr(t.v6, t.dst));
    let mut p = Vec::with_capacity(48 + l4.len());
    if t.v6 {
        let mut next = proto;
        let mut ext = Vec::new();
        if fragment {
            // Fragment header: next, reserved, offset 0 + M flag, id.
            ext.splice(0..0, [next, 0, 0, 1, 0, 0, 0, 7]);
            next = 44;
        }
        if hop_by_hop {
            // Hop-by-hop with PadN to 8 bytes.
            ext.splice(0..0, [next, 0, 1, 4, 0, 0, 0, 0]);
            next = 0;
        }
        let plen = (ext.len() + l4.len()) as u16;
        p.extend_from_slice(&[0x60, 0, 0, 0]);
        p.extend_from_slice(&plen.to_be_bytes());
        p.extend_from_slice(&[next, ttl]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&ext);
    } else {
        let total = (20 + l4.len()) as u16;
        let frag: u16 = if fragment { 0x2000 } else { 0x4000 };
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[ttl, proto, 0, 0]);
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        let c = checksum(&p);
        p[10..12].copy_from_slice(&c.to_be_bytes());
    }
    p.extend_from_slice(l4);
    p
}

fn frame(v6: bool, ip: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1];
    f.extend_from_slice(&(if v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
    f.extend_from_slice(ip);
    f
}

fn tcp_header(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    wscale: Option<u8>,
) -> Vec<u8> {
    // Window scale option (kind 3, length 3) padded with a NOP to 4 bytes.
    let opts = match wscale {
        Some(s) => vec![1, 3, 3, s % 16],
        None => Vec::new(),
    };
    let doff = (20 + opts.len()) / 4;
    let mut h = Vec::with_capacity(24);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ack.to_be_bytes());
    h.extend_from_slice(&[(doff as u8) << 4, flags]);
    h.extend_from_slice(&window.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h.extend_from_slice(&opts);
    h
}

fn build(p: &Pkt, seqs: &mut SeqTracker, history: &mut Vec<Tuple>) -> Vec<u8> {
    let t = &p.tuple.resolve(history);
    history.push(*t);
    let (sport, dport) = (port(t.sport), port(t.dport));
    let (proto, l4) = match &p.l4 {
        L4::Tcp {
            flags,
            seq,
            ack,
            window,
            wscale,
            payload,
        } => {
            let me: Dir = (t.v6, t.src, t.dst, sport, dport);
            let peer: Dir = (t.v6, t.dst, t.src, dport, sport);
            let seq = seqs.resolve(me, *seq, 1000);
            let ack = seqs.resolve(peer, *ack, 5000);
            let flags = flags.bits();
            let len = u32::from(*payload) + u32::from(flags & 0x03 != 0); // SYN/FIN count one
            seqs.next.insert(me, seq.wrapping_add(len));
            let mut l4 = tcp_header(sport, dport, seq, ack, flags, *window, *wscale);
            l4.resize(l4.len() + usize::from(*payload), 0xab);
            (6, l4)
        }
        L4::Udp { payload } => {
            let len = 8 + u16::from(*payload);
            let mut l4 = Vec::new();
            l4.extend_from_slice(&sport.to_be_bytes());
            l4.extend_from_slice(&dport.to_be_bytes());
            l4.extend_from_slice(&len.to_be_bytes());
            l4.extend_from_slice(&[0, 0]);
            l4.resize(usize::from(len), 0xcd);
            (17, l4)
        }
        L4::Echo { reply, id } => {
            let ty = match (t.v6, reply) {
                (false, false) => 8,
                (false, true) => 0,
                (true, false) => 128,
                (true, true) => 129,
            };
            let l4 = vec![ty, 0, 0, 0, 0, *id, 0, 1];
            (if t.v6 { 58 } else { 1 }, l4)
        }
        L4::Error {
            time_exceeded,
            code,
            quoted,
            quoted_proto,
            truncate,
        } => {
            let ty = match (t.v6, time_exceeded) {
                (false, false) => 3,
                (false, true) => 11,
                (true, false) => 1,
                (true, true) => 3,
            };
            // The quoted packet is of the error's own family.
            let q = Tuple {
                v6: t.v6,
                ..quoted.resolve(history)
            };
            let qproto = [6, 17, 1, 58, 47][*quoted_proto as usize % 5];
            let ql4 = tcp_header(port(q.sport), port(q.dport), 1000, 0, 0x02, 1024, None);
            let mut inner = ip_packet(&q, qproto, &ql4[..8], false, false, 64);
            let keep = inner.len().saturating_sub(usize::from(*truncate % 32));
            inner.truncate(keep);
            let mut l4 = vec![ty, code % 16, 0, 0, 0, 0, 0, 0];
            l4.extend_from_slice(&inner);
            (if t.v6 { 58 } else { 1 }, l4)
        }
        L4::Other { proto, payload } => (*proto, vec![0x5a; usize::from(*payload % 64)]),
    };
    frame(
        t.v6,
        &ip_packet(t, proto, &l4, p.fragment > 240, p.hop_by_hop && t.v6, p.ttl),
    )
}

fn ct_action(c: &Ct) -> CtAction {
    let ip = |v6: bool, i: u8| -> IpAddr {
        if v6 {
            IpAddr::V6(Ipv6Addr::from(v6_addr(i)))
        } else {
            IpAddr::V4(Ipv4Addr::from(V4[i as usize % V4.len()]))
        }
    };
    let nat = c.nat.as_ref().map(|n| match *n {
        Nat::Existing => NatSpec {
            src: None,
            addrs: None,
            ports: None,
        },
        Nat::Src { v6, wide, ports } => NatSpec {
            src: Some(true),
            addrs: Some((ip(v6, 2), ip(v6, if wide { 3 } else { 2 }))),
            // A pool of two ports runs out after a few connections.
            ports: ports.then_some((5000, 5001)),
        },
        Nat::Dst { v6, ports } => NatSpec {
            src: Some(false),
            addrs: Some((ip(v6, 1), ip(v6, 1))),
            ports: ports.then_some((80, 80)),
        },
    });
    CtAction {
        commit: c.commit,
        zone: u16::from(c.zone % 3),
        nat,
        mark: c.mark.map(|(value, mask)| Masked { value, mask }),
        label: c.label.map(|(value, mask)| Masked { value, mask }),
    }
}

struct Limits {
    global: u32,
    zone1: Option<u32>,
    default_zone: Option<u32>,
}

fn check_limits(ct: &Conntrack, l: &Limits) {
    assert!(
        ct.len() <= l.global as usize,
        "{} > global limit {}",
        ct.len(),
        l.global
    );
    for zone in 0..3u16 {
        let z = ct.zone_limit(zone);
        let limit = if zone == 1 {
            l.zone1.or(l.default_zone)
        } else {
            l.default_zone
        };
        assert_eq!(z.limit, limit);
        if let Some(limit) = limit {
            assert!(z.count <= limit, "zone {zone}: {} > limit {limit}", z.count);
        }
    }
    assert_eq!(ct.stats().entries, ct.len() as u64);
}

fn run_packet(ct: &Conntrack, frame: &mut [u8], l3: usize, action: &CtAction, now: u64) {
    let before = frame.to_vec();
    let mut key = FlowKey::ZERO;
    key.ct_state = 0xff;
    let verdict = ct.track_frame(frame, l3, &mut key, action, now);
    assert_eq!(frame.len(), before.len());
    let s = key.ct_state;
    assert_ne!(s & ct_state::TRK, 0, "{verdict:?} without +trk: {s:#x}");
    let kind = s & (ct_state::NEW | ct_state::EST | ct_state::REL | ct_state::INV);
    assert_eq!(kind.count_ones(), 1, "{verdict:?}: ct_state {s:#x}");
    assert_eq!(key.ct_zone, action.zone);
    match verdict {
        CtVerdict::Invalid(_) => {
            assert_eq!(s, ct_state::TRK | ct_state::INV, "{verdict:?}");
        }
        CtVerdict::New | CtVerdict::Committed | CtVerdict::LimitReached | CtVerdict::NatFailed => {
            assert_eq!(kind, ct_state::NEW, "{verdict:?}: ct_state {s:#x}");
        }
        CtVerdict::Tracked => assert_ne!(kind, ct_state::INV, "{verdict:?}: ct_state {s:#x}"),
    }
    if s & (ct_state::SNAT | ct_state::DNAT) == 0 {
        assert_eq!(
            frame,
            &before[..],
            "{verdict:?}: frame changed without NAT ({s:#x})"
        );
    }
}

fuzz_target!(|input: Input| {
    let limits = Limits {
        global: 1 + u32::from(input.limit % 16),
        zone1: input.zone1_limit.map(|l| u32::from(l % 8)),
        default_zone: input.default_zone_limit.map(|l| u32::from(l % 8)),
    };
    // One tracker for the whole run, emptied and re-limited per input: a fresh one costs two
    // 256 KiB per-zone arrays, which dominated the run time. Sweeps are always full, so the
    // sweep cursor left by earlier inputs changes nothing.
    let ct = TRACKER.get_or_init(|| {
        Conntrack::new(ConntrackConfig {
            shards: Some(4),
            ..ConntrackConfig::default()
        })
    });
    ct.flush(None, None);
    assert!(ct.is_empty());
    ct.set_limit(limits.global);
    ct.set_default_zone_limit(limits.default_zone);
    ct.set_zone_limit(1, limits.zone1);
    let mut seqs = SeqTracker::default();
    let mut history: Vec<Tuple> = Vec::new();
    let mut now: u64 = 1;
    for op in input.ops.iter().take(64) {
        match op {
            Op::Packet { dt, pkt, ct: c } => {
                now += u64::from(*dt) * 32;
                let mut f = build(pkt, &mut seqs, &mut history);
                run_packet(ct, &mut f, 14, &ct_action(c), now);
            }
            Op::Raw {
                dt,
                l3,
                bytes,
                ct: c,
            } => {
                now += u64::from(*dt) * 32;
                let mut f = bytes.clone();
                let l3 = match l3 {
                    RawL3::Ethernet => 14,
                    RawL3::At(o) => usize::from(*o),
                    // What the datapath passes when the frame has no L3 header.
                    RawL3::Absent => usize::from(u16::MAX),
                };
                run_packet(ct, &mut f, l3, &ct_action(c), now);
            }
            Op::Sweep { dt } => {
                now += u64::from(*dt) * 1024;
                ct.sweep(now, usize::MAX);
                assert!(ct.dump(None).iter().all(|e| e.expires_ms > now));
            }
            Op::Flush { zone } => {
                let zone = zone.map(|z| u16::from(z % 3));
                ct.flush(zone, None);
                match zone {
                    None => assert!(ct.is_empty()),
                    Some(z) => assert_eq!(ct.zone_limit(z).count, 0),
                }
            }
        }
        check_limits(ct, &limits);
    }
    assert_eq!(ct.dump(None).len(), ct.len());
});
