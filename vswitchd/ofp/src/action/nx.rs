//! Nicira extension actions (`NXAST_*`, experimenter 0x00002320).
//!
//! Layouts follow OVS 3.1's `ofp-actions.c`. Each body follows the 10-byte header (type, len,
//! vendor, subtype); lengths are checked against the layout before any field is read, and
//! fields embedded as NXM headers must name known fields with bit ranges inside them.

use super::{
    Action, MAX_DEPTH, SubField, begin, decode_actions, decode_field_header, encode_actions,
    encode_field_header, finish, port_from_of10, port_to_of10,
};
use crate::error::NX_VENDOR;
use crate::field::{self, FieldId, MatchEntry};
use crate::prop;
use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Version};

/// `NXAST_*` subtypes.
pub mod nxast {
    pub const RESUBMIT: u16 = 1;
    pub const SET_TUNNEL: u16 = 2;
    pub const SET_QUEUE: u16 = 4;
    pub const POP_QUEUE: u16 = 5;
    pub const REG_MOVE: u16 = 6;
    pub const REG_LOAD: u16 = 7;
    pub const NOTE: u16 = 8;
    pub const SET_TUNNEL64: u16 = 9;
    pub const MULTIPATH: u16 = 10;
    pub const BUNDLE: u16 = 12;
    pub const BUNDLE_LOAD: u16 = 13;
    pub const RESUBMIT_TABLE: u16 = 14;
    pub const OUTPUT_REG: u16 = 15;
    pub const LEARN: u16 = 16;
    pub const EXIT: u16 = 17;
    pub const DEC_TTL: u16 = 18;
    pub const FIN_TIMEOUT: u16 = 19;
    pub const CONTROLLER: u16 = 20;
    pub const DEC_TTL_CNT_IDS: u16 = 21;
    pub const WRITE_METADATA: u16 = 22;
    pub const STACK_PUSH: u16 = 27;
    pub const STACK_POP: u16 = 28;
    pub const SAMPLE: u16 = 29;
    pub const REG_LOAD2: u16 = 33;
    pub const CONJUNCTION: u16 = 34;
    pub const CT: u16 = 35;
    pub const NAT: u16 = 36;
    pub const CONTROLLER2: u16 = 37;
    pub const OUTPUT_TRUNC: u16 = 39;
    pub const GROUP: u16 = 40;
    pub const CLONE: u16 = 42;
    pub const CT_CLEAR: u16 = 43;
    pub const RESUBMIT_TABLE_CT: u16 = 44;
    pub const CHECK_PKT_LARGER: u16 = 49;
}

/// Where `ct(zone=...)` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtZoneSrc {
    Imm(u16),
    Field(SubField),
}

/// `ct(...)` (`NXAST_CT`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ct {
    /// `NX_CT_F_COMMIT` (1), `NX_CT_F_FORCE` (2).
    pub flags: u16,
    pub zone: CtZoneSrc,
    /// 255: no recirculation.
    pub recirc_table: u8,
    pub alg: u16,
    /// `exec(...)` actions, `nat` among them.
    pub actions: Vec<Action>,
}

/// `nat(...)` (`NXAST_NAT`): ranges are (min, optional max).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Nat {
    /// `NX_NAT_F_SRC` 1, `DST` 2, `PERSISTENT` 4, `PROTO_HASH` 8, `PROTO_RANDOM` 16.
    pub flags: u16,
    pub ipv4: Option<(u32, Option<u32>)>,
    pub ipv6: Option<(u128, Option<u128>)>,
    pub proto: Option<(u16, Option<u16>)>,
}

/// `controller2` properties (`NXAST_CONTROLLER2`); absent ones take OVS's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Controller2 {
    pub max_len: Option<u16>,
    pub controller_id: Option<u16>,
    pub reason: Option<u8>,
    pub userdata: Option<Vec<u8>>,
    pub pause: bool,
    pub meter_id: Option<u32>,
}

/// Where a `learn` spec takes its bits from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    Field {
        field: FieldId,
        ofs: u16,
    },
    /// The immediate, `2 * ceil(n_bits / 16)` bytes as on the wire.
    Imm(Vec<u8>),
}

/// What a `learn` spec does with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LearnDst {
    Match { field: FieldId, ofs: u16 },
    Load { field: FieldId, ofs: u16 },
    Output,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LearnSpec {
    pub n_bits: u16,
    pub src: LearnSrc,
    pub dst: LearnDst,
}

/// `learn(...)` (`NXAST_LEARN`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Learn {
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub cookie: u64,
    pub flags: u16,
    pub table_id: u8,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    pub specs: Vec<LearnSpec>,
}

/// `bundle(...)` / `bundle_load(...)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bundle {
    pub algorithm: u16,
    pub fields: u16,
    pub basis: u16,
    /// The header of the member-port field (`NXM_OF_IN_PORT`).
    pub member_type: u32,
    pub members: Vec<u16>,
    /// `bundle_load`: where the chosen member is written.
    pub load: Option<SubField>,
}

/// A Nicira action that has no standard equivalent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NxAction {
    /// `resubmit([port],[table][,ct])`; `table` 255 means "this table".
    Resubmit {
        in_port: u32,
        table: u8,
        ct: bool,
    },
    SetTunnel(u32),
    SetTunnel64(u64),
    PopQueue,
    /// `move:src[..]->dst[..]`.
    RegMove {
        n_bits: u16,
        src_ofs: u16,
        dst_ofs: u16,
        src: FieldId,
        dst: FieldId,
    },
    /// `load:value->dst[..]`.
    RegLoad {
        dst: SubField,
        value: u64,
    },
    /// `set_field` with a mask before OpenFlow 1.5 (`NXAST_REG_LOAD2`).
    RegLoad2(MatchEntry),
    /// `note:..`; trailing zero bytes (the padding) are not kept.
    Note(Vec<u8>),
    Multipath {
        fields: u16,
        basis: u16,
        algorithm: u16,
        max_link: u16,
        arg: u32,
        dst: SubField,
    },
    Bundle(Bundle),
    OutputReg {
        src: SubField,
        max_len: u16,
    },
    Learn(Learn),
    Exit,
    DecTtlCntIds(Vec<u16>),
    FinTimeout {
        idle: u16,
        hard: u16,
    },
    Controller {
        max_len: u16,
        controller_id: u16,
        reason: u8,
    },
    Controller2(Controller2),
    WriteMetadata {
        metadata: u64,
        mask: u64,
    },
    StackPush(SubField),
    StackPop(SubField),
    Sample {
        probability: u16,
        collector_set_id: u32,
        obs_domain_id: u32,
        obs_point_id: u32,
    },
    Conjunction {
        clause: u8,
        n_clauses: u8,
        id: u32,
    },
    Ct(Ct),
    Nat(Nat),
    OutputTrunc {
        port: u32,
        max_len: u32,
    },
    Clone(Vec<Action>),
    CtClear,
    CheckPktLarger {
        pkt_len: u16,
        dst: SubField,
    },
}

fn zero_tail(r: &Reader<'_>) -> Result<(), DecodeError> {
    if r.peek_rest().iter().all(|&b| b == 0) {
        Ok(())
    } else {
        Err(DecodeError::BadActionArgument("nonzero padding"))
    }
}

/// Decodes the body after the vendor id (`r` starts at the subtype).
pub(super) fn decode(r: &mut Reader<'_>, v: Version, depth: usize) -> Result<Action, DecodeError> {
    let sub = r.u16()?;
    // Body length after the 10-byte header.
    let blen = r.remaining();
    let need = |n: usize| {
        if blen == n {
            Ok(())
        } else {
            Err(DecodeError::BadActionLen(blen + 10))
        }
    };
    let nx = |a| Ok(Action::Nx(a));
    match sub {
        nxast::RESUBMIT | nxast::RESUBMIT_TABLE | nxast::RESUBMIT_TABLE_CT => {
            need(6)?;
            let in_port = port_from_of10(r.u16()?);
            let table = if sub == nxast::RESUBMIT { 255 } else { r.u8()? };
            nx(NxAction::Resubmit {
                in_port,
                table,
                ct: sub == nxast::RESUBMIT_TABLE_CT,
            })
        }
        nxast::SET_TUNNEL => {
            need(6)?;
            r.skip(2)?;
            nx(NxAction::SetTunnel(r.u32()?))
        }
        nxast::SET_TUNNEL64 => {
            need(14)?;
            r.skip(6)?;
            nx(NxAction::SetTunnel64(r.u64()?))
        }
        nxast::SET_QUEUE => {
            need(6)?;
            r.skip(2)?;
            Ok(Action::SetQueue(r.u32()?))
        }
        nxast::GROUP => {
            need(6)?;
            r.skip(2)?;
            Ok(Action::Group(r.u32()?))
        }
        nxast::POP_QUEUE => need(6).and_then(|_| nx(NxAction::PopQueue)),
        nxast::EXIT => need(6).and_then(|_| nx(NxAction::Exit)),
        nxast::CT_CLEAR => need(6).and_then(|_| nx(NxAction::CtClear)),
        nxast::DEC_TTL => need(6).map(|_| Action::DecNwTtl),
        nxast::REG_MOVE => {
            let n_bits = r.u16()?;
            let src_ofs = r.u16()?;
            let dst_ofs = r.u16()?;
            let src = decode_field_header(r)?;
            let dst = decode_field_header(r)?;
            zero_tail(r)?;
            for (f, ofs) in [(src, src_ofs), (dst, dst_ofs)] {
                SubField {
                    field: f,
                    ofs,
                    n_bits,
                }
                .check()?;
            }
            nx(NxAction::RegMove {
                n_bits,
                src_ofs,
                dst_ofs,
                src,
                dst,
            })
        }
        nxast::REG_LOAD => {
            need(14)?;
            let ofs_nbits = r.u16()?;
            let f = decode_field_header(r)?;
            let dst = SubField::from_ofs_nbits(f, ofs_nbits)?;
            let value = r.u64()?;
            if dst.n_bits < 64 && value >> dst.n_bits != 0 {
                return Err(DecodeError::BadActionArgument(
                    "reg_load value wider than its field",
                ));
            }
            nx(NxAction::RegLoad { dst, value })
        }
        nxast::REG_LOAD2 => {
            r.skip(6)?;
            let e = field::decode_entry(r)?;
            zero_tail(r)?;
            nx(NxAction::RegLoad2(e))
        }
        nxast::NOTE => {
            let mut note = r.rest().to_vec();
            while note.last() == Some(&0) {
                note.pop();
            }
            nx(NxAction::Note(note))
        }
        nxast::MULTIPATH => {
            need(22)?;
            let fields = r.u16()?;
            let basis = r.u16()?;
            r.skip(2)?;
            let algorithm = r.u16()?;
            let max_link = r.u16()?;
            let arg = r.u32()?;
            r.skip(2)?;
            let ofs_nbits = r.u16()?;
            let f = decode_field_header(r)?;
            nx(NxAction::Multipath {
                fields,
                basis,
                algorithm,
                max_link,
                arg,
                dst: SubField::from_ofs_nbits(f, ofs_nbits)?,
            })
        }
        nxast::BUNDLE | nxast::BUNDLE_LOAD => {
            let algorithm = r.u16()?;
            let fields = r.u16()?;
            let basis = r.u16()?;
            let member_type = r.u32()?;
            let n = usize::from(r.u16()?);
            let ofs_nbits = r.u16()?;
            let dst = r.u32()?;
            r.skip(4)?;
            if r.remaining() < n * 2 {
                return Err(DecodeError::BadActionLen(blen + 10));
            }
            let mut members = Vec::with_capacity(n);
            for _ in 0..n {
                members.push(r.u16()?);
            }
            zero_tail(r)?;
            let load = if sub == nxast::BUNDLE_LOAD {
                let bytes = dst.to_be_bytes();
                let f = decode_field_header(&mut Reader::new(&bytes, "bundle_load dst"))?;
                Some(SubField::from_ofs_nbits(f, ofs_nbits)?)
            } else {
                if dst != 0 || ofs_nbits != 0 {
                    return Err(DecodeError::BadActionArgument("bundle with a destination"));
                }
                None
            };
            nx(NxAction::Bundle(Bundle {
                algorithm,
                fields,
                basis,
                member_type,
                members,
                load,
            }))
        }
        nxast::OUTPUT_REG => {
            need(14)?;
            let ofs_nbits = r.u16()?;
            let f = decode_field_header(r)?;
            let max_len = r.u16()?;
            zero_tail(r)?;
            nx(NxAction::OutputReg {
                src: SubField::from_ofs_nbits(f, ofs_nbits)?,
                max_len,
            })
        }
        nxast::LEARN => nx(NxAction::Learn(decode_learn(r)?)),
        nxast::DEC_TTL_CNT_IDS => {
            let n = usize::from(r.u16()?);
            r.skip(4)?;
            if r.remaining() < n * 2 {
                return Err(DecodeError::BadActionLen(blen + 10));
            }
            let mut ids = Vec::with_capacity(n);
            for _ in 0..n {
                ids.push(r.u16()?);
            }
            zero_tail(r)?;
            nx(NxAction::DecTtlCntIds(ids))
        }
        nxast::FIN_TIMEOUT => {
            need(6)?;
            nx(NxAction::FinTimeout {
                idle: r.u16()?,
                hard: r.u16()?,
            })
        }
        nxast::CONTROLLER => {
            need(6)?;
            let max_len = r.u16()?;
            let controller_id = r.u16()?;
            let reason = r.u8()?;
            nx(NxAction::Controller {
                max_len,
                controller_id,
                reason,
            })
        }
        nxast::CONTROLLER2 => {
            r.skip(6)?;
            nx(NxAction::Controller2(decode_controller2(r)?))
        }
        nxast::WRITE_METADATA => {
            need(22)?;
            r.skip(6)?;
            nx(NxAction::WriteMetadata {
                metadata: r.u64()?,
                mask: r.u64()?,
            })
        }
        nxast::STACK_PUSH | nxast::STACK_POP => {
            need(14)?;
            let ofs = r.u16()?;
            let field = decode_field_header(r)?;
            let n_bits = r.u16()?;
            zero_tail(r)?;
            let sf = SubField { field, ofs, n_bits };
            sf.check()?;
            nx(if sub == nxast::STACK_PUSH {
                NxAction::StackPush(sf)
            } else {
                NxAction::StackPop(sf)
            })
        }
        nxast::SAMPLE => {
            need(14)?;
            nx(NxAction::Sample {
                probability: r.u16()?,
                collector_set_id: r.u32()?,
                obs_domain_id: r.u32()?,
                obs_point_id: r.u32()?,
            })
        }
        nxast::CONJUNCTION => {
            need(6)?;
            let clause = r.u8()?;
            let n_clauses = r.u8()?;
            let id = r.u32()?;
            if !(2..=64).contains(&n_clauses) || clause >= n_clauses {
                return Err(DecodeError::BadActionArgument(
                    "conjunction clause out of range",
                ));
            }
            nx(NxAction::Conjunction {
                clause,
                n_clauses,
                id,
            })
        }
        nxast::CT => nx(NxAction::Ct(decode_ct(r, v, depth)?)),
        nxast::NAT => nx(NxAction::Nat(decode_nat(r)?)),
        nxast::OUTPUT_TRUNC => {
            need(6)?;
            nx(NxAction::OutputTrunc {
                port: port_from_of10(r.u16()?),
                max_len: r.u32()?,
            })
        }
        nxast::CLONE => {
            r.skip(6)?;
            let acts = decode_actions(Reader::new(r.rest(), "clone actions"), v, depth + 1)?;
            nx(NxAction::Clone(acts))
        }
        nxast::CHECK_PKT_LARGER => {
            need(14)?;
            let pkt_len = r.u16()?;
            let ofs = r.u16()?;
            let field = decode_field_header(r)?;
            zero_tail(r)?;
            let dst = SubField {
                field,
                ofs,
                n_bits: 1,
            };
            dst.check()?;
            nx(NxAction::CheckPktLarger { pkt_len, dst })
        }
        _ => Err(DecodeError::BadActionSubtype(sub)),
    }
}

fn decode_learn_subfield(r: &mut Reader<'_>) -> Result<(FieldId, u16), DecodeError> {
    let f = decode_field_header(r)?;
    Ok((f, r.u16()?))
}

fn decode_learn(r: &mut Reader<'_>) -> Result<Learn, DecodeError> {
    let idle_timeout = r.u16()?;
    let hard_timeout = r.u16()?;
    let priority = r.u16()?;
    let cookie = r.u64()?;
    let flags = r.u16()?;
    let table_id = r.u8()?;
    r.skip(1)?;
    let fin_idle_timeout = r.u16()?;
    let fin_hard_timeout = r.u16()?;
    let mut specs = Vec::new();
    while r.remaining() >= 2 {
        let header = r.u16()?;
        if header == 0 {
            break;
        }
        let n_bits = header & 0x3ff;
        if n_bits == 0 || header & 0xc400 != 0 {
            return Err(DecodeError::BadActionArgument("bad learn spec header"));
        }
        let src = if header & (1 << 13) == 0 {
            let (field, ofs) = decode_learn_subfield(r)?;
            SubField { field, ofs, n_bits }.check()?;
            LearnSrc::Field { field, ofs }
        } else {
            LearnSrc::Imm(r.bytes(2 * usize::from(n_bits).div_ceil(16))?)
        };
        let dst = match (header >> 11) & 3 {
            0 | 1 => {
                let (field, ofs) = decode_learn_subfield(r)?;
                SubField { field, ofs, n_bits }.check()?;
                if header & (1 << 11) == 0 {
                    LearnDst::Match { field, ofs }
                } else {
                    LearnDst::Load { field, ofs }
                }
            }
            2 if matches!(src, LearnSrc::Field { .. }) => LearnDst::Output,
            _ => return Err(DecodeError::BadActionArgument("bad learn spec destination")),
        };
        specs.push(LearnSpec { n_bits, src, dst });
    }
    zero_tail(r)?;
    Ok(Learn {
        idle_timeout,
        hard_timeout,
        priority,
        cookie,
        flags,
        table_id,
        fin_idle_timeout,
        fin_hard_timeout,
        specs,
    })
}

fn decode_controller2(r: &mut Reader<'_>) -> Result<Controller2, DecodeError> {
    let mut c = Controller2::default();
    let bad = || DecodeError::BadActionArgument("bad controller2 property");
    while !r.is_empty() {
        let (typ, mut p) = prop::decode(r)?;
        match typ {
            0 => c.max_len = Some(p.u16()?),
            1 => c.controller_id = Some(p.u16()?),
            2 => c.reason = Some(p.u8()?),
            3 => c.userdata = Some(p.rest().to_vec()),
            4 => c.pause = true,
            5 => c.meter_id = Some(p.u32()?),
            _ => return Err(bad()),
        }
        if !p.is_empty() {
            return Err(bad());
        }
    }
    Ok(c)
}

fn decode_ct(r: &mut Reader<'_>, v: Version, depth: usize) -> Result<Ct, DecodeError> {
    let flags = r.u16()?;
    let zone_src = r.u32()?;
    let zone_raw = r.u16()?;
    let recirc_table = r.u8()?;
    r.skip(3)?;
    let alg = r.u16()?;
    let zone = if zone_src == 0 {
        CtZoneSrc::Imm(zone_raw)
    } else {
        let bytes = zone_src.to_be_bytes();
        let f = decode_field_header(&mut Reader::new(&bytes, "ct zone_src"))?;
        CtZoneSrc::Field(SubField::from_ofs_nbits(f, zone_raw)?)
    };
    let actions = decode_actions(Reader::new(r.rest(), "ct actions"), v, depth + 1)?;
    Ok(Ct {
        flags,
        zone,
        recirc_table,
        alg,
        actions,
    })
}

fn decode_nat(r: &mut Reader<'_>) -> Result<Nat, DecodeError> {
    r.skip(2)?;
    let flags = r.u16()?;
    let present = r.u16()?;
    let bad = || DecodeError::BadActionArgument("bad nat range");
    if flags & !0x1f != 0 || (flags & 3) == 3 || (flags & 0x18) == 0x18 {
        return Err(DecodeError::BadActionArgument("bad nat flags"));
    }
    let has = |bit: u16| present & bit != 0;
    if present & !0x3f != 0
        || (has(2) && !has(1))
        || (has(8) && !has(4))
        || (has(32) && !has(16))
        || (has(1) && has(4))
        || (has(16) && !has(1) && !has(4))
    {
        return Err(bad());
    }
    let mut nat = Nat {
        flags,
        ..Nat::default()
    };
    if has(1) {
        let min = r.u32()?;
        let max = if has(2) { Some(r.u32()?) } else { None };
        nat.ipv4 = Some((min, max));
    }
    if has(4) {
        let min = u128::from_be_bytes(r.array()?);
        let max = if has(8) {
            Some(u128::from_be_bytes(r.array()?))
        } else {
            None
        };
        nat.ipv6 = Some((min, max));
    }
    if has(16) {
        let min = r.u16()?;
        let max = if has(32) { Some(r.u16()?) } else { None };
        nat.proto = Some((min, max));
    }
    zero_tail(r)?;
    Ok(nat)
}

/// Starts a Nicira action.
fn nx_begin(w: &mut Writer, sub: u16) -> usize {
    let s = begin(w, 0xffff);
    w.u32(NX_VENDOR);
    w.u16(sub);
    s
}

fn of10_port(p: u32, v: Version) -> Result<u16, EncodeError> {
    port_to_of10(p).ok_or(EncodeError::NotInVersion(
        "a 32-bit port in a Nicira action",
        v,
    ))
}

/// Encodes the standard actions that OpenFlow 1.0 carries as Nicira actions.
pub(super) fn encode_of10_as_nx(w: &mut Writer, a: &Action) -> Option<Result<(), EncodeError>> {
    let (sub, arg) = match a {
        Action::SetQueue(q) => (nxast::SET_QUEUE, Some(*q)),
        Action::Group(g) => (nxast::GROUP, Some(*g)),
        Action::DecNwTtl => (nxast::DEC_TTL, None),
        _ => return None,
    };
    let s = nx_begin(w, sub);
    if let Some(arg) = arg {
        w.zeros(2);
        w.u32(arg);
    }
    Some(finish(w, s))
}

pub(super) fn encode(w: &mut Writer, a: &NxAction, v: Version) -> Result<(), EncodeError> {
    let s;
    match a {
        NxAction::Resubmit { in_port, table, ct } => {
            let sub = match (*table, *ct) {
                (_, true) => nxast::RESUBMIT_TABLE_CT,
                (255, false) => nxast::RESUBMIT,
                _ => nxast::RESUBMIT_TABLE,
            };
            s = nx_begin(w, sub);
            w.u16(of10_port(*in_port, v)?);
            if sub != nxast::RESUBMIT {
                w.u8(*table);
            }
        }
        NxAction::SetTunnel(id) => {
            s = nx_begin(w, nxast::SET_TUNNEL);
            w.zeros(2);
            w.u32(*id);
        }
        NxAction::SetTunnel64(id) => {
            s = nx_begin(w, nxast::SET_TUNNEL64);
            w.zeros(6);
            w.u64(*id);
        }
        NxAction::PopQueue => s = nx_begin(w, nxast::POP_QUEUE),
        NxAction::Exit => s = nx_begin(w, nxast::EXIT),
        NxAction::CtClear => s = nx_begin(w, nxast::CT_CLEAR),
        NxAction::RegMove {
            n_bits,
            src_ofs,
            dst_ofs,
            src,
            dst,
        } => {
            s = nx_begin(w, nxast::REG_MOVE);
            w.u16(*n_bits);
            w.u16(*src_ofs);
            w.u16(*dst_ofs);
            encode_field_header(w, *src);
            encode_field_header(w, *dst);
        }
        NxAction::RegLoad { dst, value } => {
            s = nx_begin(w, nxast::REG_LOAD);
            w.u16(dst.ofs_nbits());
            w.u32(dst.field.header(false));
            w.u64(*value);
        }
        NxAction::RegLoad2(e) => {
            s = nx_begin(w, nxast::REG_LOAD2);
            w.zeros(6);
            field::encode_entry(w, e);
        }
        NxAction::Note(note) => {
            s = nx_begin(w, nxast::NOTE);
            w.bytes(note);
            // At least six bytes of note, as OVS writes.
            if note.len() < 6 {
                w.zeros(6 - note.len());
            }
        }
        NxAction::Multipath {
            fields,
            basis,
            algorithm,
            max_link,
            arg,
            dst,
        } => {
            s = nx_begin(w, nxast::MULTIPATH);
            w.u16(*fields);
            w.u16(*basis);
            w.zeros(2);
            w.u16(*algorithm);
            w.u16(*max_link);
            w.u32(*arg);
            w.zeros(2);
            w.u16(dst.ofs_nbits());
            w.u32(dst.field.header(false));
        }
        NxAction::Bundle(b) => {
            s = nx_begin(
                w,
                if b.load.is_some() {
                    nxast::BUNDLE_LOAD
                } else {
                    nxast::BUNDLE
                },
            );
            w.u16(b.algorithm);
            w.u16(b.fields);
            w.u16(b.basis);
            w.u32(b.member_type);
            w.u16(u16::try_from(b.members.len()).map_err(|_| EncodeError::TooLong)?);
            w.u16(b.load.map_or(0, |l| l.ofs_nbits()));
            w.u32(b.load.map_or(0, |l| l.field.header(false)));
            w.zeros(4);
            for m in &b.members {
                w.u16(*m);
            }
        }
        NxAction::OutputReg { src, max_len } => {
            s = nx_begin(w, nxast::OUTPUT_REG);
            w.u16(src.ofs_nbits());
            w.u32(src.field.header(false));
            w.u16(*max_len);
        }
        NxAction::Learn(l) => {
            s = nx_begin(w, nxast::LEARN);
            encode_learn(w, l)?;
        }
        NxAction::DecTtlCntIds(ids) => {
            s = nx_begin(w, nxast::DEC_TTL_CNT_IDS);
            w.u16(u16::try_from(ids.len()).map_err(|_| EncodeError::TooLong)?);
            w.zeros(4);
            for id in ids {
                w.u16(*id);
            }
        }
        NxAction::FinTimeout { idle, hard } => {
            s = nx_begin(w, nxast::FIN_TIMEOUT);
            w.u16(*idle);
            w.u16(*hard);
        }
        NxAction::Controller {
            max_len,
            controller_id,
            reason,
        } => {
            s = nx_begin(w, nxast::CONTROLLER);
            w.u16(*max_len);
            w.u16(*controller_id);
            w.u8(*reason);
        }
        NxAction::Controller2(c) => {
            s = nx_begin(w, nxast::CONTROLLER2);
            w.zeros(6);
            if let Some(m) = c.max_len {
                prop::put(w, 0, &m.to_be_bytes())?;
            }
            if let Some(id) = c.controller_id {
                prop::put(w, 1, &id.to_be_bytes())?;
            }
            if let Some(r) = c.reason {
                prop::put(w, 2, &[r])?;
            }
            if let Some(u) = &c.userdata {
                prop::put(w, 3, u)?;
            }
            if c.pause {
                prop::put(w, 4, &[])?;
            }
            if let Some(m) = c.meter_id {
                prop::put(w, 5, &m.to_be_bytes())?;
            }
        }
        NxAction::WriteMetadata { metadata, mask } => {
            s = nx_begin(w, nxast::WRITE_METADATA);
            w.zeros(6);
            w.u64(*metadata);
            w.u64(*mask);
        }
        NxAction::StackPush(sf) | NxAction::StackPop(sf) => {
            let sub = if matches!(a, NxAction::StackPush(_)) {
                nxast::STACK_PUSH
            } else {
                nxast::STACK_POP
            };
            s = nx_begin(w, sub);
            w.u16(sf.ofs);
            encode_field_header(w, sf.field);
            w.u16(sf.n_bits);
            // The body is 14 bytes whatever the header's size.
            let used = w.len() - s;
            if used < 24 {
                w.zeros(24 - used);
            }
        }
        NxAction::Sample {
            probability,
            collector_set_id,
            obs_domain_id,
            obs_point_id,
        } => {
            s = nx_begin(w, nxast::SAMPLE);
            w.u16(*probability);
            w.u32(*collector_set_id);
            w.u32(*obs_domain_id);
            w.u32(*obs_point_id);
        }
        NxAction::Conjunction {
            clause,
            n_clauses,
            id,
        } => {
            s = nx_begin(w, nxast::CONJUNCTION);
            w.u8(*clause);
            w.u8(*n_clauses);
            w.u32(*id);
        }
        NxAction::Ct(ct) => {
            s = nx_begin(w, nxast::CT);
            w.u16(ct.flags);
            match ct.zone {
                CtZoneSrc::Imm(z) => {
                    w.u32(0);
                    w.u16(z);
                }
                CtZoneSrc::Field(sf) => {
                    w.u32(sf.field.header(false));
                    w.u16(sf.ofs_nbits());
                }
            }
            w.u8(ct.recirc_table);
            w.zeros(3);
            w.u16(ct.alg);
            encode_actions(w, &ct.actions, v)?;
        }
        NxAction::Nat(n) => {
            s = nx_begin(w, nxast::NAT);
            w.zeros(2);
            w.u16(n.flags);
            let mut present = 0u16;
            if let Some((_, max)) = n.ipv4 {
                present |= 1 | if max.is_some() { 2 } else { 0 };
            }
            if let Some((_, max)) = n.ipv6 {
                present |= 4 | if max.is_some() { 8 } else { 0 };
            }
            if let Some((_, max)) = n.proto {
                present |= 16 | if max.is_some() { 32 } else { 0 };
            }
            w.u16(present);
            if let Some((min, max)) = n.ipv4 {
                w.u32(min);
                if let Some(max) = max {
                    w.u32(max);
                }
            }
            if let Some((min, max)) = n.ipv6 {
                w.bytes(&min.to_be_bytes());
                if let Some(max) = max {
                    w.bytes(&max.to_be_bytes());
                }
            }
            if let Some((min, max)) = n.proto {
                w.u16(min);
                if let Some(max) = max {
                    w.u16(max);
                }
            }
        }
        NxAction::OutputTrunc { port, max_len } => {
            s = nx_begin(w, nxast::OUTPUT_TRUNC);
            w.u16(of10_port(*port, v)?);
            w.u32(*max_len);
        }
        NxAction::Clone(acts) => {
            s = nx_begin(w, nxast::CLONE);
            w.zeros(6);
            encode_actions(w, acts, v)?;
        }
        NxAction::CheckPktLarger { pkt_len, dst } => {
            s = nx_begin(w, nxast::CHECK_PKT_LARGER);
            w.u16(*pkt_len);
            w.u16(dst.ofs);
            encode_field_header(w, dst.field);
            let used = w.len() - s;
            if used < 24 {
                w.zeros(24 - used);
            }
        }
    }
    // Fixed-size bodies shorter than 16 bytes overall still take 16.
    if w.len() - s < 16 {
        w.zeros(16 - (w.len() - s));
    }
    finish(w, s)
}

fn encode_learn(w: &mut Writer, l: &Learn) -> Result<(), EncodeError> {
    w.u16(l.idle_timeout);
    w.u16(l.hard_timeout);
    w.u16(l.priority);
    w.u64(l.cookie);
    w.u16(l.flags);
    w.u8(l.table_id);
    w.zeros(1);
    w.u16(l.fin_idle_timeout);
    w.u16(l.fin_hard_timeout);
    for spec in &l.specs {
        let mut header = spec.n_bits & 0x3ff;
        if matches!(spec.src, LearnSrc::Imm(_)) {
            header |= 1 << 13;
        }
        header |= match spec.dst {
            LearnDst::Match { .. } => 0,
            LearnDst::Load { .. } => 1 << 11,
            LearnDst::Output => 2 << 11,
        };
        w.u16(header);
        match &spec.src {
            LearnSrc::Field { field, ofs } => {
                encode_field_header(w, *field);
                w.u16(*ofs);
            }
            LearnSrc::Imm(bytes) => {
                if bytes.len() != 2 * usize::from(spec.n_bits).div_ceil(16) {
                    return Err(EncodeError::NotInVersion(
                        "a learn immediate of the wrong size",
                        Version::Of10,
                    ));
                }
                w.bytes(bytes);
            }
        }
        match spec.dst {
            LearnDst::Match { field, ofs } | LearnDst::Load { field, ofs } => {
                encode_field_header(w, field);
                w.u16(ofs);
            }
            LearnDst::Output => {}
        }
    }
    Ok(())
}

const _: () = assert!(MAX_DEPTH > 1);
