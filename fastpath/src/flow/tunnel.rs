//! Tunnel metadata: what a packet carries beside its frame when it arrived through a tunnel,
//! or is about to leave through one (OVS's `struct flow_tnl`).
//!
//! On receive the tunnel endpoint fills it from the outer headers; the datapath copies it into
//! the flow key's `tun_*` fields. On transmit the `set(tunnel(...))` action writes it and the
//! tunnel port builds the outer headers from it. The same struct serves both directions, as in
//! OVS, so `set_field:...->tun_dst` on a packet that came from a tunnel changes where it goes.

use super::key::{FlowKey, TUN_MD_BYTES};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Tunnel metadata (see the module docs). All zero: no tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelMeta {
    /// VNI or GRE key.
    pub id: u64,
    /// Outer IPv4 source (0 when the tunnel is IPv6 or the source is left to the route).
    pub src: u32,
    /// Outer IPv4 destination.
    pub dst: u32,
    /// Outer IPv6 source.
    pub ipv6_src: [u8; 16],
    /// Outer IPv6 destination.
    pub ipv6_dst: [u8; 16],
    /// [`crate::flow::key::tun_flags`] bits.
    pub flags: u16,
    pub tos: u8,
    pub ttl: u8,
    pub gbp_id: u16,
    pub gbp_flags: u8,
    /// Outer UDP source port (0: chosen by the port from the inner flow's hash).
    pub tp_src: u16,
    /// Outer UDP destination port (0: the port's configured one).
    pub tp_dst: u16,
    /// Geneve options: bit N set when `tun_metadataN` is present.
    pub md_present: u64,
    /// Their data, laid out by the bridge's TLV map (as [`FlowKey::tun_md`]).
    pub md: [u8; TUN_MD_BYTES],
}

impl Default for TunnelMeta {
    fn default() -> TunnelMeta {
        TunnelMeta {
            id: 0,
            src: 0,
            dst: 0,
            ipv6_src: [0; 16],
            ipv6_dst: [0; 16],
            flags: 0,
            tos: 0,
            ttl: 0,
            gbp_id: 0,
            gbp_flags: 0,
            tp_src: 0,
            tp_dst: 0,
            md_present: 0,
            md: [0; TUN_MD_BYTES],
        }
    }
}

impl TunnelMeta {
    /// True if a destination is set (the packet has tunnel metadata).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.dst != 0 || self.ipv6_dst != [0; 16]
    }

    /// The outer destination address, if any.
    pub fn dst_addr(&self) -> Option<IpAddr> {
        if self.dst != 0 {
            Some(IpAddr::V4(Ipv4Addr::from(self.dst)))
        } else if self.ipv6_dst != [0; 16] {
            Some(IpAddr::V6(Ipv6Addr::from(self.ipv6_dst)))
        } else {
            None
        }
    }

    /// The outer source address, if set.
    pub fn src_addr(&self) -> Option<IpAddr> {
        if self.src != 0 {
            Some(IpAddr::V4(Ipv4Addr::from(self.src)))
        } else if self.ipv6_src != [0; 16] {
            Some(IpAddr::V6(Ipv6Addr::from(self.ipv6_src)))
        } else {
            None
        }
    }

    /// Sets the outer source from an address.
    pub fn set_src(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(v) => self.src = v.into(),
            IpAddr::V6(v) => self.ipv6_src = v.octets(),
        }
    }

    /// Sets the outer destination from an address.
    pub fn set_dst(&mut self, a: IpAddr) {
        match a {
            IpAddr::V4(v) => self.dst = v.into(),
            IpAddr::V6(v) => self.ipv6_dst = v.octets(),
        }
    }

    /// Writes the metadata into a key's `tun_*` fields (the UDP ports are not matchable).
    pub fn write_to(&self, key: &mut FlowKey) {
        key.tun_id = self.id;
        key.tun_src = self.src;
        key.tun_dst = self.dst;
        key.tun_ipv6_src = self.ipv6_src;
        key.tun_ipv6_dst = self.ipv6_dst;
        key.tun_flags = self.flags;
        key.tun_tos = self.tos;
        key.tun_ttl = self.ttl;
        key.tun_gbp_id = self.gbp_id;
        key.tun_gbp_flags = self.gbp_flags;
        key.tun_md_present = self.md_present;
        key.tun_md = self.md;
    }

    /// The metadata a key's `tun_*` fields describe.
    pub fn from_key(key: &FlowKey) -> TunnelMeta {
        TunnelMeta {
            id: key.tun_id,
            src: key.tun_src,
            dst: key.tun_dst,
            ipv6_src: key.tun_ipv6_src,
            ipv6_dst: key.tun_ipv6_dst,
            flags: key.tun_flags,
            tos: key.tun_tos,
            ttl: key.tun_ttl,
            gbp_id: key.tun_gbp_id,
            gbp_flags: key.tun_gbp_flags,
            tp_src: 0,
            tp_dst: 0,
            md_present: key.tun_md_present,
            md: key.tun_md,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_addresses() {
        let mut t = TunnelMeta {
            id: 5,
            flags: crate::flow::key::tun_flags::KEY,
            ttl: 64,
            ..TunnelMeta::default()
        };
        assert!(!t.is_set());
        t.set_dst("10.0.0.2".parse().unwrap());
        t.set_src("10.0.0.1".parse().unwrap());
        assert!(t.is_set());
        let mut k = FlowKey::ZERO;
        t.write_to(&mut k);
        assert!(k.has_tunnel());
        assert_eq!(TunnelMeta::from_key(&k), t);
        assert_eq!(t.dst_addr(), Some("10.0.0.2".parse().unwrap()));
        let mut v6 = TunnelMeta::default();
        v6.set_dst("fd00::2".parse().unwrap());
        assert_eq!(v6.dst_addr(), Some("fd00::2".parse().unwrap()));
        assert_eq!(v6.src_addr(), None);
    }
}
