//! `vswitch.v1.DiagService`: trace, datapath caches, MAC tables, conntrack.
//!
//! Trace runs the real translation over the bridge's tables; conntrack limits are
//! configuration and work fully (stored durably, read back). The other calls look into parts
//! the daemon does not run yet (the datapath's megaflows and counters, MAC tables fed by
//! live traffic, the conntrack table); they answer `Unimplemented`, naming the missing part,
//! after checking their arguments.

use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::diag_service_server::DiagService;
use tonic::{Request, Response, Status};

use super::flow::ServerStream;
use super::{Shared, not_in_build};
use crate::trace::TraceReport;

/// The DiagService implementation.
#[derive(Debug, Clone)]
pub struct DiagApi {
    shared: Arc<Shared>,
}

impl DiagApi {
    pub fn new(shared: Arc<Shared>) -> DiagApi {
        DiagApi { shared }
    }

    fn require_bridge(&self, bridge: &str) -> Result<(), Status> {
        self.shared
            .lock()
            .bridge(bridge)
            .map(|_| ())
            .map_err(super::status)
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
        } else {
            let sw = self.shared.lock();
            sw.trace(&req.bridge, &req.packet, &req.ct_next)
                .map(|report| Response::new(trace_to_pb(&report)))
                .map_err(super::status)
        };
        self.shared.finish("Trace", r)
    }

    type DumpMegaflowsStream = ServerStream<pb::Megaflow>;

    async fn dump_megaflows(
        &self,
        req: Request<pb::DumpMegaflowsRequest>,
    ) -> Result<Response<Self::DumpMegaflowsStream>, Status> {
        let req = req.into_inner();
        let r = if req.bridge.is_empty() {
            Ok(())
        } else {
            self.require_bridge(&req.bridge)
        }
        .and_then(|()| Err(not_in_build("dump-megaflows", "datapath")));
        self.shared.finish("DumpMegaflows", r)
    }

    async fn flush_megaflows(
        &self,
        _req: Request<pb::FlushMegaflowsRequest>,
    ) -> Result<Response<pb::FlushMegaflowsResponse>, Status> {
        self.shared.finish(
            "FlushMegaflows",
            Err(not_in_build("flush-megaflows", "datapath")),
        )
    }

    async fn datapath_stats(
        &self,
        _req: Request<pb::DatapathStatsRequest>,
    ) -> Result<Response<pb::DatapathStatsResponse>, Status> {
        self.shared.finish(
            "DatapathStats",
            Err(not_in_build("datapath-stats", "datapath")),
        )
    }

    type FdbShowStream = ServerStream<pb::FdbEntry>;

    async fn fdb_show(
        &self,
        req: Request<pb::FdbShowRequest>,
    ) -> Result<Response<Self::FdbShowStream>, Status> {
        let req = req.into_inner();
        let r = self.require_bridge(&req.bridge).and_then(|()| {
            Err(not_in_build(
                "fdb-show",
                "datapath feeding NORMAL's MAC learning",
            ))
        });
        self.shared.finish("FdbShow", r)
    }

    type DumpConntrackStream = ServerStream<pb::ConntrackEntry>;

    async fn dump_conntrack(
        &self,
        req: Request<pb::DumpConntrackRequest>,
    ) -> Result<Response<Self::DumpConntrackStream>, Status> {
        let r = req
            .into_inner()
            .zone
            .map(zone)
            .transpose()
            .and_then(|_| Err(not_in_build("dump-conntrack", "conntrack")));
        self.shared.finish("DumpConntrack", r)
    }

    async fn flush_conntrack(
        &self,
        req: Request<pb::FlushConntrackRequest>,
    ) -> Result<Response<pb::FlushConntrackResponse>, Status> {
        let r = req
            .into_inner()
            .zone
            .map(zone)
            .transpose()
            .and_then(|_| Err(not_in_build("flush-conntrack", "conntrack")));
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
            let sw = self.shared.lock();
            let limits = sw.ct_limits();
            let zones = limits
                .zones
                .iter()
                .filter(|(z, _)| zone.is_none_or(|want| want == **z))
                .map(|(&z, &limit)| pb::ZoneLimit {
                    zone: u32::from(z),
                    limit,
                    count: None,
                })
                .collect();
            Ok(Response::new(pb::CtLimitsResponse {
                default_limit: limits.default_limit,
                zones,
            }))
        }
        .await;
        self.shared.finish("CtLimits", r)
    }
}
