//! `vswitchd`: the vswitch daemon.
//!
//! Start-up order matters for operators: everything that can be wrong with the command line,
//! the database or the listeners is found before the daemon reports itself ready, and each
//! such failure exits non-zero with one clear line on stderr. Then it serves until SIGTERM
//! or SIGINT and stops within about two seconds, removing its unix sockets.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fastpath::conntrack::{Conntrack, ConntrackConfig};
use tracing_subscriber::EnvFilter;
use vswitchd::config::{Cli, Config, LogFormat, process_env, running_as_root};
use vswitchd::dataplane::{Dataplane, DataplaneConfig};
use vswitchd::metrics;
use vswitchd::server::{self, Shared};
use vswitchd::store::Store;
use vswitchd::switch::Switch;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vswitchd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&config.log)
        .map_err(|e| anyhow::anyhow!("bad --log '{}': {e}", config.log))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::resolve(cli, &process_env, running_as_root())?;
    init_logging(&config)?;
    let store = Store::open(&config.db)?;
    let conntrack = Arc::new(Conntrack::new(ConntrackConfig::default()));
    let dp_config = DataplaneConfig {
        pmd_threads: config.pmd_threads as usize,
        tap_io: config.tap_io,
        ..DataplaneConfig::default()
    };
    let dataplane = Dataplane::new(dp_config, Some(conntrack));
    let switch = Switch::load(store, Arc::clone(&dataplane))?;
    dataplane.start(config.pmd_threads as usize)?;
    tracing::info!(
        db = %config.db.display(),
        bridges = switch.bridges().count(),
        pmd_threads = config.pmd_threads,
        "configuration loaded"
    );
    let shared = Shared::new(switch, config.pmd_threads);
    if let Some(remote) = &config.ovsdb {
        shared.set_config_owner(remote.to_string());
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("vswitchd-rpc")
        .on_thread_start(raise_rpc_priority)
        .build()?;
    let result = runtime.block_on(async {
        let metrics_task = match config.metrics {
            Some(addr) => {
                let listener = metrics::bind(addr).await?;
                let addr = listener.local_addr().unwrap_or(addr);
                tracing::info!(%addr, "metrics listening");
                let shared = Arc::clone(&shared);
                Some(tokio::spawn(metrics::serve(listener, move || {
                    shared.render_metrics()
                })))
            }
            None => None,
        };
        let ovsdb_task = config
            .ovsdb
            .clone()
            .map(|remote| tokio::spawn(vswitchd::ovsdb_sync::run(remote, Arc::clone(&shared))));
        let ready = || tracing::info!("vswitchd ready");
        let server = server::serve(&config, Arc::clone(&shared), ready, shutdown_signal()?);
        match metrics_task {
            // The metrics listener serves until the daemon stops; if it ends, exit.
            Some(mut task) => tokio::select! {
                r = server => {
                    task.abort();
                    r?;
                }
                j = &mut task => {
                    let why = match j {
                        Ok(()) => "it returned".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    anyhow::bail!("the metrics listener stopped unexpectedly ({why})");
                }
            },
            None => server.await?,
        }
        if let Some(task) = ovsdb_task {
            task.abort();
        }
        anyhow::Ok(())
    });
    runtime.shutdown_timeout(Duration::from_millis(300));
    dataplane.stop();
    result?;
    tracing::info!("stopped");
    Ok(())
}

/// Scheduling priority (nice value) of the gRPC threads.
const RPC_NICE: libc::c_int = -10;

/// Puts the calling gRPC thread ahead of the datapath and maintenance threads when the CPU is
/// short: a datapath thread busy with a flood of new flows must not make the API unresponsive
/// (the threads are idle but for requests, so this takes little from forwarding). Needs
/// `CAP_SYS_NICE`; without it the thread keeps the default priority.
fn raise_rpc_priority() {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    // SAFETY: setpriority on this thread's own id changes only its scheduling priority.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS as _, tid as libc::id_t, RPC_NICE) };
    if rc != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "cannot raise the gRPC thread's priority"
        );
    }
}

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed before returning, so
/// a signal that arrives during start-up is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
