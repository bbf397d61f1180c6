//! A subtable: every rule that shares one mask, as a hash table from masked key to rules.
//!
//! # What and why
//!
//! Tuple-space search: rules with the same mask are found with one hash probe of the packet's
//! key under that mask. Rules with an identical masked key share an [`Entry`] and are kept
//! sorted by rank (priority, then insertion order), so the entry's first rule is the only
//! one a lookup can return from it.
//!
//! With wildcard tracking the probe still comes first: a hit needs the whole mask anyway. Only
//! a miss runs the staged explanation (see [`super::stage`]): after each non-final stage an
//! index of "masked key up to here" hashes may prove the subtable cannot match, un-wildcarding
//! only the stages so far — or, if a prefix trie shows that no rule's prefix on a field of that
//! stage matches, only the earlier stages and the trie's prefix bits. When an index says
//! exactly one entry shares the packet's key so far, that entry is checked directly, and one
//! bit where it differs suffices to tell the megaflow apart from it. When the final stage
//! misses, the tries on its fields and the subtable's ports trie may prove that no rule can
//! match, un-wildcarding only the earlier stages and the bits the trie looked at.
//!
//! # Invariants
//!
//! Entry keys are stored compactly: only the words where the mask is non-zero, already masked,
//! `n_words` per entry in one vector. Every live entry has at least one rule and is
//! counted once in each non-final stage index under its own stage hash; an index slot keeps the
//! count and the XOR of the entry ids counted there, so a count of one names the entry. The
//! rule table maps the final hash to a chain of entries (chained through `next`) that all have
//! that hash. `ranks` holds the rank of every rule in the subtable.

use std::collections::BTreeSet;

use fastpath::flow::{Field, FlowKey, FlowMask};

use super::prefix::{N_TRIES, TrieCtx, TrieField, ports_value};
use super::stage::{
    self, HASH_BASIS, MaskedWord, N_STAGES, Stage, add_words, finish, nonzero_words, or_words,
};
use super::table::HashTable;
use super::trie::{PrefixTrie, prefix_mask};

/// "No entry" in entry chains.
const NIL: u32 = u32::MAX;

/// A rule reference inside a subtable: (rank, rule id). Higher rank wins.
pub type RuleRef = (u64, u32);

/// Rules sharing one masked key.
#[derive(Clone, Debug)]
struct Entry {
    /// `rules[0]`, kept inline so a probe does not chase the vector's pointer.
    head: RuleRef,
    /// Rules, highest rank first. Empty only while the entry is on the free list.
    rules: Vec<RuleRef>,
    /// Next entry with the same final hash.
    next: u32,
}

/// Count and XOR of the ids of the entries whose key up to a stage hashes to one value.
#[derive(Clone, Copy, Debug, Default)]
struct IndexSlot {
    count: u32,
    xor_ids: u32,
}

/// One non-empty stage of the subtable's mask.
#[derive(Clone, Debug)]
struct StageInfo {
    /// `hash_words[..hash_end]` covers this stage and all earlier ones.
    hash_end: usize,
    /// The subtable mask restricted to this and earlier stages, as non-zero words.
    cum_words: Vec<MaskedWord>,
    /// Bit `i` set: check classifier trie `i` before this stage.
    tries: u8,
    /// This stage holds the ports (then it is the final stage): consult the ports trie on a miss.
    ports: bool,
    /// Stage hash -> entries (unused for the final stage).
    index: HashTable<IndexSlot>,
}

/// A per-subtable trie over the masked `tp_src:tp_dst` pair of each rule.
#[derive(Clone, Debug)]
struct PortsTrie {
    trie: PrefixTrie,
    /// The subtable's mask on the pair.
    mask: u32,
    /// Bits of the pair up to and including the last mask bit.
    plen: u32,
}

impl PortsTrie {
    #[inline]
    fn value(&self, key: &FlowKey) -> u128 {
        ((ports_value(key) & self.mask) as u128) << 96
    }
}

/// All rules with one mask.
#[derive(Clone, Debug)]
pub struct Subtable {
    mask: FlowMask,
    /// Non-zero words of the mask, in key order.
    mask_words: Vec<MaskedWord>,
    /// Non-zero words of each stage's part of the mask, stage after stage.
    hash_words: Vec<MaskedWord>,
    /// Non-empty stages, in lookup order.
    stages: Vec<StageInfo>,
    entries: Vec<Entry>,
    /// Entry `e`'s masked key words (one per `mask_words` element) at `e * n_words`.
    keys: Vec<u64>,
    free_entries: Vec<u32>,
    /// Final hash -> first entry of the chain with that hash.
    table: HashTable<u32>,
    /// Prefix length of the mask on each trie field (0: no trie for this subtable).
    trie_plen: [u32; N_TRIES],
    ports: Option<PortsTrie>,
    ranks: BTreeSet<u64>,
}

impl Subtable {
    /// An empty subtable for `mask`.
    pub fn new(mask: &FlowMask) -> Subtable {
        let mut trie_plen = [0; N_TRIES];
        for (i, f) in TrieField::ALL.iter().enumerate() {
            trie_plen[i] = f.prefix_len(mask).unwrap_or(0);
        }
        let ports_mask = ports_value(mask);
        let ports = (ports_mask != 0).then(|| PortsTrie {
            trie: PrefixTrie::new(),
            mask: ports_mask,
            plen: 32 - ports_mask.trailing_zeros(),
        });

        let mut stages = Vec::new();
        let mut hash_words = Vec::new();
        let mut cum = FlowKey::ZERO;
        for (_, stage_mask) in Stage::ALL.iter().zip(stage::stage_masks()) {
            let part = mask.masked(&stage_mask);
            if part.is_zero() {
                continue;
            }
            hash_words.extend(nonzero_words(&part));
            cum.or_with(&part);
            let mut tries = 0u8;
            for (i, f) in TrieField::ALL.iter().enumerate() {
                if trie_plen[i] > 0 && f.value(&stage_mask) != 0 {
                    tries |= 1 << i;
                }
            }
            stages.push(StageInfo {
                hash_end: hash_words.len(),
                cum_words: nonzero_words(&cum),
                tries,
                ports: ports.is_some() && ports_value(&stage_mask) != 0,
                index: HashTable::new(),
            });
        }
        Subtable {
            mask: *mask,
            mask_words: nonzero_words(mask),
            hash_words,
            stages,
            entries: Vec::new(),
            keys: Vec::new(),
            free_entries: Vec::new(),
            table: HashTable::new(),
            trie_plen,
            ports,
            ranks: BTreeSet::new(),
        }
    }

    /// The subtable's mask.
    pub fn mask(&self) -> &FlowMask {
        &self.mask
    }

    /// Prefix length of the mask on classifier trie field `i` (0 if none).
    pub fn trie_plen(&self, i: usize) -> u32 {
        self.trie_plen[i]
    }

    /// Highest rank of any rule here.
    pub fn max_rank(&self) -> Option<u64> {
        self.ranks.last().copied()
    }

    /// True if the subtable holds no rule.
    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// Number of distinct masked keys.
    #[cfg(test)]
    pub fn n_entries(&self) -> usize {
        self.entries.len() - self.free_entries.len()
    }

    /// The running (unfinished) hash at the end of each stage, and the final running hash.
    #[inline]
    fn stage_hashes(&self, key: &FlowKey) -> ([u64; N_STAGES], u64) {
        let mut out = [0; N_STAGES];
        let mut h = HASH_BASIS;
        let mut pos = 0;
        for (i, st) in self.stages.iter().enumerate() {
            h = add_words(h, key, &self.hash_words[pos..st.hash_end]);
            pos = st.hash_end;
            out[i] = h;
        }
        (out, h)
    }

    /// Entry `e`'s masked key words, in `mask_words` order.
    #[inline]
    fn key_words(&self, e: u32) -> &[u64] {
        let n = self.mask_words.len();
        &self.keys[e as usize * n..(e as usize + 1) * n]
    }

    /// True if `flow` under the mask equals entry `e`'s key.
    #[inline]
    fn entry_matches(&self, e: u32, flow: &FlowKey) -> bool {
        self.mask_words
            .iter()
            .zip(self.key_words(e))
            .all(|(mw, k)| mw.of(flow) == *k)
    }

    fn find_entry(&self, hash: u64, key: &FlowKey) -> Option<u32> {
        let mut id = self.table.get(hash)?;
        while id != NIL {
            if self.entry_matches(id, key) {
                return Some(id);
            }
            id = self.entries[id as usize].next;
        }
        None
    }

    /// The rule with exactly this (masked) key and priority.
    pub fn find(&self, key: &FlowKey, priority: u16) -> Option<RuleRef> {
        let (_, h) = self.stage_hashes(key);
        let e = self.find_entry(finish(h), key)?;
        self.entries[e as usize]
            .rules
            .iter()
            .find(|(rank, _)| super::rank_priority(*rank) == priority)
            .copied()
    }

    /// Adds rule `rule` with `rank` under the (already masked) `key`.
    pub fn insert(&mut self, key: &FlowKey, rank: u64, rule: u32) {
        let (stage_hashes, h) = self.stage_hashes(key);
        let e = match self.find_entry(finish(h), key) {
            Some(e) => e,
            None => self.new_entry(key, &stage_hashes, finish(h)),
        };
        let entry = &mut self.entries[e as usize];
        let pos = entry.rules.partition_point(|(r, _)| *r > rank);
        entry.rules.insert(pos, (rank, rule));
        entry.head = entry.rules[0];
        self.ranks.insert(rank);
        if let Some(p) = &mut self.ports {
            let v = p.value(key);
            p.trie.insert(v, p.plen);
        }
    }

    fn new_entry(&mut self, key: &FlowKey, stage_hashes: &[u64; N_STAGES], h: u64) -> u32 {
        let entry = Entry {
            head: (0, NIL),
            rules: Vec::with_capacity(1),
            next: NIL,
        };
        let words = self.mask_words.iter().map(|mw| mw.of(key));
        let id = match self.free_entries.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                let n = self.mask_words.len();
                for (dst, w) in self.keys[id as usize * n..].iter_mut().zip(words) {
                    *dst = w;
                }
                id
            }
            None => {
                self.entries.push(entry);
                self.keys.extend(words);
                (self.entries.len() - 1) as u32
            }
        };
        self.entries[id as usize].next = self.table.insert(h, id).unwrap_or(NIL);
        let n_indexed = self.stages.len().saturating_sub(1);
        for (st, sh) in self.stages[..n_indexed].iter_mut().zip(stage_hashes) {
            let slot = st.index.entry(finish(*sh));
            slot.count += 1;
            slot.xor_ids ^= id;
        }
        id
    }

    /// Removes the rule with `rank` under `key`; returns its id.
    pub fn remove(&mut self, key: &FlowKey, rank: u64) -> Option<u32> {
        let (stage_hashes, h) = self.stage_hashes(key);
        let h = finish(h);
        let e = self.find_entry(h, key)?;
        let entry = &mut self.entries[e as usize];
        let pos = entry.rules.iter().position(|(r, _)| *r == rank)?;
        let (_, rule) = entry.rules.remove(pos);
        let now_empty = entry.rules.is_empty();
        if let Some(head) = entry.rules.first() {
            entry.head = *head;
        }
        self.ranks.remove(&rank);
        if let Some(p) = &mut self.ports {
            let v = p.value(key);
            p.trie.remove(v, p.plen);
        }
        if now_empty {
            self.unlink(e, h);
            let n_indexed = self.stages.len().saturating_sub(1);
            for (st, sh) in self.stages[..n_indexed].iter_mut().zip(&stage_hashes) {
                let sh = finish(*sh);
                if let Some(slot) = st.index.get_mut(sh) {
                    slot.count -= 1;
                    slot.xor_ids ^= e;
                    if slot.count == 0 {
                        st.index.remove(sh);
                    }
                }
            }
            self.free_entries.push(e);
        }
        Some(rule)
    }

    fn unlink(&mut self, e: u32, h: u64) {
        let next = self.entries[e as usize].next;
        let Some(head) = self.table.get_mut(h) else {
            return;
        };
        if *head == e {
            if next == NIL {
                self.table.remove(h);
            } else {
                *head = next;
            }
            return;
        }
        let mut id = *head;
        while id != NIL {
            if self.entries[id as usize].next == e {
                self.entries[id as usize].next = next;
                return;
            }
            id = self.entries[id as usize].next;
        }
    }

    /// The first rule of the entry matching `flow` in the chain for hash `h`.
    #[inline]
    fn probe(&self, h: u64, flow: &FlowKey) -> Option<RuleRef> {
        let mut id = self.table.get(h)?;
        while id != NIL {
            let e = &self.entries[id as usize];
            if self.entry_matches(id, flow) {
                return Some(e.head);
            }
            id = e.next;
        }
        None
    }

    /// Every rule of the entry matching `flow`, highest rank first (empty if none matches).
    /// The conjunctive-match path steps down this list; it consults no new bits, since the
    /// entry was found by a lookup that already accounted for the whole mask.
    pub fn matching_rules(&self, flow: &FlowKey) -> &[RuleRef] {
        let h = finish(add_words(HASH_BASIS, flow, &self.hash_words));
        let Some(mut id) = self.table.get(h) else {
            return &[];
        };
        while id != NIL {
            if self.entry_matches(id, flow) {
                return &self.entries[id as usize].rules;
            }
            id = self.entries[id as usize].next;
        }
        &[]
    }

    /// Best rule matching `flow`, without wildcard tracking: one hash, one probe.
    #[inline]
    pub fn lookup(&self, flow: &FlowKey) -> Option<RuleRef> {
        self.probe(finish(add_words(HASH_BASIS, flow, &self.hash_words)), flow)
    }

    /// Best rule matching `flow`; ORs into `wc` the bits this decision depended on.
    #[inline]
    pub fn lookup_wc(
        &self,
        flow: &FlowKey,
        wc: &mut FlowMask,
        tries: &mut TrieCtx<'_>,
    ) -> Option<RuleRef> {
        let (stage_hashes, h) = self.stage_hashes(flow);
        if let Some(found) = self.probe(finish(h), flow) {
            // Every stage index and trie would have agreed: the whole mask was needed.
            or_words(wc, &self.mask_words);
            return Some(found);
        }
        self.explain_miss(flow, &stage_hashes, wc, tries);
        None
    }

    /// `flow` matches no rule here: OR into `wc` as few bits as prove it, stage by stage.
    fn explain_miss(
        &self,
        flow: &FlowKey,
        stage_hashes: &[u64; N_STAGES],
        wc: &mut FlowMask,
        tries: &mut TrieCtx<'_>,
    ) {
        let n = self.stages.len();
        for (si, st) in self.stages[..n.saturating_sub(1)].iter().enumerate() {
            match st.index.get(finish(stage_hashes[si])) {
                None => {
                    // Only now can a trie help: had the index hit, some rule would agree with
                    // the packet through this stage, prefix included, and no trie could skip.
                    if st.tries == 0 || !self.trie_skip(si, flow, wc, tries) {
                        or_words(wc, &st.cum_words);
                    }
                    return;
                }
                Some(slot) if slot.count == 1 => {
                    self.single_candidate_miss(slot.xor_ids, si, flow, wc);
                    return;
                }
                Some(_) => {}
            }
        }
        // The final stage missed (the probe did). A trie on one of its fields, or the ports
        // trie, may prove that with fewer bits than the whole mask.
        if let Some(last) = n.checked_sub(1) {
            let st = &self.stages[last];
            if st.tries != 0 && self.trie_skip(last, flow, wc, tries) {
                return;
            }
            if st.ports && self.ports_skip(last, flow, wc) {
                return;
            }
        }
        or_words(wc, &self.mask_words);
    }

    /// The mask of the stages before `si`, which a skip at `si` depended on.
    #[inline]
    fn or_stages_before(&self, si: usize, wc: &mut FlowMask) {
        if si > 0 {
            or_words(wc, &self.stages[si - 1].cum_words);
        }
    }

    /// True (with `wc` updated) if a classifier trie proves no rule here can match.
    fn trie_skip(
        &self,
        si: usize,
        flow: &FlowKey,
        wc: &mut FlowMask,
        tries: &mut TrieCtx<'_>,
    ) -> bool {
        let mask = self.stages[si].tries;
        for (i, field) in TrieField::ALL.iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            let plen = self.trie_plen[i];
            let m = tries.get(i, flow);
            if !m.has_rule_of_len(plen) {
                self.or_stages_before(si, wc);
                field.or_prefix(wc, m.proof_bits(plen));
                return true;
            }
        }
        false
    }

    /// True (with `wc` updated) if the ports trie proves no rule's ports match.
    fn ports_skip(&self, si: usize, flow: &FlowKey, wc: &mut FlowMask) -> bool {
        let Some(p) = &self.ports else {
            return false;
        };
        let m = p.trie.lookup(p.value(flow), p.plen);
        if m.has_rule_of_len(p.plen) {
            return false;
        }
        self.or_stages_before(si, wc);
        let bits = p.mask & (prefix_mask(m.proof_bits(p.plen)) >> 96) as u32;
        wc.tp_src |= (bits >> 16) as u16;
        wc.tp_dst |= bits as u16;
        true
    }

    /// Stage `si`'s index says entry `e` is the only one agreeing with `flow` so far, and
    /// `flow` does not match it. Any other entry differs from `flow` within stages `..=si`, so
    /// those bits plus bits where `e` differs (or a differing bit already in `wc`) prove the
    /// miss.
    ///
    /// Which differing bits: in the first field (in key order) where `e` differs, the bit OVS
    /// picks (it stores fields in network byte order and keeps the rightmost bit of the first
    /// differing word, i.e. the lowest differing bit of the most significant differing byte:
    /// `nw_dst=1.0.0.0/1.0.0.0`), so megaflows are as wide as OVS's. One-byte fields
    /// (`nw_proto`, `nw_ttl`, `nw_tos`, ...) take the subtable's whole mask on the field
    /// instead: a stray bit of them prints as a different value (`nw_ttl=0` for TTL 128,
    /// since flow syntax has no masks for them), and OVS's datapath wants `nw_proto` exact.
    fn single_candidate_miss(&self, e: u32, si: usize, flow: &FlowKey, wc: &mut FlowMask) {
        or_words(wc, &self.stages[si].cum_words);
        let mut diff = FlowKey::ZERO;
        for (mw, k) in self.mask_words.iter().zip(self.key_words(e)) {
            let d = mw.of(flow) ^ k;
            if wc.words()[mw.idx()] & d != 0 {
                return;
            }
            diff.words_mut()[mw.idx()] = d;
        }
        // `flow` does not match `e` (the probe would have found it), so a differing bit exists.
        // (If the index slot was a hash collision, `e` differs within stages `..=si`, whose
        // bits are already in `wc`, and the loop above returned.)
        for f in DIFF_FIELDS {
            let d = f.get(&diff);
            if d == 0 {
                continue;
            }
            let bits = if WHOLE_FIELDS.contains(&f) {
                f.get(&self.mask)
            } else {
                let byte = (127 - d.leading_zeros()) / 8 * 8;
                let b = (d >> byte) & 0xff;
                (b & b.wrapping_neg()) << byte
            };
            f.set(wc, f.get(wc) | bits);
            return;
        }
        // A differing bit outside the listed fields: one bit of it suffices.
        if let Some((idx, d)) = diff.words().iter().enumerate().find(|(_, d)| **d != 0) {
            wc.words_mut()[idx] |= d & d.wrapping_neg();
        }
    }
}

/// Storage fields, in key order, that [`Subtable::single_candidate_miss`] picks differing bits
/// from (they do not overlap).
const DIFF_FIELDS: [Field; 42] = {
    use Field::*;
    [
        RecircId,
        InPort,
        CtState,
        NwFrag,
        CtZone,
        CtMark,
        CtLabel,
        DlDst,
        DlType,
        DlSrc,
        VlanTci,
        TcpFlags,
        NwProto,
        NwTos,
        NwTtl,
        NwSrc,
        NwDst,
        TpSrc,
        TpDst,
        Ipv6Label,
        Ipv6Src,
        Ipv6Dst,
        NdTarget,
        ArpSha,
        ArpTha,
        Metadata,
        Reg(0),
        Reg(1),
        Reg(2),
        Reg(3),
        Reg(4),
        Reg(5),
        Reg(6),
        Reg(7),
        Reg(8),
        Reg(9),
        Reg(10),
        Reg(11),
        Reg(12),
        Reg(13),
        Reg(14),
        Reg(15),
    ]
};

/// One-byte fields told apart by their whole mask rather than one bit.
const WHOLE_FIELDS: [Field; 5] = [
    Field::CtState,
    Field::NwFrag,
    Field::NwProto,
    Field::NwTos,
    Field::NwTtl,
];
