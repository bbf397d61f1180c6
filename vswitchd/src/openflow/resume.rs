//! `NXT_RESUME`: a controller hands back a paused packet's continuation, possibly with the
//! packet and its metadata changed, and the switch carries on (OVS's
//! `ofputil_decode_packet_in_private` and `handle_nxt_resume`).
//!
//! Pure: the decoded message in, the [`Resume`] for [`crate::xlate::pause::translate_resume`]
//! and the bridge UUID it was made by out, or the OpenFlow error OVS sends: property and
//! action errors as decoded, `NXR_STALE` for a continuation this switch instance did not make
//! (no or an unknown bridge UUID, which the caller checks, or parts this switch never
//! freezes: a register stack, mirrors, an action set).

use crate::xlate::pause::{Continuation, FrozenStretch, Resume};
use fastpath::flow::{Field, FlowKey};
use ofp::message::PacketIn2;
use ofp::{ErrorCode, Version};

/// A decoded `NXT_RESUME`, before its bridge is found.
#[derive(Clone, Debug)]
pub struct ResumeRequest {
    /// The UUID of the bridge that froze it.
    pub bridge: [u8; 16],
    /// The frame to carry on with.
    pub frame: Vec<u8>,
    /// The pipeline metadata fields the message carries (`in_port` an OpenFlow port).
    pub metadata: Vec<(Field, u128, u128)>,
    /// The datapath input port in the continuation (0: none).
    pub odp_port: u32,
    pub continuation: Continuation,
}

impl ResumeRequest {
    /// The resume, given the packet's flow as extracted from [`ResumeRequest::frame`] and
    /// the datapath port it enters on.
    pub fn into_resume(self, mut flow: FlowKey, dp_in_port: u32) -> Resume {
        for (field, value, mask) in &self.metadata {
            field.set_masked(&mut flow, *value, *mask);
        }
        Resume {
            flow,
            dp_in_port,
            continuation: self.continuation,
        }
    }
}

/// Decodes `NXT_RESUME` `p` of version `v`.
pub fn decode(p: &PacketIn2, v: Version) -> Result<ResumeRequest, ErrorCode> {
    let raw = p.continuation.as_deref().unwrap_or_default();
    let c = ofp::Continuation::decode(raw, v).map_err(|e| e.code())?;
    if c.bridge == [0; 16] || !c.stack.is_empty() || c.mirrors != 0 || !c.action_set.is_empty() {
        return Err(ErrorCode::ResumeStale);
    }
    let mut stretches = Vec::with_capacity(c.actions.len());
    for s in &c.actions {
        let mut actions = Vec::new();
        for a in &s.actions {
            actions.extend(super::convert::action_to_model(a).map_err(|e| e.code())?);
        }
        stretches.push(FrozenStretch {
            table: s.table_id,
            cookie: s.cookie,
            actions,
        });
    }
    let mut metadata = Vec::new();
    for e in &p.metadata {
        let Some(_) = super::convert::model_field(e.field) else {
            return Err(ErrorCode::BadMatchField);
        };
        metadata.extend(super::convert::entry_to_model(e).map_err(|e| e.code())?);
    }
    if !metadata.iter().any(|(f, _, _)| *f == Field::InPort) {
        return Err(ErrorCode::BadRequestPort);
    }
    Ok(ResumeRequest {
        bridge: c.bridge,
        frame: p.packet.clone(),
        metadata,
        odp_port: c.odp_port,
        continuation: Continuation {
            stretches,
            conntracked: c.conntracked,
        },
    })
}
