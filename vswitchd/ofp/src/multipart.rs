//! Multipart (1.0: "stats") request and reply bodies.
//!
//! The envelope — `type(16) flags(16)` plus 4 bytes of padding from 1.1 on, and for Nicira
//! stats the vendor id and subtype — is the message layer's; this module handles what follows.
//! Replies that are arrays (flows, tables, ports, queues, port descriptions) are decoded entry
//! by entry, each entry's own length bounding it; group and meter bodies are typed in
//! [`crate::group`] and [`crate::meter`]. Table-features entries are typed, their property
//! lists raw.

use crate::action::{decode_actions, encode_actions, port_from_of10, port_to_of10};
use crate::field::{self, MatchEntry};
use crate::instruction::{Instruction, decode_instructions, encode_instructions};
use crate::match10::Match10;
use crate::message::Match;
use crate::port::PortDesc;
use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, Version};

/// `OFPMP_*` numbers.
pub mod mp {
    pub const DESC: u16 = 0;
    pub const FLOW: u16 = 1;
    pub const AGGREGATE: u16 = 2;
    pub const TABLE: u16 = 3;
    pub const PORT_STATS: u16 = 4;
    pub const QUEUE: u16 = 5;
    pub const GROUP: u16 = 6;
    pub const GROUP_DESC: u16 = 7;
    pub const GROUP_FEATURES: u16 = 8;
    pub const METER: u16 = 9;
    pub const METER_CONFIG: u16 = 10;
    pub const METER_FEATURES: u16 = 11;
    pub const TABLE_FEATURES: u16 = 12;
    pub const PORT_DESC: u16 = 13;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// `OFPP_ANY` / `OFPG_ANY`.
const ANY: u32 = 0xffff_ffff;

/// Nicira stats subtypes (`NXST_*`).
pub const NXST_FLOW: u32 = 0;
pub const NXST_AGGREGATE: u32 = 1;

/// Flow and aggregate request filter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub match_: Match,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MpRequest {
    Desc,
    Flow(FlowStatsRequest),
    Aggregate(FlowStatsRequest),
    /// `NXST_FLOW` (OpenFlow 1.0 with an NXM match).
    NxFlow(FlowStatsRequest),
    NxAggregate(FlowStatsRequest),
    Table,
    PortStats {
        port_no: u32,
    },
    Queue {
        port_no: u32,
        queue_id: u32,
    },
    /// `port_no` is OpenFlow 1.5's filter; earlier versions have none (`OFPP_ANY`).
    PortDesc {
        port_no: u32,
    },
    Group {
        group_id: u32,
    },
    /// `group_id` is OpenFlow 1.5's filter; earlier versions have none (`OFPG_ANY`).
    GroupDesc {
        group_id: u32,
    },
    GroupFeatures,
    Meter {
        meter_id: u32,
    },
    MeterConfig {
        meter_id: u32,
    },
    MeterFeatures,
    /// A table-features request; a non-empty body asks to change the tables.
    TableFeatures(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Desc {
    pub mfr: String,
    pub hw: String,
    pub sw: String,
    pub serial: String,
    pub dp: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// 1.3+ `OFPFF_*`.
    pub flags: u16,
    /// 1.4+.
    pub importance: u16,
    /// `NXST_FLOW` and 1.5 (its OXS idle time): seconds idle plus one; 0 = not reported.
    pub idle_age: u16,
    pub hard_age: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub match_: Match,
    pub instructions: Vec<Instruction>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Aggregate {
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    pub table_id: u8,
    /// 1.0 only.
    pub name: String,
    pub wildcards: u32,
    pub max_entries: u32,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PortStats {
    pub port_no: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    /// 1.3+.
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct QueueStats {
    pub port_no: u32,
    pub queue_id: u32,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

/// One `ofp_table_features` entry; its properties are carried as their raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TableFeatures {
    pub table_id: u8,
    /// 1.5 `OFPTFC_*` (0 before).
    pub command: u8,
    pub name: String,
    pub metadata_match: u64,
    pub metadata_write: u64,
    pub capabilities: u32,
    pub max_entries: u32,
    /// The property list, a multiple of 8 bytes.
    pub properties: Vec<u8>,
}

impl TableFeatures {
    fn decode(r: &mut Reader<'_>) -> Result<TableFeatures, DecodeError> {
        let len = usize::from(Reader::new(r.peek_rest(), "table features").u16()?);
        if len < 64 || len % 8 != 0 {
            return Err(DecodeError::BadLength {
                what: "table features",
                len,
            });
        }
        let mut b = r.sub(len, "table features")?;
        b.skip(2)?;
        let table_id = b.u8()?;
        let command = b.u8()?;
        b.skip(4)?;
        Ok(TableFeatures {
            table_id,
            command,
            name: b.string(32)?,
            metadata_match: b.u64()?,
            metadata_write: b.u64()?,
            capabilities: b.u32()?,
            max_entries: b.u32()?,
            properties: b.rest().to_vec(),
        })
    }

    fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        if !self.properties.len().is_multiple_of(8) {
            return Err(EncodeError::NotInVersion(
                "unpadded table-feature properties",
                Version::Of13,
            ));
        }
        let start = w.len();
        w.u16(0);
        w.u8(self.table_id);
        w.u8(self.command);
        w.zeros(4);
        w.string(&self.name, 32);
        w.u64(self.metadata_match);
        w.u64(self.metadata_write);
        w.u32(self.capabilities);
        w.u32(self.max_entries);
        w.bytes(&self.properties);
        w.patch_len(start, start)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MpReply {
    Desc(Desc),
    Flow(Vec<FlowStats>),
    NxFlow(Vec<FlowStats>),
    Aggregate(Aggregate),
    NxAggregate(Aggregate),
    Table(Vec<TableStats>),
    PortStats(Vec<PortStats>),
    Queue(Vec<QueueStats>),
    PortDesc(Vec<PortDesc>),
    TableFeatures(Vec<TableFeatures>),
    GroupStats(Vec<crate::group::GroupStats>),
    GroupDesc(Vec<crate::group::GroupDesc>),
    GroupFeatures(crate::group::GroupFeatures),
    MeterStats(Vec<crate::meter::MeterStats>),
    MeterConfig(Vec<crate::meter::MeterConfig>),
    MeterFeatures(crate::meter::MeterFeatures),
    /// Replies of a multipart type this codec does not model: `mp_type` and the body as sent.
    Raw {
        mp_type: u16,
        body: Vec<u8>,
    },
}

impl MpRequest {
    /// (`OFPMP_*` type, Nicira subtype for vendor stats).
    pub fn wire_type(&self) -> (u16, Option<u32>) {
        use MpRequest::*;
        match self {
            Desc => (mp::DESC, None),
            Flow(_) => (mp::FLOW, None),
            Aggregate(_) => (mp::AGGREGATE, None),
            NxFlow(_) => (mp::EXPERIMENTER, Some(NXST_FLOW)),
            NxAggregate(_) => (mp::EXPERIMENTER, Some(NXST_AGGREGATE)),
            Table => (mp::TABLE, None),
            PortStats { .. } => (mp::PORT_STATS, None),
            Queue { .. } => (mp::QUEUE, None),
            PortDesc { .. } => (mp::PORT_DESC, None),
            Group { .. } => (mp::GROUP, None),
            GroupDesc { .. } => (mp::GROUP_DESC, None),
            GroupFeatures => (mp::GROUP_FEATURES, None),
            Meter { .. } => (mp::METER, None),
            MeterConfig { .. } => (mp::METER_CONFIG, None),
            MeterFeatures => (mp::METER_FEATURES, None),
            TableFeatures(_) => (mp::TABLE_FEATURES, None),
        }
    }
}

impl MpReply {
    pub fn wire_type(&self) -> (u16, Option<u32>) {
        use MpReply::*;
        match self {
            Desc(_) => (mp::DESC, None),
            Flow(_) => (mp::FLOW, None),
            NxFlow(_) => (mp::EXPERIMENTER, Some(NXST_FLOW)),
            Aggregate(_) => (mp::AGGREGATE, None),
            NxAggregate(_) => (mp::EXPERIMENTER, Some(NXST_AGGREGATE)),
            Table(_) => (mp::TABLE, None),
            PortStats(_) => (mp::PORT_STATS, None),
            Queue(_) => (mp::QUEUE, None),
            PortDesc(_) => (mp::PORT_DESC, None),
            TableFeatures(_) => (mp::TABLE_FEATURES, None),
            GroupStats(_) => (mp::GROUP, None),
            GroupDesc(_) => (mp::GROUP_DESC, None),
            GroupFeatures(_) => (mp::GROUP_FEATURES, None),
            MeterStats(_) => (mp::METER, None),
            MeterConfig(_) => (mp::METER_CONFIG, None),
            MeterFeatures(_) => (mp::METER_FEATURES, None),
            Raw { mp_type, .. } => (*mp_type, None),
        }
    }
}

fn port32(r: &mut Reader<'_>, v: Version) -> Result<u32, DecodeError> {
    if v == Version::Of10 {
        Ok(port_from_of10(r.u16()?))
    } else {
        r.u32()
    }
}

fn put_port(w: &mut Writer, p: u32, v: Version) -> Result<(), EncodeError> {
    if v == Version::Of10 {
        w.u16(port_to_of10(p).ok_or(EncodeError::NotInVersion("a port above 0xff00", v))?);
    } else {
        w.u32(p);
    }
    Ok(())
}

fn decode_match(r: &mut Reader<'_>, v: Version) -> Result<Match, DecodeError> {
    if v == Version::Of10 {
        Ok(Match::Of10(Match10::decode(r)?))
    } else {
        Ok(Match::Fields(field::decode_oxm_match(r)?))
    }
}

fn encode_match(w: &mut Writer, m: &Match, v: Version) -> Result<(), EncodeError> {
    match (m, v) {
        (Match::Of10(m), Version::Of10) => {
            m.encode(w);
            Ok(())
        }
        (Match::Fields(f), v) if v != Version::Of10 => field::encode_oxm_match(w, f),
        _ => Err(EncodeError::NotInVersion("this match type", v)),
    }
}

fn nxm_fields(m: &Match) -> Result<&[MatchEntry], EncodeError> {
    match m {
        Match::Fields(f) => Ok(f),
        Match::Of10(_) => Err(EncodeError::NotInVersion(
            "an OpenFlow 1.0 match in a Nicira message",
            Version::Of10,
        )),
    }
}

/// Decodes a request body of `typ` (with Nicira `subtype` for vendor stats).
pub fn decode_request(
    typ: u16,
    subtype: Option<u32>,
    mut r: Reader<'_>,
    v: Version,
) -> Result<MpRequest, DecodeError> {
    let of10 = v == Version::Of10;
    Ok(match (typ, subtype) {
        (mp::DESC, _) => MpRequest::Desc,
        (mp::FLOW | mp::AGGREGATE, _) => {
            let req = if of10 {
                let m = Match10::decode(&mut r)?;
                let table_id = r.u8()?;
                r.skip(1)?;
                FlowStatsRequest {
                    table_id,
                    out_port: port_from_of10(r.u16()?),
                    out_group: 0xffff_ffff,
                    cookie: 0,
                    cookie_mask: 0,
                    match_: Match::Of10(m),
                }
            } else {
                let table_id = r.u8()?;
                r.skip(3)?;
                let out_port = r.u32()?;
                let out_group = r.u32()?;
                r.skip(4)?;
                let cookie = r.u64()?;
                let cookie_mask = r.u64()?;
                FlowStatsRequest {
                    table_id,
                    out_port,
                    out_group,
                    cookie,
                    cookie_mask,
                    match_: decode_match(&mut r, v)?,
                }
            };
            if typ == mp::FLOW {
                MpRequest::Flow(req)
            } else {
                MpRequest::Aggregate(req)
            }
        }
        (mp::EXPERIMENTER, Some(sub @ (NXST_FLOW | NXST_AGGREGATE))) => {
            let out_port = port_from_of10(r.u16()?);
            let match_len = usize::from(r.u16()?);
            let table_id = r.u8()?;
            r.skip(3)?;
            let fields = field::decode_nxm_match(&mut r, match_len)?;
            let req = FlowStatsRequest {
                table_id,
                out_port,
                out_group: 0xffff_ffff,
                cookie: 0,
                cookie_mask: 0,
                match_: Match::Fields(fields),
            };
            if sub == NXST_FLOW {
                MpRequest::NxFlow(req)
            } else {
                MpRequest::NxAggregate(req)
            }
        }
        (mp::EXPERIMENTER, Some(sub)) => return Err(DecodeError::BadSubtype(sub)),
        (mp::TABLE, _) => MpRequest::Table,
        (mp::PORT_STATS, _) => {
            let port_no = port32(&mut r, v)?;
            MpRequest::PortStats { port_no }
        }
        (mp::QUEUE, _) => {
            let port_no = port32(&mut r, v)?;
            if of10 {
                r.skip(2)?;
            }
            MpRequest::Queue {
                port_no,
                queue_id: r.u32()?,
            }
        }
        (mp::PORT_DESC, _) => MpRequest::PortDesc {
            port_no: if v >= Version::Of15 { r.u32()? } else { ANY },
        },
        (mp::GROUP, _) if !of10 => MpRequest::Group { group_id: r.u32()? },
        (mp::GROUP_DESC, _) if !of10 => MpRequest::GroupDesc {
            group_id: if v >= Version::Of15 { r.u32()? } else { ANY },
        },
        (mp::GROUP_FEATURES, _) if !of10 => MpRequest::GroupFeatures,
        (mp::METER, _) if !of10 => MpRequest::Meter { meter_id: r.u32()? },
        (mp::METER_CONFIG, _) if !of10 => MpRequest::MeterConfig { meter_id: r.u32()? },
        (mp::METER_FEATURES, _) if !of10 => MpRequest::MeterFeatures,
        (mp::TABLE_FEATURES, _) if !of10 => MpRequest::TableFeatures(r.rest().to_vec()),
        _ => return Err(DecodeError::BadMultipart(typ)),
    })
}

pub fn encode_request(w: &mut Writer, req: &MpRequest, v: Version) -> Result<(), EncodeError> {
    let of10 = v == Version::Of10;
    match req {
        MpRequest::PortDesc { port_no: id } | MpRequest::GroupDesc { group_id: id } => {
            if v >= Version::Of15 {
                w.u32(*id);
                w.zeros(4);
            } else if *id != ANY {
                return Err(EncodeError::NotInVersion("a port or group filter", v));
            }
        }
        MpRequest::Desc
        | MpRequest::Table
        | MpRequest::GroupFeatures
        | MpRequest::MeterFeatures => {}
        MpRequest::Flow(f) | MpRequest::Aggregate(f) => {
            if of10 && (f.out_group != ANY || f.cookie != 0 || f.cookie_mask != 0) {
                return Err(EncodeError::NotInVersion("out_group or cookie filters", v));
            }
            if of10 {
                match &f.match_ {
                    Match::Of10(m) => m.encode(w),
                    _ => return Err(EncodeError::NotInVersion("an OXM match", v)),
                }
                w.u8(f.table_id);
                w.zeros(1);
                put_port(w, f.out_port, v)?;
            } else {
                w.u8(f.table_id);
                w.zeros(3);
                w.u32(f.out_port);
                w.u32(f.out_group);
                w.zeros(4);
                w.u64(f.cookie);
                w.u64(f.cookie_mask);
                encode_match(w, &f.match_, v)?;
            }
        }
        MpRequest::NxFlow(f) | MpRequest::NxAggregate(f) => {
            if f.out_group != ANY || f.cookie != 0 || f.cookie_mask != 0 {
                return Err(EncodeError::NotInVersion("out_group or cookie filters", v));
            }
            put_port(w, f.out_port, Version::Of10)?;
            let len_at = w.len();
            w.u16(0);
            w.u8(f.table_id);
            w.zeros(3);
            let len = field::encode_nxm_match(w, nxm_fields(&f.match_)?)?;
            w.patch_u16(len_at, len);
        }
        MpRequest::PortStats { port_no } => {
            put_port(w, *port_no, v)?;
            w.zeros(if of10 { 6 } else { 4 });
        }
        MpRequest::Queue { port_no, queue_id } => {
            put_port(w, *port_no, v)?;
            if of10 {
                w.zeros(2);
            }
            w.u32(*queue_id);
        }
        MpRequest::Group { group_id: id }
        | MpRequest::Meter { meter_id: id }
        | MpRequest::MeterConfig { meter_id: id } => {
            w.u32(*id);
            w.zeros(4);
        }
        MpRequest::TableFeatures(body) => w.bytes(body),
    }
    Ok(())
}

fn decode_flow_stats(r: &mut Reader<'_>, v: Version, nx: bool) -> Result<FlowStats, DecodeError> {
    let len = usize::from(Reader::new(r.peek_rest(), "flow stats").u16()?);
    if len < 8 {
        return Err(DecodeError::BadLength {
            what: "flow stats",
            len,
        });
    }
    let mut b = r.sub(len, "flow stats")?;
    b.skip(2)?;
    if v >= Version::Of15 && !nx {
        b.skip(2)?;
    }
    let table_id = b.u8()?;
    b.skip(1)?;
    let mut fs = FlowStats {
        table_id,
        duration_sec: 0,
        duration_nsec: 0,
        priority: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: 0,
        importance: 0,
        idle_age: 0,
        hard_age: 0,
        cookie: 0,
        packet_count: 0,
        byte_count: 0,
        match_: Match::Fields(Vec::new()),
        instructions: Vec::new(),
    };
    if v >= Version::Of15 && !nx {
        fs.priority = b.u16()?;
        fs.idle_timeout = b.u16()?;
        fs.hard_timeout = b.u16()?;
        fs.flags = b.u16()?;
        fs.importance = b.u16()?;
        fs.cookie = b.u64()?;
        fs.match_ = decode_match(&mut b, v)?;
        let ox = Oxs::decode(&mut b)?;
        (fs.duration_sec, fs.duration_nsec) = ox.duration.unwrap_or_default();
        // As in NXST_FLOW, `idle_age` is one more than the age, 0 when absent.
        fs.idle_age = ox.idle_time.map_or(0, |(s, _)| s.min(0xfffe) as u16 + 1);
        fs.packet_count = ox.packet_count.unwrap_or_default();
        fs.byte_count = ox.byte_count.unwrap_or_default();
        fs.instructions = decode_instructions(b, v)?;
    } else if nx {
        fs.duration_sec = b.u32()?;
        fs.duration_nsec = b.u32()?;
        fs.priority = b.u16()?;
        fs.idle_timeout = b.u16()?;
        fs.hard_timeout = b.u16()?;
        let match_len = usize::from(b.u16()?);
        fs.idle_age = b.u16()?;
        fs.hard_age = b.u16()?;
        fs.cookie = b.u64()?;
        fs.packet_count = b.u64()?;
        fs.byte_count = b.u64()?;
        fs.match_ = Match::Fields(field::decode_nxm_match(&mut b, match_len)?);
        fs.instructions = of10_insts(decode_actions(b, Version::Of10, 0)?);
    } else if v == Version::Of10 {
        fs.match_ = Match::Of10(Match10::decode(&mut b)?);
        fs.duration_sec = b.u32()?;
        fs.duration_nsec = b.u32()?;
        fs.priority = b.u16()?;
        fs.idle_timeout = b.u16()?;
        fs.hard_timeout = b.u16()?;
        b.skip(6)?;
        fs.cookie = b.u64()?;
        fs.packet_count = b.u64()?;
        fs.byte_count = b.u64()?;
        fs.instructions = of10_insts(decode_actions(b, v, 0)?);
    } else {
        fs.duration_sec = b.u32()?;
        fs.duration_nsec = b.u32()?;
        fs.priority = b.u16()?;
        fs.idle_timeout = b.u16()?;
        fs.hard_timeout = b.u16()?;
        fs.flags = b.u16()?;
        if v >= Version::Of14 {
            fs.importance = b.u16()?;
            b.skip(2)?;
        } else {
            b.skip(4)?;
        }
        fs.cookie = b.u64()?;
        fs.packet_count = b.u64()?;
        fs.byte_count = b.u64()?;
        fs.match_ = decode_match(&mut b, v)?;
        fs.instructions = decode_instructions(b, v)?;
    }
    Ok(fs)
}

/// OpenFlow 1.0 actions as the one instruction they amount to.
pub(crate) fn of10_insts(acts: Vec<crate::Action>) -> Vec<Instruction> {
    if acts.is_empty() {
        Vec::new()
    } else {
        vec![Instruction::ApplyActions(acts)]
    }
}

fn encode_flow_stats(
    w: &mut Writer,
    fs: &FlowStats,
    v: Version,
    nx: bool,
) -> Result<(), EncodeError> {
    let ages = fs.idle_age != 0 || fs.hard_age != 0;
    let unrepresentable = if nx {
        fs.flags != 0 || fs.importance != 0
    } else if v == Version::Of10 {
        fs.flags != 0 || fs.importance != 0 || ages
    } else if v >= Version::Of15 {
        fs.hard_age != 0
    } else {
        ages || (fs.importance != 0 && v < Version::Of14)
    };
    if unrepresentable {
        return Err(EncodeError::NotInVersion("these flow stats", v));
    }
    let start = w.len();
    w.u16(0);
    if v >= Version::Of15 && !nx {
        w.zeros(2);
    }
    w.u8(fs.table_id);
    w.zeros(1);
    if nx {
        w.u32(fs.duration_sec);
        w.u32(fs.duration_nsec);
        w.u16(fs.priority);
        w.u16(fs.idle_timeout);
        w.u16(fs.hard_timeout);
        let len_at = w.len();
        w.u16(0);
        w.u16(fs.idle_age);
        w.u16(fs.hard_age);
        w.u64(fs.cookie);
        w.u64(fs.packet_count);
        w.u64(fs.byte_count);
        let len = field::encode_nxm_match(w, nxm_fields(&fs.match_)?)?;
        w.patch_u16(len_at, len);
        let acts = crate::instruction::as_of10_actions(&fs.instructions)?;
        encode_actions(w, acts, Version::Of10)?;
    } else if v == Version::Of10 {
        match &fs.match_ {
            Match::Of10(m) => m.encode(w),
            _ => return Err(EncodeError::NotInVersion("an OXM match", v)),
        }
        w.u32(fs.duration_sec);
        w.u32(fs.duration_nsec);
        w.u16(fs.priority);
        w.u16(fs.idle_timeout);
        w.u16(fs.hard_timeout);
        w.zeros(6);
        w.u64(fs.cookie);
        w.u64(fs.packet_count);
        w.u64(fs.byte_count);
        let acts = crate::instruction::as_of10_actions(&fs.instructions)?;
        encode_actions(w, acts, v)?;
    } else if v >= Version::Of15 {
        // `ofp15_flow_desc`: the counters moved into OXS stats after the match.
        w.u16(fs.priority);
        w.u16(fs.idle_timeout);
        w.u16(fs.hard_timeout);
        w.u16(fs.flags);
        w.u16(fs.importance);
        w.u64(fs.cookie);
        encode_match(w, &fs.match_, v)?;
        let mut ox = Oxs {
            duration: Some((fs.duration_sec, fs.duration_nsec)),
            packet_count: Some(fs.packet_count),
            byte_count: Some(fs.byte_count),
            ..Oxs::default()
        };
        if fs.idle_age != 0 {
            ox.idle_time = Some((u32::from(fs.idle_age) - 1, 0));
        }
        ox.encode(w);
        encode_instructions(w, &fs.instructions, v)?;
    } else {
        w.u32(fs.duration_sec);
        w.u32(fs.duration_nsec);
        w.u16(fs.priority);
        w.u16(fs.idle_timeout);
        w.u16(fs.hard_timeout);
        w.u16(fs.flags);
        if v >= Version::Of14 {
            w.u16(fs.importance);
            w.zeros(2);
        } else {
            w.zeros(4);
        }
        w.u64(fs.cookie);
        w.u64(fs.packet_count);
        w.u64(fs.byte_count);
        encode_match(w, &fs.match_, v)?;
        encode_instructions(w, &fs.instructions, v)?;
    }
    w.patch_len(start, start)
}

fn decode_aggregate(r: &mut Reader<'_>) -> Result<Aggregate, DecodeError> {
    let a = Aggregate {
        packet_count: r.u64()?,
        byte_count: r.u64()?,
        flow_count: r.u32()?,
    };
    r.skip(4)?;
    Ok(a)
}

fn decode_table_stats(r: &mut Reader<'_>, v: Version) -> Result<TableStats, DecodeError> {
    let mut t = TableStats {
        table_id: r.u8()?,
        ..TableStats::default()
    };
    r.skip(3)?;
    if v == Version::Of10 {
        t.name = r.string(32)?;
        t.wildcards = r.u32()?;
        t.max_entries = r.u32()?;
    }
    t.active_count = r.u32()?;
    t.lookup_count = r.u64()?;
    t.matched_count = r.u64()?;
    Ok(t)
}

fn decode_port_stats(r: &mut Reader<'_>, v: Version) -> Result<PortStats, DecodeError> {
    let mut p = PortStats::default();
    let mut props = None;
    match v {
        Version::Of10 => {
            p.port_no = port_from_of10(r.u16()?);
            r.skip(6)?;
        }
        Version::Of13 => {
            p.port_no = r.u32()?;
            r.skip(4)?;
        }
        Version::Of14 | Version::Of15 => {
            // `ofp14_port_stats`: length and padding come first.
            let len = usize::from(r.u16()?);
            if len < 80 {
                return Err(DecodeError::BadLength {
                    what: "port stats",
                    len,
                });
            }
            r.skip(2)?;
            p.port_no = r.u32()?;
            p.duration_sec = r.u32()?;
            p.duration_nsec = r.u32()?;
            props = Some(len - 80);
        }
    }
    p.rx_packets = r.u64()?;
    p.tx_packets = r.u64()?;
    p.rx_bytes = r.u64()?;
    p.tx_bytes = r.u64()?;
    p.rx_dropped = r.u64()?;
    p.tx_dropped = r.u64()?;
    p.rx_errors = r.u64()?;
    p.tx_errors = r.u64()?;
    if let Some(n) = props {
        let mut pr = r.sub(n, "port stats properties")?;
        while !pr.is_empty() {
            let (typ, mut e) = crate::prop::decode(&mut pr)?;
            if typ == 0 {
                e.skip(4)?;
                p.rx_frame_err = e.u64()?;
                p.rx_over_err = e.u64()?;
                p.rx_crc_err = e.u64()?;
                p.collisions = e.u64()?;
            }
        }
    } else {
        p.rx_frame_err = r.u64()?;
        p.rx_over_err = r.u64()?;
        p.rx_crc_err = r.u64()?;
        p.collisions = r.u64()?;
        if v == Version::Of13 {
            p.duration_sec = r.u32()?;
            p.duration_nsec = r.u32()?;
        }
    }
    Ok(p)
}

fn encode_port_stats(w: &mut Writer, p: &PortStats, v: Version) -> Result<(), EncodeError> {
    if v == Version::Of10 && (p.duration_sec != 0 || p.duration_nsec != 0) {
        return Err(EncodeError::NotInVersion("port stats duration", v));
    }
    let start = w.len();
    match v {
        Version::Of10 => {
            put_port(w, p.port_no, v)?;
            w.zeros(6);
        }
        Version::Of13 => {
            w.u32(p.port_no);
            w.zeros(4);
        }
        Version::Of14 | Version::Of15 => {
            w.u16(0);
            w.zeros(2);
            w.u32(p.port_no);
            w.u32(p.duration_sec);
            w.u32(p.duration_nsec);
        }
    }
    for x in [
        p.rx_packets,
        p.tx_packets,
        p.rx_bytes,
        p.tx_bytes,
        p.rx_dropped,
        p.tx_dropped,
        p.rx_errors,
        p.tx_errors,
    ] {
        w.u64(x);
    }
    let tail = [p.rx_frame_err, p.rx_over_err, p.rx_crc_err, p.collisions];
    if v >= Version::Of14 {
        let mut e = Writer::new();
        e.zeros(4);
        for x in tail {
            e.u64(x);
        }
        crate::prop::put(w, 0, &e.buf)?;
        w.patch_len(start, start)?;
    } else {
        for x in tail {
            w.u64(x);
        }
        if v == Version::Of13 {
            w.u32(p.duration_sec);
            w.u32(p.duration_nsec);
        }
    }
    Ok(())
}

fn decode_queue_stats(r: &mut Reader<'_>, v: Version) -> Result<QueueStats, DecodeError> {
    let mut q = QueueStats::default();
    let mut body = *r;
    let mut props_len = 0;
    match v {
        Version::Of10 => {
            q.port_no = port_from_of10(r.u16()?);
            r.skip(2)?;
        }
        Version::Of13 => q.port_no = r.u32()?,
        Version::Of14 | Version::Of15 => {
            let len = usize::from(r.u16()?);
            if len < 48 {
                return Err(DecodeError::BadLength {
                    what: "queue stats",
                    len,
                });
            }
            body = r.sub(len - 2, "queue stats")?;
            body.skip(6)?;
            q.port_no = body.u32()?;
            props_len = len - 48;
        }
    }
    let rr = if v >= Version::Of14 { &mut body } else { r };
    q.queue_id = rr.u32()?;
    q.tx_bytes = rr.u64()?;
    q.tx_packets = rr.u64()?;
    q.tx_errors = rr.u64()?;
    if v != Version::Of10 {
        q.duration_sec = rr.u32()?;
        q.duration_nsec = rr.u32()?;
    }
    rr.skip(props_len)?;
    Ok(q)
}

fn encode_queue_stats(w: &mut Writer, q: &QueueStats, v: Version) -> Result<(), EncodeError> {
    if v == Version::Of10 && (q.duration_sec != 0 || q.duration_nsec != 0) {
        return Err(EncodeError::NotInVersion("queue stats duration", v));
    }
    let start = w.len();
    match v {
        Version::Of10 => {
            put_port(w, q.port_no, v)?;
            w.zeros(2);
        }
        Version::Of13 => w.u32(q.port_no),
        Version::Of14 | Version::Of15 => {
            w.u16(0);
            w.zeros(6);
            w.u32(q.port_no);
        }
    }
    w.u32(q.queue_id);
    w.u64(q.tx_bytes);
    w.u64(q.tx_packets);
    w.u64(q.tx_errors);
    if v != Version::Of10 {
        w.u32(q.duration_sec);
        w.u32(q.duration_nsec);
    }
    if v >= Version::Of14 {
        w.patch_len(start, start)?;
    }
    Ok(())
}

fn array<T>(
    mut r: Reader<'_>,
    mut one: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(one(&mut r)?);
    }
    Ok(out)
}

/// Decodes a reply body.
pub fn decode_reply(
    typ: u16,
    subtype: Option<u32>,
    mut r: Reader<'_>,
    v: Version,
) -> Result<MpReply, DecodeError> {
    Ok(match (typ, subtype) {
        (mp::DESC, _) => MpReply::Desc(Desc {
            mfr: r.string(256)?,
            hw: r.string(256)?,
            sw: r.string(256)?,
            serial: r.string(32)?,
            dp: r.string(256)?,
        }),
        (mp::FLOW, _) => MpReply::Flow(array(r, |r| decode_flow_stats(r, v, false))?),
        (mp::EXPERIMENTER, Some(NXST_FLOW)) => {
            MpReply::NxFlow(array(r, |r| decode_flow_stats(r, v, true))?)
        }
        (mp::AGGREGATE, _) if v >= Version::Of15 => {
            let ox = Oxs::decode(&mut r)?;
            MpReply::Aggregate(Aggregate {
                packet_count: ox.packet_count.unwrap_or_default(),
                byte_count: ox.byte_count.unwrap_or_default(),
                flow_count: ox.flow_count.unwrap_or_default(),
            })
        }
        (mp::AGGREGATE, _) => MpReply::Aggregate(decode_aggregate(&mut r)?),
        (mp::EXPERIMENTER, Some(NXST_AGGREGATE)) => MpReply::NxAggregate(decode_aggregate(&mut r)?),
        (mp::EXPERIMENTER, Some(sub)) => return Err(DecodeError::BadSubtype(sub)),
        (mp::TABLE, _) => MpReply::Table(array(r, |r| decode_table_stats(r, v))?),
        (mp::PORT_STATS, _) => MpReply::PortStats(array(r, |r| decode_port_stats(r, v))?),
        (mp::QUEUE, _) => MpReply::Queue(array(r, |r| decode_queue_stats(r, v))?),
        (mp::PORT_DESC, _) => MpReply::PortDesc(array(r, |r| PortDesc::decode(r, v))?),
        (mp::TABLE_FEATURES, _) if v != Version::Of10 => {
            MpReply::TableFeatures(array(r, TableFeatures::decode)?)
        }
        (mp::GROUP, _) if v != Version::Of10 => {
            MpReply::GroupStats(array(r, crate::group::GroupStats::decode)?)
        }
        (mp::GROUP_DESC, _) if v != Version::Of10 => {
            MpReply::GroupDesc(array(r, |r| crate::group::GroupDesc::decode(r, v))?)
        }
        (mp::GROUP_FEATURES, _) if v != Version::Of10 => {
            MpReply::GroupFeatures(crate::group::GroupFeatures::decode(&mut r)?)
        }
        (mp::METER, _) if v != Version::Of10 => {
            MpReply::MeterStats(array(r, crate::meter::MeterStats::decode)?)
        }
        (mp::METER_CONFIG, _) if v != Version::Of10 => {
            MpReply::MeterConfig(array(r, crate::meter::MeterConfig::decode)?)
        }
        (mp::METER_FEATURES, _) if v != Version::Of10 => {
            MpReply::MeterFeatures(crate::meter::MeterFeatures::decode(&mut r)?)
        }
        (mp::GROUP..=mp::METER_FEATURES, _) if v != Version::Of10 => MpReply::Raw {
            mp_type: typ,
            body: r.rest().to_vec(),
        },
        _ => return Err(DecodeError::BadMultipart(typ)),
    })
}

pub fn encode_reply(w: &mut Writer, rep: &MpReply, v: Version) -> Result<(), EncodeError> {
    match rep {
        MpReply::Desc(d) => {
            w.string(&d.mfr, 256);
            w.string(&d.hw, 256);
            w.string(&d.sw, 256);
            w.string(&d.serial, 32);
            w.string(&d.dp, 256);
        }
        MpReply::Flow(fs) => {
            for f in fs {
                encode_flow_stats(w, f, v, false)?;
            }
        }
        MpReply::NxFlow(fs) => {
            for f in fs {
                encode_flow_stats(w, f, v, true)?;
            }
        }
        MpReply::Aggregate(a) if v >= Version::Of15 => Oxs {
            flow_count: Some(a.flow_count),
            packet_count: Some(a.packet_count),
            byte_count: Some(a.byte_count),
            ..Oxs::default()
        }
        .encode(w),
        MpReply::Aggregate(a) | MpReply::NxAggregate(a) => {
            w.u64(a.packet_count);
            w.u64(a.byte_count);
            w.u32(a.flow_count);
            w.zeros(4);
        }
        MpReply::Table(ts) => {
            for t in ts {
                if v != Version::Of10
                    && (!t.name.is_empty() || t.wildcards != 0 || t.max_entries != 0)
                {
                    return Err(EncodeError::NotInVersion("table name or limits", v));
                }
                w.u8(t.table_id);
                w.zeros(3);
                if v == Version::Of10 {
                    w.string(&t.name, 32);
                    w.u32(t.wildcards);
                    w.u32(t.max_entries);
                }
                w.u32(t.active_count);
                w.u64(t.lookup_count);
                w.u64(t.matched_count);
            }
        }
        MpReply::PortStats(ps) => {
            for p in ps {
                encode_port_stats(w, p, v)?;
            }
        }
        MpReply::Queue(qs) => {
            for q in qs {
                encode_queue_stats(w, q, v)?;
            }
        }
        MpReply::PortDesc(ps) => {
            for p in ps {
                p.encode(w, v)?;
            }
        }
        MpReply::TableFeatures(ts) => {
            for t in ts {
                t.encode(w)?;
            }
        }
        MpReply::GroupStats(gs) => {
            for g in gs {
                g.encode(w)?;
            }
        }
        MpReply::GroupDesc(gs) => {
            for g in gs {
                g.encode(w, v)?;
            }
        }
        MpReply::GroupFeatures(f) => f.encode(w),
        MpReply::MeterStats(ms) => {
            for m in ms {
                m.encode(w)?;
            }
        }
        MpReply::MeterConfig(ms) => {
            for m in ms {
                m.encode(w)?;
            }
        }
        MpReply::MeterFeatures(f) => f.encode(w),
        MpReply::Raw { body, .. } => w.bytes(body),
    }
    Ok(())
}

/// OpenFlow 1.5's OXS statistics (`ofp_oxs_stat`): a 4-byte header (reserved, length), then
/// TLVs of class `OFPXSC_OPENFLOW_BASIC`, padded to 8 bytes. Unknown stats are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Oxs {
    pub(crate) duration: Option<(u32, u32)>,
    pub(crate) idle_time: Option<(u32, u32)>,
    pub(crate) flow_count: Option<u32>,
    pub(crate) packet_count: Option<u64>,
    pub(crate) byte_count: Option<u64>,
}

/// `OFPXSC_OPENFLOW_BASIC`.
const OXS_CLASS: u32 = 0x8002;
/// `OFPXST_OFB_*`.
const OXS_DURATION: u32 = 0;
const OXS_IDLE_TIME: u32 = 1;
const OXS_FLOW_COUNT: u32 = 3;
const OXS_PACKET_COUNT: u32 = 4;
const OXS_BYTE_COUNT: u32 = 5;

impl Oxs {
    pub(crate) fn encode(&self, w: &mut Writer) {
        let start = w.len();
        w.u16(0);
        w.u16(0);
        let head =
            |w: &mut Writer, field: u32, len: u32| w.u32((OXS_CLASS << 16) | (field << 9) | len);
        if let Some((s, ns)) = self.duration {
            head(w, OXS_DURATION, 8);
            w.u32(s);
            w.u32(ns);
        }
        if let Some((s, ns)) = self.idle_time {
            head(w, OXS_IDLE_TIME, 8);
            w.u32(s);
            w.u32(ns);
        }
        if let Some(n) = self.flow_count {
            head(w, OXS_FLOW_COUNT, 4);
            w.u32(n);
        }
        if let Some(n) = self.packet_count {
            head(w, OXS_PACKET_COUNT, 8);
            w.u64(n);
        }
        if let Some(n) = self.byte_count {
            head(w, OXS_BYTE_COUNT, 8);
            w.u64(n);
        }
        let len = (w.len() - start) as u16;
        w.patch_u16(start + 2, len);
        w.pad8_from(start);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Oxs, DecodeError> {
        let head = Reader::new(r.peek_rest(), "OXS stats").u32()?;
        let len = (head & 0xffff) as usize;
        if len < 4 {
            return Err(DecodeError::BadLength {
                what: "OXS stats",
                len,
            });
        }
        let mut b = r.sub(len, "OXS stats")?;
        r.skip(crate::wire::round8(len) - len)?;
        b.skip(4)?;
        let mut ox = Oxs::default();
        while !b.is_empty() {
            let h = b.u32()?;
            let n = (h & 0xff) as usize;
            let mut v = b.sub(n, "OXS stat")?;
            if h >> 16 != OXS_CLASS {
                continue;
            }
            match ((h >> 9) & 0x7f, n) {
                (OXS_DURATION, 8) => ox.duration = Some((v.u32()?, v.u32()?)),
                (OXS_IDLE_TIME, 8) => ox.idle_time = Some((v.u32()?, v.u32()?)),
                (OXS_FLOW_COUNT, 4) => ox.flow_count = Some(v.u32()?),
                (OXS_PACKET_COUNT, 8) => ox.packet_count = Some(v.u64()?),
                (OXS_BYTE_COUNT, 8) => ox.byte_count = Some(v.u64()?),
                _ => {}
            }
        }
        Ok(ox)
    }
}
