//! ARP packets (RFC 826).
//!
//! The 8-byte fixed part names the hardware and protocol address types and lengths; the four
//! addresses follow with those lengths. The view accepts any lengths (it checks that the
//! buffer holds all four addresses) and exposes them as slices; [`Packet::is_ethernet_ipv4`]
//! says whether they are the Ethernet/IPv4 shapes that the flow key can hold, for which the
//! typed [`Packet::ethernet_ipv4`] applies.

use super::ethertype;
use super::{Error, read_array, read_u16, read_u32};

/// Length of the fixed part (types, lengths, operation).
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ETH_IPV4_LEN: usize = 28;
/// EtherType of reverse ARP (RFC 903), which shares ARP's packet format.
pub const ETHERTYPE_RARP: u16 = 0x8035;
/// `htype` of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP request.
pub const OP_REQUEST: u16 = 1;
/// ARP reply.
pub const OP_REPLY: u16 = 2;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const ADDRS: usize = 8;
}

/// A view of an ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds the fixed part and all four addresses.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the fixed part and the addresses it announces.
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < FIXED_LEN || len < self.addrs_end() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    fn addrs_end(&self) -> usize {
        let hlen = usize::from(self.hardware_len());
        let plen = usize::from(self.protocol_len());
        field::ADDRS + 2 * (hlen + plen)
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 = Ethernet).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::HTYPE])
    }

    /// Protocol type (an EtherType; 0x0800 = IPv4).
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::PTYPE])
    }

    /// Hardware address length in bytes.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length in bytes.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (1 request, 2 reply, ...).
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::OPER])
    }

    /// True for Ethernet hardware addresses and IPv4 protocol addresses.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == ethertype::IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    fn addr(&self, index: usize) -> &[u8] {
        let h = usize::from(self.hardware_len());
        let p = usize::from(self.protocol_len());
        // Layout: sha (h), spa (p), tha (h), tpa (p).
        let (start, len) = match index {
            0 => (field::ADDRS, h),
            1 => (field::ADDRS + h, p),
            2 => (field::ADDRS + h + p, h),
            _ => (field::ADDRS + 2 * h + p, p),
        };
        &self.buffer.as_ref()[start..start + len]
    }

    /// Sender hardware address, of `hardware_len` bytes.
    pub fn source_hardware_addr(&self) -> &[u8] {
        self.addr(0)
    }

    /// Sender protocol address, of `protocol_len` bytes.
    pub fn source_protocol_addr(&self) -> &[u8] {
        self.addr(1)
    }

    /// Target hardware address, of `hardware_len` bytes.
    pub fn target_hardware_addr(&self) -> &[u8] {
        self.addr(2)
    }

    /// Target protocol address, of `protocol_len` bytes.
    pub fn target_protocol_addr(&self) -> &[u8] {
        self.addr(3)
    }

    /// The addresses of an Ethernet/IPv4 packet, or `None` for other address types.
    pub fn ethernet_ipv4(&self) -> Option<EthernetIpv4> {
        if !self.is_ethernet_ipv4() {
            return None;
        }
        // The check above plus `check_len` guarantee ETH_IPV4_LEN bytes; `get` keeps even an
        // unchecked view from panicking here.
        let b = self.buffer.as_ref().get(..ETH_IPV4_LEN)?;
        Some(EthernetIpv4 {
            operation: read_u16(&b[field::OPER]),
            sha: read_array(&b[8..14]),
            spa: read_u32(&b[14..18]),
            tha: read_array(&b[18..24]),
            tpa: read_u32(&b[24..28]),
        })
    }
}

/// The fields of an Ethernet/IPv4 ARP packet (IPv4 addresses in host order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetIpv4 {
    pub operation: u16,
    pub sha: [u8; 6],
    pub spa: u32,
    pub tha: [u8; 6],
    pub tpa: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // eth/ipv4 request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x00, 0x00, 0x01, // sha, spa 10.0.0.1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, // tha, tpa 10.0.0.2
    ];

    #[test]
    fn reads_ethernet_ipv4_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), OP_REQUEST);
        let a = p.ethernet_ipv4().unwrap();
        assert_eq!(a.sha, [2, 0, 0, 0, 0, 1]);
        assert_eq!(a.spa, 0x0a00_0001);
        assert_eq!(a.tha, [0; 6]);
        assert_eq!(a.tpa, 0x0a00_0002);
        assert_eq!(a.operation, OP_REQUEST);
        assert_eq!(p.source_hardware_addr(), &REQUEST[8..14]);
        assert_eq!(p.target_protocol_addr(), &[10, 0, 0, 2]);
    }

    #[test]
    fn rejects_every_truncation() {
        for len in 0..ETH_IPV4_LEN {
            assert_eq!(
                Packet::new_checked(&REQUEST[..len]),
                Err(Error::Truncated),
                "{len}"
            );
        }
    }

    #[test]
    fn other_address_lengths_are_sliced_not_typed() {
        // htype 6 (IEEE 802), hlen 2, plen 1: 8 + 2*(2+1) = 14 bytes.
        let bytes = [0, 6, 0x08, 0x00, 2, 1, 0, 2, 0xaa, 0xbb, 9, 0xcc, 0xdd, 7];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert!(!p.is_ethernet_ipv4());
        assert_eq!(p.ethernet_ipv4(), None);
        assert_eq!(p.source_hardware_addr(), &[0xaa, 0xbb]);
        assert_eq!(p.source_protocol_addr(), &[9]);
        assert_eq!(p.target_hardware_addr(), &[0xcc, 0xdd]);
        assert_eq!(p.target_protocol_addr(), &[7]);
        assert_eq!(Packet::new_checked(&bytes[..13]), Err(Error::Truncated));
    }
}
