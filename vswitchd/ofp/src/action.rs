//! OpenFlow actions: the standard ones of each version and the Nicira (NX) and ONF extensions.
//!
//! An action is `type(16) len(16) body`, `len` a multiple of 8; experimenter actions
//! (`type = 0xffff`) start their body with the experimenter id and, for Nicira, a 16-bit
//! subtype. Standard action numbers differ between OpenFlow 1.0 and 1.1+ (`set_dl_src` is 4
//! in 1.0, 3 in 1.1+), so decoding and encoding take the [`Version`].
//!
//! Ports are held in OpenFlow 1.1+'s 32-bit space: 1.0's reserved ports `0xff00..` map to
//! `0xffffff00..` ([`port_from_of10`]), as OVS does, so callers see one numbering.
//!
//! Nested actions (`clone(...)`, `ct(exec(...))`) are decoded recursively up to
//! [`MAX_DEPTH`] levels, which bounds the stack whatever the input.

use crate::error::{NX_VENDOR, ONF_VENDOR};
use crate::field::{self, FieldId, MatchEntry};
use crate::wire::{Reader, Writer, round8};
use crate::{DecodeError, EncodeError, Version};

mod nx;
pub use nx::*;

/// How deep actions may nest.
pub const MAX_DEPTH: usize = 8;

/// Maps an OpenFlow 1.0 port number to the 32-bit space.
pub fn port_from_of10(p: u16) -> u32 {
    if p >= 0xff00 {
        u32::from(p) | 0xffff_0000
    } else {
        u32::from(p)
    }
}

/// Maps a 32-bit port number to OpenFlow 1.0, if it has a 1.0 form.
pub fn port_to_of10(p: u32) -> Option<u16> {
    if p >= 0xffff_ff00 {
        Some((p & 0xffff) as u16)
    } else {
        u16::try_from(p).ok().filter(|&p| p < 0xff00)
    }
}

fn of10_port(p: u32) -> Result<u16, EncodeError> {
    port_to_of10(p).ok_or(EncodeError::NotInVersion(
        "a port above 0xff00",
        Version::Of10,
    ))
}

/// A bit range of a field as Nicira actions carry it: `ofs_nbits = ofs << 6 | (n_bits - 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    pub field: FieldId,
    pub ofs: u16,
    pub n_bits: u16,
}

impl SubField {
    pub fn ofs_nbits(&self) -> u16 {
        (self.ofs << 6) | (self.n_bits.saturating_sub(1) & 0x3f)
    }

    pub fn from_ofs_nbits(field: FieldId, ofs_nbits: u16) -> Result<SubField, DecodeError> {
        let sf = SubField {
            field,
            ofs: ofs_nbits >> 6,
            n_bits: (ofs_nbits & 0x3f) + 1,
        };
        sf.check()?;
        Ok(sf)
    }

    /// The bits lie within the field.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.n_bits == 0 || u32::from(self.ofs) + u32::from(self.n_bits) > self.field.bits() {
            return Err(DecodeError::BadActionArgument(
                "bit range outside the field",
            ));
        }
        Ok(())
    }
}

/// One action.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `output:port` (`max_len` for the controller port).
    Output {
        port: u32,
        max_len: u16,
    },
    /// OpenFlow 1.0 `enqueue:port:queue`.
    Enqueue {
        port: u32,
        queue: u32,
    },
    SetVlanVid(u16),
    SetVlanPcp(u8),
    /// `strip_vlan` (1.0) / `pop_vlan` (1.1+).
    PopVlan,
    PushVlan(u16),
    SetDlSrc([u8; 6]),
    SetDlDst([u8; 6]),
    SetNwSrc(u32),
    SetNwDst(u32),
    SetNwTos(u8),
    SetTpSrc(u16),
    SetTpDst(u16),
    SetQueue(u32),
    Group(u32),
    SetNwTtl(u8),
    DecNwTtl,
    /// `set_field:value[/mask]->field` (OpenFlow 1.2+ `OFPAT_SET_FIELD`; OVS encodes a masked
    /// one as `NXAST_REG_LOAD2` before 1.5).
    SetField(MatchEntry),
    /// `copy_field` (OpenFlow 1.5; the ONF extension 3200 in 1.3/1.4).
    CopyField {
        n_bits: u16,
        src_ofs: u16,
        dst_ofs: u16,
        src: FieldId,
        dst: FieldId,
    },
    /// OpenFlow 1.5 meter action.
    Meter(u32),
    /// Any of the Nicira extension actions.
    Nx(NxAction),
}

/// Standard action type numbers for a version.
mod at {
    pub const OUTPUT: u16 = 0;
    pub const EXPERIMENTER: u16 = 0xffff;
    // OpenFlow 1.0.
    pub const V10_SET_VLAN_VID: u16 = 1;
    pub const V10_SET_VLAN_PCP: u16 = 2;
    pub const V10_STRIP_VLAN: u16 = 3;
    pub const V10_SET_DL_SRC: u16 = 4;
    pub const V10_SET_DL_DST: u16 = 5;
    pub const V10_SET_NW_SRC: u16 = 6;
    pub const V10_SET_NW_DST: u16 = 7;
    pub const V10_SET_NW_TOS: u16 = 8;
    pub const V10_SET_TP_SRC: u16 = 9;
    pub const V10_SET_TP_DST: u16 = 10;
    pub const V10_ENQUEUE: u16 = 11;
    // OpenFlow 1.1+.
    pub const SET_VLAN_VID: u16 = 1;
    pub const SET_VLAN_PCP: u16 = 2;
    pub const SET_DL_SRC: u16 = 3;
    pub const SET_DL_DST: u16 = 4;
    pub const SET_NW_SRC: u16 = 5;
    pub const SET_NW_DST: u16 = 6;
    pub const SET_NW_TOS: u16 = 7;
    pub const SET_TP_SRC: u16 = 9;
    pub const SET_TP_DST: u16 = 10;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const SET_QUEUE: u16 = 21;
    pub const GROUP: u16 = 22;
    pub const SET_NW_TTL: u16 = 23;
    pub const DEC_NW_TTL: u16 = 24;
    pub const SET_FIELD: u16 = 25;
    pub const COPY_FIELD: u16 = 28;
    pub const METER: u16 = 29;
}

/// ONF's experimenter action number for `copy_field` in OpenFlow 1.3/1.4.
const ONFACT_COPY_FIELD: u16 = 3200;

/// Reads a field header as Nicira actions embed it: 4 bytes, or 8 for experimenter classes.
/// The mask bit and length must be those of the unmasked field.
pub(crate) fn decode_field_header(r: &mut Reader<'_>) -> Result<FieldId, DecodeError> {
    let header = r.u32()?;
    let class = (header >> 16) as u16;
    let code = ((header >> 9) & 0x7f) as u8;
    let exp = if class == field::OFPXMC_EXPERIMENTER {
        r.u32()?
    } else {
        0
    };
    let f = FieldId::tun_metadata(class, code, header & 0xff)
        .or_else(|| FieldId::lookup(class, code, exp))
        .ok_or(DecodeError::BadField(header))?;
    if header & 0x100 != 0 || f.header(false) != header {
        return Err(DecodeError::BadField(header));
    }
    Ok(f)
}

pub(crate) fn encode_field_header(w: &mut Writer, f: FieldId) {
    w.u32(f.header(false));
    let exp = f.def().experimenter;
    if exp != 0 {
        w.u32(exp);
    }
}

/// Reads a list of actions filling `r`.
pub fn decode_actions(r: Reader<'_>, v: Version, depth: usize) -> Result<Vec<Action>, DecodeError> {
    if depth >= MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let mut r = r;
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(decode_action(&mut r, v, depth)?);
    }
    Ok(out)
}

/// Appends a list of actions.
pub fn encode_actions(w: &mut Writer, acts: &[Action], v: Version) -> Result<(), EncodeError> {
    for a in acts {
        encode_action(w, a, v)?;
    }
    Ok(())
}

fn decode_action(r: &mut Reader<'_>, v: Version, depth: usize) -> Result<Action, DecodeError> {
    let head = Reader::new(r.peek_rest(), "action header");
    let mut head = head;
    let typ = head.u16()?;
    let len = usize::from(head.u16()?);
    if len < 8 || len % 8 != 0 {
        return Err(DecodeError::BadActionLen(len));
    }
    let mut b = r.sub(len, "action")?;
    b.skip(4)?;
    let of10 = v == Version::Of10;
    let fixed = |want: usize| {
        if len == want {
            Ok(())
        } else {
            Err(DecodeError::BadActionLen(len))
        }
    };
    let act = match typ {
        at::OUTPUT if of10 => {
            fixed(8)?;
            Action::Output {
                port: port_from_of10(b.u16()?),
                max_len: b.u16()?,
            }
        }
        at::OUTPUT => {
            fixed(16)?;
            Action::Output {
                port: b.u32()?,
                max_len: b.u16()?,
            }
        }
        at::V10_ENQUEUE if of10 => {
            fixed(16)?;
            let port = port_from_of10(b.u16()?);
            b.skip(6)?;
            Action::Enqueue {
                port,
                queue: b.u32()?,
            }
        }
        at::SET_VLAN_VID => {
            fixed(8)?;
            Action::SetVlanVid(b.u16()?)
        }
        at::SET_VLAN_PCP => {
            fixed(8)?;
            Action::SetVlanPcp(b.u8()?)
        }
        at::V10_STRIP_VLAN if of10 => {
            fixed(8)?;
            Action::PopVlan
        }
        at::V10_SET_DL_SRC | at::V10_SET_DL_DST if of10 => {
            fixed(16)?;
            let mac = b.array()?;
            if typ == at::V10_SET_DL_SRC {
                Action::SetDlSrc(mac)
            } else {
                Action::SetDlDst(mac)
            }
        }
        at::SET_DL_SRC | at::SET_DL_DST if !of10 => {
            fixed(16)?;
            let mac = b.array()?;
            if typ == at::SET_DL_SRC {
                Action::SetDlSrc(mac)
            } else {
                Action::SetDlDst(mac)
            }
        }
        at::V10_SET_NW_SRC if of10 => Action::SetNwSrc(fixed(8).and_then(|_| b.u32())?),
        at::V10_SET_NW_DST if of10 => Action::SetNwDst(fixed(8).and_then(|_| b.u32())?),
        at::V10_SET_NW_TOS if of10 => Action::SetNwTos(fixed(8).and_then(|_| b.u8())?),
        at::SET_NW_SRC if !of10 => Action::SetNwSrc(fixed(8).and_then(|_| b.u32())?),
        at::SET_NW_DST if !of10 => Action::SetNwDst(fixed(8).and_then(|_| b.u32())?),
        at::SET_NW_TOS if !of10 => Action::SetNwTos(fixed(8).and_then(|_| b.u8())?),
        at::SET_TP_SRC => Action::SetTpSrc(fixed(8).and_then(|_| b.u16())?),
        at::SET_TP_DST => Action::SetTpDst(fixed(8).and_then(|_| b.u16())?),
        at::PUSH_VLAN if !of10 => Action::PushVlan(fixed(8).and_then(|_| b.u16())?),
        at::POP_VLAN if !of10 => {
            fixed(8)?;
            Action::PopVlan
        }
        at::SET_QUEUE if !of10 => Action::SetQueue(fixed(8).and_then(|_| b.u32())?),
        at::GROUP if !of10 => Action::Group(fixed(8).and_then(|_| b.u32())?),
        at::SET_NW_TTL if !of10 => Action::SetNwTtl(fixed(8).and_then(|_| b.u8())?),
        at::DEC_NW_TTL if !of10 => {
            fixed(8)?;
            Action::DecNwTtl
        }
        at::SET_FIELD if !of10 => {
            let e = field::decode_entry(&mut b)?;
            if e.mask.is_some() && v < Version::Of15 {
                return Err(DecodeError::BadActionArgument(
                    "masked set_field before OpenFlow 1.5",
                ));
            }
            Action::SetField(e)
        }
        at::COPY_FIELD if v >= Version::Of15 => decode_copy_field(&mut b)?,
        at::METER if v >= Version::Of15 => Action::Meter(fixed(8).and_then(|_| b.u32())?),
        at::EXPERIMENTER => {
            let exp = b.u32()?;
            match exp {
                NX_VENDOR => nx::decode(&mut b, v, depth)?,
                ONF_VENDOR if v >= Version::Of13 => {
                    let sub = b.u16()?;
                    if sub != ONFACT_COPY_FIELD {
                        return Err(DecodeError::BadActionSubtype(sub));
                    }
                    b.skip(2)?;
                    decode_copy_field(&mut b)?
                }
                _ => return Err(DecodeError::BadActionExperimenter(exp)),
            }
        }
        _ => return Err(DecodeError::BadActionType(typ)),
    };
    Ok(act)
}

fn decode_copy_field(b: &mut Reader<'_>) -> Result<Action, DecodeError> {
    let n_bits = b.u16()?;
    let src_ofs = b.u16()?;
    let dst_ofs = b.u16()?;
    b.skip(2)?;
    let src = decode_field_header(b)?;
    let dst = decode_field_header(b)?;
    for (f, ofs) in [(src, src_ofs), (dst, dst_ofs)] {
        SubField {
            field: f,
            ofs,
            n_bits,
        }
        .check()?;
    }
    Ok(Action::CopyField {
        n_bits,
        src_ofs,
        dst_ofs,
        src,
        dst,
    })
}

/// Starts an action: type and a length slot; returns the start offset.
pub(crate) fn begin(w: &mut Writer, typ: u16) -> usize {
    let start = w.len();
    w.u16(typ);
    w.u16(0);
    start
}

/// Pads the action to 8 and fills its length.
pub(crate) fn finish(w: &mut Writer, start: usize) -> Result<(), EncodeError> {
    w.pad8_from(start);
    w.patch_len(start + 2, start)
}

fn encode_action(w: &mut Writer, a: &Action, v: Version) -> Result<(), EncodeError> {
    let of10 = v == Version::Of10;
    let pick = |v10: u16, v11: u16| if of10 { v10 } else { v11 };
    let not_in = |what| Err(EncodeError::NotInVersion(what, v));
    if of10 && let Some(done) = nx::encode_of10_as_nx(w, a) {
        return done;
    }
    match a {
        Action::Output { port, max_len } => {
            let s = begin(w, at::OUTPUT);
            if of10 {
                w.u16(of10_port(*port)?);
                w.u16(*max_len);
            } else {
                w.u32(*port);
                w.u16(*max_len);
            }
            finish(w, s)
        }
        Action::Enqueue { port, queue } => {
            if !of10 {
                return not_in("enqueue");
            }
            let s = begin(w, at::V10_ENQUEUE);
            w.u16(of10_port(*port)?);
            w.zeros(6);
            w.u32(*queue);
            finish(w, s)
        }
        Action::SetVlanVid(vid) => {
            let s = begin(w, pick(at::V10_SET_VLAN_VID, at::SET_VLAN_VID));
            w.u16(*vid);
            finish(w, s)
        }
        Action::SetVlanPcp(pcp) => {
            let s = begin(w, pick(at::V10_SET_VLAN_PCP, at::SET_VLAN_PCP));
            w.u8(*pcp);
            finish(w, s)
        }
        Action::PopVlan => {
            let s = begin(w, pick(at::V10_STRIP_VLAN, at::POP_VLAN));
            finish(w, s)
        }
        Action::PushVlan(tpid) => {
            if of10 {
                return not_in("push_vlan");
            }
            let s = begin(w, at::PUSH_VLAN);
            w.u16(*tpid);
            finish(w, s)
        }
        Action::SetDlSrc(mac) | Action::SetDlDst(mac) => {
            let src = matches!(a, Action::SetDlSrc(_));
            let typ = match (of10, src) {
                (true, true) => at::V10_SET_DL_SRC,
                (true, false) => at::V10_SET_DL_DST,
                (false, true) => at::SET_DL_SRC,
                (false, false) => at::SET_DL_DST,
            };
            let s = begin(w, typ);
            w.bytes(mac);
            finish(w, s)
        }
        Action::SetNwSrc(ip) | Action::SetNwDst(ip) => {
            let typ = match (of10, matches!(a, Action::SetNwSrc(_))) {
                (true, true) => at::V10_SET_NW_SRC,
                (true, false) => at::V10_SET_NW_DST,
                (false, true) => at::SET_NW_SRC,
                (false, false) => at::SET_NW_DST,
            };
            let s = begin(w, typ);
            w.u32(*ip);
            finish(w, s)
        }
        Action::SetNwTos(tos) => {
            let s = begin(w, pick(at::V10_SET_NW_TOS, at::SET_NW_TOS));
            w.u8(*tos);
            finish(w, s)
        }
        Action::SetTpSrc(p) | Action::SetTpDst(p) => {
            let typ = if matches!(a, Action::SetTpSrc(_)) {
                pick(at::V10_SET_TP_SRC, at::SET_TP_SRC)
            } else {
                pick(at::V10_SET_TP_DST, at::SET_TP_DST)
            };
            let s = begin(w, typ);
            w.u16(*p);
            finish(w, s)
        }
        Action::SetQueue(q) if !of10 => {
            let s = begin(w, at::SET_QUEUE);
            w.u32(*q);
            finish(w, s)
        }
        Action::Group(g) if !of10 => {
            let s = begin(w, at::GROUP);
            w.u32(*g);
            finish(w, s)
        }
        Action::SetQueue(_) => not_in("set_queue (standard form)"),
        Action::Group(_) => not_in("group"),
        Action::SetNwTtl(t) => {
            if of10 {
                return not_in("set_nw_ttl");
            }
            let s = begin(w, at::SET_NW_TTL);
            w.u8(*t);
            finish(w, s)
        }
        Action::DecNwTtl => {
            if of10 {
                return not_in("dec_ttl (standard form)");
            }
            let s = begin(w, at::DEC_NW_TTL);
            finish(w, s)
        }
        Action::SetField(e) => {
            if of10 || (e.mask.is_some() && v < Version::Of15) {
                return not_in("set_field");
            }
            let s = begin(w, at::SET_FIELD);
            field::encode_entry(w, e);
            finish(w, s)
        }
        Action::CopyField {
            n_bits,
            src_ofs,
            dst_ofs,
            src,
            dst,
        } => {
            let s = match v {
                Version::Of10 => return not_in("copy_field"),
                Version::Of13 | Version::Of14 => {
                    let s = begin(w, at::EXPERIMENTER);
                    w.u32(ONF_VENDOR);
                    w.u16(ONFACT_COPY_FIELD);
                    w.zeros(2);
                    s
                }
                Version::Of15 => begin(w, at::COPY_FIELD),
            };
            w.u16(*n_bits);
            w.u16(*src_ofs);
            w.u16(*dst_ofs);
            w.zeros(2);
            encode_field_header(w, *src);
            encode_field_header(w, *dst);
            finish(w, s)
        }
        Action::Meter(m) => {
            if v < Version::Of15 {
                return not_in("meter action");
            }
            let s = begin(w, at::METER);
            w.u32(*m);
            finish(w, s)
        }
        Action::Nx(nx) => nx::encode(w, nx, v),
    }
}

/// The length an action list occupies (for callers that need it ahead of encoding).
pub fn encoded_len(acts: &[Action], v: Version) -> Result<usize, EncodeError> {
    let mut w = Writer::new();
    encode_actions(&mut w, acts, v)?;
    Ok(round8(w.len()))
}

#[cfg(test)]
mod tests;
