//! `vswitch.v1.FlowService`: OpenFlow rules.
//!
//! Requests are checked for what this layer owns (the bridge exists, the request is within
//! the size limits) before anything else. Parsing and applying flows needs the OpenFlow
//! tables and the flow parser, which are not in this build yet: those calls then answer
//! `Unimplemented`, naming the missing part, and change nothing.

use std::pin::Pin;
use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::flow_service_server::FlowService;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{MAX_FLOWS_PER_REQUEST, Shared, not_in_build};

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

    /// NOT_FOUND unless `bridge` exists.
    fn require_bridge(&self, bridge: &str) -> Result<(), Status> {
        self.shared
            .lock()
            .bridge(bridge)
            .map(|_| ())
            .map_err(super::status)
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

    fn flow_mod(
        &self,
        bridge: &str,
        lines: &[String],
        what: &str,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        Self::check_lines(lines)?;
        self.require_bridge(bridge)?;
        Err(not_in_build(what, "OpenFlow tables"))
    }
}

#[tonic::async_trait]
impl FlowService for FlowApi {
    async fn add_flow(
        &self,
        req: Request<pb::AddFlowRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self.flow_mod(&req.bridge, &[], "add-flow");
        self.shared.finish("AddFlow", r)
    }

    async fn add_flows(
        &self,
        req: Request<pb::AddFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self.flow_mod(&req.bridge, &req.lines, "add-flows");
        self.shared.finish("AddFlows", r)
    }

    async fn mod_flows(
        &self,
        req: Request<pb::ModFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self.flow_mod(&req.bridge, &[], "mod-flows");
        self.shared.finish("ModFlows", r)
    }

    async fn delete_flows(
        &self,
        req: Request<pb::DeleteFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self.flow_mod(&req.bridge, &[], "del-flows");
        self.shared.finish("DeleteFlows", r)
    }

    async fn replace_flows(
        &self,
        req: Request<pb::ReplaceFlowsRequest>,
    ) -> Result<Response<pb::FlowModResponse>, Status> {
        let req = req.into_inner();
        let r = self.flow_mod(&req.bridge, &req.lines, "replace-flows");
        self.shared.finish("ReplaceFlows", r)
    }

    type DumpFlowsStream = ServerStream<pb::FlowEntry>;

    async fn dump_flows(
        &self,
        req: Request<pb::DumpFlowsRequest>,
    ) -> Result<Response<Self::DumpFlowsStream>, Status> {
        let req = req.into_inner();
        let r = self
            .require_bridge(&req.bridge)
            .and_then(|()| Err(not_in_build("dump-flows", "OpenFlow tables")));
        self.shared.finish("DumpFlows", r)
    }

    type DumpPortsStream = ServerStream<pb::PortStats>;

    async fn dump_ports(
        &self,
        req: Request<pb::DumpPortsRequest>,
    ) -> Result<Response<Self::DumpPortsStream>, Status> {
        let req = req.into_inner();
        let r = self
            .require_bridge(&req.bridge)
            .and_then(|()| Err(not_in_build("dump-ports", "datapath ports")));
        self.shared.finish("DumpPorts", r)
    }
}
