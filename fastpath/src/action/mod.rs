//! Datapath actions: what the fast path does to a packet after a cache hit.
//!
//! These are the low-level, already-resolved actions that `vswitchd`'s xlate produces from
//! OpenFlow rules (as OVS's ODP actions): ports are datapath port numbers, field changes are
//! grouped per header as masked sets so that checksums are updated once per header.
//! Their `Display` form is OVS's (`set(ipv4(tos=0x20/0xfc)),2`), used by trace and
//! dump-megaflows.

mod format;

pub use format::{DisplayActions, format_actions};

use std::net::IpAddr;

/// The checksum arithmetic lives in [`crate::wire::checksum`]; this path is kept for callers.
pub use crate::wire::checksum;
pub mod execute;
mod set;
mod vlan;

pub use execute::{
    ActionDrop, ConntrackHook, ExecEnv, Headers, PacketMeta, UserspaceSink, execute,
};

/// A value and the bits of it to write (mask 0 = field untouched).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Masked<T> {
    pub value: T,
    pub mask: T,
}

/// Ethernet header rewrite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetEth {
    pub src: Masked<[u8; 6]>,
    pub dst: Masked<[u8; 6]>,
}

/// IPv4 header rewrite (checksum, and L4 pseudo-header checksum for addresses, updated
/// incrementally).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetIpv4 {
    pub src: Masked<u32>,
    pub dst: Masked<u32>,
    pub tos: Masked<u8>,
    pub ttl: Masked<u8>,
}

/// ARP header rewrite (Ethernet/IPv4 ARP and RARP; OVS's `set(arp(...))`): OVN's ARP
/// responder turns a request into a reply in place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetArp {
    pub sip: Masked<u32>,
    pub tip: Masked<u32>,
    pub op: Masked<u16>,
    pub sha: Masked<[u8; 6]>,
    pub tha: Masked<[u8; 6]>,
}

/// IPv6 header rewrite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetIpv6 {
    pub src: Masked<[u8; 16]>,
    pub dst: Masked<[u8; 16]>,
    pub tclass: Masked<u8>,
    pub hlimit: Masked<u8>,
    pub label: Masked<u32>,
}

/// TCP / UDP / SCTP port rewrite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SetL4 {
    /// IP protocol of the header being rewritten (6, 17 or 132).
    pub proto: u8,
    pub src: Masked<u16>,
    pub dst: Masked<u16>,
}

/// NAT part of a `ct` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NatSpec {
    /// `None`: apply an existing binding only (`nat` alone); `Some(true)`: SNAT; `Some(false)`: DNAT.
    pub src: Option<bool>,
    /// Address range (inclusive); `None` keeps addresses.
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// Port range (inclusive); `None` keeps ports.
    pub ports: Option<(u16, u16)>,
}

/// The `ct` datapath action: send the packet through conntrack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CtAction {
    /// Commit the connection (create a conntrack entry).
    pub commit: bool,
    /// Conntrack zone (already resolved from a field, if `zone=FIELD`).
    pub zone: u16,
    /// NAT to apply, if any.
    pub nat: Option<NatSpec>,
    /// `ct_mark` to set on commit.
    pub mark: Option<Masked<u32>>,
    /// `ct_label` to set on commit.
    pub label: Option<Masked<u128>>,
}

/// One datapath action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DpAction {
    /// Send a copy of the packet (as it is now) out of a datapath port.
    Output(u32),
    SetEth(SetEth),
    SetIpv4(SetIpv4),
    SetIpv6(SetIpv6),
    SetArp(SetArp),
    SetL4(SetL4),
    /// Push a VLAN tag (`tpid` 0x8100 or 0x88a8; `tci` without the CFI/present bit).
    PushVlan {
        tpid: u16,
        tci: u16,
    },
    /// Pop the outer VLAN tag.
    PopVlan,
    /// Conntrack.
    Ct(CtAction),
    /// Clear conntrack state from the packet's metadata.
    CtClear,
    /// Re-enter lookup with this `recirc_id` (after `ct`, with the new ct fields in the key).
    Recirc(u32),
    /// Set the tunnel metadata an output to a tunnel port encapsulates with (OVS's
    /// `set(tunnel(...))`).
    SetTunnel(crate::flow::TunnelMeta),
    /// Hand a copy of the packet, as it is at this point, to the slow path (OVS's
    /// `userspace(...)`: how `controller` actions reach the OpenFlow connections). The
    /// datapath never interprets it; see [`UserspaceAction`].
    Userspace(std::sync::Arc<UserspaceAction>),
    /// Run the nested actions on a copy of the packet; the actions after it see the packet
    /// as it was (OVS's `clone(...)`).
    Clone(Vec<DpAction>),
    /// Run `greater` if the frame is longer than `len` bytes, else `less_eq` (OVS's
    /// `check_pkt_len(size=N,gt(...),le(...))`); the branches end the list.
    CheckPktLen {
        len: u16,
        greater: Vec<DpAction>,
        less_eq: Vec<DpAction>,
    },
    /// Run the packet through a meter's bands (OVS's `meter(N)`); a drop band that is exceeded
    /// ends the actions (copies already sent stay sent). See [`crate::meter`].
    Meter(crate::meter::MeterRef),
}

impl DpAction {
    /// Calls `f` on every action of `actions`, nested ones included (after their parent).
    pub fn walk<'a>(actions: &'a [DpAction], f: &mut dyn FnMut(&'a DpAction)) {
        for a in actions {
            f(a);
            match a {
                DpAction::Clone(inner) => DpAction::walk(inner, f),
                DpAction::CheckPktLen {
                    greater, less_eq, ..
                } => {
                    DpAction::walk(greater, f);
                    DpAction::walk(less_eq, f);
                }
                _ => {}
            }
        }
    }
}

/// A `userspace` action: what the slow path needs to handle a packet the datapath sends up.
///
/// The datapath treats it as opaque: it copies the frame and its metadata and passes them, with
/// this action, to the [`execute::UserspaceSink`] it was given. A megaflow carrying it sends
/// every one of its packets up (the decision is never cached away).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserspaceAction {
    /// How the action prints inside `userspace(pid=0,...)`, e.g. OVS's
    /// `controller(reason=1,dont_send=0,...)`.
    pub desc: String,
    /// The recirculation id of the frozen state the action refers to (0: none); it keeps that
    /// id alive while a megaflow carries the action.
    pub recirc_id: u32,
    /// Opaque to the datapath: the slow path's own description of what to do.
    pub cookie: Vec<u8>,
    /// A meter the copy goes through first (`controller(meter_id=N)`): a drop band drops
    /// the copy only. Printed as OVS prints it: `sample(sample=100.0%,actions(meter(N),
    /// userspace(...)))`.
    pub meter: Option<crate::meter::MeterRef>,
}

/// An action list; empty means drop.
pub type DpActions = Vec<DpAction>;
