//! Issue 7 item 2: malformed traffic. The catalogue in `vswitch_tests::malformed` (committed
//! as `tests/data/malformed.pcap`) is checked against the parser, then replayed through the
//! whole switch: every frame is counted under its drop reason on its input port, nothing
//! panics, and traffic between other ports carries on.

use std::collections::BTreeMap;

use fastpath::flow::extract::{Malformed, extract_fresh};
use vswitch_tests::malformed::{self, Case};
use vswitch_tests::pcap;

fn pcap_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(malformed::PCAP_PATH)
}

/// Expected drops per reason name for `cases`.
fn expected_counts<'a>(cases: impl Iterator<Item = &'a Case>) -> BTreeMap<&'static str, u64> {
    let mut want = BTreeMap::new();
    for c in cases {
        if let Some(m) = c.expect {
            *want.entry(m.name()).or_insert(0) += 1;
        }
    }
    want
}

#[test]
fn every_label_matches_the_parser() {
    let cases = malformed::cases();
    assert!(cases.len() > 900, "{} cases", cases.len());
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            let (_, ex) = extract_fresh(&c.frame, 1);
            (ex.malformed != c.expect).then(|| {
                format!(
                    "{}: parser says {:?}, label {:?}",
                    c.name, ex.malformed, c.expect
                )
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} labels disagree:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_reason_is_covered() {
    let want = expected_counts(malformed::cases().iter());
    let missing: Vec<_> = Malformed::ALL
        .iter()
        .filter(|m| !want.contains_key(m.name()))
        .collect();
    assert!(missing.is_empty(), "no case for {missing:?}");
}

/// `VSWITCH_REGEN_PCAP=1 cargo test -p vswitch-tests --test reliability_malformed` rewrites
/// the committed file after the catalogue changes.
#[test]
fn committed_pcap_is_the_catalogue() {
    let bytes = malformed::pcap_bytes();
    if std::env::var("VSWITCH_REGEN_PCAP").is_ok_and(|v| v == "1") {
        std::fs::write(pcap_path(), &bytes).unwrap();
    }
    let committed = std::fs::read(pcap_path()).expect("tests/data/malformed.pcap is committed");
    assert!(
        committed == bytes,
        "tests/data/malformed.pcap is stale: regenerate it with VSWITCH_REGEN_PCAP=1"
    );
    let frames = pcap::read(&committed).unwrap();
    assert_eq!(frames.len(), malformed::cases().len());
}

mod pipeline {
    //! The catalogue through the whole dataplane on dummy ports (which, unlike a kernel
    //! device, can deliver runts shorter than an Ethernet header), with IP traffic sent
    //! through conntrack so the TCP option cases reach its option parser.

    use super::*;
    use fastpath::conntrack::{Conntrack, ConntrackConfig};
    use fastpath::dpif::stats::DropReason;
    use fastpath::port::dummy::DummyHandle;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
    use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
    use vswitchd::ofproto::flow_mod::FlowMod;

    const FLOWS: &[&str] = &[
        "priority=20,in_port=1,ip,actions=ct(commit,table=1)",
        "priority=20,in_port=1,ipv6,actions=ct(commit,table=1)",
        "priority=10,in_port=1,actions=output:2",
        "priority=10,in_port=3,actions=output:4",
        "table=1,actions=output:2",
    ];

    fn wait_drained(h: &DummyHandle) {
        let t = Instant::now();
        while h.rx_pending() > 0 {
            assert!(t.elapsed() < Duration::from_secs(10), "datapath stalled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A well-formed UDP frame from port 3 to port 4 (the bystander traffic).
    fn bystander(n: u16) -> Vec<u8> {
        let mut out = Vec::new();
        etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 3], [2, 0, 0, 0, 0, 4])
            .ipv4([10, 9, 0, 3], [10, 9, 0, 4], 64)
            .udp(5000 + n % 7, 6000)
            .write(&mut out, b"bystander")
            .unwrap();
        out
    }

    #[test]
    fn dummy_ports_count_every_frame_under_its_reason() {
        let cases = malformed::cases();
        let ct = Arc::new(Conntrack::new(ConntrackConfig {
            limit: 100_000,
            ..ConntrackConfig::default()
        }));
        let dp = Dataplane::new(DataplaneConfig::default(), Some(ct));
        dp.add_bridge("br0").unwrap();
        let mut ports = Vec::new();
        for i in 1..=4u32 {
            let name = format!("p{i}");
            dp.add_port(
                "br0",
                PortConfig {
                    name: name.clone(),
                    kind: PortType::Dummy,
                    ofport: i,
                    tag: None,
                    trunks: vec![],
                    mtu: None,
                },
            )
            .unwrap();
            let h = dp.dummy_handle(&name).unwrap();
            h.set_capture(true);
            ports.push(h);
        }
        let mods: Vec<FlowMod> = FLOWS
            .iter()
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        dp.flow_mods("br0", &mods).unwrap();
        dp.start(1).unwrap();
        struct Stop(Arc<Dataplane>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.stop();
            }
        }
        let _stop = Stop(dp.clone());

        let mut delivered = 0;
        let mut bystanders = 0;
        for chunk in cases.chunks(16) {
            for c in chunk {
                assert!(ports[0].inject(&c.frame), "queue full at {}", c.name);
            }
            assert!(ports[2].inject(&bystander(bystanders)));
            bystanders += 1;
            wait_drained(&ports[0]);
            wait_drained(&ports[2]);
            delivered += ports[1].collect_frames().len();
        }
        // Let the last batch's transmits finish.
        std::thread::sleep(Duration::from_millis(100));
        delivered += ports[1].collect_frames().len();

        let no = dp.dp_port_of("p1").unwrap();
        let stats = dp.datapath().port_dp_stats(no);
        let got: BTreeMap<&str, u64> = DropReason::all()
            .filter(|r| stats.drops[r.index()] > 0)
            .map(|r| (r.name(), stats.drops[r.index()]))
            .collect();
        assert_eq!(got, expected_counts(cases.iter()), "drops on p1 by reason");
        assert_eq!(stats.rx_packets, cases.len() as u64);
        let valid = cases.iter().filter(|c| c.expect.is_none()).count();
        assert_eq!(delivered, valid, "every well-formed frame was forwarded");

        // The bystander pair lost nothing and still works.
        assert!(ports[2].inject(&bystander(0)));
        wait_drained(&ports[2]);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            ports[3].collect_frames().len(),
            usize::from(bystanders) + 1,
            "bystander traffic p3 -> p4"
        );
        let by = dp.datapath().port_dp_stats(dp.dp_port_of("p3").unwrap());
        assert!(by.drops.iter().all(|&d| d == 0), "bystander drops {by:?}");
    }
}

mod veth {
    //! The committed pcap replayed from a network namespace into a `system` port (AF_PACKET
    //! on a veth), one frame at a time so each frame's verdict is read from the counters,
    //! while two other namespaces ping each other through the same switch.

    use super::*;
    use fastpath::conntrack::{Conntrack, ConntrackConfig};
    use fastpath::dpif::stats::DropReason;
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use vswitch_tests::netns::{Link, Netns, require_root, run, unique};
    use vswitch_tests::rawsock::RawSocket;
    use vswitchd::dataplane::{Dataplane, DataplaneConfig, PortConfig, PortType};
    use vswitchd::ofctl::{FlowSyntax, NoNames, parse_flow};
    use vswitchd::ofproto::flow_mod::FlowMod;

    const FLOWS: &[&str] = &[
        "priority=20,in_port=1,ip,actions=ct(commit,table=1)",
        "priority=20,in_port=1,ipv6,actions=ct(commit,table=1)",
        "priority=10,in_port=1,actions=output:2",
        "priority=10,in_port=3,actions=output:4",
        "priority=10,in_port=4,actions=output:3",
        "table=1,actions=output:2",
    ];

    /// A namespace joined to the switch by a veth: `eth0` inside, `sw` outside.
    struct Attached {
        ns: Netns,
        sw: String,
        _link: Link,
    }

    fn attach(prefix: &str, cidr: &str) -> Attached {
        let ns = Netns::new(prefix);
        // No IPv6: the namespace's own router solicitations would be extra (valid) traffic.
        for key in ["all", "default"] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
            ]);
        }
        let sw = unique("rms");
        let inner = unique("rmi");
        let link = Link::veth(&sw, &inner);
        run("ip", &["link", "set", &sw, "mtu", "9000"]);
        run("ip", &["link", "set", &inner, "mtu", "9000"]);
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

    /// True for frames the kernel itself discards before the switch can see them: shorter
    /// than an Ethernet header (AF_PACKET refuses to send them), or an outer VLAN TPID with
    /// less than a whole tag and two more bytes behind it (the receive path's VLAN untagging,
    /// `skb_vlan_untag`, pulls those six bytes and frees the frame if it cannot).
    fn kernel_drops(frame: &[u8]) -> bool {
        frame.len() < 14
            || (matches!(frame[12..14], [0x81, 0x00] | [0x88, 0xa8]) && frame.len() < 20)
    }

    #[test]
    #[cfg_attr(no_system_tests, ignore = "needs root and /dev/net/tun")]
    fn replayed_pcap_is_counted_frame_by_frame_while_bystanders_ping() {
        if !require_root() {
            return;
        }
        let frames = pcap::read(&std::fs::read(pcap_path()).unwrap()).unwrap();
        let cases = malformed::cases();
        assert_eq!(frames.len(), cases.len());

        let a = attach("rma", "10.77.1.1/24");
        let b = attach("rmb", "10.77.1.2/24");
        let c = attach("rmc", "10.77.2.1/24");
        let d = attach("rmd", "10.77.2.2/24");

        let ct = Arc::new(Conntrack::new(ConntrackConfig {
            limit: 100_000,
            ..ConntrackConfig::default()
        }));
        let dp = Dataplane::new(DataplaneConfig::default(), Some(ct));
        struct Stop(Arc<Dataplane>);
        impl Drop for Stop {
            fn drop(&mut self) {
                self.0.stop();
            }
        }
        let _stop = Stop(dp.clone());
        dp.add_bridge("br0").unwrap();
        for (i, att) in [&a, &b, &c, &d].into_iter().enumerate() {
            dp.add_port(
                "br0",
                PortConfig {
                    name: att.sw.clone(),
                    kind: PortType::System,
                    ofport: i as u32 + 1,
                    tag: None,
                    trunks: vec![],
                    mtu: None,
                },
            )
            .unwrap();
        }
        let mods: Vec<FlowMod> = FLOWS
            .iter()
            .map(|l| FlowMod::add(parse_flow(l, &NoNames, FlowSyntax::Add).unwrap()))
            .collect();
        dp.flow_mods("br0", &mods).unwrap();
        dp.start(1).unwrap();
        assert!(c.ns.wait_ping("10.77.2.2", 10), "bystanders cannot ping");

        // Bystanders ping all through the replay.
        let pinger = c.ns.spawn(&[
            "ping",
            "-c",
            "100",
            "-i",
            "0.02",
            "-W",
            "1",
            "-q",
            "10.77.2.2",
        ]);

        let no = dp.dp_port_of(&a.sw).unwrap();
        let stats = || dp.datapath().port_dp_stats(no);
        let sock = RawSocket::open(&a.ns.name, "eth0").unwrap();
        let mut wrong = Vec::new();
        let mut not_seen = Vec::new();
        let mut seen = 0u64;
        for (frame, case) in frames.iter().zip(&cases) {
            let before = stats();
            if let Err(e) = sock.send(frame) {
                assert!(kernel_drops(frame), "{}: send failed: {e}", case.name);
                not_seen.push(case.name.clone());
                continue;
            }
            let t = Instant::now();
            let mut after = stats();
            while after.rx_packets == before.rx_packets && t.elapsed() < Duration::from_millis(200)
            {
                std::thread::sleep(Duration::from_micros(200));
                after = stats();
            }
            if after.rx_packets == before.rx_packets {
                assert!(
                    kernel_drops(frame),
                    "{}: never reached the switch",
                    case.name
                );
                not_seen.push(case.name.clone());
                continue;
            }
            assert_eq!(after.rx_packets, before.rx_packets + 1, "{}", case.name);
            seen += 1;
            let verdict = |s: &fastpath::dpif::PortDpStats| {
                DropReason::all().find(|r| s.drops[r.index()] > before.drops[r.index()])
            };
            let mut got = verdict(&after);
            if got.is_none() && case.expect.is_some() {
                // The counters of the batch may not be visible yet.
                std::thread::sleep(Duration::from_millis(20));
                got = verdict(&stats());
            }
            let want = case.expect.map(DropReason::Malformed);
            if got != want {
                wrong.push(format!("{}: counted {got:?}, want {want:?}", case.name));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        eprintln!(
            "replayed {} frames: {seen} counted, {} dropped by the kernel first",
            frames.len(),
            not_seen.len()
        );
        // About one frame in six is shorter than 14 bytes (every base cut before its end of
        // Ethernet): those and cut VLAN tags are all that may be missing.
        assert!(seen > 750, "only {seen} frames reached the switch");
        // Totals agree with the labels of the frames that arrived.
        let want = expected_counts(cases.iter().filter(|c| !not_seen.contains(&c.name)));
        let end = stats();
        let got: BTreeMap<&str, u64> = DropReason::all()
            .filter(|r| end.drops[r.index()] > 0)
            .map(|r| (r.name(), end.drops[r.index()]))
            .collect();
        assert_eq!(got, want);

        let out = pinger.wait(30);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(" 0% packet loss"),
            "bystander ping during the replay: {text}"
        );
        let by = dp.datapath().port_dp_stats(dp.dp_port_of(&c.sw).unwrap());
        assert!(by.drops.iter().all(|&n| n == 0), "bystander drops: {by:?}");
        drop(d);
        drop(b);
    }
}
