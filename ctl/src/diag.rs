//! Diagnosis commands (the ovs-appctl group): trace (online, or offline with `--flows`),
//! dump-megaflows, flush-megaflows, datapath-stats, fdb-show, dump-conntrack,
//! flush-conntrack, ct-limits — each one `DiagService` call, except offline trace, which
//! needs no daemon at all.

use anyhow::{Context, anyhow};
use fastpath::conntrack::TuplePattern;
use proto::v1 as pb;
use proto::v1::diag_service_client::DiagServiceClient;
use serde_json::{Value, json};

use crate::cli::{Format, TraceArgs};
use crate::output::{emit, emit_raw, secs};
use crate::{Ctx, rpc};

pub async fn trace(ctx: &Ctx, t: TraceArgs) -> anyhow::Result<()> {
    if let Some(flows) = &t.flows {
        let packets = t.args.as_slice();
        if t.generate {
            return offline_trace_generate(ctx, flows, t.groups.as_deref(), t.ports, &t, packets);
        }
        let [packet] = packets else {
            return Err(anyhow!(
                "offline trace takes one PACKET argument after --flows FILE (no bridge; \
                 several only with --generate)"
            ));
        };
        return offline_trace(ctx, flows, &t, packet);
    }
    let [bridge, packet] = t.args.as_slice() else {
        return Err(anyhow!(
            "trace needs BR PACKET (or --flows FILE PACKET for an offline trace)"
        ));
    };
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let req = pb::TraceRequest {
        bridge: bridge.clone(),
        packet: packet.clone(),
        ct_next: t.ct_next,
        generate: t.generate,
    };
    let r = c.trace(req).await.map_err(rpc)?.into_inner();
    emit_raw(ctx.format, &r.json, || r.text.clone())
}

/// Offline trace: an in-memory bridge with ports p1..pN and the flows of FILE; no daemon.
fn offline_trace(ctx: &Ctx, flows: &str, t: &TraceArgs, packet: &str) -> anyhow::Result<()> {
    let (text, groups) = read_offline_files(flows, t.groups.as_deref())?;
    let meters = read_meters(t.meters.as_deref())?;
    let report = vswitchd::trace::offline_trace_with_meters(
        &text, &groups, &meters, t.ports, packet, &t.ct_next,
    )
    .map_err(|e| anyhow!("{}", vswitchd::report::chain(&e)))?;
    emit_raw(ctx.format, &report.to_json(), || report.to_text())
}

/// Offline `trace --generate`: each packet in turn through one in-memory bridge, the side
/// effects of one in place for the next. JSON: one report per packet, in an array.
fn offline_trace_generate(
    ctx: &Ctx,
    flows: &str,
    groups: Option<&str>,
    ports: u32,
    t: &TraceArgs,
    packets: &[String],
) -> anyhow::Result<()> {
    let (text, groups) = read_offline_files(flows, groups)?;
    let meters = read_meters(t.meters.as_deref())?;
    let reports = vswitchd::trace::offline_trace_generate_with_meters(
        &text, &groups, &meters, ports, packets, &t.ct_next,
    )
    .map_err(|e| anyhow!("{}", vswitchd::report::chain(&e)))?;
    let json = format!(
        "[{}]",
        reports
            .iter()
            .map(|r| r.to_json())
            .collect::<Vec<_>>()
            .join(",")
    );
    emit_raw(ctx.format, &json, || {
        reports
            .iter()
            .map(|r| r.to_text())
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// The meter file of an offline trace (one meter per line, ovs-ofctl add-meter syntax).
fn read_meters(meters: Option<&str>) -> anyhow::Result<String> {
    match meters {
        Some(m) => {
            std::fs::read_to_string(m).with_context(|| format!("cannot read meter file {m}"))
        }
        None => Ok(String::new()),
    }
}

/// The flow file (`-`: stdin) and the group file of an offline trace.
fn read_offline_files(flows: &str, groups: Option<&str>) -> anyhow::Result<(String, String)> {
    let text = if flows == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read flows from stdin")?
    } else {
        std::fs::read_to_string(flows).with_context(|| format!("cannot read flow file {flows}"))?
    };
    let groups = match groups {
        Some(g) => {
            std::fs::read_to_string(g).with_context(|| format!("cannot read group file {g}"))?
        }
        None => String::new(),
    };
    Ok((text, groups))
}

pub async fn dump_megaflows(ctx: &Ctx, bridge: Option<String>) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let req = pb::DumpMegaflowsRequest {
        bridge: bridge.unwrap_or_default(),
    };
    let mut stream = c.dump_megaflows(req).await.map_err(rpc)?.into_inner();
    let mut all = Vec::new();
    let count = crate::progress::Progress::counter("megaflows");
    while let Some(m) = stream.message().await.map_err(rpc)? {
        count.inc();
        match ctx.format {
            Format::Text => println!(
                "{}, packets:{}, bytes:{}, used:{}, actions:{}",
                m.r#match,
                m.packets,
                m.bytes,
                secs(m.idle_ms),
                m.actions
            ),
            Format::Json => all.push(
                json!({"match": m.r#match, "actions": m.actions, "packets": m.packets,
                                            "bytes": m.bytes, "idle_ms": m.idle_ms}),
            ),
        }
    }
    emit(ctx.format, json!(all), String::new)
}

pub async fn flush_megaflows(ctx: &Ctx) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let r = c
        .flush_megaflows(pb::FlushMegaflowsRequest {})
        .await
        .map_err(rpc)?
        .into_inner();
    emit(ctx.format, json!({"flushed": r.flushed}), || {
        format!("flushed {} megaflows", r.flushed)
    })
}

pub async fn datapath_stats(ctx: &Ctx) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let r = c
        .datapath_stats(pb::DatapathStatsRequest {})
        .await
        .map_err(rpc)?
        .into_inner();
    let mut drops: Vec<_> = r.drops.iter().collect();
    drops.sort();
    let drops_json: serde_json::Map<String, Value> = drops
        .iter()
        .map(|(k, v)| ((*k).clone(), json!(v)))
        .collect();
    let mut errors: Vec<_> = r.xlate_errors.iter().collect();
    errors.sort();
    let errors_json: serde_json::Map<String, Value> = errors
        .iter()
        .map(|(k, v)| ((*k).clone(), json!(v)))
        .collect();
    let value = json!({
        "microflow_hits": r.microflow_hits, "megaflow_hits": r.megaflow_hits,
        "subtables_per_hit": r.subtables_per_hit, "upcalls": r.upcalls, "lost": r.lost,
        "megaflows": r.megaflows, "flow_limit": r.flow_limit, "revalidated": r.revalidated,
        "evicted": r.evicted, "pmd_threads": r.pmd_threads, "drops": drops_json,
        "xlate_errors": errors_json, "recirc_ids": r.recirc_ids,
        "recirc_id_limit": r.recirc_id_limit, "recirc_ids_freed": r.recirc_ids_freed,
    });
    emit(ctx.format, value, || {
        let mut s = format!(
            "microflow hits: {}\nmegaflow hits: {} ({:.2} subtables/hit)\nupcalls: {}\nlost: {}\nmegaflows: {} (limit {})\nrevalidated: {}\nevicted: {}\npmd threads: {}\n",
            r.microflow_hits,
            r.megaflow_hits,
            r.subtables_per_hit,
            r.upcalls,
            r.lost,
            r.megaflows,
            r.flow_limit,
            r.revalidated,
            r.evicted,
            r.pmd_threads
        );
        s += &format!(
            "recirc ids: {} (limit {}), {} freed\n",
            r.recirc_ids, r.recirc_id_limit, r.recirc_ids_freed
        );
        for (reason, n) in &drops {
            s += &format!("drop {reason}: {n}\n");
        }
        // Non-zero only: every kind is in the JSON.
        for (kind, n) in errors.iter().filter(|(_, n)| **n > 0) {
            s += &format!("translation error {kind}: {n}\n");
        }
        s
    })
}

pub async fn fdb_show(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let mut stream = c
        .fdb_show(pb::FdbShowRequest { bridge })
        .await
        .map_err(rpc)?
        .into_inner();
    let mut all = Vec::new();
    if ctx.format == Format::Text {
        println!(" port  VLAN  MAC                Age");
    }
    while let Some(e) = stream.message().await.map_err(rpc)? {
        match ctx.format {
            Format::Text => println!(
                "{:>5}  {:>4}  {}  {:>3}",
                crate::output::ofport_name(e.port),
                e.vlan,
                e.mac,
                e.age_s
            ),
            Format::Json => {
                all.push(json!({"port": e.port, "vlan": e.vlan, "mac": e.mac, "age_s": e.age_s}))
            }
        }
    }
    emit(ctx.format, json!(all), String::new)
}

fn tuple_text(t: &Option<pb::ConntrackTuple>) -> String {
    let t = t.clone().unwrap_or_default();
    format!(
        "(src={},dst={},sport={},dport={})",
        t.src, t.dst, t.sport, t.dport
    )
}

fn tuple_json(t: &Option<pb::ConntrackTuple>) -> Value {
    let t = t.clone().unwrap_or_default();
    json!({"src": t.src, "dst": t.dst, "sport": t.sport, "dport": t.dport})
}

pub async fn dump_conntrack(ctx: &Ctx, zone: Option<u32>) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let mut stream = c
        .dump_conntrack(pb::DumpConntrackRequest { zone })
        .await
        .map_err(rpc)?
        .into_inner();
    let mut all = Vec::new();
    let count = crate::progress::Progress::counter("connections");
    while let Some(e) = stream.message().await.map_err(rpc)? {
        count.inc();
        match ctx.format {
            Format::Text => println!(
                "{},orig={},reply={},zone={},mark={},labels={},protoinfo=(state={}),expires={}",
                e.protocol,
                tuple_text(&e.orig),
                tuple_text(&e.reply),
                e.zone,
                e.mark,
                e.label,
                e.state,
                secs(e.expires_ms)
            ),
            Format::Json => all.push(json!({"protocol": e.protocol, "orig": tuple_json(&e.orig),
                "reply": tuple_json(&e.reply), "zone": e.zone, "mark": e.mark, "label": e.label,
                "state": e.state, "expires_ms": e.expires_ms})),
        }
    }
    emit(ctx.format, json!(all), String::new)
}

/// A tuple in OVS's `ct-orig-tuple` syntax, as the API's structured pattern.
fn tuple_match(which: &str, s: &str) -> anyhow::Result<pb::ConntrackTupleMatch> {
    let p = TuplePattern::parse(s).map_err(|e| anyhow!("{which} tuple '{s}': {e}"))?;
    Ok(pb::ConntrackTupleMatch {
        src: p.src.map(|a| a.to_string()),
        dst: p.dst.map(|a| a.to_string()),
        protocol: p.proto.map(u32::from),
        sport: p.sport.map(u32::from),
        dport: p.dport.map(u32::from),
        icmp_id: p.icmp_id.map(u32::from),
        icmp_type: p.icmp_type.map(u32::from),
        icmp_code: p.icmp_code.map(u32::from),
    })
}

/// The request for `flush-conntrack [--zone N] [ORIG-TUPLE [REPLY-TUPLE]]`.
fn flush_request(
    zone: Option<u32>,
    orig: Option<&str>,
    reply: Option<&str>,
) -> anyhow::Result<pb::FlushConntrackRequest> {
    let orig = orig.map(|s| tuple_match("orig", s)).transpose()?;
    let reply = reply.map(|s| tuple_match("reply", s)).transpose()?;

    Ok(pb::FlushConntrackRequest { zone, orig, reply })
}

pub async fn flush_conntrack(
    ctx: &Ctx,
    zone: Option<u32>,
    orig: Option<&str>,
    reply: Option<&str>,
) -> anyhow::Result<()> {
    let req = flush_request(zone, orig, reply)?;
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let r = c.flush_conntrack(req).await.map_err(rpc)?.into_inner();
    emit(ctx.format, json!({"flushed": r.flushed}), || {
        format!("flushed {} connections", r.flushed)
    })
}

pub async fn ct_limits(ctx: &Ctx, zone: Option<u32>, limit: Option<u64>) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let r = c
        .ct_limits(pb::CtLimitsRequest { zone, limit })
        .await
        .map_err(rpc)?
        .into_inner();
    let zones: Vec<Value> = r
        .zones
        .iter()
        .map(|z| json!({"zone": z.zone, "limit": z.limit, "count": z.count}))
        .collect();
    emit(
        ctx.format,
        json!({"default_limit": r.default_limit, "zones": zones}),
        || {
            let mut s = format!("default limit={}\n", r.default_limit);
            for z in &r.zones {
                s += &format!("zone={},limit={}", z.zone, z.limit);
                if let Some(n) = z.count {
                    s += &format!(",count={n}");
                }
                s.push('\n');
            }
            s
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_conntrack_builds_its_request() {
        let r = flush_request(None, None, None).unwrap();
        assert_eq!(r, pb::FlushConntrackRequest::default());
        let r = flush_request(
            Some(2),
            Some("ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_nw_proto=6,ct_tp_src=1234,ct_tp_dst=80"),
            None,
        )
        .unwrap();
        assert_eq!(r.zone, Some(2));
        assert_eq!(
            r.orig,
            Some(pb::ConntrackTupleMatch {
                src: Some("10.0.0.1".into()),
                dst: Some("10.0.0.2".into()),
                protocol: Some(6),
                sport: Some(1234),
                dport: Some(80),
                ..Default::default()
            })
        );
        assert_eq!(r.reply, None);
        let r = flush_request(
            None,
            Some("ct_ipv6_src=fd00::1,ct_nw_proto=58,icmp_type=128,icmp_code=0,icmp_id=0x10"),
            Some("ct_ipv6_dst=fd00::9"),
        )
        .unwrap();
        let orig = r.orig.unwrap();
        assert_eq!(
            (
                orig.src.as_deref(),
                orig.protocol,
                orig.icmp_type,
                orig.icmp_code,
                orig.icmp_id
            ),
            (Some("fd00::1"), Some(58), Some(128), Some(0), Some(16))
        );
        assert_eq!(r.reply.unwrap().dst.as_deref(), Some("fd00::9"));
    }

    #[test]
    fn flush_conntrack_rejects_malformed_tuples() {
        let err = |t: &[&str]| {
            flush_request(None, t.first().copied(), t.get(1).copied())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&["ct_nw_src=10.0.0.1,ct_tp_dst=80"]),
            "orig tuple 'ct_nw_src=10.0.0.1,ct_tp_dst=80': 'ct_tp_dst' needs ct_nw_proto=6 (tcp) \
             or ct_nw_proto=17 (udp)"
        );
        assert_eq!(
            err(&["ct_nw_proto=6", "ct_nw_dst=::1"]),
            "reply tuple 'ct_nw_dst=::1': bad value '::1' for 'ct_nw_dst': not an IPv4 address"
        );
        assert!(
            err(&["ct_nw_srcc=1.2.3.4"]).contains("unknown conntrack tuple field 'ct_nw_srcc'")
        );
        assert!(err(&[""]).contains("empty conntrack tuple"));
        assert!(err(&["ct_tp_src=99999,ct_nw_proto=6"]).contains("out of range"));
    }
}
