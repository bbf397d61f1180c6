//! The socket side of one OpenFlow connection: bytes in, [`crate::openflow::conn::Conn`]'s
//! outputs out, requests to [`super::request`]. No protocol logic lives here.
//!
//! One task per connection, strictly in order: read, let the state machine decide, carry out
//! its outputs (requests are awaited one after the other), write the replies, read again.
//! So a barrier reply is written only after every earlier request took effect, and a client
//! that sends faster than the switch applies is slowed by TCP-style backpressure on its
//! socket rather than buffered without bound.
//!
//! Flow-mods in a row are applied as one batch, one durable commit (see [`super::request`]),
//! and a batch may span reads: when a read ends in flow-mods, more bytes already waiting on
//! the socket (or arriving within [`BATCH_WAIT`]) join the batch, up to [`MAX_BATCH`]
//! flow-mods. Controllers stream flow-mods and send one barrier at the end, and a socket
//! buffer holds only a few hundred, so without this a large table meant hundreds of
//! commits. Any other message (a barrier, a dump) ends the batch, so a barrier's reply still
//! follows every earlier change.
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::request::{PendingMod, Reply, Session};
use super::stats::{FLOW_CHUNK, flow_stats};
use crate::controller::role::Seat;
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
/// Most flow-mods applied as one batch.
pub const MAX_BATCH: usize = 50_000;
/// How long a batch of flow-mods that ended a read waits for the next bytes.
pub const BATCH_WAIT: Duration = Duration::from_millis(2);

/// The reading side, for batches that span reads.
struct Reader<R> {
    rd: R,
    buf: Vec<u8>,
    start: Instant,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Bytes that are waiting or arrive within [`BATCH_WAIT`]; `None` when none did (or the
    /// peer closed or failed: the main loop's next read sees that). `read` is cancel-safe,
    /// so a timeout loses nothing.
    async fn more(&mut self) -> Option<usize> {
        match tokio::time::timeout(BATCH_WAIT, self.rd.read(&mut self.buf)).await {
            Ok(Ok(n)) if n > 0 => Some(n),
            _ => None,
        }
    }
}

/// What every connection of a bridge shares.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub bridge: String,
    pub shared: Weak<Shared>,
    /// Changes (or closes) when the bridge's listener is dropped.
    pub stop: watch::Receiver<bool>,
    /// Echo after this much silence ([`PROBE_INTERVAL_MS`] for mgmt sockets, the
    /// controller's inactivity probe for controller connections).
    pub probe_ms: u64,
    /// Asynchronous messages of the bridge.
    pub hub: std::sync::Arc<super::hub::Hub>,
    pub kind: super::hub::ConnKind,
}

/// Serves one connection (a mgmt socket's or a controller's, over any byte stream) until
/// it closes, fails, times out or the bridge goes away; returns why it ended. `seat` is the
/// connection's place in the bridge's roles, marked open once the handshake is done.
pub async fn run<S>(stream: S, ctx: Ctx, seat: Seat) -> String
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = Reader {
        rd,
        buf: vec![0u8; READ_BUF],
        start: Instant::now(),
    };
    let (mut conn, hello) = Conn::new(&Version::ALL, ctx.probe_ms, reader.now());
    if let Err(e) = write(&mut wr, &hello).await {
        return e;
    }
    let mut session = Session::new(ctx.bridge.clone(), seat, ctx.kind);
    let (_registration, mut events) = ctx.hub.register(&ctx.bridge);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = ctx.stop.clone();
    let why = loop {
        let outputs = tokio::select! {
            _ = stop.changed() => break "the bridge was deleted".to_owned(),
            _ = tick.tick() => {
                if conn.version().is_none() && reader.start.elapsed() >= HELLO_TIMEOUT {
                    break "no hello".to_owned();
                }
                conn.tick(reader.now())
            }
            Some(ev) = events.recv() => {
                session.async_message(&conn, &ev).map(Output::Send).into_iter().collect()
            }
            r = reader.rd.read(&mut reader.buf) => match r {
                Ok(0) => break "closed by peer".to_owned(),
                Err(e) => break e.to_string(),
                Ok(n) => conn.receive(&reader.buf[..n], reader.now()),
            }
        };
        if conn.version().is_some() {
            session.set_open();
        }
        let Some(shared) = ctx.shared.upgrade() else {
            break "shutting down".to_owned();
        };
        if let Err(why) = carry_out(
            outputs,
            &mut conn,
            &mut reader,
            &mut session,
            &shared,
            &mut wr,
        )
        .await
        {
            break why;
        }
    };
    tracing::debug!(bridge = %ctx.bridge, reason = %why, "OpenFlow connection closed");
    why
}

async fn write<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> Result<(), String> {
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
async fn carry_out<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    outputs: Vec<Output>,
    conn: &mut Conn,
    reader: &mut Reader<R>,
    session: &mut Session,
    shared: &std::sync::Arc<Shared>,
    wr: &mut W,
) -> Result<(), String> {
    let mut queue: std::collections::VecDeque<Output> = outputs.into();
    while let Some(o) = queue.pop_front() {
        let replies = match o {
            Output::Send(b) | Output::Barrier(b) => {
                write(wr, &b).await?;
                continue;
            }
            Output::Close(why) => return Err(why),
            Output::Request { xid, message } if is_flow_mod_msg(&message) => {
                // Flow-mods in a row are applied together (see `request`), also across reads.
                let mut batch: Vec<PendingMod> = Vec::new();
                let mut replies = Vec::new();
                let mut next = Some((xid, message));
                let mut taken = 0;
                loop {
                    while let Some((xid, message)) = next.take() {
                        taken += 1;
                        match session.convert(conn, xid, &message) {
                            Ok(p) => batch.push(p),
                            Err(r) => replies.push(r),
                        }
                        if taken < MAX_BATCH
                            && queue.front().is_some_and(is_flow_mod)
                            && let Some(Output::Request { xid, message }) = queue.pop_front()
                        {
                            next = Some((xid, message));
                        }
                    }
                    if !queue.is_empty() || taken >= MAX_BATCH {
                        break;
                    }
                    let Some(n) = reader.more().await else {
                        break;
                    };
                    let now = reader.now();
                    queue.extend(conn.receive(&reader.buf[..n], now));
                    if queue.front().is_some_and(is_flow_mod)
                        && let Some(Output::Request { xid, message }) = queue.pop_front()
                    {
                        next = Some((xid, message));
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

async fn send_reply<W: AsyncWrite + Unpin>(
    r: Reply,
    conn: &Conn,
    wr: &mut W,
) -> Result<(), String> {
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
