//! TCP headers (RFC 9293).
//!
//! A checked view guarantees the 20-byte fixed header and a data offset of at least 5 words
//! that stays within the buffer, so [`Packet::options`] and [`Packet::payload`] are always
//! in range. The 12 flag bits (the low 4 bits of byte 12 plus byte 13: NS and three reserved
//! bits, then CWR..FIN) are exposed as one `u16`, the shape of the flow key's `tcp_flags`.

use super::{Error, read_u16, read_u32, write_u16};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

/// Flag bits of [`Packet::flags`].
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
    /// Every bit the flags field can hold.
    pub const MASK: u16 = 0x0fff;
}

pub(crate) mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const OFFSET_FLAGS: Range<usize> = 12..14;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// A view of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a complete TCP header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Errors: [`Error::Truncated`] below 20 bytes; [`Error::BadHeaderLen`] if the data
    /// offset is below 5 words or reaches past the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadHeaderLen);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::SEQ])
    }

    /// Acknowledgement number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::ACK])
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFFSET_FLAGS.start] >> 4) * 4
    }

    /// The 12 flag bits ([`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::OFFSET_FLAGS]) & flags::MASK
    }

    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::WINDOW])
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// Options (between the fixed header and the data).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The segment's data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(&mut self.buffer.as_mut()[field::SRC_PORT], port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(&mut self.buffer.as_mut()[field::DST_PORT], port);
    }

    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40000 -> 80, SYN|ACK|NS, data offset 6 (4 option bytes), 1 data byte.
    const SEGMENT: [u8; 25] = [
        0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 2, 0x61, 0x12, 0xff, 0xff, 0xab, 0xcd, 0,
        0, // fixed header
        0x02, 0x04, 0x05, 0xb4, // MSS option
        0x99, // data
    ];

    #[test]
    fn reads_fields() {
        let p = Packet::new_checked(&SEGMENT[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40000, 80));
        assert_eq!((p.seq_number(), p.ack_number()), (1, 2));
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::NS | flags::SYN | flags::ACK);
        assert_eq!(p.window(), 0xffff);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.urgent(), 0);
        assert_eq!(p.options(), &[0x02, 0x04, 0x05, 0xb4]);
        assert_eq!(p.payload(), &[0x99]);
    }

    #[test]
    fn truncations_and_bad_offsets() {
        for len in 0..24 {
            let want = if len < HEADER_LEN {
                Error::Truncated
            } else {
                Error::BadHeaderLen
            };
            assert_eq!(Packet::new_checked(&SEGMENT[..len]), Err(want), "len {len}");
        }
        let mut b = SEGMENT;
        b[12] = 0x41; // data offset 4
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadHeaderLen));
        b[12] = 0xf1; // 60 bytes in a 25-byte buffer
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadHeaderLen));
    }

    #[test]
    fn setters() {
        let mut b = SEGMENT;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_checksum(3);
        assert_eq!((p.src_port(), p.dst_port(), p.checksum()), (1, 2, 3));
    }
}
