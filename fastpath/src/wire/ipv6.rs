//! IPv6 headers (RFC 8200) and the extension headers in front of the upper layer.
//!
//! A checked [`Packet`] guarantees version 6 and `40 + payload length <= buffer length`;
//! bytes past the payload length are link padding. Jumbograms (payload length 0 with a
//! hop-by-hop jumbo option) are not supported: their payload is empty.
//!
//! [`skip_extension_headers`] walks hop-by-hop (0), routing (43), fragment (44), destination
//! options (60) and authentication (51) headers to the upper-layer header, following OVS: a
//! non-first fragment ends the walk (its upper-layer header is in another fragment) and is
//! reported with protocol 44. The walk is bounded by [`MAX_EXT_HEADERS`] so a crafted chain
//! costs a fixed amount of work.

use std::net::Ipv6Addr;

use super::{Error, read_array, read_u16, read_u32, write_u32};

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Most extension headers [`skip_extension_headers`] follows before giving up.
pub const MAX_EXT_HEADERS: usize = 16;

/// Extension header protocol numbers.
pub mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
}

pub(crate) mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds a well-formed IPv6 header and the payload it announces.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Errors: [`Error::Truncated`] below 40 bytes, [`Error::BadVersion`], and
    /// [`Error::BadLength`] if the payload length reaches past the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn ver_tc_flow(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }

    /// IP version (6 on a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP << 2 | ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length (extension headers included) in bytes.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PAYLOAD_LEN])
    }

    /// The header after this one (an extension header or the upper layer).
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(&self.buffer.as_ref()[field::SRC]))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read_array::<16>(&self.buffer.as_ref()[field::DST]))
    }

    /// The payload (extension headers and upper layer), link padding excluded.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_ver_tc_flow(&mut self, v: u32) {
        write_u32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], v);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tclass: u8) {
        let v = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(tclass) << 20);
        self.set_ver_tc_flow(v);
    }

    /// Sets the flow label (the low 20 bits of `label`).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let v = (self.ver_tc_flow() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_ver_tc_flow(v);
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.octets());
    }
}

/// A view of a fragment header (8 bytes: next header, reserved, offset/flags, identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of a fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps `buffer` if it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<FragmentHeader<T>, Error> {
        if buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(FragmentHeader { buffer })
    }

    /// The header after this one.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    fn offset_flags(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[2..4])
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.offset_flags() & 0xfff8
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.offset_flags() & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(&self.buffer.as_ref()[4..8])
    }
}

/// Where the upper layer starts, as found by [`skip_extension_headers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// Protocol of the upper layer; [`ext::FRAGMENT`] for a non-first fragment (as OVS).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 payload.
    pub offset: usize,
    /// The packet is a fragment (first or later).
    pub is_fragment: bool,
    /// The packet is a non-first fragment: there is no upper-layer header to parse.
    pub is_later_fragment: bool,
}

/// Length of the extension header `kind` whose first bytes are `hdr`, if `kind` is one.
fn ext_header_len(kind: u8, hdr: &[u8]) -> Option<Result<usize, Error>> {
    let len_field = |hdr: &[u8]| hdr.get(1).map(|l| usize::from(*l)).ok_or(Error::Truncated);
    match kind {
        ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
            Some(len_field(hdr).map(|l| (l + 1) * 8))
        }
        ext::AUTH => Some(len_field(hdr).map(|l| (l + 2) * 4)),
        ext::FRAGMENT => Some(Ok(FRAGMENT_HEADER_LEN)),
        _ => None,
    }
}

/// Walks the extension headers of an IPv6 payload whose first header is `next_header`.
///
/// Errors: [`Error::Truncated`] if a header does not fit in `payload`,
/// [`Error::TooManyHeaders`] after [`MAX_EXT_HEADERS`] headers.
pub fn skip_extension_headers(next_header: u8, payload: &[u8]) -> Result<UpperLayer, Error> {
    let mut out = UpperLayer {
        protocol: next_header,
        offset: 0,
        is_fragment: false,
        is_later_fragment: false,
    };
    for seen in 0..=MAX_EXT_HEADERS {
        let rest = &payload[out.offset..];
        let Some(len) = ext_header_len(out.protocol, rest) else {
            return Ok(out);
        };
        if seen == MAX_EXT_HEADERS {
            break;
        }
        let len = len?;
        if rest.len() < len {
            return Err(Error::Truncated);
        }
        if out.protocol == ext::FRAGMENT {
            let frag = FragmentHeader::new_checked(rest)?;
            if frag.frag_offset() != 0 || frag.more_frags() {
                out.is_fragment = true;
            }
            if frag.frag_offset() != 0 {
                out.is_later_fragment = true;
                out.offset += len;
                return Ok(out);
            }
            out.protocol = frag.next_header();
        } else {
            out.protocol = rest[0];
        }
        out.offset += len;
    }
    Err(Error::TooManyHeaders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(next: u8, payload_len: u16) -> Vec<u8> {
        let mut b = vec![0x6a, 0xb1, 0x23, 0x45]; // tclass 0xab, label 0x12345
        b.extend_from_slice(&payload_len.to_be_bytes());
        b.extend_from_slice(&[next, 64]);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        b
    }

    #[test]
    fn reads_fixed_header() {
        let mut b = header(17, 2);
        b.extend_from_slice(&[0xaa, 0xbb, 0x00]); // payload + 1 byte padding
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xab);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 2);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.dst_addr(), "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn truncations_and_bad_fields() {
        let mut b = header(17, 2);
        b.extend_from_slice(&[0xaa, 0xbb]);
        for len in 0..b.len() {
            let want = if len < HEADER_LEN {
                Error::Truncated
            } else {
                Error::BadLength
            };
            assert_eq!(Packet::new_checked(&b[..len]), Err(want), "len {len}");
        }
        b[0] = 0x4a;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::BadVersion));
    }

    #[test]
    fn setters_keep_neighbouring_bits() {
        let mut b = header(6, 0);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_traffic_class(0x12);
        assert_eq!(
            (p.traffic_class(), p.flow_label(), p.version()),
            (0x12, 0x12345, 6)
        );
        p.set_flow_label(0xfff_ffff);
        assert_eq!(
            (p.traffic_class(), p.flow_label(), p.version()),
            (0x12, 0xfffff, 6)
        );
        p.set_hop_limit(1);
        p.set_src_addr(Ipv6Addr::LOCALHOST);
        p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
        assert_eq!(p.hop_limit(), 1);
        assert_eq!(p.src_addr(), Ipv6Addr::LOCALHOST);
        assert_eq!(p.dst_addr(), Ipv6Addr::UNSPECIFIED);
    }

    #[test]
    fn walks_extension_headers_to_upper_layer() {
        // hop-by-hop (8 bytes) -> dest opts (16 bytes) -> AH (12 bytes) -> fragment -> TCP.
        let mut p = vec![ext::DEST_OPTS, 0, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(&[ext::AUTH, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[ext::FRAGMENT, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[6, 0, 0x00, 0x01, 0, 0, 0, 9]); // offset 0, M=1
        p.extend_from_slice(&[0u8; 20]);
        let up = skip_extension_headers(ext::HOP_BY_HOP, &p).unwrap();
        assert_eq!(up.protocol, 6);
        assert_eq!(up.offset, 8 + 16 + 12 + 8);
        assert!(up.is_fragment && !up.is_later_fragment);
        for cut in 0..44 {
            assert_eq!(
                skip_extension_headers(ext::HOP_BY_HOP, &p[..cut]),
                Err(Error::Truncated),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn later_fragment_stops_the_walk() {
        let p = [17, 0, 0x05, 0x48, 0, 0, 0, 1, 0xde, 0xad]; // offset 0x548 bytes, M=0
        let up = skip_extension_headers(ext::FRAGMENT, &p).unwrap();
        assert_eq!(up.protocol, ext::FRAGMENT);
        assert_eq!(up.offset, 8);
        assert!(up.is_fragment && up.is_later_fragment);
        let f = FragmentHeader::new_checked(&p[..]).unwrap();
        assert_eq!(
            (f.next_header(), f.frag_offset(), f.more_frags()),
            (17, 0x548, false)
        );
        assert_eq!(f.ident(), 1);
        // An atomic fragment (offset 0, M=0) is not a fragment.
        let p = [17, 0, 0, 0, 0, 0, 0, 1];
        let up = skip_extension_headers(ext::FRAGMENT, &p).unwrap();
        assert_eq!((up.protocol, up.is_fragment), (17, false));
    }

    #[test]
    fn no_headers_and_too_many_headers() {
        let up = skip_extension_headers(58, &[]).unwrap();
        assert_eq!((up.protocol, up.offset), (58, 0));
        let chain = [0u8; 8 * (MAX_EXT_HEADERS + 2)]; // hop-by-hop after hop-by-hop...
        assert_eq!(
            skip_extension_headers(0, &chain),
            Err(Error::TooManyHeaders)
        );
        let mut ok = vec![0u8; 8 * MAX_EXT_HEADERS];
        ok[8 * (MAX_EXT_HEADERS - 1)] = 59; // the last one says "no next header"
        let up = skip_extension_headers(0, &ok).unwrap();
        assert_eq!((up.protocol, up.offset), (59, 8 * MAX_EXT_HEADERS));
    }
}
