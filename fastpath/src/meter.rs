//! Meters: token-bucket rate limiters shared by every datapath thread, without a lock.
//!
//! A meter has a unit (kilobits or packets per second) and bands; each band is a token bucket
//! that fills at the band's rate up to its burst size. A packet costs its size in bits (`kbps`)
//! or one packet (`pktps`) in every band. As in OVS's `dp_netdev_run_meter`, a band that has
//! the tokens pays them; a band that has not is *exceeded* and keeps its tokens, and of the
//! exceeded bands the one with the highest rate acts on the packet (drop, or remark its DSCP).
//! Without `burst` a band's burst size is its rate (one second's worth).
//!
//! Time is an argument (`now_ns`, any monotonic clock), so the arithmetic is tested with
//! injected time. Concurrency: the refill and each band's debit are compare-and-swap loops on
//! atomics. The refill claims the elapsed time by moving `last_ns` forward with one CAS, so
//! two threads never credit the same nanoseconds; it moves `last_ns` only by the time it turned
//! into whole tokens, so nothing is lost to rounding at high packet rates. Tokens are counted
//! in thousandths of a bit or packet.
//!
//! Why atomics rather than per-thread shares of the rate: a flow's packets usually arrive on
//! one port and so on one datapath thread; splitting the rate N ways would cut such a flow to
//! 1/N of its meter. One shared bucket gives the exact rate whatever the spread, and costs a
//! few uncontended atomic operations per packet (a contended CAS retries, never blocks).
//!
//! In the datapath a meter is named by a [`MeterRef`] inside a `meter(N)` action; the clock is
//! [`clock_ns`].

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// The datapath's meter clock: nanoseconds since the first call (monotonic).
pub fn clock_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A meter as a datapath action names it: its id (printed as `meter(N)`) and its buckets.
/// Two references are equal only if they share the buckets, so a modified meter (new
/// buckets) makes the revalidator replace the megaflows that named the old one.
#[derive(Clone, Debug)]
pub struct MeterRef {
    pub id: u32,
    pub meter: Arc<Meter>,
}

impl MeterRef {
    /// The id the datapath prints (`meter(N)`): the OpenFlow id less one, as OVS numbers its
    /// datapath meters from 0 (in creation order there, so the two agree when OpenFlow meters
    /// are added in id order from 1, as they usually are).
    pub fn dp_id(&self) -> u32 {
        self.id.saturating_sub(1)
    }
}

impl PartialEq for MeterRef {
    fn eq(&self, other: &MeterRef) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.meter, &other.meter)
    }
}

impl Eq for MeterRef {}

impl std::hash::Hash for MeterRef {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id.hash(h);
    }
}

/// Tokens per bit or packet.
const SCALE: u128 = 1000;
/// Nanoseconds per second.
const NS: u128 = 1_000_000_000;

/// What a meter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterUnit {
    /// Rates in kilobits per second, bursts in kilobits.
    Kbps,
    /// Rates in packets per second, bursts in packets.
    Pktps,
}

/// What a band does to a packet that exceeds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BandKind {
    Drop,
    /// Raise the DSCP drop precedence by `prec_level`.
    DscpRemark {
        prec_level: u8,
    },
}

/// One band as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BandConfig {
    pub kind: BandKind,
    /// In the meter's unit per second (never 0).
    pub rate: u32,
    /// In the meter's unit; 0: the rate.
    pub burst: u32,
}

/// The verdict on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Band `band` (its index) drops the packet.
    Drop {
        band: usize,
    },
    /// Band `band` remarks the packet's DSCP.
    Remark {
        band: usize,
        prec_level: u8,
    },
}

#[derive(Debug)]
struct Band {
    cfg: BandConfig,
    /// Tokens per second.
    rate: u128,
    /// Most tokens the bucket holds.
    cap: u64,
    tokens: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// A meter's counters: (packets, bytes) in, and per band (packets, bytes) it acted on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterStats {
    pub packets: u64,
    pub bytes: u64,
    pub bands: Vec<(u64, u64)>,
}

/// A meter in the datapath.
#[derive(Debug)]
pub struct Meter {
    unit: MeterUnit,
    bands: Box<[Band]>,
    last_ns: AtomicU64,
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl Meter {
    /// A meter whose buckets start full at `now_ns`.
    pub fn new(unit: MeterUnit, bands: &[BandConfig], now_ns: u64) -> Meter {
        let bands = bands
            .iter()
            .map(|b| {
                let burst = if b.burst == 0 { b.rate } else { b.burst };
                let per_unit = match unit {
                    MeterUnit::Kbps => 1000 * SCALE,
                    MeterUnit::Pktps => SCALE,
                };
                let cap = u64::try_from(u128::from(burst) * per_unit).unwrap_or(u64::MAX);
                Band {
                    cfg: *b,
                    rate: u128::from(b.rate.max(1)) * per_unit,
                    cap,
                    tokens: AtomicU64::new(cap),
                    packets: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                }
            })
            .collect();
        Meter {
            unit,
            bands,
            last_ns: AtomicU64::new(now_ns),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Credits the time since the last refill to every band.
    fn refill(&self, now_ns: u64) {
        let Some(fastest) = self.bands.iter().map(|b| b.rate).max() else {
            return;
        };
        let last = self.last_ns.load(Relaxed);
        if now_ns <= last {
            return;
        }
        // Claim whole tokens' worth of time at the fastest band's rate; a slower band loses
        // under a thousandth of a token per claim to rounding.
        let elapsed = u128::from(now_ns - last);
        let tokens = elapsed * fastest / NS;
        if tokens == 0 {
            return;
        }
        let claimed = (tokens * NS).div_ceil(fastest).min(elapsed);
        let to = last + claimed as u64;
        if self
            .last_ns
            .compare_exchange(last, to, Relaxed, Relaxed)
            .is_err()
        {
            return; // Another thread credited this time.
        }
        for b in self.bands.iter() {
            let add = u64::try_from(claimed * b.rate / NS).unwrap_or(u64::MAX);
            let _ = b
                .tokens
                .fetch_update(Relaxed, Relaxed, |t| Some(t.saturating_add(add).min(b.cap)));
        }
    }

    /// Runs one packet of `len` bytes through the meter at `now_ns`.
    pub fn check(&self, len: u32, now_ns: u64) -> Verdict {
        self.refill(now_ns);
        self.packets.fetch_add(1, Relaxed);
        self.bytes.fetch_add(u64::from(len), Relaxed);
        let cost = match self.unit {
            MeterUnit::Kbps => u64::from(len) * 8 * SCALE as u64,
            MeterUnit::Pktps => SCALE as u64,
        };
        let mut exceeded: Option<usize> = None;
        for (i, b) in self.bands.iter().enumerate() {
            let paid = b
                .tokens
                .fetch_update(Relaxed, Relaxed, |t| t.checked_sub(cost))
                .is_ok();
            if !paid && exceeded.is_none_or(|e| b.cfg.rate > self.bands[e].cfg.rate) {
                exceeded = Some(i);
            }
        }
        let Some(i) = exceeded else {
            return Verdict::Pass;
        };
        let b = &self.bands[i];
        b.packets.fetch_add(1, Relaxed);
        b.bytes.fetch_add(u64::from(len), Relaxed);
        match b.cfg.kind {
            BandKind::Drop => Verdict::Drop { band: i },
            BandKind::DscpRemark { prec_level } => Verdict::Remark {
                band: i,
                prec_level,
            },
        }
    }

    /// The counters.
    pub fn stats(&self) -> MeterStats {
        MeterStats {
            packets: self.packets.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            bands: self
                .bands
                .iter()
                .map(|b| (b.packets.load(Relaxed), b.bytes.load(Relaxed)))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop(rate: u32, burst: u32) -> BandConfig {
        BandConfig {
            kind: BandKind::Drop,
            rate,
            burst,
        }
    }

    /// Packets offered at `pps` for `secs` seconds; how many pass.
    fn offer(m: &Meter, len: u32, pps: u64, secs: u64, start: u64) -> u64 {
        let gap = 1_000_000_000 / pps;
        (0..pps * secs)
            .filter(|i| m.check(len, start + i * gap) == Verdict::Pass)
            .count() as u64
    }

    #[test]
    fn pktps_passes_the_rate_plus_the_burst() {
        let m = Meter::new(MeterUnit::Pktps, &[drop(1000, 100)], 0);
        // 10,000 pps for 2 s against 1,000 pps with a burst of 100.
        let passed = offer(&m, 100, 10_000, 2, 0);
        assert!((2000..=2101).contains(&passed), "{passed}");
        let s = m.stats();
        assert_eq!(s.packets, 20_000);
        assert_eq!(s.bands[0].0, 20_000 - passed);
    }

    #[test]
    fn kbps_counts_bits() {
        // 1,000 kbps = 125,000 bytes/s: 1,000-byte packets at 1,000 pps (8 Mbit/s) for 2 s
        // leave 250 packets, plus the 1,000 kbit (125 packet) default burst.
        let m = Meter::new(MeterUnit::Kbps, &[drop(1000, 0)], 0);
        let passed = offer(&m, 1000, 1000, 2, 0);
        assert!((250..=376).contains(&passed), "{passed}");
    }

    #[test]
    fn below_the_rate_nothing_is_dropped_and_idle_time_refills_only_to_the_burst() {
        let m = Meter::new(MeterUnit::Pktps, &[drop(1000, 10)], 0);
        assert_eq!(offer(&m, 64, 500, 3, 0), 1500);
        // After 100 s idle the bucket holds the burst, not 100,000 packets.
        let t = 103_000_000_000;
        let passed = (0..100).filter(|_| m.check(64, t) == Verdict::Pass).count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn time_is_not_lost_to_rounding_at_high_packet_rates() {
        // One packet per 100 ns at 1,000 pps: each gap is a tenth of a token.
        let m = Meter::new(MeterUnit::Pktps, &[drop(1000, 1)], 0);
        let passed = (0..10_000_000u64)
            .filter(|i| m.check(64, i * 100) == Verdict::Pass)
            .count();
        assert!((999..=1002).contains(&passed), "{passed}");
    }

    #[test]
    fn the_exceeded_band_with_the_highest_rate_acts() {
        let m = Meter::new(
            MeterUnit::Pktps,
            &[
                drop(100, 1),
                BandConfig {
                    kind: BandKind::DscpRemark { prec_level: 1 },
                    rate: 50,
                    burst: 1,
                },
            ],
            0,
        );
        assert_eq!(m.check(64, 0), Verdict::Pass);
        // Both buckets are empty now: the drop band (rate 100) wins.
        assert_eq!(m.check(64, 0), Verdict::Drop { band: 0 });
        // 15 ms later the drop band has a token (rate 100), the remark band not (rate 50).
        assert_eq!(
            m.check(64, 15_000_000),
            Verdict::Remark {
                band: 1,
                prec_level: 1
            }
        );
    }

    #[test]
    fn threads_share_one_meter() {
        let m = std::sync::Arc::new(Meter::new(MeterUnit::Pktps, &[drop(1000, 1)], 0));
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let m = m.clone();
                std::thread::spawn(move || {
                    (0..250_000u64)
                        .filter(|i| m.check(64, (i * 4 + k) * 1000) == Verdict::Pass)
                        .count()
                })
            })
            .collect();
        let passed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        // One second of packets at 1,000 pps; threads race on time, so allow slack.
        assert!((900..=1100).contains(&passed), "{passed}");
    }
}
