//! The OpenFlow management sockets: every bridge listens on `punix:RUNDIR/BRIDGE.mgmt`, as
//! `ovs-vswitchd` does, so `ovs-ofctl` and controllers can program it.
//!
//! The listeners follow the bridges. [`Mgmt::reconcile`] runs as the [`Shared`] publish hook,
//! i.e. with the switch locked, right after every mutation: a bridge that appeared gets its
//! socket bound there and then (so when `add-br` returns, `ovs-ofctl` can connect), and a
//! bridge that went away has its socket removed and its connections closed. Binding is a
//! plain `bind(2)`, cheap enough to do under the lock; the accept loop and the connections
//! run as tasks on the gRPC runtime.
//!
//! Protocol logic lives in [`crate::openflow`]; this module and [`conn`] only move bytes.
//! [`request`] carries each decoded request to the switch through the same paths as gRPC
//! ([`Shared::with_switch`] on the blocking pool for changes, the published view for
//! reads), so there is one rule model, one durability rule and one revalidation path.
//!
//! Limits: at most [`Mgmt::max_conns`] connections over all bridges (from the descriptor
//! budget, at most [`MAX_CONNECTIONS`]); one past the cap is accepted and closed at once, so
//! the client sees a closed connection rather than a hang. Per connection memory is bounded
//! by [`conn`] (one read buffer, one partial message, replies streamed in chunks).

mod conn;
mod controller;
pub mod hub;
mod request;
mod stats;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{Semaphore, watch};

use super::Shared;
use super::listen::SOCKET_MODE;
use crate::switch::SwitchView;

/// Most OpenFlow connections at once, over all bridges.
pub const MAX_CONNECTIONS: usize = 4096;

/// One bridge's listener: dropping it stops the accept loop and every connection of the
/// bridge, and removes the socket file.
#[derive(Debug)]
struct BridgeListener {
    path: PathBuf,
    _stop: watch::Sender<bool>,
}

impl Drop for BridgeListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The OpenFlow listeners of every bridge.
#[derive(Debug)]
pub struct Mgmt {
    rundir: PathBuf,
    runtime: tokio::runtime::Handle,
    shared: Weak<Shared>,
    listeners: Mutex<BTreeMap<String, BridgeListener>>,
    conns: Arc<Semaphore>,
    max_conns: usize,
    /// Set at shutdown: no listener is created after it.
    closed: std::sync::atomic::AtomicBool,
    /// The bridges' controller connections.
    controllers: controller::Controllers,
    /// Where asynchronous messages meet the connections.
    hub: Arc<hub::Hub>,
}

impl Mgmt {
    /// Starts serving OpenFlow for every bridge of `shared`, now and as bridges come and go;
    /// must be called inside the runtime that will run the connections.
    pub fn start(rundir: &Path, shared: &Arc<Shared>) -> Arc<Mgmt> {
        let max_conns = max_connections();
        let conns = Arc::new(Semaphore::new(max_conns));
        let hub = Arc::new(hub::Hub::default());
        let mgmt = Arc::new(Mgmt {
            rundir: rundir.to_path_buf(),
            runtime: tokio::runtime::Handle::current(),
            shared: Arc::downgrade(shared),
            listeners: Mutex::new(BTreeMap::new()),
            conns: Arc::clone(&conns),
            max_conns,
            closed: std::sync::atomic::AtomicBool::new(false),
            controllers: controller::Controllers::new(
                tokio::runtime::Handle::current(),
                Arc::downgrade(shared),
                conns,
                Arc::clone(&hub),
            ),
            hub,
        });
        let dp = Arc::clone(shared.view().dataplane());
        if let Some(punted) = dp.take_punted() {
            let frozen = move |id| dp.frozen(id);
            mgmt.runtime
                .spawn(hub::dispatch(punted, Arc::clone(&mgmt.hub), frozen));
        }
        // Removed `send_flow_rem` rules become flow-removed messages on every connection.
        let hub = Arc::clone(&mgmt.hub);
        shared
            .lock()
            .set_flow_removed_sink(crate::switch::FlowRemovedSink(Arc::new(
                move |bridge: &str, flows: Vec<crate::openflow::flow_removed::RemovedFlow>| {
                    for f in flows {
                        hub.publish(bridge, hub::AsyncMsg::FlowRemoved(f));
                    }
                },
            )));
        let weak = Arc::downgrade(&mgmt);
        shared.on_publish(move |view| {
            if let Some(m) = weak.upgrade() {
                m.reconcile(view);
            }
        });
        mgmt
    }

    /// Stops every listener and connection and removes the sockets (daemon shutdown).
    pub fn shutdown(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.controllers.shutdown();
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The asynchronous-message hub (controller connections register here too).
    pub fn hub(&self) -> &Arc<hub::Hub> {
        &self.hub
    }

    /// The connection cap.
    pub fn max_conns(&self) -> usize {
        self.max_conns
    }

    /// The socket path of `bridge`.
    pub fn socket_path(&self, bridge: &str) -> PathBuf {
        self.rundir.join(format!("{bridge}.mgmt"))
    }

    /// Binds sockets for new bridges and drops those of deleted ones.
    fn reconcile(&self, view: &SwitchView) {
        let mut ls = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let gone: Vec<String> = ls
            .keys()
            .filter(|b| view.bridge(b).is_err())
            .cloned()
            .collect();
        self.controllers.reconcile(view);
        for b in gone {
            ls.remove(&b);
            if let Some(shared) = self.shared.upgrade() {
                shared.controllers.remove(&b);
            }
            tracing::info!(bridge = %b, "OpenFlow listener removed");
        }
        for b in view.bridges() {
            if ls.contains_key(b.name()) {
                continue;
            }
            match self.listen(b.name()) {
                Ok(l) => {
                    tracing::info!(bridge = b.name(), path = %l.path.display(), "OpenFlow listening");
                    ls.insert(b.name().to_owned(), l);
                }
                Err(e) => tracing::error!(
                    bridge = b.name(),
                    error = %crate::report::chain(&e),
                    "cannot listen for OpenFlow"
                ),
            }
        }
    }

    fn listen(&self, bridge: &str) -> std::io::Result<BridgeListener> {
        std::fs::create_dir_all(&self.rundir)?;
        let path = self.socket_path(bridge);
        // A socket left by a bridge of an earlier run is ours to replace (as in OVS).
        if let Ok(m) = std::fs::symlink_metadata(&path)
            && m.file_type().is_socket()
        {
            std::fs::remove_file(&path)?;
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE))?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _enter = self.runtime.enter();
            tokio::net::UnixListener::from_std(std_listener)?
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let ctx = conn::Ctx {
            bridge: bridge.to_owned(),
            shared: self.shared.clone(),
            stop: stop_rx,
            probe_ms: conn::PROBE_INTERVAL_MS,
            hub: Arc::clone(&self.hub),
            kind: hub::ConnKind::Service,
        };
        self.runtime
            .spawn(accept_loop(listener, ctx, Arc::clone(&self.conns)));
        Ok(BridgeListener {
            path,
            _stop: stop_tx,
        })
    }
}

/// Accepts until the bridge's listener is dropped.
async fn accept_loop(listener: tokio::net::UnixListener, ctx: conn::Ctx, conns: Arc<Semaphore>) {
    let mut stop = ctx.stop.clone();
    let mut full_warned = false;
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(bridge = %ctx.bridge, error = %e, "OpenFlow accept failed");
                // Out of descriptors: give connections time to close.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&conns).try_acquire_owned() else {
            if !full_warned {
                tracing::warn!(bridge = %ctx.bridge, "too many OpenFlow connections; closing new ones");
                full_warned = true;
            }
            drop(stream);
            continue;
        };
        full_warned = false;
        let ctx = ctx.clone();
        let seat = ctx
            .shared
            .upgrade()
            .map(|s| s.controllers.bridge(&ctx.bridge).roles.seat());
        let Some(seat) = seat else {
            return;
        };
        tokio::spawn(async move {
            conn::run(stream, ctx, seat).await;
            drop(permit);
        });
    }
}

/// The cap from the soft descriptor limit: half of what is left after the reserve.
fn max_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 1024,
        rlim_max: 1024,
    };
    // SAFETY: getrlimit writes into the struct we pass and has no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        lim.rlim_cur = 1024;
    }
    let budget = lim.rlim_cur.saturating_sub(super::conn::RESERVED_FDS) / 2;
    (budget as usize).clamp(16, MAX_CONNECTIONS)
}
