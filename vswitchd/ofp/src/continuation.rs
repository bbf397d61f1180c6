//! Continuations: the frozen pipeline state inside `NXT_PACKET_IN2`'s `NXPINT_CONTINUATION`
//! property, which a controller hands back unchanged in `NXT_RESUME`.
//!
//! OVS calls the format private (only the switch that made it reads it), but `ovs-ofctl
//! ofp-print` decodes it, and a controller may inspect it, so it is encoded exactly as OVS's
//! `ofputil_put_packet_in_private` does: a nested property list of `NXCPT_*` properties
//! (types from 0x8000) — the bridge's UUID, the register stack (top first), the mirrors
//! already output to, whether the packet was through conntrack, and the actions still to
//! run. Those actions are stretches, each run with the table id and cookie of the rule it
//! came from (what packet-ins and `resubmit(,)` after the resume see); on the wire a stretch
//! is an `NXCPT_ACTIONS` property preceded by `NXCPT_TABLE_ID` / `NXCPT_COOKIE` when the
//! table or cookie differs from the previous stretch's (both start at 0). Then the OpenFlow
//! 1.1+ action set and the datapath input port.
//!
//! [`Continuation::encode`] gives the property's payload as [`crate::message::PacketIn2`]
//! keeps it (the four padding bytes of a nested property first); [`Continuation::decode`]
//! reads it back. Both are pure; the actions use the codec of the message's version.

use crate::action::{decode_actions, encode_actions};
use crate::wire::{Reader, Writer};
use crate::{Action, DecodeError, EncodeError, Version, prop};

/// `NXCPT_*` property types.
pub mod nxcpt {
    pub const BRIDGE: u16 = 0x8000;
    pub const STACK: u16 = 0x8001;
    pub const MIRRORS: u16 = 0x8002;
    pub const CONNTRACKED: u16 = 0x8003;
    pub const TABLE_ID: u16 = 0x8004;
    pub const COOKIE: u16 = 0x8005;
    pub const ACTIONS: u16 = 0x8006;
    pub const ACTION_SET: u16 = 0x8007;
    pub const ODP_PORT: u16 = 0x8008;
}

/// The most bytes one register-stack entry may have (OVS's `union mf_subvalue`).
pub const MAX_STACK_ENTRY: usize = 128;

/// Actions that run with the table id and cookie of the rule they came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stretch {
    pub table_id: u8,
    pub cookie: u64,
    pub actions: Vec<Action>,
}

/// A decoded `NXPINT_CONTINUATION`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Continuation {
    /// The bridge that froze the pipeline (all zero: absent).
    pub bridge: [u8; 16],
    /// The register stack, top entry first.
    pub stack: Vec<Vec<u8>>,
    /// Mirrors the packet was already output to (a bitmap).
    pub mirrors: u32,
    /// Whether the packet had been through conntrack (its `ct_*` metadata is valid).
    pub conntracked: bool,
    /// The actions still to run, in order.
    pub actions: Vec<Stretch>,
    /// The OpenFlow 1.1+ action set.
    pub action_set: Vec<Action>,
    /// The datapath port the packet came in on (0: absent).
    pub odp_port: u32,
}

/// Bytes of `ofp_prop_header` plus the padding that aligns a nested property's contents.
const NESTED_PAD: usize = 4;

fn put_nested(w: &mut Writer, typ: u16, body: &[u8]) -> Result<(), EncodeError> {
    let mut b = vec![0u8; NESTED_PAD];
    b.extend_from_slice(body);
    prop::put(w, typ, &b)
}

fn actions_bytes(acts: &[Action], v: Version) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    encode_actions(&mut w, acts, v)?;
    Ok(w.buf)
}

impl Continuation {
    /// The `NXPINT_CONTINUATION` payload for version `v` (empty when there is nothing to
    /// carry, in which case OVS leaves the property out).
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        w.zeros(NESTED_PAD);
        if self.bridge != [0; 16] {
            prop::put(&mut w, nxcpt::BRIDGE, &self.bridge)?;
        }
        for entry in &self.stack {
            prop::put(&mut w, nxcpt::STACK, entry)?;
        }
        if self.mirrors != 0 {
            prop::put(&mut w, nxcpt::MIRRORS, &self.mirrors.to_be_bytes())?;
        }
        if self.conntracked {
            prop::put(&mut w, nxcpt::CONNTRACKED, &[])?;
        }
        let (mut table_id, mut cookie) = (0u8, 0u64);
        for s in &self.actions {
            if s.table_id != table_id {
                prop::put(&mut w, nxcpt::TABLE_ID, &[s.table_id])?;
                table_id = s.table_id;
            }
            if s.cookie != cookie {
                let mut b = [0u8; 12];
                b[4..].copy_from_slice(&s.cookie.to_be_bytes());
                prop::put(&mut w, nxcpt::COOKIE, &b)?;
                cookie = s.cookie;
            }
            if !s.actions.is_empty() {
                put_nested(&mut w, nxcpt::ACTIONS, &actions_bytes(&s.actions, v)?)?;
            }
        }
        if !self.action_set.is_empty() {
            put_nested(
                &mut w,
                nxcpt::ACTION_SET,
                &actions_bytes(&self.action_set, v)?,
            )?;
        }
        if self.odp_port != 0 {
            prop::put(&mut w, nxcpt::ODP_PORT, &self.odp_port.to_be_bytes())?;
        }
        if w.len() == NESTED_PAD {
            w.buf.clear();
        }
        Ok(w.buf)
    }

    /// Reads an `NXPINT_CONTINUATION` payload of a version-`v` message (empty: nothing
    /// frozen). Unknown properties are refused, as OVS refuses them in `NXT_RESUME`.
    pub fn decode(payload: &[u8], v: Version) -> Result<Continuation, DecodeError> {
        let mut c = Continuation::default();
        if payload.is_empty() {
            return Ok(c);
        }
        let mut r = Reader::new(payload, "continuation");
        r.skip(NESTED_PAD)?;
        let bad_len = DecodeError::BadPropertyLen;
        let (mut table_id, mut cookie) = (0u8, 0u64);
        while !r.is_empty() {
            let (typ, mut p) = prop::decode(&mut r)?;
            let len = p.remaining();
            match typ {
                nxcpt::BRIDGE => c.bridge = p.array().map_err(|_| bad_len(len))?,
                nxcpt::STACK => {
                    if len > MAX_STACK_ENTRY {
                        return Err(bad_len(len));
                    }
                    c.stack.push(p.rest().to_vec());
                }
                nxcpt::MIRRORS => c.mirrors = p.u32().map_err(|_| bad_len(len))?,
                nxcpt::CONNTRACKED => c.conntracked = true,
                nxcpt::TABLE_ID => table_id = p.u8().map_err(|_| bad_len(len))?,
                nxcpt::COOKIE => {
                    p.skip(4).map_err(|_| bad_len(len))?;
                    cookie = p.u64().map_err(|_| bad_len(len))?;
                }
                nxcpt::ACTIONS | nxcpt::ACTION_SET => {
                    p.skip(NESTED_PAD).map_err(|_| bad_len(len))?;
                    let acts = decode_actions(p.sub(p.remaining(), "actions")?, v, 0)?;
                    if typ == nxcpt::ACTIONS {
                        c.actions.push(Stretch {
                            table_id,
                            cookie,
                            actions: acts,
                        });
                    } else {
                        c.action_set = acts;
                    }
                }
                nxcpt::ODP_PORT => c.odp_port = p.u32().map_err(|_| bad_len(len))?,
                other => return Err(DecodeError::BadProperty(other)),
            }
            if !p.is_empty() {
                return Err(bad_len(len));
            }
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests;
