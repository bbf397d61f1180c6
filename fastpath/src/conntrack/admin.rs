//! Administration of the tracker: what `dump-conntrack`, `flush-conntrack` and `ct-limits`
//! see and change (connection entries, flushes, global and per-zone limits, timeout policies,
//! counters), and the sweeper's entry point. Nothing here is on the per-packet path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::key::ConnTuple;
use super::{
    Conntrack, ConntrackStats, FlushSpec, PeerState, TimeoutError, Timeouts, filter, sweep, table,
};
use crate::wire::ipproto;

/// One connection, as `dump-conntrack` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnEntry {
    /// Original-direction tuple.
    pub orig: ConnTuple,
    /// Reply-direction tuple (after NAT).
    pub reply: ConnTuple,
    pub zone: u16,
    pub mark: u32,
    pub label: u128,
    /// TCP peer states `[original, reply]`.
    pub tcp: Option<[PeerState; 2]>,
    /// When the connection expires unless refreshed (the `now_ms` clock of `execute`).
    pub expires_ms: u64,
}

fn proto_name(t: &ConnTuple) -> String {
    match (t.family, t.proto) {
        (_, ipproto::TCP) => "tcp".into(),
        (_, ipproto::UDP) => "udp".into(),
        (4, ipproto::ICMP) => "icmp".into(),
        (6, ipproto::ICMPV6) => "icmpv6".into(),
        (_, ipproto::SCTP) => "sctp".into(),
        (_, p) => format!("proto={p}"),
    }
}

impl fmt::Display for ConnEntry {
    /// OVS's `dpctl/dump-conntrack` format.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},orig=({}),reply=({})",
            proto_name(&self.orig),
            self.orig,
            self.reply
        )?;
        if self.zone != 0 {
            write!(f, ",zone={}", self.zone)?;
        }
        if self.mark != 0 {
            write!(f, ",mark={}", self.mark)?;
        }
        if self.label != 0 {
            write!(f, ",labels=0x{:x}", self.label)?;
        }
        if let Some([a, b]) = self.tcp {
            if a == b {
                write!(f, ",protoinfo=(state={})", a.name())?;
            } else {
                write!(
                    f,
                    ",protoinfo=(state_orig={},state_reply={})",
                    a.name(),
                    b.name()
                )?;
            }
        }
        Ok(())
    }
}

/// A zone's limit and current count, as `ct-limits` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneLimit {
    pub zone: u16,
    /// The limit in force (explicit or the default), if any.
    pub limit: Option<u32>,
    /// True if the zone has its own limit (not the default).
    pub explicit: bool,
    pub count: u32,
}

/// Every limit, as [`Conntrack::limits`] returns them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// The global limit.
    pub global: u32,
    /// The default zone limit.
    pub default_zone: Option<u32>,
    /// Connections in all zones.
    pub entries: u64,
    /// Zones with an explicit limit or at least one connection.
    pub zones: Vec<ZoneLimit>,
}

impl Conntrack {
    /// Expires idle connections, examining about `budget` table entries per call (whole
    /// shards at a time, each under its own short lock). Returns the connections removed.
    pub fn sweep(&self, now_ms: u64, budget: usize) -> usize {
        let removed = sweep::sweep(&self.table, &self.sweep, now_ms, budget);
        self.counters
            .expired
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Every connection in the table, or those of `zone` (expired ones not yet swept
    /// included; see [`Conntrack::dump_at`]).
    pub fn dump(&self, zone: Option<u16>) -> Vec<ConnEntry> {
        sweep::dump(&self.table, zone, None)
    }

    /// Like [`Conntrack::dump`], leaving out connections expired at `now_ms`.
    pub fn dump_at(&self, zone: Option<u16>, now_ms: u64) -> Vec<ConnEntry> {
        sweep::dump(&self.table, zone, Some(now_ms))
    }

    /// Number of shards, for dumps that go one shard at a time ([`Conntrack::dump_shard`]).
    pub fn dump_shards(&self) -> usize {
        self.table.n_shards()
    }

    /// Appends the connections of shard `shard` (of [`Conntrack::dump_shards`]) that
    /// [`Conntrack::dump_at`] would list to `out`: a dump in pages, so a reader never makes
    /// the daemon copy the whole table at once.
    pub fn dump_shard(
        &self,
        shard: usize,
        zone: Option<u16>,
        now_ms: u64,
        out: &mut Vec<ConnEntry>,
    ) {
        if shard < self.table.n_shards() {
            sweep::dump_shard(&self.table, shard, zone, Some(now_ms), out);
        }
    }

    /// Removes every connection, those of `zone`, or the one with `tuple` (either direction;
    /// the tuple's own zone applies, and `zone`, if given, must equal it). Returns how many
    /// connections it removed.
    pub fn flush(&self, zone: Option<u16>, tuple: Option<&ConnTuple>) -> usize {
        let removed = match tuple {
            Some(t) => match self.table.get(t) {
                Some(c) if zone.is_none_or(|z| z == c.key.zone) => usize::from(self.table.kill(&c)),
                _ => 0,
            },
            None => sweep::flush(&self.table, |c| zone.is_none_or(|z| z == c.key.zone)),
        };
        self.counters
            .removed
            .fetch_add(removed as u64, Ordering::Relaxed);
        removed
    }

    /// Removes the connections `spec` selects, with `dpctl/flush-conntrack`'s semantics (see
    /// [`filter`]'s docs: a full tuple is looked up in either direction, a partial one is
    /// matched against every connection of the zone). Returns how many it removed.
    pub fn flush_spec(&self, spec: &FlushSpec) -> usize {
        match spec.plan() {
            filter::FlushPlan::All(zone) => self.flush(zone, None),
            filter::FlushPlan::Exact(t) => self.flush(Some(t.zone), Some(&t)),
            filter::FlushPlan::Walk(zone) => {
                let removed = sweep::flush(&self.table, |c| {
                    c.key.zone == zone && spec.selects(&c.key, &c.rev)
                });
                self.counters
                    .removed
                    .fetch_add(removed as u64, Ordering::Relaxed);
                removed
            }
        }
    }

    /// Sets (`Some`) or removes (`None`) `zone`'s own connection limit. Existing connections
    /// stay; new commits are refused while the zone is at or over the limit.
    pub fn set_zone_limit(&self, zone: u16, limit: Option<u32>) {
        self.table.limits.zone_limit[zone as usize]
            .store(limit.map_or(table::UNSET, u64::from), Ordering::Relaxed);
    }

    /// Sets the limit of zones without their own.
    pub fn set_default_zone_limit(&self, limit: Option<u32>) {
        self.table
            .limits
            .default_zone
            .store(limit.map_or(table::UNSET, u64::from), Ordering::Relaxed);
    }

    /// Sets the global connection limit.
    pub fn set_limit(&self, limit: u32) {
        self.table.limits.global.store(limit, Ordering::Relaxed);
    }

    /// `zone`'s limit and count.
    pub fn zone_limit(&self, zone: u16) -> ZoneLimit {
        let l = &self.table.limits;
        ZoneLimit {
            zone,
            limit: l.zone_limit(zone),
            explicit: l.zone_limit[zone as usize].load(Ordering::Relaxed) != table::UNSET,
            count: l.zone_count[zone as usize].load(Ordering::Relaxed),
        }
    }

    /// The global and default limits, and every zone with an explicit limit or connections.
    pub fn limits(&self) -> ConnLimits {
        let l = &self.table.limits;
        let default_zone = l.default_zone.load(Ordering::Relaxed);
        ConnLimits {
            global: l.global.load(Ordering::Relaxed),
            default_zone: u32::try_from(default_zone).ok(),
            entries: l.entries.load(Ordering::Relaxed) as u64,
            zones: (0..=u16::MAX)
                .map(|z| self.zone_limit(z))
                .filter(|z| z.explicit || z.count > 0)
                .collect(),
        }
    }

    /// Sets (`Some`) or removes (`None`) `zone`'s own timeout policy. Connections pick it up
    /// at their next packet.
    pub fn set_zone_timeouts(&self, zone: u16, t: Option<&Timeouts>) -> Result<(), TimeoutError> {
        self.policies.set_zone(zone, t)
    }

    /// Replaces the default timeout policy.
    pub fn set_default_timeouts(&self, t: &Timeouts) {
        self.policies.set_default(t);
    }

    /// The timeout policy in force in `zone`.
    pub fn timeouts(&self, zone: u16) -> Timeouts {
        self.policies.get(zone)
    }

    /// The default policy and the per-zone overrides.
    pub fn timeout_policies(&self) -> (Timeouts, Vec<(u16, Timeouts)>) {
        (self.policies.default_policy(), self.policies.overrides())
    }

    /// Counters.
    pub fn stats(&self) -> ConntrackStats {
        let c = &self.counters;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConntrackStats {
            entries: self.table.limits.entries.load(Ordering::Relaxed) as u64,
            created: ld(&c.created),
            expired: ld(&c.expired),
            removed: ld(&c.removed),
            global_limit_drops: ld(&c.global_limit_drops),
            zone_limit_drops: ld(&c.zone_limit_drops),
            nat_failures: ld(&c.nat_failures),
            related: ld(&c.related),
            invalid: core::array::from_fn(|i| ld(&c.invalid[i])),
        }
    }

    /// Connections in the table.
    pub fn len(&self) -> usize {
        self.table.limits.entries.load(Ordering::Relaxed)
    }

    /// True if no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
