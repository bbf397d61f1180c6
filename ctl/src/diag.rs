//! Diagnosis commands (the ovs-appctl group): trace (online, or offline with `--flows`),
//! dump-megaflows, flush-megaflows, datapath-stats, fdb-show, dump-conntrack,
//! flush-conntrack, ct-limits — each one `DiagService` call, except offline trace, which
//! needs no daemon at all.

use anyhow::{Context, anyhow};
use proto::v1 as pb;
use proto::v1::diag_service_client::DiagServiceClient;
use serde_json::{Value, json};

use crate::cli::{Format, TraceArgs};
use crate::output::{emit, emit_raw, secs};
use crate::{Ctx, rpc};

pub async fn trace(ctx: &Ctx, t: TraceArgs) -> anyhow::Result<()> {
    if let Some(flows) = &t.flows {
        let [packet] = t.args.as_slice() else {
            return Err(anyhow!(
                "offline trace takes one PACKET argument after --flows FILE (no bridge)"
            ));
        };
        return offline_trace(ctx, flows, t.ports, packet, &t.ct_next);
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
    };
    let r = c.trace(req).await.map_err(rpc)?.into_inner();
    emit_raw(ctx.format, &r.json, || r.text.clone())
}

/// Offline trace: an in-memory bridge with ports p1..pN and the flows of FILE; no daemon.
fn offline_trace(
    ctx: &Ctx,
    flows: &str,
    ports: u32,
    packet: &str,
    ct_next: &[String],
) -> anyhow::Result<()> {
    let text = if flows == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read flows from stdin")?
    } else {
        std::fs::read_to_string(flows).with_context(|| format!("cannot read flow file {flows}"))?
    };
    // The error's message already includes its cause; don't print the chain twice.
    let report = vswitchd::trace::offline_trace(&text, ports, packet, ct_next)
        .map_err(|e| anyhow!("{e}"))?;
    emit_raw(ctx.format, &report.to_json(), || report.to_text())
}

pub async fn dump_megaflows(ctx: &Ctx, bridge: Option<String>) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let req = pb::DumpMegaflowsRequest {
        bridge: bridge.unwrap_or_default(),
    };
    let mut stream = c.dump_megaflows(req).await.map_err(rpc)?.into_inner();
    let mut all = Vec::new();
    while let Some(m) = stream.message().await.map_err(rpc)? {
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
    let value = json!({
        "microflow_hits": r.microflow_hits, "megaflow_hits": r.megaflow_hits,
        "subtables_per_hit": r.subtables_per_hit, "upcalls": r.upcalls, "lost": r.lost,
        "megaflows": r.megaflows, "flow_limit": r.flow_limit, "revalidated": r.revalidated,
        "evicted": r.evicted, "pmd_threads": r.pmd_threads, "drops": drops_json,
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
        for (reason, n) in &drops {
            s += &format!("drop {reason}: {n}\n");
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
    while let Some(e) = stream.message().await.map_err(rpc)? {
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

pub async fn flush_conntrack(ctx: &Ctx, zone: Option<u32>) -> anyhow::Result<()> {
    let mut c = DiagServiceClient::new(ctx.channel().await?);
    let r = c
        .flush_conntrack(pb::FlushConntrackRequest { zone })
        .await
        .map_err(rpc)?
        .into_inner();
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
