//! ICMP and ICMPv6: query tracking and errors related to a connection.
//!
//! Queries (echo, and for ICMPv4 also timestamp and information requests) are tracked like a
//! tiny connection: the request creates it, a reply in the other direction makes it
//! established. Replies without a request, and informational types conntrack does not know
//! (router advertisements, neighbour discovery...), are invalid, as in OVS.
//!
//! Errors (destination unreachable, time exceeded, parameter problem, source quench, redirect;
//! for ICMPv6 also packet too big) quote the header of the packet that caused them. The quoted
//! tuple, reversed, is looked up: a hit makes the error `+rel` to that connection, in whichever
//! direction the error travels. Errors about errors are never related. NAT of the quoted header
//! lives in [`super::nat`].

use super::CtInvalid;
use super::key::{self, ConnTuple, L4, PacketView};

/// How conntrack treats an ICMP type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IcmpKind {
    /// A query that may start a connection.
    Request,
    /// The answer to a query.
    Reply,
    /// An error quoting another packet.
    Error,
    /// Anything else: not trackable.
    Other,
}

/// Classifies ICMP (`family` 4) or ICMPv6 (`family` 6) type `ty`.
pub(crate) fn classify(family: u8, ty: u8) -> IcmpKind {
    match (family, ty) {
        (4, 8 | 13 | 15) | (6, 128) => IcmpKind::Request,
        (4, 0 | 14 | 16) | (6, 129) => IcmpKind::Reply,
        (4, 3 | 4 | 5 | 11 | 12) | (6, 1..=4) => IcmpKind::Error,
        _ => IcmpKind::Other,
    }
}

/// The query type on the other side of `ty`: a request's reply, or a reply's request.
pub(crate) fn counterpart(family: u8, ty: u8) -> Option<u8> {
    match (family, ty) {
        (4, 8) => Some(0),
        (4, 0) => Some(8),
        (4, 13) => Some(14),
        (4, 14) => Some(13),
        (4, 15) => Some(16),
        (4, 16) => Some(15),
        (6, 128) => Some(129),
        (6, 129) => Some(128),
        _ => None,
    }
}

/// The packet quoted inside an ICMP error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quoted {
    /// The quoted packet's own tuple (zone taken from the error).
    pub tuple: ConnTuple,
    /// Offset of the quoted IP header.
    pub l3: usize,
    /// Offset of the quoted L4 header.
    pub l4: usize,
    /// End of the quoted bytes (the error's payload end).
    pub end: usize,
}

/// Reads the packet quoted by the ICMP error `outer`.
pub(crate) fn parse_quoted(frame: &[u8], outer: &PacketView) -> Result<Quoted, CtInvalid> {
    let l3 = outer.l4 + 8;
    let info = key::parse_l3(frame, l3, outer.end, true).map_err(|_| CtInvalid::BadIcmpError)?;
    if info.family != outer.tuple.family {
        return Err(CtInvalid::BadIcmpError);
    }
    let (sport, dport, kind) =
        key::parse_l4(frame, &info, true).map_err(|_| CtInvalid::BadIcmpError)?;
    // An error can only relate to a TCP/UDP flow, an ICMP query, or an address-only flow.
    if let L4::IcmpQuery { .. } | L4::Tcp(_) | L4::Udp | L4::Other = kind {
        Ok(Quoted {
            tuple: ConnTuple {
                src: info.src,
                dst: info.dst,
                sport,
                dport,
                zone: outer.tuple.zone,
                proto: info.proto,
                family: info.family,
            },
            l3,
            l4: info.l4,
            end: info.end,
        })
    } else {
        Err(CtInvalid::BadIcmpError)
    }
}

#[cfg(test)]
mod tests {
    use super::super::key::tests::{ipv4_frame, tcp};
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify(4, 8), IcmpKind::Request);
        assert_eq!(classify(4, 0), IcmpKind::Reply);
        assert_eq!(classify(4, 3), IcmpKind::Error);
        assert_eq!(classify(4, 9), IcmpKind::Other);
        assert_eq!(classify(6, 128), IcmpKind::Request);
        assert_eq!(classify(6, 2), IcmpKind::Error);
        assert_eq!(classify(6, 135), IcmpKind::Other);
        assert_eq!(counterpart(4, 13), Some(14));
        assert_eq!(counterpart(4, 0), Some(8));
        assert_eq!(counterpart(4, 3), None);
    }

    #[test]
    fn quoted_tcp_header_is_read_from_8_bytes() {
        let inner = ipv4_frame(
            6,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &tcp(1234, 80, 1, 0, 2, 100, b""),
        );
        // ICMP port unreachable quoting the IP header + 8 bytes of TCP.
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner[14..14 + 28]);
        let f = ipv4_frame(1, [10, 0, 0, 2], [10, 0, 0, 1], &icmp);
        let v = key::parse(&f, 14, 9).unwrap();
        assert_eq!(v.l4kind, L4::IcmpError);
        let q = parse_quoted(&f, &v).unwrap();
        assert_eq!(q.tuple.zone, 9);
        assert_eq!((q.tuple.sport, q.tuple.dport), (1234, 80));
        assert_eq!(q.l3, 14 + 20 + 8);
        // Quoting fewer than 8 L4 bytes is not enough.
        for cut in 0..28 {
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&inner[14..14 + cut]);
            let f = ipv4_frame(1, [10, 0, 0, 2], [10, 0, 0, 1], &icmp);
            let v = key::parse(&f, 14, 0).unwrap();
            assert_eq!(
                parse_quoted(&f, &v),
                Err(CtInvalid::BadIcmpError),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn error_quoting_an_error_is_not_related() {
        let inner_err = ipv4_frame(1, [1, 1, 1, 1], [2, 2, 2, 2], &[3, 1, 0, 0, 0, 0, 0, 0]);
        let mut icmp = vec![11, 0, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&inner_err[14..]);
        let f = ipv4_frame(1, [3, 3, 3, 3], [1, 1, 1, 1], &icmp);
        let v = key::parse(&f, 14, 0).unwrap();
        assert_eq!(parse_quoted(&f, &v), Err(CtInvalid::BadIcmpError));
    }
}
