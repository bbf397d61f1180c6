//! NAT: choosing a binding for a new connection, and rewriting packets to match it.
//!
//! A binding is not stored as "what was translated" but as the connection's *reply tuple*:
//! SNAT of `A:a -> B:b` to `N:n` makes the reply tuple `B:b -> N:n`, DNAT to `S:s` makes it
//! `S:s -> A:a`. Every packet is then rewritten the same way, whatever the NAT type: a packet
//! in the original direction must leave looking like the reverse of the reply tuple, and a
//! reply must leave looking like the reverse of the original tuple. That one rule gives SNAT,
//! DNAT, both at once, and the automatic un-NAT of replies. Which side changed decides
//! `+snat` / `+dnat` on the packet (un-SNAT of a reply rewrites its destination: `+dnat`).
//!
//! Binding choice ([`choose_binding`]): the address is picked in the range starting at a hash
//! of the original tuple (so load spreads over the range), the port starts at the original
//! port when allowed, then at a hashed point of the range (or, for SNAT without a port range,
//! of the original port's class as Linux does: 1-511, 600-1023, 1024-65535). Each candidate
//! reply tuple is *reserved* atomically in the table by the caller's closure, so two threads
//! can never pick the same one; attempts are bounded, and exhaustion is reported and counted.
//!
//! ICMP queries have no ports, but their identifier plays the client port's part: it is the
//! only thing that tells two inside hosts' pings to the same outside host apart once SNAT has
//! given them one address. So, as OVS (through the kernel's NAT) does, the identifier is
//! translated like a source port: SNAT keeps it when the resulting reply tuple is free (and
//! it lies in the `nat` port range, if one is given), and otherwise picks one from the port
//! range, or from the whole 16-bit space without one. DNAT keeps it when free and moves it
//! over the whole space only on a collision; a DNAT port range names the service port, which
//! means nothing to ICMP, so it is ignored for ICMP (OVS ignores it too).
//!
//! Rewriting fixes every checksum incrementally (RFC 1624), including, for ICMP errors, the
//! quoted IP header, the quoted L4 checksum (when quoted) and the ICMP checksum that covers
//! them. A frame whose L4 checksum is offloaded (CHECKSUM_PARTIAL: the field holds the
//! uncomplemented pseudo-header sum, finished over the L4 bytes on transmit) gets only its
//! pseudo-header part updated, uncomplemented; its port changes need no update at all.

use std::net::IpAddr;

use super::icmp::Quoted;
use super::key::{ConnTuple, L4, PacketView};
use crate::action::NatSpec;
use crate::wire::{checksum, icmp, icmpv6, ipproto, ipv4, ipv6, read_u16, tcp, udp, write_u16};

/// Why no binding could be chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NatFail {
    /// The range's address family is not the connection's.
    FamilyMismatch,
    /// Every candidate tried was taken.
    Exhausted,
}

/// Addresses tried per binding.
const MAX_ADDR_TRIES: u64 = 16;
/// Ports tried per address, after the original one.
const MAX_PORT_TRIES: u32 = 128;

fn addr_to_u128(family: u8, b: &[u8; 16]) -> u128 {
    if family == 4 {
        u128::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    } else {
        u128::from_be_bytes(*b)
    }
}

fn u128_to_addr(family: u8, v: u128) -> [u8; 16] {
    let mut b = [0; 16];
    if family == 4 {
        b[..4].copy_from_slice(&(v as u32).to_be_bytes());
    } else {
        b = v.to_be_bytes();
    }
    b
}

fn ip_to_u128(ip: IpAddr) -> (u8, u128) {
    match ip {
        IpAddr::V4(a) => (4, u128::from(u32::from(a))),
        IpAddr::V6(a) => (6, u128::from(a)),
    }
}

/// Chooses and reserves a reply tuple for a new connection `key` under `spec`.
///
/// `reserve` tries to claim a candidate reply tuple in the table and returns whether it did.
/// Returns the reserved tuple; with no translation requested, that is `key.reverse()`.
pub(crate) fn choose_binding(
    spec: &NatSpec,
    key: &ConnTuple,
    hash: u64,
    mut reserve: impl FnMut(&ConnTuple) -> bool,
) -> Result<ConnTuple, NatFail> {
    let plain = key.reverse();
    let Some(snat) = spec.src else {
        return if reserve(&plain) {
            Ok(plain)
        } else {
            Err(NatFail::Exhausted)
        };
    };
    // The endpoint being translated, as it appears in the original tuple. An ICMP query's
    // identifier (`sport` in both directions' tuples) stands in for the client's port.
    let icmp = key.is_icmp();
    let (orig_addr, orig_port) = match (snat, icmp) {
        (true, _) => (key.src, key.sport),
        (false, true) => (key.dst, key.sport),
        (false, false) => (key.dst, key.dport),
    };
    let (lo, count) = match spec.addrs {
        Some((a, b)) => {
            let ((fa, lo), (fb, hi)) = (ip_to_u128(a), ip_to_u128(b));
            if fa != key.family || fb != key.family || hi < lo {
                return Err(NatFail::FamilyMismatch);
            }
            (lo, (hi - lo).saturating_add(1))
        }
        None => (addr_to_u128(key.family, &orig_addr), 1),
    };
    let ports = key.has_ports();
    // Ranges that apply to this connection's port (or ICMP identifier).
    let spec_ports = spec
        .ports
        .filter(|_| ports || (icmp && snat))
        .map(|(a, b)| (a.min(b), a.max(b)));
    let port_range = match spec_ports {
        Some(r) => Some(r),
        None if icmp => Some((0, u16::MAX)),
        None if ports && snat => Some(match orig_port {
            0..=511 => (1, 511),
            512..=1023 => (600, 1023),
            _ => (1024, 65535),
        }),
        None => None,
    };
    let keep_port_ok = spec_ports.is_none_or(|(lo, hi)| (lo..=hi).contains(&orig_port));

    let candidate = |addr: u128, port: u16| {
        let mut t = plain;
        if snat {
            t.dst = u128_to_addr(key.family, addr);
            if ports {
                t.dport = port;
            }
        } else {
            t.src = u128_to_addr(key.family, addr);
            if ports {
                t.sport = port;
            }
        }
        if icmp {
            t.sport = port;
        }
        t
    };

    let start = u128::from(hash) % count;
    for i in 0..MAX_ADDR_TRIES.min(count.min(u128::from(u64::MAX)) as u64) {
        let addr = lo + (start + u128::from(i)) % count;
        if keep_port_ok {
            let t = candidate(addr, orig_port);
            if reserve(&t) {
                return Ok(t);
            }
        }
        if let Some((plo, phi)) = port_range {
            let n = u32::from(phi - plo) + 1;
            let pstart = ((hash >> 32) as u32 ^ i as u32) % n;
            for j in 0..MAX_PORT_TRIES.min(n) {
                let port = plo + ((pstart + j) % n) as u16;
                let t = candidate(addr, port);
                if reserve(&t) {
                    return Ok(t);
                }
            }
        }
    }
    Err(NatFail::Exhausted)
}

/// Where a packet's NAT-able fields should end up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
}

impl Target {
    /// What a packet must look like after NAT: the reverse of the *other* direction's tuple.
    /// (An ICMP query's identifier is the same in both directions: `sport` and `dport` both
    /// carry it.)
    pub(crate) fn from_other_direction(other: &ConnTuple) -> Target {
        if other.is_icmp() {
            return Target {
                src: other.dst,
                dst: other.src,
                sport: other.sport,
                dport: other.sport,
            };
        }
        Target {
            src: other.dst,
            dst: other.src,
            sport: other.dport,
            dport: other.sport,
        }
    }
}

/// The L4 fields NAT may rewrite besides the addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4Fields {
    /// None (other protocols).
    None,
    /// TCP/UDP ports at `l4` and `l4 + 2`.
    Ports,
    /// An ICMP query's identifier at `l4 + 4` (the target's `sport`): the client's side of
    /// the conversation, which is the source of a request and the destination of a reply.
    IcmpId { request: bool },
}

impl L4Fields {
    fn of(t: &ConnTuple) -> L4Fields {
        if t.has_ports() {
            L4Fields::Ports
        } else if t.is_icmp() {
            let ty = (t.dport >> 8) as u8;
            L4Fields::IcmpId {
                request: super::key::icmp_kind(t.family, ty) == super::key::IcmpKind::Request,
            }
        } else {
            L4Fields::None
        }
    }
}

/// Which sides of a packet NAT rewrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Rewritten {
    pub src: bool,
    pub dst: bool,
}

/// A checksum field that covers the words being rewritten.
#[derive(Clone, Copy, Debug)]
struct Csum {
    at: usize,
    kind: checksum::Field,
}

fn rd16(b: &[u8], at: usize) -> u16 {
    read_u16(&b[at..])
}

fn wr16(b: &mut [u8], at: usize, v: u16) {
    write_u16(&mut b[at..], v);
}

/// Writes `new` over the bytes at `at` (even length), fixing every checksum in `csums`.
fn rewrite(b: &mut [u8], at: usize, new: &[u8], csums: &[Option<Csum>]) {
    for (i, w) in new.chunks_exact(2).enumerate() {
        let off = at + 2 * i;
        let (old, neww) = (rd16(b, off), u16::from_be_bytes([w[0], w[1]]));
        if old == neww {
            continue;
        }
        wr16(b, off, neww);
        for c in csums.iter().flatten() {
            let hc = rd16(b, c.at);
            wr16(b, c.at, c.kind.update_u16(hc, old, neww));
        }
    }
}

/// Address field offsets and length within an IP header at `l3`.
fn addr_fields(family: u8, l3: usize) -> (usize, usize, usize) {
    if family == 4 {
        let (s, d) = (ipv4::field::SRC, ipv4::field::DST);
        (l3 + s.start, l3 + d.start, s.len())
    } else {
        let (s, d) = (ipv6::field::SRC, ipv6::field::DST);
        (l3 + s.start, l3 + d.start, s.len())
    }
}

/// The L4 checksum field of a header of protocol `proto` at `l4`, if present before `end`,
/// and whether it covers the IP addresses (pseudo-header).
fn l4_csum(family: u8, proto: u8, l4: usize, end: usize) -> Option<(Csum, bool)> {
    let (off, kind, pseudo) = match proto {
        ipproto::TCP => (tcp::field::CHECKSUM.start, checksum::Field::Full, true),
        ipproto::UDP => (udp::field::CHECKSUM.start, checksum::Field::Udp, true),
        ipproto::ICMP if family == 4 => (icmp::field::CHECKSUM.start, checksum::Field::Full, false),
        ipproto::ICMPV6 if family == 6 => {
            (icmpv6::field::CHECKSUM.start, checksum::Field::Full, true)
        }
        _ => return None,
    };
    (l4 + off + 2 <= end).then_some((Csum { at: l4 + off, kind }, pseudo))
}

/// Rewrites the addresses and ports of the IP packet whose header is at `l3` (protocol
/// `proto`, L4 at `l4`, bytes up to `end`) from `cur` to `tgt`. `extra` is one more checksum
/// covering everything (the ICMP checksum around a quoted packet). Returns which sides changed.
#[allow(clippy::too_many_arguments)]
fn rewrite_ip(
    b: &mut [u8],
    family: u8,
    proto: u8,
    l3: usize,
    l4: usize,
    end: usize,
    fields: L4Fields,
    tgt: &Target,
    extra: Option<usize>,
    l4_partial: bool,
) -> Rewritten {
    let ip_csum = (family == 4).then_some(Csum {
        at: l3 + ipv4::field::CHECKSUM.start,
        kind: checksum::Field::Full,
    });
    let extra = extra.map(|at| Csum {
        at,
        kind: checksum::Field::Full,
    });
    let l4c = l4_csum(family, proto, l4, end);
    let pseudo = l4c.filter(|(_, p)| *p).map(|(c, _)| Csum {
        kind: if l4_partial {
            checksum::Field::Partial
        } else {
            c.kind
        },
        ..c
    });
    // A partial sum covers only the pseudo-header: the device sums the ports itself.
    let l4only = l4c.map(|(c, _)| c).filter(|_| !l4_partial);
    let (so, d_o, alen) = addr_fields(family, l3);
    let mut out = Rewritten::default();
    // Fields whose checksum is itself covered by `extra` are fixed in two steps: adjust the
    // inner checksums, then feed their own change into `extra` (linearity of the sum).
    let inner = [ip_csum, l4only];
    let before: [Option<u16>; 2] = inner.map(|c| c.map(|c| rd16(b, c.at)));

    if b[so..so + alen] != tgt.src[..alen] {
        rewrite(b, so, &tgt.src[..alen], &[ip_csum, pseudo, extra]);
        out.src = true;
    }
    if b[d_o..d_o + alen] != tgt.dst[..alen] {
        rewrite(b, d_o, &tgt.dst[..alen], &[ip_csum, pseudo, extra]);
        out.dst = true;
    }
    // TCP and UDP keep their ports in the same place; ICMP and ICMPv6 their echo identifier.
    let (sport, dport, ident) = (
        l4 + tcp::field::SRC_PORT.start,
        l4 + tcp::field::DST_PORT.start,
        l4 + icmp::field::IDENT.start,
    );
    match fields {
        L4Fields::Ports if l4 + tcp::field::DST_PORT.end <= end => {
            if rd16(b, sport) != tgt.sport {
                rewrite(b, sport, &tgt.sport.to_be_bytes(), &[l4only, extra]);
                out.src = true;
            }
            if rd16(b, dport) != tgt.dport {
                rewrite(b, dport, &tgt.dport.to_be_bytes(), &[l4only, extra]);
                out.dst = true;
            }
        }
        L4Fields::IcmpId { request } if ident + 2 <= end && rd16(b, ident) != tgt.sport => {
            rewrite(b, ident, &tgt.sport.to_be_bytes(), &[l4only, extra]);
            if request {
                out.src = true;
            } else {
                out.dst = true;
            }
        }
        _ => {}
    }
    if let Some(x) = extra {
        for (c, old) in inner.iter().zip(before) {
            if let (Some(c), Some(old)) = (c, old) {
                let new = rd16(b, c.at);
                let v = checksum::update_u16(rd16(b, x.at), old, new);
                wr16(b, x.at, v);
            }
        }
    }
    out
}

/// Rewrites packet `v` (whose tuple is `cur`) to `tgt`.
pub(crate) fn rewrite_packet(frame: &mut [u8], v: &PacketView, tgt: &Target) -> Rewritten {
    let fields = match v.l4kind {
        L4::Tcp(_) | L4::Udp => L4Fields::Ports,
        L4::IcmpQuery { is_request } => L4Fields::IcmpId {
            request: is_request,
        },
        L4::IcmpError | L4::Other => L4Fields::None,
    };
    let t = &v.tuple;
    rewrite_ip(
        frame,
        t.family,
        t.proto,
        v.l3,
        v.l4,
        v.end,
        fields,
        tgt,
        None,
        v.l4_csum_partial,
    )
}

/// Rewrites an ICMP error `outer` travelling in the direction whose tuple is `cur`, quoting a
/// packet of the opposite direction, towards `tgt` (the packet-direction target).
pub(crate) fn rewrite_related(
    frame: &mut [u8],
    outer: &PacketView,
    quoted: &Quoted,
    cur: &ConnTuple,
    tgt: &Target,
) -> Rewritten {
    let f = outer.tuple.family;
    let (so, d_o, alen) = addr_fields(f, outer.l3);
    // Outer header: translate only the addresses that are the connection's own (an error
    // from a router keeps the router's address).
    let mut outer_tgt = Target {
        src: [0; 16],
        dst: [0; 16],
        sport: 0,
        dport: 0,
    };
    outer_tgt.src[..alen].copy_from_slice(&frame[so..so + alen]);
    outer_tgt.dst[..alen].copy_from_slice(&frame[d_o..d_o + alen]);
    if outer_tgt.src == cur.src {
        outer_tgt.src = tgt.src;
    }
    if outer_tgt.dst == cur.dst {
        outer_tgt.dst = tgt.dst;
    }
    // The quoted packet travels the other way: swap the target's sides.
    let inner_tgt = Target {
        src: tgt.dst,
        dst: tgt.src,
        sport: tgt.dport,
        dport: tgt.sport,
    };
    let qfields = L4Fields::of(&quoted.tuple);
    let icmp_csum = outer.l4 + icmp::field::CHECKSUM.start;
    let inner = rewrite_ip(
        frame,
        f,
        quoted.tuple.proto,
        quoted.l3,
        quoted.l4,
        quoted.end,
        qfields,
        &inner_tgt,
        Some(icmp_csum),
        false,
    );
    // Then the outer header (ICMPv6's checksum covers the outer addresses).
    let outer = rewrite_ip(
        frame,
        f,
        outer.tuple.proto,
        outer.l3,
        outer.l4,
        outer.end,
        L4Fields::None,
        &outer_tgt,
        None,
        false,
    );
    // Report the sides in the error's direction: the quoted packet travels the other way, so
    // its source is the error's destination side. An error between hosts outside the
    // connection has only its quoted header translated, and that still counts.
    Rewritten {
        src: outer.src || inner.dst,
        dst: outer.dst || inner.src,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Recomputes the IPv4 header checksum (if IPv4) and the L4 checksum of the frame's packet
    /// at `l3`, from scratch.
    pub(crate) fn fix_l4_checksum(f: &mut [u8], l3: usize) {
        let Ok(info) = super::super::key::parse_l3(f, l3, f.len(), false) else {
            return; // fixtures of malformed packets keep whatever checksum they have
        };
        if info.family == 4 {
            wr16(f, l3 + 10, 0);
            let c = checksum::checksum(&f[l3..info.l4]);
            wr16(f, l3 + 10, c);
        }
        let Some((c, pseudo)) = l4_csum(info.family, info.proto, info.l4, info.end) else {
            return;
        };
        wr16(f, c.at, 0);
        let mut init = 0u64;
        if pseudo {
            let (so, _, alen) = addr_fields(info.family, l3);
            init = checksum::sum_words(&f[so..so + 2 * alen], 0);
            init += u64::from(info.proto) + (info.end - info.l4) as u64;
        }
        let v = !checksum::fold(checksum::sum_words(&f[info.l4..info.end], init));
        wr16(f, c.at, c.kind.store(v));
    }
}

/// SNAT / DNAT end to end: bindings, ranges, stability, un-NAT of replies, exhaustion.
#[cfg(test)]
mod frame_tests {
    use super::super::key::tests::{ipv4_frame, ipv6_frame, run, tcp, track, udp};
    use super::super::{Conntrack, ConntrackConfig, CtVerdict};
    use crate::action::{CtAction, NatSpec};
    use crate::flow::key::ct_state::*;
    use proptest::prelude::*;
    use std::net::IpAddr;

    const B: [u8; 4] = [10, 0, 0, 2];

    fn nat(src: bool, lo: [u8; 4], hi: [u8; 4], ports: Option<(u16, u16)>) -> CtAction {
        CtAction {
            commit: true,
            nat: Some(NatSpec {
                src: Some(src),
                addrs: Some((lo.into(), hi.into())),
                ports,
            }),
            ..CtAction::default()
        }
    }

    fn nat_only() -> CtAction {
        CtAction {
            nat: Some(NatSpec {
                src: None,
                addrs: None,
                ports: None,
            }),
            ..CtAction::default()
        }
    }

    fn ip4(f: &[u8], at: usize) -> [u8; 4] {
        f[at..at + 4].try_into().unwrap()
    }

    /// The uncomplemented pseudo-header sum a sending stack leaves in a CHECKSUM_PARTIAL
    /// frame's TCP checksum field (IPv4 frame, L3 at 14).
    fn partial_seed(f: &[u8]) -> u16 {
        let mut sum = 6u32 + (f.len() - 34) as u32;
        for w in f[26..34].chunks_exact(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        crate::wire::checksum::fold(u64::from(sum))
    }

    #[test]
    fn nat_of_a_partial_checksum_frame_updates_only_the_pseudo_header_sum() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let action = nat(true, [192, 0, 2, 1], [192, 0, 2, 1], Some((2000, 2000)));
        let payload = b"offloaded segment";
        let mut f = ipv4_frame(
            6,
            [10, 0, 0, 1],
            B,
            &tcp(40000, 80, 1, 0, 0x002, 1000, payload),
        );
        let csum_at = 34 + 16;
        let seed = partial_seed(&f);
        super::wr16(&mut f, csum_at, seed);
        let mut out = super::super::CtResult::default();
        let v = ct.track(&mut f, 14, Some(34), 0, &mut out, &action, 0);
        assert_eq!(v, CtVerdict::Committed);
        assert_eq!((ip4(&f, 26), super::rd16(&f, 34)), ([192, 0, 2, 1], 2000));
        // Still partial: the field is the pseudo-header sum of the translated addresses.
        assert_eq!(super::rd16(&f, csum_at), partial_seed(&f));
        // Finished as a device would (sum over the L4 bytes, seed included), it is exactly the
        // checksum of the translated packet computed from scratch.
        let mut finished = f.clone();
        let c = crate::wire::checksum::checksum(&f[34..]);
        super::wr16(&mut finished, csum_at, c);
        let mut want = f.clone();
        super::tests::fix_l4_checksum(&mut want, 14);
        assert_eq!(finished, want);

        // The reply direction (un-SNAT of the destination) on a partial frame too.
        let mut r = ipv4_frame(6, B, [192, 0, 2, 1], &tcp(80, 2000, 9, 2, 0x012, 1000, b""));
        let seed = partial_seed(&r);
        super::wr16(&mut r, csum_at, seed);
        ct.track(&mut r, 14, Some(34), 0, &mut out, &nat_only(), 1);
        assert_eq!((ip4(&r, 30), super::rd16(&r, 36)), ([10, 0, 0, 1], 40000));
        assert_eq!(super::rd16(&r, csum_at), partial_seed(&r));
        // A frame whose partial checksum starts elsewhere is treated as complete.
        let mut g = ipv4_frame(6, [10, 0, 0, 1], B, &tcp(40001, 80, 1, 0, 0x002, 1000, b""));
        super::tests::fix_l4_checksum(&mut g, 14);
        ct.track(&mut g, 14, Some(14), 0, &mut out, &action, 2);
        let mut want = g.clone();
        super::tests::fix_l4_checksum(&mut want, 14);
        assert_eq!(g, want);
    }

    /// The OVS two-pass SNAT pipeline, `ct(nat,table=1)` then `ct(commit,nat(src=..))` for
    /// `+new`, as the datapath hook runs it: the second pass sees the first pass's NAT bits.
    fn two_passes(ct: &Conntrack, f: &mut [u8], commit: &CtAction, now: u64) -> (u8, CtVerdict) {
        let mut out = super::super::CtResult::default();
        ct.track(f, 14, None, 0, &mut out, &nat_only(), now);
        let first = out.state;
        if first & NEW == 0 {
            return (first, CtVerdict::Tracked);
        }
        let v = ct.track(f, 14, None, first & (SNAT | DNAT), &mut out, commit, now);
        (out.state, v)
    }

    #[test]
    fn packets_of_a_new_natted_connection_keep_its_binding_in_a_second_ct() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let commit = nat(true, [192, 0, 2, 1], [192, 0, 2, 1], None);
        // A one-way UDP flow: every datagram is `+new` until a reply comes.
        let mk = || ipv4_frame(17, [10, 0, 0, 1], B, &udp(40000, 53, b"query"));
        let mut first = mk();
        let (st, v) = two_passes(&ct, &mut first, &commit, 0);
        assert_eq!((st, v), (TRK | NEW | SNAT, CtVerdict::Committed));
        for now in 1..4 {
            let mut again = mk();
            let (st, v) = two_passes(&ct, &mut again, &commit, now);
            assert_eq!(
                (st, v),
                (TRK | NEW | SNAT, CtVerdict::Tracked),
                "datagram {now}"
            );
            assert_eq!(again, first, "datagram {now} got another binding");
        }
        // A retransmitted SYN likewise.
        let syn = || ipv4_frame(6, [10, 0, 0, 1], B, &tcp(40001, 80, 1, 0, 0x002, 1000, b""));
        let mut s1 = syn();
        two_passes(&ct, &mut s1, &commit, 10);
        let mut s2 = syn();
        let (st, _) = two_passes(&ct, &mut s2, &commit, 1010);
        assert_eq!(st & (NEW | SNAT), NEW | SNAT);
        assert_eq!(s2, s1, "the retransmitted SYN got another binding");
        assert_eq!(ct.dump(None).len(), 2, "one connection per flow");
        // The reply is un-natted by the first pass and stays a reply of the same connection.
        let src = ip4(&first, 26);
        let sport = u16::from_be_bytes([first[34], first[35]]);
        let mut r = ipv4_frame(17, B, src, &udp(53, sport, b"answer"));
        let (st, _) = two_passes(&ct, &mut r, &commit, 20);
        assert_eq!(st, TRK | EST | RPL | DNAT);
        assert_eq!(ip4(&r, 30), [10, 0, 0, 1]);
    }

    #[test]
    fn snat_with_address_and_port_ranges_is_stable_and_replies_are_un_natted() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let action = nat(true, [192, 0, 2, 1], [192, 0, 2, 3], Some((2000, 2010)));
        let client = [10, 0, 0, 1];
        let mut f = ipv4_frame(6, client, B, &tcp(40000, 80, 1, 0, 0x002, 1000, b""));
        let (v, k) = run(&ct, &mut f, &action, 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW | SNAT));
        let (src, sport) = (ip4(&f, 26), u16::from_be_bytes([f[34], f[35]]));
        assert!((1..=3).contains(&src[3]) && src[..3] == [192, 0, 2]);
        assert!((2000..=2010).contains(&sport));
        assert_eq!(
            f,
            ipv4_frame(6, src, B, &tcp(sport, 80, 1, 0, 0x002, 1000, b""))
        );
        // The reply to the translated endpoint is translated back (+dnat: its dst changed).
        let mut r = ipv4_frame(6, B, src, &tcp(80, sport, 9, 2, 0x012, 1000, b""));
        let (_, k) = run(&ct, &mut r, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | DNAT);
        assert_eq!(
            r,
            ipv4_frame(6, B, client, &tcp(80, 40000, 9, 2, 0x012, 1000, b""))
        );
        // Later packets keep the same binding, even with `nat` alone.
        let mut f2 = ipv4_frame(6, client, B, &tcp(40000, 80, 2, 10, 0x010, 1000, b"x"));
        let (_, k) = run(&ct, &mut f2, &nat_only(), 2);
        assert_eq!(k.ct_state, TRK | EST | SNAT);
        assert_eq!(
            f2,
            ipv4_frame(6, src, B, &tcp(sport, 80, 2, 10, 0x010, 1000, b"x"))
        );
        // A `ct` without `nat` tracks but does not translate.
        let mut f3 = ipv4_frame(6, client, B, &tcp(40000, 80, 2, 10, 0x010, 1000, b"y"));
        let copy = f3.clone();
        assert_eq!(run(&ct, &mut f3, &track(0), 3).1.ct_state, TRK | EST);
        assert_eq!(f3, copy);
        let d = ct.dump(None);
        assert_eq!(d[0].reply.dst_ip(), IpAddr::from(src));
    }

    #[test]
    fn snat_keeps_the_port_when_free_and_moves_it_on_collision() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let action = nat(true, [192, 0, 2, 1], [192, 0, 2, 1], None);
        let mut seen = std::collections::HashSet::new();
        for host in 1..=4u8 {
            let mut f = ipv4_frame(17, [10, 1, 0, host], B, &udp(5353, 53, b"q"));
            run(&ct, &mut f, &action, 0);
            assert_eq!(ip4(&f, 26), [192, 0, 2, 1]);
            let sport = u16::from_be_bytes([f[34], f[35]]);
            if host == 1 {
                assert_eq!(sport, 5353, "original port kept when free");
            }
            assert!(sport >= 1024, "moved within the original port's class");
            assert!(seen.insert(sport), "bindings are unique");
        }
    }

    #[test]
    fn port_range_exhaustion_refuses_the_commit() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let action = nat(true, [192, 0, 2, 9], [192, 0, 2, 9], Some((3000, 3003)));
        for host in 1..=5u8 {
            let mut f = ipv4_frame(17, [10, 1, 0, host], B, &udp(7, 53, b"q"));
            let copy = f.clone();
            let (v, k) = run(&ct, &mut f, &action, 0);
            if host <= 4 {
                assert_eq!(v, CtVerdict::Committed);
            } else {
                assert_eq!((v, k.ct_state), (CtVerdict::NatFailed, TRK | NEW));
                assert_eq!(f, copy, "not translated");
            }
        }
        let s = ct.stats();
        assert_eq!((s.entries, s.nat_failures), (4, 1));
        assert_eq!(ct.zone_limit(0).count, 4);
        // A range of the wrong family fails too.
        let mut f = ipv6_frame(17, [1; 16], [2; 16], &udp(7, 53, b"q"));
        assert_eq!(run(&ct, &mut f, &action, 0).0, CtVerdict::NatFailed);
    }

    #[test]
    fn dnat_to_a_server_and_back() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (client, vip, server) = ([172, 16, 0, 5], [10, 0, 0, 100], [10, 0, 1, 7]);
        let action = nat(false, server, server, Some((8080, 8080)));
        let mut f = ipv4_frame(6, client, vip, &tcp(50000, 80, 1, 0, 0x002, 1000, b""));
        let (_, k) = run(&ct, &mut f, &action, 0);
        assert_eq!(k.ct_state, TRK | NEW | DNAT);
        assert_eq!(
            f,
            ipv4_frame(6, client, server, &tcp(50000, 8080, 1, 0, 0x002, 1000, b""))
        );
        let mut r = ipv4_frame(6, server, client, &tcp(8080, 50000, 7, 2, 0x012, 1000, b""));
        let (_, k) = run(&ct, &mut r, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | SNAT);
        assert_eq!(
            r,
            ipv4_frame(6, vip, client, &tcp(80, 50000, 7, 2, 0x012, 1000, b""))
        );
    }

    #[test]
    fn udp_without_checksum_keeps_it_zero() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut f = ipv4_frame(17, [10, 0, 0, 1], B, &udp(1, 2, b"z"));
        f[14 + 20 + 6] = 0;
        f[14 + 20 + 7] = 0;
        run(
            &ct,
            &mut f,
            &nat(true, [192, 0, 2, 1], [192, 0, 2, 1], Some((9, 9))),
            0,
        );
        assert_eq!(&f[40..42], &[0, 0]);
        assert_eq!(ip4(&f, 26), [192, 0, 2, 1]);

        // IPv6 too, as the set actions and OVS treat it (NAT used to update a zero checksum
        // over IPv6 into a wrong non-zero one).
        let (a, b, n) = ([0xfd; 16], [0xfe; 16], [0x20; 16]);
        let mut f = ipv6_frame(17, a, b, &udp(1, 2, b"z"));
        f[14 + 40 + 6..14 + 40 + 8].fill(0);
        let action = CtAction {
            commit: true,
            nat: Some(NatSpec {
                src: Some(true),
                addrs: Some((IpAddr::from(n), IpAddr::from(n))),
                ports: None,
            }),
            ..CtAction::default()
        };
        run(&ct, &mut f, &action, 0);
        assert_eq!(f[22..38], n);
        assert_eq!(&f[60..62], &[0, 0]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// NAT's incremental checksums equal a full recomputation, for TCP and UDP over IPv4
        /// and IPv6, SNAT and DNAT, any addresses, ports and payload.
        #[test]
        fn nat_checksums_match_full_recomputation(
            v6 in any::<bool>(), is_tcp in any::<bool>(), snat in any::<bool>(),
            a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), to in any::<[u8; 16]>(),
            sport in 1u16.., dport in 1u16.., to_port in 1u16..,
            payload in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            prop_assume!(a != b && to != a && to != b);
            let ct = Conntrack::new(ConntrackConfig { shards: Some(1), ..ConntrackConfig::default() });
            let proto = if is_tcp { 6 } else { 17 };
            let l4 = |s, d, p: &[u8]| if is_tcp { tcp(s, d, 1, 0, 0x002, 1000, p) } else { udp(s, d, p) };
            let addr = |x: [u8; 16]| -> IpAddr {
                if v6 { x.into() } else { <[u8; 4]>::try_from(&x[..4]).unwrap().into() }
            };
            prop_assume!(v6 || (a[..4] != b[..4] && to[..4] != a[..4] && to[..4] != b[..4]));
            let frame = |s: [u8; 16], d: [u8; 16], sp, dp| {
                if v6 {
                    ipv6_frame(proto, s, d, &l4(sp, dp, &payload))
                } else {
                    ipv4_frame(proto, s[..4].try_into().unwrap(), d[..4].try_into().unwrap(), &l4(sp, dp, &payload))
                }
            };
            let action = CtAction {
                commit: true,
                nat: Some(NatSpec { src: Some(snat), addrs: Some((addr(to), addr(to))), ports: Some((to_port, to_port)) }),
                ..CtAction::default()
            };
            let mut f = frame(a, b, sport, dport);
            let (v, _) = run(&ct, &mut f, &action, 0);
            prop_assert_eq!(v, CtVerdict::Committed);
            let expected = if snat { frame(to, b, to_port, dport) } else { frame(a, to, sport, to_port) };
            prop_assert_eq!(f, expected);
        }
    }
}
