//! Port mirrors (SPAN) with real traffic: the real `vswitchd` and `vswitch-ctl`, hosts in
//! network namespaces on veth pairs (`system` ports), and a capture (an AF_PACKET socket) on
//! the mirror output port's namespace end.
//!
//! Two hosts A and B exchange tagged UDP datagrams (static neighbours, so no ARP crosses the
//! bridge). For each mirror the capture must see exactly the selected datagrams, each exactly
//! once: `--select-src-port A` sees A→B only, `--select-dst-port A` B→A only, `--select-vlan`
//! only the traffic of that VLAN (tagged on the trunk output port), and no mirror nothing (the
//! output port is reserved: NORMAL does not flood to it). `list-mirrors` counts the copies.
//!
//! Namespaces and interfaces are named `vmr...`; guards remove them (and the daemon) even
//! when an assertion fails. Needs root and `ip`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};
use vswitch_tests::netns::{Link, Netns, require_root, run, unique};
use vswitch_tests::system::{Bed, mac, num};
use vswitch_tests::traffic::{RawEth, udp_bind};

/// A host in namespace `vmr...` on a veth whose root end is a `system` port of the bridge.
struct Host {
    ns: Netns,
    port: String,
    _link: Link,
}

fn host(bed: &Bed, cidr: Option<&str>, mac: &str) -> Host {
    let ns = Netns::new("vmr");
    let port = unique("vmr");
    let inner = unique("vmr");
    let link = Link::veth(&port, &inner);
    run("ip", &["link", "set", &port, "up"]);
    match cidr {
        Some(c) => ns.adopt(&inner, "eth0", c, Some(mac)),
        None => {
            ns.adopt(&inner, "eth0", "10.244.9.9/32", Some(mac));
            // A pure capture point: nothing of its own goes out.
            ns.exec(&["ip", "addr", "flush", "dev", "eth0"]);
            ns.exec(&["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"]);
        }
    }
    ns.exec(&["ethtool", "-K", "eth0", "tx", "off"]);
    bed.ok(&["add-port", &bed.br, &port, "--type", "system"]);
    Host {
        ns,
        port,
        _link: link,
    }
}

const A_IP: &str = "10.244.0.1";
const B_IP: &str = "10.244.0.2";

struct Setup {
    bed: Bed,
    a: Host,
    b: Host,
    m: Host,
    a_sock: UdpSocket,
    b_sock: UdpSocket,
    cap: RawEth,
    seq: u32,
    /// Every frame the last exchange captured on M.
    last_frames: Vec<Vec<u8>>,
}

fn setup() -> Setup {
    let bed = Bed::start();
    let a = host(&bed, Some(&format!("{A_IP}/24")), &mac(1));
    let b = host(&bed, Some(&format!("{B_IP}/24")), &mac(2));
    let m = host(&bed, None, &mac(3));
    a.ns.exec(&["ip", "neigh", "add", B_IP, "lladdr", &mac(2), "dev", "eth0"]);
    b.ns.exec(&["ip", "neigh", "add", A_IP, "lladdr", &mac(1), "dev", "eth0"]);
    let a_sock = udp_bind(&a.ns, &format!("{A_IP}:4001"));
    let b_sock = udp_bind(&b.ns, &format!("{B_IP}:4002"));
    for s in [&a_sock, &b_sock] {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
    }
    let cap = RawEth::open(&m.ns, "eth0");
    let mut s = Setup {
        bed,
        a,
        b,
        m,
        a_sock,
        b_sock,
        cap,
        seq: 0,
        last_frames: Vec::new(),
    };
    // Both directions work (and NORMAL has learned both MACs) before any mirror exists.
    let (ab, ba) = s.exchange(3);
    assert!(
        ab.iter().chain(&ba).all(|n| *n == 0),
        "with no mirror, M sees nothing of A and B's unicast: {ab:?} {ba:?}"
    );
    s
}

impl Setup {
    /// Sends `n` datagrams A→B and `n` B→A (each delivered), then counts how many copies of
    /// each datagram the capture on M saw: (per A→B datagram, per B→A datagram).
    fn exchange(&mut self, n: usize) -> (Vec<usize>, Vec<usize>) {
        let mut tags = Vec::new();
        for dir in 0..2 {
            for _ in 0..n {
                self.seq += 1;
                let tag = format!("vmr-{dir}-{:06}-{}", self.seq, std::process::id());
                let (tx, rx, to) = if dir == 0 {
                    (&self.a_sock, &self.b_sock, format!("{B_IP}:4002"))
                } else {
                    (&self.b_sock, &self.a_sock, format!("{A_IP}:4001"))
                };
                tx.send_to(tag.as_bytes(), &to).expect("send");
                let mut buf = [0u8; 256];
                let got = rx.recv(&mut buf).expect("datagram delivered");
                assert_eq!(&buf[..got], tag.as_bytes(), "datagram intact");
                tags.push((dir, tag));
            }
        }
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let end = Instant::now() + Duration::from_millis(700);
        while Instant::now() < end {
            self.cap.recv_matching(Duration::from_millis(100), |f| {
                frames.push(f.to_vec());
                false
            });
        }
        let count = |tag: &str| {
            frames
                .iter()
                .filter(|f| f.windows(tag.len()).any(|w| w == tag.as_bytes()))
                .count()
        };
        let ab = tags
            .iter()
            .filter(|t| t.0 == 0)
            .map(|t| count(&t.1))
            .collect();
        let ba = tags
            .iter()
            .filter(|t| t.0 == 1)
            .map(|t| count(&t.1))
            .collect();
        self.last_frames = frames;
        (ab, ba)
    }
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn a_capture_on_the_mirror_port_sees_exactly_the_selected_traffic() {
    if !require_root() {
        return;
    }
    let mut s = setup();
    let br = s.bed.br.clone();
    let (a, b, m) = (s.a.port.clone(), s.b.port.clone(), s.m.port.clone());

    // Source selection: what enters on A, as it arrived.
    s.bed.ok(&[
        "add-mirror",
        &br,
        "m0",
        "--select-src-port",
        &a,
        "--output-port",
        &m,
    ]);
    let (ab, ba) = s.exchange(5);
    assert_eq!((ab, ba), (vec![1; 5], vec![0; 5]), "src-port A");
    let list = s.bed.json(&["list-mirrors", &br]);
    assert_eq!(list[0]["name"], "m0", "{list}");
    assert_eq!(list[0]["select_src_port"][0], a.as_str(), "{list}");
    assert!(
        s.bed.eventually(5, |bed| {
            num(&bed.json(&["list-mirrors", &br])[0], "tx_packets") >= 5
        }),
        "mirror counters: {}",
        s.bed.json(&["list-mirrors", &br])
    );
    let show = s.bed.json(&["show"]);
    assert!(
        show.to_string().contains("\"m0\""),
        "show lists the mirror: {show}"
    );
    s.bed.ok(&["del-mirror", &br, "m0"]);

    // Destination selection: what leaves on A.
    s.bed.ok(&[
        "add-mirror",
        &br,
        "m1",
        "--select-dst-port",
        &a,
        "--output-port",
        &m,
    ]);
    let (ab, ba) = s.exchange(5);
    assert_eq!((ab, ba), (vec![0; 5], vec![1; 5]), "dst-port A");

    // Both directions of A (two mirrors, one output): each datagram copied once.
    s.bed.ok(&[
        "add-mirror",
        &br,
        "m2",
        "--select-src-port",
        &a,
        "--output-port",
        &m,
    ]);
    let (ab, ba) = s.exchange(5);
    assert_eq!((ab, ba), (vec![1; 5], vec![1; 5]), "src+dst A");

    let names = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|m| m["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(names(&s.bed.json(&["list-mirrors", &br])), ["m1", "m2"]);
    s.bed.ok(&["del-mirror", &br, "m1"]);
    s.bed.ok(&["del-mirror", &br, "m2"]);
    let (ab, ba) = s.exchange(3);
    assert_eq!((ab, ba), (vec![0; 3], vec![0; 3]), "no mirror");

    // VLAN selection: A and B in VLAN 10; a mirror of VLAN 20 sees nothing, one of VLAN 10
    // sees everything, tagged 10 on the (trunk) output port.
    s.bed.ok(&["set-port", &br, &a, "tag=10"]);
    s.bed.ok(&["set-port", &br, &b, "tag=10"]);
    s.bed.ok(&[
        "add-mirror",
        &br,
        "v20",
        "--select-vlan",
        "20",
        "--output-port",
        &m,
    ]);
    let (ab, ba) = s.exchange(3);
    assert_eq!((ab, ba), (vec![0; 3], vec![0; 3]), "select-vlan 20");
    s.bed.ok(&["del-mirror", &br, "v20"]);
    s.bed.ok(&[
        "add-mirror",
        &br,
        "v10",
        "--select-vlan",
        "10",
        "--output-port",
        &m,
    ]);
    let (ab, ba) = s.exchange(3);
    assert_eq!((ab, ba), (vec![1; 3], vec![1; 3]), "select-vlan 10");
    let tagged = s
        .last_frames
        .iter()
        .filter(|f| f.windows(4).any(|w| w == b"vmr-"))
        .all(|f| f.len() > 16 && f[12..14] == [0x81, 0x00] && f[14..16] == [0x00, 0x0a]);
    assert!(tagged, "copies leave the trunk output tagged with VLAN 10");

    // Bad requests change nothing.
    let e = s
        .bed
        .ctl(&["add-mirror", &br, "v10", "--output-port", &m])
        .err();
    assert!(e.contains("already exists"), "{e}");
    let e = s
        .bed
        .ctl(&["add-mirror", &br, "x", "--output-port", "nosuchport"])
        .err();
    assert!(e.contains("nosuchport"), "{e}");
    let e = s.bed.ctl(&["del-mirror", &br, "nosuch"]).err();
    assert!(e.contains("no mirror"), "{e}");
    assert_eq!(names(&s.bed.json(&["list-mirrors", &br])), ["v10"]);
}
