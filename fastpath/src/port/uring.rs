//! Batched descriptor I/O through io_uring: one `io_uring_enter` moves a whole batch of
//! frames through a TAP descriptor, where the plain path makes one `readv`/`writev` per frame.
//!
//! # Why
//!
//! On the machines we measure, a syscall costs ~300 ns before it does any work (retpolines,
//! return thunks), and a 64-byte frame costs the kernel a few µs end to end, so per-frame
//! syscall overhead is a tenth or more of the datapath thread's time. io_uring queues the
//! batch's operations in shared memory and enters the kernel once.
//!
//! # How
//!
//! Every operation is a `readv`/`writev` of two pieces: the 10-byte virtio-net header (in an
//! array owned here) and the frame (in the caller's [`Packet`]). The kernel issues each
//! operation inline, in submission order, and completes it at once: TAP writes never wait,
//! and reads carry `RWF_NOWAIT`, so a read on an empty queue completes with `-EAGAIN` instead
//! of waiting for a frame (an `O_NONBLOCK` descriptor alone is not enough: io_uring would arm
//! a poll and complete the read later). Frames keep their order and nothing is left in
//! flight when a call returns.
//!
//! Receives cannot know how many frames are queued, and each read past the end costs an
//! `-EAGAIN` completion, so [`UringBatch::read`] is adaptive: it asks for about as many as the
//! previous batch brought (at least [`MIN_READS`]) and asks again, doubling, while every read
//! succeeds, until the caller's batch is full.
//!
//! # Invariants
//!
//! Buffers named by submitted operations are borrowed for the whole call and every operation
//! has completed before the call returns (we wait for exactly as many completions as we
//! submitted), so the kernel never touches memory we no longer own.

use super::offload::VNET_HDR_LEN;
use crate::packet::Packet;
use crate::port::BATCH_SIZE;
use io_uring::{IoUring, opcode, types};
use std::io;
use std::os::fd::RawFd;

/// Fewest reads one receive round asks for.
pub const MIN_READS: usize = 4;

/// One ring and the per-operation scratch (headers, iovecs, results) of one port.
pub struct UringBatch {
    ring: IoUring,
    hdrs: Box<[[u8; VNET_HDR_LEN]; BATCH_SIZE]>,
    iovs: Box<[[libc::iovec; 2]; BATCH_SIZE]>,
    results: [i32; BATCH_SIZE],
    /// Frames the previous receive brought: the next receive's first guess.
    last_rx: usize,
}

// SAFETY: the raw pointers in `iovs` are scratch that only live inside one call (they are
// rewritten before every submission and never dereferenced by us); the ring itself is Send.
unsafe impl Send for UringBatch {}

impl std::fmt::Debug for UringBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringBatch").finish_non_exhaustive()
    }
}

impl UringBatch {
    /// A ring sized for one batch. Fails where io_uring is unavailable (old kernel, seccomp,
    /// `kernel.io_uring_disabled`).
    pub fn new() -> io::Result<UringBatch> {
        let ring = IoUring::builder()
            // Nothing here waits for asynchronous completions: no need for IPIs.
            .setup_coop_taskrun()
            .build((2 * BATCH_SIZE) as u32)?;
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        Ok(UringBatch {
            ring,
            hdrs: Box::new([[0; VNET_HDR_LEN]; BATCH_SIZE]),
            iovs: Box::new([[empty; 2]; BATCH_SIZE]),
            results: [0; BATCH_SIZE],
            last_rx: MIN_READS,
        })
    }

    /// The virtio-net header read with frame `i` by the last [`UringBatch::read`].
    pub fn rx_hdr(&self, i: usize) -> [u8; VNET_HDR_LEN] {
        self.hdrs[i]
    }

    /// Where to put the virtio-net header of frame `i` before [`UringBatch::write`].
    pub fn tx_hdr_mut(&mut self, i: usize) -> &mut [u8; VNET_HDR_LEN] {
        &mut self.hdrs[i]
    }

    /// Reads frames from `fd` into `bufs` (reset packets), in order, with a virtio-net header
    /// in front of each if `vnet`. Returns the per-frame results (bytes read including the
    /// header, or `-errno`), one per read issued; the successful reads come first, followed by
    /// at most one failure (usually `-EAGAIN`: the queue is empty).
    pub fn read(&mut self, fd: RawFd, bufs: &mut [Packet], vnet: bool) -> io::Result<&[i32]> {
        let cap = bufs.len().min(BATCH_SIZE);
        let mut done = 0;
        let mut ask = self.last_rx.clamp(MIN_READS, BATCH_SIZE);
        while done < cap {
            let n = ask.min(cap - done);
            for (i, buf) in bufs.iter_mut().enumerate().skip(done).take(n) {
                let space = buf.rx_space();
                self.iovs[i] = [
                    libc::iovec {
                        iov_base: self.hdrs[i].as_mut_ptr().cast(),
                        iov_len: if vnet { VNET_HDR_LEN } else { 0 },
                    },
                    libc::iovec {
                        iov_base: space.as_mut_ptr().cast(),
                        iov_len: space.len(),
                    },
                ];
            }
            let first = done;
            let iovs = &self.iovs[first..first + n];
            let results = &mut self.results[first..first + n];
            let ring = &mut self.ring;
            run_batch(ring, iovs, results, |iov| {
                opcode::Readv::new(types::Fd(fd), iov.as_ptr(), 2)
                    .rw_flags(libc::RWF_NOWAIT)
                    .build()
            })?;
            // Successful reads are contiguous from the start: a failed read means the queue
            // was empty (or broken) at that point, and reads after it in the same submission
            // may still have found a frame that arrived meanwhile. Keep those frames in order
            // by stopping at the first failure and treating later successes as real frames
            // only if no failure precedes them.
            let ok = self.results[first..first + n]
                .iter()
                .take_while(|r| **r >= 0)
                .count();
            done += ok;
            if ok < n {
                // Later reads after a failure could only be frames that arrived in between;
                // they are valid frames, so compact them behind the good ones.
                let mut tail_ok = 0;
                for j in first + ok + 1..first + n {
                    if self.results[j] >= 0 {
                        bufs.swap(done + tail_ok, j);
                        self.hdrs.swap(done + tail_ok, j);
                        self.results.swap(done + tail_ok, j);
                        tail_ok += 1;
                    }
                }
                done += tail_ok;
                // Report the failure that ended the round after the frames.
                self.results[done] = self.results[first + ok..first + n]
                    .iter()
                    .copied()
                    .find(|r| *r < 0)
                    .unwrap_or(-libc::EAGAIN);
                self.last_rx = done;
                return Ok(&self.results[..done + 1]);
            }
            ask = (ask * 2).min(BATCH_SIZE);
        }
        self.last_rx = done;
        Ok(&self.results[..done])
    }

    /// Writes `pkts` to `fd` in order, each preceded by the header set with
    /// [`UringBatch::tx_hdr_mut`] if `vnet`. Returns per-frame results (bytes written
    /// including the header, or `-errno`).
    pub fn write(&mut self, fd: RawFd, pkts: &[Packet], vnet: bool) -> io::Result<&[i32]> {
        let n = pkts.len().min(BATCH_SIZE);
        for (i, p) in pkts[..n].iter().enumerate() {
            let data = p.data();
            self.iovs[i] = [
                libc::iovec {
                    iov_base: self.hdrs[i].as_mut_ptr().cast(),
                    iov_len: if vnet { VNET_HDR_LEN } else { 0 },
                },
                libc::iovec {
                    // The kernel only reads through this pointer (writev).
                    iov_base: data.as_ptr().cast_mut().cast(),
                    iov_len: data.len(),
                },
            ];
        }
        let iovs = &self.iovs[..n];
        let results = &mut self.results[..n];
        run_batch(&mut self.ring, iovs, results, |iov| {
            opcode::Writev::new(types::Fd(fd), iov.as_ptr(), 2).build()
        })?;
        Ok(&self.results[..n])
    }
}

/// Submits one operation per iovec pair (built by `op`), waits for all of them, and stores
/// each result at its index.
fn run_batch(
    ring: &mut IoUring,
    iovs: &[[libc::iovec; 2]],
    results: &mut [i32],
    op: impl Fn(&[libc::iovec; 2]) -> io_uring::squeue::Entry,
) -> io::Result<()> {
    let n = iovs.len();
    {
        let mut sq = ring.submission();
        for (i, iov) in iovs.iter().enumerate() {
            let entry = op(iov).user_data(i as u64);
            // SAFETY: the iovecs and the buffers they name are borrowed by the caller for
            // this whole call, and we return only after every submitted operation completed.
            // The ring holds 2 × BATCH_SIZE entries and is empty here, so push cannot fail.
            if unsafe { sq.push(&entry) }.is_err() {
                return Err(io::Error::other("io_uring submission queue full"));
            }
        }
    }
    let mut reaped = 0;
    while reaped < n {
        match ring.submit_and_wait(n - reaped) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)
                ) => {}
            Err(e) => {
                // Operations still queued would name buffers we are about to give back: we
                // cannot return before they are gone. A failing enter with inline,
                // non-blocking operations means the ring itself is broken; retry reaping
                // what completed, then report.
                drain(ring, results, &mut reaped);
                if reaped < n && ring.submission().is_empty() {
                    return Err(e);
                }
                continue;
            }
        }
        drain(ring, results, &mut reaped);
    }
    Ok(())
}

fn drain(ring: &mut IoUring, results: &mut [i32], reaped: &mut usize) {
    for cqe in ring.completion() {
        if let Some(slot) = results.get_mut(cqe.user_data() as usize) {
            *slot = cqe.result();
        }
        *reaped += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MAX_FRAME;

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
        assert_eq!(rc, 0);
        (fds[0], fds[1])
    }

    #[test]
    fn writes_then_reads_in_order_and_stops_at_empty() {
        let Ok(mut ring) = UringBatch::new() else {
            assert!(
                std::env::var("CI").is_err(),
                "io_uring unavailable under CI"
            );
            return;
        };
        let (r, w) = pipe();
        let pkts: Vec<Packet> = (0..5u8).map(|i| Packet::from_bytes(&[i; 3])).collect();
        let res = ring.write(w, &pkts, false).unwrap();
        assert_eq!(res, &[3, 3, 3, 3, 3]);
        // A pipe is a byte stream: one read takes everything written so far.
        let mut bufs: Vec<Packet> = (0..8).map(|_| Packet::with_capacity(MAX_FRAME)).collect();
        let res = ring.read(r, &mut bufs, false).unwrap().to_vec();
        assert_eq!(res[0], 15);
        assert_eq!(*res.last().unwrap(), -libc::EAGAIN);
        // SAFETY: closing descriptors this test opened.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }

    #[test]
    fn headers_travel_in_front_of_frames() {
        let Ok(mut ring) = UringBatch::new() else {
            assert!(
                std::env::var("CI").is_err(),
                "io_uring unavailable under CI"
            );
            return;
        };
        let (r, w) = pipe();
        *ring.tx_hdr_mut(0) = [9; VNET_HDR_LEN];
        let res = ring.write(w, &[Packet::from_bytes(b"abc")], true).unwrap();
        assert_eq!(res, &[(VNET_HDR_LEN + 3) as i32]);
        let mut bufs = vec![Packet::with_capacity(64)];
        let res = ring.read(r, &mut bufs, true).unwrap().to_vec();
        assert_eq!(res, vec![(VNET_HDR_LEN + 3) as i32]);
        assert_eq!(ring.rx_hdr(0), [9; VNET_HDR_LEN]);
        assert_eq!(&bufs[0].rx_space()[..3], b"abc");
        // SAFETY: closing descriptors this test opened.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }
}
