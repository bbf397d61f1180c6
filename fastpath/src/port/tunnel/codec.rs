//! Tunnel headers to and from [`TunnelMeta`]: pure functions over byte slices, through the
//! `wire` views. The outer IP and UDP headers are the kernel's business (see the module docs
//! of [`super`]); these are the bytes between them and the inner frame.

use super::{TunnelDrop, TunnelKind};
use crate::flow::key::tun_flags;
use crate::flow::tlv::TlvTable;
use crate::flow::{TUN_MD_BYTES, TunnelMeta};
use crate::wire::{self, geneve, gre, vxlan};

/// Longest tunnel header [`encap_header`] writes: Geneve with every byte of option space
/// used by 4-byte options (each with its 4-byte option header).
pub const MAX_HEADER: usize = geneve::HEADER_LEN + 2 * TUN_MD_BYTES;

/// Writes the tunnel header for a frame leaving with `meta` into `out`; returns its length.
/// Geneve gets one option per present `tun_metadataN` that `tlv` maps (in field order).
/// GRE's checksum field is left zero (see [`gre_checksum`]).
pub fn encap_header(
    kind: TunnelKind,
    meta: &TunnelMeta,
    tlv: &TlvTable,
    out: &mut [u8; MAX_HEADER],
) -> usize {
    match kind {
        TunnelKind::Vxlan => {
            let gbp =
                (meta.gbp_id != 0 || meta.gbp_flags != 0).then_some((meta.gbp_flags, meta.gbp_id));
            vxlan::Header::new_unchecked(&mut out[..]).emit(meta.id as u32, gbp);
            vxlan::HEADER_LEN
        }
        TunnelKind::Geneve => {
            let mut flags = if meta.flags & tun_flags::OAM != 0 {
                geneve::FLAG_OAM
            } else {
                0
            };
            let mut opts = geneve::HEADER_LEN;
            let mut critical = false;
            let mut present = meta.md_present;
            while present != 0 {
                let idx = present.trailing_zeros() as u8;
                present &= present - 1;
                let Some(e) = tlv.entry(idx) else { continue };
                let data = meta.md.get(e.data_range(idx));
                if let Some(n) =
                    data.and_then(|d| geneve::emit_option(&mut out[opts..], e.class, e.kind, d))
                {
                    opts += n;
                    critical |= e.kind & geneve::TYPE_CRITICAL != 0;
                }
            }
            if critical {
                flags |= geneve::FLAG_CRITICAL;
            }
            geneve::Header::new_unchecked(&mut out[..]).emit(
                meta.id as u32,
                flags,
                opts - geneve::HEADER_LEN,
            );
            opts
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
            // Every option's length must stay inside the area; what they mean is for
            // [`geneve_options`] once the receiving port (and so its TLV map) is known.
            if h.options().any(|o| o.is_err()) {
                return Err(TunnelDrop::BadOptions);
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

/// Copies the options of the Geneve header at the start of `payload` (already checked by
/// [`decap`]) that `tlv` maps into `meta`'s `tun_metadataN`. An option the map does not know
/// is ignored unless it is critical: then the packet must be dropped (RFC 8926 §3.5.1), as
/// must one whose length differs from its mapping's.
pub fn geneve_options(
    payload: &[u8],
    tlv: &TlvTable,
    meta: &mut TunnelMeta,
) -> Result<(), TunnelDrop> {
    let h = geneve::Header::new_checked(payload).map_err(|_| TunnelDrop::Truncated)?;
    for opt in h.options() {
        let opt = opt.map_err(|_| TunnelDrop::BadOptions)?;
        match tlv.find(opt.class, opt.kind) {
            Some((idx, e)) if usize::from(e.len) == opt.data.len() => {
                if let Some(dst) = meta.md.get_mut(e.data_range(idx)) {
                    dst.copy_from_slice(opt.data);
                    meta.md_present |= 1 << idx;
                }
            }
            Some(_) => return Err(TunnelDrop::BadOptions),
            None if opt.critical() => return Err(TunnelDrop::CriticalOption),
            None => {}
        }
    }
    Ok(())
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
            let n = encap_header(kind, &m, &TlvTable::default(), &mut hdr);
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
        let n = encap_header(
            TunnelKind::Gre,
            &meta(0, tun_flags::CSUM),
            &TlvTable::default(),
            &mut hdr,
        );
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
        assert_eq!(decap(TunnelKind::Geneve, &critical, &mut m), Ok(12));
        assert_eq!(
            geneve_options(&critical, &TlvTable::default(), &mut m),
            Err(TunnelDrop::CriticalOption)
        );
        let benign = [1, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0x01, 0];
        assert_eq!(decap(TunnelKind::Geneve, &benign, &mut m), Ok(12));
        assert_eq!(
            geneve_options(&benign, &TlvTable::default(), &mut m),
            Ok(())
        );
        assert_eq!(m.md_present, 0);
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
            let n = encap_header(
                kind,
                &meta(7, tun_flags::KEY | tun_flags::CSUM),
                &TlvTable::default(),
                &mut hdr,
            );
            for len in 0..n {
                assert!(decap(kind, &hdr[..len], &mut m).is_err(), "{kind} {len}");
            }
        }
    }

    fn ovn_map() -> TlvTable {
        let mut t = TlvTable::default();
        t.add(&[
            crate::flow::tlv::TlvMapping {
                class: 0xffff,
                kind: 0,
                len: 8,
                index: 1,
            },
            crate::flow::tlv::TlvMapping {
                class: 0x0102,
                kind: 0x80,
                len: 4,
                index: 0,
            },
        ])
        .unwrap();
        t
    }

    #[test]
    fn geneve_options_round_trip_through_the_map() {
        let t = ovn_map();
        let mut m = meta(5, tun_flags::KEY);
        let f0 = t.field(0).unwrap();
        let mut k = crate::flow::FlowKey::ZERO;
        f0.set(&mut k, 0x0001_0002);
        m.md_present = k.tun_md_present;
        m.md = k.tun_md;
        let mut hdr = [0u8; MAX_HEADER];
        let n = encap_header(TunnelKind::Geneve, &m, &t, &mut hdr);
        // Fixed header (1 word of options, C bit), then OVN's option.
        assert_eq!(
            &hdr[..n],
            &[
                0x02, 0x40, 0x65, 0x58, 0, 0, 5, 0, 0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2
            ]
        );
        let mut got = TunnelMeta::default();
        assert_eq!(decap(TunnelKind::Geneve, &hdr[..n], &mut got), Ok(n));
        geneve_options(&hdr[..n], &t, &mut got).unwrap();
        assert_eq!((got.md_present, got.md), (m.md_present, m.md));
        let mut k2 = crate::flow::FlowKey::ZERO;
        got.write_to(&mut k2);
        assert_eq!(f0.get(&k2), 0x0001_0002);
        // The same option with a length that differs from the map's is dropped.
        let mut bad = hdr;
        bad[0] = 0x03;
        bad[11] = 0x02;
        let bad = [&bad[..n], &[0, 0, 0, 0][..]].concat();
        let mut got = TunnelMeta::default();
        assert_eq!(decap(TunnelKind::Geneve, &bad, &mut got), Ok(n + 4));
        assert_eq!(
            geneve_options(&bad, &t, &mut got),
            Err(TunnelDrop::BadOptions)
        );
        // Without options present, the header is the plain 8 bytes.
        let n = encap_header(TunnelKind::Geneve, &meta(5, 0), &t, &mut hdr);
        assert_eq!(n, geneve::HEADER_LEN);
    }
}
