//! GRE headers (RFC 2784, with the key and sequence number extensions of RFC 2890).
//!
//! ```text
//! |C| |K|S| Reserved0       | Ver |         Protocol Type         |
//! |      Checksum (optional)      |       Reserved1 (optional)    |
//! |                         Key (optional)                        |
//! |                 Sequence Number (optional)                    |
//! ```
//!
//! A checked view guarantees the base header and every optional word its flags announce,
//! and version 0 (version 1 is PPTP's enhanced GRE, which is not a tunnel for frames).
//! Routing (the RFC 1701 R bit) is refused as [`Error::BadOption`].

use super::{Error, read_u16, read_u32, write_u16, write_u32};

/// Length of the base header.
pub const HEADER_LEN: usize = 4;
/// Protocol type of an Ethernet payload (gretap, Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;
/// IP protocol number of GRE.
pub const IPPROTO_GRE: u8 = 47;

/// Flag: checksum present.
pub const FLAG_C: u16 = 0x8000;
/// Flag (RFC 1701): routing present.
pub const FLAG_R: u16 = 0x4000;
/// Flag: key present.
pub const FLAG_K: u16 = 0x2000;
/// Flag: sequence number present.
pub const FLAG_S: u16 = 0x1000;

mod field {
    use core::ops::Range;
    pub const FLAGS: Range<usize> = 0..2;
    pub const PROTOCOL: Range<usize> = 2..4;
}

/// A view of a GRE header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of a header with these flags.
pub const fn header_len_for(flags: u16) -> usize {
    let mut n = HEADER_LEN;
    if flags & FLAG_C != 0 {
        n += 4;
    }
    if flags & FLAG_K != 0 {
        n += 4;
    }
    if flags & FLAG_S != 0 {
        n += 4;
    }
    n
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wraps `buffer` if it holds a version-0 header with every announced field.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let flags = read_u16(&b[field::FLAGS]);
        if flags & 0x7 != 0 {
            return Err(Error::BadVersion);
        }
        if flags & FLAG_R != 0 {
            return Err(Error::BadOption);
        }
        if b.len() < header_len_for(flags) {
            return Err(Error::BadHeaderLen);
        }
        Ok(Header { buffer })
    }

    /// The flags and version word.
    #[inline]
    pub fn flags(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::FLAGS])
    }

    /// The payload's protocol type.
    #[inline]
    pub fn protocol(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header length including the optional words.
    #[inline]
    pub fn header_len(&self) -> usize {
        header_len_for(self.flags())
    }

    /// The checksum field, if present.
    pub fn checksum(&self) -> Option<u16> {
        (self.flags() & FLAG_C != 0).then(|| read_u16(&self.buffer.as_ref()[4..6]))
    }

    /// The key, if present.
    pub fn key(&self) -> Option<u32> {
        let f = self.flags();
        let at = HEADER_LEN + if f & FLAG_C != 0 { 4 } else { 0 };
        (f & FLAG_K != 0).then(|| read_u32(&self.buffer.as_ref()[at..at + 4]))
    }

    /// The sequence number, if present.
    pub fn seq(&self) -> Option<u32> {
        let f = self.flags();
        let at = header_len_for(f & (FLAG_C | FLAG_K));
        (f & FLAG_S != 0).then(|| read_u32(&self.buffer.as_ref()[at..at + 4]))
    }

    /// What follows the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Writes a header for an Ethernet payload with an optional key and a checksum field
    /// (zero: fill it with [`Header::fill_checksum`] once the payload is in place).
    pub fn emit(&mut self, key: Option<u32>, csum: bool) {
        let mut flags = 0;
        if csum {
            flags |= FLAG_C;
        }
        if key.is_some() {
            flags |= FLAG_K;
        }
        let b = self.buffer.as_mut();
        write_u16(&mut b[field::FLAGS], flags);
        write_u16(&mut b[field::PROTOCOL], PROTO_ETHERNET);
        let mut at = HEADER_LEN;
        if csum {
            b[at..at + 4].fill(0);
            at += 4;
        }
        if let Some(k) = key {
            write_u32(&mut b[at..at + 4], k);
        }
    }

    /// Computes the checksum over the header and everything after it (C flag set).
    pub fn fill_checksum(&mut self) {
        if self.flags() & FLAG_C == 0 {
            return;
        }
        let b = self.buffer.as_mut();
        b[4..6].fill(0);
        let c = super::checksum::checksum(b);
        write_u16(&mut b[4..6], c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// K flag, Ethernet, key 0x01020304, payload.
    const KEYED: [u8; 10] = [0x20, 0x00, 0x65, 0x58, 1, 2, 3, 4, 0xaa, 0xbb];

    #[test]
    fn reads_fields() {
        let h = Header::new_checked(&KEYED[..]).unwrap();
        assert_eq!(h.protocol(), PROTO_ETHERNET);
        assert_eq!(
            (h.key(), h.checksum(), h.seq()),
            (Some(0x0102_0304), None, None)
        );
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
        let all = [
            0xb0, 0, 0x65, 0x58, 0x12, 0x34, 0, 0, 0, 0, 0, 9, 0, 0, 0, 5,
        ];
        let h = Header::new_checked(&all[..]).unwrap();
        assert_eq!(
            (h.checksum(), h.key(), h.seq()),
            (Some(0x1234), Some(9), Some(5))
        );
        assert!(h.payload().is_empty());
    }

    #[test]
    fn rejects_truncation_versions_and_routing() {
        for len in 0..HEADER_LEN {
            assert_eq!(Header::new_checked(&KEYED[..len]), Err(Error::Truncated));
        }
        for len in HEADER_LEN..8 {
            assert_eq!(Header::new_checked(&KEYED[..len]), Err(Error::BadHeaderLen));
        }
        let mut b = KEYED;
        b[1] = 1;
        assert_eq!(Header::new_checked(&b[..]), Err(Error::BadVersion));
        b[1] = 0;
        b[0] |= 0x40;
        assert_eq!(Header::new_checked(&b[..]), Err(Error::BadOption));
    }

    #[test]
    fn emit_and_checksum() {
        let mut b = [0u8; 10];
        Header::new_unchecked(&mut b[..]).emit(Some(0x0102_0304), false);
        b[8..].copy_from_slice(&[0xaa, 0xbb]);
        assert_eq!(b, KEYED);
        let mut c = [0u8; 14];
        c[12..].copy_from_slice(&[0xaa, 0xbb]);
        let mut h = Header::new_unchecked(&mut c[..]);
        h.emit(Some(7), true);
        h.fill_checksum();
        assert_eq!(super::super::checksum::checksum(&c), 0);
        assert_eq!(Header::new_checked(&c[..]).unwrap().key(), Some(7));
    }
}
