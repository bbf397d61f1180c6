//! The upcall interface: how the fast path asks the slow path about a packet it has no
//! megaflow for.
//!
//! The datapath calls [`UpcallHandler::upcall`] with the packet's flow key; the slow path runs
//! its OpenFlow tables and answers with datapath actions and the mask of every key bit it
//! consulted. The datapath installs `(key & mask, mask) -> actions` as a megaflow.
//!
//! Soundness contract: every key `k2` with `k2 & mask == key & mask` must translate to the same
//! actions. Lock order: the handler's own locks are taken *before* any datapath table lock.

use crate::action::DpActions;
use crate::flow::{FlowKey, FlowMask};

/// The slow path's answer to an upcall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    /// What to do with every packet of the megaflow (empty = drop).
    pub actions: DpActions,
    /// Bits of the key the translation depended on.
    pub mask: FlowMask,
}

/// Why an upcall produced no megaflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpcallError {
    /// The slow path refused this key (e.g. a translation error); the packet is dropped and
    /// nothing is installed.
    #[error("translation failed")]
    TranslationFailed,
}

/// The slow path, as seen by the datapath.
pub trait UpcallHandler: Send + Sync {
    /// Translates `key` into actions and a mask. `packet` is the frame, for slow-path-only
    /// actions that need it; most translations ignore it.
    fn upcall(&self, key: &FlowKey, packet: &[u8]) -> Result<Translation, UpcallError>;
}
