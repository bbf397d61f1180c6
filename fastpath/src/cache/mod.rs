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

use crate::flow::{FlowKey, KEY_WORDS};
use core::hash::{BuildHasher, Hasher};
use zerocopy::IntoBytes;

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
        // One `write` of the bytes: ahash then mixes 16-byte blocks whose multiplies do not
        // depend on each other, unlike a chain of `write_u64` calls.
        let mut h = self.0.build_hasher();
        h.write(key.dp_words().as_bytes());
        h.finish()
    }

    /// Hash of `key & mask` over the word indices `words` (a subtable's non-zero mask words).
    #[inline]
    pub fn hash_masked(&self, key: &FlowKey, mask: &FlowKey, words: &[u8]) -> u64 {
        let (k, m) = (key.words(), mask.words());
        let mut buf = [0u64; KEY_WORDS];
        for (b, &i) in buf.iter_mut().zip(words) {
            let i = usize::from(i);
            *b = k[i] & m[i];
        }
        let mut h = self.0.build_hasher();
        h.write(buf[..words.len()].as_bytes());
        h.finish()
    }
}
