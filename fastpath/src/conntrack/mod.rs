//! Connection tracking and NAT, as the `ct` datapath action performs them.
//!
//! # What
//!
//! [`Conntrack::execute`] runs one packet through conntrack the way OVS's `ct` action does:
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

pub use filter::{FilterError, FlushSpec, TuplePattern};
pub use key::ConnTuple;
pub use sweep::Sweeper;
pub use tcp::{PeerState, TcpConn};
pub use timeouts::{TimeoutClass, TimeoutError, Timeouts};

use crate::action::{ConntrackHook, CtAction, Headers, PacketMeta};
use crate::flow::FlowKey;
use crate::flow::key::{ct_state, ipproto};
use crate::packet::Packet;
use key::{L4, PacketView};
use nat::Target;
use table::{Conn, ConnState, ConnTable, Datagram, InsertError, LimitHit, Limits, ProtoState};
use tcp::TcpVerdict;
use timeouts::TimeoutPolicies;

/// Why a packet was marked `+inv` (a small `Copy` reason, counted per reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtInvalid {
    /// No IPv4/IPv6 header at the given offset.
    NotIp,
    /// The IP header or its lengths are malformed or truncated.
    BadL3,
    /// An IP fragment (conntrack does not reassemble).
    Fragment,
    /// The L4 header is truncated or malformed.
    TruncatedL4,
    /// TCP flags no correct stack sends together.
    TcpFlags,
    /// TCP segment outside the tracked window.
    TcpWindow,
    /// A TCP segment that cannot start a connection (SYN+ACK, RST) and has none.
    TcpNotNew,
    /// An ICMP type conntrack does not track.
    IcmpUnsupported,
    /// An ICMP reply with no request tracked.
    IcmpNoConn,
    /// An ICMP error whose quoted packet is missing or malformed.
    BadIcmpError,
    /// An ICMP error quoting a packet of no tracked connection.
    RelatedNoConn,
}

impl CtInvalid {
    /// Every reason, in counter order.
    pub const ALL: [CtInvalid; 11] = [
        CtInvalid::NotIp,
        CtInvalid::BadL3,
        CtInvalid::Fragment,
        CtInvalid::TruncatedL4,
        CtInvalid::TcpFlags,
        CtInvalid::TcpWindow,
        CtInvalid::TcpNotNew,
        CtInvalid::IcmpUnsupported,
        CtInvalid::IcmpNoConn,
        CtInvalid::BadIcmpError,
        CtInvalid::RelatedNoConn,
    ];

    /// A short snake_case name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            CtInvalid::NotIp => "not_ip",
            CtInvalid::BadL3 => "bad_l3",
            CtInvalid::Fragment => "fragment",
            CtInvalid::TruncatedL4 => "truncated_l4",
            CtInvalid::TcpFlags => "tcp_flags",
            CtInvalid::TcpWindow => "tcp_window",
            CtInvalid::TcpNotNew => "tcp_not_new",
            CtInvalid::IcmpUnsupported => "icmp_unsupported",
            CtInvalid::IcmpNoConn => "icmp_no_conn",
            CtInvalid::BadIcmpError => "bad_icmp_error",
            CtInvalid::RelatedNoConn => "related_no_conn",
        }
    }
}

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

    /// Runs one packet through conntrack as the `ct` action does. See the module docs for the
    /// resulting `ct_state`. `frame` is the Ethernet frame, `l3` the IP header offset (`_l4` is
    /// recomputed here, as conntrack must also walk IPv6 extension headers); NAT rewrites the
    /// frame in place with checksums fixed. Writes `ct_state`, `ct_zone`, `ct_mark` and
    /// `ct_label` into `key`.
    pub fn execute(
        &self,
        frame: &mut [u8],
        l3: usize,
        _l4: usize,
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
            .store(limit.unwrap_or(table::UNSET), Ordering::Relaxed);
    }

    /// Sets the limit of zones without their own.
    pub fn set_default_zone_limit(&self, limit: Option<u32>) {
        self.table
            .limits
            .default_zone
            .store(limit.unwrap_or(table::UNSET), Ordering::Relaxed);
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
            default_zone: (default_zone != table::UNSET).then_some(default_zone),
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
mod tests {
    use super::key::tests::{commit, ipv4_frame, run, track, udp};
    use super::*;
    use crate::action::Masked;
    use crate::flow::key::ct_state::*;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    fn a2b(sport: u16) -> Vec<u8> {
        ipv4_frame(17, A, B, &udp(sport, 53, b"query"))
    }
    fn b2a(dport: u16) -> Vec<u8> {
        ipv4_frame(17, B, A, &udp(53, dport, b"answer"))
    }

    #[test]
    fn udp_new_until_answered_then_established() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (v, k) = run(&ct, &mut a2b(1), &commit(0), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW));
        let (v, k) = run(&ct, &mut a2b(1), &track(0), 1);
        assert_eq!((v, k.ct_state), (CtVerdict::Tracked, TRK | NEW));
        let (_, k) = run(&ct, &mut b2a(1), &track(0), 2);
        assert_eq!(k.ct_state, TRK | EST | RPL);
        let (_, k) = run(&ct, &mut a2b(1), &track(0), 3);
        assert_eq!(k.ct_state, TRK | EST);
        // An unrelated reply-looking packet is simply new.
        let (_, k) = run(&ct, &mut b2a(2), &track(0), 3);
        assert_eq!(k.ct_state, TRK | NEW);
        assert_eq!(ct.stats().created, 1);
    }

    #[test]
    fn mark_and_label_are_set_on_commit_only() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut action = commit(2);
        action.mark = Some(Masked {
            value: 0xab,
            mask: 0xff,
        });
        action.label = Some(Masked {
            value: 1 << 100 | 5,
            mask: !0,
        });
        let (_, k) = run(&ct, &mut a2b(1), &action, 0);
        assert_eq!((k.ct_mark, k.ct_zone), (0xab, 2));
        assert_eq!(u128::from_be_bytes(k.ct_label), 1 << 100 | 5);
        // Masked update of an existing connection on a later commit.
        action.mark = Some(Masked {
            value: 0x100,
            mask: 0xf00,
        });
        action.label = None;
        let (_, k) = run(&ct, &mut b2a(1), &action, 1);
        assert_eq!(k.ct_mark, 0x1ab);
        // Without commit the values are read, not written.
        let mut no_commit = action;
        no_commit.commit = false;
        no_commit.mark = Some(Masked { value: 0, mask: !0 });
        let (_, k) = run(&ct, &mut a2b(1), &no_commit, 2);
        assert_eq!(k.ct_mark, 0x1ab);
        assert_eq!(u128::from_be_bytes(k.ct_label), 1 << 100 | 5);
        let e = &ct.dump(Some(2))[0];
        assert_eq!(
            e.to_string(),
            "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=53),\
             reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=1),zone=2,mark=427,\
             labels=0x10000000000000000000000005"
        );
    }

    #[test]
    fn zones_are_separate() {
        let ct = Conntrack::new(ConntrackConfig::default());
        run(&ct, &mut a2b(1), &commit(1), 0);
        assert_eq!(run(&ct, &mut b2a(1), &track(2), 1).1.ct_state, TRK | NEW);
        assert_eq!(
            run(&ct, &mut b2a(1), &track(1), 1).1.ct_state,
            TRK | EST | RPL
        );
        run(&ct, &mut a2b(1), &commit(2), 2);
        assert_eq!(ct.len(), 2);
        assert_eq!(ct.dump(Some(1)).len(), 1);
        ct.flush(Some(1), None);
        assert_eq!(ct.dump(None)[0].zone, 2);
    }

    #[test]
    fn global_and_zone_limits_refuse_and_count() {
        let ct = Conntrack::new(ConntrackConfig {
            limit: 5,
            ..ConntrackConfig::default()
        });
        ct.set_zone_limit(7, Some(2));
        for p in 0..3 {
            let want = if p < 2 {
                CtVerdict::Committed
            } else {
                CtVerdict::LimitReached
            };
            let (v, k) = run(&ct, &mut a2b(p), &commit(7), 0);
            assert_eq!((v, k.ct_state), (want, TRK | NEW));
        }
        for p in 0..4 {
            run(&ct, &mut a2b(p), &commit(8), 0);
        }
        let s = ct.stats();
        assert_eq!(
            (s.entries, s.zone_limit_drops, s.global_limit_drops),
            (5, 1, 1)
        );
        let l = ct.limits();
        assert_eq!(l.global, 5);
        assert_eq!(l.zones.len(), 2);
        assert_eq!(
            ct.zone_limit(7),
            ZoneLimit {
                zone: 7,
                limit: Some(2),
                explicit: true,
                count: 2
            }
        );
        // The default zone limit applies to zones without their own.
        ct.set_limit(100);
        ct.set_default_zone_limit(Some(3));
        assert_eq!(
            run(&ct, &mut a2b(9), &commit(8), 0).0,
            CtVerdict::LimitReached
        );
        ct.set_zone_limit(8, Some(10));
        assert_eq!(run(&ct, &mut a2b(9), &commit(8), 0).0, CtVerdict::Committed);
        // Flushing gives the counts back.
        ct.flush(None, None);
        assert_eq!(ct.zone_limit(8).count, 0);
        assert!(ct.is_empty());
    }

    #[test]
    fn untrackable_packets_are_invalid_and_counted() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut arp = vec![0u8; 42];
        let (v, k) = run(&ct, &mut arp, &commit(0), 0);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Invalid(CtInvalid::NotIp), TRK | INV)
        );
        let mut short = a2b(1);
        short.truncate(14 + 20 + 4);
        assert_eq!(
            run(&ct, &mut short, &commit(0), 0).0,
            CtVerdict::Invalid(CtInvalid::BadL3)
        );
        let mut frag = a2b(1);
        frag[14 + 6] = 0x20;
        assert_eq!(
            run(&ct, &mut frag, &commit(0), 0).0,
            CtVerdict::Invalid(CtInvalid::Fragment)
        );
        // A frame shorter than its l3 offset.
        let mut tiny = [0u8; 4];
        let mut key = FlowKey::ZERO;
        assert_eq!(
            ct.execute(&mut tiny, 14, 34, &mut key, &commit(0), 0),
            CtVerdict::Invalid(CtInvalid::NotIp)
        );
        assert_eq!(ct.stats().invalid_total(), 4);
    }

    #[test]
    fn datapath_hook_writes_packet_metadata() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let hook: &dyn ConntrackHook = &ct;
        let mut p = Packet::from_bytes(&a2b(1));
        let headers = Headers {
            l3: 14,
            l4: 34,
            dl_type: 0x0800,
            nw_proto: 17,
            nw_frag: 0,
        };
        let mut meta = PacketMeta::new(1);
        hook.execute(&mut p, &headers, &mut meta, &commit(3), 0);
        assert_eq!((meta.ct_state, meta.ct_zone), (TRK | NEW, 3));
        let mut reply = Packet::from_bytes(&b2a(1));
        hook.execute(&mut reply, &headers, &mut meta, &track(3), 1);
        assert_eq!(meta.ct_state, TRK | EST | RPL);
        let absent = Headers {
            l3: crate::action::execute::ABSENT,
            ..headers
        };
        hook.execute(&mut reply, &absent, &mut meta, &track(3), 1);
        assert_eq!(meta.ct_state, TRK | INV);
    }

    #[test]
    fn other_protocols_are_tracked_by_address() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut gre = ipv4_frame(47, A, B, &[0u8; 8]);
        let mut gre_back = ipv4_frame(47, B, A, &[0u8; 8]);
        assert_eq!(run(&ct, &mut gre, &commit(0), 0).0, CtVerdict::Committed);
        assert_eq!(
            run(&ct, &mut gre_back, &track(0), 0).1.ct_state,
            TRK | EST | RPL
        );
        assert!(
            ct.dump(None)[0]
                .to_string()
                .starts_with("proto=47,orig=(src=10.0.0.1,dst=10.0.0.2)")
        );
    }

    #[test]
    fn concurrent_lookups_and_commits_from_several_threads() {
        let ct = Arc::new(Conntrack::new(ConntrackConfig {
            shards: Some(16),
            ..ConntrackConfig::default()
        }));
        // Shared connections, committed up front.
        for p in 0..64 {
            run(&ct, &mut a2b(p), &commit(0), 0);
        }
        let threads: Vec<_> = (0..4u16)
            .map(|t| {
                let ct = Arc::clone(&ct);
                std::thread::spawn(move || {
                    for round in 0..200u64 {
                        for p in 0..64 {
                            // Everyone answers the shared connections...
                            let (_, k) = run(&ct, &mut b2a(p), &track(0), round);
                            assert_eq!(k.ct_state, TRK | EST | RPL);
                        }
                        // ...and commits its own, racing on the same tuples in the same zone.
                        let own = 1000 + (round as u16 % 50);
                        let (v, _) = run(&ct, &mut a2b(own), &commit(1 + t % 2), round);
                        assert!(
                            matches!(
                                v,
                                CtVerdict::Committed | CtVerdict::Tracked | CtVerdict::New
                            ),
                            "{v:?}"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 64 shared + 50 per zone (zones 1 and 2), each exactly once despite the races.
        assert_eq!(ct.len(), 64 + 2 * 50);
        assert_eq!(ct.dump(None).len(), 64 + 2 * 50);
        assert_eq!(ct.stats().created, 64 + 2 * 50);
        assert_eq!(ct.stats().nat_failures, 0);
    }
}
