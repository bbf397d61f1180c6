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
//!
//! The control plane: `config` (command line), `store` (durable config database), `switch`
//! (the bridges and ports the RPCs act on), `server` (gRPC services), `metrics` (Prometheus).

pub mod classifier;
pub mod config;
pub mod controller;
pub mod dataplane;
pub mod mac_learning;
pub mod metrics;
pub mod normal;
pub mod ofctl;
pub mod ofproto;
pub mod openflow;
pub mod ovsdb_sync;
pub mod quote;
pub mod report;
pub mod server;
pub mod store;
pub mod switch;
pub mod trace;
pub mod xlate;
