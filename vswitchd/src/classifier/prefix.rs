//! The fields that get prefix tries, and how to read them from keys and masks.
//!
//! The classifier keeps one [`PrefixTrie`](super::trie::PrefixTrie) per field here, over every
//! rule whose mask on the field is a CIDR prefix. Ports get a per-subtable trie over the
//! 32-bit `tp_src:tp_dst` pair instead ([`ports_value`]), because port masks need not be
//! prefixes of each field on their own.

use fastpath::flow::{FlowKey, FlowMask};

use super::trie::{TrieMatch, prefix_mask};

/// A field with a classifier-wide prefix trie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrieField {
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
}

/// Number of trie fields.
pub const N_TRIES: usize = 4;

impl TrieField {
    /// All trie fields, in trie-index order.
    pub const ALL: [TrieField; N_TRIES] = [
        TrieField::NwSrc,
        TrieField::NwDst,
        TrieField::Ipv6Src,
        TrieField::Ipv6Dst,
    ];

    /// Width of the field in bits.
    #[inline]
    pub fn n_bits(self) -> u32 {
        match self {
            TrieField::NwSrc | TrieField::NwDst => 32,
            TrieField::Ipv6Src | TrieField::Ipv6Dst => 128,
        }
    }

    /// The field's value in `key`, left-aligned in a `u128`.
    #[inline]
    pub fn value(self, key: &FlowKey) -> u128 {
        match self {
            TrieField::NwSrc => (key.nw_src as u128) << 96,
            TrieField::NwDst => (key.nw_dst as u128) << 96,
            TrieField::Ipv6Src => u128::from_be_bytes(key.ipv6_src),
            TrieField::Ipv6Dst => u128::from_be_bytes(key.ipv6_dst),
        }
    }

    /// The prefix length of `mask` on this field, if it is a non-empty CIDR prefix.
    pub fn prefix_len(self, mask: &FlowMask) -> Option<u32> {
        let m = self.value(mask);
        let len = m.leading_ones();
        (len > 0 && m == prefix_mask(len)).then_some(len)
    }

    /// Sets the first `bits` bits of this field in `wc`.
    #[inline]
    pub fn or_prefix(self, wc: &mut FlowMask, bits: u32) {
        let m = prefix_mask(bits);
        match self {
            TrieField::NwSrc => wc.nw_src |= (m >> 96) as u32,
            TrieField::NwDst => wc.nw_dst |= (m >> 96) as u32,
            TrieField::Ipv6Src => or_bytes(&mut wc.ipv6_src, m),
            TrieField::Ipv6Dst => or_bytes(&mut wc.ipv6_dst, m),
        }
    }
}

fn or_bytes(dst: &mut [u8; 16], m: u128) {
    for (d, s) in dst.iter_mut().zip(m.to_be_bytes()) {
        *d |= s;
    }
}

/// The `tp_src:tp_dst` pair as one 32-bit value (source in the high half).
#[inline]
pub fn ports_value(key: &FlowKey) -> u32 {
    ((key.tp_src as u32) << 16) | key.tp_dst as u32
}

/// Per-lookup, lazily filled results of the classifier-wide tries: each trie is walked at most
/// once per lookup, and only if some subtable needs it.
pub struct TrieCtx<'a> {
    tries: &'a [super::trie::PrefixTrie; N_TRIES],
    done: [bool; N_TRIES],
    results: [TrieMatch; N_TRIES],
}

impl<'a> TrieCtx<'a> {
    pub fn new(tries: &'a [super::trie::PrefixTrie; N_TRIES]) -> Self {
        TrieCtx {
            tries,
            done: [false; N_TRIES],
            results: [TrieMatch::default(); N_TRIES],
        }
    }

    /// The trie walk of `flow`'s value of field `i`.
    #[inline]
    pub fn get(&mut self, i: usize, flow: &FlowKey) -> TrieMatch {
        if !self.done[i] {
            let f = TrieField::ALL[i];
            self.results[i] = self.tries[i].lookup(f.value(flow), f.n_bits());
            self.done[i] = true;
        }
        self.results[i]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lengths_and_wildcard_bits() {
        let mut m = FlowKey::ZERO;
        assert_eq!(TrieField::NwSrc.prefix_len(&m), None);
        m.nw_src = 0xffff_f800;
        assert_eq!(TrieField::NwSrc.prefix_len(&m), Some(21));
        m.nw_dst = 0xff00_ff00;
        assert_eq!(TrieField::NwDst.prefix_len(&m), None);
        m.ipv6_dst = [0xff; 16];
        assert_eq!(TrieField::Ipv6Dst.prefix_len(&m), Some(128));
        let mut wc = FlowKey::ZERO;
        TrieField::NwSrc.or_prefix(&mut wc, 21);
        assert_eq!(wc.nw_src, 0xffff_f800);
        TrieField::Ipv6Src.or_prefix(&mut wc, 12);
        assert_eq!(wc.ipv6_src[..3], [0xff, 0xf0, 0]);
        let mut k = FlowKey::ZERO;
        k.tp_src = 1;
        k.tp_dst = 0x50;
        assert_eq!(ports_value(&k), 0x0001_0050);
    }
}
