//! Fail-mode commands: `set-fail-mode`, `get-fail-mode`, `del-fail-mode` (as ovs-vsctl's),
//! and the part of `add-br` that understands OVS's chained `-- set Bridge ...` form.
//!
//! ovs-vsctl chains any commands with `--` in one database transaction; vswitch-ctl makes
//! one RPC per command, so only chains that map to one request are accepted: `add-br BR --
//! set Bridge BR fail_mode=MODE` and `add-br BR -- set-fail-mode BR MODE` become one
//! `AddBridge` with the fail mode set (a secure bridge never exists with a NORMAL rule, not
//! even for an instant). Anything else after `--` is refused with what to type instead.

use anyhow::{anyhow, bail};
use proto::v1 as pb;
use proto::v1::bridge_service_client::BridgeServiceClient;
use serde_json::json;

use crate::cli::FailModeArg;
use crate::output::emit;
use crate::{Ctx, rpc};

/// The API value of a fail mode argument.
pub fn to_pb(m: FailModeArg) -> pb::FailMode {
    match m {
        FailModeArg::Standalone => pb::FailMode::Standalone,
        FailModeArg::Secure => pb::FailMode::Secure,
    }
}

/// Lowercase name of an API fail mode (`None` when not set).
pub fn name(v: i32) -> Option<&'static str> {
    match pb::FailMode::try_from(v) {
        Ok(pb::FailMode::Standalone) => Some("standalone"),
        Ok(pb::FailMode::Secure) => Some("secure"),
        Ok(pb::FailMode::Unspecified) | Err(_) => None,
    }
}

fn parse_mode(s: &str) -> anyhow::Result<pb::FailMode> {
    match s {
        "standalone" => Ok(pb::FailMode::Standalone),
        "secure" => Ok(pb::FailMode::Secure),
        _ => bail!("bad fail mode '{s}': expected standalone or secure"),
    }
}

/// The fail mode a chained `add-br BR -- ...` asks for (`Unspecified` when nothing is
/// chained).
pub fn chained_fail_mode(bridge: &str, chained: &[String]) -> anyhow::Result<pb::FailMode> {
    let words: Vec<&str> = chained.iter().map(String::as_str).collect();
    let instead = || {
        anyhow!(
            "vswitch-ctl runs one command at a time: after 'add-br {bridge} --' only \
             'set Bridge {bridge} fail_mode=standalone|secure' or 'set-fail-mode {bridge} \
             standalone|secure' is understood; run other changes as their own commands \
             (set-port, set-config, add-port ...)"
        )
    };
    match words.as_slice() {
        [] => Ok(pb::FailMode::Unspecified),
        ["set-fail-mode", br, mode] if *br == bridge => parse_mode(mode),
        ["set", table, br, setting] if table.eq_ignore_ascii_case("bridge") && *br == bridge => {
            match setting.split_once('=') {
                Some(("fail_mode" | "fail-mode", mode)) => parse_mode(mode),
                _ => Err(instead()),
            }
        }
        _ => Err(instead()),
    }
}

pub async fn set_fail_mode(ctx: &Ctx, bridge: String, mode: pb::FailMode) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .set_fail_mode(pb::SetFailModeRequest {
            bridge: bridge.clone(),
            fail_mode: mode as i32,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    emit(
        ctx.format,
        json!({"bridge": bridge, "fail_mode": name(mode as i32), "flows_flushed": r.flows_flushed}),
        String::new,
    )
}

pub async fn get_fail_mode(ctx: &Ctx, bridge: String) -> anyhow::Result<()> {
    let mut c = BridgeServiceClient::new(ctx.channel().await?);
    let r = c
        .get_fail_mode(pb::GetFailModeRequest {
            bridge: bridge.clone(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let mode = name(r.fail_mode);
    emit(
        ctx.format,
        json!({"bridge": bridge, "fail_mode": mode}),
        || mode.unwrap_or_default().to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn chained_forms_that_map_to_one_request() {
        let m = |s: &str| chained_fail_mode("br0", &words(s));
        assert_eq!(m("").unwrap(), pb::FailMode::Unspecified);
        assert_eq!(
            m("set Bridge br0 fail_mode=secure").unwrap(),
            pb::FailMode::Secure
        );
        assert_eq!(
            m("set bridge br0 fail-mode=standalone").unwrap(),
            pb::FailMode::Standalone
        );
        assert_eq!(m("set-fail-mode br0 secure").unwrap(), pb::FailMode::Secure);
        let e = m("set Bridge br0 fail_mode=open").unwrap_err().to_string();
        assert_eq!(e, "bad fail mode 'open': expected standalone or secure");
        for other in [
            "set Bridge br1 fail_mode=secure",
            "set Bridge br0 stp_enable=true",
            "add-port br0 p1",
            "set-fail-mode br0",
        ] {
            let e = m(other).unwrap_err().to_string();
            assert!(
                e.contains("'set Bridge br0 fail_mode=standalone|secure'"),
                "{e}"
            );
        }
    }
}
