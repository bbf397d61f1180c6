//! The OpenFlow channel's switch side, apart from sockets: conversion between the wire codec
//! (crate `ofp`) and the rule model, and the per-connection protocol state machine.
//!
//! - [`convert`] turns flow-mods into the model's [`crate::ofproto::FlowMod`], validated by the
//!   same parser as `vswitch-ctl`, so there is one rule model whatever channel changed it.
//! - [`to_wire`] is the way back, for flow-stats replies and flow-removed messages.
//! - [`conn`] runs one connection: hello and version negotiation, echo keepalive, errors for
//!   what cannot be decoded, barrier ordering, and multipart replies split to fit 64 KiB. It is
//!   pure — bytes and the current time in, bytes and requests out — so every protocol rule is
//!   testable without sockets or clocks.
//!
//! Errors carry the OpenFlow error the peer must receive ([`OpenFlowError::code`]).

#[cfg(test)]
mod conj_tests;
pub mod conn;
pub mod convert;
pub mod flow_removed;
pub mod group;
mod learn;
pub mod match10;
pub mod meter;
#[cfg(test)]
mod ofp_print;
pub mod packet_in;
pub mod resume;
pub mod to_wire;

use ofp::ErrorCode;

/// Why an OpenFlow request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenFlowError {
    #[error("refused with {0:?}")]
    Refused(ErrorCode),
    #[error("flow '{flow}' is invalid: {why}")]
    Invalid {
        code: ErrorCode,
        flow: String,
        why: String,
    },
}

impl OpenFlowError {
    /// The OpenFlow error to send.
    pub fn code(&self) -> ErrorCode {
        match self {
            OpenFlowError::Refused(c) | OpenFlowError::Invalid { code: c, .. } => *c,
        }
    }
}
