//! Bounded big-endian reading and writing, the only place the codec touches raw bytes.
//!
//! [`Reader`] is a cursor over a borrowed slice whose every read is checked: running off the
//! end is a [`DecodeError`], never a panic, and nothing is allocated here except by
//! [`Reader::bytes`], which copies bytes that are present. That is the whole basis of the
//! crate's no-panic and bounded-allocation contract: the decoders above only ever read through
//! a `Reader`, and a length field can only select a sub-slice of what was received.
//!
//! [`Writer`] appends to a `Vec<u8>`; structures whose length is only known at the end
//! (messages, actions, properties) reserve a length slot and fill it with [`Writer::patch_u16`].

use crate::DecodeError;

/// A checked cursor over received bytes.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    /// What the reader is reading, for error messages.
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `buf`; `what` names the structure in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, what }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.buf
    }

    fn short(&self, need: usize) -> DecodeError {
        DecodeError::Truncated {
            what: self.what,
            need,
            have: self.buf.len(),
        }
    }

    /// Consumes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(self.short(n));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Consumes `n` bytes as a nested reader.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.take(n)?, what))
    }

    /// Consumes the rest.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Consumes `n` bytes that must be zero (padding is accepted whatever it holds, as OVS
    /// does; this only checks that it is present).
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Copies `n` present bytes into a vector.
    pub fn bytes(&mut self, n: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(self.take(n)?.to_vec())
    }

    /// Reads a NUL-padded string field of `n` bytes (OpenFlow's `char name[N]`): at most
    /// `n - 1` bytes before the first NUL, as OVS copies it (`ovs_strlcpy`), invalid UTF-8
    /// replaced, and cut back to `n - 1` bytes on a character boundary, so that what decodes
    /// is exactly what [`Writer::string`] writes back.
    pub fn string(&mut self, n: usize) -> Result<String, DecodeError> {
        let raw = self.take(n)?;
        let max = n.saturating_sub(1);
        let end = raw
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(raw.len())
            .min(max);
        let mut s = String::from_utf8_lossy(&raw[..end]).into_owned();
        s.truncate(floor_char_boundary(&s, max));
        Ok(s)
    }
}

/// Appends big-endian values to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// Writes `s` NUL-padded to `n` bytes, keeping a terminating NUL: a longer string is cut
    /// to `n - 1` bytes on a character boundary (never mid-character).
    pub fn string(&mut self, s: &str, n: usize) {
        let k = floor_char_boundary(s, n.saturating_sub(1));
        self.bytes(&s.as_bytes()[..k]);
        self.zeros(n - k);
    }

    /// Pads with zeros to a multiple of 8 counted from `start`.
    pub fn pad8_from(&mut self, start: usize) {
        let used = self.buf.len() - start;
        self.zeros((8 - used % 8) % 8);
    }

    /// Overwrites the 16-bit value at `at`.
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes the length of everything since `start` into the 16-bit slot at `at`, failing
    /// when it does not fit.
    pub fn patch_len(&mut self, at: usize, start: usize) -> Result<(), crate::EncodeError> {
        let len = u16::try_from(self.buf.len() - start).map_err(|_| crate::EncodeError::TooLong)?;
        self.patch_u16(at, len);
        Ok(())
    }
}

/// Rounds `n` up to a multiple of 8.
pub fn round8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let mut r = Reader::new(&[1, 2, 3], "test");
        assert_eq!(r.u16().unwrap(), 0x0102);
        assert!(matches!(
            r.u16(),
            Err(DecodeError::Truncated {
                need: 2,
                have: 1,
                ..
            })
        ));
        assert_eq!(r.u8().unwrap(), 3);
        assert!(r.is_empty());
        assert!(r.take(usize::MAX).is_err());
    }

    #[test]
    fn strings_stop_at_nul_and_pad() {
        let mut w = Writer::new();
        w.string("br0", 8);
        assert_eq!(w.buf, b"br0\0\0\0\0\0");
        w.string("0123456789", 4);
        assert_eq!(&w.buf[8..], b"012\0");
        let mut r = Reader::new(&w.buf, "s");
        assert_eq!(r.string(8).unwrap(), "br0");
        assert_eq!(r.string(4).unwrap(), "012");
    }
}

/// The largest index `<= max` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = max.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod string_tests {
    use super::*;

    /// A fuzzer-found case: a port name of replacement characters (from invalid UTF-8) and a
    /// 16-byte name with no NUL came back different after a re-encode.
    #[test]
    fn strings_round_trip_after_one_decode() {
        for raw in [
            &[0xfd_u8; 16][..],
            b"kkkkkkkkkkkkkkkk",
            b"p1\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}".as_bytes(),
        ] {
            let first = Reader::new(raw, "name").string(16).unwrap();
            assert!(first.len() <= 15, "{first:?}");
            let mut w = Writer::new();
            w.string(&first, 16);
            assert_eq!(w.buf.len(), 16);
            assert_eq!(Reader::new(&w.buf, "name").string(16).unwrap(), first);
        }
    }
}
