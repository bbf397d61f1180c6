//! MAC learning: the forwarding database behind the `normal` action.
//!
//! A bounded table of `(vlan, mac) → port` entries, learned from the source address of packets
//! that take the `normal` action and aged out after 300 s without being seen. When the table is
//! full, the least recently seen entry is evicted, so a MAC flood cannot grow it past its limit;
//! evictions are counted.
//!
//! Pure logic: time is an argument (`now_ms`), nothing here does I/O. Every change that could
//! alter a forwarding decision bumps [`MacTable::generation`], which the bridge uses to trigger
//! megaflow revalidation (a megaflow that flooded to an unknown destination must stop flooding once
//! the destination is learned).

use std::collections::{BTreeMap, HashMap};

/// Default number of entries (as OVS's `mac-table-size`).
pub const DEFAULT_MAX_ENTRIES: usize = 8192;
/// Default aging time (as OVS's `mac-aging-time`).
pub const DEFAULT_AGING_MS: u64 = 300_000;

/// One learned address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    pub vlan: u16,
    pub mac: [u8; 6],
    pub port: u32,
    /// When the address was last seen.
    pub last_seen_ms: u64,
}

/// What [`MacTable::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new entry.
    New,
    /// An existing entry moved to another port.
    Moved { from: u32 },
    /// An existing entry was seen again on the same port.
    Refreshed,
    /// Multicast/broadcast sources are never learned.
    Ignored,
}

/// Counters, for `datapath-stats` and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MacStats {
    pub learned: u64,
    pub moved: u64,
    pub expired: u64,
    /// Entries evicted because the table was full.
    pub evicted: u64,
}

/// The forwarding database of one bridge.
#[derive(Debug)]
pub struct MacTable {
    entries: HashMap<(u16, [u8; 6]), (u32, u64, u64)>, // (port, last_seen_ms, lru seq)
    lru: BTreeMap<u64, (u16, [u8; 6])>,
    next_seq: u64,
    max_entries: usize,
    aging_ms: u64,
    generation: u64,
    stats: MacStats,
}

impl Default for MacTable {
    fn default() -> Self {
        MacTable::new(DEFAULT_MAX_ENTRIES, DEFAULT_AGING_MS)
    }
}

/// True for group (multicast or broadcast) addresses.
pub fn is_multicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 != 0
}

impl MacTable {
    /// A table of at most `max_entries` (at least 1) entries aging after `aging_ms`.
    pub fn new(max_entries: usize, aging_ms: u64) -> MacTable {
        MacTable {
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            next_seq: 0,
            max_entries: max_entries.max(1),
            aging_ms,
            generation: 0,
            stats: MacStats::default(),
        }
    }

    /// Learns that `mac` on `vlan` was seen on `port` at `now_ms`.
    pub fn learn(&mut self, vlan: u16, mac: [u8; 6], port: u32, now_ms: u64) -> Learned {
        if is_multicast(&mac) {
            return Learned::Ignored;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some((old_port, last, old_seq)) = self.entries.get_mut(&(vlan, mac)) {
            self.lru.remove(old_seq);
            self.lru.insert(seq, (vlan, mac));
            *old_seq = seq;
            *last = now_ms;
            if *old_port != port {
                let from = *old_port;
                *old_port = port;
                self.stats.moved += 1;
                self.generation += 1;
                return Learned::Moved { from };
            }
            return Learned::Refreshed;
        }
        if self.entries.len() >= self.max_entries
            && let Some((_, victim)) = self.lru.pop_first()
        {
            self.entries.remove(&victim);
            self.stats.evicted += 1;
        }
        self.entries.insert((vlan, mac), (port, now_ms, seq));
        self.lru.insert(seq, (vlan, mac));
        self.stats.learned += 1;
        self.generation += 1;
        Learned::New
    }

    /// The port `mac` on `vlan` was learned on, if it has not aged out.
    pub fn lookup(&self, vlan: u16, mac: &[u8; 6], now_ms: u64) -> Option<u32> {
        let (port, last, _) = self.entries.get(&(vlan, *mac))?;
        (now_ms.saturating_sub(*last) < self.aging_ms).then_some(*port)
    }

    /// Removes aged-out entries; returns how many.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let aging = self.aging_ms;
        let before = self.entries.len();
        let lru = &mut self.lru;
        self.entries.retain(|_, (_, last, seq)| {
            let keep = now_ms.saturating_sub(*last) < aging;
            if !keep {
                lru.remove(seq);
            }
            keep
        });
        let n = before - self.entries.len();
        if n > 0 {
            self.stats.expired += n as u64;
            self.generation += 1;
        }
        n
    }

    /// Forgets every entry on `port` (the port was deleted or went down).
    pub fn flush_port(&mut self, port: u32) {
        let lru = &mut self.lru;
        let before = self.entries.len();
        self.entries.retain(|_, (p, _, seq)| {
            let keep = *p != port;
            if !keep {
                lru.remove(seq);
            }
            keep
        });
        if before != self.entries.len() {
            self.generation += 1;
        }
    }

    /// Forgets everything.
    pub fn flush(&mut self) {
        self.entries.clear();
        self.lru.clear();
        self.generation += 1;
    }

    /// Entries, sorted by port, VLAN, MAC (as `fdb-show` prints them).
    pub fn entries(&self) -> Vec<MacEntry> {
        let mut v: Vec<MacEntry> = self
            .entries
            .iter()
            .map(|((vlan, mac), (port, last, _))| MacEntry {
                vlan: *vlan,
                mac: *mac,
                port: *port,
                last_seen_ms: *last,
            })
            .collect();
        v.sort_by_key(|e| (e.port, e.vlan, e.mac));
        v
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Changes the limit; shrinking evicts the least recently seen entries.
    pub fn set_max_entries(&mut self, max: usize) {
        self.max_entries = max.max(1);
        while self.entries.len() > self.max_entries {
            if let Some((_, victim)) = self.lru.pop_first() {
                self.entries.remove(&victim);
                self.stats.evicted += 1;
                self.generation += 1;
            }
        }
    }

    /// Bumped whenever a forwarding decision could change.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Counters.
    pub fn stats(&self) -> MacStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [0, 0, 0, 0, 0, 0xb];

    #[test]
    fn learn_lookup_move_and_age() {
        let mut t = MacTable::new(16, 1000);
        assert_eq!(t.learn(0, A, 1, 0), Learned::New);
        assert_eq!(t.lookup(0, &A, 10), Some(1));
        assert_eq!(t.lookup(5, &A, 10), None, "VLANs are separate");
        assert_eq!(t.learn(0, A, 1, 500), Learned::Refreshed);
        let g = t.generation();
        assert_eq!(t.learn(0, A, 2, 600), Learned::Moved { from: 1 });
        assert!(t.generation() > g);
        assert_eq!(t.lookup(0, &A, 1599), Some(2));
        assert_eq!(t.lookup(0, &A, 1600), None, "aged");
        assert_eq!(t.expire(1600), 1);
        assert!(t.is_empty());
        assert_eq!(t.stats().expired, 1);
    }

    #[test]
    fn multicast_sources_are_not_learned() {
        let mut t = MacTable::default();
        assert_eq!(t.learn(0, [0xff; 6], 1, 0), Learned::Ignored);
        assert_eq!(t.learn(0, [0x01, 0, 0x5e, 0, 0, 1], 1, 0), Learned::Ignored);
        assert!(t.is_empty());
    }

    #[test]
    fn flood_of_sources_is_bounded_and_evicts_least_recent() {
        let mut t = MacTable::new(100, 300_000);
        t.learn(0, A, 1, 0);
        for i in 0..10_000u32 {
            let b = i.to_be_bytes();
            t.learn(0, [2, 0, b[0], b[1], b[2], b[3]], 3, 1);
            assert!(t.len() <= 100);
        }
        assert_eq!(t.len(), 100);
        assert_eq!(t.stats().evicted, 9_901);
        assert_eq!(t.lookup(0, &A, 2), None, "the oldest entry went first");
        let last = 9_999u32.to_be_bytes();
        assert_eq!(
            t.lookup(0, &[2, 0, last[0], last[1], last[2], last[3]], 2),
            Some(3)
        );
        assert_eq!(t.lookup(0, &B, 2), None);
    }

    #[test]
    fn flush_port_and_shrink() {
        let mut t = MacTable::new(10, 300_000);
        t.learn(0, A, 1, 0);
        t.learn(0, B, 2, 1);
        t.flush_port(1);
        assert_eq!(t.entries().len(), 1);
        t.learn(1, A, 3, 2);
        t.set_max_entries(1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.lookup(1, &A, 3), Some(3), "most recent kept");
    }
}
