//! `vswitch.v1.FlowService`: OpenFlow rules.
//!
//! Flows arrive as ovs-ofctl text and are parsed in the daemon with the bridge's port names;
//! each mutating call is one atomic bundle committed durably before the reply. Request size
//! is checked before anything is parsed. DumpFlows streams lazily in pages from a snapshot
//! of rule handles ([`dump`]), so a slow reader holds no lock and no rendered copy.

use std::pin::Pin;
use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::flow_service_server::FlowService;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{MAX_FLOWS_PER_REQUEST, Shared, dump};
use crate::ofctl::{format_actions, format_match};
use crate::ofproto::Rule;
use crate::switch::{FlowCommand, FlowCounts};

/// A server stream of `T`.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The FlowService implementation.
#[derive(Debug, Clone)]
pub struct FlowApi {
    shared: Arc<Shared>,
}

impl FlowApi {
    pub fn new(shared: Arc<Shared>) -> FlowApi {
        FlowApi { shared }
    }

    /// RESOURCE_EXHAUSTED when a request carries too many lines.
    fn check_lines(lines: &[String]) -> Result<(), Status> {
        if lines.len() > MAX_FLOWS_PER_REQUEST {
            return Err(Status::resource_exhausted(format!(
                "{} flow lines in one request; at most {MAX_FLOWS_PER_REQUEST} are allowed",
                lines.len()
            )));
        }
        Ok(())
    }

    /// Runs `cmd` (built from owned request data) on the blocking pool.
    async fn run(
        &self,
        bridge: String,
        data: Vec<String>,
        make: fn(&[String]) -> FlowCommand<'_>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let counts: FlowCounts = self
            .shared
            .mutate(move |sw| sw.flow_command(&bridge, make(&data)))
            .await?;
        Ok(Response::new(pb::FlowModResponse {
            added: counts.added,
            modified: counts.modified,
            removed: counts.removed,
        }))
    }
}

#[tonic::async_trait]
impl FlowService for FlowApi {
    async fn add_flow(
        &self,
        req: Request<pb::AddFlowRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .run(req.bridge, vec![req.flow], |d| FlowCommand::Add(&d[0]))
            .await;
        self.shared.finish("AddFlow", r)
    }

    async fn add_flows(
        &self,
        req: Request<pb::AddFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = match Self::check_lines(&req.lines) {
            Ok(()) => {
                self.run(req.bridge, req.lines, |d| FlowCommand::AddMany(d))
                    .await
            }
            Err(e) => Err(e),
        };
        self.shared.finish("AddFlows", r)
    }

    async fn mod_flows(
        &self,
        req: Request<pb::ModFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = if req.strict {
            self.run(req.bridge, vec![req.flow], |d| FlowCommand::Modify {
                flow: &d[0],
                strict: true,
            })
            .await
        } else {
            self.run(req.bridge, vec![req.flow], |d| FlowCommand::Modify {
                flow: &d[0],
                strict: false,
            })
            .await
        };
        self.shared.finish("ModFlows", r)
    }

    async fn delete_flows(
        &self,
        req: Request<pb::DeleteFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = if req.strict {
            self.run(req.bridge, vec![req.r#match], |d| FlowCommand::Delete {
                filter: &d[0],
                strict: true,
            })
            .await
        } else {
            self.run(req.bridge, vec![req.r#match], |d| FlowCommand::Delete {
                filter: &d[0],
                strict: false,
            })
            .await
        };
        self.shared.finish("DeleteFlows", r)
    }

    async fn replace_flows(
        &self,
        req: Request<pb::ReplaceFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = match Self::check_lines(&req.lines) {
            Ok(()) => {
                self.run(req.bridge, req.lines, |d| FlowCommand::Replace(d))
                    .await
            }
            Err(e) => Err(e),
        };
        self.shared.finish("ReplaceFlows", r)
    }

    type DumpFlowsStream = ServerStream<pb::FlowEntry>;

    async fn dump_flows(
        &self,
        req: Request<pb::DumpFlowsRequest>,
    ) -> Result<Response<Self::DumpFlowsStream>, Status> {
        let req = req.into_inner();
        let r = async {
            let table = match req.table {
                None => None,
                Some(t) if t < 255 => Some(t as u8),
                Some(t) => {
                    return Err(Status::invalid_argument(format!(
                        "bad value '{t}' for 'table': tables are 0 to 254"
                    )));
                }
            };
            let permit = dump::permit(&self.shared.dumps).await?;
            let view = self.shared.view();
            let (bridge, filter) = (req.bridge.clone(), req.r#match);
            let rules = self
                .shared
                .read(move |sw| {
                    sw.dump_flows(&bridge, &filter, table)
                        .map_err(super::status)
                })
                .await?;
            let now = view.now_ms();
            let bridge = req.bridge;
            let render = move |r: Arc<Rule>| {
                let names = view
                    .bridge(&bridge)
                    .map(|b| b.names())
                    .unwrap_or(&crate::ofctl::NoNames);
                pb::FlowEntry {
                    table: u32::from(r.table),
                    priority: u32::from(r.priority),
                    cookie: r.cookie,
                    duration_ms: now.saturating_sub(r.created_ms),
                    packets: r.stats.packets(),
                    bytes: r.stats.bytes(),
                    idle_timeout: u32::from(r.idle_timeout),
                    hard_timeout: u32::from(r.hard_timeout),
                    r#match: format_match(&r.m, names),
                    actions: format_actions(&r.actions, names),
                }
            };
            let pages = dump::Handles::new(rules, render);
            Ok(Response::new(dump::stream(
                permit,
                pages,
                dump::STALL_TIMEOUT,
            )))
        }
        .await;
        self.shared.finish("DumpFlows", r)
    }

    type DumpPortsStream = ServerStream<pb::PortStats>;

    async fn dump_ports(
        &self,
        req: Request<pb::DumpPortsRequest>,
    ) -> Result<Response<Self::DumpPortsStream>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .read(move |sw| {
                let br = sw.bridge(&req.bridge).map_err(super::status)?;
                // The port may be named or numbered.
                let only = if req.port.is_empty() {
                    None
                } else if let Ok(n) = req.port.parse::<u32>() {
                    let p = br.ports().find(|p| p.ofport == n).ok_or_else(|| {
                        Status::not_found(format!("bridge {} has no port {n}", req.bridge))
                    })?;
                    Some(p.name.clone())
                } else {
                    Some(req.port.clone())
                };
                let reports = sw
                    .dataplane()
                    .port_reports(&req.bridge, only.as_deref())
                    .map_err(|e| super::status(e.into()))?;
                let entries: Vec<Result<pb::PortStats, Status>> = reports
                    .into_iter()
                    .map(|r| {
                        let dp_drops: u64 =
                            r.dp.as_ref().map(|d| d.drops.iter().sum()).unwrap_or(0);
                        Ok(pb::PortStats {
                            name: r.name,
                            ofport: r.ofport,
                            rx_packets: r.stats.rx_packets,
                            rx_bytes: r.stats.rx_bytes,
                            rx_dropped: r.stats.rx_dropped + dp_drops,
                            rx_errors: r.stats.rx_errors,
                            tx_packets: r.stats.tx_packets,
                            tx_bytes: r.stats.tx_bytes,
                            tx_dropped: r.stats.tx_dropped,
                            tx_errors: r.stats.tx_errors,
                            link_down: !r.up,
                        })
                    })
                    .collect();
                Ok(Response::new(
                    Box::pin(tokio_stream::iter(entries)) as Self::DumpPortsStream
                ))
            })
            .await;
        self.shared.finish("DumpPorts", r)
    }

    async fn mod_tlv_map(
        &self,
        req: Request<pb::ModTlvMapRequest>,
    ) -> Result<Response<pb::ModTlvMapResponse>, Status> {
        let r = super::tlv::mod_tlv_map(&self.shared, req.into_inner()).await;
        self.shared.finish("ModTlvMap", r)
    }

    async fn dump_tlv_map(
        &self,
        req: Request<pb::DumpTlvMapRequest>,
    ) -> Result<Response<pb::DumpTlvMapResponse>, Status> {
        let r = super::tlv::dump_tlv_map(&self.shared, req.into_inner()).await;
        self.shared.finish("DumpTlvMap", r)
    }
}
