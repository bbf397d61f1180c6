//! `vswitch-ctl`: the command line over vswitchd's gRPC API (DESIGN §4).
//!
//! Every command is exactly one gRPC call (offline `trace --flows` makes none); text output
//! is for people, `--format json` for scripts. Errors go to stderr as one
//! `vswitch-ctl: error: ...` line, or with `--format json` as one JSON object
//! `{"error": "...", "code": "NotFound"}` (the gRPC status code's name; `Unavailable` when the
//! daemon cannot be reached, `Unknown` for local failures such as an unreadable file), with
//! exit status 1 (2 for command-line mistakes, which clap reports as text). Warnings (the
//! command did its work) go to stderr the same way, as `vswitch-ctl: warning: ...` or
//! `{"warning": "..."}`.

mod bridge;
mod cli;
mod connect;
mod controller;
mod diag;
mod fail_mode;
mod flow;
mod group;
mod meter;
mod mirror;
mod output;
mod progress;
mod tlv;

use std::process::ExitCode;

use clap::Parser;
use tokio::sync::OnceCell;
use tonic::transport::Channel;

use cli::{Cli, Command, Format};
use connect::{Server, Tls};

/// What every command needs: the output format and a lazily made connection (offline
/// trace must work with no daemon at all).
pub struct Ctx {
    pub format: Format,
    server: Option<String>,
    tls: Option<Tls>,
    channel: OnceCell<Channel>,
}

impl Ctx {
    /// The connection to the daemon, made on first use.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        self.channel
            .get_or_try_init(|| async {
                let server: Server = match &self.server {
                    Some(s) => connect::parse_server(s)?,
                    None => connect::default_server()?,
                };
                connect::connect(&server, self.tls.as_ref())
                    .await
                    .map_err(|e| {
                        anyhow::Error::new(Failure {
                            code: tonic::Code::Unavailable,
                            message: format!("{e:#}"),
                        })
                    })
            })
            .await
            .cloned()
    }
}

/// A failure with a gRPC status code, for `--format json` errors.
#[derive(Debug)]
pub struct Failure {
    pub code: tonic::Code,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A failed call, as the daemon explained it.
pub fn rpc(s: tonic::Status) -> anyhow::Error {
    let message = if s.message().is_empty() {
        format!("vswitchd answered {:?}", s.code())
    } else {
        s.message().to_owned()
    };
    anyhow::Error::new(Failure {
        code: s.code(),
        message,
    })
}

/// An error as `--format json` prints it on stderr: `{"error": "...", "code": "NotFound"}`.
fn error_json(e: &anyhow::Error) -> serde_json::Value {
    let code = e
        .downcast_ref::<Failure>()
        .map_or(tonic::Code::Unknown, |f| f.code);
    serde_json::json!({"error": format!("{e:#}"), "code": format!("{code:?}")})
}

/// Prints a warning on stderr (the command still succeeds).
pub fn warn(format: Format, message: &str) {
    match format {
        Format::Text => eprintln!("vswitch-ctl: warning: {message}"),
        Format::Json => eprintln!("{}", serde_json::json!({"warning": message})),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let tls = match (cli.tls_cert, cli.tls_key, cli.tls_ca) {
        (Some(cert), Some(key), Some(ca)) => Some(Tls { cert, key, ca }),
        _ => None,
    };
    let ctx = Ctx {
        format: cli.format,
        server: cli.server,
        tls,
        channel: OnceCell::new(),
    };
    match cli.command {
        Command::AddBr { bridge, chained } => bridge::add_br(&ctx, bridge, chained).await,
        Command::SetFailMode { bridge, mode } => {
            fail_mode::set_fail_mode(&ctx, bridge, fail_mode::to_pb(mode)).await
        }
        Command::GetFailMode { bridge } => fail_mode::get_fail_mode(&ctx, bridge).await,
        Command::DelFailMode { bridge } => {
            fail_mode::set_fail_mode(&ctx, bridge, proto::v1::FailMode::Unspecified).await
        }
        Command::SetController { bridge, targets } => {
            controller::set_controller(&ctx, bridge, targets).await
        }
        Command::GetController { bridge, status } => {
            controller::get_controller(&ctx, bridge, status).await
        }
        Command::DelController { bridge } => {
            controller::set_controller(&ctx, bridge, Vec::new()).await
        }
        Command::DelBr { bridge } => bridge::del_br(&ctx, bridge).await,
        Command::ListBr => bridge::list_br(&ctx).await,
        Command::Show => bridge::show(&ctx).await,
        Command::DpctlShow => bridge::dpctl_show(&ctx).await,
        Command::AddPort(a) => bridge::add_port(&ctx, a).await,
        Command::DelPort { bridge, port } => bridge::del_port(&ctx, bridge, port).await,
        Command::ListPorts { bridge } => bridge::list_ports(&ctx, bridge).await,
        Command::GetConfig { key } => bridge::get_config(&ctx, key).await,
        Command::SetConfig { settings } => bridge::set_config(&ctx, settings).await,
        Command::SetPort {
            bridge,
            port,
            settings,
        } => bridge::set_port(&ctx, bridge, port, settings).await,
        Command::AddFlow { bridge, flow } => flow::add_flow(&ctx, bridge, flow).await,
        Command::AddFlows { bridge, file } => flow::add_flows(&ctx, bridge, file).await,
        Command::ModFlows {
            bridge,
            flow,
            strict,
        } => flow::mod_flows(&ctx, bridge, flow, strict).await,
        Command::DelFlows {
            bridge,
            r#match,
            strict,
        } => flow::del_flows(&ctx, bridge, r#match, strict).await,
        Command::ReplaceFlows { bridge, file } => flow::replace_flows(&ctx, bridge, file).await,
        Command::DumpFlows {
            bridge,
            r#match,
            table,
            no_stats,
        } => flow::dump_flows(&ctx, bridge, r#match, table, no_stats).await,
        Command::DumpPorts { bridge, port } => flow::dump_ports(&ctx, bridge, port).await,
        Command::AddGroup { bridge, group } => group::add_group(&ctx, bridge, group).await,
        Command::AddGroups { bridge, file } => group::add_groups(&ctx, bridge, file).await,
        Command::ModGroup {
            bridge,
            group,
            may_create,
        } => group::mod_group_cmd(&ctx, bridge, group, may_create).await,
        Command::DelGroups { bridge, group } => group::del_groups(&ctx, bridge, group).await,
        Command::DumpGroups { bridge, group } => group::dump_groups(&ctx, bridge, group).await,
        Command::DumpGroupStats { bridge, group } => {
            group::dump_group_stats(&ctx, bridge, group).await
        }
        Command::AddTlvMap { bridge, maps } => tlv::add_tlv_map(&ctx, bridge, maps).await,
        Command::DelTlvMap { bridge, maps } => tlv::del_tlv_map(&ctx, bridge, maps).await,
        Command::DumpTlvMap { bridge } => tlv::dump_tlv_map(&ctx, bridge).await,
        Command::AddMeter { bridge, meter } => meter::add_meter(&ctx, bridge, meter).await,
        Command::ModMeter { bridge, meter } => meter::mod_meter_cmd(&ctx, bridge, meter).await,
        Command::DelMeter { bridge, meter } | Command::DelMeters { bridge, meter } => {
            meter::del_meter(&ctx, bridge, meter).await
        }
        Command::DumpMeters { bridge, meter } => meter::dump_meters(&ctx, bridge, meter).await,
        Command::MeterStats { bridge, meter } => meter::meter_stats(&ctx, bridge, meter).await,
        Command::AddMirror {
            bridge,
            name,
            select_src_port,
            select_dst_port,
            select_vlan,
            output_port,
            output_vlan,
        } => {
            let a = mirror::AddMirror {
                bridge,
                name,
                select_src_port,
                select_dst_port,
                select_vlan,
                output_port,
                output_vlan,
            };
            mirror::add_mirror(&ctx, a).await
        }
        Command::DelMirror { bridge, name } => mirror::del_mirror(&ctx, bridge, name).await,
        Command::ListMirrors { bridge } => mirror::list_mirrors(&ctx, bridge).await,
        Command::Trace(t) => diag::trace(&ctx, t).await,
        Command::DumpMegaflows { bridge } => diag::dump_megaflows(&ctx, bridge).await,
        Command::FlushMegaflows => diag::flush_megaflows(&ctx).await,
        Command::DatapathStats => diag::datapath_stats(&ctx).await,
        Command::FdbShow { bridge } => diag::fdb_show(&ctx, bridge).await,
        Command::DumpConntrack { zone } => diag::dump_conntrack(&ctx, zone).await,
        Command::FlushConntrack { zone, orig, reply } => {
            diag::flush_conntrack(&ctx, zone, orig.as_deref(), reply.as_deref()).await
        }
        Command::CtLimits { zone, limit } => diag::ct_limits(&ctx, zone, limit).await,
    }
}

/// Ends the process quietly (status 0) when stdout's reader went away
/// (`vswitch-ctl dump-flows br0 | head -1`), as any Unix filter ends, instead of a panic
/// message from `println!`. SIGPIPE itself stays ignored, as the Rust runtime sets it: with
/// its default action, a server that closes the connection while we write (a TLS handshake
/// it refuses) would kill this process silently, with no error message at all.
fn die_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    die_quietly_on_closed_pipe();
    let cli = Cli::parse();
    let format = cli.format;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vswitch-ctl: error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match format {
                Format::Text => eprintln!("vswitch-ctl: error: {e:#}"),
                Format::Json => eprintln!("{}", error_json(&e)),
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_carry_the_status_code() {
        let e = rpc(tonic::Status::not_found("no bridge named br9"));
        assert_eq!(
            error_json(&e),
            serde_json::json!({"error": "no bridge named br9", "code": "NotFound"})
        );
        let e = anyhow::anyhow!("cannot read flows.txt");
        assert_eq!(error_json(&e)["code"], "Unknown");
        let e = rpc(tonic::Status::invalid_argument("")).context("add-flow");
        assert_eq!(error_json(&e)["code"], "InvalidArgument");
    }
}
