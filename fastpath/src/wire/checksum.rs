//! Internet checksums (RFC 1071), their incremental update (RFC 1624), and SCTP's CRC32c.
//!
//! # Why incremental
//!
//! A `set` action changes a few bytes of a header; recomputing a TCP checksum means summing the
//! whole segment (up to 64 KB for an offloaded super-packet). RFC 1624 updates the stored
//! checksum from the old and new values of the changed 16-bit words alone, in constant time:
//!
//! ```text
//! HC' = ~(~HC + ~m + m')        (RFC 1624, eqn. 3, one's complement arithmetic)
//! ```
//!
//! Eqn. 3 (rather than RFC 1141's eqn. 2) never produces the `0x0000` vs `0xffff` ambiguity for
//! a header whose sum is non-zero, so the result is bit-identical to a full recomputation; the
//! property tests check exactly that.
//!
//! # Partial checksums
//!
//! An offloaded packet (`Offload::needs_csum`) carries in its L4 checksum field the *folded,
//! uncomplemented* pseudo-header sum, which the NIC or kernel completes later. Updating such a
//! field is the same arithmetic on the complement: [`update_partial_u32`] and [`update_partial_bytes`].
//!
//! # One rule per kind of field
//!
//! [`Field`] says what a checksum field holds, and its update methods are the only place that
//! knows the special cases: a UDP checksum of zero means "none" and stays zero, a computed zero
//! is sent as `0xffff` (RFC 768), in either IP family as OVS does; a partial sum has no such
//! rule. Every rewrite in the datapath (set actions, NAT, segmentation) goes through it.
//!
//! SCTP protects its packets with CRC32c instead, which has no cheap incremental form: a port
//! rewrite recomputes it over the packet ([`crc32c`]).

/// One's complement sum of `data` as big-endian 16-bit words (an odd last byte is padded with a
/// zero), added to `initial`. Not folded: call [`fold`].
pub fn sum_words(data: &[u8], initial: u64) -> u64 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Adding 32-bit halves into a 64-bit accumulator defers all carries to `fold`.
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        sum += (w >> 32) + (w & 0xffff_ffff);
    }
    let mut rest = chunks.remainder().chunks_exact(2);
    for c in &mut rest {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = rest.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Folds a wide one's complement sum to 16 bits (end-around carry).
#[inline]
pub fn fold(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (RFC 1071): the complement of the folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum_words(data, 0))
}

/// Sum of the IPv4 pseudo-header (addresses, protocol, L4 length) for TCP/UDP checksums.
pub fn pseudo_header_v4(src: u32, dst: u32, proto: u8, l4_len: u16) -> u64 {
    u64::from(src >> 16)
        + u64::from(src & 0xffff)
        + u64::from(dst >> 16)
        + u64::from(dst & 0xffff)
        + u64::from(proto)
        + u64::from(l4_len)
}

/// Sum of the IPv6 pseudo-header (addresses, upper-layer length, next header).
pub fn pseudo_header_v6(src: &[u8; 16], dst: &[u8; 16], proto: u8, l4_len: u32) -> u64 {
    sum_words(src, 0)
        + sum_words(dst, 0)
        + u64::from(l4_len >> 16)
        + u64::from(l4_len & 0xffff)
        + u64::from(proto)
}

/// RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changed from `old`
/// to `new`.
#[inline]
pub fn update_u16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!csum) + u64::from(!old) + u64::from(new))
}

/// [`update_u16`] for a 32-bit (two-word, word-aligned) value such as an IPv4 address.
#[inline]
pub fn update_u32(csum: u16, old: u32, new: u32) -> u16 {
    let sum = u64::from(!csum)
        + u64::from(!(old >> 16) & 0xffff)
        + u64::from(!old & 0xffff)
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(sum)
}

/// [`update_u16`] for a word-aligned byte string of even length (IPv6 addresses, MACs).
pub fn update_bytes(csum: u16, old: &[u8], new: &[u8]) -> u16 {
    debug_assert_eq!(old.len(), new.len());
    debug_assert_eq!(old.len() % 2, 0);
    let mut sum = u64::from(!csum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u64::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u64::from(u16::from_be_bytes([n[0], n[1]]));
    }
    !fold(sum)
}

/// Update of a *partial* (uncomplemented pseudo-header) checksum field for a 32-bit change.
#[inline]
pub fn update_partial_u32(partial: u16, old: u32, new: u32) -> u16 {
    !update_u32(!partial, old, new)
}

/// Update of a *partial* checksum field for a byte-string change.
pub fn update_partial_bytes(partial: u16, old: &[u8], new: &[u8]) -> u16 {
    !update_bytes(!partial, old, new)
}

/// What a checksum field holds, which decides how an update is written back (see the module
/// docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// A complete Internet checksum (IPv4 header, TCP, ICMP, ICMPv6).
    Full,
    /// A complete UDP checksum: zero means "no checksum".
    Udp,
    /// An offloaded partial checksum: the folded, uncomplemented pseudo-header sum.
    Partial,
}

impl Field {
    /// The field's new value after the covered bytes `old` (even length, word-aligned) became
    /// `new`.
    #[inline]
    pub fn update_bytes(self, csum: u16, old: &[u8], new: &[u8]) -> u16 {
        match self {
            Field::Full => update_bytes(csum, old, new),
            Field::Partial => update_partial_bytes(csum, old, new),
            Field::Udp if csum == 0 => 0,
            Field::Udp => udp_nonzero(update_bytes(csum, old, new)),
        }
    }

    /// [`Field::update_bytes`] for one 16-bit word.
    #[inline]
    pub fn update_u16(self, csum: u16, old: u16, new: u16) -> u16 {
        match self {
            Field::Full => update_u16(csum, old, new),
            Field::Partial => !update_u16(!csum, old, new),
            Field::Udp if csum == 0 => 0,
            Field::Udp => udp_nonzero(update_u16(csum, old, new)),
        }
    }

    /// [`Field::update_bytes`] for a 32-bit (two-word, word-aligned) value.
    #[inline]
    pub fn update_u32(self, csum: u16, old: u32, new: u32) -> u16 {
        match self {
            Field::Full => update_u32(csum, old, new),
            Field::Partial => update_partial_u32(csum, old, new),
            Field::Udp if csum == 0 => 0,
            Field::Udp => udp_nonzero(update_u32(csum, old, new)),
        }
    }

    /// A complete checksum just computed (`computed` = the complemented sum), as the field
    /// stores it.
    #[inline]
    pub fn store(self, computed: u16) -> u16 {
        match self {
            Field::Udp => udp_nonzero(computed),
            Field::Full | Field::Partial => computed,
        }
    }
}

/// A computed UDP checksum as sent: zero would mean "none", so it goes out as `0xffff` (the
/// same value in one's complement).
#[inline]
fn udp_nonzero(c: u16) -> u16 {
    if c == 0 { 0xffff } else { c }
}

/// CRC32c lookup table (Castagnoli polynomial, reflected 0x82F63B78).
const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC32c of `data` (as SCTP uses it, RFC 9260 appendix A). The SCTP checksum field is this
/// value computed with the field zeroed, stored little-endian.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IPv4 header example from RFC 1071 / common references (checksum 0xb861).
    const IPV4_HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn full_checksum_of_known_header() {
        let mut h = IPV4_HDR;
        assert_eq!(checksum(&h), 0, "a header with its checksum sums to zero");
        h[10] = 0;
        h[11] = 0;
        assert_eq!(checksum(&h), 0xb861);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: the one's complement sum is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn odd_length_is_zero_padded() {
        assert_eq!(checksum(&[0x01]), !0x0100);
        assert_eq!(checksum(&[0x01, 0x02, 0x03]), !(0x0102 + 0x0300));
    }

    #[test]
    fn crc32c_check_value() {
        // The standard CRC-32C check value for "123456789".
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[]), 0);
    }

    #[test]
    fn pseudo_headers_match_manual_sums() {
        let v4 = pseudo_header_v4(0xc0a8_0001, 0x0a00_0002, 17, 28);
        assert_eq!(fold(v4), fold(0xc0a8 + 0x0001 + 0x0a00 + 0x0002 + 17 + 28));
        let mut a = [0u8; 16];
        a[15] = 1;
        let v6 = pseudo_header_v6(&a, &a, 58, 0x1_0002);
        assert_eq!(fold(v6), fold(1 + 1 + 1 + 2 + 58));
    }

    #[test]
    fn partial_update_tracks_pseudo_header_sum() {
        let old = pseudo_header_v4(0x0a00_0001, 0x0a00_0002, 6, 40);
        let new = pseudo_header_v4(0x0a00_0001, 0xc0a8_0909, 6, 40);
        let updated = update_partial_u32(fold(old), 0x0a00_0002, 0xc0a8_0909);
        assert_eq!(updated, fold(new));
        let a = [1u8; 16];
        let b = [7u8; 16];
        let upd = update_partial_bytes(fold(sum_words(&a, 5)), &a, &b);
        assert_eq!(upd, fold(sum_words(&b, 5)));
    }

    #[test]
    fn udp_zero_rule() {
        // "No checksum" survives any update; a result of zero is sent as 0xffff.
        assert_eq!(Field::Udp.update_u16(0, 1, 2), 0);
        assert_eq!(Field::Udp.update_bytes(0, &[1, 2], &[3, 4]), 0);
        assert_eq!(Field::Udp.update_u32(0, 1, 2), 0);
        // ~(~0xfffe + ~1 + 0) = ~(1 + 0xfffe) = 0: the update that lands on zero.
        assert_eq!(Field::Full.update_u16(0xfffe, 1, 0), 0);
        assert_eq!(Field::Udp.update_u16(0xfffe, 1, 0), 0xffff);
        assert_eq!(Field::Udp.store(0), 0xffff);
        assert_eq!(Field::Full.store(0), 0);
        assert_eq!(
            Field::Udp.update_u16(0x1234, 7, 9),
            update_u16(0x1234, 7, 9)
        );
        // A partial sum is the complement's update, and has no zero rule.
        assert_eq!(Field::Partial.update_u16(0, 0, 5), 5);
        assert_eq!(
            Field::Partial.update_u32(0x1111, 1, 0x0002_0003),
            update_partial_u32(0x1111, 1, 0x0002_0003)
        );
    }

    proptest! {
        /// Changing any aligned 16-bit word and updating incrementally equals recomputing.
        #[test]
        fn update_u16_equals_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 4..64usize),
            word in 0usize..32, new in any::<u16>()
        ) {
            let len = data.len() & !1;
            data.truncate(len);
            let words = len / 2;
            // Reserve word 0 for the checksum itself.
            let w = 1 + word % (words - 1);
            data[0] = 0;
            data[1] = 0;
            let c = checksum(&data);
            data[..2].copy_from_slice(&c.to_be_bytes());
            let old = u16::from_be_bytes([data[2 * w], data[2 * w + 1]]);
            data[2 * w..2 * w + 2].copy_from_slice(&new.to_be_bytes());
            let inc = update_u16(c, old, new);
            data[0] = 0;
            data[1] = 0;
            prop_assert_eq!(inc, checksum(&data));
        }

        #[test]
        fn update_u32_and_bytes_equal_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 24..80usize),
            new32 in any::<u32>(), new16 in any::<[u8; 16]>()
        ) {
            data.truncate(data.len() & !1);
            data[0] = 0;
            data[1] = 0;
            let c = checksum(&data);
            let old32 = u32::from_be_bytes([data[2], data[3], data[4], data[5]]);
            data[2..6].copy_from_slice(&new32.to_be_bytes());
            let c1 = update_u32(c, old32, new32);
            prop_assert_eq!(c1, checksum(&data));
            let old16: [u8; 16] = data[6..22].try_into().unwrap();
            data[6..22].copy_from_slice(&new16);
            let c2 = update_bytes(c1, &old16, &new16);
            prop_assert_eq!(c2, checksum(&data));
        }
    }
}
