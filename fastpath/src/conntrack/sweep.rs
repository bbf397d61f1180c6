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
        dump_shard(table, idx, zone, now_ms, &mut out);
    }
    out
}

/// Appends shard `idx`'s connections (original direction once each) to `out`.
pub(crate) fn dump_shard(
    table: &ConnTable,
    idx: usize,
    zone: Option<u16>,
    now_ms: Option<u64>,
    out: &mut Vec<ConnEntry>,
) {
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

/// Removes every connection `select` picks (shown its original-direction slot only, once
/// per connection); returns how many.
pub(crate) fn flush(table: &ConnTable, select: impl Fn(&Conn) -> bool) -> usize {
    let mut removed = 0;
    let mut victims: Vec<Arc<Conn>> = Vec::new();
    for idx in 0..table.n_shards() {
        {
            let shard = table.lock_shard(idx);
            victims.extend(
                shard
                    .iter()
                    .filter(|s| !s.reply && select(&s.conn))
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

#[cfg(test)]
mod tests {
    use super::super::key::tests::{commit, ipv4_frame, run, tcp, track, udp};
    use super::super::{ConnTuple, ConntrackConfig, CtVerdict, TimeoutClass, Timeouts};
    use super::*;
    use crate::flow::key::ct_state::*;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn a2b(sport: u16) -> Vec<u8> {
        ipv4_frame(17, A, B, &udp(sport, 53, b"q"))
    }

    #[test]
    fn udp_expires_after_its_timeout_and_is_swept() {
        let ct = Conntrack::new(ConntrackConfig {
            shards: Some(4),
            ..ConntrackConfig::default()
        });
        run(&ct, &mut a2b(1), &commit(0), 0);
        // Refreshed by a second one-way packet at t=10 s: udp_single (60 s).
        run(&ct, &mut a2b(1), &track(0), 10_000);
        assert_eq!(
            run(&ct, &mut a2b(1), &track(0), 69_999).0,
            CtVerdict::Tracked
        );
        // Answered at 69.999 s: udp_multiple (30 s) from then on.
        run(
            &ct,
            &mut ipv4_frame(17, B, A, &udp(53, 1, b"a")),
            &track(0),
            69_999,
        );
        assert_eq!(ct.sweep(99_998, usize::MAX), 0);
        assert_eq!(ct.dump_at(None, 99_998).len(), 1);
        // Expired: lookups no longer see it, even before the sweeper runs.
        let (v, k) = run(&ct, &mut a2b(1), &track(0), 99_999);
        assert_eq!((v, k.ct_state), (CtVerdict::New, TRK | NEW));
        assert!(ct.dump_at(None, 99_999).is_empty());
        assert_eq!(ct.len(), 1, "still counted until swept");
        assert_eq!(ct.sweep(99_999, usize::MAX), 1);
        assert!(ct.is_empty());
        assert!(ct.dump(None).is_empty());
        assert_eq!(ct.stats().expired, 1);
    }

    #[test]
    fn commit_replaces_an_expired_unswept_entry() {
        let ct = Conntrack::new(ConntrackConfig::default());
        run(&ct, &mut a2b(1), &commit(0), 0);
        assert_eq!(
            run(&ct, &mut a2b(1), &commit(0), 60_000).0,
            CtVerdict::Committed
        );
        assert_eq!(ct.len(), 1);
        assert_eq!(ct.dump(None).len(), 1);
        assert_eq!(ct.stats().expired, 1);
    }

    #[test]
    fn zone_timeout_policy_overrides_the_default() {
        let ct = Conntrack::new(ConntrackConfig::default());
        ct.set_zone_timeouts(
            3,
            Some(&Timeouts::default().with(TimeoutClass::TcpSynSent, 2)),
        )
        .unwrap();
        let syn = || ipv4_frame(6, A, B, &tcp(1, 2, 100, 0, 0x002, 1000, b""));
        run(&ct, &mut syn(), &commit(3), 0);
        run(&ct, &mut syn(), &commit(4), 0);
        assert_eq!(ct.sweep(2_000, usize::MAX), 1);
        assert_eq!(ct.dump(None)[0].zone, 4);
        assert_eq!(ct.sweep(30_000, usize::MAX), 1);
        assert_eq!(ct.timeouts(3).get(TimeoutClass::TcpSynSent), 2);
        assert_eq!(ct.timeout_policies().1.len(), 1);
    }

    #[test]
    fn sweep_is_incremental_within_its_budget() {
        let ct = Conntrack::new(ConntrackConfig {
            shards: Some(64),
            ..ConntrackConfig::default()
        });
        for p in 0..1000 {
            run(&ct, &mut a2b(p), &commit(0), 0);
        }
        // 2000 slots over 64 shards: a budget of 100 covers a few shards per call.
        let first = ct.sweep(60_000, 100);
        assert!(first > 0 && first < 200, "{first}");
        let mut total = first;
        let mut calls = 1;
        while total < 1000 {
            total += ct.sweep(60_000, 100);
            calls += 1;
            assert!(calls < 100);
        }
        assert_eq!(total, 1000);
        assert!(ct.is_empty());
        assert_eq!(ct.sweep(60_000, 0), 0);
    }

    #[test]
    fn flush_by_tuple_in_either_direction() {
        let ct = Conntrack::new(ConntrackConfig::default());
        run(&ct, &mut a2b(1), &commit(0), 0);
        run(&ct, &mut a2b(2), &commit(0), 0);
        let reply = ConnTuple::new(0, 17, B.into(), A.into(), 53, 2);
        ct.flush(Some(9), Some(&reply));
        assert_eq!(ct.len(), 2, "zone mismatch: nothing flushed");
        ct.flush(None, Some(&reply));
        assert_eq!(ct.len(), 1);
        assert_eq!(ct.dump(None)[0].orig.sport, 1);
        assert_eq!(ct.stats().removed, 1);
    }

    #[test]
    fn background_sweeper_expires_connections() {
        let ct = Arc::new(Conntrack::new(ConntrackConfig::default()));
        run(&ct, &mut a2b(1), &commit(0), 0);
        let clock = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let c = Arc::clone(&clock);
        let s = Sweeper::spawn(
            Arc::clone(&ct),
            Duration::from_millis(1),
            10_000,
            move || c.load(Ordering::Relaxed),
        )
        .unwrap();
        clock.store(61_000, Ordering::Relaxed);
        for _ in 0..2000 {
            if ct.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(s);
        assert!(ct.is_empty());
    }
}
