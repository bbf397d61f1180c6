//! OpenFlow 1.0's fixed 40-byte `ofp_match`.
//!
//! Kept as the wire struct: a wildcard bitmap and the twelve fields, exactly as sent, so it
//! re-encodes byte for byte. What the fields mean depends on each other (`nw_proto` is the ARP
//! opcode for ARP, `tp_src` is the ICMP type for ICMP) and is settled by the converter to the
//! rule model, not here.

use crate::DecodeError;
use crate::wire::{Reader, Writer};

/// Wildcard bits (`OFPFW10_*`).
pub mod wc {
    pub const IN_PORT: u32 = 1 << 0;
    pub const DL_VLAN: u32 = 1 << 1;
    pub const DL_SRC: u32 = 1 << 2;
    pub const DL_DST: u32 = 1 << 3;
    pub const DL_TYPE: u32 = 1 << 4;
    pub const NW_PROTO: u32 = 1 << 5;
    pub const TP_SRC: u32 = 1 << 6;
    pub const TP_DST: u32 = 1 << 7;
    pub const NW_SRC_SHIFT: u32 = 8;
    pub const NW_DST_SHIFT: u32 = 14;
    pub const DL_VLAN_PCP: u32 = 1 << 20;
    pub const NW_TOS: u32 = 1 << 21;
    pub const ALL: u32 = (1 << 22) - 1;
}

/// `struct ofp10_match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Match10 {
    pub wildcards: u32,
    pub in_port: u16,
    pub dl_src: [u8; 6],
    pub dl_dst: [u8; 6],
    pub dl_vlan: u16,
    pub dl_vlan_pcp: u8,
    pub dl_type: u16,
    pub nw_tos: u8,
    pub nw_proto: u8,
    pub nw_src: u32,
    pub nw_dst: u32,
    pub tp_src: u16,
    pub tp_dst: u16,
}

impl Match10 {
    pub const LEN: usize = 40;

    /// Matches everything.
    pub fn catchall() -> Match10 {
        Match10 {
            wildcards: wc::ALL,
            ..Match10::default()
        }
    }

    /// Number of wildcarded low bits of `nw_src` (0..=32; the wire allows up to 63, meaning 32).
    pub fn nw_src_wild_bits(&self) -> u32 {
        ((self.wildcards >> wc::NW_SRC_SHIFT) & 0x3f).min(32)
    }

    pub fn nw_dst_wild_bits(&self) -> u32 {
        ((self.wildcards >> wc::NW_DST_SHIFT) & 0x3f).min(32)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Match10, DecodeError> {
        let wildcards = r.u32()?;
        let in_port = r.u16()?;
        let dl_src = r.array()?;
        let dl_dst = r.array()?;
        let dl_vlan = r.u16()?;
        let dl_vlan_pcp = r.u8()?;
        r.skip(1)?;
        let dl_type = r.u16()?;
        let nw_tos = r.u8()?;
        let nw_proto = r.u8()?;
        r.skip(2)?;
        Ok(Match10 {
            wildcards,
            in_port,
            dl_src,
            dl_dst,
            dl_vlan,
            dl_vlan_pcp,
            dl_type,
            nw_tos,
            nw_proto,
            nw_src: r.u32()?,
            nw_dst: r.u32()?,
            tp_src: r.u16()?,
            tp_dst: r.u16()?,
        })
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.wildcards);
        w.u16(self.in_port);
        w.bytes(&self.dl_src);
        w.bytes(&self.dl_dst);
        w.u16(self.dl_vlan);
        w.u8(self.dl_vlan_pcp);
        w.zeros(1);
        w.u16(self.dl_type);
        w.u8(self.nw_tos);
        w.u8(self.nw_proto);
        w.zeros(2);
        w.u32(self.nw_src);
        w.u32(self.nw_dst);
        w.u16(self.tp_src);
        w.u16(self.tp_dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_length() {
        let m = Match10 {
            wildcards: wc::ALL & !(wc::IN_PORT | wc::DL_TYPE) & !(0x3f << wc::NW_SRC_SHIFT)
                | (8 << wc::NW_SRC_SHIFT),
            in_port: 3,
            dl_type: 0x0800,
            nw_src: 0x0a00_0000,
            ..Match10::default()
        };
        let mut w = Writer::new();
        m.encode(&mut w);
        assert_eq!(w.len(), Match10::LEN);
        assert_eq!(m.nw_src_wild_bits(), 8);
        let back = Match10::decode(&mut Reader::new(&w.buf, "t")).unwrap();
        assert_eq!(back, m);
    }
}
