//! UDP headers (RFC 768).
//!
//! A checked view guarantees the 8-byte header. The length field is exposed but not enforced:
//! the switch forwards datagrams whose length field disagrees with the IP payload (the
//! receiver decides), so [`Packet::payload`] is everything after the header.

use super::{Error, read_u16, write_u16};

/// Length of the header.
pub const HEADER_LEN: usize = 8;

pub(crate) mod field {
    use core::ops::{Range, RangeFrom};
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the header.
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

    /// Length field (header and data), as stored.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// True if the length field is zero (never valid on the wire; offered for symmetry).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checksum as stored (0 = none, for IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Everything after the header.
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

    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATAGRAM: [u8; 10] = [0x00, 0x35, 0xc3, 0x50, 0x00, 0x0a, 0x12, 0x34, 0xaa, 0xbb];

    #[test]
    fn reads_fields() {
        let p = Packet::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (53, 50000));
        assert_eq!(p.len(), 10);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn rejects_every_truncation_and_tolerates_length_mismatch() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&DATAGRAM[..len]), Err(Error::Truncated));
        }
        let p = Packet::new_checked(&DATAGRAM[..8]).unwrap();
        assert_eq!(p.len(), 10); // says 10, holds 8: still viewable
        assert!(p.payload().is_empty());
    }

    #[test]
    fn setters() {
        let mut b = DATAGRAM;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_src_port(1);
        p.set_dst_port(2);
        p.set_checksum(0);
        assert_eq!(&b[..8], &[0, 1, 0, 2, 0, 10, 0, 0]);
    }
}
