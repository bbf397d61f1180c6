//! 802.1Q and 802.1ad VLAN tags.
//!
//! On the wire a tag is a TPID (0x8100 for 802.1Q, 0x88a8 for 802.1ad S-tags) in the EtherType
//! position, then a 16-bit TCI (3 bits PCP, 1 bit DEI, 12 bits VID), then the EtherType of
//! what follows. The TPID belongs to the header *before* the tag (the Ethernet header or the
//! outer tag), so this view starts at the TCI: 4 bytes, TCI then the inner EtherType, exactly
//! like the Ethernet header's type-then-payload chaining.

use super::ethertype;
use super::{Error, read_u16, write_u16};

/// Length of a tag after its TPID (TCI + inner EtherType).
pub const HEADER_LEN: usize = 4;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TCI: Range<usize> = 0..2;
    pub const ETHERTYPE: Range<usize> = 2..4;
    pub const PAYLOAD: RangeFrom<usize> = 4..;
}

/// True for the EtherTypes that announce a VLAN tag (802.1Q and 802.1ad).
#[inline]
pub const fn is_tpid(ethertype: u16) -> bool {
    ethertype == ethertype::VLAN || ethertype == ethertype::QINQ
}

/// A view of one VLAN tag (TCI and the EtherType that follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is shorter than 4 bytes).
    pub const fn new_unchecked(buffer: T) -> Tag<T> {
        Tag { buffer }
    }

    /// Wraps `buffer` if it holds a complete tag.
    pub fn new_checked(buffer: T) -> Result<Tag<T>, Error> {
        let tag = Tag::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// Checks that the buffer holds the whole tag.
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

    /// The whole tag control information (PCP, DEI, VID).
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::TCI])
    }

    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator (the former CFI bit).
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (0..=4095).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// EtherType of the payload (possibly another TPID).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::ETHERTYPE])
    }

    /// Everything after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<'a> Tag<&'a [u8]> {
    /// The payload, borrowed for the buffer's lifetime rather than the view's.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        &self.buffer[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    /// Sets the tag control information.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(&mut self.buffer.as_mut()[field::TCI], tci);
    }

    /// Sets the payload's EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: u16) {
        write_u16(&mut self.buffer.as_mut()[field::ETHERTYPE], ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tci_parts() {
        // PCP 5, DEI 1, VID 0x123; then IPv6.
        let bytes = [0xb1, 0x23, 0x86, 0xdd, 0xff];
        let t = Tag::new_checked(&bytes[..]).unwrap();
        assert_eq!(t.tci(), 0xb123);
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0x123);
        assert_eq!(t.ethertype(), 0x86dd);
        assert_eq!(t.payload(), &[0xff]);
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = [0x00, 0x0a, 0x08, 0x00];
        for len in 0..HEADER_LEN {
            assert_eq!(Tag::new_checked(&bytes[..len]), Err(Error::Truncated));
        }
        assert!(Tag::new_checked(&bytes[..]).is_ok());
    }

    #[test]
    fn setters_and_tpids() {
        let mut bytes = [0u8; 4];
        let mut t = Tag::new_checked(&mut bytes[..]).unwrap();
        t.set_tci(0x2064);
        t.set_ethertype(0x0806);
        assert_eq!(bytes, [0x20, 0x64, 0x08, 0x06]);
        assert!(is_tpid(0x8100) && is_tpid(0x88a8));
        assert!(!is_tpid(0x0800) && !is_tpid(0x9100));
    }
}
