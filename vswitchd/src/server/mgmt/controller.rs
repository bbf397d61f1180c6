//! The bridges' controller connections, as OVS's connmgr and rconn run them.
//!
//! [`Controllers::reconcile`] follows the published view (it runs from the same publish hook
//! as the mgmt listeners): every `(bridge, target)` pair gets one task, started when the
//! target appears and stopped when it goes (or its bridge does); a target that stays keeps
//! its connection. Each bridge with controllers also gets a fail-open watcher.
//!
//! - Active targets (`tcp:`, `unix:`) connect, run the OpenFlow session ([`super::conn::run`],
//!   the handler every mgmt connection runs) and, when it ends or the connect fails, wait and
//!   retry. The wait follows rconn: it starts at [`MIN_BACKOFF`] and doubles up to
//!   [`MAX_BACKOFF`]; a connection that lasted longer than the current wait resets it. The
//!   inactivity probe is [`PROBE_MS`]: an echo request after that much silence, the
//!   connection dropped after twice that.
//! - Passive targets (`ptcp:`, `punix:`) listen and serve every peer, within the same
//!   connection cap as the mgmt sockets; a bind that fails is retried with the same backoff.
//! - Fail-open (OVS's fail-open.c): a `standalone` bridge whose controllers have all been
//!   disconnected for [`FAIL_OPEN_DELAY`] (three probe intervals, so every controller had
//!   the chance to be probed and reconnect) gets the hidden fail-open rule (see
//!   [`crate::ofproto::table::FlowTables::set_fail_open`]): NORMAL switching over every other
//!   rule, which stay untouched. It goes as soon as a controller is connected again. A
//!   `secure` bridge never fails open: it keeps forwarding by the flows it has.
//!
//! Nothing here runs on a datapath thread; the only lock taken on the slow path is the
//! short write that swaps the fail-open rule in or out (and revalidates), once per change.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};

use super::conn;
use crate::controller::status::{BridgeCtl, State};
use crate::controller::target::Target;
use crate::server::Shared;
use crate::store::FailMode;
use crate::switch::SwitchView;

/// First wait before reconnecting (OVS's rconn: 1 s).
pub const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between attempts (OVS's default `max_backoff`: 8 s).
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// Inactivity probe of controller connections (OVS's default: 5 s).
pub const PROBE_MS: u64 = 5_000;
/// Disconnection after which a standalone bridge fails open (OVS: 3 probe intervals).
pub const FAIL_OPEN_DELAY: Duration = Duration::from_millis(3 * PROBE_MS);
/// Longest a connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The controller tasks of every bridge.
#[derive(Debug)]
pub struct Controllers {
    runtime: tokio::runtime::Handle,
    shared: Weak<Shared>,
    conns: Arc<Semaphore>,
    /// Where asynchronous messages meet the connections.
    hub: Arc<super::hub::Hub>,
    /// `(bridge, target)` → its task's stop switch (dropping it stops the task).
    targets: Mutex<BTreeMap<(String, String), watch::Sender<bool>>>,
    /// Bridge → its fail-open watcher's stop switch.
    watchers: Mutex<BTreeMap<String, watch::Sender<bool>>>,
}

impl Controllers {
    pub fn new(
        runtime: tokio::runtime::Handle,
        shared: Weak<Shared>,
        conns: Arc<Semaphore>,
        hub: Arc<super::hub::Hub>,
    ) -> Controllers {
        Controllers {
            runtime,
            shared,
            conns,
            hub,
            targets: Mutex::new(BTreeMap::new()),
            watchers: Mutex::new(BTreeMap::new()),
        }
    }

    /// Stops every task (daemon shutdown).
    pub fn shutdown(&self) {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Starts the tasks of new targets and stops those of removed ones.
    pub fn reconcile(&self, view: &SwitchView) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let registry = &shared.controllers;
        let mut want: BTreeMap<(String, String), Target> = BTreeMap::new();
        for b in view.bridges() {
            for t in b.controllers() {
                if let Ok(parsed) = t.parse::<Target>() {
                    want.insert((b.name().to_owned(), t.clone()), parsed);
                }
            }
        }
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        targets.retain(|k, _| want.contains_key(k));
        for ((bridge, name), target) in want {
            let key = (bridge.clone(), name.clone());
            if targets.contains_key(&key) {
                continue;
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            let ctx = conn::Ctx {
                bridge: bridge.clone(),
                shared: self.shared.clone(),
                stop: stop_rx,
                probe_ms: PROBE_MS,
                hub: Arc::clone(&self.hub),
                kind: super::hub::ConnKind::Controller,
            };
            let bc = registry.bridge(&bridge);
            bc.set_state(
                &name,
                if target.is_active() {
                    State::Connecting
                } else {
                    State::Listening
                },
                None,
            );
            tracing::info!(bridge = %bridge, target = %name, "controller added");
            if target.is_active() {
                self.runtime.spawn(active(target, name, ctx, bc));
            } else {
                self.runtime
                    .spawn(passive(target, name, ctx, bc, Arc::clone(&self.conns)));
            }
            targets.insert(key, stop_tx);
        }
        let with: Vec<String> = view
            .bridges()
            .filter(|b| !b.controllers().is_empty())
            .map(|b| b.name().to_owned())
            .collect();
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|b, _| with.contains(b));
        for b in with {
            if watchers.contains_key(&b) {
                continue;
            }
            let (tx, rx) = watch::channel(false);
            let bc = registry.bridge(&b);
            bc.reset_clock();
            self.runtime
                .spawn(watch_fail_open(b.clone(), self.shared.clone(), bc, rx));
            watchers.insert(b, tx);
        }
        for b in view.bridges() {
            if b.controllers().is_empty() && !watchers.contains_key(b.name()) {
                registry.bridge(b.name()).set_fail_open(false);
            }
        }
    }
}

/// Waits out `d`; false if the task was stopped meanwhile.
async fn wait(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        r = stop.changed() => r.is_ok() && !*stop.borrow(),
        () = tokio::time::sleep(d) => true,
    }
}

/// Runs one session on a connected stream; returns why it ended.
async fn session<S>(stream: S, name: &str, ctx: &conn::Ctx, bc: &BridgeCtl) -> String
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let seat = bc.roles.seat();
    let id = seat.id();
    bc.track(name, id, true);
    let why = conn::run(stream, ctx.clone(), seat).await;
    bc.track(name, id, false);
    why
}

/// An active target: connect, serve, back off, again, until stopped.
async fn active(target: Target, name: String, ctx: conn::Ctx, bc: Arc<BridgeCtl>) {
    let mut stop = ctx.stop.clone();
    let mut backoff = MIN_BACKOFF;
    loop {
        if *stop.borrow() || stop.has_changed().is_err() {
            break;
        }
        bc.set_state(&name, State::Connecting, None);
        let connected = tokio::select! {
            _ = stop.changed() => break,
            r = tokio::time::timeout(CONNECT_TIMEOUT, connect(&target)) => r,
        };
        let why = match connected {
            Ok(Ok(stream)) => {
                bc.set_state(&name, State::Active, None);
                tracing::info!(bridge = %ctx.bridge, target = %name, "connected to controller");
                let started = Instant::now();
                let why = session(stream, &name, &ctx, &bc).await;
                tracing::warn!(bridge = %ctx.bridge, target = %name, reason = %why, "controller connection closed");
                // A connection that lasted longer than the wait resets it (rconn).
                if started.elapsed() >= backoff {
                    backoff = MIN_BACKOFF;
                }
                why
            }
            Ok(Err(e)) => {
                tracing::debug!(bridge = %ctx.bridge, target = %name, error = %e, "cannot connect to controller");
                e.to_string()
            }
            Err(_) => "connection timed out".to_owned(),
        };
        bc.set_state(&name, State::Backoff, Some(why));
        if !wait(&mut stop, backoff).await {
            break;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    bc.forget(&name);
    tracing::info!(bridge = %ctx.bridge, target = %name, "controller removed");
}

/// Connects to an active target.
async fn connect(target: &Target) -> std::io::Result<Box<dyn Stream>> {
    match target {
        Target::Tcp(a) => {
            let s = tokio::net::TcpStream::connect(a).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
        Target::Unix(p) => Ok(Box::new(tokio::net::UnixStream::connect(p).await?)),
        _ => Err(std::io::Error::other("not an active target")),
    }
}

/// A unix socket file we bound, removed when the listener goes.
struct SocketFile(std::path::PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix {
        listener: tokio::net::UnixListener,
        _file: SocketFile,
    },
}

fn bind(target: &Target) -> std::io::Result<Listener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match target {
        Target::Ptcp(a) => {
            let l = std::net::TcpListener::bind(a)?;
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
        Target::Punix(p) => {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            // A socket left by an earlier run is ours to replace, as for the mgmt sockets.
            if let Ok(m) = std::fs::symlink_metadata(p)
                && m.file_type().is_socket()
            {
                std::fs::remove_file(p)?;
            }
            let l = std::os::unix::net::UnixListener::bind(p)?;
            let file = SocketFile(p.clone());
            std::fs::set_permissions(
                p,
                std::fs::Permissions::from_mode(crate::server::listen::SOCKET_MODE),
            )?;
            l.set_nonblocking(true)?;
            Ok(Listener::Unix {
                listener: tokio::net::UnixListener::from_std(l)?,
                _file: file,
            })
        }
        _ => Err(std::io::Error::other("not a passive target")),
    }
}

/// A passive target: listen and serve every peer until stopped.
async fn passive(
    target: Target,
    name: String,
    ctx: conn::Ctx,
    bc: Arc<BridgeCtl>,
    conns: Arc<Semaphore>,
) {
    let mut stop = ctx.stop.clone();
    let mut backoff = MIN_BACKOFF;
    let listener = loop {
        match bind(&target) {
            Ok(l) => break l,
            Err(e) => {
                tracing::warn!(bridge = %ctx.bridge, target = %name, error = %e, "cannot listen for controllers");
                bc.set_state(&name, State::Error, Some(e.to_string()));
                if !wait(&mut stop, backoff).await {
                    bc.forget(&name);
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    };
    bc.set_state(&name, State::Listening, None);
    tracing::info!(bridge = %ctx.bridge, target = %name, "listening for controllers");
    loop {
        let accepted = async {
            match &listener {
                Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as Box<dyn Stream>
                }),
                Listener::Unix { listener: l, .. } => l
                    .accept()
                    .await
                    .map(|(s, _)| Box::new(s) as Box<dyn Stream>),
            }
        };
        let stream = tokio::select! {
            _ = stop.changed() => break,
            a = accepted => match a {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(bridge = %ctx.bridge, target = %name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = Arc::clone(&conns).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let (ctx, bc, name) = (ctx.clone(), Arc::clone(&bc), name.clone());
        tokio::spawn(async move {
            session(stream, &name, &ctx, &bc).await;
            drop(permit);
        });
    }
    drop(listener);
    bc.forget(&name);
    tracing::info!(bridge = %ctx.bridge, target = %name, "controller listener removed");
}

/// A byte stream of either kind.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// Keeps a bridge's fail-open rule in line with its controllers' state.
async fn watch_fail_open(
    bridge: String,
    shared: Weak<Shared>,
    bc: Arc<BridgeCtl>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tick.tick() => {}
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let view = shared.view();
        let Ok(b) = view.bridge(&bridge) else {
            break;
        };
        let standalone = b.fail_mode() != Some(FailMode::Secure);
        let connected = bc.any_connected();
        let want = standalone && !connected && bc.disconnected_for() >= FAIL_OPEN_DELAY;
        set_fail_open(&view, &bridge, want, &bc).await;
    }
    bc.set_fail_open(false);
    if let Some(shared) = shared.upgrade() {
        set_fail_open(&shared.view(), &bridge, false, &bc).await;
    }
}

async fn set_fail_open(view: &SwitchView, bridge: &str, want: bool, bc: &BridgeCtl) {
    let dp = Arc::clone(view.dataplane());
    let live = dp.read_tables(bridge, |t, _| t.fail_open()).unwrap_or(want);
    bc.set_fail_open(want);
    if live == want {
        return;
    }
    if want {
        tracing::warn!(
            bridge,
            "no controller connected: failing open (NORMAL switching)"
        );
    } else {
        tracing::warn!(bridge, "leaving fail-open mode");
    }
    let b = bridge.to_owned();
    let _ = tokio::task::spawn_blocking(move || {
        dp.modify_tables(&b, |t, now| t.set_fail_open(want, now))
    })
    .await;
}
