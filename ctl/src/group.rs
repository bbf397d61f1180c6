//! Group commands (ovs-ofctl's): add-group, add-groups, mod-group, del-groups, dump-groups,
//! dump-group-stats — each one `GroupService` call per group.
//!
//! Groups are sent as text; the daemon parses them with the bridge's port names.

use proto::v1 as pb;
use proto::v1::group_service_client::GroupServiceClient;
use serde_json::json;

use crate::output::emit;
use crate::{Ctx, rpc};

async fn mod_group(
    ctx: &Ctx,
    bridge: String,
    command: pb::GroupCommand,
    group: String,
    may_create: bool,
) -> anyhow::Result<pb::ModGroupResponse> {
    let mut c = GroupServiceClient::new(ctx.channel().await?);
    Ok(c.mod_group(pb::ModGroupRequest {
        bridge,
        command: command as i32,
        group,
        may_create,
    })
    .await
    .map_err(rpc)?
    .into_inner())
}

fn output(ctx: &Ctx, r: pb::ModGroupResponse) -> anyhow::Result<()> {
    emit(
        ctx.format,
        json!({"groups": r.groups, "flows_removed": r.flows_removed}),
        String::new,
    )
}

/// add-group BR GROUP
pub async fn add_group(ctx: &Ctx, bridge: String, group: String) -> anyhow::Result<()> {
    let r = mod_group(ctx, bridge, pb::GroupCommand::Add, group, false).await?;
    output(ctx, r)
}

/// add-groups BR FILE: each line of FILE (blank lines and `#` comments skipped) in turn.
pub async fn add_groups(ctx: &Ctx, bridge: String, file: String) -> anyhow::Result<()> {
    let mut total = pb::ModGroupResponse::default();
    for (i, line) in crate::flow::read_lines(&file)?.iter().enumerate() {
        let l = line
            .split_once('#')
            .map_or(line.as_str(), |(g, _)| g)
            .trim();
        if l.is_empty() {
            continue;
        }
        let r = mod_group(
            ctx,
            bridge.clone(),
            pb::GroupCommand::Add,
            l.to_owned(),
            false,
        )
        .await
        .map_err(|e| e.context(format!("line {}", i + 1)))?;
        total.groups += r.groups;
    }
    output(ctx, total)
}

/// mod-group BR GROUP [--may-create]
pub async fn mod_group_cmd(
    ctx: &Ctx,
    bridge: String,
    group: String,
    may_create: bool,
) -> anyhow::Result<()> {
    let r = mod_group(ctx, bridge, pb::GroupCommand::Modify, group, may_create).await?;
    output(ctx, r)
}

/// del-groups BR [group_id=N]
pub async fn del_groups(ctx: &Ctx, bridge: String, group: Option<String>) -> anyhow::Result<()> {
    let r = mod_group(
        ctx,
        bridge,
        pb::GroupCommand::Delete,
        group.unwrap_or_default(),
        false,
    )
    .await?;
    output(ctx, r)
}

async fn dump(
    ctx: &Ctx,
    bridge: String,
    group: Option<String>,
) -> anyhow::Result<Vec<pb::GroupEntry>> {
    let mut c = GroupServiceClient::new(ctx.channel().await?);
    Ok(c.dump_groups(pb::DumpGroupsRequest {
        bridge,
        group: group.unwrap_or_default(),
    })
    .await
    .map_err(rpc)?
    .into_inner()
    .groups)
}

/// dump-groups BR [group_id=N]: one group per line, as ovs-ofctl -O OpenFlow15 prints them.
pub async fn dump_groups(ctx: &Ctx, bridge: String, group: Option<String>) -> anyhow::Result<()> {
    let groups = dump(ctx, bridge, group).await?;
    let j: Vec<_> = groups
        .iter()
        .map(|g| json!({"group_id": g.group_id, "group": g.group}))
        .collect();
    emit(ctx.format, json!(j), || {
        groups.iter().map(|g| format!("{}\n", g.group)).collect()
    })
}

/// dump-group-stats BR [group_id=N]: counters as ovs-ofctl prints them.
pub async fn dump_group_stats(
    ctx: &Ctx,
    bridge: String,
    group: Option<String>,
) -> anyhow::Result<()> {
    let groups = dump(ctx, bridge, group).await?;
    let j: Vec<_> = groups
        .iter()
        .map(|g| {
            json!({
                "group_id": g.group_id, "duration_ms": g.duration_ms, "ref_count": g.ref_count,
                "packet_count": g.packets, "byte_count": g.bytes,
                "buckets": g.buckets.iter().map(|b| json!({"packet_count": b.packets, "byte_count": b.bytes})).collect::<Vec<_>>(),
            })
        })
        .collect();
    emit(ctx.format, json!(j), || {
        groups
            .iter()
            .map(|g| {
                let mut s = format!(
                    "group_id={},duration={}.{:03}s,ref_count={},packet_count={},byte_count={}",
                    g.group_id,
                    g.duration_ms / 1000,
                    g.duration_ms % 1000,
                    g.ref_count,
                    g.packets,
                    g.bytes
                );
                for (i, b) in g.buckets.iter().enumerate() {
                    s.push_str(&format!(
                        ",bucket{i}:packet_count={},byte_count={}",
                        b.packets, b.bytes
                    ));
                }
                s.push('\n');
                s
            })
            .collect()
    })
}
