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
    let l3 = outer.l4 + crate::wire::icmp::HEADER_LEN;
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
        use key::{IcmpKind, icmp_counterpart, icmp_kind};
        assert_eq!(icmp_kind(4, 8), IcmpKind::Request);
        assert_eq!(icmp_kind(4, 0), IcmpKind::Reply);
        assert_eq!(icmp_kind(4, 3), IcmpKind::Error);
        assert_eq!(icmp_kind(4, 9), IcmpKind::Other);
        assert_eq!(icmp_kind(6, 128), IcmpKind::Request);
        assert_eq!(icmp_kind(6, 2), IcmpKind::Error);
        assert_eq!(icmp_kind(6, 135), IcmpKind::Other);
        assert_eq!(icmp_counterpart(4, 13), Some(14));
        assert_eq!(icmp_counterpart(4, 0), Some(8));
        assert_eq!(icmp_counterpart(4, 3), None);
        assert_eq!(icmp_counterpart(6, 128), Some(129));
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

/// Queries and related errors end to end, including NAT of quoted headers.
#[cfg(test)]
mod frame_tests {
    use super::super::key::tests::{commit, ipv4_frame, ipv6_frame, run, tcp, track};
    use super::super::{Conntrack, ConntrackConfig, CtInvalid, CtVerdict};
    use crate::action::{CtAction, NatSpec};
    use crate::flow::key::ct_state::*;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];
    const N: [u8; 4] = [192, 0, 2, 1];
    const R: [u8; 4] = [10, 0, 0, 254];

    fn echo(ty: u8, id: u16) -> Vec<u8> {
        let mut m = vec![ty, 0, 0, 0, (id >> 8) as u8, id as u8, 0, 1];
        m.extend_from_slice(b"ping");
        m
    }

    /// An ICMP(v6) error of `ty`/`code` quoting `quoted` (an IP packet).
    fn error(ty: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, code, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(quoted);
        m
    }

    fn v6(last: u8) -> [u8; 16] {
        let mut a = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[15] = last;
        a
    }

    #[test]
    fn echo_request_and_reply() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (v, k) = run(&ct, &mut ipv4_frame(1, A, B, &echo(8, 9)), &commit(0), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW));
        let (_, k) = run(&ct, &mut ipv4_frame(1, B, A, &echo(0, 9)), &track(0), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL);
        let (_, k) = run(&ct, &mut ipv4_frame(1, A, B, &echo(8, 9)), &track(0), 2);
        assert_eq!(k.ct_state, TRK | EST);
        // A reply with another id has no request: invalid.
        let (v, _) = run(&ct, &mut ipv4_frame(1, B, A, &echo(0, 10)), &track(0), 3);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::IcmpNoConn));
        // Untracked types (router solicitation) are invalid.
        let (v, _) = run(&ct, &mut ipv4_frame(1, A, B, &echo(10, 0)), &commit(0), 3);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::IcmpUnsupported));
        assert_eq!(
            ct.dump(None)[0].to_string(),
            "icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=9,type=8,code=0),\
             reply=(src=10.0.0.2,dst=10.0.0.1,id=9,type=0,code=0)"
        );
    }

    #[test]
    fn icmpv6_echo_and_neighbour_discovery() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (v, _) = run(
            &ct,
            &mut ipv6_frame(58, v6(1), v6(2), &echo(128, 3)),
            &commit(0),
            0,
        );
        assert_eq!(v, CtVerdict::Committed);
        let (_, k) = run(
            &ct,
            &mut ipv6_frame(58, v6(2), v6(1), &echo(129, 3)),
            &track(0),
            0,
        );
        assert_eq!(k.ct_state, TRK | EST | RPL);
        let mut ns = vec![135, 0, 0, 0, 0, 0, 0, 0];
        ns.extend_from_slice(&v6(2));
        let (v, _) = run(&ct, &mut ipv6_frame(58, v6(1), v6(2), &ns), &commit(0), 0);
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::IcmpUnsupported));
    }

    #[test]
    fn errors_are_related_in_either_direction() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let syn = ipv4_frame(6, A, B, &tcp(40000, 80, 1, 0, 0x002, 1000, b""));
        run(&ct, &mut syn.clone(), &commit(0), 0);
        // Port unreachable from B about A's SYN: travels in the reply direction.
        let (v, k) = run(
            &ct,
            &mut ipv4_frame(1, B, A, &error(3, 3, &syn[14..])),
            &track(0),
            1,
        );
        assert_eq!((v, k.ct_state), (CtVerdict::Tracked, TRK | REL | RPL));
        // Time exceeded from a router, quoting only 8 bytes of TCP.
        let (_, k) = run(
            &ct,
            &mut ipv4_frame(1, R, A, &error(11, 0, &syn[14..42])),
            &track(0),
            1,
        );
        assert_eq!(k.ct_state, TRK | REL | RPL);
        // An error A sends about a packet from B travels in the original direction.
        let synack = ipv4_frame(6, B, A, &tcp(80, 40000, 9, 2, 0x012, 1000, b""));
        let (_, k) = run(
            &ct,
            &mut ipv4_frame(1, A, B, &error(3, 3, &synack[14..])),
            &track(0),
            1,
        );
        assert_eq!(k.ct_state, TRK | REL);
        // An error about nothing we track, or in another zone.
        let other = ipv4_frame(6, A, B, &tcp(40001, 80, 1, 0, 0x002, 1000, b""));
        let (v, _) = run(
            &ct,
            &mut ipv4_frame(1, B, A, &error(3, 3, &other[14..])),
            &track(0),
            1,
        );
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::RelatedNoConn));
        let (v, _) = run(
            &ct,
            &mut ipv4_frame(1, B, A, &error(3, 3, &syn[14..])),
            &track(5),
            1,
        );
        assert_eq!(v, CtVerdict::Invalid(CtInvalid::RelatedNoConn));
        assert_eq!(ct.stats().related, 3);
    }

    fn snat_to(addr: [u8; 4]) -> CtAction {
        CtAction {
            commit: true,
            nat: Some(NatSpec {
                src: Some(true),
                addrs: Some((addr.into(), addr.into())),
                ports: None,
            }),
            ..CtAction::default()
        }
    }

    #[test]
    fn related_error_is_un_natted_inside_and_out() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let payload = b"some data";
        let orig = ipv4_frame(6, A, B, &tcp(40000, 80, 1, 0, 0x002, 1000, payload));
        let natted = ipv4_frame(6, N, B, &tcp(40000, 80, 1, 0, 0x002, 1000, payload));
        let mut f = orig.clone();
        let (_, k) = run(&ct, &mut f, &snat_to(N), 0);
        assert_eq!(k.ct_state, TRK | NEW | SNAT);
        assert_eq!(f, natted, "first packet source-NATed with valid checksums");
        // A router's "fragmentation needed" about the translated packet, sent to N.
        let mut err = ipv4_frame(1, R, N, &error(3, 4, &natted[14..]));
        let expected = ipv4_frame(1, R, A, &error(3, 4, &orig[14..]));
        let nat_only = CtAction {
            nat: Some(NatSpec {
                src: None,
                addrs: None,
                ports: None,
            }),
            ..CtAction::default()
        };
        let (v, k) = run(&ct, &mut err, &nat_only, 1);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Tracked, TRK | REL | RPL | DNAT)
        );
        assert_eq!(
            err, expected,
            "outer dst, quoted src and every checksum restored"
        );
        // Without `nat` in the action, the error is related but left alone.
        let mut err = ipv4_frame(1, R, N, &error(3, 4, &natted[14..]));
        let (_, k) = run(&ct, &mut err, &track(0), 1);
        assert_eq!(k.ct_state, TRK | REL | RPL);
        assert_eq!(err, ipv4_frame(1, R, N, &error(3, 4, &natted[14..])));
    }

    /// Found by the `conntrack_seq` fuzz target: an error whose outer addresses are not the
    /// connection's (here a router writing to a third host) had its quoted header un-NATed
    /// but no `+snat`/`+dnat` bit, so the state hid that the frame was rewritten.
    #[test]
    fn related_error_nat_of_quoted_header_alone_is_reported() {
        const X: [u8; 4] = [10, 0, 0, 77];
        let ct = Conntrack::new(ConntrackConfig::default());
        let orig = ipv4_frame(6, A, B, &tcp(40000, 80, 1, 0, 0x002, 1000, b""));
        let natted = ipv4_frame(6, N, B, &tcp(40000, 80, 1, 0, 0x002, 1000, b""));
        let mut f = orig.clone();
        run(&ct, &mut f, &snat_to(N), 0);
        assert_eq!(f, natted);
        let nat_only = CtAction {
            nat: Some(NatSpec {
                src: None,
                addrs: None,
                ports: None,
            }),
            ..CtAction::default()
        };
        let mut err = ipv4_frame(1, R, X, &error(11, 0, &natted[14..]));
        let (v, k) = run(&ct, &mut err, &nat_only, 1);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Tracked, TRK | REL | RPL | DNAT)
        );
        assert_eq!(
            err,
            ipv4_frame(1, R, X, &error(11, 0, &orig[14..])),
            "outer addresses kept, quoted source restored"
        );
    }

    #[test]
    fn related_icmpv6_error_with_dnat() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (client, vip, server) = (v6(1), v6(0x80), v6(0x99));
        let dnat = CtAction {
            commit: true,
            zone: 4,
            nat: Some(NatSpec {
                src: Some(false),
                addrs: Some((server.into(), server.into())),
                ports: Some((8080, 8080)),
            }),
            ..CtAction::default()
        };
        let mut f = ipv6_frame(
            17,
            client,
            vip,
            &super::super::key::tests::udp(5000, 53, b"q"),
        );
        let (_, k) = run(&ct, &mut f, &dnat, 0);
        assert_eq!(k.ct_state, TRK | NEW | DNAT);
        let to_server = ipv6_frame(
            17,
            client,
            server,
            &super::super::key::tests::udp(5000, 8080, b"q"),
        );
        assert_eq!(f, to_server);
        // The server answers "port unreachable"; the client must see it from the VIP.
        let mut err = ipv6_frame(58, server, client, &error(1, 4, &to_server[14..]));
        let to_vip = ipv6_frame(
            17,
            client,
            vip,
            &super::super::key::tests::udp(5000, 53, b"q"),
        );
        let expected = ipv6_frame(58, vip, client, &error(1, 4, &to_vip[14..]));
        let mut action = dnat;
        action.commit = false;
        let (_, k) = run(&ct, &mut err, &action, 1);
        assert_eq!(k.ct_state, TRK | REL | RPL | SNAT);
        assert_eq!(err, expected);
    }

    fn nat_only() -> CtAction {
        CtAction {
            nat: Some(NatSpec {
                src: None,
                addrs: None,
                ports: None,
            }),
            ..CtAction::default()
        }
    }

    /// The echo identifier of an IPv4 (`l4` 34) or IPv6 (`l4` 54) frame.
    fn echo_id(f: &[u8], l4: usize) -> u16 {
        u16::from_be_bytes([f[l4 + 4], f[l4 + 5]])
    }

    /// Two inside hosts ping one outside host with the same echo id through one SNAT address:
    /// without translating the id their reply tuples would be identical and the second
    /// commit would fail. The first keeps its id, the second gets another; each reply goes
    /// back to its own host with its own id, later requests keep their binding, an ICMP error
    /// quoting a translated request is un-NATed down to the quoted id, and every checksum
    /// equals a full recomputation (the expected frames are built from scratch).
    #[test]
    fn snat_translates_colliding_echo_ids() {
        const A2: [u8; 4] = [10, 0, 0, 3];
        const OUT: [u8; 4] = [198, 51, 100, 7];
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut f1 = ipv4_frame(1, A, OUT, &echo(8, 77));
        let (v, k) = run(&ct, &mut f1, &snat_to(N), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW | SNAT));
        assert_eq!(f1, ipv4_frame(1, N, OUT, &echo(8, 77)), "a free id is kept");
        let orig2 = ipv4_frame(1, A2, OUT, &echo(8, 77));
        let mut f2 = orig2.clone();
        let (v, k) = run(&ct, &mut f2, &snat_to(N), 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW | SNAT));
        let id2 = echo_id(&f2, 34);
        assert_ne!(id2, 77, "the second ping must get its own id");
        assert_eq!(f2, ipv4_frame(1, N, OUT, &echo(8, id2)));
        assert_eq!(ct.stats().nat_failures, 0);

        // Replies are un-NATed to their own host and id.
        let mut r1 = ipv4_frame(1, OUT, N, &echo(0, 77));
        let (_, k) = run(&ct, &mut r1, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | DNAT);
        assert_eq!(r1, ipv4_frame(1, OUT, A, &echo(0, 77)));
        let mut r2 = ipv4_frame(1, OUT, N, &echo(0, id2));
        let (_, k) = run(&ct, &mut r2, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | DNAT);
        assert_eq!(r2, ipv4_frame(1, OUT, A2, &echo(0, 77)));
        // The next request of host 2 keeps its binding.
        let mut again = orig2.clone();
        let (_, k) = run(&ct, &mut again, &nat_only(), 2);
        assert_eq!(k.ct_state, TRK | EST | SNAT);
        assert_eq!(again, f2);
        assert!(
            ct.dump(None).iter().any(|e| e.to_string()
                == format!(
                    "icmp,orig=(src=10.0.0.3,dst=198.51.100.7,id=77,type=8,code=0),\
                     reply=(src=198.51.100.7,dst=192.0.2.1,id={id2},type=0,code=0)"
                )),
            "{:?}",
            ct.dump(None)
        );
        // "Host unreachable" from a router about host 2's translated request.
        let mut err = ipv4_frame(1, R, N, &error(3, 1, &f2[14..]));
        let (v, k) = run(&ct, &mut err, &nat_only(), 3);
        assert_eq!(
            (v, k.ct_state),
            (CtVerdict::Tracked, TRK | REL | RPL | DNAT)
        );
        assert_eq!(err, ipv4_frame(1, R, A2, &error(3, 1, &orig2[14..])));
    }

    /// The `nat` port range bounds the echo id under SNAT; an id inside it is kept, one
    /// outside it is moved in; once the range is used up, commits fail and are counted.
    #[test]
    fn snat_port_range_applies_to_echo_ids() {
        const OUT: [u8; 4] = [198, 51, 100, 7];
        let ct = Conntrack::new(ConntrackConfig::default());
        let mut action = snat_to(N);
        action.nat.as_mut().unwrap().ports = Some((1000, 1001));
        let mut f = ipv4_frame(1, A, OUT, &echo(8, 1001));
        run(&ct, &mut f, &action, 0);
        assert_eq!(echo_id(&f, 34), 1001, "an id in the range is kept");
        let mut f = ipv4_frame(1, [10, 0, 0, 3], OUT, &echo(8, 77));
        let (v, _) = run(&ct, &mut f, &action, 0);
        assert_eq!(v, CtVerdict::Committed);
        assert_eq!(f, ipv4_frame(1, N, OUT, &echo(8, 1000)));
        let orig = ipv4_frame(1, [10, 0, 0, 4], OUT, &echo(8, 77));
        let mut f = orig.clone();
        let (v, k) = run(&ct, &mut f, &action, 0);
        assert_eq!((v, k.ct_state), (CtVerdict::NatFailed, TRK | NEW));
        assert_eq!(f, orig, "a refused commit leaves the packet alone");
        assert_eq!(ct.stats().nat_failures, 1);
    }

    /// The same over IPv6, where the ICMPv6 checksum also covers the addresses.
    #[test]
    fn snat_translates_colliding_icmpv6_echo_ids() {
        let ct = Conntrack::new(ConntrackConfig::default());
        let (out, n) = (
            [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7],
            v6(0xee),
        );
        let snat6 = CtAction {
            commit: true,
            nat: Some(NatSpec {
                src: Some(true),
                addrs: Some((n.into(), n.into())),
                ports: None,
            }),
            ..CtAction::default()
        };
        let mut f1 = ipv6_frame(58, v6(1), out, &echo(128, 5));
        run(&ct, &mut f1, &snat6, 0);
        assert_eq!(f1, ipv6_frame(58, n, out, &echo(128, 5)));
        let mut f2 = ipv6_frame(58, v6(2), out, &echo(128, 5));
        let (v, k) = run(&ct, &mut f2, &snat6, 0);
        assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW | SNAT));
        let id2 = echo_id(&f2, 54);
        assert_ne!(id2, 5);
        assert_eq!(f2, ipv6_frame(58, n, out, &echo(128, id2)));
        let mut r2 = ipv6_frame(58, out, n, &echo(129, id2));
        let (_, k) = run(&ct, &mut r2, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | DNAT);
        assert_eq!(r2, ipv6_frame(58, out, v6(2), &echo(129, 5)));
    }

    /// DNAT ignores its port for ICMP (a ping to the virtual IP keeps its id), and moves the
    /// id only when two virtual IPs behind one server would otherwise collide.
    #[test]
    fn dnat_keeps_echo_ids_unless_they_collide() {
        const S: [u8; 4] = [10, 0, 0, 99];
        let ct = Conntrack::new(ConntrackConfig::default());
        let dnat = CtAction {
            commit: true,
            nat: Some(NatSpec {
                src: Some(false),
                addrs: Some((S.into(), S.into())),
                ports: Some((8080, 8080)),
            }),
            ..CtAction::default()
        };
        let mut f = ipv4_frame(1, A, [10, 0, 0, 80], &echo(8, 42));
        let (_, k) = run(&ct, &mut f, &dnat, 0);
        assert_eq!(k.ct_state, TRK | NEW | DNAT);
        assert_eq!(
            f,
            ipv4_frame(1, A, S, &echo(8, 42)),
            "the port is not an id"
        );
        let mut f = ipv4_frame(1, A, [10, 0, 0, 81], &echo(8, 42));
        let (v, _) = run(&ct, &mut f, &dnat, 0);
        assert_eq!(v, CtVerdict::Committed);
        let id = echo_id(&f, 34);
        assert_ne!(id, 42);
        assert_eq!(f, ipv4_frame(1, A, S, &echo(8, id)));
        let mut r = ipv4_frame(1, S, A, &echo(0, id));
        let (_, k) = run(&ct, &mut r, &nat_only(), 1);
        assert_eq!(k.ct_state, TRK | EST | RPL | SNAT | DNAT);
        assert_eq!(r, ipv4_frame(1, [10, 0, 0, 81], A, &echo(0, 42)));
    }

    proptest::proptest! {
        /// SNAT of an echo request to a given address and id: the frame equals one built
        /// from scratch with those values (so every checksum is a full recomputation's).
        #[test]
        fn echo_id_snat_matches_full_recomputation(
            v6_family in proptest::prelude::any::<bool>(),
            id in proptest::prelude::any::<u16>(),
            to_id in proptest::prelude::any::<u16>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            let ct = Conntrack::new(ConntrackConfig { shards: Some(1), ..ConntrackConfig::default() });
            let msg = |ty: u8, id: u16| {
                let mut m = vec![ty, 0, 0, 0, (id >> 8) as u8, id as u8, 0, 1];
                m.extend_from_slice(&payload);
                m
            };
            let (req, to) = if v6_family { (128, v6(0xee)) } else { (8, [0; 16]) };
            let to_addr: std::net::IpAddr = if v6_family { to.into() } else { N.into() };
            let action = CtAction {
                commit: true,
                nat: Some(NatSpec { src: Some(true), addrs: Some((to_addr, to_addr)), ports: Some((to_id, to_id)) }),
                ..CtAction::default()
            };
            let (mut f, expected) = if v6_family {
                (ipv6_frame(58, v6(1), v6(2), &msg(req, id)), ipv6_frame(58, to, v6(2), &msg(req, to_id)))
            } else {
                (ipv4_frame(1, A, B, &msg(req, id)), ipv4_frame(1, N, B, &msg(req, to_id)))
            };
            let (v, k) = run(&ct, &mut f, &action, 0);
            proptest::prop_assert_eq!((v, k.ct_state), (CtVerdict::Committed, TRK | NEW | SNAT));
            proptest::prop_assert_eq!(f, expected);
        }
    }
}
