//! SCTP common headers (RFC 9260).
//!
//! Only the 12-byte common header is viewed: ports, verification tag and the CRC32c checksum.
//! Chunks follow as the payload; the switch does not look inside them.

use super::{Error, read_u16, read_u32, write_u16, write_u32};

/// Length of the common header.
pub const HEADER_LEN: usize = 12;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const VERIFICATION_TAG: Range<usize> = 4..8;
    pub const CHECKSUM: Range<usize> = 8..12;
    pub const PAYLOAD: RangeFrom<usize> = 12..;
}

/// A view of an SCTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds the common header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the common header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
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

    /// Verification tag.
    #[inline]
    pub fn verification_tag(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VERIFICATION_TAG])
    }

    /// The checksum field's four bytes read big-endian (the CRC32c value as stored).
    #[inline]
    pub fn checksum(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The chunks.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
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

    /// Stores the checksum field (big-endian, the inverse of [`Packet::checksum`]).
    #[inline]
    pub fn set_checksum(&mut self, checksum: u32) {
        write_u32(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }

    /// Computes the CRC32c over the whole buffer (the SCTP packet: common header and chunks)
    /// with the field zeroed, and stores it, little-endian as RFC 9260 appendix A sends it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let crc = super::checksum::crc32c(self.buffer.as_ref());
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_checksum_stores_crc32c_little_endian() {
        let mut b = PACKET;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        let mut zeroed = PACKET;
        zeroed[8..12].fill(0);
        let crc = super::super::checksum::crc32c(&zeroed);
        assert_eq!(b[8..12], crc.to_le_bytes());
        assert_eq!(b[..8], PACKET[..8]);
    }

    const PACKET: [u8; 14] = [
        0x0b, 0x59, 0x0b, 0x5a, 0, 0, 0, 7, 0xde, 0xad, 0xbe, 0xef, 1, 2,
    ];

    #[test]
    fn reads_fields() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (2905, 2906));
        assert_eq!(p.verification_tag(), 7);
        assert_eq!(p.checksum(), 0xdead_beef);
        assert_eq!(p.payload(), &[1, 2]);
    }

    #[test]
    fn rejects_every_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PACKET[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn setters() {
        let mut b = PACKET;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(5);
        p.set_dst_port(6);
        p.set_checksum(0x0102_0304);
        assert_eq!(&b[..12], &[0, 5, 0, 6, 0, 0, 0, 7, 1, 2, 3, 4]);
    }
}
