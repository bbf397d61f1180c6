//! Geneve headers (RFC 8926).
//!
//! ```text
//!  0                   1                   2                   3
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! |                    Variable-Length Options                    |
//! ```
//!
//! `Opt Len` counts the options in 4-byte words; each option is a 4-byte header (class 16
//! bits, type 8 bits whose top bit marks it *critical*, 3 reserved bits, its own length in
//! 4-byte words in 5 bits) followed by its data. A checked view guarantees the fixed header and
//! the whole option area `Opt Len` announces; [`Header::options`] walks the options and reports
//! one whose length reaches past the area (a length that lies) as [`Error::BadOption`], so a
//! walk never reads outside the header.

use super::{Error, read_u16, read_u32, write_u16, write_u32};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 8;
/// The IANA UDP port.
pub const PORT: u16 = 6081;
/// Protocol type of an Ethernet payload (Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;
/// Most option bytes `Opt Len` can announce (63 words).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;
/// Option type bit that marks an option the receiver must understand.
pub const TYPE_CRITICAL: u8 = 0x80;

mod field {
    use core::ops::Range;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const VNI: Range<usize> = 4..8;
}

/// Flags byte: OAM packet.
pub const FLAG_OAM: u8 = 0x80;
/// Flags byte: a critical option is present.
pub const FLAG_CRITICAL: u8 = 0x40;

/// A view of a Geneve header, its options and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

/// One option: class, type, data (a multiple of four bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub class: u16,
    pub kind: u8,
    pub data: &'a [u8],
}

impl Opt<'_> {
    /// True if the receiver must drop the packet when it does not understand the option.
    pub fn critical(&self) -> bool {
        self.kind & TYPE_CRITICAL != 0
    }
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wraps `buffer` if it holds the fixed header and the announced options, and the version
    /// is 0.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if b[field::VER_OPTLEN] >> 6 != 0 {
            return Err(Error::BadVersion);
        }
        let h = Header { buffer };
        if h.buffer.as_ref().len() < h.header_len() {
            return Err(Error::BadHeaderLen);
        }
        Ok(h)
    }

    /// Length of the options in bytes.
    #[inline]
    pub fn options_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_OPTLEN] & 0x3f) * 4
    }

    /// Fixed header plus options.
    #[inline]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The flags byte (O = [`FLAG_OAM`], C = [`FLAG_CRITICAL`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The payload's protocol type ([`PROTO_ETHERNET`] for frames).
    #[inline]
    pub fn protocol(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The 24-bit VNI.
    #[inline]
    pub fn vni(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VNI]) >> 8
    }

    /// The raw option bytes.
    #[inline]
    pub fn options_raw(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The options, in order; an option whose header or length runs past the option area
    /// yields `Err(BadOption)` and ends the walk.
    pub fn options(&self) -> Options<'_> {
        Options {
            rest: self.options_raw(),
        }
    }

    /// What follows the options.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Writes the fixed header for `options_len` bytes of options (a multiple of 4, at most
    /// [`MAX_OPTIONS_LEN`]; the caller writes the options after it).
    pub fn emit(&mut self, vni: u32, flags: u8, options_len: usize) {
        let b = self.buffer.as_mut();
        b[field::VER_OPTLEN] = ((options_len.min(MAX_OPTIONS_LEN) / 4) & 0x3f) as u8;
        b[field::FLAGS] = flags & (FLAG_OAM | FLAG_CRITICAL);
        write_u16(&mut b[field::PROTOCOL], PROTO_ETHERNET);
        write_u32(&mut b[field::VNI], (vni & 0x00ff_ffff) << 8);
    }
}

/// Writes one option (header and `data`, whose length must be a multiple of 4 and at most
/// 124) at the start of `out`; returns the bytes written, or `None` if it does not fit.
pub fn emit_option(out: &mut [u8], class: u16, kind: u8, data: &[u8]) -> Option<usize> {
    if !data.len().is_multiple_of(4) || data.len() > 124 {
        return None;
    }
    let total = 4 + data.len();
    let o = out.get_mut(..total)?;
    write_u16(&mut o[0..2], class);
    o[2] = kind;
    o[3] = (data.len() / 4) as u8;
    o[4..].copy_from_slice(data);
    Some(total)
}

/// Iterator over Geneve options (see [`Header::options`]).
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Opt<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.rest;
        let Some(hdr) = r.get(..4) else {
            self.rest = &[];
            return Some(Err(Error::BadOption));
        };
        let len = usize::from(hdr[3] & 0x1f) * 4;
        let Some(data) = r.get(4..4 + len) else {
            self.rest = &[];
            return Some(Err(Error::BadOption));
        };
        self.rest = &r[4 + len..];
        Some(Ok(Opt {
            class: read_u16(&hdr[0..2]),
            kind: hdr[2],
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VNI 0x0000aa, one 4-byte option (class 0xffff, type 0, data 1 2 3 4), then payload.
    const ONE_OPT: [u8; 18] = [
        0x02, 0x00, 0x65, 0x58, 0x00, 0x00, 0xaa, 0x00, // fixed
        0xff, 0xff, 0x00, 0x01, 1, 2, 3, 4, // option
        0xde, 0xad, // payload
    ];

    #[test]
    fn reads_fields_and_options() {
        let h = Header::new_checked(&ONE_OPT[..]).unwrap();
        assert_eq!(h.vni(), 0xaa);
        assert_eq!(h.protocol(), PROTO_ETHERNET);
        assert_eq!(h.header_len(), 16);
        let opts: Vec<_> = h.options().collect();
        assert_eq!(
            opts,
            vec![Ok(Opt {
                class: 0xffff,
                kind: 0,
                data: &[1, 2, 3, 4]
            })]
        );
        assert!(!opts[0].unwrap().critical());
        assert_eq!(h.payload(), &[0xde, 0xad]);
    }

    #[test]
    fn rejects_truncation_bad_version_and_short_option_area() {
        for len in 0..HEADER_LEN {
            assert_eq!(Header::new_checked(&ONE_OPT[..len]), Err(Error::Truncated));
        }
        for len in HEADER_LEN..16 {
            assert_eq!(
                Header::new_checked(&ONE_OPT[..len]),
                Err(Error::BadHeaderLen)
            );
        }
        let mut b = ONE_OPT;
        b[0] |= 0x40;
        assert_eq!(Header::new_checked(&b[..]), Err(Error::BadVersion));
    }

    #[test]
    fn an_option_length_that_lies_is_reported_not_followed() {
        let mut b = ONE_OPT;
        b[11] = 5; // says 20 data bytes; the area holds 4
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!(h.options().collect::<Vec<_>>(), vec![Err(Error::BadOption)]);
        // An area that ends inside an option header.
        let mut c = [0u8; 14];
        c[0] = 0x01;
        c[8..12].copy_from_slice(&[0, 1, 0x80, 0]);
        let h = Header::new_checked(&c[..]).unwrap();
        let o = h.options().next().unwrap().unwrap();
        assert!(o.critical() && o.data.is_empty());
    }

    #[test]
    fn emit_round_trips() {
        let mut b = [0u8; 18];
        Header::new_unchecked(&mut b[..]).emit(0xaa, 0, 8);
        assert_eq!(emit_option(&mut b[8..], 0xffff, 0, &[1, 2, 3, 4]), Some(8));
        b[16..].copy_from_slice(&[0xde, 0xad]);
        assert_eq!(b, ONE_OPT);
        assert_eq!(emit_option(&mut b[..4], 1, 1, &[1, 2, 3, 4]), None);
        assert_eq!(emit_option(&mut b[..], 1, 1, &[1, 2, 3]), None);
    }
}
