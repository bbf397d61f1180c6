//! TAP ports (`tap` and `internal` types): a TAP device the switch creates and owns.
//!
//! The switch holds the file-descriptor side of `/dev/net/tun`; the kernel side is an ordinary
//! Ethernet interface named after the port, used by the host or moved into a namespace. Every
//! `read` on the descriptor yields one frame the kernel transmitted on the interface, every
//! `write` injects one frame as received by it.
//!
//! With `vnet_hdr`, each frame is preceded by a 10-byte `virtio_net_hdr` in both directions and
//! the device advertises checksum and segmentation offloads (`TUNSETOFFLOAD`: CSUM, TSO4/6 and
//! USO4/6 when the kernel has them). The kernel then hands us partial-checksum frames and
//! 64 KB TCP/UDP super-packets as they are, which is where most of a tap's throughput comes from;
//! their offload state travels in [`Packet::offload`]. Such a port also accepts offloaded
//! frames on transmit. Without `vnet_hdr`, frames are complete and an offloaded frame given to
//! `send_batch` is finished in software first ([`offload::finalize_each`]).
//!
//! With `multi_queue`, each [`TapPort`] is one queue of the device (one descriptor), so that
//! several datapath threads can each own one.
//!
//! Invariants: the descriptor is non-blocking; a receive buffer smaller than the frame drops
//! that frame (counted in `rx_errors`), so with `vnet_hdr` receive buffers should hold
//! [`crate::packet::MAX_FRAME`]. When the device is deleted the descriptor reports `EBADFD`:
//! the port goes down, calls return [`PortError::Gone`], and [`Port::reopen`] creates the
//! device again.

use super::BATCH_SIZE;
use super::offload::{self, OffloadDrop, VNET_HDR_LEN, VnetHdr};
use super::uring::UringBatch;
use super::{Port, PortError, PortStats, sys};
use crate::packet::{MAX_FRAME, Packet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How to open a TAP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TapConfig {
    /// Interface name (at most 15 bytes).
    pub name: String,
    /// MTU to set on the device; `None` leaves the kernel's default (1500).
    pub mtu: Option<u32>,
    /// Exchange `virtio_net_hdr`s and enable checksum/segmentation offloads.
    pub vnet_hdr: bool,
    /// Open the device with `IFF_MULTI_QUEUE` (see [`TapPort::open_queues`]).
    pub multi_queue: bool,
    /// Set the link administratively up. True for `tap` ports (the host or a namespace uses
    /// the other side at once); false for a bridge's `internal` port, which OVS also creates
    /// down until the operator configures it.
    pub bring_up: bool,
    /// How frames cross the descriptor.
    pub io: TapIo,
}

/// How a TAP port moves frames through its descriptor (see `benches/README.md` for the
/// measurements behind the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TapIo {
    /// One `read`/`write` per frame, header and frame in one buffer (`writev` when the
    /// header to send is not in the packet's headroom).
    #[default]
    Syscall,
    /// One `io_uring_enter` per batch ([`super::uring`]); falls back to `Syscall` where
    /// io_uring is unavailable.
    IoUring,
}

impl std::str::FromStr for TapIo {
    type Err = String;
    fn from_str(s: &str) -> Result<TapIo, String> {
        match s {
            "syscall" => Ok(TapIo::Syscall),
            "io_uring" | "io-uring" | "uring" => Ok(TapIo::IoUring),
            _ => Err(format!("unknown TAP I/O mode {s:?} (syscall or io_uring)")),
        }
    }
}

impl TapConfig {
    /// A single-queue TAP without offloads.
    pub fn new(name: &str) -> TapConfig {
        TapConfig {
            name: name.to_owned(),
            mtu: None,
            vnet_hdr: false,
            multi_queue: false,
            bring_up: true,
            io: TapIo::default(),
        }
    }
}

/// One queue of a TAP device.
pub struct TapPort {
    cfg: TapConfig,
    fd: Option<OwnedFd>,
    /// `TUN_F_*` offloads the kernel accepted.
    offloads: libc::c_uint,
    stats: PortStats,
    /// Where offloaded frames are finished when the port cannot take them (allocated once,
    /// on first use).
    scratch: Vec<u8>,
    /// The batch ring, with [`TapIo::IoUring`].
    uring: Option<UringBatch>,
}

impl std::fmt::Debug for TapPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapPort")
            .field("cfg", &self.cfg)
            .field("up", &self.fd.is_some())
            .finish()
    }
}

/// Why one transmit failed.
enum TxFail {
    Offload,
    Io(io::Error),
}

impl From<OffloadDrop> for TxFail {
    fn from(_: OffloadDrop) -> TxFail {
        TxFail::Offload
    }
}

fn open_err(cfg: &TapConfig, what: &str, e: io::Error) -> PortError {
    PortError::Open {
        port: cfg.name.clone(),
        reason: format!("{what}: {e}"),
    }
}

/// Opens one queue of the device and configures it.
fn attach(cfg: &TapConfig) -> Result<(OwnedFd, libc::c_uint), PortError> {
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI;
    if cfg.vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    if cfg.multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    let fd = sys::tun_attach(&cfg.name, flags).map_err(|e| open_err(cfg, "TUNSETIFF", e))?;
    let mut offloads = 0;
    if cfg.vnet_hdr {
        sys::tun_set_vnet_hdr_size(fd.as_raw_fd(), VNET_HDR_LEN as libc::c_int)
            .map_err(|e| open_err(cfg, "TUNSETVNETHDRSZ", e))?;
        let base = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        let with_uso = base | libc::TUN_F_USO4 | libc::TUN_F_USO6;
        // Kernels before 6.2 reject the USO bits with EINVAL.
        offloads = match sys::tun_set_offload(fd.as_raw_fd(), with_uso) {
            Ok(()) => with_uso,
            Err(_) => {
                sys::tun_set_offload(fd.as_raw_fd(), base)
                    .map_err(|e| open_err(cfg, "TUNSETOFFLOAD", e))?;
                base
            }
        };
    }
    if let Some(mtu) = cfg.mtu {
        sys::if_set_mtu(&cfg.name, mtu).map_err(|e| open_err(cfg, "set MTU", e))?;
    }
    if cfg.bring_up {
        sys::if_set_up(&cfg.name).map_err(|e| open_err(cfg, "set up", e))?;
    }
    Ok((fd, offloads))
}

impl TapPort {
    /// Creates the TAP device (or attaches to an existing persistent one), sets its MTU and
    /// brings it up.
    pub fn open(cfg: TapConfig) -> Result<TapPort, PortError> {
        let (fd, offloads) = attach(&cfg)?;
        let uring = match cfg.io {
            TapIo::Syscall => None,
            TapIo::IoUring => match UringBatch::new() {
                Ok(ring) => Some(ring),
                Err(e) => {
                    tracing::warn!(port = %cfg.name, error = %e, "io_uring unavailable; using readv/writev");
                    None
                }
            },
        };
        Ok(TapPort {
            cfg,
            fd: Some(fd),
            offloads,
            stats: PortStats::default(),
            scratch: Vec::new(),
            uring,
        })
    }

    /// Opens `queues` queues of one multi-queue device, one port each.
    pub fn open_queues(cfg: TapConfig, queues: usize) -> Result<Vec<TapPort>, PortError> {
        let cfg = TapConfig {
            multi_queue: true,
            ..cfg
        };
        (0..queues.max(1))
            .map(|_| TapPort::open(cfg.clone()))
            .collect()
    }

    /// The configuration the port was opened with.
    pub fn config(&self) -> &TapConfig {
        &self.cfg
    }

    /// How frames cross the descriptor in practice ([`TapIo::Syscall`] when io_uring was
    /// asked for but is unavailable).
    pub fn io(&self) -> TapIo {
        if self.uring.is_some() {
            TapIo::IoUring
        } else {
            TapIo::Syscall
        }
    }

    /// The `TUN_F_*` offloads in effect (0 without `vnet_hdr`).
    pub fn offloads(&self) -> libc::c_uint {
        self.offloads
    }

    fn gone(&mut self) -> PortError {
        self.fd = None;
        PortError::Gone(self.cfg.name.clone())
    }

    fn io_err(&self, source: io::Error) -> PortError {
        PortError::Io {
            port: self.cfg.name.clone(),
            source,
        }
    }

    /// Reads one frame into `pkt`, with its virtio-net header (if `vnet`) in the headroom
    /// right in front of it: one contiguous buffer.
    fn recv_one(fd: RawFd, vnet: bool, pkt: &mut Packet) -> io::Result<Rx> {
        pkt.reset();
        let front = if vnet { VNET_HDR_LEN } else { 0 };
        let space = pkt.rx_space_with_front(front).unwrap_or_default();
        let n = sys::read(fd, space)?;
        Ok(finish_rx(pkt, n, vnet))
    }

    /// Counts one receive result; `n` frames are already kept in the batch.
    fn account_rx(&mut self, res: io::Result<Rx>, n: usize) -> RxNext {
        match res {
            Ok(Rx::Frame(len)) => {
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += len as u64;
                RxNext::Kept
            }
            Ok(Rx::Malformed) => {
                self.stats.rx_errors += 1;
                RxNext::Skip
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => RxNext::Stop(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => RxNext::Skip,
            Err(e) if sys::is_gone_error(&e) => {
                let err = self.gone();
                RxNext::Stop(if n == 0 { Err(err) } else { Ok(n) })
            }
            Err(e) => {
                self.stats.rx_errors += 1;
                RxNext::Stop(if n == 0 { Err(self.io_err(e)) } else { Ok(n) })
            }
        }
    }

    /// Counts one transmit result. `Ok(true)`: the frame was accepted; `Err`: the port is
    /// gone (the `left` frames from this one on are dropped).
    fn account_tx(
        &mut self,
        res: Result<usize, TxFail>,
        pkt: &Packet,
        left: usize,
    ) -> Result<bool, PortError> {
        match res {
            Ok(written) => {
                // `send_finished` counts its own segments and reports 0.
                if written > 0 {
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += pkt.len() as u64;
                }
                Ok(true)
            }
            Err(TxFail::Offload) => {
                self.stats.tx_errors += 1;
                Ok(false)
            }
            Err(TxFail::Io(e)) if sys::is_gone_error(&e) => {
                self.stats.tx_dropped += left as u64;
                Err(self.gone())
            }
            Err(TxFail::Io(e))
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::ENOBUFS | libc::EIO)
                ) =>
            {
                // Queue full, or the kernel side is down: the frame is dropped.
                self.stats.tx_dropped += 1;
                Ok(false)
            }
            Err(TxFail::Io(_)) => {
                self.stats.tx_errors += 1;
                Ok(false)
            }
        }
    }

    /// [`Port::recv_batch`] through the batch ring: one kernel entry per batch.
    fn recv_uring(&mut self, fd: RawFd, bufs: &mut [Packet]) -> Result<usize, PortError> {
        let vnet = self.cfg.vnet_hdr;
        let Some(ring) = self.uring.as_mut() else {
            return Ok(0);
        };
        for p in bufs.iter_mut() {
            p.reset();
        }
        let mut results = [0i32; BATCH_SIZE];
        let count = match ring.read(fd, bufs, vnet) {
            Ok(r) => {
                results[..r.len()].copy_from_slice(r);
                r.len()
            }
            Err(e) => return Err(self.io_err(e)),
        };
        let mut n = 0;
        for (i, &r) in results[..count].iter().enumerate() {
            let res = match usize::try_from(r) {
                Ok(bytes) => Ok(finish_rx(&mut bufs[i], bytes, vnet)),
                Err(_) => Err(io::Error::from_raw_os_error(-r)),
            };
            match self.account_rx(res, n) {
                RxNext::Kept => {
                    bufs.swap(n, i);
                    n += 1;
                }
                RxNext::Skip => {}
                RxNext::Stop(r) => return r,
            }
        }
        Ok(n)
    }

    /// [`Port::send_batch`] through the batch ring: one kernel entry per batch.
    fn send_uring(&mut self, fd: RawFd, pkts: &[Packet]) -> Result<usize, PortError> {
        let vnet = self.cfg.vnet_hdr;
        let mut sent = 0;
        for (c, chunk) in pkts.chunks(BATCH_SIZE).enumerate() {
            let Some(ring) = self.uring.as_mut() else {
                return Ok(sent);
            };
            if vnet {
                for (i, p) in chunk.iter().enumerate() {
                    *ring.tx_hdr_mut(i) = VnetHdr::from_offload(&p.offload).0;
                }
            }
            let mut results = [0i32; BATCH_SIZE];
            match ring.write(fd, chunk, vnet) {
                Ok(r) => results[..r.len()].copy_from_slice(r),
                Err(e) => return Err(self.io_err(e)),
            }
            for (i, pkt) in chunk.iter().enumerate() {
                let r = results[i];
                let res =
                    usize::try_from(r).map_err(|_| TxFail::Io(io::Error::from_raw_os_error(-r)));
                let left = pkts.len() - c * BATCH_SIZE - i;
                if self.account_tx(res, pkt, left)? {
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }

    /// Sends one frame that carries offload work this port cannot pass on.
    fn send_finished(&mut self, fd: RawFd, pkt: &Packet) -> Result<usize, TxFail> {
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; MAX_FRAME];
        }
        let stats = &mut self.stats;
        offload::finalize_each(pkt.data(), &pkt.offload, &mut self.scratch, |frame| {
            sys::write(fd, frame).map_err(TxFail::Io)?;
            stats.tx_packets += 1;
            stats.tx_bytes += frame.len() as u64;
            Ok(())
        })
    }
}

/// Checks `n` bytes just read into `pkt` (a virtio-net header in the headroom in front of the
/// frame, if `vnet`, then the frame) and sets the frame's length and offload state.
fn finish_rx(pkt: &mut Packet, n: usize, vnet: bool) -> Rx {
    let cap = pkt.rx_space().len();
    let Some(len) = n.checked_sub(if vnet { VNET_HDR_LEN } else { 0 }) else {
        return Rx::Malformed;
    };
    if len > cap {
        return Rx::Malformed;
    }
    pkt.set_len(len);
    if vnet {
        let Some(o) = offload::take_rx_hdr(pkt) else {
            return Rx::Malformed;
        };
        if o.needs_csum && usize::from(o.csum_start) + usize::from(o.csum_offset) + 2 > len {
            return Rx::Malformed;
        }
        pkt.offload = o;
    }
    Rx::Frame(len)
}

/// What a receive loop does after one result.
enum RxNext {
    /// A frame was kept.
    Kept,
    /// Nothing kept; go on.
    Skip,
    /// Stop and return this.
    Stop(Result<usize, PortError>),
}

/// Outcome of reading one frame.
enum Rx {
    Frame(usize),
    /// Truncated, or a vnet header that does not fit the frame: dropped and counted.
    Malformed,
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn recv_batch(&mut self, bufs: &mut [Packet]) -> Result<usize, PortError> {
        let Some(fd) = self.fd.as_ref().map(|f| f.as_raw_fd()) else {
            return Err(PortError::Gone(self.cfg.name.clone()));
        };
        if self.uring.is_some() {
            return self.recv_uring(fd, bufs);
        }
        let mut n = 0;
        while n < bufs.len() {
            let res = TapPort::recv_one(fd, self.cfg.vnet_hdr, &mut bufs[n]);
            match self.account_rx(res, n) {
                RxNext::Kept => n += 1,
                RxNext::Skip => {}
                RxNext::Stop(r) => return r,
            }
        }
        Ok(n)
    }

    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError> {
        let Some(fd) = self.fd.as_ref().map(|f| f.as_raw_fd()) else {
            self.stats.tx_dropped += pkts.len() as u64;
            return Err(PortError::Gone(self.cfg.name.clone()));
        };
        // The ring carries frames as they are: without virtio-net headers, frames with
        // offload work left take the path that finishes them in software.
        if self.uring.is_some()
            && (self.cfg.vnet_hdr || !pkts.iter().any(|p| offload::is_pending(&p.offload)))
        {
            return self.send_uring(fd, pkts);
        }
        let mut sent = 0;
        for (i, pkt) in pkts.iter().enumerate() {
            let res = if self.cfg.vnet_hdr {
                // One buffer when the header is in the headroom already (a forwarded packet
                // nothing changed), else two.
                let hdr = VnetHdr::from_offload(&pkt.offload);
                match offload::framed(pkt, &hdr) {
                    Some(buf) => sys::write(fd, buf),
                    None => sys::writev2(fd, &hdr.0, pkt.data()),
                }
                .map_err(TxFail::Io)
            } else if offload::is_pending(&pkt.offload) {
                // Counts its own frames: one packet may leave as several segments.
                self.send_finished(fd, pkt).map(|_| 0)
            } else {
                sys::write(fd, pkt.data()).map_err(TxFail::Io)
            };
            match self.account_tx(res, pkt, pkts.len() - i) {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        self.fd.as_ref().map(|f| f.as_raw_fd())
    }

    fn is_up(&self) -> bool {
        self.fd.is_some()
    }

    fn reopen(&mut self) -> bool {
        if self.fd.is_none()
            && let Ok((fd, offloads)) = attach(&self.cfg)
        {
            self.fd = Some(fd);
            self.offloads = offloads;
        }
        self.fd.is_some()
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn accepts_offload(&self) -> bool {
        self.cfg.vnet_hdr
    }
}
