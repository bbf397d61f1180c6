//! Tunnel ports: VXLAN, Geneve and GRE over the host's own IP stack.
//!
//! # Shape
//!
//! As in OVS's datapath, a tunnel is two things. An **endpoint** ([`Endpoint`]) is one
//! receiving socket per (kind, UDP port): `vxlan_sys_4789`, `geneve_sys_6081`, `gre_sys`. It is
//! attached to the datapath as a port of its own ([`EndpointPort`]) which decapsulates what it
//! receives and *demultiplexes*: each packet is handed to the datapath as received on the
//! tunnel port whose `remote_ip` / `key` / `local_ip` match ([`Demux`], OVS's precedence), with
//! the outer header's facts in the packet's [`TunnelMeta`] and so in the flow key's `tun_*`
//! fields, before the microflow lookup. Several tunnel ports share one endpoint. A packet no
//! port claims, or whose tunnel header is bad, is counted as a [`TunnelDrop`] and dropped.
//!
//! A **tunnel port** ([`TunnelPort`]) is the OpenFlow-visible port (`vxlan0`). It receives
//! nothing itself; on output it prepends the tunnel header (through the `wire` views, see
//! [`codec`]) to each packet, using the metadata that xlate's `set(tunnel(...))` wrote, and
//! sends it to the remote through the kernel.
//!
//! # Why kernel sockets, and which
//!
//! The underlay is the host's IP stack in the daemon's network namespace: its addresses,
//! routes, neighbours, MTU and firewall. Using sockets rather than building outer Ethernet/IP
//! headers ourselves (OVS's userspace "native tunnelling", which needs its own route and ARP
//! caches and an underlay port in the bridge) means the kernel does routing, neighbour
//! resolution, fragmentation policy and checksum offload, exactly as for any application.
//!
//! - **VXLAN and Geneve: UDP sockets.** One dual-stack receiving socket bound to the port
//!   (IPv4 arrives v4-mapped), asking for `IP_PKTINFO`/`IP_RECVTOS`/`IP_RECVTTL` (and the IPv6
//!   equivalents) so that `tun_dst`, `tun_tos` and `tun_ttl` are known; `recvmmsg` takes up to a
//!   batch per call straight into the datapath's packet buffers, and decapsulation only moves
//!   the frame start (no copy). Sending uses `sendmmsg` with a two-piece iovec (tunnel header,
//!   frame: no copy), per-message TOS and TTL as control messages, and DF/checksum fixed per
//!   socket (`IP_MTU_DISCOVER`, `SO_NO_CHECK`). The outer UDP source port is where ECMP finds
//!   its entropy: a port keeps [`TX_SOCKETS`] sending sockets on ephemeral ports per setting
//!   and picks one by a hash of the inner flow, so one inner flow always uses one source port
//!   and different flows spread over several. (A raw socket could choose any source port per
//!   packet, but then the kernel's UDP checksum offload and, later, UDP GSO are lost.)
//! - **GRE: a raw IPv4 socket** for protocol 47 (there is no GRE socket type). It receives
//!   every GRE packet of the namespace with its IP header, which is parsed with the `ipv4`
//!   view; sending writes the GRE header + frame and the kernel adds the IP header. Sending-only
//!   raw sockets get a drop-everything BPF filter so they do not queue copies of the traffic.
//!
//! Offloaded super-packets (64 KB TCP segments from a TAP port) are segmented in software
//! before encapsulation ([`crate::port::offload`]); each segment is one datagram.

pub mod codec;
mod config;
mod demux;
mod endpoint;
mod sock;

pub use config::{ConfigError, DEFAULT_TTL, OPTIONS, TunnelConfig};
pub use demux::{Demux, Route};
pub use endpoint::{
    Endpoint, EndpointKey, EndpointPort, Registry, TX_SOCKETS, TunnelPort, inner_hash,
};

use core::fmt;

/// The tunnel protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TunnelKind {
    Vxlan,
    Geneve,
    Gre,
}

impl TunnelKind {
    /// The port type's name (`vxlan`, `geneve`, `gre`).
    pub fn as_str(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Geneve => "geneve",
            TunnelKind::Gre => "gre",
        }
    }

    /// The IANA UDP port (0 for GRE).
    pub fn default_port(self) -> u16 {
        match self {
            TunnelKind::Vxlan => crate::wire::vxlan::PORT,
            TunnelKind::Geneve => crate::wire::geneve::PORT,
            TunnelKind::Gre => 0,
        }
    }

    /// The largest key the header carries.
    pub fn max_key(self) -> u64 {
        match self {
            TunnelKind::Vxlan | TunnelKind::Geneve => 0x00ff_ffff,
            TunnelKind::Gre => 0xffff_ffff,
        }
    }

    /// The key range, for messages.
    pub fn key_range(self) -> &'static str {
        match self {
            TunnelKind::Vxlan | TunnelKind::Geneve => "a VNI is 0..16777215",
            TunnelKind::Gre => "a GRE key is 0..4294967295",
        }
    }
}

impl fmt::Display for TunnelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a tunnel endpoint dropped a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TunnelDrop {
    /// The outer IP or tunnel header, or the inner Ethernet header, is cut short.
    #[error("the tunnel header is truncated")]
    Truncated,
    /// Flags or version the protocol does not allow (VXLAN without the I flag, Geneve
    /// version ≠ 0, GRE version ≠ 0 or routing, a fragmented GRE packet).
    #[error("the tunnel header has invalid flags or version")]
    BadHeader,
    /// A Geneve option whose length runs past the option area.
    #[error("a Geneve option length is inconsistent")]
    BadOptions,
    /// A Geneve option marked critical that this switch does not understand (RFC 8926).
    #[error("an unknown critical Geneve option")]
    CriticalOption,
    /// The payload is not an Ethernet frame.
    #[error("the tunnel payload is not Ethernet")]
    NotEthernet,
    /// No tunnel port has this remote address and key.
    #[error("no tunnel port matches the remote address and key")]
    NoPort,
}

impl TunnelDrop {
    /// Every reason, in counter order.
    pub const ALL: &'static [TunnelDrop] = &[
        TunnelDrop::Truncated,
        TunnelDrop::BadHeader,
        TunnelDrop::BadOptions,
        TunnelDrop::CriticalOption,
        TunnelDrop::NotEthernet,
        TunnelDrop::NoPort,
    ];

    /// A stable snake_case name (counter labels).
    pub fn name(self) -> &'static str {
        match self {
            TunnelDrop::Truncated => "tunnel_truncated",
            TunnelDrop::BadHeader => "tunnel_bad_header",
            TunnelDrop::BadOptions => "tunnel_bad_options",
            TunnelDrop::CriticalOption => "tunnel_critical_option",
            TunnelDrop::NotEthernet => "tunnel_not_ethernet",
            TunnelDrop::NoPort => "tunnel_no_port",
        }
    }
}
