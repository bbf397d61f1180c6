//! # fastpath — the per-packet engine of vswitch
//!
//! Where this crate sits in a packet's path:
//!
//! ```text
//! port rx ─► wire (parse) ─► flow (key) ─► microflow ─► megaflow ─► (miss: upcall to vswitchd)
//!         ─► action (execute in place) ─► port tx
//! ```
//!
//! No OpenFlow and no gRPC here: the slow path (`vswitchd`) answers upcalls with datapath
//! actions and a mask ([`upcall`]). Core logic takes time as an argument and does no I/O, so it
//! is tested without sockets.

pub mod action;
pub mod cache;
pub mod conntrack;
pub mod dpif;
pub mod flow;
pub mod meter;
pub mod packet;
pub mod port;
pub mod upcall;
pub mod wire;
