//! Batch scaffolding of a datapath pass: the parallel arrays a batch is staged in between
//! extraction and lookup, the work list of cache hits, the misses waiting for an upcall with
//! each port's upcall budget, the per-port output queues, and the [`Sink`] through which the
//! action executor hands packets back (outputs, copies from the pool, recirculations, drops).

use super::DropReason;
use crate::action::{
    ActionDrop, ConntrackHook, ExecEnv, Headers, PacketMeta, UserspaceAction, UserspaceSink,
};
use crate::flow::FlowKey;
use crate::packet::{Packet, PacketPool};
use crate::port::BATCH_SIZE;

/// Packets between extraction and lookup, as parallel arrays (with `PmdContext::keys`), so
/// that executing one borrows its headers and metadata in place instead of moving them.
#[derive(Default)]
pub(super) struct Staged {
    pub(super) packets: Vec<Packet>,
    pub(super) headers: Vec<Headers>,
    pub(super) metas: Vec<PacketMeta>,
    pub(super) depths: Vec<u8>,
}

impl Staged {
    pub(super) fn with_capacity(n: usize) -> Staged {
        Staged {
            packets: Vec::with_capacity(n),
            headers: Vec::with_capacity(n),
            metas: Vec::with_capacity(n),
            depths: Vec::with_capacity(n),
        }
    }

    /// Forgets the first `n` entries (whose packets were already taken).
    pub(super) fn consume(&mut self, n: usize) {
        self.headers.drain(..n);
        self.metas.drain(..n);
        self.depths.drain(..n);
    }
}

/// One packet that missed both caches, between lookup and upcall.
pub(super) struct Work {
    pub(super) packet: Packet,
    pub(super) headers: Headers,
    pub(super) meta: PacketMeta,
    pub(super) depth: u8,
}

/// A recirculated packet waiting for re-extraction.
pub(super) struct Pending {
    pub(super) packet: Packet,
    pub(super) meta: PacketMeta,
    pub(super) depth: u8,
}

/// A packet that missed both caches, with its key.
pub(super) struct Miss {
    pub(super) work: Work,
    pub(super) key: FlowKey,
}

/// Token bucket for one port's upcalls (milli-tokens, so integer refill per millisecond).
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    pub(super) milli: u64,
    pub(super) last_ms: u64,
}

impl Budget {
    pub(super) fn take(&mut self, now_ms: u64, rate: u32, burst: u32) -> bool {
        let cap = u64::from(burst) * 1000;
        let refill = now_ms.saturating_sub(self.last_ms) * u64::from(rate);
        self.milli = (self.milli + refill).min(cap);
        self.last_ms = self.last_ms.max(now_ms);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Per-port output queues of one batch; the vectors are reused from batch to batch.
#[derive(Default)]
pub(super) struct OutputQueues {
    pub(super) queues: Vec<(u32, Vec<Packet>)>,
    pub(super) active: usize,
}

impl OutputQueues {
    pub(super) fn push(&mut self, port: u32, packet: Packet) {
        if let Some((_, q)) = self.queues[..self.active]
            .iter_mut()
            .find(|(p, _)| *p == port)
        {
            q.push(packet);
            return;
        }
        if self.active == self.queues.len() {
            self.queues.push((port, Vec::with_capacity(BATCH_SIZE)));
        }
        let (p, q) = &mut self.queues[self.active];
        *p = port;
        q.push(packet);
        self.active += 1;
    }
}

/// The executor's environment inside a batch.
pub(super) struct Sink<'a> {
    pub(super) out: &'a mut OutputQueues,
    pub(super) pool: &'a mut PacketPool,
    pub(super) recirc: &'a mut Vec<Pending>,
    pub(super) drops: &'a mut Vec<(u32, DropReason)>,
    pub(super) conntrack: Option<&'a dyn ConntrackHook>,
    pub(super) userspace: Option<&'a dyn UserspaceSink>,
    pub(super) depth: u8,
}

impl ExecEnv for Sink<'_> {
    fn output(&mut self, port: u32, packet: Packet) {
        self.out.push(port, packet);
    }

    fn copy(&mut self, packet: &Packet) -> Packet {
        copy_packet(self.pool, packet)
    }

    fn recirculate(&mut self, packet: Packet, meta: PacketMeta) {
        self.recirc.push(Pending {
            packet,
            meta,
            depth: self.depth + 1,
        });
    }

    fn drop_packet(&mut self, packet: Packet, reason: ActionDrop) {
        self.drops.push((packet.in_port, reason.into()));
        self.pool.put(packet);
    }

    fn recycle(&mut self, packet: Packet) {
        self.pool.put(packet);
    }

    fn conntrack(&self) -> Option<&dyn ConntrackHook> {
        self.conntrack
    }

    fn userspace(&mut self, packet: &Packet, meta: &PacketMeta, action: &UserspaceAction) {
        // Without a receiver (a datapath no slow path listens to) there is nowhere to send it.
        if let Some(s) = self.userspace {
            if packet.offload.needs_csum {
                // The slow path gets the frame as it would leave a port: a partial L4
                // checksum (from a TAP or vnet socket) is finished first, as OVS does, so
                // that a packet-in shows it and a resumed packet leaves with it.
                let mut frame = packet.data().to_vec();
                let _ = crate::port::offload::complete_checksum(&mut frame, &packet.offload);
                s.userspace(action, &frame, meta, &packet.tunnel);
            } else {
                s.userspace(action, packet.data(), meta, &packet.tunnel);
            }
        }
    }
}

/// A copy of `packet` in a pooled buffer when one is big enough.
pub(super) fn copy_packet(pool: &mut PacketPool, packet: &Packet) -> Packet {
    let mut copy = pool.get();
    let len = packet.len();
    match copy.rx_space().get_mut(..len) {
        Some(space) => {
            space.copy_from_slice(packet.data());
            copy.set_len(len);
        }
        None => {
            pool.put(copy);
            copy = Packet::from_bytes(packet.data());
        }
    }
    copy.in_port = packet.in_port;
    copy.offload = packet.offload;
    copy.tunnel = packet.tunnel;
    copy
}
