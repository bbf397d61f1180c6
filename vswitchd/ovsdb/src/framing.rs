//! JSON-RPC framing: cutting a byte stream into JSON messages.
//!
//! OVSDB sends JSON-RPC messages back to back with no length prefix or delimiter, so the
//! stream is cut where a top-level JSON object closes. [`Framer`] scans incoming bytes once,
//! tracking only string/escape state and bracket depth, and hands each complete object to
//! serde_json. It holds no socket: the caller feeds it bytes.
//!
//! Invariants: a message may not exceed `max_message` bytes (the framer fails as soon as the
//! message being read passes the bound, so a hostile peer cannot make it buffer without
//! limit); anything but whitespace between messages, or a top-level value that is not an
//! object, is an error; after an error the framer stays failed (the session must close,
//! since the stream position is lost). serde_json's recursion limit bounds nesting depth.

use serde_json::Value;

/// Default bound on one message: ovsdb-server's own replies to a large database fit easily.
pub const DEFAULT_MAX_MESSAGE: usize = 64 << 20;

/// Why the stream cannot be read further.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum FramingError {
    #[error("message longer than the {0}-byte limit")]
    TooLong(usize),
    #[error("byte 0x{0:02x} outside a JSON object between messages")]
    Garbage(u8),
    #[error("message is not valid JSON: {0}")]
    Json(String),
    #[error("the stream already failed")]
    Failed,
}

/// Incremental splitter of concatenated JSON objects.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Where scanning resumes in `buf`.
    pos: usize,
    /// Start of the message being read, once its `{` was seen.
    start: Option<usize>,
    depth: u32,
    in_string: bool,
    escape: bool,
    max_message: usize,
    failed: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_MESSAGE)
    }
}

impl Framer {
    pub fn new(max_message: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            pos: 0,
            start: None,
            depth: 0,
            in_string: false,
            escape: false,
            max_message,
            failed: false,
        }
    }

    /// Appends received bytes (the caller then drains [`Framer::next_message`], which checks
    /// the bound; a reader that pushes at most one read buffer between drains keeps the
    /// buffer under `max_message` plus one read).
    pub fn push(&mut self, data: &[u8]) -> Result<(), FramingError> {
        if self.failed {
            return Err(FramingError::Failed);
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    /// Bytes buffered and not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn fail(&mut self, e: FramingError) -> Result<Option<Value>, FramingError> {
        self.failed = true;
        self.buf = Vec::new();
        Err(e)
    }

    /// The next complete message, `None` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Value>, FramingError> {
        if self.failed {
            return Err(FramingError::Failed);
        }
        while self.pos < self.buf.len() {
            let c = self.buf[self.pos];
            let i = self.pos;
            self.pos += 1;
            let Some(start) = self.start else {
                match c {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => {
                        self.start = Some(i);
                        self.depth = 1;
                        continue;
                    }
                    _ => return self.fail(FramingError::Garbage(c)),
                }
            };
            if self.pos - start > self.max_message {
                return self.fail(FramingError::TooLong(self.max_message));
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let parsed = serde_json::from_slice::<Value>(&self.buf[start..self.pos]);
                        self.buf.drain(..self.pos);
                        self.pos = 0;
                        self.start = None;
                        return match parsed {
                            Ok(v) => Ok(Some(v)),
                            Err(e) => self.fail(FramingError::Json(e.to_string())),
                        };
                    }
                }
                _ => {}
            }
        }
        // Whitespace before a message carries no information: drop it so idle keepalive
        // bytes cannot accumulate.
        if self.start.is_none() {
            self.buf.clear();
            self.pos = 0;
        } else if let Some(start) = self.start
            && start > 0
        {
            self.buf.drain(..start);
            self.pos -= start;
            self.start = Some(0);
        }
        Ok(None)
    }
}

/// Serializes one message for the wire.
pub fn encode(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(f: &mut Framer) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = f.next_message().unwrap() {
            out.push(v);
        }
        out
    }

    #[test]
    fn splits_concatenated_messages_fed_byte_by_byte() {
        let text = br#" {"a":"}{\"\\"} {"b":[1,{"c":[]}]}
{"d":"\u00e9]"}"#;
        let mut whole = Framer::default();
        whole.push(text).unwrap();
        let expect = all(&mut whole);
        assert_eq!(
            expect,
            vec![
                json!({"a": "}{\"\\"}),
                json!({"b": [1, {"c": []}]}),
                json!({"d": "é]"})
            ]
        );
        let mut bytewise = Framer::default();
        let mut got = Vec::new();
        for b in text {
            bytewise.push(&[*b]).unwrap();
            got.extend(all(&mut bytewise));
        }
        assert_eq!(got, expect);
        assert_eq!(bytewise.buffered(), 0);
    }

    #[test]
    fn bounds_message_size_even_when_never_closed() {
        let mut f = Framer::new(100);
        f.push(b"{\"a\":\"").unwrap();
        f.push(&[b'x'; 50]).unwrap();
        assert_eq!(f.next_message(), Ok(None));
        f.push(&[b'x'; 60]).unwrap();
        assert_eq!(f.next_message(), Err(FramingError::TooLong(100)));
        assert_eq!(f.next_message(), Err(FramingError::Failed));
        assert_eq!(f.buffered(), 0);
        // A message of exactly the bound passes.
        let mut f = Framer::new(9);
        f.push(br#"{"a":123}"#).unwrap();
        assert_eq!(f.next_message(), Ok(Some(json!({"a": 123}))));
    }

    #[test]
    fn rejects_garbage_and_bad_json() {
        for bad in [&b"x"[..], b"[1]", b"{\"a\":}", b"{\"a\" 1}", b"{]"] {
            let mut f = Framer::default();
            f.push(bad).unwrap();
            assert!(
                f.next_message().is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut deep = Framer::default();
        let mut msg = b"{\"a\":".to_vec();
        msg.extend(std::iter::repeat_n(b'[', 10_000));
        msg.extend(std::iter::repeat_n(b']', 10_000));
        msg.push(b'}');
        deep.push(&msg).unwrap();
        assert!(matches!(deep.next_message(), Err(FramingError::Json(_))));
    }
}
