//! # vswitchd — the slow path and control plane of vswitch
//!
//! Where this crate sits in a packet's path: the fast path (`fastpath`) misses and upcalls;
//! here xlate runs the packet's flow through a bridge's OpenFlow tables (`ofproto`), asking the
//! classifier for the best rule in each table while recording every header bit it consulted,
//! and answers with datapath actions and a megaflow mask.
//!
//! ```text
//! ofproto (tables of rules) ─► classifier (lookup + wildcards) ─► xlate ─► fastpath::upcall
//! ```

pub mod classifier;
pub mod dataplane;
pub mod mac_learning;
pub mod normal;
pub mod ofctl;
pub mod ofproto;
pub mod trace;
pub mod xlate;
