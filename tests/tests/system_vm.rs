//! Real VMs on the switch: QEMU guests whose virtio-net NIC is a host tap, attached as
//! `system` ports the way libvirt's `vnet0` would be, with QEMU's default offloads (TSO up to
//! 64 KB, partial checksums) left on.
//!
//! - `kernel_bridge_control`: the same exchange through a Linux bridge, so a failure of the
//!   switch tests can be told apart from a broken VM environment.
//!
//! Every VM, namespace, link and daemon is owned by a guard; VMs run one test at a time
//! ([`vm_slot`]); all traffic stays between the guests and namespaces made here.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vswitch_tests::netns::{Link, Netns, run, try_run, unique};
use vswitch_tests::vm::{
    Vm, VmConfig, VmOutcome, payload, require_vm, spawn_in_netns, tcp_exchange, tcp_serve_once,
    vm_slot,
};

/// Bytes each way in the bulk exchanges: enough for many TSO super-packets, little TCG time.
const BULK: usize = 4 << 20;

/// A namespace behind a veth pair; the host end is `host_if` (to attach to a switch).
struct Peer {
    ns: Netns,
    _link: Link,
    host_if: String,
    ip: String,
}

impl Peer {
    fn new(prefix: &str, cidr: &str) -> Peer {
        let host_if = unique(prefix);
        let inner = format!("{host_if}p");
        let link = Link::veth(&host_if, &inner);
        let ns = Netns::new("vmpeer");
        // Offloads stay on: the peer sends TSO and partial checksums towards the switch too.
        ns.adopt(&inner, "eth0", cidr, None);
        quiet_host_if(&host_if);
        run("ip", &["link", "set", &host_if, "up"]);
        Peer {
            ns,
            _link: link,
            host_if,
            ip: cidr.split('/').next().unwrap().to_owned(),
        }
    }

    /// (rx_packets, rx_bytes, tx_packets, tx_bytes) of the namespace's eth0.
    fn counters(&self) -> (u64, u64, u64, u64) {
        link_counters(Some(&self.ns.name), "eth0")
    }
}

/// No IPv6 on a host-side switch port: router solicitations would only add noise.
fn quiet_host_if(name: &str) {
    let _ = Command::new("sysctl")
        .args(["-qw", &format!("net.ipv6.conf.{name}.disable_ipv6=1")])
        .stderr(Stdio::null())
        .status();
}

/// (rx_packets, rx_bytes, tx_packets, tx_bytes) of `dev`, in namespace `ns` or the root.
fn link_counters(ns: Option<&str>, dev: &str) -> (u64, u64, u64, u64) {
    let read = |what: &str| -> u64 {
        let path = format!("/sys/class/net/{dev}/statistics/{what}");
        let out = match ns {
            Some(n) => try_run("ip", &["netns", "exec", n, "cat", &path]),
            None => try_run("cat", &[&path]),
        };
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    (
        read("rx_packets"),
        read("rx_bytes"),
        read("tx_packets"),
        read("tx_bytes"),
    )
}

fn md5(data: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("md5sum");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The value after `key ` on the guest output line starting with `key`.
fn guest_field<'a>(out: &'a VmOutcome, key: &str) -> Option<&'a str> {
    out.output
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' '))
}

/// The guest side of the ping + bulk TCP exchange with `peer`: uploads `BULK` random bytes to
/// the peer's port 7001 (printing their md5), serves port 7002 for the peer's upload (printing
/// the md5 and size of what arrived). Exit bits: 1 ping, 2 upload/reply, 4 download.
fn exchange_cmd(peer: &str) -> String {
    format!(
        "dd if=/dev/urandom of=/tmp/up bs=64k count={n} 2>/dev/null
echo \"up-md5 $(md5sum /tmp/up | cut -d' ' -f1)\"
(nc -l -p 7002 > /tmp/down) & L=$!
fail=0
ping -c 3 -W 2 {peer} || fail=$((fail|1))
r=$(vm-retry 30 sh -c 'nc {peer} 7001 < /tmp/up')
echo \"reply-7001 $r\"; [ \"$r\" = ack-7001 ] || fail=$((fail|2))
wait $L
echo \"down $(md5sum /tmp/down | cut -d' ' -f1) $(wc -c < /tmp/down)\"
exit $fail",
        n = BULK / 65536
    )
}

/// What the peer saw of one [`exchange_cmd`] run.
struct PeerView {
    /// What the guest uploaded to port 7001.
    up: Vec<u8>,
    /// What the peer downloaded into the guest (port 7002).
    down: Vec<u8>,
    /// Peer eth0 counters during the upload only: (rx_packets, rx_bytes).
    upload_rx: (u64, u64),
}

/// The peer side of [`exchange_cmd`]: pings the guest, takes its upload, then pushes
/// `BULK` bytes into it. Panics with the guest's console on failure.
fn run_exchange_peer(peer: &Peer, guest_ip: &str, vm: &Vm) -> PeerView {
    assert!(
        peer.ns.wait_ping(guest_ip, 120),
        "peer cannot ping guest {guest_ip}; console:\n{}",
        vm.console()
    );
    assert!(peer.ns.ping(guest_ip, 3), "peer -> guest ping lost packets");
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = peer.counters();
    let up = spawn_in_netns(&peer.ns.name, move || {
        tcp_serve_once(7001, b"ack-7001", deadline)
    })
    .join()
    .unwrap()
    .unwrap_or_else(|e| panic!("upload from the guest: {e}; console:\n{}", vm.console()));
    let after = peer.counters();
    let down = payload(BULK, 0x5eed);
    let down2 = down.clone();
    let addr: SocketAddr = format!("{guest_ip}:7002").parse().unwrap();
    spawn_in_netns(&peer.ns.name, move || tcp_exchange(addr, &down2, deadline))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("download into the guest: {e}; console:\n{}", vm.console()));
    PeerView {
        up,
        down,
        upload_rx: (after.0 - before.0, after.1 - before.1),
    }
}

/// Checks the guest's and the peer's accounts of one exchange against each other.
fn check_exchange(out: &VmOutcome, view: &PeerView) {
    assert_eq!(out.rc, 0, "guest failed: {}\n{}", out.output, out.summary);
    assert_eq!(
        view.up.len(),
        BULK,
        "upload size; guest said:\n{}",
        out.output
    );
    assert_eq!(
        guest_field(out, "up-md5"),
        Some(md5(&view.up).as_str()),
        "upload corrupted"
    );
    assert_eq!(guest_field(out, "reply-7001"), Some("ack-7001"));
    let want = format!("{} {}", md5(&view.down), view.down.len());
    assert_eq!(
        guest_field(out, "down"),
        Some(want.as_str()),
        "download corrupted"
    );
}

#[test]
fn kernel_bridge_control() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let tap = unique("vmtk");
    let mut vm = Vm::start(
        VmConfig::new(
            &tap,
            "52:54:00:90:00:10",
            "10.90.0.10/24",
            &exchange_cmd("10.90.0.1"),
        )
        .wait_ping("10.90.0.1")
        .timeout(240),
    );
    let peer = Peer::new("vmkp", "10.90.0.1/24");
    let br = Link::adopt(&unique("vmkb"));
    run(
        "ip",
        &["link", "add", &br.name, "type", "bridge", "stp_state", "0"],
    );
    quiet_host_if(&br.name);
    quiet_host_if(&tap);
    for l in [&tap, &peer.host_if] {
        run("ip", &["link", "set", l, "master", &br.name]);
    }
    run("ip", &["link", "set", &tap, "up"]);
    run("ip", &["link", "set", &br.name, "up"]);
    let view = run_exchange_peer(&peer, "10.90.0.10", &vm);
    let out = vm.wait();
    eprintln!("{}", out.summary);
    check_exchange(&out, &view);
    eprintln!(
        "upload: {} frames, {} bytes at the peer",
        view.upload_rx.0, view.upload_rx.1
    );
    let _ = peer.ip;
}
