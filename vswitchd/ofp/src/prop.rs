//! OpenFlow properties (`ofp_prop_header`): `type(16) len(16) payload`, padded to 8 bytes.
//!
//! Used by `controller2` actions, `NXT_PACKET_IN2`, `NXT_RESUME`, and OpenFlow 1.4+ port
//! descriptions. `len` counts the 4-byte header and the payload but not the padding, which must
//! be present.

use crate::wire::{Reader, Writer, round8};
use crate::{DecodeError, EncodeError};

/// Reads one property: its type and a reader over its payload.
pub fn decode<'a>(r: &mut Reader<'a>) -> Result<(u16, Reader<'a>), DecodeError> {
    let typ = r.u16()?;
    let len = usize::from(r.u16()?);
    if len < 4 {
        return Err(DecodeError::BadLength {
            what: "property",
            len,
        });
    }
    let payload = r.sub(len - 4, "property")?;
    r.skip(round8(len) - len)?;
    Ok((typ, payload))
}

/// Appends one property.
pub fn put(w: &mut Writer, typ: u16, payload: &[u8]) -> Result<(), EncodeError> {
    let start = w.len();
    w.u16(typ);
    w.u16(u16::try_from(payload.len() + 4).map_err(|_| EncodeError::TooLong)?);
    w.bytes(payload);
    w.pad8_from(start);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_padding() {
        let mut w = Writer::new();
        put(&mut w, 3, b"hello").unwrap();
        assert_eq!(w.buf, b"\x00\x03\x00\x09hello\0\0\0\0\0\0\0");
        let mut r = Reader::new(&w.buf, "t");
        let (t, mut p) = decode(&mut r).unwrap();
        assert_eq!((t, p.rest()), (3, &b"hello"[..]));
        assert!(r.is_empty());
        // Padding missing.
        let mut r = Reader::new(&w.buf[..9], "t");
        assert!(decode(&mut r).is_err());
    }
}
