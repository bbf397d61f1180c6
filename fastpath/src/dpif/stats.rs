//! Datapath counters: per-thread, written without read-modify-write, summed when read.
//!
//! # Design
//!
//! Every packet-path counter belongs to exactly one datapath thread, which is its only writer,
//! so an increment is a relaxed load and store (no `lock`-prefixed instruction, no cache line
//! shared between threads). Readers (statistics RPCs, tests) sum the per-thread values; a read
//! racing a batch may miss that batch's increments, never sees a torn value.
//!
//! Control-plane counters (revalidation, expiry, eviction) are written by whoever runs those
//! operations, at most a few times a second, with ordinary atomic adds.
//!
//! Drops are counted per input port and per [`DropReason`], including every way the parser
//! finds a frame malformed.

use crate::action::ActionDrop;
use crate::flow::extract::Malformed;
use crate::port::tunnel::TunnelDrop;
use core::sync::atomic::{AtomicU64, Ordering};

/// Why the datapath dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// The parser rejected the frame.
    #[error("malformed frame: {0}")]
    Malformed(Malformed),
    /// The matching megaflow's actions drop it.
    #[error("the flow's actions drop the packet")]
    FlowDrop,
    /// `push_vlan` had no headroom left.
    #[error("no headroom left to push a VLAN tag")]
    NoHeadroom,
    /// A `ct` action on a datapath without conntrack.
    #[error("the actions need conntrack but the datapath has none")]
    NoConntrack,
    /// A miss over the input port's upcall budget.
    #[error("the input port's upcall budget is exhausted")]
    UpcallLost,
    /// The slow path could not translate the packet.
    #[error("the slow path failed to translate the packet")]
    UpcallFailed,
    /// Recirculated more than the depth limit.
    #[error("the packet recirculated too many times")]
    RecircDepth,
    /// Output to a port the datapath does not have.
    #[error("output to a port that does not exist")]
    NoSuchPort,
    /// The output port failed to send.
    #[error("the output port failed to send")]
    TxError,
    /// A tunnel endpoint could not decapsulate or place the packet.
    #[error("tunnel receive: {0}")]
    Tunnel(TunnelDrop),
    /// A meter's drop band dropped it.
    #[error("a meter band dropped the packet")]
    Meter,
}

/// Reasons other than `Malformed`, in counter order (malformed reasons follow them).
const FIXED: [DropReason; 9] = [
    DropReason::FlowDrop,
    DropReason::NoHeadroom,
    DropReason::NoConntrack,
    DropReason::UpcallLost,
    DropReason::UpcallFailed,
    DropReason::RecircDepth,
    DropReason::NoSuchPort,
    DropReason::TxError,
    DropReason::Meter,
];

impl DropReason {
    /// Number of distinct reasons (size of a per-reason counter array).
    pub fn count() -> usize {
        FIXED.len() + Malformed::ALL.len() + TunnelDrop::ALL.len()
    }

    /// Every reason, in counter order.
    pub fn all() -> impl Iterator<Item = DropReason> {
        FIXED
            .into_iter()
            .chain(Malformed::ALL.iter().map(|m| DropReason::Malformed(*m)))
            .chain(TunnelDrop::ALL.iter().map(|t| DropReason::Tunnel(*t)))
    }

    /// This reason's position in [`DropReason::all`].
    pub fn index(self) -> usize {
        match self {
            DropReason::Malformed(m) => {
                FIXED.len() + Malformed::ALL.iter().position(|x| *x == m).unwrap_or(0)
            }
            DropReason::Tunnel(t) => {
                FIXED.len()
                    + Malformed::ALL.len()
                    + TunnelDrop::ALL.iter().position(|x| *x == t).unwrap_or(0)
            }
            other => FIXED.iter().position(|x| *x == other).unwrap_or(0),
        }
    }

    /// A stable snake_case name (counter labels).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed(m) => m.name(),
            DropReason::Tunnel(t) => t.name(),
            DropReason::FlowDrop => "flow_drop",
            DropReason::NoHeadroom => "no_headroom",
            DropReason::NoConntrack => "no_conntrack",
            DropReason::UpcallLost => "upcall_lost",
            DropReason::UpcallFailed => "upcall_failed",
            DropReason::RecircDepth => "recirc_depth",
            DropReason::NoSuchPort => "no_such_port",
            DropReason::TxError => "tx_error",
            DropReason::Meter => "meter",
        }
    }
}

impl From<ActionDrop> for DropReason {
    fn from(a: ActionDrop) -> DropReason {
        match a {
            ActionDrop::FlowDrop => DropReason::FlowDrop,
            ActionDrop::NoHeadroom => DropReason::NoHeadroom,
            ActionDrop::NoConntrack => DropReason::NoConntrack,
            ActionDrop::Meter => DropReason::Meter,
        }
    }
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[inline]
fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// One datapath thread's packet-path counters (single writer: that thread).
#[derive(Debug, Default)]
pub(crate) struct ThreadCounters {
    pub packets: AtomicU64,
    pub microflow_hits: AtomicU64,
    pub megaflow_hits: AtomicU64,
    pub subtables_searched: AtomicU64,
    pub upcalls: AtomicU64,
    pub lost: AtomicU64,
    pub recirculations: AtomicU64,
}

/// One thread's counters for one input port (single writer: that thread).
#[derive(Debug)]
pub(crate) struct PortCounters {
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub drops: Box<[AtomicU64]>,
}

impl PortCounters {
    pub fn new() -> PortCounters {
        PortCounters {
            rx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            drops: (0..DropReason::count())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn add_to(&self, s: &mut PortDpStats) {
        s.rx_packets += get(&self.rx_packets);
        s.rx_bytes += get(&self.rx_bytes);
        for (t, c) in s.drops.iter_mut().zip(self.drops.iter()) {
            *t += get(c);
        }
    }
}

/// Control-plane counters (any writer, atomic adds).
#[derive(Debug, Default)]
pub(crate) struct SharedCounters {
    pub revalidated: AtomicU64,
    pub reval_updated: AtomicU64,
    pub reval_deleted: AtomicU64,
    pub expired: AtomicU64,
    pub evicted: AtomicU64,
}

impl SharedCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// A datapath's counters at one moment, summed over its threads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Packets received from ports (recirculations not included).
    pub packets: u64,
    pub microflow_hits: u64,
    pub megaflow_hits: u64,
    /// Subtables searched by all megaflow hits; see [`DpStats::avg_subtables_per_hit`].
    pub subtables_searched: u64,
    /// Upcalls made (translations requested from the slow path).
    pub upcalls: u64,
    /// Misses dropped because their port's upcall budget was exhausted.
    pub lost: u64,
    pub recirculations: u64,
    /// Megaflows examined by revalidation.
    pub revalidated: u64,
    /// Megaflows whose actions revalidation replaced.
    pub reval_updated: u64,
    /// Megaflows revalidation deleted.
    pub reval_deleted: u64,
    /// Megaflows deleted for being idle.
    pub expired: u64,
    /// Megaflows evicted to stay under the flow limit.
    pub evicted: u64,
    /// Megaflows installed now.
    pub megaflows: u64,
    /// Drops per reason over all ports, indexed by [`DropReason::index`].
    pub drops: Vec<u64>,
}

impl DpStats {
    /// Average number of subtables a megaflow hit searched (0 with no hits).
    pub fn avg_subtables_per_hit(&self) -> f64 {
        if self.megaflow_hits == 0 {
            0.0
        } else {
            self.subtables_searched as f64 / self.megaflow_hits as f64
        }
    }

    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    /// Non-zero drop counts with their reasons.
    pub fn drop_reasons(&self) -> Vec<(DropReason, u64)> {
        DropReason::all()
            .zip(self.drops.iter().copied())
            .filter(|(_, n)| *n != 0)
            .collect()
    }

    pub(crate) fn add_thread(&mut self, t: &ThreadCounters) {
        self.packets += get(&t.packets);
        self.microflow_hits += get(&t.microflow_hits);
        self.megaflow_hits += get(&t.megaflow_hits);
        self.subtables_searched += get(&t.subtables_searched);
        self.upcalls += get(&t.upcalls);
        self.lost += get(&t.lost);
        self.recirculations += get(&t.recirculations);
    }

    pub(crate) fn add_shared(&mut self, s: &SharedCounters) {
        self.revalidated += get(&s.revalidated);
        self.reval_updated += get(&s.reval_updated);
        self.reval_deleted += get(&s.reval_deleted);
        self.expired += get(&s.expired);
        self.evicted += get(&s.evicted);
    }

    pub(crate) fn add_port_drops(&mut self, p: &PortCounters) {
        if self.drops.is_empty() {
            self.drops = vec![0; DropReason::count()];
        }
        for (t, c) in self.drops.iter_mut().zip(p.drops.iter()) {
            *t += get(c);
        }
    }
}

/// The datapath's view of one input port, summed over threads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortDpStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Drops of packets received on this port, indexed by [`DropReason::index`].
    pub drops: Vec<u64>,
}

impl Default for PortDpStats {
    fn default() -> Self {
        PortDpStats {
            rx_packets: 0,
            rx_bytes: 0,
            drops: vec![0; DropReason::count()],
        }
    }
}

impl PortDpStats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub(crate) fn add(&mut self, p: &PortCounters) {
        p.add_to(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_indices_are_dense_and_names_unique() {
        let all: Vec<_> = DropReason::all().collect();
        assert_eq!(all.len(), DropReason::count());
        for (i, r) in all.iter().enumerate() {
            assert_eq!(r.index(), i, "{r:?}");
        }
        let mut names: Vec<_> = all.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn sums_and_average() {
        let t = ThreadCounters::default();
        bump(&t.megaflow_hits, 4);
        bump(&t.subtables_searched, 10);
        let p = PortCounters::new();
        bump(&p.drops[DropReason::UpcallLost.index()], 3);
        let mut s = DpStats::default();
        s.add_thread(&t);
        s.add_thread(&t);
        s.add_port_drops(&p);
        assert_eq!(s.megaflow_hits, 8);
        assert_eq!(s.avg_subtables_per_hit(), 2.5);
        assert_eq!(s.dropped(DropReason::UpcallLost), 3);
        assert_eq!(s.drop_reasons(), vec![(DropReason::UpcallLost, 3)]);
        assert_eq!(DpStats::default().avg_subtables_per_hit(), 0.0);
    }
}
