//! OpenFlow groups: a bridge's group table, as OVS keeps it.
//!
//! A group is a list of buckets, each an action list, and a type that says which buckets a
//! packet sent to the group (`group:N`) runs: `all` runs every bucket on its own copy of the
//! packet, `indirect` its one bucket, `ff` (fast failover) the first bucket whose `watch_port`
//! is up (or whose `watch_group` has a live bucket), and `select` one bucket chosen by a hash of
//! the packet, in proportion to the buckets' weights.
//!
//! For `select`, the choice must be OVS's (see `xlate::hash`). OVS 3.1 picks by method:
//! - no `selection_method`: a *dp_hash* table of 16..256 slots filled by Webster's method over
//!   the weights, indexed by the datapath's `hash(sym_l4(0))`; when the weights need more than
//!   256 slots, the "default" slow-path method (highest `hash_int(bucket_id, hash) × weight`).
//! - `selection_method=dp_hash`: the same table, any size up to 256, with the algorithm and
//!   basis in `selection_method_param` (high 32 bits: 0 = `l4`, 1 = `sym_l4`; low: basis).
//! - `selection_method=hash`: the default method over a hash of the listed `fields`.
//!
//! [`Group::select_method`] is that decision, made once when the group is installed.
//!
//! Groups are immutable once installed, like rules; only their counters ([`GroupStats`])
//! change. A modify installs a new `Group` (counters restart, as in OVS).

use super::OfAction;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Highest group number (OpenFlow's `OFPG_MAX`).
pub const OFPG_MAX: u32 = 0xffff_ff00;
/// "All groups" in deletes and stats requests.
pub const OFPG_ALL: u32 = 0xffff_fffc;
/// "No group" (`watch_group` unset).
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// Highest bucket id (OpenFlow 1.5).
pub const BUCKET_MAX: u32 = 0xffff_ff00;
/// Most hash values a dp_hash table may have (OVS's `MAX_SELECT_GROUP_HASH_VALUES`).
pub const MAX_HASH_VALUES: u64 = 256;

/// A group's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    FastFailover,
}

impl GroupType {
    /// The name ovs-ofctl prints.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
            GroupType::FastFailover => "ff",
        }
    }

    /// The OpenFlow `OFPGT_*` value.
    pub fn wire(self) -> u8 {
        match self {
            GroupType::All => 0,
            GroupType::Select => 1,
            GroupType::Indirect => 2,
            GroupType::FastFailover => 3,
        }
    }

    /// The type with OpenFlow value `v`.
    pub fn from_wire(v: u8) -> Option<GroupType> {
        Some(match v {
            0 => GroupType::All,
            1 => GroupType::Select,
            2 => GroupType::Indirect,
            3 => GroupType::FastFailover,
            _ => return None,
        })
    }
}

/// `selection_method=` as given (empty: not given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SelectionMethod {
    #[default]
    Unset,
    Hash,
    DpHash,
}

impl SelectionMethod {
    pub fn name(self) -> &'static str {
        match self {
            SelectionMethod::Unset => "",
            SelectionMethod::Hash => "hash",
            SelectionMethod::DpHash => "dp_hash",
        }
    }
}

/// A field `selection_method=hash` may hash, in OVS's field order (`enum mf_field_id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashField {
    EthSrc,
    EthDst,
    EthType,
    IpSrc,
    IpDst,
    Ipv6Src,
    Ipv6Dst,
    IpProto,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
}

impl HashField {
    /// Every field, in order.
    pub const ALL: [HashField; 14] = [
        HashField::EthSrc,
        HashField::EthDst,
        HashField::EthType,
        HashField::IpSrc,
        HashField::IpDst,
        HashField::Ipv6Src,
        HashField::Ipv6Dst,
        HashField::IpProto,
        HashField::TcpSrc,
        HashField::TcpDst,
        HashField::UdpSrc,
        HashField::UdpDst,
        HashField::SctpSrc,
        HashField::SctpDst,
    ];

    /// The name OVS prints.
    pub fn name(self) -> &'static str {
        match self {
            HashField::EthSrc => "eth_src",
            HashField::EthDst => "eth_dst",
            HashField::EthType => "eth_type",
            HashField::IpSrc => "ip_src",
            HashField::IpDst => "ip_dst",
            HashField::Ipv6Src => "ipv6_src",
            HashField::Ipv6Dst => "ipv6_dst",
            HashField::IpProto => "nw_proto",
            HashField::TcpSrc => "tcp_src",
            HashField::TcpDst => "tcp_dst",
            HashField::UdpSrc => "udp_src",
            HashField::UdpDst => "udp_dst",
            HashField::SctpSrc => "sctp_src",
            HashField::SctpDst => "sctp_dst",
        }
    }

    /// The field called `name` (OVS's names and aliases).
    pub fn from_name(name: &str) -> Option<HashField> {
        Some(match name {
            "eth_src" | "dl_src" => HashField::EthSrc,
            "eth_dst" | "dl_dst" => HashField::EthDst,
            "eth_type" | "dl_type" => HashField::EthType,
            "ip_src" | "nw_src" => HashField::IpSrc,
            "ip_dst" | "nw_dst" => HashField::IpDst,
            "ipv6_src" => HashField::Ipv6Src,
            "ipv6_dst" => HashField::Ipv6Dst,
            "nw_proto" | "ip_proto" => HashField::IpProto,
            "tcp_src" => HashField::TcpSrc,
            "tcp_dst" => HashField::TcpDst,
            "udp_src" => HashField::UdpSrc,
            "udp_dst" => HashField::UdpDst,
            "sctp_src" => HashField::SctpSrc,
            "sctp_dst" => HashField::SctpDst,
            _ => return None,
        })
    }

    /// Width in bytes.
    pub fn n_bytes(self) -> usize {
        match self {
            HashField::EthSrc | HashField::EthDst => 6,
            HashField::IpSrc | HashField::IpDst => 4,
            HashField::Ipv6Src | HashField::Ipv6Dst => 16,
            HashField::IpProto => 1,
            _ => 2,
        }
    }

    /// All ones over the field's width.
    pub fn full_mask(self) -> u128 {
        u128::MAX >> (128 - 8 * self.n_bytes())
    }
}

/// One bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub id: u32,
    /// Relative weight (select groups; 0 = never chosen).
    pub weight: u16,
    /// OpenFlow port whose liveness the bucket follows, or `ofpp::ANY`.
    pub watch_port: u32,
    /// Group whose liveness the bucket follows, or [`OFPG_ANY`].
    pub watch_group: u32,
    pub actions: Vec<OfAction>,
}

/// A group as configured: what `add-group` gives and `dump-groups` prints.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupSpec {
    pub id: u32,
    pub kind: GroupType,
    pub method: SelectionMethod,
    pub method_param: u64,
    /// `fields(...)` of `selection_method=hash`: each field with its mask, in OVS's field
    /// order (as it hashes and prints them).
    pub fields: Vec<(HashField, u128)>,
    pub buckets: Vec<Bucket>,
}

/// How a select group picks its bucket (OVS's `group_set_selection_method`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectMethod {
    /// Highest `hash_int(bucket_id, basis) & 0xffff × weight` over the live buckets, with the
    /// basis a symmetric L4 hash of the flow.
    Default,
    /// As `Default`, with the basis a hash of `fields`.
    Fields,
    /// `slots[dp_hash & (slots.len() - 1)]` (bucket indexes), the first live one onward.
    DpHash {
        /// 0: `l4` (5-tuple), 1: `sym_l4`.
        alg: u32,
        basis: u32,
        slots: Vec<usize>,
    },
}

#[derive(Debug, Default)]
struct Counter {
    packets: AtomicU64,
    bytes: AtomicU64,
}

/// A group's counters, and each bucket's (shared handle; cloning shares them).
#[derive(Clone, Debug)]
pub struct GroupStats(Arc<(Counter, Vec<Counter>)>);

impl GroupStats {
    fn new(n_buckets: usize) -> GroupStats {
        GroupStats(Arc::new((
            Counter::default(),
            (0..n_buckets).map(|_| Counter::default()).collect(),
        )))
    }

    /// Adds traffic to the group and, if given, to bucket number `bucket` (its index).
    pub fn credit(&self, bucket: Option<usize>, packets: u64, bytes: u64) {
        let (g, b) = &*self.0;
        g.packets.fetch_add(packets, Ordering::Relaxed);
        g.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(c) = bucket.and_then(|i| b.get(i)) {
            c.packets.fetch_add(packets, Ordering::Relaxed);
            c.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }

    /// (packets, bytes) of the group.
    pub fn total(&self) -> (u64, u64) {
        let g = &self.0.0;
        (
            g.packets.load(Ordering::Relaxed),
            g.bytes.load(Ordering::Relaxed),
        )
    }

    /// (packets, bytes) per bucket, in bucket order.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.0
            .1
            .iter()
            .map(|c| {
                (
                    c.packets.load(Ordering::Relaxed),
                    c.bytes.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// An installed group.
#[derive(Debug)]
pub struct Group {
    pub spec: GroupSpec,
    pub created_ms: u64,
    pub stats: GroupStats,
    /// For select groups.
    pub select: Option<SelectMethod>,
}

impl Group {
    /// Installs `spec` at `now_ms`, deciding the select method as OVS does.
    pub fn new(spec: GroupSpec, now_ms: u64) -> Group {
        let select = (spec.kind == GroupType::Select).then(|| select_method(&spec));
        Group {
            stats: GroupStats::new(spec.buckets.len()),
            spec,
            created_ms: now_ms,
            select,
        }
    }

    /// The select method, as ofproto/trace would describe it.
    pub fn select_method(&self) -> Option<&SelectMethod> {
        self.select.as_ref()
    }
}

fn select_method(spec: &GroupSpec) -> SelectMethod {
    match spec.method {
        SelectionMethod::Unset => match dp_hash_slots(&spec.buckets, MAX_HASH_VALUES) {
            Some(slots) => SelectMethod::DpHash {
                alg: 1,
                basis: 0,
                slots,
            },
            None => SelectMethod::Default,
        },
        SelectionMethod::DpHash => match dp_hash_slots(&spec.buckets, 0) {
            Some(slots) => {
                let alg = (spec.method_param >> 32) as u32;
                SelectMethod::DpHash {
                    // An unknown algorithm is OVS's l4.
                    alg: if alg > 1 { 0 } else { alg },
                    basis: spec.method_param as u32,
                    slots,
                }
            }
            None => SelectMethod::Default,
        },
        SelectionMethod::Hash if spec.fields.is_empty() => SelectMethod::Default,
        SelectionMethod::Hash => SelectMethod::Fields,
    }
}

/// The dp_hash slot table: `n` = 16..=256 slots (a power of two), at least enough for each
/// bucket's share of the smallest weight, filled by Webster's (Sainte-Laguë) method, first
/// bucket winning ties; `None` if there are no buckets, no weight, or it needs more than
/// `max` (0: no limit but OVS's 256) slots.
pub fn dp_hash_slots(buckets: &[Bucket], max: u64) -> Option<Vec<usize>> {
    let total: u64 = buckets.iter().map(|b| u64::from(b.weight)).sum();
    if buckets.is_empty() || total == 0 {
        return None;
    }
    let min_weight = buckets
        .iter()
        .map(|b| b.weight)
        .filter(|w| *w > 0)
        .min()
        .unwrap_or(u16::MAX);
    let min_slots = total.div_ceil(u64::from(min_weight));
    let min_slots2 = min_slots.max((buckets.len() as u64 * 4).min(MAX_HASH_VALUES));
    let n = min_slots2.next_power_of_two().max(16);
    if n > MAX_HASH_VALUES || (max != 0 && n > max) {
        return None;
    }
    let mut divisor: Vec<u32> = vec![1; buckets.len()];
    let mut value: Vec<f64> = buckets.iter().map(|b| f64::from(b.weight)).collect();
    let mut slots = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let mut w = 0;
        for i in 1..buckets.len() {
            if value[i] > value[w] {
                w = i;
            }
        }
        divisor[w] += 2;
        value[w] = f64::from(buckets[w].weight) / f64::from(divisor[w]);
        slots.push(w);
    }
    Some(slots)
}

/// Why a group-mod was refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("group {0} already exists")]
    Exists(u32),
    #[error("no group {0}")]
    Unknown(u32),
    #[error("group {0} is out of range (groups are 0..4294967040)")]
    BadId(u32),
}

/// What a group-mod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupModCommand {
    Add,
    /// `may_create`: ovs-ofctl's `--may-create` (OpenFlow's add-or-modify).
    Modify {
        may_create: bool,
    },
    /// Deletes `spec.id` ([`OFPG_ALL`]: every group).
    Delete,
}

/// One group-mod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMod {
    pub command: GroupModCommand,
    pub spec: GroupSpec,
}

/// A bridge's groups, by id.
#[derive(Clone, Debug, Default)]
pub struct GroupTable {
    groups: BTreeMap<u32, Arc<Group>>,
}

impl GroupTable {
    pub fn new() -> GroupTable {
        GroupTable::default()
    }

    pub fn get(&self, id: u32) -> Option<&Arc<Group>> {
        self.groups.get(&id)
    }

    /// Every group, by ascending id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Group>> {
        self.groups.values()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Checks and applies a group-mod; returns the ids of the groups it removed (a delete) or
    /// replaced (a modify), whose rules the caller handles.
    pub fn apply(&mut self, gm: &GroupMod, now_ms: u64) -> Result<Vec<u32>, GroupError> {
        let id = gm.spec.id;
        if gm.command == GroupModCommand::Delete {
            if id == OFPG_ALL {
                let ids = self.groups.keys().copied().collect();
                self.groups.clear();
                return Ok(ids);
            }
            return Ok(self
                .groups
                .remove(&id)
                .map(|_| vec![id])
                .unwrap_or_default());
        }
        if id > OFPG_MAX {
            return Err(GroupError::BadId(id));
        }
        let exists = self.groups.contains_key(&id);
        match gm.command {
            GroupModCommand::Add if exists => return Err(GroupError::Exists(id)),
            GroupModCommand::Modify { may_create: false } if !exists => {
                return Err(GroupError::Unknown(id));
            }
            _ => {}
        }
        // As OVS, a bucket may name a group that does not exist (yet): xlate reports it
        // ("output to nonexistent group") and a chain that loops ends at the depth limit.
        self.groups
            .insert(id, Arc::new(Group::new(gm.spec.clone(), now_ms)));
        Ok(if exists { vec![id] } else { Vec::new() })
    }
}

/// The groups an action list sends to.
pub fn chained(actions: &[OfAction]) -> impl Iterator<Item = u32> + '_ {
    super::action::flattened(actions)
        .into_iter()
        .filter_map(|a| match a {
            OfAction::Group(g) => Some(*g),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(id: u32, weight: u16) -> Bucket {
        Bucket {
            id,
            weight,
            watch_port: super::super::ofpp::ANY,
            watch_group: OFPG_ANY,
            actions: vec![OfAction::Output(id + 1)],
        }
    }

    #[test]
    fn webster_spreads_slots_by_weight() {
        // Two equal buckets: 16 slots, alternating, first bucket first.
        let s = dp_hash_slots(&[bucket(0, 1), bucket(1, 1)], 256).unwrap();
        assert_eq!(s.len(), 16);
        assert_eq!(&s[..4], &[0, 1, 0, 1]);
        // Weights 1:3 give a quarter of the slots to the first.
        let s = dp_hash_slots(&[bucket(0, 1), bucket(1, 3)], 256).unwrap();
        assert_eq!(s.iter().filter(|i| **i == 0).count(), 4);
        // Weights needing more than 256 slots fall back.
        assert!(dp_hash_slots(&[bucket(0, 1), bucket(1, 1000)], 256).is_none());
        assert!(dp_hash_slots(&[bucket(0, 0)], 256).is_none());
        let g = Group::new(
            GroupSpec {
                id: 1,
                kind: GroupType::Select,
                method: SelectionMethod::Unset,
                method_param: 0,
                fields: Vec::new(),
                buckets: vec![bucket(0, 1), bucket(1, 1000)],
            },
            0,
        );
        assert_eq!(g.select, Some(SelectMethod::Default));
    }

    #[test]
    fn group_mods_follow_openflow() {
        let spec = |id, actions: Vec<OfAction>| GroupSpec {
            id,
            kind: GroupType::All,
            method: SelectionMethod::Unset,
            method_param: 0,
            fields: Vec::new(),
            buckets: vec![Bucket {
                actions,
                ..bucket(0, 0)
            }],
        };
        let add = |s| GroupMod {
            command: GroupModCommand::Add,
            spec: s,
        };
        let mut t = GroupTable::new();
        t.apply(&add(spec(1, vec![OfAction::Output(1)])), 0)
            .unwrap();
        assert_eq!(
            t.apply(&add(spec(1, vec![])), 0),
            Err(GroupError::Exists(1))
        );
        // A bucket may name a group added later (OVS's "group chaining" test adds them so).
        t.apply(&add(spec(2, vec![OfAction::Group(3)])), 0).unwrap();
        let modify = GroupMod {
            command: GroupModCommand::Modify { may_create: false },
            spec: spec(5, vec![]),
        };
        assert_eq!(t.apply(&modify, 0), Err(GroupError::Unknown(5)));
        let del = GroupMod {
            command: GroupModCommand::Delete,
            spec: spec(OFPG_ALL, vec![]),
        };
        assert_eq!(t.apply(&del, 0), Ok(vec![1, 2]));
        assert!(t.is_empty());
    }
}
