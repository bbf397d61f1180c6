//! Independent checksum oracle shared by the packet-rewriting fuzz targets.
//!
//! It finds the headers with `fastpath::flow::extract` (fuzzed on its own by `parse_extract`)
//! but sums bytes with its own few lines, not with the code under test, so an incremental
//! update that drifts from a full computation is caught.

use fastpath::flow::extract::{HeaderOffsets, extract_fresh};
use fastpath::flow::key::{ethertype, ipproto};

/// Ones'-complement sum of `data` as big-endian words (odd byte padded), folded.
fn fold_sum(data: &[u8], mut acc: u64) -> u16 {
    for (i, b) in data.iter().enumerate() {
        acc += if i % 2 == 0 {
            u64::from(*b) << 8
        } else {
            u64::from(*b)
        };
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// What a frame's checksums say, for a frame whose IP and L4 checksums can be judged alone:
/// well-formed, IPv4/IPv6, not a fragment, IP length within the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The IPv4 header checksum holds (always true for IPv6).
    pub ip_ok: bool,
    /// The TCP/UDP/ICMP/ICMPv6 checksum holds, or the protocol has none we check, or it is a
    /// UDP checksum of zero ("none").
    pub l4_ok: bool,
    /// The L4 checksum field's offset, if the protocol has one we check.
    pub l4_field: Option<usize>,
    /// L3 offset and the end of the IP packet.
    pub l3: usize,
    pub l4: usize,
    pub end: usize,
    pub proto: u8,
    pub ipv4: bool,
}

/// Judges `frame`'s checksums, or `None` if they cannot be judged alone (see [`Verdict`]).
pub fn verdict(frame: &[u8]) -> Option<Verdict> {
    let (key, ex) = extract_fresh(frame, 1);
    let o = ex.offsets;
    if ex.malformed.is_some() || o.l3 == HeaderOffsets::ABSENT || o.l4 == HeaderOffsets::ABSENT {
        return None;
    }
    if key.nw_frag != 0 {
        return None;
    }
    let (l3, l4) = (usize::from(o.l3), usize::from(o.l4));
    let be16 = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
    let ipv4 = match key.dl_type {
        ethertype::IPV4 => true,
        ethertype::IPV6 => false,
        _ => return None,
    };
    let end = if ipv4 {
        l3 + usize::from(be16(l3 + 2))
    } else {
        l3 + 40 + usize::from(be16(l3 + 4))
    };
    if end > frame.len() || end < l4 {
        return None;
    }
    let ip_ok = !ipv4 || fold_sum(&frame[l3..l4], 0) == 0xffff;
    let proto = key.nw_proto;
    let seg = &frame[l4..end];
    let pseudo = if ipv4 {
        u64::from(fold_sum(&frame[l3 + 12..l3 + 20], 0))
    } else {
        u64::from(fold_sum(&frame[l3 + 8..l3 + 40], 0))
    } + u64::from(proto)
        + seg.len() as u64;
    let (field, covered) = match proto {
        ipproto::TCP if seg.len() >= 20 => (Some(16), Some(pseudo)),
        ipproto::UDP if seg.len() >= 8 => (Some(6), Some(pseudo)),
        ipproto::ICMP if ipv4 && seg.len() >= 8 => (Some(2), Some(0)),
        ipproto::ICMPV6 if !ipv4 && seg.len() >= 8 => (Some(2), Some(pseudo)),
        _ => (None, None),
    };
    let l4_ok = match (field, covered) {
        (Some(f), _) if proto == ipproto::UDP && be16(l4 + f) == 0 => true,
        (Some(_), Some(init)) => fold_sum(seg, init) == 0xffff,
        _ => true,
    };
    Some(Verdict {
        ip_ok,
        l4_ok,
        l4_field: field.map(|f| l4 + f),
        l3,
        l4,
        end,
        proto,
        ipv4,
    })
}

/// Makes `frame`'s IPv4 header and L4 checksums valid (full computation), if they can be
/// judged alone; returns whether it did. A UDP checksum of zero is left as "none" half the time
/// (`keep_udp_zero`).
pub fn fix(frame: &mut [u8], keep_udp_zero: bool) -> bool {
    let Some(v) = verdict(frame) else {
        return false;
    };
    if v.ipv4 {
        frame[v.l3 + 10..v.l3 + 12].fill(0);
        let c = !fold_sum(&frame[v.l3..v.l4], 0);
        frame[v.l3 + 10..v.l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    if let Some(at) = v.l4_field {
        let udp = v.proto == ipproto::UDP;
        if udp && keep_udp_zero && frame[at..at + 2] == [0, 0] {
            return true;
        }
        frame[at..at + 2].fill(0);
        let init = if v.ipv4 {
            u64::from(fold_sum(&frame[v.l3 + 12..v.l3 + 20], 0))
        } else {
            u64::from(fold_sum(&frame[v.l3 + 8..v.l3 + 40], 0))
        } + u64::from(v.proto)
            + (v.end - v.l4) as u64;
        let init = if v.proto == ipproto::ICMP { 0 } else { init };
        let mut c = !fold_sum(&frame[v.l4..v.end], init);
        if udp && c == 0 {
            c = 0xffff;
        }
        frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }
    let after = verdict(frame).expect("fixing checksums keeps the frame judgeable");
    assert!(
        after.ip_ok && after.l4_ok,
        "checksum oracle cannot fix its own frame"
    );
    true
}

/// The pseudo-header sum (folded, not complemented) that a sender with checksum offload leaves
/// in the L4 checksum field, for the frame judged by `v`.
#[allow(dead_code)] // offload_complete's alone
pub fn partial_seed(frame: &[u8], v: &Verdict) -> u16 {
    let addrs = if v.ipv4 {
        &frame[v.l3 + 12..v.l3 + 20]
    } else {
        &frame[v.l3 + 8..v.l3 + 40]
    };
    fold_sum(addrs, u64::from(v.proto) + (v.end - v.l4) as u64)
}
