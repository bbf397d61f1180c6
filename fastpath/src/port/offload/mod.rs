//! Software completion of offloads: partial checksums and GSO super-packets.
//!
//! A TAP with `IFF_VNET_HDR` or an AF_PACKET socket with `PACKET_VNET_HDR` hands the switch
//! frames exactly as the sender's kernel built them: a TCP or UDP checksum that holds only the
//! pseudo-header sum (`needs_csum`, to be finished over `csum_start..end`), and "super-packets"
//! of up to 64 KB that a NIC would cut into `gso_size`-byte segments. Such a frame can leave
//! unchanged only through a port that takes offloads too ([`crate::port::Port::accepts_offload`]);
//! for any other port the switch must do the NIC's work in software, which is what this module
//! does.
//!
//! - [`VnetHdr`] is the 10-byte `struct virtio_net_hdr` both kernel interfaces use, in native
//!   byte order (legacy virtio, which is what tun and af_packet speak unless told otherwise).
//! - [`complete_checksum`] finishes a partial checksum in place, with the kernel's semantics
//!   (sum from `csum_start` to the end of the frame, `0` written as `0xffff`).
//! - [`Segmenter`] cuts a TCP (TSO) or UDP (USO) super-packet into wire-sized segments, one at
//!   a time into caller-provided buffers: headers copied, IPv4 total length/id/checksum,
//!   IPv6 payload length, TCP sequence numbers and flags (CWR only on the first segment, FIN
//!   and PSH only on the last) and full L4 checksums rewritten.
//! - [`finalize_each`] combines both for a port that cannot pass offloads on (TAP and
//!   AF_PACKET ports call it when they send): the finished frame, or each segment, is built
//!   in the port's scratch buffer and handed to the port's writer.
//! - [`finalize`] does the same work into packets taken from a [`PacketPool`]. No port uses
//!   it today; the `offload_complete` fuzz target checks the two against each other, which is
//!   why it is kept (a port that queues segments rather than writing them at once would use it).
//!
//! Nothing here allocates or does I/O. Invalid offload metadata never panics: it yields an
//! [`OffloadDrop`] reason that the caller counts.

mod segment;
mod vnet;

pub use segment::{Segmenter, complete_checksum, infer_tso, partial_checksum_offsets};
pub use vnet::{
    VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_NONE, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP,
    VNET_GSO_UDP_L4, VNET_HDR_LEN, VnetHdr, framed, is_pending, take_rx_hdr,
};

use crate::packet::{Offload, Packet, PacketPool};

/// Why an offloaded packet could not be completed in software (counted, then dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OffloadDrop {
    /// The headers the offload needs (Ethernet, IP, TCP/UDP) are missing or inconsistent.
    #[error("the packet's headers cannot be parsed for offload completion")]
    Malformed,
    /// `csum_start`/`csum_offset` point outside the frame or away from the L4 header.
    #[error("the checksum offsets point outside the frame or away from the L4 header")]
    BadChecksumOffsets,
    /// A GSO type this module does not segment (UFO, or a type that does not match the headers).
    #[error("the GSO type is not supported or does not match the packet")]
    UnsupportedGso,
    /// A segment does not fit in the buffers provided.
    #[error("a segment does not fit in the buffer provided")]
    NoBuffer,
}

/// What [`finalize`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finalized {
    /// No checksum or segmentation work was needed; the frame is unchanged (its offload
    /// state is cleared).
    Unchanged,
    /// The checksum was completed in place; send the packet itself.
    ChecksumCompleted,
    /// The packet was cut into this many segments, appended to `out`; send those instead and
    /// recycle the original.
    Segmented(usize),
}

/// Makes a packet fit for a port that does not take offloads: completes a partial checksum
/// in place, or cuts a GSO super-packet into segments taken from `pool` and appended to
/// `out`. On success the packet (or each segment) carries no offload state.
///
/// On error nothing is appended to `out` and the packet should be dropped.
pub fn finalize(
    pkt: &mut Packet,
    pool: &mut PacketPool,
    out: &mut Vec<Packet>,
) -> Result<Finalized, OffloadDrop> {
    let o = pkt.offload;
    if o.gso_type & !VNET_GSO_ECN != VNET_GSO_NONE {
        let seg = Segmenter::new(pkt.data(), &o)?;
        if seg.count() > 1 {
            let first = out.len();
            for i in 0..seg.count() {
                let mut s = pool.get();
                match seg.write(i, s.rx_space()) {
                    Ok(len) => s.set_len(len),
                    Err(e) => {
                        pool.put(s);
                        for s in out.drain(first..) {
                            pool.put(s);
                        }
                        return Err(e);
                    }
                }
                s.in_port = pkt.in_port;
                out.push(s);
            }
            return Ok(Finalized::Segmented(seg.count()));
        }
    }
    if o.needs_csum {
        complete_checksum(pkt.data_mut(), &o)?;
        pkt.offload = Offload::default();
        return Ok(Finalized::ChecksumCompleted);
    }
    // A single-segment GSO packet whose checksum is already complete needs no work.
    pkt.offload = Offload::default();
    Ok(Finalized::Unchanged)
}

/// For a port that must send an offloaded packet it cannot pass on: does the work into
/// `scratch` (which must hold a whole frame or segment) and calls `emit` with each finished
/// frame, one or one per segment, stopping at the first error. Returns how many were emitted.
pub fn finalize_each<E: From<OffloadDrop>>(
    frame: &[u8],
    o: &Offload,
    scratch: &mut [u8],
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<usize, E> {
    if o.gso_type & !VNET_GSO_ECN != VNET_GSO_NONE {
        let seg = Segmenter::new(frame, o)?;
        for i in 0..seg.count() {
            let len = seg.write(i, scratch)?;
            emit(&scratch[..len])?;
        }
        return Ok(seg.count());
    }
    let out = scratch
        .get_mut(..frame.len())
        .ok_or(OffloadDrop::NoBuffer)?;
    out.copy_from_slice(frame);
    if o.needs_csum {
        complete_checksum(out, o)?;
    }
    emit(out)?;
    Ok(1)
}

#[cfg(test)]
mod tests;
