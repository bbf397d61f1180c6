//! The connection: one tokio task that keeps a session with ovsdb-server alive and the
//! replica current, reconnecting with backoff for as long as the [`Client`] lives.
//!
//! A session: `get_schema` for the database and for `_Server`; `set_db_change_aware`;
//! `monitor_cond` on `_Server.Database` (so the client sees the database's own state);
//! `monitor_cond_since` on the replicated tables with the last transaction id seen. If the
//! server still has that transaction, only later changes arrive and the replica carries on;
//! otherwise the full contents arrive and replace the replica in one step. Readers therefore
//! never see an empty or half-built replica across a server restart: the old state stays
//! until the new one is complete. Updates (`update3`) are applied as they arrive, echo
//! requests are answered, and an echo is sent when the server is quiet; a server silent for
//! two probe intervals is dropped.
//!
//! Anything malformed from the server (bad framing, oversized message, a reply or update that
//! does not parse or does not fit the replica) ends the session, never the task: the client
//! reconnects, and after an update that did not fit it asks for everything again.
//! Transactions are sent only while a session is up; one whose session ends before the reply
//! fails with [`ClientError::Disconnected`] (it may or may not have committed, as in OVS's IDL).

mod session;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::data::Uuid;
use crate::framing::{DEFAULT_MAX_MESSAGE, FramingError};
use crate::monitor::MonitorError;
use crate::ops::{OpResult, Operation, OpsError};
use crate::replica::{Replica, ReplicaError};
use crate::rpc::RpcError;
use crate::schema::SchemaError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("'{0}' is not unix:PATH or tcp:HOST:PORT")]
    BadRemote(String),
    #[error("not connected to the database server")]
    NotConnected,
    #[error("the session ended before the transaction's reply")]
    Disconnected,
    #[error("the client was stopped")]
    Stopped,
    #[error("server refused the request: {0}")]
    Refused(String),
    #[error(transparent)]
    Transaction(#[from] OpsError),
}

/// Why a session ended.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("server closed the connection")]
    Closed,
    #[error("server sent nothing for {0:?}")]
    Silent(Duration),
    #[error(transparent)]
    Framing(#[from] FramingError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("schema: {0}")]
    Schema(#[from] SchemaError),
    #[error("update: {0}")]
    Monitor(#[from] MonitorError),
    #[error("replica out of step: {0}")]
    Replica(#[from] ReplicaError),
    #[error("server refused {what}: {error}")]
    Refused { what: &'static str, error: String },
    #[error("server cancelled the monitor")]
    Cancelled,
    #[error("server no longer serves database '{0}'")]
    DatabaseGone(String),
}

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Remote {
    Unix(PathBuf),
    Tcp(String),
}

impl FromStr for Remote {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Remote, ClientError> {
        if let Some(p) = s.strip_prefix("unix:").filter(|p| !p.is_empty()) {
            return Ok(Remote::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp:")
            && let Some((host, port)) = a.rsplit_once(':')
            && !host.is_empty()
            && port.parse::<u16>().is_ok()
        {
            return Ok(Remote::Tcp(a.to_owned()));
        }
        Err(ClientError::BadRemote(s.chars().take(200).collect()))
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remote::Unix(p) => write!(f, "unix:{}", p.display()),
            Remote::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub remote: Remote,
    pub database: String,
    /// Tables to replicate (all their columns).
    pub tables: Vec<String>,
    pub max_message: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Send an echo after this long without a message; drop the session after twice that.
    pub probe_interval: Duration,
}

impl ClientConfig {
    /// The Open_vSwitch database with the tables a switch uses.
    pub fn vswitch(remote: Remote) -> ClientConfig {
        ClientConfig {
            remote,
            database: "Open_vSwitch".into(),
            tables: crate::replica::VSWITCH_TABLES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            max_message: DEFAULT_MAX_MESSAGE,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(4),
            probe_interval: Duration::from_secs(5),
        }
    }
}

/// What the client is doing, published on every change.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// A session is up and the replica is current.
    pub connected: bool,
    /// Sessions that reached a current replica.
    pub sessions: u64,
    /// Bumped on every change to the replica.
    pub seqno: u64,
    /// The last transaction the replica includes (when the server reports one).
    pub last_txn_id: Option<Uuid>,
    /// Why the last session ended or the last connect failed.
    pub last_error: Option<String>,
    /// The last [`ERROR_HISTORY`] reasons sessions ended or connects failed, oldest first
    /// (a subscriber may miss intermediate statuses; this keeps them for diagnosis).
    pub recent_errors: Vec<String>,
    /// Of the sessions that reached a current replica, those that resumed from the last
    /// transaction id instead of receiving everything.
    pub resumed: u64,
}

/// How many session-ending errors [`Status::recent_errors`] keeps.
pub const ERROR_HISTORY: usize = 8;

struct Shared {
    replica: RwLock<Option<Replica>>,
    server: RwLock<Option<Replica>>,
    status: watch::Sender<Status>,
}

type TxnReply = oneshot::Sender<Result<Vec<OpResult>, ClientError>>;

enum Command {
    Transact(Vec<Operation>, TxnReply),
}

/// A handle on the connection task; dropping it stops the task.
pub struct Client {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Starts the connection task on the current tokio runtime.
    pub fn start(config: ClientConfig) -> Client {
        let (status, _) = watch::channel(Status::default());
        let shared = Arc::new(Shared {
            replica: RwLock::new(None),
            server: RwLock::new(None),
            status,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(config, shared.clone(), rx));
        Client {
            shared,
            commands: tx,
            task,
        }
    }

    /// The replica (`None` until the first session delivered it). Hold the guard briefly:
    /// updates wait for it.
    pub fn replica(&self) -> RwLockReadGuard<'_, Option<Replica>> {
        self.shared
            .replica
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The `_Server` database's replica (its `Database` table).
    pub fn server_replica(&self) -> RwLockReadGuard<'_, Option<Replica>> {
        self.shared.server.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// A receiver that wakes on every status change (replica changes bump `seqno`).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Runs a transaction; the reply comes after the server sent the update it caused, so
    /// the replica already shows the transaction's effect when this returns.
    pub async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<OpResult>, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Transact(ops, tx))
            .map_err(|_| ClientError::Stopped)?;
        rx.await.map_err(|_| ClientError::Stopped)?
    }
}

fn publish(shared: &Shared, f: impl FnOnce(&mut Status)) {
    shared.status.send_modify(f);
}

async fn run(
    config: ClientConfig,
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut last_txn: Option<Uuid> = None;
    let mut backoff = config.backoff_min;
    loop {
        let mut reached = false;
        let result = match &config.remote {
            Remote::Unix(p) => match tokio::net::UnixStream::connect(p).await {
                Ok(s) => {
                    session::run(
                        s,
                        &config,
                        &shared,
                        &mut commands,
                        &mut last_txn,
                        &mut reached,
                    )
                    .await
                }
                Err(e) => Err(SessionError::Connect(e)),
            },
            Remote::Tcp(a) => match tokio::net::TcpStream::connect(a.as_str()).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    session::run(
                        s,
                        &config,
                        &shared,
                        &mut commands,
                        &mut last_txn,
                        &mut reached,
                    )
                    .await
                }
                Err(e) => Err(SessionError::Connect(e)),
            },
        };
        let Err(e) = result else {
            return; // the Client was dropped
        };
        if matches!(e, SessionError::Replica(_) | SessionError::Monitor(_)) {
            // The replica may not match the server: start over from the full contents.
            last_txn = None;
        }
        if reached {
            backoff = config.backoff_min;
            tracing::warn!(remote = %config.remote, error = %e, "ovsdb session ended");
        } else {
            tracing::debug!(remote = %config.remote, error = %e, "ovsdb connect failed");
        }
        publish(&shared, |s| {
            s.connected = false;
            s.last_error = Some(e.to_string());
            if s.recent_errors.len() >= ERROR_HISTORY {
                s.recent_errors.remove(0);
            }
            s.recent_errors.push(e.to_string());
        });
        // Fail transactions asked for while disconnected; stop if the Client is gone.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    Some(Command::Transact(_, reply)) => {
                        let _ = reply.send(Err(ClientError::NotConnected));
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_parse() {
        assert_eq!(
            "unix:/run/db.sock".parse::<Remote>().unwrap(),
            Remote::Unix("/run/db.sock".into())
        );
        assert_eq!(
            "tcp:127.0.0.1:6640".parse::<Remote>().unwrap(),
            Remote::Tcp("127.0.0.1:6640".into())
        );
        assert_eq!(
            "tcp:[::1]:6640".parse::<Remote>().unwrap().to_string(),
            "tcp:[::1]:6640"
        );
        for bad in [
            "unix:",
            "tcp:1.2.3.4",
            "tcp::80",
            "ssl:1.2.3.4:6640",
            "tcp:h:99999",
            "",
        ] {
            assert!(bad.parse::<Remote>().is_err(), "{bad}");
        }
    }
}
