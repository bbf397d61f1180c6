//! Real VMs on the switch: QEMU guests whose virtio-net NIC is a host tap, attached as
//! `system` ports the way libvirt's `vnet0` would be, with QEMU's default offloads (TSO up to
//! 64 KB, partial checksums) left on.
//!
//! - `vm_and_namespace_through_normal` (a): a VM and a namespace, `actions=normal`: ping both
//!   ways and 4 MB of TCP each way, checked by md5; the guest's TSO super-packets must reach the
//!   peer whole (its frames average well above one MTU), and the peer's must reach the guest.
//! - `two_vms_through_acl` (b): two VMs — one with offloads, one without (`vnet_hdr=off`) — on
//!   one bridge behind an explicit flow table: TCP 7001 passes, TCP 7002 is dropped by its rule.
//! - `vm_behind_conntrack_firewall` (c): the VM may open connections out (ping, TCP), nothing may
//!   open connections in, and the dropped attempts are counted by the firewall's rule.
//! - `vm_power_cycle_keeps_port` (d): the VM powers off (its tap disappears) and boots again on
//!   the same tap name: the port goes down (`vswitch_port_up` 0 in the metrics) and comes back
//!   by itself, NORMAL relearns the MAC, traffic flows — no daemon restart, no re-adding the port.
//! - `kernel_bridge_control`: the (a) exchange through a Linux bridge, and
//!   `afpacket_wire_control`: through two of our `system` ports (AF_PACKET with
//!   `PACKET_VNET_HDR`) joined back to back by a loop in this test, with no daemon. Together they
//!   tell a broken VM environment, a port-layer bug and a switch bug apart.
//!
//! Every VM, namespace, link and daemon is owned by a guard; VMs run one test at a time
//! ([`vm_slot`]); all traffic stays between the guests and namespaces made here.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vswitch_tests::Daemon;
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
    /// The guest's host tap during the upload only: (rx_packets, rx_bytes), i.e. the frames
    /// the guest sent, as QEMU wrote them (super-packets count once).
    upload_tap_rx: (u64, u64),
    /// Peer eth0 during the download only: (tx_packets, tx_bytes).
    download_peer_tx: (u64, u64),
    /// The guest's host tap during the download only: (tx_packets, tx_bytes), i.e. frames
    /// handed to QEMU for the guest.
    download_tap_tx: (u64, u64),
}

impl PeerView {
    /// Mean bytes per frame the peer received while the guest uploaded.
    fn upload_frame_mean(&self) -> u64 {
        self.upload_rx.1 / self.upload_rx.0.max(1)
    }

    /// Mean bytes per frame written to the guest's tap while the peer downloaded.
    fn download_frame_mean(&self) -> u64 {
        self.download_tap_tx.1 / self.download_tap_tx.0.max(1)
    }

    /// Checks that whatever sat between the guest and the peer passed frames whole: each
    /// direction delivered no more frames than its sender wrote (a cut super-packet would
    /// arrive as several). Unlike a mean frame size this does not depend on how much the
    /// guest's TCP chose to aggregate, which varies with the host's load.
    fn assert_frames_whole(&self, who: &str) {
        let mean = |(frames, bytes): (u64, u64)| bytes / frames.max(1);
        // Where the sender aggregated on average, the receiver must see the same.
        for (dir, sent, got) in [
            ("upload", self.upload_tap_rx, self.upload_rx),
            ("download", self.download_peer_tx, self.download_tap_tx),
        ] {
            assert!(
                mean(sent) <= WIRE_FRAME || mean(got) > WIRE_FRAME,
                "{who} {dir}: sent {sent:?} (frames, bytes), received {got:?}: super-packets were cut"
            );
        }
        // ARP and the odd retransmission may cross in either direction: a few frames of slack.
        const SLACK: u64 = 16;
        assert!(
            self.upload_rx.0 <= self.upload_tap_rx.0 + SLACK,
            "{who}: the guest wrote {:?} (frames, bytes) but the peer received {:?}: frames were cut",
            self.upload_tap_rx,
            self.upload_rx
        );
        assert!(
            self.download_tap_tx.0 <= self.download_peer_tx.0 + SLACK,
            "{who}: the peer sent {:?} (frames, bytes) but the guest's tap got {:?}: frames were cut",
            self.download_peer_tx,
            self.download_tap_tx
        );
    }
}

/// The peer side of [`exchange_cmd`]: pings the guest, takes its upload, then pushes
/// `BULK` bytes into it. Panics with the guest's console on failure.
fn run_exchange_peer(peer: &Peer, guest_ip: &str, vm: &Vm) -> PeerView {
    let tap = vm.tap().to_owned();
    assert!(
        peer.ns.wait_ping(guest_ip, 120),
        "peer cannot ping guest {guest_ip}; console:\n{}",
        vm.console()
    );
    assert!(peer.ns.ping(guest_ip, 3), "peer -> guest ping lost packets");
    let deadline = Instant::now() + Duration::from_secs(120);
    let before = peer.counters();
    let tap_up_before = link_counters(None, &tap);
    let up = spawn_in_netns(&peer.ns.name, move || {
        tcp_serve_once(7001, b"ack-7001", deadline)
    })
    .join()
    .unwrap()
    .unwrap_or_else(|e| panic!("upload from the guest: {e}; console:\n{}", vm.console()));
    let after = peer.counters();
    let tap_up_after = link_counters(None, &tap);
    let down = payload(BULK, 0x5eed);
    let down2 = down.clone();
    let addr: SocketAddr = format!("{guest_ip}:7002").parse().unwrap();
    let tap_before = link_counters(None, &tap);
    let peer_before = peer.counters();
    spawn_in_netns(&peer.ns.name, move || tcp_exchange(addr, &down2, deadline))
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("download into the guest: {e}; console:\n{}", vm.console()));
    let tap_after = link_counters(None, &tap);
    let peer_after = peer.counters();
    PeerView {
        up,
        down,
        upload_rx: (after.0 - before.0, after.1 - before.1),
        upload_tap_rx: (
            tap_up_after.0 - tap_up_before.0,
            tap_up_after.1 - tap_up_before.1,
        ),
        download_peer_tx: (peer_after.2 - peer_before.2, peer_after.3 - peer_before.3),
        download_tap_tx: (tap_after.2 - tap_before.2, tap_after.3 - tap_before.3),
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
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
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
        "kernel bridge: upload {} frames ({} B mean) at the peer, download {} frames ({} B mean) into the tap",
        view.upload_rx.0,
        view.upload_frame_mean(),
        view.download_tap_tx.0,
        view.download_frame_mean()
    );
}

/// A private vswitchd (temp db and socket) with one bridge.
struct Switch {
    d: Daemon,
    br: String,
    dir: std::path::PathBuf,
}

impl Switch {
    fn start() -> Switch {
        Switch::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Switch {
        let dir = std::env::temp_dir().join(unique("vswitch-vmtest."));
        std::fs::create_dir_all(&dir).unwrap();
        let d = Daemon::start(&dir.join("conf.db"), &dir.join("ctl.sock"), extra);
        let br = unique("vmbr");
        d.ctl(&["add-br", &br]).ok();
        Switch { d, br, dir }
    }

    fn ctl(&self, args: &[&str]) -> String {
        self.d.ctl(args).ok()
    }

    /// Attaches an existing interface (a VM's tap, a veth end) as a `system` port.
    fn add_system_port(&self, ifname: &str, ofport: u16) {
        self.ctl(&[
            "add-port",
            &self.br,
            ifname,
            "--type",
            "system",
            "--ofport",
            &ofport.to_string(),
        ]);
    }

    /// Replaces the flow table with `flows` (one per line), atomically.
    fn flows(&self, flows: &str) {
        let f = self.dir.join("flows.txt");
        std::fs::write(&f, flows).unwrap();
        self.ctl(&["replace-flows", &self.br, f.to_str().unwrap()]);
    }

    /// Packets counted by the rule whose match text contains `needle` (JSON dump).
    fn rule_packets(&self, needle: &str) -> u64 {
        let dump: serde_json::Value = self
            .d
            .ctl(&["--format", "json", "dump-flows", &self.br])
            .json();
        dump.as_array()
            .unwrap()
            .iter()
            .find(|f| f["match"].as_str().is_some_and(|m| m.contains(needle)))
            .unwrap_or_else(|| panic!("no rule matching '{needle}' in {dump}"))["packets"]
            .as_u64()
            .unwrap()
    }

    /// The switch's (rx_packets, tx_packets) for `port`.
    fn port_packets(&self, port: &str) -> (u64, u64) {
        let dump: serde_json::Value = self
            .d
            .ctl(&["--format", "json", "dump-ports", &self.br, port])
            .json();
        let p = &dump[0];
        (
            p["rx_packets"].as_u64().unwrap(),
            p["tx_packets"].as_u64().unwrap(),
        )
    }

    /// `vswitch_port_up` for `port` from the metrics endpoint (daemon started with
    /// `--metrics 127.0.0.1:0`): 1 if its device is attached and up.
    fn port_up(&self, port: &str) -> Option<u64> {
        use std::io::{Read, Write};
        let log = self.d.log_text();
        let addr = log
            .split("metrics listening addr=")
            .nth(1)?
            .split_whitespace()
            .next()?
            .to_owned();
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let key = format!("vswitch_port_up{{bridge=\"{}\",port=\"{port}\"}} ", self.br);
        body.lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Waits up to 10 s for [`Switch::port_up`] to read `want`; returns the last reading.
    fn wait_port_up(&self, port: &str, want: u64) -> Option<u64> {
        let t = Instant::now();
        loop {
            let v = self.port_up(port);
            if v == Some(want) || t.elapsed() > Duration::from_secs(10) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// OpenFlow port on which NORMAL has learned `mac`, if any.
    fn fdb_port(&self, mac: &str) -> Option<u64> {
        let fdb: serde_json::Value = self
            .d
            .ctl(&["--format", "json", "fdb-show", &self.br])
            .json();
        fdb.as_array()?
            .iter()
            .find(|e| {
                e["mac"]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case(mac))
            })
            .and_then(|e| e["port"].as_u64())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Largest Ethernet frame at the default MTU (1500 + 14); a mean above this proves that
/// super-packets crossed the switch whole instead of being cut into segments.
const WIRE_FRAME: u64 = 1514;

#[test]
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
fn vm_and_namespace_through_normal() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let sw = Switch::start();
    let tap = unique("vmta");
    let mut vm = Vm::start(
        VmConfig::new(
            &tap,
            "52:54:00:91:00:10",
            "10.91.0.10/24",
            &exchange_cmd("10.91.0.1"),
        )
        .wait_ping("10.91.0.1")
        .timeout(240),
    );
    quiet_host_if(&tap);
    let peer = Peer::new("vmap", "10.91.0.1/24");
    sw.add_system_port(&tap, 1);
    sw.add_system_port(&peer.host_if, 2);
    sw.flows("actions=normal\n");
    let view = run_exchange_peer(&peer, "10.91.0.10", &vm);
    let out = vm.wait();
    eprintln!("{}", out.summary);
    check_exchange(&out, &view);
    eprintln!(
        "vswitch: upload {} frames ({} B mean) at the peer, download {} frames ({} B mean) into the tap",
        view.upload_rx.0,
        view.upload_frame_mean(),
        view.download_tap_tx.0,
        view.download_frame_mean()
    );
    view.assert_frames_whole("vswitch");
    assert_eq!(
        sw.fdb_port("52:54:00:91:00:10"),
        Some(1),
        "guest MAC learned on port 1"
    );
}

/// Explicit forwarding between ports 1 and 2 (no NORMAL for IP): ARP and ICMP pass, TCP to or
/// from port 7001 passes, TCP to 7002 hits a counted drop rule, anything else is dropped.
const ACL_FLOWS: &str = "\
priority=100,arp,actions=normal
priority=100,icmp,actions=normal
priority=100,tcp,in_port=1,tp_dst=7001,actions=output:2
priority=100,tcp,in_port=2,tp_src=7001,actions=output:1
priority=50,tcp,tp_dst=7002,actions=drop
priority=0,actions=drop
";

#[test]
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
fn two_vms_through_acl() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let sw = Switch::start();
    let (tap1, tap2) = (unique("vmtb"), unique("vmtb"));
    let (ip1, ip2) = ("10.92.0.11", "10.92.0.12");
    // The server VM: listens on 7002 (which the ACL must keep unreachable) and on 7001, reports
    // what arrived on both once the 7001 upload is done and the client's 7002 attempt is over.
    let server = concat!(
        "(nc -l -p 7002 > /tmp/in7002) & L=$!\n",
        "nc -l -p 7001 < /dev/console > /tmp/in7001\n",
        "echo \"in7001 $(md5sum /tmp/in7001 | cut -d' ' -f1) $(wc -c < /tmp/in7001)\"\n",
        "sleep 12; kill $L 2>/dev/null\n",
        "echo \"in7002 $(wc -c < /tmp/in7002)\""
    );
    // The client VM: ping, upload 2 MB to 7001 (retried until the server listens; the server
    // opens 7002 first, so by then 7002 listens too), then try 7002, which must not connect.
    let client = format!(
        "dd if=/dev/urandom of=/tmp/up bs=64k count=32 2>/dev/null
echo \"up-md5 $(md5sum /tmp/up | cut -d' ' -f1)\"
fail=0
ping -c 3 -W 2 {ip2} || fail=$((fail|1))
vm-retry 40 sh -c 'nc {ip2} 7001 < /tmp/up' || fail=$((fail|2))
if echo x | timeout 6 nc {ip2} 7002; then echo 7002-connected; fail=$((fail|4)); fi
exit $fail"
    );
    let mut vm1 = Vm::start(
        VmConfig::new(&tap1, "52:54:00:92:00:11", &format!("{ip1}/24"), &client)
            .wait_ping(ip2)
            .timeout(240),
    );
    let mut vm2 = Vm::start(
        VmConfig::new(&tap2, "52:54:00:92:00:12", &format!("{ip2}/24"), server)
            .wait_ping(ip1)
            .offload(false)
            .timeout(240),
    );
    for t in [&tap1, &tap2] {
        quiet_host_if(t);
    }
    sw.add_system_port(&tap1, 1);
    sw.add_system_port(&tap2, 2);
    sw.flows(ACL_FLOWS);
    let out1 = vm1.wait();
    let out2 = vm2.wait();
    eprintln!("{}{}", out1.summary, out2.summary);
    assert_eq!(out1.rc, 0, "client: {}\n{}", out1.output, out1.summary);
    assert_eq!(out2.rc, 0, "server: {}\n{}", out2.output, out2.summary);
    let up = guest_field(&out1, "up-md5").expect("client md5");
    assert_eq!(
        guest_field(&out2, "in7001"),
        Some(format!("{up} {}", 32 * 65536).as_str()),
        "the allowed upload (offloads on -> offloads off) arrived intact"
    );
    assert_eq!(
        guest_field(&out2, "in7002"),
        Some("0"),
        "the dropped port got data"
    );
    assert!(
        sw.rule_packets("tp_dst=7002") > 0,
        "the 7002 drop rule never matched: the attempt did not reach the ACL"
    );
}

/// A stateful firewall in front of the VM (port 1): connections the VM opens are committed and
/// their replies pass; a new connection from outside (port 2) is dropped and counted.
const FIREWALL_FLOWS: &str = "\
table=0,priority=100,arp,actions=normal
table=0,priority=90,ip,actions=ct(table=1)
table=0,priority=0,actions=drop
table=1,priority=100,ct_state=+trk+new,ip,in_port=1,actions=ct(commit),normal
table=1,priority=100,ct_state=+trk+est,ip,actions=normal
table=1,priority=100,ct_state=+trk+rel,ip,actions=normal
table=1,priority=90,ct_state=+trk+new,ip,in_port=2,actions=drop
table=1,priority=0,actions=drop
";

#[test]
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
fn vm_behind_conntrack_firewall() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let sw = Switch::start();
    let tap = unique("vmtc");
    let (guest, peer_ip) = ("10.93.0.10", "10.93.0.1");
    // The guest serves 7002 (which must stay unreachable from outside), pings out, uploads 1 MB
    // to the peer, then waits for the host's "done" (fetched over an outgoing connection, the
    // only kind the firewall lets through) before reporting what reached its server.
    let cmd = format!(
        "(nc -l -p 7002 > /tmp/in7002) & L=$!
dd if=/dev/urandom of=/tmp/up bs=64k count=16 2>/dev/null
echo \"up-md5 $(md5sum /tmp/up | cut -d' ' -f1)\"
fail=0
ping -c 3 -W 2 {peer_ip} || fail=$((fail|1))
r=$(vm-retry 30 sh -c 'nc {peer_ip} 7001 < /tmp/up')
echo \"reply-7001 $r\"; [ \"$r\" = ack-7001 ] || fail=$((fail|2))
d=$(vm-retry 60 sh -c 'echo ready | nc {peer_ip} 7003')
echo \"barrier $d\"
kill $L 2>/dev/null
echo \"in7002 $(wc -c < /tmp/in7002)\"
exit $fail"
    );
    let mut vm = Vm::start(
        VmConfig::new(&tap, "52:54:00:93:00:10", &format!("{guest}/24"), &cmd)
            .wait_ping(peer_ip)
            .timeout(240),
    );
    quiet_host_if(&tap);
    let peer = Peer::new("vmcp", &format!("{peer_ip}/24"));
    sw.add_system_port(&tap, 1);
    sw.add_system_port(&peer.host_if, 2);
    sw.flows(FIREWALL_FLOWS);
    let deadline = Instant::now() + Duration::from_secs(150);
    let up = spawn_in_netns(&peer.ns.name, move || {
        tcp_serve_once(7001, b"ack-7001", deadline)
    })
    .join()
    .unwrap()
    .unwrap_or_else(|e| panic!("outgoing upload: {e}; console:\n{}", vm.console()));
    // The guest is up and talking out. Nothing may come in: not a ping, not a TCP connection.
    // dump-flows names ports: the inbound drop rule is the one on the peer's port.
    let inbound = format!("in_port={}", peer.host_if);
    let blocked_before = sw.rule_packets(&inbound);
    assert!(
        !peer.ns.ping(guest, 2),
        "a ping from outside reached the VM"
    );
    let addr: SocketAddr = format!("{guest}:7002").parse().unwrap();
    let connected = spawn_in_netns(&peer.ns.name, move || {
        Ok(vswitch_tests::vm::tcp_connects(
            addr,
            Duration::from_secs(3),
        ))
    })
    .join()
    .unwrap()
    .unwrap();
    assert!(!connected, "a TCP connection from outside reached the VM");
    let blocked = sw.rule_packets(&inbound) - blocked_before;
    assert!(
        blocked >= 3,
        "the firewall's drop rule counted {blocked} packets (2 pings + SYNs expected)"
    );
    let conns = sw.ctl(&["dump-conntrack"]);
    assert!(
        conns.contains("dport=7001") && conns.contains(guest),
        "the VM's outgoing connection is not tracked:\n{conns}"
    );
    // Release the guest.
    spawn_in_netns(&peer.ns.name, move || {
        tcp_serve_once(7003, b"done", Instant::now() + Duration::from_secs(60))
    })
    .join()
    .unwrap()
    .unwrap_or_else(|e| panic!("barrier: {e}; console:\n{}", vm.console()));
    let out = vm.wait();
    eprintln!("{}", out.summary);
    assert_eq!(out.rc, 0, "guest: {}\n{}", out.output, out.summary);
    assert_eq!(guest_field(&out, "up-md5"), Some(md5(&up).as_str()));
    assert_eq!(guest_field(&out, "barrier"), Some("done"));
    assert_eq!(
        guest_field(&out, "in7002"),
        Some("0"),
        "data reached the VM's server"
    );
}

/// The guest side of a short check used across a power cycle: ping the peer, send a line to its
/// port 7001 and print the answer.
fn short_exchange_cmd(peer: &str, tag: &str) -> String {
    format!(
        "fail=0
ping -c 3 -W 2 {peer} || fail=$((fail|1))
r=$(vm-retry 30 sh -c 'echo {tag} | nc {peer} 7001')
echo \"reply $r\"; [ \"$r\" = ack-{tag} ] || fail=$((fail|2))
exit $fail"
    )
}

#[test]
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
fn vm_power_cycle_keeps_port() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let sw = Switch::start_with(&["--metrics", "127.0.0.1:0"]);
    let tap = unique("vmtd");
    let (mac, guest, peer_ip) = ("52:54:00:94:00:10", "10.94.0.10", "10.94.0.1");
    let peer = Peer::new("vmdp", &format!("{peer_ip}/24"));
    sw.add_system_port(&peer.host_if, 2);
    sw.flows("actions=normal\n");
    let boot = |tag: &str| {
        let vm = Vm::start(
            VmConfig::new(
                &tap,
                mac,
                &format!("{guest}/24"),
                &short_exchange_cmd(peer_ip, tag),
            )
            .wait_ping(peer_ip)
            .timeout(180),
        );
        quiet_host_if(&tap);
        vm
    };
    let serve = |tag: &str| {
        let reply = format!("ack-{tag}").into_bytes();
        let deadline = Instant::now() + Duration::from_secs(150);
        spawn_in_netns(&peer.ns.name, move || {
            tcp_serve_once(7001, &reply, deadline)
        })
    };

    // First boot: the port is added the way a libvirt hook would, once the tap exists.
    let server = serve("boot1");
    let mut vm = boot("boot1");
    sw.add_system_port(&tap, 1);
    assert_eq!(
        sw.wait_port_up(&tap, 1),
        Some(1),
        "the port is not up on boot 1"
    );
    let out = vm.wait();
    eprintln!("{}", out.summary);
    assert_eq!(out.rc, 0, "boot 1: {}\n{}", out.output, out.summary);
    assert_eq!(server.join().unwrap().unwrap(), b"boot1\n");
    assert_eq!(sw.fdb_port(mac), Some(1), "guest MAC learned on port 1");
    drop(vm);

    // Powered off: the tap is gone, the port stays configured.
    assert!(
        !try_run("ip", &["link", "show", &tap]).status.success(),
        "tap {tap} still exists after power-off"
    );
    assert_eq!(
        sw.wait_port_up(&tap, 0),
        Some(0),
        "the port did not go down"
    );
    assert!(
        sw.ctl(&["list-ports", &sw.br])
            .lines()
            .any(|l| l.trim() == tap),
        "the port was removed with its interface"
    );
    let (_, tx_before) = sw.port_packets(&tap);

    // Second boot on the same tap name: nothing is re-added, the daemon is not restarted.
    let server = serve("boot2");
    let mut vm = boot("boot2");
    // Re-attached by the daemon itself while the guest runs.
    assert_eq!(
        sw.wait_port_up(&tap, 1),
        Some(1),
        "the port did not come back up"
    );
    let out = vm.wait();
    eprintln!("{}", out.summary);
    assert_eq!(
        out.rc, 0,
        "boot 2 (port did not come back?): {}\n{}",
        out.output, out.summary
    );
    assert_eq!(server.join().unwrap().unwrap(), b"boot2\n");
    assert_eq!(sw.fdb_port(mac), Some(1), "guest MAC relearned on port 1");
    let (_, tx_after) = sw.port_packets(&tap);
    assert!(
        tx_after > tx_before,
        "no packets sent to the re-attached port"
    );
}

/// What the back-to-back forwarder saw.
#[derive(Debug, Default)]
struct WireStats {
    frames: [u64; 2],
    /// Frames that arrived with a GSO type (super-packets), per direction.
    gso: [u64; 2],
    /// Largest frame seen per direction.
    largest: [usize; 2],
}

/// Joins two `system` ports back to back: every frame received on one is sent on the other, as
/// a switch with one rule would. Runs until `stop` is set.
fn afpacket_wire(
    a: &str,
    b: &str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<WireStats> {
    use fastpath::packet::{MAX_FRAME, Packet};
    use fastpath::port::afpacket::{AfPacketConfig, AfPacketPort};
    use fastpath::port::{BATCH_SIZE, Port};
    let mut ports = [
        AfPacketPort::open(AfPacketConfig::new(a)).expect("open port a"),
        AfPacketPort::open(AfPacketConfig::new(b)).expect("open port b"),
    ];
    std::thread::spawn(move || {
        let mut bufs: Vec<Packet> = (0..BATCH_SIZE)
            .map(|_| Packet::with_capacity(MAX_FRAME))
            .collect();
        let mut st = WireStats::default();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let mut fds: Vec<libc::pollfd> = ports
                .iter()
                .map(|p| libc::pollfd {
                    fd: p.rx_fd().expect("attached"),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `fds` is a valid array of two pollfd structs for the duration of the call.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, 20) };
            for dir in 0..2 {
                // The guest powering off at the end takes its tap away: the wire ends there.
                let Ok(n) = ports[dir].recv_batch(&mut bufs) else {
                    return st;
                };
                for p in &bufs[..n] {
                    st.frames[dir] += 1;
                    st.gso[dir] += u64::from(p.offload.gso_type != 0);
                    st.largest[dir] = st.largest[dir].max(p.len());
                }
                if n > 0 && ports[1 - dir].send_batch(&bufs[..n]).is_err() {
                    return st;
                }
            }
        }
        st
    })
}

#[test]
#[cfg_attr(no_vm_tests, ignore = "needs root, /dev/net/tun and QEMU")]
fn afpacket_wire_control() {
    if !require_vm() {
        return;
    }
    let _slot = vm_slot();
    let tap = unique("vmtw");
    let mut vm = Vm::start(
        VmConfig::new(
            &tap,
            "52:54:00:95:00:10",
            "10.95.0.10/24",
            &exchange_cmd("10.95.0.1"),
        )
        .wait_ping("10.95.0.1")
        .timeout(240),
    );
    quiet_host_if(&tap);
    let peer = Peer::new("vmwp", "10.95.0.1/24");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let wire = afpacket_wire(&tap, &peer.host_if, stop.clone());
    let view = run_exchange_peer(&peer, "10.95.0.10", &vm);
    let out = vm.wait();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let st = wire.join().unwrap();
    eprintln!("{}\nwire: {st:?}", out.summary);
    check_exchange(&out, &view);
    assert!(st.gso[0] > 0, "no super-packet from the guest: {st:?}");
    assert!(st.gso[1] > 0, "no super-packet from the peer: {st:?}");
    view.assert_frames_whole("AF_PACKET wire");
}
