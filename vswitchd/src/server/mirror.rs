//! `vswitch.v1.MirrorService`: port mirrors (add-mirror, del-mirror, list-mirrors).
//!
//! Changes go through the switch (durable before the reply, refused when OVSDB owns the
//! configuration); listing reads the published view and the dataplane's counters.

use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::mirror_service_server::MirrorService;
use tonic::{Request, Response, Status};

use super::{Shared, status};
use crate::store::{MirrorOutput, MirrorRecord};
use crate::switch::MirrorSpec;

/// The MirrorService implementation.
#[derive(Debug, Clone)]
pub struct MirrorApi {
    shared: Arc<Shared>,
}

impl MirrorApi {
    pub fn new(shared: Arc<Shared>) -> MirrorApi {
        MirrorApi { shared }
    }
}

/// A stored mirror as the API shows it.
pub fn to_pb(m: &MirrorRecord) -> pb::Mirror {
    pb::Mirror {
        name: m.name.clone(),
        select_all: m.select_all,
        select_src_port: m.select_src_port.clone(),
        select_dst_port: m.select_dst_port.clone(),
        select_vlan: m.select_vlan.iter().map(|v| u32::from(*v)).collect(),
        output: Some(match &m.output {
            MirrorOutput::Port(p) => pb::mirror::Output::OutputPort(p.clone()),
            MirrorOutput::Vlan(v) => pb::mirror::Output::OutputVlan(u32::from(*v)),
        }),
    }
}

#[tonic::async_trait]
impl MirrorService for MirrorApi {
    async fn add_mirror(
        &self,
        req: Request<pb::AddMirrorRequest>,
    ) -> Result<Response<pb::AddMirrorResponse>, Status> {
        let req = req.into_inner();
        let r = match req.mirror {
            None => Err(Status::invalid_argument("mirror: missing")),
            Some(m) => {
                let (output_port, output_vlan) = match m.output {
                    Some(pb::mirror::Output::OutputPort(p)) => (Some(p), None),
                    Some(pb::mirror::Output::OutputVlan(v)) => (None, Some(v)),
                    None => (None, None),
                };
                let spec = MirrorSpec {
                    name: m.name,
                    select_src_port: m.select_src_port,
                    select_dst_port: m.select_dst_port,
                    select_vlan: m.select_vlan,
                    output_port,
                    output_vlan,
                };
                self.shared
                    .mutate_config(move |sw| sw.add_mirror(&req.bridge, spec))
                    .await
                    .map(|rec| {
                        Response::new(pb::AddMirrorResponse {
                            mirror: Some(to_pb(&rec)),
                        })
                    })
            }
        };
        self.shared.finish("AddMirror", r)
    }

    async fn delete_mirror(
        &self,
        req: Request<pb::DeleteMirrorRequest>,
    ) -> Result<Response<pb::DeleteMirrorResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .mutate_config(move |sw| sw.del_mirror(&req.bridge, &req.name))
            .await
            .map(|()| Response::new(pb::DeleteMirrorResponse {}));
        self.shared.finish("DeleteMirror", r)
    }

    async fn list_mirrors(
        &self,
        req: Request<pb::ListMirrorsRequest>,
    ) -> Result<Response<pb::ListMirrorsResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .read(move |view| {
                let list = view.list_mirrors(&req.bridge).map_err(status)?;
                Ok(Response::new(pb::ListMirrorsResponse {
                    mirrors: list
                        .iter()
                        .map(|c| pb::MirrorEntry {
                            mirror: Some(to_pb(&c.config)),
                            tx_packets: c.tx_packets,
                            tx_bytes: c.tx_bytes,
                        })
                        .collect(),
                }))
            })
            .await;
        self.shared.finish("ListMirrors", r)
    }
}

/// (bridge, mirror, tx_packets, tx_bytes).
type MirrorSample = (String, String, u64, u64);

/// The mirror counter families of a metrics scrape.
pub fn render_metrics(out: &mut String, view: &crate::switch::SwitchView) {
    let counters = view.mirror_counters();
    let samples = |f: &dyn Fn(&MirrorSample) -> u64| -> Vec<(String, u64)> {
        counters
            .iter()
            .map(|c| {
                (
                    format!(
                        "bridge=\"{}\",mirror=\"{}\"",
                        crate::metrics::label_value(&c.0),
                        crate::metrics::label_value(&c.1)
                    ),
                    f(c),
                )
            })
            .collect()
    };
    crate::metrics::counter(
        out,
        "vswitch_mirror_tx_packets",
        "Packets a port mirror copied to its output.",
        &samples(&|c| c.2),
    );
    crate::metrics::counter(
        out,
        "vswitch_mirror_tx_bytes",
        "Bytes a port mirror copied to its output.",
        &samples(&|c| c.3),
    );
}
