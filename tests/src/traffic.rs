//! Traffic for system tests: sockets that live in a test's namespaces, and bulk TCP transfers
//! with a content check.
//!
//! Two ways to make traffic, for two kinds of question:
//!
//! - **Sockets owned by the test process** ([`in_netns`]). A thread joins a namespace with
//!   `setns(2)` (the network namespace is per thread) and opens sockets there; a socket keeps
//!   the namespace it was created in for its whole life, so the test drives it afterwards from
//!   any thread. This gives exact, synchronous control: send one datagram, know whether *that*
//!   datagram arrived ([`UdpProbe`]), learn the peer address a server saw, time out a connect.
//! - **Separate processes** ([`TcpBulk`]) for volume: a Python receiver hashes everything it
//!   reads (SHA-256) and a Python sender streams a deterministic pseudo-random byte stream
//!   (seeded, so the sender's own hash is the expected one). Python's `hashlib` and
//!   `random.randbytes` run at C speed, so the test measures the switch, not the generator.
//!
//! - **Raw frames** ([`RawEth`]) where the kernel cannot speak for a host, e.g. VLAN-tagged
//!   frames on a kernel without 802.1Q support: an AF_PACKET socket on a namespace's interface,
//!   with any tag the kernel took out of the frame put back, so the test sees the wire.
//!
//! Nothing here sends anywhere but addresses inside the caller's namespaces.

use crate::netns::Netns;
use fastpath::packet::Packet;
use fastpath::port::Port;
use fastpath::port::afpacket::{AfPacketConfig, AfPacketPort};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Runs `f` on a thread that has joined network namespace `ns` (by its `ip netns` name) and
/// returns its result. Sockets `f` creates belong to that namespace for good.
pub fn in_netns<T, F>(ns: &str, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    let file =
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e} (no such netns?)"));
    std::thread::spawn(move || {
        // SAFETY: setns(2) on a namespace fd we hold open; it changes only this (fresh) thread's
        // network namespace, which ends with the thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in namespace panicked")
}

/// Binds a UDP socket in `ns`.
pub fn udp_bind(ns: &Netns, addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().expect("socket address");
    in_netns(&ns.name, move || UdpSocket::bind(addr)).expect("bind udp")
}

/// Listens for TCP in `ns`.
pub fn tcp_listen(ns: &Netns, addr: &str) -> TcpListener {
    let addr: SocketAddr = addr.parse().expect("socket address");
    in_netns(&ns.name, move || TcpListener::bind(addr)).expect("listen tcp")
}

/// Connects over TCP from `ns`, giving up after `timeout`.
pub fn tcp_connect(ns: &Netns, addr: &str, timeout: Duration) -> io::Result<TcpStream> {
    let addr: SocketAddr = addr.parse().expect("socket address");
    in_netns(&ns.name, move || {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    })
}

/// Accepts one connection within `timeout`.
pub fn accept_within(l: &TcpListener, timeout: Duration) -> io::Result<(TcpStream, SocketAddr)> {
    l.set_nonblocking(true)?;
    let t = Instant::now();
    loop {
        match l.accept() {
            Ok((s, peer)) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.set_write_timeout(Some(Duration::from_secs(5)))?;
                return Ok((s, peer));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if t.elapsed() > timeout {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes `msg` on `a` and checks that `b` reads exactly it.
pub fn exchange(a: &mut TcpStream, b: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    a.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    b.read_exact(&mut got)?;
    if got != msg {
        return Err(io::Error::other("payload changed in transit"));
    }
    Ok(())
}

/// Waits up to `timeout` on `sock` for a datagram carrying exactly `tag`, skipping any other
/// (a late earlier probe); the sender's address if it came.
pub fn recv_tagged(sock: &UdpSocket, tag: u64, timeout: Duration) -> Option<SocketAddr> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).expect("set timeout");
        match sock.recv_from(&mut buf) {
            Ok((8, from)) if buf[..8] == tag.to_be_bytes() => return Some(from),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(e) => panic!("UDP receive: {e}"),
        }
    }
}

/// A fresh tag for [`recv_tagged`] (unique within the test process).
fn next_tag() -> u64 {
    static TAG: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// One-datagram-at-a-time UDP reachability: each [`UdpProbe::send`] carries a fresh tag and
/// reports whether that very datagram arrived within the timeout. Stale datagrams (an earlier
/// probe that arrived late) are skipped, never counted.
#[derive(Debug)]
pub struct UdpProbe {
    tx: UdpSocket,
    rx: UdpSocket,
    to: SocketAddr,
    pub timeout: Duration,
}

impl UdpProbe {
    /// A sender bound to `from` in `src` and a receiver bound to `to` in `dst`.
    pub fn new(src: &Netns, from: &str, dst: &Netns, to: &str) -> UdpProbe {
        let tx = udp_bind(src, from);
        let rx = udp_bind(dst, to);
        UdpProbe {
            tx,
            rx,
            to: to.parse().expect("socket address"),
            timeout: Duration::from_millis(500),
        }
    }

    /// Sends the next probe; true if it arrived.
    pub fn send(&mut self) -> bool {
        let tag = next_tag();
        self.tx
            .send_to(&tag.to_be_bytes(), self.to)
            .expect("send probe");
        recv_tagged(&self.rx, tag, self.timeout).is_some()
    }

    /// Sends up to `tries` probes until one arrives; true if one did.
    pub fn until_ok(&mut self, tries: u32) -> bool {
        (0..tries).any(|_| self.send())
    }
}

/// What one UDP request/response exchange saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    /// The source address the server saw, if the request arrived.
    pub seen_from: Option<SocketAddr>,
    /// Whether the server's reply (sent back to `seen_from`) reached the client.
    pub reply_arrived: bool,
}

/// Sends a request from `client` to `server_addr`, where `server` listens; the server answers
/// the address it saw. Each leg waits up to `timeout`.
pub fn udp_round_trip(
    client: &UdpSocket,
    server: &UdpSocket,
    server_addr: SocketAddr,
    timeout: Duration,
) -> RoundTrip {
    let tag = next_tag();
    client
        .send_to(&tag.to_be_bytes(), server_addr)
        .expect("send request");
    let Some(from) = recv_tagged(server, tag, timeout) else {
        return RoundTrip {
            seen_from: None,
            reply_arrived: false,
        };
    };
    server
        .send_to(&tag.to_be_bytes(), from)
        .expect("send reply");
    RoundTrip {
        seen_from: Some(from),
        reply_arrived: recv_tagged(client, tag, timeout).is_some(),
    }
}

/// A raw Ethernet endpoint on an interface inside a namespace: sends whole frames and receives
/// every frame the interface receives (not its own), with VLAN tags re-inserted.
///
/// It reuses the switch's AF_PACKET port code only as a socket wrapper (`PACKET_AUXDATA`,
/// `PACKET_IGNORE_OUTGOING`), on an interface the switch under test does not own.
pub struct RawEth {
    port: AfPacketPort,
}

impl std::fmt::Debug for RawEth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawEth")
            .field("ifname", &self.port.name())
            .finish()
    }
}

impl RawEth {
    /// Opens `ifname` in `ns` (brought up, promiscuous).
    pub fn open(ns: &Netns, ifname: &str) -> RawEth {
        let mut cfg = AfPacketConfig::new(ifname);
        cfg.vnet_hdr = false;
        let port = in_netns(&ns.name, move || AfPacketPort::open(cfg))
            .unwrap_or_else(|e| panic!("raw socket on {ifname}: {e}"));
        RawEth { port }
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &[u8]) {
        let sent = self
            .port
            .send_batch(&[Packet::from_bytes(frame)])
            .expect("raw send");
        assert_eq!(sent, 1, "raw frame not sent");
    }

    /// Waits up to `timeout` for a received frame that `want` accepts; others are skipped.
    pub fn recv_matching(
        &mut self,
        timeout: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut bufs: Vec<Packet> = (0..8).map(|_| Packet::with_capacity(4096)).collect();
        while Instant::now() < deadline {
            let n = self.port.recv_batch(&mut bufs).expect("raw receive");
            if let Some(p) = bufs[..n].iter().find(|p| want(p.data())) {
                return Some(p.data().to_vec());
            }
            if n == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        None
    }
}

/// Python receiver: accept one connection, hash everything until EOF, close, report.
const RECEIVER: &str = r#"
import hashlib, socket, sys, time
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(1)
s.settimeout(wait)
c, peer = s.accept()
c.settimeout(wait)
h = hashlib.sha256()
n = 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
c.close()
print(n, h.hexdigest(), peer[0], flush=True)
"#;

/// Python sender: connect (retrying until the receiver listens), stream `total` seeded
/// pseudo-random bytes, half-close, wait for the receiver's close, report bytes, hash, time.
const SENDER: &str = r#"
import hashlib, random, socket, sys, time
host, port, total, seed, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + 10
while True:
    try:
        s = socket.create_connection((host, port), timeout=1)
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
s.settimeout(wait)
rng = random.Random(seed)
h = hashlib.sha256()
t0 = time.monotonic()
left = total
while left:
    b = rng.randbytes(min(left, 1 << 20))
    h.update(b)
    s.sendall(b)
    left -= len(b)
s.shutdown(socket.SHUT_WR)
while s.recv(1 << 16):
    pass
print(total, h.hexdigest(), "%.3f" % (time.monotonic() - t0), flush=True)
"#;

/// The outcome of one bulk transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub sent: u64,
    pub received: u64,
    pub sent_sha256: String,
    pub received_sha256: String,
    /// The source address the receiver saw.
    pub peer: String,
    /// Seconds from the sender's first byte until the receiver closed after the last.
    pub secs: f64,
}

impl Transfer {
    /// Megabits per second of payload.
    pub fn mbit_per_s(&self) -> f64 {
        self.received as f64 * 8.0 / 1e6 / self.secs.max(1e-9)
    }

    /// True if every byte arrived unchanged.
    pub fn intact(&self) -> bool {
        self.sent == self.received && self.sent_sha256 == self.received_sha256
    }
}

/// Bulk TCP transfers between two namespaces.
#[derive(Debug)]
pub struct TcpBulk;

impl TcpBulk {
    /// Streams `bytes` seeded pseudo-random bytes from `src` to `dst_ip:port` in `dst`,
    /// giving up (and failing) after `wait_secs` of no progress or `2 * wait_secs` overall.
    pub fn run(
        src: &Netns,
        dst: &Netns,
        dst_ip: &str,
        port: u16,
        bytes: u64,
        seed: u64,
        wait_secs: u64,
    ) -> Transfer {
        let port = port.to_string();
        let wait = wait_secs.to_string();
        let rx = dst.spawn(&["python3", "-c", RECEIVER, dst_ip, &port, &wait]);
        let tx = src.spawn(&[
            "python3",
            "-c",
            SENDER,
            dst_ip,
            &port,
            &bytes.to_string(),
            &seed.to_string(),
            &wait,
        ]);
        let tx_out = tx.wait(2 * wait_secs);
        let rx_out = rx.wait(wait_secs);
        let line = |o: &std::process::Output, who: &str| -> Vec<String> {
            let s = String::from_utf8_lossy(&o.stdout);
            let fields: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
            assert!(
                o.status.success() && fields.len() == 3,
                "{who} failed ({}): stdout {s:?} stderr {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            );
            fields
        };
        let t = line(&tx_out, "sender");
        let r = line(&rx_out, "receiver");
        Transfer {
            sent: t[0].parse().expect("bytes sent"),
            sent_sha256: t[1].clone(),
            secs: t[2].parse().expect("seconds"),
            received: r[0].parse().expect("bytes received"),
            received_sha256: r[1].clone(),
            peer: r[2].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::{Link, Netns, require_root, unique};

    /// Two namespaces joined directly by a veth pair (no switch): the helpers themselves.
    fn pair() -> (Netns, Netns, Link) {
        let (a, b) = (unique("vtra"), unique("vtrb"));
        let n1 = Netns::new("vsw-tr");
        let n2 = Netns::new("vsw-tr");
        let link = Link::veth(&a, &b);
        n1.adopt(&a, "eth0", "10.232.0.1/24", None);
        n2.adopt(&b, "eth0", "10.232.0.2/24", None);
        (n1, n2, link)
    }

    #[test]
    #[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
    fn udp_probe_sees_each_datagram_and_its_loss() {
        if !require_root() {
            return;
        }
        let (n1, n2, _link) = pair();
        let mut p = UdpProbe::new(&n1, "10.232.0.1:0", &n2, "10.232.0.2:7001");
        assert!(p.until_ok(10), "first probe (ARP) never arrived");
        assert!(p.send() && p.send());
        // Cut the path inside the receiving namespace: the very next probe is lost.
        n2.exec(&["ip", "link", "set", "eth0", "down"]);
        p.timeout = Duration::from_millis(200);
        assert!(!p.send());
        n2.exec(&["ip", "link", "set", "eth0", "up"]);
        p.timeout = Duration::from_millis(500);
        assert!(p.until_ok(20), "probes did not resume");
    }

    #[test]
    #[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
    fn udp_round_trip_reports_source_and_reply() {
        if !require_root() {
            return;
        }
        let (n1, n2, _link) = pair();
        let client = udp_bind(&n1, "10.232.0.1:41000");
        let server = udp_bind(&n2, "10.232.0.2:7010");
        let to: SocketAddr = "10.232.0.2:7010".parse().unwrap();
        let rt = (0..10)
            .map(|_| udp_round_trip(&client, &server, to, Duration::from_millis(500)))
            .find(|r| r.reply_arrived)
            .expect("no round trip (ARP?)");
        assert_eq!(rt.seen_from, Some("10.232.0.1:41000".parse().unwrap()));
        // Nothing listens at 7011 in n2's namespace: the request never arrives there.
        let other = udp_bind(&n2, "10.232.0.2:7012");
        let rt = udp_round_trip(
            &client,
            &other,
            "10.232.0.2:7011".parse().unwrap(),
            Duration::from_millis(200),
        );
        assert_eq!(
            rt,
            RoundTrip {
                seen_from: None,
                reply_arrived: false
            }
        );
    }

    #[test]
    #[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
    fn tcp_sockets_in_namespaces_report_peers_and_refusals() {
        if !require_root() {
            return;
        }
        let (n1, n2, _link) = pair();
        let l = tcp_listen(&n2, "10.232.0.2:7002");
        let mut c = tcp_connect(&n1, "10.232.0.2:7002", Duration::from_secs(3)).expect("connect");
        let (mut s, peer) = accept_within(&l, Duration::from_secs(3)).expect("accept");
        assert_eq!(peer.ip().to_string(), "10.232.0.1");
        exchange(&mut c, &mut s, b"ping").expect("forward");
        exchange(&mut s, &mut c, b"pong").expect("back");
        // Nobody listens on 7003: refused, quickly.
        let e = tcp_connect(&n1, "10.232.0.2:7003", Duration::from_secs(3)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    #[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
    fn bulk_transfer_is_deterministic_and_arrives_intact() {
        if !require_root() {
            return;
        }
        let (n1, n2, _link) = pair();
        let t = TcpBulk::run(&n1, &n2, "10.232.0.2", 7004, 4 << 20, 42, 20);
        assert!(t.intact(), "{t:?}");
        assert_eq!(t.received, 4 << 20);
        assert_eq!(t.peer, "10.232.0.1");
        // The stream is deterministic: the same seed gives the same hash, another seed another.
        let again = TcpBulk::run(&n1, &n2, "10.232.0.2", 7005, 4 << 20, 42, 20);
        assert_eq!(again.sent_sha256, t.sent_sha256);
        let other = TcpBulk::run(&n1, &n2, "10.232.0.2", 7006, 4 << 20, 43, 20);
        assert_ne!(other.sent_sha256, t.sent_sha256);
        assert!(t.mbit_per_s() > 0.0);
    }
}
