//! OpenFlow controllers: the connections a bridge makes to (or accepts from) the controllers
//! set with `vswitch-ctl set-controller`, and what the bridge does when none is connected.
//!
//! - [`target`] parses and prints targets (`tcp:`, `unix:`, `ptcp:`, `punix:`).
//!
//! The runtime side lives with the other OpenFlow sockets in
//! [`crate::server::mgmt`]: a controller connection runs the very protocol handler a
//! `BRIDGE.mgmt` connection runs, so flow-mods, bundles and multipart requests behave the
//! same whichever way they arrive.
pub mod role;
pub mod status;
pub mod target;
