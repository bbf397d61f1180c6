//! Packets the datapath sends up for `controller` actions, on their way to the OpenFlow
//! connections (OVS's upcalls of type `CONTROLLER_UPCALL` and `connmgr`'s packet-in queue).
//!
//! A datapath thread executing a `userspace` action calls [`Punt::userspace`] with its megaflow
//! table lock held, so this side must never block: the packet is copied into a bounded queue
//! ([`PUNT_QUEUE`] packets) with `try_send`, and when the queue is full the packet is dropped
//! and counted ([`PuntStats::dropped`], metric `vswitch_packet_in_dropped_total`). Whoever
//! serves OpenFlow takes the receiving end once ([`super::Dataplane::take_punted`]) and turns
//! each [`Punted`] into packet-ins for the bridge's connections; without a taker the queue
//! fills and further packets are counted as dropped.

use fastpath::action::{PacketMeta, UserspaceAction, UserspaceSink};
use fastpath::flow::TunnelMeta;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Packets waiting for the OpenFlow side, at most.
pub const PUNT_QUEUE: usize = 1024;

/// One packet sent up by a `userspace` action.
#[derive(Clone, Debug)]
pub struct Punted {
    /// The action's cookie ([`crate::xlate::controller::ControllerCookie`] bytes).
    pub cookie: Vec<u8>,
    /// The frame as the actions before it left it.
    pub frame: Vec<u8>,
    /// Its datapath metadata (conntrack state, recirculation id).
    pub meta: PacketMeta,
    pub tunnel: TunnelMeta,
}

/// The counters of the queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PuntStats {
    /// Packets queued for the OpenFlow side.
    pub queued: u64,
    /// Packets dropped because the queue was full (or nothing serves it any more).
    pub dropped: u64,
}

/// The datapath's [`UserspaceSink`].
#[derive(Debug)]
pub struct Punt {
    tx: mpsc::Sender<Punted>,
    queued: AtomicU64,
    dropped: AtomicU64,
}

impl Punt {
    /// A sink and the receiving end of its queue.
    pub fn new(capacity: usize) -> (Punt, mpsc::Receiver<Punted>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let p = Punt {
            tx,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        (p, rx)
    }

    pub fn stats(&self) -> PuntStats {
        PuntStats {
            queued: self.queued.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

impl UserspaceSink for Punt {
    fn userspace(
        &self,
        action: &UserspaceAction,
        frame: &[u8],
        meta: &PacketMeta,
        tunnel: &TunnelMeta,
    ) {
        // Check for room before copying: a flood that fills the queue costs no allocation.
        if self.tx.capacity() == 0 {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let p = Punted {
            cookie: action.cookie.clone(),
            frame: frame.to_vec(),
            meta: *meta,
            tunnel: *tunnel,
        };
        match self.tx.try_send(p) {
            Ok(()) => self.queued.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let (p, mut rx) = Punt::new(2);
        let a = UserspaceAction {
            desc: String::new(),
            recirc_id: 0,
            cookie: vec![7],
        };
        for i in 0..5u8 {
            p.userspace(&a, &[i], &PacketMeta::new(1), &TunnelMeta::default());
        }
        assert_eq!(
            p.stats(),
            PuntStats {
                queued: 2,
                dropped: 3
            }
        );
        assert_eq!(rx.try_recv().unwrap().frame, vec![0]);
        assert_eq!(rx.try_recv().unwrap().frame, vec![1]);
        assert!(rx.try_recv().is_err());
        // Room again: the next one goes through.
        p.userspace(&a, &[9], &PacketMeta::new(1), &TunnelMeta::default());
        assert_eq!(rx.try_recv().unwrap().cookie, vec![7]);
        drop(rx);
        p.userspace(&a, &[9], &PacketMeta::new(1), &TunnelMeta::default());
        assert_eq!(p.stats().dropped, 4, "nobody serving the queue: counted");
    }
}
