//! Binary prefix tries: "could any rule's prefix on this field match this packet?"
//!
//! # What and why
//!
//! A [`PrefixTrie`] holds the prefixes (value, length) that rules use on one field — IPv4/IPv6
//! source or destination for the classifier-wide tries, the 32-bit `tp_src:tp_dst` pair for a
//! subtable's ports trie. A lookup walks the packet's value down the trie and reports
//!
//! - which prefix lengths have a rule on the walked path ([`TrieMatch::has_rule_of_len`]), and
//! - how many leading bits of the packet the walk had to look at to know that
//!   ([`TrieMatch::maskbits`]): the longest matching path plus the one bit that left it, or
//!   just the path when it ended at a leaf.
//!
//! A subtable whose mask on the field is a prefix of length `L` cannot match when no rule
//! prefix of length `L` lies on the packet's path; the classifier then skips it and
//! un-wildcards only `min(maskbits, L)` leading bits of the field instead of the whole
//! subtable's mask. That is what turns a miss on `10.0.1.0/24` into a `10.0.8.0/21` megaflow
//! for a packet from `10.0.9.x`.
//!
//! # Invariants
//!
//! Values are left-aligned in a `u128` (bit 0 of the prefix is the `u128`'s most significant
//! bit), so a 32-bit field occupies the top 32 bits. The trie is path-compressed: a node holds
//! a run of `n_bits` bits (left-aligned in `bits`, zero beyond), a child's run starts with the
//! bit that selected it, and a node with no rules always has two children (so no chain of
//! rule-less single-child nodes exists after any sequence of inserts and removes). Nodes live
//! in an arena with a free list; lookups never allocate.

/// Arena index meaning "no node".
const NIL: u32 = u32::MAX;

/// One path-compressed node.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// The node's bits, left-aligned, zero past `n_bits`.
    bits: u128,
    /// Number of bits in this node (0 only for a root where rules diverge at bit 0).
    n_bits: u32,
    /// Number of rules whose prefix ends exactly at the end of this node.
    n_rules: u32,
    /// Children, selected by the first bit after this node.
    child: [u32; 2],
}

/// Where a node hangs: the root pointer or a child pointer of another node.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Root,
    Child(u32, usize),
}

/// A binary, path-compressed prefix trie with per-prefix rule counts.
#[derive(Clone, Debug)]
pub struct PrefixTrie {
    nodes: Vec<Node>,
    free: Vec<u32>,
    root: u32,
}

/// The result of walking a packet's value down a [`PrefixTrie`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrieMatch {
    /// Bit `l - 1` is set when a rule prefix of length `l` lies on the packet's path.
    plens: u128,
    /// Leading bits of the packet's value the walk consulted.
    maskbits: u32,
}

impl TrieMatch {
    /// True if some rule prefix of exactly `len` bits (1..=128) matches the packet.
    #[inline]
    pub fn has_rule_of_len(&self, len: u32) -> bool {
        len > 0 && (self.plens >> (len - 1)) & 1 == 1
    }

    /// Leading bits of the packet's value the walk looked at.
    #[cfg(test)]
    pub fn maskbits(&self) -> u32 {
        self.maskbits
    }

    /// Leading bits that prove "no rule of length `len` matches": never more than `len`,
    /// because a rule of that length is decided by the packet's first `len` bits.
    #[inline]
    pub fn proof_bits(&self, len: u32) -> u32 {
        self.maskbits.min(len)
    }
}

/// `v << n`, zero when everything is shifted out.
#[inline]
fn shl(v: u128, n: u32) -> u128 {
    v.checked_shl(n).unwrap_or(0)
}

/// A left-aligned mask of `n` leading ones.
#[inline]
pub fn prefix_mask(n: u32) -> u128 {
    if n == 0 {
        0
    } else {
        !0u128 << (128 - n.min(128))
    }
}

/// Bit `pos` (0 = most significant) of `v`, as a child index.
#[inline]
fn bit_at(v: u128, pos: u32) -> usize {
    ((v >> (127 - pos)) & 1) as usize
}

/// Number of equal leading bits of `a` and `b`, at most `n`.
#[inline]
fn equal_bits(a: u128, b: u128, n: u32) -> u32 {
    (a ^ b).leading_zeros().min(n)
}

impl Default for PrefixTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl PrefixTrie {
    /// An empty trie.
    pub fn new() -> Self {
        PrefixTrie {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
        }
    }

    /// True if no prefix is stored.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.root == NIL
    }

    fn get(&self, slot: Slot) -> u32 {
        match slot {
            Slot::Root => self.root,
            Slot::Child(n, b) => self.nodes[n as usize].child[b],
        }
    }

    fn set(&mut self, slot: Slot, v: u32) {
        match slot {
            Slot::Root => self.root = v,
            Slot::Child(n, b) => self.nodes[n as usize].child[b] = v,
        }
    }

    fn alloc(&mut self, bits: u128, n_bits: u32, n_rules: u32) -> u32 {
        let node = Node {
            bits: bits & prefix_mask(n_bits),
            n_bits,
            n_rules,
            child: [NIL; 2],
        };
        if let Some(i) = self.free.pop() {
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Adds one rule with prefix `value` (left-aligned) of length `plen` (1..=128).
    pub fn insert(&mut self, value: u128, plen: u32) {
        debug_assert!((1..=128).contains(&plen));
        let mut slot = Slot::Root;
        let mut ofs = 0;
        loop {
            let idx = self.get(slot);
            let rest = shl(value, ofs);
            let rest_len = plen - ofs;
            if idx == NIL {
                let leaf = self.alloc(rest, rest_len, 1);
                self.set(slot, leaf);
                return;
            }
            let node = self.nodes[idx as usize];
            let eq = equal_bits(node.bits, rest, node.n_bits.min(rest_len));
            if eq < node.n_bits {
                // Split the node after its first `eq` bits.
                let parent = self.alloc(node.bits, eq, 0);
                let old_first = bit_at(node.bits, eq);
                let moved = &mut self.nodes[idx as usize];
                moved.bits = shl(node.bits, eq);
                moved.n_bits -= eq;
                self.nodes[parent as usize].child[old_first] = idx;
                self.set(slot, parent);
                if eq == rest_len {
                    self.nodes[parent as usize].n_rules = 1;
                } else {
                    let leaf = self.alloc(shl(rest, eq), rest_len - eq, 1);
                    self.nodes[parent as usize].child[1 - old_first] = leaf;
                }
                return;
            }
            ofs += node.n_bits;
            if ofs == plen {
                self.nodes[idx as usize].n_rules += 1;
                return;
            }
            slot = Slot::Child(idx, bit_at(value, ofs));
        }
    }

    /// Removes one rule with prefix `value`/`plen`. Returns false if there was none.
    pub fn remove(&mut self, value: u128, plen: u32) -> bool {
        debug_assert!((1..=128).contains(&plen));
        let mut path: [Option<Slot>; 130] = [None; 130];
        let mut depth = 0;
        let mut slot = Slot::Root;
        let mut ofs = 0;
        loop {
            let idx = self.get(slot);
            if idx == NIL {
                return false;
            }
            let node = self.nodes[idx as usize];
            let rest_len = plen - ofs;
            if node.n_bits > rest_len
                || equal_bits(node.bits, shl(value, ofs), node.n_bits) < node.n_bits
            {
                return false;
            }
            path[depth] = Some(slot);
            depth += 1;
            ofs += node.n_bits;
            if ofs == plen {
                break;
            }
            slot = Slot::Child(idx, bit_at(value, ofs));
        }
        let last = self.get(path[depth - 1].unwrap_or(Slot::Root));
        if self.nodes[last as usize].n_rules == 0 {
            return false;
        }
        self.nodes[last as usize].n_rules -= 1;
        // Restore the invariant bottom-up: drop rule-less leaves, merge rule-less nodes that
        // are left with one child into that child.
        for slot in path[..depth].iter().rev().flatten() {
            let idx = self.get(*slot);
            let node = self.nodes[idx as usize];
            if node.n_rules > 0 {
                break;
            }
            match (node.child[0] != NIL, node.child[1] != NIL) {
                (false, false) => {
                    self.set(*slot, NIL);
                    self.free.push(idx);
                }
                (true, true) => break,
                (has0, _) => {
                    let c = node.child[if has0 { 0 } else { 1 }];
                    let child = &mut self.nodes[c as usize];
                    child.bits = node.bits | (child.bits >> node.n_bits);
                    child.n_bits += node.n_bits;
                    self.set(*slot, c);
                    self.free.push(idx);
                    break;
                }
            }
        }
        true
    }

    /// Walks `value` (left-aligned) down the trie, considering at most `n_bits` bits.
    pub fn lookup(&self, value: u128, n_bits: u32) -> TrieMatch {
        let mut plens = 0u128;
        let mut node = self.root;
        let mut prev = NIL;
        let mut match_len = 0;
        while node != NIL {
            let n = &self.nodes[node as usize];
            let eq = equal_bits(n.bits, shl(value, match_len), n.n_bits);
            match_len += eq;
            if eq < n.n_bits {
                // The bit at `match_len` left the path: it was consulted too.
                return TrieMatch {
                    plens,
                    maskbits: (match_len + 1).min(n_bits),
                };
            }
            if n.n_rules > 0 && match_len > 0 {
                plens |= 1u128 << (match_len - 1);
            }
            if match_len >= n_bits {
                return TrieMatch {
                    plens,
                    maskbits: n_bits,
                };
            }
            prev = node;
            node = n.child[bit_at(value, match_len)];
        }
        // Fell off the trie. If the last node had another child, the bit that chose the missing
        // branch was consulted; at a leaf nothing beyond the path matters.
        let maskbits = if prev == NIL {
            0
        } else {
            let p = &self.nodes[prev as usize];
            if p.child == [NIL; 2] {
                match_len
            } else {
                match_len + 1
            }
        };
        TrieMatch {
            plens,
            maskbits: maskbits.min(n_bits),
        }
    }

    /// Total rule count (for consistency checks).
    #[cfg(test)]
    pub fn n_rules(&self) -> u64 {
        fn walk(t: &PrefixTrie, n: u32) -> u64 {
            if n == NIL {
                return 0;
            }
            let node = &t.nodes[n as usize];
            node.n_rules as u64 + walk(t, node.child[0]) + walk(t, node.child[1])
        }
        walk(self, self.root)
    }

    /// Checks the structural invariants; returns a description of the first violation.
    #[cfg(test)]
    fn check(&self) -> Result<(), String> {
        fn walk(t: &PrefixTrie, n: u32, depth: u32, is_root: bool) -> Result<(), String> {
            if n == NIL {
                return Ok(());
            }
            let node = &t.nodes[n as usize];
            if node.n_bits == 0 && !is_root {
                return Err(format!("empty non-root node {n}"));
            }
            if node.bits & !prefix_mask(node.n_bits) != 0 {
                return Err(format!("node {n} has bits past its length"));
            }
            if depth + node.n_bits > 128 {
                return Err(format!("node {n} too deep"));
            }
            if node.n_rules == 0 && (node.child[0] == NIL || node.child[1] == NIL) {
                return Err(format!("rule-less node {n} without two children"));
            }
            for (b, c) in node.child.iter().enumerate() {
                if *c != NIL {
                    let first = bit_at(t.nodes[*c as usize].bits, 0);
                    if first != b {
                        return Err(format!("child {c} of {n} starts with wrong bit"));
                    }
                    walk(t, *c, depth + node.n_bits, false)?;
                }
            }
            Ok(())
        }
        walk(self, self.root, 0, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> u128 {
        (u32::from_be_bytes([a, b, c, d]) as u128) << 96
    }

    #[test]
    fn mismatch_reports_path_plus_one_bit() {
        let mut t = PrefixTrie::new();
        t.insert(v4(10, 0, 1, 0), 24);
        let m = t.lookup(v4(10, 0, 9, 7), 32);
        // 10.0.1 and 10.0.9 first differ at bit 20: consult 21 bits -> 10.0.8.0/21.
        assert_eq!(m.maskbits(), 21);
        assert!(!m.has_rule_of_len(24));
        let m = t.lookup(v4(10, 0, 1, 200), 32);
        assert!(m.has_rule_of_len(24));
        assert_eq!(m.maskbits(), 24, "a leaf ends the walk without extra bits");
    }

    #[test]
    fn nested_prefixes_report_every_length_on_the_path() {
        let mut t = PrefixTrie::new();
        t.insert(v4(10, 1, 0, 0), 16);
        t.insert(v4(10, 1, 2, 0), 24);
        t.insert(v4(10, 1, 2, 15), 32);
        t.insert(v4(192, 168, 0, 0), 16);
        let m = t.lookup(v4(10, 1, 2, 15), 32);
        assert!(m.has_rule_of_len(16) && m.has_rule_of_len(24) && m.has_rule_of_len(32));
        assert_eq!(m.maskbits(), 32);
        let m = t.lookup(v4(10, 1, 3, 1), 32);
        assert!(m.has_rule_of_len(16) && !m.has_rule_of_len(24));
        assert_eq!(m.maskbits(), 24);
        let m = t.lookup(v4(192, 168, 0, 2), 32);
        assert!(m.has_rule_of_len(16) && !m.has_rule_of_len(32));
        assert_eq!(m.maskbits(), 16);
        // 11.x leaves the 10.x path at bit 7.
        let m = t.lookup(v4(11, 1, 2, 15), 32);
        assert_eq!(m.maskbits(), 8);
        assert_eq!(m.proof_bits(4), 4);
    }

    #[test]
    fn remove_merges_back_and_counts_duplicates() {
        let mut t = PrefixTrie::new();
        t.insert(v4(10, 1, 2, 15), 32);
        t.insert(v4(10, 1, 2, 15), 32);
        t.insert(v4(10, 1, 0, 0), 16);
        assert_eq!(t.n_rules(), 3);
        assert!(t.remove(v4(10, 1, 2, 15), 32));
        assert!(t.lookup(v4(10, 1, 2, 15), 32).has_rule_of_len(32));
        assert!(t.remove(v4(10, 1, 2, 15), 32));
        assert!(!t.remove(v4(10, 1, 2, 15), 32));
        assert!(!t.lookup(v4(10, 1, 2, 15), 32).has_rule_of_len(32));
        assert!(t.remove(v4(10, 1, 0, 0), 16));
        assert!(t.is_empty());
        assert_eq!(t.lookup(v4(1, 2, 3, 4), 32), TrieMatch::default());
        t.check().unwrap();
    }

    #[test]
    fn full_width_ipv6_prefixes() {
        let mut t = PrefixTrie::new();
        let a = u128::from_be_bytes([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        t.insert(a, 128);
        t.insert(a, 64);
        let m = t.lookup(a, 128);
        assert!(m.has_rule_of_len(128) && m.has_rule_of_len(64));
        assert_eq!(m.maskbits(), 128);
        let m = t.lookup(a ^ 1, 128);
        assert!(!m.has_rule_of_len(128) && m.has_rule_of_len(64));
        assert_eq!(m.maskbits(), 128);
        assert!(t.remove(a, 128));
        t.check().unwrap();
        assert_eq!(t.lookup(a ^ 1, 128).maskbits(), 64);
    }

    /// Brute-force reference: is there a stored prefix of length `len` matching `v`?
    fn brute_has(rules: &[(u128, u32)], v: u128, len: u32) -> bool {
        rules
            .iter()
            .any(|&(r, l)| l == len && (r ^ v) & prefix_mask(len) == 0)
    }

    proptest! {
        #[test]
        fn lookup_agrees_with_brute_force_and_is_sound(
            ops in prop::collection::vec((any::<bool>(), 0u8..16, 1u32..=12), 1..60),
            probes in prop::collection::vec((0u8..16, any::<u16>()), 1..20),
        ) {
            // Small 12-bit universe so prefixes collide and nest.
            let to_v = |x: u8, l: u32| {
                (((x as u128) << 124) | (((x as u128 * 0x9e) & 0xff) << 116)) & prefix_mask(l)
            };
            let mut t = PrefixTrie::new();
            let mut rules: Vec<(u128, u32)> = Vec::new();
            for (ins, x, l) in ops {
                let v = to_v(x, l);
                if ins {
                    t.insert(v, l);
                    rules.push((v, l));
                } else {
                    let had = rules.iter().position(|r| *r == (v, l));
                    prop_assert_eq!(t.remove(v, l), had.is_some());
                    if let Some(i) = had { rules.swap_remove(i); }
                }
                t.check().map_err(TestCaseError::fail)?;
                prop_assert_eq!(t.n_rules(), rules.len() as u64);
            }
            for (hi, lo) in probes {
                let p = ((hi as u128) << 124) | ((lo as u128) << 108);
                let m = t.lookup(p, 12);
                for len in 1..=12 {
                    prop_assert_eq!(m.has_rule_of_len(len), brute_has(&rules, p, len));
                    if !m.has_rule_of_len(len) {
                        // Any value agreeing on the proof bits has no rule of that length.
                        let bits = m.proof_bits(len);
                        for k in 0u128..64 {
                            let other = (k * 0x9e37_79b1) & 0xfff;
                            let q = (p & prefix_mask(bits)) | ((other << 116) & !prefix_mask(bits));
                            prop_assert!(!brute_has(&rules, q, len));
                        }
                    }
                }
            }
        }
    }
}
