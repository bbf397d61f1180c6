//! System tests of tunnels (issue 17): two "hosts" are network namespaces joined by a veth
//! underlay, each running its own `vswitchd` (`ip netns exec`), each with a "VM" namespace on
//! a TAP port of its bridge. Over VXLAN, Geneve and GRE: ping and a TCP transfer with SHA-256
//! check; flow-based tunnels (`remote_ip=flow`, `key=flow`) carrying two tenants on different
//! VNIs that cannot reach each other; interop on the wire with Linux's own `vxlan` device in a
//! host without vswitch; a capture on the underlay showing UDP 4789 and the VNI; an IPv6
//! underlay; bad tunnel input counted as drops while the switch keeps forwarding.
//!
//! Needs root, `ip`, `tcpdump` and `python3`; under `CI=true` a missing piece fails the test.
//! Every namespace, link and process is named with the `tnl` prefix and removed by guards
//! (namespaces by name, daemons by PID), also on failure.

use serde_json::Value;
use std::time::{Duration, Instant};
use vswitch_tests::Daemon;
use vswitch_tests::netns::{Netns, require_root, run, try_run, unique};
use vswitch_tests::traffic::TcpBulk;

/// Bytes moved by each bulk transfer.
const BULK: u64 = 20 << 20;
/// Overlay MTU inside the VMs: a 1500-byte underlay minus the largest header used here
/// (Geneve over IPv6: 40 + 8 + 8 + 14).
const VM_MTU: &str = "1400";

/// One host: its namespace (the underlay end lives here), a daemon running in it, a bridge.
struct Site {
    daemon: Daemon,
    br: String,
    host: Netns,
    _dir: tempfile::TempDir,
}

/// A VM: a namespace whose `eth0` is a TAP port of a site's bridge.
struct Vm {
    ns: Netns,
    port: String,
    ip: String,
}

impl Site {
    fn start(host: Netns) -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let daemon = Daemon::start_in(
            Some(&host.name),
            &dir.path().join("conf.db"),
            &dir.path().join("vswitchd.sock"),
            &["--pmd-threads", "1"],
        );
        let s = Site {
            daemon,
            br: unique("tnlbr"),
            host,
            _dir: dir,
        };
        s.ok(&["add-br", &s.br.clone()]);
        s
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        self.daemon.ctl(args).ok()
    }

    #[track_caller]
    fn json(&self, args: &[&str]) -> Value {
        self.daemon
            .ctl(&[&["--format", "json"], args].concat())
            .json()
    }

    fn flows(&self, flows: &[&str]) {
        let path = self._dir.path().join(unique("flows"));
        std::fs::write(&path, flows.join("\n") + "\n").expect("write flows");
        self.ok(&[
            "replace-flows",
            &self.br,
            path.to_str().expect("utf-8 path"),
        ]);
    }

    /// Adds a tunnel port `name` of `kind` with `options` (`K=V`).
    fn tunnel(&self, name: &str, kind: &str, options: &[&str]) {
        let mut args = vec!["add-port", &self.br, name, "--type", kind];
        for o in options {
            args.extend_from_slice(&["--option", o]);
        }
        self.ok(&args);
    }

    /// A VM on a new TAP port with address `cidr`.
    fn vm(&self, cidr: &str) -> Vm {
        let port = unique("tnlt");
        self.ok(&["add-port", &self.br, &port, "--type", "tap"]);
        let t = Instant::now();
        while !try_run("ip", &["-n", &self.host.name, "link", "show", &port])
            .status
            .success()
        {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "TAP {port} did not appear"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let ns = Netns::new("tnlvm");
        run(
            "ip",
            &[
                "-n",
                &self.host.name,
                "link",
                "set",
                &port,
                "netns",
                &ns.name,
            ],
        );
        ns.exec(&["ip", "link", "set", &port, "name", "eth0"]);
        ns.exec(&["ip", "link", "set", "eth0", "mtu", VM_MTU]);
        ns.exec(&["ip", "addr", "add", cidr, "dev", "eth0"]);
        ns.exec(&["ip", "link", "set", "eth0", "up"]);
        Vm {
            ns,
            port,
            ip: cidr.split('/').next().expect("address").to_owned(),
        }
    }

    fn log(&self) -> String {
        self.daemon.log_text()
    }

    fn drops(&self, reason: &str) -> u64 {
        self.json(&["datapath-stats"])["drops"][reason]
            .as_u64()
            .unwrap_or(0)
    }

    fn megaflows(&self) -> String {
        self.ok(&["dump-megaflows", &self.br])
    }
}

/// Two host namespaces joined by a veth: `a` is 192.168.79.1 and fd79::1, `b` .2 and ::2,
/// on interface `under` in each.
fn underlay() -> (Netns, Netns) {
    let a = Netns::new("tnlha");
    let b = Netns::new("tnlhb");
    let (ea, eb) = (unique("tnlua"), unique("tnlub"));
    run(
        "ip",
        &["link", "add", &ea, "type", "veth", "peer", "name", &eb],
    );
    run("ip", &["link", "set", &ea, "netns", &a.name]);
    run("ip", &["link", "set", &eb, "netns", &b.name]);
    for (ns, e, n) in [(&a, &ea, 1), (&b, &eb, 2)] {
        ns.exec(&["ip", "link", "set", e, "name", "under"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("192.168.79.{n}/24"),
            "dev",
            "under",
        ]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("fd79::{n}/64"),
            "dev",
            "under",
            "nodad",
        ]);
        ns.exec(&["ip", "link", "set", "under", "up"]);
    }
    (a, b)
}

/// Two sites with one VM each (10.79.0.1 and .2) and a tunnel `tun0` of `kind` between
/// them over `family` (4 or 6), with `normal` switching.
fn pair(kind: &str, family: u8, options: &[&str]) -> (Site, Site, Vm, Vm) {
    let (ha, hb) = underlay();
    let (a, b) = (Site::start(ha), Site::start(hb));
    let (ra, rb) = if family == 4 {
        ("192.168.79.1", "192.168.79.2")
    } else {
        ("fd79::1", "fd79::2")
    };
    for (s, remote) in [(&a, rb), (&b, ra)] {
        let r = format!("remote_ip={remote}");
        s.tunnel("tun0", kind, &[&[r.as_str()], options].concat());
        s.flows(&["priority=0,actions=normal"]);
    }
    let va = a.vm("10.79.0.1/24");
    let vb = b.vm("10.79.0.2/24");
    (a, b, va, vb)
}

/// Ping both ways and a [`BULK`] TCP transfer with SHA-256 check from `va` to `vb`.
fn ping_and_bulk(what: &str, a: &Site, b: &Site, va: &Vm, vb: &Vm) {
    assert!(
        va.ns.wait_ping(&vb.ip, 10),
        "{what}: no ping\nA: {}\nB: {}\nA flows: {}\nB flows: {}",
        a.log(),
        b.log(),
        a.megaflows(),
        b.megaflows()
    );
    assert!(vb.ns.ping(&va.ip, 3), "{what}: ping back");
    let t = TcpBulk::run(&va.ns, &vb.ns, &vb.ip, 5001, BULK, 17, 60);
    assert!(t.intact(), "{what}: transfer damaged: {t:?}");
    eprintln!(
        "FIGURE {what}: {} MB in {:.2} s = {:.0} Mbit/s",
        BULK >> 20,
        t.secs,
        t.mbit_per_s()
    );
}

/// The UDP payloads to `port` in a pcap capture of Ethernet frames (IPv4 or IPv6, no options
/// walk beyond IHL).
fn udp_payloads(pcap: &[u8], port: u16) -> Vec<Vec<u8>> {
    let frames = vswitch_tests::pcap::read(pcap).expect("pcap");
    let mut out = Vec::new();
    for f in frames {
        let ty = u16::from_be_bytes([f[12], f[13]]);
        let (proto, l4) = match ty {
            0x0800 => (f[23], 14 + usize::from(f[14] & 0x0f) * 4),
            0x86dd => (f[20], 54),
            _ => continue,
        };
        if proto != 17 || f.len() < l4 + 8 {
            continue;
        }
        if u16::from_be_bytes([f[l4 + 2], f[l4 + 3]]) == port {
            out.push(f[l4 + 8..].to_vec());
        }
    }
    out
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn vxlan_carries_ping_and_tcp_and_shows_its_vni_on_the_wire() {
    if !require_root() {
        return;
    }
    let (a, b, va, vb) = pair("vxlan", 4, &["key=5000"]);
    // Capture on B's underlay while the first packets cross.
    let cap = a._dir.path().join("under.pcap");
    let cap_s = cap.to_str().expect("utf-8").to_owned();
    let dump = b.host.spawn(&[
        "tcpdump", "-i", "under", "-U", "-w", &cap_s, "-c", "4", "udp", "port", "4789",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    ping_and_bulk("vxlan", &a, &b, &va, &vb);
    let _ = dump.wait(10);
    let payloads = udp_payloads(&std::fs::read(&cap).expect("capture file"), 4789);
    assert!(!payloads.is_empty(), "no UDP 4789 on the underlay");
    for p in &payloads {
        assert_eq!(p[0] & 0x08, 0x08, "VXLAN I flag: {p:02x?}");
        let vni = u32::from_be_bytes([0, p[4], p[5], p[6]]);
        assert_eq!(vni, 5000, "VNI on the wire");
    }
    // The caches: B matched the tunnel key and outer addresses, A encapsulated with them.
    let mb = b.megaflows();
    assert!(
        mb.contains("tun_id=0x1388,tun_src=192.168.79.1,tun_dst=192.168.79.2"),
        "{mb}"
    );
    let ma = a.megaflows();
    assert!(
        ma.contains("set(tunnel(tun_id=0x1388,dst=192.168.79.2,ttl=64,tp_dst=4789,flags(df|key)))"),
        "{ma}"
    );
    // trace of a packet from the tunnel names the tunnel fields.
    let tr = b.ok(&[
        "trace",
        &b.br,
        "in_port=tun0,tun_id=0x1388,tun_src=192.168.79.1,tun_dst=192.168.79.2,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,ip,nw_src=10.79.0.1,nw_dst=10.79.0.2",
    ]);
    assert!(tr.contains("tun_id=0x1388"), "{tr}");
    let _ = (&va.port, &vb.port);
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn geneve_carries_ping_and_tcp() {
    if !require_root() {
        return;
    }
    let (a, b, va, vb) = pair("geneve", 4, &["key=77"]);
    ping_and_bulk("geneve", &a, &b, &va, &vb);
    assert!(b.megaflows().contains("tun_id=0x4d"), "{}", b.megaflows());
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn gre_carries_ping_and_tcp() {
    if !require_root() {
        return;
    }
    let (a, b, va, vb) = pair("gre", 4, &["key=9"]);
    ping_and_bulk("gre", &a, &b, &va, &vb);
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn vxlan_and_geneve_over_an_ipv6_underlay() {
    if !require_root() {
        return;
    }
    for kind in ["vxlan", "geneve"] {
        let (a, b, va, vb) = pair(kind, 6, &["key=600"]);
        ping_and_bulk(&format!("{kind} over IPv6"), &a, &b, &va, &vb);
        assert!(
            b.megaflows().contains("tun_ipv6_src=fd79::1"),
            "{}",
            b.megaflows()
        );
    }
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn flow_based_tunnels_keep_two_tenants_apart() {
    if !require_root() {
        return;
    }
    let (ha, hb) = underlay();
    let (a, b) = (Site::start(ha), Site::start(hb));
    // Tenant 1 on VNI 100, tenant 2 on VNI 200; all four VMs in one /16 so that ARP for any
    // of them is attempted, and only the tenant's own VNI may answer.
    let sites = [(&a, "192.168.79.2", 1), (&b, "192.168.79.1", 2)];
    let mut vms = Vec::new();
    for (s, remote, n) in sites {
        s.tunnel("tun0", "vxlan", &["remote_ip=flow", "key=flow"]);
        let t1 = s.vm(&format!("10.80.1.{n}/16"));
        let t2 = s.vm(&format!("10.80.2.{n}/16"));
        let (p1, p2) = (t1.port.clone(), t2.port.clone());
        s.flows(&[
            &format!(
                "in_port={p1},actions=set_field:100->tun_id,set_field:{remote}->tun_dst,output:tun0"
            ),
            &format!(
                "in_port={p2},actions=set_field:200->tun_id,set_field:{remote}->tun_dst,output:tun0"
            ),
            &format!("in_port=tun0,tun_id=100,actions=output:{p1}"),
            &format!("in_port=tun0,tun_id=200,actions=output:{p2}"),
        ]);
        vms.push((t1, t2));
    }
    let (a1, a2) = (&vms[0].0, &vms[0].1);
    let (b1, b2) = (&vms[1].0, &vms[1].1);
    assert!(a1.ns.wait_ping(&b1.ip, 10), "tenant 1\n{}", a.megaflows());
    assert!(a2.ns.wait_ping(&b2.ip, 10), "tenant 2\n{}", a.megaflows());
    assert!(!a1.ns.ping(&b2.ip, 2), "tenant 1 reached tenant 2");
    assert!(!a2.ns.ping(&b1.ip, 2), "tenant 2 reached tenant 1");
    let t = TcpBulk::run(&a2.ns, &b2.ns, &b2.ip, 5002, 4 << 20, 3, 60);
    assert!(t.intact(), "{t:?}");
    let m = a.megaflows();
    assert!(m.contains("set(tunnel(tun_id=0x64,dst=192.168.79.2"), "{m}");
    assert!(m.contains("set(tunnel(tun_id=0xc8,dst=192.168.79.2"), "{m}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn vxlan_interoperates_with_the_linux_vxlan_device() {
    if !require_root() {
        return;
    }
    let (ha, hb) = underlay();
    let a = Site::start(ha);
    a.tunnel("tun0", "vxlan", &["remote_ip=192.168.79.2", "key=4242"]);
    a.flows(&["priority=0,actions=normal"]);
    let va = a.vm("10.81.0.1/24");
    // Host B runs no switch: its kernel's vxlan device is the far end.
    let vx = unique("tnlvx");
    hb.exec(&[
        "ip",
        "link",
        "add",
        &vx,
        "type",
        "vxlan",
        "id",
        "4242",
        "dstport",
        "4789",
        "remote",
        "192.168.79.1",
        "local",
        "192.168.79.2",
        "dev",
        "under",
    ]);
    hb.exec(&["ip", "link", "set", &vx, "mtu", VM_MTU]);
    hb.exec(&["ip", "addr", "add", "10.81.0.2/24", "dev", &vx]);
    hb.exec(&["ip", "link", "set", &vx, "up"]);
    // Over a veth underlay no NIC ever finishes a checksum the kernel left partial: the
    // Linux side's inner TCP checksums would arrive unfinished. Make its stack compute them.
    hb.exec(&["ethtool", "-K", &vx, "tx", "off"]);
    assert!(
        va.ns.wait_ping("10.81.0.2", 10),
        "{}\n{}",
        a.log(),
        a.megaflows()
    );
    assert!(hb.ping(&va.ip, 3), "the Linux side pings back");
    let t = TcpBulk::run(&va.ns, &hb, "10.81.0.2", 5003, BULK, 5, 60);
    assert!(t.intact(), "{t:?}");
    eprintln!("FIGURE vxlan to Linux vxlan: {:.0} Mbit/s", t.mbit_per_s());
    let t = TcpBulk::run(&hb, &va.ns, &va.ip, 5004, BULK, 6, 60);
    assert!(t.intact(), "{t:?}");
    eprintln!("FIGURE Linux vxlan to vxlan: {:.0} Mbit/s", t.mbit_per_s());
}

/// Sends each datagram from host B's stack to A's VXLAN (or Geneve) port.
fn send_udp(host: &Netns, dst: &str, port: u16, datagrams: &[Vec<u8>]) {
    let hex: Vec<String> = datagrams
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let script = format!(
        "import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor h in sys.argv[1:]:\n    s.sendto(bytes.fromhex(h),('{dst}',{port}))\n"
    );
    let mut args = vec!["python3", "-c", script.as_str()];
    args.extend(hex.iter().map(String::as_str));
    host.exec(&args);
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn bad_tunnel_input_is_counted_and_dropped() {
    if !require_root() {
        return;
    }
    let (a, b, va, vb) = pair("vxlan", 4, &["key=5000"]);
    a.tunnel("gen0", "geneve", &["remote_ip=192.168.79.2", "key=1"]);
    assert!(va.ns.wait_ping(&vb.ip, 10), "{}", a.log());
    let frame = {
        let mut f = vec![0x02, 0, 0, 0, 0, 0x09, 0x02, 0, 0, 0, 0, 0x08, 0x08, 0x06];
        f.extend_from_slice(&[0u8; 28]);
        f
    };
    let vxlan = |flags: u8, vni: u32| {
        let mut d = vec![flags, 0, 0, 0];
        d.extend_from_slice(&(vni << 8).to_be_bytes());
        d.extend_from_slice(&frame);
        d
    };
    send_udp(
        &b.host,
        "192.168.79.1",
        4789,
        &[
            vec![0x08, 0, 0],
            vxlan(0x00, 5000),
            vxlan(0x08, 5001),
            vxlan(0x08, 5000)[..12].to_vec(),
        ],
    );
    // Geneve: an option length that runs past the option area, an unknown critical option.
    let mut lying = vec![0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0, 3];
    lying.extend_from_slice(&frame);
    let mut critical = vec![0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 0, 1, 0x80, 0];
    critical.extend_from_slice(&frame);
    send_udp(&b.host, "192.168.79.1", 6081, &[lying, critical]);
    let want = [
        ("tunnel_truncated", 2),
        ("tunnel_bad_header", 1),
        ("tunnel_no_port", 1),
        ("tunnel_bad_options", 1),
        ("tunnel_critical_option", 1),
    ];
    let t = Instant::now();
    loop {
        let got: Vec<(&str, u64)> = want.iter().map(|(r, _)| (*r, a.drops(r))).collect();
        if want.iter().zip(&got).all(|((_, w), (_, g))| g >= w) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "drops {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Still forwarding.
    assert!(va.ns.ping(&vb.ip, 3), "{}", a.log());
}
