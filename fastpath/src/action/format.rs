//! Text form of datapath actions, in OVS's ODP syntax.
//!
//! This is what `trace` prints after "Datapath actions:" and what `dump-megaflows` shows, so it
//! follows `ovs-dpctl` spelling exactly where OVS has one: an output is the bare port number,
//! a header rewrite is `set(HEADER(field=value,...))`, and an empty action list is `drop`.
//!
//! Masked sets print only the fields the set touches (mask ≠ 0). A field written in full prints
//! as `name=value`; a partially written one as `name=value/mask` (`tos=0x20/0xfc`). Numbers use
//! OVS's conventions per field: TOS, labels and masks in C `%#x` style (so zero is `0`, not
//! `0x0`), TTL / hop limit / ports in decimal.
//!
//! The printers write into a `fmt::Formatter` and allocate nothing, so `Display` can be used
//! in logs without cost beyond the writes.

use super::{CtAction, DpAction, Masked, NatSpec, SetArp, SetEth, SetIpv4, SetIpv6, SetL4};
use core::fmt::{self, Display, Formatter, Write};
use std::net::{IpAddr, Ipv6Addr};

/// `Display` adapter for a whole action list (`drop` when empty, else comma-separated).
#[derive(Clone, Copy, Debug)]
pub struct DisplayActions<'a>(pub &'a [DpAction]);

impl Display for DisplayActions<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("drop");
        }
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            Display::fmt(a, f)?;
        }
        Ok(())
    }
}

/// Formats an action list in ODP syntax (`drop` when empty).
pub fn format_actions(actions: &[DpAction]) -> String {
    DisplayActions(actions).to_string()
}

impl Display for DpAction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DpAction::Output(port) => write!(f, "{port}"),
            DpAction::SetEth(s) => set_header(f, "eth", |w| fmt_eth(w, s)),
            DpAction::SetIpv4(s) => set_header(f, "ipv4", |w| fmt_ipv4(w, s)),
            DpAction::SetIpv6(s) => set_header(f, "ipv6", |w| fmt_ipv6(w, s)),
            DpAction::SetArp(s) => set_header(f, "arp", |w| fmt_arp(w, s)),
            DpAction::SetL4(s) => set_header(f, l4_name(s.proto), |w| fmt_l4(w, s)),
            DpAction::PushVlan { tpid, tci } => {
                f.write_str("push_vlan(")?;
                if *tpid != 0x8100 {
                    write!(f, "tpid=0x{tpid:04x},")?;
                }
                write!(f, "vid={},pcp={})", tci & 0x0fff, tci >> 13)
            }
            DpAction::PopVlan => f.write_str("pop_vlan"),
            DpAction::Ct(ct) => fmt_ct(f, ct),
            DpAction::CtClear => f.write_str("ct_clear"),
            DpAction::Recirc(id) => write!(f, "recirc({})", CHex(*id as u128)),
            DpAction::Userspace(u) => match &u.meter {
                None => write!(f, "userspace(pid=0,{})", u.desc),
                Some(m) => write!(
                    f,
                    "sample(sample=100.0%,actions(meter({}),userspace(pid=0,{})))",
                    m.dp_id(),
                    u.desc
                ),
            },
            DpAction::Meter(m) => write!(f, "meter({})", m.dp_id()),
            DpAction::SetTunnel(t) => {
                f.write_str("set(")?;
                fmt_tunnel(f, t)?;
                f.write_char(')')
            }
            DpAction::Clone(inner) => write!(f, "clone({})", DisplayActions(inner)),
            DpAction::CheckPktLen {
                len,
                greater,
                less_eq,
            } => write!(
                f,
                "check_pkt_len(size={len},gt({}),le({}))",
                DisplayActions(greater),
                DisplayActions(less_eq)
            ),
        }
    }
}

/// OVS's `tunnel(tun_id=0x5,src=..,dst=..,ttl=64,tp_dst=4789,flags(df|key))`.
pub fn fmt_tunnel(f: &mut dyn Write, t: &crate::flow::TunnelMeta) -> fmt::Result {
    use std::net::Ipv4Addr;
    write!(f, "tunnel(tun_id={:#x}", t.id)?;
    if t.src != 0 {
        write!(f, ",src={}", Ipv4Addr::from(t.src))?;
    }
    if t.dst != 0 {
        write!(f, ",dst={}", Ipv4Addr::from(t.dst))?;
    }
    if t.ipv6_src != [0; 16] {
        write!(f, ",ipv6_src={}", Ipv6Addr::from(t.ipv6_src))?;
    }
    if t.ipv6_dst != [0; 16] {
        write!(f, ",ipv6_dst={}", Ipv6Addr::from(t.ipv6_dst))?;
    }
    if t.tos != 0 {
        write!(f, ",tos={}", CHex(t.tos.into()))?;
    }
    write!(f, ",ttl={}", t.ttl)?;
    if t.tp_src != 0 {
        write!(f, ",tp_src={}", t.tp_src)?;
    }
    if t.tp_dst != 0 {
        write!(f, ",tp_dst={}", t.tp_dst)?;
    }
    if t.gbp_id != 0 || t.gbp_flags != 0 {
        write!(
            f,
            ",vxlan(gbp(id={},flags={}))",
            t.gbp_id,
            CHex(t.gbp_flags.into())
        )?;
    }
    f.write_str(",flags(")?;
    let mut first = true;
    for (name, bit) in crate::flow::key::tun_flags::NAMES {
        if t.flags & bit != 0 {
            if !first {
                f.write_char('|')?;
            }
            f.write_str(name)?;
            first = false;
        }
    }
    f.write_str("))")
}

/// C's `%#x`: `0` for zero, else `0x` and lowercase hex digits.
#[derive(Clone, Copy)]
struct CHex(u128);

impl Display for CHex {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_char('0')
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

fn l4_name(proto: u8) -> &'static str {
    match proto {
        17 => "udp",
        132 => "sctp",
        _ => "tcp",
    }
}

/// Writes `set(NAME(` + fields + `))`; `fields` writes comma-separated `k=v` items.
fn set_header(
    f: &mut Formatter<'_>,
    name: &str,
    fields: impl FnOnce(&mut FieldList<'_, '_>) -> fmt::Result,
) -> fmt::Result {
    write!(f, "set({name}(")?;
    let mut list = FieldList { f, first: true };
    fields(&mut list)?;
    f.write_str("))")
}

/// Comma-separated `name=value[/mask]` items, skipping fields with an all-zero mask.
struct FieldList<'a, 'b> {
    f: &'a mut Formatter<'b>,
    first: bool,
}

impl FieldList<'_, '_> {
    /// Writes one item when `mask_zero` is false; the mask part only when `!mask_full`.
    fn item(
        &mut self,
        name: &str,
        mask_zero: bool,
        mask_full: bool,
        value: &dyn Display,
        mask: &dyn Display,
    ) -> fmt::Result {
        if mask_zero {
            return Ok(());
        }
        if !self.first {
            self.f.write_char(',')?;
        }
        self.first = false;
        write!(self.f, "{name}={value}")?;
        if !mask_full {
            write!(self.f, "/{mask}")?;
        }
        Ok(())
    }
}

struct Mac([u8; 6]);

impl Display for Mac {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

struct Ip4(u32);

impl Display for Ip4 {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&std::net::Ipv4Addr::from(self.0), f)
    }
}

struct Ip6([u8; 16]);

impl Display for Ip6 {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        Display::fmt(&Ipv6Addr::from(self.0), f)
    }
}

fn mac_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<[u8; 6]>) -> fmt::Result {
    l.item(
        name,
        m.mask == [0; 6],
        m.mask == [0xff; 6],
        &Mac(m.value),
        &Mac(m.mask),
    )
}

fn ip4_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<u32>) -> fmt::Result {
    l.item(
        name,
        m.mask == 0,
        m.mask == u32::MAX,
        &Ip4(m.value),
        &Ip4(m.mask),
    )
}

fn ip6_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<[u8; 16]>) -> fmt::Result {
    l.item(
        name,
        m.mask == [0; 16],
        m.mask == [0xff; 16],
        &Ip6(m.value),
        &Ip6(m.mask),
    )
}

/// An 8-bit field printed in hex (`tos`, `tclass`).
fn u8x_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<u8>) -> fmt::Result {
    l.item(
        name,
        m.mask == 0,
        m.mask == u8::MAX,
        &CHex(m.value.into()),
        &CHex(m.mask.into()),
    )
}

/// An 8-bit field printed in decimal with a hex mask (`ttl`, `hlimit`).
fn u8u_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<u8>) -> fmt::Result {
    l.item(
        name,
        m.mask == 0,
        m.mask == u8::MAX,
        &m.value,
        &CHex(m.mask.into()),
    )
}

fn port_item(l: &mut FieldList<'_, '_>, name: &str, m: &Masked<u16>) -> fmt::Result {
    l.item(
        name,
        m.mask == 0,
        m.mask == u16::MAX,
        &m.value,
        &CHex(m.mask.into()),
    )
}

fn fmt_eth(l: &mut FieldList<'_, '_>, s: &SetEth) -> fmt::Result {
    mac_item(l, "src", &s.src)?;
    mac_item(l, "dst", &s.dst)
}

/// OVS's `arp(sip=,tip=,op=,sha=,tha=)`.
fn fmt_arp(l: &mut FieldList<'_, '_>, s: &SetArp) -> fmt::Result {
    ip4_item(l, "sip", &s.sip)?;
    ip4_item(l, "tip", &s.tip)?;
    l.item(
        "op",
        s.op.mask == 0,
        s.op.mask == u16::MAX,
        &s.op.value,
        &CHex(s.op.mask.into()),
    )?;
    mac_item(l, "sha", &s.sha)?;
    mac_item(l, "tha", &s.tha)
}

fn fmt_ipv4(l: &mut FieldList<'_, '_>, s: &SetIpv4) -> fmt::Result {
    ip4_item(l, "src", &s.src)?;
    ip4_item(l, "dst", &s.dst)?;
    u8x_item(l, "tos", &s.tos)?;
    u8u_item(l, "ttl", &s.ttl)
}

fn fmt_ipv6(l: &mut FieldList<'_, '_>, s: &SetIpv6) -> fmt::Result {
    ip6_item(l, "src", &s.src)?;
    ip6_item(l, "dst", &s.dst)?;
    // The flow label is 20 bits: "full" means all 20 bits.
    l.item(
        "label",
        s.label.mask == 0,
        s.label.mask & 0x000f_ffff == 0x000f_ffff,
        &CHex(s.label.value.into()),
        &CHex(s.label.mask.into()),
    )?;
    u8x_item(l, "tclass", &s.tclass)?;
    u8u_item(l, "hlimit", &s.hlimit)
}

fn fmt_l4(l: &mut FieldList<'_, '_>, s: &SetL4) -> fmt::Result {
    port_item(l, "src", &s.src)?;
    port_item(l, "dst", &s.dst)
}

fn fmt_ct(f: &mut Formatter<'_>, ct: &CtAction) -> fmt::Result {
    f.write_str("ct")?;
    if !ct.commit && ct.zone == 0 && ct.mark.is_none() && ct.label.is_none() && ct.nat.is_none() {
        return Ok(());
    }
    f.write_char('(')?;
    let mut sep = "";
    if ct.commit {
        f.write_str("commit")?;
        sep = ",";
    }
    if ct.zone != 0 {
        write!(f, "{sep}zone={}", ct.zone)?;
        sep = ",";
    }
    if let Some(m) = ct.mark {
        write!(
            f,
            "{sep}mark={}/{}",
            CHex(m.value.into()),
            CHex(m.mask.into())
        )?;
        sep = ",";
    }
    if let Some(l) = ct.label {
        // Labels print as hex with the mask only when partial.
        write!(f, "{sep}label={}", CHex(l.value))?;
        if l.mask != u128::MAX {
            write!(f, "/{}", CHex(l.mask))?;
        }
        sep = ",";
    }
    if let Some(nat) = &ct.nat {
        f.write_str(sep)?;
        fmt_nat(f, nat)?;
    }
    f.write_char(')')
}

fn fmt_nat(f: &mut Formatter<'_>, nat: &NatSpec) -> fmt::Result {
    f.write_str("nat")?;
    let Some(src) = nat.src else {
        return Ok(());
    };
    f.write_str(if src { "(src" } else { "(dst" })?;
    if let Some((lo, hi)) = nat.addrs {
        // IPv6 addresses are bracketed so that a following `:port` stays unambiguous.
        f.write_char('=')?;
        fmt_nat_addr(f, lo)?;
        if hi != lo {
            f.write_char('-')?;
            fmt_nat_addr(f, hi)?;
        }
        if let Some((plo, phi)) = nat.ports {
            write!(f, ":{plo}")?;
            if phi != plo {
                write!(f, "-{phi}")?;
            }
        }
    }
    f.write_char(')')
}

fn fmt_nat_addr(f: &mut Formatter<'_>, a: IpAddr) -> fmt::Result {
    match a {
        IpAddr::V4(a) => write!(f, "{a}"),
        IpAddr::V6(a) => write!(f, "[{a}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn full<T: Copy>(value: T, mask: T) -> Masked<T> {
        Masked { value, mask }
    }

    #[test]
    fn empty_list_is_drop_and_outputs_are_bare_numbers() {
        assert_eq!(format_actions(&[]), "drop");
        assert_eq!(
            format_actions(&[DpAction::Output(2), DpAction::Output(10)]),
            "2,10"
        );
    }

    #[test]
    fn eth_set_prints_only_touched_fields() {
        let s = SetEth {
            dst: full([0, 0, 0, 0, 0, 0x0c], [0xff; 6]),
            ..SetEth::default()
        };
        assert_eq!(
            DpAction::SetEth(s).to_string(),
            "set(eth(dst=00:00:00:00:00:0c))"
        );
        let s = SetEth {
            src: full([0x50, 0x54, 0, 0, 0, 1], [0xff; 6]),
            dst: full([0x01, 0, 0, 0, 0, 0], [0x01, 0, 0, 0, 0, 0]),
        };
        assert_eq!(
            DpAction::SetEth(s).to_string(),
            "set(eth(src=50:54:00:00:00:01,dst=01:00:00:00:00:00/01:00:00:00:00:00))"
        );
    }

    #[test]
    fn ipv4_set_masks_partial_fields_only() {
        let s = SetIpv4 {
            tos: full(0x20, 0xfc),
            ..SetIpv4::default()
        };
        assert_eq!(DpAction::SetIpv4(s).to_string(), "set(ipv4(tos=0x20/0xfc))");
        let s = SetIpv4 {
            src: full(0x0a00_0001, u32::MAX),
            dst: full(0xc0a8_0100, 0xffff_ff00),
            tos: full(0, 0xfc),
            ttl: full(63, 0xff),
        };
        assert_eq!(
            DpAction::SetIpv4(s).to_string(),
            "set(ipv4(src=10.0.0.1,dst=192.168.1.0/255.255.255.0,tos=0/0xfc,ttl=63))"
        );
    }

    #[test]
    fn ipv6_set() {
        let s = SetIpv6 {
            dst: full("fd00::2".parse::<Ipv6Addr>().unwrap().octets(), [0xff; 16]),
            label: full(0x12345, 0xfffff),
            hlimit: full(1, 0xff),
            ..SetIpv6::default()
        };
        assert_eq!(
            DpAction::SetIpv6(s).to_string(),
            "set(ipv6(dst=fd00::2,label=0x12345,hlimit=1))"
        );
        let s = SetIpv6 {
            tclass: full(0x04, 0x0c),
            ..SetIpv6::default()
        };
        assert_eq!(
            DpAction::SetIpv6(s).to_string(),
            "set(ipv6(tclass=0x4/0xc))"
        );
    }

    #[test]
    fn l4_sets_name_their_protocol() {
        let s = SetL4 {
            proto: 6,
            dst: full(80, 0xffff),
            ..SetL4::default()
        };
        assert_eq!(DpAction::SetL4(s).to_string(), "set(tcp(dst=80))");
        let s = SetL4 {
            proto: 17,
            src: full(53, 0xffff),
            dst: full(0x100, 0xff00),
        };
        assert_eq!(
            DpAction::SetL4(s).to_string(),
            "set(udp(src=53,dst=256/0xff00))"
        );
        let s = SetL4 {
            proto: 132,
            src: full(9, 0xffff),
            ..SetL4::default()
        };
        assert_eq!(DpAction::SetL4(s).to_string(), "set(sctp(src=9))");
    }

    #[test]
    fn vlan_actions() {
        let push = DpAction::PushVlan {
            tpid: 0x8100,
            tci: 10,
        };
        assert_eq!(push.to_string(), "push_vlan(vid=10,pcp=0)");
        let push = DpAction::PushVlan {
            tpid: 0x88a8,
            tci: (5 << 13) | 100,
        };
        assert_eq!(push.to_string(), "push_vlan(tpid=0x88a8,vid=100,pcp=5)");
        assert_eq!(DpAction::PopVlan.to_string(), "pop_vlan");
    }

    #[test]
    fn ct_and_recirc() {
        assert_eq!(DpAction::Ct(CtAction::default()).to_string(), "ct");
        let ct = CtAction {
            commit: true,
            zone: 1,
            nat: Some(NatSpec {
                src: Some(true),
                addrs: Some((
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
                )),
                ports: Some((1000, 2000)),
            }),
            ..CtAction::default()
        };
        assert_eq!(
            DpAction::Ct(ct).to_string(),
            "ct(commit,zone=1,nat(src=10.0.0.1-10.0.0.9:1000-2000))"
        );
        let ct = CtAction {
            commit: true,
            mark: Some(full(1, u32::MAX)),
            label: Some(full(5, 0xff)),
            nat: Some(NatSpec {
                src: None,
                addrs: None,
                ports: None,
            }),
            ..CtAction::default()
        };
        assert_eq!(
            DpAction::Ct(ct).to_string(),
            "ct(commit,mark=0x1/0xffffffff,label=0x5/0xff,nat)"
        );
        let v6: IpAddr = "fd00::1".parse().unwrap();
        let ct = CtAction {
            zone: 7,
            nat: Some(NatSpec {
                src: Some(false),
                addrs: Some((v6, v6)),
                ports: Some((80, 80)),
            }),
            ..CtAction::default()
        };
        assert_eq!(
            DpAction::Ct(ct).to_string(),
            "ct(zone=7,nat(dst=[fd00::1]:80))"
        );
        assert_eq!(DpAction::CtClear.to_string(), "ct_clear");
        assert_eq!(DpAction::Recirc(1).to_string(), "recirc(0x1)");
        let mut t = crate::flow::TunnelMeta {
            id: 5,
            ttl: 64,
            tp_dst: 4789,
            flags: crate::flow::key::tun_flags::DF | crate::flow::key::tun_flags::KEY,
            ..Default::default()
        };
        t.set_dst("10.0.0.2".parse().unwrap());
        assert_eq!(
            DpAction::SetTunnel(t).to_string(),
            "set(tunnel(tun_id=0x5,dst=10.0.0.2,ttl=64,tp_dst=4789,flags(df|key)))"
        );
        assert_eq!(
            format_actions(&[DpAction::Ct(CtAction::default()), DpAction::Recirc(0x2a)]),
            "ct,recirc(0x2a)"
        );
    }
}
