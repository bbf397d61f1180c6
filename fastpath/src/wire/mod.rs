//! Typed, zero-copy views of packet headers.
//!
//! # What
//!
//! One module per protocol, each with a view type over any `T: AsRef<[u8]>` (a borrowed slice
//! for parsing, `&mut [u8]` for in-place rewrites by datapath actions). A view owns nothing
//! and copies nothing: getters read big-endian fields straight out of the buffer, setters
//! write them back. Field positions live in a private `mod field` per protocol, so the layout
//! of a header is written down exactly once.
//!
//! # Why this shape
//!
//! The fast path parses every packet, so parsing must not allocate or copy; it also must not
//! trust a single byte of input. Splitting *checking* (`new_checked`, once per header) from
//! *reading* (getters, many times) keeps both cheap: after the check, getters are plain loads.
//! This is smoltcp's `wire` design.
//!
//! # The no-panic contract
//!
//! - `new_checked(buffer)` never panics. It returns a small `Copy` [`Error`] unless the buffer
//!   holds the complete header the view describes, including any variable part announced by a
//!   length field (IPv4 IHL, TCP data offset, IPv6 payload length, ARP address lengths...).
//! - On a view returned by `new_checked`, no getter, setter or payload accessor panics, for
//!   any buffer contents. (Setters never touch the length fields the check relied on, so a
//!   checked view stays checked.)
//! - `new_unchecked` skips the check, for buffers the caller has already validated or is
//!   building. Its accessors index the buffer and panic if it is too short; that is the only
//!   way to get a panic out of this module.
//! - Helpers that walk variable structures ([`ipv6::skip_extension_headers`],
//!   [`icmpv6::Packet::nd_link_layer_addrs`]) bound every step by the buffer and report
//!   errors; they never panic either.
//!
//! Checksums are never verified while parsing: a switch forwards what it receives, and the
//! endpoint is the judge of its checksums. Views offer `fill_checksum`/`verify_checksum` only
//! where the datapath needs them.
//!
//! [`crate::flow::extract`] builds the flow key from these views and maps their errors to
//! per-layer drop reasons.

pub mod arp;
pub mod ethernet;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;

/// Why a buffer cannot be viewed as a header. Small and `Copy`: this is a packet-path error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The buffer ends before the header (or its announced variable part) does.
    #[error("the buffer is shorter than the header")]
    Truncated,
    /// The version field names another protocol version.
    #[error("the version field does not match the protocol")]
    BadVersion,
    /// A header-length field is below the protocol's minimum or reaches past the buffer.
    #[error("the header length field is invalid")]
    BadHeaderLen,
    /// A total/payload length field is smaller than the header or larger than the buffer.
    #[error("the length field does not fit the header and the buffer")]
    BadLength,
    /// An option (e.g. a neighbour discovery option) has a bad length or is repeated.
    #[error("an option is malformed")]
    BadOption,
    /// A chain of headers (IPv6 extension headers) is longer than this parser follows.
    #[error("the header chain is longer than the supported maximum")]
    TooManyHeaders,
}

/// Reads a big-endian `u16` from the first two bytes of `b`. Panics if `b` is shorter; callers
/// pass field ranges of checked views.
#[inline]
pub(crate) fn read_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian `u32` from the first four bytes of `b` (same contract as [`read_u16`]).
#[inline]
pub(crate) fn read_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes `v` big-endian into the first two bytes of `b`.
#[inline]
pub(crate) fn write_u16(b: &mut [u8], v: u16) {
    b[..2].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` big-endian into the first four bytes of `b`.
#[inline]
pub(crate) fn write_u32(b: &mut [u8], v: u32) {
    b[..4].copy_from_slice(&v.to_be_bytes());
}

/// Copies the first `N` bytes of `b` into an array (same contract as [`read_u16`]).
#[inline]
pub(crate) fn read_array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

/// The Internet checksum (RFC 1071) over `data`, as stored in headers (already complemented).
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internet_checksum_matches_rfc1071_example() {
        // RFC 1071 §3 example bytes: the one's complement sum is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&data), !0xddf2);
        // Odd length pads with a zero byte.
        assert_eq!(internet_checksum(&[0x12]), !0x1200);
        assert_eq!(internet_checksum(&[]), 0xffff);
    }

    #[test]
    fn big_endian_helpers_round_trip() {
        let mut b = [0u8; 4];
        write_u16(&mut b, 0xbeef);
        assert_eq!(read_u16(&b), 0xbeef);
        write_u32(&mut b, 0x0102_0304);
        assert_eq!(read_u32(&b), 0x0102_0304);
        assert_eq!(read_array::<3>(&b), [1, 2, 3]);
    }
}
