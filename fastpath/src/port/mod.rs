//! Ports: where packets enter and leave the datapath.
//!
//! One trait, [`Port`], and one file per kind: `tap` (a TAP device the switch creates and
//! owns), `afpacket` (the `system` type: AF_PACKET on an existing interface such as a VM's
//! `vnet0` or a veth), `dummy` (in-memory queues, for tests and benchmarks), `tunnel` (VXLAN, Geneve and GRE over
//! the host's own IP stack). `internal` is a
//! TAP device named after the bridge; `patch` is resolved in xlate and never touches the
//! datapath.
//!
//! Ports move packets in batches: one call receives or sends up to a batch, so that syscalls are
//! amortised.

pub mod afpacket;
pub mod dummy;
pub mod offload;
pub mod sys;
pub mod tap;
pub mod tunnel;
pub mod uring;

use crate::packet::Packet;
use std::os::fd::RawFd;

/// Largest batch a datapath thread moves at once.
pub const BATCH_SIZE: usize = 32;

/// Why a port could not move packets.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// The interface is gone (e.g. a VM powered off); the port stays configured and is reopened
    /// when the interface reappears.
    #[error("interface {0} is down or gone")]
    Gone(String),
    /// Any other I/O error.
    #[error("I/O error on port {port}")]
    Io {
        port: String,
        #[source]
        source: std::io::Error,
    },
    /// Opening the device failed.
    #[error("cannot open {port}: {reason}")]
    Open { port: String, reason: String },
}

/// Counters a port keeps (summed at read time by the control plane).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// A datapath port.
pub trait Port: Send {
    /// Interface name.
    fn name(&self) -> &str;

    /// Receives up to `bufs.len()` packets into the given (reset) buffers, returning how many
    /// were filled. Never blocks: returns `Ok(0)` when nothing is waiting.
    fn recv_batch(&mut self, bufs: &mut [Packet]) -> Result<usize, PortError>;

    /// Sends the packets; returns how many were accepted. Never blocks for long: a full
    /// queue drops (counted in `tx_dropped`).
    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError>;

    /// A file descriptor that is readable when packets are waiting (for idle back-off with
    /// poll/epoll); `None` for ports without one (dummy).
    fn rx_fd(&self) -> Option<RawFd> {
        None
    }

    /// True if the port can currently move packets.
    fn is_up(&self) -> bool {
        true
    }

    /// Tries to reopen a port whose interface went away; returns true when it is back.
    fn reopen(&mut self) -> bool {
        self.is_up()
    }

    /// The port's counters.
    fn stats(&self) -> PortStats;

    /// True if the port accepts GSO super-packets and partial checksums as they are (a TAP
    /// with `IFF_VNET_HDR` and offloads, or AF_PACKET with `PACKET_VNET_HDR`).
    fn accepts_offload(&self) -> bool {
        false
    }

    /// True if `recv_batch` sets each packet's `in_port` (and tunnel metadata) itself: a
    /// tunnel endpoint, which receives for several tunnel ports on one socket.
    fn demuxes(&self) -> bool {
        false
    }

    /// Moves the reasons for packets the last `recv_batch` dropped before handing them over
    /// (a tunnel endpoint's bad outer headers) into `out`, for the datapath's drop counters.
    fn take_rx_drops(&mut self, _out: &mut Vec<tunnel::TunnelDrop>) {}
}
