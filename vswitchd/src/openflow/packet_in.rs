//! Packet-ins: what a connection receives for a packet a `controller` action sent up, in the
//! format it asked for (OVS's `ofputil_encode_packet_in_private`).
//!
//! Pure: a [`PacketIn`] (the action's [`ControllerCookie`], the frame, its conntrack state)
//! and the connection's version and [`PacketInFormat`] in, message bytes out. As OVS 2.7 and
//! later, the switch buffers nothing: `buffer_id` is always `NO_BUFFER` and the whole packet
//! is sent (the action's `max_len` is carried in the datapath action but truncates nothing,
//! which is what OVS 3.1 does too: `controller:60` delivers `data_len=106` of a 106-byte
//! frame).
//!
//! The pipeline metadata (`in_port` always; registers, `metadata`, tunnel and conntrack
//! fields when not zero) travels as OXM/NXM entries: in OpenFlow 1.3+'s `OFPT_PACKET_IN`
//! match and in `NXT_PACKET_IN2`'s metadata property. OpenFlow 1.0's `OFPT_PACKET_IN` has
//! room for the input port only. Reasons OpenFlow 1.0-1.3 do not define (`action_set`,
//! `group`, `packet_out`) are sent as `action` there, as OVS does.

use super::OpenFlowError;
use crate::xlate::controller::ControllerCookie;
use crate::xlate::pause::{Continuation, bridge_uuid};
use fastpath::action::PacketMeta;
use ofp::field::{FieldId, MatchEntry};
use ofp::message::{PacketIn as WirePacketIn, PacketIn2};
use ofp::{ErrorCode, Message, Version};
use std::sync::Arc;

/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// A packet for the controllers, before it is encoded for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    pub cookie: ControllerCookie,
    pub frame: Vec<u8>,
    /// The datapath metadata the packet carried (conntrack fields).
    pub meta: PacketMeta,
    /// For a `controller(pause)`: what `NXT_RESUME` needs to carry on, sent only in
    /// `NXT_PACKET_IN2` (the other formats cannot carry it, as in OVS).
    pub continuation: Option<Arc<Continuation>>,
}

/// The wire form of a continuation in version `v` (OVS's `ofputil_put_packet_in_private`).
pub fn continuation_to_wire(
    bridge: &str,
    c: &Continuation,
    odp_port: u32,
    v: Version,
) -> Result<ofp::Continuation, OpenFlowError> {
    let mut actions = Vec::with_capacity(c.stretches.len());
    for s in &c.stretches {
        actions.push(ofp::continuation::Stretch {
            table_id: s.table,
            cookie: s.cookie,
            actions: super::to_wire::actions_to_wire(&s.actions, v)?,
        });
    }
    Ok(ofp::Continuation {
        bridge: bridge_uuid(bridge),
        stack: Vec::new(),
        mirrors: 0,
        conntracked: c.conntracked,
        actions,
        action_set: Vec::new(),
        odp_port,
    })
}

/// `NXT_SET_PACKET_IN_FORMAT`'s choices this switch sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PacketInFormat {
    /// The version's own `OFPT_PACKET_IN` (`NXPIF_STANDARD`, 0).
    #[default]
    Standard,
    /// `NXT_PACKET_IN2` (`NXPIF_NXT_PACKET_IN2`, 2), which carries userdata.
    Nxt2,
}

impl PacketInFormat {
    /// The format for an `NXT_SET_PACKET_IN_FORMAT` value; `None` for what is not supported
    /// (1, Nicira's older `NXT_PACKET_IN`, and unknown values).
    pub fn from_wire(v: u32) -> Option<PacketInFormat> {
        match v {
            0 => Some(PacketInFormat::Standard),
            2 => Some(PacketInFormat::Nxt2),
            _ => None,
        }
    }
}

/// The metadata entries, `in_port` first, then what is not zero.
pub fn metadata(p: &PacketIn) -> Vec<MatchEntry> {
    let c = &p.cookie;
    let mut out = vec![MatchEntry::exact(FieldId::InPort, u128::from(c.in_port))];
    let mut nonzero = |f: FieldId, v: u128| {
        if v != 0 {
            out.push(MatchEntry::exact(f, v));
        }
    };
    nonzero(FieldId::TunId, u128::from(c.tun_id));
    nonzero(FieldId::TunIpv4Src, u128::from(c.tun_src));
    nonzero(FieldId::TunIpv4Dst, u128::from(c.tun_dst));
    nonzero(FieldId::Metadata, u128::from(c.metadata));
    for (i, r) in c.regs.iter().enumerate() {
        nonzero(FieldId::Reg(i as u8), u128::from(*r));
    }
    nonzero(FieldId::CtState, u128::from(p.meta.ct_state));
    nonzero(FieldId::CtZone, u128::from(p.meta.ct_zone));
    nonzero(FieldId::CtMark, u128::from(p.meta.ct_mark));
    nonzero(FieldId::CtLabel, u128::from_be_bytes(p.meta.ct_label));
    out
}

pub use crate::xlate::controller::wire_reason;

/// The message a connection of version `v` that asked for `format` receives.
pub fn encode(
    p: &PacketIn,
    v: Version,
    format: PacketInFormat,
    xid: u32,
) -> Result<Vec<u8>, OpenFlowError> {
    let c = &p.cookie;
    let total_len = u16::try_from(p.frame.len()).unwrap_or(u16::MAX);
    let continuation = match (&p.continuation, format) {
        (Some(k), PacketInFormat::Nxt2) => {
            let odp = if p.meta.in_port == u32::MAX {
                0
            } else {
                p.meta.in_port
            };
            let wire = continuation_to_wire(&c.bridge, k, odp, v)?;
            Some(
                wire.encode(v)
                    .map_err(|_| OpenFlowError::Refused(ErrorCode::Unencodable))?,
            )
        }
        _ => None,
    };
    let m = match format {
        PacketInFormat::Nxt2 => Message::NxPacketIn2(PacketIn2 {
            packet: p.frame.clone(),
            full_len: None,
            buffer_id: None,
            table_id: Some(c.table_id),
            cookie: Some(c.rule_cookie),
            reason: Some(wire_reason(c.reason, v)),
            metadata: metadata(p),
            userdata: (!c.userdata.is_empty()).then(|| c.userdata.clone()),
            continuation: continuation.filter(|b| !b.is_empty()),
        }),
        PacketInFormat::Standard => Message::PacketIn(WirePacketIn {
            buffer_id: NO_BUFFER,
            total_len,
            reason: wire_reason(c.reason, v),
            table_id: if v == Version::Of10 { 0 } else { c.table_id },
            cookie: if v == Version::Of10 { 0 } else { c.rule_cookie },
            fields: if v == Version::Of10 {
                vec![MatchEntry::exact(FieldId::InPort, u128::from(c.in_port))]
            } else {
                metadata(p)
            },
            data: p.frame.clone(),
        }),
    };
    ofp::encode(&m, v, xid).map_err(|_| OpenFlowError::Refused(ErrorCode::Unencodable))
}

#[cfg(test)]
mod tests;
