//! Bridge and port commands (the ovs-vsctl group): add-br, del-br, list-br, show, add-port,
//! del-port, list-ports, set-port — each one `BridgeService` call.

use anyhow::anyhow;
use proto::v1 as pb;
use proto::v1::bridge_service_client::BridgeServiceClient;
use serde_json::json;

use crate::cli::{AddPortArgs, PortTypeArg};
use crate::output::{bridge_text, emit, port_json};
use crate::{Ctx, rpc};

/// Splits `K=V` at the first `=`.
pub fn key_value<'a>(what: &str, s: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow!("bad {what} '{s}': expected KEY=VALUE"))
}

/// `KEY=VALUE` arguments as API settings.
fn settings_pb(settings: &[String]) -> anyhow::Result<Vec<pb::Setting>> {
    settings
        .iter()
        .map(|s| {
            key_value("setting", s).map(|(k, v)| pb::Setting {
                key: k.to_owned(),
                value: v.to_owned(),
            })
        })
        .collect()
}

fn port_type(t: Option<PortTypeArg>) -> pb::PortType {
    match t {
        None => pb::PortType::Unspecified,
        Some(PortTypeArg::Tap) => pb::PortType::Tap,
        Some(PortTypeArg::System) => pb::PortType::System,
        Some(PortTypeArg::Internal) => pb::PortType::Internal,
        Some(PortTypeArg::Patch) => pb::PortType::Patch,
        Some(PortTypeArg::Dummy) => pb::PortType::Dummy,
        Some(PortTypeArg::Vxlan) => pb::PortType::Vxlan,
        Some(PortTypeArg::Geneve) => pb::PortType::Geneve,
        Some(PortTypeArg::Gre) => pb::PortType::Gre,
    }
}

pub async fn add_br(ctx: &Ctx, bridge: String, chained: Vec<String>) -> anyhow::Result<()> {
    let mode = crate::fail_mode::chained_fail_mode(&bridge, &chained)?;
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    c.add_bridge(pb::AddBridgeRequest {
        bridge: bridge.clone(),
        fail_mode: mode as i32,
    })
    .await
    .map_err(rpc)?;
    emit(
        ctx.format,
        json!({"bridge": bridge, "fail_mode": crate::fail_mode::name(mode as i32)}),
        String::new,
    )
}

pub async fn del_br(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .delete_bridge(pb::DeleteBridgeRequest {
            bridge: bridge.clone(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(
        ctx.format,
        json!({"bridge": bridge, "ports_removed": r.ports_removed}),
        String::new,
    )
}

pub async fn list_br(ctx: &Ctx) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .list_bridges(pb::ListBridgesRequest {})
        .await
        .map_err(rpc)?
        .into_inner();
    emit(ctx.format, json!(r.bridges), || r.bridges.join("\n"))
}

pub async fn show(ctx: &Ctx) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c.show(pb::ShowRequest {}).await.map_err(rpc)?.into_inner();
    let bridges: Vec<_> = r
        .bridges
        .iter()
        .map(|b| json!({"name": b.name, "fail_mode": crate::fail_mode::name(b.fail_mode), "controllers": b.controllers.iter().map(crate::controller::controller_json).collect::<Vec<_>>(), "fail_open": b.fail_open, "flow_count": b.flow_count, "mirrors": b.mirrors.iter().map(crate::mirror::mirror_json).collect::<Vec<_>>(), "ports": b.ports.iter().map(port_json).collect::<Vec<_>>()}))
        .collect();
    emit(ctx.format, json!({"bridges": bridges}), || {
        r.bridges.iter().map(bridge_text).collect()
    })
}

pub async fn dpctl_show(ctx: &Ctx) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c.show(pb::ShowRequest {}).await.map_err(rpc)?.into_inner();
    let ports: Vec<_> = r
        .bridges
        .iter()
        .flat_map(|b| {
            b.ports.iter().filter_map(move |p| {
                p.dp_port.map(|no| {
                    json!({"dp_port": no, "name": p.name, "bridge": b.name, "ofport": p.ofport})
                })
            })
        })
        .collect();
    emit(ctx.format, json!({"ports": ports}), || {
        crate::output::dpctl_text(&r.bridges)
    })
}

pub async fn add_port(ctx: &Ctx, a: AddPortArgs) -> anyhow::Result<()> {
    let options = a
        .options
        .iter()
        .map(|o| key_value("--option", o).map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect::<anyhow::Result<_>>()?;
    let port = pb::Port {
        name: a.port,
        r#type: port_type(a.kind) as i32,
        ofport: a.ofport.unwrap_or(0),
        tag: a.tag,
        trunks: a.trunks,
        options,
        link_up: None,
        dp_port: None,
    };
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .add_port(pb::AddPortRequest {
            bridge: a.bridge,
            port: Some(port),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    // The port was added: warnings (e.g. a missing interface) go to stderr, exit status 0.
    for w in &r.warnings {
        crate::warn(ctx.format, w);
    }
    let port = r.port.unwrap_or_default();
    emit(ctx.format, port_json(&port), String::new)
}

pub async fn del_port(ctx: &Ctx, bridge: String, port: String) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    c.delete_port(pb::DeletePortRequest {
        bridge: bridge.clone(),
        port: port.clone(),
    })
    .await
    .map_err(rpc)?;
    emit(
        ctx.format,
        json!({"bridge": bridge, "port": port}),
        String::new,
    )
}

pub async fn list_ports(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .list_ports(pb::ListPortsRequest { bridge })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(ctx.format, json!(r.ports), || r.ports.join("\n"))
}

pub async fn set_port(
    ctx: &Ctx,
    bridge: String,
    port: String,
    settings: Vec<String>,
) -> anyhow::Result<()> {
    let settings = settings_pb(&settings)?;
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .set_port(pb::SetPortRequest {
            bridge,
            port,
            settings,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(
        ctx.format,
        port_json(&r.port.unwrap_or_default()),
        String::new,
    )
}

pub async fn get_config(ctx: &Ctx, key: Option<String>) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .get_config(pb::GetConfigRequest {
            key: key.unwrap_or_default(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit_config(ctx, &r)
}

pub async fn set_config(ctx: &Ctx, settings: Vec<String>) -> anyhow::Result<()> {
    let settings = settings_pb(&settings)?;
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .set_config(pb::SetConfigRequest { settings })
        .await
        .map_err(rpc)?
        .into_inner();
    emit_config(ctx, &r)
}

/// Settings as `KEY=VALUE` lines, or one JSON object.
fn emit_config(ctx: &Ctx, r: &pb::GetConfigResponse) -> anyhow::Result<()> {
    let object: serde_json::Map<String, serde_json::Value> = r
        .settings
        .iter()
        .map(|s| (s.key.clone(), json!(s.value)))
        .collect();
    emit(ctx.format, serde_json::Value::Object(object), || {
        r.settings
            .iter()
            .map(|s| format!("{}={}", s.key, s.value))
            .collect::<Vec<_>>()
            .join("\n")
    })
}
