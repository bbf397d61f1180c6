//! Flood watch: one log line when a bounded table starts refusing or evicting, not one per
//! packet.
//!
//! Floods are fought by limits (DESIGN §8): the MAC table evicts its least recently seen
//! entry, conntrack refuses commits over its limits, the megaflow cache evicts over
//! `flow-limit`, a port over its upcall budget loses misses, and a full recirculation id table
//! refuses new frozen states. Each of those is counted where
//! it happens, on the packet path, which must not log. The maintenance thread feeds the
//! counters' totals here about once a second; [`FloodWatch::observe`] compares them with the
//! last pass and returns a warning for each kind that grew, at most one per kind per
//! [`INTERVAL_MS`], carrying the count since the last warning. So an operator sees "the MAC
//! table is full and evicting, 9,000 evictions in the last 10 s" while a flood lasts, however
//! fast it is.
//!
//! Pure logic: totals and time are arguments, the caller does the logging.

/// Shortest time between two warnings of the same kind.
pub const INTERVAL_MS: u64 = 10_000;

/// A counter the watch follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// MAC entries evicted because a bridge's table was full.
    MacEvicted,
    /// Conntrack commits refused by the global or a zone limit.
    ConntrackRefused,
    /// Megaflows evicted to stay under `flow-limit`.
    MegaflowEvicted,
    /// Misses dropped because a port's upcall budget was exhausted.
    UpcallLost,
    /// Translations refused because every recirculation id was in use.
    RecircExhausted,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::MacEvicted,
        Kind::ConntrackRefused,
        Kind::MegaflowEvicted,
        Kind::UpcallLost,
        Kind::RecircExhausted,
    ];

    /// What the warning says.
    pub fn message(self) -> &'static str {
        match self {
            Kind::MacEvicted => "MAC table full: evicting least recently seen addresses",
            Kind::ConntrackRefused => "conntrack limit reached: new connections not committed",
            Kind::MegaflowEvicted => "megaflow limit reached: evicting least recently used flows",
            Kind::UpcallLost => "upcall budget exhausted: misses dropped",
            Kind::RecircExhausted => {
                "recirculation ids exhausted: new conntrack recirculations dropped"
            }
        }
    }
}

/// Counter totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub mac_evicted: u64,
    pub conntrack_refused: u64,
    pub megaflow_evicted: u64,
    pub upcall_lost: u64,
    pub recirc_exhausted: u64,
}

impl Totals {
    fn get(&self, k: Kind) -> u64 {
        match k {
            Kind::MacEvicted => self.mac_evicted,
            Kind::ConntrackRefused => self.conntrack_refused,
            Kind::MegaflowEvicted => self.megaflow_evicted,
            Kind::UpcallLost => self.upcall_lost,
            Kind::RecircExhausted => self.recirc_exhausted,
        }
    }
}

/// One warning to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warning {
    pub kind: Kind,
    /// Events since the previous warning of this kind (or since the watch started).
    pub count: u64,
    /// The counter's total.
    pub total: u64,
}

/// Remembers what was last reported per kind.
#[derive(Clone, Debug, Default)]
pub struct FloodWatch {
    /// Total at the last warning (or at start), per kind.
    reported: [u64; Kind::ALL.len()],
    /// When each kind may warn again.
    quiet_until_ms: [u64; Kind::ALL.len()],
    started: bool,
}

impl FloodWatch {
    /// Compares `totals` with what was last reported; returns the warnings due at `now_ms`.
    /// The first call only records a baseline (counts from before the watch are history).
    pub fn observe(&mut self, totals: Totals, now_ms: u64) -> Vec<Warning> {
        let mut out = Vec::new();
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            let total = totals.get(kind);
            if !self.started {
                self.reported[i] = total;
                continue;
            }
            // A counter that went backwards was reset (a table re-created): start over.
            if total < self.reported[i] {
                self.reported[i] = total;
                continue;
            }
            if total > self.reported[i] && now_ms >= self.quiet_until_ms[i] {
                out.push(Warning {
                    kind,
                    count: total - self.reported[i],
                    total,
                });
                self.reported[i] = total;
                self.quiet_until_ms[i] = now_ms + INTERVAL_MS;
            }
        }
        self.started = true;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn macs(n: u64) -> Totals {
        Totals {
            mac_evicted: n,
            ..Totals::default()
        }
    }

    #[test]
    fn first_pass_is_a_baseline() {
        let mut w = FloodWatch::default();
        assert!(w.observe(macs(500), 0).is_empty());
        assert!(w.observe(macs(500), 1_000).is_empty());
    }

    #[test]
    fn a_flood_warns_once_per_interval_with_the_count_since_the_last_warning() {
        let mut w = FloodWatch::default();
        w.observe(Totals::default(), 0);
        let first = w.observe(macs(100), 1_000);
        assert_eq!(
            first,
            vec![Warning {
                kind: Kind::MacEvicted,
                count: 100,
                total: 100
            }]
        );
        // The flood goes on: quiet for INTERVAL_MS, then one warning covering the whole gap.
        for t in 1..10 {
            assert!(w.observe(macs(100 + t * 50), 1_000 + t * 1_000).is_empty());
        }
        let next = w.observe(macs(700), 11_000);
        assert_eq!(next.len(), 1);
        assert_eq!((next[0].count, next[0].total), (600, 700));
        // Calm: nothing.
        assert!(w.observe(macs(700), 30_000).is_empty());
    }

    #[test]
    fn kinds_are_independent_and_resets_are_not_floods() {
        let mut w = FloodWatch::default();
        w.observe(Totals::default(), 0);
        let t = Totals {
            conntrack_refused: 3,
            upcall_lost: 9,
            recirc_exhausted: 2,
            ..Totals::default()
        };
        let kinds: Vec<Kind> = w.observe(t, 1).iter().map(|x| x.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::ConntrackRefused,
                Kind::UpcallLost,
                Kind::RecircExhausted
            ]
        );
        let t2 = Totals {
            megaflow_evicted: 1,
            ..t
        };
        let kinds: Vec<Kind> = w.observe(t2, 2).iter().map(|x| x.kind).collect();
        assert_eq!(kinds, vec![Kind::MegaflowEvicted]);
        // The conntrack counter restarted from zero (a new table): no warning for it.
        let t3 = Totals {
            conntrack_refused: 0,
            ..t2
        };
        assert!(w.observe(t3, 20_000).is_empty());
        assert!(!Kind::MacEvicted.message().is_empty());
    }
}
