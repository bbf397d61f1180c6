//! Lookup stages and word-level hashing of masked keys.
//!
//! # What and why
//!
//! A subtable lookup does not hash the whole masked key at once. It walks four *stages* —
//! metadata, L2, L3, L4 — and after each one checks a per-subtable index of "masked key up to
//! here" hashes. When the packet's prefix is absent the lookup stops, and only the mask bits of
//! the stages seen so far go into the wildcards: a packet that already differs in `in_port`
//! does not pin down its TCP ports. (OVS calls this staged lookup.)
//!
//! Fields share words of a [`FlowKey`] (`nw_frag` sits next to `ct_state`, `tcp_flags` next to
//! `nw_proto`), so stages are defined by *bit masks* ([`stage_masks`]), not word ranges. The
//! four masks partition every bit of the key.
//!
//! Hashing works on words: a subtable precomputes, per stage, the `(word index, mask)` pairs
//! with non-zero mask ([`MaskedWord`]), so masking and hashing touch only the words that matter.
//! The running hash continues from one stage to the next; [`finish`] of the running value after
//! stage `i` keys stage `i`'s index, and after the last stage keys the rule table.

use fastpath::flow::{FlowKey, FlowMask, KEY_WORDS};

/// Number of lookup stages.
pub const N_STAGES: usize = 4;

/// A group of fields checked together during a subtable lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Pipeline and datapath metadata: `recirc_id`, `in_port`, `ct_*`, `metadata`, registers,
    /// `conj_id`.
    Metadata,
    /// Ethernet: `dl_*`, VLAN tags.
    L2,
    /// Network: `nw_*`, `ipv6_*`, ARP fields.
    L3,
    /// Transport: `tp_*`, `tcp_flags`, `nd_target`.
    L4,
}

impl Stage {
    /// All stages in lookup order.
    pub const ALL: [Stage; N_STAGES] = [Stage::Metadata, Stage::L2, Stage::L3, Stage::L4];
}

/// The bit mask of each stage, indexed like [`Stage::ALL`].
pub fn stage_masks() -> [FlowMask; N_STAGES] {
    let mut meta = FlowKey::ZERO;
    meta.recirc_id = !0;
    meta.in_port = !0;
    meta.ct_state = !0;
    meta.ct_zone = !0;
    meta.ct_mark = !0;
    meta.ct_label = [0xff; 16];
    meta.metadata = !0;
    meta.regs = [!0; 16];
    meta.conj_id = !0;
    meta._pad3 = !0;
    // Tunnel metadata is packet metadata too (OVS's first stage holds it).
    meta.tun_id = !0;
    meta.tun_src = !0;
    meta.tun_dst = !0;
    meta.tun_ipv6_src = [0xff; 16];
    meta.tun_ipv6_dst = [0xff; 16];
    meta.tun_flags = !0;
    meta.tun_tos = !0;
    meta.tun_ttl = !0;
    meta.tun_gbp_id = !0;
    meta.tun_gbp_flags = !0;
    meta._pad2 = !0;
    meta.tun_md_present = !0;
    meta.tun_md = [0xff; fastpath::flow::TUN_MD_BYTES];

    let mut l2 = FlowKey::ZERO;
    l2.dl_dst = [0xff; 6];
    l2.dl_type = !0;
    l2.dl_src = [0xff; 6];
    l2.vlan_tci = !0;
    l2.vlan_tci_inner = !0;
    l2.vlan_qinq = !0;

    let mut l3 = FlowKey::ZERO;
    l3.nw_frag = !0;
    l3.nw_proto = !0;
    l3.nw_tos = !0;
    l3.nw_ttl = !0;
    l3.nw_src = !0;
    l3.nw_dst = !0;
    l3.ipv6_label = !0;
    l3.ipv6_src = [0xff; 16];
    l3.ipv6_dst = [0xff; 16];
    l3.arp_sha = [0xff; 6];
    l3._pad0 = [0xff; 2];
    l3.arp_tha = [0xff; 6];
    l3._pad1 = [0xff; 2];

    let mut l4 = FlowKey::ZERO;
    l4.tcp_flags = !0;
    l4.tp_src = !0;
    l4.tp_dst = !0;
    l4.nd_target = [0xff; 16];

    [meta, l2, l3, l4]
}

/// One word of a mask: its index in [`FlowKey::words`] and its non-zero bits.
///
/// Only [`nonzero_words`] builds these, so `idx < KEY_WORDS` always holds; the hot loops rely
/// on that to read key words without bounds checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskedWord {
    idx: usize,
    mask: u64,
}

impl MaskedWord {
    /// The word's index in the key.
    #[inline]
    pub fn idx(&self) -> usize {
        self.idx
    }

    /// This word of `key`, masked.
    #[inline(always)]
    pub fn of(&self, key: &FlowKey) -> u64 {
        let words = key.words();
        debug_assert!(self.idx < KEY_WORDS);
        // SAFETY: `MaskedWord`s are only built by `nonzero_words`, which enumerates a
        // `[u64; KEY_WORDS]`, so `idx < KEY_WORDS == words.len()`.
        unsafe { *words.get_unchecked(self.idx) & self.mask }
    }
}

/// The non-zero words of `mask`, in key order.
pub fn nonzero_words(mask: &FlowMask) -> Vec<MaskedWord> {
    mask.words()
        .iter()
        .enumerate()
        .filter(|(_, m)| **m != 0)
        .map(|(idx, &mask)| MaskedWord { idx, mask })
        .collect()
}

/// ORs the given mask words into `wc`.
#[inline]
pub fn or_words(wc: &mut FlowMask, words: &[MaskedWord]) {
    let w = wc.words_mut();
    for mw in words {
        w[mw.idx] |= mw.mask;
    }
}

/// Starting value of every running hash.
pub const HASH_BASIS: u64 = 0x243f_6a88_85a3_08d3;

/// Folds word `w` found at key word `idx` into a running hash.
///
/// Each word is salted by its position and folded through a 64x64->128 multiply on its own,
/// and the results are summed, so the words of a key hash in parallel rather than through a
/// dependent chain; [`finish`] does the avalanche. Collisions only cost time (every probe
/// compares keys), never correctness.
#[inline]
pub fn add(h: u64, idx: usize, w: u64) -> u64 {
    let x = w ^ (idx as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let p = (x as u128) * 0x5851_f42d_4c95_7f2d_u128;
    h.wrapping_add((p as u64) ^ ((p >> 64) as u64))
}

/// Folds the masked words of `key` into a running hash.
#[inline]
pub fn add_words(mut h: u64, key: &FlowKey, words: &[MaskedWord]) -> u64 {
    for mw in words {
        h = add(h, mw.idx, mw.of(key));
    }
    h
}

/// Final avalanche (the MurmurHash3 finalizer), so both the low bits a hash table indexes
/// with and the high bits it tags with are well mixed.
#[inline]
pub fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_partition_every_bit() {
        let masks = stage_masks();
        for w in 0..KEY_WORDS {
            let mut union = 0u64;
            for m in &masks {
                let word = m.words()[w];
                assert_eq!(union & word, 0, "stages overlap in word {w}");
                union |= word;
            }
            assert_eq!(union, !0, "word {w} not fully covered");
        }
    }

    #[test]
    fn masked_word_helpers() {
        let mut mask = FlowKey::ZERO;
        mask.in_port = !0;
        mask.tp_dst = 0xff00;
        let words = nonzero_words(&mask);
        assert_eq!(words.len(), 2);
        let mut a = FlowKey::ZERO;
        a.in_port = 3;
        a.tp_dst = 0x1bb;
        let mut b = a;
        b.tp_dst = 0x150;
        b.tp_src = 99;
        assert!(a.eq_masked(&b, &mask));
        assert_eq!(
            add_words(HASH_BASIS, &a, &words),
            add_words(HASH_BASIS, &b, &words)
        );
        b.in_port = 4;
        assert!(!a.eq_masked(&b, &mask));
        assert_ne!(
            finish(add_words(HASH_BASIS, &a, &words)),
            finish(add_words(HASH_BASIS, &b, &words))
        );
        let mut wc = FlowKey::ZERO;
        or_words(&mut wc, &words);
        assert_eq!(wc, mask);
    }
}
