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
