//! `vswitch-ctl`: the command line over vswitchd's gRPC API (DESIGN §4).
//!
//! Every command is exactly one gRPC call (offline `trace --flows` makes none); text output
//! is for people, `--format json` for scripts. Errors go to stderr as one
//! `vswitch-ctl: error: ...` line with exit status 1 (2 for command-line mistakes, from clap).

mod bridge;
mod cli;
mod connect;
mod diag;
mod flow;
mod output;
mod progress;

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
                connect::connect(&server, self.tls.as_ref()).await
            })
            .await
            .cloned()
    }
}

/// A failed call, as the daemon explained it.
pub fn rpc(s: tonic::Status) -> anyhow::Error {
    if s.message().is_empty() {
        anyhow::anyhow!("vswitchd answered {:?}", s.code())
    } else {
        anyhow::anyhow!("{}", s.message())
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
        Command::AddBr { bridge } => bridge::add_br(&ctx, bridge).await,
        Command::DelBr { bridge } => bridge::del_br(&ctx, bridge).await,
        Command::ListBr => bridge::list_br(&ctx).await,
        Command::Show => bridge::show(&ctx).await,
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
        } => flow::dump_flows(&ctx, bridge, r#match, table).await,
        Command::DumpPorts { bridge, port } => flow::dump_ports(&ctx, bridge, port).await,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            eprintln!("vswitch-ctl: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
