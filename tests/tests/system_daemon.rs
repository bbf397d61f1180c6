//! System tests of the whole switch: the real `vswitchd`, driven by the real `vswitch-ctl`,
//! forwarding real traffic between network namespaces this test creates.
//!
//! - bulk TCP (100 MB, SHA-256 checked) over `tap` ports and over `system` ports on veths,
//!   with the namespace side's tx checksum/segmentation offloads off and on (on, the switch
//!   receives CHECKSUM_PARTIAL and GSO frames and must complete or pass them on correctly);
//! - a rule change applies at once to a flow that is already cached, and its removal too;
//! - NORMAL with VLAN access ports, and a trunk whose host speaks raw tagged frames (the test
//!   kernel may lack 802.1Q sub-interfaces), checked both ways on the wire;
//! - `trace`, `dump-megaflows`, `datapath-stats`, `dump-ports`, `fdb-show` read against the
//!   traffic the test just sent;
//! - `tests/walkthrough.sh`, the README walkthrough, runs to completion.
//!
//! Needs root, `/dev/net/tun`, `ip`, `ethtool` and `python3`; under `CI=true` a missing piece
//! fails the test instead of skipping it. Everything is removed by guards, even on failure.

use serde_json::Value;
use std::time::Duration;
use vswitch_tests::netns::require_root;
use vswitch_tests::system::{Attach, Bed, Host, mac, num};
use vswitch_tests::traffic::{RawEth, TcpBulk, UdpProbe, udp_bind};

/// Bytes moved by each bulk transfer.
const BULK: u64 = 100 << 20;

/// A bed with two hosts on 10.241.0.0/24 and NORMAL switching.
fn two_hosts(attach: Attach) -> (Bed, Host, Host) {
    let mut bed = Bed::start();
    let h1 = bed.host(attach, "10.241.0.1/24", &mac(1), &[]);
    let h2 = bed.host(attach, "10.241.0.2/24", &mac(2), &[]);
    bed.set_flows(&["priority=0,actions=normal"]);
    (bed, h1, h2)
}

/// Pings, moves [`BULK`] bytes h1 -> h2 and checks content, counters and caches.
fn bulk_and_check(bed: &Bed, h1: &Host, h2: &Host, what: &str) {
    assert!(
        h1.ns.wait_ping(&h2.ip, 10),
        "{what}: no ping\n{}",
        bed.log()
    );
    assert!(h2.ns.ping(&h1.ip, 3), "{what}: ping back");
    let before1 = bed.port_stats(&h1.port);
    let before2 = bed.port_stats(&h2.port);

    let t = TcpBulk::run(&h1.ns, &h2.ns, &h2.ip, 5001, BULK, 7, 60);
    assert!(t.intact(), "{what}: transfer damaged: {t:?}");
    assert_eq!(t.peer, h1.ip);
    eprintln!(
        "FIGURE {what}: {} MB in {:.2} s = {:.0} Mbit/s",
        BULK >> 20,
        t.secs,
        t.mbit_per_s()
    );

    // dump-ports: the sender's port received the stream, the receiver's port sent it.
    let after1 = bed.port_stats(&h1.port);
    let after2 = bed.port_stats(&h2.port);
    assert!(
        num(&after1, "rx_bytes") - num(&before1, "rx_bytes") >= BULK,
        "{what}: rx_bytes on {}: {before1} -> {after1}",
        h1.port
    );
    assert!(
        num(&after2, "tx_bytes") - num(&before2, "tx_bytes") >= BULK,
        "{what}: tx_bytes on {}: {before2} -> {after2}",
        h2.port
    );
    assert!(
        num(&after2, "rx_packets") > num(&before2, "rx_packets"),
        "ACKs"
    );
    assert_eq!(num(&after1, "rx_errors"), 0, "{after1}");
    assert_eq!(num(&after2, "tx_errors"), 0, "{after2}");

    // The stream ran on cached megaflows: one forwards h1 -> h2 out of h2's port.
    let flows = bed.megaflows();
    let fwd = flows.iter().find(|m| {
        m["match"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("in_port={}", h1.ofport)))
            && num(m, "packets") > 100
    });
    assert!(
        fwd.is_some(),
        "{what}: no busy megaflow from port {}: {flows:#?}",
        h1.ofport
    );
    let st = bed.dp_stats();
    assert!(num(&st, "upcalls") >= 1, "{st}");
    assert!(
        num(&st, "microflow_hits") + num(&st, "megaflow_hits") > 1000,
        "{what}: the stream did not hit the caches: {st}"
    );
    assert!(num(&st, "megaflows") >= 1, "{st}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn tap_ports_ping_and_carry_100mb_intact() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = two_hosts(Attach::Tap);
    bulk_and_check(&bed, &h1, &h2, "tap");
    // NORMAL learned both hosts on their ports.
    let fdb = bed.json(&["fdb-show", &bed.br]);
    for h in [&h1, &h2] {
        assert!(
            fdb.as_array().is_some_and(|a| a
                .iter()
                .any(|e| e["mac"] == h.mac.as_str() && num(e, "port") == u64::from(h.ofport))),
            "{} not learned on {}: {fdb}",
            h.mac,
            h.ofport
        );
    }
    let text = bed.ok(&["fdb-show", &bed.br]);
    assert!(text.contains(&h1.mac) && text.contains(&h2.mac), "{text}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn system_ports_on_veths_carry_100mb_with_offloads_off() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = two_hosts(Attach::Veth { offload: false });
    bulk_and_check(&bed, &h1, &h2, "veth offload off");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn system_ports_on_veths_carry_100mb_with_offloads_on() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = two_hosts(Attach::Veth { offload: true });
    // The namespace ends really do offload: what the switch reads is CHECKSUM_PARTIAL/GSO.
    let features = h1.ns.exec(&["ethtool", "-k", "eth0"]);
    assert!(
        features.contains("tx-checksumming: on"),
        "offloads not on: {features}"
    );
    bulk_and_check(&bed, &h1, &h2, "veth offload on");
}

/// The trace of a UDP packet h1 -> h2 port 7000, as JSON.
fn trace_udp(bed: &Bed, h1: &Host, h2: &Host) -> Value {
    let pkt = format!(
        "in_port={},dl_src={},dl_dst={},udp,nw_src={},nw_dst={},tp_src=40000,tp_dst=7000",
        h1.ofport, h1.mac, h2.mac, h1.ip, h2.ip
    );
    bed.json(&["trace", &bed.br, &pkt])
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn rule_change_applies_at_once_to_a_cached_flow() {
    if !require_root() {
        return;
    }
    let (bed, h1, h2) = two_hosts(Attach::Tap);
    let mut udp = UdpProbe::new(
        &h1.ns,
        &format!("{}:40000", h1.ip),
        &h2.ns,
        &format!("{}:7000", h2.ip),
    );
    assert!(udp.until_ok(20), "UDP never passed\n{}", bed.log());
    for i in 0..20 {
        assert!(udp.send(), "probe {i} lost before any rule change");
    }
    // The flow is cached: a megaflow from h1's port has counted the probes.
    let cached = bed.megaflows().into_iter().any(|m| {
        m["match"]
            .as_str()
            .is_some_and(|s| s.contains(&format!("in_port={}", h1.ofport)))
            && num(&m, "packets") >= 10
    });
    assert!(cached, "no cached megaflow: {:#?}", bed.megaflows());
    let t = trace_udp(&bed, &h1, &h2);
    assert_eq!(
        t["passes"][0]["outputs"],
        serde_json::json!([h2.ofport]),
        "{t}"
    );
    let revalidated_before = num(&bed.dp_stats(), "revalidated");

    // A higher-priority drop: the very next datagram is dropped, and every one after it.
    let drop = format!("udp,nw_dst={},tp_dst=7000", h2.ip);
    bed.ok(&[
        "add-flow",
        &bed.br,
        &format!("priority=100,{drop},actions=drop"),
    ]);
    udp.timeout = Duration::from_millis(300);
    for i in 0..5 {
        assert!(
            !udp.send(),
            "probe {i} passed after the drop rule was added"
        );
    }
    // Only that flow: ICMP still passes.
    assert!(h1.ns.ping(&h2.ip, 2), "ping blocked by a UDP-only rule");
    let t = trace_udp(&bed, &h1, &h2);
    let pass = &t["passes"][0];
    assert_eq!(pass["outputs"], serde_json::json!([]), "{t}");
    assert_eq!(pass["steps"][0]["priority"], 100, "{t}");
    assert_eq!(pass["datapath_actions"], "drop", "{t}");
    let dropping = bed.megaflows().into_iter().any(|m| {
        m["actions"] == "drop" && num(&m, "packets") >= 1 && m["match"].as_str().is_some()
    });
    assert!(dropping, "no drop megaflow: {:#?}", bed.megaflows());
    assert!(
        num(&bed.dp_stats(), "revalidated") > revalidated_before,
        "the rule change revalidated nothing"
    );
    // The rule's counters include the dropped probes (pushed from megaflows within ~1 s).
    assert!(
        bed.eventually(5, |b| {
            let f = b.json(&["dump-flows", &b.br, &drop]);
            f.as_array()
                .is_some_and(|a| a.iter().any(|r| num(r, "packets") >= 5))
        }),
        "drop rule counters: {}",
        bed.ok(&["dump-flows", &bed.br])
    );

    // Remove it: the very next datagram passes again.
    bed.ok(&["del-flows", &bed.br, &drop]);
    udp.timeout = Duration::from_millis(1000);
    assert!(udp.send(), "first probe after del-flows was lost");
    for i in 0..5 {
        assert!(udp.send(), "probe {i} lost after del-flows");
    }
    let t = trace_udp(&bed, &h1, &h2);
    assert_eq!(
        t["passes"][0]["outputs"],
        serde_json::json!([h2.ofport]),
        "{t}"
    );
    // The text trace names the NORMAL rule and the output.
    let pkt = format!(
        "in_port={},dl_src={},dl_dst={},udp,nw_src={},nw_dst={},tp_src=40000,tp_dst=7000",
        h1.ofport, h1.mac, h2.mac, h1.ip, h2.ip
    );
    let text = bed.ok(&["trace", &bed.br, &pkt]);
    assert!(text.contains("Megaflow:"), "{text}");
    assert!(text.contains("Datapath actions:"), "{text}");
    assert!(text.to_lowercase().contains("normal"), "{text}");
}

/// Parses a MAC `aa:bb:..`.
fn mac_bytes(m: &str) -> [u8; 6] {
    let v: Vec<u8> = m
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).expect("hex"))
        .collect();
    v.try_into().expect("6 bytes")
}

fn ip4(s: &str) -> [u8; 4] {
    s.parse::<std::net::Ipv4Addr>().expect("IPv4").octets()
}

/// A UDP frame, 802.1Q-tagged with `vid` if given.
fn udp_frame(src: (&str, &str), dst: (&str, &str), vid: Option<u16>, dport: u16) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(mac_bytes(src.0), mac_bytes(dst.0));
    let mut out = Vec::new();
    let payload = b"vlan test";
    match vid {
        Some(v) => b
            .single_vlan(etherparse::VlanId::try_new(v).expect("vid"))
            .ipv4(ip4(src.1), ip4(dst.1), 64)
            .udp(40000, dport)
            .write(&mut out, payload),
        None => b
            .ipv4(ip4(src.1), ip4(dst.1), 64)
            .udp(40000, dport)
            .write(&mut out, payload),
    }
    .expect("build frame");
    out
}

/// The VLAN ID and UDP destination port of a frame, if it is tagged UDP.
fn tagged_udp(frame: &[u8]) -> Option<(u16, u16)> {
    let p = etherparse::SlicedPacket::from_ethernet(frame).ok()?;
    let vid = match p.vlan? {
        etherparse::VlanSlice::SingleVlan(v) => v.vlan_identifier().value(),
        etherparse::VlanSlice::DoubleVlan(_) => return None,
    };
    match p.transport? {
        etherparse::TransportSlice::Udp(u) => Some((vid, u.destination_port())),
        _ => None,
    }
}

/// Whether `sock` receives one datagram within `ms`.
fn gets_datagram(sock: &std::net::UdpSocket, ms: u64) -> bool {
    sock.set_read_timeout(Some(Duration::from_millis(ms)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    sock.recv(&mut buf).is_ok()
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn normal_with_vlans_isolates_access_ports_and_trunks_tagged_frames() {
    if !require_root() {
        return;
    }
    let mut bed = Bed::start();
    // Access ports: h1, h2 on VLAN 10; h3 on VLAN 20 but in the same subnet, so only the VLAN
    // keeps it apart. The trunk host speaks raw tagged frames (this must work on kernels
    // without 802.1Q sub-interfaces), as 10.242.0.4 on both VLANs.
    let h1 = bed.host(Attach::Tap, "10.242.0.1/24", &mac(1), &["--tag", "10"]);
    let h2 = bed.host(Attach::Tap, "10.242.0.2/24", &mac(2), &["--tag", "10"]);
    let h3 = bed.host(Attach::Tap, "10.242.0.3/24", &mac(3), &["--tag", "20"]);
    let trunk = bed.host(
        Attach::Tap,
        "10.242.99.4/24",
        &mac(4),
        &["--trunks", "10,20"],
    );
    let mut raw = RawEth::open(&trunk.ns, "eth0");
    let t = (trunk.mac.as_str(), "10.242.0.4");

    assert!(h1.ns.wait_ping(&h2.ip, 10), "same VLAN\n{}", bed.log());
    assert!(!h1.ns.ping(&h3.ip, 2), "VLAN 10 reached VLAN 20");
    assert!(!h3.ns.ping(&h2.ip, 2), "VLAN 20 reached VLAN 10");

    // Trunk -> access: a frame tagged 10 reaches h1 (untagged: its kernel takes it); tagged
    // 20 it reaches h3; tagged 20 but addressed to h1 it does not reach h1; VLAN 30 is not
    // on the trunk at all.
    let s1 = udp_bind(&h1.ns, "10.242.0.1:7000");
    let s3 = udp_bind(&h3.ns, "10.242.0.3:7000");
    let to1 = (h1.mac.as_str(), h1.ip.as_str());
    let to3 = (h3.mac.as_str(), h3.ip.as_str());
    raw.send(&udp_frame(t, to1, Some(10), 7000));
    assert!(gets_datagram(&s1, 1000), "tagged 10 did not reach h1");
    raw.send(&udp_frame(t, to3, Some(20), 7000));
    assert!(gets_datagram(&s3, 1000), "tagged 20 did not reach h3");
    raw.send(&udp_frame(t, to1, Some(20), 7000));
    assert!(!gets_datagram(&s1, 300), "VLAN 20 frame reached h1");
    raw.send(&udp_frame(t, to1, Some(30), 7000));
    assert!(!gets_datagram(&s1, 300), "VLAN 30 (not trunked) reached h1");
    raw.send(&udp_frame(t, to1, None, 7000));
    assert!(
        !gets_datagram(&s1, 300),
        "untagged frame on a 10,20 trunk reached h1"
    );

    // Access -> trunk: h1's datagrams leave the trunk tagged 10, h3's tagged 20. (The trunk
    // host's address has no ARP responder: a static neighbour entry stands in.)
    for (h, vid) in [(&h1, 10u16), (&h3, 20)] {
        h.ns.exec(&[
            "ip",
            "neigh",
            "replace",
            "10.242.0.4",
            "lladdr",
            &trunk.mac,
            "dev",
            "eth0",
        ]);
        let s = udp_bind(&h.ns, &format!("{}:0", h.ip));
        s.send_to(b"to trunk", "10.242.0.4:7100").expect("send");
        let got = raw.recv_matching(Duration::from_secs(2), |f| {
            tagged_udp(f).is_some_and(|(_, port)| port == 7100)
        });
        let got = got.unwrap_or_else(|| panic!("nothing from {} on the trunk", h.ip));
        assert_eq!(tagged_udp(&got), Some((vid, 7100)), "{got:02x?}");
    }

    // NORMAL learned the trunk host's one MAC twice, once per VLAN, on the trunk port, and
    // each access host on its own VLAN only.
    let fdb = bed.json(&["fdb-show", &bed.br]);
    let has = |m: &str, port: u32, vlan: u64| {
        fdb.as_array().is_some_and(|a| {
            a.iter().any(|e| {
                e["mac"] == m && num(e, "port") == u64::from(port) && num(e, "vlan") == vlan
            })
        })
    };
    assert!(has(&trunk.mac, trunk.ofport, 10), "{fdb}");
    assert!(has(&trunk.mac, trunk.ofport, 20), "{fdb}");
    assert!(has(&h1.mac, h1.ofport, 10), "{fdb}");
    assert!(has(&h2.mac, h2.ofport, 10), "{fdb}");
    assert!(has(&h3.mac, h3.ofport, 20), "{fdb}");
    assert!(!has(&h3.mac, h3.ofport, 10), "{fdb}");
    assert!(!has(&trunk.mac, trunk.ofport, 30), "{fdb}");
}

#[test]
#[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
fn walkthrough_script_runs() {
    if !require_root() {
        return;
    }
    let bins = vswitch_tests::binaries();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/walkthrough.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("VSWITCHD", &bins.vswitchd)
        .env("VSWITCH_CTL", &bins.ctl)
        .output()
        .expect("run walkthrough.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "walkthrough failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for want in [
        "3 packets transmitted, 3 received",
        "2 packets transmitted, 0 received",
        "priority=100,icmp actions=drop",
        "Datapath actions: drop",
        "Megaflow:",
        "actions:drop",
        "megaflow hits:",
        "upcalls:",
    ] {
        assert!(stdout.contains(want), "no '{want}' in:\n{stdout}");
    }
}
