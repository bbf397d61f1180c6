//! ICMPv6 headers (RFC 4443) and neighbour discovery messages (RFC 4861).
//!
//! A checked [`Packet`] guarantees the 8-byte header (type, code, checksum, a 4-byte word).
//! Neighbour solicitations and advertisements (types 135 and 136, code 0, as OVS recognises
//! them) carry a 16-byte target address after that word and then options, each
//! `type, length in 8-byte units, data`. The flow key takes the target and the Ethernet
//! source/target link-layer address options; [`Packet::nd_link_layer_addrs`] applies the
//! rules for those: an option of length 0 or reaching past the message, or a link-layer
//! option given twice, makes the message malformed. Trailing bytes shorter than an option
//! are ignored, as OVS does.

use std::net::Ipv6Addr;

use super::{Error, read_array, read_u16, write_u16};

/// Length of the header (type, code, checksum, 4-byte message word).
pub const HEADER_LEN: usize = 8;
/// Length of a neighbour solicitation/advertisement up to the options.
pub const ND_HEADER_LEN: usize = HEADER_LEN + 16;
/// Neighbour solicitation.
pub const NEIGHBOR_SOLICIT: u8 = 135;
/// Neighbour advertisement.
pub const NEIGHBOR_ADVERT: u8 = 136;
/// ND option: source link-layer address.
pub const OPT_SOURCE_LL_ADDR: u8 = 1;
/// ND option: target link-layer address.
pub const OPT_TARGET_LL_ADDR: u8 = 2;

pub use super::icmp::Kind;

/// The [`Kind`] of ICMPv6 type `ty`: echo request and reply, and the errors (destination
/// unreachable, packet too big, time exceeded, parameter problem).
pub const fn kind(ty: u8) -> Kind {
    match ty {
        128 => Kind::Request,
        129 => Kind::Reply,
        1..=4 => Kind::Error,
        _ => Kind::Other,
    }
}

/// The echo type on the other side of `ty`.
pub const fn counterpart(ty: u8) -> Option<u8> {
    match ty {
        128 => Some(129),
        129 => Some(128),
        _ => None,
    }
}

pub(crate) mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const MSG_WORD: Range<usize> = 4..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
    pub const ND_TARGET: Range<usize> = 8..24;
    pub const ND_OPTIONS: RangeFrom<usize> = 24..;
}

/// A view of an ICMPv6 message.
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

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// The 4-byte message word (echo id/seq, MTU, ND flags...).
    #[inline]
    pub fn msg_word(&self) -> [u8; 4] {
        read_array(&self.buffer.as_ref()[field::MSG_WORD])
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }

    /// True for a neighbour solicitation or advertisement (code 0), the messages whose
    /// target and link-layer addresses the flow key holds.
    #[inline]
    pub fn is_neighbor_discovery(&self) -> bool {
        self.code() == 0 && matches!(self.msg_type(), NEIGHBOR_SOLICIT | NEIGHBOR_ADVERT)
    }

    /// The ND target address. [`Error::Truncated`] if the message ends before it. Meaningful
    /// only if [`Self::is_neighbor_discovery`].
    pub fn nd_target(&self) -> Result<Ipv6Addr, Error> {
        let b = self
            .buffer
            .as_ref()
            .get(field::ND_TARGET)
            .ok_or(Error::Truncated)?;
        Ok(Ipv6Addr::from(read_array::<16>(b)))
    }

    /// The ND options (empty if the message ends before them).
    pub fn nd_options(&self) -> NdOptions<'_> {
        NdOptions {
            rest: self.buffer.as_ref().get(field::ND_OPTIONS).unwrap_or(&[]),
        }
    }

    /// The Ethernet source/target link-layer address options of an ND message.
    ///
    /// Errors: [`Error::BadOption`] for a malformed option or a repeated link-layer option.
    /// Options of other types, or link-layer options whose length is not 8 bytes (not
    /// Ethernet), are skipped.
    pub fn nd_link_layer_addrs(&self) -> Result<NdLinkLayer, Error> {
        let mut out = NdLinkLayer::default();
        for opt in self.nd_options() {
            let opt = opt?;
            let slot = match opt.kind() {
                OPT_SOURCE_LL_ADDR => &mut out.source,
                OPT_TARGET_LL_ADDR => &mut out.target,
                _ => continue,
            };
            let Some(mac) = opt.ethernet_addr() else {
                continue;
            };
            if slot.is_some() {
                return Err(Error::BadOption);
            }
            *slot = Some(mac);
        }
        Ok(out)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }
}

/// The link-layer addresses found in an ND message's options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NdLinkLayer {
    /// Source link-layer address option (1).
    pub source: Option<[u8; 6]>,
    /// Target link-layer address option (2).
    pub target: Option<[u8; 6]>,
}

/// One ND option: its whole bytes (type, length, data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NdOption<'a> {
    bytes: &'a [u8],
}

impl<'a> NdOption<'a> {
    /// Option type.
    #[inline]
    pub fn kind(&self) -> u8 {
        self.bytes[0]
    }

    /// The option's bytes after type and length.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        &self.bytes[2..]
    }

    /// The address of an 8-byte link-layer option (an Ethernet MAC), else `None`.
    pub fn ethernet_addr(&self) -> Option<[u8; 6]> {
        (self.bytes.len() == 8).then(|| read_array(&self.bytes[2..8]))
    }
}

/// Iterator over ND options; yields an error (then stops) at a malformed option.
#[derive(Debug, Clone)]
pub struct NdOptions<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for NdOptions<'a> {
    type Item = Result<NdOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // The smallest option is 8 bytes; a shorter tail is ignored (as OVS).
        if self.rest.len() < 8 {
            return None;
        }
        let len = usize::from(self.rest[1]) * 8;
        if len == 0 || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(Error::BadOption));
        }
        let (bytes, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(Ok(NdOption { bytes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn neighbor_solicit(options: &[u8]) -> Vec<u8> {
        let mut b = vec![NEIGHBOR_SOLICIT, 0, 0x12, 0x34, 0, 0, 0, 0];
        b.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(options);
        b
    }

    const SLL: [u8; 8] = [1, 1, 0x02, 0, 0, 0, 0, 0x0a];
    const TLL: [u8; 8] = [2, 1, 0x02, 0, 0, 0, 0, 0x0b];

    #[test]
    fn reads_header_and_nd_fields() {
        let mut opts = SLL.to_vec();
        opts.extend_from_slice(&[5, 1, 0, 0, 0, 0, 5, 0xdc]); // MTU option, skipped
        opts.extend_from_slice(&TLL);
        opts.extend_from_slice(&[0, 0, 0]); // short tail, ignored
        let b = neighbor_solicit(&opts);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum()), (135, 0, 0x1234));
        assert_eq!(p.msg_word(), [0; 4]);
        assert!(p.is_neighbor_discovery());
        assert_eq!(p.nd_target(), Ok("fe80::1".parse().unwrap()));
        let ll = p.nd_link_layer_addrs().unwrap();
        assert_eq!(ll.source, Some([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(ll.target, Some([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(p.nd_options().count(), 3);
        assert_eq!(
            p.nd_options().nth(1).unwrap().unwrap().data(),
            &[0, 0, 0, 0, 5, 0xdc]
        );
    }

    #[test]
    fn malformed_options() {
        // Zero length.
        let b = neighbor_solicit(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_link_layer_addrs(), Err(Error::BadOption));
        // Reaching past the message.
        let b = neighbor_solicit(&[1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_link_layer_addrs(), Err(Error::BadOption));
        // Source link-layer address twice.
        let mut opts = SLL.to_vec();
        opts.extend_from_slice(&SLL);
        let b = neighbor_solicit(&opts);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_link_layer_addrs(), Err(Error::BadOption));
        // A 16-byte link-layer option is not Ethernet: skipped, not an error.
        let b = neighbor_solicit(&[1, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.nd_link_layer_addrs(), Ok(NdLinkLayer::default()));
    }

    #[test]
    fn truncations() {
        let b = neighbor_solicit(&SLL);
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..len]), Err(Error::Truncated));
        }
        for len in HEADER_LEN..ND_HEADER_LEN {
            let p = Packet::new_checked(&b[..len]).unwrap();
            assert_eq!(p.nd_target(), Err(Error::Truncated), "len {len}");
            assert_eq!(p.nd_options().count(), 0);
        }
        for len in ND_HEADER_LEN..b.len() {
            let p = Packet::new_checked(&b[..len]).unwrap();
            assert!(p.nd_target().is_ok());
            assert_eq!(
                p.nd_link_layer_addrs(),
                Ok(NdLinkLayer::default()),
                "len {len}"
            );
        }
    }

    #[test]
    fn only_code_zero_ns_na_are_nd() {
        let mut b = neighbor_solicit(&[]);
        b[1] = 1;
        assert!(!Packet::new_checked(&b[..]).unwrap().is_neighbor_discovery());
        b[1] = 0;
        b[0] = NEIGHBOR_ADVERT;
        assert!(Packet::new_checked(&b[..]).unwrap().is_neighbor_discovery());
        b[0] = 128;
        assert!(!Packet::new_checked(&b[..]).unwrap().is_neighbor_discovery());
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_checksum(0xabcd);
        assert_eq!(p.checksum(), 0xabcd);
    }
}
