//! Mirror commands: add-mirror, del-mirror, list-mirrors — one `MirrorService` call each.
//!
//! `list-mirrors` prints one mirror per line with its selection, output and counters; the JSON
//! form is a list of objects with the same fields.

use proto::v1 as pb;
use proto::v1::mirror_service_client::MirrorServiceClient;
use serde_json::{Value, json};

use crate::output::emit;
use crate::{Ctx, rpc};

/// What add-mirror was given.
#[derive(Debug)]
pub struct AddMirror {
    pub bridge: String,
    pub name: String,
    pub select_src_port: Vec<String>,
    pub select_dst_port: Vec<String>,
    pub select_vlan: Vec<u32>,
    pub output_port: Option<String>,
    pub output_vlan: Option<u32>,
}

/// add-mirror BR NAME ...
pub async fn add_mirror(ctx: &Ctx, a: AddMirror) -> anyhow::Result<()> {
    let output = match (a.output_port, a.output_vlan) {
        (Some(p), _) => Some(pb::mirror::Output::OutputPort(p)),
        (None, Some(v)) => Some(pb::mirror::Output::OutputVlan(v)),
        (None, None) => None,
    };
    let mut c = MirrorServiceClient::new(ctx.channel().await?);
    let r = c
        .add_mirror(pb::AddMirrorRequest {
            bridge: a.bridge,
            mirror: Some(pb::Mirror {
                name: a.name,
                select_all: false,
                select_src_port: a.select_src_port,
                select_dst_port: a.select_dst_port,
                select_vlan: a.select_vlan,
                output,
            }),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let m = r.mirror.unwrap_or_default();
    emit(ctx.format, mirror_json(&m), String::new)
}

/// del-mirror BR NAME
pub async fn del_mirror(ctx: &Ctx, bridge: String, name: String) -> anyhow::Result<()> {
    let mut c = MirrorServiceClient::new(ctx.channel().await?);
    c.delete_mirror(pb::DeleteMirrorRequest { bridge, name })
        .await
        .map_err(rpc)?;
    emit(ctx.format, json!({}), String::new)
}

/// list-mirrors BR
pub async fn list_mirrors(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = MirrorServiceClient::new(ctx.channel().await?);
    let r = c
        .list_mirrors(pb::ListMirrorsRequest { bridge })
        .await
        .map_err(rpc)?
        .into_inner();
    let j: Vec<Value> = r
        .mirrors
        .iter()
        .map(|e| {
            let mut v = mirror_json(e.mirror.as_ref().unwrap_or(&pb::Mirror::default()));
            v["tx_packets"] = json!(e.tx_packets);
            v["tx_bytes"] = json!(e.tx_bytes);
            v
        })
        .collect();
    emit(ctx.format, json!(j), || {
        r.mirrors
            .iter()
            .map(|e| {
                let m = e.mirror.clone().unwrap_or_default();
                format!(
                    "{}: {} tx_packets={} tx_bytes={}\n",
                    m.name,
                    mirror_text(&m),
                    e.tx_packets,
                    e.tx_bytes
                )
            })
            .collect()
    })
}

/// A mirror's selection and output in words, as `show` and `list-mirrors` print it.
pub fn mirror_text(m: &pb::Mirror) -> String {
    let mut parts = Vec::new();
    if m.select_all {
        parts.push("select_all".to_string());
    }
    if !m.select_src_port.is_empty() {
        parts.push(format!("select_src_port={}", m.select_src_port.join(",")));
    }
    if !m.select_dst_port.is_empty() {
        parts.push(format!("select_dst_port={}", m.select_dst_port.join(",")));
    }
    if !m.select_vlan.is_empty() {
        let v: Vec<String> = m.select_vlan.iter().map(u32::to_string).collect();
        parts.push(format!("select_vlan={}", v.join(",")));
    }
    match &m.output {
        Some(pb::mirror::Output::OutputPort(p)) => parts.push(format!("output_port={p}")),
        Some(pb::mirror::Output::OutputVlan(v)) => parts.push(format!("output_vlan={v}")),
        None => {}
    }
    parts.join(" ")
}

/// A mirror as JSON.
pub fn mirror_json(m: &pb::Mirror) -> Value {
    let mut v = json!({
        "name": m.name,
        "select_all": m.select_all,
        "select_src_port": m.select_src_port,
        "select_dst_port": m.select_dst_port,
        "select_vlan": m.select_vlan,
    });
    match &m.output {
        Some(pb::mirror::Output::OutputPort(p)) => v["output_port"] = json!(p),
        Some(pb::mirror::Output::OutputVlan(n)) => v["output_vlan"] = json!(n),
        None => {}
    }
    v
}
