//! A pure OpenFlow codec: bytes in, typed messages out, and back.
//!
//! The crate covers OpenFlow 1.0, 1.3, 1.4 and 1.5 with the Nicira (NX) and ONF extensions
//! that Open vSwitch 3.1's `ovs-ofctl` and OVN 23.03's `ovn-controller` put on the wire. It
//! does no I/O and knows nothing of the switch: [`decode`] turns one complete message into a
//! [`Message`], [`encode`] turns a [`Message`] into bytes for a given [`Version`]. Framing
//! (reading the 8-byte header, then `length` bytes) is [`frame_len`]'s job, so the caller owns
//! its sockets and buffers.
//!
//! Typed, but faithful to the wire: a match is a list of [`MatchEntry`] whose [`FieldId`]
//! names one wire header (OXM, NXM or experimenter OXM), and an action keeps the encoding it
//! came in (`set_field` versus `reg_load`, `resubmit` versus `resubmit_table`). Mapping those
//! onto the switch's rule model — where `NXM_OF_IN_PORT` and `OXM_OF_IN_PORT` are one field — is
//! the caller's concern. Consequently `decode(encode(m)) == m` for every message this crate can
//! encode, which the property tests check, and `ovs-ofctl ofp-print` is the referee for what
//! the bytes mean.
//!
//! Contract on untrusted input:
//! - **No panics.** Every read goes through [`wire::Reader`], which checks bounds; arithmetic
//!   on lengths is checked; nesting (actions inside `clone`, `ct`, bundles) is depth-limited.
//!   The `ofp_decode` fuzz target holds the crate to this.
//! - **Bounded allocation.** Nothing is allocated in proportion to a length *field*: vectors
//!   grow only as bytes are consumed from the message, so decoding a message of `n` bytes
//!   allocates O(n).
//! - **Refusals carry OpenFlow's answer.** Every [`DecodeError`] maps to the error type and
//!   code OVS would send ([`DecodeError::code`]), so the channel replies without guessing.

pub mod action;
pub mod continuation;
pub mod error;
pub mod field;
pub mod group;
pub mod instruction;
pub mod match10;
pub mod message;
pub mod meter;
pub mod multipart;
pub mod port;
pub mod prop;
pub mod wire;

pub use action::Action;
pub use continuation::Continuation;
pub use error::ErrorCode;
pub use field::{FieldId, MatchEntry};
pub use instruction::Instruction;
pub use match10::Match10;
pub use message::{Header, Message, decode, encode, frame_len};

/// An OpenFlow protocol version this codec speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Of10,
    Of13,
    Of14,
    Of15,
}

impl Version {
    pub const ALL: [Version; 4] = [Version::Of10, Version::Of13, Version::Of14, Version::Of15];

    /// The `ofp_header.version` byte.
    pub fn wire(self) -> u8 {
        match self {
            Version::Of10 => 0x01,
            Version::Of13 => 0x04,
            Version::Of14 => 0x05,
            Version::Of15 => 0x06,
        }
    }

    pub fn from_wire(v: u8) -> Option<Version> {
        match v {
            0x01 => Some(Version::Of10),
            0x04 => Some(Version::Of13),
            0x05 => Some(Version::Of14),
            0x06 => Some(Version::Of15),
            _ => None,
        }
    }

    /// The bitmap of versions in `hello`'s version-bitmap element.
    pub fn bitmap_bit(self) -> u32 {
        1 << self.wire()
    }
}

/// Why bytes could not be decoded. Each maps to the OpenFlow error OVS answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} is truncated: needs {need} bytes, {have} left")]
    Truncated {
        what: &'static str,
        need: usize,
        have: usize,
    },
    #[error("{what} has bad length {len}")]
    BadLength { what: &'static str, len: usize },
    #[error("OpenFlow version 0x{0:02x} is not supported")]
    BadVersion(u8),
    #[error("message type {0} is not supported in this version")]
    BadType(u8),
    #[error("experimenter 0x{0:08x} is not supported")]
    BadExperimenter(u32),
    #[error("experimenter message subtype {0} is not supported")]
    BadSubtype(u32),
    #[error("multipart type {0} is not supported")]
    BadMultipart(u16),
    #[error("action type {0} is not supported")]
    BadActionType(u16),
    #[error("action experimenter 0x{0:08x} is not supported")]
    BadActionExperimenter(u32),
    #[error("Nicira action subtype {0} is not supported")]
    BadActionSubtype(u16),
    #[error("action has bad length {0}")]
    BadActionLen(usize),
    #[error("bad action argument: {0}")]
    BadActionArgument(&'static str),
    #[error("instruction type {0} is not supported")]
    BadInstruction(u16),
    #[error("instruction has bad length {0}")]
    BadInstructionLen(usize),
    #[error("instruction {0} appears twice")]
    DupInstruction(u16),
    #[error("match type {0} is not supported")]
    BadMatchType(u16),
    #[error("match has bad length {0}")]
    BadMatchLen(usize),
    #[error("match field header 0x{0:08x} is not supported")]
    BadField(u32),
    #[error("match field {0} appears twice")]
    DupField(&'static str),
    #[error("match field {0} has a value bit outside its mask or may not be masked")]
    BadMask(&'static str),
    #[error("flow_mod command {0} is not supported")]
    BadCommand(u8),
    #[error("{0} is not valid here")]
    BadValue(&'static str),
    #[error("actions nest deeper than {max}", max = action::MAX_DEPTH)]
    TooDeep,
    #[error("property type 0x{0:04x} is not supported here")]
    BadProperty(u16),
    #[error("a property has bad length {0}")]
    BadPropertyLen(usize),
}

impl DecodeError {
    /// The OpenFlow error to reply with.
    pub fn code(&self) -> ErrorCode {
        use DecodeError as D;
        use ErrorCode as E;
        match self {
            D::Truncated { .. } | D::BadLength { .. } => E::BadRequestLen,
            D::BadVersion(_) => E::BadRequestVersion,
            D::BadType(_) => E::BadRequestType,
            D::BadExperimenter(_) => E::BadRequestExperimenter,
            D::BadSubtype(_) => E::BadRequestExpType,
            D::BadMultipart(_) => E::BadRequestMultipart,
            D::BadActionType(_) => E::BadActionType,
            D::BadActionExperimenter(_) => E::BadActionExperimenter,
            D::BadActionSubtype(_) => E::BadActionExpType,
            D::BadActionLen(_) => E::BadActionLen,
            D::BadActionArgument(_) | D::TooDeep => E::BadActionArgument,
            D::BadInstruction(_) => E::BadInstructionUnknown,
            D::BadInstructionLen(_) => E::BadInstructionLen,
            D::DupInstruction(_) => E::BadInstructionDup,
            D::BadMatchType(_) => E::BadMatchType,
            D::BadMatchLen(_) => E::BadMatchLen,
            D::BadField(_) => E::BadMatchField,
            D::DupField(_) => E::BadMatchDupField,
            D::BadMask(_) => E::BadMatchMask,
            D::BadCommand(_) => E::FlowModBadCommand,
            D::BadValue(_) => E::BadMatchValue,
            D::BadProperty(_) => E::BadPropertyType,
            D::BadPropertyLen(_) => E::BadPropertyLen,
        }
    }
}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the message is longer than 65535 bytes")]
    TooLong,
    #[error("{0} cannot be expressed in {1:?}")]
    NotInVersion(&'static str, Version),
}
