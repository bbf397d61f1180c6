//! A small open-addressing hash table keyed by precomputed 64-bit hashes.
//!
//! Subtables probe one of these per stage and per lookup, so the probe is kept to a load, a
//! compare and (rarely) a step: slots hold the full 64-bit hash next to the value, the table
//! is at most half full, collisions step linearly, and removal shifts later slots back so no
//! tombstones accumulate. The hash `0` marks an empty slot, so a key hash of `0` is stored as
//! `1` (callers compare real keys anyway: equal hashes never imply equal keys).

/// Map from a 64-bit hash to a small `Copy` value.
#[derive(Clone, Debug)]
pub struct HashTable<V: Copy> {
    slots: Vec<(u64, V)>,
    len: usize,
}

/// The stored form of a hash (0 is reserved for "empty").
#[inline]
fn stored(h: u64) -> u64 {
    if h == 0 { 1 } else { h }
}

impl<V: Copy + Default> Default for HashTable<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy + Default> HashTable<V> {
    /// An empty table (allocates on first insert).
    pub fn new() -> Self {
        HashTable {
            slots: Vec::new(),
            len: 0,
        }
    }

    /// Number of stored keys.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `h`, if any.
    #[inline]
    fn find(&self, h: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let h = stored(h);
        let mask = self.mask();
        let mut i = h as usize & mask;
        loop {
            let (k, _) = self.slots[i];
            if k == h {
                return Some(i);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The value stored under `h`.
    #[inline]
    pub fn get(&self, h: u64) -> Option<V> {
        self.find(h).map(|i| self.slots[i].1)
    }

    /// The value stored under `h`, mutably.
    #[inline]
    pub fn get_mut(&mut self, h: u64) -> Option<&mut V> {
        self.find(h).map(|i| &mut self.slots[i].1)
    }

    /// The value under `h`, inserting `V::default()` first if absent.
    pub fn entry(&mut self, h: u64) -> &mut V {
        if let Some(i) = self.find(h) {
            return &mut self.slots[i].1;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let h = stored(h);
        let mask = self.mask();
        let mut i = h as usize & mask;
        while self.slots[i].0 != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = (h, V::default());
        self.len += 1;
        &mut self.slots[i].1
    }

    /// Stores `v` under `h`, returning the previous value.
    pub fn insert(&mut self, h: u64, v: V) -> Option<V> {
        let old = self.get(h);
        *self.entry(h) = v;
        old
    }

    /// Removes `h`, returning its value.
    pub fn remove(&mut self, h: u64) -> Option<V> {
        let mut hole = self.find(h)?;
        let old = self.slots[hole].1;
        let mask = self.mask();
        // Backward-shift deletion: move later members of the probe run into the hole when
        // their home slot is at or before it (cyclically).
        let mut i = (hole + 1) & mask;
        loop {
            let (k, v) = self.slots[i];
            if k == 0 {
                break;
            }
            let home = k as usize & mask;
            let dist_home = i.wrapping_sub(home) & mask;
            let dist_hole = i.wrapping_sub(hole) & mask;
            if dist_home >= dist_hole {
                self.slots[hole] = (k, v);
                hole = i;
            }
            i = (i + 1) & mask;
        }
        self.slots[hole] = (0, V::default());
        self.len -= 1;
        Some(old)
    }

    fn grow(&mut self) {
        let new_cap = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, vec![(0, V::default()); new_cap]);
        let mask = new_cap - 1;
        for (k, v) in old {
            if k != 0 {
                let mut i = k as usize & mask;
                while self.slots[i].0 != 0 {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn zero_hash_and_collisions() {
        let mut t: HashTable<u32> = HashTable::new();
        assert_eq!(t.get(0), None);
        assert_eq!(t.insert(0, 7), None);
        assert_eq!(t.get(0), Some(7));
        // Same home slot (low bits equal), different hashes.
        for i in 1..20u64 {
            t.insert(i << 40, i as u32);
        }
        for i in 1..20u64 {
            assert_eq!(t.get(i << 40), Some(i as u32));
        }
        assert_eq!(t.remove(5 << 40), Some(5));
        assert_eq!(t.get(5 << 40), None);
        assert_eq!(t.get(6 << 40), Some(6));
        assert_eq!(t.len(), 19);
    }

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec((any::<bool>(), 0u64..64, any::<u32>()), 1..300)) {
            let mut t: HashTable<u32> = HashTable::new();
            let mut m: HashMap<u64, u32> = HashMap::new();
            for (ins, k, v) in ops {
                // Spread keys over few home slots to force long probe runs and wrap-around.
                let h = k.wrapping_mul(0x1000_0000_0000_0001) ^ (k & 3);
                if ins {
                    prop_assert_eq!(t.insert(h, v), m.insert(h, v));
                } else {
                    prop_assert_eq!(t.remove(h), m.remove(&h));
                }
                prop_assert_eq!(t.len(), m.len());
                for (k, v) in &m {
                    prop_assert_eq!(t.get(*k), Some(*v));
                }
            }
        }
    }
}
