//! Why conntrack marks a packet `+inv`: one small `Copy` reason per packet, counted per reason
//! in [`super::ConntrackStats`] and named in metrics.

/// Why a packet was marked `+inv` (a small `Copy` reason, counted per reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtInvalid {
    /// No IPv4/IPv6 header at the given offset.
    NotIp,
    /// The IP header or its lengths are malformed or truncated.
    BadL3,
    /// An IP fragment (conntrack does not reassemble).
    Fragment,
    /// The L4 header is truncated or malformed.
    TruncatedL4,
    /// TCP flags no correct stack sends together.
    TcpFlags,
    /// TCP segment outside the tracked window.
    TcpWindow,
    /// A TCP segment that cannot start a connection (SYN+ACK, RST) and has none.
    TcpNotNew,
    /// An ICMP type conntrack does not track.
    IcmpUnsupported,
    /// An ICMP reply with no request tracked.
    IcmpNoConn,
    /// An ICMP error whose quoted packet is missing or malformed.
    BadIcmpError,
    /// An ICMP error quoting a packet of no tracked connection.
    RelatedNoConn,
}

impl CtInvalid {
    /// Every reason, in counter order.
    pub const ALL: [CtInvalid; 11] = [
        CtInvalid::NotIp,
        CtInvalid::BadL3,
        CtInvalid::Fragment,
        CtInvalid::TruncatedL4,
        CtInvalid::TcpFlags,
        CtInvalid::TcpWindow,
        CtInvalid::TcpNotNew,
        CtInvalid::IcmpUnsupported,
        CtInvalid::IcmpNoConn,
        CtInvalid::BadIcmpError,
        CtInvalid::RelatedNoConn,
    ];

    /// A short snake_case name, for counters.
    pub fn name(self) -> &'static str {
        match self {
            CtInvalid::NotIp => "not_ip",
            CtInvalid::BadL3 => "bad_l3",
            CtInvalid::Fragment => "fragment",
            CtInvalid::TruncatedL4 => "truncated_l4",
            CtInvalid::TcpFlags => "tcp_flags",
            CtInvalid::TcpWindow => "tcp_window",
            CtInvalid::TcpNotNew => "tcp_not_new",
            CtInvalid::IcmpUnsupported => "icmp_unsupported",
            CtInvalid::IcmpNoConn => "icmp_no_conn",
            CtInvalid::BadIcmpError => "bad_icmp_error",
            CtInvalid::RelatedNoConn => "related_no_conn",
        }
    }
}
