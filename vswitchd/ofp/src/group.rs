//! Groups on the wire: `OFPT_GROUP_MOD` and the group multipart bodies (desc, stats, features).
//!
//! OpenFlow 1.1-1.4 and 1.5 lay groups out differently. 1.1-1.4 buckets carry weight and watch
//! port/group in a fixed header and have no ids; 1.5 buckets carry an id and put weight and
//! watches in properties, and a group-mod names the bucket it acts on (`command_bucket_id`) and
//! may carry group properties, of which Open vSwitch uses one: Netronome's selection-method
//! experimenter property (`selection_method`, its 64-bit parameter and the hashed fields).
//!
//! To keep `decode(encode(m)) == m` across versions, a 1.1-1.4 decoder numbers buckets by
//! position (0, 1, ...), as OVS does, and a 1.1-1.4 encoder refuses what it cannot say (bucket
//! commands, selection methods). A 1.5 encoder writes the weight property for select groups
//! (and elsewhere only when it is not the default 1) and the watch properties only when set,
//! as OVS does.

use crate::action::{decode_actions, encode_actions};
use crate::field::{MatchEntry, decode_entries, encode_entries};
use crate::message::{get_port, put_port};
use crate::wire::{Reader, Writer};
use crate::{Action, DecodeError, EncodeError, Version, prop};

/// `OFPGC_*` group-mod commands.
pub mod gc {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
    /// OpenFlow 1.5.
    pub const INSERT_BUCKET: u16 = 3;
    /// OpenFlow 1.5.
    pub const REMOVE_BUCKET: u16 = 5;
    /// Open vSwitch's add-or-modify (`--may-create`).
    pub const ADD_OR_MOD: u16 = 0x8000;
}

/// "Any group" / "no watch group".
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// OpenFlow 1.5's "all buckets", the `command_bucket_id` of whole-group commands.
pub const BUCKET_ALL: u32 = 0xffff_ffff;
/// "Any port" (no watch port).
const OFPP_ANY: u32 = 0xffff_ffff;
const OFPGT_SELECT: u8 = 1;

/// Netronome's experimenter id and its selection-method property.
const NTR_VENDOR: u32 = 0x0000_154d;
const NTRT_SELECTION_METHOD: u32 = 1;
const GPT_EXPERIMENTER: u16 = 0xffff;
/// OpenFlow 1.5 bucket properties.
const GBPT_WEIGHT: u16 = 0;
const GBPT_WATCH_PORT: u16 = 1;
const GBPT_WATCH_GROUP: u16 = 2;

/// One bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// OpenFlow 1.5's bucket id (1.1-1.4: the bucket's position).
    pub bucket_id: u32,
    pub weight: u16,
    pub watch_port: u32,
    pub watch_group: u32,
    pub actions: Vec<Action>,
}

/// OVS's `selection_method` group property (OpenFlow 1.5 only).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Selection {
    /// `hash` or `dp_hash` (at most 15 bytes).
    pub method: String,
    pub param: u64,
    /// The hashed fields: each entry's value is the mask of the field's bits hashed (OVS
    /// writes them unmasked, value = mask).
    pub fields: Vec<MatchEntry>,
}

/// `OFPT_GROUP_MOD`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupMod {
    pub command: u16,
    pub typ: u8,
    pub group_id: u32,
    /// OpenFlow 1.5: the bucket the command acts on ([`BUCKET_ALL`] for whole-group commands).
    pub command_bucket_id: u32,
    pub buckets: Vec<Bucket>,
    pub selection: Option<Selection>,
}

/// One group in a group-desc reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    pub typ: u8,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
    pub selection: Option<Selection>,
}

/// One group in a group-stats reply (OpenFlow 1.3+).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct GroupStats {
    pub group_id: u32,
    pub ref_count: u32,
    pub packet_count: u64,
    pub byte_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    /// (packets, bytes) per bucket.
    pub buckets: Vec<(u64, u64)>,
}

/// The group-features reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct GroupFeatures {
    /// Bitmap of `1 << OFPGT_*`.
    pub types: u32,
    /// `OFPGFC_*` bits.
    pub capabilities: u32,
    pub max_groups: [u32; 4],
    /// Per group type, the bitmap of `1 << OFPAT_*` it supports.
    pub actions: [u32; 4],
}

fn decode_buckets(mut r: Reader<'_>, v: Version) -> Result<Vec<Bucket>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(if v >= Version::Of15 {
            decode_bucket15(&mut r, v)?
        } else {
            decode_bucket11(&mut r, v, out.len() as u32)?
        });
    }
    Ok(out)
}

fn decode_bucket11(r: &mut Reader<'_>, v: Version, id: u32) -> Result<Bucket, DecodeError> {
    let len = usize::from(r.u16()?);
    if len < 16 || len % 8 != 0 {
        return Err(DecodeError::BadLength {
            what: "bucket",
            len,
        });
    }
    let mut b = r.sub(len - 2, "bucket")?;
    let weight = b.u16()?;
    let watch_port = get_port(&mut b, v)?;
    let watch_group = b.u32()?;
    b.skip(4)?;
    Ok(Bucket {
        bucket_id: id,
        weight,
        watch_port,
        watch_group,
        actions: decode_actions(b, v, 0)?,
    })
}

fn decode_bucket15(r: &mut Reader<'_>, v: Version) -> Result<Bucket, DecodeError> {
    let len = usize::from(r.u16()?);
    let act_len = usize::from(r.u16()?);
    if len < 8 || len % 8 != 0 || act_len > len - 8 {
        return Err(DecodeError::BadLength {
            what: "bucket",
            len,
        });
    }
    let bucket_id = r.u32()?;
    let mut b = r.sub(len - 8, "bucket")?;
    let actions = decode_actions(b.sub(act_len, "bucket actions")?, v, 0)?;
    let mut bucket = Bucket {
        bucket_id,
        weight: 1,
        watch_port: OFPP_ANY,
        watch_group: OFPG_ANY,
        actions,
    };
    while !b.is_empty() {
        let (typ, mut p) = prop::decode(&mut b)?;
        match typ {
            GBPT_WEIGHT => bucket.weight = p.u16()?,
            GBPT_WATCH_PORT => bucket.watch_port = p.u32()?,
            GBPT_WATCH_GROUP => bucket.watch_group = p.u32()?,
            _ => return Err(DecodeError::BadValue("bucket property")),
        }
    }
    Ok(bucket)
}

fn encode_buckets(
    w: &mut Writer,
    buckets: &[Bucket],
    typ: u8,
    v: Version,
) -> Result<(), EncodeError> {
    for b in buckets {
        let start = w.len();
        w.u16(0);
        if v >= Version::Of15 {
            w.u16(0);
            w.u32(b.bucket_id);
            let a = w.len();
            encode_actions(w, &b.actions, v)?;
            w.patch_len(start + 2, a)?;
            // OVS writes the weight only for select groups; one that is not the default (1)
            // is written for any type, so that a decode of it encodes back to the same.
            if typ == OFPGT_SELECT || b.weight != 1 {
                prop::put(
                    w,
                    GBPT_WEIGHT,
                    &[(b.weight >> 8) as u8, b.weight as u8, 0, 0],
                )?;
            }
            if b.watch_port != OFPP_ANY {
                prop::put(w, GBPT_WATCH_PORT, &b.watch_port.to_be_bytes())?;
            }
            if b.watch_group != OFPG_ANY {
                prop::put(w, GBPT_WATCH_GROUP, &b.watch_group.to_be_bytes())?;
            }
        } else {
            w.u16(b.weight);
            put_port(w, b.watch_port, v)?;
            w.u32(b.watch_group);
            w.zeros(4);
            encode_actions(w, &b.actions, v)?;
        }
        w.patch_len(start, start)?;
    }
    Ok(())
}

fn decode_selection(mut r: Reader<'_>) -> Result<Option<Selection>, DecodeError> {
    let mut sel = None;
    while !r.is_empty() {
        let (typ, mut p) = prop::decode(&mut r)?;
        if typ != GPT_EXPERIMENTER {
            return Err(DecodeError::BadValue("group property"));
        }
        let vendor = p.u32()?;
        let exp_type = p.u32()?;
        if vendor != NTR_VENDOR || exp_type != NTRT_SELECTION_METHOD {
            return Err(DecodeError::BadExperimenter(vendor));
        }
        p.skip(4)?;
        let method = p.string(16)?;
        let param = p.u64()?;
        sel = Some(Selection {
            method,
            param,
            fields: decode_entries(p)?,
        });
    }
    Ok(sel)
}

fn encode_selection(w: &mut Writer, s: &Option<Selection>) -> Result<(), EncodeError> {
    let Some(s) = s else { return Ok(()) };
    let mut p = Writer::new();
    p.u32(NTR_VENDOR);
    p.u32(NTRT_SELECTION_METHOD);
    p.zeros(4);
    p.string(&s.method, 16);
    p.u64(s.param);
    encode_entries(&mut p, &s.fields);
    prop::put(w, GPT_EXPERIMENTER, &p.buf)
}

fn not_before_15(s: &Option<Selection>, v: Version) -> Result<(), EncodeError> {
    if s.is_some() && v < Version::Of15 {
        return Err(EncodeError::NotInVersion("a group selection method", v));
    }
    Ok(())
}

impl GroupMod {
    pub fn decode(r: &mut Reader<'_>, v: Version) -> Result<GroupMod, DecodeError> {
        let command = r.u16()?;
        let typ = r.u8()?;
        r.skip(1)?;
        let group_id = r.u32()?;
        if v < Version::Of15 {
            return Ok(GroupMod {
                command,
                typ,
                group_id,
                command_bucket_id: BUCKET_ALL,
                buckets: decode_buckets(r.sub(r.remaining(), "buckets")?, v)?,
                selection: None,
            });
        }
        let blen = usize::from(r.u16()?);
        r.skip(2)?;
        let command_bucket_id = r.u32()?;
        let buckets = decode_buckets(r.sub(blen, "buckets")?, v)?;
        let selection = decode_selection(r.sub(r.remaining(), "group properties")?)?;
        Ok(GroupMod {
            command,
            typ,
            group_id,
            command_bucket_id,
            buckets,
            selection,
        })
    }

    pub fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        if v == Version::Of10 {
            return Err(EncodeError::NotInVersion("group-mod", v));
        }
        not_before_15(&self.selection, v)?;
        w.u16(self.command);
        w.u8(self.typ);
        w.u8(0);
        w.u32(self.group_id);
        if v < Version::Of15 {
            // Before 1.5 a bucket command has no bucket id (OVS decodes one so, as "all
            // buckets"); one that names a bucket cannot be expressed.
            if matches!(self.command, gc::INSERT_BUCKET | gc::REMOVE_BUCKET)
                && self.command_bucket_id != BUCKET_ALL
            {
                return Err(EncodeError::NotInVersion(
                    "bucket commands naming a bucket",
                    v,
                ));
            }
            return encode_buckets(w, &self.buckets, self.typ, v);
        }
        let at = w.len();
        w.u16(0);
        w.u16(0);
        w.u32(self.command_bucket_id);
        let start = w.len();
        encode_buckets(w, &self.buckets, self.typ, v)?;
        w.patch_len(at, start)?;
        encode_selection(w, &self.selection)
    }
}

impl GroupDesc {
    pub fn decode(r: &mut Reader<'_>, v: Version) -> Result<GroupDesc, DecodeError> {
        let len = usize::from(r.u16()?);
        let head = if v >= Version::Of15 { 16 } else { 8 };
        if len < head {
            return Err(DecodeError::BadLength {
                what: "group desc",
                len,
            });
        }
        let mut b = r.sub(len - 2, "group desc")?;
        let typ = b.u8()?;
        b.skip(1)?;
        let group_id = b.u32()?;
        if v < Version::Of15 {
            return Ok(GroupDesc {
                typ,
                group_id,
                buckets: decode_buckets(b, v)?,
                selection: None,
            });
        }
        let blen = usize::from(b.u16()?);
        b.skip(6)?;
        let buckets = decode_buckets(b.sub(blen, "buckets")?, v)?;
        Ok(GroupDesc {
            typ,
            group_id,
            buckets,
            selection: decode_selection(b)?,
        })
    }

    pub fn encode(&self, w: &mut Writer, v: Version) -> Result<(), EncodeError> {
        not_before_15(&self.selection, v)?;
        let start = w.len();
        w.u16(0);
        w.u8(self.typ);
        w.u8(0);
        w.u32(self.group_id);
        if v >= Version::Of15 {
            let at = w.len();
            w.u16(0);
            w.zeros(6);
            let b = w.len();
            encode_buckets(w, &self.buckets, self.typ, v)?;
            w.patch_len(at, b)?;
            encode_selection(w, &self.selection)?;
        } else {
            encode_buckets(w, &self.buckets, self.typ, v)?;
        }
        w.patch_len(start, start)
    }
}

impl GroupStats {
    pub fn decode(r: &mut Reader<'_>) -> Result<GroupStats, DecodeError> {
        let len = usize::from(r.u16()?);
        if len < 40 || (len - 40) % 16 != 0 {
            return Err(DecodeError::BadLength {
                what: "group stats",
                len,
            });
        }
        let mut b = r.sub(len - 2, "group stats")?;
        b.skip(2)?;
        let group_id = b.u32()?;
        let ref_count = b.u32()?;
        b.skip(4)?;
        let mut s = GroupStats {
            group_id,
            ref_count,
            packet_count: b.u64()?,
            byte_count: b.u64()?,
            duration_sec: b.u32()?,
            duration_nsec: b.u32()?,
            buckets: Vec::new(),
        };
        while !b.is_empty() {
            s.buckets.push((b.u64()?, b.u64()?));
        }
        Ok(s)
    }

    pub fn encode(&self, w: &mut Writer) -> Result<(), EncodeError> {
        let start = w.len();
        w.u16(0);
        w.zeros(2);
        w.u32(self.group_id);
        w.u32(self.ref_count);
        w.zeros(4);
        w.u64(self.packet_count);
        w.u64(self.byte_count);
        w.u32(self.duration_sec);
        w.u32(self.duration_nsec);
        for (p, b) in &self.buckets {
            w.u64(*p);
            w.u64(*b);
        }
        w.patch_len(start, start)
    }
}

impl GroupFeatures {
    pub fn decode(r: &mut Reader<'_>) -> Result<GroupFeatures, DecodeError> {
        let mut f = GroupFeatures {
            types: r.u32()?,
            capabilities: r.u32()?,
            ..GroupFeatures::default()
        };
        for m in &mut f.max_groups {
            *m = r.u32()?;
        }
        for a in &mut f.actions {
            *a = r.u32()?;
        }
        Ok(f)
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.types);
        w.u32(self.capabilities);
        for m in self.max_groups.iter().chain(&self.actions) {
            w.u32(*m);
        }
    }
}

#[cfg(test)]
mod tests;
