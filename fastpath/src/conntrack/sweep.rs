//! Expiry and whole-table walks (sweep, dump, flush), in steps that never stall the datapath.
//!
//! Connections are not kept in expiry order: keeping a list ordered would cost a list update
//! under a shared lock on every packet, the very contention the sharded table avoids. Instead
//! lookups simply ignore expired entries, and the sweeper walks the table round-robin, one
//! shard at a time, removing what has expired. Each shard holds about a thousand connections,
//! so one step holds one shard lock for a few microseconds; a call takes as many steps as its
//! budget (in entries examined) allows and resumes where the previous call stopped.
//!
//! An expired connection still counts against the limits until it is swept or a commit of the
//! same tuple displaces it; the sweep rate bounds that lag. [`Sweeper`] runs the sweep on a
//! background thread for the daemon.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::table::{Conn, ConnTable, ProtoState};
use super::{ConnEntry, Conntrack};

/// Where the next sweep step starts.
#[derive(Default)]
pub(crate) struct SweepCursor {
    next_shard: AtomicUsize,
}

/// Removes expired connections, examining about `budget` entries from the cursor on.
pub(crate) fn sweep(table: &ConnTable, cursor: &SweepCursor, now_ms: u64, budget: usize) -> usize {
    let n = table.n_shards();
    let (mut examined, mut removed) = (0usize, 0usize);
    let mut victims: Vec<Arc<Conn>> = Vec::new();
    let mut steps = 0;
    while examined < budget && steps < n {
        let idx = cursor.next_shard.fetch_add(1, Ordering::Relaxed) % n;
        {
            let mut shard = table.lock_shard(idx);
            examined += shard.len();
            shard.retain(|slot| {
                if slot.conn.is_dead() {
                    return false;
                }
                if slot.conn.lock().expires_ms > now_ms {
                    return true;
                }
                if table.mark_dead(&slot.conn) {
                    removed += 1;
                }
                victims.push(Arc::clone(&slot.conn));
                false
            });
        }
        // The other direction lives in another shard: remove it with this one unlocked.
        for v in victims.drain(..) {
            table.kill(&v);
        }
        steps += 1;
    }
    removed
}

/// Collects the connections of `zone` (all if `None`), skipping those expired at `now_ms`.
pub(crate) fn dump(table: &ConnTable, zone: Option<u16>, now_ms: Option<u64>) -> Vec<ConnEntry> {
    let mut out = Vec::new();
    for idx in 0..table.n_shards() {
        let shard = table.lock_shard(idx);
        for slot in shard.iter() {
            let c = &slot.conn;
            if slot.reply || c.is_dead() || zone.is_some_and(|z| z != c.key.zone) {
                continue;
            }
            let st = *c.lock();
            if now_ms.is_some_and(|now| st.expires_ms <= now) {
                continue;
            }
            out.push(ConnEntry {
                orig: c.key,
                reply: c.rev,
                zone: c.key.zone,
                mark: st.mark,
                label: u128::from_be_bytes(st.label),
                tcp: match st.proto {
                    ProtoState::Tcp(t) => Some(t.states()),
                    _ => None,
                },
                expires_ms: st.expires_ms,
            });
        }
    }
    out
}

/// Removes every connection of `zone` (all if `None`); returns how many.
pub(crate) fn flush(table: &ConnTable, zone: Option<u16>) -> usize {
    let mut removed = 0;
    let mut victims: Vec<Arc<Conn>> = Vec::new();
    for idx in 0..table.n_shards() {
        {
            let shard = table.lock_shard(idx);
            victims.extend(
                shard
                    .iter()
                    .filter(|s| !s.reply && zone.is_none_or(|z| z == s.conn.key.zone))
                    .map(|s| Arc::clone(&s.conn)),
            );
        }
        for v in victims.drain(..) {
            removed += usize::from(table.kill(&v));
        }
    }
    removed
}

/// A background thread that sweeps a [`Conntrack`] periodically. Stops (and joins) on drop.
pub struct Sweeper {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper").finish_non_exhaustive()
    }
}

impl Sweeper {
    /// Every `interval`, sweeps up to `budget` entries of `ct` at time `clock()` (the same
    /// millisecond clock the datapath passes to `execute`).
    pub fn spawn(
        ct: Arc<Conntrack>,
        interval: Duration,
        budget: usize,
        clock: impl Fn() -> u64 + Send + 'static,
    ) -> io::Result<Sweeper> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("ct-sweeper".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    ct.sweep(clock(), budget);
                    std::thread::park_timeout(interval);
                }
            })?;
        Ok(Sweeper {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}
