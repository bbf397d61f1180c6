//! Tunnel headers to and from [`TunnelMeta`]: pure functions over byte slices, through the
//! `wire` views. The outer IP and UDP headers are the kernel's business (see the module docs
//! of [`super`]); these are the bytes between them and the inner frame.

use super::{TunnelDrop, TunnelKind};
use crate::flow::TunnelMeta;
use crate::flow::key::tun_flags;
use crate::wire::{self, geneve, gre, vxlan};

/// Longest tunnel header [`encap_header`] writes (a GRE header with checksum and key).
pub const MAX_HEADER: usize = 16;

/// Writes the tunnel header for a frame leaving with `meta` into `out`; returns its length.
/// GRE's checksum field is left zero (see [`gre_checksum`]).
pub fn encap_header(kind: TunnelKind, meta: &TunnelMeta, out: &mut [u8; MAX_HEADER]) -> usize {
    match kind {
        TunnelKind::Vxlan => {
            let gbp =
                (meta.gbp_id != 0 || meta.gbp_flags != 0).then_some((meta.gbp_flags, meta.gbp_id));
            vxlan::Header::new_unchecked(&mut out[..]).emit(meta.id as u32, gbp);
            vxlan::HEADER_LEN
        }
        TunnelKind::Geneve => {
            let flags = if meta.flags & tun_flags::OAM != 0 {
                geneve::FLAG_OAM
            } else {
                0
            };
            geneve::Header::new_unchecked(&mut out[..]).emit(meta.id as u32, flags, 0);
            geneve::HEADER_LEN
        }
        TunnelKind::Gre => {
            let key = (meta.flags & tun_flags::KEY != 0).then_some(meta.id as u32);
            let csum = meta.flags & tun_flags::CSUM != 0;
            gre::Header::new_unchecked(&mut out[..]).emit(key, csum);
            gre::header_len_for(
                if csum { gre::FLAG_C } else { 0 } | if key.is_some() { gre::FLAG_K } else { 0 },
            )
        }
    }
}

/// Fills the checksum of a GRE header `hdr` (written by [`encap_header`]) that carries
/// `frame`, if it has a checksum field.
pub fn gre_checksum(hdr: &mut [u8], frame: &[u8]) {
    let h = gre::Header::new_unchecked(&*hdr);
    if h.flags() & gre::FLAG_C == 0 {
        return;
    }
    hdr[4..6].fill(0);
    // The header is a multiple of four bytes, so the two sums add up word-aligned.
    let sum = wire::checksum::sum_words(hdr, wire::checksum::sum_words(frame, 0));
    let c = !wire::checksum::fold(sum);
    hdr[4..6].copy_from_slice(&c.to_be_bytes());
}

/// Parses the tunnel header at the start of `payload` (the UDP payload for VXLAN and Geneve,
/// the GRE header for GRE), stores what it says in `meta` (id, flags, GBP), and returns the
/// header's length: the inner Ethernet frame starts there.
pub fn decap(kind: TunnelKind, payload: &[u8], meta: &mut TunnelMeta) -> Result<usize, TunnelDrop> {
    match kind {
        TunnelKind::Vxlan => {
            let h = vxlan::Header::new_checked(payload).map_err(|_| TunnelDrop::Truncated)?;
            if !h.vni_valid() {
                return Err(TunnelDrop::BadHeader);
            }
            meta.id = u64::from(h.vni());
            meta.flags |= tun_flags::KEY;
            if let Some(id) = h.gbp_id() {
                meta.gbp_id = id;
                meta.gbp_flags = h.gbp_flags();
            }
            Ok(vxlan::HEADER_LEN)
        }
        TunnelKind::Geneve => {
            let h = geneve::Header::new_checked(payload).map_err(|e| match e {
                wire::Error::BadVersion => TunnelDrop::BadHeader,
                _ => TunnelDrop::Truncated,
            })?;
            if h.protocol() != geneve::PROTO_ETHERNET {
                return Err(TunnelDrop::NotEthernet);
            }
            for opt in h.options() {
                let opt = opt.map_err(|_| TunnelDrop::BadOptions)?;
                // No option is understood yet: a critical one must drop the packet (RFC 8926
                // section 3.5.1); others are ignored.
                if opt.critical() {
                    return Err(TunnelDrop::CriticalOption);
                }
            }
            meta.id = u64::from(h.vni());
            meta.flags |= tun_flags::KEY;
            if h.flags() & geneve::FLAG_OAM != 0 {
                meta.flags |= tun_flags::OAM;
            }
            Ok(h.header_len())
        }
        TunnelKind::Gre => {
            let h = gre::Header::new_checked(payload).map_err(|e| match e {
                wire::Error::Truncated | wire::Error::BadHeaderLen => TunnelDrop::Truncated,
                _ => TunnelDrop::BadHeader,
            })?;
            if h.protocol() != gre::PROTO_ETHERNET {
                return Err(TunnelDrop::NotEthernet);
            }
            if let Some(k) = h.key() {
                meta.id = u64::from(k);
                meta.flags |= tun_flags::KEY;
            }
            if h.checksum().is_some() {
                meta.flags |= tun_flags::CSUM;
            }
            Ok(h.header_len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: u64, flags: u16) -> TunnelMeta {
        TunnelMeta {
            id,
            flags,
            ..TunnelMeta::default()
        }
    }

    #[test]
    fn encap_then_decap_round_trips() {
        for kind in [TunnelKind::Vxlan, TunnelKind::Geneve, TunnelKind::Gre] {
            let m = meta(0x1234, tun_flags::KEY);
            let mut hdr = [0u8; MAX_HEADER];
            let n = encap_header(kind, &m, &mut hdr);
            let mut got = TunnelMeta::default();
            assert_eq!(decap(kind, &hdr[..n], &mut got), Ok(n), "{kind}");
            assert_eq!(
                (got.id, got.flags & tun_flags::KEY),
                (0x1234, tun_flags::KEY)
            );
        }
    }

    #[test]
    fn gre_without_key_and_with_checksum() {
        let mut hdr = [0u8; MAX_HEADER];
        let n = encap_header(TunnelKind::Gre, &meta(0, tun_flags::CSUM), &mut hdr);
        assert_eq!(n, 8);
        let frame = [1u8, 2, 3, 4, 5];
        gre_checksum(&mut hdr[..n], &frame);
        let mut all = hdr[..n].to_vec();
        all.extend_from_slice(&frame);
        assert_eq!(wire::checksum::checksum(&all), 0);
        let mut got = TunnelMeta::default();
        assert_eq!(decap(TunnelKind::Gre, &all, &mut got), Ok(8));
        assert_eq!((got.id, got.flags), (0, tun_flags::CSUM));
    }

    #[test]
    fn bad_headers_are_reasons_not_panics() {
        let mut m = TunnelMeta::default();
        assert_eq!(
            decap(TunnelKind::Vxlan, &[8, 0, 0], &mut m),
            Err(TunnelDrop::Truncated)
        );
        assert_eq!(
            decap(TunnelKind::Vxlan, &[0; 8], &mut m),
            Err(TunnelDrop::BadHeader)
        );
        // Geneve: option area says 4 bytes, the option says 8.
        let lying = [1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0, 2];
        assert_eq!(
            decap(TunnelKind::Geneve, &lying, &mut m),
            Err(TunnelDrop::BadOptions)
        );
        let critical = [1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0x80, 0];
        assert_eq!(
            decap(TunnelKind::Geneve, &critical, &mut m),
            Err(TunnelDrop::CriticalOption)
        );
        let benign = [1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0x01, 0];
        assert_eq!(decap(TunnelKind::Geneve, &benign, &mut m), Ok(12));
        let ipv4 = [0, 0, 0x08, 0x00, 0, 0, 1, 0];
        assert_eq!(
            decap(TunnelKind::Geneve, &ipv4, &mut m),
            Err(TunnelDrop::NotEthernet)
        );
        assert_eq!(
            decap(
                TunnelKind::Geneve,
                &[0x40, 0, 0x65, 0x58, 0, 0, 1, 0],
                &mut m
            ),
            Err(TunnelDrop::BadHeader)
        );
        assert_eq!(
            decap(TunnelKind::Gre, &[0x20, 0, 0x65, 0x58, 1], &mut m),
            Err(TunnelDrop::Truncated)
        );
        assert_eq!(
            decap(TunnelKind::Gre, &[0, 1, 0x65, 0x58], &mut m),
            Err(TunnelDrop::BadHeader)
        );
        assert_eq!(
            decap(TunnelKind::Gre, &[0, 0, 0x08, 0x00], &mut m),
            Err(TunnelDrop::NotEthernet)
        );
        // Every truncation of every valid header.
        for kind in [TunnelKind::Vxlan, TunnelKind::Geneve, TunnelKind::Gre] {
            let mut hdr = [0u8; MAX_HEADER];
            let n = encap_header(kind, &meta(7, tun_flags::KEY | tun_flags::CSUM), &mut hdr);
            for len in 0..n {
                assert!(decap(kind, &hdr[..len], &mut m).is_err(), "{kind} {len}");
            }
        }
    }
}
