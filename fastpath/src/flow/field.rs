//! The field catalogue: every matchable or settable field of a [`FlowKey`] by name, with
//! generic get / set as a `u128` value.
//!
//! A field is a bit range inside one storage member of the key (`dl_vlan` is bits 0..12 of
//! `vlan_tci`, `ip_dscp` bits 2..8 of `nw_tos`). Because a [`FlowMask`](super::FlowMask) is a
//! `FlowKey`, the same `set` writes a field's mask bits. Values are right-aligned: `ip_dscp`'s
//! value 46 is stored as `46 << 2` in `nw_tos`.
//!
//! OpenFlow-level knowledge (prerequisites, syntax, aliases) lives in `vswitchd`; this module only
//! knows where the bits are.

use super::key::FlowKey;
use core::mem::offset_of;

/// Where a field's bits live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    U8(usize),
    U16(usize),
    U32(usize),
    U64(usize),
    /// A big-endian byte array of this many bytes at this offset.
    Bytes(usize, usize),
}

/// A field of the flow key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    RecircId,
    InPort,
    Metadata,
    Reg(u8),
    CtState,
    CtZone,
    CtMark,
    CtLabel,
    /// Tunnel key (VNI, GRE key).
    TunId,
    TunSrc,
    TunDst,
    TunIpv6Src,
    TunIpv6Dst,
    TunFlags,
    TunTos,
    TunTtl,
    TunGbpId,
    TunGbpFlags,
    DlSrc,
    DlDst,
    DlType,
    /// The whole outer TCI including the CFI/present bit.
    VlanTci,
    /// VLAN id (12 bits of `vlan_tci`).
    DlVlan,
    /// VLAN priority (3 bits of `vlan_tci`).
    DlVlanPcp,
    NwSrc,
    NwDst,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Label,
    NwProto,
    /// The DSCP bits of the TOS byte, in place (`nw_tos` in OVS: mask 0xfc, value not shifted).
    NwTos,
    /// DSCP, shifted down (0..63).
    IpDscp,
    NwEcn,
    NwTtl,
    NwFrag,
    TpSrc,
    TpDst,
    TcpFlags,
    IcmpType,
    IcmpCode,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    NdTarget,
    NdSll,
    NdTll,
    /// The id of a conjunctive match (`conj_id`): set only during the classifier's second
    /// lookup for a conjunction that matched.
    ConjId,
    /// `tun_metadataN` (N < [`crate::flow::tlv::MAX_FIELDS`]): the 8-byte slot N of
    /// [`FlowKey::tun_md`], option data right-aligned (see [`crate::flow::tlv`]). Writing it
    /// (value or mask) also sets bit N of `tun_md_present`: a match on the field requires the
    /// option, and a packet given a value carries the option out.
    TunMetadata(u8),
}

/// Every field, in a stable order (registers expanded).
pub const ALL_FIELDS: [Field; 72] = {
    use Field::*;
    [
        RecircId,
        InPort,
        Metadata,
        Reg(0),
        Reg(1),
        Reg(2),
        Reg(3),
        Reg(4),
        Reg(5),
        Reg(6),
        Reg(7),
        Reg(8),
        Reg(9),
        Reg(10),
        Reg(11),
        Reg(12),
        Reg(13),
        Reg(14),
        Reg(15),
        CtState,
        CtZone,
        CtMark,
        CtLabel,
        TunId,
        TunSrc,
        TunDst,
        TunIpv6Src,
        TunIpv6Dst,
        TunFlags,
        TunTos,
        TunTtl,
        TunGbpId,
        TunGbpFlags,
        DlSrc,
        DlDst,
        DlType,
        VlanTci,
        DlVlan,
        DlVlanPcp,
        NwSrc,
        NwDst,
        Ipv6Src,
        Ipv6Dst,
        Ipv6Label,
        NwProto,
        NwTos,
        IpDscp,
        NwEcn,
        NwTtl,
        NwFrag,
        TpSrc,
        TpDst,
        TcpFlags,
        IcmpType,
        IcmpCode,
        ArpOp,
        ArpSpa,
        ArpTpa,
        ArpSha,
        ArpTha,
        NdTarget,
        NdSll,
        NdTll,
        ConjId,
        TunMetadata(0),
        TunMetadata(1),
        TunMetadata(2),
        TunMetadata(3),
        TunMetadata(4),
        TunMetadata(5),
        TunMetadata(6),
        TunMetadata(7),
    ]
};

impl Field {
    /// (storage, bit shift within it, width in bits)
    fn layout(self) -> (Storage, u32, u32) {
        use Field::*;
        use Storage::*;
        match self {
            RecircId => (U32(offset_of!(FlowKey, recirc_id)), 0, 32),
            InPort => (U32(offset_of!(FlowKey, in_port)), 0, 32),
            Metadata => (U64(offset_of!(FlowKey, metadata)), 0, 64),
            Reg(n) => (
                U32(offset_of!(FlowKey, regs) + 4 * (n as usize & 15)),
                0,
                32,
            ),
            CtState => (U8(offset_of!(FlowKey, ct_state)), 0, 8),
            CtZone => (U16(offset_of!(FlowKey, ct_zone)), 0, 16),
            CtMark => (U32(offset_of!(FlowKey, ct_mark)), 0, 32),
            CtLabel => (Bytes(offset_of!(FlowKey, ct_label), 16), 0, 128),
            TunId => (U64(offset_of!(FlowKey, tun_id)), 0, 64),
            TunSrc => (U32(offset_of!(FlowKey, tun_src)), 0, 32),
            TunDst => (U32(offset_of!(FlowKey, tun_dst)), 0, 32),
            TunIpv6Src => (Bytes(offset_of!(FlowKey, tun_ipv6_src), 16), 0, 128),
            TunIpv6Dst => (Bytes(offset_of!(FlowKey, tun_ipv6_dst), 16), 0, 128),
            TunFlags => (U16(offset_of!(FlowKey, tun_flags)), 0, 16),
            TunTos => (U8(offset_of!(FlowKey, tun_tos)), 0, 8),
            TunTtl => (U8(offset_of!(FlowKey, tun_ttl)), 0, 8),
            TunGbpId => (U16(offset_of!(FlowKey, tun_gbp_id)), 0, 16),
            TunGbpFlags => (U8(offset_of!(FlowKey, tun_gbp_flags)), 0, 8),
            DlSrc => (Bytes(offset_of!(FlowKey, dl_src), 6), 0, 48),
            DlDst => (Bytes(offset_of!(FlowKey, dl_dst), 6), 0, 48),
            DlType => (U16(offset_of!(FlowKey, dl_type)), 0, 16),
            VlanTci => (U16(offset_of!(FlowKey, vlan_tci)), 0, 16),
            DlVlan => (U16(offset_of!(FlowKey, vlan_tci)), 0, 12),
            DlVlanPcp => (U16(offset_of!(FlowKey, vlan_tci)), 13, 3),
            NwSrc | ArpSpa => (U32(offset_of!(FlowKey, nw_src)), 0, 32),
            NwDst | ArpTpa => (U32(offset_of!(FlowKey, nw_dst)), 0, 32),
            Ipv6Src => (Bytes(offset_of!(FlowKey, ipv6_src), 16), 0, 128),
            Ipv6Dst => (Bytes(offset_of!(FlowKey, ipv6_dst), 16), 0, 128),
            Ipv6Label => (U32(offset_of!(FlowKey, ipv6_label)), 0, 20),
            NwProto => (U8(offset_of!(FlowKey, nw_proto)), 0, 8),
            ArpOp => (U8(offset_of!(FlowKey, nw_proto)), 0, 8),
            NwTos => (U8(offset_of!(FlowKey, nw_tos)), 0, 8),
            IpDscp => (U8(offset_of!(FlowKey, nw_tos)), 2, 6),
            NwEcn => (U8(offset_of!(FlowKey, nw_tos)), 0, 2),
            NwTtl => (U8(offset_of!(FlowKey, nw_ttl)), 0, 8),
            NwFrag => (U8(offset_of!(FlowKey, nw_frag)), 0, 2),
            TpSrc | IcmpType => (U16(offset_of!(FlowKey, tp_src)), 0, 16),
            TpDst | IcmpCode => (U16(offset_of!(FlowKey, tp_dst)), 0, 16),
            TcpFlags => (U16(offset_of!(FlowKey, tcp_flags)), 0, 12),
            NdTarget => (Bytes(offset_of!(FlowKey, nd_target), 16), 0, 128),
            ArpSha | NdSll => (Bytes(offset_of!(FlowKey, arp_sha), 6), 0, 48),
            ArpTha | NdTll => (Bytes(offset_of!(FlowKey, arp_tha), 6), 0, 48),
            ConjId => (U32(offset_of!(FlowKey, conj_id)), 0, 32),
            TunMetadata(n) => (
                Bytes(
                    offset_of!(FlowKey, tun_md) + crate::flow::tlv::slot(n),
                    crate::flow::tlv::SLOT_BYTES,
                ),
                0,
                8 * crate::flow::tlv::SLOT_BYTES as u32,
            ),
        }
    }

    /// Width in bits. ICMP type/code are 8 bits even though they share 16-bit storage.
    pub fn bits(self) -> u32 {
        match self {
            Field::IcmpType | Field::IcmpCode => 8,
            Field::NwTos => 8,
            _ => self.layout().2,
        }
    }

    /// All-ones value of this field's width.
    pub fn max_value(self) -> u128 {
        let b = self.bits();
        if b >= 128 {
            u128::MAX
        } else {
            (1u128 << b) - 1
        }
    }

    /// The field's value in `key`.
    pub fn get(self, key: &FlowKey) -> u128 {
        let (st, shift, width) = self.layout();
        let raw = read_storage(key, st);
        let v = raw >> shift;
        if width >= 128 {
            v
        } else {
            v & ((1u128 << width) - 1)
        }
    }

    /// Writes `value` (truncated to the field's width) into `key`, leaving other bits alone.
    pub fn set(self, key: &mut FlowKey, value: u128) {
        let (st, shift, width) = self.layout();
        let fmask = if width >= 128 {
            u128::MAX
        } else {
            (1u128 << width) - 1
        };
        let raw = read_storage(key, st);
        let new = (raw & !(fmask << shift)) | ((value & fmask) << shift);
        write_storage(key, st, new);
        if let Field::TunMetadata(n) = self {
            key.tun_md_present |= 1 << (n & 63);
        }
    }

    /// Writes `value` under `mask` (bits of `mask` that are 0 keep their old value).
    pub fn set_masked(self, key: &mut FlowKey, value: u128, mask: u128) {
        let old = self.get(key);
        self.set(key, (old & !mask) | (value & mask));
    }

    /// A mask with exactly this field's bits set (the field's "exact match" mask).
    pub fn exact_mask(self) -> FlowKey {
        let mut m = FlowKey::ZERO;
        self.set(&mut m, u128::MAX);
        m
    }

    /// The canonical ovs-fields(7) name.
    pub fn name(self) -> &'static str {
        use Field::*;
        match self {
            RecircId => "recirc_id",
            InPort => "in_port",
            Metadata => "metadata",
            Reg(n) => REG_NAMES[n as usize & 15],
            CtState => "ct_state",
            CtZone => "ct_zone",
            CtMark => "ct_mark",
            CtLabel => "ct_label",
            TunId => "tun_id",
            TunSrc => "tun_src",
            TunDst => "tun_dst",
            TunIpv6Src => "tun_ipv6_src",
            TunIpv6Dst => "tun_ipv6_dst",
            TunFlags => "tun_flags",
            TunTos => "tun_tos",
            TunTtl => "tun_ttl",
            TunGbpId => "tun_gbp_id",
            TunGbpFlags => "tun_gbp_flags",
            DlSrc => "dl_src",
            DlDst => "dl_dst",
            DlType => "dl_type",
            VlanTci => "vlan_tci",
            DlVlan => "dl_vlan",
            DlVlanPcp => "dl_vlan_pcp",
            NwSrc => "nw_src",
            NwDst => "nw_dst",
            Ipv6Src => "ipv6_src",
            Ipv6Dst => "ipv6_dst",
            Ipv6Label => "ipv6_label",
            NwProto => "nw_proto",
            NwTos => "nw_tos",
            IpDscp => "ip_dscp",
            NwEcn => "nw_ecn",
            NwTtl => "nw_ttl",
            NwFrag => "nw_frag",
            TpSrc => "tp_src",
            TpDst => "tp_dst",
            TcpFlags => "tcp_flags",
            IcmpType => "icmp_type",
            IcmpCode => "icmp_code",
            ArpOp => "arp_op",
            ArpSpa => "arp_spa",
            ArpTpa => "arp_tpa",
            ArpSha => "arp_sha",
            ArpTha => "arp_tha",
            NdTarget => "nd_target",
            NdSll => "nd_sll",
            NdTll => "nd_tll",
            ConjId => "conj_id",
            TunMetadata(n) => TUN_METADATA_NAMES[usize::from(n & 63)],
        }
    }
}

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];

/// `tun_metadata0` .. `tun_metadata63`.
pub const TUN_METADATA_NAMES: [&str; 64] = [
    "tun_metadata0",
    "tun_metadata1",
    "tun_metadata2",
    "tun_metadata3",
    "tun_metadata4",
    "tun_metadata5",
    "tun_metadata6",
    "tun_metadata7",
    "tun_metadata8",
    "tun_metadata9",
    "tun_metadata10",
    "tun_metadata11",
    "tun_metadata12",
    "tun_metadata13",
    "tun_metadata14",
    "tun_metadata15",
    "tun_metadata16",
    "tun_metadata17",
    "tun_metadata18",
    "tun_metadata19",
    "tun_metadata20",
    "tun_metadata21",
    "tun_metadata22",
    "tun_metadata23",
    "tun_metadata24",
    "tun_metadata25",
    "tun_metadata26",
    "tun_metadata27",
    "tun_metadata28",
    "tun_metadata29",
    "tun_metadata30",
    "tun_metadata31",
    "tun_metadata32",
    "tun_metadata33",
    "tun_metadata34",
    "tun_metadata35",
    "tun_metadata36",
    "tun_metadata37",
    "tun_metadata38",
    "tun_metadata39",
    "tun_metadata40",
    "tun_metadata41",
    "tun_metadata42",
    "tun_metadata43",
    "tun_metadata44",
    "tun_metadata45",
    "tun_metadata46",
    "tun_metadata47",
    "tun_metadata48",
    "tun_metadata49",
    "tun_metadata50",
    "tun_metadata51",
    "tun_metadata52",
    "tun_metadata53",
    "tun_metadata54",
    "tun_metadata55",
    "tun_metadata56",
    "tun_metadata57",
    "tun_metadata58",
    "tun_metadata59",
    "tun_metadata60",
    "tun_metadata61",
    "tun_metadata62",
    "tun_metadata63",
];

fn read_storage(key: &FlowKey, st: Storage) -> u128 {
    let b = zerocopy::IntoBytes::as_bytes(key);
    match st {
        Storage::U8(o) => b[o] as u128,
        Storage::U16(o) => u16::from_ne_bytes([b[o], b[o + 1]]) as u128,
        Storage::U32(o) => u32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or([0; 4])) as u128,
        Storage::U64(o) => u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or([0; 8])) as u128,
        Storage::Bytes(o, n) => b[o..o + n]
            .iter()
            .fold(0u128, |acc, x| (acc << 8) | *x as u128),
    }
}

fn write_storage(key: &mut FlowKey, st: Storage, v: u128) {
    let b = zerocopy::IntoBytes::as_mut_bytes(key);
    match st {
        Storage::U8(o) => b[o] = v as u8,
        Storage::U16(o) => b[o..o + 2].copy_from_slice(&(v as u16).to_ne_bytes()),
        Storage::U32(o) => b[o..o + 4].copy_from_slice(&(v as u32).to_ne_bytes()),
        Storage::U64(o) => b[o..o + 8].copy_from_slice(&(v as u64).to_ne_bytes()),
        Storage::Bytes(o, n) => {
            for i in 0..n {
                b[o + i] = (v >> (8 * (n - 1 - i))) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::key::VLAN_CFI;

    #[test]
    fn subfields_touch_only_their_bits() {
        let mut k = FlowKey::ZERO;
        k.vlan_tci = VLAN_CFI | 5;
        Field::DlVlanPcp.set(&mut k, 3);
        assert_eq!(k.vlan_tci, VLAN_CFI | 5 | (3 << 13));
        assert_eq!(Field::DlVlan.get(&k), 5);
        Field::IpDscp.set(&mut k, 46);
        assert_eq!(k.nw_tos, 46 << 2);
        Field::NwEcn.set(&mut k, 1);
        assert_eq!(k.nw_tos, (46 << 2) | 1);
        assert_eq!(Field::NwTos.get(&k), ((46 << 2) | 1) as u128);
    }

    #[test]
    fn byte_fields_are_big_endian_values() {
        let mut k = FlowKey::ZERO;
        Field::DlSrc.set(&mut k, 0x0000_0000_0001);
        assert_eq!(k.dl_src, [0, 0, 0, 0, 0, 1]);
        Field::Ipv6Dst.set(&mut k, 1u128 << 120);
        assert_eq!(k.ipv6_dst[0], 1);
        Field::Reg(3).set(&mut k, 0xdead_beef);
        assert_eq!(k.regs[3], 0xdead_beef);
        assert_eq!(Field::Reg(3).get(&k), 0xdead_beef);
    }

    #[test]
    fn tun_metadata_lives_where_its_map_says_and_marks_presence() {
        let f = Field::TunMetadata(3);
        let mut k = FlowKey::ZERO;
        f.set(&mut k, 0x0102_0304);
        assert_eq!(&k.tun_md[24..32], &[0, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(k.tun_md_present, 1 << 3);
        assert_eq!(f.get(&k), 0x0102_0304);
        assert_eq!(f.bits(), 64);
        assert_eq!(f.name(), "tun_metadata3");
        let m = f.exact_mask();
        assert_eq!(m.tun_md_present, 1 << 3);
        assert_eq!(&m.tun_md[24..32], &[0xff; 8]);
        assert!(
            m.tun_md[..24]
                .iter()
                .chain(&m.tun_md[32..])
                .all(|b| *b == 0)
        );
    }

    #[test]
    fn every_field_roundtrips_its_max_value() {
        for f in ALL_FIELDS {
            let mut k = FlowKey::ZERO;
            f.set(&mut k, u128::MAX);
            let want = if matches!(f, Field::IcmpType | Field::IcmpCode) {
                0xffff
            } else {
                f.max_value()
            };
            assert_eq!(f.get(&k), want, "{}", f.name());
            assert!(!f.exact_mask().is_zero());
        }
    }
}
