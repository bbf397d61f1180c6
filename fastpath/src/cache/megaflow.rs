//! The megaflow cache: tuple-space search over wildcarded flows (OVS's `dpcls`).
//!
//! # Design
//!
//! A megaflow is `(key & mask) → actions`. All megaflows with the same mask live in one
//! *subtable*: a hash table keyed by the masked key, so a subtable lookup is one hash of the
//! masked words and one probe. A packet's lookup tries the subtables in rank order until one
//! hits; the ranking (by hits since the last re-rank, refreshed every
//! [`RANK_INTERVAL_MS`]) puts the busiest masks first, so the common case searches one or two
//! subtables. Lookups run over a batch of up to 32 keys subtable by subtable, so a subtable's
//! mask and table stay hot in cache while the batch goes through it.
//!
//! Each subtable remembers which words of its mask are non-zero and hashes and compares only
//! those (a megaflow that matches `in_port,dl_type,nw_dst/24` touches three words of 26).
//!
//! # Ownership and concurrency
//!
//! One [`MegaflowTable`] per datapath thread, behind a mutex that its thread takes once per
//! batch and the revalidator takes briefly; the table itself is plain single-threaded code.
//! Entries are `Arc<MegaflowEntry>` so that the thread's microflow cache can point at them
//! without a lock. An entry's actions never change: revalidation that changes them replaces the
//! entry and marks the old one dead, and every removal marks the entry dead, which is what makes
//! a stale microflow entry miss.
//!
//! Per-entry statistics are written only by the owning thread, and only while it holds the
//! table lock, so they are plain relaxed loads and stores, no read-modify-write.

use super::KeyHasher;
use crate::action::DpActions;
use crate::flow::{FlowKey, FlowMask, KEY_WORDS};
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hashbrown::HashTable;
use std::sync::Arc;

/// How often subtables are re-ranked by their hit counts.
pub const RANK_INTERVAL_MS: u64 = 1_000;
/// Largest batch [`MegaflowTable::lookup_batch`] takes (one bit per key in a `u32`).
pub const MAX_BATCH: usize = 32;

/// Packet and byte counts and last use of a megaflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub packets: u64,
    pub bytes: u64,
    /// Time of the last packet (or of installation), in the datapath's milliseconds.
    pub used_ms: u64,
}

/// One installed megaflow.
#[derive(Debug)]
pub struct MegaflowEntry {
    /// The masked key (`key & mask`).
    key: FlowKey,
    mask: FlowMask,
    actions: DpActions,
    dead: AtomicBool,
    packets: AtomicU64,
    bytes: AtomicU64,
    used_ms: AtomicU64,
}

impl MegaflowEntry {
    fn new(key: FlowKey, mask: FlowMask, actions: DpActions, stats: FlowStats) -> MegaflowEntry {
        MegaflowEntry {
            key,
            mask,
            actions,
            dead: AtomicBool::new(false),
            packets: AtomicU64::new(stats.packets),
            bytes: AtomicU64::new(stats.bytes),
            used_ms: AtomicU64::new(stats.used_ms),
        }
    }

    /// The masked key.
    pub fn key(&self) -> &FlowKey {
        &self.key
    }

    /// The mask.
    pub fn mask(&self) -> &FlowMask {
        &self.mask
    }

    /// The actions (immutable for the entry's life).
    pub fn actions(&self) -> &DpActions {
        &self.actions
    }

    /// True once the entry was removed or replaced; cached pointers to it must be ignored.
    #[inline]
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    fn kill(&self) {
        self.dead.store(true, Ordering::Release);
    }

    /// Current statistics.
    pub fn stats(&self) -> FlowStats {
        FlowStats {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            used_ms: self.used_ms.load(Ordering::Relaxed),
        }
    }

    /// Counts packets. Only the owning thread calls this, holding its table lock, so a load and
    /// a store suffice.
    #[inline]
    pub fn record(&self, packets: u64, bytes: u64, now_ms: u64) {
        let p = self.packets.load(Ordering::Relaxed);
        self.packets.store(p + packets, Ordering::Relaxed);
        let b = self.bytes.load(Ordering::Relaxed);
        self.bytes.store(b + bytes, Ordering::Relaxed);
        if self.used_ms.load(Ordering::Relaxed) < now_ms {
            self.used_ms.store(now_ms, Ordering::Relaxed);
        }
    }
}

/// What [`MegaflowTable::retain`] does with an entry.
#[derive(Debug)]
pub enum Retain {
    Keep,
    /// Replace the entry's actions (the entry is replaced; statistics carry over).
    Replace(DpActions),
    Remove,
}

/// All megaflows with one mask.
struct Subtable {
    mask: FlowMask,
    /// Indices of the mask's non-zero words, ascending.
    words: Vec<u8>,
    table: HashTable<Arc<MegaflowEntry>>,
    /// Hits since the last re-rank (a `Cell`: lookups take `&self`).
    hits: Cell<u64>,
}

impl Subtable {
    fn new(mask: FlowMask) -> Subtable {
        let words = (0..KEY_WORDS)
            .filter(|&i| mask.words()[i] != 0)
            .map(|i| i as u8)
            .collect();
        Subtable {
            mask,
            words,
            table: HashTable::new(),
            hits: Cell::new(0),
        }
    }

    #[inline]
    fn matches(&self, entry: &MegaflowEntry, key: &FlowKey) -> bool {
        let (e, k, m) = (entry.key.words(), key.words(), self.mask.words());
        self.words.iter().all(|&i| {
            let i = usize::from(i);
            k[i] & m[i] == e[i]
        })
    }

    #[inline]
    fn find(&self, hasher: &KeyHasher, key: &FlowKey) -> Option<&Arc<MegaflowEntry>> {
        let h = hasher.hash_masked(key, &self.mask, &self.words);
        self.table.find(h, |e| self.matches(e, key))
    }
}

/// One datapath thread's megaflows.
pub struct MegaflowTable {
    subtables: Vec<Subtable>,
    len: usize,
    hasher: KeyHasher,
    last_rank_ms: u64,
}

impl core::fmt::Debug for MegaflowTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MegaflowTable")
            .field("len", &self.len)
            .field("subtables", &self.subtables.len())
            .finish()
    }
}

impl MegaflowTable {
    /// An empty table hashing with `hasher`.
    pub fn new(hasher: KeyHasher) -> MegaflowTable {
        MegaflowTable {
            subtables: Vec::new(),
            len: 0,
            hasher,
            last_rank_ms: 0,
        }
    }

    /// Number of megaflows.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if there are no megaflows.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of subtables (distinct masks).
    pub fn subtable_count(&self) -> usize {
        self.subtables.len()
    }

    /// The megaflow matching `key`, and how many subtables were searched to find it.
    pub fn lookup(&self, key: &FlowKey) -> Option<(&Arc<MegaflowEntry>, usize)> {
        for (n, sub) in self.subtables.iter().enumerate() {
            if let Some(e) = sub.find(&self.hasher, key) {
                sub.hits.set(sub.hits.get() + 1);
                return Some((e, n + 1));
            }
        }
        None
    }

    /// Looks up the keys whose bit is set in `want` (bit `i` = `keys[i]`, at most
    /// [`MAX_BATCH`]), subtable by subtable. Fills `out[i]` for each hit and returns the bits
    /// that hit and the total number of subtables searched by the hits.
    pub fn lookup_batch<'t>(
        &'t self,
        keys: &[FlowKey],
        want: u32,
        out: &mut [Option<&'t Arc<MegaflowEntry>>; MAX_BATCH],
    ) -> (u32, u64) {
        debug_assert!(keys.len() <= MAX_BATCH);
        let mut left = want;
        let mut searched = 0u64;
        for (n, sub) in self.subtables.iter().enumerate() {
            if left == 0 {
                break;
            }
            let mut bits = left;
            let mut hits = 0u64;
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(e) = sub.find(&self.hasher, &keys[i]) {
                    out[i] = Some(e);
                    left &= !(1 << i);
                    hits += 1;
                }
            }
            sub.hits.set(sub.hits.get() + hits);
            searched += hits * (n as u64 + 1);
        }
        (want & !left, searched)
    }

    /// Re-ranks subtables by hits if [`RANK_INTERVAL_MS`] passed since the last time.
    pub fn maybe_rank(&mut self, now_ms: u64) {
        if now_ms.saturating_sub(self.last_rank_ms) < RANK_INTERVAL_MS {
            return;
        }
        self.last_rank_ms = now_ms;
        // Stable: equally busy subtables keep their order.
        self.subtables
            .sort_by_key(|s| core::cmp::Reverse(s.hits.get()));
        for s in &self.subtables {
            s.hits.set(0);
        }
    }

    /// Installs `key & mask → actions` unless an entry with the same masked key and mask
    /// exists. Returns the entry in the table and whether it is new.
    pub fn insert(
        &mut self,
        key: &FlowKey,
        mask: &FlowMask,
        actions: DpActions,
        now_ms: u64,
    ) -> (Arc<MegaflowEntry>, bool) {
        let masked = key.masked(mask);
        let idx = match self.subtables.iter().position(|s| s.mask == *mask) {
            Some(i) => i,
            None => {
                // New masks go last: they have no hits yet; ranking moves them up.
                self.subtables.push(Subtable::new(*mask));
                self.subtables.len() - 1
            }
        };
        let hasher = &self.hasher;
        let sub = &mut self.subtables[idx];
        if let Some(e) = sub.find(hasher, &masked) {
            return (Arc::clone(e), false);
        }
        let entry = Arc::new(MegaflowEntry::new(
            masked,
            *mask,
            actions,
            FlowStats {
                used_ms: now_ms,
                ..FlowStats::default()
            },
        ));
        let h = hasher.hash_masked(&masked, &sub.mask, &sub.words);
        let (m, w) = (&sub.mask, &sub.words);
        sub.table
            .insert_unique(h, Arc::clone(&entry), |e| hasher.hash_masked(&e.key, m, w));
        self.len += 1;
        (entry, true)
    }

    /// Every entry, in subtable order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<MegaflowEntry>> {
        self.subtables.iter().flat_map(|s| s.table.iter())
    }

    /// Visits every entry and keeps, replaces or removes it as `f` says. Removed and replaced
    /// entries are marked dead. Returns `(replaced, removed)`.
    pub fn retain(&mut self, mut f: impl FnMut(&MegaflowEntry) -> Retain) -> (usize, usize) {
        let (mut replaced, mut removed) = (0, 0);
        for sub in &mut self.subtables {
            sub.table.retain(|slot| match f(slot) {
                Retain::Keep => true,
                Retain::Replace(actions) => {
                    let new = MegaflowEntry::new(slot.key, slot.mask, actions, slot.stats());
                    slot.kill();
                    *slot = Arc::new(new);
                    replaced += 1;
                    true
                }
                Retain::Remove => {
                    slot.kill();
                    removed += 1;
                    false
                }
            });
        }
        self.subtables.retain(|s| !s.table.is_empty());
        self.len -= removed;
        (replaced, removed)
    }

    /// Removes megaflows unused since `now_ms - idle_ms`. Returns how many.
    pub fn expire_idle(&mut self, now_ms: u64, idle_ms: u64) -> usize {
        let cutoff = now_ms.saturating_sub(idle_ms);
        self.retain(|e| {
            if e.stats().used_ms < cutoff {
                Retain::Remove
            } else {
                Retain::Keep
            }
        })
        .1
    }

    /// Removes the `n` least recently used megaflows. Returns how many were removed.
    pub fn evict_oldest(&mut self, n: usize) -> usize {
        if n == 0 || self.len == 0 {
            return 0;
        }
        if n >= self.len {
            return self.retain(|_| Retain::Remove).1;
        }
        let mut used: Vec<u64> = self.iter().map(|e| e.stats().used_ms).collect();
        // The n-th smallest last-use time: evict everything older, and ties up to n in total.
        let (_, cutoff, _) = used.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        let mut left = n;
        self.retain(|e| {
            if left > 0 && e.stats().used_ms <= cutoff {
                left -= 1;
                Retain::Remove
            } else {
                Retain::Keep
            }
        })
        .1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::DpAction;

    fn hasher() -> KeyHasher {
        KeyHasher::with_seeds(1, 2, 3, 4)
    }

    fn key(nw_dst: u32, tp_dst: u16) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.dl_type = 0x0800;
        k.nw_proto = 6;
        k.nw_dst = nw_dst;
        k.tp_dst = tp_dst;
        k
    }

    fn mask_dst(prefix: u32) -> FlowMask {
        let mut m = FlowKey::ZERO;
        m.in_port = !0;
        m.dl_type = !0;
        m.nw_dst = if prefix == 0 { 0 } else { !0 << (32 - prefix) };
        m
    }

    #[test]
    fn insert_lookup_and_wildcarded_bits() {
        let mut t = MegaflowTable::new(hasher());
        let (e, new) = t.insert(
            &key(0x0a00_0105, 80),
            &mask_dst(24),
            vec![DpAction::Output(2)],
            5,
        );
        assert!(new);
        assert_eq!(
            e.key().tp_dst,
            0,
            "unmasked bits are cleared in the stored key"
        );
        let (hit, searched) = t.lookup(&key(0x0a00_01ff, 443)).expect("same /24 hits");
        assert!(Arc::ptr_eq(hit, &e));
        assert_eq!(searched, 1);
        assert!(t.lookup(&key(0x0a00_0205, 80)).is_none());
        let mut other_port = key(0x0a00_0105, 80);
        other_port.in_port = 2;
        assert!(t.lookup(&other_port).is_none());
        assert_eq!(e.stats().used_ms, 5);
    }

    #[test]
    fn duplicate_install_returns_the_existing_entry() {
        let mut t = MegaflowTable::new(hasher());
        let (a, _) = t.insert(
            &key(0x0a00_0105, 1),
            &mask_dst(24),
            vec![DpAction::Output(2)],
            0,
        );
        let (b, new) = t.insert(
            &key(0x0a00_0106, 2),
            &mask_dst(24),
            vec![DpAction::Output(3)],
            0,
        );
        assert!(!new);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(b.actions(), &vec![DpAction::Output(2)]);
        assert_eq!((t.len(), t.subtable_count()), (1, 1));
    }

    #[test]
    fn batch_lookup_searches_subtables_in_rank_order() {
        let mut t = MegaflowTable::new(hasher());
        t.insert(
            &key(0x0a00_0000, 0),
            &mask_dst(8),
            vec![DpAction::Output(8)],
            0,
        );
        t.insert(
            &key(0x0b00_0000, 0),
            &mask_dst(16),
            vec![DpAction::Output(16)],
            0,
        );
        t.insert(
            &key(0x0c00_0000, 0),
            &mask_dst(24),
            vec![DpAction::Output(24)],
            0,
        );
        let keys = [
            key(0x0a01_0203, 1),
            key(0x0c00_0001, 2),
            key(0x0d00_0000, 3),
            key(0x0b00_ff00, 4),
        ];
        let mut out = [None; MAX_BATCH];
        let (hits, searched) = t.lookup_batch(&keys, 0b1111, &mut out);
        assert_eq!(hits, 0b1011);
        assert_eq!(searched, 1 + 3 + 2);
        assert_eq!(out[1].unwrap().actions(), &vec![DpAction::Output(24)]);
        assert!(out[2].is_none());
        // Make /24 the busiest, re-rank: it is searched first.
        for _ in 0..10 {
            t.lookup(&keys[1]);
        }
        t.maybe_rank(RANK_INTERVAL_MS);
        assert_eq!(t.lookup(&keys[1]).unwrap().1, 1);
        assert_eq!(
            t.lookup(&keys[0]).unwrap().1,
            2,
            "/8 had the next most hits"
        );
        // Not yet time for another ranking.
        for _ in 0..20 {
            t.lookup(&keys[3]);
        }
        t.maybe_rank(RANK_INTERVAL_MS + 10);
        assert_eq!(t.lookup(&keys[1]).unwrap().1, 1);
    }

    #[test]
    fn retain_replaces_and_removes_marking_dead() {
        let mut t = MegaflowTable::new(hasher());
        let (a, _) = t.insert(&key(1, 0), &mask_dst(32), vec![DpAction::Output(1)], 0);
        let (b, _) = t.insert(&key(2, 0), &mask_dst(32), vec![DpAction::Output(1)], 0);
        let (c, _) = t.insert(&key(3, 0), &mask_dst(24), vec![DpAction::Output(1)], 0);
        a.record(3, 300, 7);
        let (replaced, removed) = t.retain(|e| match e.key().nw_dst {
            1 => Retain::Replace(vec![DpAction::Output(9)]),
            2 => Retain::Keep,
            _ => Retain::Remove,
        });
        assert_eq!((replaced, removed), (1, 1));
        assert!(a.is_dead() && !b.is_dead() && c.is_dead());
        let (new_a, _) = t.lookup(&key(1, 0)).unwrap();
        assert_eq!(new_a.actions(), &vec![DpAction::Output(9)]);
        assert_eq!(
            new_a.stats(),
            FlowStats {
                packets: 3,
                bytes: 300,
                used_ms: 7
            }
        );
        assert_eq!(
            (t.len(), t.subtable_count()),
            (2, 1),
            "empty subtable dropped"
        );
    }

    #[test]
    fn idle_expiry_and_oldest_first_eviction() {
        let mut t = MegaflowTable::new(hasher());
        let entries: Vec<_> = (0..10u32)
            .map(|i| {
                t.insert(&key(i, 0), &mask_dst(32), vec![], u64::from(i) * 1000)
                    .0
            })
            .collect();
        entries[0].record(1, 64, 9_500);
        assert_eq!(
            t.expire_idle(12_000, 10_000),
            1,
            "only entry 1 (used at 1 s) is idle"
        );
        assert!(entries[1].is_dead() && !entries[0].is_dead());
        assert_eq!(t.evict_oldest(3), 3);
        for i in [2, 3, 4] {
            assert!(entries[i].is_dead(), "entry {i} was among the oldest");
        }
        assert!(!entries[5].is_dead() && !entries[0].is_dead());
        assert_eq!(t.len(), 6);
        assert_eq!(t.evict_oldest(100), 6);
        assert!(t.is_empty());
        assert_eq!(t.subtable_count(), 0);
    }
}
