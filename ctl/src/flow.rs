//! Flow commands (the ovs-ofctl group): add-flow, add-flows, mod-flows, del-flows,
//! replace-flows, dump-flows, dump-ports — each one `FlowService` call.
//!
//! Flow files are sent as their lines, unparsed: the daemon parses them (it knows the
//! bridge's port names) and reports errors by line number. Files larger than one gRPC
//! message are refused here, before anything is sent.

use std::io::Read;

use anyhow::Context;
use proto::v1 as pb;
use proto::v1::flow_service_client::FlowServiceClient;
use serde_json::json;

use crate::output::{emit, flow_json, flow_text, port_stats_json, port_stats_text};
use crate::progress::Progress;
use crate::{Ctx, rpc};

/// Reads a flow file (`-` = stdin) into lines, refusing files over the message limit.
pub fn read_lines(file: &str) -> anyhow::Result<Vec<String>> {
    // Leave room for the request's other fields and per-line framing.
    let limit = (proto::MAX_MESSAGE_BYTES / 2) as u64;
    let mut text = String::new();
    let reader: Box<dyn Read> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(file).with_context(|| format!("cannot open flow file {file}"))?,
        )
    };
    reader
        .take(limit + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read flow file {file}"))?;
    anyhow::ensure!(
        text.len() as u64 <= limit,
        "flow file {file} is larger than {limit} bytes; split it"
    );
    Ok(text.lines().map(str::to_owned).collect())
}

fn flow_mod_output(ctx: &Ctx, r: pb::FlowModResponse) -> anyhow::Result<()> {
    emit(
        ctx.format,
        json!({"added": r.added, "modified": r.modified, "removed": r.removed}),
        String::new,
    )
}

pub async fn add_flow(ctx: &Ctx, bridge: String, flow: String) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let r = c
        .add_flow(pb::AddFlowRequest { bridge, flow })
        .await
        .map_err(rpc)?
        .into_inner();
    flow_mod_output(ctx, r)
}

pub async fn add_flows(ctx: &Ctx, bridge: String, file: String) -> anyhow::Result<()> {
    let lines = read_lines(&file)?;
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let _progress = Progress::spinner(format!(
        "adding {} lines to {bridge}: parsing, applying, making durable",
        lines.len()
    ));
    let r = c
        .add_flows(pb::AddFlowsRequest { bridge, lines })
        .await
        .map_err(rpc)?
        .into_inner();
    flow_mod_output(ctx, r)
}

pub async fn mod_flows(
    ctx: &Ctx,
    bridge: String,
    flow: String,
    strict: bool,
) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let r = c
        .mod_flows(pb::ModFlowsRequest {
            bridge,
            flow,
            strict,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    flow_mod_output(ctx, r)
}

pub async fn del_flows(
    ctx: &Ctx,
    bridge: String,
    m: Option<String>,
    strict: bool,
) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let req = pb::DeleteFlowsRequest {
        bridge,
        r#match: m.unwrap_or_default(),
        strict,
    };
    let r = c.delete_flows(req).await.map_err(rpc)?.into_inner();
    flow_mod_output(ctx, r)
}

pub async fn replace_flows(ctx: &Ctx, bridge: String, file: String) -> anyhow::Result<()> {
    let lines = read_lines(&file)?;
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let _progress = Progress::spinner(format!(
        "replacing {bridge}'s flows with {} lines: parsing, applying, making durable",
        lines.len()
    ));
    let r = c
        .replace_flows(pb::ReplaceFlowsRequest { bridge, lines })
        .await
        .map_err(rpc)?
        .into_inner();
    flow_mod_output(ctx, r)
}

pub async fn dump_flows(
    ctx: &Ctx,
    bridge: String,
    m: Option<String>,
    table: Option<u32>,
    no_stats: bool,
) -> anyhow::Result<()> {
    let text = if no_stats {
        crate::output::flow_text_no_stats
    } else {
        flow_text
    };
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let req = pb::DumpFlowsRequest {
        bridge,
        r#match: m.unwrap_or_default(),
        table,
    };
    let mut stream = c.dump_flows(req).await.map_err(rpc)?.into_inner();
    let mut all = Vec::new();
    let count = crate::progress::Progress::counter("flows");
    while let Some(f) = stream.message().await.map_err(rpc)? {
        count.inc();
        match ctx.format {
            // Text streams as it arrives; JSON needs the whole array.
            crate::cli::Format::Text => println!("{}", text(&f)),
            crate::cli::Format::Json => all.push(flow_json(&f)),
        }
    }
    emit(ctx.format, json!(all), String::new)
}

pub async fn dump_ports(ctx: &Ctx, bridge: String, port: Option<String>) -> anyhow::Result<()> {
    let mut c = FlowServiceClient::new(ctx.channel().await?);
    let req = pb::DumpPortsRequest {
        bridge,
        port: port.unwrap_or_default(),
    };
    let mut stream = c.dump_ports(req).await.map_err(rpc)?.into_inner();
    let mut all = Vec::new();
    while let Some(p) = stream.message().await.map_err(rpc)? {
        match ctx.format {
            crate::cli::Format::Text => print!("{}", port_stats_text(&p)),
            crate::cli::Format::Json => all.push(port_stats_json(&p)),
        }
    }
    emit(ctx.format, json!(all), String::new)
}
