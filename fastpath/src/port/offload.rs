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
//! - [`finalize`] combines both for the datapath, taking segment buffers from a
//!   [`PacketPool`].
//!
//! Nothing here allocates or does I/O. Invalid offload metadata never panics: it yields an
//! [`OffloadDrop`] reason that the caller counts.

use crate::packet::{Offload, Packet, PacketPool};
use crate::wire::checksum::{self, Field};
use crate::wire::{ethernet, ethertype, ipproto, ipv4, ipv6, tcp, udp, vlan};

/// Size of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// `virtio_net_hdr.flags`: the L4 checksum is partial.
pub const VNET_F_NEEDS_CSUM: u8 = 1;
/// `virtio_net_hdr.gso_type` values.
pub const VNET_GSO_NONE: u8 = 0;
pub const VNET_GSO_TCPV4: u8 = 1;
pub const VNET_GSO_UDP: u8 = 3;
pub const VNET_GSO_TCPV6: u8 = 4;
pub const VNET_GSO_UDP_L4: u8 = 5;
/// Flag bit in `gso_type`: the sender set ECN CWR on the super-packet.
pub const VNET_GSO_ECN: u8 = 0x80;

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

/// The virtio-net header, wire view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr(pub [u8; VNET_HDR_LEN]);

impl VnetHdr {
    /// The header for a packet's offload state.
    pub fn from_offload(o: &Offload) -> VnetHdr {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = if o.needs_csum { VNET_F_NEEDS_CSUM } else { 0 };
        b[1] = o.gso_type;
        b[2..4].copy_from_slice(&o.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&o.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&o.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&o.csum_offset.to_ne_bytes());
        VnetHdr(b)
    }

    /// The offload state this header describes. `DATA_VALID` and unknown flags are dropped: a
    /// checksum the kernel already verified needs no work from us.
    pub fn to_offload(&self) -> Offload {
        let b = &self.0;
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Offload {
            needs_csum: b[0] & VNET_F_NEEDS_CSUM != 0,
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
            gso_type: b[1],
            gso_size: u16_at(4),
            hdr_len: u16_at(2),
        }
    }
}

/// Parses, in place, the virtio-net header that a single-buffer receive
/// ([`Packet::rx_space_with_front`]) left in the headroom right in front of `pkt`'s frame, and
/// normalises those bytes to [`VnetHdr::from_offload`] of the result, so that a transmit of the
/// packet unchanged finds its header already in place ([`framed`]). `None` if the headroom
/// cannot hold a header.
pub fn take_rx_hdr(pkt: &mut Packet) -> Option<Offload> {
    let front: &mut [u8; VNET_HDR_LEN] = pkt.front_mut(VNET_HDR_LEN)?.try_into().ok()?;
    let o = VnetHdr(*front).to_offload();
    let normal = VnetHdr::from_offload(&o).0;
    if *front != normal {
        *front = normal;
    }
    Some(o)
}

/// `hdr` and `pkt`'s frame as one contiguous buffer, if the headroom in front of the frame
/// already holds exactly `hdr` (a packet received by [`take_rx_hdr`] whose offload state and
/// headroom nothing changed since): one plain write sends both, where otherwise header and
/// frame take two pieces (`writev`). The bytes compared are the bytes sent, so the result is
/// never stale.
pub fn framed<'a>(pkt: &'a Packet, hdr: &VnetHdr) -> Option<&'a [u8]> {
    (pkt.front(VNET_HDR_LEN)? == hdr.0).then(|| pkt.with_front(VNET_HDR_LEN))?
}

/// True if the packet carries offload work that a plain port cannot take.
#[inline]
pub fn is_pending(o: &Offload) -> bool {
    o.needs_csum || o.gso_type & !VNET_GSO_ECN != VNET_GSO_NONE
}

/// Where the headers of an IP packet with a TCP/UDP payload are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    l3: usize,
    l4: usize,
    /// End of the L4 header: where the payload starts.
    payload: usize,
    /// End of the IP packet (Ethernet padding excluded).
    end: usize,
    ipv4: bool,
    proto: u8,
}

/// Parses Ethernet (up to two VLAN tags), IPv4/IPv6 (skipping extension headers; fragments
/// refused) and the TCP/UDP header, all through the `wire` views.
fn parse_layout(f: &[u8]) -> Result<Layout, OffloadDrop> {
    let bad = |_| OffloadDrop::Malformed;
    let eth = ethernet::Frame::new_checked(f).map_err(bad)?;
    let mut l3 = ethernet::HEADER_LEN;
    let mut ety = eth.ethertype();
    for _ in 0..2 {
        if vlan::is_tpid(ety) {
            ety = vlan::Tag::new_checked(&f[l3..]).map_err(bad)?.ethertype();
            l3 += vlan::HEADER_LEN;
        }
    }
    let (l4, end, proto, ipv4) = match ety {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(&f[l3..]).map_err(bad)?;
            if ip.is_fragment() {
                return Err(OffloadDrop::Malformed);
            }
            let end = l3 + usize::from(ip.total_len());
            (l3 + ip.header_len(), end, ip.protocol(), true)
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(&f[l3..]).map_err(bad)?;
            if ip.payload_len() == 0 {
                return Err(OffloadDrop::Malformed);
            }
            let upper =
                ipv6::skip_extension_headers(ip.next_header(), ip.payload()).map_err(bad)?;
            if upper.is_fragment {
                return Err(OffloadDrop::Malformed);
            }
            let at = l3 + ipv6::HEADER_LEN;
            (
                at + upper.offset,
                at + ip.payload().len(),
                upper.protocol,
                false,
            )
        }
        _ => return Err(OffloadDrop::Malformed),
    };
    let l4_bytes = &f[l4..end];
    let payload = match proto {
        ipproto::TCP => {
            l4 + tcp::Packet::new_checked(l4_bytes)
                .map_err(bad)?
                .header_len()
        }
        ipproto::UDP => {
            udp::Packet::new_checked(l4_bytes).map_err(bad)?;
            l4 + udp::HEADER_LEN
        }
        _ => return Err(OffloadDrop::Malformed),
    };
    Ok(Layout {
        l3,
        l4,
        payload,
        end,
        ipv4,
        proto,
    })
}

/// Checksum offsets for a frame the kernel flagged as checksum-partial without saying where
/// (AF_PACKET's `TP_STATUS_CSUMNOTREADY` without a vnet header): the L4 header start and the
/// TCP/UDP checksum field. `None` if the frame is not TCP/UDP over IP.
pub fn partial_checksum_offsets(frame: &[u8]) -> Option<(u16, u16)> {
    let lay = parse_layout(frame).ok()?;
    let offset = if lay.proto == ipproto::TCP { 16 } else { 6 };
    Some((lay.l4 as u16, offset))
}

/// For a frame received without a vnet header that is longer than the interface MTU allows
/// (a TCP GSO skb handed over whole, as AF_PACKET does): the TSO offload state that cuts it into
/// segments fitting `mtu`. `None` if the frame is not TCP over IP or already fits.
pub fn infer_tso(frame: &[u8], mtu: usize) -> Option<Offload> {
    let lay = parse_layout(frame).ok()?;
    if lay.proto != ipproto::TCP || lay.end - lay.l3 <= mtu {
        return None;
    }
    let mss = mtu.checked_sub(lay.payload - lay.l3).filter(|m| *m > 0)?;
    Some(Offload {
        needs_csum: true,
        csum_start: lay.l4 as u16,
        csum_offset: 16,
        gso_type: if lay.ipv4 {
            VNET_GSO_TCPV4
        } else {
            VNET_GSO_TCPV6
        },
        gso_size: u16::try_from(mss).ok()?,
        hdr_len: lay.payload as u16,
    })
}

/// Finishes a partial checksum in place: the ones'-complement sum from `csum_start` to the end
/// of `frame` (which includes the pseudo-header sum already in the field), complemented, is
/// written at `csum_start + csum_offset`.
pub fn complete_checksum(frame: &mut [u8], o: &Offload) -> Result<(), OffloadDrop> {
    let start = usize::from(o.csum_start);
    let field = start + usize::from(o.csum_offset);
    if field + 2 > frame.len() {
        return Err(OffloadDrop::BadChecksumOffsets);
    }
    let sum = !checksum::fold(checksum::sum_words(&frame[start..], 0));
    let sum = if sum == 0 { 0xffff } else { sum };
    frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Cuts one GSO super-packet into segments. Build it with [`Segmenter::new`], then write
/// segments `0..count()` wherever they should go with [`Segmenter::write`].
#[derive(Debug)]
pub struct Segmenter<'a> {
    frame: &'a [u8],
    lay: Layout,
    mss: usize,
    count: usize,
}

impl<'a> Segmenter<'a> {
    /// Checks the offload metadata against the headers. A packet whose payload fits one
    /// segment gives `count() == 1` (its single segment has complete checksums).
    pub fn new(frame: &'a [u8], o: &Offload) -> Result<Segmenter<'a>, OffloadDrop> {
        let lay = parse_layout(frame)?;
        let ok = match o.gso_type & !VNET_GSO_ECN {
            VNET_GSO_TCPV4 => lay.ipv4 && lay.proto == ipproto::TCP,
            VNET_GSO_TCPV6 => !lay.ipv4 && lay.proto == ipproto::TCP,
            VNET_GSO_UDP_L4 => lay.proto == ipproto::UDP,
            _ => false,
        };
        if !ok || o.gso_size == 0 {
            return Err(OffloadDrop::UnsupportedGso);
        }
        if o.needs_csum && usize::from(o.csum_start) != lay.l4 {
            return Err(OffloadDrop::BadChecksumOffsets);
        }
        let mss = usize::from(o.gso_size);
        let payload = lay.end - lay.payload;
        Ok(Segmenter {
            frame,
            lay,
            mss,
            count: payload.div_ceil(mss).max(1),
        })
    }

    /// Number of segments.
    pub fn count(&self) -> usize {
        self.count
    }

    fn chunk(&self, i: usize) -> (usize, usize) {
        let start = self.lay.payload + i * self.mss;
        (start, self.mss.min(self.lay.end - start))
    }

    /// Length of segment `i` on the wire.
    pub fn segment_len(&self, i: usize) -> usize {
        self.lay.payload + self.chunk(i).1
    }

    /// Writes segment `i` (< `count()`) at the start of `out`, returning its length.
    pub fn write(&self, i: usize, out: &mut [u8]) -> Result<usize, OffloadDrop> {
        if i >= self.count {
            return Err(OffloadDrop::UnsupportedGso);
        }
        let Layout {
            l3, l4, payload, ..
        } = self.lay;
        let (start, len) = self.chunk(i);
        let total = payload + len;
        let out = out.get_mut(..total).ok_or(OffloadDrop::NoBuffer)?;
        out[..payload].copy_from_slice(&self.frame[..payload]);
        out[payload..].copy_from_slice(&self.frame[start..start + len]);

        let l4_len = total - l4;
        let pseudo = if self.lay.ipv4 {
            let ip_total = (total - l3) as u16;
            out[l3 + 2..l3 + 4].copy_from_slice(&ip_total.to_be_bytes());
            let id = u16::from_be_bytes([out[l3 + 4], out[l3 + 5]]).wrapping_add(i as u16);
            out[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            out[l3 + 10..l3 + 12].fill(0);
            let ip_sum = checksum::checksum(&out[l3..l4]);
            out[l3 + 10..l3 + 12].copy_from_slice(&ip_sum.to_be_bytes());
            let ip = ipv4::Packet::new_unchecked(&out[l3..l4]);
            checksum::pseudo_header_v4(
                ip.src_addr().to_bits(),
                ip.dst_addr().to_bits(),
                self.lay.proto,
                l4_len as u16,
            )
        } else {
            let plen = (total - l3 - ipv6::HEADER_LEN) as u16;
            out[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
            let ip = ipv6::Packet::new_unchecked(&out[l3..l4]);
            checksum::pseudo_header_v6(
                &ip.src_addr().octets(),
                &ip.dst_addr().octets(),
                self.lay.proto,
                l4_len as u32,
            )
        };

        let check_at = if self.lay.proto == ipproto::TCP {
            let seq = u32::from_be_bytes([out[l4 + 4], out[l4 + 5], out[l4 + 6], out[l4 + 7]]);
            let seq = seq.wrapping_add((i * self.mss) as u32);
            out[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            const FIN: u8 = 0x01;
            const PSH: u8 = 0x08;
            const CWR: u8 = 0x80;
            if i + 1 != self.count {
                out[l4 + 13] &= !(FIN | PSH);
            }
            if i != 0 {
                out[l4 + 13] &= !CWR;
            }
            l4 + 16
        } else {
            out[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4 + 6
        };
        out[check_at..check_at + 2].fill(0);
        let kind = if self.lay.proto == ipproto::UDP {
            Field::Udp
        } else {
            Field::Full
        };
        let l4_sum = kind.store(!checksum::fold(checksum::sum_words(&out[l4..], pseudo)));
        out[check_at..check_at + 2].copy_from_slice(&l4_sum.to_be_bytes());
        Ok(total)
    }
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
mod tests {
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
}
