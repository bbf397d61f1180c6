//! The TLV map: which Geneve option (class, type, length) is `tun_metadataN`, and where its
//! bytes live in a flow key.
//!
//! # Design
//!
//! OVS's `tun_table` (per bridge, programmed with `NXT_TLV_TABLE_MOD`) binds option kinds to
//! the fields `tun_metadata0..63` and allocates each a place in a 256-byte option space. Here
//! the place is fixed: `tun_metadataN` is the 8-byte slot N of [`FlowKey::tun_md`]
//! ([`slot`]), the option's data right-aligned in it, so a field means the same bytes with or
//! without a map. That keeps [`Field::TunMetadata`] a plain field (parsed, printed, matched,
//! loaded and moved like any other) and lets the map change without relocating any rule; the
//! map only says which option fills a slot on receive and which option a slot becomes on
//! transmit. A rule may use only mapped fields (the switch checks when it installs one), and a
//! mapping a rule uses cannot be deleted, as in OVS.
//!
//! The price is range: [`MAX_FIELDS`] fields of up to [`MAX_OPTION_LEN`] bytes, against OVS's
//! 64 fields of up to 124 bytes. The option space costs every megaflow entry its size twice
//! (key and mask) and every packet its zeroing, so it is kept at 64 bytes — OVN needs one
//! 4-byte option. Beyond the range, a map is refused with OVS's own errors
//! (`BAD_FIELD_IDX`, `BAD_OPT_LEN`), so a controller sees the usual failure.
//!
//! The datapath reads the map on receive (a Geneve option the map knows is copied into its
//! slot; an unknown *critical* option drops the packet, RFC 8926 §3.5.1) and on transmit (each
//! present `tun_metadataN` becomes an option). Readers take a snapshot ([`SharedTlv::guard`]);
//! writers replace the whole table.

use super::field::Field;
use super::key::TUN_MD_BYTES;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// Bytes of one field's slot.
pub const SLOT_BYTES: usize = 8;
/// Number of `tun_metadataN` fields this switch has (`tun_metadata0` .. `tun_metadata7`).
pub const MAX_FIELDS: usize = TUN_MD_BYTES / SLOT_BYTES;
/// Highest index OpenFlow can name (`tun_metadata63`).
pub const OVS_MAX_FIELDS: usize = 64;
/// Longest option data a mapping may have here (see the module docs; OVS: 124).
pub const MAX_OPTION_LEN: u8 = SLOT_BYTES as u8;

/// Byte offset of `tun_metadata{n}`'s slot in [`super::FlowKey::tun_md`].
#[inline]
pub const fn slot(n: u8) -> usize {
    (n as usize % MAX_FIELDS) * SLOT_BYTES
}

/// One mapping as a controller writes it (`{class=0xffff,type=0,len=4}->tun_metadata0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TlvMapping {
    pub class: u16,
    pub kind: u8,
    /// Option data length in bytes (a multiple of 4).
    pub len: u8,
    /// `N` of `tun_metadataN`.
    pub index: u8,
}

impl core::fmt::Display for TlvMapping {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{{class={:#x},type={:#x},len={}}}->tun_metadata{}",
            self.class, self.kind, self.len, self.index
        )
    }
}

/// A TLV map in `ovs-ofctl add-tlv-map` syntax that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid tlv mapping '{0}' (expected {{class=C,type=T,len=L}}->tun_metadataN)")]
pub struct TlvSyntaxError(pub String);

/// Parses mappings as `ovs-ofctl add-tlv-map` takes them: `{class=C,type=T,len=L}->
/// tun_metadataN`, several separated by commas. Numbers are C's `%i`: `0x` hex, a leading `0`
/// octal, else decimal. Ranges (length, index) are the table's to check, not the syntax's.
pub fn parse_tlv_maps(s: &str) -> Result<Vec<TlvMapping>, TlvSyntaxError> {
    let bad = |rest: &str| TlvSyntaxError(rest.to_owned());
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix(',').unwrap_or(rest);
        let (body, after) = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .ok_or_else(|| bad(rest))?;
        let mut parts = body.split(',');
        let mut field = |name: &str, max: u32| -> Result<u32, TlvSyntaxError> {
            parts
                .next()
                .and_then(|p| p.trim().strip_prefix(name))
                .and_then(|p| p.strip_prefix('='))
                .and_then(|v| c_int(v.trim()))
                .filter(|v| *v <= max)
                .ok_or_else(|| bad(rest))
        };
        let class = field("class", 0xffff)? as u16;
        let kind = field("type", 0xff)? as u8;
        let len = field("len", 0xff)? as u8;
        if parts.next().is_some() {
            return Err(bad(rest));
        }
        let after = after
            .strip_prefix("->tun_metadata")
            .ok_or_else(|| bad(rest))?;
        let digits = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let index = c_int(&after[..digits])
            .filter(|i| *i < OVS_MAX_FIELDS as u32)
            .ok_or_else(|| bad(rest))? as u8;
        out.push(TlvMapping {
            class,
            kind,
            len,
            index,
        });
        rest = &after[digits..];
    }
    Ok(out)
}

/// An unsigned number as C's `%i` reads it.
fn c_int(v: &str) -> Option<u32> {
    if let Some(hex) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if v.len() > 1 && v.starts_with('0') {
        u32::from_str_radix(&v[1..], 8).ok()
    } else {
        v.parse().ok()
    }
}

/// Why a TLV table change was refused (OVS's `NXTTMFC_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    #[error("option length {0} is not a multiple of 4 between 4 and {MAX_OPTION_LEN}")]
    BadOptLen(u8),
    #[error("tun_metadata{0} is out of range (this switch has tun_metadata0 to tun_metadata7)")]
    BadFieldIdx(u16),
    #[error("tun_metadata{0} is already mapped")]
    AlreadyMapped(u8),
    #[error("option class {0:#x} type {1:#x} is already mapped to another field")]
    DupEntry(u16, u8),
    #[error("tun_metadata{0} is used by a flow")]
    InUse(u8),
}

/// A mapped option: its wire identity and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlvEntry {
    pub class: u16,
    pub kind: u8,
    pub len: u8,
}

impl TlvEntry {
    /// Where field `n`'s option data sits in [`super::FlowKey::tun_md`] (right-aligned).
    #[inline]
    pub fn data_range(&self, n: u8) -> core::ops::Range<usize> {
        let end = slot(n) + SLOT_BYTES;
        end - usize::from(self.len.min(MAX_OPTION_LEN))..end
    }
}

/// One bridge's TLV map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlvTable {
    entries: [Option<TlvEntry>; MAX_FIELDS],
}

impl Default for TlvTable {
    fn default() -> TlvTable {
        TlvTable {
            entries: [None; MAX_FIELDS],
        }
    }
}

impl TlvTable {
    /// The mapping of `tun_metadata{index}`.
    pub fn entry(&self, index: u8) -> Option<TlvEntry> {
        self.entries.get(usize::from(index)).copied().flatten()
    }

    /// The field `tun_metadata{index}`, if mapped.
    pub fn field(&self, index: u8) -> Option<Field> {
        self.entry(index).map(|_| Field::TunMetadata(index))
    }

    /// The bits of `present` (a `tun_md_present` value or mask) whose field is not mapped.
    pub fn unmapped(&self, present: u64) -> Option<u8> {
        (0..OVS_MAX_FIELDS as u8).find(|n| present & (1 << n) != 0 && self.entry(*n).is_none())
    }

    /// The field index and mapping of option (`class`, `kind`).
    #[inline]
    pub fn find(&self, class: u16, kind: u8) -> Option<(u8, TlvEntry)> {
        self.entries.iter().enumerate().find_map(|(i, e)| match e {
            Some(e) if e.class == class && e.kind == kind => Some((i as u8, *e)),
            _ => None,
        })
    }

    /// Every mapping, by index.
    pub fn mappings(&self) -> Vec<TlvMapping> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                e.map(|e| TlvMapping {
                    class: e.class,
                    kind: e.kind,
                    len: e.len,
                    index: i as u8,
                })
            })
            .collect()
    }

    /// True if nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Option::is_none)
    }

    /// Adds every mapping of `maps`, or none (the table is unchanged on error).
    pub fn add(&mut self, maps: &[TlvMapping]) -> Result<(), TlvError> {
        let mut next = self.clone();
        for m in maps {
            next.add_one(m)?;
        }
        *self = next;
        Ok(())
    }

    fn add_one(&mut self, m: &TlvMapping) -> Result<(), TlvError> {
        if usize::from(m.index) >= MAX_FIELDS {
            return Err(TlvError::BadFieldIdx(m.index.into()));
        }
        // OVS allows zero-length options; their field has no bits to match, so not here.
        if m.len == 0 || !m.len.is_multiple_of(4) || m.len > MAX_OPTION_LEN {
            return Err(TlvError::BadOptLen(m.len));
        }
        if self.entries[usize::from(m.index)].is_some() {
            return Err(TlvError::AlreadyMapped(m.index));
        }
        if self.find(m.class, m.kind).is_some() {
            return Err(TlvError::DupEntry(m.class, m.kind));
        }
        self.entries[usize::from(m.index)] = Some(TlvEntry {
            class: m.class,
            kind: m.kind,
            len: m.len,
        });
        Ok(())
    }

    /// Deletes the mappings of `indices` (an unmapped one is ignored, as in OVS).
    pub fn delete(&mut self, indices: &[u8]) -> Result<(), TlvError> {
        if let Some(i) = indices.iter().find(|i| usize::from(**i) >= OVS_MAX_FIELDS) {
            return Err(TlvError::BadFieldIdx((*i).into()));
        }
        for i in indices {
            if let Some(e) = self.entries.get_mut(usize::from(*i)) {
                *e = None;
            }
        }
        Ok(())
    }

    /// Deletes every mapping.
    pub fn clear(&mut self) {
        *self = TlvTable::default();
    }
}

/// A bridge's TLV map as the datapath and the control plane share it.
#[derive(Clone, Debug, Default)]
pub struct SharedTlv(Arc<ArcSwap<TlvTable>>);

impl SharedTlv {
    /// The current table.
    #[inline]
    pub fn load(&self) -> Arc<TlvTable> {
        self.0.load_full()
    }

    /// A cheap snapshot for the datapath (no reference count traffic).
    #[inline]
    pub fn guard(&self) -> arc_swap::Guard<Arc<TlvTable>> {
        self.0.load()
    }

    /// Replaces the table.
    pub fn store(&self, t: TlvTable) {
        self.0.store(Arc::new(t));
    }
}

impl PartialEq for SharedTlv {
    fn eq(&self, other: &SharedTlv) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for SharedTlv {}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(class: u16, kind: u8, len: u8, index: u8) -> TlvMapping {
        TlvMapping {
            class,
            kind,
            len,
            index,
        }
    }

    #[test]
    fn maps_parse_as_ovs_ofctl_reads_them_and_print_back() {
        let maps = parse_tlv_maps(
            "{class=0xffff,type=0,len=4}->tun_metadata0,{class=258,type=0x80,len=8}->tun_metadata7",
        )
        .unwrap();
        assert_eq!(maps, vec![m(0xffff, 0, 4, 0), m(0x102, 0x80, 8, 7)]);
        let text: Vec<String> = maps.iter().map(|m| m.to_string()).collect();
        assert_eq!(parse_tlv_maps(&text.join(",")).unwrap(), maps);
        assert_eq!(parse_tlv_maps("").unwrap(), vec![]);
        // %i: a leading 0 is octal.
        assert_eq!(
            parse_tlv_maps("{class=010,type=0,len=4}->tun_metadata1").unwrap()[0].class,
            8
        );
        for bad in [
            "{class=0x10000,type=0,len=4}->tun_metadata0",
            "{class=1,type=256,len=4}->tun_metadata0",
            "{class=1,type=0}->tun_metadata0",
            "{class=1,type=0,len=4,x=1}->tun_metadata0",
            "{class=1,type=0,len=4}->tun_metadata64",
            "{class=1,type=0,len=4}->reg0",
            "{class=1,type=0,len=4}->tun_metadata0;",
            "class=1,type=0,len=4->tun_metadata0",
        ] {
            assert!(parse_tlv_maps(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn add_is_all_or_nothing_with_ovs_errors() {
        let mut t = TlvTable::default();
        t.add(&[m(0x102, 0x80, 4, 0), m(0xffff, 0, 8, 1)]).unwrap();
        assert_eq!(t.entry(0).unwrap().data_range(0), 4..8);
        assert_eq!(t.entry(1).unwrap().data_range(1), 8..16);
        assert_eq!(t.find(0xffff, 0).map(|x| x.0), Some(1));
        assert_eq!(t.field(0), Some(Field::TunMetadata(0)));
        assert_eq!(t.field(2), None);
        assert_eq!(t.unmapped(0b11), None);
        assert_eq!(t.unmapped(0b101), Some(2));
        let before = t.clone();
        assert_eq!(
            t.add(&[m(1, 1, 4, 2), m(1, 2, 4, 0)]),
            Err(TlvError::AlreadyMapped(0))
        );
        assert_eq!(t, before);
        assert_eq!(
            t.add(&[m(0x102, 0x80, 4, 5)]),
            Err(TlvError::DupEntry(0x102, 0x80))
        );
        assert_eq!(t.add(&[m(1, 1, 3, 5)]), Err(TlvError::BadOptLen(3)));
        assert_eq!(t.add(&[m(1, 1, 12, 5)]), Err(TlvError::BadOptLen(12)));
        assert_eq!(t.add(&[m(1, 1, 4, 8)]), Err(TlvError::BadFieldIdx(8)));
        t.delete(&[0, 40]).unwrap();
        assert_eq!(t.delete(&[64]), Err(TlvError::BadFieldIdx(64)));
        t.add(&[m(0x102, 0x80, 4, 7)]).unwrap();
        assert_eq!(t.mappings().len(), 2);
        assert_eq!(
            t.mappings()[1].to_string(),
            "{class=0x102,type=0x80,len=4}->tun_metadata7"
        );
        t.clear();
        assert!(t.is_empty());
    }
}
