//! `FlushConntrack`'s request, checked and turned into conntrack's [`FlushSpec`].
//!
//! The API carries OVS's `ct-orig-tuple` / `ct-reply-tuple` as structured, all-optional
//! fields ([`pb::ConntrackTupleMatch`]); `vswitch-ctl` parses the OVS text form, other clients
//! fill the fields. Either way the daemon re-checks everything here, so a request that names a
//! contradiction (mixed address families, ports without TCP/UDP...) is refused with
//! `InvalidArgument` naming the field, and never silently flushes nothing or everything.

use std::net::IpAddr;

use fastpath::conntrack::{FlushSpec, TuplePattern};
use proto::v1 as pb;
use tonic::Status;

fn bad(which: &str, field: &str, value: impl std::fmt::Display, why: &str) -> Status {
    Status::invalid_argument(format!("bad value '{value}' for '{which}.{field}': {why}"))
}

fn small<T: TryFrom<u32>>(
    which: &str,
    field: &str,
    v: Option<u32>,
    range: &str,
) -> Result<Option<T>, Status> {
    v.map(|n| T::try_from(n).map_err(|_| bad(which, field, n, range)))
        .transpose()
}

fn addr(which: &str, field: &str, v: Option<&String>) -> Result<Option<IpAddr>, Status> {
    v.map(|s| {
        s.trim()
            .parse::<IpAddr>()
            .map_err(|_| bad(which, field, s, "not an IPv4 or IPv6 address"))
    })
    .transpose()
}

/// One direction's pattern (`which` is `orig` or `reply`, for messages).
fn pattern(which: &str, m: &pb::ConntrackTupleMatch) -> Result<TuplePattern, Status> {
    let p = TuplePattern {
        src: addr(which, "src", m.src.as_ref())?,
        dst: addr(which, "dst", m.dst.as_ref())?,
        proto: small(which, "protocol", m.protocol, "must be 0 to 255")?,
        sport: small(which, "sport", m.sport, "must be 0 to 65535")?,
        dport: small(which, "dport", m.dport, "must be 0 to 65535")?,
        icmp_id: small(which, "icmp_id", m.icmp_id, "must be 0 to 65535")?,
        icmp_type: small(which, "icmp_type", m.icmp_type, "must be 0 to 255")?,
        icmp_code: small(which, "icmp_code", m.icmp_code, "must be 0 to 255")?,
    };
    p.check()
        .map_err(|e| Status::invalid_argument(format!("{which} tuple: {e}")))?;
    Ok(p)
}

/// The flush a request asks for.
pub(super) fn flush_spec(req: &pb::FlushConntrackRequest) -> Result<FlushSpec, Status> {
    let zone = small("request", "zone", req.zone, "must be 0 to 65535")?;
    let none = pb::ConntrackTupleMatch::default();
    Ok(FlushSpec {
        zone,
        orig: pattern("orig", req.orig.as_ref().unwrap_or(&none))?,
        reply: pattern("reply", req.reply.as_ref().unwrap_or(&none))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn tcp_orig() -> pb::ConntrackTupleMatch {
        pb::ConntrackTupleMatch {
            src: Some("10.0.0.1".into()),
            dst: Some("10.0.0.2".into()),
            protocol: Some(6),
            sport: Some(1234),
            dport: Some(80),
            ..Default::default()
        }
    }

    fn err(req: pb::FlushConntrackRequest) -> String {
        let s = flush_spec(&req).unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        s.message().to_owned()
    }

    #[test]
    fn good_requests_become_specs() {
        let spec = flush_spec(&pb::FlushConntrackRequest::default()).unwrap();
        assert_eq!(spec, FlushSpec::default());
        let spec = flush_spec(&pb::FlushConntrackRequest {
            zone: Some(7),
            orig: Some(tcp_orig()),
            reply: None,
        })
        .unwrap();
        assert_eq!(spec.zone, Some(7));
        assert_eq!(
            spec.orig,
            TuplePattern::parse(
                "ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=1234,ct_tp_dst=80"
            )
            .unwrap()
        );
        assert!(spec.reply.is_empty());
        // IPv6 and ICMPv6, in the reply pattern.
        let spec = flush_spec(&pb::FlushConntrackRequest {
            reply: Some(pb::ConntrackTupleMatch {
                src: Some("fd00::2".into()),
                protocol: Some(58),
                icmp_type: Some(129),
                icmp_id: Some(3),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            spec.reply,
            TuplePattern::parse("ct_ipv6_src=fd00::2,ct_nw_proto=58,icmp_type=129,icmp_id=3")
                .unwrap()
        );
    }

    #[test]
    fn malformed_requests_name_the_field() {
        let with_orig = |m: pb::ConntrackTupleMatch| pb::FlushConntrackRequest {
            orig: Some(m),
            ..Default::default()
        };
        assert_eq!(
            err(pb::FlushConntrackRequest {
                zone: Some(70000),
                ..Default::default()
            }),
            "bad value '70000' for 'request.zone': must be 0 to 65535"
        );
        assert_eq!(
            err(with_orig(pb::ConntrackTupleMatch {
                src: Some("10.0.0.300".into()),
                ..Default::default()
            })),
            "bad value '10.0.0.300' for 'orig.src': not an IPv4 or IPv6 address"
        );
        assert_eq!(
            err(with_orig(pb::ConntrackTupleMatch {
                sport: Some(65536),
                ..tcp_orig()
            })),
            "bad value '65536' for 'orig.sport': must be 0 to 65535"
        );
        assert_eq!(
            err(with_orig(pb::ConntrackTupleMatch {
                protocol: Some(300),
                ..Default::default()
            })),
            "bad value '300' for 'orig.protocol': must be 0 to 255"
        );
        assert_eq!(
            err(with_orig(pb::ConntrackTupleMatch {
                dst: Some("fd00::1".into()),
                ..tcp_orig()
            })),
            "orig tuple: 'ct_nw_src' and 'ct_ipv6_dst' are of different address families"
        );
        assert_eq!(
            err(with_orig(pb::ConntrackTupleMatch {
                protocol: None,
                ..tcp_orig()
            })),
            "orig tuple: 'ct_tp_src' needs ct_nw_proto=6 (tcp) or ct_nw_proto=17 (udp)"
        );
        assert_eq!(
            err(pb::FlushConntrackRequest {
                reply: Some(pb::ConntrackTupleMatch {
                    icmp_code: Some(0),
                    protocol: Some(17),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            "reply tuple: 'icmp_code' needs ct_nw_proto=1 (icmp) or ct_nw_proto=58 (icmpv6)"
        );
    }
}
