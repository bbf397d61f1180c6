//! The socket side of one OpenFlow connection: bytes in, [`crate::openflow::conn::Conn`]'s
//! outputs out, requests to [`super::request`]. No protocol logic lives here.
//!
//! One task per connection, strictly in order: read, let the state machine decide, carry out
//! its outputs (requests are awaited one after the other), write the replies, read again.
//! So a barrier reply is written only after every earlier request took effect, and a client
//! that sends faster than the switch applies is slowed by TCP-style backpressure on its
//! socket rather than buffered without bound.
//!
//! Time limits: a peer that has not completed the hello exchange after [`HELLO_TIMEOUT`] is
//! dropped; an established one gets an echo request after [`PROBE_INTERVAL_MS`] of silence
//! and is dropped after twice that; a write that cannot complete within [`WRITE_TIMEOUT`]
//! (a client that never reads) closes the connection.

use std::sync::Weak;
use std::time::{Duration, Instant};

use ofp::Version;
use ofp::message::Message;
use ofp::multipart::MpReply;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::watch;

use super::request::{PendingMod, Reply, Session};
use super::stats::{FLOW_CHUNK, flow_stats};
use crate::openflow::conn::{Conn, Output, REPLY_MORE};
use crate::server::Shared;

/// Time a peer has to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence after which an echo request is sent (and twice which closes the connection).
pub const PROBE_INTERVAL_MS: u64 = 15_000;
/// Longest a single write may block.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read per call.
const READ_BUF: usize = 64 * 1024;

/// What every connection of a bridge shares.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub bridge: String,
    pub shared: Weak<Shared>,
    /// Changes (or closes) when the bridge's listener is dropped.
    pub stop: watch::Receiver<bool>,
    /// Asynchronous messages of the bridge.
    pub hub: std::sync::Arc<super::hub::Hub>,
    pub kind: super::hub::ConnKind,
}

/// Serves one connection until it closes, fails, times out or the bridge goes away.
pub async fn run(stream: UnixStream, ctx: Ctx) {
    let (mut rd, mut wr) = stream.into_split();
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    let (mut conn, hello) = Conn::new(&Version::ALL, PROBE_INTERVAL_MS, now());
    if write(&mut wr, &hello).await.is_err() {
        return;
    }
    let mut session = Session::with_kind(ctx.bridge.clone(), ctx.kind);
    let (_registration, mut events) = ctx.hub.register(&ctx.bridge);
    let mut buf = vec![0u8; READ_BUF];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = ctx.stop.clone();
    let why = loop {
        let outputs = tokio::select! {
            _ = stop.changed() => break "the bridge was deleted".to_owned(),
            _ = tick.tick() => {
                if conn.version().is_none() && start.elapsed() >= HELLO_TIMEOUT {
                    break "no hello".to_owned();
                }
                conn.tick(now())
            }
            Some(ev) = events.recv() => {
                session.async_message(&conn, &ev).map(Output::Send).into_iter().collect()
            }
            r = rd.read(&mut buf) => match r {
                Ok(0) => break "closed by peer".to_owned(),
                Err(e) => break e.to_string(),
                Ok(n) => conn.receive(&buf[..n], now()),
            }
        };
        let Some(shared) = ctx.shared.upgrade() else {
            break "shutting down".to_owned();
        };
        if let Err(why) = carry_out(outputs, &conn, &mut session, &shared, &mut wr).await {
            break why;
        }
    };
    tracing::debug!(bridge = %ctx.bridge, reason = %why, "OpenFlow connection closed");
}

async fn write(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
    match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the peer read nothing for {} s",
            WRITE_TIMEOUT.as_secs()
        )),
    }
}

fn is_flow_mod(o: &Output) -> bool {
    matches!(
        o,
        Output::Request {
            message: Message::FlowMod(_) | Message::NxFlowMod(_),
            ..
        }
    )
}

/// Executes the state machine's outputs in order.
async fn carry_out(
    outputs: Vec<Output>,
    conn: &Conn,
    session: &mut Session,
    shared: &std::sync::Arc<Shared>,
    wr: &mut OwnedWriteHalf,
) -> Result<(), String> {
    let mut it = outputs.into_iter().peekable();
    while let Some(o) = it.next() {
        let replies = match o {
            Output::Send(b) | Output::Barrier(b) => {
                write(wr, &b).await?;
                continue;
            }
            Output::Close(why) => return Err(why),
            Output::Request { xid, message } if is_flow_mod_msg(&message) => {
                // Flow-mods in a row are applied together (see `request`).
                let mut batch: Vec<PendingMod> = Vec::new();
                let mut replies = Vec::new();
                let mut push = |xid, message: &Message| match session.convert(conn, xid, message) {
                    Ok(p) => batch.push(p),
                    Err(r) => replies.push(r),
                };
                push(xid, &message);
                while it.peek().is_some_and(is_flow_mod) {
                    if let Some(Output::Request { xid, message }) = it.next() {
                        push(xid, &message);
                    }
                }
                replies.extend(session.flow_mods(conn, shared, batch).await);
                replies
            }
            Output::Request { xid, message } => session.handle(conn, shared, xid, message).await,
        };
        for r in replies {
            send_reply(r, conn, wr).await?;
        }
    }
    Ok(())
}

fn is_flow_mod_msg(m: &Message) -> bool {
    matches!(m, Message::FlowMod(_) | Message::NxFlowMod(_))
}

async fn send_reply(r: Reply, conn: &Conn, wr: &mut OwnedWriteHalf) -> Result<(), String> {
    match r {
        Reply::Msg(b) => write(wr, &b).await,
        Reply::Flows {
            xid,
            nx,
            rules,
            now_ms,
        } => {
            let v = conn.version().unwrap_or(Version::Of10);
            let n_chunks = rules.len().div_ceil(FLOW_CHUNK).max(1);
            for (i, chunk) in rules
                .chunks(FLOW_CHUNK)
                .chain(rules.is_empty().then_some(&[][..]))
                .enumerate()
            {
                let items: Result<Vec<_>, _> =
                    chunk.iter().map(|r| flow_stats(r, now_ms, v, nx)).collect();
                let body = match items {
                    Ok(items) if nx => MpReply::NxFlow(items),
                    Ok(items) => MpReply::Flow(items),
                    Err(e) => return write(wr, &conn.error_reply(xid, &e, &[])).await,
                };
                let msgs = match conn.multipart_reply(xid, body) {
                    Ok(m) => m,
                    Err(e) => return write(wr, &conn.error_reply(xid, &e, &[])).await,
                };
                let last_chunk = i + 1 == n_chunks;
                let n = msgs.len();
                for (j, mut m) in msgs.into_iter().enumerate() {
                    if !last_chunk && j + 1 == n {
                        set_reply_more(&mut m);
                    }
                    write(wr, &m).await?;
                }
            }
            Ok(())
        }
    }
}

/// Sets `OFPMPF_REPLY_MORE` in a multipart (or 1.0 stats) reply: the flags follow the
/// 8-byte header and the 2-byte type in every version.
fn set_reply_more(m: &mut [u8]) {
    if m.len() >= 12 {
        let flags = u16::from_be_bytes([m[10], m[11]]) | REPLY_MORE;
        m[10..12].copy_from_slice(&flags.to_be_bytes());
    }
}
