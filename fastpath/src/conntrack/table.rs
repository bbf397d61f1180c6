//! The connection table: sharded, both directions indexed, bounded globally and per zone.
//!
//! # Layout
//!
//! A connection ([`Conn`]) is one heap object holding its two tuples (immutable once published)
//! and a small mutex around its mutable state. The table indexes it twice, by its original
//! and by its reply tuple, in `2^k` shards chosen by middle bits of the tuple's hash. Each
//! shard is a `Mutex<HashTable<Slot>>` (hashbrown's raw table: the hash is computed once per
//! packet, with a per-instance random `ahash` key, and used both to pick the shard and inside
//! it); a slot is just `(Arc<Conn>, is_reply)`, 16 bytes, because the tuple to compare is in
//! the connection.
//!
//! # Locking
//!
//! At most one shard lock is held at a time, and a connection's lock is only taken while
//! holding the shard lock that led to it (order: shard, then connection), so there is no lock
//! cycle. Work that touches a second shard (removing the other direction, reserving a NAT
//! reply tuple) happens after the first lock is released. With thousands of shards, the
//! chance that two datapath threads contend is small; the per-connection lock only serialises
//! the two directions of one flow, which OVS's per-connection lock does too.
//!
//! # Lifetime
//!
//! A connection dies once: whoever flips its `dead` flag (sweeper, flush, TCP reopen, a commit
//! replacing an expired entry) releases its count and then removes both slots, each removal
//! checking that the slot still points at *that* connection. Lookups ignore dead or expired
//! connections, so a half-removed one is never used.
//!
//! # Bounds
//!
//! A global limit and per-zone limits (an explicit limit, else the default zone limit, else
//! none) are enforced by reserving the counts *before* creating a connection, with atomic
//! counters, so there is no lock on that path either.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hashbrown::HashTable;

use super::key::ConnTuple;
use super::tcp::TcpConn;

/// UDP, ICMP and other protocols: first packet, several one-way, or answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Datagram {
    /// More than one packet seen in the original direction.
    pub multiple: bool,
    /// A packet seen in the reply direction.
    pub replied: bool,
}

/// Protocol state of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProtoState {
    Tcp(TcpConn),
    Udp(Datagram),
    Icmp(Datagram),
    Other(Datagram),
}

/// The mutable part of a connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnState {
    pub expires_ms: u64,
    pub mark: u32,
    /// Big-endian, as `FlowKey::ct_label`.
    pub label: [u8; 16],
    pub proto: ProtoState,
}

/// One tracked connection.
pub(crate) struct Conn {
    /// Original-direction tuple.
    pub key: ConnTuple,
    /// Reply-direction tuple (after NAT).
    pub rev: ConnTuple,
    /// Set once when the connection is removed.
    dead: AtomicBool,
    pub state: Mutex<ConnState>,
}

impl Conn {
    pub(crate) fn new(key: ConnTuple, rev: ConnTuple, state: ConnState) -> Conn {
        Conn {
            key,
            rev,
            dead: AtomicBool::new(false),
            state: Mutex::new(state),
        }
    }

    /// True if NAT translates this connection.
    pub(crate) fn is_natted(&self) -> bool {
        self.rev != self.key.reverse()
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ConnState> {
        // A panic while holding a connection lock cannot leave the plain-data state torn in a
        // way that matters more than dropping the connection would; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tuple(&self, reply: bool) -> &ConnTuple {
        if reply { &self.rev } else { &self.key }
    }
}

/// A table entry: a connection seen from one direction.
pub(crate) struct Slot {
    pub conn: Arc<Conn>,
    pub reply: bool,
}

#[repr(align(128))]
struct Shard(Mutex<HashTable<Slot>>);

/// Limits and counts. Zone limits are stored in 64 bits so that every `u32` limit, `u32::MAX`
/// included, is distinct from [`UNSET`].
pub(crate) struct Limits {
    pub global: AtomicU32,
    /// [`UNSET`]: no default zone limit.
    pub default_zone: AtomicU64,
    /// Per zone; [`UNSET`]: not set (the default applies).
    pub zone_limit: Box<[AtomicU64]>,
    pub zone_count: Box<[AtomicU32]>,
    pub entries: AtomicUsize,
}

/// Which limit refused a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    Global,
    Zone,
}

/// A zone limit slot holding no limit.
pub(crate) const UNSET: u64 = u64::MAX;

impl Limits {
    pub(crate) fn new(global: u32, default_zone: Option<u32>) -> Limits {
        Limits {
            global: AtomicU32::new(global),
            default_zone: AtomicU64::new(default_zone.map_or(UNSET, u64::from)),
            zone_limit: (0..=u16::MAX as usize)
                .map(|_| AtomicU64::new(UNSET))
                .collect(),
            zone_count: (0..=u16::MAX as usize).map(|_| AtomicU32::new(0)).collect(),
            entries: AtomicUsize::new(0),
        }
    }

    /// The limit in force for `zone`, if any.
    pub(crate) fn zone_limit(&self, zone: u16) -> Option<u32> {
        let l = self.zone_limit[zone as usize].load(Ordering::Relaxed);
        let l = if l == UNSET {
            self.default_zone.load(Ordering::Relaxed)
        } else {
            l
        };
        u32::try_from(l).ok()
    }

    /// Counts one more connection in `zone`, unless a limit forbids it.
    pub(crate) fn reserve(&self, zone: u16) -> Result<(), LimitHit> {
        let global = self.global.load(Ordering::Relaxed) as usize;
        if self.entries.fetch_add(1, Ordering::AcqRel) >= global {
            self.entries.fetch_sub(1, Ordering::AcqRel);
            return Err(LimitHit::Global);
        }
        let count = &self.zone_count[zone as usize];
        let prev = count.fetch_add(1, Ordering::AcqRel);
        if self.zone_limit(zone).is_some_and(|l| prev >= l) {
            count.fetch_sub(1, Ordering::AcqRel);
            self.entries.fetch_sub(1, Ordering::AcqRel);
            return Err(LimitHit::Zone);
        }
        Ok(())
    }

    /// Gives back one connection's counts.
    pub(crate) fn release(&self, zone: u16) {
        self.zone_count[zone as usize].fetch_sub(1, Ordering::AcqRel);
        self.entries.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The sharded two-way index.
pub(crate) struct ConnTable {
    shards: Box<[Shard]>,
    /// `shards.len() - 1` (a power of two minus one).
    shard_mask: usize,
    hasher: ahash::RandomState,
    pub limits: Limits,
}

/// What a commit found in the way of inserting a tuple.
#[derive(Debug)]
pub(crate) enum InsertError {
    /// A live connection already owns the tuple.
    Taken,
}

impl ConnTable {
    /// A table with `shards` shards (rounded up to a power of two).
    pub(crate) fn new(shards: usize, limits: Limits) -> ConnTable {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        ConnTable {
            shards: (0..n)
                .map(|_| Shard(Mutex::new(HashTable::new())))
                .collect(),
            shard_mask: n - 1,
            hasher: ahash::RandomState::new(),
            limits,
        }
    }

    pub(crate) fn n_shards(&self) -> usize {
        self.shards.len()
    }

    #[inline]
    pub(crate) fn hash(&self, t: &ConnTuple) -> u64 {
        self.hasher.hash_one(t)
    }

    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        // Bits 32.. pick the shard. hashbrown uses the low bits for the bucket and the top 7
        // bits as the tag it compares before touching an entry; taking the shard from either
        // would make every entry of a shard share them (clustered buckets, or useless tags and
        // a connection dereference on every probe).
        (hash >> 32) as usize & self.shard_mask
    }

    pub(crate) fn lock_shard(&self, idx: usize) -> MutexGuard<'_, HashTable<Slot>> {
        self.shards[idx].0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Finds the live, unexpired connection with tuple `t` (hashing to `hash`) and runs `f`
    /// on it with its state locked and whether `t` is its reply tuple.
    #[inline]
    pub(crate) fn lookup<R>(
        &self,
        hash: u64,
        t: &ConnTuple,
        now_ms: u64,
        f: impl FnOnce(&Arc<Conn>, bool, &mut ConnState) -> R,
    ) -> Option<R> {
        let shard = self.lock_shard(self.shard_index(hash));
        let slot = shard.find(hash, |s| s.conn.tuple(s.reply) == t)?;
        if slot.conn.is_dead() {
            return None;
        }
        let mut st = slot.conn.lock();
        if st.expires_ms <= now_ms {
            return None;
        }
        Some(f(&slot.conn, slot.reply, &mut st))
    }

    /// Inserts `conn` under tuple `t` (its reply tuple if `reply`) unless a live connection
    /// holds it. A dead or expired holder is displaced and returned, for the caller to kill.
    pub(crate) fn try_insert(
        &self,
        t: &ConnTuple,
        conn: &Arc<Conn>,
        reply: bool,
        now_ms: u64,
    ) -> Result<Option<Arc<Conn>>, InsertError> {
        let hash = self.hash(t);
        let mut shard = self.lock_shard(self.shard_index(hash));
        let hasher = &self.hasher;
        if let Some(slot) = shard.find_mut(hash, |s| s.conn.tuple(s.reply) == t) {
            let stale = slot.conn.is_dead() || slot.conn.lock().expires_ms <= now_ms;
            if !stale {
                return Err(InsertError::Taken);
            }
            let old = core::mem::replace(
                slot,
                Slot {
                    conn: Arc::clone(conn),
                    reply,
                },
            );
            return Ok(Some(old.conn));
        }
        shard.insert_unique(
            hash,
            Slot {
                conn: Arc::clone(conn),
                reply,
            },
            |s| hasher.hash_one(s.conn.tuple(s.reply)),
        );
        Ok(None)
    }

    /// Removes the slot for tuple `t` if it belongs to `conn`.
    pub(crate) fn remove_slot(&self, t: &ConnTuple, conn: &Arc<Conn>) {
        let hash = self.hash(t);
        let mut shard = self.lock_shard(self.shard_index(hash));
        if let Ok(e) = shard.find_entry(hash, |s| {
            Arc::ptr_eq(&s.conn, conn) && s.conn.tuple(s.reply) == t
        }) {
            e.remove();
        }
    }

    /// Marks `conn` dead and releases its counts; true for the one caller that did it.
    pub(crate) fn mark_dead(&self, conn: &Conn) -> bool {
        if conn.dead.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.limits.release(conn.key.zone);
        true
    }

    /// Kills `conn` and removes both its slots. Must be called with no shard lock held.
    pub(crate) fn kill(&self, conn: &Arc<Conn>) -> bool {
        let first = self.mark_dead(conn);
        self.remove_slot(&conn.key, conn);
        if conn.rev != conn.key {
            self.remove_slot(&conn.rev, conn);
        }
        first
    }

    /// Finds the connection (alive or not) owning tuple `t`.
    pub(crate) fn get(&self, t: &ConnTuple) -> Option<Arc<Conn>> {
        let hash = self.hash(t);
        let shard = self.lock_shard(self.shard_index(hash));
        shard
            .find(hash, |s| s.conn.tuple(s.reply) == t)
            .map(|s| Arc::clone(&s.conn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn conn(sport: u16, expires_ms: u64) -> Arc<Conn> {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let key = ConnTuple::new(0, 17, a, b, sport, 53);
        Arc::new(Conn::new(
            key,
            key.reverse(),
            ConnState {
                expires_ms,
                mark: 0,
                label: [0; 16],
                proto: ProtoState::Udp(Datagram::default()),
            },
        ))
    }

    #[test]
    fn both_directions_are_found_and_killed() {
        let t = ConnTable::new(8, Limits::new(10, None));
        let c = conn(1000, 100);
        assert!(t.try_insert(&c.key, &c, false, 0).unwrap().is_none());
        assert!(t.try_insert(&c.rev, &c, true, 0).unwrap().is_none());
        let h = t.hash(&c.rev);
        assert_eq!(t.lookup(h, &c.rev, 50, |_, reply, _| reply), Some(true));
        // Expired: invisible.
        assert_eq!(t.lookup(h, &c.rev, 100, |_, reply, _| reply), None);
        // A second live connection cannot take the tuple.
        let d = conn(1000, 500);
        assert!(matches!(
            t.try_insert(&d.key, &d, false, 50),
            Err(InsertError::Taken)
        ));
        // After expiry it can, displacing the stale one.
        let old = t.try_insert(&d.key, &d, false, 100).ok().flatten().unwrap();
        assert!(Arc::ptr_eq(&old, &c));
        t.limits.reserve(0).unwrap();
        assert!(t.kill(&old));
        assert!(!t.kill(&old), "killed once");
        assert_eq!(t.limits.entries.load(Ordering::Relaxed), 0);
        // The displaced connection's reply slot is gone, the new one's original slot stays.
        assert!(t.get(&c.rev).is_none());
        assert!(Arc::ptr_eq(&t.get(&d.key).unwrap(), &d));
    }

    #[test]
    fn limits_reserve_and_release() {
        let l = Limits::new(3, Some(2));
        l.zone_limit[5].store(UNSET, Ordering::Relaxed);
        l.reserve(5).unwrap();
        l.reserve(5).unwrap();
        assert_eq!(l.reserve(5), Err(LimitHit::Zone));
        l.zone_limit[5].store(10, Ordering::Relaxed);
        l.reserve(5).unwrap();
        assert_eq!(l.reserve(6), Err(LimitHit::Global));
        l.release(5);
        l.reserve(6).unwrap();
        assert_eq!(l.zone_count[5].load(Ordering::Relaxed), 2);
        assert_eq!(l.zone_count[6].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_zone_limit_of_u32_max_is_a_limit_not_unset() {
        let l = Limits::new(3, Some(1));
        l.zone_limit[7].store(u64::from(u32::MAX), Ordering::Relaxed);
        assert_eq!(l.zone_limit(7), Some(u32::MAX));
        // The zone's own limit, not the default of 1, is in force.
        l.reserve(7).unwrap();
        l.reserve(7).unwrap();
        assert_eq!(l.zone_limit(8), Some(1));
        l.default_zone.store(UNSET, Ordering::Relaxed);
        assert_eq!(l.zone_limit(8), None);
    }
}
