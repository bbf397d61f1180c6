//! System ports (`system` type): an existing interface, attached through AF_PACKET.
//!
//! The interface belongs to someone else (a VM's `vnet0` created by QEMU, a veth, a NIC); the
//! switch opens a raw packet socket bound to it by ifindex and moves frames in batches with
//! `recvmmsg`/`sendmmsg`. What the kernel does to frames on that path, and how this port undoes
//! it:
//!
//! - VLAN tags are stripped into the skb on receive (hardware or software "VLAN acceleration").
//!   `PACKET_AUXDATA` reports them; the port re-inserts the 802.1Q/802.1ad header so the
//!   datapath sees the frame as it was on the wire.
//! - Frames sent by the local stack towards the interface (`PACKET_OUTGOING`), including our
//!   own transmissions, would be seen again: `PACKET_IGNORE_OUTGOING` drops them in the
//!   kernel, and the socket address type filters them where that option is missing.
//! - Checksum-partial and GSO frames (a VM with offloads, a veth whose peer has tx offloads)
//!   arrive as they are. With `vnet_hdr` (the default) `PACKET_VNET_HDR` carries their offload
//!   state in [`Packet::offload`] and the port accepts offloaded frames on transmit (the kernel
//!   segments if the device cannot). Without it, `TP_STATUS_CSUMNOTREADY` marks a partial
//!   checksum; the port derives the checksum offsets from the headers so the frame is completed
//!   before it leaves, and an offloaded frame given to `send_batch` is finished in software.
//!
//! Promiscuous mode is a socket membership (`PACKET_MR_PROMISC`), so the kernel undoes it when
//! the socket closes. If the interface goes away or down (`ENETDOWN`, `ENXIO`, `ENODEV`), the
//! socket is closed, calls return [`PortError::Gone`], and [`Port::reopen`] attaches to the
//! interface of the same name when it exists again (usually under a new ifindex).

use super::offload::{self, OffloadDrop, VNET_HDR_LEN, VnetHdr};
use super::{BATCH_SIZE, Port, PortError, PortStats, sys};
use crate::flow::key::ethertype;
use crate::packet::{MAX_FRAME, Packet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Socket buffer size: room for a few dozen 64 KB super-packets, so a burst of TSO frames is
/// not dropped by the default ~200 KB limit.
const SOCKET_BUFFER: libc::c_int = 4 << 20;

/// Control-message space per received frame (one `tpacket_auxdata`, with room to spare).
const CONTROL_LEN: usize = 64;

/// How to attach a system port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfPacketConfig {
    /// The existing interface.
    pub name: String,
    /// Use `PACKET_VNET_HDR` (offloaded frames in and out). Default true.
    pub vnet_hdr: bool,
    /// Receive frames for any destination MAC. Default true (a switch port must).
    pub promisc: bool,
    /// Set the interface administratively up when attaching. Default true: a VM's tap starts
    /// down and whoever attaches it brings it up.
    pub bring_up: bool,
}

impl AfPacketConfig {
    /// The defaults for interface `name`.
    pub fn new(name: &str) -> AfPacketConfig {
        AfPacketConfig {
            name: name.to_owned(),
            vnet_hdr: true,
            promisc: true,
            bring_up: true,
        }
    }
}

/// A socket attached to one interface.
struct Attached {
    fd: OwnedFd,
    ifindex: u32,
    /// The interface MTU when attached, to recognise GSO frames without a vnet header.
    mtu: usize,
}

/// Per-message receive state the kernel fills alongside the frame.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct RxSlot {
    control: [u8; CONTROL_LEN],
    vnet: [u8; VNET_HDR_LEN],
    addr: libc::sockaddr_ll,
}

/// A `system` port.
pub struct AfPacketPort {
    cfg: AfPacketConfig,
    sock: Option<Attached>,
    stats: PortStats,
    slots: Box<[RxSlot; BATCH_SIZE]>,
    /// Where offloaded frames are finished when `vnet_hdr` is off (allocated on first use).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for AfPacketPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AfPacketPort")
            .field("cfg", &self.cfg)
            .field("ifindex", &self.ifindex())
            .finish()
    }
}

fn attach(cfg: &AfPacketConfig) -> Result<Attached, PortError> {
    let err = |what: &str, e: io::Error| PortError::Open {
        port: cfg.name.clone(),
        reason: format!("{what}: {e}"),
    };
    let ifindex = sys::if_index(&cfg.name).map_err(|e| err("no such interface", e))?;
    let fd = sys::packet_socket().map_err(|e| err("AF_PACKET socket", e))?;
    let raw = fd.as_raw_fd();
    let one: libc::c_int = 1;
    sys::set_sockopt(raw, libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)
        .map_err(|e| err("PACKET_AUXDATA", e))?;
    if cfg.vnet_hdr {
        sys::set_sockopt(raw, libc::SOL_PACKET, libc::PACKET_VNET_HDR, &one)
            .map_err(|e| err("PACKET_VNET_HDR", e))?;
    }
    // Linux >= 4.20; older kernels are covered by the PACKET_OUTGOING check on receive.
    let _ = sys::set_sockopt(raw, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, &one);
    sys::set_socket_buffer(raw, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, SOCKET_BUFFER);
    sys::set_socket_buffer(raw, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, SOCKET_BUFFER);
    if cfg.bring_up {
        sys::if_set_up(&cfg.name).map_err(|e| err("set up", e))?;
    }
    if cfg.promisc {
        sys::packet_add_promisc(raw, ifindex).map_err(|e| err("promiscuous mode", e))?;
    }
    sys::packet_bind(raw, ifindex).map_err(|e| err("bind", e))?;
    let mtu = sys::if_mtu(&cfg.name).map_err(|e| err("MTU", e))? as usize;
    Ok(Attached { fd, ifindex, mtu })
}

/// Re-inserts the VLAN header the kernel moved into the skb. Returns false if the buffer has
/// no headroom left.
fn reinsert_vlan(pkt: &mut Packet, aux: &libc::tpacket_auxdata) -> bool {
    if pkt.len() < 12 || !pkt.insert_gap(12, 4) {
        return false;
    }
    let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
        aux.tp_vlan_tpid
    } else {
        ethertype::VLAN
    };
    let d = pkt.data_mut();
    d[12..14].copy_from_slice(&tpid.to_be_bytes());
    d[14..16].copy_from_slice(&aux.tp_vlan_tci.to_be_bytes());
    if pkt.offload.hdr_len != 0 {
        pkt.offload.hdr_len += 4;
    }
    true
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

impl AfPacketPort {
    /// Attaches to the existing interface `cfg.name`.
    pub fn open(cfg: AfPacketConfig) -> Result<AfPacketPort, PortError> {
        let sock = attach(&cfg)?;
        // SAFETY: `RxSlot` is plain bytes and a C struct of integers; all-zero is valid.
        let slot: RxSlot = unsafe { std::mem::zeroed() };
        Ok(AfPacketPort {
            cfg,
            sock: Some(sock),
            stats: PortStats::default(),
            slots: Box::new([slot; BATCH_SIZE]),
            scratch: Vec::new(),
        })
    }

    /// The configuration the port was opened with.
    pub fn config(&self) -> &AfPacketConfig {
        &self.cfg
    }

    /// The ifindex the socket is bound to, while attached.
    pub fn ifindex(&self) -> Option<u32> {
        self.sock.as_ref().map(|s| s.ifindex)
    }

    fn gone(&mut self) -> PortError {
        self.sock = None;
        PortError::Gone(self.cfg.name.clone())
    }

    /// Turns received message `i` (already in `pkt`) into a frame; false drops it.
    fn finish_rx(&mut self, pkt: &mut Packet, i: usize, msg: &libc::mmsghdr) -> bool {
        let slot = &self.slots[i];
        if msg.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            self.stats.rx_errors += 1;
            return false;
        }
        if slot.addr.sll_pkttype == libc::PACKET_OUTGOING {
            return false;
        }
        let hdr_len = if self.cfg.vnet_hdr { VNET_HDR_LEN } else { 0 };
        let Some(len) = (msg.msg_len as usize).checked_sub(hdr_len) else {
            self.stats.rx_errors += 1;
            return false;
        };
        pkt.set_len(len);
        if self.cfg.vnet_hdr {
            pkt.offload = VnetHdr(slot.vnet).to_offload();
        }
        let aux = sys::packet_auxdata(&msg.msg_hdr);
        if let Some(aux) = &aux
            && aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0
            && !reinsert_vlan(pkt, aux)
        {
            self.stats.rx_errors += 1;
            return false;
        }
        let o = &pkt.offload;
        if o.needs_csum && usize::from(o.csum_start) + usize::from(o.csum_offset) + 2 > pkt.len() {
            self.stats.rx_errors += 1;
            return false;
        }
        let mtu = self.sock.as_ref().map_or(usize::MAX, |s| s.mtu);
        if self.cfg.vnet_hdr {
            // The vnet header described any offload.
        } else if pkt.len() > mtu + 14
            && let Some(tso) = offload::infer_tso(pkt.data(), mtu)
        {
            // A GSO skb handed over whole: segment it to the MTU before it leaves.
            pkt.offload = tso;
        } else if aux.is_some_and(|a| a.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0)
            && let Some((start, offset)) = offload::partial_checksum_offsets(pkt.data())
        {
            pkt.offload.needs_csum = true;
            pkt.offload.csum_start = start;
            pkt.offload.csum_offset = offset;
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += pkt.len() as u64;
        true
    }

    /// Sends `pkts` (at most a batch, none needing software offload) with `sendmmsg`.
    fn send_plain(&mut self, fd: RawFd, pkts: &[&Packet]) -> Result<usize, PortError> {
        let vnet = self.cfg.vnet_hdr;
        let mut hdrs = [VnetHdr::default(); BATCH_SIZE];
        // SAFETY: iovec and mmsghdr are C structs of pointers and integers; all-zero is valid.
        let mut iovs: [[libc::iovec; 2]; BATCH_SIZE] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH_SIZE] = unsafe { std::mem::zeroed() };
        let n = pkts.len().min(BATCH_SIZE);
        for i in 0..n {
            hdrs[i] = VnetHdr::from_offload(&pkts[i].offload);
            let data = pkts[i].data();
            iovs[i] = [
                libc::iovec {
                    iov_base: hdrs[i].0.as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                },
                libc::iovec {
                    iov_base: data.as_ptr() as *mut libc::c_void,
                    iov_len: data.len(),
                },
            ];
            let first = if vnet { 0 } else { 1 };
            msgs[i].msg_hdr.msg_iov = iovs[i][first..].as_mut_ptr();
            msgs[i].msg_hdr.msg_iovlen = 2 - first;
        }
        let mut off = 0;
        while off < n {
            // SAFETY: msgs[off..n] point at iovecs and buffers (headers, packet data) that
            // stay alive and unmodified for the call; sendmmsg only reads through them.
            let ret = unsafe {
                libc::sendmmsg(
                    fd,
                    msgs[off..].as_mut_ptr(),
                    (n - off) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if ret > 0 {
                for p in &pkts[off..off + ret as usize] {
                    self.stats.tx_packets += 1;
                    self.stats.tx_bytes += p.len() as u64;
                }
                off += ret as usize;
                continue;
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                Some(libc::EAGAIN | libc::ENOBUFS) => {
                    // The socket or device queue is full: the rest of this batch is dropped.
                    self.stats.tx_dropped += (n - off) as u64;
                    return Ok(off);
                }
                _ if sys::is_gone_error(&e) => {
                    self.stats.tx_dropped += (n - off) as u64;
                    return Err(self.gone());
                }
                // Too big for the device, or rejected offload metadata: drop this one frame.
                _ => {
                    self.stats.tx_errors += 1;
                    off += 1;
                }
            }
        }
        Ok(n)
    }

    /// Sends one frame that carries offload work this port cannot pass on.
    fn send_finished(&mut self, fd: RawFd, pkt: &Packet) -> Result<(), TxFail> {
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; MAX_FRAME];
        }
        let stats = &mut self.stats;
        offload::finalize_each(pkt.data(), &pkt.offload, &mut self.scratch, |frame| {
            // SAFETY: `frame` is valid for reads of its length for the call.
            let r =
                unsafe { libc::send(fd, frame.as_ptr().cast(), frame.len(), libc::MSG_DONTWAIT) };
            sys::check_size(r).map_err(TxFail::Io)?;
            stats.tx_packets += 1;
            stats.tx_bytes += frame.len() as u64;
            Ok(())
        })
        .map(|_| ())
    }
}

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn recv_batch(&mut self, bufs: &mut [Packet]) -> Result<usize, PortError> {
        let Some(fd) = self.sock.as_ref().map(|s| s.fd.as_raw_fd()) else {
            return Err(PortError::Gone(self.cfg.name.clone()));
        };
        let n = bufs.len().min(BATCH_SIZE);
        let vnet = self.cfg.vnet_hdr;
        // SAFETY: iovec and mmsghdr are C structs of pointers and integers; all-zero is valid.
        let mut iovs: [[libc::iovec; 2]; BATCH_SIZE] = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH_SIZE] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            bufs[i].reset();
            let space = bufs[i].rx_space();
            let slot = &mut self.slots[i];
            iovs[i] = [
                libc::iovec {
                    iov_base: slot.vnet.as_mut_ptr().cast(),
                    iov_len: VNET_HDR_LEN,
                },
                libc::iovec {
                    iov_base: space.as_mut_ptr().cast(),
                    iov_len: space.len(),
                },
            ];
            let first = if vnet { 0 } else { 1 };
            let h = &mut msgs[i].msg_hdr;
            h.msg_iov = iovs[i][first..].as_mut_ptr();
            h.msg_iovlen = 2 - first;
            h.msg_control = slot.control.as_mut_ptr().cast();
            h.msg_controllen = CONTROL_LEN;
            h.msg_name = (&mut slot.addr as *mut libc::sockaddr_ll).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        }
        let got = loop {
            // SAFETY: msgs[..n] point at iovecs, control buffers and addresses in `iovs` and
            // `self.slots`, and at the spare space of `bufs[..n]`; all outlive the call and no
            // Rust reference to them is used while the kernel writes.
            let ret = unsafe {
                libc::recvmmsg(
                    fd,
                    msgs.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if ret >= 0 {
                break ret as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(0),
                _ if sys::is_gone_error(&e) => return Err(self.gone()),
                _ => {
                    self.stats.rx_errors += 1;
                    return Err(PortError::Io {
                        port: self.cfg.name.clone(),
                        source: e,
                    });
                }
            }
        };
        let mut kept = 0;
        for (i, msg) in msgs.iter().enumerate().take(got) {
            if self.finish_rx(&mut bufs[i], i, msg) {
                bufs.swap(kept, i);
                kept += 1;
            }
        }
        Ok(kept)
    }

    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError> {
        let Some(fd) = self.sock.as_ref().map(|s| s.fd.as_raw_fd()) else {
            self.stats.tx_dropped += pkts.len() as u64;
            return Err(PortError::Gone(self.cfg.name.clone()));
        };
        let Some(first) = pkts.first() else {
            return Ok(0);
        };
        let mut batch: [&Packet; BATCH_SIZE] = [first; BATCH_SIZE];
        let mut queued = 0;
        let mut sent = 0;
        for (i, pkt) in pkts.iter().enumerate() {
            if self.cfg.vnet_hdr || !offload::is_pending(&pkt.offload) {
                batch[queued] = pkt;
                queued += 1;
                if queued == BATCH_SIZE {
                    sent += self.send_plain(fd, &batch[..queued])?;
                    queued = 0;
                }
                continue;
            }
            // A frame to finish in software: flush what is queued first, to keep order.
            sent += self.send_plain(fd, &batch[..queued])?;
            queued = 0;
            match self.send_finished(fd, pkt) {
                Ok(()) => sent += 1,
                Err(TxFail::Offload) => self.stats.tx_errors += 1,
                Err(TxFail::Io(e)) if sys::is_gone_error(&e) => {
                    self.stats.tx_dropped += (pkts.len() - i) as u64;
                    return Err(self.gone());
                }
                Err(TxFail::Io(_)) => self.stats.tx_dropped += 1,
            }
        }
        sent += self.send_plain(fd, &batch[..queued])?;
        Ok(sent)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        self.sock.as_ref().map(|s| s.fd.as_raw_fd())
    }

    fn is_up(&self) -> bool {
        self.sock.is_some()
    }

    /// Attaches again when an interface with the port's name exists (and, with `bring_up`,
    /// after bringing it up). A port that is still attached is left alone.
    fn reopen(&mut self) -> bool {
        if self.sock.is_none()
            && let Ok(sock) = attach(&self.cfg)
        {
            self.sock = Some(sock);
        }
        self.sock.is_some()
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn accepts_offload(&self) -> bool {
        self.cfg.vnet_hdr
    }
}
