//! Match fields in their OXM and NXM wire forms (ovs-fields(7)).
//!
//! A field entry on the wire is a 32-bit header — class (16 bits), field (7), has-mask (1),
//! payload length (8) — then the value and, if masked, the mask; experimenter classes
//! (`0xffff`) add a 32-bit experimenter id whose 4 bytes the length counts. [`FieldId`] names
//! exactly one such header, so decoding and encoding are inverse: `NXM_OF_IN_PORT` (16 bits)
//! and `OXM_OF_IN_PORT` (32 bits) are different ids, as are `tcp_src` and `udp_src`, and the
//! ONF experimenter `tcp_flags` of OpenFlow 1.3 and the standard one of 1.5. Values of up to
//! 16 bytes are held in a `u128`, right-aligned.
//!
//! Invariants of a decoded list: every header is known, each field appears once, masks appear
//! only on maskable fields, and the length byte equals the field's width (times two with a
//! mask). The value is kept as sent (bits outside the mask are not cleared), so the bytes
//! re-encode identically; the switch canonicalises when it converts to its rule model.

use crate::wire::{Reader, Writer};
use crate::{DecodeError, EncodeError, error::ONF_VENDOR};

/// OXM class of the OpenFlow basic fields.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// OXM class of the packet registers (`xreg0..7`).
pub const OFPXMC_PACKET_REGS: u16 = 0x8001;
/// Nicira's NXM classes.
pub const NXM_OF: u16 = 0x0000;
pub const NXM_NX: u16 = 0x0001;
/// Experimenter class.
pub const OFPXMC_EXPERIMENTER: u16 = 0xffff;

/// One wire field header (without the mask bit and length).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldId {
    // OpenFlow basic class.
    InPort,
    InPhyPort,
    Metadata,
    EthDst,
    EthSrc,
    EthType,
    VlanVid,
    VlanPcp,
    IpDscp,
    IpEcn,
    IpProto,
    Ipv4Src,
    Ipv4Dst,
    TcpSrc,
    TcpDst,
    UdpSrc,
    UdpDst,
    SctpSrc,
    SctpDst,
    Icmpv4Type,
    Icmpv4Code,
    ArpOp,
    ArpSpa,
    ArpTpa,
    ArpSha,
    ArpTha,
    Ipv6Src,
    Ipv6Dst,
    Ipv6Flabel,
    Icmpv6Type,
    Icmpv6Code,
    NdTarget,
    NdSll,
    NdTll,
    MplsLabel,
    MplsTc,
    MplsBos,
    TunnelId,
    TcpFlags,
    ActsetOutput,
    PacketType,
    // ONF experimenter fields (OpenFlow 1.3's spelling of 1.5's fields).
    OnfTcpFlags,
    OnfActsetOutput,
    // NXM_OF class.
    NxmInPort,
    NxmEthDst,
    NxmEthSrc,
    NxmEthType,
    VlanTci,
    IpTos,
    NxmIpProto,
    NxmIpSrc,
    NxmIpDst,
    NxmTcpSrc,
    NxmTcpDst,
    NxmUdpSrc,
    NxmUdpDst,
    NxmIcmpType,
    NxmIcmpCode,
    NxmArpOp,
    NxmArpSpa,
    NxmArpTpa,
    // NXM_NX class.
    Reg(u8),
    TunId,
    NxmArpSha,
    NxmArpTha,
    NxmIpv6Src,
    NxmIpv6Dst,
    NxmIcmpv6Type,
    NxmIcmpv6Code,
    NxmNdTarget,
    NxmNdSll,
    NxmNdTll,
    IpFrag,
    NxmIpv6Label,
    NxmIpEcn,
    IpTtl,
    MplsTtl,
    TunIpv4Src,
    TunIpv4Dst,
    PktMark,
    NxmTcpFlags,
    DpHash,
    RecircId,
    ConjId,
    TunGbpId,
    TunGbpFlags,
    TunFlags,
    CtState,
    CtZone,
    CtMark,
    CtLabel,
    TunIpv6Src,
    TunIpv6Dst,
    Xxreg(u8),
    CtNwProto,
    CtNwSrc,
    CtNwDst,
    CtIpv6Src,
    CtIpv6Dst,
    CtTpSrc,
    CtTpDst,
    // Packet register class.
    Xreg(u8),
    /// `NXM_NX_TUN_METADATA{index}` with a payload of `len` bytes: a variable-length field
    /// (matches carry the option's length, actions OVS's maximum, 124).
    TunMetadata(u8, u8),
}

/// Where a field lives on the wire and how wide it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// ovs-fields(7) name.
    pub name: &'static str,
    pub class: u16,
    pub code: u8,
    /// Experimenter id for class `0xffff`, else 0.
    pub experimenter: u32,
    /// Value width in bytes.
    pub width: u8,
    pub maskable: bool,
}

const fn d(name: &'static str, class: u16, code: u8, width: u8, maskable: bool) -> FieldDef {
    FieldDef {
        name,
        class,
        code,
        experimenter: 0,
        width,
        maskable,
    }
}

const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
const XREG_NAMES: [&str; 8] = [
    "xreg0", "xreg1", "xreg2", "xreg3", "xreg4", "xreg5", "xreg6", "xreg7",
];
const TUN_METADATA_NAMES: [&str; 64] = [
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
/// NXM code of `tun_metadata0` (the others follow).
const TUN_METADATA_CODE: u8 = 40;
/// Longest `tun_metadata` payload OVS allows.
pub const TUN_METADATA_MAX_LEN: u8 = 124;

const XXREG_NAMES: [&str; 4] = ["xxreg0", "xxreg1", "xxreg2", "xxreg3"];

impl FieldId {
    /// Every field (registers expanded), for lookups and tests.
    pub fn all() -> impl Iterator<Item = FieldId> {
        use FieldId::*;
        [
            InPort,
            InPhyPort,
            Metadata,
            EthDst,
            EthSrc,
            EthType,
            VlanVid,
            VlanPcp,
            IpDscp,
            IpEcn,
            IpProto,
            Ipv4Src,
            Ipv4Dst,
            TcpSrc,
            TcpDst,
            UdpSrc,
            UdpDst,
            SctpSrc,
            SctpDst,
            Icmpv4Type,
            Icmpv4Code,
            ArpOp,
            ArpSpa,
            ArpTpa,
            ArpSha,
            ArpTha,
            Ipv6Src,
            Ipv6Dst,
            Ipv6Flabel,
            Icmpv6Type,
            Icmpv6Code,
            NdTarget,
            NdSll,
            NdTll,
            MplsLabel,
            MplsTc,
            MplsBos,
            TunnelId,
            TcpFlags,
            ActsetOutput,
            PacketType,
            OnfTcpFlags,
            OnfActsetOutput,
            NxmInPort,
            NxmEthDst,
            NxmEthSrc,
            NxmEthType,
            VlanTci,
            IpTos,
            NxmIpProto,
            NxmIpSrc,
            NxmIpDst,
            NxmTcpSrc,
            NxmTcpDst,
            NxmUdpSrc,
            NxmUdpDst,
            NxmIcmpType,
            NxmIcmpCode,
            NxmArpOp,
            NxmArpSpa,
            NxmArpTpa,
            TunId,
            NxmArpSha,
            NxmArpTha,
            NxmIpv6Src,
            NxmIpv6Dst,
            NxmIcmpv6Type,
            NxmIcmpv6Code,
            NxmNdTarget,
            NxmNdSll,
            NxmNdTll,
            IpFrag,
            NxmIpv6Label,
            NxmIpEcn,
            IpTtl,
            MplsTtl,
            TunIpv4Src,
            TunIpv4Dst,
            PktMark,
            NxmTcpFlags,
            DpHash,
            RecircId,
            ConjId,
            TunGbpId,
            TunGbpFlags,
            TunFlags,
            CtState,
            CtZone,
            CtMark,
            CtLabel,
            TunIpv6Src,
            TunIpv6Dst,
            CtNwProto,
            CtNwSrc,
            CtNwDst,
            CtIpv6Src,
            CtIpv6Dst,
            CtTpSrc,
            CtTpDst,
        ]
        .into_iter()
        .chain((0..16).map(Reg))
        .chain((0..4).map(Xxreg))
        .chain((0..8).map(Xreg))
    }

    /// The field's wire definition.
    pub fn def(self) -> FieldDef {
        use FieldId::*;
        const B: u16 = OFPXMC_OPENFLOW_BASIC;
        const OF: u16 = NXM_OF;
        const NX: u16 = NXM_NX;
        let onf = |name, code, width, maskable| FieldDef {
            name,
            class: OFPXMC_EXPERIMENTER,
            code,
            experimenter: ONF_VENDOR,
            width,
            maskable,
        };
        match self {
            InPort => d("in_port", B, 0, 4, false),
            InPhyPort => d("in_phy_port", B, 1, 4, false),
            Metadata => d("metadata", B, 2, 8, true),
            EthDst => d("eth_dst", B, 3, 6, true),
            EthSrc => d("eth_src", B, 4, 6, true),
            EthType => d("eth_type", B, 5, 2, false),
            VlanVid => d("vlan_vid", B, 6, 2, true),
            VlanPcp => d("vlan_pcp", B, 7, 1, false),
            IpDscp => d("ip_dscp", B, 8, 1, false),
            IpEcn => d("ip_ecn", B, 9, 1, false),
            IpProto => d("ip_proto", B, 10, 1, false),
            Ipv4Src => d("ip_src", B, 11, 4, true),
            Ipv4Dst => d("ip_dst", B, 12, 4, true),
            TcpSrc => d("tcp_src", B, 13, 2, true),
            TcpDst => d("tcp_dst", B, 14, 2, true),
            UdpSrc => d("udp_src", B, 15, 2, true),
            UdpDst => d("udp_dst", B, 16, 2, true),
            SctpSrc => d("sctp_src", B, 17, 2, true),
            SctpDst => d("sctp_dst", B, 18, 2, true),
            Icmpv4Type => d("icmp_type", B, 19, 1, false),
            Icmpv4Code => d("icmp_code", B, 20, 1, false),
            ArpOp => d("arp_op", B, 21, 2, false),
            ArpSpa => d("arp_spa", B, 22, 4, true),
            ArpTpa => d("arp_tpa", B, 23, 4, true),
            ArpSha => d("arp_sha", B, 24, 6, true),
            ArpTha => d("arp_tha", B, 25, 6, true),
            Ipv6Src => d("ipv6_src", B, 26, 16, true),
            Ipv6Dst => d("ipv6_dst", B, 27, 16, true),
            Ipv6Flabel => d("ipv6_label", B, 28, 4, true),
            Icmpv6Type => d("icmpv6_type", B, 29, 1, false),
            Icmpv6Code => d("icmpv6_code", B, 30, 1, false),
            NdTarget => d("nd_target", B, 31, 16, true),
            NdSll => d("nd_sll", B, 32, 6, true),
            NdTll => d("nd_tll", B, 33, 6, true),
            MplsLabel => d("mpls_label", B, 34, 4, false),
            MplsTc => d("mpls_tc", B, 35, 1, false),
            MplsBos => d("mpls_bos", B, 36, 1, false),
            TunnelId => d("tun_id", B, 38, 8, true),
            TcpFlags => d("tcp_flags", B, 42, 2, true),
            ActsetOutput => d("actset_output", B, 43, 4, false),
            PacketType => d("packet_type", B, 44, 4, false),
            OnfTcpFlags => onf("tcp_flags", 42, 2, true),
            OnfActsetOutput => onf("actset_output", 43, 4, false),
            NxmInPort => d("in_port", OF, 0, 2, false),
            NxmEthDst => d("eth_dst", OF, 1, 6, true),
            NxmEthSrc => d("eth_src", OF, 2, 6, true),
            NxmEthType => d("eth_type", OF, 3, 2, false),
            VlanTci => d("vlan_tci", OF, 4, 2, true),
            IpTos => d("nw_tos", OF, 5, 1, false),
            NxmIpProto => d("ip_proto", OF, 6, 1, false),
            NxmIpSrc => d("ip_src", OF, 7, 4, true),
            NxmIpDst => d("ip_dst", OF, 8, 4, true),
            NxmTcpSrc => d("tcp_src", OF, 9, 2, true),
            NxmTcpDst => d("tcp_dst", OF, 10, 2, true),
            NxmUdpSrc => d("udp_src", OF, 11, 2, true),
            NxmUdpDst => d("udp_dst", OF, 12, 2, true),
            NxmIcmpType => d("icmp_type", OF, 13, 1, false),
            NxmIcmpCode => d("icmp_code", OF, 14, 1, false),
            NxmArpOp => d("arp_op", OF, 15, 2, false),
            NxmArpSpa => d("arp_spa", OF, 16, 4, true),
            NxmArpTpa => d("arp_tpa", OF, 17, 4, true),
            Reg(n) => d(REG_NAMES[usize::from(n & 15)], NX, n & 15, 4, true),
            TunId => d("tun_id", NX, 16, 8, true),
            NxmArpSha => d("arp_sha", NX, 17, 6, true),
            NxmArpTha => d("arp_tha", NX, 18, 6, true),
            NxmIpv6Src => d("ipv6_src", NX, 19, 16, true),
            NxmIpv6Dst => d("ipv6_dst", NX, 20, 16, true),
            NxmIcmpv6Type => d("icmpv6_type", NX, 21, 1, false),
            NxmIcmpv6Code => d("icmpv6_code", NX, 22, 1, false),
            NxmNdTarget => d("nd_target", NX, 23, 16, true),
            NxmNdSll => d("nd_sll", NX, 24, 6, true),
            NxmNdTll => d("nd_tll", NX, 25, 6, true),
            IpFrag => d("ip_frag", NX, 26, 1, true),
            NxmIpv6Label => d("ipv6_label", NX, 27, 4, true),
            NxmIpEcn => d("nw_ecn", NX, 28, 1, false),
            IpTtl => d("nw_ttl", NX, 29, 1, false),
            MplsTtl => d("mpls_ttl", NX, 30, 1, false),
            TunIpv4Src => d("tun_src", NX, 31, 4, true),
            TunIpv4Dst => d("tun_dst", NX, 32, 4, true),
            PktMark => d("pkt_mark", NX, 33, 4, true),
            NxmTcpFlags => d("tcp_flags", NX, 34, 2, true),
            DpHash => d("dp_hash", NX, 35, 4, true),
            RecircId => d("recirc_id", NX, 36, 4, false),
            ConjId => d("conj_id", NX, 37, 4, false),
            TunGbpId => d("tun_gbp_id", NX, 38, 2, true),
            TunGbpFlags => d("tun_gbp_flags", NX, 39, 1, true),
            TunFlags => d("tun_flags", NX, 104, 2, true),
            CtState => d("ct_state", NX, 105, 4, true),
            CtZone => d("ct_zone", NX, 106, 2, false),
            CtMark => d("ct_mark", NX, 107, 4, true),
            CtLabel => d("ct_label", NX, 108, 16, true),
            TunIpv6Src => d("tun_ipv6_src", NX, 109, 16, true),
            TunIpv6Dst => d("tun_ipv6_dst", NX, 110, 16, true),
            Xxreg(n) => d(XXREG_NAMES[usize::from(n & 3)], NX, 111 + (n & 3), 16, true),
            CtNwProto => d("ct_nw_proto", NX, 119, 1, false),
            CtNwSrc => d("ct_nw_src", NX, 120, 4, true),
            CtNwDst => d("ct_nw_dst", NX, 121, 4, true),
            CtIpv6Src => d("ct_ipv6_src", NX, 122, 16, true),
            CtIpv6Dst => d("ct_ipv6_dst", NX, 123, 16, true),
            CtTpSrc => d("ct_tp_src", NX, 124, 2, true),
            CtTpDst => d("ct_tp_dst", NX, 125, 2, true),
            Xreg(n) => d(
                XREG_NAMES[usize::from(n & 7)],
                OFPXMC_PACKET_REGS,
                n & 7,
                8,
                true,
            ),
            TunMetadata(n, len) => d(
                TUN_METADATA_NAMES[usize::from(n & 63)],
                NX,
                TUN_METADATA_CODE + (n & 63),
                len,
                true,
            ),
        }
    }

    /// The `tun_metadata` field a header with this class, code and payload length names
    /// (the length of the value alone).
    pub fn tun_metadata(class: u16, code: u8, len: u32) -> Option<FieldId> {
        let n = code.checked_sub(TUN_METADATA_CODE).filter(|n| *n < 64)?;
        let len = u8::try_from(len).ok()?;
        (class == NXM_NX && (1..=TUN_METADATA_MAX_LEN).contains(&len))
            .then_some(FieldId::TunMetadata(n, len))
    }

    /// Normalises out-of-range register indices (so `Reg(20)` cannot exist after decoding).
    pub fn is_valid(self) -> bool {
        match self {
            FieldId::Reg(n) => n < 16,
            FieldId::Xxreg(n) => n < 4,
            FieldId::Xreg(n) => n < 8,
            FieldId::TunMetadata(n, len) => n < 64 && (1..=TUN_METADATA_MAX_LEN).contains(&len),
            _ => true,
        }
    }

    /// The field with this class, code and experimenter.
    pub fn lookup(class: u16, code: u8, experimenter: u32) -> Option<FieldId> {
        match class {
            NXM_NX if code < 16 => return Some(FieldId::Reg(code)),
            NXM_NX if (111..115).contains(&code) => return Some(FieldId::Xxreg(code - 111)),
            OFPXMC_PACKET_REGS if code < 8 => return Some(FieldId::Xreg(code)),
            _ => {}
        }
        FieldId::all().find(|f| {
            let def = f.def();
            def.class == class && def.code == code && def.experimenter == experimenter
        })
    }

    /// The 32-bit header (the `oxm_header`/`nxm_header`), for a value with or without mask.
    pub fn header(self, masked: bool) -> u32 {
        let def = self.def();
        let exp_len = if def.experimenter != 0 { 4 } else { 0 };
        let len = u32::from(def.width) * if masked { 2 } else { 1 } + exp_len;
        (u32::from(def.class) << 16) | (u32::from(def.code) << 9) | (u32::from(masked) << 8) | len
    }

    /// The field's value width in bits.
    pub fn bits(self) -> u32 {
        u32::from(self.def().width) * 8
    }
}

/// One field of a match: `field == value` under `mask` (`None`: exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatchEntry {
    pub field: FieldId,
    pub value: u128,
    pub mask: Option<u128>,
}

impl MatchEntry {
    pub fn exact(field: FieldId, value: u128) -> MatchEntry {
        MatchEntry {
            field,
            value,
            mask: None,
        }
    }

    pub fn masked(field: FieldId, value: u128, mask: u128) -> MatchEntry {
        MatchEntry {
            field,
            value,
            mask: Some(mask),
        }
    }
}

/// All-ones for a field `width` bytes wide.
pub fn width_mask(width: u8) -> u128 {
    if width >= 16 {
        u128::MAX
    } else {
        (1u128 << (u32::from(width) * 8)) - 1
    }
}

fn read_value(r: &mut Reader<'_>, width: u8) -> Result<u128, DecodeError> {
    let bytes = r.take(usize::from(width))?;
    Ok(bytes
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b)))
}

fn write_value(w: &mut Writer, v: u128, width: u8) {
    let bytes = v.to_be_bytes();
    w.bytes(&bytes[16 - usize::from(width.min(16))..]);
}

/// Reads one field header and its payload.
pub fn decode_entry(r: &mut Reader<'_>) -> Result<MatchEntry, DecodeError> {
    let header = r.u32()?;
    let class = (header >> 16) as u16;
    let code = ((header >> 9) & 0x7f) as u8;
    let has_mask = header & 0x100 != 0;
    let len = (header & 0xff) as usize;
    let mut payload = r.sub(len, "match field")?;
    let experimenter = if class == OFPXMC_EXPERIMENTER {
        payload.u32()?
    } else {
        0
    };
    let field = match FieldId::tun_metadata(class, code, (len / (1 + usize::from(has_mask))) as u32)
    {
        Some(f) => f,
        None => FieldId::lookup(class, code, experimenter).ok_or(DecodeError::BadField(header))?,
    };
    let def = field.def();
    if field.header(has_mask) != header || def.width > 16 {
        return Err(DecodeError::BadMatchLen(len));
    }
    if has_mask && !def.maskable {
        return Err(DecodeError::BadMask(def.name));
    }
    let value = read_value(&mut payload, def.width)?;
    let mask = if has_mask {
        Some(read_value(&mut payload, def.width)?)
    } else {
        None
    };
    Ok(MatchEntry { field, value, mask })
}

/// Appends one field.
pub fn encode_entry(w: &mut Writer, e: &MatchEntry) {
    let def = e.field.def();
    w.u32(e.field.header(e.mask.is_some()));
    if def.experimenter != 0 {
        w.u32(def.experimenter);
    }
    let m = width_mask(def.width);
    write_value(w, e.value & m, def.width);
    if let Some(mask) = e.mask {
        write_value(w, mask & m, def.width);
    }
}

/// Reads a list of fields filling `r` (the body of an OXM match or an NXM match), refusing
/// duplicates.
pub fn decode_entries(mut r: Reader<'_>) -> Result<Vec<MatchEntry>, DecodeError> {
    let mut out: Vec<MatchEntry> = Vec::new();
    while !r.is_empty() {
        let e = decode_entry(&mut r)?;
        if out.iter().any(|o| o.field == e.field) {
            return Err(DecodeError::DupField(e.field.def().name));
        }
        out.push(e);
    }
    Ok(out)
}

/// Appends a list of fields.
pub fn encode_entries(w: &mut Writer, entries: &[MatchEntry]) {
    for e in entries {
        encode_entry(w, e);
    }
}

/// Reads an OpenFlow 1.1+ `ofp_match` of type OXM (padded to 8 bytes).
pub fn decode_oxm_match(r: &mut Reader<'_>) -> Result<Vec<MatchEntry>, DecodeError> {
    let typ = r.u16()?;
    let len = usize::from(r.u16()?);
    if typ != 1 {
        return Err(DecodeError::BadMatchType(typ));
    }
    if len < 4 {
        return Err(DecodeError::BadMatchLen(len));
    }
    let body = r.sub(len - 4, "OXM match")?;
    r.skip(crate::wire::round8(len) - len)?;
    decode_entries(body)
}

/// Appends an OpenFlow 1.1+ `ofp_match` of type OXM.
pub fn encode_oxm_match(w: &mut Writer, entries: &[MatchEntry]) -> Result<(), EncodeError> {
    let start = w.len();
    w.u16(1);
    w.u16(0);
    encode_entries(w, entries);
    w.patch_len(start + 2, start)?;
    w.pad8_from(start);
    Ok(())
}

/// Reads an NXM match of `match_len` bytes followed by padding to 8.
pub fn decode_nxm_match(
    r: &mut Reader<'_>,
    match_len: usize,
) -> Result<Vec<MatchEntry>, DecodeError> {
    let body = r.sub(match_len, "NXM match")?;
    r.skip(crate::wire::round8(match_len) - match_len)?;
    decode_entries(body)
}

/// Appends an NXM match padded to 8; returns its unpadded length.
pub fn encode_nxm_match(w: &mut Writer, entries: &[MatchEntry]) -> Result<u16, EncodeError> {
    let start = w.len();
    encode_entries(w, entries);
    let len = u16::try_from(w.len() - start).map_err(|_| EncodeError::TooLong)?;
    w.pad8_from(start);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_looks_itself_up() {
        for f in FieldId::all() {
            let def = f.def();
            assert_eq!(
                FieldId::lookup(def.class, def.code, def.experimenter),
                Some(f),
                "{f:?}"
            );
        }
    }

    #[test]
    fn headers_match_ovs() {
        // NXM_NX_REG0 = 0x00010004, NXM_OF_IN_PORT = 0x00000002, OXM_OF_IN_PORT = 0x80000004,
        // OXM_OF_ETH_SRC_W = 0x8000090c, NXM_NX_CT_STATE_W = 0x0001d308.
        assert_eq!(FieldId::Reg(0).header(false), 0x0001_0004);
        assert_eq!(FieldId::NxmInPort.header(false), 0x0000_0002);
        assert_eq!(FieldId::InPort.header(false), 0x8000_0004);
        assert_eq!(FieldId::EthSrc.header(true), 0x8000_090c);
        assert_eq!(FieldId::CtState.header(true), 0x0001_d308);
        assert_eq!(FieldId::OnfTcpFlags.header(true), 0xffff_5508);
    }

    #[test]
    fn oxm_match_fixture() {
        // in_port=1, eth_type=0x0800, ip_src=10.0.0.0/8 as OVS encodes it.
        let bytes = [
            0x00, 0x01, 0x00, 0x1e, // type OXM, length 30
            0x80, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, // in_port
            0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, // eth_type
            0x80, 0x00, 0x17, 0x08, 0x0a, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00,
            0x00, // ip_src/8
            0x00, 0x00, // pad
        ];
        let mut r = Reader::new(&bytes, "t");
        let m = decode_oxm_match(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            m,
            vec![
                MatchEntry::exact(FieldId::InPort, 1),
                MatchEntry::exact(FieldId::EthType, 0x800),
                MatchEntry::masked(FieldId::Ipv4Src, 0x0a00_0000, 0xff00_0000),
            ]
        );
        let mut w = Writer::new();
        encode_oxm_match(&mut w, &m).unwrap();
        assert_eq!(w.buf, bytes);
    }

    #[test]
    fn refusals() {
        let dup = [0x80, 0, 0, 4, 0, 0, 0, 1, 0x80, 0, 0, 4, 0, 0, 0, 2];
        assert_eq!(
            decode_entries(Reader::new(&dup, "t")),
            Err(DecodeError::DupField("in_port"))
        );
        let masked_port = [0x80, 0, 1, 8, 0, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            decode_entries(Reader::new(&masked_port, "t")),
            Err(DecodeError::BadMask("in_port"))
        );
        let unknown = [0x80, 0, 0x7e, 1, 0];
        assert!(matches!(
            decode_entries(Reader::new(&unknown, "t")),
            Err(DecodeError::BadField(_))
        ));
        let short = [0x80, 0, 0, 4, 0, 0];
        assert!(matches!(
            decode_entries(Reader::new(&short, "t")),
            Err(DecodeError::Truncated { .. })
        ));
        let wrong_len = [0x80, 0, 0, 3, 0, 0, 0];
        assert_eq!(
            decode_entries(Reader::new(&wrong_len, "t")),
            Err(DecodeError::BadMatchLen(3))
        );
    }
}
