//! The virtio-net header (`struct virtio_net_hdr`, legacy layout, native byte order) that TAP
//! (`IFF_VNET_HDR`) and AF_PACKET (`PACKET_VNET_HDR`) put in front of each frame, and its
//! mapping to and from a packet's [`Offload`] state.

use crate::packet::{Offload, Packet};

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
