//! OVSDB client: the Open vSwitch database protocol (RFC 7047 plus OVS's extensions), from
//! bytes on the wire to a typed replica of the tables a switch needs.
//!
//! Layers, each usable alone:
//! - [`framing`]: cuts a byte stream into JSON messages, with a size bound (no I/O);
//! - [`rpc`]: JSON-RPC requests, notifications and replies;
//! - [`data`] and [`schema`]: atoms, sets, maps and the column types that give them meaning;
//! - [`ops`]: transactions (insert, select, update, mutate, delete, wait, comment, ...);
//! - [`monitor`]: `monitor_cond_since`/`monitor_cond` and `update2`/`update3` diffs;
//! - [`replica`]: the in-memory copy of the monitored tables, with typed views;
//! - [`txn`]: write-back transactions (interface state, `cur_cfg`, datapath capabilities);
//! - [`client`]: the tokio connection task (unix: or tcp:) that keeps the replica current
//!   across server restarts.
//!
//! Everything but [`client`] is pure: no socket, no clock, so it is unit-tested and fuzzed
//! on bytes alone; the client is tested against a real ovsdb-server and a hostile fake one.

pub mod client;
pub mod data;
pub mod framing;
pub mod monitor;
pub mod ops;
pub mod replica;
pub mod rpc;
pub mod schema;
pub mod txn;

pub use client::{Client, ClientConfig, ClientError, Remote, Status};
pub use data::{Atom, Datum, Uuid};
pub use replica::Replica;
pub use schema::DatabaseSchema;
