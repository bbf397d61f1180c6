//! The maintenance thread: periodic work that keeps caches and tables honest.
//!
//! Every [`TICK`]: if NORMAL learned, moved or forgot an address since the last pass, revalidate
//! (a megaflow that flooded to an unknown destination must stop once it is learned). Every
//! [`FULL_EVERY`] ticks also: expire idle megaflows, age MAC entries, push megaflow counters into
//! rules (rule timeouts are the switch model's job: it also deletes them from the store),
//! re-attach ports whose interface went away or appeared, and feed the flood watch
//! ([`super::floodwatch`]), which logs when a bounded table starts evicting or refusing, and
//! log each port whose link went down or came up since the last full round ([`LinkWatch`]). The
//! thread holds only a weak reference, so dropping the dataplane stops it.

use super::Dataplane;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the thread wakes.
pub const TICK: Duration = Duration::from_millis(100);
/// Full rounds happen every this many ticks (1 s).
pub const FULL_EVERY: u32 = 10;

/// A running maintenance thread. Stopping it wakes it (a round in progress finishes first).
#[derive(Debug)]
pub struct Maintenance {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Maintenance {
    pub(crate) fn spawn(dp: Weak<Dataplane>) -> std::io::Result<Maintenance> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("revalidator".into())
            .spawn(move || {
                let mut n = 0u32;
                let mut links = LinkWatch::default();
                loop {
                    // Parked rather than asleep, so that `stop` wakes it at once.
                    let deadline = Instant::now() + TICK;
                    while !flag.load(Ordering::Acquire) {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        std::thread::park_timeout(left);
                    }
                    if flag.load(Ordering::Acquire) {
                        break;
                    }
                    let Some(dp) = dp.upgrade() else { break };
                    n = n.wrapping_add(1);
                    let full = n.is_multiple_of(FULL_EVERY);
                    round(&dp, full);
                    if full {
                        links.observe(&dp);
                    }
                }
            })?;
        Ok(Maintenance {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            // Joining from the thread itself (the last Arc dropped there) would deadlock.
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// One round of maintenance.
pub(crate) fn round(dp: &Dataplane, full: bool) {
    let now = dp.slow.now_ms();
    if full {
        dp.dp.sweep(dp.dp.clock_ms());
        {
            let st = dp.slow.read();
            for b in st.bridges.values() {
                b.normal.with_macs(|m| m.expire(now));
            }
            // Push counters into rules: dump-flows and idle timeouts (which the switch
            // model expires, so that the store forgets them too) depend on them.
            dp.revalidate(&st, true);
        }
        dp.maintain_ports();
        dp.watch_floods(now);
        return;
    }
    let st = dp.slow.read();
    let last = super::lock(&dp.reval).mac_generation;
    if st.mac_generation() != last {
        dp.revalidate(&st, false);
    }
}

/// The link state of every port as last seen, to log changes (a port's interface deleted or
/// set down, and its return). A port seen for the first time is not logged: adding and
/// attaching ports log on their own.
#[derive(Debug, Default)]
pub(crate) struct LinkWatch {
    /// (bridge, port) → up.
    seen: HashMap<(String, String), bool>,
}

impl LinkWatch {
    /// Compares the dataplane's link states with the last ones and logs each change.
    pub(crate) fn observe(&mut self, dp: &Dataplane) {
        let mut now = HashMap::with_capacity(self.seen.len());
        for bridge in dp.bridges() {
            let Ok(reports) = dp.port_reports(&bridge, None) else {
                continue;
            };
            for r in reports {
                let key = (bridge.clone(), r.name);
                if self.seen.get(&key) != Some(&r.up) {
                    // Fast-failover groups follow the link (a port first seen down too).
                    dp.set_port_live(&bridge, r.ofport, r.up);
                }
                match self.seen.get(&key) {
                    Some(true) if !r.up => {
                        tracing::info!(bridge = %key.0, port = %key.1, "port is down")
                    }
                    Some(false) if r.up => {
                        tracing::info!(bridge = %key.0, port = %key.1, "port is up")
                    }
                    _ => {}
                }
                now.insert(key, r.up);
            }
        }
        self.seen = now;
    }
}
