//! Executing datapath actions on a packet buffer, in place.
//!
//! # Design
//!
//! [`execute`] walks one megaflow's action list over one packet. Field rewrites patch the
//! bytes where the parse found the headers ([`Headers`]) and update checksums incrementally
//! ([`crate::wire::checksum`]); VLAN push/pop use the buffer's headroom instead of moving the frame's
//! tail. Everything the executor cannot do by itself goes through an [`ExecEnv`]: queueing a
//! packet for output, copying it, recirculating it, dropping it, and conntrack.
//!
//! Ownership decides copying: an `output` or `recirc` that is the *last* action gives the packet
//! buffer away; any earlier one sends a copy (taken from the environment's pool), because later
//! actions may still change the packet. So the common `set(...),output:N` copies nothing.
//!
//! `pop_vlan` immediately followed by `push_vlan` (how xlate spells "modify VLAN") rewrites the
//! tag in place rather than removing and re-inserting four bytes.
//!
//! # Invariants
//!
//! - A rewrite whose header the packet does not have (wrong `dl_type`, missing or truncated L3/L4,
//!   a later IP fragment for L4) is skipped: xlate only emits sets whose prerequisites the
//!   megaflow matched, so this only guards against malformed input. It never panics.
//! - `Headers` stays true for the packet: push/pop shift the L3/L4 offsets by the tag length.
//! - Conntrack metadata lives in [`PacketMeta`] beside the packet, never in the frame; `recirc`
//!   hands it on so the next lookup sees the new `ct_*` fields.

use super::set::{set_eth, set_ipv4, set_ipv6, set_l4};
use super::vlan::{pop_vlan, push_vlan, rewrite_vlan};
use super::{CtAction, DpAction};
use crate::flow::FlowKey;
use crate::flow::key::FRAG_LATER;
use crate::packet::Packet;

/// Offset value meaning "this header is absent".
pub const ABSENT: u16 = u16::MAX;

/// Where a packet's headers are and what they are: what the executor needs from the parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headers {
    /// Offset of the IPv4/IPv6/ARP header, or [`ABSENT`].
    pub l3: u16,
    /// Offset of the TCP/UDP/SCTP/ICMP header, or [`ABSENT`].
    pub l4: u16,
    /// Ethernet type after VLAN tags.
    pub dl_type: u16,
    /// IP protocol (final next header for IPv6).
    pub nw_proto: u8,
    /// Fragment bits, as in the flow key.
    pub nw_frag: u8,
}

impl Headers {
    /// The headers of a packet whose key is `key` and whose L3/L4 offsets are `l3`, `l4`.
    pub fn new(key: &FlowKey, l3: u16, l4: u16) -> Headers {
        Headers {
            l3,
            l4,
            dl_type: key.dl_type,
            nw_proto: key.nw_proto,
            nw_frag: key.nw_frag,
        }
    }

    /// The L4 header offset if the packet carries one that may be rewritten (present and not in
    /// a non-first fragment).
    pub(super) fn l4_offset(&self) -> Option<usize> {
        (self.l4 != ABSENT && self.nw_frag & FRAG_LATER == 0).then_some(usize::from(self.l4))
    }

    pub(super) fn shift(&mut self, by: isize) {
        for off in [&mut self.l3, &mut self.l4] {
            if *off != ABSENT {
                *off = (*off as isize + by) as u16;
            }
        }
    }
}

/// Metadata that travels with a packet beside its frame (OVS's `pkt_metadata`): input port,
/// recirculation id and conntrack results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    pub in_port: u32,
    pub recirc_id: u32,
    pub ct_state: u8,
    pub ct_zone: u16,
    pub ct_mark: u32,
    pub ct_label: [u8; 16],
}

impl PacketMeta {
    /// Metadata for a packet just received on `in_port`.
    pub fn new(in_port: u32) -> PacketMeta {
        PacketMeta {
            in_port,
            ..PacketMeta::default()
        }
    }

    /// Writes the metadata into a key's datapath metadata fields (before extraction).
    pub fn write_to(&self, key: &mut FlowKey) {
        key.in_port = self.in_port;
        key.recirc_id = self.recirc_id;
        key.ct_state = self.ct_state;
        key.ct_zone = self.ct_zone;
        key.ct_mark = self.ct_mark;
        key.ct_label = self.ct_label;
    }

    fn clear_ct(&mut self) {
        self.ct_state = 0;
        self.ct_zone = 0;
        self.ct_mark = 0;
        self.ct_label = [0; 16];
    }
}

/// The conntrack engine, as the executor calls it (implemented by the conntrack module).
///
/// Called from a datapath thread while it holds its own megaflow table lock: an implementation
/// may take its own locks but must never call back into the datapath or the slow path.
pub trait ConntrackHook: Send + Sync {
    /// Runs `action` on the packet: looks up (and on `commit` creates) its connection, applies
    /// NAT by rewriting the frame (headers at `headers`), and stores the result in `meta`
    /// (`ct_state` with `TRK` set, `ct_zone`, `ct_mark`, `ct_label`). A packet conntrack cannot
    /// make sense of is marked `INV | TRK`, not dropped.
    fn execute(
        &self,
        packet: &mut Packet,
        headers: &Headers,
        meta: &mut PacketMeta,
        action: &CtAction,
        now_ms: u64,
    );
}

/// Where `userspace` actions send their packets (the slow path's receiving end).
///
/// Called from a datapath thread with its megaflow table lock held: an implementation must
/// not block (a full queue drops and counts) and must never call back into the datapath.
pub trait UserspaceSink: Send + Sync {
    /// Takes a copy of `frame` (the packet as the actions so far left it) with its metadata
    /// and tunnel, for `action`.
    fn userspace(
        &self,
        action: &super::UserspaceAction,
        frame: &[u8],
        meta: &PacketMeta,
        tunnel: &crate::flow::TunnelMeta,
    );
}

/// Why the executor dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ActionDrop {
    /// The megaflow's actions send the packet nowhere.
    #[error("the flow's actions drop the packet")]
    FlowDrop,
    /// `push_vlan` found no headroom left in the buffer.
    #[error("no headroom left to push a VLAN tag")]
    NoHeadroom,
    /// A `ct` action on a datapath built without conntrack.
    #[error("the actions need conntrack but the datapath has none")]
    NoConntrack,
    /// A meter's drop band refused the packet.
    #[error("a meter band dropped the packet")]
    Meter,
}

/// What the executor needs from the datapath thread around it.
pub trait ExecEnv {
    /// Queues `packet` for transmission on datapath port `port`.
    fn output(&mut self, port: u32, packet: Packet);
    /// A copy of `packet` (frame, offload state), preferably in a pooled buffer.
    fn copy(&mut self, packet: &Packet) -> Packet;
    /// Queues `packet` for another lookup with `meta` (whose `recirc_id` is already set).
    fn recirculate(&mut self, packet: Packet, meta: PacketMeta);
    /// Counts and recycles a dropped packet.
    fn drop_packet(&mut self, packet: Packet, reason: ActionDrop);
    /// Recycles a packet that was fully handled (its copies went out), without counting a drop.
    fn recycle(&mut self, packet: Packet);
    /// The conntrack engine, if the datapath has one.
    fn conntrack(&self) -> Option<&dyn ConntrackHook>;
    /// Sends a copy of `packet` to the slow path for `action` (without a receiver, nothing).
    fn userspace(&mut self, packet: &Packet, meta: &PacketMeta, action: &super::UserspaceAction);
}

/// Runs `actions` on `packet` (whose headers and metadata are `headers`, `meta`) and hands the
/// results to `env`.
pub fn execute<E: ExecEnv>(
    env: &mut E,
    mut packet: Packet,
    headers: &Headers,
    meta: &PacketMeta,
    actions: &[DpAction],
    now_ms: u64,
) {
    let mut headers = *headers;
    // Copied only by the actions that change it (ct, ct_clear): most packets never need to.
    let mut own_meta: Option<PacketMeta> = None;
    let mut sent = false;
    let mut i = 0;
    while i < actions.len() {
        let last = i + 1 == actions.len();
        match &actions[i] {
            DpAction::Output(port) => {
                if last {
                    env.output(*port, packet);
                    return;
                }
                let copy = env.copy(&packet);
                env.output(*port, copy);
                sent = true;
            }
            DpAction::Recirc(id) => {
                let next = PacketMeta {
                    recirc_id: *id,
                    ..*own_meta.as_ref().unwrap_or(meta)
                };
                if last {
                    env.recirculate(packet, next);
                    return;
                }
                let copy = env.copy(&packet);
                env.recirculate(copy, next);
                sent = true;
            }
            DpAction::SetEth(set) => set_eth(&mut packet, set),
            DpAction::SetIpv4(set) => set_ipv4(&mut packet, &headers, set),
            DpAction::SetIpv6(set) => set_ipv6(&mut packet, &headers, set),
            DpAction::SetArp(set) => super::set::set_arp(&mut packet, &headers, set),
            DpAction::SetL4(set) => set_l4(&mut packet, &headers, set),
            DpAction::PopVlan => {
                if let Some(DpAction::PushVlan { tpid, tci }) = actions.get(i + 1)
                    && rewrite_vlan(&mut packet, *tpid, *tci)
                {
                    i += 2;
                    continue;
                }
                pop_vlan(&mut packet, &mut headers);
            }
            DpAction::PushVlan { tpid, tci } => {
                if !push_vlan(&mut packet, &mut headers, *tpid, *tci) {
                    env.drop_packet(packet, ActionDrop::NoHeadroom);
                    return;
                }
            }
            DpAction::Ct(ct) => match env.conntrack() {
                Some(hook) => {
                    let m = own_meta.get_or_insert(*meta);
                    hook.execute(&mut packet, &headers, m, ct, now_ms);
                }
                None => {
                    env.drop_packet(packet, ActionDrop::NoConntrack);
                    return;
                }
            },
            DpAction::CtClear => own_meta.get_or_insert(*meta).clear_ct(),
            DpAction::SetTunnel(t) => packet.tunnel = *t,
            DpAction::Userspace(u) => {
                let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
                let metered_out = u.meter.as_ref().is_some_and(|m| {
                    matches!(
                        m.meter.check(len, crate::meter::clock_ns()),
                        crate::meter::Verdict::Drop { .. }
                    )
                });
                if !metered_out {
                    env.userspace(&packet, own_meta.as_ref().unwrap_or(meta), u);
                }
                sent = true;
            }
            DpAction::Clone(inner) => {
                let m = *own_meta.as_ref().unwrap_or(meta);
                if last {
                    execute(env, packet, &headers, &m, inner, now_ms);
                    return;
                }
                let copy = env.copy(&packet);
                execute(env, copy, &headers, &m, inner, now_ms);
                sent = true;
            }
            DpAction::CheckPktLen {
                len,
                greater,
                less_eq,
            } => {
                let m = *own_meta.as_ref().unwrap_or(meta);
                let branch = if packet.len() > usize::from(*len) {
                    greater
                } else {
                    less_eq
                };
                if last {
                    execute(env, packet, &headers, &m, branch, now_ms);
                    return;
                }
                let copy = env.copy(&packet);
                execute(env, copy, &headers, &m, branch, now_ms);
                sent = true;
            }
            DpAction::Meter(m) => {
                let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
                if let crate::meter::Verdict::Drop { .. } =
                    m.meter.check(len, crate::meter::clock_ns())
                {
                    if sent {
                        env.recycle(packet);
                    } else {
                        env.drop_packet(packet, ActionDrop::Meter);
                    }
                    return;
                }
            }
        }
        i += 1;
    }
    if sent {
        env.recycle(packet);
    } else {
        env.drop_packet(packet, ActionDrop::FlowDrop);
    }
}

#[cfg(test)]
mod tests;
