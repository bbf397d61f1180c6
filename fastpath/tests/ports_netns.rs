//! System tests for the real ports: TAP devices and AF_PACKET on veths, in network namespaces
//! this test creates (named `vsw-pt-<pid>-<tag>`) and always deletes.
//!
//! Needs root, `/dev/net/tun` and `ip`. Without them every test fails when `CI=true` and
//! otherwise skips with a loud message. Traffic only ever goes to addresses inside the test's
//! own namespaces (10.231.0.0/16) or raw frames on its own veths.

mod common;

use common::{Cleanup, ip, ns_setup, spawn_in, system_ready};
use fastpath::packet::{MAX_FRAME, Packet, PacketPool};
use fastpath::port::afpacket::{AfPacketConfig, AfPacketPort};
use fastpath::port::offload::{self, Finalized, VNET_GSO_TCPV4};
use fastpath::port::tap::{TapConfig, TapIo, TapPort};
use fastpath::port::{Port, PortError};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Environment, namespaces, links

fn wait_readable(fds: &[RawFd], timeout: Duration) {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `p` is a valid array of pollfd of the given length.
    unsafe { libc::poll(p.as_mut_ptr(), p.len() as _, timeout.as_millis() as i32) };
}

fn buffers(n: usize) -> Vec<Packet> {
    (0..n).map(|_| Packet::with_capacity(MAX_FRAME)).collect()
}

/// Receives from `port` until `want` accepts a frame or the deadline passes.
fn recv_until(
    port: &mut dyn Port,
    timeout: Duration,
    mut want: impl FnMut(&Packet) -> bool,
) -> Option<Packet> {
    let end = Instant::now() + timeout;
    let mut bufs = buffers(8);
    while Instant::now() < end {
        wait_readable(&[port.rx_fd().unwrap()], Duration::from_millis(50));
        let n = port.recv_batch(&mut bufs).expect("recv_batch");
        if let Some(p) = bufs[..n].iter().find(|p| want(p)) {
            return Some(p.clone());
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Raw sockets and frames (independent of the code under test)

/// A plain AF_PACKET socket on one interface of the calling thread's namespace.
struct RawSock(OwnedFd);

impl RawSock {
    fn open(dev: &str) -> RawSock {
        let ifindex = fastpath::port::sys::if_index(dev).expect("ifindex");
        // SAFETY: plain socket(2); the descriptor is wrapped immediately.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW,
                (libc::ETH_P_ALL as u16).to_be() as i32,
            )
        };
        assert!(fd >= 0);
        // SAFETY: fd was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero sockaddr_ll is valid; bind reads it for the call.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: as above.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of_val(&sll) as u32,
            )
        };
        assert_eq!(r, 0);
        RawSock(fd)
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: frame is valid for reads for the call.
        let r = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            r,
            frame.len() as isize,
            "{}",
            std::io::Error::last_os_error()
        );
    }

    fn recv_until(&self, timeout: Duration, want: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let end = Instant::now() + timeout;
        let mut buf = vec![0u8; 70_000];
        while Instant::now() < end {
            wait_readable(&[self.0.as_raw_fd()], Duration::from_millis(50));
            // SAFETY: buf is valid for writes of its length.
            let n = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 && want(&buf[..n as usize]) {
                return Some(buf[..n as usize].to_vec());
            }
        }
        None
    }
}

/// An Ethernet frame of the local-experimental type 0x88b5 carrying `marker`.
fn marker_frame(marker: &[u8], vlan: Option<(u16, u16)>) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0x77, 0x02, 0x02, 0, 0, 0, 0x77, 0x01];
    if let Some((tpid, tci)) = vlan {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&[0x88, 0xb5]);
    f.extend_from_slice(marker);
    f.resize(f.len().max(60), 0);
    f
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

// ---------------------------------------------------------------------------------------------
// Tests

/// A TapPort in the root namespace, its kernel side in a namespace: a ping from the namespace
/// is read by `recv_batch`, answered with a crafted reply through `send_batch`, and succeeds.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn tap_answers_ping_from_namespace() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let ns = c.netns("tap");
    let tap = c.link("tp");
    let mut port = TapPort::open(TapConfig {
        mtu: Some(1400),
        ..TapConfig::new(&tap)
    })
    .unwrap();
    assert!(port.is_up() && !port.accepts_offload());
    assert_eq!(fastpath::port::sys::if_mtu(&tap).unwrap(), 1400);
    ip(&["link", "set", &tap, "netns", &ns]);
    ns_setup(&ns, &tap, Some("10.231.1.1/24"));
    ip(&[
        "-n",
        &ns,
        "neigh",
        "add",
        "10.231.1.2",
        "lladdr",
        "02:00:00:00:01:02",
        "dev",
        &tap,
    ]);

    let pinger = spawn_in(&ns, || {
        // SAFETY: plain socket(2); wrapped immediately.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
        assert!(fd >= 0);
        // SAFETY: fd is fresh and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut icmp = vec![8u8, 0, 0, 0, 0x42, 0x42, 0, 1];
        icmp.extend_from_slice(b"vswitch-ping-payload");
        let cs = checksum(&icmp);
        icmp[2..4].copy_from_slice(&cs.to_be_bytes());
        // SAFETY: all-zero sockaddr_in is valid.
        let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as u16;
        to.sin_addr.s_addr = u32::from_be_bytes([10, 231, 1, 2]).to_be();
        let end = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 2048];
        while Instant::now() < end {
            // SAFETY: the buffer and address are valid for the call.
            unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    icmp.as_ptr().cast(),
                    icmp.len(),
                    0,
                    (&to as *const libc::sockaddr_in).cast(),
                    std::mem::size_of_val(&to) as u32,
                )
            };
            let stop = Instant::now() + Duration::from_millis(500);
            while Instant::now() < stop {
                wait_readable(&[fd.as_raw_fd()], Duration::from_millis(50));
                // SAFETY: buf is valid for writes of its length.
                let n = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                // IP header (20) + echo reply with our id and payload.
                if n >= 28
                    && buf[20] == 0
                    && buf[24..26] == [0x42, 0x42]
                    && buf[28..n as usize] == icmp[8..]
                {
                    return true;
                }
            }
        }
        false
    });

    let mut answered = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while !pinger.is_finished() && Instant::now() < end {
        let req = recv_until(&mut port, Duration::from_millis(200), |p| {
            let d = p.data();
            d.len() >= 42
                && d[12..14] == [8, 0]
                && d[23] == 1
                && d[34] == 8
                && d[30..34] == [10, 231, 1, 2]
        });
        let Some(req) = req else { continue };
        let mut reply = req.data().to_vec();
        let (dst, src) = (reply[6..12].to_vec(), reply[0..6].to_vec());
        reply[0..6].copy_from_slice(&dst);
        reply[6..12].copy_from_slice(&src);
        let (s, d) = (reply[26..30].to_vec(), reply[30..34].to_vec());
        reply[26..30].copy_from_slice(&d);
        reply[30..34].copy_from_slice(&s);
        let ihl_end = 14 + usize::from(reply[14] & 0xf) * 4;
        let ip_end = 14 + usize::from(u16::from_be_bytes([reply[16], reply[17]]));
        reply[ihl_end] = 0;
        reply[ihl_end + 2..ihl_end + 4].fill(0);
        let cs = checksum(&reply[ihl_end..ip_end]);
        reply[ihl_end + 2..ihl_end + 4].copy_from_slice(&cs.to_be_bytes());
        assert_eq!(port.send_batch(&[Packet::from_bytes(&reply)]).unwrap(), 1);
        answered += 1;
    }
    assert!(
        pinger.join().unwrap(),
        "ping from the namespace got no reply"
    );
    assert!(answered >= 1);
    let st = port.stats();
    assert!(st.rx_packets >= 1 && st.tx_packets >= 1, "{st:?}");
}

/// AF_PACKET on a veth: frames sent from the namespace arrive byte for byte, and frames the
/// port sends arrive in the namespace; with and without PACKET_VNET_HDR.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_moves_frames_both_ways() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let ns = c.netns("af");
    let (host, peer) = c.veth("a0", "a1", &ns, None);
    for vnet_hdr in [true, false] {
        let mut port = AfPacketPort::open(AfPacketConfig {
            vnet_hdr,
            ..AfPacketConfig::new(&host)
        })
        .unwrap();
        assert_eq!(port.accepts_offload(), vnet_hdr);
        let to_switch = marker_frame(format!("to-switch-{vnet_hdr}").as_bytes(), None);
        let from_switch = marker_frame(format!("from-switch-{vnet_hdr}").as_bytes(), None);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (peer2, ts, fs) = (peer.clone(), to_switch.clone(), from_switch.clone());
        let side = spawn_in(&ns, move || {
            let s = RawSock::open(&peer2);
            ready_tx.send(()).unwrap();
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                s.send(&ts);
                if s.recv_until(Duration::from_millis(200), |f| f == &fs[..])
                    .is_some()
                {
                    return true;
                }
            }
            false
        });
        ready_rx.recv().unwrap();
        let got = recv_until(&mut port, Duration::from_secs(5), |p| {
            p.data() == &to_switch[..]
        });
        assert!(
            got.is_some(),
            "frame from the namespace not received (vnet_hdr={vnet_hdr})"
        );
        let end = Instant::now() + Duration::from_secs(5);
        while !side.is_finished() && Instant::now() < end {
            assert_eq!(
                port.send_batch(&[Packet::from_bytes(&from_switch)])
                    .unwrap(),
                1
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            side.join().unwrap(),
            "frame from the switch not seen in the namespace"
        );
        // Our own transmissions are not received back.
        let mut bufs = buffers(32);
        let n = port.recv_batch(&mut bufs).unwrap();
        assert!(bufs[..n].iter().all(|p| p.data() != &from_switch[..]));
    }
}

/// VLAN tags the kernel strips on receive are put back by the port, in both directions,
/// for 802.1Q and 802.1ad.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_keeps_vlan_tags() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let ns = c.netns("vlan");
    let (host, peer) = c.veth("v0", "v1", &ns, None);
    let mut port = AfPacketPort::open(AfPacketConfig::new(&host)).unwrap();
    let tagged_in = marker_frame(b"tagged-to-switch", Some((0x8100, 0x2064)));
    let tagged_ad = marker_frame(b"qinq-to-switch", Some((0x88a8, 0x0123)));
    let tagged_out = marker_frame(b"tagged-from-switch", Some((0x8100, 0xa00a)));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (a, b, out) = (tagged_in.clone(), tagged_ad.clone(), tagged_out.clone());
    let side = spawn_in(&ns, move || {
        let mut p = AfPacketPort::open(AfPacketConfig::new(&peer)).unwrap();
        ready_tx.send(()).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            p.send_batch(&[Packet::from_bytes(&a), Packet::from_bytes(&b)])
                .unwrap();
            if recv_until(&mut p, Duration::from_millis(200), |f| f.data() == &out[..]).is_some() {
                return true;
            }
        }
        false
    });
    ready_rx.recv().unwrap();
    let got = recv_until(&mut port, Duration::from_secs(5), |p| {
        p.data() == &tagged_in[..]
    });
    assert!(
        got.is_some(),
        "802.1Q-tagged frame lost its tag or never arrived"
    );
    let got = recv_until(&mut port, Duration::from_secs(5), |p| {
        p.data() == &tagged_ad[..]
    });
    assert!(
        got.is_some(),
        "802.1ad-tagged frame lost its tag or never arrived"
    );
    let end = Instant::now() + Duration::from_secs(5);
    while !side.is_finished() && Instant::now() < end {
        port.send_batch(&[Packet::from_bytes(&tagged_out)]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        side.join().unwrap(),
        "tagged frame from the switch lost its tag in the namespace"
    );
}

/// What a forwarding run saw.
#[derive(Debug, Default)]
struct FwdReport {
    max_len: usize,
    gso_frames: usize,
    segmented: usize,
}

/// Moves frames between two ports until `done` finishes, finishing offloads in software for a
/// port that does not take them (as the datapath does).
fn forward_until<T>(
    a: &mut dyn Port,
    b: &mut dyn Port,
    done: &JoinHandle<T>,
    timeout: Duration,
) -> FwdReport {
    let mut rep = FwdReport::default();
    let mut bufs = buffers(32);
    let mut pool = PacketPool::new(64, 2048);
    let mut segs = Vec::new();
    let end = Instant::now() + timeout;
    while !done.is_finished() && Instant::now() < end {
        wait_readable(
            &[a.rx_fd().unwrap(), b.rx_fd().unwrap()],
            Duration::from_millis(20),
        );
        for dir in 0..2 {
            let (from, to): (&mut dyn Port, &mut dyn Port) = if dir == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let n = from.recv_batch(&mut bufs).unwrap();
            let direct =
                to.accepts_offload() || bufs[..n].iter().all(|p| !offload::is_pending(&p.offload));
            for p in &bufs[..n] {
                rep.max_len = rep.max_len.max(p.len());
                if p.offload.gso_type != 0 && p.offload.gso_size > 0 {
                    rep.gso_frames += 1;
                    assert_eq!(p.offload.gso_type & 0x7f, VNET_GSO_TCPV4, "{:?}", p.offload);
                }
            }
            if direct {
                to.send_batch(&bufs[..n]).unwrap();
                continue;
            }
            for p in &mut bufs[..n] {
                if !offload::is_pending(&p.offload) {
                    to.send_batch(std::slice::from_ref(p)).unwrap();
                    continue;
                }
                match offload::finalize(p, &mut pool, &mut segs).unwrap() {
                    Finalized::Segmented(k) => {
                        rep.segmented += k;
                        to.send_batch(&segs).unwrap();
                        for s in segs.drain(..) {
                            pool.put(s);
                        }
                    }
                    _ => {
                        to.send_batch(std::slice::from_ref(p)).unwrap();
                    }
                }
            }
        }
    }
    rep
}

const STREAM_LEN: usize = 1 << 20;

fn stream_bytes() -> Vec<u8> {
    (0..STREAM_LEN).map(|i| (i % 251) as u8).collect()
}

/// Sends 1 MB over TCP from `ns_a` to `addr_b` (in `ns_b`) and returns what the receiver got.
fn tcp_stream(
    ns_a: &str,
    ns_b: &str,
    addr_b: &'static str,
) -> (JoinHandle<Vec<u8>>, JoinHandle<()>) {
    let (ready_tx, ready_rx) = mpsc::channel();
    let server = spawn_in(ns_b, move || {
        let l = std::net::TcpListener::bind((addr_b, 5001)).unwrap();
        ready_tx.send(()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    ready_rx.recv().unwrap();
    let client = spawn_in(ns_a, move || {
        let to = std::net::SocketAddr::from((addr_b.parse::<std::net::Ipv4Addr>().unwrap(), 5001));
        let mut s = std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
        s.write_all(&stream_bytes()).unwrap();
    });
    (server, client)
}

/// Two vnet-hdr TAPs joined by a userspace forwarder: a TCP stream from one namespace to the
/// other crosses as >MTU super-packets with GSO info, intact; then again with the receiving
/// TAP taking no offloads, so every super-packet is segmented in software; both with
/// one syscall per frame and with io_uring batches.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn tap_vnet_hdr_carries_tso_super_packets() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    for (round, b_offload, io) in [
        (0, true, TapIo::Syscall),
        (1, false, TapIo::Syscall),
        (2, true, TapIo::IoUring),
        (3, false, TapIo::IoUring),
    ] {
        let mut c = Cleanup::new();
        let (na, nb) = (
            c.netns(&format!("tso{round}a")),
            c.netns(&format!("tso{round}b")),
        );
        let (ta, tb) = (c.link(&format!("s{round}a")), c.link(&format!("s{round}b")));
        let mut pa = TapPort::open(TapConfig {
            vnet_hdr: true,
            io,
            ..TapConfig::new(&ta)
        })
        .unwrap();
        let mut pb = TapPort::open(TapConfig {
            vnet_hdr: b_offload,
            io,
            ..TapConfig::new(&tb)
        })
        .unwrap();
        assert_eq!(pa.io(), io, "io_uring unavailable");
        assert!(pa.offloads() & libc::TUN_F_TSO4 != 0);
        ip(&["link", "set", &ta, "netns", &na]);
        ip(&["link", "set", &tb, "netns", &nb]);
        let ip_a = format!("10.231.{}.1/24", 10 + round);
        let ip_b: &'static str =
            ["10.231.10.2", "10.231.11.2", "10.231.12.2", "10.231.13.2"][round];
        ns_setup(&na, &ta, Some(&ip_a));
        ns_setup(&nb, &tb, Some(&format!("{ip_b}/24")));
        let (server, client) = tcp_stream(&na, &nb, ip_b);
        let rep = forward_until(&mut pa, &mut pb, &server, Duration::from_secs(30));
        client.join().unwrap();
        let got = server.join().unwrap();
        assert!(
            got == stream_bytes(),
            "stream corrupted or cut: {} bytes (round {round})",
            got.len()
        );
        assert!(
            rep.gso_frames > 0 && rep.max_len > 1514,
            "no super-packets seen: {rep:?}"
        );
        if !b_offload {
            assert!(rep.segmented > rep.gso_frames, "{rep:?}");
        }
        eprintln!("tap round {round} ({io:?}): {rep:?}");
    }
}

/// The same over veths with AF_PACKET + PACKET_VNET_HDR: super-packets in, passed on as such.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_vnet_hdr_carries_tso_super_packets() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let (na, nb) = (c.netns("gsoa"), c.netns("gsob"));
    let (ha, _) = c.veth("g0", "g1", &na, Some("10.231.20.1/24"));
    let (hb, _) = c.veth("g2", "g3", &nb, Some("10.231.20.2/24"));
    let mut pa = AfPacketPort::open(AfPacketConfig::new(&ha)).unwrap();
    let mut pb = AfPacketPort::open(AfPacketConfig::new(&hb)).unwrap();
    let (server, client) = tcp_stream(&na, &nb, "10.231.20.2");
    let rep = forward_until(&mut pa, &mut pb, &server, Duration::from_secs(30));
    client.join().unwrap();
    let got = server.join().unwrap();
    assert!(
        got == stream_bytes(),
        "stream corrupted or cut: {} bytes",
        got.len()
    );
    assert!(
        rep.gso_frames > 0 && rep.max_len > 1514,
        "no super-packets seen: {rep:?}"
    );
    eprintln!("afpacket: {rep:?}");
}

/// Plain AF_PACKET (no vnet header) between veths whose namespaces keep their offloads:
/// partial checksums (TP_STATUS_CSUMNOTREADY) are completed and GSO frames, which arrive whole
/// and longer than the MTU, are segmented before they leave.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_plain_completes_partial_checksums() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let (na, nb) = (c.netns("csa"), c.netns("csb"));
    let (ha, _) = c.veth("c0", "c1", &na, Some("10.231.30.1/24"));
    let (hb, _) = c.veth("c2", "c3", &nb, Some("10.231.30.2/24"));
    let cfg = |n: &str| AfPacketConfig {
        vnet_hdr: false,
        ..AfPacketConfig::new(n)
    };
    let mut pa = AfPacketPort::open(cfg(&ha)).unwrap();
    let mut pb = AfPacketPort::open(cfg(&hb)).unwrap();
    let (server, client) = tcp_stream(&na, &nb, "10.231.30.2");
    let rep = forward_until(&mut pa, &mut pb, &server, Duration::from_secs(30));
    client.join().unwrap();
    let got = server.join().unwrap();
    assert!(
        got == stream_bytes(),
        "stream corrupted or cut: {} bytes",
        got.len()
    );
    eprintln!("afpacket plain: {rep:?}");
}

/// Deleting the interface makes the port go down with `Gone`; recreating it lets `reopen`
/// attach again (new ifindex) without restarting anything.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_survives_interface_disappearance() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let ns = c.netns("gone");
    let (host, peer) = c.veth("d0", "d1", &ns, None);
    let mut port = AfPacketPort::open(AfPacketConfig::new(&host)).unwrap();
    let first_index = port.ifindex().unwrap();
    ip(&["link", "del", &host]);
    let mut bufs = buffers(4);
    assert!(matches!(
        port.recv_batch(&mut bufs),
        Err(PortError::Gone(_))
    ));
    assert!(!port.is_up());
    assert!(matches!(
        port.send_batch(&[Packet::from_bytes(&marker_frame(b"x", None))]),
        Err(PortError::Gone(_))
    ));
    assert!(!port.reopen());

    ip(&["link", "add", &host, "type", "veth", "peer", "name", &peer]);
    ip(&["link", "set", &peer, "netns", &ns]);
    ns_setup(&ns, &peer, None);
    assert!(port.reopen());
    assert!(port.is_up());
    assert_ne!(port.ifindex().unwrap(), first_index);

    let frame = marker_frame(b"after-reopen", None);
    let f2 = frame.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let side = spawn_in(&ns, move || {
        let s = RawSock::open(&peer);
        ready_tx.send(()).unwrap();
        s.recv_until(Duration::from_secs(5), |f| f == &f2[..])
            .is_some()
    });
    ready_rx.recv().unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while !side.is_finished() && Instant::now() < end {
        assert_eq!(port.send_batch(&[Packet::from_bytes(&frame)]).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        side.join().unwrap(),
        "frame sent after reopen did not arrive"
    );
}

/// A TAP whose device is deleted goes down with `Gone` and is re-created by `reopen`.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn tap_survives_device_deletion() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let tap = c.link("gt");
    let mut ports = TapPort::open_queues(TapConfig::new(&tap), 2).unwrap();
    assert_eq!(ports.len(), 2);
    let first_index = fastpath::port::sys::if_index(&tap).unwrap();
    ip(&["link", "del", &tap]);
    for port in &mut ports {
        let mut bufs = buffers(4);
        assert!(matches!(
            port.recv_batch(&mut bufs),
            Err(PortError::Gone(_))
        ));
        assert!(!port.is_up());
        assert!(port.reopen());
    }
    let idx = fastpath::port::sys::if_index(&tap).unwrap();
    assert_ne!(idx, first_index);
    assert!(fastpath::port::sys::if_flags(&tap).unwrap() & libc::IFF_UP != 0);
}

/// A persistent TAP created by someone else is attached to (same device, offloads switched
/// on), and survives the port being dropped.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn tap_attaches_to_persistent_device() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let tap = c.link("pt");
    ip(&["tuntap", "add", "mode", "tap", "name", &tap]);
    let index = fastpath::port::sys::if_index(&tap).unwrap();
    let port = TapPort::open(TapConfig {
        vnet_hdr: true,
        mtu: Some(9000),
        ..TapConfig::new(&tap)
    })
    .unwrap();
    assert!(port.accepts_offload());
    assert_eq!(fastpath::port::sys::if_index(&tap).unwrap(), index);
    assert_eq!(fastpath::port::sys::if_mtu(&tap).unwrap(), 9000);
    drop(port);
    assert_eq!(fastpath::port::sys::if_index(&tap).unwrap(), index);
}

/// An interface set administratively down makes the system port go down; `reopen` brings
/// it back up (as a VM's tap, which starts down, needs).
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn afpacket_reopens_after_link_down() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    let mut c = Cleanup::new();
    let ns = c.netns("down");
    let (host, _) = c.veth("l0", "l1", &ns, None);
    let mut port = AfPacketPort::open(AfPacketConfig::new(&host)).unwrap();
    let index = port.ifindex().unwrap();
    ip(&["link", "set", &host, "down"]);
    let mut bufs = buffers(4);
    assert!(matches!(
        port.recv_batch(&mut bufs),
        Err(PortError::Gone(_))
    ));
    assert!(!port.is_up());
    assert!(port.reopen());
    assert_eq!(port.ifindex(), Some(index));
    assert!(fastpath::port::sys::if_flags(&host).unwrap() & libc::IFF_UP != 0);
    assert!(port.recv_batch(&mut bufs).is_ok());
}

/// Throughput of a TCP stream through a userspace forwarder between two namespaces, for each
/// port kind: the I/O ceiling of the ports (no flow lookup). Run on demand:
/// `cargo test --release -p fastpath --test ports_netns -- --ignored --nocapture throughput`.
#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
#[ignore = "measurement, not a check"]
fn throughput_tcp_through_ports() {
    if !system_ready("system port test", &["ip"]) {
        return;
    }
    const LEN: usize = 512 << 20;
    for kind in ["tap+vnet", "tap-plain", "afpacket+vnet", "afpacket-plain"] {
        let mut c = Cleanup::new();
        let (na, nb) = (c.netns("tpa"), c.netns("tpb"));
        let (mut pa, mut pb): (Box<dyn Port>, Box<dyn Port>) = if kind.starts_with("tap") {
            let vnet_hdr = kind.ends_with("vnet");
            let (ta, tb) = (c.link("ta"), c.link("tb"));
            let a = TapPort::open(TapConfig {
                vnet_hdr,
                ..TapConfig::new(&ta)
            })
            .unwrap();
            let b = TapPort::open(TapConfig {
                vnet_hdr,
                ..TapConfig::new(&tb)
            })
            .unwrap();
            ip(&["link", "set", &ta, "netns", &na]);
            ip(&["link", "set", &tb, "netns", &nb]);
            ns_setup(&na, &ta, Some("10.231.40.1/24"));
            ns_setup(&nb, &tb, Some("10.231.40.2/24"));
            (Box::new(a), Box::new(b))
        } else {
            let vnet_hdr = kind.ends_with("vnet");
            let (ha, _) = c.veth("ta", "tc", &na, Some("10.231.40.1/24"));
            let (hb, _) = c.veth("tb", "td", &nb, Some("10.231.40.2/24"));
            let cfg = |n: &str| AfPacketConfig {
                vnet_hdr,
                ..AfPacketConfig::new(n)
            };
            (
                Box::new(AfPacketPort::open(cfg(&ha)).unwrap()),
                Box::new(AfPacketPort::open(cfg(&hb)).unwrap()),
            )
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let server = spawn_in(&nb, move || {
            let l = std::net::TcpListener::bind(("10.231.40.2", 5002)).unwrap();
            ready_tx.send(()).unwrap();
            let (mut s, _) = l.accept().unwrap();
            let start = Instant::now();
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            (total, start.elapsed())
        });
        ready_rx.recv().unwrap();
        let client = spawn_in(&na, move || {
            let mut s = std::net::TcpStream::connect(("10.231.40.2", 5002)).unwrap();
            let chunk = vec![0x5au8; 1 << 20];
            for _ in 0..LEN >> 20 {
                s.write_all(&chunk).unwrap();
            }
        });
        let rep = forward_until(&mut *pa, &mut *pb, &server, Duration::from_secs(120));
        client.join().unwrap();
        let (total, took) = server.join().unwrap();
        assert_eq!(total, LEN);
        eprintln!(
            "{kind:>15}: {:.2} Gbit/s ({} MB in {:.2?}; {rep:?})",
            total as f64 * 8.0 / took.as_secs_f64() / 1e9,
            total >> 20,
            took
        );
    }
}
