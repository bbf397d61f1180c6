//! System test for multiqueue TAP ports: a real [`Datapath`] with two datapath threads between
//! two TAP devices opened with a queue per thread (`IFF_MULTI_QUEUE`), each moved into a
//! network namespace this test creates (`vsw-mq-<pid>-<tag>`) and always deletes.
//!
//! The kernel picks a TAP's transmit queue per flow (by hash, then by the queue the flow's
//! packets last arrived on), so several TCP connections are needed for both queues, and so both
//! threads, to carry traffic. The test checks that each connection's bytes arrive intact, that
//! ping works, that the kernel shows two queues per device, and that both queues of both ports
//! received and sent frames (per-queue counters kept by the ports).
//!
//! Needs root, `/dev/net/tun`, `ip` and `ping`: without them the test fails when `CI=true` and
//! otherwise skips with a loud message. Traffic only goes between the test's own namespaces
//! (10.231.40.0/24).

mod common;

use common::{Cleanup, ip, ns_setup, spawn_in, system_ready};
use fastpath::action::DpAction;
use fastpath::dpif::pmd::{PmdAssignment, PmdThread};
use fastpath::dpif::{Datapath, DpConfig};
use fastpath::flow::FlowKey;
use fastpath::packet::MAX_FRAME;
use fastpath::port::Port;
use fastpath::port::tap::{TapConfig, TapPort};
use fastpath::upcall::{Translation, UpcallError, UpcallHandler};
use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// A two-port wire: whatever enters port 1 leaves on port 2 and back (mask: in_port only).
struct Wire;

impl UpcallHandler for Wire {
    fn upcall(&self, key: &FlowKey, _packet: &[u8]) -> Result<Translation, UpcallError> {
        let mut mask = FlowKey::ZERO;
        mask.in_port = !0;
        let out = if key.in_port == 1 { 2 } else { 1 };
        Ok(Translation {
            actions: vec![DpAction::Output(out)],
            mask,
        })
    }
}

const CONNECTIONS: usize = 16;
const CONN_LEN: usize = 256 * 1024;
const PORT_BASE: u16 = 5201;

/// The bytes connection `c` carries (different per connection, so crossed streams show).
fn conn_bytes(c: usize) -> Vec<u8> {
    (0..CONN_LEN)
        .map(|i| ((i * 7 + c * 31) % 253) as u8)
        .collect()
}

fn queues_in_sysfs(ns: &str, dev: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "ls"])
        .arg(format!("/sys/class/net/{dev}/queues"))
        .output()
        .expect("ls queues");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn two_threads_forward_tcp_and_ping_over_both_tap_queues() {
    if !system_ready("multiqueue system test", &["ip", "ping"]) {
        return;
    }
    let mut c = Cleanup::new();
    let (na, nb) = (c.netns("mqa"), c.netns("mqb"));
    let pid = std::process::id() % 100_000;
    let (ta, tb) = (format!("vmq{pid}a"), format!("vmq{pid}b"));
    let open = |name: &str| {
        let cfg = TapConfig {
            vnet_hdr: true,
            ..TapConfig::new(name)
        };
        let queues = TapPort::open_queues(cfg, 2).expect("open multiqueue TAP");
        queues
            .into_iter()
            .map(|q| Box::new(q) as Box<dyn Port>)
            .collect::<Vec<_>>()
    };
    let dp = Arc::new(Datapath::new(
        DpConfig {
            buffer_capacity: MAX_FRAME,
            ..DpConfig::default()
        },
        Arc::new(Wire),
        None,
    ));
    dp.add_port_queues(1, open(&ta)).unwrap();
    dp.add_port_queues(2, open(&tb)).unwrap();
    ip(&["link", "set", &ta, "netns", &na]);
    ip(&["link", "set", &tb, "netns", &nb]);
    ns_setup(&na, &ta, Some("10.231.40.1/24"));
    ns_setup(&nb, &tb, Some("10.231.40.2/24"));
    assert_eq!(
        queues_in_sysfs(&na, &ta),
        vec!["rx-0", "rx-1", "tx-0", "tx-1"],
        "the kernel sees two queues"
    );
    let pmds: Vec<PmdThread> = (0..2)
        .map(|index| PmdThread::spawn(Arc::clone(&dp), PmdAssignment { index, count: 2 }).unwrap())
        .collect();

    let ping = Command::new("ip")
        .args([
            "netns", "exec", &na, "ping", "-c", "3", "-i", "0.2", "-W", "2",
        ])
        .arg("10.231.40.2")
        .output()
        .expect("run ping");
    assert!(
        ping.status.success(),
        "ping through the switch: {}",
        String::from_utf8_lossy(&ping.stdout)
    );

    let (ready_tx, ready_rx) = mpsc::channel();
    let server = spawn_in(&nb, move || {
        let listeners: Vec<_> = (0..CONNECTIONS)
            .map(|c| std::net::TcpListener::bind(("10.231.40.2", PORT_BASE + c as u16)).unwrap())
            .collect();
        ready_tx.send(()).unwrap();
        let readers: Vec<JoinHandle<Vec<u8>>> = listeners
            .into_iter()
            .map(|l| {
                std::thread::spawn(move || {
                    let (mut s, _) = l.accept().unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let mut got = Vec::new();
                    let _ = s.read_to_end(&mut got);
                    got
                })
            })
            .collect();
        readers
            .into_iter()
            .map(|r| r.join().unwrap())
            .collect::<Vec<_>>()
    });
    ready_rx.recv().unwrap();
    let client = spawn_in(&na, || {
        let writers: Vec<JoinHandle<()>> = (0..CONNECTIONS)
            .map(|c| {
                std::thread::spawn(move || {
                    let to = std::net::SocketAddr::from(([10, 231, 40, 2], PORT_BASE + c as u16));
                    let mut s =
                        std::net::TcpStream::connect_timeout(&to, Duration::from_secs(10)).unwrap();
                    s.write_all(&conn_bytes(c)).unwrap();
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
    });
    client.join().expect("every connection sent its bytes");
    let got = server.join().expect("every connection was received");
    for p in pmds {
        p.stop();
    }
    for (c, bytes) in got.iter().enumerate() {
        assert!(
            *bytes == conn_bytes(c),
            "connection {c}: {} bytes, corrupted or cut",
            bytes.len()
        );
    }

    let qa = dp.port_queue_stats(1).unwrap();
    let qb = dp.port_queue_stats(2).unwrap();
    eprintln!("port 1 queues: {qa:?}\nport 2 queues: {qb:?}");
    for (port, qs) in [(1, &qa), (2, &qb)] {
        for (q, s) in qs.iter().enumerate() {
            // Thread q polls receive queue q and transmits on queue q of every port.
            assert!(s.rx_packets > 0, "port {port} queue {q} received nothing");
            assert!(s.tx_packets > 0, "port {port} queue {q} sent nothing");
        }
    }
    let sum = dp.port_stats(1).unwrap();
    assert_eq!(sum.rx_packets, qa[0].rx_packets + qa[1].rx_packets);
    assert_eq!(sum.tx_packets, qa[0].tx_packets + qa[1].tx_packets);
}
