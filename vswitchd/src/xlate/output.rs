//! Outputs: ports, reserved ports (`in_port`, `flood`, `all`, `local`, `normal`), patch ports.
//!
//! An output commits pending header changes and emits the datapath port. As in OpenFlow, an
//! output to the port the packet came in on is skipped unless it is the explicit `in_port`
//! action; `flood` / `all` send to every other port in ascending OpenFlow number (LOCAL last). A patch port
//! is not a datapath port: output to it continues the translation in the peer bridge, as if the
//! packet had been received on the peer port with fresh registers, metadata and conntrack state
//! (OVS's `patch_port_output`); the OpenFlow view of the flow is restored afterwards, while the
//! committed packet state (`base`) carries over, since that is what the datapath packet is now.
//!
//! `normal` is a MAC-learning switch behind [`NormalHandler`]: the bridge provides one (shared
//! MAC table, port VLAN modes); [`LearningSwitch`] is a complete implementation over
//! [`crate::normal::decide`] used by offline traces and usable by bridges. Its decision depends
//! on the source and destination MACs and the outer VLAN, which are un-wildcarded.

use super::XlateError;
use super::{PortKind, Xlator, fields};
use crate::mac_learning::MacTable;
use crate::normal::{NormalDecision, NormalPort, decide};
use crate::ofproto::action::ofpp;
use fastpath::action::DpAction;
use fastpath::flow::TunnelMeta;
use fastpath::flow::key::tun_flags;
use fastpath::flow::key::{VLAN_CFI, VLAN_PCP_MASK, VLAN_VID_MASK};
use fastpath::port::tunnel::TunnelConfig;
use std::sync::Mutex;

/// The `normal` action's decision maker (a bridge's MAC-learning switch).
pub trait NormalHandler: Send + Sync {
    /// Where a frame from OpenFlow port `in_port` with outer VLAN id `tag_vid` (`None` =
    /// untagged), source `src` and destination `dst` goes. Learns `src` only if `may_learn`.
    fn decide(
        &self,
        in_port: u32,
        tag_vid: Option<u16>,
        src: [u8; 6],
        dst: [u8; 6],
        may_learn: bool,
        now_ms: u64,
    ) -> NormalDecision;
}

/// A learning switch: port VLAN modes plus a MAC table.
#[derive(Debug)]
pub struct LearningSwitch {
    ports: Vec<NormalPort>,
    macs: Mutex<MacTable>,
}

impl LearningSwitch {
    /// A switch over `ports` with an empty table `macs`.
    pub fn new(ports: Vec<NormalPort>, macs: MacTable) -> LearningSwitch {
        LearningSwitch {
            ports,
            macs: Mutex::new(macs),
        }
    }

    /// Runs `f` on the MAC table (for `fdb-show`, expiry, flushes).
    pub fn with_macs<R>(&self, f: impl FnOnce(&mut MacTable) -> R) -> R {
        // The table stays consistent across a panic in another user (each method completes
        // its update before returning), so a poisoned lock is still usable.
        f(&mut self.macs.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl NormalHandler for LearningSwitch {
    fn decide(
        &self,
        in_port: u32,
        tag_vid: Option<u16>,
        src: [u8; 6],
        dst: [u8; 6],
        may_learn: bool,
        now_ms: u64,
    ) -> NormalDecision {
        self.with_macs(|macs| {
            if may_learn {
                return decide(&self.ports, macs, in_port, tag_vid, src, dst, now_ms);
            }
            // Without learning (revalidation, traces of a live bridge): the same decision as
            // decide(), leaving the table untouched.
            let Some(inp) = self.ports.iter().find(|p| p.ofport == in_port) else {
                return NormalDecision::DropBadVlan;
            };
            let Some(vlan) = inp.vlan.input_vlan(tag_vid) else {
                return NormalDecision::DropBadVlan;
            };
            let known = (!crate::mac_learning::is_multicast(&dst))
                .then(|| macs.lookup(vlan, &dst, now_ms))
                .flatten();
            let outputs: Vec<(u32, Option<u16>)> = self
                .ports
                .iter()
                .filter(|p| p.ofport != in_port && p.vlan.carries(vlan))
                .filter(|p| known.is_none_or(|k| k == p.ofport))
                .map(|p| (p.ofport, p.vlan.output_tag(vlan)))
                .collect();
            NormalDecision::Forward {
                vlan,
                outputs,
                flooded: known.is_none(),
            }
        })
    }
}

impl Xlator<'_, '_> {
    /// `output:P`, which may name a reserved port.
    pub(super) fn output_action(&mut self, port: u32) -> Result<(), XlateError> {
        match port {
            ofpp::IN_PORT => self.output(self.flow.in_port, true),
            ofpp::NORMAL => self.normal(),
            ofpp::FLOOD | ofpp::ALL => self.flood(),
            ofpp::CONTROLLER => {
                self.controller(&crate::ofproto::action::OfController::new(u16::MAX))
            }
            ofpp::TABLE | ofpp::ANY => {
                self.note(|| {
                    format!("output to reserved port {port:#x} is not valid here; skipped")
                });
                Ok(())
            }
            _ => self.output(port, false),
        }
    }

    /// Sends the packet to OpenFlow port `ofport` of the current bridge.
    pub(super) fn output(&mut self, ofport: u32, explicit_in_port: bool) -> Result<(), XlateError> {
        if ofport == self.flow.in_port && !explicit_in_port {
            self.note(|| "skipping output to input port".into());
            return Ok(());
        }
        let Some(port) = self.bridge.ports.get(ofport) else {
            self.note(|| {
                if ofport == ofpp::LOCAL {
                    "output to nonexistent port LOCAL (this bridge has no local port); skipped"
                        .into()
                } else {
                    format!("output to nonexistent port {ofport}; skipped")
                }
            });
            return Ok(());
        };
        match &port.kind {
            PortKind::Datapath(dp) => {
                let dp = *dp;
                self.commit()?;
                self.actions.push(DpAction::Output(dp));
                if let Some(t) = self.trace.as_deref_mut() {
                    t.outputs.push(ofport);
                }
                self.mirror_egress(ofport)
            }
            PortKind::Tunnel { dp, cfg } => {
                let (dp, cfg) = (*dp, *cfg);
                self.commit()?;
                let t = self.tunnel_header(&cfg);
                if t.is_set() {
                    self.actions.push(DpAction::SetTunnel(t));
                    self.actions.push(DpAction::Output(dp));
                    if let Some(tr) = self.trace.as_deref_mut() {
                        tr.outputs.push(ofport);
                    }
                    self.mirror_egress(ofport)?;
                } else {
                    self.note(|| format!("output to tunnel port {ofport}: no remote (remote_ip=flow and tun_dst unset); dropped"));
                }
                Ok(())
            }
            PortKind::Patch {
                bridge,
                ofport: peer_port,
            } => {
                let (bridge, peer_port) = (bridge.clone(), *peer_port);
                self.patch_output(&bridge, peer_port)
            }
        }
    }

    /// The tunnel metadata a packet leaves tunnel port `cfg` with (OVS's `tnl_port_send`):
    /// the port's settings where they are fixed, the flow's `tun_*` fields where they are
    /// `flow`; TOS and TTL `inherit` read the inner IP header. Every flow bit read is
    /// un-wildcarded.
    fn tunnel_header(&mut self, cfg: &TunnelConfig) -> TunnelMeta {
        let mut t = TunnelMeta::default();
        match cfg.remote {
            Some(a) => t.set_dst(a),
            None => {
                self.wc.tun_dst = !0;
                self.wc.tun_ipv6_dst = [0xff; 16];
                t.dst = self.flow.tun_dst;
                t.ipv6_dst = self.flow.tun_ipv6_dst;
            }
        }
        match cfg.local {
            Some(a) => t.set_src(a),
            None if cfg.remote.is_none() => {
                self.wc.tun_src = !0;
                self.wc.tun_ipv6_src = [0xff; 16];
                t.src = self.flow.tun_src;
                t.ipv6_src = self.flow.tun_ipv6_src;
            }
            None => {}
        }
        t.id = match cfg.key {
            Some(k) => k,
            None => {
                self.wc.tun_id = !0;
                self.flow.tun_id
            }
        };
        let ip = self.flow.is_ip();
        self.wc.dl_type = !0;
        t.tos = match cfg.tos {
            Some(v) => v,
            None if ip => {
                self.wc.nw_tos |= 0xff;
                self.flow.nw_tos
            }
            None => 0,
        };
        t.ttl = match cfg.ttl {
            Some(v) => v,
            None if ip => {
                self.wc.nw_ttl = 0xff;
                self.flow.nw_ttl
            }
            None => fastpath::port::tunnel::DEFAULT_TTL,
        };
        t.tp_dst = cfg.dst_port;
        if self.flow.has_tunnel() {
            self.wc.tun_gbp_id = !0;
            self.wc.tun_gbp_flags = !0;
            self.wc.tun_flags |= tun_flags::OAM;
            t.gbp_id = self.flow.tun_gbp_id;
            t.gbp_flags = self.flow.tun_gbp_flags;
            t.flags |= self.flow.tun_flags & tun_flags::OAM;
        }
        // Geneve options go out as the flow has them (received, or set by actions).
        self.wc.tun_md_present = !0;
        let mut present = self.flow.tun_md_present;
        while present != 0 {
            let n = present.trailing_zeros() as u8;
            present &= present - 1;
            let f = fastpath::flow::Field::TunMetadata(n);
            f.set(&mut self.wc, u128::MAX);
        }
        t.md_present = self.flow.tun_md_present;
        t.md = self.flow.tun_md;
        if cfg.df {
            t.flags |= tun_flags::DF;
        }
        if cfg.csum {
            t.flags |= tun_flags::CSUM;
        }
        if cfg.key.is_none_or(|k| k != 0) || cfg.kind != fastpath::port::tunnel::TunnelKind::Gre {
            t.flags |= tun_flags::KEY;
        }
        if cfg.kind == fastpath::port::tunnel::TunnelKind::Gre {
            t.tp_dst = 0;
        }
        t
    }

    /// `flood` / `all`: every port but the input port (the bridge's LOCAL port included, as
    /// OVS; no port has flooding disabled here, so the two are the same).
    pub(super) fn flood(&mut self) -> Result<(), XlateError> {
        let ports: Vec<u32> = self
            .bridge
            .ports
            .iter()
            .map(|p| p.ofport)
            .filter(|p| *p != self.flow.in_port)
            .collect();
        for p in ports {
            self.output(p, false)?;
        }
        Ok(())
    }

    fn patch_output(&mut self, peer: &str, peer_port: u32) -> Result<(), XlateError> {
        let Some(peer_bridge) = self.ctx.peers.and_then(|p| p.bridge(peer)) else {
            self.note(|| format!("patch peer bridge {peer} is not available; skipped"));
            return Ok(());
        };
        let saved_flow = self.flow;
        let saved_bridge = self.bridge;
        let saved_table = self.table;
        // The peer starts with an empty register stack (OVS's patch_port_output).
        let saved_values = std::mem::take(&mut self.values);
        self.flow.in_port = peer_port;
        self.flow.metadata = 0;
        self.flow.regs = [0; 16];
        self.flow.ct_state = 0;
        self.flow.ct_zone = 0;
        self.flow.ct_mark = 0;
        self.flow.ct_label = [0; 16];
        self.bridge = peer_bridge;
        self.depth += 1;
        self.nesting += 1;
        // The peer bridge's mirrors are its own (OVS's independent_mirrors).
        let saved_mirrored = std::mem::take(&mut self.mirrored);
        // A pause in the peer freezes the peer's pipeline only (as OVS); so does an `exit`.
        let saved_tail = std::mem::replace(&mut self.tail, false);
        let r = self.xlate_table(0).and_then(|()| self.finish_freezing());
        self.tail = saved_tail;
        self.exiting = false;
        self.mirrored = saved_mirrored;
        self.depth -= 1;
        self.nesting -= 1;
        self.bridge = saved_bridge;
        self.table = saved_table;
        self.flow = saved_flow;
        self.values = saved_values;
        r
    }

    /// `normal`.
    pub(super) fn normal(&mut self) -> Result<(), XlateError> {
        let Some(h) = self.bridge.normal else {
            self.note(|| "normal: this bridge has no MAC-learning switch; dropped".into());
            return Ok(());
        };
        self.wc.dl_src = [0xff; 6];
        self.wc.dl_dst = [0xff; 6];
        self.wc.vlan_tci |= VLAN_VID_MASK | VLAN_CFI;
        let tag = self
            .flow
            .has_vlan()
            .then_some(self.flow.vlan_tci & VLAN_VID_MASK);
        let decision = h.decide(
            self.flow.in_port,
            tag,
            self.flow.dl_src,
            self.flow.dl_dst,
            self.ctx.may_learn,
            self.ctx.now_ms,
        );
        let NormalDecision::Forward {
            vlan,
            outputs,
            flooded,
        } = decision
        else {
            self.note(|| "normal: the input port does not carry this VLAN; dropped".into());
            return Ok(());
        };
        self.note(|| {
            if flooded {
                format!("normal: VLAN {vlan}, destination unknown or multicast: flooding")
            } else if outputs.is_empty() {
                format!("normal: VLAN {vlan}, destination is on the input port: dropped")
            } else {
                format!("normal: VLAN {vlan}, learned destination")
            }
        });
        // Mirror output ports are reserved for mirroring (see `mirror`).
        let mirrors = self.bridge.ports.mirrors().clone();
        for (port, out_tag) in outputs {
            if mirrors.is_output(port) {
                self.note(|| format!("normal: port {port} is a mirror output; skipped"));
                continue;
            }
            let (tci, inner, qinq) = (
                self.flow.vlan_tci,
                self.flow.vlan_tci_inner,
                self.flow.vlan_qinq,
            );
            match out_tag {
                None if self.flow.has_vlan() => fields::pop_vlan(&mut self.flow, &mut self.wc),
                None => {}
                Some(vid) => {
                    // Keep the frame's priority when it came tagged.
                    let pcp = if self.flow.has_vlan() {
                        self.wc.vlan_tci |= VLAN_PCP_MASK;
                        self.flow.vlan_tci & VLAN_PCP_MASK
                    } else {
                        0
                    };
                    if !self.flow.has_vlan() {
                        self.flow.vlan_qinq = 0;
                        self.flow.vlan_tci_inner = 0;
                    }
                    self.flow.vlan_tci = VLAN_CFI | pcp | (vid & VLAN_VID_MASK);
                }
            }
            let r = self.output(port, false);
            self.flow.vlan_tci = tci;
            self.flow.vlan_tci_inner = inner;
            self.flow.vlan_qinq = qinq;
            r?;
        }
        Ok(())
    }

    pub(super) fn push_vlan(&mut self, tpid: u16) -> Result<(), XlateError> {
        fields::push_vlan(&mut self.flow, &mut self.wc, tpid)
    }

    pub(super) fn set_vlan(&mut self, mask: u16, bits: u16) -> Result<(), XlateError> {
        fields::set_vlan(&mut self.flow, &mut self.wc, mask, bits);
        Ok(())
    }

    pub(super) fn pop_vlan(&mut self) {
        fields::pop_vlan(&mut self.flow, &mut self.wc);
    }
}
