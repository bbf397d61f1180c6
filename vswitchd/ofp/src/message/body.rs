//! Message bodies with structure: features, config, packet-in/out, flow-mod, flow-removed,
//! role, async config, bundles, `NXT_PACKET_IN2`/`NXT_RESUME` and TLV maps.
//!
//! Each has `decode(reader, version)` and `encode(writer, version)`, reading exactly its
//! version's layout. Fields a version lacks take fixed values on decode (OpenFlow 1.0's
//! `out_group` is `OFPG_ANY`), so every decoded value re-encodes to the same bytes.

use super::{
    Action, DecodeError, EncodeError, FieldId, Instruction, Match10, MatchEntry, PortDesc, Reader,
    Version, Writer, as_of10_actions, decode_actions, decode_instructions, encode_actions,
    encode_instructions, field, of10_insts, prop,
};
use super::{Match, Message, decode_nested, get_port, put_port};

/// `OFPG_ANY`.
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    pub typ: u16,
    pub code: u16,
    /// Vendor/experimenter id (if any) and the start of the offending message.
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Features {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    /// 1.3+.
    pub auxiliary_id: u8,
    pub capabilities: u32,
    /// 1.0: supported actions bitmap (reserved later).
    pub actions: u32,
    /// 1.0 only: the ports (1.3+ use a port-desc multipart).
    pub ports: Vec<PortDesc>,
}

impl Features {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<Features, DecodeError> {
        let mut f = Features {
            datapath_id: r.u64()?,
            n_buffers: r.u32()?,
            n_tables: r.u8()?,
            auxiliary_id: r.u8()?,
            ..Features::default()
        };
        r.skip(2)?;
        f.capabilities = r.u32()?;
        f.actions = r.u32()?;
        if v == Version::Of10 {
            f.auxiliary_id = 0;
            while !r.is_empty() {
                f.ports.push(PortDesc::decode(r, v)?);
            }
        }
        Ok(f)
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        w.u64(self.datapath_id);
        w.u32(self.n_buffers);
        w.u8(self.n_tables);
        if v == Version::Of10 && self.auxiliary_id != 0 {
            return Err(EncodeError::NotInVersion("auxiliary_id", v));
        }
        w.u8(self.auxiliary_id);
        w.zeros(2);
        w.u32(self.capabilities);
        w.u32(self.actions);
        if v == Version::Of10 {
            for p in &self.ports {
                p.encode(w, v)?;
            }
        } else if !self.ports.is_empty() {
            return Err(EncodeError::NotInVersion("ports in a features reply", v));
        }
        Ok(())
    }
}

/// `ofp_switch_config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct SwitchConfig {
    pub flags: u16,
    pub miss_send_len: u16,
}

impl SwitchConfig {
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<SwitchConfig, DecodeError> {
        Ok(SwitchConfig {
            flags: r.u16()?,
            miss_send_len: r.u16()?,
        })
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        w.u16(self.flags);
        w.u16(self.miss_send_len);
    }
}

/// `OFPT_PACKET_IN` (1.0's `in_port` appears as an `in_port` field).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketIn {
    pub buffer_id: u32,
    pub total_len: u16,
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    pub fields: Vec<MatchEntry>,
    pub data: Vec<u8>,
}

impl PacketIn {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<PacketIn, DecodeError> {
        let buffer_id = r.u32()?;
        let total_len = r.u16()?;
        if v == Version::Of10 {
            let in_port = crate::action::port_from_of10(r.u16()?);
            let reason = r.u8()?;
            r.skip(1)?;
            return Ok(PacketIn {
                buffer_id,
                total_len,
                reason,
                table_id: 0,
                cookie: 0,
                fields: vec![MatchEntry::exact(FieldId::InPort, u128::from(in_port))],
                data: r.rest().to_vec(),
            });
        }
        let reason = r.u8()?;
        let table_id = r.u8()?;
        let cookie = r.u64()?;
        let fields = field::decode_oxm_match(r)?;
        r.skip(2)?;
        Ok(PacketIn {
            buffer_id,
            total_len,
            reason,
            table_id,
            cookie,
            fields,
            data: r.rest().to_vec(),
        })
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        w.u32(self.buffer_id);
        w.u16(self.total_len);
        if v == Version::Of10 {
            if self.table_id != 0 || self.cookie != 0 {
                return Err(EncodeError::NotInVersion("packet-in table_id or cookie", v));
            }
            let port = match self.fields.as_slice() {
                [e] if e.field == FieldId::InPort && e.mask.is_none() => {
                    u32::try_from(e.value).unwrap_or(u32::MAX)
                }
                _ => return Err(EncodeError::NotInVersion("packet-in metadata fields", v)),
            };
            put_port(w, port, v)?;
            w.u8(self.reason);
            w.zeros(1);
        } else {
            w.u8(self.reason);
            w.u8(self.table_id);
            w.u64(self.cookie);
            field::encode_oxm_match(w, &self.fields)?;
            w.zeros(2);
        }
        w.bytes(&self.data);
        Ok(())
    }
}

/// `OFPT_FLOW_REMOVED` (1.0, 1.3 and 1.4 layouts).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    pub cookie: u64,
    pub priority: u16,
    pub reason: u8,
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub packet_count: u64,
    pub byte_count: u64,
    pub match_: Match,
}

impl FlowRemoved {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<FlowRemoved, DecodeError> {
        match v {
            Version::Of10 => {
                let m = Match10::decode(r)?;
                let cookie = r.u64()?;
                let priority = r.u16()?;
                let reason = r.u8()?;
                r.skip(1)?;
                let duration_sec = r.u32()?;
                let duration_nsec = r.u32()?;
                let idle_timeout = r.u16()?;
                r.skip(2)?;
                Ok(FlowRemoved {
                    cookie,
                    priority,
                    reason,
                    table_id: 0,
                    duration_sec,
                    duration_nsec,
                    idle_timeout,
                    hard_timeout: 0,
                    packet_count: r.u64()?,
                    byte_count: r.u64()?,
                    match_: Match::Of10(m),
                })
            }
            Version::Of13 | Version::Of14 => Ok(FlowRemoved {
                cookie: r.u64()?,
                priority: r.u16()?,
                reason: r.u8()?,
                table_id: r.u8()?,
                duration_sec: r.u32()?,
                duration_nsec: r.u32()?,
                idle_timeout: r.u16()?,
                hard_timeout: r.u16()?,
                packet_count: r.u64()?,
                byte_count: r.u64()?,
                match_: Match::Fields(field::decode_oxm_match(r)?),
            }),
            Version::Of15 => {
                // `ofp15_flow_removed`: reordered, and no durations or counters before the
                // match; they follow it as OXS stats.
                let table_id = r.u8()?;
                let reason = r.u8()?;
                let priority = r.u16()?;
                let idle_timeout = r.u16()?;
                let hard_timeout = r.u16()?;
                let cookie = r.u64()?;
                let match_ = Match::Fields(field::decode_oxm_match(r)?);
                let ox = crate::multipart::Oxs::decode(r)?;
                let (duration_sec, duration_nsec) = ox.duration.unwrap_or_default();
                Ok(FlowRemoved {
                    cookie,
                    priority,
                    reason,
                    table_id,
                    duration_sec,
                    duration_nsec,
                    idle_timeout,
                    hard_timeout,
                    packet_count: ox.packet_count.unwrap_or_default(),
                    byte_count: ox.byte_count.unwrap_or_default(),
                    match_,
                })
            }
        }
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        match (v, &self.match_) {
            (Version::Of10, Match::Of10(m)) => {
                if self.table_id != 0 || self.hard_timeout != 0 {
                    return Err(EncodeError::NotInVersion("table_id or hard_timeout", v));
                }
                m.encode(w);
                w.u64(self.cookie);
                w.u16(self.priority);
                w.u8(self.reason);
                w.zeros(1);
                w.u32(self.duration_sec);
                w.u32(self.duration_nsec);
                w.u16(self.idle_timeout);
                w.zeros(2);
                w.u64(self.packet_count);
                w.u64(self.byte_count);
                Ok(())
            }
            (Version::Of13 | Version::Of14, Match::Fields(f)) => {
                w.u64(self.cookie);
                w.u16(self.priority);
                w.u8(self.reason);
                w.u8(self.table_id);
                w.u32(self.duration_sec);
                w.u32(self.duration_nsec);
                w.u16(self.idle_timeout);
                w.u16(self.hard_timeout);
                w.u64(self.packet_count);
                w.u64(self.byte_count);
                field::encode_oxm_match(w, f)
            }
            (Version::Of15, Match::Fields(f)) => {
                w.u8(self.table_id);
                w.u8(self.reason);
                w.u16(self.priority);
                w.u16(self.idle_timeout);
                w.u16(self.hard_timeout);
                w.u64(self.cookie);
                field::encode_oxm_match(w, f)?;
                // As OVS: duration and counters; no idle time or flow count.
                crate::multipart::Oxs {
                    duration: Some((self.duration_sec, self.duration_nsec)),
                    packet_count: Some(self.packet_count),
                    byte_count: Some(self.byte_count),
                    ..Default::default()
                }
                .encode(w);
                Ok(())
            }
            _ => Err(EncodeError::NotInVersion("this flow-removed", v)),
        }
    }
}

/// `OFPT_PACKET_OUT`. In 1.5 the in_port travels in a match; other fields of that match are
/// in `fields`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketOut {
    pub buffer_id: u32,
    pub in_port: u32,
    pub fields: Vec<MatchEntry>,
    pub actions: Vec<Action>,
    pub data: Vec<u8>,
}

impl PacketOut {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<PacketOut, DecodeError> {
        let buffer_id = r.u32()?;
        let (in_port, fields, actions_len) = match v {
            Version::Of10 => {
                let p = get_port(r, v)?;
                (p, Vec::new(), r.u16()?)
            }
            Version::Of13 | Version::Of14 => {
                let p = r.u32()?;
                let n = r.u16()?;
                r.skip(6)?;
                (p, Vec::new(), n)
            }
            Version::Of15 => {
                let n = r.u16()?;
                r.skip(2)?;
                let mut fields = field::decode_oxm_match(r)?;
                let pos = fields.iter().position(|e| e.field == FieldId::InPort);
                let p = match pos {
                    Some(i) => u32::try_from(fields.remove(i).value).unwrap_or(u32::MAX),
                    None => return Err(DecodeError::BadValue("packet-out without in_port")),
                };
                (p, fields, n)
            }
        };
        let acts = r.sub(usize::from(actions_len), "packet-out actions")?;
        Ok(PacketOut {
            buffer_id,
            in_port,
            fields,
            actions: decode_actions(acts, v, 0)?,
            data: r.rest().to_vec(),
        })
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        w.u32(self.buffer_id);
        let len_at;
        match v {
            Version::Of10 => {
                put_port(w, self.in_port, v)?;
                len_at = w.len();
                w.u16(0);
            }
            Version::Of13 | Version::Of14 => {
                w.u32(self.in_port);
                len_at = w.len();
                w.u16(0);
                w.zeros(6);
            }
            Version::Of15 => {
                len_at = w.len();
                w.u16(0);
                w.zeros(2);
                let mut fields = vec![MatchEntry::exact(FieldId::InPort, u128::from(self.in_port))];
                fields.extend(self.fields.iter().copied());
                field::encode_oxm_match(w, &fields)?;
            }
        }
        if v != Version::Of15 && !self.fields.is_empty() {
            return Err(EncodeError::NotInVersion("packet-out metadata fields", v));
        }
        let start = w.len();
        encode_actions(w, &self.actions, v)?;
        let n = u16::try_from(w.len() - start).map_err(|_| EncodeError::TooLong)?;
        w.patch_u16(len_at, n);
        w.bytes(&self.data);
        Ok(())
    }
}

/// Flow-mod commands (`OFPFC_*`).
pub mod fc {
    pub const ADD: u8 = 0;
    pub const MODIFY: u8 = 1;
    pub const MODIFY_STRICT: u8 = 2;
    pub const DELETE: u8 = 3;
    pub const DELETE_STRICT: u8 = 4;
}

/// `OFPT_FLOW_MOD` and `NXT_FLOW_MOD`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowMod {
    pub cookie: u64,
    pub cookie_mask: u64,
    pub table_id: u8,
    pub command: u8,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    pub out_port: u32,
    pub out_group: u32,
    /// `OFPFF_*`: send_flow_rem 1, check_overlap 2, reset_counts 4, no_pkt_counts 8,
    /// no_byt_counts 16.
    pub flags: u16,
    /// 1.4+.
    pub importance: u16,
    pub match_: Match,
    pub instructions: Vec<Instruction>,
}

fn check_command(c: u8) -> Result<u8, DecodeError> {
    if c <= fc::DELETE_STRICT {
        Ok(c)
    } else {
        Err(DecodeError::BadCommand(c))
    }
}

impl FlowMod {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<FlowMod, DecodeError> {
        if v == Version::Of10 {
            let m = Match10::decode(r)?;
            let cookie = r.u64()?;
            let command = r.u16()?;
            let fm = FlowMod {
                cookie,
                cookie_mask: 0,
                table_id: (command >> 8) as u8,
                command: check_command((command & 0xff) as u8)?,
                idle_timeout: r.u16()?,
                hard_timeout: r.u16()?,
                priority: r.u16()?,
                buffer_id: r.u32()?,
                out_port: get_port(r, v)?,
                out_group: OFPG_ANY,
                flags: r.u16()?,
                importance: 0,
                match_: Match::Of10(m),
                instructions: Vec::new(),
            };
            let acts = decode_actions(Reader::new(r.rest(), "flow-mod actions"), v, 0)?;
            return Ok(FlowMod {
                instructions: of10_insts(acts),
                ..fm
            });
        }
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = r.u8()?;
        let command = check_command(r.u8()?)?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        let flags = r.u16()?;
        let importance = r.u16()?;
        let match_ = Match::Fields(field::decode_oxm_match(r)?);
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            importance: if v >= Version::Of14 { importance } else { 0 },
            match_,
            instructions: decode_instructions(Reader::new(r.rest(), "instructions"), v)?,
        })
    }

    /// Fields a version (or the Nicira form) cannot carry must hold their fixed value.
    fn check_representable(&self, v: Version, nx: bool) -> Result<(), EncodeError> {
        let old = v == Version::Of10 || nx;
        if (old && (self.cookie_mask != 0 || self.out_group != OFPG_ANY))
            || (self.importance != 0 && (old || v < Version::Of14))
        {
            return Err(EncodeError::NotInVersion(
                "cookie_mask, out_group or importance",
                v,
            ));
        }
        Ok(())
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        self.check_representable(v, false)?;
        if v == Version::Of10 {
            let Match::Of10(m) = &self.match_ else {
                return Err(EncodeError::NotInVersion("an OXM match", v));
            };
            m.encode(w);
            w.u64(self.cookie);
            w.u16(u16::from(self.table_id) << 8 | u16::from(self.command));
            w.u16(self.idle_timeout);
            w.u16(self.hard_timeout);
            w.u16(self.priority);
            w.u32(self.buffer_id);
            put_port(w, self.out_port, v)?;
            w.u16(self.flags);
            return encode_actions(w, as_of10_actions(&self.instructions)?, v);
        }
        let Match::Fields(fields) = &self.match_ else {
            return Err(EncodeError::NotInVersion("an OpenFlow 1.0 match", v));
        };
        w.u64(self.cookie);
        w.u64(self.cookie_mask);
        w.u8(self.table_id);
        w.u8(self.command);
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.priority);
        w.u32(self.buffer_id);
        w.u32(self.out_port);
        w.u32(self.out_group);
        w.u16(self.flags);
        w.u16(if v >= Version::Of14 {
            self.importance
        } else {
            0
        });
        field::encode_oxm_match(w, fields)?;
        encode_instructions(w, &self.instructions, v)
    }

    /// `NXT_FLOW_MOD` body (after the Nicira header): NXM match, OpenFlow 1.0 actions.
    pub(super) fn decode_nx(r: &mut Reader<'_>) -> Result<FlowMod, DecodeError> {
        let cookie = r.u64()?;
        let command = r.u16()?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = get_port(r, Version::Of10)?;
        let flags = r.u16()?;
        let match_len = usize::from(r.u16()?);
        r.skip(6)?;
        let fields = field::decode_nxm_match(r, match_len)?;
        let acts = decode_actions(Reader::new(r.rest(), "flow-mod actions"), Version::Of10, 0)?;
        Ok(FlowMod {
            cookie,
            cookie_mask: 0,
            table_id: (command >> 8) as u8,
            command: check_command((command & 0xff) as u8)?,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group: OFPG_ANY,
            flags,
            importance: 0,
            match_: Match::Fields(fields),
            instructions: of10_insts(acts),
        })
    }

    pub(super) fn encode_nx(&self, w: &mut Writer) -> Result<(), EncodeError> {
        self.check_representable(Version::Of10, true)?;
        let Match::Fields(fields) = &self.match_ else {
            return Err(EncodeError::NotInVersion(
                "an OpenFlow 1.0 match in NXT_FLOW_MOD",
                Version::Of10,
            ));
        };
        w.u64(self.cookie);
        w.u16(u16::from(self.table_id) << 8 | u16::from(self.command));
        w.u16(self.idle_timeout);
        w.u16(self.hard_timeout);
        w.u16(self.priority);
        w.u32(self.buffer_id);
        put_port(w, self.out_port, Version::Of10)?;
        w.u16(self.flags);
        let len_at = w.len();
        w.u16(0);
        w.zeros(6);
        let len = field::encode_nxm_match(w, fields)?;
        w.patch_u16(len_at, len);
        encode_actions(w, as_of10_actions(&self.instructions)?, Version::Of10)
    }
}

/// `OFPT_ROLE_REQUEST`/`REPLY`: `role` 0 no change, 1 equal, 2 master, 3 slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Role {
    pub role: u32,
    pub generation_id: u64,
}

impl Role {
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Role, DecodeError> {
        let role = r.u32()?;
        r.skip(4)?;
        Ok(Role {
            role,
            generation_id: r.u64()?,
        })
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        w.u32(self.role);
        w.zeros(4);
        w.u64(self.generation_id);
    }
}

/// Asynchronous message masks, indexed by OpenFlow 1.4's `OFPACPT_*` property type:
/// 0/1 packet-in (slave/master), 2/3 port-status, 4/5 flow-removed, 6/7 role-status,
/// 8/9 table-status, 10/11 request-forward. OpenFlow 1.3 carries only 0..=5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AsyncConfig {
    pub masks: [Option<u32>; 12],
}

/// OpenFlow 1.3 struct order: (master, slave) per kind, as property indices.
const ASYNC13_ORDER: [usize; 6] = [1, 0, 3, 2, 5, 4];

impl AsyncConfig {
    pub(super) fn decode(r: &mut Reader<'_>, v: Version) -> Result<AsyncConfig, DecodeError> {
        let mut a = AsyncConfig::default();
        if v == Version::Of13 {
            for i in ASYNC13_ORDER {
                a.masks[i] = Some(r.u32()?);
            }
            return Ok(a);
        }
        while !r.is_empty() {
            let (typ, mut p) = prop::decode(r)?;
            let slot = a
                .masks
                .get_mut(usize::from(typ))
                .ok_or(DecodeError::BadValue("async config property"))?;
            *slot = Some(p.u32()?);
            if !p.is_empty() {
                return Err(DecodeError::BadValue("async config property"));
            }
        }
        Ok(a)
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        if v == Version::Of13 {
            if self.masks[..6].iter().any(Option::is_none)
                || self.masks[6..].iter().any(Option::is_some)
            {
                return Err(EncodeError::NotInVersion("these async masks", v));
            }
            for i in ASYNC13_ORDER {
                w.u32(self.masks[i].unwrap_or(0));
            }
            return Ok(());
        }
        for (typ, m) in self.masks.iter().enumerate() {
            if let Some(m) = m {
                prop::put(w, typ as u16, &m.to_be_bytes())?;
            }
        }
        Ok(())
    }
}

/// Bundle control types (`OFPBCT_*`).
pub mod bct {
    pub const OPEN_REQUEST: u16 = 0;
    pub const OPEN_REPLY: u16 = 1;
    pub const CLOSE_REQUEST: u16 = 2;
    pub const CLOSE_REPLY: u16 = 3;
    pub const COMMIT_REQUEST: u16 = 4;
    pub const COMMIT_REPLY: u16 = 5;
    pub const DISCARD_REQUEST: u16 = 6;
    pub const DISCARD_REPLY: u16 = 7;
}

/// `OFPT_BUNDLE_CONTROL` (ONF 2300 in 1.3). Properties are not interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BundleCtrl {
    pub bundle_id: u32,
    pub typ: u16,
    /// `OFPBF_ATOMIC` 1, `OFPBF_ORDERED` 2.
    pub flags: u16,
}

impl BundleCtrl {
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<BundleCtrl, DecodeError> {
        let b = BundleCtrl {
            bundle_id: r.u32()?,
            typ: r.u16()?,
            flags: r.u16()?,
        };
        while !r.is_empty() {
            prop::decode(r)?;
        }
        Ok(b)
    }

    pub(super) fn encode(&self, w: &mut Writer) {
        w.u32(self.bundle_id);
        w.u16(self.typ);
        w.u16(self.flags);
    }
}

/// `OFPT_BUNDLE_ADD_MESSAGE` (ONF 2301 in 1.3): a whole message to apply at commit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    /// The inner message's xid.
    pub xid: u32,
    pub message: Box<Message>,
}

impl BundleAdd {
    /// `v` is the bundle's own version; the bundled message must have the same one (as
    /// OpenFlow requires), or it could not be re-encoded inside this bundle.
    pub(super) fn decode(
        r: &mut Reader<'_>,
        depth: usize,
        v: crate::Version,
    ) -> Result<BundleAdd, DecodeError> {
        let bundle_id = r.u32()?;
        r.skip(2)?;
        let flags = r.u16()?;
        let inner_len = match super::frame_len(r.peek_rest())? {
            Some(n) => n,
            None => {
                return Err(DecodeError::Truncated {
                    what: "bundled message",
                    need: 8,
                    have: r.remaining(),
                });
            }
        };
        let inner = r.take(inner_len)?;
        if depth > 0 {
            return Err(DecodeError::BadValue("a bundle inside a bundle"));
        }
        let (h, message) = decode_nested(inner, depth + 1)?;
        if crate::Version::from_wire(h.version) != Some(v) {
            return Err(DecodeError::BadValue(
                "a bundled message of another OpenFlow version than its bundle",
            ));
        }
        if matches!(message, Message::BundleAdd(_) | Message::BundleControl(_)) {
            return Err(DecodeError::BadValue("a bundle inside a bundle"));
        }
        // Properties may follow; none is interpreted.
        let _ = r.rest();
        Ok(BundleAdd {
            bundle_id,
            flags,
            xid: h.xid,
            message: Box::new(message),
        })
    }

    pub(super) fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        if matches!(
            *self.message,
            Message::BundleAdd(_) | Message::BundleControl(_)
        ) {
            return Err(EncodeError::NotInVersion("a bundle inside a bundle", v));
        }
        w.u32(self.bundle_id);
        w.zeros(2);
        w.u16(self.flags);
        let inner = super::encode(&self.message, v, self.xid)?;
        w.bytes(&inner);
        Ok(())
    }
}

/// `NXT_PACKET_IN2` / `NXT_RESUME` properties.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PacketIn2 {
    pub packet: Vec<u8>,
    pub full_len: Option<u32>,
    pub buffer_id: Option<u32>,
    pub table_id: Option<u8>,
    pub cookie: Option<u64>,
    pub reason: Option<u8>,
    /// The pipeline metadata as NXM fields.
    pub metadata: Vec<MatchEntry>,
    pub userdata: Option<Vec<u8>>,
    /// The switch's opaque continuation (nested `NXCPT_*` properties), as sent.
    pub continuation: Option<Vec<u8>>,
}

mod nxpint {
    pub const PACKET: u16 = 0;
    pub const FULL_LEN: u16 = 1;
    pub const BUFFER_ID: u16 = 2;
    pub const TABLE_ID: u16 = 3;
    pub const COOKIE: u16 = 4;
    pub const REASON: u16 = 5;
    pub const METADATA: u16 = 6;
    pub const USERDATA: u16 = 7;
    pub const CONTINUATION: u16 = 8;
}

impl PacketIn2 {
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<PacketIn2, DecodeError> {
        let mut p = PacketIn2::default();
        let mut seen_packet = false;
        let bad = |what| DecodeError::BadValue(what);
        while !r.is_empty() {
            let (typ, mut b) = prop::decode(r)?;
            match typ {
                nxpint::PACKET => {
                    p.packet = b.rest().to_vec();
                    seen_packet = true;
                }
                nxpint::FULL_LEN => p.full_len = Some(b.u32()?),
                nxpint::BUFFER_ID => p.buffer_id = Some(b.u32()?),
                nxpint::TABLE_ID => p.table_id = Some(b.u8()?),
                nxpint::COOKIE => {
                    b.skip(4)?;
                    p.cookie = Some(b.u64()?);
                }
                nxpint::REASON => p.reason = Some(b.u8()?),
                nxpint::METADATA => p.metadata = field::decode_entries(b)?,
                nxpint::USERDATA => p.userdata = Some(b.rest().to_vec()),
                nxpint::CONTINUATION => p.continuation = Some(b.rest().to_vec()),
                _ => return Err(bad("packet-in2 property")),
            }
            if !b.is_empty() && typ != nxpint::METADATA {
                return Err(bad("packet-in2 property length"));
            }
        }
        if !seen_packet {
            return Err(bad("packet-in2 without a packet"));
        }
        Ok(p)
    }

    pub(super) fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        prop::put(w, nxpint::PACKET, &self.packet)?;
        if let Some(x) = self.full_len {
            prop::put(w, nxpint::FULL_LEN, &x.to_be_bytes())?;
        }
        if let Some(x) = self.buffer_id {
            prop::put(w, nxpint::BUFFER_ID, &x.to_be_bytes())?;
        }
        if let Some(x) = self.table_id {
            prop::put(w, nxpint::TABLE_ID, &[x])?;
        }
        if let Some(x) = self.cookie {
            let mut b = [0u8; 12];
            b[4..].copy_from_slice(&x.to_be_bytes());
            prop::put(w, nxpint::COOKIE, &b)?;
        }
        if let Some(x) = self.reason {
            prop::put(w, nxpint::REASON, &[x])?;
        }
        if !self.metadata.is_empty() {
            let mut m = Writer::new();
            field::encode_entries(&mut m, &self.metadata);
            prop::put(w, nxpint::METADATA, &m.buf)?;
        }
        if let Some(u) = &self.userdata {
            prop::put(w, nxpint::USERDATA, u)?;
        }
        if let Some(c) = &self.continuation {
            prop::put(w, nxpint::CONTINUATION, c)?;
        }
        Ok(())
    }
}

/// One `nx_tlv_map`: a Geneve option (class, type, length) bound to `tun_metadataN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvMap {
    pub option_class: u16,
    pub option_type: u8,
    pub option_len: u8,
    pub index: u16,
}

impl TlvMap {
    pub(super) fn decode_all(mut r: Reader<'_>) -> Result<Vec<TlvMap>, DecodeError> {
        let mut out = Vec::new();
        while !r.is_empty() {
            let m = TlvMap {
                option_class: r.u16()?,
                option_type: r.u8()?,
                option_len: r.u8()?,
                index: r.u16()?,
            };
            r.skip(2)?;
            out.push(m);
        }
        Ok(out)
    }

    pub(super) fn encode_all(w: &mut Writer, maps: &[TlvMap]) {
        for m in maps {
            w.u16(m.option_class);
            w.u8(m.option_type);
            w.u8(m.option_len);
            w.u16(m.index);
            w.zeros(2);
        }
    }
}
