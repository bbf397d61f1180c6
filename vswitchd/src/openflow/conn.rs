//! One OpenFlow connection's protocol state, without I/O.
//!
//! The owner feeds received bytes ([`Conn::receive`]) and the clock ([`Conn::tick`]); the
//! connection answers what it can by itself — hello, echo, errors for undecodable or
//! out-of-version messages — and hands every other request up as [`Output::Request`], in
//! arrival order. Invariants the owner relies on:
//! - Outputs are in order. A barrier appears as [`Output::Barrier`] after the requests it
//!   follows: sending its reply once those requests have taken effect is what "barrier"
//!   means (the owner must not reorder them).
//! - Before the handshake completes, nothing but hello is accepted; a peer with no common
//!   version gets `OFPHFC_INCOMPATIBLE` and the connection closes.
//! - Memory is bounded: at most one partial message (< 64 KiB) is buffered, since every
//!   complete one is handled as soon as it arrives.
//! - Liveness: after `probe_interval` without input an echo request goes out; without any
//!   input for another interval the connection closes, as OVS's rconn does.
//!
//! Replies larger than a message can hold are split by [`Conn::multipart_reply`] into messages
//! of at most 65,535 bytes, all but the last flagged `OFPMPF_REPLY_MORE`.

use super::OpenFlowError;
use ofp::message::ErrorMsg;
use ofp::multipart::MpReply;
use ofp::{ErrorCode, Header, Message, Version};

/// `OFPMPF_REPLY_MORE`.
pub const REPLY_MORE: u16 = 1;
/// The largest OpenFlow message.
pub const MAX_MESSAGE: usize = 65_535;

/// What the owner must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the peer.
    Send(Vec<u8>),
    /// A request for the switch (flow-mod, multipart, packet-out, ...), with its xid.
    Request { xid: u32, message: Message },
    /// Write these bytes (a barrier reply) once every earlier request took effect.
    Barrier(Vec<u8>),
    /// Close the connection, for this reason.
    Close(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Our hello is sent; waiting for the peer's.
    AwaitHello,
    Open(Version),
    Closed,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Conn {
    state: State,
    /// Versions we accept.
    versions: Vec<Version>,
    buf: Vec<u8>,
    probe_interval_ms: u64,
    last_rx_ms: u64,
    echo_sent: bool,
    next_xid: u32,
}

impl Conn {
    /// A new connection offering `versions`; returns it and the hello to send first.
    pub fn new(versions: &[Version], probe_interval_ms: u64, now_ms: u64) -> (Conn, Vec<u8>) {
        let mut versions = versions.to_vec();
        versions.sort();
        versions.dedup();
        let max = *versions.last().unwrap_or(&Version::Of15);
        let bitmap = versions.iter().fold(0, |b, v| b | v.bitmap_bit());
        let hello = ofp::encode(
            &Message::Hello {
                bitmap: Some(bitmap),
            },
            max,
            0,
        )
        .expect("hello encodes");
        let conn = Conn {
            state: State::AwaitHello,
            versions,
            buf: Vec::new(),
            probe_interval_ms,
            last_rx_ms: now_ms,
            echo_sent: false,
            next_xid: 1,
        };
        (conn, hello)
    }

    /// The negotiated version, once the handshake is done.
    pub fn version(&self) -> Option<Version> {
        match self.state {
            State::Open(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Handles received bytes.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        if self.state == State::Closed {
            return out;
        }
        self.last_rx_ms = now_ms;
        self.echo_sent = false;
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            let len = match ofp::frame_len(&self.buf[at..]) {
                Ok(Some(len)) if self.buf.len() - at >= len => len,
                Ok(_) => break,
                Err(e) => {
                    self.close(&mut out, format!("bad framing: {e}"));
                    return out;
                }
            };
            let msg = self.buf[at..at + len].to_vec();
            at += len;
            self.handle(&msg, &mut out);
            if self.state == State::Closed {
                return out;
            }
        }
        self.buf.drain(..at);
        out
    }

    fn close(&mut self, out: &mut Vec<Output>, why: String) {
        self.state = State::Closed;
        self.buf = Vec::new();
        out.push(Output::Close(why));
    }

    fn error(&self, code: ErrorCode, v: Version, msg: &[u8], xid: u32) -> Output {
        let e = Message::Error(ErrorMsg::new(code, v, msg));
        Output::Send(ofp::encode(&e, v, xid).expect("an error reply always encodes"))
    }

    fn handle(&mut self, msg: &[u8], out: &mut Vec<Output>) {
        let Ok(h) = Header::decode(msg) else {
            return;
        };
        let State::Open(v) = self.state else {
            return self.handshake(h, msg, out);
        };
        if h.version != v.wire() {
            return out.push(self.error(ErrorCode::BadRequestVersion, v, msg, h.xid));
        }
        match ofp::decode(msg) {
            Err(e) => out.push(self.error(e.code(), v, msg, h.xid)),
            Ok((_, Message::EchoRequest(d))) => out.push(Output::Send(
                ofp::encode(&Message::EchoReply(d), v, h.xid).expect("echo reply encodes"),
            )),
            Ok((_, Message::EchoReply(_) | Message::Hello { .. })) => {}
            Ok((_, Message::BarrierRequest)) => out.push(Output::Barrier(
                ofp::encode(&Message::BarrierReply, v, h.xid).expect("barrier reply encodes"),
            )),
            Ok((_, message)) => out.push(Output::Request {
                xid: h.xid,
                message,
            }),
        }
    }

    fn handshake(&mut self, h: Header, msg: &[u8], out: &mut Vec<Output>) {
        let lowest = self.versions.first().copied().unwrap_or(Version::Of10);
        let bitmap = match ofp::decode(msg) {
            Ok((_, Message::Hello { bitmap })) => bitmap,
            _ => {
                out.push(self.error(ErrorCode::BadRequestType, lowest, msg, h.xid));
                return self.close(out, "a message before hello".into());
            }
        };
        // Without a bitmap the peer supports every version up to its header's.
        let theirs = bitmap.unwrap_or_else(|| {
            let top = u32::from(h.version.min(31));
            ((1u64 << (top + 1)) - 2) as u32
        });
        match self
            .versions
            .iter()
            .rev()
            .find(|v| theirs & v.bitmap_bit() != 0)
        {
            Some(&v) => self.state = State::Open(v),
            None => {
                let e = ErrorMsg {
                    typ: 0,
                    code: 0,
                    data: b"no common OpenFlow version".to_vec(),
                };
                let v = Version::from_wire(h.version).unwrap_or(lowest);
                let bytes = ofp::encode(&Message::Error(e), v, h.xid).expect("error encodes");
                out.push(Output::Send(bytes));
                self.close(
                    out,
                    format!("no common version with peer bitmap {theirs:#x}"),
                );
            }
        }
    }

    /// Keepalive: an echo request after `probe_interval` of silence, closing after two.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let mut out = Vec::new();
        let State::Open(v) = self.state else {
            return out;
        };
        let idle = now_ms.saturating_sub(self.last_rx_ms);
        if idle >= 2 * self.probe_interval_ms {
            self.close(&mut out, format!("no response to echo for {idle} ms"));
        } else if idle >= self.probe_interval_ms && !self.echo_sent {
            self.echo_sent = true;
            let xid = self.xid();
            let echo = ofp::encode(&Message::EchoRequest(Vec::new()), v, xid).expect("echo");
            out.push(Output::Send(echo));
        }
        out
    }

    fn xid(&mut self) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1);
        self.next_xid
    }

    /// Encodes a reply in the negotiated version.
    pub fn reply(&self, xid: u32, m: &Message) -> Result<Vec<u8>, OpenFlowError> {
        let v = self
            .version()
            .ok_or(OpenFlowError::Refused(ErrorCode::BadRequestType))?;
        ofp::encode(m, v, xid).map_err(|_| OpenFlowError::Refused(ErrorCode::Unencodable))
    }

    /// The error reply for a refused request (`request` is the request as received, or as
    /// much of it as is at hand).
    pub fn error_reply(&self, xid: u32, e: &OpenFlowError, request: &[u8]) -> Vec<u8> {
        let v = self.version().unwrap_or(Version::Of10);
        let m = Message::Error(ErrorMsg::new(e.code(), v, request));
        ofp::encode(&m, v, xid).expect("an error reply always encodes")
    }

    /// A multipart reply split into messages that fit, all but the last flagged "more".
    pub fn multipart_reply(&self, xid: u32, body: MpReply) -> Result<Vec<Vec<u8>>, OpenFlowError> {
        split_multipart(self.version(), xid, body)
    }
}

/// Splits an array reply into messages of at most [`MAX_MESSAGE`] bytes.
fn split_multipart(
    v: Option<Version>,
    xid: u32,
    body: MpReply,
) -> Result<Vec<Vec<u8>>, OpenFlowError> {
    let v = v.ok_or(OpenFlowError::Refused(ErrorCode::BadRequestType))?;
    let enc = |flags, body: MpReply| {
        ofp::encode(&Message::MultipartReply { flags, body }, v, xid)
            .map_err(|_| OpenFlowError::Refused(ErrorCode::Unencodable))
    };
    macro_rules! split {
        ($variant:path, $items:expr) => {{
            let items = $items;
            let empty = enc(0, $variant(Vec::new()))?.len();
            let mut chunks: Vec<Vec<_>> = vec![Vec::new()];
            let mut size = empty;
            for item in items {
                let one = enc(0, $variant(vec![item.clone()]))?.len() - empty;
                if empty + one > MAX_MESSAGE {
                    return Err(OpenFlowError::Refused(ErrorCode::Unencodable));
                }
                if size + one > MAX_MESSAGE {
                    chunks.push(Vec::new());
                    size = empty;
                }
                size += one;
                chunks.last_mut().expect("a chunk").push(item);
            }
            let n = chunks.len();
            chunks
                .into_iter()
                .enumerate()
                .map(|(i, c)| enc(if i + 1 < n { REPLY_MORE } else { 0 }, $variant(c)))
                .collect()
        }};
    }
    match body {
        MpReply::Flow(items) => split!(MpReply::Flow, items),
        MpReply::NxFlow(items) => split!(MpReply::NxFlow, items),
        MpReply::Table(items) => split!(MpReply::Table, items),
        MpReply::PortStats(items) => split!(MpReply::PortStats, items),
        MpReply::Queue(items) => split!(MpReply::Queue, items),
        MpReply::PortDesc(items) => split!(MpReply::PortDesc, items),
        MpReply::TableFeatures(items) => split!(MpReply::TableFeatures, items),
        MpReply::GroupDesc(items) => split!(MpReply::GroupDesc, items),
        MpReply::GroupStats(items) => split!(MpReply::GroupStats, items),
        MpReply::MeterStats(items) => split!(MpReply::MeterStats, items),
        MpReply::MeterConfig(items) => split!(MpReply::MeterConfig, items),
        other => Ok(vec![enc(0, other)?]),
    }
}

#[cfg(test)]
mod tests;
