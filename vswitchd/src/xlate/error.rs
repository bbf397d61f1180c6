//! Why a translation failed.
//!
//! A failed translation drops the packet. Most failures are deterministic for a given flow and
//! configuration, so, as OVS does, the upcall installs a drop megaflow over the bits the
//! translation consulted before failing ([`XlateFailure`]): the flow's later packets are
//! dropped in the fast path instead of each going up. The exceptions are failures that depend
//! on the recirculation table ([`XlateError::installs_drop`]). Every failure is counted per
//! kind ([`XlateError::KINDS`]: `datapath-stats`, metrics) and the trace shows it.

use fastpath::flow::{Field, FlowMask};

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

/// A failed translation with the mask of every key bit it consulted before failing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XlateFailure {
    pub error: XlateError,
    /// What the translation had consulted when it failed: every packet that agrees with the
    /// key under it fails the same way. Boxed: failures are rare, and the error side of a
    /// `Result` stays small.
    pub mask: Box<FlowMask>,
}

impl XlateError {
    /// Every kind, in counter order ([`XlateError::index`]); stable snake_case labels.
    pub const KINDS: [&'static str; 9] = [
        "resubmit_depth_exceeded",
        "too_many_resubmits",
        "resubmit_loop",
        "unknown_in_port",
        "unknown_recirc_id",
        "recirc_ids_exhausted",
        "unsupported_set",
        "too_many_vlans",
        "patch_peer_missing",
    ];

    /// This error's position in [`XlateError::KINDS`].
    pub fn index(&self) -> usize {
        match self {
            XlateError::ResubmitDepthExceeded(_) => 0,
            XlateError::TooManyResubmits(_) => 1,
            XlateError::ResubmitLoop(_) => 2,
            XlateError::UnknownInPort(_) => 3,
            XlateError::UnknownRecircId(_) => 4,
            XlateError::RecircIdsExhausted(_) => 5,
            XlateError::UnsupportedSet(_) => 6,
            XlateError::TooManyVlans => 7,
            XlateError::PatchPeerMissing => 8,
        }
    }

    /// This error's label.
    pub fn kind(&self) -> &'static str {
        Self::KINDS[self.index()]
    }

    /// Whether a drop megaflow over the consulted mask is right for this error, as OVS
    /// installs one. True when the failure follows from the packet bits consulted and from
    /// configuration (rules, ports, bridges), whose every change revalidates megaflows. False
    /// for the two that depend on the recirculation table, which changes without
    /// revalidation: an unknown id may be allocated later (a drop megaflow matching it would
    /// black-hole its packets), and exhaustion passes as ids are freed.
    pub fn installs_drop(&self) -> bool {
        !matches!(
            self,
            XlateError::UnknownRecircId(_) | XlateError::RecircIdsExhausted(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_dense_and_unique() {
        let all = [
            XlateError::ResubmitDepthExceeded(64),
            XlateError::TooManyResubmits(4096),
            XlateError::ResubmitLoop(0),
            XlateError::UnknownInPort(1),
            XlateError::UnknownRecircId(1),
            XlateError::RecircIdsExhausted(1),
            XlateError::UnsupportedSet(Field::ArpOp),
            XlateError::TooManyVlans,
            XlateError::PatchPeerMissing,
        ];
        assert_eq!(all.len(), XlateError::KINDS.len());
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
        let mut names = XlateError::KINDS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(!XlateError::UnknownRecircId(1).installs_drop());
        assert!(XlateError::TooManyResubmits(1).installs_drop());
    }
}
