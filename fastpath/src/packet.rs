//! Packet buffers.
//!
//! A [`Packet`] owns one preallocated buffer with headroom in front of the frame, so that
//! `push_vlan` (and future encapsulations) prepend bytes without moving the frame. Buffers are
//! recycled through a [`PacketPool`] rather than allocated per packet.
//!
//! A packet may be an offloaded "super-packet" from a TAP device with `IFF_VNET_HDR` or an
//! AF_PACKET socket with `PACKET_VNET_HDR`: up to 64 KB with a partial checksum and a GSO size.
//! [`Offload`] carries that virtio-net header so the output port can pass it on, or complete
//! the work in software when it cannot.

/// Bytes reserved in front of every frame.
pub const HEADROOM: usize = 128;
/// Largest frame a buffer holds (a 64 KB GSO super-packet plus L2 headers).
pub const MAX_FRAME: usize = 65_536 + 256;

/// virtio-net header offload state (see `struct virtio_net_hdr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the L4 checksum is partial and must be completed.
    pub needs_csum: bool,
    /// Where checksumming starts, from the start of the frame.
    pub csum_start: u16,
    /// Where the checksum goes, from `csum_start`.
    pub csum_offset: u16,
    /// `VIRTIO_NET_HDR_GSO_*` type (0 = none).
    pub gso_type: u8,
    /// Segment payload size for GSO.
    pub gso_size: u16,
    /// Header length hint.
    pub hdr_len: u16,
}

/// One frame in a buffer with headroom.
#[derive(Clone)]
pub struct Packet {
    buf: Box<[u8]>,
    head: usize,
    len: usize,
    /// Datapath port the packet arrived on.
    pub in_port: u32,
    /// Offload state carried from the input port.
    pub offload: Offload,
    /// Tunnel metadata: set by a tunnel endpoint on receive, by `set(tunnel(...))` before an
    /// output to a tunnel port.
    pub tunnel: crate::flow::TunnelMeta,
}

impl core::fmt::Debug for Packet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Packet")
            .field("len", &self.len)
            .field("in_port", &self.in_port)
            .finish()
    }
}

impl Packet {
    /// An empty packet whose buffer holds frames of up to `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Packet {
        Packet {
            buf: vec![0u8; HEADROOM + capacity].into_boxed_slice(),
            head: HEADROOM,
            len: 0,
            in_port: 0,
            offload: Offload::default(),
            tunnel: crate::flow::TunnelMeta::default(),
        }
    }

    /// A packet holding a copy of `frame` (tests, benchmarks, slow-path injection).
    pub fn from_bytes(frame: &[u8]) -> Packet {
        let mut p = Packet::with_capacity(frame.len().max(2048));
        p.buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
        p.len = frame.len();
        p
    }

    /// The frame.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.head..self.head + self.len]
    }

    /// The frame, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..self.head + self.len]
    }

    /// Frame length.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the frame is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Resets to an empty frame at the default headroom, for reuse by a port's receive.
    pub fn reset(&mut self) {
        self.head = HEADROOM.min(self.buf.len());
        self.len = 0;
        self.in_port = 0;
        self.offload = Offload::default();
        self.tunnel = crate::flow::TunnelMeta::default();
    }

    /// The whole space from the frame start to the end of the buffer, for a receive call to
    /// fill; follow with [`Packet::set_len`].
    pub fn rx_space(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..]
    }

    /// Like [`Packet::rx_space`], but starting `front` bytes before the frame, in the headroom:
    /// one receive then puts a `front`-byte header (a virtio-net header) in the headroom and
    /// the frame at the frame start. Follow with [`Packet::set_len`] of the bytes read minus
    /// `front`; the header stays readable through [`Packet::front`] until the headroom is
    /// used. `None` if the headroom is smaller than `front`.
    pub fn rx_space_with_front(&mut self, front: usize) -> Option<&mut [u8]> {
        let start = self.head.checked_sub(front)?;
        Some(&mut self.buf[start..])
    }

    /// The `n` headroom bytes right in front of the frame, or `None` if the headroom is
    /// smaller. Their content is whatever was last put there (see
    /// [`Packet::rx_space_with_front`]); pushes overwrite them.
    pub fn front(&self, n: usize) -> Option<&[u8]> {
        let start = self.head.checked_sub(n)?;
        Some(&self.buf[start..self.head])
    }

    /// [`Packet::front`], mutable.
    pub fn front_mut(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.head.checked_sub(n)?;
        Some(&mut self.buf[start..self.head])
    }

    /// The `n` headroom bytes in front of the frame followed by the frame, as one slice (for a
    /// write that sends a header and the frame as one buffer), or `None` if the headroom is
    /// smaller.
    pub fn with_front(&self, n: usize) -> Option<&[u8]> {
        let start = self.head.checked_sub(n)?;
        Some(&self.buf[start..self.head + self.len])
    }

    /// Sets the frame length after a receive into [`Packet::rx_space`]. Clamped to the buffer.
    pub fn set_len(&mut self, len: usize) {
        self.len = len.min(self.buf.len() - self.head);
    }

    /// Room in front of the frame.
    pub fn headroom(&self) -> usize {
        self.head
    }

    /// Inserts `n` zero bytes at `offset` inside the frame, using headroom: the first
    /// `offset` bytes move `n` bytes towards the front. Returns false (and changes nothing) if
    /// there is not enough headroom or `offset > len`.
    pub fn insert_gap(&mut self, offset: usize, n: usize) -> bool {
        if n > self.head || offset > self.len {
            return false;
        }
        let old = self.head;
        self.head -= n;
        self.buf.copy_within(old..old + offset, self.head);
        self.buf[self.head + offset..self.head + offset + n].fill(0);
        self.len += n;
        if self.offload.needs_csum {
            self.offload.csum_start = self.offload.csum_start.wrapping_add(n as u16);
        }
        true
    }

    /// Removes `n` bytes at `offset` (the bytes before it move back). Returns false (and
    /// changes nothing) if the range is outside the frame.
    pub fn remove_gap(&mut self, offset: usize, n: usize) -> bool {
        if offset.checked_add(n).is_none_or(|end| end > self.len) {
            return false;
        }
        let old = self.head;
        self.buf.copy_within(old..old + offset, old + n);
        self.head += n;
        self.len -= n;
        if self.offload.needs_csum {
            self.offload.csum_start = self.offload.csum_start.wrapping_sub(n as u16);
        }
        true
    }
}

/// A free list of packet buffers, so the packet path does not allocate.
#[derive(Debug, Default)]
pub struct PacketPool {
    free: Vec<Packet>,
    capacity: usize,
}

impl PacketPool {
    /// A pool of `count` buffers of `capacity` bytes each.
    pub fn new(count: usize, capacity: usize) -> PacketPool {
        PacketPool {
            free: (0..count)
                .map(|_| Packet::with_capacity(capacity))
                .collect(),
            capacity,
        }
    }

    /// A buffer from the pool, or a new one if the pool is empty.
    pub fn get(&mut self) -> Packet {
        match self.free.pop() {
            Some(mut p) => {
                p.reset();
                p
            }
            None => Packet::with_capacity(self.capacity),
        }
    }

    /// Returns a buffer to the pool.
    pub fn put(&mut self, p: Packet) {
        self.free.push(p);
    }

    /// Buffers available.
    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_and_remove_gap_keep_surrounding_bytes() {
        let mut p = Packet::from_bytes(&[1, 2, 3, 4, 5, 6]);
        assert!(p.insert_gap(2, 4));
        assert_eq!(p.data(), &[1, 2, 0, 0, 0, 0, 3, 4, 5, 6]);
        assert!(p.remove_gap(2, 4));
        assert_eq!(p.data(), &[1, 2, 3, 4, 5, 6]);
        assert!(!p.remove_gap(5, 4));
        assert!(!p.insert_gap(7, 1));
        assert!(!p.insert_gap(0, HEADROOM + 1));
    }

    #[test]
    fn front_is_the_headroom_right_before_the_frame() {
        let mut p = Packet::with_capacity(16);
        let space = p.rx_space_with_front(3).unwrap();
        space[..7].copy_from_slice(&[7, 8, 9, 1, 2, 3, 4]);
        p.set_len(4);
        assert_eq!(p.data(), &[1, 2, 3, 4]);
        assert_eq!(p.front(3).unwrap(), &[7, 8, 9]);
        assert_eq!(p.with_front(3).unwrap(), &[7, 8, 9, 1, 2, 3, 4]);
        p.front_mut(1).unwrap()[0] = 5;
        assert_eq!(p.with_front(2).unwrap(), &[8, 5, 1, 2, 3, 4]);
        // The header used headroom bytes only: pushes still have all of it.
        assert_eq!(p.headroom(), HEADROOM);
        assert!(p.insert_gap(0, 2));
        assert_eq!(p.data(), &[0, 0, 1, 2, 3, 4]);
        assert_eq!(p.front(HEADROOM - 2).map(<[u8]>::len), Some(HEADROOM - 2));
        assert!(p.front(HEADROOM - 1).is_none());
        assert!(p.rx_space_with_front(HEADROOM).is_none());
    }
}
