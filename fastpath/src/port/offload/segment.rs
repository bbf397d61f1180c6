//! Offload work done in software: finishing a partial checksum ([`complete_checksum`]) and
//! cutting a GSO super-packet into segments ([`Segmenter`]), plus the offload state a frame
//! received without a vnet header implies ([`partial_checksum_offsets`], [`infer_tso`]).
//!
//! Headers are found through the `wire` views ([`parse_layout`]); every checksum is computed
//! with [`crate::wire::checksum`]. Invalid metadata or headers yield an [`OffloadDrop`].

use super::OffloadDrop;
use super::vnet::{VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP_L4};
use crate::packet::Offload;
use crate::wire::checksum::{self, Field};
use crate::wire::{ethernet, ethertype, ipproto, ipv4, ipv6, tcp, udp, vlan};

/// Where the headers of an IP packet with a TCP/UDP payload are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    l3: usize,
    l4: usize,
    /// End of the L4 header: where the payload starts.
    payload: usize,
    /// End of the IP packet (Ethernet padding excluded).
    end: usize,
    ipv4: bool,
    proto: u8,
}

/// Parses Ethernet (up to two VLAN tags), IPv4/IPv6 (skipping extension headers; fragments
/// refused) and the TCP/UDP header, all through the `wire` views.
pub(super) fn parse_layout(f: &[u8]) -> Result<Layout, OffloadDrop> {
    let bad = |_| OffloadDrop::Malformed;
    let eth = ethernet::Frame::new_checked(f).map_err(bad)?;
    let mut l3 = ethernet::HEADER_LEN;
    let mut ety = eth.ethertype();
    for _ in 0..2 {
        if vlan::is_tpid(ety) {
            ety = vlan::Tag::new_checked(&f[l3..]).map_err(bad)?.ethertype();
            l3 += vlan::HEADER_LEN;
        }
    }
    let (l4, end, proto, ipv4) = match ety {
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(&f[l3..]).map_err(bad)?;
            if ip.is_fragment() {
                return Err(OffloadDrop::Malformed);
            }
            let end = l3 + usize::from(ip.total_len());
            (l3 + ip.header_len(), end, ip.protocol(), true)
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(&f[l3..]).map_err(bad)?;
            if ip.payload_len() == 0 {
                return Err(OffloadDrop::Malformed);
            }
            let upper =
                ipv6::skip_extension_headers(ip.next_header(), ip.payload()).map_err(bad)?;
            if upper.is_fragment {
                return Err(OffloadDrop::Malformed);
            }
            let at = l3 + ipv6::HEADER_LEN;
            (
                at + upper.offset,
                at + ip.payload().len(),
                upper.protocol,
                false,
            )
        }
        _ => return Err(OffloadDrop::Malformed),
    };
    let l4_bytes = &f[l4..end];
    let payload = match proto {
        ipproto::TCP => {
            l4 + tcp::Packet::new_checked(l4_bytes)
                .map_err(bad)?
                .header_len()
        }
        ipproto::UDP => {
            udp::Packet::new_checked(l4_bytes).map_err(bad)?;
            l4 + udp::HEADER_LEN
        }
        _ => return Err(OffloadDrop::Malformed),
    };
    Ok(Layout {
        l3,
        l4,
        payload,
        end,
        ipv4,
        proto,
    })
}

/// Checksum offsets for a frame the kernel flagged as checksum-partial without saying where
/// (AF_PACKET's `TP_STATUS_CSUMNOTREADY` without a vnet header): the L4 header start and the
/// TCP/UDP checksum field. `None` if the frame is not TCP/UDP over IP.
pub fn partial_checksum_offsets(frame: &[u8]) -> Option<(u16, u16)> {
    let lay = parse_layout(frame).ok()?;
    let offset = if lay.proto == ipproto::TCP { 16 } else { 6 };
    Some((lay.l4 as u16, offset))
}

/// For a frame received without a vnet header that is longer than the interface MTU allows
/// (a TCP GSO skb handed over whole, as AF_PACKET does): the TSO offload state that cuts it into
/// segments fitting `mtu`. `None` if the frame is not TCP over IP or already fits.
pub fn infer_tso(frame: &[u8], mtu: usize) -> Option<Offload> {
    let lay = parse_layout(frame).ok()?;
    if lay.proto != ipproto::TCP || lay.end - lay.l3 <= mtu {
        return None;
    }
    let mss = mtu.checked_sub(lay.payload - lay.l3).filter(|m| *m > 0)?;
    Some(Offload {
        needs_csum: true,
        csum_start: lay.l4 as u16,
        csum_offset: 16,
        gso_type: if lay.ipv4 {
            VNET_GSO_TCPV4
        } else {
            VNET_GSO_TCPV6
        },
        gso_size: u16::try_from(mss).ok()?,
        hdr_len: lay.payload as u16,
    })
}

/// Finishes a partial checksum in place: the ones'-complement sum from `csum_start` to the end
/// of `frame` (which includes the pseudo-header sum already in the field), complemented, is
/// written at `csum_start + csum_offset`.
pub fn complete_checksum(frame: &mut [u8], o: &Offload) -> Result<(), OffloadDrop> {
    let start = usize::from(o.csum_start);
    let field = start + usize::from(o.csum_offset);
    if field + 2 > frame.len() {
        return Err(OffloadDrop::BadChecksumOffsets);
    }
    let sum = !checksum::fold(checksum::sum_words(&frame[start..], 0));
    let sum = if sum == 0 { 0xffff } else { sum };
    frame[field..field + 2].copy_from_slice(&sum.to_be_bytes());
    Ok(())
}

/// Cuts one GSO super-packet into segments. Build it with [`Segmenter::new`], then write
/// segments `0..count()` wherever they should go with [`Segmenter::write`].
#[derive(Debug)]
pub struct Segmenter<'a> {
    frame: &'a [u8],
    lay: Layout,
    mss: usize,
    count: usize,
}

impl<'a> Segmenter<'a> {
    /// Checks the offload metadata against the headers. A packet whose payload fits one
    /// segment gives `count() == 1` (its single segment has complete checksums).
    pub fn new(frame: &'a [u8], o: &Offload) -> Result<Segmenter<'a>, OffloadDrop> {
        let lay = parse_layout(frame)?;
        let ok = match o.gso_type & !VNET_GSO_ECN {
            VNET_GSO_TCPV4 => lay.ipv4 && lay.proto == ipproto::TCP,
            VNET_GSO_TCPV6 => !lay.ipv4 && lay.proto == ipproto::TCP,
            VNET_GSO_UDP_L4 => lay.proto == ipproto::UDP,
            _ => false,
        };
        if !ok || o.gso_size == 0 {
            return Err(OffloadDrop::UnsupportedGso);
        }
        if o.needs_csum && usize::from(o.csum_start) != lay.l4 {
            return Err(OffloadDrop::BadChecksumOffsets);
        }
        let mss = usize::from(o.gso_size);
        let payload = lay.end - lay.payload;
        Ok(Segmenter {
            frame,
            lay,
            mss,
            count: payload.div_ceil(mss).max(1),
        })
    }

    /// Number of segments.
    pub fn count(&self) -> usize {
        self.count
    }

    fn chunk(&self, i: usize) -> (usize, usize) {
        let start = self.lay.payload + i * self.mss;
        (start, self.mss.min(self.lay.end - start))
    }

    /// Length of segment `i` on the wire.
    pub fn segment_len(&self, i: usize) -> usize {
        self.lay.payload + self.chunk(i).1
    }

    /// Writes segment `i` (< `count()`) at the start of `out`, returning its length.
    pub fn write(&self, i: usize, out: &mut [u8]) -> Result<usize, OffloadDrop> {
        if i >= self.count {
            return Err(OffloadDrop::UnsupportedGso);
        }
        let Layout {
            l3, l4, payload, ..
        } = self.lay;
        let (start, len) = self.chunk(i);
        let total = payload + len;
        let out = out.get_mut(..total).ok_or(OffloadDrop::NoBuffer)?;
        out[..payload].copy_from_slice(&self.frame[..payload]);
        out[payload..].copy_from_slice(&self.frame[start..start + len]);

        let l4_len = total - l4;
        let pseudo = if self.lay.ipv4 {
            let ip_total = (total - l3) as u16;
            out[l3 + 2..l3 + 4].copy_from_slice(&ip_total.to_be_bytes());
            let id = u16::from_be_bytes([out[l3 + 4], out[l3 + 5]]).wrapping_add(i as u16);
            out[l3 + 4..l3 + 6].copy_from_slice(&id.to_be_bytes());
            out[l3 + 10..l3 + 12].fill(0);
            let ip_sum = checksum::checksum(&out[l3..l4]);
            out[l3 + 10..l3 + 12].copy_from_slice(&ip_sum.to_be_bytes());
            let ip = ipv4::Packet::new_unchecked(&out[l3..l4]);
            checksum::pseudo_header_v4(
                ip.src_addr().to_bits(),
                ip.dst_addr().to_bits(),
                self.lay.proto,
                l4_len as u16,
            )
        } else {
            let plen = (total - l3 - ipv6::HEADER_LEN) as u16;
            out[l3 + 4..l3 + 6].copy_from_slice(&plen.to_be_bytes());
            let ip = ipv6::Packet::new_unchecked(&out[l3..l4]);
            checksum::pseudo_header_v6(
                &ip.src_addr().octets(),
                &ip.dst_addr().octets(),
                self.lay.proto,
                l4_len as u32,
            )
        };

        let check_at = if self.lay.proto == ipproto::TCP {
            let seq = u32::from_be_bytes([out[l4 + 4], out[l4 + 5], out[l4 + 6], out[l4 + 7]]);
            let seq = seq.wrapping_add((i * self.mss) as u32);
            out[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
            const FIN: u8 = 0x01;
            const PSH: u8 = 0x08;
            const CWR: u8 = 0x80;
            if i + 1 != self.count {
                out[l4 + 13] &= !(FIN | PSH);
            }
            if i != 0 {
                out[l4 + 13] &= !CWR;
            }
            l4 + 16
        } else {
            out[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            l4 + 6
        };
        out[check_at..check_at + 2].fill(0);
        let kind = if self.lay.proto == ipproto::UDP {
            Field::Udp
        } else {
            Field::Full
        };
        let l4_sum = kind.store(!checksum::fold(checksum::sum_words(&out[l4..], pseudo)));
        out[check_at..check_at + 2].copy_from_slice(&l4_sum.to_be_bytes());
        Ok(total)
    }
}
