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
//! A receive is one plain `read` into one contiguous buffer: with virtio-net headers, the
//! buffer starts [`VNET_HDR_LEN`] bytes before the frame, in the [`Packet`]'s headroom, so
//! the header lands right in front of the frame and is parsed there
//! ([`super::offload::take_rx_hdr`]); the headroom keeps its full size for later pushes. A
//! transmit is one plain `write` of header and frame when the headroom already holds the
//! header to send ([`super::offload::framed`]: a forwarded packet nothing changed), else a
//! `writev` of the header (in an array owned here) and the frame. One buffer instead of two
//! spares the kernel an iovec import per frame.
//!
//! The kernel issues each operation inline, in submission order, and completes it at once:
//! TAP writes never wait, and reads carry `RWF_NOWAIT`, so a read on an empty queue completes
//! with `-EAGAIN` instead of waiting for a frame (an `O_NONBLOCK` descriptor alone is not
//! enough: io_uring would arm a poll and complete the read later). Frames keep their order
//! and nothing is left in flight when a call returns.
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

use super::offload::{VNET_HDR_LEN, VnetHdr, framed};
use crate::packet::Packet;
use crate::port::BATCH_SIZE;
use io_uring::{IoUring, opcode, squeue, types};
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
    /// Transmits of the last [`UringBatch::write`] that went as one buffer (tests, tuning).
    single_tx: usize,
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
            single_tx: 0,
        })
    }

    /// Where to put the virtio-net header of frame `i` before [`UringBatch::write`].
    pub fn tx_hdr_mut(&mut self, i: usize) -> &mut [u8; VNET_HDR_LEN] {
        &mut self.hdrs[i]
    }

    /// How many frames of the last [`UringBatch::write`] went as one buffer.
    pub fn last_single_tx(&self) -> usize {
        self.single_tx
    }

    /// Reads frames from `fd` into `bufs` (reset packets), in order; with `vnet`, each read
    /// puts the virtio-net header in the headroom right in front of the frame
    /// ([`Packet::rx_space_with_front`]). Returns the per-frame results (bytes read including
    /// the header, or `-errno`), one per read issued; the successful reads come first,
    /// followed by at most one failure (usually `-EAGAIN`: the queue is empty).
    pub fn read(&mut self, fd: RawFd, bufs: &mut [Packet], vnet: bool) -> io::Result<&[i32]> {
        let cap = bufs.len().min(BATCH_SIZE);
        let front = if vnet { VNET_HDR_LEN } else { 0 };
        let mut done = 0;
        let mut ask = self.last_rx.clamp(MIN_READS, BATCH_SIZE);
        while done < cap {
            let n = ask.min(cap - done);
            let first = done;
            let round = &mut bufs[first..first + n];
            run_batch(
                &mut self.ring,
                &mut self.results[first..first + n],
                round.iter_mut().map(|buf| {
                    // A reset packet's headroom always holds a header; an empty buffer
                    // makes the read fail rather than the batch.
                    let space = buf.rx_space_with_front(front).unwrap_or_default();
                    opcode::Read::new(types::Fd(fd), space.as_mut_ptr(), space.len() as u32)
                        .rw_flags(libc::RWF_NOWAIT)
                        .build()
                }),
            )?;
            // Successful reads are contiguous from the start: a failed read means the queue
            // was empty (or broken) at that point, and reads after it in the same submission
            // may still have found a frame that arrived meanwhile. Keep those frames in order
            // by stopping at the first failure and compacting later successes behind it.
            let ok = self.results[first..first + n]
                .iter()
                .take_while(|r| **r >= 0)
                .count();
            done += ok;
            if ok < n {
                let mut tail_ok = 0;
                for j in first + ok + 1..first + n {
                    if self.results[j] >= 0 {
                        bufs.swap(done + tail_ok, j);
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
    /// [`UringBatch::tx_hdr_mut`] if `vnet`: as one buffer when the packet's headroom holds
    /// that header already, else as two. Returns per-frame results (bytes written including
    /// the header, or `-errno`).
    pub fn write(&mut self, fd: RawFd, pkts: &[Packet], vnet: bool) -> io::Result<&[i32]> {
        let n = pkts.len().min(BATCH_SIZE);
        let mut single = 0;
        let (hdrs, iovs) = (&mut self.hdrs, &mut self.iovs);
        let ops = pkts[..n]
            .iter()
            .zip(hdrs.iter_mut().zip(iovs.iter_mut()))
            .map(|(p, (hdr, iov))| {
                let one = if vnet {
                    framed(p, &VnetHdr(*hdr))
                } else {
                    Some(p.data())
                };
                if let Some(buf) = one {
                    single += 1;
                    return opcode::Write::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32)
                        .build();
                }
                let data = p.data();
                *iov = [
                    libc::iovec {
                        iov_base: hdr.as_mut_ptr().cast(),
                        iov_len: VNET_HDR_LEN,
                    },
                    libc::iovec {
                        // The kernel only reads through this pointer (writev).
                        iov_base: data.as_ptr().cast_mut().cast(),
                        iov_len: data.len(),
                    },
                ];
                opcode::Writev::new(types::Fd(fd), iov.as_ptr(), 2).build()
            });
        run_batch(&mut self.ring, &mut self.results[..n], ops)?;
        self.single_tx = single;
        Ok(&self.results[..n])
    }
}

/// Submits the operations `ops` (at most [`BATCH_SIZE`]; entry `i`'s result goes to
/// `results[i]`), and waits for all of them.
fn run_batch(
    ring: &mut IoUring,
    results: &mut [i32],
    ops: impl Iterator<Item = squeue::Entry>,
) -> io::Result<()> {
    let mut n = 0;
    {
        let mut sq = ring.submission();
        for (i, entry) in ops.enumerate().take(results.len()) {
            let entry = entry.user_data(i as u64);
            // SAFETY: the buffers (and iovecs) the entries name are borrowed by our callers
            // for this whole call, and we return only after every submitted operation
            // completed. The ring holds 2 × BATCH_SIZE entries and is empty here, so push
            // cannot fail.
            if unsafe { sq.push(&entry) }.is_err() {
                return Err(io::Error::other("io_uring submission queue full"));
            }
            n += 1;
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

    /// A ring, or `None` (a loud skip) where io_uring is unavailable; under CI it must be.
    fn ring() -> Option<UringBatch> {
        match UringBatch::new() {
            Ok(ring) => Some(ring),
            // A test that could not run must fail, not pass silently.
            Err(e) => panic!("io_uring unavailable: {e}"),
        }
    }

    fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a valid array for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK) };
        assert_eq!(rc, 0);
        (fds[0], fds[1])
    }

    #[test]
    fn writes_then_reads_in_order_and_stops_at_empty() {
        let Some(mut ring) = ring() else {
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
        let Some(mut ring) = ring() else {
            return;
        };
        let (r, w) = pipe();
        *ring.tx_hdr_mut(0) = [9; VNET_HDR_LEN];
        let res = ring.write(w, &[Packet::from_bytes(b"abc")], true).unwrap();
        assert_eq!(res, &[(VNET_HDR_LEN + 3) as i32]);
        let mut bufs = vec![Packet::with_capacity(64)];
        let res = ring.read(r, &mut bufs, true).unwrap().to_vec();
        assert_eq!(res, vec![(VNET_HDR_LEN + 3) as i32]);
        assert_eq!(bufs[0].front(VNET_HDR_LEN).unwrap(), &[9; VNET_HDR_LEN]);
        assert_eq!(&bufs[0].rx_space()[..3], b"abc");
        // The zeroed headroom of a fresh packet does not hold [9; 10]: two pieces.
        assert_eq!(ring.last_single_tx(), 0);
        // SAFETY: closing descriptors this test opened.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }

    #[test]
    fn a_header_already_in_the_headroom_goes_as_one_buffer() {
        let Some(mut ring) = ring() else {
            return;
        };
        let (r, w) = pipe();
        let mut pkt = Packet::from_bytes(b"frame");
        pkt.front_mut(VNET_HDR_LEN)
            .unwrap()
            .copy_from_slice(&[7; VNET_HDR_LEN]);
        *ring.tx_hdr_mut(0) = [7; VNET_HDR_LEN];
        *ring.tx_hdr_mut(1) = [8; VNET_HDR_LEN];
        let res = ring.write(w, &[pkt.clone(), pkt], true).unwrap();
        assert_eq!(res, &[(VNET_HDR_LEN + 5) as i32; 2]);
        assert_eq!(ring.last_single_tx(), 1);
        let mut got = [0u8; 2 * (VNET_HDR_LEN + 5)];
        // SAFETY: `got` is valid for writes of its length.
        let n = unsafe { libc::read(r, got.as_mut_ptr().cast(), got.len()) };
        assert_eq!(n, got.len() as isize);
        assert_eq!(&got[..10], &[7; 10]);
        assert_eq!(&got[10..15], b"frame");
        assert_eq!(&got[15..25], &[8; 10]);
        assert_eq!(&got[25..], b"frame");
        // SAFETY: closing descriptors this test opened.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    }
}

/// Registered buffers (`READ_FIXED`/`WRITE_FIXED`) against plain `READ`/`WRITE` on a real TAP,
/// measured rather than built: see `benches/README.md` (io_uring section) for why the datapath
/// does not use them. Run as root in a private network namespace, in release mode:
/// `unshare -n cargo test --release -p fastpath --lib registered_buffers_microbench -- --ignored --nocapture`.
#[cfg(test)]
mod fixed_microbench {
    use super::*;
    use crate::port::sys;
    use std::os::fd::AsRawFd;
    use std::process::Command;
    use std::time::{Duration, Instant};

    const FRAMES: usize = 512;
    const ROUNDS: usize = 600;

    fn ip(args: &str) {
        let ok = Command::new("ip")
            .args(args.split(' '))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip {args}");
    }

    /// Submits `ops` and waits for all; returns how many succeeded and their summed bytes.
    fn run(ring: &mut IoUring, ops: &[squeue::Entry]) -> (usize, usize) {
        let mut results = [0i32; BATCH_SIZE];
        run_batch(ring, &mut results[..ops.len()], ops.iter().cloned()).unwrap();
        let ok = results[..ops.len()].iter().filter(|&&r| r > 0);
        (ok.clone().count(), ok.map(|&r| r as usize).sum())
    }

    const MSHOT: u64 = 1 << 40;
    const BGID: u16 = 7;

    /// A provided-buffer ring (`IORING_REGISTER_PBUF_RING`) of `BATCH_SIZE` entries over
    /// `SLOT`-byte slots of `base`.
    struct BufRing {
        entries: *mut u8,
        layout: std::alloc::Layout,
        tail: u16,
    }

    impl BufRing {
        fn new(ring: &IoUring, base: *mut u8, slot: usize) -> BufRing {
            let layout = std::alloc::Layout::from_size_align(BATCH_SIZE * 16, 4096).unwrap();
            // SAFETY: non-zero size.
            let entries = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!entries.is_null());
            // SAFETY: `entries` is page-aligned, BATCH_SIZE × 16 bytes, and outlives the
            // registration (the ring is dropped first in the test).
            unsafe {
                ring.submitter()
                    .register_buf_ring_with_flags(entries as u64, BATCH_SIZE as u16, BGID, 0)
                    .unwrap()
            };
            let mut br = BufRing {
                entries,
                layout,
                tail: 0,
            };
            for bid in 0..BATCH_SIZE as u16 {
                // SAFETY: slot `bid` lies inside the caller's region.
                br.give(unsafe { base.add(usize::from(bid) * slot) }, slot, bid);
            }
            br.publish();
            br
        }

        /// Queues buffer `bid` at `addr` (struct io_uring_buf: addr u64, len u32, bid u16).
        fn give(&mut self, addr: *mut u8, len: usize, bid: u16) {
            let idx = usize::from(self.tail) & (BATCH_SIZE - 1);
            // SAFETY: entry `idx` lies inside the ring allocation.
            unsafe {
                let e = self.entries.add(idx * 16);
                e.cast::<u64>().write(addr as u64);
                e.add(8).cast::<u32>().write(len as u32);
                e.add(12).cast::<u16>().write(bid);
            }
            self.tail = self.tail.wrapping_add(1);
        }

        /// Makes the queued buffers visible to the kernel (the tail is the `resv` field of
        /// entry 0, at byte 14).
        fn publish(&self) {
            // SAFETY: byte 14 of the ring is the u16 tail, 2-byte aligned; the kernel reads it
            // with acquire semantics.
            let tail = unsafe { &*self.entries.add(14).cast::<std::sync::atomic::AtomicU16>() };
            tail.store(self.tail, std::sync::atomic::Ordering::Release);
        }
    }

    impl Drop for BufRing {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.entries, self.layout) };
        }
    }

    /// Reads `want` frames through one armed `READ_MULTISHOT` (re-armed when it ends, e.g.
    /// when the buffer ring ran dry), giving each buffer back once its completion is seen.
    fn multishot_drain(
        ring: &mut IoUring,
        br: &mut BufRing,
        fd: RawFd,
        base: *mut u8,
        slot: usize,
        armed: &mut bool,
        want: usize,
    ) -> usize {
        let mut got = 0;
        let ts = types::Timespec::new().nsec(200_000_000);
        while got < want {
            if !*armed {
                let e = opcode::ReadMulti::new(types::Fd(fd), 0, BGID)
                    .build()
                    .user_data(MSHOT);
                // SAFETY: the buffers are the ring-provided slots, alive for the test.
                unsafe { ring.submission().push(&e).unwrap() };
                *armed = true;
            }
            let args = types::SubmitArgs::new().timespec(&ts);
            match ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ETIME) => break,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => panic!("io_uring_enter: {e}"),
            }
            for cqe in ring.completion() {
                assert_eq!(cqe.user_data(), MSHOT);
                if cqe.result() > 0 {
                    got += 1;
                } else {
                    assert_eq!(cqe.result(), -libc::ENOBUFS, "multishot read failed");
                }
                if let Some(bid) = io_uring::cqueue::buffer_select(cqe.flags()) {
                    // SAFETY: slot `bid` lies inside the region.
                    br.give(unsafe { base.add(usize::from(bid) * slot) }, slot, bid);
                }
                if !io_uring::cqueue::more(cqe.flags()) {
                    *armed = false;
                }
            }
            br.publish();
        }
        got
    }

    /// Cancels the armed multishot read and waits for its final completion, giving back the
    /// buffers of frames it still completed.
    fn cancel_multishot(
        ring: &mut IoUring,
        br: &mut BufRing,
        base: *mut u8,
        slot: usize,
        armed: &mut bool,
    ) {
        if !*armed {
            return;
        }
        let e = opcode::AsyncCancel::new(MSHOT).build().user_data(MSHOT + 1);
        // SAFETY: the cancel names no buffer.
        unsafe { ring.submission().push(&e).unwrap() };
        while *armed {
            ring.submit_and_wait(1).unwrap();
            for cqe in ring.completion() {
                if cqe.user_data() != MSHOT {
                    continue;
                }
                if let Some(bid) = io_uring::cqueue::buffer_select(cqe.flags()) {
                    // SAFETY: slot `bid` lies inside the region.
                    br.give(unsafe { base.add(usize::from(bid) * slot) }, slot, bid);
                }
                *armed &= io_uring::cqueue::more(cqe.flags());
            }
        }
        br.publish();
    }

    #[test]
    #[ignore = "microbenchmark: root, private netns (unshare -n), --release"]
    fn registered_buffers_microbench() {
        let tap = "ufixbench0";
        let flags = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_VNET_HDR;
        let fd = sys::tun_attach(tap, flags).unwrap();
        let fd = fd.as_raw_fd();
        ip(&format!("link set {tap} up"));
        ip(&format!("addr add 10.99.0.1/24 dev {tap}"));
        ip(&format!(
            "neigh replace 10.99.0.2 lladdr 02:00:00:00:00:02 dev {tap}"
        ));
        // One contiguous, registered region of BATCH_SIZE 2 KB slots, each holding a
        // virtio-net header and a frame.
        const SLOT: usize = 2048;
        const H: usize = VNET_HDR_LEN;
        let mut region = vec![0u8; BATCH_SIZE * SLOT];
        let mut ring = IoUring::builder()
            .setup_coop_taskrun()
            .build((2 * BATCH_SIZE) as u32)
            .unwrap();
        let iov = libc::iovec {
            iov_base: region.as_mut_ptr().cast(),
            iov_len: region.len(),
        };
        // SAFETY: `region` outlives the ring (declared before it, dropped after) and is not
        // moved or freed while registered.
        unsafe { ring.submitter().register_buffers(&[iov]).unwrap() };
        let sock = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
        let frame = [0x5au8; 64 - 42];
        let base = region.as_mut_ptr();
        // Header and frame of each slot as two pieces, for readv/writev (lengths set per use).
        let mut iovs: Vec<[libc::iovec; 2]> = (0..BATCH_SIZE)
            .map(|i| {
                // SAFETY: both pieces lie inside slot `i` of `region`.
                let p = unsafe { base.add(i * SLOT) };
                [
                    libc::iovec {
                        iov_base: p.cast(),
                        iov_len: H,
                    },
                    libc::iovec {
                        // SAFETY: as above.
                        iov_base: unsafe { p.add(H) }.cast(),
                        iov_len: SLOT - H,
                    },
                ]
            })
            .collect();
        let piece = iovs.as_mut_ptr();
        // Mode 0: one buffer (READ/WRITE), 1: registered (READ_FIXED/WRITE_FIXED), 2: header
        // and frame as two pieces (READV/WRITEV).
        let ops = |mode: usize, write_len: Option<usize>| -> Vec<squeue::Entry> {
            (0..BATCH_SIZE)
                .map(|i| {
                    // SAFETY: slot `i` lies inside `region`, iovec pair `i` inside `iovs`.
                    let (p, v) = unsafe { (base.add(i * SLOT), piece.add(i)) };
                    let f = types::Fd(fd);
                    let nowait = libc::RWF_NOWAIT;
                    match (mode, write_len) {
                        (0, None) => opcode::Read::new(f, p, SLOT as u32)
                            .rw_flags(nowait)
                            .build(),
                        (1, None) => opcode::ReadFixed::new(f, p, SLOT as u32, 0)
                            .rw_flags(nowait)
                            .build(),
                        (_, None) => {
                            // SAFETY: `v` points at a live iovec pair.
                            unsafe { (*v)[1].iov_len = SLOT - H };
                            opcode::Readv::new(f, v.cast(), 2).rw_flags(nowait).build()
                        }
                        (0, Some(n)) => opcode::Write::new(f, p, (H + n) as u32).build(),
                        (1, Some(n)) => opcode::WriteFixed::new(f, p, (H + n) as u32, 0).build(),
                        (_, Some(n)) => {
                            // SAFETY: `v` points at a live iovec pair.
                            unsafe { (*v)[1].iov_len = n };
                            opcode::Writev::new(f, v.cast(), 2).build()
                        }
                    }
                })
                .collect()
        };
        // Frames written to the TAP (zero virtio-net header, then Ethernet) are for a MAC
        // nobody has: the namespace's stack drops them right after the copy.
        for (i, b) in region.chunks_mut(SLOT).enumerate() {
            b[H..H + 6].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]);
            b[H + 6..H + 12].copy_from_slice(&[2, 0, 0, 0, 0, i as u8]);
            b[H + 12..H + 14].copy_from_slice(&[0x08, 0x00]);
        }
        // A second ring and region for READ_MULTISHOT over a provided-buffer ring.
        let mut mregion = vec![0u8; BATCH_SIZE * SLOT];
        let mbase = mregion.as_mut_ptr();
        let mut mring = IoUring::builder()
            .setup_coop_taskrun()
            .build((2 * BATCH_SIZE) as u32)
            .unwrap();
        let mut br = BufRing::new(&mring, mbase, SLOT);
        let mut armed = false;
        let mut rx = [Duration::ZERO; 4];
        let mut rx_frames = [0usize; 4];
        let mut tx = [[Duration::ZERO; 3]; 2];
        for round in 0..ROUNDS {
            let mode = round % 3;
            // Receive: the kernel queues FRAMES frames on the TAP, then we time reading them.
            for _ in 0..FRAMES {
                sock.send_to(&frame, "10.99.0.2:9").unwrap();
            }
            let reads = ops(mode, None);
            let t = Instant::now();
            loop {
                let (got, _) = run(&mut ring, &reads);
                if got == 0 {
                    break;
                }
                rx_frames[mode] += got;
            }
            rx[mode] += t.elapsed();
            if mode == 0 {
                for _ in 0..FRAMES {
                    sock.send_to(&frame, "10.99.0.2:9").unwrap();
                }
                let t = Instant::now();
                rx_frames[3] +=
                    multishot_drain(&mut mring, &mut br, fd, mbase, SLOT, &mut armed, FRAMES);
                rx[3] += t.elapsed();
                // Disarmed between rounds, so that it does not take the next rounds' frames.
                cancel_multishot(&mut mring, &mut br, mbase, SLOT, &mut armed);
            }
            for (s, len) in [64usize, 1514].into_iter().enumerate() {
                let writes = ops(mode, Some(len));
                let t = Instant::now();
                for _ in 0..FRAMES / BATCH_SIZE {
                    assert_eq!(run(&mut ring, &writes).1, (H + len) * BATCH_SIZE);
                }
                tx[s][mode] += t.elapsed();
            }
        }
        let per = |d: Duration, n: usize| d.as_nanos() as f64 / n as f64;
        let tx_n = FRAMES * ROUNDS / 3;
        eprintln!(
            "TAP read 64 B + vnet hdr, ns/frame: one buffer {:.0}, registered {:.0}, two pieces \
             {:.0}, multishot {:.0} ({:?} frames)",
            per(rx[0], rx_frames[0]),
            per(rx[1], rx_frames[1]),
            per(rx[2], rx_frames[2]),
            per(rx[3], rx_frames[3]),
            rx_frames
        );
        for (s, len) in [64, 1514].into_iter().enumerate() {
            eprintln!(
                "TAP write {len} B + vnet hdr, ns/frame: one buffer {:.0}, registered {:.0}, \
                 two pieces {:.0}",
                per(tx[s][0], tx_n),
                per(tx[s][1], tx_n),
                per(tx[s][2], tx_n)
            );
        }
        assert!(rx_frames.iter().all(|&n| n > 0));
        drop(mring);
        drop(br);
        drop(mregion);
    }
}
