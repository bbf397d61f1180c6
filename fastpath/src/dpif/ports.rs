//! The datapath's ports: a [`DpPort`] holds one or more device queues, each behind its own
//! mutex; the port map is replaced whole (copy on write) when a port is added or removed, so
//! datapath threads read it without a lock.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Datapath, DpifError, PortMap};
use crate::port::{Port, PortStats};

/// A port attached to the datapath: one device queue, or several (a multiqueue TAP, one queue
/// per datapath thread, as OVS's rx queues). Each queue is behind its own mutex, taken once per
/// batch (a receive, or a send of all of a batch's packets for that port); with as many queues
/// as threads, [`pmd::PmdAssignment`] gives each thread its own queue for both directions, so
/// the mutexes are never contended by two datapath threads.
pub struct DpPort {
    pub(super) no: u32,
    pub(super) name: String,
    pub(super) queues: Box<[Mutex<Box<dyn Port>>]>,
}

impl DpPort {
    /// Datapath port number.
    pub fn no(&self) -> u32 {
        self.no
    }

    /// Interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of device queues (at least 1).
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Queue `q` (`q < queue_count()`).
    pub(super) fn queue(&self, q: usize) -> MutexGuard<'_, Box<dyn Port>> {
        self.queues[q].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The port's counters: the sum over its queues.
    pub(super) fn stats(&self) -> PortStats {
        let mut sum = PortStats::default();
        for q in 0..self.queues.len() {
            let s = self.queue(q).stats();
            sum.rx_packets += s.rx_packets;
            sum.rx_bytes += s.rx_bytes;
            sum.tx_packets += s.tx_packets;
            sum.tx_bytes += s.tx_bytes;
            sum.rx_dropped += s.rx_dropped;
            sum.tx_dropped += s.tx_dropped;
            sum.rx_errors += s.rx_errors;
            sum.tx_errors += s.tx_errors;
        }
        sum
    }

    /// True if every queue can move packets.
    pub(super) fn is_up(&self) -> bool {
        (0..self.queues.len()).all(|q| self.queue(q).is_up())
    }

    /// Tries to reopen every queue that is down. `None` if none was down; otherwise whether
    /// every queue is up now.
    pub(super) fn reopen_down(&self) -> Option<bool> {
        let mut was_down = false;
        let mut up = true;
        for q in 0..self.queues.len() {
            let mut io = self.queue(q);
            if !io.is_up() {
                was_down = true;
                up &= io.reopen();
            }
        }
        was_down.then_some(up)
    }
}

impl Datapath {
    // ---- ports ----

    /// Attaches `port` as datapath port `no` (one queue).
    pub fn add_port(&self, no: u32, port: Box<dyn Port>) -> Result<(), DpifError> {
        self.add_port_queues(no, vec![port])
    }

    /// Attaches the queues of one device (e.g. [`crate::port::tap::TapPort::open_queues`]) as
    /// datapath port `no`; queue `i` is `queues[i]`.
    pub fn add_port_queues(&self, no: u32, queues: Vec<Box<dyn Port>>) -> Result<(), DpifError> {
        let Some(first) = queues.first() else {
            return Err(DpifError::NoQueues(no));
        };
        let name = first.name().to_string();
        let _guard = self.port_update.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.ports.load();
        if current.contains_key(&no) {
            return Err(DpifError::PortExists(no));
        }
        let mut next = PortMap::clone(&current);
        next.insert(
            no,
            Arc::new(DpPort {
                no,
                name,
                queues: queues.into_iter().map(Mutex::new).collect(),
            }),
        );
        self.ports.store(Arc::new(next));
        Ok(())
    }

    /// Detaches port `no`.
    pub fn remove_port(&self, no: u32) -> Result<(), DpifError> {
        let _guard = self.port_update.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.ports.load();
        if !current.contains_key(&no) {
            return Err(DpifError::NoSuchPort(no));
        }
        let mut next = PortMap::clone(&current);
        next.remove(&no);
        self.ports.store(Arc::new(next));
        Ok(())
    }

    /// Attached port numbers, ascending.
    pub fn port_numbers(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.ports.load().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The device counters of port `no`.
    pub fn port_stats(&self, no: u32) -> Result<PortStats, DpifError> {
        let ports = self.ports.load();
        let port = ports.get(&no).ok_or(DpifError::NoSuchPort(no))?;
        Ok(port.stats())
    }

    /// The device counters of each queue of port `no` (queue `i` at index `i`).
    pub fn port_queue_stats(&self, no: u32) -> Result<Vec<PortStats>, DpifError> {
        let ports = self.ports.load();
        let port = ports.get(&no).ok_or(DpifError::NoSuchPort(no))?;
        Ok((0..port.queue_count())
            .map(|q| port.queue(q).stats())
            .collect())
    }

    /// Number of device queues of port `no`.
    pub fn port_queues(&self, no: u32) -> Result<usize, DpifError> {
        let ports = self.ports.load();
        let port = ports.get(&no).ok_or(DpifError::NoSuchPort(no))?;
        Ok(port.queue_count())
    }

    pub(crate) fn port(&self, no: u32) -> Option<Arc<DpPort>> {
        self.ports.load().get(&no).cloned()
    }
}
