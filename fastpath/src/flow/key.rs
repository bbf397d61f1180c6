//! The flow key: every header and metadata field a rule or a megaflow can match.
//!
//! # Design
//!
//! One fixed-size, `#[repr(C)]` struct of plain integers and byte arrays, with no padding, so
//! that it can also be seen as an array of `u64` words ([`FlowKey::words`]). Masking, hashing
//! and comparing a key are then word loops, as OVS does with `struct flow` / miniflows.
//!
//! The same struct is used as a *mask* ([`FlowMask`]): a 1 bit means "this bit was consulted /
//! must match". A megaflow is `(key & mask, mask)`.
//!
//! Field order matters: the datapath part (everything a packet carries into the fast path) comes
//! first, in [`DP_KEY_WORDS`] words; `metadata`, the registers and `conj_id` come next. Registers and
//! metadata are OpenFlow pipeline scratch space, always zero when a packet enters the datapath,
//! so the microflow cache hashes and compares only the datapath words.
//!
//! Geneve options (`tun_metadata0..63`) come last: a presence bitmap and [`TUN_MD_BYTES`] of
//! option data laid out by the bridge's TLV map. They are datapath fields, but rare, so they
//! stay out of the microflow words: an ordinary packet's microflow hash and compare cost
//! exactly what they did before options existed, and a packet that carries options
//! (`tun_md_present != 0`) bypasses the microflow cache and is looked up in the megaflow
//! cache, whose subtables hash only the words their masks use.
//!
//! # Conventions (as OVS's `struct flow`)
//!
//! - Integers are in host byte order; MAC and IPv6 addresses are byte arrays in wire order.
//! - `vlan_tci` holds the outer 802.1Q/802.1ad tag with [`VLAN_CFI`] (0x1000) set when a tag is
//!   present, so `vlan_tci == 0` means "untagged". `vlan_tci_inner` holds a second tag.
//! - ARP: `nw_src`/`nw_dst` hold SPA/TPA, `nw_proto` holds the opcode (low 8 bits), and
//!   `arp_sha`/`arp_tha` the hardware addresses.
//! - ICMP/ICMPv6: `tp_src` holds the type, `tp_dst` the code. Neighbour discovery: `nd_target`,
//!   and the source/target link-layer options in `arp_sha`/`arp_tha`.
//! - `nw_frag`: [`FRAG_ANY`] for any fragment, plus [`FRAG_LATER`] for non-first fragments (whose
//!   L4 fields are zero).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `vlan_tci` bit that says a tag is present (the 802.1Q CFI/DEI position, as OVS uses it).
pub const VLAN_CFI: u16 = 0x1000;
/// `vlan_tci` bits of the VLAN id.
pub const VLAN_VID_MASK: u16 = 0x0fff;
/// `vlan_tci` bits of the priority code point.
pub const VLAN_PCP_MASK: u16 = 0xe000;
/// `vlan_tci` bit shift of the priority code point.
pub const VLAN_PCP_SHIFT: u16 = 13;

/// `nw_frag`: the packet is a fragment (first or later).
pub const FRAG_ANY: u8 = 0x01;
/// `nw_frag`: the packet is a non-first fragment.
pub const FRAG_LATER: u8 = 0x02;
/// The bits `nw_frag` uses.
pub const FRAG_MASK: u8 = FRAG_ANY | FRAG_LATER;

/// `ct_state` bits, with OVS's values.
pub mod ct_state {
    /// Start of a new connection.
    pub const NEW: u8 = 0x01;
    /// Part of an established connection.
    pub const EST: u8 = 0x02;
    /// Related to an established connection (e.g. an ICMP error quoting it).
    pub const REL: u8 = 0x04;
    /// In the reply direction.
    pub const RPL: u8 = 0x08;
    /// Invalid (could not be tracked or out of window).
    pub const INV: u8 = 0x10;
    /// Conntrack has seen the packet.
    pub const TRK: u8 = 0x20;
    /// Source NAT was applied.
    pub const SNAT: u8 = 0x40;
    /// Destination NAT was applied.
    pub const DNAT: u8 = 0x80;
    /// Names in `ct_state` syntax order, with their bits.
    pub const NAMES: [(&str, u8); 8] = [
        ("new", NEW),
        ("est", EST),
        ("rel", REL),
        ("rpl", RPL),
        ("inv", INV),
        ("trk", TRK),
        ("snat", SNAT),
        ("dnat", DNAT),
    ];
}

/// `tun_flags` bits, with OVS's values (`FLOW_TNL_F_*`).
pub mod tun_flags {
    /// The packet is an OAM frame (Geneve O bit, VXLAN-GPE OAM).
    pub const OAM: u16 = 1 << 0;
    /// The outer IP header has (or is to get) the don't-fragment bit.
    pub const DF: u16 = 1 << 1;
    /// The outer header carries (or is to carry) a checksum.
    pub const CSUM: u16 = 1 << 2;
    /// The tunnel header carries a key (always for VXLAN and Geneve; GRE's K bit).
    pub const KEY: u16 = 1 << 3;
    /// Every defined bit: a value or mask with any other bit is refused when parsed.
    pub const ALL: u16 = OAM | DF | CSUM | KEY;
    /// Names in `tun_flags` syntax order, with their bits.
    pub const NAMES: [(&str, u16); 4] = [("oam", OAM), ("df", DF), ("csum", CSUM), ("key", KEY)];
}

/// Well-known Ethernet types.
pub use crate::wire::{ethertype, ipproto};

/// Bytes of Geneve option data a key holds (all mapped `tun_metadataN` together; OVS allows
/// 256, see [`crate::flow::tlv`] for why this is smaller).
pub const TUN_MD_BYTES: usize = 64;

/// Number of `u64` words in a [`FlowKey`].
pub const KEY_WORDS: usize = core::mem::size_of::<FlowKey>() / 8;
/// Number of leading words a packet carries into the datapath (everything before `metadata`).
pub const DP_KEY_WORDS: usize = core::mem::offset_of!(FlowKey, metadata) / 8;

/// A flow key (or, as [`FlowMask`], a mask over one). See the module docs for conventions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(8))]
pub struct FlowKey {
    // ---- datapath metadata ----
    /// Recirculation id: 0 on a packet's first pass, set by `recirc` on later passes.
    pub recirc_id: u32,
    /// Input port (datapath port number; equal to the OpenFlow port in a single bridge).
    pub in_port: u32,
    /// Conntrack state bits ([`ct_state`]).
    pub ct_state: u8,
    /// IP fragment bits ([`FRAG_ANY`], [`FRAG_LATER`]).
    pub nw_frag: u8,
    /// Conntrack zone.
    pub ct_zone: u16,
    /// Conntrack mark.
    pub ct_mark: u32,
    /// Conntrack label (128 bits, big-endian bytes).
    pub ct_label: [u8; 16],
    // ---- tunnel metadata (all zero unless the packet arrived through a tunnel port) ----
    /// Tunnel key: VXLAN or Geneve VNI, GRE key.
    pub tun_id: u64,
    /// Outer IPv4 source.
    pub tun_src: u32,
    /// Outer IPv4 destination (non-zero for a packet from an IPv4 tunnel).
    pub tun_dst: u32,
    /// Outer IPv6 source.
    pub tun_ipv6_src: [u8; 16],
    /// Outer IPv6 destination (non-zero for a packet from an IPv6 tunnel).
    pub tun_ipv6_dst: [u8; 16],
    /// Tunnel flags ([`tun_flags`]).
    pub tun_flags: u16,
    /// Outer TOS / traffic class.
    pub tun_tos: u8,
    /// Outer TTL / hop limit.
    pub tun_ttl: u8,
    /// VXLAN group policy id.
    pub tun_gbp_id: u16,
    /// VXLAN group policy flags.
    pub tun_gbp_flags: u8,
    pub _pad2: u8,
    // ---- L2 ----
    pub dl_dst: [u8; 6],
    /// Ethernet type after any VLAN tags (the payload's type).
    pub dl_type: u16,
    pub dl_src: [u8; 6],
    /// Outer VLAN tag, [`VLAN_CFI`] set when present.
    pub vlan_tci: u16,
    /// Inner VLAN tag (802.1ad double tagging), [`VLAN_CFI`] set when present.
    pub vlan_tci_inner: u16,
    /// TCP flags (12 bits).
    pub tcp_flags: u16,
    // ---- L3 ----
    /// IP protocol, or the low 8 bits of the ARP opcode.
    pub nw_proto: u8,
    /// IPv4 TOS / IPv6 traffic class (DSCP << 2 | ECN).
    pub nw_tos: u8,
    /// IPv4 TTL / IPv6 hop limit.
    pub nw_ttl: u8,
    /// Outer VLAN TPID is 802.1ad (1) rather than 802.1Q (0). Not matchable; kept so that
    /// a popped-and-pushed or forwarded tag keeps its type.
    pub vlan_qinq: u8,
    /// IPv4 source, or ARP SPA.
    pub nw_src: u32,
    /// IPv4 destination, or ARP TPA.
    pub nw_dst: u32,
    // ---- L4 ----
    /// TCP/UDP/SCTP source port, or ICMP type.
    pub tp_src: u16,
    /// TCP/UDP/SCTP destination port, or ICMP code.
    pub tp_dst: u16,
    /// IPv6 flow label (20 bits).
    pub ipv6_label: u32,
    pub ipv6_src: [u8; 16],
    pub ipv6_dst: [u8; 16],
    /// ICMPv6 neighbour discovery target.
    pub nd_target: [u8; 16],
    /// ARP SHA, or ND source link-layer address.
    pub arp_sha: [u8; 6],
    pub _pad0: [u8; 2],
    /// ARP THA, or ND target link-layer address.
    pub arp_tha: [u8; 6],
    pub _pad1: [u8; 2],
    // ---- OpenFlow pipeline scratch (always zero in the datapath) ----
    /// OpenFlow metadata register.
    pub metadata: u64,
    /// General-purpose registers reg0..reg15.
    pub regs: [u32; 16],
    /// Conjunctive match id: zero except while the classifier looks up the rule of a
    /// conjunction that matched (`conj_id=N` rules, OVS's `conj_id`).
    pub conj_id: u32,
    pub _pad3: u32,
    // ---- Geneve options (tun_metadata0..63; all zero unless the packet carried mapped ones) ----
    /// Bit N set: `tun_metadataN` is present (its bytes are in [`FlowKey::tun_md`]).
    pub tun_md_present: u64,
    /// Option data of the present `tun_metadataN`, each at the offset its TLV map entry
    /// allocated ([`crate::flow::tlv`]). Kept after the scratch fields, out of the microflow
    /// words: packets that carry options skip the microflow cache (see the module docs).
    pub tun_md: [u8; TUN_MD_BYTES],
}

impl Default for FlowKey {
    fn default() -> FlowKey {
        FlowKey::ZERO
    }
}

/// A mask over a [`FlowKey`]: 1 bits must match.
pub type FlowMask = FlowKey;

impl FlowKey {
    /// The all-zero key (also the "wildcard everything" mask).
    pub const ZERO: FlowKey = FlowKey {
        recirc_id: 0,
        in_port: 0,
        ct_state: 0,
        nw_frag: 0,
        ct_zone: 0,
        ct_mark: 0,
        ct_label: [0; 16],
        tun_id: 0,
        tun_src: 0,
        tun_dst: 0,
        tun_ipv6_src: [0; 16],
        tun_ipv6_dst: [0; 16],
        tun_flags: 0,
        tun_tos: 0,
        tun_ttl: 0,
        tun_gbp_id: 0,
        tun_gbp_flags: 0,
        _pad2: 0,
        dl_dst: [0; 6],
        dl_type: 0,
        dl_src: [0; 6],
        vlan_tci: 0,
        vlan_tci_inner: 0,
        tcp_flags: 0,
        nw_proto: 0,
        nw_tos: 0,
        nw_ttl: 0,
        vlan_qinq: 0,
        nw_src: 0,
        nw_dst: 0,
        tp_src: 0,
        tp_dst: 0,
        ipv6_label: 0,
        ipv6_src: [0; 16],
        ipv6_dst: [0; 16],
        nd_target: [0; 16],
        arp_sha: [0; 6],
        _pad0: [0; 2],
        arp_tha: [0; 6],
        _pad1: [0; 2],
        metadata: 0,
        regs: [0; 16],
        conj_id: 0,
        _pad3: 0,
        tun_md_present: 0,
        tun_md: [0; TUN_MD_BYTES],
    };

    /// The key as words, for masking, hashing and comparison.
    #[inline]
    pub fn words(&self) -> &[u64; KEY_WORDS] {
        zerocopy::transmute_ref!(self)
    }

    /// The key as mutable words.
    #[inline]
    pub fn words_mut(&mut self) -> &mut [u64; KEY_WORDS] {
        zerocopy::transmute_mut!(self)
    }

    /// The datapath words (what a packet brings; see [`DP_KEY_WORDS`]).
    #[inline]
    pub fn dp_words(&self) -> &[u64] {
        &self.words()[..DP_KEY_WORDS]
    }

    /// `self & mask`.
    #[inline]
    pub fn masked(&self, mask: &FlowMask) -> FlowKey {
        let mut out = *self;
        for (w, m) in out.words_mut().iter_mut().zip(mask.words()) {
            *w &= m;
        }
        out
    }

    /// `self |= other` (used to accumulate consulted-bit masks).
    #[inline]
    pub fn or_with(&mut self, other: &FlowMask) {
        for (w, m) in self.words_mut().iter_mut().zip(other.words()) {
            *w |= m;
        }
    }

    /// True if `self & mask == other & mask`.
    #[inline]
    pub fn eq_masked(&self, other: &FlowKey, mask: &FlowMask) -> bool {
        self.words()
            .iter()
            .zip(other.words())
            .zip(mask.words())
            .all(|((a, b), m)| (a ^ b) & m == 0)
    }

    /// True if every bit is zero.
    #[inline]
    pub fn is_zero(&self) -> bool {
        self.words().iter().all(|w| *w == 0)
    }

    /// True if the outer VLAN tag is present.
    #[inline]
    pub fn has_vlan(&self) -> bool {
        self.vlan_tci & VLAN_CFI != 0
    }

    /// True if the packet arrived through a tunnel (an outer destination is set).
    #[inline]
    pub fn has_tunnel(&self) -> bool {
        self.tun_dst != 0 || self.tun_ipv6_dst != [0; 16]
    }

    /// True for IPv4 or IPv6.
    #[inline]
    pub fn is_ip(&self) -> bool {
        self.dl_type == ethertype::IPV4 || self.dl_type == ethertype::IPV6
    }

    /// The mask that keeps every field the datapath can see (the datapath words and the Geneve
    /// options) and clears the OpenFlow scratch fields (`metadata`, registers, `conj_id`), which
    /// are zero on entry to the datapath.
    pub fn dp_only_mask() -> FlowMask {
        let mut m = FlowKey::ZERO;
        for w in &mut m.words_mut()[..DP_KEY_WORDS] {
            *w = !0;
        }
        m.tun_md_present = !0;
        m.tun_md = [0xff; TUN_MD_BYTES];
        m.vlan_qinq = 0;
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_word_sized_and_dp_part_precedes_scratch() {
        assert_eq!(core::mem::size_of::<FlowKey>() % 8, 0);
        assert_eq!(KEY_WORDS, 43);
        assert_eq!(DP_KEY_WORDS, 24);
    }

    #[test]
    fn masking_and_masked_equality() {
        let mut a = FlowKey::ZERO;
        a.nw_src = 0x0a00_0105;
        a.tp_dst = 80;
        let mut b = a;
        b.nw_src = 0x0a00_01ff;
        let mut m = FlowKey::ZERO;
        m.nw_src = 0xffff_ff00;
        m.tp_dst = 0xffff;
        assert!(a.eq_masked(&b, &m));
        assert_eq!(a.masked(&m), b.masked(&m));
        b.tp_dst = 81;
        assert!(!a.eq_masked(&b, &m));
        let mut acc = FlowKey::ZERO;
        acc.or_with(&m);
        assert_eq!(acc, m);
        assert!(FlowKey::ZERO.is_zero());
        assert!(!m.is_zero());
    }
}
