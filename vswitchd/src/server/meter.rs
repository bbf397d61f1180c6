//! `vswitch.v1.MeterService`: OpenFlow meters (add-meter, mod-meter, del-meter, dumps).
//!
//! Meters arrive as ovs-ofctl text and are parsed in the daemon; each change is durable before
//! the reply and applied through the same path as an OpenFlow METER_MOD (see
//! `switch::meters`). A meter is one line; the gRPC message limit bounds the request.

use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::meter_service_server::MeterService;
use tonic::{Request, Response, Status};

use super::Shared;
use crate::ofproto::meter::{MeterMod, format_meter, parse_meter, parse_meter_selector};
use crate::switch::{MeterModError, SwitchError};

/// The MeterService implementation.
#[derive(Debug, Clone)]
pub struct MeterApi {
    shared: Arc<Shared>,
}

impl MeterApi {
    pub fn new(shared: Arc<Shared>) -> MeterApi {
        MeterApi { shared }
    }
}

fn invalid(e: impl std::fmt::Display) -> SwitchError {
    SwitchError::Invalid(e.to_string())
}

#[tonic::async_trait]
impl MeterService for MeterApi {
    async fn mod_meter(
        &self,
        req: Request<pb::ModMeterRequest>,
    ) -> Result<Response<pb::ModMeterResponse>, Status> {
        let req = req.into_inner();
        let command = req.command();
        let r = match command {
            pb::MeterCommand::Unspecified => {
                Err(Status::invalid_argument("command: add, modify or delete"))
            }
            _ => self
                .shared
                .mutate(move |sw| {
                    let mm = match command {
                        pb::MeterCommand::Add => {
                            MeterMod::Add(parse_meter(&req.meter).map_err(invalid)?)
                        }
                        pb::MeterCommand::Modify => {
                            MeterMod::Modify(parse_meter(&req.meter).map_err(invalid)?)
                        }
                        _ => MeterMod::Delete(parse_meter_selector(&req.meter).map_err(invalid)?),
                    };
                    sw.meter_mod(&req.bridge, mm).map_err(|e| match e {
                        MeterModError::Refused(e) => invalid(e),
                        MeterModError::Switch(e) => e,
                    })
                })
                .await
                .map(|meters| Response::new(pb::ModMeterResponse { meters })),
        };
        self.shared.finish("ModMeter", r)
    }

    async fn dump_meters(
        &self,
        req: Request<pb::DumpMetersRequest>,
    ) -> Result<Response<pb::DumpMetersResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .mutate(move |sw| {
                let id = parse_meter_selector(&req.meter).map_err(invalid)?;
                sw.dump_meters(&req.bridge, id)
            })
            .await
            .map(|entries| {
                let meters = entries
                    .iter()
                    .map(|e| {
                        let st = e.meter.meter.stats();
                        pb::MeterEntry {
                            meter_id: e.meter.spec.id,
                            meter: format_meter(&e.meter.spec),
                            flow_count: e.flow_count,
                            packets: st.packets,
                            bytes: st.bytes,
                            bands: st
                                .bands
                                .iter()
                                .map(|&(packets, bytes)| pb::MeterBandStats { packets, bytes })
                                .collect(),
                            duration_ms: e.duration_ms,
                        }
                    })
                    .collect();
                Response::new(pb::DumpMetersResponse { meters })
            });
        self.shared.finish("DumpMeters", r)
    }
}
