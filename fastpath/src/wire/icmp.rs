//! ICMP (for IPv4) headers (RFC 792).
//!
//! Every ICMP message starts with type, code, checksum and a 4-byte type-specific word (echo
//! identifier and sequence, next-hop MTU, pointer...), so a checked view guarantees 8 bytes,
//! as OVS requires before it reads type and code. The payload is the rest (for errors, the
//! quoted IP header that conntrack uses to find the related connection).

use super::{Error, read_u16, write_u16};

/// Length of the header (type, code, checksum, rest-of-header word).
pub const HEADER_LEN: usize = 8;
/// Echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Destination unreachable.
pub const DEST_UNREACHABLE: u8 = 3;
/// Echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Time exceeded.
pub const TIME_EXCEEDED: u8 = 11;

/// What a message type means to a stateful middlebox (conntrack, NAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A query that may start a conversation (echo, timestamp, information request).
    Request,
    /// The answer to a query.
    Reply,
    /// An error that quotes the packet that caused it.
    Error,
    /// Anything else.
    Other,
}

/// The [`Kind`] of ICMP type `ty`. Errors are destination unreachable, source quench,
/// redirect, time exceeded and parameter problem.
pub const fn kind(ty: u8) -> Kind {
    match ty {
        8 | 13 | 15 => Kind::Request,
        0 | 14 | 16 => Kind::Reply,
        3 | 4 | 5 | 11 | 12 => Kind::Error,
        _ => Kind::Other,
    }
}

/// The query type on the other side of `ty`: a request's reply, or a reply's request.
pub const fn counterpart(ty: u8) -> Option<u8> {
    match ty {
        8 => Some(0),
        0 => Some(8),
        13 => Some(14),
        14 => Some(13),
        15 => Some(16),
        16 => Some(15),
        _ => None,
    }
}

pub(crate) mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const SEQ: Range<usize> = 6..8;
    pub const PAYLOAD: RangeFrom<usize> = 8..;
}

/// A view of an ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it (accessors panic if it is too short).
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps `buffer` if it holds the 8-byte header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the buffer holds the header.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code.
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Echo identifier (first half of the rest-of-header word).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::IDENT])
    }

    /// Echo sequence number (second half of the rest-of-header word).
    #[inline]
    pub fn echo_seq(&self) -> u16 {
        read_u16(&self.buffer.as_ref()[field::SEQ])
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Stores a checksum.
    #[inline]
    pub fn set_checksum(&mut self, checksum: u16) {
        write_u16(&mut self.buffer.as_mut()[field::CHECKSUM], checksum);
    }

    /// Sets the echo identifier (rewritten by NAT for echo messages).
    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        write_u16(&mut self.buffer.as_mut()[field::IDENT], ident);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ECHO: [u8; 10] = [8, 0, 0xf7, 0xfe, 0x00, 0x01, 0x00, 0x02, 0xaa, 0xbb];

    #[test]
    fn kinds_and_counterparts() {
        assert_eq!(kind(ECHO_REQUEST), Kind::Request);
        assert_eq!(kind(ECHO_REPLY), Kind::Reply);
        assert_eq!(kind(DEST_UNREACHABLE), Kind::Error);
        assert_eq!(kind(9), Kind::Other);
        assert_eq!(counterpart(13), Some(14));
        assert_eq!(counterpart(ECHO_REPLY), Some(ECHO_REQUEST));
        assert_eq!(counterpart(DEST_UNREACHABLE), None);
    }

    #[test]
    fn reads_fields() {
        let p = Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!((p.msg_type(), p.code()), (ECHO_REQUEST, 0));
        assert_eq!(p.checksum(), 0xf7fe);
        assert_eq!((p.echo_ident(), p.echo_seq()), (1, 2));
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn rejects_every_truncation() {
        for len in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&ECHO[..len]), Err(Error::Truncated));
        }
    }

    #[test]
    fn setters() {
        let mut b = ECHO;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_echo_ident(0x1234);
        p.set_checksum(0);
        assert_eq!(&b[..8], &[8, 0, 0, 0, 0x12, 0x34, 0, 2]);
    }
}
