//! Issue 7 item 4: floods are bounded. From a network namespace, through a `system` (veth)
//! port into the whole dataplane:
//!
//! - a SYN flood of distinct connections through `ct(commit)` fills conntrack to its limit
//!   and no further; the refusals are counted and logged once (rate-limited);
//! - a MAC flood of distinct source addresses through NORMAL fills the MAC table to its limit
//!   (8,192) and no further; the evictions are counted and logged once;
//!
//! while two other namespaces ping each other through the same switch, without loss. During
//! the MAC flood they also run an established UDP stream (one datagram per millisecond) whose
//! longest silence is bounded ([`MAX_GAP`]): each MAC change triggers a revalidation of every
//! megaflow, which once ran under the datapath thread's table lock and paused it for hundreds of
//! milliseconds.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fastpath::conntrack::{Conntrack, ConntrackConfig};
use vswitch_tests::netns::{Bg, Link, Netns, require_root, run, unique};
use vswitch_tests::rawsock::RawSocket;
use vswitch_tests::traffic::udp_bind;
use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
use vswitchd::ofproto::flow_mod::FlowMod;

/// Everything logged by this test process (one global subscriber for all tests).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_ansi(false)
            .with_writer(move || LogWriter(writer.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needle: &str) -> usize {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines().filter(|l| l.contains(needle)).count()
}

/// A namespace joined to the switch by a veth: `eth0` inside, `sw` outside.
struct Attached {
    ns: Netns,
    sw: String,
    _link: Link,
}

fn attach(prefix: &str, cidr: &str) -> Attached {
    let ns = Netns::new(prefix);
    for key in ["all", "default"] {
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
        ]);
    }
    let sw = unique("rfs");
    let inner = unique("rfi");
    let link = Link::veth(&sw, &inner);
    run(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{sw}.disable_ipv6=1")],
    );
    run("ip", &["link", "set", &sw, "up"]);
    ns.adopt(&inner, "eth0", cidr, None);
    Attached {
        ns,
        sw,
        _link: link,
    }
}

struct Bed {
    dp: Arc<Dataplane>,
    hosts: Vec<Attached>,
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.dp.stop();
    }
}

/// Four hosts on ports 1-4 of one bridge with `flows`; hosts 3 and 4 are bystanders.
fn bed(ct: Option<Arc<Conntrack>>, flows: &[&str], prefix: &str) -> Bed {
    let hosts: Vec<Attached> = (1..=4)
        .map(|i| attach(&format!("{prefix}{i}"), &format!("10.78.0.{i}/24")))
        .collect();
    let dp = Dataplane::new(DataplaneConfig::default(), ct);
    dp.add_bridge("br0").unwrap();
    for (i, h) in hosts.iter().enumerate() {
        dp.add_port(
            "br0",
            PortConfig {
                name: h.sw.clone(),
                kind: PortType::System,
                ofport: i as u32 + 1,
                tag: None,
                trunks: vec![],
                mtu: None,
            },
        )
        .unwrap();
    }
    let mods: Vec<FlowMod> = flows
        .iter()
        .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
        .collect();
    dp.flow_mods("br0", &mods).unwrap();
    dp.start(1).unwrap();
    Bed { dp, hosts }
}

impl Bed {
    fn rx_packets(&self, host: usize) -> u64 {
        let no = self.dp.dp_port_of(&self.hosts[host].sw).unwrap();
        self.dp.datapath().port_dp_stats(no).rx_packets
    }

    /// Waits until port `host` has received `n` packets (or 20 s pass).
    fn wait_rx(&self, host: usize, n: u64) {
        let t = Instant::now();
        while self.rx_packets(host) < n {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "port received only {} of {n}",
                self.rx_packets(host)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Bystanders 3 -> 4 ping through the flood.
    fn bystander_ping(&self) -> Bg {
        self.hosts[2].ns.spawn(&[
            "ping",
            "-c",
            "40",
            "-i",
            "0.05",
            "-W",
            "1",
            "-q",
            "10.78.0.4",
        ])
    }
}

/// An established UDP stream from bystander 3 to bystander 4, one datagram per millisecond,
/// whose receiver records the longest silence between arrivals.
struct Stream {
    stop: Arc<AtomicBool>,
    measuring: Arc<AtomicBool>,
    sender: std::thread::JoinHandle<u64>,
    receiver: std::thread::JoinHandle<(u64, Duration)>,
}

impl Stream {
    fn start(b: &Bed) -> Stream {
        let tx = udp_bind(&b.hosts[2].ns, "10.78.0.3:0");
        let rx = udp_bind(&b.hosts[3].ns, "10.78.0.4:7070");
        rx.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let measuring = Arc::new(AtomicBool::new(false));
        let sender = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tx.send_to(&seq.to_be_bytes(), "10.78.0.4:7070").unwrap();
                    seq += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                seq
            })
        };
        let receiver = {
            let (stop, measuring) = (stop.clone(), measuring.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 16];
                let (mut got, mut longest) = (0u64, Duration::ZERO);
                let mut last: Option<Instant> = None;
                while !stop.load(Ordering::Relaxed) {
                    // A read timeout is silence too: the gap so far counts at every wake-up.
                    let arrived = rx.recv(&mut buf).is_ok();
                    let now = Instant::now();
                    if let Some(l) = last
                        && measuring.load(Ordering::Relaxed)
                    {
                        longest = longest.max(now - l);
                    }
                    if arrived {
                        got += 1;
                        last = Some(now);
                    }
                }
                (got, longest)
            })
        };
        Stream {
            stop,
            measuring,
            sender,
            receiver,
        }
    }

    /// Stops the stream; returns (sent, received, longest gap while measuring).
    fn finish(self) -> (u64, u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.sender.join().unwrap();
        let (got, longest) = self.receiver.join().unwrap();
        (sent, got, longest)
    }
}

fn assert_no_loss(ping: Bg) {
    let out = ping.wait(30);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(" 0% packet loss"),
        "bystander ping during the flood: {text}"
    );
}

fn syn(sport: u16, src_ip: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    etherparse::PacketBuilder::ethernet2([2, 0x78, 0, 0, 0, 1], [2, 0x78, 0, 0, 0, 2])
        .ipv4(src_ip, [10, 78, 0, 2], 64)
        .tcp(sport, 80, u32::from(sport) * 7919, 64_240)
        .syn()
        .write(&mut out, &[])
        .unwrap();
    out
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn syn_flood_fills_conntrack_to_its_limit_and_no_further() {
    if !require_root() {
        return;
    }
    logs();
    const LIMIT: u32 = 2_000;
    const SENT: u64 = 6_000;
    let ct = Arc::new(Conntrack::new(ConntrackConfig {
        limit: LIMIT,
        ..ConntrackConfig::default()
    }));
    let b = bed(
        Some(ct.clone()),
        &[
            "priority=10,in_port=1,tcp,actions=ct(commit,table=1)",
            "priority=5,in_port=3,actions=output:4",
            "priority=5,in_port=4,actions=output:3",
            "table=1,actions=output:2",
        ],
        "rsy",
    );
    assert!(b.hosts[2].ns.wait_ping("10.78.0.4", 10));
    let ping = b.bystander_ping();
    let sock = RawSocket::open(&b.hosts[0].ns.name, "eth0").unwrap();
    let before = b.rx_packets(0);
    // Two bursts over more than one maintenance pass: still one warning.
    for half in 0..2u64 {
        for i in half * SENT / 2..(half + 1) * SENT / 2 {
            let src = [10, 78, 1 + (i / 60_000) as u8, 1];
            sock.send_paced(&syn((i % 60_000) as u16 + 1024, src))
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(1_500));
    }
    b.wait_rx(0, before + SENT);
    let s = ct.stats();
    eprintln!(
        "SYN flood: {SENT} SYNs, {} entries (limit {LIMIT}), {} refused",
        s.entries, s.global_limit_drops
    );
    assert_eq!(s.entries, u64::from(LIMIT), "conntrack entries");
    assert_eq!(s.global_limit_drops, SENT - u64::from(LIMIT));
    let t = Instant::now();
    while log_lines_with("conntrack limit reached") == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        log_lines_with("conntrack limit reached"),
        1,
        "one rate-limited warning"
    );
    assert_no_loss(ping);
}

/// Longest silence an established stream may see during the MAC flood (the datapath once
/// stalled for over 300 ms while revalidating under its table lock).
const MAX_GAP: Duration = Duration::from_millis(100);

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn mac_flood_fills_the_mac_table_to_its_limit_and_no_further() {
    if !require_root() {
        return;
    }
    logs();
    const SENT: u64 = 16_000;
    let limit = vswitchd::mac_learning::DEFAULT_MAX_ENTRIES as u64;
    let b = bed(None, &["actions=normal"], "rmf");
    assert!(b.hosts[2].ns.wait_ping("10.78.0.4", 10));
    assert!(b.hosts[3].ns.wait_ping("10.78.0.3", 10));
    let ping = b.bystander_ping();
    let stream = Stream::start(&b);
    // Let the stream's megaflows settle before the clock starts.
    std::thread::sleep(Duration::from_millis(300));
    stream.measuring.store(true, Ordering::Relaxed);
    let flood_start = Instant::now();
    let sock = RawSocket::open(&b.hosts[0].ns.name, "eth0").unwrap();
    let before = b.rx_packets(0);
    for i in 0..SENT {
        let n = i.to_be_bytes();
        let src = [0x02, 0xfe, n[4], n[5], n[6], n[7]];
        let mut f = Vec::new();
        etherparse::PacketBuilder::ethernet2(src, [0xff; 6])
            .ipv4([10, 78, 9, 9], [10, 78, 9, 10], 64)
            .udp(9, 9)
            .write(&mut f, b"flood")
            .unwrap();
        sock.send_paced(&f).unwrap();
        if i % 256 == 255 {
            // A debug-build slow path learns slower than a raw socket sends; pace a little
            // so most frames reach the switch rather than an overflowing socket queue.
            std::thread::sleep(Duration::from_millis(6));
        }
    }
    // Wait until the port has received everything the kernel delivered.
    let mut last = b.rx_packets(0);
    loop {
        std::thread::sleep(Duration::from_millis(1_500));
        let now = b.rx_packets(0);
        if now == last {
            break;
        }
        last = now;
    }
    let flood_time = flood_start.elapsed();
    let (stream_sent, stream_got, longest_gap) = stream.finish();
    let received = last - before;
    let fdb = b.dp.fdb("br0").unwrap();
    let stats =
        b.dp.slow_path()
            .read()
            .bridges
            .get("br0")
            .map(|br| br.normal.with_macs(|m| m.stats()))
            .unwrap();
    eprintln!(
        "MAC flood: {SENT} source addresses sent, {received} received, {} learned, {} entries \
         (limit {limit}), {} evicted",
        stats.learned,
        fdb.len(),
        stats.evicted
    );
    assert!(
        stats.learned > limit + 1_000,
        "the flood did not overfill the table"
    );
    assert_eq!(fdb.len() as u64, limit, "MAC table size");
    assert_eq!(
        stats.evicted,
        stats.learned - stats.expired - limit,
        "every entry beyond the limit was evicted"
    );
    let t = Instant::now();
    while log_lines_with("MAC table full") == 0 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        log_lines_with("MAC table full"),
        1,
        "one rate-limited warning"
    );
    // Established traffic keeps flowing while NORMAL learns thousands of addresses: the
    // revalidation each MAC change triggers translates outside the datapath's table lock.
    eprintln!(
        "MAC flood: established stream {stream_got} of {stream_sent} datagrams over {:.1} s, \
         longest gap {longest_gap:?} (limit {MAX_GAP:?})",
        flood_time.as_secs_f64()
    );
    assert!(
        longest_gap < MAX_GAP,
        "established traffic paused for {longest_gap:?} during the MAC flood"
    );
    assert_no_loss(ping);
}
