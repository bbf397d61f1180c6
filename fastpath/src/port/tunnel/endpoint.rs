//! Endpoints (one receiving socket shared by every tunnel port of a kind and UDP port) and
//! the two [`Port`]s built on them: [`EndpointPort`] receives and demultiplexes,
//! [`TunnelPort`] encapsulates and sends.

use super::codec::{self, MAX_HEADER};
use super::demux::{Demux, Route};
use super::sock::{self, RxInfo, TxMsg};
use super::{TunnelConfig, TunnelDrop, TunnelKind};
use crate::flow::TunnelMeta;
use crate::flow::key::tun_flags;
use crate::flow::tlv::{SharedTlv, TlvTable};
use crate::packet::Packet;
use crate::port::offload::{self, OffloadDrop};
use crate::port::{BATCH_SIZE, Port, PortError, PortStats};
use crate::wire::ipv4;
use arc_swap::ArcSwap;
use core::net::IpAddr;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// Sending sockets per (checksum, DF) setting of a port: the outer UDP source port is the
/// socket's, picked by the inner flow's hash, so ECMP in the underlay sees this many values.
pub const TX_SOCKETS: usize = 8;

/// Most bytes one UDP GSO send carries (a datagram's length must fit 16 bits).
const GSO_MAX_BYTES: usize = 65_000;
/// Most segments one UDP GSO send carries (the kernel's `UDP_MAX_SEGMENTS`).
const GSO_MAX_SEGMENTS: usize = 64;

/// What identifies an endpoint: the tunnel kind and its UDP port (0 for GRE).
pub type EndpointKey = (TunnelKind, u16);

/// A receiving socket and the table of the tunnel ports behind it.
pub struct Endpoint {
    kind: TunnelKind,
    port: u16,
    rx: OwnedFd,
    demux: ArcSwap<Demux>,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("kind", &self.kind)
            .field("port", &self.port)
            .finish()
    }
}

impl Endpoint {
    /// Opens the receiving socket for `kind` on UDP `port` (ignored for GRE).
    pub fn open(kind: TunnelKind, port: u16) -> io::Result<Endpoint> {
        let rx = match kind {
            TunnelKind::Gre => sock::gre_raw(true, true)?,
            _ => sock::udp_rx(port)?.0,
        };
        Ok(Endpoint {
            kind,
            port,
            rx,
            demux: ArcSwap::from_pointee(Demux::default()),
        })
    }

    /// The endpoint's name, as OVS names its datapath vports (`vxlan_sys_4789`).
    pub fn name(&self) -> String {
        match self.kind {
            TunnelKind::Gre => "gre_sys".into(),
            k => format!("{k}_sys_{}", self.port),
        }
    }

    /// The current receive table.
    pub fn demux(&self) -> Arc<Demux> {
        self.demux.load_full()
    }
}

/// Every endpoint of a switch, with the routes of their tunnel ports.
#[derive(Debug, Default)]
pub struct Registry {
    endpoints: Mutex<HashMap<EndpointKey, (Arc<Endpoint>, u32)>>,
}

impl Registry {
    /// Routes packets for tunnel port `cfg` to datapath port `dp_no`. When this is the first
    /// port of its endpoint, the endpoint is opened and `attach` is called with its receiving
    /// port, to add it to the datapath and return its number.
    pub fn add(
        &self,
        cfg: &TunnelConfig,
        tlv: &SharedTlv,
        dp_no: u32,
        attach: impl FnOnce(EndpointPort) -> io::Result<u32>,
    ) -> io::Result<Arc<Endpoint>> {
        let key = (
            cfg.kind,
            if cfg.kind == TunnelKind::Gre {
                0
            } else {
                cfg.dst_port
            },
        );
        let mut eps = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let ep = match eps.get(&key) {
            Some((ep, _)) => Arc::clone(ep),
            None => {
                let ep = Arc::new(Endpoint::open(key.0, key.1)?);
                let no = attach(EndpointPort::new(Arc::clone(&ep)))?;
                eps.insert(key, (Arc::clone(&ep), no));
                ep
            }
        };
        let mut d = Demux::clone(&ep.demux.load());
        d.routes.retain(|r| r.dp_no != dp_no);
        d.tlv.retain(|(n, _)| *n != dp_no);
        d.tlv.push((dp_no, tlv.clone()));
        d.routes.push(Route {
            remote: cfg.remote,
            local: cfg.local,
            key: cfg.key,
            dp_no,
        });
        ep.demux.store(Arc::new(d));
        Ok(ep)
    }

    /// Stops routing to datapath port `dp_no`. Returns the datapath number of an endpoint
    /// left with no ports (closed here once the caller detaches it).
    pub fn remove(&self, dp_no: u32) -> Option<u32> {
        let mut eps = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let mut emptied = None;
        for (key, (ep, no)) in eps.iter() {
            let cur = ep.demux.load();
            if cur.routes.iter().any(|r| r.dp_no == dp_no) {
                let mut d = Demux::clone(&cur);
                d.routes.retain(|r| r.dp_no != dp_no);
                d.tlv.retain(|(n, _)| *n != dp_no);
                if d.routes.is_empty() {
                    emptied = Some((*key, *no));
                }
                ep.demux.store(Arc::new(d));
            }
        }
        let (key, no) = emptied?;
        eps.remove(&key);
        Some(no)
    }
}

/// The receiving side of an endpoint, attached to the datapath as a port of its own: it
/// decapsulates and hands each packet to the datapath as received on its tunnel port.
pub struct EndpointPort {
    name: String,
    ep: Arc<Endpoint>,
    info: [RxInfo; BATCH_SIZE],
    drops: Vec<TunnelDrop>,
    stats: PortStats,
}

impl EndpointPort {
    fn new(ep: Arc<Endpoint>) -> EndpointPort {
        EndpointPort {
            name: ep.name(),
            ep,
            info: [RxInfo::default(); BATCH_SIZE],
            drops: Vec::new(),
            stats: PortStats::default(),
        }
    }

    /// Decapsulates one received datagram in place; returns its tunnel port.
    fn decap_one(&self, demux: &Demux, pkt: &mut Packet, info: &RxInfo) -> Result<u32, TunnelDrop> {
        let mut meta = TunnelMeta {
            tos: info.tos,
            ttl: info.ttl,
            ..TunnelMeta::default()
        };
        let (src, dst, skip) = match self.ep.kind {
            TunnelKind::Gre => {
                let ip =
                    ipv4::Packet::new_checked(pkt.data()).map_err(|_| TunnelDrop::Truncated)?;
                meta.tos = ip.tos();
                meta.ttl = ip.ttl();
                if ip.is_fragment() {
                    return Err(TunnelDrop::BadHeader);
                }
                (
                    IpAddr::V4(ip.src_addr()),
                    Some(IpAddr::V4(ip.dst_addr())),
                    ip.header_len(),
                )
            }
            _ => (info.src, info.dst, 0),
        };
        let hlen = codec::decap(
            self.ep.kind,
            pkt.data().get(skip..).unwrap_or(&[]),
            &mut meta,
        )?;
        meta.set_src(src);
        // The kernel reports the local address with every datagram (IP_PKTINFO); without it
        // the packet still has tunnel metadata, with the unspecified-but-set "all ones" v4 or
        // loopback v6 as its destination.
        meta.set_dst(dst.unwrap_or(if src.is_ipv4() {
            IpAddr::V4(core::net::Ipv4Addr::BROADCAST)
        } else {
            IpAddr::V6(core::net::Ipv6Addr::LOCALHOST)
        }));
        if meta.ttl == 0 {
            meta.ttl = 1;
        }
        let no = demux.lookup(src, dst, meta.id).ok_or(TunnelDrop::NoPort)?;
        if self.ep.kind == TunnelKind::Geneve && hlen > crate::wire::geneve::HEADER_LEN {
            let payload = pkt.data().get(skip..).unwrap_or(&[]);
            match demux.tlv_of(no) {
                Some(t) => codec::geneve_options(payload, &t.guard(), &mut meta)?,
                None => codec::geneve_options(payload, &TlvTable::default(), &mut meta)?,
            }
        }
        if pkt.len() < skip + hlen + crate::wire::ethernet::HEADER_LEN
            || !pkt.remove_gap(0, skip + hlen)
        {
            return Err(TunnelDrop::Truncated);
        }
        pkt.tunnel = meta;
        pkt.in_port = no;
        Ok(no)
    }
}

impl Port for EndpointPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv_batch(&mut self, bufs: &mut [Packet]) -> Result<usize, PortError> {
        let n =
            sock::recv_batch(self.ep.rx.as_raw_fd(), bufs, &mut self.info).map_err(|source| {
                PortError::Io {
                    port: self.name.clone(),
                    source,
                }
            })?;
        if n == 0 {
            return Ok(0);
        }
        let demux = self.ep.demux.load();
        let mut kept = 0;
        for i in 0..n {
            let info = self.info[i];
            bufs[i].set_len(info.len);
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += info.len as u64;
            match self.decap_one(&demux, &mut bufs[i], &info) {
                Ok(_) => {
                    bufs.swap(kept, i);
                    kept += 1;
                }
                Err(reason) => {
                    self.stats.rx_dropped += 1;
                    self.drops.push(reason);
                }
            }
        }
        Ok(kept)
    }

    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError> {
        // Nothing is ever output to an endpoint (xlate outputs to tunnel ports).
        self.stats.tx_dropped += pkts.len() as u64;
        Ok(0)
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.ep.rx.as_raw_fd())
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn demuxes(&self) -> bool {
        true
    }

    fn take_rx_drops(&mut self, out: &mut Vec<TunnelDrop>) {
        out.append(&mut self.drops);
    }
}

/// A tunnel port's sending side: encapsulates with each packet's tunnel metadata (written by
/// `set(tunnel(...))`) and sends through the host's stack. It receives nothing itself: its
/// packets arrive through the endpoint.
pub struct TunnelPort {
    name: String,
    cfg: TunnelConfig,
    /// Sending sockets by `csum as usize * 2 + df as usize`, opened on first use.
    tx: [Vec<OwnedFd>; 4],
    v6: bool,
    scratch: Vec<u8>,
    /// The kernel refused UDP GSO once: segment and send one by one.
    no_gso: bool,
    stats: PortStats,
    /// The bridge's TLV map (Geneve options on output).
    tlv: SharedTlv,
    /// Tunnel headers of a batch, kept between batches (a Geneve header with options is
    /// [`MAX_HEADER`] bytes; zeroing that per batch on the stack would cost every packet).
    hdrs: Option<Box<[[u8; MAX_HEADER]; BATCH_SIZE]>>,
    _endpoint: Arc<Endpoint>,
}

impl TunnelPort {
    /// The sending side of tunnel port `name` (whose receive side is `endpoint`).
    pub fn new(
        name: &str,
        cfg: TunnelConfig,
        tlv: SharedTlv,
        endpoint: Arc<Endpoint>,
    ) -> TunnelPort {
        TunnelPort {
            tlv,
            hdrs: None,
            name: name.to_string(),
            cfg,
            tx: Default::default(),
            v6: false,
            scratch: Vec::new(),
            no_gso: false,
            stats: PortStats::default(),
            _endpoint: endpoint,
        }
    }

    fn sockets(&mut self, csum: bool, df: bool) -> io::Result<&[OwnedFd]> {
        let slot = usize::from(csum) * 2 + usize::from(df);
        if self.tx[slot].is_empty() {
            let mut v = Vec::with_capacity(TX_SOCKETS);
            match self.cfg.kind {
                TunnelKind::Gre => {
                    v.push(sock::gre_raw(false, df)?);
                    self.v6 = false;
                }
                _ => {
                    for _ in 0..TX_SOCKETS {
                        match sock::udp_tx(true, csum, df) {
                            Ok(s) => {
                                self.v6 = true;
                                v.push(s);
                            }
                            Err(_) => {
                                self.v6 = false;
                                v.push(sock::udp_tx(false, csum, df)?);
                            }
                        }
                    }
                }
            }
            self.tx[slot] = v;
        }
        Ok(&self.tx[slot])
    }

    /// Sends `msgs` on `fd`, skipping (and counting) a message the kernel refuses.
    fn flush(&mut self, fd: RawFd, msgs: &[TxMsg<'_>]) {
        let mut off = 0;
        while off < msgs.len() {
            match sock::send_batch(fd, self.v6, &msgs[off..]) {
                Ok(0) => {
                    self.stats.tx_dropped += (msgs.len() - off) as u64;
                    return;
                }
                Ok(k) => {
                    for m in &msgs[off..off + k] {
                        self.stats.tx_packets += 1;
                        self.stats.tx_bytes += (m.hdr.len() + m.frame.len()) as u64;
                    }
                    off += k;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.tx_dropped += (msgs.len() - off) as u64;
                    return;
                }
                // Too big for the path MTU with DF, no route, ...: this one datagram.
                Err(_) => {
                    self.stats.tx_errors += 1;
                    off += 1;
                }
            }
        }
    }
}

/// A hash of the inner flow (addresses and ports) for the outer source port.
pub fn inner_hash(frame: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |b: &[u8]| {
        for x in b {
            h = (h ^ u32::from(*x)).wrapping_mul(0x0100_0193);
        }
    };
    let ty = frame
        .get(12..14)
        .map_or(0, |t| u16::from_be_bytes([t[0], t[1]]));
    match ty {
        0x0800 => {
            let ihl = frame.get(14).map_or(20, |b| usize::from(b & 0x0f) * 4);
            mix(frame.get(23..24).unwrap_or(&[]));
            mix(frame.get(26..34).unwrap_or(&[]));
            mix(frame.get(14 + ihl..18 + ihl).unwrap_or(&[]));
        }
        0x86dd => {
            mix(frame.get(20..21).unwrap_or(&[]));
            mix(frame.get(22..54).unwrap_or(&[]));
            mix(frame.get(54..58).unwrap_or(&[]));
        }
        _ => mix(frame.get(..12).unwrap_or(frame)),
    }
    h ^ (h >> 16)
}

impl Port for TunnelPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv_batch(&mut self, _bufs: &mut [Packet]) -> Result<usize, PortError> {
        Ok(0)
    }

    fn send_batch(&mut self, pkts: &[Packet]) -> Result<usize, PortError> {
        let kind = self.cfg.kind;
        let mut hdrs = self
            .hdrs
            .take()
            .unwrap_or_else(|| Box::new([[0; MAX_HEADER]; BATCH_SIZE]));
        let tlv = self.tlv.guard();
        let mut lens = [0usize; BATCH_SIZE];
        let mut slot = [usize::MAX; BATCH_SIZE];
        let mut offloaded = Vec::new();
        for (i, p) in pkts.iter().enumerate().take(BATCH_SIZE) {
            if !p.tunnel.is_set() {
                self.stats.tx_dropped += 1;
                continue;
            }
            if offload::is_pending(&p.offload) {
                offloaded.push(i);
                continue;
            }
            lens[i] = codec::encap_header(kind, &p.tunnel, &tlv, &mut hdrs[i]);
            if kind == TunnelKind::Gre {
                codec::gre_checksum(&mut hdrs[i][..lens[i]], p.data());
            }
            slot[i] = inner_hash(p.data()) as usize;
        }
        let groups: [(bool, bool); 4] =
            [(false, false), (false, true), (true, false), (true, true)];
        let wanted = |csum: bool, df: bool| {
            pkts.iter().enumerate().take(BATCH_SIZE).any(|(i, p)| {
                slot[i] != usize::MAX
                    && (p.tunnel.flags & tun_flags::CSUM != 0) == csum
                    && (p.tunnel.flags & tun_flags::DF != 0) == df
            })
        };
        for (csum, df) in groups {
            if !wanted(csum, df) {
                continue;
            }
            let fds: Vec<RawFd> = match self.sockets(csum, df) {
                Ok(s) => s.iter().map(AsRawFd::as_raw_fd).collect(),
                Err(_) => Vec::new(),
            };
            for (k, fd) in fds.iter().enumerate() {
                let msgs: Vec<TxMsg<'_>> = pkts
                    .iter()
                    .enumerate()
                    .take(BATCH_SIZE)
                    .filter(|(i, p)| {
                        slot[*i] != usize::MAX
                            && slot[*i] % fds.len() == k
                            && (p.tunnel.flags & tun_flags::CSUM != 0) == csum
                            && (p.tunnel.flags & tun_flags::DF != 0) == df
                    })
                    .map(|(i, p)| self.msg(&hdrs[i][..lens[i]], p.data(), &p.tunnel))
                    .collect();
                if !msgs.is_empty() {
                    self.flush(*fd, &msgs);
                }
            }
            if fds.is_empty() {
                let lost = pkts
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| {
                        slot[*i] != usize::MAX
                            && (p.tunnel.flags & tun_flags::CSUM != 0) == csum
                            && (p.tunnel.flags & tun_flags::DF != 0) == df
                    })
                    .count();
                self.stats.tx_errors += lost as u64;
            }
        }
        drop(tlv);
        self.hdrs = Some(hdrs);
        for i in offloaded {
            self.send_offloaded(&pkts[i]);
        }
        Ok(pkts.len())
    }

    fn stats(&self) -> PortStats {
        self.stats
    }
}

impl TunnelPort {
    fn msg<'a>(&self, hdr: &'a [u8], frame: &'a [u8], t: &TunnelMeta) -> TxMsg<'a> {
        TxMsg {
            hdr,
            frame,
            dst: t
                .dst_addr()
                .unwrap_or(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED)),
            port: match self.cfg.kind {
                TunnelKind::Gre => 0,
                _ if t.tp_dst != 0 => t.tp_dst,
                _ => self.cfg.dst_port,
            },
            tos: t.tos,
            ttl: t.ttl,
        }
    }

    /// A TSO super-packet as trains of UDP GSO datagrams: each segment cut in software right
    /// behind its own copy of the tunnel header, the train handed to the kernel in one
    /// `sendmsg` with `UDP_SEGMENT` (at most 64 segments and 64 KB per call). False if the
    /// packet is not segmentable this way (nothing sent), or the kernel refused GSO (then
    /// this port stops trying and segments go one by one).
    fn send_gso_train(&mut self, fd: RawFd, p: &Packet, buf: &mut [u8]) -> bool {
        let o = p.offload;
        if o.gso_type & !offload::VNET_GSO_ECN == offload::VNET_GSO_NONE {
            return false;
        }
        let Ok(seg) = offload::Segmenter::new(p.data(), &o) else {
            return false;
        };
        if seg.count() < 2 {
            return false;
        }
        let mut hdr = [0u8; MAX_HEADER];
        let hlen = codec::encap_header(self.cfg.kind, &p.tunnel, &self.tlv.guard(), &mut hdr);
        let step = hlen + seg.segment_len(0);
        let per_call = (GSO_MAX_BYTES / step).clamp(1, GSO_MAX_SEGMENTS);
        let m = self.msg(&hdr[..hlen], &[], &p.tunnel);
        let mut i = 0;
        while i < seg.count() {
            let end = (i + per_call).min(seg.count());
            let mut off = 0;
            for k in i..end {
                buf[off..off + hlen].copy_from_slice(&hdr[..hlen]);
                match seg.write(k, &mut buf[off + hlen..]) {
                    Ok(n) => off += hlen + n,
                    Err(_) => {
                        self.stats.tx_errors += 1;
                        return true;
                    }
                }
            }
            match sock::send_gso(fd, self.v6, &buf[..off], step as u16, &m) {
                Ok(_) => {
                    self.stats.tx_packets += (end - i) as u64;
                    self.stats.tx_bytes += off as u64;
                }
                Err(e)
                    if i == 0
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EINVAL | libc::EIO | libc::ENOPROTOOPT)
                        ) =>
                {
                    self.no_gso = true;
                    return false;
                }
                Err(_) => self.stats.tx_errors += (end - i) as u64,
            }
            i = end;
        }
        true
    }

    /// A GSO super-packet or a partial checksum: finished in software, then each frame sent.
    fn send_offloaded(&mut self, p: &Packet) {
        if self.scratch.is_empty() {
            self.scratch = vec![0u8; crate::packet::MAX_FRAME];
        }
        let csum = p.tunnel.flags & tun_flags::CSUM != 0;
        let df = p.tunnel.flags & tun_flags::DF != 0;
        let Ok(fds) = self.sockets(csum, df) else {
            self.stats.tx_errors += 1;
            return;
        };
        let fd = fds[inner_hash(p.data()) as usize % fds.len()].as_raw_fd();
        let mut scratch = std::mem::take(&mut self.scratch);
        if self.cfg.kind != TunnelKind::Gre
            && !self.no_gso
            && self.send_gso_train(fd, p, &mut scratch)
        {
            self.scratch = scratch;
            return;
        }
        let r = offload::finalize_each(p.data(), &p.offload, &mut scratch, |frame| {
            let mut hdr = [0u8; MAX_HEADER];
            let n = codec::encap_header(self.cfg.kind, &p.tunnel, &self.tlv.guard(), &mut hdr);
            if self.cfg.kind == TunnelKind::Gre {
                codec::gre_checksum(&mut hdr[..n], frame);
            }
            let m = self.msg(&hdr[..n], frame, &p.tunnel);
            self.flush(fd, &[m]);
            Ok::<(), OffloadDrop>(())
        });
        if r.is_err() {
            self.stats.tx_errors += 1;
        }
        self.scratch = scratch;
    }
}
