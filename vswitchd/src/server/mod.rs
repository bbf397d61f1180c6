//! The gRPC server: `vswitch.v1` services, health, reflection, listeners and shutdown.
//!
//! Every service shares one [`Shared`]: the [`Switch`] behind a mutex, a published
//! [`SwitchView`], plus metrics. No handler ever blocks an async worker on a lock (two workers
//! serve every connection, health checks included): a mutating RPC runs on tokio's blocking
//! pool (the store's commit fsyncs) with the switch locked, so mutations are serialized and
//! each returns only after its transaction is durable, and publishes a new view when done.
//! Reads never take the switch's mutex: they load the view, and those that read the
//! dataplane under its locks (dumps, trace, counters) run on the blocking pool too. Large
//! dumps stream lazily from snapshot handles ([`dump`]).
//!
//! Limits (DESIGN §9: a client cannot make the daemon allocate without bound): messages are
//! capped at [`proto::MAX_MESSAGE_BYTES`] in both directions, requests carry at most
//! [`MAX_FLOWS_PER_REQUEST`] flow lines and [`MAX_SETTINGS_PER_REQUEST`] settings, and each
//! connection runs at most [`MAX_CONCURRENT_PER_CONNECTION`] calls at once.
//!
//! Status codes (DESIGN §7): `InvalidArgument` names the bad token, `NotFound`,
//! `AlreadyExists`, `ResourceExhausted` for limits, `Unimplemented` for the RPCs whose backing
//! part is not in this build (the message says which part), `Internal` for database failures.

// tonic fixes `Status` (176 bytes) as every handler's error type; helpers share it so `?`
// composes, and a control-plane call is not a hot path.
#![allow(clippy::result_large_err)]

mod bridge;
mod conn;
mod ct_flush;
mod diag;
mod dump;
mod flow;
mod group;
mod listen;
mod meter;
pub mod mgmt;
mod mirror;
mod tlv;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use std::time::Duration;

use proto::v1::bridge_service_server::BridgeServiceServer;
use proto::v1::diag_service_server::DiagServiceServer;
use proto::v1::flow_service_server::FlowServiceServer;
use proto::v1::group_service_server::GroupServiceServer;
use proto::v1::meter_service_server::MeterServiceServer;
use proto::v1::mirror_service_server::MirrorServiceServer;
use tonic::transport::Server;
use tonic::{Code, Status};

use crate::config::{Config, Listen, TlsFiles};
use crate::metrics::{self, RpcCounters};
use crate::switch::{Switch, SwitchError, SwitchView};

pub use conn::ConnLimits;
pub use listen::ListenError;

/// Most flow lines one request may carry.
pub const MAX_FLOWS_PER_REQUEST: usize = 1_000_000;
/// Most settings one `SetPort` may carry.
pub const MAX_SETTINGS_PER_REQUEST: usize = 64;
/// Most concurrent calls per connection.
pub const MAX_CONCURRENT_PER_CONNECTION: usize = 64;
/// How long in-flight calls get to finish after SIGTERM/SIGINT before the server stops anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(1500);

/// State shared by every service.
#[derive(Debug)]
pub struct Shared {
    /// The switch, for mutations only (taken on the blocking pool, never on an async worker).
    switch: Mutex<Switch>,
    /// The model as of the last mutation, for readers (see [`SwitchView`]).
    view: ArcSwap<SwitchView>,
    /// Dumps streaming now (see [`dump`]).
    pub(crate) dumps: Arc<tokio::sync::Semaphore>,
    /// RPC outcome counters, rendered by the metrics endpoint.
    pub rpcs: RpcCounters,
    /// Datapath threads the daemon runs (`--pmd-threads`), reported by datapath-stats.
    pub pmd_threads: u32,
    /// Called with every newly published view, with the switch still locked (so calls are
    /// serialized and in order): the OpenFlow listeners follow the bridges through it.
    on_publish: std::sync::OnceLock<PublishHook>,
    /// With `--ovsdb`: the database that owns bridges, ports, fail modes and settings (see
    /// [`Shared::mutate_config`]).
    config_owner: std::sync::OnceLock<String>,
    /// Every bridge's OpenFlow connections: roles, controller states, fail-open.
    pub controllers: Arc<crate::controller::status::Registry>,
}

/// A function run on every published view (see [`Shared::on_publish`]).
pub struct PublishHook(Box<dyn Fn(&SwitchView) + Send + Sync>);

impl std::fmt::Debug for PublishHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublishHook")
    }
}

impl Shared {
    /// Wraps a loaded switch.
    pub fn new(switch: Switch, pmd_threads: u32) -> Arc<Shared> {
        Arc::new(Shared {
            view: ArcSwap::from_pointee(switch.view()),
            switch: Mutex::new(switch),
            dumps: Arc::new(tokio::sync::Semaphore::new(dump::MAX_CONCURRENT_DUMPS)),
            rpcs: RpcCounters::default(),
            pmd_threads,
            on_publish: std::sync::OnceLock::new(),
            config_owner: std::sync::OnceLock::new(),
            controllers: Arc::default(),
        })
    }

    /// Hands bridges, ports, fail modes and settings to the OVSDB database at `remote`
    /// (`--ovsdb`): from then on the gRPC API refuses to change them, since the database's
    /// next change would silently undo such a write. Flows stay writable (OVSDB has none).
    pub fn set_config_owner(&self, remote: String) {
        let _ = self.config_owner.set(remote);
    }

    /// The OVSDB remote that owns the configuration, if any.
    pub fn config_owner(&self) -> Option<&str> {
        self.config_owner.get().map(String::as_str)
    }

    /// Installs the hook run on every published view (once; later calls are ignored) and
    /// runs it on the current view.
    pub fn on_publish(&self, f: impl Fn(&SwitchView) + Send + Sync + 'static) {
        let _guard = self.lock();
        if self.on_publish.set(PublishHook(Box::new(f))).is_ok()
            && let Some(h) = self.on_publish.get()
        {
            (h.0)(&self.view());
        }
    }

    /// The model as of the last completed mutation; never waits.
    pub fn view(&self) -> Arc<SwitchView> {
        self.view.load_full()
    }

    /// Locks the switch. A panic while it was held cannot have left it half-changed (changes
    /// are applied in memory only after a successful commit, in infallible steps), so a
    /// poisoned lock is still sound to use. Blocks: call only on the blocking pool.
    fn lock(&self) -> MutexGuard<'_, Switch> {
        self.switch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the switch locked and publishes the new view afterwards, for control
    /// planes other than the gRPC handlers (the OVSDB sync). Blocks: call only on the blocking
    /// pool.
    pub fn with_switch<R>(&self, f: impl FnOnce(&mut Switch) -> R) -> R {
        let mut sw = self.lock();
        let r = f(&mut sw);
        let view = Arc::new(sw.view());
        self.view.store(Arc::clone(&view));
        if let Some(h) = self.on_publish.get() {
            (h.0)(&view);
        }
        r
    }

    /// Runs a mutation on the blocking pool with the switch locked, then publishes the new
    /// view before returning (so a client that changed something sees it on its next read).
    async fn mutate<R, F>(self: &Arc<Self>, f: F) -> Result<R, Status>
    where
        R: Send + 'static,
        F: FnOnce(&mut Switch) -> Result<R, SwitchError> + Send + 'static,
    {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || shared.with_switch(f))
            .await
            .map_err(|e| Status::internal(format!("request handler failed: {e}")))?
            .map_err(status)
    }

    /// [`Shared::mutate`] for a change of bridges, ports, fail modes or settings: refused with
    /// `FAILED_PRECONDITION` when the OVSDB database owns them.
    async fn mutate_config<R, F>(self: &Arc<Self>, f: F) -> Result<R, Status>
    where
        R: Send + 'static,
        F: FnOnce(&mut Switch) -> Result<R, SwitchError> + Send + 'static,
    {
        if let Some(remote) = self.config_owner() {
            return Err(Status::failed_precondition(format!(
                "this switch takes its bridges, ports, controllers, fail modes and settings from the OVSDB \
                 database at {remote} (--ovsdb); change them there, e.g. with \
                 ovs-vsctl --db={remote}"
            )));
        }
        self.mutate(f).await
    }

    /// Runs a read that may wait on the dataplane's locks (dumps, trace, counters) on the
    /// blocking pool, against the current view: an async worker never blocks on a lock.
    async fn read<R, F>(self: &Arc<Self>, f: F) -> Result<R, Status>
    where
        R: Send + 'static,
        F: FnOnce(&SwitchView) -> Result<R, Status> + Send + 'static,
    {
        let view = self.view();
        tokio::task::spawn_blocking(move || f(&view))
            .await
            .map_err(|e| Status::internal(format!("request handler failed: {e}")))?
    }

    /// Counts the outcome of a call to `method` and passes the result through.
    fn finish<T>(&self, method: &'static str, r: Result<T, Status>) -> Result<T, Status> {
        let code = match &r {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        };
        self.rpcs.record(method, code_name(code));
        r
    }

    /// The Prometheus text for a scrape.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        {
            let sw = self.view();
            let bridges: Vec<_> = sw.bridges().collect();
            metrics::gauge(
                &mut out,
                "vswitch_bridges",
                "Bridges configured.",
                &[(String::new(), bridges.len() as u64)],
            );
            let per = |f: &dyn Fn(&crate::switch::Bridge) -> u64| -> Vec<(String, u64)> {
                bridges
                    .iter()
                    .map(|b| {
                        (
                            format!("bridge=\"{}\"", metrics::label_value(b.name())),
                            f(b),
                        )
                    })
                    .collect()
            };
            metrics::gauge(
                &mut out,
                "vswitch_ports",
                "Ports configured, per bridge.",
                &per(&|b| b.port_count() as u64),
            );
            metrics::gauge(
                &mut out,
                "vswitch_flows",
                "OpenFlow rules stored, per bridge.",
                &per(&|b| b.flow_count() as u64),
            );
            let mut connected = Vec::new();
            let mut fail_open = Vec::new();
            for b in &bridges {
                let (reports, open) = self.controllers.report(b.name(), b.controllers());
                for r in reports {
                    connected.push((
                        format!(
                            "bridge=\"{}\",target=\"{}\",role=\"{}\"",
                            metrics::label_value(b.name()),
                            metrics::label_value(&r.target),
                            r.role.map_or("", |r| r.as_str())
                        ),
                        u64::from(r.is_connected),
                    ));
                }
                fail_open.push((
                    format!("bridge=\"{}\"", metrics::label_value(b.name())),
                    u64::from(open),
                ));
            }
            metrics::gauge(
                &mut out,
                "vswitch_controller_connected",
                "1 if the controller target has a connection past the OpenFlow handshake.",
                &connected,
            );
            metrics::gauge(
                &mut out,
                "vswitch_bridge_fail_open",
                "1 while the bridge fails open (no controller connected, standalone).",
                &fail_open,
            );
            metrics::gauge(
                &mut out,
                "vswitch_flow_limit",
                "Megaflow limit.",
                &[(String::new(), sw.settings().flow_limit)],
            );
            render_dataplane(&mut out, &sw);
            mirror::render_metrics(&mut out, &sw);
        }
        for (name, help, v) in metrics::process_stats() {
            metrics::gauge(&mut out, name, help, &[(String::new(), v)]);
        }
        metrics::gauge(
            &mut out,
            "vswitch_pmd_threads",
            "Datapath threads requested.",
            &[(String::new(), u64::from(self.pmd_threads))],
        );
        self.rpcs.render(&mut out);
        out
    }
}

/// Datapath, per-port and conntrack counters.
fn render_dataplane(out: &mut String, sw: &SwitchView) {
    let dp = sw.dataplane();
    let st = dp.stats();
    let one = |v: u64| [(String::new(), v)];
    metrics::counter(
        out,
        "vswitch_dp_packets_total",
        "Packets received by the datapath.",
        &one(st.packets),
    );
    metrics::counter(
        out,
        "vswitch_dp_microflow_hits_total",
        "Packets that hit the microflow cache.",
        &one(st.microflow_hits),
    );
    metrics::counter(
        out,
        "vswitch_dp_megaflow_hits_total",
        "Packets that hit a megaflow.",
        &one(st.megaflow_hits),
    );
    metrics::counter(
        out,
        "vswitch_dp_upcalls_total",
        "Misses sent to the slow path.",
        &one(st.upcalls),
    );
    metrics::counter(
        out,
        "vswitch_dp_lost_total",
        "Misses dropped over the per-port upcall budget.",
        &one(st.lost),
    );
    metrics::counter(
        out,
        "vswitch_dp_revalidated_total",
        "Megaflows re-translated by the revalidator.",
        &one(st.revalidated),
    );
    metrics::counter(
        out,
        "vswitch_dp_evicted_total",
        "Megaflows evicted at the flow limit.",
        &one(st.evicted),
    );
    metrics::counter(
        out,
        "vswitch_dp_expired_total",
        "Megaflows expired idle.",
        &one(st.expired),
    );
    metrics::gauge(
        out,
        "vswitch_dp_megaflows",
        "Megaflows installed.",
        &one(st.megaflows),
    );
    let drops: Vec<(String, u64)> = fastpath::dpif::DropReason::all()
        .zip(st.drops.iter())
        .map(|(r, n)| (format!("reason=\"{}\"", r.name()), *n))
        .collect();
    metrics::counter(
        out,
        "vswitch_dp_drops_total",
        "Packets dropped, by reason.",
        &drops,
    );
    metrics::slow_path(out, &dp.slow_stats());
    let mut rx = Vec::new();
    let mut rx_bytes = Vec::new();
    let mut tx = Vec::new();
    let mut tx_bytes = Vec::new();
    let mut port_drops = Vec::new();
    let mut up = Vec::new();
    for b in sw.bridges() {
        let Ok(reports) = dp.port_reports(b.name(), None) else {
            continue;
        };
        for r in reports {
            let l = format!(
                "bridge=\"{}\",port=\"{}\"",
                metrics::label_value(b.name()),
                metrics::label_value(&r.name)
            );
            rx.push((l.clone(), r.stats.rx_packets));
            rx_bytes.push((l.clone(), r.stats.rx_bytes));
            tx.push((l.clone(), r.stats.tx_packets));
            tx_bytes.push((l.clone(), r.stats.tx_bytes));
            up.push((l.clone(), u64::from(r.up)));
            port_drops.push((format!("{l},reason=\"rx_dropped\""), r.stats.rx_dropped));
            port_drops.push((format!("{l},reason=\"tx_dropped\""), r.stats.tx_dropped));
            if let Some(d) = &r.dp {
                for (i, n) in d.drops.iter().enumerate() {
                    if *n > 0
                        && let Some(reason) = fastpath::dpif::DropReason::all().nth(i)
                    {
                        port_drops.push((format!("{l},reason=\"{}\"", reason.name()), *n));
                    }
                }
            }
        }
    }
    metrics::counter(
        out,
        "vswitch_port_rx_packets_total",
        "Packets received, per port.",
        &rx,
    );
    metrics::counter(
        out,
        "vswitch_port_rx_bytes_total",
        "Bytes received, per port.",
        &rx_bytes,
    );
    metrics::counter(
        out,
        "vswitch_port_tx_packets_total",
        "Packets sent, per port.",
        &tx,
    );
    metrics::counter(
        out,
        "vswitch_port_tx_bytes_total",
        "Bytes sent, per port.",
        &tx_bytes,
    );
    metrics::counter(
        out,
        "vswitch_port_drops_total",
        "Packets dropped, per port and reason.",
        &port_drops,
    );
    metrics::gauge(
        out,
        "vswitch_port_up",
        "1 if the port's device is attached and up.",
        &up,
    );
    if let Some(ct) = dp.conntrack() {
        let c = ct.stats();
        metrics::gauge(
            out,
            "vswitch_ct_entries",
            "Conntrack connections.",
            &one(c.entries),
        );
        metrics::counter(
            out,
            "vswitch_ct_created_total",
            "Connections created.",
            &one(c.created),
        );
        metrics::counter(
            out,
            "vswitch_ct_limit_drops_total",
            "Commits refused by a limit.",
            &[
                ("limit=\"global\"".to_string(), c.global_limit_drops),
                ("limit=\"zone\"".to_string(), c.zone_limit_drops),
            ],
        );
        metrics::counter(
            out,
            "vswitch_ct_invalid_total",
            "Packets marked +inv.",
            &one(c.invalid_total()),
        );
    }
}

/// The gRPC code's name as in `tonic::Code`'s Debug form (`Ok`, `NotFound`, ...).
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "Ok",
        Code::Cancelled => "Cancelled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Maps a switch error to its status code (DESIGN §7).
pub fn status(e: SwitchError) -> Status {
    let msg = crate::quote::cap(crate::report::chain(&e));
    match e {
        SwitchError::InvalidName { .. } | SwitchError::Invalid(_) | SwitchError::Table(_) => {
            Status::invalid_argument(msg)
        }
        SwitchError::BridgeNotFound(_)
        | SwitchError::PortNotFound { .. }
        | SwitchError::MirrorNotFound { .. } => Status::not_found(msg),
        SwitchError::BridgeExists(_)
        | SwitchError::NameInUse(_)
        | SwitchError::OfportInUse { .. } => Status::already_exists(msg),
        SwitchError::Limit(_) => Status::resource_exhausted(msg),
        SwitchError::UnmappedTlv(_) => Status::invalid_argument(msg),
        SwitchError::Tlv(t) => {
            use fastpath::flow::tlv::TlvError as T;
            match t {
                T::AlreadyMapped(_) | T::DupEntry(..) => Status::already_exists(msg),
                T::InUse(_) => Status::failed_precondition(msg),
                T::BadOptLen(_) | T::BadFieldIdx(_) => Status::invalid_argument(msg),
            }
        }
        SwitchError::Store(_) => {
            tracing::error!(error = %msg, "config database failure");
            Status::internal(msg)
        }
        SwitchError::Dataplane(d) => {
            use crate::dataplane::DataplaneError as D;
            match d {
                D::NoSuchBridge(_) | D::NoSuchPort(_) => Status::not_found(msg),
                D::BridgeExists(_) | D::PortExists(_) | D::OfportInUse(_) => {
                    Status::already_exists(msg)
                }
                D::FlowMod(_) | D::Trace(_) | D::PacketOut(_) => Status::invalid_argument(msg),
                D::StaleContinuation => Status::failed_precondition(msg),
            }
        }
    }
}

/// The `Unimplemented` status for an RPC whose backing part is not in this build.
pub(crate) fn not_in_build(what: &str, part: &str) -> Status {
    Status::unimplemented(format!(
        "{what} is not available: this vswitchd build has no {part} yet"
    ))
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// TLS material could not be read or used.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// gRPC reflection could not be built from the descriptor set.
    #[error("gRPC reflection setup failed: {0}")]
    Reflection(String),
    /// A listener stopped serving while the daemon was running.
    #[error("gRPC listener {0} stopped unexpectedly; exiting so that a supervisor restarts us")]
    ListenerEnded(String),
}

/// Serves every configured listener until `shutdown` resolves, then gives in-flight calls
/// [`SHUTDOWN_GRACE`] to finish and removes the unix sockets it created. Returns once every
/// listener is bound and `ready` was called, or with the first set-up error.
pub async fn serve(
    config: &Config,
    shared: Arc<Shared>,
    ready: impl FnOnce(),
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let max = proto::MAX_MESSAGE_BYTES;
    let bridge = BridgeServiceServer::new(bridge::BridgeApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let flow = FlowServiceServer::new(flow::FlowApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let diag = DiagServiceServer::new(diag::DiagApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let group = GroupServiceServer::new(group::GroupApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let meter = MeterServiceServer::new(meter::MeterApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let mirror = MirrorServiceServer::new(mirror::MirrorApi::new(Arc::clone(&shared)))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let (mut reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_serving::<BridgeServiceServer<bridge::BridgeApi>>()
        .await;
    reporter
        .set_serving::<FlowServiceServer<flow::FlowApi>>()
        .await;
    reporter
        .set_serving::<DiagServiceServer<diag::DiagApi>>()
        .await;
    reporter
        .set_serving::<GroupServiceServer<group::GroupApi>>()
        .await;
    reporter
        .set_serving::<MeterServiceServer<meter::MeterApi>>()
        .await;
    reporter
        .set_serving::<MirrorServiceServer<mirror::MirrorApi>>()
        .await;
    let reflection = |b: tonic_reflection::server::Builder<'static>| {
        b.register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection(tonic_reflection::server::Builder::configure())
        .build_v1()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection(tonic_reflection::server::Builder::configure())
        .build_v1alpha()
        .map_err(|e| ServerError::Reflection(e.to_string()))?;

    let tls = match &config.tls {
        Some(files) => Some(tls_config(files)?),
        None => None,
    };
    let mut bound = Vec::new();
    for l in &config.listen {
        bound.push(listen::bind(l, config.listen_group).await?);
    }
    for b in &bound {
        tracing::info!(listen = %b.describe(), "gRPC listening");
    }
    let openflow = mgmt::Mgmt::start(&config.rundir, &shared);
    ready();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut sockets = Vec::new();
    let limits = ConnLimits::for_listeners(bound.len());
    tracing::debug!(
        max_conns = limits.max_conns,
        "per-listener connection limit"
    );
    for b in bound {
        let mut builder =
            Server::builder().concurrency_limit_per_connection(MAX_CONCURRENT_PER_CONNECTION);
        if let (Listen::Tcp { tls: true, .. }, Some(tls)) = (b.listen(), &tls) {
            builder = builder
                .tls_config(tls.clone())
                .map_err(|e| ServerError::Tls(e.to_string()))?;
        }
        let router = builder
            .add_service(health.clone())
            .add_service(reflection_v1.clone())
            .add_service(reflection_v1alpha.clone())
            .add_service(bridge.clone())
            .add_service(flow.clone())
            .add_service(diag.clone())
            .add_service(group.clone())
            .add_service(meter.clone())
            .add_service(mirror.clone());
        let mut stop = stop_rx.clone();
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Listen::Unix(path) = b.listen() {
            sockets.push(path.clone());
        }
        let what = b.describe();
        tasks.spawn(async move { (what, b.serve(router, limits, signal).await) });
    }

    let expiry = tokio::spawn(expire_flows_forever(Arc::clone(&shared)));
    let learner = tokio::spawn(apply_learned_forever(Arc::clone(&shared)));
    // A listener must serve until shutdown: one that ends before is an error, and the daemon
    // exits rather than run on deaf.
    let mut ended = None;
    tokio::select! {
        () = shutdown => {}
        Some(r) = tasks.join_next() => {
            let (what, why) = match r {
                Ok((what, Ok(()))) => (what, "it returned".to_owned()),
                Ok((what, Err(e))) => (what, e.to_string()),
                Err(e) => ("(unknown)".to_owned(), e.to_string()),
            };
            tracing::error!(listen = %what, error = %why, "gRPC listener stopped");
            ended = Some(what);
        }
    }
    tracing::info!("shutting down");
    expiry.abort();
    learner.abort();
    openflow.shutdown();
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(r) = tasks.join_next().await {
            if let Ok((what, Err(e))) = r {
                tracing::warn!(listen = %what, error = %e, "listener ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("calls still running after the grace period; stopping anyway");
        tasks.abort_all();
    }
    for path in sockets {
        let _ = std::fs::remove_file(&path);
    }
    match ended {
        Some(what) => Err(ServerError::ListenerEnded(what)),
        None => Ok(()),
    }
}

/// How often rule timeouts are checked (OpenFlow timeouts have one-second resolution).
const EXPIRY_PERIOD: Duration = Duration::from_secs(1);

/// Removes rules whose idle or hard timeout passed, durably, once per [`EXPIRY_PERIOD`].
async fn expire_flows_forever(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EXPIRY_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match shared.mutate(|sw| Ok(sw.expire_flows())).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(expired = n, "flows timed out"),
            Err(e) => tracing::warn!(error = %e.message(), "flow expiry failed"),
        }
    }
}

/// How long a wake-up waits for more learned flows before applying the batch.
const LEARN_BATCH_DELAY: Duration = Duration::from_millis(2);

/// Applies the flows `learn` actions queue, in batches, between the switch's other changes
/// (holding the switch lock, so no flow command is between planning and executing; see
/// `xlate::learn`). Learned flows are not stored: like OVS's, they are state the traffic
/// rebuilds, and they do not change the published view.
async fn apply_learned_forever(shared: Arc<Shared>) {
    let s = Arc::clone(&shared);
    let Ok(queue) = tokio::task::spawn_blocking(move || {
        Arc::clone(s.lock().dataplane().slow_path().learn_queue())
    })
    .await
    else {
        return;
    };
    loop {
        queue.ready().await;
        tokio::time::sleep(LEARN_BATCH_DELAY).await;
        let s = Arc::clone(&shared);
        match tokio::task::spawn_blocking(move || s.lock().apply_learned()).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(learned = n, "learned flows installed"),
            Err(e) => tracing::warn!(error = %e, "applying learned flows failed"),
        }
    }
}

fn tls_config(files: &TlsFiles) -> Result<tonic::transport::ServerTlsConfig, ServerError> {
    let read = |what: &str, p: &std::path::Path| {
        std::fs::read(p)
            .map_err(|e| ServerError::Tls(format!("cannot read {what} {}: {e}", p.display())))
    };
    let cert = read("--tls-cert", &files.cert)?;
    let key = read("--tls-key", &files.key)?;
    let ca = read("--tls-client-ca", &files.client_ca)?;
    let config = tonic::transport::ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(cert, key))
        .client_ca_root(tonic::transport::Certificate::from_pem(ca));
    // Build once now so bad PEM files stop start-up instead of failing each handshake.
    Server::builder().tls_config(config.clone()).map_err(|e| {
        ServerError::Tls(format!("{e} (check --tls-cert/--tls-key/--tls-client-ca)"))
    })?;
    Ok(config)
}
