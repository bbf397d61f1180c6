//! The fast path's two flow caches, as in OVS's userspace datapath.
//!
//! - [`microflow`]: per datapath thread, exact match on a packet's whole datapath key, a few
//!   thousand entries, no lock at all. A hit costs one hash and one key comparison.
//! - [`megaflow`]: tuple-space search over wildcarded `(key & mask) → actions` entries, one hash
//!   table per distinct mask (a *subtable*), subtables ranked by hits. Every microflow entry
//!   points at the megaflow entry it was learned from, and is ignored once that entry is dead.
//!
//! Both hash with [`KeyHasher`]: ahash with random keys per instance, so a remote sender who
//! controls header fields cannot aim collisions at a bucket. (ahash uses the AES instructions
//! when the crate is built with the `aes` target feature, its fallback otherwise.)

pub mod megaflow;
pub mod microflow;

pub use megaflow::{FlowStats, MegaflowEntry, MegaflowTable, Retain};
pub use microflow::MicroflowCache;

use crate::flow::FlowKey;
use core::hash::{BuildHasher, Hasher};

/// Keyed hashing of flow keys (whole datapath key, or masked words of a subtable).
#[derive(Clone)]
pub struct KeyHasher(ahash::RandomState);

impl core::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl Default for KeyHasher {
    fn default() -> Self {
        KeyHasher::random()
    }
}

impl KeyHasher {
    /// A hasher with keys from the operating system's random source.
    pub fn random() -> KeyHasher {
        KeyHasher(ahash::RandomState::new())
    }

    /// A hasher with fixed keys (reproducible tests and benchmarks).
    pub fn with_seeds(k0: u64, k1: u64, k2: u64, k3: u64) -> KeyHasher {
        KeyHasher(ahash::RandomState::with_seeds(k0, k1, k2, k3))
    }

    /// Hash of the datapath words of `key` (what the microflow cache matches).
    #[inline]
    pub fn hash_dp(&self, key: &FlowKey) -> u64 {
        let mut h = self.0.build_hasher();
        for w in key.dp_words() {
            h.write_u64(*w);
        }
        h.finish()
    }

    /// Hash of `key & mask` over the word indices `words` (a subtable's non-zero mask words).
    #[inline]
    pub fn hash_masked(&self, key: &FlowKey, mask: &FlowKey, words: &[u8]) -> u64 {
        let (k, m) = (key.words(), mask.words());
        let mut h = self.0.build_hasher();
        for &i in words {
            let i = usize::from(i);
            h.write_u64(k[i] & m[i]);
        }
        h.finish()
    }
}
