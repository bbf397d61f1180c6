//! `vswitch.v1.BridgeService`: bridges and ports, fully backed by the switch model.
//!
//! Replies describe ports as configured plus their link state as the dataplane sees it now
//! (`Port.link_up`); configuration and link state are separate on purpose: a system port
//! whose interface is missing is accepted, stays configured and comes up when the interface
//! appears, so `add-port` answers with a warning rather than an error.

use std::collections::HashMap;
use std::sync::Arc;

use proto::v1 as pb;
use proto::v1::bridge_service_server::BridgeService;
use tonic::{Request, Response, Status};

use super::{MAX_SETTINGS_PER_REQUEST, Shared};
use crate::controller::status::Registry;
use crate::dataplane::Dataplane;
use crate::store::{FailMode, PortKind, PortRecord};
use crate::switch::{Bridge, PortSpec, SETTING_KEYS, Settings, Switch};

/// The BridgeService implementation.
#[derive(Debug, Clone)]
pub struct BridgeApi {
    shared: Arc<Shared>,
}

impl BridgeApi {
    pub fn new(shared: Arc<Shared>) -> BridgeApi {
        BridgeApi { shared }
    }
}

/// Store kind → API enum.
pub fn kind_to_pb(kind: PortKind) -> pb::PortType {
    match kind {
        PortKind::System => pb::PortType::System,
        PortKind::Tap => pb::PortType::Tap,
        PortKind::Internal => pb::PortType::Internal,
        PortKind::Patch => pb::PortType::Patch,
        PortKind::Dummy => pb::PortType::Dummy,
        PortKind::Vxlan => pb::PortType::Vxlan,
        PortKind::Geneve => pb::PortType::Geneve,
        PortKind::Gre => pb::PortType::Gre,
    }
}

/// API enum value → store kind (unspecified = system, as ovs-vsctl).
pub fn kind_from_pb(v: i32) -> Result<PortKind, Status> {
    match pb::PortType::try_from(v) {
        Ok(pb::PortType::Unspecified | pb::PortType::System) => Ok(PortKind::System),
        Ok(pb::PortType::Tap) => Ok(PortKind::Tap),
        Ok(pb::PortType::Internal) => Ok(PortKind::Internal),
        Ok(pb::PortType::Patch) => Ok(PortKind::Patch),
        Ok(pb::PortType::Dummy) => Ok(PortKind::Dummy),
        Ok(pb::PortType::Vxlan) => Ok(PortKind::Vxlan),
        Ok(pb::PortType::Geneve) => Ok(PortKind::Geneve),
        Ok(pb::PortType::Gre) => Ok(PortKind::Gre),
        Err(_) => Err(Status::invalid_argument(format!("unknown port type {v}"))),
    }
}

/// A stored port as the API describes it.
pub fn port_to_pb(r: &PortRecord) -> pb::Port {
    pb::Port {
        name: r.name.clone(),
        r#type: kind_to_pb(r.kind) as i32,
        ofport: r.ofport,
        tag: r.tag.map(u32::from),
        trunks: r.trunks.iter().map(|&v| u32::from(v)).collect(),
        options: r
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        link_up: None,
        dp_port: None,
    }
}

/// Store fail mode → API enum (`None`: not set).
pub fn fail_mode_to_pb(m: Option<FailMode>) -> pb::FailMode {
    match m {
        None => pb::FailMode::Unspecified,
        Some(FailMode::Standalone) => pb::FailMode::Standalone,
        Some(FailMode::Secure) => pb::FailMode::Secure,
    }
}

/// API enum value → store fail mode (unspecified: not set).
pub fn fail_mode_from_pb(v: i32) -> Result<Option<FailMode>, Status> {
    match pb::FailMode::try_from(v) {
        Ok(pb::FailMode::Unspecified) => Ok(None),
        Ok(pb::FailMode::Standalone) => Ok(Some(FailMode::Standalone)),
        Ok(pb::FailMode::Secure) => Ok(Some(FailMode::Secure)),
        Err(_) => Err(Status::invalid_argument(format!("unknown fail mode {v}"))),
    }
}

/// Link state and datapath port number of every port of `bridge`, by name, as the
/// dataplane sees them now.
fn links(dp: &Dataplane, bridge: &str) -> HashMap<String, (bool, Option<u32>)> {
    dp.port_reports(bridge, None)
        .map(|rs| {
            rs.into_iter()
                .map(|r| {
                    let no = dp.dp_port_of(&r.name);
                    (r.name, (r.up, no))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A port as configured, with its link state and datapath port number.
fn port_with_link(r: &PortRecord, links: &HashMap<String, (bool, Option<u32>)>) -> pb::Port {
    let (link_up, dp_port) = links
        .get(&r.name)
        .map_or((None, None), |(up, no)| (Some(*up), *no));
    pb::Port {
        link_up,
        dp_port,
        ..port_to_pb(r)
    }
}

fn bridge_to_pb(dp: &Dataplane, b: &Bridge, reg: &Registry) -> pb::Bridge {
    let links = links(dp, b.name());
    let (controllers, fail_open) = controllers_to_pb(reg, b);
    pb::Bridge {
        name: b.name().to_owned(),
        ports: b.ports().map(|p| port_with_link(p, &links)).collect(),
        flow_count: b.flow_count() as u64,
        fail_mode: fail_mode_to_pb(b.fail_mode()) as i32,
        controllers,
        fail_open,
        mirrors: b.mirrors().iter().map(super::mirror::to_pb).collect(),
    }
}

/// A bridge's controllers with their connection state, and whether it fails open.
fn controllers_to_pb(reg: &Registry, b: &Bridge) -> (Vec<pb::Controller>, bool) {
    let (reports, fail_open) = reg.report(b.name(), b.controllers());
    let list = reports
        .into_iter()
        .map(|r| pb::Controller {
            target: r.target,
            is_connected: r.is_connected,
            role: r.role.map(|r| r.as_str().to_owned()).unwrap_or_default(),
            state: r.state.as_str().to_owned(),
            last_error: r.last_error,
            connections: r.connections,
            sec_since_change: r.sec_since_change,
        })
        .collect();
    (list, fail_open)
}

/// What the operator should hear about a port that was just added: a system port whose
/// interface does not exist, or could not be attached, is down.
fn add_port_warnings(sw: &Switch, r: &PortRecord) -> Vec<String> {
    if r.kind != PortKind::System || sw.dataplane().dp_port_of(&r.name).is_some() {
        return Vec::new();
    }
    let exists = std::path::Path::new("/sys/class/net")
        .join(&r.name)
        .exists();
    vec![if exists {
        format!(
            "interface {} cannot be attached now; port {} is down and is retried periodically",
            r.name, r.name
        )
    } else {
        format!(
            "no interface named {} exists on this host; port {} stays configured, down, \
             until the interface appears",
            r.name, r.name
        )
    }]
}

#[tonic::async_trait]
impl BridgeService for BridgeApi {
    async fn add_bridge(
        &self,
        req: Request<pb::AddBridgeRequest>,
    ) -> Result<Response<pb::AddBridgeResponse>, Status> {
        let req = req.into_inner();
        let r = match fail_mode_from_pb(req.fail_mode) {
            Ok(mode) => {
                let name = req.bridge;
                self.shared
                    .mutate_config(move |sw| sw.add_bridge_with(&name, mode))
                    .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &r {
            tracing::debug!(error = %e.message(), "add-br refused");
        }
        self.shared.finish(
            "AddBridge",
            r.map(|()| Response::new(pb::AddBridgeResponse {})),
        )
    }

    async fn delete_bridge(
        &self,
        req: Request<pb::DeleteBridgeRequest>,
    ) -> Result<Response<pb::DeleteBridgeResponse>, Status> {
        let name = req.into_inner().bridge;
        let r = self
            .shared
            .mutate_config(move |sw| sw.del_bridge(&name))
            .await;
        self.shared.finish(
            "DeleteBridge",
            r.map(|n| {
                Response::new(pb::DeleteBridgeResponse {
                    ports_removed: n as u32,
                })
            }),
        )
    }

    async fn list_bridges(
        &self,
        _req: Request<pb::ListBridgesRequest>,
    ) -> Result<Response<pb::ListBridgesResponse>, Status> {
        let bridges = self
            .shared
            .view()
            .bridges()
            .map(|b| b.name().to_owned())
            .collect();
        self.shared.finish(
            "ListBridges",
            Ok(Response::new(pb::ListBridgesResponse { bridges })),
        )
    }

    async fn show(
        &self,
        _req: Request<pb::ShowRequest>,
    ) -> Result<Response<pb::ShowResponse>, Status> {
        let reg = Arc::clone(&self.shared.controllers);
        let r = self
            .shared
            .read(move |v| {
                let bridges = v
                    .bridges()
                    .map(|b| bridge_to_pb(v.dataplane(), b, &reg))
                    .collect();
                Ok(Response::new(pb::ShowResponse { bridges }))
            })
            .await;
        self.shared.finish("Show", r)
    }

    async fn add_port(
        &self,
        req: Request<pb::AddPortRequest>,
    ) -> Result<Response<pb::AddPortResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let port = req
                .port
                .ok_or_else(|| Status::invalid_argument("AddPortRequest.port is missing"))?;
            let spec = PortSpec {
                kind: kind_from_pb(port.r#type)?,
                name: port.name,
                ofport: port.ofport,
                tag: port.tag,
                trunks: port.trunks,
                options: port.options.into_iter().collect(),
            };
            let bridge = req.bridge;
            let (port, warnings) = self
                .shared
                .mutate_config(move |sw| {
                    let record = sw.add_port(&bridge, spec)?;
                    let port = port_with_link(&record, &links(sw.dataplane(), &bridge));
                    Ok((port, add_port_warnings(sw, &record)))
                })
                .await?;
            Ok(Response::new(pb::AddPortResponse {
                port: Some(port),
                warnings,
            }))
        }
        .await;
        self.shared.finish("AddPort", r)
    }

    async fn delete_port(
        &self,
        req: Request<pb::DeletePortRequest>,
    ) -> Result<Response<pb::DeletePortResponse>, Status> {
        let req = req.into_inner();
        let r = self
            .shared
            .mutate_config(move |sw| sw.del_port(&req.bridge, &req.port))
            .await;
        self.shared.finish(
            "DeletePort",
            r.map(|_| Response::new(pb::DeletePortResponse {})),
        )
    }

    async fn list_ports(
        &self,
        req: Request<pb::ListPortsRequest>,
    ) -> Result<Response<pb::ListPortsResponse>, Status> {
        let bridge = req.into_inner().bridge;
        let r = {
            let sw = self.shared.view();
            sw.bridge(&bridge).map(|b| {
                let mut ports: Vec<String> = b.ports().map(|p| p.name.clone()).collect();
                ports.sort();
                ports
            })
        };
        self.shared.finish(
            "ListPorts",
            r.map(|ports| Response::new(pb::ListPortsResponse { ports }))
                .map_err(super::status),
        )
    }

    async fn set_port(
        &self,
        req: Request<pb::SetPortRequest>,
    ) -> Result<Response<pb::SetPortResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let settings = key_values(req.settings)?;
            let (bridge, port) = (req.bridge, req.port);
            let record = self
                .shared
                .mutate_config(move |sw| sw.set_port(&bridge, &port, &settings))
                .await?;
            Ok(Response::new(pb::SetPortResponse {
                port: Some(port_to_pb(&record)),
            }))
        }
        .await;
        self.shared.finish("SetPort", r)
    }

    async fn get_config(
        &self,
        req: Request<pb::GetConfigRequest>,
    ) -> Result<Response<pb::GetConfigResponse>, Status> {
        let key = req.into_inner().key;
        let r = {
            let sw = self.shared.view();
            config_to_pb(sw.settings(), &key)
        };
        self.shared.finish("GetConfig", r.map(Response::new))
    }

    async fn set_config(
        &self,
        req: Request<pb::SetConfigRequest>,
    ) -> Result<Response<pb::GetConfigResponse>, Status> {
        let r = async {
            let settings = key_values(req.into_inner().settings)?;
            let now = self
                .shared
                .mutate_config(move |sw| sw.set_settings(&settings).cloned())
                .await?;
            config_to_pb(&now, "").map(Response::new)
        }
        .await;
        self.shared.finish("SetConfig", r)
    }

    async fn set_fail_mode(
        &self,
        req: Request<pb::SetFailModeRequest>,
    ) -> Result<Response<pb::SetFailModeResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let mode = fail_mode_from_pb(req.fail_mode)?;
            let bridge = req.bridge;
            let flushed = self
                .shared
                .mutate_config(move |sw| sw.set_fail_mode(&bridge, mode))
                .await?;
            Ok(Response::new(pb::SetFailModeResponse {
                flows_flushed: flushed,
            }))
        }
        .await;
        self.shared.finish("SetFailMode", r)
    }

    async fn get_fail_mode(
        &self,
        req: Request<pb::GetFailModeRequest>,
    ) -> Result<Response<pb::GetFailModeResponse>, Status> {
        let bridge = req.into_inner().bridge;
        let r = self
            .shared
            .lock()
            .bridge(&bridge)
            .map(|b| {
                Response::new(pb::GetFailModeResponse {
                    fail_mode: fail_mode_to_pb(b.fail_mode()) as i32,
                })
            })
            .map_err(super::status);
        self.shared.finish("GetFailMode", r)
    }

    async fn set_controller(
        &self,
        req: Request<pb::SetControllerRequest>,
    ) -> Result<Response<pb::SetControllerResponse>, Status> {
        let r = async {
            let req = req.into_inner();
            let bridge = req.bridge;
            let targets = req.targets;
            let (flushed, now) = self
                .shared
                .mutate_config(move |sw| {
                    let flushed = sw.set_controllers(&bridge, &targets)?;
                    Ok::<_, crate::switch::SwitchError>((
                        flushed,
                        sw.bridge(&bridge)?.controllers().to_vec(),
                    ))
                })
                .await?;
            Ok(Response::new(pb::SetControllerResponse {
                targets: now,
                flows_flushed: flushed,
            }))
        }
        .await;
        self.shared.finish("SetController", r)
    }

    async fn get_controller(
        &self,
        req: Request<pb::GetControllerRequest>,
    ) -> Result<Response<pb::GetControllerResponse>, Status> {
        let bridge = req.into_inner().bridge;
        let view = self.shared.view();
        let r = view
            .bridge(&bridge)
            .map(|b| {
                let (controllers, fail_open) = controllers_to_pb(&self.shared.controllers, b);
                Response::new(pb::GetControllerResponse {
                    controllers,
                    fail_open,
                })
            })
            .map_err(super::status);
        self.shared.finish("GetController", r)
    }
}

/// A request's `KEY=VALUE` settings, at most [`MAX_SETTINGS_PER_REQUEST`] of them.
fn key_values(settings: Vec<pb::Setting>) -> Result<Vec<(String, String)>, Status> {
    if settings.len() > MAX_SETTINGS_PER_REQUEST {
        return Err(Status::resource_exhausted(format!(
            "{} settings in one request; at most {MAX_SETTINGS_PER_REQUEST} are allowed",
            settings.len()
        )));
    }
    Ok(settings.into_iter().map(|s| (s.key, s.value)).collect())
}

/// The settings in force, every known key or only `key`.
fn config_to_pb(settings: &Settings, key: &str) -> Result<pb::GetConfigResponse, Status> {
    let settings: Vec<pb::Setting> = settings
        .entries()
        .into_iter()
        .filter(|(k, _)| key.is_empty() || k == key)
        .map(|(key, value)| pb::Setting { key, value })
        .collect();
    if settings.is_empty() {
        return Err(Status::not_found(format!(
            "unknown setting '{key}' (known: {})",
            SETTING_KEYS.join(", ")
        )));
    }
    Ok(pb::GetConfigResponse { settings })
}
