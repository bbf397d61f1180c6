//! OVS 3.1's own conjunctive-match tests (`tests/classifier.at`: "single conjunctive match",
//! "multiple conjunctive match", "conjunctive match priority fallback", "conjunctive match and
//! other actions"), run through vswitch's offline bridge (`vswitch-ctl trace --flows`).
//!
//! Each OVS test loads a flow table and traces packets over a grid of addresses and ports; the
//! expected datapath actions come from the test's own `case` statement, restated here per grid
//! point. `convert.py` does not extract these (they are shell loops), so they live here rather
//! than in `tests/ovs-testsuite`. The tables are OVS's; the packets are OVS's trace flows.

use vswitchd::trace::OfflineBridge;

/// The last pass's datapath actions for `packet`.
fn actions(bridge: &OfflineBridge, packet: &str) -> String {
    let key = bridge
        .packet(packet)
        .unwrap_or_else(|e| panic!("{packet}: {e}"));
    let report = bridge.trace(&key, &[]);
    report
        .passes
        .last()
        .map(|p| p.datapath_actions.clone())
        .unwrap_or_default()
}

#[test]
fn single_conjunctive_match() {
    let flows = "conj_id=1,actions=3
priority=100,ip,ip_src=10.0.0.1,actions=conjunction(1,1/2)
priority=100,ip,ip_src=10.0.0.4,actions=conjunction(1,1/2)
priority=100,ip,ip_src=10.0.0.6,actions=conjunction(1,1/2)
priority=100,ip,ip_src=10.0.0.7,actions=conjunction(1,1/2)
priority=100,ip,ip_dst=10.0.0.2,actions=conjunction(1,2/2)
priority=100,ip,ip_dst=10.0.0.5,actions=conjunction(1,2/2)
priority=100,ip,ip_dst=10.0.0.7,actions=conjunction(1,2/2)
priority=100,ip,ip_dst=10.0.0.8,actions=conjunction(1,2/2)
priority=100,ip,ip_src=10.0.0.1,ip_dst=10.0.0.4,actions=4
priority=100,ip,ip_src=10.0.0.3,ip_dst=10.0.0.5,actions=5
priority=0 actions=2";
    let b = OfflineBridge::new(flows, 5).unwrap();
    for src in 0..8 {
        for dst in 0..8 {
            let want = match (src, dst) {
                (1, 4) => 4,
                (3, 5) => 5,
                (1 | 4 | 6 | 7, 2 | 5 | 7 | 8) => 3,
                _ => 2,
            };
            let p = format!("in_port=1,dl_type=0x0800,nw_src=10.0.0.{src},nw_dst=10.0.0.{dst}");
            assert_eq!(actions(&b, &p), want.to_string(), "{p}");
        }
    }
    // The trace names the conj_id rule that matched, as ofproto/trace does.
    let key = b
        .packet("in_port=1,dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.2")
        .unwrap();
    let text = b.trace(&key, &[]).to_text();
    assert!(text.contains("conj_id=1"), "{text}");
}

#[test]
fn multiple_conjunctive_match() {
    let flows = "conj_id=1,actions=1
conj_id=2,actions=2
conj_id=3,actions=3
priority=5,ip,ip_src=20.0.0.0/8,actions=conjunction(1,1/2),conjunction(2,1/2)
priority=5,ip,ip_src=10.1.0.0/16,actions=conjunction(1,1/2),conjunction(3,2/3)
priority=5,ip,ip_src=10.2.0.0/16,actions=conjunction(1,1/2),conjunction(2,1/2)
priority=5,ip,ip_src=10.1.3.0/24,actions=conjunction(1,1/2),conjunction(3,2/3)
priority=5,ip,ip_src=10.1.4.5/32,actions=conjunction(1,1/2),conjunction(2,1/2)
priority=5,ip,ip_dst=20.0.0.0/8,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.1.0.0/16,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.2.0.0/16,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.1.3.0/24,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.1.4.5/32,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=30.0.0.0/8,actions=conjunction(2,2/2),conjunction(3,1/3)
priority=5,ip,ip_dst=40.5.0.0/16,actions=conjunction(2,2/2),conjunction(3,1/3)
priority=5,tcp,tcp_dst=80,actions=conjunction(3,3/3)
priority=5,tcp,tcp_dst=443,actions=conjunction(3,3/3)
priority=5,tcp,tcp_src=80,actions=conjunction(3,3/3)
priority=5,tcp,tcp_src=443,actions=conjunction(3,3/3)
priority=0,actions=4";
    let b = OfflineBridge::new(flows, 5).unwrap();
    let srcs = [
        "20.0.0.1", "10.1.0.1", "10.2.0.1", "10.1.3.1", "10.1.4.5", "1.2.3.4",
    ];
    let dsts = [
        "20.0.0.1", "10.1.0.1", "10.2.0.1", "10.1.3.1", "10.1.4.5", "30.0.0.1", "40.5.0.1",
        "1.2.3.4",
    ];
    let ports = [80, 443, 8080];
    for (ai, s) in srcs.iter().enumerate() {
        for (bi, d) in dsts.iter().enumerate() {
            for (ci, sp) in ports.iter().enumerate() {
                for (di, dp) in ports.iter().enumerate() {
                    let (a, bb, c, dd) = (ai + 1, bi + 1, ci + 1, di + 1);
                    let want = if (1..=5).contains(&a) && (1..=5).contains(&bb) {
                        1
                    } else if [1, 3, 5].contains(&a) && [6, 7].contains(&bb) {
                        2
                    } else if [2, 4].contains(&a)
                        && [6, 7].contains(&bb)
                        && ([1, 2].contains(&c) || [1, 2].contains(&dd))
                    {
                        3
                    } else {
                        4
                    };
                    let p = format!(
                        "in_port=5,dl_type=0x0800,nw_proto=6,nw_src={s},nw_dst={d},\
                         tcp_src={sp},tcp_dst={dp}"
                    );
                    assert_eq!(actions(&b, &p), want.to_string(), "{p}");
                }
            }
        }
    }
}

#[test]
fn conjunctive_match_priority_fallback() {
    let flows = "conj_id=1,actions=1
conj_id=3,actions=3
priority=5,ip,ip_src=10.0.0.1,actions=conjunction(1,1/2)
priority=5,ip,ip_src=10.0.0.2,actions=conjunction(1,1/2)
priority=5,ip,ip_dst=10.0.0.1,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.0.0.2,actions=conjunction(1,2/2)
priority=5,ip,ip_dst=10.0.0.3,actions=conjunction(1,2/2)
priority=4,ip,ip_src=10.0.0.3,ip_dst=10.0.0.2,actions=2
priority=3,ip,ip_src=10.0.0.1,actions=conjunction(3,1/2)
priority=3,ip,ip_src=10.0.0.3,actions=conjunction(3,1/2)
priority=3,ip,ip_dst=10.0.0.2,actions=conjunction(3,2/2)
priority=3,ip,ip_dst=10.0.0.3,actions=conjunction(3,2/2)
priority=3,ip,ip_dst=10.0.0.4,actions=conjunction(3,2/2)
priority=2,ip,ip_dst=10.0.0.1,actions=4
priority=1,ip,ip_src=10.0.0.1,ip_dst=10.0.0.5,actions=5
priority=0,actions=6";
    let b = OfflineBridge::new(flows, 7).unwrap();
    for src in 0..4 {
        for dst in 0..6 {
            let want = match (src, dst) {
                (1 | 2, 1..=3) => 1,
                (3, 2) => 2,
                (1 | 3, 2..=4) => 3,
                (_, 1) => 4,
                (1, 5) => 5,
                _ => 6,
            };
            let p = format!("in_port=7,dl_type=0x0800,nw_src=10.0.0.{src},nw_dst=10.0.0.{dst}");
            assert_eq!(actions(&b, &p), want.to_string(), "{p}");
        }
    }
}

#[test]
fn conjunctive_match_and_other_actions() {
    // OVS's two messages (its `note` cases are not here: vswitch has no `note` action yet).
    for flow in [
        "actions=output:1,conjunction(3,1/2)",
        "actions=conjunction(3,1/2),output:1",
    ] {
        let err = vswitchd::ofctl::parse_flow(
            flow,
            &vswitchd::ofctl::NoNames,
            vswitchd::ofctl::FlowSyntax::Add,
        )
        .expect_err(flow)
        .to_string();
        assert!(OfflineBridge::new(flow, 1).is_err(), "{flow}");
        assert!(
            err.contains(
                "\"conjunction\" actions may be used along with \"note\" but not any other \
                 kind of action (such as the \"output\" action used here)"
            ),
            "{flow}: {err}"
        );
    }
}
