//! One session with the server: the requests that start it, the loop that reads messages,
//! sends transactions and probes a quiet server, and the handling of each message. Any
//! error ends the session; [`super::run`] reconnects.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{ClientConfig, ClientError, Command, SessionError, Shared, TxnReply, publish};
use crate::data::Uuid;
use crate::framing::{Framer, encode};
use crate::monitor::{
    MonitorError, MonitorRequests, RowUpdate, TableUpdates, monitor_cond_params,
    monitor_cond_since_params, parse_since_reply, parse_table_updates, parse_update,
};
use crate::ops::{TransactReply, transact_params};
use crate::replica::Replica;
use crate::rpc::Message;
use crate::schema::DatabaseSchema;

enum Pending {
    Schema,
    ServerSchema,
    ChangeAware,
    ServerMonitor,
    Monitor,
    Echo,
    Transact(usize, TxnReply),
}

const SERVER_DB: &str = "_Server";
const MONITOR_ID: &str = "vswitch";
const SERVER_MONITOR_ID: &str = "vswitch-server";

struct Session<'a, W> {
    wr: W,
    config: &'a ClientConfig,
    shared: &'a Shared,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    schema: Option<DatabaseSchema>,
    server_schema: Option<DatabaseSchema>,
    monitoring: bool,
}

impl<W: AsyncWrite + Unpin> Session<'_, W> {
    async fn send(&mut self, method: &str, params: Value, p: Pending) -> Result<(), SessionError> {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, p);
        let msg = Message::request(id, method, params).to_json();
        self.wr.write_all(&encode(&msg)).await?;
        Ok(())
    }

    async fn reply(&mut self, msg: Message) -> Result<(), SessionError> {
        self.wr.write_all(&encode(&msg.to_json())).await?;
        Ok(())
    }

    /// Starts both monitors once both schemas are known.
    async fn start_monitors(&mut self, last_txn: Option<Uuid>) -> Result<(), SessionError> {
        let (Some(_), Some(_)) = (&self.schema, &self.server_schema) else {
            return Ok(());
        };
        let server_req = MonitorRequests::from([("Database".to_string(), vec![])]);
        self.send(
            "monitor_cond",
            monitor_cond_params(SERVER_DB, &json!(SERVER_MONITOR_ID), &server_req),
            Pending::ServerMonitor,
        )
        .await?;
        let req: MonitorRequests = self
            .config
            .tables
            .iter()
            .map(|t| (t.clone(), vec![]))
            .collect();
        let params =
            monitor_cond_since_params(&self.config.database, &json!(MONITOR_ID), &req, last_txn);
        self.send("monitor_cond_since", params, Pending::Monitor)
            .await
    }
}

fn refused(what: &'static str, error: &Value) -> SessionError {
    SessionError::Refused {
        what,
        error: error.to_string().chars().take(300).collect(),
    }
}

fn bump(shared: &Shared, last_txn: Option<Uuid>) {
    publish(shared, |s| {
        s.seqno += 1;
        if last_txn.is_some() {
            s.last_txn_id = last_txn;
        }
    });
}

/// Checks the `_Server.Database` row of our database, if the server reported one.
fn check_server(shared: &Shared, db: &str) -> Result<(), SessionError> {
    let server = shared.server.read().unwrap_or_else(|e| e.into_inner());
    let Some(r) = server.as_ref() else {
        return Ok(());
    };
    let rows: Vec<_> = r.rows("Database").collect();
    if rows.is_empty() {
        return Ok(());
    }
    if !rows.iter().any(|row| row.str("name") == db) {
        return Err(SessionError::DatabaseGone(db.to_owned()));
    }
    Ok(())
}

pub(super) async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    config: &ClientConfig,
    shared: &Shared,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    last_txn: &mut Option<Uuid>,
    reached: &mut bool,
) -> Result<(), SessionError> {
    let (mut rd, wr) = tokio::io::split(stream);
    let mut s = Session {
        wr,
        config,
        shared,
        next_id: 1,
        pending: HashMap::new(),
        schema: None,
        server_schema: None,
        monitoring: false,
    };
    let result = session_loop(&mut s, &mut rd, commands, last_txn, reached).await;
    for (_, p) in s.pending.drain() {
        if let Pending::Transact(_, reply) = p {
            let _ = reply.send(Err(ClientError::Disconnected));
        }
    }
    result
}

async fn session_loop<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    s: &mut Session<'_, W>,
    rd: &mut R,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    last_txn: &mut Option<Uuid>,
    reached: &mut bool,
) -> Result<(), SessionError> {
    let config = s.config;
    let mut framer = Framer::new(config.max_message);
    s.send("get_schema", json!([config.database]), Pending::Schema)
        .await?;
    s.send("get_schema", json!([SERVER_DB]), Pending::ServerSchema)
        .await?;
    s.send("set_db_change_aware", json!([true]), Pending::ChangeAware)
        .await?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_rx = tokio::time::Instant::now();
    let mut probe = tokio::time::interval(config.probe_interval);
    probe.reset();
    loop {
        tokio::select! {
            n = rd.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    return Err(SessionError::Closed);
                }
                last_rx = tokio::time::Instant::now();
                framer.push(&buf[..n])?;
                while let Some(v) = framer.next_message()? {
                    handle(s, Message::from_json(v)?, last_txn, reached).await?;
                }
            }
            cmd = commands.recv() => match cmd {
                Some(Command::Transact(ops, reply)) => {
                    if !s.monitoring {
                        let _ = reply.send(Err(ClientError::NotConnected));
                        continue;
                    }
                    let n = ops.len();
                    let params = transact_params(&config.database, &ops);
                    s.send("transact", params, Pending::Transact(n, reply)).await?;
                }
                None => return Ok(()),
            },
            _ = probe.tick() => {
                let quiet = last_rx.elapsed();
                if quiet >= config.probe_interval * 2 {
                    return Err(SessionError::Silent(quiet));
                }
                if quiet >= config.probe_interval {
                    s.send("echo", json!([]), Pending::Echo).await?;
                }
            }
        }
    }
}

async fn handle<W: AsyncWrite + Unpin>(
    s: &mut Session<'_, W>,
    msg: Message,
    last_txn: &mut Option<Uuid>,
    reached: &mut bool,
) -> Result<(), SessionError> {
    let shared = s.shared;
    match msg {
        Message::Request { id, method, params } => {
            let reply = if method == "echo" {
                Message::Reply { id, result: params }
            } else {
                Message::Error {
                    id,
                    error: json!("unknown method"),
                }
            };
            s.reply(reply).await
        }
        Message::Notification { method, params } => match method.as_str() {
            "update3" | "update2" => {
                let is_server = params.get(0).and_then(Value::as_str) == Some(SERVER_MONITOR_ID);
                let schema = if is_server {
                    &s.server_schema
                } else {
                    &s.schema
                };
                let Some(schema) = schema else {
                    return Err(SessionError::Monitor(MonitorError::Malformed(
                        "update before schema",
                    )));
                };
                let n = parse_update(&method, &params, schema)?;
                if is_server {
                    apply_to(&shared.server, n.updates)?;
                    check_server(shared, &s.config.database)?;
                    return Ok(());
                }
                if !s.monitoring {
                    return Err(SessionError::Monitor(MonitorError::Malformed(
                        "update before monitor reply",
                    )));
                }
                apply_to(&shared.replica, n.updates)?;
                if let Some(t) = n.last_txn_id.filter(|t| !t.is_zero()) {
                    *last_txn = Some(t);
                }
                bump(shared, *last_txn);
                Ok(())
            }
            "monitor_canceled" => Err(SessionError::Cancelled),
            _ => Ok(()),
        },
        Message::Reply { id, result } => {
            let Some(p) = id.as_u64().and_then(|i| s.pending.remove(&i)) else {
                return Ok(());
            };
            match p {
                Pending::Schema => {
                    let schema = DatabaseSchema::from_json(&result)?;
                    let same = shared
                        .replica
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .as_ref()
                        .is_some_and(|r| r.schema() == &schema);
                    if !same {
                        // A new schema: ask for everything; the old replica stays readable
                        // until the full contents replace it.
                        *last_txn = None;
                    }
                    s.schema = Some(schema);
                    s.start_monitors(*last_txn).await
                }
                Pending::ServerSchema => {
                    s.server_schema = Some(DatabaseSchema::from_json(&result)?);
                    s.start_monitors(*last_txn).await
                }
                Pending::ServerMonitor => {
                    let schema = s
                        .server_schema
                        .as_ref()
                        .ok_or(MonitorError::Malformed("reply"))?;
                    let updates = parse_table_updates(&result, schema)?;
                    let mut fresh = Replica::new(schema.clone(), ["Database".to_string()]);
                    fresh.apply(updates)?;
                    *shared.server.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh);
                    check_server(shared, &s.config.database)
                }
                Pending::Monitor => {
                    let schema = s.schema.as_ref().ok_or(MonitorError::Malformed("reply"))?;
                    let reply = parse_since_reply(&result, schema)?;
                    let resumed = reply.found && last_txn.is_some();
                    {
                        let mut slot = shared.replica.write().unwrap_or_else(|e| e.into_inner());
                        match slot.as_mut() {
                            Some(r) if resumed => r.apply(reply.updates)?,
                            _ => {
                                let mut fresh =
                                    Replica::new(schema.clone(), s.config.tables.iter().cloned());
                                fresh.apply(only_initial(reply.updates))?;
                                *slot = Some(fresh);
                            }
                        }
                    }
                    *last_txn = Some(reply.last_txn_id).filter(|t| !t.is_zero());
                    s.monitoring = true;
                    *reached = true;
                    publish(shared, |st| {
                        st.connected = true;
                        st.sessions += 1;
                        st.resumed += u64::from(resumed);
                        st.last_error = None;
                    });
                    bump(shared, *last_txn);
                    Ok(())
                }
                Pending::ChangeAware | Pending::Echo => Ok(()),
                Pending::Transact(n, reply) => {
                    let _ = reply.send(TransactReply::parse(&result, n).map_err(ClientError::from));
                    Ok(())
                }
            }
        }
        Message::Error { id, error } => {
            let Some(p) = id.as_u64().and_then(|i| s.pending.remove(&i)) else {
                return Ok(());
            };
            match p {
                Pending::Transact(_, reply) => {
                    let _ = reply.send(Err(ClientError::Refused(error.to_string())));
                    Ok(())
                }
                // Older servers lack these; the session works without them.
                Pending::ChangeAware | Pending::Echo => Ok(()),
                Pending::ServerSchema => Err(refused("get_schema _Server", &error)),
                Pending::Schema => Err(refused("get_schema", &error)),
                Pending::ServerMonitor => Err(refused("monitor_cond", &error)),
                Pending::Monitor => Err(refused("monitor_cond_since", &error)),
            }
        }
    }
}

/// A full resend lists every row as `initial`; make a modify or delete in it (which a
/// server would not send) fail the apply rather than be skipped.
fn only_initial(u: TableUpdates) -> TableUpdates {
    u.into_iter()
        .map(|(t, rows)| {
            let rows = rows
                .into_iter()
                .map(|(id, r)| match r {
                    RowUpdate::Insert(c) => (id, RowUpdate::Initial(c)),
                    other => (id, other),
                })
                .collect();
            (t, rows)
        })
        .collect()
}

fn apply_to(slot: &RwLock<Option<Replica>>, updates: TableUpdates) -> Result<(), SessionError> {
    let mut g = slot.write().unwrap_or_else(|e| e.into_inner());
    match g.as_mut() {
        Some(r) => Ok(r.apply(updates)?),
        None => Err(SessionError::Monitor(MonitorError::Malformed(
            "update before monitor reply",
        ))),
    }
}
