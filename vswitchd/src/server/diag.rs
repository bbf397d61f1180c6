//! `vswitch.v1.DiagService`: trace, datapath caches, MAC tables, conntrack.
//!
//! Trace runs the real translation over the bridge's live tables; the other calls read the
//! dataplane (megaflows, counters, MAC tables) and conntrack. Conntrack limits are also
//! configuration (stored durably, applied to conntrack).

use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::diag_service_server::DiagService;
use tonic::{Request, Response, Status};

use super::flow::ServerStream;
use super::{Shared, dump, not_in_build};
use crate::trace::TraceReport;
use fastpath::cache::megaflow::MegaflowEntry;
use fastpath::conntrack::{ConnEntry, Conntrack};

/// The DiagService implementation.
#[derive(Debug, Clone)]
pub struct DiagApi {
    shared: Arc<Shared>,
}

impl DiagApi {
    pub fn new(shared: Arc<Shared>) -> DiagApi {
        DiagApi { shared }
    }
}

/// Most `--ct-next` states one trace may carry (a trace follows at most a few passes).
const MAX_CT_NEXT: usize = 64;

/// A trace report as the API returns it (structured, plus the text and JSON renderings).
fn trace_to_pb(t: &TraceReport) -> pb::TraceResponse {
    pb::TraceResponse {
        flow: t.flow.clone(),
        passes: t
            .passes
            .iter()
            .map(|p| pb::TracePass {
                steps: p
                    .steps
                    .iter()
                    .map(|s| pb::TraceStep {
                        table: u32::from(s.table),
                        priority: s.priority.map(u32::from),
                        cookie: s.cookie,
                        r#match: s.match_.clone(),
                        actions: s.actions.clone(),
                    })
                    .collect(),
                megaflow: p.megaflow.clone().unwrap_or_default(),
                datapath_actions: p.datapath_actions.clone(),
                outputs: p.outputs.clone(),
                error: p.error.clone().unwrap_or_default(),
            })
            .collect(),
        text: t.to_text(),
        json: t.to_json(),
    }
}

/// A zone number from the API, checked to fit conntrack's 16 bits.
fn zone(z: u32) -> Result<u16, Status> {
    u16::try_from(z).map_err(|_| {
        Status::invalid_argument(format!("bad value '{z}' for 'zone': must be 0 to 65535"))
    })
}

#[tonic::async_trait]
impl DiagService for DiagApi {
    async fn trace(
        &self,
        req: Request<pb::TraceRequest>,
    ) -> Result<Response<pb::TraceResponse>, Status> {
        let req = req.into_inner();
        let r = if req.ct_next.len() > MAX_CT_NEXT {
            Err(Status::invalid_argument(format!(
                "at most {MAX_CT_NEXT} --ct-next states"
            )))
        } else if req.generate {
            // Side effects: under the switch lock, so the flows the trace's `learn` actions
            // queued are installed (between flow commands, as upcalls' are) before the reply.
            self.shared
                .mutate(move |sw| {
                    let report = sw.trace(&req.bridge, &req.packet, &req.ct_next, true)?;
                    sw.apply_learned();
                    Ok(Response::new(trace_to_pb(&report)))
                })
                .await
        } else {
            self.shared
                .read(move |sw| {
                    sw.trace(&req.bridge, &req.packet, &req.ct_next, false)
                        .map(|report| Response::new(trace_to_pb(&report)))
                        .map_err(super::status)
                })
                .await
        };
        self.shared.finish("Trace", r)
    }

    type DumpMegaflowsStream = ServerStream<pb::Megaflow>;

    async fn dump_megaflows(
        &self,
        req: Request<pb::DumpMegaflowsRequest>,
    ) -> Result<Response<Self::DumpMegaflowsStream>, Status> {
        let req = req.into_inner();
        let r = async {
            let permit = dump::permit(&self.shared.dumps).await?;
            let sw = self.shared.view();
            let dp = Arc::clone(sw.dataplane());
            // Only the bridge's ports, if one is given.
            let ports: Option<Vec<u32>> = if req.bridge.is_empty() {
                None
            } else {
                let br = sw.bridge(&req.bridge).map_err(super::status)?;
                let mut v: Vec<u32> = br.ports().filter_map(|p| dp.dp_port_of(&p.name)).collect();
                v.extend(dp.dp_port_of(&req.bridge));
                Some(v)
            };
            let entries = self
                .shared
                .read(move |_| {
                    let mut all = dp.datapath().megaflow_entries();
                    if let Some(p) = &ports {
                        all.retain(|m| p.contains(&m.key().in_port));
                    }
                    Ok((dp, all))
                })
                .await;
            let (dp, entries) = entries?;
            let now = dp.clock_ms();
            let render = move |m: Arc<MegaflowEntry>| {
                let stats = m.stats();
                pb::Megaflow {
                    r#match: crate::ofctl::format_megaflow(m.key(), m.mask()),
                    actions: fastpath::action::format_actions(m.actions()).to_string(),
                    packets: stats.packets,
                    bytes: stats.bytes,
                    idle_ms: now.saturating_sub(stats.used_ms),
                }
            };
            Ok(Response::new(dump::stream(
                permit,
                dump::Handles::new(entries, render),
                dump::STALL_TIMEOUT,
            )))
        }
        .await;
        self.shared.finish("DumpMegaflows", r)
    }

    async fn flush_megaflows(
        &self,
        _req: Request<pb::FlushMegaflowsRequest>,
    ) -> Result<Response<pb::FlushMegaflowsResponse>, Status> {
        let r = self
            .shared
            .read(|sw| {
                let flushed = sw.dataplane().flush_megaflows() as u64;
                Ok(Response::new(pb::FlushMegaflowsResponse { flushed }))
            })
            .await;
        self.shared.finish("FlushMegaflows", r)
    }

    async fn datapath_stats(
        &self,
        _req: Request<pb::DatapathStatsRequest>,
    ) -> Result<Response<pb::DatapathStatsResponse>, Status> {
        let pmd_threads = self.shared.pmd_threads;
        let r = self
            .shared
            .read(move |sw| {
                let st = sw.dataplane().stats();
                let slow = sw.dataplane().slow_stats();
                let mut drops: std::collections::HashMap<String, u64> = st
                    .drop_reasons()
                    .into_iter()
                    .map(|(r, n)| (r.name().to_string(), n))
                    .collect();
                if let Some(ct) = sw.dataplane().conntrack() {
                    let c = ct.stats();
                    drops.insert("ct_global_limit".into(), c.global_limit_drops);
                    drops.insert("ct_zone_limit".into(), c.zone_limit_drops);
                    drops.insert("ct_invalid".into(), c.invalid_total());
                }
                let resp = pb::DatapathStatsResponse {
                    microflow_hits: st.microflow_hits,
                    megaflow_hits: st.megaflow_hits,
                    subtables_per_hit: st.avg_subtables_per_hit(),
                    upcalls: st.upcalls,
                    lost: st.lost,
                    megaflows: st.megaflows,
                    flow_limit: sw.dataplane().datapath().flow_limit() as u64,
                    revalidated: st.revalidated,
                    evicted: st.evicted,
                    pmd_threads,
                    drops,
                    xlate_errors: slow
                        .xlate_errors
                        .iter()
                        .map(|(k, n)| ((*k).to_string(), *n))
                        .collect(),
                    recirc_ids: slow.recirc.live,
                    recirc_id_limit: slow.recirc.limit,
                    recirc_ids_freed: slow.recirc.freed,
                };
                Ok(Response::new(resp))
            })
            .await;
        self.shared.finish("DatapathStats", r)
    }

    type FdbShowStream = ServerStream<pb::FdbEntry>;

    async fn fdb_show(
        &self,
        req: Request<pb::FdbShowRequest>,
    ) -> Result<Response<Self::FdbShowStream>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .read(move |sw| {
                sw.bridge(&req.bridge).map_err(super::status)?;
                let dp = sw.dataplane();
                let now = dp.slow_path().now_ms();
                let entries = dp.fdb(&req.bridge).map_err(|e| super::status(e.into()))?;
                let items: Vec<Result<pb::FdbEntry, Status>> = entries
                    .into_iter()
                    .map(|e| {
                        Ok(pb::FdbEntry {
                            port: e.port,
                            vlan: u32::from(e.vlan),
                            mac: e
                                .mac
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect::<Vec<_>>()
                                .join(":"),
                            age_s: now.saturating_sub(e.last_seen_ms) / 1000,
                        })
                    })
                    .collect();
                Ok(Response::new(
                    Box::pin(tokio_stream::iter(items)) as Self::FdbShowStream
                ))
            })
            .await;
        self.shared.finish("FdbShow", r)
    }

    type DumpConntrackStream = ServerStream<pb::ConntrackEntry>;

    async fn dump_conntrack(
        &self,
        req: Request<pb::DumpConntrackRequest>,
    ) -> Result<Response<Self::DumpConntrackStream>, Status> {
        let r = async {
            let z = req.into_inner().zone.map(zone).transpose()?;
            let sw = self.shared.view();
            let dp = sw.dataplane();
            let ct = Arc::clone(
                dp.conntrack()
                    .ok_or_else(|| not_in_build("dump-conntrack", "conntrack"))?,
            );
            let permit = dump::permit(&self.shared.dumps).await?;
            let now = dp.clock_ms();
            let pages = CtPages {
                ct,
                zone: z,
                now,
                next_shard: 0,
            };
            Ok(Response::new(dump::stream(
                permit,
                pages,
                dump::STALL_TIMEOUT,
            )))
        }
        .await;
        self.shared.finish("DumpConntrack", r)
    }

    async fn flush_conntrack(
        &self,
        req: Request<pb::FlushConntrackRequest>,
    ) -> Result<Response<pb::FlushConntrackResponse>, Status> {
        let r = match super::ct_flush::flush_spec(&req.into_inner()) {
            Err(e) => Err(e),
            Ok(spec) => {
                self.shared
                    .read(move |sw| {
                        let ct = sw
                            .dataplane()
                            .conntrack()
                            .ok_or_else(|| not_in_build("flush-conntrack", "conntrack"))?;
                        let flushed = ct.flush_spec(&spec) as u64;
                        Ok(Response::new(pb::FlushConntrackResponse { flushed }))
                    })
                    .await
            }
        };
        self.shared.finish("FlushConntrack", r)
    }

    async fn ct_limits(
        &self,
        req: Request<pb::CtLimitsRequest>,
    ) -> Result<Response<pb::CtLimitsResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let zone = req.zone.map(zone).transpose()?;
            if let Some(limit) = req.limit {
                self.shared
                    .mutate(move |sw| sw.set_ct_limit(zone, limit))
                    .await?;
            }
            let sw = self.shared.view();
            let limits = sw.ct_limits();
            let live = sw.dataplane().conntrack().map(|ct| ct.limits());
            let count_of = |z: u16| {
                live.as_ref().map(|l| {
                    l.zones
                        .iter()
                        .find(|x| x.zone == z)
                        .map(|x| u64::from(x.count))
                        .unwrap_or(0)
                })
            };
            let mut zones: Vec<pb::ZoneLimit> = limits
                .zones
                .iter()
                .filter(|(z, _)| zone.is_none_or(|want| want == **z))
                .map(|(&z, &limit)| pb::ZoneLimit {
                    zone: u32::from(z),
                    limit,
                    count: count_of(z),
                })
                .collect();
            // A zone asked for by number is reported even without its own limit.
            if let Some(z) = zone
                && !limits.zones.contains_key(&z)
            {
                zones.push(pb::ZoneLimit {
                    zone: u32::from(z),
                    limit: limits.default_limit,
                    count: count_of(z),
                });
            }
            Ok(Response::new(pb::CtLimitsResponse {
                default_limit: limits.default_limit,
                zones,
            }))
        }
        .await;
        self.shared.finish("CtLimits", r)
    }
}

/// DumpConntrack's pages: a few conntrack shards at a time, until a page is full.
struct CtPages {
    ct: Arc<Conntrack>,
    zone: Option<u16>,
    now: u64,
    next_shard: usize,
}

impl dump::Pager for CtPages {
    type Item = pb::ConntrackEntry;

    fn next_page(&mut self) -> Option<Vec<pb::ConntrackEntry>> {
        let mut raw = Vec::new();
        let shards = self.ct.dump_shards();
        while raw.len() < dump::PAGE && self.next_shard < shards {
            self.ct
                .dump_shard(self.next_shard, self.zone, self.now, &mut raw);
            self.next_shard += 1;
        }
        if raw.is_empty() {
            return None;
        }
        Some(raw.iter().map(|e| ct_entry(e, self.now)).collect())
    }
}

/// One connection as the API returns it.
fn ct_entry(e: &ConnEntry, now: u64) -> pb::ConntrackEntry {
    let tuple = |t: &fastpath::conntrack::ConnTuple| pb::ConntrackTuple {
        src: t.src_ip().to_string(),
        dst: t.dst_ip().to_string(),
        sport: u32::from(t.sport),
        dport: u32::from(t.dport),
    };
    let text = e.to_string();
    pb::ConntrackEntry {
        protocol: text.split(',').next().unwrap_or_default().to_string(),
        orig: Some(tuple(&e.orig)),
        reply: Some(tuple(&e.reply)),
        zone: u32::from(e.zone),
        mark: e.mark,
        label: format!("{:#x}", e.label),
        state: e
            .tcp
            .map(|[a, b]| {
                if a == b {
                    a.name().to_string()
                } else {
                    format!("{}/{}", a.name(), b.name())
                }
            })
            .unwrap_or_default(),
        expires_ms: e.expires_ms.saturating_sub(now),
    }
}
