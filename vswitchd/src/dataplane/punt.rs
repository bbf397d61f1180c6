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
    use super::super::revalidator::tests::{dataplane, udp};
    use super::*;
    use crate::ofproto::{OfAction, ofpp};
    use crate::xlate::controller::ControllerCookie;
    use fastpath::packet::Packet;

    #[test]
    fn every_packet_of_a_controller_megaflow_goes_up_as_modified_with_its_metadata() {
        let dp = dataplane(&[
            "priority=10,udp,actions=load:0x7->reg2[],mod_nw_tos:16,resubmit(,3)",
            "table=3,cookie=0xab,udp,actions=controller(reason=no_match,userdata=01.02),output:2",
        ]);
        let mut rx = dp.take_punted().expect("the receiver");
        assert!(dp.take_punted().is_none(), "taken once");
        let d = dp.datapath();
        let mut ctx = d.new_pmd();
        let p1 = dp.dp_port_of("p1").unwrap();
        let p2 = dp.dp_port_of("p2").unwrap();
        for _ in 0..3 {
            let mut b = vec![Packet::from_bytes(&udp(1000))];
            d.process_batch(&mut ctx, p1, &mut b, 1);
            let out = ctx.take_outputs();
            assert_eq!(
                out.len(),
                1,
                "the output after the controller action happens"
            );
            assert_eq!(out[0].0, p2);
        }
        assert_eq!(d.stats().upcalls, 1, "one upcall, then megaflow hits");
        for _ in 0..3 {
            let p = rx.try_recv().expect("every packet is sent up");
            assert_eq!(p.frame[15] & 0xfc, 16, "with the TOS set before the action");
            let c = ControllerCookie::decode(&p.cookie).unwrap();
            assert_eq!(
                (
                    c.bridge.as_str(),
                    c.table_id,
                    c.rule_cookie,
                    c.reason,
                    c.in_port
                ),
                ("br0", 3, 0xab, 0, 1)
            );
            assert_eq!(c.regs[2], 7);
            assert_eq!(c.userdata, vec![1, 2]);
        }
        assert_eq!(dp.slow_stats().punt.queued, 3);
    }

    #[test]
    fn a_packet_out_runs_its_actions_and_the_tables_on_the_datapath() {
        let dp = dataplane(&["priority=1,in_port=1,actions=output:2"]);
        let p2 = dp.dummy_handle("p2").unwrap();
        p2.set_capture(true);
        // From the controller, straight to a port, with a rewrite.
        let set = crate::ofctl::parse_flow(
            "ip,actions=mod_nw_tos:32,output:2",
            &crate::ofctl::NoNames,
            crate::ofctl::FlowSyntax::Add,
        )
        .unwrap()
        .actions;
        dp.packet_out("br0", ofpp::CONTROLLER, &set, &udp(5))
            .unwrap();
        let got = p2.collect_frames();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0][15], 32);
        // As if received on port 1, through table 0 (output:TABLE).
        let table = [OfAction::Resubmit {
            port: None,
            table: Some(0),
        }];
        dp.packet_out("br0", 1, &table, &udp(6)).unwrap();
        assert_eq!(p2.collect_frames(), vec![udp(6)]);
        // From the controller the table's in_port=1 rule does not match.
        dp.packet_out("br0", ofpp::CONTROLLER, &table, &udp(7))
            .unwrap();
        assert!(p2.collect_frames().is_empty());
        assert!(dp.packet_out("nobr", 1, &table, &udp(7)).is_err());
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_blocking() {
        let (p, mut rx) = Punt::new(2);
        let a = UserspaceAction {
            desc: String::new(),
            recirc_id: 0,
            cookie: vec![7],
            meter: None,
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
