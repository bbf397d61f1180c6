//! The microflow cache: exact match on a packet's datapath key (OVS's EMC).
//!
//! # Design
//!
//! A fixed array of slots owned by one datapath thread, so there is no lock and no atomic
//! read-modify-write on a hit. A key may sit in one of two slots, chosen from the low and high
//! halves of its 64-bit hash, so the packet is hashed once ([`super::KeyHasher::hash_dp`]) and
//! both candidates come from that hash. A slot stores the full hash (cheap reject), the key's
//! datapath words (exact compare) and the megaflow entry it was learned from.
//!
//! Insertion is probabilistic (one in `insert_inv_prob` megaflow hits, default 100, as OVS's
//! `emc-insert-inv-prob`): with more flows than slots, inserting every hit makes flows evict
//! each other on every packet; inserting rarely lets the heavy flows settle in.
//!
//! # Invariants
//!
//! - A slot's entry may be dead (removed or replaced megaflow): lookup treats it as a miss, so a
//!   dead entry's actions are never returned. [`MicroflowCache::sweep_step`] frees dead slots a
//!   few at a time, so their memory is returned without a pause.
//! - Only datapath words are compared: registers and metadata are zero on entry to the datapath.

use super::megaflow::MegaflowEntry;
use crate::flow::{DP_KEY_WORDS, FlowKey};
use std::sync::Arc;

/// Default number of slots per datapath thread.
pub const DEFAULT_ENTRIES: usize = 8_192;
/// Default insertion inverse probability (insert on one megaflow hit in 100).
pub const DEFAULT_INSERT_INV_PROB: u32 = 100;

/// Cache-line aligned, hash and entry first: a slot spans three lines instead of straddling
/// four, and a miss or a sweep reads only the first.
#[derive(Clone, Default)]
#[repr(C, align(64))]
struct Slot {
    hash: u64,
    flow: Option<Arc<MegaflowEntry>>,
    key: [u64; DP_KEY_WORDS],
}

/// One datapath thread's exact-match cache.
pub struct MicroflowCache {
    slots: Box<[Slot]>,
    mask: usize,
    insert_inv_prob: u32,
    rng: u32,
    sweep_pos: usize,
}

impl core::fmt::Debug for MicroflowCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MicroflowCache")
            .field("slots", &self.slots.len())
            .field("insert_inv_prob", &self.insert_inv_prob)
            .finish()
    }
}

impl MicroflowCache {
    /// A cache of `entries` slots (rounded up to a power of two, at least 2). `insert_inv_prob`:
    /// insert on one in that many offers; 1 = always, 0 = never (cache disabled). `seed` seeds
    /// the insertion coin.
    pub fn new(entries: usize, insert_inv_prob: u32, seed: u32) -> MicroflowCache {
        let n = entries.max(2).next_power_of_two();
        MicroflowCache {
            slots: vec![Slot::default(); n].into_boxed_slice(),
            mask: n - 1,
            insert_inv_prob,
            rng: seed | 1,
            sweep_pos: 0,
        }
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn candidates(&self, hash: u64) -> [usize; 2] {
        [hash as usize & self.mask, (hash >> 32) as usize & self.mask]
    }

    #[inline]
    fn holds(slot: &Slot, key: &FlowKey, hash: u64) -> bool {
        // Branch-free word compare (vectorised) rather than a `bcmp` call.
        slot.hash == hash
            && slot
                .key
                .iter()
                .zip(key.dp_words())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The live megaflow entry cached for `key` (whose [`super::KeyHasher::hash_dp`] is `hash`).
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<&Arc<MegaflowEntry>> {
        // Keys with Geneve options differ beyond the words a slot holds: never cached here.
        if key.tun_md_present != 0 {
            return None;
        }
        for i in self.candidates(hash) {
            let slot = &self.slots[i];
            if Self::holds(slot, key, hash) {
                return slot.flow.as_ref().filter(|f| !f.is_dead());
            }
        }
        None
    }

    /// Flips the insertion coin (xorshift32).
    #[inline]
    pub fn should_insert(&mut self) -> bool {
        match self.insert_inv_prob {
            0 => false,
            1 => true,
            n => {
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.rng = x;
                x.is_multiple_of(n)
            }
        }
    }

    /// Caches `key → flow` if the insertion coin says so.
    pub fn offer(&mut self, key: &FlowKey, hash: u64, flow: &Arc<MegaflowEntry>) {
        if key.tun_md_present == 0 && self.should_insert() {
            self.insert(key, hash, flow);
        }
    }

    /// Caches `key → flow` unconditionally: in the slot already holding `key`, else a free or
    /// dead candidate, else the candidate the coin picks.
    pub fn insert(&mut self, key: &FlowKey, hash: u64, flow: &Arc<MegaflowEntry>) {
        if key.tun_md_present != 0 {
            return;
        }
        let [a, b] = self.candidates(hash);
        let free = |s: &Slot| s.flow.as_ref().is_none_or(|f| f.is_dead());
        let i = if Self::holds(&self.slots[a], key, hash) {
            a
        } else if Self::holds(&self.slots[b], key, hash) {
            b
        } else if free(&self.slots[a]) {
            a
        } else if free(&self.slots[b]) {
            b
        } else {
            self.rng = self.rng.rotate_left(7) ^ 0x9e37_79b9;
            if self.rng & 1 == 0 { a } else { b }
        };
        let slot = &mut self.slots[i];
        slot.hash = hash;
        slot.key.copy_from_slice(key.dp_words());
        slot.flow = Some(Arc::clone(flow));
    }

    /// Frees the dead entries among the next `n` slots (round robin). Returns how many.
    pub fn sweep_step(&mut self, n: usize) -> usize {
        let mut freed = 0;
        for _ in 0..n.min(self.slots.len()) {
            let slot = &mut self.slots[self.sweep_pos];
            if slot.flow.as_ref().is_some_and(|f| f.is_dead()) {
                slot.flow = None;
                freed += 1;
            }
            self.sweep_pos = (self.sweep_pos + 1) & self.mask;
        }
        freed
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.flow = None;
        }
    }

    /// Number of slots holding a live entry (a scan; for tests and statistics).
    pub fn live(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.flow.as_ref().is_some_and(|f| !f.is_dead()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::DpAction;
    use crate::cache::{KeyHasher, MegaflowTable, Retain};

    fn key(n: u32) -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.in_port = 1;
        k.dl_type = 0x0800;
        k.nw_src = n;
        k
    }

    fn exact() -> FlowKey {
        FlowKey::dp_only_mask()
    }

    #[test]
    fn hit_miss_and_exactness() {
        let h = KeyHasher::with_seeds(5, 6, 7, 8);
        let mut t = MegaflowTable::new(h.clone());
        let mut c = MicroflowCache::new(DEFAULT_ENTRIES, 1, 1);
        let (e, _) = t.insert(&key(1), &exact(), vec![DpAction::Output(3)], 0);
        assert!(c.lookup(&key(1), h.hash_dp(&key(1))).is_none());
        c.insert(&key(1), h.hash_dp(&key(1)), &e);
        let hit = c.lookup(&key(1), h.hash_dp(&key(1))).expect("hit");
        assert!(Arc::ptr_eq(hit, &e));
        assert!(c.lookup(&key(2), h.hash_dp(&key(2))).is_none());
        // Same hash, different key (forced): the full compare rejects it.
        assert!(c.lookup(&key(2), h.hash_dp(&key(1))).is_none());
        assert_eq!(c.live(), 1);
    }

    #[test]
    fn dead_entries_miss_and_are_swept() {
        let h = KeyHasher::with_seeds(1, 1, 1, 1);
        let mut t = MegaflowTable::new(h.clone());
        let mut c = MicroflowCache::new(16, 1, 1);
        let (e, _) = t.insert(&key(1), &exact(), vec![DpAction::Output(3)], 0);
        c.insert(&key(1), h.hash_dp(&key(1)), &e);
        t.retain(|_| Retain::Replace(vec![DpAction::Output(4)]));
        assert!(e.is_dead());
        assert!(
            c.lookup(&key(1), h.hash_dp(&key(1))).is_none(),
            "dead entry ignored"
        );
        assert_eq!(c.live(), 0);
        assert_eq!(c.sweep_step(16), 1);
        assert_eq!(
            Arc::strong_count(&e),
            1,
            "the cache let go of the dead entry"
        );
    }

    #[test]
    fn two_way_placement_and_eviction() {
        // A 2-slot cache: at most two keys live; a third evicts one of them.
        let h = KeyHasher::with_seeds(9, 9, 9, 9);
        let mut t = MegaflowTable::new(h.clone());
        let mut c = MicroflowCache::new(2, 1, 3);
        let flows: Vec<_> = (0..3)
            .map(|i| t.insert(&key(i), &exact(), vec![DpAction::Output(i)], 0).0)
            .collect();
        for (i, f) in flows.iter().enumerate() {
            c.insert(&key(i as u32), h.hash_dp(&key(i as u32)), f);
        }
        let live: Vec<bool> = (0..3)
            .map(|i| c.lookup(&key(i), h.hash_dp(&key(i))).is_some())
            .collect();
        assert!(live[2], "the newest key is cached");
        assert!(live.iter().filter(|l| **l).count() <= 2);
        // Re-inserting a cached key reuses its slot.
        c.insert(&key(2), h.hash_dp(&key(2)), &flows[2]);
        assert!(c.lookup(&key(2), h.hash_dp(&key(2))).is_some());
        assert!(c.live() <= 2);
    }

    #[test]
    fn insertion_probability() {
        let mut never = MicroflowCache::new(16, 0, 1);
        assert!((0..1000).all(|_| !never.should_insert()));
        let mut always = MicroflowCache::new(16, 1, 1);
        assert!((0..1000).all(|_| always.should_insert()));
        let mut one_in_100 = MicroflowCache::new(16, 100, 12345);
        let n = (0..100_000).filter(|_| one_in_100.should_insert()).count();
        assert!((700..1300).contains(&n), "about 1% inserted, got {n}");
    }

    #[test]
    fn offer_respects_the_coin() {
        let h = KeyHasher::with_seeds(2, 2, 2, 2);
        let mut t = MegaflowTable::new(h.clone());
        let (e, _) = t.insert(&key(1), &exact(), vec![], 0);
        let mut c = MicroflowCache::new(64, 0, 1);
        c.offer(&key(1), h.hash_dp(&key(1)), &e);
        assert_eq!(c.live(), 0);
        let mut c = MicroflowCache::new(64, 1, 1);
        c.offer(&key(1), h.hash_dp(&key(1)), &e);
        assert_eq!(c.live(), 1);
        c.clear();
        assert_eq!(c.live(), 0);
    }
}
