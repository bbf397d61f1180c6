//! OVSDB client: the Open vSwitch database protocol (RFC 7047 plus OVS's extensions), from
//! bytes on the wire to a typed replica of the tables a switch needs.
//!
//! Layers, each usable alone:
//! - [`framing`]: cuts a byte stream into JSON messages, with a size bound (no I/O);
//! - [`rpc`]: JSON-RPC requests, notifications and replies;
//! - [`data`] and [`schema`]: atoms, sets, maps and the column types that give them meaning;
//! - [`ops`]: transactions (insert, select, update, mutate, delete, wait, comment, ...);
//! - [`monitor`]: `monitor_cond_since`/`monitor_cond` and `update2`/`update3` diffs.
//!
//! The codec layers are pure: they never touch a socket, so they are unit-tested and fuzzed
//! on bytes alone.

pub mod data;
pub mod framing;
pub mod monitor;
pub mod ops;
pub mod rpc;
pub mod schema;

pub use data::{Atom, Datum, Uuid};
pub use schema::DatabaseSchema;
