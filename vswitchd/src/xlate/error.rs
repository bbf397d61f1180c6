//! Why a translation failed.
//!
//! A failed translation drops the packet and installs nothing: every variant is deterministic
//! for a given flow and rule set, so the daemon counts it (per variant) and the trace shows it.

use fastpath::flow::Field;

/// A translation that could not be completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XlateError {
    /// More than [`super::MAX_DEPTH`] nested resubmits to the same or an earlier table.
    #[error("resubmit depth exceeded ({0} levels)")]
    ResubmitDepthExceeded(usize),
    /// More than [`super::MAX_RESUBMITS`] table lookups in one translation.
    #[error("too many resubmits ({0} table lookups)")]
    TooManyResubmits(usize),
    /// A `resubmit` re-entered a table with exactly the flow it had there before, which can
    /// only recurse forever.
    #[error("resubmit loop detected: table {0} re-entered with an unchanged flow")]
    ResubmitLoop(u8),
    /// The packet arrived on a datapath port no bridge port maps to.
    #[error("datapath port {0} is not a port of this bridge")]
    UnknownInPort(u32),
    /// A recirculated packet carries a `recirc_id` with no frozen state.
    #[error("recirculation id {0:#x} has no frozen state")]
    UnknownRecircId(u32),
    /// The per-datapath recirculation id space is full.
    #[error("recirculation ids exhausted ({0} in use)")]
    RecircIdsExhausted(usize),
    /// The actions changed a header field the datapath cannot rewrite.
    #[error("the datapath cannot rewrite {}", .0.name())]
    UnsupportedSet(Field),
    /// The packet would need more than two VLAN headers.
    #[error("push_vlan on a packet that already has two VLAN headers")]
    TooManyVlans,
    /// A patch port's peer bridge is not known to this translation context.
    #[error("patch port peer bridge is not available")]
    PatchPeerMissing,
}
