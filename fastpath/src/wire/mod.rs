//! Typed, zero-copy views of packet headers.
//!
//! # What
//!
//! One module per protocol, each with a view type over any `T: AsRef<[u8]>` (a borrowed slice
//! for parsing, `&mut [u8]` for in-place rewrites by datapath actions). A view owns nothing
//! and copies nothing: getters read big-endian fields straight out of the buffer, setters
//! write them back. Field positions live in a `mod field` per protocol, so the layout of a
//! header is written down exactly once; code that rewrites fields of several headers in one
//! pass with chained checksum updates (NAT of an ICMP error and the packet it quotes) names
//! those positions (`pub(crate)` for IP, TCP, UDP, ICMP and ICMPv6) rather than numbers.
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
pub mod checksum;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod sctp;
pub mod tcp;
pub mod udp;
pub mod vlan;
pub mod vxlan;

/// Ethernet types (the values of the Ethernet header's type field) the switch knows.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const IPV6: u16 = 0x86dd;
}

/// IP protocol numbers (IPv4 protocol, IPv6 next header) the switch knows.
pub mod ipproto {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const ICMPV6: u8 = 58;
    pub const SCTP: u8 = 132;
}

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

#[cfg(test)]
mod tests {
    use super::*;

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
