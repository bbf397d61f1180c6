//! Whole messages: the 8-byte header, the per-version type numbers, and every body.
//!
//! [`decode`] takes exactly one message (as [`frame_len`] delimited it) and returns its
//! [`Header`] and [`Message`]; [`encode`] writes a message with a version and xid, filling in
//! the length. Experimenter messages are dispatched on (experimenter id, subtype): Nicira's
//! `NXT_*` and, for OpenFlow 1.3, ONF's bundle messages (1.4 made them standard).
//!
//! A bundle-add message carries a whole inner message; it is decoded recursively, but an inner
//! bundle-add is refused, so recursion depth is one.

use crate::action::{decode_actions, encode_actions, port_from_of10, port_to_of10};
use crate::error::{ErrorCode, NX_VENDOR, NXET_VENDOR, OFPET_EXPERIMENTER, ONF_VENDOR, Triplet};
use crate::field::{self, FieldId, MatchEntry};
use crate::instruction::{Instruction, as_of10_actions, decode_instructions, encode_instructions};
use crate::match10::Match10;
use crate::multipart::{self, MpReply, MpRequest, of10_insts};
use crate::port::PortDesc;
use crate::wire::{Reader, Writer};
use crate::{Action, DecodeError, EncodeError, Version, prop};

mod body;
pub use body::*;

/// `ofp_header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub typ: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    pub const LEN: usize = 8;

    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf, "OpenFlow header");
        Ok(Header {
            version: r.u8()?,
            typ: r.u8()?,
            length: r.u16()?,
            xid: r.u32()?,
        })
    }
}

/// The length of the message at the start of `buf`: `Ok(None)` if fewer than 8 bytes are
/// there, an error if the header's length is below 8.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < Header::LEN {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if len < Header::LEN {
        return Err(DecodeError::BadLength {
            what: "message",
            len,
        });
    }
    Ok(Some(len))
}

/// A match in whichever form the message carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Match {
    /// OpenFlow 1.0's fixed `ofp_match`.
    Of10(Match10),
    /// OXM (1.1+) or NXM (Nicira messages) fields.
    Fields(Vec<MatchEntry>),
}

/// Every message this codec knows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// `hello`, with the version bitmap when it has one.
    Hello {
        bitmap: Option<u32>,
    },
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    FeaturesRequest,
    FeaturesReply(Features),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PacketIn(PacketIn),
    FlowRemoved(FlowRemoved),
    PortStatus {
        reason: u8,
        desc: PortDesc,
    },
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    /// `OFPT_GROUP_MOD` (OpenFlow 1.1+).
    GroupMod(crate::group::GroupMod),
    /// `OFPT_METER_MOD` (OpenFlow 1.3+).
    MeterMod(crate::meter::MeterMod),
    BarrierRequest,
    BarrierReply,
    MultipartRequest {
        flags: u16,
        body: MpRequest,
    },
    MultipartReply {
        flags: u16,
        body: MpReply,
    },
    RoleRequest(Role),
    RoleReply(Role),
    GetAsyncRequest,
    GetAsyncReply(AsyncConfig),
    SetAsync(AsyncConfig),
    BundleControl(BundleCtrl),
    BundleAdd(BundleAdd),
    // Nicira extensions.
    NxRoleRequest(u32),
    NxRoleReply(u32),
    NxSetFlowFormat(u32),
    NxFlowModTableId(bool),
    NxSetPacketInFormat(u32),
    NxSetControllerId(u16),
    NxFlowMod(FlowMod),
    NxPacketIn2(PacketIn2),
    NxResume(PacketIn2),
    NxTlvTableMod {
        command: u16,
        maps: Vec<TlvMap>,
    },
    NxTlvTableRequest,
    NxTlvTableReply {
        max_option_space: u32,
        max_fields: u16,
        maps: Vec<TlvMap>,
    },
    NxCtFlushZone(u16),
    /// `NXT_SET_ASYNC_CONFIG`: OpenFlow 1.3's set-async body, usable in every version.
    NxSetAsync(AsyncConfig),
}

/// `OFPT_*` numbers of OpenFlow 1.1+ (1.0 differs from 15 on; see [`type_number`]).
mod t {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    pub const EXPERIMENTER: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const GET_CONFIG_REQUEST: u8 = 7;
    pub const GET_CONFIG_REPLY: u8 = 8;
    pub const SET_CONFIG: u8 = 9;
    pub const PACKET_IN: u8 = 10;
    pub const FLOW_REMOVED: u8 = 11;
    pub const PORT_STATUS: u8 = 12;
    pub const PACKET_OUT: u8 = 13;
    pub const FLOW_MOD: u8 = 14;
    pub const GROUP_MOD: u8 = 15;
    pub const MULTIPART_REQUEST: u8 = 18;
    pub const MULTIPART_REPLY: u8 = 19;
    pub const BARRIER_REQUEST: u8 = 20;
    pub const BARRIER_REPLY: u8 = 21;
    pub const ROLE_REQUEST: u8 = 24;
    pub const ROLE_REPLY: u8 = 25;
    pub const GET_ASYNC_REQUEST: u8 = 26;
    pub const GET_ASYNC_REPLY: u8 = 27;
    pub const SET_ASYNC: u8 = 28;
    pub const METER_MOD: u8 = 29;
    pub const BUNDLE_CONTROL: u8 = 33;
    pub const BUNDLE_ADD: u8 = 34;
    // OpenFlow 1.0 numbers that differ.
    pub const V10_STATS_REQUEST: u8 = 16;
    pub const V10_STATS_REPLY: u8 = 17;
    pub const V10_BARRIER_REQUEST: u8 = 18;
    pub const V10_BARRIER_REPLY: u8 = 19;
}

/// `NXT_*` subtypes.
mod nxt {
    pub const ROLE_REQUEST: u32 = 10;
    pub const ROLE_REPLY: u32 = 11;
    pub const SET_FLOW_FORMAT: u32 = 12;
    pub const FLOW_MOD: u32 = 13;
    pub const FLOW_MOD_TABLE_ID: u32 = 15;
    pub const SET_PACKET_IN_FORMAT: u32 = 16;
    pub const SET_ASYNC_CONFIG: u32 = 19;
    pub const SET_CONTROLLER_ID: u32 = 20;
    pub const TLV_TABLE_MOD: u32 = 24;
    pub const TLV_TABLE_REQUEST: u32 = 25;
    pub const TLV_TABLE_REPLY: u32 = 26;
    pub const RESUME: u32 = 28;
    pub const CT_FLUSH_ZONE: u32 = 29;
    pub const PACKET_IN2: u32 = 30;
}

/// ONF experimenter message types used by OpenFlow 1.3.
const ONFT_BUNDLE_CONTROL: u32 = 2300;
const ONFT_BUNDLE_ADD: u32 = 2301;

/// Where a message goes on the wire.
enum Wire {
    Std(u8),
    Nx(u32),
    Onf(u32),
}

fn wire_of(m: &Message, v: Version) -> Result<Wire, EncodeError> {
    use Message as M;
    let of10 = v == Version::Of10;
    let only_after_10 = |ty: u8, what| {
        if of10 {
            Err(EncodeError::NotInVersion(what, v))
        } else {
            Ok(Wire::Std(ty))
        }
    };
    Ok(match m {
        M::Hello { .. } => Wire::Std(t::HELLO),
        M::Error(_) => Wire::Std(t::ERROR),
        M::EchoRequest(_) => Wire::Std(t::ECHO_REQUEST),
        M::EchoReply(_) => Wire::Std(t::ECHO_REPLY),
        M::FeaturesRequest => Wire::Std(t::FEATURES_REQUEST),
        M::FeaturesReply(_) => Wire::Std(t::FEATURES_REPLY),
        M::GetConfigRequest => Wire::Std(t::GET_CONFIG_REQUEST),
        M::GetConfigReply(_) => Wire::Std(t::GET_CONFIG_REPLY),
        M::SetConfig(_) => Wire::Std(t::SET_CONFIG),
        M::PacketIn(_) => Wire::Std(t::PACKET_IN),
        M::FlowRemoved(_) => Wire::Std(t::FLOW_REMOVED),
        M::PortStatus { .. } => Wire::Std(t::PORT_STATUS),
        M::PacketOut(_) => Wire::Std(t::PACKET_OUT),
        M::FlowMod(_) => Wire::Std(t::FLOW_MOD),
        M::GroupMod(_) => only_after_10(t::GROUP_MOD, "group-mod")?,
        M::MeterMod(_) => only_after_10(t::METER_MOD, "meter-mod")?,
        M::BarrierRequest => Wire::Std(if of10 {
            t::V10_BARRIER_REQUEST
        } else {
            t::BARRIER_REQUEST
        }),
        M::BarrierReply => Wire::Std(if of10 {
            t::V10_BARRIER_REPLY
        } else {
            t::BARRIER_REPLY
        }),
        M::MultipartRequest { .. } => Wire::Std(if of10 {
            t::V10_STATS_REQUEST
        } else {
            t::MULTIPART_REQUEST
        }),
        M::MultipartReply { .. } => Wire::Std(if of10 {
            t::V10_STATS_REPLY
        } else {
            t::MULTIPART_REPLY
        }),
        M::RoleRequest(_) => only_after_10(t::ROLE_REQUEST, "role request")?,
        M::RoleReply(_) => only_after_10(t::ROLE_REPLY, "role reply")?,
        M::GetAsyncRequest => only_after_10(t::GET_ASYNC_REQUEST, "get-async")?,
        M::GetAsyncReply(_) => only_after_10(t::GET_ASYNC_REPLY, "get-async reply")?,
        M::SetAsync(_) => only_after_10(t::SET_ASYNC, "set-async")?,
        M::BundleControl(_) | M::BundleAdd(_) => {
            let add = matches!(m, M::BundleAdd(_));
            match v {
                Version::Of10 => return Err(EncodeError::NotInVersion("bundles", v)),
                Version::Of13 => Wire::Onf(if add {
                    ONFT_BUNDLE_ADD
                } else {
                    ONFT_BUNDLE_CONTROL
                }),
                _ => Wire::Std(if add {
                    t::BUNDLE_ADD
                } else {
                    t::BUNDLE_CONTROL
                }),
            }
        }
        M::NxRoleRequest(_) => Wire::Nx(nxt::ROLE_REQUEST),
        M::NxRoleReply(_) => Wire::Nx(nxt::ROLE_REPLY),
        M::NxSetFlowFormat(_) => Wire::Nx(nxt::SET_FLOW_FORMAT),
        M::NxFlowModTableId(_) => Wire::Nx(nxt::FLOW_MOD_TABLE_ID),
        M::NxSetPacketInFormat(_) => Wire::Nx(nxt::SET_PACKET_IN_FORMAT),
        M::NxSetControllerId(_) => Wire::Nx(nxt::SET_CONTROLLER_ID),
        M::NxSetAsync(_) => Wire::Nx(nxt::SET_ASYNC_CONFIG),
        M::NxFlowMod(_) => Wire::Nx(nxt::FLOW_MOD),
        M::NxPacketIn2(_) => Wire::Nx(nxt::PACKET_IN2),
        M::NxResume(_) => Wire::Nx(nxt::RESUME),
        M::NxTlvTableMod { .. } => Wire::Nx(nxt::TLV_TABLE_MOD),
        M::NxTlvTableRequest => Wire::Nx(nxt::TLV_TABLE_REQUEST),
        M::NxTlvTableReply { .. } => Wire::Nx(nxt::TLV_TABLE_REPLY),
        M::NxCtFlushZone(_) => Wire::Nx(nxt::CT_FLUSH_ZONE),
    })
}

/// Decodes one complete message (`buf` is exactly `header.length` bytes).
pub fn decode(buf: &[u8]) -> Result<(Header, Message), DecodeError> {
    decode_nested(buf, 0)
}

fn decode_nested(buf: &[u8], depth: usize) -> Result<(Header, Message), DecodeError> {
    let h = Header::decode(buf)?;
    if usize::from(h.length) != buf.len() {
        return Err(DecodeError::BadLength {
            what: "message",
            len: usize::from(h.length),
        });
    }
    let mut r = Reader::new(buf, "message");
    r.skip(Header::LEN)?;
    // Hello and error are understood in any version, to negotiate and to report.
    let v = match Version::from_wire(h.version) {
        Some(v) => v,
        None if h.typ == t::HELLO => {
            return Ok((
                h,
                Message::Hello {
                    bitmap: decode_hello(r)?,
                },
            ));
        }
        None => return Err(DecodeError::BadVersion(h.version)),
    };
    let m = decode_body(&h, v, r, depth)?;
    Ok((h, m))
}

fn decode_hello(mut r: Reader<'_>) -> Result<Option<u32>, DecodeError> {
    let mut bitmap = None;
    while r.remaining() >= 4 {
        let typ = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(DecodeError::BadLength {
                what: "hello element",
                len,
            });
        }
        let mut e = r.sub(len - 4, "hello element")?;
        let pad = crate::wire::round8(len) - len;
        r.skip(pad.min(r.remaining()))?;
        if typ == 1 && bitmap.is_none() {
            bitmap = Some(e.u32()?);
        }
    }
    Ok(bitmap)
}

fn decode_body(
    h: &Header,
    v: Version,
    mut r: Reader<'_>,
    depth: usize,
) -> Result<Message, DecodeError> {
    use Message as M;
    let of10 = v == Version::Of10;
    let m = match h.typ {
        t::HELLO => M::Hello {
            bitmap: decode_hello(r)?,
        },
        t::ERROR => M::Error(ErrorMsg {
            typ: r.u16()?,
            code: r.u16()?,
            data: r.rest().to_vec(),
        }),
        t::ECHO_REQUEST => M::EchoRequest(r.rest().to_vec()),
        t::ECHO_REPLY => M::EchoReply(r.rest().to_vec()),
        t::EXPERIMENTER => return decode_experimenter(h, v, r, depth),
        t::FEATURES_REQUEST => M::FeaturesRequest,
        t::FEATURES_REPLY => M::FeaturesReply(Features::decode(&mut r, v)?),
        t::GET_CONFIG_REQUEST => M::GetConfigRequest,
        t::GET_CONFIG_REPLY => M::GetConfigReply(SwitchConfig::decode(&mut r)?),
        t::SET_CONFIG => M::SetConfig(SwitchConfig::decode(&mut r)?),
        t::PACKET_IN => M::PacketIn(PacketIn::decode(&mut r, v)?),
        t::FLOW_REMOVED => M::FlowRemoved(FlowRemoved::decode(&mut r, v)?),
        t::PORT_STATUS => {
            let reason = r.u8()?;
            r.skip(7)?;
            M::PortStatus {
                reason,
                desc: PortDesc::decode(&mut r, v)?,
            }
        }
        t::PACKET_OUT => M::PacketOut(PacketOut::decode(&mut r, v)?),
        t::FLOW_MOD => M::FlowMod(FlowMod::decode(&mut r, v)?),
        t::GROUP_MOD if !of10 => M::GroupMod(crate::group::GroupMod::decode(&mut r, v)?),
        t::METER_MOD if !of10 => M::MeterMod(crate::meter::MeterMod::decode(&mut r)?),
        t::V10_BARRIER_REQUEST if of10 => M::BarrierRequest,
        t::V10_BARRIER_REPLY if of10 => M::BarrierReply,
        t::BARRIER_REQUEST if !of10 => M::BarrierRequest,
        t::BARRIER_REPLY if !of10 => M::BarrierReply,
        t::V10_STATS_REQUEST | t::V10_STATS_REPLY if of10 => decode_multipart(h, v, r)?,
        t::MULTIPART_REQUEST | t::MULTIPART_REPLY if !of10 => decode_multipart(h, v, r)?,
        t::ROLE_REQUEST if !of10 => M::RoleRequest(Role::decode(&mut r)?),
        t::ROLE_REPLY if !of10 => M::RoleReply(Role::decode(&mut r)?),
        t::GET_ASYNC_REQUEST if !of10 => M::GetAsyncRequest,
        t::GET_ASYNC_REPLY if !of10 => M::GetAsyncReply(AsyncConfig::decode(&mut r, v)?),
        t::SET_ASYNC if !of10 => M::SetAsync(AsyncConfig::decode(&mut r, v)?),
        t::BUNDLE_CONTROL if v >= Version::Of14 => M::BundleControl(BundleCtrl::decode(&mut r)?),
        t::BUNDLE_ADD if v >= Version::Of14 => M::BundleAdd(BundleAdd::decode(&mut r, depth, v)?),
        other => return Err(DecodeError::BadType(other)),
    };
    Ok(m)
}

fn decode_multipart(h: &Header, v: Version, mut r: Reader<'_>) -> Result<Message, DecodeError> {
    let of10 = v == Version::Of10;
    let typ = r.u16()?;
    let flags = r.u16()?;
    if !of10 {
        r.skip(4)?;
    }
    let subtype = if typ == multipart::mp::EXPERIMENTER {
        let vendor = r.u32()?;
        if vendor != NX_VENDOR {
            return Err(DecodeError::BadExperimenter(vendor));
        }
        let sub = r.u32()?;
        r.skip(4)?;
        Some(sub)
    } else {
        None
    };
    let request = h.typ
        == if of10 {
            t::V10_STATS_REQUEST
        } else {
            t::MULTIPART_REQUEST
        };
    Ok(if request {
        Message::MultipartRequest {
            flags,
            body: multipart::decode_request(typ, subtype, r, v)?,
        }
    } else {
        Message::MultipartReply {
            flags,
            body: multipart::decode_reply(typ, subtype, r, v)?,
        }
    })
}

fn decode_experimenter(
    h: &Header,
    v: Version,
    mut r: Reader<'_>,
    depth: usize,
) -> Result<Message, DecodeError> {
    use Message as M;
    let vendor = r.u32()?;
    let sub = r.u32()?;
    if vendor == ONF_VENDOR && v == Version::Of13 {
        return match sub {
            ONFT_BUNDLE_CONTROL => Ok(M::BundleControl(BundleCtrl::decode(&mut r)?)),
            ONFT_BUNDLE_ADD => Ok(M::BundleAdd(BundleAdd::decode(&mut r, depth, v)?)),
            _ => Err(DecodeError::BadSubtype(sub)),
        };
    }
    if vendor != NX_VENDOR {
        return Err(DecodeError::BadExperimenter(vendor));
    }
    let _ = h;
    Ok(match sub {
        nxt::ROLE_REQUEST => M::NxRoleRequest(r.u32()?),
        nxt::ROLE_REPLY => M::NxRoleReply(r.u32()?),
        nxt::SET_FLOW_FORMAT => M::NxSetFlowFormat(r.u32()?),
        nxt::FLOW_MOD_TABLE_ID => {
            let set = r.u8()?;
            r.skip(7)?;
            M::NxFlowModTableId(set != 0)
        }
        nxt::SET_PACKET_IN_FORMAT => M::NxSetPacketInFormat(r.u32()?),
        nxt::SET_ASYNC_CONFIG => M::NxSetAsync(AsyncConfig::decode(&mut r, Version::Of13)?),
        nxt::SET_CONTROLLER_ID => {
            r.skip(6)?;
            M::NxSetControllerId(r.u16()?)
        }
        nxt::FLOW_MOD => M::NxFlowMod(FlowMod::decode_nx(&mut r)?),
        nxt::PACKET_IN2 => M::NxPacketIn2(PacketIn2::decode(&mut r)?),
        nxt::RESUME => M::NxResume(PacketIn2::decode(&mut r)?),
        nxt::TLV_TABLE_MOD => {
            let command = r.u16()?;
            r.skip(6)?;
            M::NxTlvTableMod {
                command,
                maps: TlvMap::decode_all(r)?,
            }
        }
        nxt::TLV_TABLE_REQUEST => M::NxTlvTableRequest,
        nxt::TLV_TABLE_REPLY => {
            let max_option_space = r.u32()?;
            let max_fields = r.u16()?;
            r.skip(10)?;
            M::NxTlvTableReply {
                max_option_space,
                max_fields,
                maps: TlvMap::decode_all(r)?,
            }
        }
        nxt::CT_FLUSH_ZONE => {
            let zone = r.u16()?;
            r.skip(6)?;
            M::NxCtFlushZone(zone)
        }
        _ => return Err(DecodeError::BadSubtype(sub)),
    })
}

/// Encodes `m` as an OpenFlow `v` message with transaction id `xid`.
pub fn encode(m: &Message, v: Version, xid: u32) -> Result<Vec<u8>, EncodeError> {
    let mut w = Writer::new();
    w.u8(v.wire());
    let wire = wire_of(m, v)?;
    w.u8(match wire {
        Wire::Std(t) => t,
        Wire::Nx(_) | Wire::Onf(_) => t::EXPERIMENTER,
    });
    w.u16(0);
    w.u32(xid);
    match wire {
        Wire::Nx(sub) => {
            w.u32(NX_VENDOR);
            w.u32(sub);
        }
        Wire::Onf(sub) => {
            w.u32(ONF_VENDOR);
            w.u32(sub);
        }
        Wire::Std(_) => {}
    }
    encode_body(&mut w, m, v)?;
    w.patch_len(2, 0)?;
    Ok(w.buf)
}

fn encode_body(w: &mut Writer, m: &Message, v: Version) -> Result<(), EncodeError> {
    use Message as M;
    let of10 = v == Version::Of10;
    match m {
        M::Hello { bitmap } => {
            if let Some(b) = bitmap {
                w.u16(1);
                w.u16(8);
                w.u32(*b);
            }
        }
        M::Error(e) => {
            w.u16(e.typ);
            w.u16(e.code);
            w.bytes(&e.data);
        }
        M::EchoRequest(d) | M::EchoReply(d) => w.bytes(d),
        M::FeaturesRequest
        | M::GetConfigRequest
        | M::BarrierRequest
        | M::BarrierReply
        | M::GetAsyncRequest
        | M::NxTlvTableRequest => {}
        M::FeaturesReply(f) => f.encode(w, v)?,
        M::GetConfigReply(c) | M::SetConfig(c) => c.encode(w),
        M::PacketIn(p) => p.encode(w, v)?,
        M::FlowRemoved(f) => f.encode(w, v)?,
        M::PortStatus { reason, desc } => {
            w.u8(*reason);
            w.zeros(7);
            desc.encode(w, v)?;
        }
        M::PacketOut(p) => p.encode(w, v)?,
        M::FlowMod(f) => f.encode(w, v)?,
        M::GroupMod(g) => g.encode(w, v)?,
        M::MeterMod(m) => m.encode(w, v)?,
        M::MultipartRequest { flags, body } => {
            let (typ, sub) = body.wire_type();
            mp_envelope(w, typ, *flags, sub, of10);
            multipart::encode_request(w, body, v)?;
        }
        M::MultipartReply { flags, body } => {
            let (typ, sub) = body.wire_type();
            mp_envelope(w, typ, *flags, sub, of10);
            multipart::encode_reply(w, body, v)?;
        }
        M::RoleRequest(r) | M::RoleReply(r) => r.encode(w),
        M::GetAsyncReply(a) | M::SetAsync(a) => a.encode(w, v)?,
        M::NxSetAsync(a) => a.encode(w, Version::Of13)?,
        M::BundleControl(b) => b.encode(w),
        M::BundleAdd(b) => b.encode(w, v)?,
        M::NxRoleRequest(x) | M::NxRoleReply(x) | M::NxSetFlowFormat(x) => w.u32(*x),
        M::NxSetPacketInFormat(x) => w.u32(*x),
        M::NxFlowModTableId(set) => {
            w.u8(u8::from(*set));
            w.zeros(7);
        }
        M::NxSetControllerId(id) => {
            w.zeros(6);
            w.u16(*id);
        }
        M::NxFlowMod(f) => f.encode_nx(w)?,
        M::NxPacketIn2(p) | M::NxResume(p) => p.encode(w)?,
        M::NxTlvTableMod { command, maps } => {
            w.u16(*command);
            w.zeros(6);
            TlvMap::encode_all(w, maps);
        }
        M::NxTlvTableReply {
            max_option_space,
            max_fields,
            maps,
        } => {
            w.u32(*max_option_space);
            w.u16(*max_fields);
            w.zeros(10);
            TlvMap::encode_all(w, maps);
        }
        M::NxCtFlushZone(z) => {
            w.u16(*z);
            w.zeros(6);
        }
    }
    Ok(())
}

fn mp_envelope(w: &mut Writer, typ: u16, flags: u16, sub: Option<u32>, of10: bool) {
    w.u16(typ);
    w.u16(flags);
    if !of10 {
        w.zeros(4);
    }
    if let Some(sub) = sub {
        w.u32(NX_VENDOR);
        w.u32(sub);
        w.zeros(4);
    }
}

impl ErrorMsg {
    /// The error message reporting `code` about the message `offending` (OVS includes up to
    /// 64 bytes of it).
    pub fn new(code: ErrorCode, v: Version, offending: &[u8]) -> ErrorMsg {
        let data = &offending[..offending.len().min(64)];
        match code.wire(v) {
            Triplet::Std(typ, code) => ErrorMsg {
                typ,
                code,
                data: data.to_vec(),
            },
            Triplet::Vendor { vendor, typ, code } => {
                let mut w = Writer::new();
                w.u32(vendor);
                w.u16(typ);
                w.u16(code);
                w.bytes(data);
                ErrorMsg {
                    typ: NXET_VENDOR,
                    code: 0,
                    data: w.buf,
                }
            }
            Triplet::Experimenter { vendor, code } => {
                let mut w = Writer::new();
                w.u32(vendor);
                w.bytes(data);
                ErrorMsg {
                    typ: OFPET_EXPERIMENTER,
                    code,
                    data: w.buf,
                }
            }
        }
    }

    /// The logical error, if this codec knows it.
    pub fn error_code(&self, v: Version) -> Option<ErrorCode> {
        let mut r = Reader::new(&self.data, "error data");
        let t = match (self.typ, v) {
            (NXET_VENDOR, Version::Of10) => Triplet::Vendor {
                vendor: r.u32().ok()?,
                typ: r.u16().ok()?,
                code: r.u16().ok()?,
            },
            (OFPET_EXPERIMENTER, v) if v != Version::Of10 => Triplet::Experimenter {
                vendor: r.u32().ok()?,
                code: self.code,
            },
            _ => Triplet::Std(self.typ, self.code),
        };
        ErrorCode::from_wire(v, t)
    }
}

/// Helper for the body module: the port in a 1.0 or 1.1+ slot.
pub(crate) fn get_port(r: &mut Reader<'_>, v: Version) -> Result<u32, DecodeError> {
    if v == Version::Of10 {
        Ok(port_from_of10(r.u16()?))
    } else {
        r.u32()
    }
}

pub(crate) fn put_port(w: &mut Writer, p: u32, v: Version) -> Result<(), EncodeError> {
    if v == Version::Of10 {
        w.u16(port_to_of10(p).ok_or(EncodeError::NotInVersion("a port above 0xff00", v))?);
    } else {
        w.u32(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
