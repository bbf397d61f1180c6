//! IPv4 headers (RFC 791).
//!
//! A checked view guarantees: version 4, IHL >= 5, the whole header (with options) in the
//! buffer, and `IHL*4 <= total length <= buffer length`. Bytes past the total length are
//! link-layer padding (Ethernet pads short frames to 60 bytes) and are not part of
//! [`Packet::payload`]. Options are skipped, never interpreted.

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, read_array, read_u16, write_u16};

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;

pub(crate) mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DONT_FRAG: u16 = 0x4000;
const FLAG_MORE_FRAGS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a well-formed IPv4 header (see the module docs).
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks version, header length and total length against the buffer.
    ///
    /// Errors: [`Error::Truncated`] if the buffer ends inside the header (fixed part or
    /// options), [`Error::BadVersion`], [`Error::BadHeaderLen`] if IHL < 5, and
    /// [`Error::BadLength`] if the total length is below the header length or beyond the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadHeaderLen);
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < header_len || total > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (4 on a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service byte (DSCP << 2 | ECN).
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// Total length (header and payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::TOTAL_LEN])
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    fn flags_frag(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLAGS_FRAG])
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DONT_FRAG != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MORE_FRAGS != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }

    /// True for any fragment: more-fragments set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MORE_FRAGS | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(&self.buffer.as_ref()[field::SRC]))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_array::<4>(&self.buffer.as_ref()[field::DST]))
    }

    /// Options (between the fixed header and the payload).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload, up to the total length (link-layer padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// True if the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type of service byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Stores a header checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }

    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(sum);
    }

    /// The payload, mutably (up to the total length).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10.0.0.1 -> 10.0.0.2, UDP, TTL 64, TOS 0xb8, DF, 4 payload bytes, 2 padding bytes.
    const PACKET: [u8; 26] = [
        0x45, 0xb8, 0x00, 0x18, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, // ...
        10, 0, 0, 1, 10, 0, 0, 2, // addresses
        0xaa, 0xbb, 0xcc, 0xdd, // payload
        0x00, 0x00, // link padding
    ];

    #[test]
    fn reads_fields_and_excludes_padding() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0xb8);
        assert_eq!(p.total_len(), 24);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert!(p.options().is_empty());
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn truncations_and_bad_fields() {
        for len in 0..24 {
            let r = Packet::new_checked(&PACKET[..len]);
            let want = if len < HEADER_LEN {
                Error::Truncated
            } else {
                Error::BadLength
            };
            assert_eq!(r, Err(want), "len {len}");
        }
        let mut b = PACKET;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadVersion));
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadHeaderLen));
        b[0] = 0x47; // 28-byte header in a 26-byte buffer
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Truncated));
        b[0] = 0x46; // 24-byte header, total length 24: valid, 4 bytes of options
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.options(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert!(p.payload().is_empty());
        b[0] = 0x45;
        b[3] = 19; // total length below the header length
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadLength));
    }

    #[test]
    fn fragments() {
        let mut b = PACKET;
        b[6] = 0x20; // MF, offset 0: first fragment
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment() && p.more_frags() && p.frag_offset() == 0);
        b[6] = 0x00;
        b[7] = 0x03; // offset 3 units: last fragment
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_fragment() && !p.more_frags());
        assert_eq!(p.frag_offset(), 24);
    }

    #[test]
    fn setters_and_checksum() {
        let mut b = PACKET;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.set_ttl(63);
        assert!(!p.verify_checksum());
        p.set_tos(0x10);
        p.set_src_addr(Ipv4Addr::new(192, 168, 1, 1));
        p.set_dst_addr(Ipv4Addr::new(192, 168, 1, 2));
        p.fill_checksum();
        assert!(p.verify_checksum());
        p.payload_mut()[0] = 0x11;
        assert_eq!(p.ttl(), 63);
        assert_eq!(p.tos(), 0x10);
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 1, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(b[20], 0x11);
    }
}
