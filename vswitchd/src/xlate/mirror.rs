//! Port mirrors (SPAN), as OVS's `ofproto-dpif-mirror` and `mirror_packet` do them.
//!
//! A mirror selects packets by the port they enter on (`select_src_port`), the port they leave
//! on (`select_dst_port`), or every port (`select_all`), optionally narrowed to some VLANs
//! (`select_vlan`), and sends a copy to an output port (`output_port`) or floods it on a VLAN
//! (`output_vlan`). The copy is the packet as it is at that moment of the translation: as it
//! arrived for a source selection (mirrored before the first table runs), as it leaves for a
//! destination selection (mirrored right after the output it follows). So mirroring is plain
//! output actions in the datapath action list and in the megaflow: the fast path needs nothing
//! new, and a cached megaflow mirrors exactly as a fresh translation would.
//!
//! The rules are OVS's:
//! - A translation mirrors each packet at most once per output: every mirror that outputs
//!   where an already used mirror outputs (its `dup` mask) is skipped, until an action changes
//!   the packet ([`Xlator::reset_mirrors`], OVS's `reset_mirror_ctx`), after which the changed
//!   copy may be mirrored again.
//! - The VLAN a mirror selects on is the packet's VLAN on that port (an access port's tag, or
//!   the frame's VID on a trunk); the copy leaves the output port tagged as that port's VLAN
//!   mode says (an access output port gets it untagged).
//! - `output_vlan` floods the copy in that VLAN to every port carrying it that is not a
//!   mirror output, unless the packet is already in that VLAN or goes to a reserved
//!   (`01:80:c2:00:00:0x`) address.
//! - A mirror output port is reserved for mirroring: packets received on it are dropped, and
//!   `normal` neither floods to it nor forwards to an address learned on it. Explicit OpenFlow
//!   outputs to it still happen, as in OVS.
//! - A patch port leads to another bridge with its own mirrors: the mask of used mirrors
//!   starts empty there and is restored on return.
//!
//! Mirrors name their ports (a port re-added or renumbered keeps its mirrors); the set is
//! resolved to OpenFlow numbers whenever the bridge's ports change ([`MirrorSet::build`]).
//! Counters: a copy credits its mirror with the translation's [`Credit`](super::Credit), which
//! is how the revalidator pushes megaflow statistics into rules, so mirror `tx_packets` /
//! `tx_bytes` count what the megaflows carrying the copies counted.

use super::{XlateError, Xlator};
use crate::normal::VlanMode;
use crate::ofproto::action::{OfAction, SetSpelling};
use fastpath::flow::Field;
use fastpath::flow::key::{VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most mirrors one bridge may have (OVS's `MAX_MIRRORS`: the used-mirror mask is 32 bits).
pub const MAX_MIRRORS: usize = 32;

/// Where a mirror sends its copies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MirrorOutput {
    /// To this port (by name).
    Port(String),
    /// Flooded in this VLAN (OVS's `output_vlan`).
    Vlan(u16),
}

/// A mirror as configured (and stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorConfig {
    /// Unique within the bridge.
    pub name: String,
    /// Every port is a source and a destination (set when no port selector is given).
    #[serde(default)]
    pub select_all: bool,
    /// Packets entering on these ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select_src_port: Vec<String>,
    /// Packets leaving on these ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select_dst_port: Vec<String>,
    /// Only packets in these VLANs (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select_vlan: Vec<u16>,
    /// The destination of the copies.
    pub output: MirrorOutput,
}

impl MirrorConfig {
    /// The port names this mirror refers to.
    pub fn ports(&self) -> impl Iterator<Item = &str> {
        let out = match &self.output {
            MirrorOutput::Port(p) => Some(p.as_str()),
            MirrorOutput::Vlan(_) => None,
        };
        self.select_src_port
            .iter()
            .chain(&self.select_dst_port)
            .map(String::as_str)
            .chain(out)
    }
}

/// A mirror's counters: the copies it sent (OVS's Mirror `statistics` `tx_packets`,
/// `tx_bytes`).
#[derive(Debug, Default)]
pub struct MirrorStats {
    packets: AtomicU64,
    bytes: AtomicU64,
}

impl MirrorStats {
    /// Copies sent.
    pub fn packets(&self) -> u64 {
        self.packets.load(Ordering::Relaxed)
    }

    /// Bytes sent.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn credit(&self, packets: u64, bytes: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Where a resolved mirror sends copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Out {
    /// The output port exists with this OpenFlow number.
    Port(u32),
    Vlan(u16),
    /// The output port does not exist (now): the mirror sends nothing.
    Missing,
}

/// One mirror resolved against the bridge's ports.
#[derive(Debug)]
struct Resolved {
    config: MirrorConfig,
    vlans: BTreeSet<u16>,
    out: Out,
    /// This mirror and every other that outputs to the same place.
    dup: u32,
    stats: Arc<MirrorStats>,
}

/// A bridge's mirrors, resolved to OpenFlow port numbers, as translations read them.
#[derive(Debug, Default)]
pub struct MirrorSet {
    mirrors: Vec<Resolved>,
    /// Per port: bit i = mirror i selects packets entering there.
    src: BTreeMap<u32, u32>,
    /// Per port: bit i = mirror i selects packets leaving there.
    dst: BTreeMap<u32, u32>,
    /// Ports that are some mirror's output.
    out_ports: BTreeSet<u32>,
    /// Every port's VLAN mode, ascending OpenFlow number.
    vlan: BTreeMap<u32, VlanMode>,
}

impl MirrorSet {
    /// Resolves `configs` (at most [`MAX_MIRRORS`]; later ones are ignored) against the
    /// bridge's `ports` (OpenFlow number, name, VLAN mode). Counters of mirrors that `old`
    /// has under the same name carry over.
    pub fn build<'a>(
        configs: &[MirrorConfig],
        ports: impl IntoIterator<Item = (u32, &'a str, VlanMode)>,
        old: &MirrorSet,
    ) -> MirrorSet {
        let mut set = MirrorSet::default();
        let mut by_name = BTreeMap::new();
        for (ofport, name, mode) in ports {
            by_name.insert(name, ofport);
            set.vlan.insert(ofport, mode);
        }
        for (i, c) in configs.iter().take(MAX_MIRRORS).enumerate() {
            let bit = 1u32 << i;
            let (srcs, dsts): (Vec<u32>, Vec<u32>) = if c.select_all {
                (
                    set.vlan.keys().copied().collect(),
                    set.vlan.keys().copied().collect(),
                )
            } else {
                let find = |names: &[String]| {
                    names
                        .iter()
                        .filter_map(|n| by_name.get(n.as_str()).copied())
                        .collect()
                };
                (find(&c.select_src_port), find(&c.select_dst_port))
            };
            let out = match &c.output {
                MirrorOutput::Vlan(v) => Out::Vlan(*v),
                MirrorOutput::Port(p) => by_name.get(p.as_str()).map_or(Out::Missing, |n| {
                    set.out_ports.insert(*n);
                    Out::Port(*n)
                }),
            };
            if out != Out::Missing {
                for p in srcs {
                    *set.src.entry(p).or_default() |= bit;
                }
                for p in dsts {
                    *set.dst.entry(p).or_default() |= bit;
                }
            }
            let stats = old
                .mirrors
                .iter()
                .find(|m| m.config.name == c.name)
                .map_or_else(Default::default, |m| m.stats.clone());
            set.mirrors.push(Resolved {
                config: c.clone(),
                vlans: c.select_vlan.iter().copied().collect(),
                out,
                dup: bit,
                stats,
            });
        }
        // OVS's mirror_update_dups: mirrors with the same output share one copy.
        for i in 0..set.mirrors.len() {
            for j in 0..set.mirrors.len() {
                if i != j && set.mirrors[i].out == set.mirrors[j].out {
                    set.mirrors[i].dup |= 1 << j;
                }
            }
        }
        set
    }

    /// True if the bridge has no mirrors.
    pub fn is_empty(&self) -> bool {
        self.mirrors.is_empty()
    }

    /// True if port `ofport` is some mirror's output (reserved for mirroring).
    pub fn is_output(&self, ofport: u32) -> bool {
        self.out_ports.contains(&ofport)
    }

    /// The mirrors, in configuration order, with their counters.
    pub fn iter(&self) -> impl Iterator<Item = (&MirrorConfig, &Arc<MirrorStats>)> {
        self.mirrors.iter().map(|m| (&m.config, &m.stats))
    }

    fn mode(&self, ofport: u32) -> VlanMode {
        self.vlan.get(&ofport).cloned().unwrap_or_default()
    }
}

/// True for the reserved multicast addresses 01:80:c2:00:00:00..0f (OVS's
/// `eth_addr_is_reserved`, the part a switch never forwards).
fn is_reserved(mac: &[u8; 6]) -> bool {
    mac[..5] == [0x01, 0x80, 0xc2, 0x00, 0x00] && mac[5] & 0xf0 == 0
}

/// True if `field` is a packet header field rather than metadata (registers, tunnel, conntrack).
fn is_header(field: Field) -> bool {
    use Field::*;
    !matches!(
        field,
        RecircId
            | InPort
            | Metadata
            | Reg(_)
            | CtState
            | CtZone
            | CtMark
            | CtLabel
            | TunId
            | TunSrc
            | TunDst
            | TunIpv6Src
            | TunIpv6Dst
            | TunFlags
            | TunTos
            | TunTtl
            | TunGbpId
            | TunGbpFlags
            | ConjId
            | TunMetadata(_)
    )
}

impl Xlator<'_, '_> {
    /// Mirrors the packet as it arrived (OVS's `mirror_ingress_packet`), at the start of a
    /// first pass.
    pub(super) fn mirror_ingress(&mut self) -> Result<(), XlateError> {
        let set = self.bridge.ports.mirrors().clone();
        if set.is_empty() {
            return Ok(());
        }
        let port = self.flow.in_port;
        let mask = set.src.get(&port).copied().unwrap_or(0);
        self.mirror_packet(&set, port, mask)
    }

    /// Mirrors the packet as it leaves on `ofport`, right after its output.
    pub(super) fn mirror_egress(&mut self, ofport: u32) -> Result<(), XlateError> {
        let set = self.bridge.ports.mirrors().clone();
        if set.is_empty() {
            return Ok(());
        }
        let mask = set.dst.get(&ofport).copied().unwrap_or(0);
        self.mirror_packet(&set, ofport, mask)
    }

    /// True if the packet came in on a mirror output port (dropped, as OVS does).
    pub(super) fn came_from_mirror_output(&self) -> bool {
        self.bridge.ports.mirrors().is_output(self.flow.in_port)
    }

    /// Forgets which mirrors were used when action `a` changes the packet, so that the
    /// changed copy is mirrored again (OVS's `reset_mirror_ctx`, same action list).
    pub(super) fn reset_mirrors(&mut self, a: &OfAction) {
        if self.mirrored == 0 {
            return;
        }
        let reset = match a {
            OfAction::DecTtl | OfAction::SetVlanVid(_) | OfAction::SetVlanPcp(_) => true,
            // mod_dl_src / mod_dl_dst are OVS's SET_ETH_SRC/DST, which keep the mask.
            OfAction::SetField {
                field: Field::DlSrc | Field::DlDst,
                spelling: SetSpelling::Mod,
                ..
            } => false,
            OfAction::SetField { field, .. } => self.header_present(*field),
            OfAction::Load { dst, .. } => self.header_present(dst.field),
            _ => false,
        };
        if reset {
            self.mirrored = 0;
        }
    }

    fn header_present(&self, field: Field) -> bool {
        // OVS checks the prerequisites without recording them; so does this (the answer only
        // decides whether a later copy is a duplicate, which the output actions show anyway).
        let mut scratch = fastpath::flow::FlowKey::ZERO;
        is_header(field) && super::fields::prereqs_ok(field, &self.flow, &mut scratch)
    }

    /// OVS's `mirror_packet`: the packet is entering or leaving on `port`, whose selecting
    /// mirrors are `candidates`.
    fn mirror_packet(
        &mut self,
        set: &Arc<MirrorSet>,
        port: u32,
        mut candidates: u32,
    ) -> Result<(), XlateError> {
        candidates &= !self.mirrored;
        if candidates == 0 {
            return Ok(());
        }
        // The VLAN the packet is in on this port (what mirrors select on, and how the copy
        // is tagged) depends on the tag.
        self.wc.vlan_tci |= VLAN_VID_MASK | VLAN_CFI;
        let tag = self
            .flow
            .has_vlan()
            .then_some(self.flow.vlan_tci & VLAN_VID_MASK);
        let Some(vlan) = set.mode(port).input_vlan(tag) else {
            return Ok(());
        };
        let mut used = 0u32;
        while candidates != 0 {
            let i = candidates.trailing_zeros() as usize;
            let bit = 1u32 << i;
            let m = &set.mirrors[i];
            if !m.vlans.is_empty() && !m.vlans.contains(&vlan) {
                candidates &= !bit;
                continue;
            }
            used |= bit;
            self.mirrored |= m.dup;
            let name = m.config.name.clone();
            match m.out {
                Out::Port(out) => {
                    self.note(|| format!("mirror {name}: copy to port {out}"));
                    self.output_in_vlan(out, set.mode(out).output_tag(vlan))?;
                }
                Out::Vlan(v) => {
                    self.wc.dl_dst[..5].copy_from_slice(&[0xff; 5]);
                    self.wc.dl_dst[5] |= 0xf0;
                    if v != vlan && !is_reserved(&self.flow.dl_dst) {
                        self.note(|| format!("mirror {name}: copy flooded in VLAN {v}"));
                        let outs: Vec<(u32, Option<u16>)> = set
                            .vlan
                            .iter()
                            .filter(|(p, mode)| mode.carries(v) && !set.is_output(**p))
                            .map(|(p, mode)| (*p, mode.output_tag(v)))
                            .collect();
                        for (p, t) in outs {
                            self.output_in_vlan(p, t)?;
                        }
                    }
                }
                Out::Missing => {}
            }
            candidates &= !self.mirrored;
        }
        if used != 0
            && let Some(c) = self.ctx.credit
        {
            for (i, m) in set.mirrors.iter().enumerate() {
                if used & (1 << i) != 0 {
                    m.stats.credit(c.packets, c.bytes);
                }
            }
        }
        Ok(())
    }

    /// Outputs to `port` with outer tag `out_tag` (`None`: untagged), the flow's VLAN restored
    /// afterwards (as `normal` outputs do).
    fn output_in_vlan(&mut self, port: u32, out_tag: Option<u16>) -> Result<(), XlateError> {
        let saved = (
            self.flow.vlan_tci,
            self.flow.vlan_tci_inner,
            self.flow.vlan_qinq,
        );
        match out_tag {
            None if self.flow.has_vlan() => {
                super::fields::pop_vlan(&mut self.flow, &mut self.wc);
            }
            None => {}
            Some(vid) => {
                let pcp = if self.flow.has_vlan() {
                    self.wc.vlan_tci |= VLAN_PCP_MASK;
                    self.flow.vlan_tci & VLAN_PCP_MASK
                } else {
                    self.flow.vlan_qinq = 0;
                    self.flow.vlan_tci_inner = 0;
                    0
                };
                self.flow.vlan_tci = VLAN_CFI | pcp | (vid & VLAN_VID_MASK);
            }
        }
        let r = self.output(port, false);
        (
            self.flow.vlan_tci,
            self.flow.vlan_tci_inner,
            self.flow.vlan_qinq,
        ) = saved;
        r
    }
}

#[cfg(test)]
mod tests;
