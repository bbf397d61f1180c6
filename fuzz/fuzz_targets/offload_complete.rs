//! Fuzz target: software completion of offloads (`fastpath::port::offload`).
//!
//! Input: one mode byte, two bytes of GSO size, a raw 10-byte virtio-net header, then the
//! frame. Every input goes through [`finalize`], [`finalize_each`],
//! [`partial_checksum_offsets`] and [`infer_tso`] with the raw header as the offload state (the
//! AF_PACKET and TAP receive paths trust nothing more). Checked beyond "never panics":
//! - `finalize` and `finalize_each` agree (same frames, same error);
//! - a success leaves no offload state; a failure appends nothing and returns every buffer;
//! - offsets returned by `partial_checksum_offsets` lie in the frame, at a TCP/UDP header.
//!
//! When the frame is TCP or UDP over IPv4/IPv6 that the checksum oracle can judge, the input
//! is also run as a sender with offloads would build it (the checksum field holds the
//! pseudo-header sum, `csum_start` at L4, and GSO of the chosen size when the mode asks):
//! then every frame out must have valid IPv4 and L4 checksums, fit the segment size, and the
//! payloads must add up to the original one.

#![no_main]

#[path = "common/checks.rs"]
mod checks;

use fastpath::flow::key::ipproto;
use fastpath::packet::{Offload, Packet, PacketPool};
use fastpath::port::offload::{
    Finalized, OffloadDrop, VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, VnetHdr,
    finalize, finalize_each, infer_tso, partial_checksum_offsets,
};
use libfuzzer_sys::fuzz_target;

/// Segment buffers: big enough for any segment of a frame libFuzzer produces (-max_len 4096).
const BUF: usize = 9216;

/// The frames `finalize` produces for `frame` with offload state `o`, or its error.
fn run_finalize(frame: &[u8], o: Offload) -> Result<Vec<Vec<u8>>, OffloadDrop> {
    let mut pkt = Packet::from_bytes(frame);
    pkt.offload = o;
    pkt.in_port = 7;
    let mut pool = PacketPool::new(2, BUF);
    let mut out = vec![Packet::from_bytes(&[0xee])];
    let r = finalize(&mut pkt, &mut pool, &mut out);
    let frames = match r {
        Ok(Finalized::Segmented(n)) => {
            assert_eq!(out.len(), 1 + n);
            assert!(n > 1, "a single segment is completed in place");
            assert!(out[1..].iter().all(|s| s.offload == Offload::default()));
            assert!(out[1..].iter().all(|s| s.in_port == 7));
            out[1..].iter().map(|s| s.data().to_vec()).collect()
        }
        Ok(Finalized::ChecksumCompleted | Finalized::Unchanged) => {
            assert_eq!(out.len(), 1);
            assert_eq!(pkt.offload, Offload::default());
            assert_eq!(pkt.len(), frame.len());
            vec![pkt.data().to_vec()]
        }
        Err(e) => {
            assert_eq!(out.len(), 1, "{e}: nothing appended on failure");
            assert!(pool.available() >= 2, "{e}: buffers returned to the pool");
            assert_eq!(pkt.data(), frame, "{e}: the frame is untouched on failure");
            return Err(e);
        }
    };
    assert_eq!(out[0].data(), [0xee], "earlier entries of `out` are kept");
    // `finalize_each` does the same work into one scratch buffer. (A GSO packet that fits one
    // segment is the exception: `finalize` completes it in place, `finalize_each` rebuilds the
    // segment, without Ethernet padding and with checksums computed afresh.)
    let gso = o.gso_type & !VNET_GSO_ECN != 0;
    let mut scratch = vec![0u8; BUF];
    let mut each = Vec::new();
    let n = finalize_each(frame, &o, &mut scratch, |f| {
        each.push(f.to_vec());
        Ok::<(), OffloadDrop>(())
    });
    if !gso || frames.len() > 1 {
        assert_eq!(n, Ok(each.len()));
        assert_eq!(each, frames, "finalize_each agrees with finalize");
    } else {
        assert_eq!(n, Ok(1), "a single segment is emitted");
    }
    Ok(frames)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let mode = data[0];
    let gso_size = u16::from_be_bytes([data[1], data[2]]);
    let hdr = VnetHdr(data[3..13].try_into().unwrap());
    let frame = &data[13..];

    // Untrusted offload metadata on an arbitrary frame.
    let raw = hdr.to_offload();
    let _ = run_finalize(frame, raw);
    if let Some((start, off)) = partial_checksum_offsets(frame) {
        let field = usize::from(start) + usize::from(off);
        assert!(field + 2 <= frame.len(), "checksum field inside the frame");
        assert!(off == 16 || off == 6);
    }
    let mtu = 68 + usize::from(gso_size) % 9000;
    if let Some(o) = infer_tso(frame, mtu) {
        assert!(o.needs_csum && o.gso_size > 0);
        assert!(o.gso_type == VNET_GSO_TCPV4 || o.gso_type == VNET_GSO_TCPV6);
        // A frame fixed by the oracle, cut per the inferred state, must come out valid.
        let mut f = frame.to_vec();
        if checks::fix(&mut f, false) {
            let v = checks::verdict(&f).unwrap();
            // A sender's frame ends with its IP packet: completion sums to the frame's end.
            f.truncate(v.end);
            let at = v.l4_field.unwrap();
            let seed = checks::partial_seed(&f, &v);
            f[at..at + 2].copy_from_slice(&seed.to_be_bytes());
            let segs = run_finalize(&f, o).expect("an inferred TSO state is completed");
            check_outputs(&frame_fixed(frame), &segs, usize::from(o.gso_size), &v);
        }
    }

    // The same frame as an offloading sender builds it.
    let mut f = frame.to_vec();
    if !checks::fix(&mut f, false) {
        return;
    }
    let v = checks::verdict(&f).unwrap();
    if v.proto != ipproto::TCP && v.proto != ipproto::UDP {
        return;
    }
    // A sender's frame ends with its IP packet (no Ethernet padding): completion sums to the
    // frame's end, as the kernel does.
    f.truncate(v.end);
    let full = f.clone();
    let at = v.l4_field.unwrap();
    let seed = checks::partial_seed(&f, &v);
    f[at..at + 2].copy_from_slice(&seed.to_be_bytes());
    let gso_type = match (mode & 3, v.proto, v.ipv4) {
        (0, _, _) => 0,
        (_, ipproto::TCP, true) => VNET_GSO_TCPV4,
        (_, ipproto::TCP, false) => VNET_GSO_TCPV6,
        _ => VNET_GSO_UDP_L4,
    } | if mode & 4 != 0 { VNET_GSO_ECN } else { 0 };
    let mss = usize::from(gso_size % 2048).max(1);
    let o = Offload {
        needs_csum: true,
        csum_start: v.l4 as u16,
        csum_offset: (at - v.l4) as u16,
        gso_type,
        gso_size: mss as u16,
        hdr_len: 0,
    };
    let frames = run_finalize(&f, o).expect("a well-formed offloaded frame is completed");
    if frames.len() == 1 {
        // Completed in place: exactly the fully checksummed frame. Completion writes a sum
        // of 0 as 0xffff whatever the protocol, as Linux's skb_checksum_help does (the two
        // are the same number in ones' complement, and UDP must not send 0); the oracle writes
        // 0xffff for UDP only, so a TCP sum of 0 is compared as 0xffff (found by the
        // reproducible smoke run, seed 1).
        let mut expect = full.clone();
        if expect[at..at + 2] == [0, 0] {
            expect[at..at + 2].copy_from_slice(&[0xff, 0xff]);
        }
        assert_eq!(frames[0], expect, "completion equals a full computation");
    }
    check_outputs(&full, &frames, mss, &v);
});

/// `frame` with checksums fixed by the oracle (the reference for payload comparison).
fn frame_fixed(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.to_vec();
    checks::fix(&mut f, false);
    f
}

/// Every output frame has valid checksums and at most `mss` bytes of payload, and the
/// payloads concatenate to `full`'s.
fn check_outputs(full: &[u8], frames: &[Vec<u8>], mss: usize, v: &checks::Verdict) {
    let l4_hdr = |f: &[u8], l4: usize| {
        if v.proto == ipproto::TCP {
            usize::from(f[l4 + 12] >> 4) * 4
        } else {
            8
        }
    };
    let want = &full[v.l4 + l4_hdr(full, v.l4)..v.end];
    let mut got = Vec::new();
    for (i, s) in frames.iter().enumerate() {
        let sv = checks::verdict(s).unwrap_or_else(|| panic!("segment {i} parses"));
        assert!(
            sv.ip_ok && sv.l4_ok,
            "segment {i} of {} checksums",
            frames.len()
        );
        assert_eq!((sv.l3, sv.l4, sv.proto), (v.l3, v.l4, v.proto));
        let payload = &s[sv.l4 + l4_hdr(s, sv.l4)..sv.end];
        assert!(frames.len() == 1 || payload.len() <= mss);
        got.extend_from_slice(payload);
    }
    assert_eq!(got, want, "segments carry the original payload");
}
