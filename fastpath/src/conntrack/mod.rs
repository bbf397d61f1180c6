//! Connection tracking and NAT, as the `ct` datapath action performs them.
//!
//! # What
//!
//! [`Conntrack::track_frame`] (and the datapath's [`ConntrackHook`] method) runs one packet through conntrack the way OVS's `ct` action does:
//! find the packet's connection in its zone (or, for an ICMP error, the connection it quotes),
//! advance the protocol state machine (TCP with sequence-window validation), create the
//! connection if the action commits, apply NAT to the frame in place, and write `ct_state`,
//! `ct_zone`, `ct_mark` and `ct_label` into the flow key for the recirculated pass.
//!
//! # Why this shape
//!
//! Like quinn-proto, the core does no I/O and takes time as an argument (`now_ms`), so every
//! behaviour, expiry included, is tested with a fake clock. One [`Conntrack`] is shared by all
//! datapath threads through an `Arc`: the table ([`table`]) is sharded so lookups from many
//! threads rarely meet, the hit path allocates nothing and holds one shard lock and one
//! connection lock for a few hundred nanoseconds at most, and everything slow (NAT port
//! search, expiry, dumps) happens off the hit path or in bounded steps ([`sweep`]).
//!
//! # ct_state (OVS semantics)
//!
//! Every packet that reaches conntrack gets `+trk`. Then exactly one of:
//! - `+new`: starts a connection (committed or not), or belongs to one that has not yet been
//!   answered (a retransmitted SYN, more UDP/ICMP packets before any reply);
//! - `+est`: belongs to an answered connection (`+rpl` if it travels in the reply direction);
//! - `+rel`: an ICMP error quoting a tracked connection (`+rpl` likewise);
//! - `+inv`: cannot be tracked (malformed, fragment, out of window, a reply with no
//!   connection, an unknown ICMP type...). The reason is counted ([`CtInvalid`]).
//!
//! `+snat` / `+dnat` say which side of the packet NAT rewrote. Notes on deliberate choices:
//! UDP and other datagram protocols stay `+new` until a reply is seen (the kernel datapath's
//! behaviour; OVS userspace turns the third one-way packet `+est`); a TCP RST cannot create a
//! connection (kernel behaviour); NAT is only applied to a new connection when it is committed;
//! L4 checksums are not verified.
//!
//! # IP fragments
//!
//! Conntrack does not reassemble. OVS's userspace datapath can (its `ipf` module); without it
//! OVS marks fragments invalid, and so does this one, always the same way: a real fragment
//! (IPv4 with MF set or a non-zero offset; IPv6 with a Fragment header whose offset or M flag
//! is set; first fragments included, though they carry the L4 header) gets exactly
//! `+trk+inv` in the action's zone, with `ct_mark` and `ct_label` zero, and is counted under
//! `fragment`. The decision is taken from the packet's own IP header before any lookup, so it
//! never depends on the table: a fragment never creates (even under `commit`), refreshes or
//! advances a connection (even when a later fragment's payload looks like a tracked one's
//! ports), and NAT never rewrites it, so no untranslated piece of a NATed flow can pass as
//! `+est`. An ICMP error quoting a fragment is `+inv` too (`bad_icmp_error`). Not fragments:
//! IPv4's DF or reserved bit alone, and atomic IPv6 fragments (offset 0, M clear; RFC 6946),
//! which are tracked by the header behind the Fragment header. Tables that must pass
//! fragmented traffic should match `nw_frag` before sending it to `ct`, as with OVS.

mod admin;
mod error;
mod filter;
#[cfg(test)]
mod fragment_tests;
mod icmp;
mod key;
mod nat;
mod sweep;
mod table;
mod tcp;
mod timeouts;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use admin::{ConnEntry, ConnLimits, ZoneLimit};
pub use error::CtInvalid;
pub use filter::{FilterError, FlushSpec, TuplePattern};
pub use key::ConnTuple;
pub use sweep::Sweeper;
pub use tcp::{PeerState, TcpConn};
pub use timeouts::{TimeoutClass, TimeoutError, Timeouts};

use crate::action::{ConntrackHook, CtAction, Headers, PacketMeta};
use crate::flow::FlowKey;
use crate::flow::key::ct_state;
use crate::packet::Packet;
use key::{L4, PacketView};
use nat::Target;
use table::{Conn, ConnState, ConnTable, Datagram, InsertError, LimitHit, Limits, ProtoState};
use tcp::TcpVerdict;
use timeouts::TimeoutPolicies;

/// What `ct` did with a packet (the state bits themselves are in the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtVerdict {
    /// Belongs to (or is related to) a tracked connection.
    Tracked,
    /// A new connection, not committed (the action did not commit).
    New,
    /// A new connection was committed.
    Committed,
    /// `+inv`, for this reason.
    Invalid(CtInvalid),
    /// Commit refused: the global or the zone's connection limit is reached (`+new`).
    LimitReached,
    /// Commit refused: NAT found no free binding, or the reply tuple is taken (`+new`).
    NatFailed,
}

/// Construction parameters.
#[derive(Clone, Debug)]
pub struct ConntrackConfig {
    /// Maximum connections in all zones (OVS default 3,000,000).
    pub limit: u32,
    /// Limit for zones without their own (None: unlimited).
    pub default_zone_limit: Option<u32>,
    /// Default timeout policy.
    pub timeouts: Timeouts,
    /// Table shards; `None` derives it from `limit` (about 1k connections per shard).
    pub shards: Option<usize>,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        ConntrackConfig {
            limit: 3_000_000,
            default_zone_limit: None,
            timeouts: Timeouts::default(),
            shards: None,
        }
    }
}

/// Counters, as returned by [`Conntrack::stats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConntrackStats {
    /// Connections in the table.
    pub entries: u64,
    /// Connections created.
    pub created: u64,
    /// Connections removed by expiry.
    pub expired: u64,
    /// Connections removed by flush or replaced by a reopening SYN.
    pub removed: u64,
    /// Commits refused by the global limit.
    pub global_limit_drops: u64,
    /// Commits refused by a zone limit.
    pub zone_limit_drops: u64,
    /// Commits refused because NAT found no binding.
    pub nat_failures: u64,
    /// ICMP errors found related to a connection.
    pub related: u64,
    /// Packets marked `+inv`, per reason (in [`CtInvalid::ALL`] order).
    pub invalid: [u64; CtInvalid::ALL.len()],
}

impl ConntrackStats {
    /// Total `+inv` packets.
    pub fn invalid_total(&self) -> u64 {
        self.invalid.iter().sum()
    }
}

#[derive(Default)]
struct Counters {
    created: AtomicU64,
    expired: AtomicU64,
    removed: AtomicU64,
    global_limit_drops: AtomicU64,
    zone_limit_drops: AtomicU64,
    nat_failures: AtomicU64,
    related: AtomicU64,
    invalid: [AtomicU64; CtInvalid::ALL.len()],
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Outcome of running a packet through its existing connection.
enum Hit {
    /// Tracked, with these state bits (besides `+trk`) and the connection for NAT.
    Valid {
        bits: u8,
        conn: Option<Arc<Conn>>,
        mark: u32,
        label: [u8; 16],
        reply: bool,
    },
    Invalid {
        reason: CtInvalid,
        mark: u32,
        label: [u8; 16],
    },
    /// A SYN on a closed TCP connection: kill it and start again.
    Reopen(Arc<Conn>),
}

/// The connection tracker. `Send + Sync`; share it between datapath threads with an `Arc`.
pub struct Conntrack {
    table: ConnTable,
    policies: TimeoutPolicies,
    counters: Counters,
    sweep: sweep::SweepCursor,
}

impl fmt::Debug for Conntrack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conntrack")
            .field(
                "entries",
                &self.table.limits.entries.load(Ordering::Relaxed),
            )
            .field("shards", &self.table.n_shards())
            .finish()
    }
}

/// The conntrack fields a `ct` action produces.
#[derive(Clone, Copy, Debug, Default)]
struct CtResult {
    state: u8,
    zone: u16,
    mark: u32,
    label: [u8; 16],
}

/// The datapath's hook: the action executor calls this for every `ct` action.
impl ConntrackHook for Conntrack {
    fn execute(
        &self,
        packet: &mut Packet,
        headers: &Headers,
        meta: &mut PacketMeta,
        action: &CtAction,
        now_ms: u64,
    ) {
        let mut out = CtResult::default();
        let partial_csum = packet
            .offload
            .needs_csum
            .then_some(usize::from(packet.offload.csum_start));
        // A packet that an earlier `ct(nat)` in this zone already translated (e.g. table 0's
        // `ct(nat,table=1)` before table 1's `ct(commit,nat(...))`) carries that pass's bits.
        let natted = if meta.ct_state & ct_state::TRK != 0 && meta.ct_zone == action.zone {
            meta.ct_state & (ct_state::SNAT | ct_state::DNAT)
        } else {
            0
        };
        // An absent L3 header (`ABSENT` = u16::MAX) lies beyond any frame: `+trk+inv`.
        self.track(
            packet.data_mut(),
            usize::from(headers.l3),
            partial_csum,
            natted,
            &mut out,
            action,
            now_ms,
        );
        meta.ct_state = out.state;
        meta.ct_zone = out.zone;
        meta.ct_mark = out.mark;
        meta.ct_label = out.label;
    }
}

fn apply_masked_mark(st: &mut ConnState, action: &CtAction) {
    if let Some(m) = action.mark {
        st.mark = (st.mark & !m.mask) | (m.value & m.mask);
    }
    if let Some(l) = action.label {
        let cur = u128::from_be_bytes(st.label);
        st.label = ((cur & !l.mask) | (l.value & l.mask)).to_be_bytes();
    }
}

impl Conntrack {
    /// A tracker with `cfg`'s limits and timeouts.
    pub fn new(cfg: ConntrackConfig) -> Self {
        let shards = cfg
            .shards
            .unwrap_or_else(|| (cfg.limit as usize / 1024).clamp(64, 4096));
        Conntrack {
            table: ConnTable::new(shards, Limits::new(cfg.limit, cfg.default_zone_limit)),
            policies: TimeoutPolicies::new(&cfg.timeouts),
            counters: Counters::default(),
            sweep: sweep::SweepCursor::default(),
        }
    }

    fn invalid(&self, out: &mut CtResult, zone: u16, reason: CtInvalid) -> CtVerdict {
        self.write_key(out, zone, ct_state::TRK | ct_state::INV, 0, [0; 16]);
        bump(&self.counters.invalid[reason as usize]);
        CtVerdict::Invalid(reason)
    }

    fn write_key(&self, out: &mut CtResult, zone: u16, state: u8, mark: u32, label: [u8; 16]) {
        *out = CtResult {
            state,
            zone,
            mark,
            label,
        };
    }

    /// Runs one frame through conntrack as the `ct` action does, outside the datapath (tests,
    /// benchmarks, fuzzing); the datapath calls the [`ConntrackHook`] method instead. See the
    /// module docs for the resulting `ct_state`. `frame` is the Ethernet frame, `l3` the IP
    /// header offset (conntrack finds L4 itself, as it must also walk IPv6 extension headers);
    /// NAT rewrites the frame in place with checksums fixed. Writes `ct_state`, `ct_zone`,
    /// `ct_mark` and `ct_label` into `key`.
    pub fn track_frame(
        &self,
        frame: &mut [u8],
        l3: usize,
        key: &mut FlowKey,
        action: &CtAction,
        now_ms: u64,
    ) -> CtVerdict {
        let mut out = CtResult::default();
        let verdict = self.track(frame, l3, None, 0, &mut out, action, now_ms);
        key.ct_state = out.state;
        key.ct_zone = out.zone;
        key.ct_mark = out.mark;
        key.ct_label = out.label;
        verdict
    }

    /// `partial_csum`: the `csum_start` of an offloaded partial checksum, if the frame has one.
    /// `natted`: the `+snat`/`+dnat` bits an earlier `ct` in the same zone left on the packet.
    /// Such a packet already carries its connection's translated tuple, so (as OVS does) it
    /// is looked up by the reverse of that tuple, which is the connection's other direction;
    /// it is not translated again and keeps its bits. Looking it up as it is would miss and,
    /// under `ct(commit,nat(...))`, commit a second connection with a fresh binding (a new
    /// source port for every datagram of a one-way UDP flow, for a retransmitted SYN...).
    #[allow(clippy::too_many_arguments)]
    fn track(
        &self,
        frame: &mut [u8],
        l3: usize,
        partial_csum: Option<usize>,
        natted: u8,
        out: &mut CtResult,
        action: &CtAction,
        now_ms: u64,
    ) -> CtVerdict {
        let zone = action.zone;
        let mut v = match key::parse(frame, l3, zone) {
            Ok(v) => v,
            Err(reason) => return self.invalid(out, zone, reason),
        };
        v.l4_csum_partial = partial_csum == Some(v.l4);
        if v.l4kind == L4::IcmpError {
            return self.execute_related(frame, &v, out, action, now_ms);
        }
        let hash = self.table.hash(&v.tuple);
        let want_nat = action.nat.is_some();
        let hit = if natted != 0 {
            let rev = v.tuple.reverse();
            let found =
                self.table
                    .lookup(self.table.hash(&rev), &rev, now_ms, |conn, reply, st| {
                        self.update(conn, !reply, st, &v, action, want_nat, now_ms)
                    });
            // A miss (the connection went away since the first pass) goes on as `+new`.
            match found {
                Some(Hit::Valid {
                    bits,
                    conn,
                    mark,
                    label,
                    reply,
                }) => Some(Hit::Valid {
                    bits: bits | natted,
                    conn,
                    mark,
                    label,
                    reply,
                }),
                other => other,
            }
        } else {
            self.table
                .lookup(hash, &v.tuple, now_ms, |conn, reply, st| {
                    self.update(conn, reply, st, &v, action, want_nat, now_ms)
                })
        };
        match hit {
            Some(Hit::Valid {
                mut bits,
                conn,
                mark,
                label,
                reply,
            }) => {
                if let Some(conn) = conn {
                    let other = if reply { &conn.key } else { &conn.rev };
                    let done = nat::rewrite_packet(frame, &v, &Target::from_other_direction(other));
                    bits |= nat_bits(done);
                }
                self.write_key(out, zone, ct_state::TRK | bits, mark, label);
                CtVerdict::Tracked
            }
            Some(Hit::Invalid {
                reason,
                mark,
                label,
            }) => {
                bump(&self.counters.invalid[reason as usize]);
                self.write_key(out, zone, ct_state::TRK | ct_state::INV, mark, label);
                CtVerdict::Invalid(reason)
            }
            Some(Hit::Reopen(old)) => {
                if self.table.kill(&old) {
                    bump(&self.counters.removed);
                }
                self.execute_new(frame, &v, hash, out, action, now_ms)
            }
            None => self.execute_new(frame, &v, hash, out, action, now_ms),
        }
    }

    /// Advances an existing connection's state with packet `v` (under its locks).
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        conn: &Arc<Conn>,
        reply: bool,
        st: &mut ConnState,
        v: &PacketView,
        action: &CtAction,
        want_nat: bool,
        now_ms: u64,
    ) -> Hit {
        let zone = conn.key.zone;
        let (bits, class) = match (&mut st.proto, &v.l4kind) {
            (ProtoState::Tcp(tcp), L4::Tcp(seg)) => {
                let verdict = tcp.update(seg, reply);
                let class = tcp.timeout_class();
                match verdict {
                    TcpVerdict::Valid => (ct_state::EST, Some(class)),
                    TcpVerdict::ValidNoRefresh => (ct_state::EST, None),
                    TcpVerdict::ValidNew => (ct_state::NEW, Some(class)),
                    TcpVerdict::Reopen => return Hit::Reopen(Arc::clone(conn)),
                    TcpVerdict::Invalid => {
                        let reason = if tcp::invalid_flags(seg.flags) {
                            CtInvalid::TcpFlags
                        } else {
                            CtInvalid::TcpWindow
                        };
                        return Hit::Invalid {
                            reason,
                            mark: st.mark,
                            label: st.label,
                        };
                    }
                }
            }
            (ProtoState::Udp(d), _) => (
                datagram_update(d, reply),
                Some(if d.replied {
                    TimeoutClass::UdpMultiple
                } else if d.multiple {
                    TimeoutClass::UdpSingle
                } else {
                    TimeoutClass::UdpFirst
                }),
            ),
            (ProtoState::Icmp(d), _) => (
                datagram_update(d, reply),
                Some(if d.replied {
                    TimeoutClass::IcmpReply
                } else {
                    TimeoutClass::IcmpFirst
                }),
            ),
            (ProtoState::Other(d), _) => (
                datagram_update(d, reply),
                Some(if d.replied {
                    TimeoutClass::OtherMultiple
                } else if d.multiple {
                    TimeoutClass::OtherSingle
                } else {
                    TimeoutClass::OtherFirst
                }),
            ),
            // A tuple only ever maps to its protocol's state; be defensive anyway.
            (ProtoState::Tcp(_), _) => {
                return Hit::Invalid {
                    reason: CtInvalid::TruncatedL4,
                    mark: st.mark,
                    label: st.label,
                };
            }
        };
        if let Some(class) = class {
            st.expires_ms = now_ms + self.policies.timeout_ms(zone, class);
        }
        if action.commit {
            apply_masked_mark(st, action);
        }
        let rpl = if reply && bits == ct_state::EST {
            ct_state::RPL
        } else {
            0
        };
        Hit::Valid {
            bits: bits | rpl,
            conn: (want_nat && conn.is_natted()).then(|| Arc::clone(conn)),
            mark: st.mark,
            label: st.label,
            reply,
        }
    }

    /// A packet with no connection: `+new`, committed if asked and allowed, or `+inv`.
    fn execute_new(
        &self,
        frame: &mut [u8],
        v: &PacketView,
        hash: u64,
        out: &mut CtResult,
        action: &CtAction,
        now_ms: u64,
    ) -> CtVerdict {
        let zone = action.zone;
        let proto = match v.l4kind {
            L4::Tcp(seg) => {
                if tcp::invalid_flags(seg.flags) {
                    return self.invalid(out, zone, CtInvalid::TcpFlags);
                }
                if !tcp::valid_new(&seg) {
                    return self.invalid(out, zone, CtInvalid::TcpNotNew);
                }
                ProtoState::Tcp(TcpConn::new(&seg))
            }
            L4::Udp => ProtoState::Udp(Datagram::default()),
            L4::IcmpQuery { is_request: true } => ProtoState::Icmp(Datagram::default()),
            L4::IcmpQuery { is_request: false } => {
                return self.invalid(out, zone, CtInvalid::IcmpNoConn);
            }
            L4::Other => ProtoState::Other(Datagram::default()),
            L4::IcmpError => return self.invalid(out, zone, CtInvalid::RelatedNoConn),
        };
        let new = ct_state::TRK | ct_state::NEW;
        if !action.commit {
            self.write_key(out, zone, new, 0, [0; 16]);
            return CtVerdict::New;
        }
        if let Err(hit) = self.table.limits.reserve(zone) {
            bump(match hit {
                LimitHit::Global => &self.counters.global_limit_drops,
                LimitHit::Zone => &self.counters.zone_limit_drops,
            });
            self.write_key(out, zone, new, 0, [0; 16]);
            return CtVerdict::LimitReached;
        }
        let class = match proto {
            ProtoState::Tcp(t) => t.timeout_class(),
            ProtoState::Udp(_) => TimeoutClass::UdpFirst,
            ProtoState::Icmp(_) => TimeoutClass::IcmpFirst,
            ProtoState::Other(_) => TimeoutClass::OtherFirst,
        };
        let mut state = ConnState {
            expires_ms: now_ms + self.policies.timeout_ms(zone, class),
            mark: 0,
            label: [0; 16],
            proto,
        };
        apply_masked_mark(&mut state, action);
        let (mark, label) = (state.mark, state.label);
        match self.insert(v.tuple, hash, state, action, now_ms) {
            Ok(conn) => {
                bump(&self.counters.created);
                let mut bits = new;
                if action.nat.is_some() && conn.is_natted() {
                    let done =
                        nat::rewrite_packet(frame, v, &Target::from_other_direction(&conn.rev));
                    bits |= nat_bits(done);
                }
                self.write_key(out, zone, bits, mark, label);
                CtVerdict::Committed
            }
            Err(verdict) => {
                self.table.limits.release(zone);
                self.write_key(out, zone, new, 0, [0; 16]);
                verdict
            }
        }
    }

    /// Publishes a new connection under both tuples (choosing a NAT binding on the way).
    fn insert(
        &self,
        orig: ConnTuple,
        hash: u64,
        state: ConnState,
        action: &CtAction,
        now_ms: u64,
    ) -> Result<Arc<Conn>, CtVerdict> {
        let mut conn = Arc::new(Conn::new(orig, orig.reverse(), state));
        let mut displaced = Vec::new();
        let result = match action.nat.filter(|n| n.src.is_some()) {
            None => {
                // Original tuple first: of two threads committing the same connection, the
                // loser stops here with nothing to undo.
                match self.table.try_insert(&orig, &conn, false, now_ms) {
                    Ok(old) => displaced.extend(old),
                    Err(InsertError::Taken) => return Err(CtVerdict::New),
                }
                if conn.rev == orig {
                    Ok(Arc::clone(&conn))
                } else {
                    match self.table.try_insert(&conn.rev, &conn, true, now_ms) {
                        Ok(old) => {
                            displaced.extend(old);
                            Ok(Arc::clone(&conn))
                        }
                        Err(InsertError::Taken) => {
                            // Another connection's (NATed) reply tuple is exactly ours.
                            self.table.remove_slot(&orig, &conn);
                            bump(&self.counters.nat_failures);
                            Err(CtVerdict::NatFailed)
                        }
                    }
                }
            }
            Some(spec) => {
                // The reply tuple is chosen by reserving candidates, before anything else is
                // published (the connection's tuples never change once visible).
                let chosen = nat::choose_binding(&spec, &orig, hash, |cand| {
                    let Some(c) = Arc::get_mut(&mut conn) else {
                        return false;
                    };
                    c.rev = *cand;
                    match self.table.try_insert(cand, &conn, true, now_ms) {
                        Ok(old) => {
                            displaced.extend(old);
                            true
                        }
                        Err(InsertError::Taken) => false,
                    }
                });
                match chosen {
                    Err(_) => {
                        bump(&self.counters.nat_failures);
                        Err(CtVerdict::NatFailed)
                    }
                    Ok(_) => match self.table.try_insert(&orig, &conn, false, now_ms) {
                        Ok(old) => {
                            displaced.extend(old);
                            Ok(Arc::clone(&conn))
                        }
                        Err(InsertError::Taken) => {
                            // Another thread committed the same connection first.
                            self.table.remove_slot(&conn.rev, &conn);
                            Err(CtVerdict::New)
                        }
                    },
                }
            }
        };
        for old in displaced {
            if self.table.kill(&old) {
                bump(&self.counters.expired);
            }
        }
        result
    }

    /// An ICMP error: `+rel` to the connection it quotes, with NAT applied inside and out.
    fn execute_related(
        &self,
        frame: &mut [u8],
        v: &PacketView,
        out: &mut CtResult,
        action: &CtAction,
        now_ms: u64,
    ) -> CtVerdict {
        let zone = action.zone;
        let quoted = match icmp::parse_quoted(frame, v) {
            Ok(q) => q,
            Err(reason) => return self.invalid(out, zone, reason),
        };
        // The error travels against the quoted packet: look up the quoted tuple reversed.
        let look = quoted.tuple.reverse();
        let hash = self.table.hash(&look);
        let found = self.table.lookup(hash, &look, now_ms, |conn, reply, st| {
            if action.commit {
                apply_masked_mark(st, action);
            }
            (Arc::clone(conn), reply, st.mark, st.label)
        });
        let Some((conn, reply, mark, label)) = found else {
            return self.invalid(out, zone, CtInvalid::RelatedNoConn);
        };
        bump(&self.counters.related);
        let mut bits = ct_state::TRK | ct_state::REL;
        if reply {
            bits |= ct_state::RPL;
        }
        if action.nat.is_some() && conn.is_natted() {
            let (cur, other) = if reply {
                (&conn.rev, &conn.key)
            } else {
                (&conn.key, &conn.rev)
            };
            let done =
                nat::rewrite_related(frame, v, &quoted, cur, &Target::from_other_direction(other));
            bits |= nat_bits(done);
        }
        self.write_key(out, zone, bits, mark, label);
        CtVerdict::Tracked
    }
}

fn datagram_update(d: &mut Datagram, reply: bool) -> u8 {
    if reply {
        d.replied = true;
    } else {
        d.multiple = true;
    }
    if d.replied {
        ct_state::EST
    } else {
        ct_state::NEW
    }
}

fn nat_bits(done: nat::Rewritten) -> u8 {
    let mut b = 0;
    if done.src {
        b |= ct_state::SNAT;
    }
    if done.dst {
        b |= ct_state::DNAT;
    }
    b
}

#[cfg(test)]
mod tests;
