//! VXLAN headers (RFC 7348), with the Group Based Policy extension (draft-smith-vxlan-group-policy).
//!
//! Eight bytes after the outer UDP header: a flags byte whose I bit (0x08) says the VNI is
//! valid, and the 24-bit VNI in bytes 4..7. With the G bit (0x80) set, bytes 1..4 carry the
//! GBP flags (D 0x40, A 0x08) and the 16-bit group policy id. What follows is an Ethernet frame.
//!
//! A checked view guarantees the eight bytes; whether the flags are acceptable (I set) is the
//! receiver's decision ([`Header::vni_valid`]), not the view's.

use super::{Error, read_u16, read_u32, write_u16, write_u32};

/// Length of the header.
pub const HEADER_LEN: usize = 8;
/// The IANA UDP port.
pub const PORT: u16 = 4789;
/// Flags: the VNI is valid.
pub const FLAG_I: u8 = 0x08;
/// Flags: the GBP extension is present.
pub const FLAG_G: u8 = 0x80;

mod field {
    use core::ops::{Range, RangeFrom};
    pub const FLAGS: usize = 0;
    pub const GBP_FLAGS: usize = 1;
    pub const GBP_ID: Range<usize> = 2..4;
    pub const VNI: Range<usize> = 4..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// A view of a VXLAN header and the frame it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wraps `buffer` if it holds the eight-byte header.
    pub fn new_checked(buffer: T) -> Result<Header<T>, Error> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(Header { buffer })
    }

    /// The flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// True if the I flag is set (the VNI is meaningful).
    #[inline]
    pub fn vni_valid(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// The 24-bit VXLAN network identifier.
    #[inline]
    pub fn vni(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VNI]) >> 8
    }

    /// The GBP group policy id, if the G flag is set.
    #[inline]
    pub fn gbp_id(&self) -> Option<u16> {
        (self.flags() & FLAG_G != 0).then(|| read_u16(&self.buffer.as_ref()[field::GBP_ID]))
    }

    /// The GBP flags byte (D = 0x40, A = 0x08); 0 without the G flag.
    #[inline]
    pub fn gbp_flags(&self) -> u8 {
        if self.flags() & FLAG_G != 0 {
            self.buffer.as_ref()[field::GBP_FLAGS]
        } else {
            0
        }
    }

    /// The encapsulated Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Writes a complete header: I flag and `vni` (low 24 bits), plus GBP if `gbp` is given
    /// as `(flags, id)`; reserved bits zero.
    pub fn emit(&mut self, vni: u32, gbp: Option<(u8, u16)>) {
        let b = self.buffer.as_mut();
        b[..HEADER_LEN].fill(0);
        b[field::FLAGS] = FLAG_I;
        if let Some((flags, id)) = gbp {
            b[field::FLAGS] |= FLAG_G;
            b[field::GBP_FLAGS] = flags;
            write_u16(&mut b[field::GBP_ID], id);
        }
        write_u32(&mut b[field::VNI], (vni & 0x00ff_ffff) << 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// VNI 0x123456, I flag, then two payload bytes.
    const PLAIN: [u8; 10] = [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0, 0xaa, 0xbb];
    /// GBP: G|I, D flag, policy 0x0102, VNI 7.
    const GBP: [u8; 8] = [0x88, 0x40, 0x01, 0x02, 0, 0, 7, 0];

    #[test]
    fn reads_fields() {
        let h = Header::new_checked(&PLAIN[..]).unwrap();
        assert!(h.vni_valid());
        assert_eq!(h.vni(), 0x12_3456);
        assert_eq!(h.gbp_id(), None);
        assert_eq!(h.gbp_flags(), 0);
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
        let g = Header::new_checked(&GBP[..]).unwrap();
        assert_eq!(
            (g.vni(), g.gbp_id(), g.gbp_flags()),
            (7, Some(0x0102), 0x40)
        );
    }

    #[test]
    fn rejects_every_truncation_and_reports_missing_i_flag() {
        for len in 0..HEADER_LEN {
            assert_eq!(Header::new_checked(&PLAIN[..len]), Err(Error::Truncated));
        }
        let mut b = PLAIN;
        b[0] = 0;
        assert!(!Header::new_checked(&b[..]).unwrap().vni_valid());
    }

    #[test]
    fn emit_round_trips() {
        let mut b = [0xffu8; 8];
        Header::new_unchecked(&mut b[..]).emit(0x12_3456, None);
        assert_eq!(&b, &PLAIN[..8]);
        Header::new_unchecked(&mut b[..]).emit(7, Some((0x40, 0x0102)));
        assert_eq!(b, GBP);
        // Bits above 24 are not a VNI.
        Header::new_unchecked(&mut b[..]).emit(0x0100_0001, None);
        assert_eq!(Header::new_checked(&b[..]).unwrap().vni(), 1);
    }
}
