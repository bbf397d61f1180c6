//! Controller commands: `set-controller BR TARGET...`, `get-controller BR [--status]`,
//! `del-controller BR`, as ovs-vsctl's.
//!
//! `get-controller` prints the targets one per line, sorted, exactly as ovs-vsctl does, so
//! scripts written for it keep working; `--status` adds each connection's state (as
//! `ovs-vsctl list Controller` would show it), and `--format json` always carries it.

use proto::v1 as pb;
use proto::v1::bridge_service_client::BridgeServiceClient;
use serde_json::{Value, json};

use crate::output::emit;
use crate::{Ctx, rpc};

pub fn controller_json(c: &pb::Controller) -> Value {
    json!({
        "target": c.target,
        "is_connected": c.is_connected,
        "role": (!c.role.is_empty()).then_some(&c.role),
        "state": c.state,
        "last_error": (!c.last_error.is_empty()).then_some(&c.last_error),
        "connections": c.connections,
        "sec_since_change": c.sec_since_change,
    })
}

/// One controller's state on one line: `TARGET connected role=master state=ACTIVE ...`.
pub fn status_line(c: &pb::Controller) -> String {
    let mut s = format!(
        "{} {}",
        c.target,
        if c.is_connected {
            "connected"
        } else {
            "disconnected"
        }
    );
    if !c.role.is_empty() {
        s += &format!(" role={}", c.role);
    }
    s += &format!(" state={} for {}s", c.state, c.sec_since_change);
    if !c.target.starts_with("tcp:") && !c.target.starts_with("unix:") {
        s += &format!(" connections={}", c.connections);
    }
    if !c.last_error.is_empty() {
        s += &format!(" last_error=\"{}\"", c.last_error);
    }
    s
}

pub async fn set_controller(ctx: &Ctx, bridge: String, targets: Vec<String>) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .set_controller(pb::SetControllerRequest {
            bridge: bridge.clone(),
            targets,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(
        ctx.format,
        json!({"bridge": bridge, "targets": r.targets, "flows_flushed": r.flows_flushed}),
        String::new,
    )
}

pub async fn get_controller(ctx: &Ctx, bridge: String, status: bool) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .get_controller(pb::GetControllerRequest {
            bridge: bridge.clone(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let mut list = r.controllers.clone();
    list.sort_by(|a, b| a.target.cmp(&b.target));
    emit(
        ctx.format,
        json!({
            "bridge": bridge,
            "controllers": r.controllers.iter().map(controller_json).collect::<Vec<_>>(),
            "fail_open": r.fail_open,
        }),
        || {
            let mut lines: Vec<String> = list
                .iter()
                .map(|c| {
                    if status {
                        status_line(c)
                    } else {
                        c.target.clone()
                    }
                })
                .collect();
            if status && r.fail_open {
                lines.push("fail_open: true".into());
            }
            lines.join("\n")
        },
    )
}
