//! The dummy port: in-memory receive and transmit queues, for pipeline tests and benchmarks.
//!
//! [`DummyPort::new`] returns the port (handed to the datapath) and a [`DummyHandle`] (kept by
//! the test): the handle injects frames that the port will "receive" and collects the frames the
//! port "sent". Both queues are bounded, like a real device's rings: injecting into a full
//! receive queue counts `rx_dropped`, sending into a full transmit queue counts `tx_dropped`.
//! A handle can also take the port down and up, to exercise the datapath's handling of a
//! vanished interface.

use super::{Port, PortError, PortStats};
use crate::packet::{Offload, Packet};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Default queue bound, per direction.
pub const DEFAULT_QUEUE_LEN: usize = 4_096;

#[derive(Debug, Default)]
struct Queues {
    rx: VecDeque<(Vec<u8>, Offload)>,
    tx: VecDeque<Packet>,
    stats: PortStats,
}

#[derive(Debug)]
struct Shared {
    queues: Mutex<Queues>,
    up: AtomicBool,
    /// Keep sent frames for [`DummyHandle::collect`] (false: count them only, for benchmarks).
    capture: AtomicBool,
    limit: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A port backed by in-memory queues.
#[derive(Debug)]
pub struct DummyPort {
    name: String,
    shared: Arc<Shared>,
}

/// The test side of a [`DummyPort`].
#[derive(Clone, Debug)]
pub struct DummyHandle {
    shared: Arc<Shared>,
}

impl DummyPort {
    /// A dummy port with queues of [`DEFAULT_QUEUE_LEN`].
    pub fn new(name: &str) -> (DummyPort, DummyHandle) {
        DummyPort::with_queue_len(name, DEFAULT_QUEUE_LEN)
    }

    /// A dummy port whose queues hold at most `limit` frames each.
    pub fn with_queue_len(name: &str, limit: usize) -> (DummyPort, DummyHandle) {
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            up: AtomicBool::new(true),
            capture: AtomicBool::new(true),
            limit,
        });
        (
            DummyPort {
                name: name.to_string(),
                shared: Arc::clone(&shared),
            },
            DummyHandle { shared },
        )
    }
}

impl DummyHandle {
    /// Queues a frame for the port to receive. False (and `rx_dropped` counted) if full.
    pub fn inject(&self, frame: &[u8]) -> bool {
        self.inject_with(frame, Offload::default())
    }

    /// Queues a frame with offload state (a virtio-net header) for the port to receive.
    pub fn inject_with(&self, frame: &[u8], offload: Offload) -> bool {
        let mut q = self.shared.lock();
        if q.rx.len() >= self.shared.limit {
            q.stats.rx_dropped += 1;
            return false;
        }
        q.rx.push_back((frame.to_vec(), offload));
        true
    }

    /// Takes every frame the port has sent, oldest first.
    pub fn collect(&self) -> Vec<Packet> {
        self.shared.lock().tx.drain(..).collect()
    }

    /// Takes every sent frame's bytes, oldest first.
    pub fn collect_frames(&self) -> Vec<Vec<u8>> {
        self.collect().iter().map(|p| p.data().to_vec()).collect()
    }

    /// Frames waiting to be received.
    pub fn rx_pending(&self) -> usize {
        self.shared.lock().rx.len()
    }

    /// Whether sent frames are kept for [`DummyHandle::collect`] (default) or only counted.
    pub fn set_capture(&self, capture: bool) {
        self.shared.capture.store(capture, Ordering::Relaxed);
    }

    /// Takes the port down (sends and receives fail with `Gone`) or brings it back.
    pub fn set_up(&self, up: bool) {
        self.shared.up.store(up, Ordering::Release);
    }

    /// The port's counters.
    pub fn stats(&self) -> PortStats {
        self.shared.lock().stats
    }
}

impl Port for DummyPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv_batch(&mut self, bufs: &mut [Packet]) -> Result<usize, PortError> {
        if !self.is_up() {
            return Err(PortError::Gone(self.name.clone()));
        }
        let mut q = self.shared.lock();
        let mut n = 0;
        while n < bufs.len() {
            let Some((frame, offload)) = q.rx.pop_front() else {
                break;
            };
            let buf = &mut bufs[n];
            match buf.rx_space().get_mut(..frame.len()) {
                Some(space) => {
                    space.copy_from_slice(&frame);
                    buf.set_len(frame.len());
                    buf.offload = offload;
                    q.stats.rx_packets += 1;
                    q.stats.rx_bytes += frame.len() as u64;
                    n += 1;
                }
                // Larger than the buffer: a real device would truncate or drop it.
                None => q.stats.rx_errors += 1,
            }
        }
        Ok(n)
    }

    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError> {
        if !self.is_up() {
            return Err(PortError::Gone(self.name.clone()));
        }
        let capture = self.shared.capture.load(Ordering::Relaxed);
        let mut q = self.shared.lock();
        let room = if capture {
            self.shared.limit.saturating_sub(q.tx.len())
        } else {
            usize::MAX
        };
        let accepted = pkts.len().min(room);
        for p in &pkts[..accepted] {
            q.stats.tx_packets += 1;
            q.stats.tx_bytes += p.len() as u64;
            if capture {
                let mut copy = Packet::from_bytes(p.data());
                copy.offload = p.offload;
                copy.in_port = p.in_port;
                q.tx.push_back(copy);
            }
        }
        q.stats.tx_dropped += (pkts.len() - accepted) as u64;
        Ok(accepted)
    }

    fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    fn stats(&self) -> PortStats {
        self.shared.lock().stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_receive_send_collect() {
        let (mut port, h) = DummyPort::with_queue_len("d0", 2);
        assert!(h.inject(&[1, 2, 3]));
        assert!(h.inject(&[4; 100]));
        assert!(!h.inject(&[5]), "receive queue full");
        let mut bufs: Vec<Packet> = (0..4).map(|_| Packet::with_capacity(64)).collect();
        assert_eq!(
            port.recv_batch(&mut bufs).unwrap(),
            1,
            "100-byte frame does not fit"
        );
        assert_eq!(bufs[0].data(), &[1, 2, 3]);
        let s = port.stats();
        assert_eq!(
            (s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_errors),
            (1, 3, 1, 1)
        );
        assert_eq!(port.recv_batch(&mut bufs).unwrap(), 0);

        let out: Vec<Packet> = (0..3).map(|i| Packet::from_bytes(&[i; 10])).collect();
        assert_eq!(port.send_batch(&out).unwrap(), 2, "transmit queue holds 2");
        assert_eq!(h.collect_frames(), vec![vec![0; 10], vec![1; 10]]);
        let s = h.stats();
        assert_eq!((s.tx_packets, s.tx_bytes, s.tx_dropped), (2, 20, 1));
        assert!(h.collect().is_empty());
        h.set_capture(false);
        assert_eq!(port.send_batch(&out).unwrap(), 3);
        assert!(h.collect().is_empty());
        assert_eq!(h.stats().tx_packets, 5);
    }

    #[test]
    fn down_port_fails_with_gone() {
        let (mut port, h) = DummyPort::new("d1");
        h.set_up(false);
        assert!(!port.is_up());
        assert!(matches!(port.send_batch(&[]), Err(PortError::Gone(_))));
        let mut bufs = vec![Packet::with_capacity(64)];
        assert!(matches!(
            port.recv_batch(&mut bufs),
            Err(PortError::Gone(_))
        ));
        h.set_up(true);
        assert!(port.reopen());
        assert!(h.inject_with(
            &[9],
            Offload {
                needs_csum: true,
                ..Offload::default()
            }
        ));
        assert_eq!(port.recv_batch(&mut bufs).unwrap(), 1);
        assert!(bufs[0].offload.needs_csum);
    }
}
